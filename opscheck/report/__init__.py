"""Everything a run writes: results.json, the terminal runbook summary, pytest-html additions."""
