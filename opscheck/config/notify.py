"""`notify:` and `maintenance:` (issue 12): alert rules, routes, receivers and maintenance windows.

Typed forms the alert sender (opscheck.notify) reads from `Profile.extras["notify"]` and
`Profile.extras["maintenance"]`. Every receiver URL is a secret: the loader registers it (and its
path, where a chat webhook keeps its token) with the profile's secrets, so the run's Redactor blanks
it in every output, and no problem message here ever quotes one.

Shapes (docs/profile.md has the reference):

    notify:
      failure_threshold: 2        # consecutive failed runs before the failing alert (default 1)
      success_threshold: 1        # consecutive passed runs before the recovery alert (default 1)
      remind_every: 4h            # a still-failing check alerts again after this (default: never)
      quorum: 2                   # locations that must see the failure in one slot (default 1)
      timeout_s: 5                # one send attempt, whole exchange; retried once
      routes:
        - {match: {severity: critical}, to: [slack-exec]}
        - {match: {family: [smoke, slo], check: "smoke::*"}, to: [am], continue: true}
      receivers:
        slack-exec: {slack: "${SLACK_EXEC_WEBHOOK}"}
        hook: {webhook: "https://example.org/hook"}
        am: {alertmanager: "http://alertmanager:9093", ttl: 25h}
      fallback: hook

    maintenance:
      - {name: nightly-backup, cron: "0 2 * * *", duration: 90m, timezone: Europe/Berlin}
      - {name: db-upgrade, start: "2026-12-24T22:00", end: "2026-12-25T06:00", timezone: Europe/Berlin}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import Any, Mapping
from urllib.parse import urlsplit

RECEIVER_KINDS = ("slack", "webhook", "alertmanager")
MATCH_KEYS = ("severity", "family", "check", "service")
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_LOOKBACK = timedelta(days=7)
DEFAULT_AM_TTL = timedelta(hours=25)
MIN_URL_SECRET_CHARS = 8  # a path as short as "/hook" is not worth blanking everywhere it appears

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """"90s", "30m", "4h", "1h30m", "7d", "2w", or a number of seconds -> timedelta.

    Raises ValueError with a cause fit for `builder.problem` (zero and negative are refused)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '30m', '4h' or '7d', got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(r"(\d+[smhdw])+", value.strip().lower()):
        seconds = float(sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", value.lower())))
    else:
        raise ValueError(f"expected a duration such as '30m', '4h' or '7d', got {value!r}")
    if not seconds > 0 or seconds > 3650 * 86400:
        raise ValueError(f"a duration must be more than 0 and at most 10 years, got {value!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Receiver:
    """Where alerts go. `kind`: slack | webhook | alertmanager; `url`: a secret, never shown;
    `ttl` (Alertmanager only): how long a firing alert stays active without a newer run saying so."""

    name: str
    kind: str
    url: str
    ttl: timedelta = DEFAULT_AM_TTL

    def describe(self) -> str:
        """What may be shown: the name and the kind, never the URL."""
        return f"{self.name} ({self.kind})"


@dataclass(frozen=True)
class Route:
    """`match` maps a field (severity, family, check, service) to the accepted values (globs, any
    one of them); an empty match takes every alert. First matching route wins unless `cont`."""

    match: Mapping[str, tuple[str, ...]]
    to: tuple[str, ...]
    cont: bool = False

    def matches(self, fields: Mapping[str, str | None]) -> bool:
        for key, patterns in self.match.items():
            value = fields.get(key) or ""
            if key == "check":
                # "smoke::health" or just "health"; globs allowed ("smoke::*").
                name = value.partition("::")[2]
                if not any(fnmatchcase(value, p) or (name and fnmatchcase(name, p)) for p in patterns):
                    return False
            elif not any(fnmatchcase(value, p) for p in patterns):
                return False
        return True


@dataclass(frozen=True)
class NotifyConfig:
    """The `notify:` section, typed. Durations are timedeltas; `remind_every` None: never remind."""

    receivers: Mapping[str, Receiver] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    fallback: str | None = None
    failure_threshold: int = 1
    success_threshold: int = 1
    remind_every: timedelta | None = None
    quorum: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    budget_s: float = 60.0
    lookback: timedelta = DEFAULT_LOOKBACK

    def receivers_for(self, fields: Mapping[str, str | None]) -> list[Receiver]:
        """The receivers an alert with these fields (severity, family, check, service) goes to,
        in route order, each once. No routes: every receiver."""
        if not self.routes:
            return [r for name, r in self.receivers.items() if name != self.fallback or len(self.receivers) == 1]
        chosen: list[str] = []
        for route in self.routes:
            if route.matches(fields):
                chosen += [n for n in route.to if n not in chosen]
                if not route.cont:
                    break
        return [self.receivers[n] for n in chosen]

    def secrets(self) -> list[str]:
        return [s for r in self.receivers.values() for s in url_secrets(r.url)]


def url_secrets(url: str) -> list[str]:
    """The parts of a receiver URL to redact by value: the URL itself, without a trailing slash,
    and its path with the query (a chat webhook's token lives there) when that is long enough."""
    out = [url, url.rstrip("/")]
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(path) >= MIN_URL_SECRET_CHARS:
        out += [path, parts.path]
    if parts.password:
        out.append(parts.password)
    return [s for s in out if s]


def for_url(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> NotifyConfig:
    """`--notify URL`: one generic JSON webhook receiver taking every alert, named after its option
    ("notify-url": not "cli", which read as "printed to the terminal")."""
    return NotifyConfig(receivers={NOTIFY_URL_RECEIVER: Receiver(NOTIFY_URL_RECEIVER, "webhook", url)}, timeout_s=timeout_s)


NOTIFY_URL_RECEIVER = "notify-url"


def check_url(url: Any) -> str | None:
    """Why `url` cannot be a receiver URL (the cause never quotes it), or None."""
    if not isinstance(url, str) or not url.strip():
        return "expected an http:// or https:// URL"
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return "not a valid URL (not shown: such URLs carry secrets)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL with a host (not shown: such URLs carry secrets)"
    return None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def load_notify(section: Any, builder: Any) -> NotifyConfig:
    """The validated `notify:` mapping -> NotifyConfig; problems through `builder.problem`."""
    secrets = getattr(getattr(builder, "ctx", None), "secrets", None)
    receivers: dict[str, Receiver] = {}
    for name, spec in (section.get("receivers") or {}).items():
        where = ("notify", "receivers", name)
        kinds = [k for k in RECEIVER_KINDS if k in spec]
        if len(kinds) != 1:
            builder.problem(where, f"a receiver names exactly one of {', '.join(RECEIVER_KINDS)}")
            continue
        kind = kinds[0]
        url = str(spec[kind]).strip()
        if secrets is not None:
            secrets.update(s for s in url_secrets(url) if len(s) >= 4)
        cause = check_url(url)
        if cause:
            builder.problem(where + (kind,), cause)
            continue
        ttl = DEFAULT_AM_TTL
        if "ttl" in spec:
            if kind != "alertmanager":
                builder.problem(where + ("ttl",), "ttl applies to an alertmanager receiver only")
            try:
                ttl = parse_duration(spec["ttl"])
            except ValueError as exc:
                builder.problem(where + ("ttl",), str(exc))
        receivers[name] = Receiver(name, kind, url, ttl)

    routes = []
    for i, spec in enumerate(section.get("routes") or []):
        where = ("notify", "routes", i)
        match = {k: _strings(v) for k, v in (spec.get("match") or {}).items()}
        to = _strings(spec.get("to") or [])
        for j, name in enumerate(to):
            if name not in (section.get("receivers") or {}):
                known = ", ".join(section.get("receivers") or {}) or "none defined"
                builder.problem(where + ("to", j), f"unknown receiver {name!r} (receivers: {known})")
        routes.append(Route(match, to, bool(spec.get("continue", False))))

    fallback = section.get("fallback")
    if fallback is not None and fallback not in (section.get("receivers") or {}):
        known = ", ".join(section.get("receivers") or {}) or "none defined"
        builder.problem(("notify", "fallback"), f"unknown receiver {fallback!r} (receivers: {known})")

    durations: dict[str, timedelta | None] = {"remind_every": None, "lookback": DEFAULT_LOOKBACK}
    for key in durations:
        if key in section:
            try:
                durations[key] = parse_duration(section[key])
            except ValueError as exc:
                builder.problem(("notify", key), str(exc))
    failure, success = int(section.get("failure_threshold", 1)), int(section.get("success_threshold", 1))
    lookback = durations["lookback"] or DEFAULT_LOOKBACK
    return NotifyConfig(
        receivers=receivers, routes=tuple(routes), fallback=fallback,
        failure_threshold=failure, success_threshold=success,
        remind_every=durations["remind_every"], quorum=int(section.get("quorum", 1)),
        timeout_s=float(section.get("timeout_s", DEFAULT_TIMEOUT_S)),
        budget_s=float(section.get("budget_s", 60.0)), lookback=lookback,
    )


# --- maintenance windows ------------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceWindow:
    """A planned-work window. Either recurring (`cron` in `timezone`, lasting `duration`) or one
    span (`start`..`end`, aware datetimes). `envs`: the environments it covers (empty: all)."""

    name: str
    timezone: str = "UTC"
    cron: str | None = None
    duration: timedelta | None = None
    start: datetime | None = None
    end: datetime | None = None
    envs: tuple[str, ...] = ()

    def active_at(self, at: datetime, env: str | None = None) -> bool:
        """Whether the aware instant `at` falls inside the window (start included, end excluded).

        A cron window starts at each time the expression names on the local wall clock of
        `timezone` (croniter, with zoneinfo: a 01:00 window is at 01:00 local in winter and in
        summer), and lasts `duration` of elapsed time from there."""
        if self.envs and env not in self.envs:
            return False
        if self.start is not None and self.end is not None:
            return self.start <= at < self.end
        return self.last_start(at) is not None

    def last_start(self, at: datetime) -> datetime | None:
        """The start (aware, UTC) of the occurrence covering `at`, or None."""
        if self.start is not None and self.end is not None:
            return self.start.astimezone(timezone.utc) if self.start <= at < self.end else None
        from zoneinfo import ZoneInfo

        from croniter import croniter

        assert self.cron is not None and self.duration is not None
        local = at.astimezone(ZoneInfo(self.timezone))
        # croniter's get_prev is strict: an occurrence starting exactly at `at` is found by asking
        # from one second later.
        start = croniter(self.cron, local + timedelta(seconds=1)).get_prev(datetime)
        start_utc = start.astimezone(timezone.utc)
        return start_utc if start_utc <= at < start_utc + self.duration else None

    def describe(self) -> str:
        if self.cron is not None:
            return f"{self.name} (cron {self.cron!r} for {_human(self.duration)}, {self.timezone})"
        return f"{self.name} ({self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}, {self.timezone})"


def _human(delta: timedelta | None) -> str:
    if delta is None:
        return "?"
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def active_windows(windows: list[MaintenanceWindow] | None, at: datetime, env: str | None) -> list[MaintenanceWindow]:
    """The windows covering the aware instant `at` for environment `env`."""
    return [w for w in windows or [] if w.active_at(at, env)]


def load_maintenance(section: Any, builder: Any) -> list[MaintenanceWindow]:
    """The validated `maintenance:` list -> windows; problems through `builder.problem`."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    windows = []
    for i, spec in enumerate(section or []):
        where = ("maintenance", i)
        name = str(spec.get("name") or f"window {i + 1}")
        tz_name = str(spec.get("timezone", "UTC"))
        try:
            zone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            builder.problem(where + ("timezone",), f"unknown IANA time zone {tz_name!r} (e.g. Europe/Berlin, UTC)")
            continue
        envs = _strings(spec["envs"]) if "envs" in spec else ()
        has_cron, has_span = "cron" in spec, "start" in spec or "end" in spec
        if has_cron == has_span:
            builder.problem(where, "a window has either cron with duration, or start and end")
            continue
        if has_cron:
            from croniter import croniter

            cron = str(spec["cron"]).strip()
            if not croniter.is_valid(cron) or len(cron.split()) != 5:
                builder.problem(where + ("cron",), f"not a 5-field cron expression: {cron!r} (minute hour day month weekday)")
                continue
            try:
                croniter(cron, datetime(2000, 1, 1, tzinfo=zone)).get_next(datetime)
            except Exception:  # noqa: BLE001 - croniter's CroniterBadDateError and kin: a date that never comes
                builder.problem(where + ("cron",), f"{cron!r} never matches a date (e.g. 30 February)")
                continue
            if "duration" not in spec:
                builder.problem(where, "a cron window needs a duration, e.g. duration: 2h")
                continue
            try:
                duration = parse_duration(spec["duration"])
            except ValueError as exc:
                builder.problem(where + ("duration",), str(exc))
                continue
            windows.append(MaintenanceWindow(name, tz_name, cron=cron, duration=duration, envs=envs))
            continue
        times = {}
        for key in ("start", "end"):
            if key not in spec:
                builder.problem(where, f"a start/end window needs {key}")
                break
            try:
                value = spec[key]
                moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            except ValueError:
                builder.problem(where + (key,), f"not an ISO 8601 date and time: {spec[key]!r} (e.g. 2026-12-24T22:00)")
                break
            times[key] = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
        else:
            if times["end"] <= times["start"]:
                builder.problem(where + ("end",), "end must be after start")
                continue
            windows.append(MaintenanceWindow(name, tz_name, start=times["start"], end=times["end"], envs=envs))
    return windows
