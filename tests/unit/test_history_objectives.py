"""`objectives:` in the profile: the typed form, and each mistake as file:line: field: cause."""

from __future__ import annotations

from decimal import Decimal

import pytest

from opscheck.config.objectives import Objective, format_duration, parse_seconds
from opscheck.config.profile import ProfileError, load_profile

HEAD = """\
service: svc
smoke:
  - {name: api-health, path: /health}
  - {name: home, path: /}
"""


def load(tmp_path, objectives: str):
    path = tmp_path / "opscheck.yaml"
    path.write_text(HEAD + objectives)
    return load_profile(path)


def test_objectives_load_as_typed_decimals_and_seconds(tmp_path):
    profile = load(tmp_path, """\
objectives:
  - {check: "smoke::api-health", target: 99.9, window: 30d, method: timeslices, timeslice: 5m}
  - {check: "smoke::home", target: "99.5", window: 7d, name: weekly}
""")
    first, second = profile.extras["objectives"]
    assert first == Objective("smoke::api-health", Decimal("99.9"), 30 * 86400, "timeslices", 300, Decimal(100), "", 6)
    assert second.target == Decimal("99.5") and second.method == "occurrences" and second.label == "weekly"
    assert first.label == "smoke::api-health 99.9% over 30d (timeslices)"


@pytest.mark.parametrize(("entry", "field", "cause"), [
    ('{check: "smoke::nope", target: 99}', "objectives[0].check", "no check 'smoke::nope' in this profile"),
    ('{check: "smoke::home", target: 100}', "objectives[0].target", "no error budget"),
    ('{check: "smoke::home", target: 0}', "objectives[0].target", "not above 0"),
    ('{check: "smoke::home", target: 99, window: 10m}', "objectives[0].window", "outside 1h..400d"),
    ('{check: "smoke::home", target: 99, window: 500d}', "objectives[0].window", "outside 1h..400d"),
    ('{check: "smoke::home", target: 99, timeslice: 5m}', "objectives[0].method", "need method: timeslices"),
    ('{check: "smoke::home", target: 99, method: timeslices, timeslice: 30s}', "objectives[0].timeslice", "at least 1m"),
    ('{check: "smoke::home", target: 99, method: timeslices, timeslice_target: 120}', "objectives[0].timeslice_target",
     "at most 100"),
])
def test_each_mistake_is_reported_at_its_line_and_field(tmp_path, entry, field, cause):
    with pytest.raises(ProfileError) as caught:
        load(tmp_path, f"objectives:\n  - {entry}\n")
    text = str(caught.value)
    assert f"opscheck.yaml:6: {field}:" in text and cause in text, text


def test_a_second_objective_for_one_check_needs_its_own_name(tmp_path):
    with pytest.raises(ProfileError, match="a second objective"):
        load(tmp_path, 'objectives:\n  - {check: "smoke::home", target: 99}\n  - {check: "smoke::home", target: 98}\n')
    profile = load(tmp_path, 'objectives:\n  - {check: "smoke::home", target: 99}\n'
                             '  - {check: "smoke::home", target: 98, name: loose}\n')
    assert len(profile.extras["objectives"]) == 2


def test_durations_read_and_print_in_whole_units():
    assert [parse_seconds(x) for x in ("30d", "6h", "5m", "1h30m", 90, "45")] == [2592000, 21600, 300, 5400, 90, 45]
    assert format_duration(5400) == "1h30m" and format_duration(2592000) == "30d"
    for bad in ("soon", "5 parsecs", "1.5", True):
        with pytest.raises(ValueError):
            parse_seconds(bad)
