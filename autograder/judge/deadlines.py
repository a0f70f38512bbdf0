"""Deadlines and late work: a course file with each assignment's due date and a late policy, and the time
nbgrader recorded for each submission (`timestamp.txt` beside the notebook, as `nbgrader collect` and
`zip_collect` write it).

The course file is TOML (`course.toml` at the course root, or `grade-batch --deadlines FILE`):

    timezone = "America/New_York"          # for dates and timestamps written without an offset (default UTC)

    [due]
    01_rnn = "2026-10-02 23:59"
    02_lstm = "2026-10-16T23:59:00-04:00"

    [late]
    per = "day"                            # "hour" or "day": every period begun after the due date counts
    penalty = 0.10                         # the share of the assignment's points lost per period
    cap = 0.50                             # at most this share in all (default: no cap below the whole)
    zero_after_hours = 168                 # later than this after the due date: the score is 0 (optional)

    [extensions]                           # a student's own due date for one assignment
    ada = { 01_rnn = "2026-10-05 23:59" }

Nothing here imports torch or the checks: the policy is applied to a graded result's total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from autograder.i18n import _

TIMESTAMP_FILE = "timestamp.txt"
MAX_TIMESTAMP_BYTES = 4096


class DeadlineError(ValueError):
    """The course file cannot be used: not TOML, a date that is not a date, a policy that makes no sense."""


@dataclass
class LatePolicy:
    per: str = "day"
    penalty: float = 0.0
    cap: float = 1.0
    zero_after_hours: float | None = None


@dataclass
class Deadlines:
    due: dict[str, datetime] = field(default_factory=dict)
    late: LatePolicy = field(default_factory=LatePolicy)
    extensions: dict[str, dict[str, datetime]] = field(default_factory=dict)
    zone: timezone | ZoneInfo = timezone.utc

    def due_for(self, student: str, assignment: str) -> datetime | None:
        return self.extensions.get(student, {}).get(assignment) or self.due.get(assignment)

    def digest(self, assignment: str) -> str:
        """What decides this assignment's penalties, as text for a fingerprint (a changed date regrades)."""
        extensions = sorted((s, d[assignment].isoformat()) for s, d in self.extensions.items() if assignment in d)
        due = self.due.get(assignment)
        return repr((due.isoformat() if due else None, extensions, self.late, str(self.zone)))


def parse_time(text: str, zone: timezone | ZoneInfo = timezone.utc) -> datetime:
    """A date and time as nbgrader and course files write them: ISO 8601 ("2026-10-02T23:59:00-04:00"),
    nbgrader's "2026-10-02 23:59:59.123456 UTC", or "2026-10-02 23:59" in the course's time zone."""
    raw = " ".join(str(text).split())
    cleaned = raw
    for suffix in (" UTC", " GMT", "Z"):
        if cleaned.endswith(suffix):
            cleaned = cleaned[: -len(suffix)] + "+00:00"
            break
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(_("{text} is not a date and time (expected e.g. 2026-10-02 23:59:00 UTC)").format(
            text=repr(raw[:80]))) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _zone(name: object) -> timezone | ZoneInfo:
    if name in (None, "", "UTC"):
        return timezone.utc
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise DeadlineError(_("unknown time zone {name} (use an IANA name such as Europe/Berlin)").format(
            name=repr(name))) from None


