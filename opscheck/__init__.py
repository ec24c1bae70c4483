"""opscheck: operational verification of HTTP services as pytest checks.

PYTEST_DONT_REWRITE: pytest marks every plugin's top-level package for assertion rewriting, but
`opscheck run` has imported this package before pytest starts, so it could not be rewritten
anyway (pytest warned "Module already imported so cannot be rewritten: opscheck" on every run).
opscheck states its verdicts with CheckFailed, not assert, so it needs no rewriting.
"""

__version__ = "0.1.0"

# The names a custom check or a sink uses, stable across internal moves (as httpx re-exports its own).
# Resolved on first use (PEP 562), so `import opscheck` stays free for projects that merely have it
# installed: the plugin imports this package in every pytest session.
_PUBLIC = {
    "Reason": "opscheck.outcome",
    "CheckFailed": "opscheck.outcome",
    "CheckDegraded": "opscheck.outcome",
    "Evidence": "opscheck.evidence.kinds",
    "SampleSummary": "opscheck.evidence.kinds",
    "TlsHandshake": "opscheck.evidence.kinds",
    "TransportError": "opscheck.transport.errors",
    "CheckResult": "opscheck.results",
    "RunInfo": "opscheck.results",
    "Sink": "opscheck.results",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> object:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'opscheck' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
