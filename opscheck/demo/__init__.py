"""Bundled reference service ("inventory-api demo") that opscheck's checks run against."""
