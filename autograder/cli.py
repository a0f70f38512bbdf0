"""The `autograder` command: check, grade, grade-batch, release, export-hidden, merge, export-grades, gradescope,
similarity, ci-report, demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from autograder.i18n import N_, _

DESCRIPTION = N_("The `autograder` command: check, grade, grade-batch, release, export-hidden, merge, export-grades, "
                 "gradescope, similarity, ci-report, demo.")


def _assignment_of(path: Path, given: str | None) -> str:
    from autograder.course import assignment_of

    try:
        return assignment_of(path, given)
    except FileNotFoundError as exc:
        raise SystemExit(f"autograder: {exc}") from None
    except ValueError as exc:
        raise SystemExit(_("autograder: {error} with -a ID").format(error=exc)) from None


def _grade_one(path: Path, assignment: str, include_hidden: bool, fork: bool | None):
    from autograder import course
    from autograder.judge import runner

    # The probe side starts first: it warms up in its own process while this one imports torch and plans.
    launcher = runner.make_launcher(course.hidden_paths([]), runner.Limits(), fork)
    from autograder.judge import grading

    plan = grading.plan_assignment(assignment, include_hidden=include_hidden)
    try:
        return plan, grading.grade_notebook(plan, path, launcher, student=path.stem)
    finally:
        launcher.close()


def cmd_check(args: argparse.Namespace) -> int:
    started = time.monotonic()
    path = Path(args.notebook)
    assignment = _assignment_of(path, args.assignment)
    _plan, result = _grade_one(path, assignment, include_hidden=False, fork=args.fork)
    from autograder import i18n

    with i18n.language(result.language):  # what it says is in the notebook's language (AUTOGRADER_LANG overrides)
        return _report_check(assignment, result, started)


def _report_check(assignment: str, result, started: float) -> int:
    from autograder.reports import report

    if result.error:
        print(f"✗ {result.error}")
        return 1
    public = [g.share(False) for g in result.groups]
    later = round(sum(g.share(True)[1] for g in result.groups), 4)
    if later:
        print(_("{assignment}: {hidden}, by hidden cases; the public checks below hold the rest.").format(
            assignment=assignment, hidden=report.hidden_statement(later, result.max_score)) + "\n")
    for note in result.notes:
        print(_("note: {note}").format(note=note))
    for group in result.groups:
        print(report.format_group(group, show_hidden=False))
    failed = sum(not c.passed for g in result.groups for c in g.cases)
    total = sum(len(g.cases) for g in result.groups)
    numbers = {"assignment": assignment, "score": report.points(sum(s for s, _m in public)),
               "max_score": report.points(sum(m for _s, m in public)), "passed": total - failed, "total": total,
               "seconds": f"{time.monotonic() - started:.1f}"}
    if later:
        line = _("{assignment}: {score} / {max_score} points from the public checks ({passed}/{total} passed) in "
                 "{seconds} s; {hidden}").format(hidden=report.hidden_statement(later, result.max_score), **numbers)
    else:
        line = _("{assignment}: {score} / {max_score} points from the public checks ({passed}/{total} passed) in "
                 "{seconds} s").format(**numbers)
    print("\n" + line)
    if not result.isolation.startswith(("mount", "user")):
        print(_("isolation: {isolation}").format(isolation=result.isolation))
    return 1 if failed else 0


def cmd_grade(args: argparse.Namespace) -> int:
    path = Path(args.notebook)
    assignment = _assignment_of(path, args.assignment)
    _plan, result = _grade_one(path, assignment, include_hidden=True, fork=args.fork)
    from autograder.reports import report
    from autograder.reports.results import write_atomic

    out = Path(args.output) / "results.json"
    data = result.to_json()
    write_atomic(out, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    from autograder.reports.feedback import write_feedback

    page = write_feedback(out.parent / "feedback.html", path, data, show_hidden=args.show_hidden,
                          budget=args.feedback_budget)
    for group in result.groups:
        print(report.format_group(group))
    print(f"\n{assignment}: {result.score:g} / {result.max_score:g} → {out}, {page.name}")
    return 2 if result.grader_error else 0


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise SystemExit(_("autograder: --shard takes K/N, e.g. 2/4 (got {got})").format(got=repr(text))) from None
    if not 1 <= k <= n:
        raise SystemExit(_("autograder: --shard K/N needs 1 ≤ K ≤ N (got {got})").format(got=repr(text)))
    return k, n


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(_("takes a number of seconds above 0 (got {got})").format(got=repr(text)))
    return seconds


def _print_batch(out_dir: Path, assignment: str) -> None:
    from autograder.reports import report
    from autograder.reports.results import load_results

    rows = []
    for data in load_results(out_dir, assignment):
        extra = data["extra_data"]
        failed = [t for t in data["tests"] if t.get("status") == "failed"]
        note = extra.get("error") or (_("{count} check(s) lost points").format(count=len(failed)) if failed
                                      else _("all checks passed"))
        rows.append((extra["student"], data["score"], extra["max_score"], note))
    print(report.score_table(rows))


def cmd_grade_batch(args: argparse.Namespace) -> int:
    from autograder.judge import grading

    out_dir = Path(args.output)
    started = time.monotonic()
    try:
        results = grading.grade_batch(Path(args.submitted), args.assignment, out_dir, args.workers,
                                      _parse_shard(args.shard), args.fork, progress=not args.quiet,
                                      only=args.student, deadlines=_deadlines(args.deadlines))
    except grading.LayoutError as exc:
        raise SystemExit(f"autograder: {exc}") from None
    _print_batch(out_dir, args.assignment)
    print("\n" + _("graded {count} submission(s) in {seconds} s → {csv}").format(
        count=len(results), seconds=f"{time.monotonic() - started:.1f}", csv=f"{out_dir}/grades.csv"))
    _reports(Path(args.submitted), args.assignment, out_dir, args.feedback, not args.student_view, args.workers,
             args.feedback_budget)
    return 2 if any(r.grader_error for r in results) else 0


def _deadlines(given: str | None):
    """The course's deadlines: the file given, else course.toml at the course root where there is one."""
    from autograder.course import course_root
    from autograder.judge import deadlines

    path = Path(given) if given else course_root() / "course.toml"
    if not given and not path.is_file():
        return None
    try:
        return deadlines.load(path)
    except deadlines.DeadlineError as exc:
        raise SystemExit(f"autograder: {exc}") from None


