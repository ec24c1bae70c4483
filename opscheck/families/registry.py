"""The check families: which profile section feeds which parametrized argument, built by whom.

Builders are named as "module:function" and imported only when the profile has that section, so
the plugin stays cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class Family:
    name: str  # family name: check ids are "<name>::<case>", and the pytest marker
    argname: str  # the indirect parameter a check module asks for, e.g. "smoke_check"
    section: str  # the profile section it reads
    builder: str  # "module:function" turning that section into cases
    summary: str
    module: str = ""  # the bundled check module in checks/, skipped at collection when unused

    def __post_init__(self) -> None:
        if not self.module:
            object.__setattr__(self, "module", f"test_{self.name}")

    def load_builder(self) -> Callable[[Any, Any], Iterable[Any]]:
        module, _, function = self.builder.partition(":")
        return getattr(import_module(module), function)


# Keyed by profile section; two sections may feed one family (schema: and openapi: -> "schema").
FAMILIES: dict[str, Family] = {
    f.section: f
    for f in (
        Family("readiness", "readiness_check", "readiness", "opscheck.families.readiness:build",
               "liveness and readiness URLs; names the dependencies that are down"),
        Family("smoke", "smoke_check", "smoke", "opscheck.families.smoke:build",
               "one request per entry; status, JSON subset, content type, headers, latency budget"),
        Family("limits", "limits_check", "limits", "opscheck.families.limits:build",
               "oversized bodies (Content-Length and chunked) and batches refused; a body at the limit accepted"),
        Family("auth", "auth_check", "protected", "opscheck.families.auth:build",
               "protected routes refuse no key and a wrong key, and accept every configured key"),
        Family("headers", "headers_check", "headers", "opscheck.families.headers:build",
               "X-Request-Id round trip and required response headers"),
        Family("schema", "schema_check", "schema", "opscheck.families.schema:build",
               "responses validated against JSON Schema files"),
        Family("schema", "openapi_check", "openapi", "opscheck.families.schema:build_openapi",
               "the service against its OpenAPI document: conformance, documented routes, version, bad input"),
        Family("tls", "tls_check", "tls", "opscheck.families.tls:build",
               "certificate days left against warning/failure bands, hostname, chain, protocol >= TLS 1.2"),
        Family("host", "host_check", "host", "opscheck.families.host:build",
               "CPU, memory, disk bands and listening ports on this machine; only with -m host"),
        Family("slo", "slo_check", "slo", "opscheck.families.slo:build",
               "sampled latency percentiles, time to first byte and error ratio (open or closed loop)"),
        Family("benchmark", "benchmark_check", "benchmark", "opscheck.families.benchmark:build",
               "pytest-benchmark timings with mean and p95 thresholds and baseline regression"),
        Family("metrics", "metrics_check", "metrics", "opscheck.families.metrics:build",
               "the service's own counters and histograms: error ratio and latency quantiles"),
        Family("freshness", "freshness_check", "freshness", "opscheck.families.data:build_freshness",
               "age of a timestamp field or a file against target, warning and failure bounds", "test_data"),
        Family("thresholds", "thresholds_check", "thresholds", "opscheck.families.data:build_thresholds",
               "numeric fields against target, warning and critical bands (exact decimals)", "test_data"),
    )
}

BY_ARGNAME: dict[str, Family] = {f.argname: f for f in FAMILIES.values()}
FAMILY_NAMES: tuple[str, ...] = tuple(dict.fromkeys(f.name for f in FAMILIES.values()))
