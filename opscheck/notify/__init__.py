"""Alerts on state change (issue 12): routes, receivers (Slack-compatible and JSON webhooks,
Alertmanager), maintenance windows and quorum across locations, with state read from the history."""