def _reports(submitted: Path | None, assignment: str, out_dir: Path, feedback: bool, show_hidden: bool,
             workers: int | None = None, budget: float | None = None) -> None:
    """The class report (always: it is cheap) and, when asked, a feedback page per student."""
    if feedback and submitted is not None:
        from autograder.reports.feedback import write_batch_feedback

        started = time.monotonic()
        pages = write_batch_feedback(submitted, assignment, out_dir, show_hidden, workers, budget)
        print(_("wrote {count} feedback page(s) in {seconds} s").format(
            count=len(pages), seconds=f"{time.monotonic() - started:.1f}"))
    from autograder.reports.class_report import write_class_report

    print(_("class report → {path}").format(path=write_class_report(out_dir)))


def cmd_release(args: argparse.Namespace) -> int:
    from autograder.authoring import release
    from autograder.course import course_root

    root = Path(args.course).resolve() if args.course else course_root()
    written = release.release_all(root, args.lang)
    for path in written:
        print(_("released {path}").format(path=path))
    for source in sorted((root / "solutions").glob("*/*.ipynb")):
        missing = release.untranslated(json.loads(source.read_text(encoding="utf-8")), args.lang)
        if missing:
            print(_("{notebook}: {count} markdown cell(s) have no {lang} text and stay in English: {cells}").format(
                notebook=source.stem, count=len(missing), lang=args.lang, cells=", ".join(missing)))
    if args.output:
        from autograder.authoring import bundle

        try:
            files = bundle.write_bundle(root, Path(args.output), args.lang)
        except ValueError as exc:
            raise SystemExit(f"autograder: {exc}") from None
        found = bundle.leaks(Path(args.output), root)
        if found:
            print(_("autograder: the bundle holds secrets; it must not be handed out:\n  {found}").format(
                found="\n  ".join(found)), file=sys.stderr)
            return 2
        print(_("wrote the student bundle ({count} files) to {folder}: no solution code, no hidden checks").format(
            count=len(files), folder=args.output))
    return 0


