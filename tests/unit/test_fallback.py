"""What auto falls back to for an app that refuses an isolated interpreter."""

import sys

import pytest

from subserve.supervisor import fallback


@pytest.mark.parametrize("gil, kind, build", [(True, "process", "a GIL build"),
                                              (False, "thread", "a free-threaded build")])
def test_the_fallback_follows_the_build(monkeypatch, gil, kind, build) -> None:
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: gil, raising=False)
    assert fallback.fallback_kind() == kind
    assert fallback.build() == build


def test_a_build_without_the_gil_switch_has_a_gil(monkeypatch) -> None:
    monkeypatch.delattr(sys, "_is_gil_enabled", raising=False)  # CPython 3.12 and older
    assert fallback.fallback_kind() == "process"
