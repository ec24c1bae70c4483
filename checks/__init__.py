"""opscheck's bundled check modules, one per family (installed as `opscheck.checks`)."""