def cmd_export_hidden(args: argparse.Namespace) -> int:
    import shutil

    from autograder.course import PACKAGE_DIR

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for module in sorted((PACKAGE_DIR / "checks" / "hidden").glob("*.py")):
        if module.name != "__init__.py":
            shutil.copyfile(module, out / module.name)
            copied.append(module.name)
    for catalog in sorted((PACKAGE_DIR / "checks" / "hidden" / "locale").glob("*/LC_MESSAGES/*.mo")):
        target = out / catalog.relative_to(PACKAGE_DIR / "checks" / "hidden")  # their messages, beside them
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(catalog, target)
    print(_("wrote {count} hidden check modules to {folder}: keep it private; graders point "
            "AUTOGRADER_HIDDEN_CHECKS at it").format(count=len(copied), folder=out))
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    from autograder.authoring import gradescope

    try:
        package = gradescope.build(args.assignment, Path(args.output),
                                   Path(args.deadlines) if args.deadlines else None)
    except gradescope.PackageError as exc:
        raise SystemExit(f"autograder: {exc}") from None
    policy = _("with the course's late policy") if package.policy else _("lateness reported, no late policy")
    print(_("wrote {path} for {assignment} ({count} files: setup.sh, run_autograder, the grader, the released "
            "notebooks, datasets and the hidden checks; no solution code; {policy}).\n"
            "On Gradescope: a programming assignment worth {points} autograder points, the Ubuntu 24.04 base image; "
            "upload this zip.").format(path=package.path, assignment=package.assignment, count=len(package.files),
                                       policy=policy, points=f"{package.max_score:g}"))
    return 0


def cmd_gradescope_run(args: argparse.Namespace) -> int:
    from autograder.authoring import gradescope

    root = Path(args.root) if args.root else gradescope.default_root()
    gradescope.run(root, args.assignment, Path(args.late_policy) if args.late_policy else None)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from autograder.reports.merge import merge

    try:
        counts = merge([Path(s) for s in args.shards], Path(args.output), args.assignment)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"autograder: {exc}") from None
    for assignment, count in counts.items():
        _print_batch(Path(args.output), assignment)
        print("\n" + _("merged {count} submission(s) of {assignment} from {shards} shard(s) → {csv}").format(
            count=count, assignment=assignment, shards=len(args.shards), csv=Path(args.output) / "grades.csv"))
        _reports(None, assignment, Path(args.output), False, True)
    return 0


