"""opscheck: operational verification of HTTP services as pytest checks."""

__version__ = "0.1.0"
