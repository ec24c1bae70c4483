"""pytest hooks for the restore drill (issue 13): the drill record as a sink. Loaded through
`pytest_plugins` of `opscheck.plugin`."""
