"""Entry point for ``python -m opscheck.demo``."""

from opscheck.demo.server import main

raise SystemExit(main())
