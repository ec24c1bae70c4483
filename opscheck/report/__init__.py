"""Everything a run writes, as sinks fed with result records (see `opscheck.results.Sink`):
results.json (results.py), the terminal runbook summary (terminal.py), report.html's pytest-html
additions (html.py) and junit.xml's properties (junit.py). Nothing here imports the plugin."""
