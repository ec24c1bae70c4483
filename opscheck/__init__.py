"""opscheck: operational verification of HTTP services as pytest checks.

PYTEST_DONT_REWRITE: pytest marks every plugin's top-level package for assertion rewriting, but
`opscheck run` has imported this package before pytest starts, so it could not be rewritten
anyway (pytest warned "Module already imported so cannot be rewritten: opscheck" on every run).
opscheck states its verdicts with CheckFailed, not assert, so it needs no rewriting.
"""

__version__ = "0.1.0"
