"""pytest hooks for the run history (issue 12): `--history`, `--location`, `--release`, `--run-key`.
Loaded through `pytest_plugins` of `opscheck.plugin`."""
