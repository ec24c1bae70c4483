"""pytest hooks for alerts and Prometheus export (issue 12): `--notify`, `--metrics-file`,
`--pushgateway`. Loaded through `pytest_plugins` of `opscheck.plugin`."""
