"""Every registered family fits the one protocol: `Case`, `build`, `run`, one name, a two-line check file.

The rules live in `protocol_problems(family)`, so the same function that passes for every real row
is shown to catch a row that breaks them (a temporary module registered for the test).
"""

from __future__ import annotations

import ast
import inspect
import sys
import types
from pathlib import Path

import pytest

from opscheck.config.profile import Case as ProfileCase
from opscheck.families import registry
from opscheck.families.registry import BY_ARGNAME, FAMILIES, NEED_FIXTURES, Family

CHECKS = Path(__file__).resolve().parents[2] / "checks"


def _doc(obj: object) -> str:
    return inspect.getdoc(obj) or ""


def protocol_problems(family: Family, checks: Path = CHECKS) -> list[str]:
    """Every way `family`'s module and check file break the protocol (see opscheck/families/registry.py)."""
    problems: list[str] = []
    module = family.load()
    if module.__name__.rsplit(".", 1)[-1] != family.section:
        problems.append(f"module {module.__name__} is not named after its section {family.section!r}")
    if len(_doc(module)) < 40:
        problems.append(f"{module.__name__} has no module docstring")
    if "serves" not in _doc(module):
        problems.append(f"{module.__name__}'s docstring does not name the runbook sentence it serves")
    case = getattr(module, "Case", None)
    if not (isinstance(case, type) and issubclass(case, ProfileCase) and case is not ProfileCase):
        problems.append(f"{module.__name__}.Case is not a subclass of opscheck.config.profile.Case")
    else:
        params = case.__dict__.get("__dataclass_params__")  # its own, not inherited from the base Case
        if params is None or not params.frozen:
            problems.append(f"{module.__name__}.Case is not a frozen dataclass")
        if case.__doc__ is None or case.__doc__.startswith(case.__name__ + "("):  # dataclass's generated text
            problems.append(f"{module.__name__}.Case has no docstring")
    build = getattr(module, "build", None)
    if not callable(build):
        problems.append(f"{module.__name__} has no build()")
    else:
        if [p.kind for p in inspect.signature(build).parameters.values()] != [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2:
            problems.append(f"{module.__name__}.build must take (entries, builder)")
        if not inspect.isgeneratorfunction(build):
            problems.append(f"{module.__name__}.build must yield its cases")
        if len(_doc(build)) < 40:
            problems.append(f"{module.__name__}.build has no docstring")
    run = getattr(module, "run", None)
    if not callable(run):
        problems.append(f"{module.__name__} has no run()")
    else:
        params = list(inspect.signature(run).parameters.values())
        if [p.name for p in params[:2]] != ["case", "http"] or any(p.kind != p.POSITIONAL_OR_KEYWORD for p in params[:2]):
            problems.append(f"{module.__name__}.run must take (case, http, *, <needs>)")
        rest = params[2:]
        if any(p.kind != p.KEYWORD_ONLY for p in rest):
            problems.append(f"{module.__name__}.run: parameters after (case, http) must be keyword-only")
        needed = {n for n in family.needs if n != registry.HTTP}
        missing = needed - {p.name for p in rest}
        if missing:
            problems.append(f"{module.__name__}.run does not take what its row needs: {', '.join(sorted(missing))}")
        unknown = needed - set(NEED_FIXTURES)
        if unknown:
            problems.append(f"row {family.section!r} needs {', '.join(sorted(unknown))}, which no fixture provides")
        required = [p.name for p in rest if p.default is p.empty and p.name not in needed]
        if required:
            problems.append(f"{module.__name__}.run requires {', '.join(required)}, which its row does not provide")
        if registry.HTTP not in family.needs and params[1:2] and params[1].default is params[1].empty:
            problems.append(f"{module.__name__}.run gets no http (row needs none): give `http` a default of None")
        doc = _doc(run)
        if len(doc) < 40 or not any(word in doc for word in ("Raises", "raises", "Skipped", "skipped")):
            problems.append(f"{module.__name__}.run's docstring does not say what it raises")
    problems += check_file_problems(family, checks / f"{family.check_file}.py")
    return problems


def check_file_problems(family: Family, path: Path) -> list[str]:
    """The check file is a docstring and one two-line test: `def test_<section>(<section>_check): <section>_check.run()`."""
    if not path.is_file():
        return [f"no check file {path.name} for section {family.section!r}"]
    tree = ast.parse(path.read_text())
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        body = body[1:]
    else:
        return [f"{path.name} has no module docstring"]
    expected = f"def {family.test_name}({family.argname}):\n    {family.argname}.run()"
    if len(body) != 1 or not isinstance(body[0], ast.FunctionDef) or ast.unparse(body[0]) != expected:
        return [f"{path.name} is not exactly:\n{expected}"]
    return []


@pytest.mark.parametrize("section", list(FAMILIES))
def test_every_registered_family_fits_the_protocol(section):
    assert protocol_problems(FAMILIES[section]) == []


def test_module_section_check_file_and_fixture_share_one_name():
    for section, family in FAMILIES.items():
        assert family.section == section
        assert family.module == f"opscheck.families.{section}"
        assert family.check_file == f"test_{section}" and family.argname == f"{section}_check"
    bundled = {p.stem for p in CHECKS.glob("test_*.py")}
    assert bundled == {f.check_file for f in FAMILIES.values()}, "a check file without a registry row, or the reverse"
    # The family name differs from the section only where reports kept their older name.
    assert {f.section: f.name for f in FAMILIES.values() if f.name != f.section} == {"openapi": "schema", "protected": "auth"}


def test_every_check_file_is_a_docstring_and_two_lines():
    for family in FAMILIES.values():
        source = (CHECKS / f"{family.check_file}.py").read_text()
        code = [line for line in ast.unparse(ast.parse(source)).splitlines()[1:] if line.strip()]
        assert len(code) == 2, (family.check_file, code)


def test_every_registry_row_has_a_generated_fixture_with_its_summary_as_docstring():
    from opscheck.plugin import fixtures
    import opscheck.plugin as plugin

    for family in FAMILIES.values():
        generated = getattr(fixtures, family.argname)
        assert getattr(plugin, family.argname) is generated, f"the plugin does not expose {family.argname}"
        assert family.summary in (generated.__doc__ or getattr(generated, "_get_wrapped_function", lambda: None)().__doc__)
    assert set(fixtures.__all__) == set(BY_ARGNAME)


def _temporary_family(monkeypatch, tmp_path, source: str, check: str, needs: tuple[str, ...] = ("http",)) -> Family:
    """Register module `opscheck.families.brokenfam` from `source` and write its check file into tmp_path."""
    module = types.ModuleType("opscheck.families.brokenfam")
    module.__file__ = str(tmp_path / "brokenfam.py")
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    family = Family("brokenfam", "brokenfam", "a family written for this test", needs=needs)
    monkeypatch.setitem(FAMILIES, family.section, family)
    (tmp_path / f"{family.check_file}.py").write_text(check)
    return family


GOOD = '''
"""Brokenfam: the runbook sentence it serves: "a module that fits the protocol, as a baseline"."""
from __future__ import annotations
from dataclasses import dataclass
from opscheck.config.profile import Case as Base

@dataclass(frozen=True)
class Case(Base):
    """One case of the test family: nothing but the shared fields."""

def build(entries, b):
    """One case per entry, from a list of mappings with a name each; nothing is a problem."""
    yield from ()

def run(case, http):
    """Passes always; raises CheckFailed never, because there is nothing to check."""
'''
GOOD_CHECK = '"""Brokenfam."""\n\n\ndef test_brokenfam(brokenfam_check):\n    brokenfam_check.run()\n'


def test_a_temporary_family_that_fits_passes_the_same_rules(monkeypatch, tmp_path):
    family = _temporary_family(monkeypatch, tmp_path, GOOD, GOOD_CHECK)
    assert protocol_problems(family, tmp_path) == []


@pytest.mark.parametrize(("change", "problem"), [
    (("def run(case, http):", "def check(case, http):"), "has no run()"),
    (("def run(case, http):", "def run(case, response):"), "run must take (case, http"),
    (("def run(case, http):", "def run(case, http, benchmark):"), "must be keyword-only"),
    (("def run(case, http):", "def run(case, http, *, now):"), "run requires now"),
    (("class Case(Base):", "class Case:"), "not a subclass of opscheck.config.profile.Case"),
    (("@dataclass(frozen=True)\n", ""), "not a frozen dataclass"),
    (('    """One case of the test family: nothing but the shared fields."""', "    pass"), "Case has no docstring"),
    (("    yield from ()", "    return []"), "build must yield"),
    (('    """Passes always; raises CheckFailed never, because there is nothing to check."""', "    pass"),
     "run's docstring does not say what it raises"),
    (("the runbook sentence it serves", "a family"), "does not name the runbook sentence"),
])
def test_a_family_that_breaks_the_protocol_is_named_with_what_it_breaks(monkeypatch, tmp_path, change, problem):
    old, new = change
    assert old in GOOD
    family = _temporary_family(monkeypatch, tmp_path, GOOD.replace(old, new), GOOD_CHECK)
    problems = protocol_problems(family, tmp_path)
    assert any(problem in p for p in problems), problems


def test_a_row_whose_run_lacks_a_keyword_it_needs_is_named(monkeypatch, tmp_path):
    family = _temporary_family(monkeypatch, tmp_path, GOOD, GOOD_CHECK, needs=("http", "benchmark"))
    assert any("does not take what its row needs: benchmark" in p for p in protocol_problems(family, tmp_path))


@pytest.mark.parametrize("check", [
    '"""Brokenfam."""\n\nfrom x import y\n\n\ndef test_brokenfam(brokenfam_check, opscheck_http):\n    y(brokenfam_check, opscheck_http)\n',
    '"""Brokenfam."""\n\n\ndef test_other(brokenfam_check):\n    brokenfam_check.run()\n',
    'def test_brokenfam(brokenfam_check):\n    brokenfam_check.run()\n',
])
def test_a_check_file_with_more_than_its_two_lines_or_another_name_is_named(monkeypatch, tmp_path, check):
    family = _temporary_family(monkeypatch, tmp_path, GOOD, check)
    assert check_file_problems(family, tmp_path / "test_brokenfam.py") != []


def test_a_missing_check_file_is_named(monkeypatch, tmp_path):
    family = _temporary_family(monkeypatch, tmp_path, GOOD, GOOD_CHECK)
    (tmp_path / "test_brokenfam.py").unlink()
    assert protocol_problems(family, tmp_path) == ["no check file test_brokenfam.py for section 'brokenfam'"]
