"""pytest hooks for the post-deploy gate (issue 11): modes, retries and flaky, the CI summary and
annotations, parallel grouping. Loaded through `pytest_plugins` of `opscheck.plugin`."""
