"""Usage errors of every opscheck command: exit 4 (never argparse's 2), one line naming the option."""

from __future__ import annotations

import pytest

from opscheck.cli import main


def exit_code(argv: list[str]) -> int:
    """What `opscheck ARGV` exits with: argparse's errors raise SystemExit, the handlers return."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code  # type: ignore[return-value]


@pytest.mark.parametrize("argv, named", [
    (["bogus"], "'bogus'"),
    (["history", "--db", "history.db"], "'--db'"),
    (["history", "report", "--db", "x.db"], "--db"),
    (["history", "prune"], "--older-than"),
    (["run", "--interval"], "--interval"),
    (["demo", "--fail-after"], "--fail-after"),
    (["lint", "--nope"], "--nope"),
    (["notify", "--nope", "x"], "--nope"),
    (["drill"], "--manifest"),
])
def test_a_usage_error_of_any_command_exits_4_and_names_the_option(argv, named, capsys):
    assert exit_code(argv) == 4
    err = capsys.readouterr().err
    assert named in err.splitlines()[-1]
    assert "Traceback" not in err


def test_an_unknown_option_before_a_value_is_named_instead_of_the_value_as_an_invalid_action(capsys):
    with pytest.raises(SystemExit):
        main(["history", "--db", "history.db"])
    last = capsys.readouterr().err.splitlines()[-1]
    assert "invalid choice" not in last and "history.db" not in last
    assert "--history" in last  # the option the user probably meant is among the known ones


def test_history_report_is_the_explicit_name_of_the_default_action_and_help_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSCHECK_HISTORY", raising=False)
    # No store here: both spellings reach the report and fail the same way (not as an unknown action).
    assert main(["history", "report"]) == 4
    assert "no such history file" in capsys.readouterr().err
    assert main(["history"]) == 4
    assert "no such history file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["history", "--help"])
    assert exit_info.value.code == 0
    assert "default: report" in capsys.readouterr().out