def load(path: Path) -> Deadlines:
    """The course file at `path`; a DeadlineError says what is wrong with it."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise DeadlineError(_("reading a course file on Python 3.10 needs the tomli package")) from None
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DeadlineError(_("cannot read {path}: {reason}").format(path=path, reason=exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise DeadlineError(_("{path} is not valid TOML: {reason}").format(path=path, reason=exc)) from None
    zone = _zone(data.get("timezone"))

    def when(value: object, where: str) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=zone)
        try:
            return parse_time(str(value), zone)
        except ValueError as exc:
            raise DeadlineError(f"{path}: {where}: {exc}") from None  # a path, a key, and the reason (translated)

    due = {str(a): when(v, f"due.{a}") for a, v in (data.get("due") or {}).items()}
    late = data.get("late") or {}
    try:
        policy = LatePolicy(per=str(late.get("per", "day")), penalty=float(late.get("penalty", 0.0)),
                            cap=float(late.get("cap", 1.0)),
                            zero_after_hours=(float(late["zero_after_hours"]) if "zero_after_hours" in late else None))
    except (TypeError, ValueError):
        raise DeadlineError(_("{path}: [late] holds a value that is not a number").format(path=path)) from None
    if policy.per not in ("hour", "day") or not 0 <= policy.penalty <= 1 or not 0 <= policy.cap <= 1:
        raise DeadlineError(_("{path}: [late] needs per = \"hour\" or \"day\", and penalty and cap between 0 and "
                              "1").format(path=path))
    extensions = {str(student): {str(a): when(v, f"extensions.{student}.{a}") for a, v in dict(given).items()}
                  for student, given in (data.get("extensions") or {}).items()}
    return Deadlines(due, policy, extensions, zone)


@dataclass
class Lateness:
    """What the policy makes of one submission; `penalty` is in points, as nbgrader's late_submission_penalty."""

    due: str | None = None
    submitted: str | None = None
    hours_late: float = 0.0
    penalty: float = 0.0
    note: str | None = None

    def to_json(self) -> dict:
        return {"due": self.due, "submitted": self.submitted, "hours_late": round(self.hours_late, 3),
                "penalty": round(self.penalty, 4), "note": self.note}


def assess(deadlines: Deadlines, student: str, assignment: str, timestamp: str | None,
           max_score: float, raw_score: float) -> Lateness:
    """The penalty for one submission. No due date: nothing to say. No timestamp, or one that cannot be read:
    no penalty, and a note that says so (the instructor decides)."""
    due = deadlines.due_for(student, assignment)
    if due is None:
        return Lateness()
    shown_due = due.isoformat()
    if timestamp is None:
        return Lateness(shown_due, note=_("no {file} beside the notebook: no late penalty applied").format(
            file=TIMESTAMP_FILE))
    try:
        submitted = parse_time(timestamp, deadlines.zone)
    except ValueError as exc:
        return Lateness(shown_due, note=_("{file} cannot be read ({reason}): no late penalty applied").format(
            file=TIMESTAMP_FILE, reason=exc))
    hours = (submitted - due) / timedelta(hours=1)
    result = Lateness(shown_due, submitted.isoformat(), max(hours, 0.0))
    if hours <= 0:
        return result
    policy = deadlines.late
    if policy.zero_after_hours is not None and hours > policy.zero_after_hours:
        result.penalty = raw_score
        result.note = _("submitted {late} after the due date, past the {hours} h after which late work scores "
                        "0").format(late=_late_by(hours), hours=f"{policy.zero_after_hours:g}")
        return result
    periods = math.ceil(hours / (24.0 if policy.per == "day" else 1.0))
    share = min(policy.penalty * periods, policy.cap)
    result.penalty = min(round(share * max_score, 4), raw_score)
    late, shown_share, deducted = _late_by(hours), f"{share:.0%}", f"{result.penalty:g}"
    if policy.per == "day":
        result.note = _("submitted {late} after the due date: {periods} day(s) late, {share} of the points "
                        "({points}) deducted").format(late=late, periods=periods, share=shown_share, points=deducted)
    else:
        result.note = _("submitted {late} after the due date: {periods} hour(s) late, {share} of the points "
                        "({points}) deducted").format(late=late, periods=periods, share=shown_share, points=deducted)
    return result


def _late_by(hours: float) -> str:
    if hours < 48:
        return _("{hours} h").format(hours=f"{hours:.1f}")
    return _("{days} days").format(days=f"{hours / 24:.1f}")
