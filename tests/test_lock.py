"""The environment is the locked one: every pin of requirements.lock is what is installed.

The lock is what CI and `make install` install, and the set the scheduler test proves (Prefect
3.9.1 with SQLAlchemy 2.1: its server creates the scheduled runs; 3.8.8 with SQLAlchemy 2.1
never did). Re-resolving the lock into another set is noticed twice: the scheduler test runs
against it in `make test`, and an environment that drifted from the lock fails here.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version

from tests.helpers import ROOT


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        found = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if found:
            pins[_norm(found.group(1))] = found.group(2)
    return pins


def test_every_locked_package_is_installed_at_its_pin() -> None:
    drifted = {}
    for name, pinned in locked().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            drifted[name] = (pinned, installed)
    assert not drifted, f"installed packages differ from requirements.lock: {drifted}"


def test_the_lock_holds_the_versions_whose_scheduler_was_proven() -> None:
    pins = locked()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {
        _norm(d.split("==")[0]): d.split("==")[1]
        for d in project["project"]["dependencies"]
        if "==" in d
    }
    assert pins["prefect"] == declared["prefect"] == "3.9.1"
    assert pins["sqlalchemy"].startswith("2.1.")
