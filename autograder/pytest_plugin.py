"""pytest as a way to grade: `pytest --submission NOTEBOOK_OR_DIR` makes every check case a test item.

Items are named after the stub and the case (`test_rnn_cell_forward[values-relu]`), marked `public`
or `hidden`, and carry their points as a property (so `--junitxml` reports scores). They run through
the same probe and judge as `autograder grade`: the first item of a notebook grades the whole notebook
in one probe, and every item of it reads its own verdict from that result. The plugin does nothing
unless `--submission` is given, and imports nothing heavy until then.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autograder.i18n import _


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder", _("grading course notebooks"))
    group.addoption("--submission", action="append", default=[], metavar="PATH",
                    help=_("a submitted notebook, or a folder searched for *.ipynb; makes each check a test item"))
    group.addoption("--assignment", default=None, metavar="ID",
                    help=_("the assignment of the submissions (default: from each notebook's metadata)"))


def pytest_configure(config: pytest.Config) -> None:
    # "name: description": pytest reads the marker's name before the colon
    config.addinivalue_line("markers", "public: " + _("a check students see while they work"))
    config.addinivalue_line("markers", "hidden: " + _("a check added when the notebook is graded"))


def _submissions(config: pytest.Config) -> list[Path]:
    found: list[Path] = []
    for given in config.getoption("submission") or []:
        path = Path(given)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(path)
    return found


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With --submission, the items are the submission's checks and nothing else."""
    return True if config.getoption("submission") else None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    if not config.getoption("submission"):
        return
    items[:] = []
    for path in _submissions(config):
        name = path.as_posix()
        collector = NotebookChecks.from_parent(session, name=name, path=path.resolve(), nodeid=name)
        items.extend(collector.collect())


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_") or "case"


class _Grading:
    """One launcher for the session, one plan per assignment, one graded result per notebook."""

    def __init__(self) -> None:
        self.launcher = None
        self.plans: dict = {}
        self.results: dict = {}

    def plan(self, assignment: str):
        if assignment not in self.plans:
            from autograder.judge import grading

            self.plans[assignment] = grading.plan_assignment(assignment)
        return self.plans[assignment]

    def result(self, path: Path, assignment: str):
        if path not in self.results:
            from autograder import course
            from autograder.judge import grading, runner

            plan = self.plan(assignment)
            if self.launcher is None:
                self.launcher = runner.make_launcher(course.hidden_paths([path.parent]), plan.limits)
            self.results[path] = grading.grade_notebook(plan, path, self.launcher, student=path.stem)
        return self.results[path]

    def close(self) -> None:
        if self.launcher is not None:
            self.launcher.close()
            self.launcher = None


_GRADING_KEY = pytest.StashKey[_Grading]()


def _grading(config: pytest.Config) -> _Grading:
    if _GRADING_KEY not in config.stash:
        config.stash[_GRADING_KEY] = _Grading()
    return config.stash[_GRADING_KEY]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _GRADING_KEY in config.stash:
        config.stash[_GRADING_KEY].close()


class NotebookChecks(pytest.Collector):
    """The checks of one submitted notebook, as items."""

    def collect(self) -> list[pytest.Item]:
        from autograder.course import assignment_of

        try:
            assignment = assignment_of(self.path, self.config.getoption("assignment"))
        except (ValueError, FileNotFoundError) as exc:
            raise pytest.UsageError(str(exc)) from None
        from autograder.judge import evaluate

        plan = _grading(self.config).plan(assignment)
        items = []
        for group_plan in plan.groups:
            group = group_plan.group
            graded = [p for p in group_plan.planned if not p.case.diagnostic]
            total_weight = (sum(p.case.weight for p in graded)
                            + evaluate.withheld_weight(assignment, group, group_plan.planned))
            unit = group_plan.points / total_weight if total_weight else 0.0
            prefix = group.id[len(group.stub) + 1:] + "-" if group.id.startswith(group.stub + "_") else ""
            seen: set[str] = set()
            for index, planned in enumerate(graded):
                label = prefix + _slug(planned.case.name) + ("-hidden" if planned.hidden else "")
                while label in seen:
                    label += "_"
                seen.add(label)
                points = unit * planned.case.weight
                item = CheckItem.from_parent(self, name=f"test_{group.stub}[{label}]", assignment=assignment,
                                             group_id=group.id, index=index, points=points)
                item.add_marker("hidden" if planned.hidden else "public")
                item.user_properties.append(("points", round(points, 6)))
                items.append(item)
        return items


class CheckFailed(Exception):
    """A check case the submission did not pass; its message is the grader's."""


class CheckItem(pytest.Item):
    """One case of one test cell; its score is the case's share of the cell's points, as in results.json."""

    def __init__(self, *, assignment: str, group_id: str, index: int, points: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.assignment = assignment
        self.group_id = group_id
        self.index = index
        self.points = points

    def runtest(self) -> None:
        from autograder.judge import evaluate

        result = _grading(self.config).result(self.parent.path, self.assignment)
        group = next(g for g in result.groups if g.group_id == self.group_id)
        if result.error or self.index >= len(group.cases):
            self.user_properties.append(("score", 0.0))
            raise CheckFailed(result.error or _("this check was not run"))
        case = group.cases[self.index]
        earned, _most = group.case_share(self.index)
        self.user_properties.append(("score", earned))
        if not case.passed:
            hint = "\n" + _("Hint: {hint}").format(hint=group.hint) if group.hint else ""
            raise CheckFailed(f"{case.message}{hint}")
        if case.kind != evaluate.VALUE and not group.values_shown():
            raise CheckFailed(_("passed, but `{stub}`'s form cases earn points only once one of its value cases "
                                "passes").format(stub=group.stub))

    def repr_failure(self, excinfo: pytest.ExceptionInfo, style=None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.parent.path, None, f"{self.assignment}: {self.name}"