def cmd_export_grades(args: argparse.Namespace) -> int:
    from autograder.reports import gradebook
    from autograder.reports.textsafe import for_terminal

    out_dir = Path(args.graded)
    if not args.gradebook and not args.csv:
        raise SystemExit(_("autograder: export-grades needs --gradebook DB_URL, --csv FILE or both"))
    lms = bool(args.csv) and args.format != "nbgrader"
    if (args.gradebook or not lms) and len(args.assignment) > 1:
        raise SystemExit(_("autograder: an nbgrader gradebook or CSV takes one assignment (-a once); "
                           "--format canvas or moodle takes several"))
    if (args.roster or args.column or args.format != "nbgrader") and not lms:
        raise SystemExit(_("autograder: --format, --roster and --column go with --csv FILE --format canvas or "
                           "moodle"))
    columns = dict(spec.split("=", 1) for spec in args.column or [] if "=" in spec)
    if len(columns) != len(args.column or []) or not set(columns) <= set(args.assignment):
        raise SystemExit(_("autograder: --column takes ID=HEADER for an assignment given with -a, "
                           "e.g. --column '01_rnn=01 RNN (12345)'"))
    try:
        if args.gradebook:
            count = gradebook.export_to_gradebook(args.gradebook, out_dir, args.assignment[0], args.notebook)
            print(_("wrote {count} student(s)' scores for {assignment} into {gradebook}").format(
                count=count, assignment=args.assignment[0], gradebook=args.gradebook))
        if args.csv and not lms:
            path = gradebook.write_nbgrader_csv(out_dir, args.assignment[0], Path(args.csv))
            print(_("wrote {path} (the columns of `nbgrader export`)").format(path=path))
        elif lms:
            roster = gradebook.read_roster(Path(args.roster)) if args.roster else None
            write = gradebook.write_canvas_csv if args.format == "canvas" else gradebook.write_moodle_csv
            export = write(out_dir, args.assignment, Path(args.csv), roster, columns)
            print(_("wrote {path}: {students} student(s), {columns} assignment column(s), for {system}'s gradebook "
                    "import").format(path=export.path, students=export.students, columns=len(args.assignment),
                                     system=args.format.capitalize()))
            if export.blank:
                print(for_terminal(_("left blank, grader errors to grade again before importing: {cells}").format(
                    cells=", ".join(export.blank))))
    except gradebook.GradebookError as exc:
        raise SystemExit(f"autograder: {exc}") from None
    except ImportError as exc:
        raise SystemExit(_("autograder: writing a gradebook needs nbgrader ({error}); install the instructor "
                           "extra: pip install -e '.[instructor]'").format(error=exc)) from None
    return 0


def cmd_ci_report(args: argparse.Namespace) -> int:
    from autograder.reports import ci

    try:
        return ci.report([Path(p) for p in args.results], args.fail_below)
    except ValueError as exc:
        raise SystemExit(f"autograder: {exc}") from None


def cmd_demo(args: argparse.Namespace) -> int:
    from autograder import course
    from autograder.judge import runner

    submitted = course.course_root() / "examples" / "submitted"
    out = Path(args.output)
    # One zygote serves every assignment of the sample class.
    launcher = runner.make_launcher(course.hidden_paths([submitted, out.resolve()]), runner.Limits())
    from autograder.judge import grading

    status = 0
    try:
        for assignment in sorted({p.name for p in submitted.glob("*/*") if p.is_dir()}):
            print(f"\n== {assignment} ==")
            started = time.monotonic()
            results = grading.grade_batch(submitted, assignment, out / assignment, args.workers, launcher=launcher)
            _print_batch(out / assignment, assignment)
            print("\n" + _("graded {count} submission(s) in {seconds} s → {csv}").format(
                count=len(results), seconds=f"{time.monotonic() - started:.1f}", csv=out / assignment / "grades.csv"))
            _reports(submitted, assignment, out / assignment, True, True, args.workers, args.feedback_budget)
            status = max(status, 2 if any(r.grader_error for r in results) else 0)
    finally:
        launcher.close()
    return status


def cmd_similarity(args: argparse.Namespace) -> int:
    from autograder import notebook
    from autograder.reports import similarity
    from autograder.reports.textsafe import terminal_output

    if args.top < 1:
        raise SystemExit(_("autograder: --top takes a number of pairs, 1 or more"))
    out_dir = Path(args.output)
    try:
        outcome = similarity.find_similar(Path(args.submitted), args.assignment)
    except notebook.LayoutError as exc:
        raise SystemExit(f"autograder: {exc}") from None
    data, page = similarity.write(outcome, out_dir, args.top)
    with terminal_output():  # student folder names are printed as plain text
        print(_("{assignment}: the most similar pairs of {count} students' own code (solution cells, released code "
                "taken out).").format(assignment=args.assignment, count=len(outcome.compared))
              + f"\n{_(similarity.LEAD)}\n")
        print(similarity.text_table(outcome, args.top))
    print("\n" + _("compared in {seconds} s → {page} ({data} for the class report)").format(
        seconds=f"{outcome.seconds:.1f}", page=page, data=data.name))
    if (out_dir / "report" / "index.html").is_file():
        from autograder.reports.class_report import write_class_report

        print(_("class report → {path}").format(path=write_class_report(out_dir)))
    return 0


