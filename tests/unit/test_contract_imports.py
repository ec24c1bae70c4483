"""What importing opscheck.contract costs: a smoke-only run must not load schema machinery.

Each case runs in a fresh interpreter, so what another test imported does not hide an import.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("jsonschema", "referencing", "hypothesis")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys; {code}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return eval(out.stdout.strip())  # a list literal printed by the probe above


def test_importing_the_expect_module_loads_neither_jsonschema_nor_hypothesis() -> None:
    assert _loaded_after("import opscheck.contract.expect") == []


def test_the_smoke_family_loads_no_schema_machinery() -> None:
    assert _loaded_after("import opscheck.families.smoke") == []


def test_a_contract_name_is_loaded_on_first_use_and_is_the_real_object() -> None:
    from opscheck import contract
    from opscheck.contract import openapi, validate as validate_module  # noqa: F401

    assert contract.load_spec is openapi.load_spec
    assert contract.invalid_bodies is sys.modules["opscheck.contract.mutate"].invalid_bodies
    assert sorted(contract.__all__) == sorted(n for n in contract.__all__ if hasattr(contract, n))


def test_the_validate_name_stays_the_function_after_its_submodule_is_imported_first() -> None:
    # Importing a submodule binds its name on the package; `validate` is also the public function.
    code = ("import opscheck.contract.openapi, opscheck.contract.validate; "
            "from opscheck.contract import validate, Violation; "
            "assert callable(validate) and not isinstance(validate, type(sys)), validate; "
            "assert validate([], {'type': 'object'})[0].rule == 'type: object'")
    assert _loaded_after(code) == ["jsonschema", "referencing"]


def test_an_unknown_contract_name_is_an_attribute_error() -> None:
    import pytest

    from opscheck import contract

    with pytest.raises(AttributeError, match="no_such_name"):
        contract.no_such_name  # noqa: B018
