"""Due dates and late policies, one per assignment, kept in <course>/late_policy.json:

    {"resnet50": {"due": "2026-11-21T23:59:00+00:00", "grace_minutes": 15, "per_day": 10, "cap": 50}}

set with `python -m grader deadline resnet50 --due 2026-11-21T23:59 --grace 15 --per-day 10 --cap 50`.

A submission later than due + grace is late by whole days counted from the due date (a minute past the grace
is one day). Its penalty is per_day percent of the assignment's points for each day late, at most cap
percent, never below zero points. Submission times are the ones collect recorded (submission.json's
submitted_at: the LMS's own time where it gives one, else the file's time in the download). Scores in the
gradebook stay raw: the penalty is applied in export (total, penalty, final), feedback and report, so a
changed policy needs no re-grading; export also writes the due date and each penalty into nbgrader's own
fields (the assignment's duedate, each submitted notebook's late_submission_penalty), where formgrader and
`nbgrader export` show them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

FILE = "late_policy.json"


@dataclass(frozen=True)
class Policy:
    due: str  # ISO 8601 with a zone
    grace_minutes: float = 0.0
    per_day: float = 0.0  # percent of the assignment's points per day late
    cap: float = 100.0  # at most this percent in all

    def describe(self) -> str:
        grace = f", {self.grace_minutes:g} min grace" if self.grace_minutes else ""
        return (f"due {self.due}{grace}; {self.per_day:g}% of the points per day late, at most {self.cap:g}%"
                if self.per_day else f"due {self.due}{grace}; late work flagged, no penalty")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC (as collect takes zip times)."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def load_all(root: Path) -> dict[str, dict]:
    from grader.pipeline.executors import Problem

    path = Path(root) / FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise Problem(f"{path} is not valid JSON ({e}): fix or delete it") from None
    if not isinstance(data, dict):
        raise Problem(f"{path} holds no {{assignment: policy}} object: fix or delete it")
    return data


# The fields a hand-edited policy may hold: (lowest, highest) for the numbers, as `deadline` accepts them.
RANGES = {"grace_minutes": (0, math.inf), "per_day": (0, 100), "cap": (0, 100)}


def _wrong_in(entry) -> str | None:
    """What is wrong with one assignment's policy as read from the file, or None."""
    if not isinstance(entry, dict):
        return f"{entry!r} is not an object like {{\"due\": \"2026-11-21T23:59+01:00\", \"per_day\": 10}}"
    unknown = sorted(set(entry) - {"due", *RANGES})
    if unknown:
        return f"unknown field {unknown[0]!r} (the fields: due, {', '.join(RANGES)})"
    try:
        parse_time(entry["due"])
    except KeyError:
        return "no \"due\" date"
    except (TypeError, ValueError, AttributeError):
        return f"due: {entry['due']!r} is not a date and time like 2026-11-21T23:59+01:00"
    for name, (low, high) in RANGES.items():
        value = entry.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            return f"{name}: {value!r} is not a number from {low:g} to {high:g}"
    return None


def load(root: Path, assignment: str) -> Policy | None:
    """The assignment's late policy from the course's file (hand-edited or written by `deadline`), checked."""
    from grader.pipeline.executors import Problem

    path = Path(root) / FILE
    policies = load_all(root)
    if assignment not in policies:
        strays = [name for name in policies if not (Path(root) / "solutions" / name).is_dir()]
        if strays:  # a misspelled assignment name would silently mean "no deadline"
            raise Problem(f"{path}: no policy for {assignment}, but one for {', '.join(map(repr, strays))}, which is no "
                          f"assignment of this course: fix the name or delete that entry")
        return None
    wrong = _wrong_in(policies[assignment])
    if wrong:
        raise Problem(f"{path}: the policy of {assignment} is not valid: {wrong}; fix it, or set it again with "
                      f"the deadline command")
    return Policy(**policies[assignment])


def save(root: Path, assignment: str, policy: Policy | None) -> Path:
    from grader.pipeline.record import _write_atomically

    data = load_all(root)
    if policy is None:
        data.pop(assignment, None)
    else:
        data[assignment] = asdict(policy)
    path = Path(root) / FILE
    _write_atomically(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    return path


@dataclass
class Lateness:
    late: bool  # by the policy where there is one, else by the LMS's marker
    days: int | None  # whole days late (None: no due date to count from)
    penalty: float  # points taken off
    note: str = ""  # what the instructor should know (the LMS and the policy disagree, no time recorded)


def assess(policy: Policy | None, submitted_at: str | None, lms_late: bool, max_points: float,
           raw: float | None) -> Lateness:
    if policy is None:
        return Lateness(bool(lms_late), None, 0.0)
    if not submitted_at:
        return Lateness(bool(lms_late), None, 0.0, "no submission time recorded: lateness not computed")
    due, when = parse_time(policy.due), parse_time(submitted_at)
    if when <= due + timedelta(minutes=policy.grace_minutes):
        note = "the LMS marked it late but it is on time by the due date here (an extension?)" if lms_late else ""
        return Lateness(False, 0, 0.0, note)
    days = max(1, math.ceil((when - due).total_seconds() / 86400))
    percent = min(policy.cap, policy.per_day * days)
    penalty = round(min(raw or 0.0, max_points * percent / 100), 2)
    return Lateness(True, days, penalty)


def show_time(iso: str | None) -> str:
    """2026-11-21 20:00 UTC (text that sorts in time order within one zone)."""
    try:
        when = datetime.fromisoformat(iso or "")
    except ValueError:
        return iso or ""
    zone = when.strftime("%z")
    return when.strftime("%Y-%m-%d %H:%M ") + ("UTC" if zone in ("", "+0000") else f"UTC{zone[:3]}:{zone[3:]}")


def write_to_gradebook(gb, assignment: str, policy: Policy | None, penalties: dict[str, float]) -> None:
    """nbgrader's own late fields, from the policy: the due date (naive UTC, as nbgrader keeps it) and each
    student's penalty, spread over their notebooks in order, none below zero points."""
    from nbgrader.api import MissingEntry

    gb.find_assignment(assignment).duedate = (
        parse_time(policy.due).astimezone(timezone.utc).replace(tzinfo=None) if policy else None)
    for student, penalty in penalties.items():
        try:
            notebooks = sorted(gb.find_submission(assignment, student).notebooks, key=lambda nb: nb.name)
        except MissingEntry:
            continue
        left = penalty
        for nb in notebooks:
            nb.late_submission_penalty = take = min(left, max(nb.score or 0.0, 0.0)) if left else None
            left -= take or 0.0
    gb.db.commit()