class _Formatter(argparse.HelpFormatter):
    """argparse's help, with its own words ("usage: ") in the current language too."""

    def add_usage(self, usage, actions, groups, prefix=None) -> None:
        super().add_usage(usage, actions, groups, _("usage: ") if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose headings and -h help are translated (its subcommands' parsers are ones too)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._positionals.title = _("positional arguments")
        self._optionals.title = _("options")
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = _("show this help message and exit")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="autograder", description=_(DESCRIPTION))
    sub = parser.add_subparsers(dest="command", required=True)

    def isolation_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--no-fork", dest="fork", action="store_false", default=None,
                       help=_("start each probe as a fresh interpreter instead of forking a warm one"))

    def budget_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--feedback-budget", type=_seconds, default=None, metavar="SECONDS",
                       help=_("seconds a feedback page may take; past them the page shows the results alone "
                              "(default: 10)"))

    p = sub.add_parser("check", help=_("run the public checks on your notebook"))
    p.add_argument("notebook")
    p.add_argument("-a", "--assignment")
    isolation_flags(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("grade", help=_("grade one submission with every check; writes DIR/results.json"))
    p.add_argument("notebook")
    p.add_argument("-a", "--assignment")
    p.add_argument("-o", "--output", default=".")
    p.add_argument("--show-hidden", action="store_true",
                   help=_("show hidden cases on the feedback page (instructors; students see them after the due date)"))
    budget_flag(p)
    isolation_flags(p)
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("grade-batch", help=_("grade SUBMITTED/<student>/<ID>/*.ipynb"))
    p.add_argument("submitted")
    p.add_argument("-a", "--assignment", required=True)
    p.add_argument("-o", "--output", default="graded")
    p.add_argument("--workers", type=int, default=None,
                   help=_("parallel probes, and processes writing feedback pages (default: number of cores)"))
    p.add_argument("--shard", help=_("grade only shard K of N (by student id), e.g. 1/3"))
    p.add_argument("--student", action="append", metavar="ID",
                   help=_("regrade only this student (repeatable), even where the results are current"))
    p.add_argument("--deadlines", metavar="FILE",
                   help=_("due dates and late policy (TOML; default: course.toml at the course root, if any)"))
    p.add_argument("-q", "--quiet", action="store_true", help=_("no progress bar"))
    p.add_argument("--feedback", action="store_true", help=_("also write a feedback page per student"))
    p.add_argument("--student-view", action="store_true",
                   help=_("feedback pages as students see them before the due date (hidden cases folded)"))
    budget_flag(p)
    isolation_flags(p)
    p.set_defaults(func=cmd_grade_batch)

    p = sub.add_parser("release", help=_("regenerate assignments/ from solutions/; -o DIR: the student bundle"))
    p.add_argument("--course", help=_("course directory (default: this checkout)"))
    p.add_argument("--lang", choices=("en", "zh"), default="en",
                   help=_("the notebooks' language: en writes assignments/, zh writes assignments-zh/ (markdown in "
                          "Chinese, the same code cells); with -o, the bundle's notebooks are in this language"))
    p.add_argument("-o", "--output", help=_("also write what students get (no solutions, no hidden checks) to DIR"))
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("export-hidden", help=_("copy the hidden check modules to DIR (for a private grading location)"))
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_export_hidden)

    p = sub.add_parser("gradescope",
                       help=_("write Gradescope's autograder zip for one assignment (hidden checks inside)"))
    p.add_argument("-a", "--assignment", required=True)
    p.add_argument("-o", "--output", default="autograder.zip")
    p.add_argument("--deadlines", metavar="FILE",
                   help=_("the course file whose [late] policy late submissions get (TOML; default: course.toml at "
                          "the course root, if any; Gradescope's own due dates apply); without one lateness is only "
                          "reported"))
    p.set_defaults(func=cmd_gradescope)

    p = sub.add_parser("gradescope-run", help=_("grade ROOT/submission and write ROOT/results/results.json (what "
                                                "the package's run_autograder calls on Gradescope)"))
    p.add_argument("-a", "--assignment", required=True)
    p.add_argument("--root", help=_("the autograder's folder (default: $AUTOGRADER_GRADESCOPE_ROOT or /autograder)"))
    p.add_argument("--late-policy", metavar="FILE", help=_("the late policy the package holds (late_policy.json)"))
    p.set_defaults(func=cmd_gradescope_run)

    p = sub.add_parser("merge", help=_("join grade-batch --shard outputs into one folder and grades.csv"))
    p.add_argument("shards", nargs="+", help=_("the shards' output folders"))
    p.add_argument("-o", "--output", required=True)
    p.add_argument("-a", "--assignment")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("export-grades", help=_("scores of a graded folder into an nbgrader gradebook or its CSV, "
                                               "or Canvas's or Moodle's grade import CSV"))
    p.add_argument("graded", help=_("the grade-batch output folder"))
    p.add_argument("-a", "--assignment", required=True, action="append",
                   help=_("the assignment; repeat it for one column each in a Canvas or Moodle CSV"))
    p.add_argument("--gradebook", metavar="DB_URL", help=_("nbgrader's database, e.g. sqlite:///gradebook.db"))
    p.add_argument("--notebook", help=_("the notebook's name in the gradebook (default: the assignment's)"))
    p.add_argument("--csv", metavar="FILE", help=_("write a CSV: the one `nbgrader export` writes, or see --format"))
    p.add_argument("--format", choices=("nbgrader", "canvas", "moodle"), default="nbgrader",
                   help=_("what --csv writes: nbgrader's export (default), Canvas's or Moodle's gradebook import"))
    p.add_argument("--roster", metavar="FILE", help=_("CSV with a folder column and the students' Canvas or Moodle "
                                                      "ids (name, id, sis_user_id, sis_login_id, section; username, "
                                                      "email, idnumber); default: the folder name"))
    p.add_argument("--column", metavar="ID=HEADER", action="append",
                   help=_("an assignment's column header, e.g. '01_rnn=01 RNN (12345)' for Canvas's assignment 12345 "
                          "(default: the assignment id, a new column)"))
    p.set_defaults(func=cmd_export_grades)

    p = sub.add_parser("ci-report", help=_("job summary, GitHub Classroom payload and annotations from results.json"))
    p.add_argument("results", nargs="+", help=_("results.json files or folders holding them"))
    p.add_argument("--fail-below", type=float, help=_("exit 1 when the total score is below this"))
    p.set_defaults(func=cmd_ci_report)

    p = sub.add_parser("demo", help=_("grade the bundled sample submissions and print the table"))
    p.add_argument("-o", "--output", default=os.path.join("out", "demo"))
    p.add_argument("--workers", type=int, default=None)
    budget_flag(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("similarity", help=_("the most similar pairs of students' own code: a lead, never a grade"))
    p.add_argument("submitted", help=_("SUBMITTED/<student>/<ID>/<ID>.ipynb, as grade-batch reads it"))
    p.add_argument("-a", "--assignment", required=True)
    p.add_argument("-o", "--output", default="graded", help=_("writes OUT/similarity/<ID>.html and <ID>.json"))
    p.add_argument("--top", type=int, default=10, help=_("how many pairs to show (default 10)"))
    p.set_defaults(func=cmd_similarity)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("check", "grade", "grade-batch", "demo"):
            from autograder.reports.textsafe import terminal_output

            with terminal_output():  # student text (messages, output, names) is printed as plain text
                return args.func(args)
        return args.func(args)
    except (FileNotFoundError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"autograder: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
