"""pytest hooks for the nightly job (issue 12): `--history`, `--notify`, `--metrics-file` and
`--pushgateway` sinks. Loaded through `pytest_plugins` of `opscheck.plugin`."""
