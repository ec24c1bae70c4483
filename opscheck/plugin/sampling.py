"""pytest hooks for sampled checks (issue 11): early verdicts (`--no-early-stop`) and the runner's
load. Loaded through `pytest_plugins` of `opscheck.plugin`."""
