"""Prometheus export (issue 12): the run's results as a textfile-collector file or a Pushgateway push."""
