"""The run's redactor on the channels opscheck does not write itself: log records and benchmark.json.

Registered by the plugin at configure time; removed at unconfigure, so an in-process pytest run
(pytester) leaves no filter behind on the global loggers.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from opscheck.evidence.redact import RedactingFilter, Redactor

# httpx logs each request line; httpcore logs every header and Set-Cookie at DEBUG. Logger filters
# see only records logged on that very logger, so each child logger is named.
LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.connection_pool", "httpcore.http11",
           "httpcore.http2", "httpcore.proxy", "httpcore.socks", "hpack", "hpack.hpack", "hpack.table",
           "urllib3", "urllib3.connectionpool", "opscheck")
# pytest's own handlers, which see every record: live log, log file, captured logs in reports.
HANDLERS = ("log_cli_handler", "log_file_handler", "caplog_handler", "report_handler")


class LeakGuard:
    """A pytest plugin object: one per run, holding the run's Redactor."""

    name = "opscheck-leakguard"

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.filter = RedactingFilter(redactor)
        self._installed: list[logging.Filterer] = []

    def install_loggers(self) -> None:
        for name in LOGGERS:
            self._add(logging.getLogger(name))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        logging_plugin = session.config.pluginmanager.get_plugin("logging-plugin")
        for attribute in HANDLERS:
            handler = getattr(logging_plugin, attribute, None)
            if isinstance(handler, logging.Handler):
                self._add(handler)

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_json(self, config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
        """pytest-benchmark dumps each test's params with repr(): a case's path with its query string
        would go out whole. Cases become their check ids; every string is redacted."""
        for bench in output_json.get("benchmarks", []):
            params = bench.get("params")
            if isinstance(params, dict):
                bench["params"] = {k: getattr(v, "check_id", v) for k, v in params.items()}
        output_json.update(self._clean(output_json))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.remove()

    def remove(self) -> None:
        for target in self._installed:
            target.removeFilter(self.filter)
        self._installed.clear()

    def _add(self, target: logging.Filterer) -> None:
        if self.filter not in target.filters:
            target.addFilter(self.filter)
            self._installed.append(target)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redactor.url(value) if value.startswith(("http://", "https://")) else self.redactor.text(value)
        if isinstance(value, dict):
            return {self._clean(str(k)): self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clean(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.redactor.text(repr(value))
