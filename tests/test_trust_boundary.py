"""The probe side holds no judge code: after the zygote's warm-up and every recipe, nothing trusted is loaded.

A probe is forked from the zygote and shares its memory, so whatever the zygote has imported a
submission can read. Here a fresh interpreter, with the environment a real zygote is given, runs the
zygote's warm-up (what `autograder.probe.zygote.main` does before it serves) and imports every recipe module
(a probe imports them on demand when a check names one). Then no module of the judge, the check
definitions or the reports may be loaded, and no loaded module or search path may lead into the
checks package, where the hidden checks live.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.probe import sandbox

ROOT = Path(__file__).resolve().parent.parent
CHECKS_DIR = ROOT / "autograder" / "checks"
HIDDEN_DIR = CHECKS_DIR / "hidden"

# The trusted zones, by package (the judge with the check definitions, the reports, the instructors' tools),
# and the top-level entry points that import them.
NEVER_IN_THE_ZYGOTE = ("autograder.judge", "autograder.checks", "autograder.reports", "autograder.authoring",
                       "autograder.cli", "autograder.inline", "autograder.pytest_plugin", "autograder.__main__")
# What the probe side may hold of the package: its own folder, the wire contract, and the public modules a
# notebook imports with the small helpers they use.
PROBE_MAY_HOLD = ("autograder", "autograder.i18n", "autograder.wire", "autograder.models", "autograder.data",
                  "autograder.data_text", "autograder.course", "autograder.notebook", "autograder.files")

WARM_ZYGOTE = r"""
import importlib, json, pkgutil, sys
from autograder.probe import zygote
zygote.warm_up()
import autograder.probe.recipes
for info in pkgutil.walk_packages(autograder.probe.recipes.__path__, "autograder.probe.recipes."):
    importlib.import_module(info.name)
held = {}
for name, module in list(sys.modules.items()):
    paths = [getattr(module, "__file__", None)]
    try:  # a package's search path; some of torch's modules answer __path__ with an object of their own
        paths += list(module.__path__)
    except (AttributeError, TypeError):
        pass
    held[name] = [p for p in paths if isinstance(p, str) and p]
print("HELD " + json.dumps({"modules": held, "sys_path": sys.path}))
"""


def _zygote_environment() -> dict[str, str]:
    """What runner.ZygoteLauncher starts the zygote with: the allow-listed environment and two settings."""
    return dict(sandbox.probe_environment(os.environ), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")


@pytest.fixture(scope="module")
def zygote_holds() -> dict:
    done = subprocess.run([sys.executable, "-c", WARM_ZYGOTE], cwd=ROOT, env=_zygote_environment(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("HELD "))
    return json.loads(line[len("HELD "):])


def _within(path: str, folder: Path) -> bool:
    resolved = (ROOT / path).resolve()  # a relative entry ("" on sys.path) is relative to the zygote's cwd
    return resolved == folder or folder in resolved.parents


def test_the_warm_zygote_holds_its_own_public_modules_and_every_recipe(zygote_holds):
    held = set(zygote_holds["modules"])
    recipes = {f"autograder.probe.recipes.{p.stem}" for p in (ROOT / "autograder" / "probe" / "recipes").glob("*.py")
               if p.stem != "__init__"}
    probe_side = {"autograder.probe.zygote", "autograder.probe.serve", "autograder.probe.sandbox",
                  "autograder.probe.recipes"}
    assert probe_side <= held
    assert recipes <= held, f"recipes not imported: {sorted(recipes - held)}"


def test_the_warm_zygote_holds_no_judge_check_or_report_module(zygote_holds):
    ours = sorted(name for name in zygote_holds["modules"] if name.startswith("autograder"))
    leaked = [name for name in ours if name.startswith(tuple(f"{trusted}." for trusted in NEVER_IN_THE_ZYGOTE))
              or name in NEVER_IN_THE_ZYGOTE]
    assert not leaked, f"the zygote (and so every probe) holds trusted modules {leaked}; it holds {ours}"


def test_the_warm_zygote_holds_only_the_probe_folder_and_the_shared_public_modules(zygote_holds):
    ours = sorted(name for name in zygote_holds["modules"] if name == "autograder" or name.startswith("autograder."))
    other = [name for name in ours if name not in PROBE_MAY_HOLD and not name.startswith("autograder.probe.")
             and name != "autograder.probe"]
    assert not other, f"the zygote holds {other}, outside autograder/probe/ and the shared modules"


def test_nothing_the_zygote_holds_leads_to_the_hidden_checks(zygote_holds):
    into_checks = {name: paths for name, paths in zygote_holds["modules"].items()
                   if any(_within(path, CHECKS_DIR) for path in paths)}
    assert not into_checks, f"loaded from, or searching, {CHECKS_DIR}: {into_checks}"
    search = [entry for entry in zygote_holds["sys_path"] if entry and _within(entry, CHECKS_DIR)]
    assert not search, f"sys.path leads into the checks package: {search}"
    assert HIDDEN_DIR.is_dir() and any(HIDDEN_DIR.glob("*.py")), "the hidden checks moved: update this test"
