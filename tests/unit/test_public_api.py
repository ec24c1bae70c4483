"""The names custom checks and sinks import from `opscheck` itself, whatever moves inside the package."""

from __future__ import annotations

import subprocess
import sys

import pytest

import opscheck


@pytest.mark.parametrize("name", [n for n in opscheck.__all__ if n != "__version__"])
def test_every_public_name_resolves_to_the_object_of_its_module(name):
    value = getattr(opscheck, name)
    module = __import__(opscheck._PUBLIC[name], fromlist=[name])
    assert value is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        opscheck.no_such_name  # noqa: B018


def test_importing_opscheck_imports_none_of_its_modules():
    code = "import sys, opscheck; print(sorted(m for m in sys.modules if m.startswith('opscheck')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "['opscheck']"


def test_a_custom_check_can_raise_a_verdict_from_the_top_level_names():
    failure = opscheck.CheckFailed(opscheck.Reason.STATUS, "GET /x: status 503, expected 200")
    assert str(failure) == "[status] GET /x: status 503, expected 200"
