"""`python -m modelrouter.cli`: the same as the `modelrouter` script."""

from .main import main

raise SystemExit(main())
