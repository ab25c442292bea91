"""Every module imports alone in a fresh interpreter, so no import cycle can hide behind a lucky
import order. (The layer contract itself is `lint-imports`, run by `make lint`.)"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import picotask
from tests.support import TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent
# Backend-independent: run once, in the SQLite pass.
pytestmark = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="runs in the SQLite pass")


def _modules() -> list[str]:
    found = ["picotask"]
    for info in pkgutil.walk_packages(picotask.__path__, "picotask."):
        found.append(info.name)
    return found


def _import_alone(module: str) -> tuple[str, int, str]:
    done = subprocess.run(  # noqa: S603  # our own interpreter, our own module names
        [
            sys.executable,
            "-c",
            "import importlib, sys; importlib.import_module(sys.argv[1])",
            module,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
        check=False,
    )
    return module, done.returncode, done.stderr[-2_000:]


# One fresh interpreter per module: ~15 s on an idle 2-core machine, far more on a busy one.
@pytest.mark.timeout(900)
def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = _modules()
    assert "picotask.server.graphql_view" in modules
    assert len(modules) > 50
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [r for r in pool.map(_import_alone, modules) if r[1] != 0]
    assert failures == []
