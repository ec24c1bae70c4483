"""The published contracts stay in step with the code: reasons, outcomes and profile sections."""

from __future__ import annotations

import json
import re
from pathlib import Path

from opscheck.outcome import Reason
from opscheck.families.registry import FAMILIES
from opscheck.results import OUTCOMES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
RESULTS_SCHEMA = json.loads((ROOT / "opscheck/results.schema.json").read_text())
PROFILE_SCHEMA = json.loads((ROOT / "opscheck/profile.schema.json").read_text())


def test_every_reason_is_documented_and_allowed_in_results_json():
    table = README[README.index("## Failure reasons"):README.index("## How requests are bounded")]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))
    assert documented == {r.value for r in Reason}
    allowed = set(RESULTS_SCHEMA["properties"]["checks"]["items"]["properties"]["reason"]["enum"]) - {None}
    assert allowed == {r.value for r in Reason}


def test_every_outcome_is_allowed_in_results_json():
    assert set(RESULTS_SCHEMA["properties"]["checks"]["items"]["properties"]["outcome"]["enum"]) == set(OUTCOMES)


def test_every_family_section_is_in_the_profile_schema_with_defaults():
    sections = set(FAMILIES)
    assert sections <= set(PROFILE_SCHEMA["properties"])
    defaults = set(PROFILE_SCHEMA["properties"]["defaults"]["properties"])
    assert {f.name for f in FAMILIES.values()} <= defaults
    documented = (ROOT / "docs/profile.md").read_text()
    for section in sections:
        assert f"`{section}`" in documented, f"docs/profile.md does not document `{section}:`"


def test_every_top_level_section_is_documented():
    documented = (ROOT / "docs/profile.md").read_text()
    for section in PROFILE_SCHEMA["properties"]:
        if section != "$schema":
            assert f"`{section}`" in documented, f"docs/profile.md does not document `{section}:`"
