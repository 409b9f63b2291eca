"""Reproducible installs: requirements.lock (the service) and requirements-dev.lock (with the
development tools) pin every dependency, hash-checked, inside pyproject.toml's ranges; the
Dockerfile and scripts/setup (hence CI) install from them (scripts/lock writes them)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(name: str) -> dict[str, Version]:
    text = (ROOT / name).read_text()
    found = {canonicalize_name(m[1]): Version(m[2])
             for m in re.finditer(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", text, re.M)}
    # Every pin carries its hashes (pip's hash-checking mode needs them all).
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    assert all("--hash=sha256:" in entry for entry in entries if "==" in entry), name
    return found


def test_every_dependency_is_pinned_within_its_range() -> None:
    for lock, requirements in (
        ("requirements.lock", PYPROJECT["dependencies"]),
        ("requirements-dev.lock",
         PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]),
    ):
        pinned = pins(lock)
        for line in requirements:
            requirement = Requirement(line)
            version = pinned.get(canonicalize_name(requirement.name))
            assert version is not None, f"{lock}: {requirement.name} is not pinned"
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock}: {requirement.name}=={version} outside {requirement.specifier}")


def test_the_service_lock_is_the_development_lock_without_the_tools() -> None:
    service, development = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {name: development.get(name) for name in service} == service
    assert "httpx" not in service  # a test and benchmark client only


def test_installs_come_from_the_locks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    setup = (ROOT / "scripts" / "setup").read_text()
    assert "--require-hashes -r requirements-dev.lock" in setup
    assert "--no-deps -e ." in setup
