"""The faust-streaming side: ingest, dead letters, folds, summaries and selection."""

from .app import create_app
from .worker import build_app, main

__all__ = ["build_app", "create_app", "main"]
