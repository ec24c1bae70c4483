"""The scheduling examples hold what docs/nightly.md promises: the Kubernetes manifest is valid
YAML with one CronJob per region, Forbid, a starting deadline, one shared history and Pushgateway,
and flags opscheck knows; the cron lines use real options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "docs" / "kubernetes" / "opscheck-nightly.yaml"  # not under examples/: those are profiles
NIGHTLY_DOC = ROOT / "docs" / "nightly.md"
CRON_FIELD = re.compile(r"^(\*|\*/\d+|\d+(-\d+)?(,\d+(-\d+)?)*)$")


class _Options:
    """Records option names as pytest's parser would register them."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def getgroup(self, *args: Any, **kwargs: Any) -> "_Options":
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.names.update(names)


def known_run_options() -> set[str]:
    import opscheck.plugin as main
    from opscheck.plugin import alerting, nightly

    options = _Options()
    for module in (main, nightly, alerting):
        module.pytest_addoption(options)  # type: ignore[arg-type]
    return options.names | {"--base-url", "--report-dir", "--profile", "--env"}


def cronjobs() -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d is not None]
    assert all(d["apiVersion"] == "batch/v1" and d["kind"] == "CronJob" for d in docs)
    return docs


def container(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return only


def test_every_cronjob_forbids_overlap_has_a_starting_deadline_and_a_valid_schedule():
    for job in cronjobs():
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert isinstance(spec["startingDeadlineSeconds"], int) and spec["startingDeadlineSeconds"] > 0
        fields = spec["schedule"].split()
        assert len(fields) == 5 and all(CRON_FIELD.match(f) for f in fields), spec["schedule"]
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"


def test_one_run_job_per_region_all_sharing_one_history_and_one_pushgateway():
    runs = [j for j in cronjobs() if container(j)["args"][0] == "run"]
    assert len(runs) >= 2
    regions, histories, gateways = [], set(), set()
    known = known_run_options()
    for job in runs:
        args = container(job)["args"]
        flags = [a for a in args if a.startswith("--")]
        assert set(flags) <= known, set(flags) - known
        location = args[args.index("--location") + 1]
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["nodeSelector"]["topology.kubernetes.io/region"] == location
        regions.append(location)
        gateways.add(args[args.index("--pushgateway") + 1])
        assert "--history" not in args  # the URL holds a password: it comes from the Secret
        env = {e["name"]: e for e in container(job)["env"]}
        histories.add(repr(env["OPSCHECK_HISTORY"]["valueFrom"]))
        assert args[args.index("--slot") + 1] == "15m" and job["spec"]["schedule"].startswith("*/15 ")
        rules = job["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
        assert 6 not in rules[0]["onExitCodes"]["values"] and 1 in rules[0]["onExitCodes"]["values"]
    assert len(set(regions)) == len(regions)
    assert len(histories) == 1 and len(gateways) == 1


def test_the_prune_job_keeps_400_days():
    (prune,) = [j for j in cronjobs() if container(j)["args"][0] == "history"]
    assert container(prune)["args"] == ["history", "prune", "--older-than", "400d"]


def test_the_cron_lines_in_the_docs_use_real_options():
    block = NIGHTLY_DOC.read_text().split("```crontab", 1)[1].split("```", 1)[0]
    lines = [l for l in block.splitlines() if l.strip() and not l.startswith("#")]
    assert len(lines) == 2
    known = known_run_options()
    for line in lines:
        fields = line.split(None, 5)
        assert all(CRON_FIELD.match(f) for f in fields[:5]), line
        words = shlex.split(fields[5].split(">>")[0])
        if "run" in words:
            run = words[words.index("run"):]
            assert {w for w in run if w.startswith("--")} <= known
            assert "--history" in run and "--slot" in run
        else:
            assert words[:3] == ["opscheck", "history", "prune"] and "400d" in words
