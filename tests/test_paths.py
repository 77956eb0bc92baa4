"""credproc computes the XDG folders itself on Linux to keep platformdirs off the hot path."""

from __future__ import annotations

import os

import platformdirs
import pytest

from credproc import paths


@pytest.mark.parametrize(
    "xdg",
    [
        {},
        {"XDG_CACHE_HOME": "/x/cache", "XDG_DATA_HOME": "/x/data"},
        {"XDG_CACHE_HOME": "  ", "XDG_DATA_HOME": ""},
    ],
)
def test_folders_match_platformdirs(monkeypatch: pytest.MonkeyPatch, xdg: dict[str, str]) -> None:
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "CREDPROC_CACHE_DIR", "CREDPROC_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in xdg.items():
        monkeypatch.setenv(var, value)
    assert paths.cache_dir() == platformdirs.user_cache_dir("credproc")
    assert paths.key_file() == os.path.join(platformdirs.user_data_dir("credproc"), "key")


def test_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDPROC_CACHE_DIR", "/c")
    monkeypatch.setenv("CREDPROC_KEY_FILE", "/k/key")
    assert (paths.cache_dir(), paths.key_file()) == ("/c", "/k/key")
