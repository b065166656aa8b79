"""recordkit.capture.packages: installed distributions, read from dist-info and egg-info folders."""

from __future__ import annotations

import importlib.metadata
import pathlib
import sys

import pytest

from recordkit.capture import installed_packages


def test_installed_packages_match_importlib_metadata() -> None:
    packages = installed_packages()
    for name in ("numpy", "pytest"):
        assert packages[name] == importlib.metadata.version(name)
    assert list(packages) == sorted(packages)
    packages["numpy"] = "tampered"
    assert installed_packages()["numpy"] == importlib.metadata.version("numpy")  # the cache is not shared


def test_installed_packages_reads_dist_and_egg_info(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Foo_Bar-1.2.3.dist-info").mkdir()
    (tmp_path / "other-2.0-py3.11.egg-info").mkdir()
    (tmp_path / "Legacy.Pkg.egg-info").mkdir()
    (tmp_path / "Legacy.Pkg.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 2.1\nName: Legacy.Pkg\nVersion: 0.4\n"
    )
    (tmp_path / "not_a_package").mkdir()
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert installed_packages() == {"foo-bar": "1.2.3", "legacy-pkg": "0.4", "other": "2.0"}
