"""Refusals of an isolated interpreter: the module's import path and its distribution.

Runs in: the test process (and one OWN_GIL subinterpreter it creates).
"""

from __future__ import annotations

import _datetime  # noqa: F401 - every 3.13.x needs it in main before subinterpreters (docs/design.md)
import _interpreters
import importlib
import sys
from pathlib import Path

import pytest

from subserve.isolation.refusal import Refusal, find_refusal, is_refusal

REFUSED = "module {} does not support loading in subinterpreters"


@pytest.fixture
def package_refusing_a_bare_name(tmp_path: Path, monkeypatch):
    """A package whose extension, defined as ``_core``, refuses (as msgspec's does)."""
    pkg = tmp_path / "refpkg"
    pkg.mkdir()
    (pkg / "_core.py").write_text("")  # the submodule the bare name resolves to
    (pkg / "__init__.py").write_text(f"raise ImportError({REFUSED.format('_core')!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "refpkg"
    sys.modules.pop("refpkg", None)


def test_a_bare_name_is_resolved_against_the_importing_package(package_refusing_a_bare_name):
    with pytest.raises(ImportError) as info:
        importlib.import_module(package_refusing_a_bare_name)
    assert is_refusal(info.value)
    refusal = find_refusal(info.value)
    assert refusal == Refusal("refpkg._core", None, None)
    assert str(refusal) == "module refpkg._core"  # no distribution installed it


def test_the_refusal_is_found_through_the_exception_chain() -> None:
    try:
        try:
            raise ImportError(REFUSED.format("some.ext"))
        except ImportError as exc:
            raise RuntimeError("the app failed to start") from exc
    except RuntimeError as outer:
        assert find_refusal(outer).module == "some.ext"
    assert find_refusal(ValueError("nothing to do with it")) is None
    assert not is_refusal(ImportError("No module named 'x'"))


def test_a_real_refusal_names_the_distribution_and_version() -> None:
    """httptools refuses OWN_GIL interpreters (a test dependency, for this reason)."""
    iid = _interpreters.create("isolated")
    try:
        error = _interpreters.exec(iid, (
            f"import sys\nsys.path[:] = {sys.path!r}\n"
            "from subserve.isolation.refusal import find_refusal\n"
            "try:\n"
            "    import httptools\n"
            "except ImportError as exc:\n"
            "    found = find_refusal(exc)\n"
            "    assert found.module == 'httptools.parser.parser', found\n"
            "    assert found.distribution == 'httptools' and found.version, found\n"
            "    assert str(found).startswith('httptools ' + found.version), found\n"
            "else:\n"
            "    raise AssertionError('httptools loaded in an isolated interpreter')\n"
        ))
    finally:
        _interpreters.destroy(iid)
    assert error is None, error.errdisplay
