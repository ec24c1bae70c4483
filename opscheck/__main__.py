from opscheck.cli import main

raise SystemExit(main())
