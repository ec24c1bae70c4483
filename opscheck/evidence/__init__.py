"""Evidence: what checks leave behind for the reports (kinds), and how secrets are kept out of it
(redact, leakguard). The kinds are re-exported here; redaction is imported from its module."""

from opscheck.evidence.kinds import AnyEvidence, Evidence, SampleSummary, TlsHandshake, summary_of

__all__ = ["AnyEvidence", "Evidence", "SampleSummary", "TlsHandshake", "summary_of"]
