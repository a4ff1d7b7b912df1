"""`python -m modelrouter.streams.demo`."""

from . import main

raise SystemExit(main())
