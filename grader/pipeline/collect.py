"""The "collect" step: submissions as instructors receive them -> submitted/<student>/<assignment>/.

Recognised layouts, as a folder or inside a .zip (LMS downloads):
  notebooks named by student   alice.ipynb, bob-smith.ipynb
  a folder per student         alice/Residual_Networks.ipynb (other files in it come along)
  Canvas names                 smithjohn_12345_67890_Residual_Networks.ipynb: login, user id, submission id
                               and the student's file name; smithjohn_LATE_... for late work; a re-upload
                               is named Residual_Networks-1.ipynb, -2, ... by Canvas
  Moodle                       John Smith_12345_assignsubmission_file_/Residual_Networks.ipynb ("Download all
                               submissions" in folders; 12345 is the participant id the grading worksheet
                               wants back), or John Smith_12345_assignsubmission_file_Residual_Networks.ipynb
  Blackboard                   <Assignment>_jsmith_attempt_2026-11-20-12-00-00_Residual_Networks.ipynb and its
                               receipt <Assignment>_jsmith_attempt_2026-11-20-12-00-00.txt (read, not copied):
                               each attempt is a submission, the attempt time its submission time
  Gradescope                   the "Export Submissions" zip: submission_metadata.yml (submitters, created_at,
                               earlier submissions in :history:) and a submission_<id>/ folder each; a group
                               submission goes to each of its members

Student ids are sanitised (lower case ASCII letters, digits, '.', '_', '-'); two LMS users whose names give
the same id become <id>_<LMS user id> (and the report says so). When a student handed in the
same file more than once (Canvas re-uploads, "name (1).ipynb" copies, a folder and a loose file), the newest is
kept: for Canvas files the highest submission id, then the highest re-upload number, then the file time;
otherwise the file time. Nothing is dropped silently: older copies, renamed notebooks, notebooks that are
not graded, late files, unreadable notebooks and skipped files are all in the report.

Each student's folder gets nbgrader's timestamp.txt and submission.json: what the LMS said (its name for the
LMS, login, user id, submission id, the late marker), the submission time (submitted_at; time_from says whether
the LMS gave it or it is the newest kept file's time: zip entry times carry no zone and are taken as UTC) and
which downloaded file became which submitted one, so export can give the LMS its own ids back and the late
policy (grader.pipeline.late) can count days.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from grader.pipeline.executors import Problem

CANVAS = re.compile(r"^(?P<who>[A-Za-z0-9-]+?)(?:_(?P<late>LATE|late))?_(?P<user>\d+)_(?P<submission>\d+)"
                    r"_(?P<name>.+)$")
# Canvas's name for the n-th re-upload of a file (Residual_Networks-1.ipynb), and the copies browsers and file
# managers make (Residual_Networks (1).ipynb, "Residual_Networks copy.ipynb").
REUPLOAD = re.compile(r"^(?P<base>.+?)-(?P<n>\d+)(?P<ext>\.[^./]+)$")
COPY = re.compile(r"^(?P<base>.+?)(?: \((?P<n>\d+)\)| copy)(?P<ext>\.[^./]+)$")
METADATA = "submission.json"
MOODLE = re.compile(r"^(?P<who>.+?)_(?P<user>\d+)_assignsubmission_\w*?_?$")
MOODLE_FILE = re.compile(r"^(?P<who>.+?)_(?P<user>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<name>.+)$")
BLACKBOARD = re.compile(r"^(?P<assignment>.+)_(?P<who>[^_]+)_attempt_(?P<when>\d{4}(?:-\d{2}){5})"
                        r"(?:_(?P<name>.+)|(?P<receipt>\.txt))$")
GRADESCOPE = "submission_metadata.yml"
JUNK = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db", "__pycache__"}
MAX_FILE_BYTES = 200 * 1024 * 1024  # a notebook over 200 MB is not an honest submission (zip bombs)


@dataclass
class Entry:
    parts: tuple[str, ...]  # path inside the input, split
    data: bytes
    mtime: float


@dataclass
class File:
    """One input file, attributed: whose it is, where it goes, and what its LMS said about it."""

    entry: Entry
    student: str
    path: PurePosixPath  # inside the student's assignment folder
    lms: dict  # {"lms", "login", "user_id", "submission_id", "late", "time"} as far as the name tells
    copy: int = 0  # re-upload / copy number (0: the original)
    handed: str = ""  # the file's name before the re-upload or copy suffix was taken off

    @property
    def where(self) -> str:
        return "/".join(self.entry.parts)

    @property
    def when(self) -> float:
        """The submission time: the LMS's where it gave one, else the file's."""
        return _timestamp(self.lms["time"]) if self.lms.get("time") else self.entry.mtime

    def newer_than(self, other: "File") -> bool:
        if self.lms.get("lms") == other.lms.get("lms") == "canvas":
            mine = (int(self.lms["submission_id"]), self.copy, self.entry.mtime)
            return mine >= (int(other.lms["submission_id"]), other.copy, other.entry.mtime)
        return (self.when, self.copy) >= (other.when, other.copy)

    def why_newer(self, other: "File") -> str:
        if self.lms.get("lms") == other.lms.get("lms") == "canvas":
            if self.lms["submission_id"] != other.lms["submission_id"]:
                return "a later submission"
            if self.copy != other.copy:
                return "a later re-upload"
        if self.lms.get("time") and other.lms.get("time") and self.when != other.when:
            return f"a later {self.lms['lms'].capitalize()} attempt" if self.lms.get("lms") == "blackboard" \
                else "submitted later"
        return "newer"


def _timestamp(iso: str) -> float:
    when = datetime.fromisoformat(iso)
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


@dataclass
class Report:
    students: dict[str, list[str]] = field(default_factory=dict)  # student -> files collected
    renamed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # a file handed in more than once: the newest is kept
    not_graded: list[str] = field(default_factory=list)  # notebooks collected but not the one graded
    late: list[str] = field(default_factory=list)  # students whose LMS marked the kept file late
    earlier: list[str] = field(default_factory=list)  # earlier submissions the LMS names but did not deliver
    groups: list[str] = field(default_factory=list)  # one submission handed in for several students
    receipts: int = 0  # Blackboard's .txt receipts read
    unreadable: list[str] = field(default_factory=list)
    no_notebook: list[str] = field(default_factory=list)  # students who handed in files but no notebook
    wrong_assignment: list[str] = field(default_factory=list)  # another assignment's notebook handed in
    skipped: list[str] = field(default_factory=list)
    lms: dict[str, dict] = field(default_factory=dict)  # student -> what submission.json records

    def sections(self) -> list[tuple[str, list[str]]]:
        return [("renamed", self.renamed),
                ("handed in more than once (the newest is kept and graded)", self.duplicates),
                ("notebooks that will not be graded", self.not_graded),
                ("late (marked by the LMS)", self.late),
                ("earlier submissions not in the download (the LMS's active one is graded)", self.earlier),
                ("group submissions (each member gets the files)", self.groups),
                ("unreadable (collected anyway; autograde will mark them)", self.unreadable),
                ("no notebook at all (collected anyway; autograde will mark them invalid)", self.no_notebook),
                ("another assignment's notebook (handed in to the wrong assignment? collected anyway; autograde "
                 "will mark it invalid)", self.wrong_assignment),
                ("skipped", self.skipped)]

    def lines(self) -> list[str]:
        out = [f"collected {len(self.students)} student(s)"
               + (f"; read {self.receipts} Blackboard receipt(s)" if self.receipts else "")]
        for title, items in self.sections():
            if items:
                out.append(f"{title}:")
                out += [f"  {item}" for item in items]
        return out


def sanitize(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9_.-]+", "_", ascii_name.lower()).strip("._-")[:64]


def fallback_id(raw: str, lms: dict) -> str:
    """The id of a student whose name has no Latin letter or digit (李雷, Иван Петров): the LMS's user id where
    there is one, else a digest of the name (the same on every run), so the work is collected and two such
    students stay two."""
    if lms.get("user_id"):
        return sanitize(f"user_{lms['user_id']}")
    return "name_" + hashlib.sha256(unicodedata.normalize("NFC", raw).encode()).hexdigest()[:10]


def _unlatin(raw: str) -> bool:
    """A name of letters or digits, none of them Latin (李雷): not "..", which names nobody."""
    return bool(raw) and not sanitize(raw) and any(ch.isalnum() for ch in raw)


def read_entries(source: Path, report: Report, notebook_files: set[str]) -> list[Entry]:
    source = Path(source)
    entries = []
    if source.is_file() and zipfile.is_zipfile(source):
        try:
            with zipfile.ZipFile(source) as archive:
                for info in archive.infolist():
                    parts = PurePosixPath(info.filename).parts
                    if info.is_dir() or not parts or JUNK & set(parts):
                        continue
                    if info.file_size > MAX_FILE_BYTES:
                        report.skipped.append(f"{info.filename}: {info.file_size / 2**20:.0f} MB is over the limit")
                        continue
                    mtime = datetime(*info.date_time, tzinfo=timezone.utc).timestamp()
                    entries.append(Entry(parts, archive.read(info), mtime))
        except (zipfile.BadZipFile, EOFError, NotImplementedError) as e:  # (a cut download, an unknown compression)
            raise Problem(f"{source} is a damaged or unreadable zip file ({e}): download it again") from None
    elif source.is_dir():
        for path in sorted(source.rglob("*")):
            parts = path.relative_to(source).parts
            if not path.is_file() or JUNK & set(parts):
                continue
            if path.stat().st_size > MAX_FILE_BYTES:
                report.skipped.append(f"{'/'.join(parts)}: over the {MAX_FILE_BYTES // 2**20} MB limit")
                continue
            entries.append(Entry(parts, path.read_bytes(), path.stat().st_mtime))
    else:
        raise SystemExit(f"{source} is neither a folder nor a zip file")
    # A zip holding one folder that holds everything (not one student's folder): look inside it.
    while (entries and len({e.parts[0] for e in entries}) == 1 and all(len(e.parts) > 1 for e in entries)
           and not any(len(e.parts) == 2 and e.parts[1] in notebook_files for e in entries)):
        entries = [Entry(e.parts[1:], e.data, e.mtime) for e in entries]
    return entries


def owner(entry: Entry, assignment: str, notebooks: list[str]) -> tuple[str, PurePosixPath, dict]:
    """(raw student id, path inside the student's assignment folder, what the LMS's name tells) for one file."""
    if len(entry.parts) == 1:
        name = entry.parts[0]
        canvas = CANVAS.match(name)
        if canvas:
            return canvas["who"], PurePosixPath(canvas["name"]), {
                "lms": "canvas", "login": canvas["who"], "user_id": canvas["user"],
                "submission_id": canvas["submission"], "late": bool(canvas["late"])}
        board = BLACKBOARD.match(name)
        if board and board["name"]:
            when = datetime.strptime(board["when"], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=timezone.utc)
            return board["who"], PurePosixPath(board["name"]), {
                "lms": "blackboard", "login": board["who"], "attempt": board["when"], "time": when.isoformat()}
        moodle = MOODLE_FILE.match(name)
        if moodle:
            return moodle["who"], PurePosixPath(moodle["name"]), {
                "lms": "moodle", "login": moodle["who"], "user_id": moodle["user"]}
        stem = PurePosixPath(name).stem
        target = f"{notebooks[0]}.ipynb" if name.endswith(".ipynb") and len(notebooks) == 1 else name
        return stem, PurePosixPath(target), {}
    folder, rest = entry.parts[0], list(entry.parts[1:])
    moodle = MOODLE.match(folder)
    if rest[0] == assignment and len(rest) > 1:
        rest = rest[1:]
    if moodle:
        return moodle["who"], PurePosixPath(*rest), {"lms": "moodle", "login": moodle["who"], "user_id": moodle["user"]}
    return folder, PurePosixPath(*rest), {}


def copy_of(path: PurePosixPath, lms: dict, notebooks: list[str]) -> tuple[PurePosixPath, int]:
    """(the name as the student handed the file in, its re-upload or copy number; 0 for the original).
    Canvas's "-1", "-2" on any file of a Canvas name; "-1", " (1)" and " copy" on this assignment's notebooks."""
    expected = {f"{n}.ipynb" for n in notebooks}
    for pattern in (REUPLOAD, COPY):
        match = pattern.match(path.name)
        if match and (match["base"] + match["ext"] in expected or (pattern is REUPLOAD and lms.get("lms") == "canvas")):
            return path.with_name(match["base"] + match["ext"]), int(match["n"] or 1)
    return path, 0


def collect(source: Path, assignment: str, root: Path, notebooks: list[str],
            elsewhere: dict[str, str] | None = None) -> Report:
    """Copy each student's newest files from `source` to submitted/<student>/<assignment>/ and say what was
    found. `elsewhere`: {notebook file name: assignment} of the course's other assignments, to name a notebook
    handed in to the wrong one."""
    report = Report()
    chosen: dict[tuple[str, str], File] = {}
    older: dict[str, list[str]] = {}  # student -> the files not kept because a newer copy was
    entries = read_entries(source, report, {f"{n}.ipynb" for n in notebooks})
    gradescope = gradescope_index(entries, report)
    attributed = []
    unlatin: dict[str, str] = {}  # fallback id: the name it stands for
    for entry in entries:
        if gradescope is not None and (entry.parts == (GRADESCOPE,) or entry.parts[0] in gradescope):
            for raw, lms in gradescope.get(entry.parts[0], []):
                rest = list(entry.parts[1:])
                if len(rest) > 1 and rest[0] == assignment:
                    rest = rest[1:]
                attributed.append((entry, raw, PurePosixPath(*rest), dict(lms)))
            continue
        board = BLACKBOARD.match(entry.parts[-1]) if len(entry.parts) == 1 else None
        if board and board["receipt"]:
            report.receipts += 1  # (what it says is in the file names too)
            continue
        attributed.append((entry, *owner(entry, assignment, notebooks)))
    for _, raw, _, lms in attributed:
        if _unlatin(raw) and fallback_id(raw, lms) not in unlatin:
            unlatin[fallback_id(raw, lms)] = raw
            report.renamed.append(f"{raw}: no Latin letter or digit in the name: collected as {fallback_id(raw, lms)}")
    # Two LMS users whose names give the same id (two John Smiths) stay two students: <id>_<LMS user id>.
    users: dict[str, set[str]] = {}
    for _, raw, _, lms in attributed:
        if lms.get("user_id") and sanitize(raw):
            users.setdefault(sanitize(raw), set()).add(lms["user_id"])
    shared = {name for name, ids in users.items() if len(ids) > 1}
    for name in sorted(shared):
        report.renamed.append(f"{name}: {len(users[name])} LMS users share this name (user ids "
                              f"{', '.join(sorted(users[name]))}): collected as {name}_<user id>")
    for entry, raw, path, lms in attributed:
        student = sanitize(raw) or (fallback_id(raw, lms) if _unlatin(raw) else "")
        if student in shared and lms.get("user_id"):
            student = sanitize(f"{raw}_{lms['user_id']}")
        original, number = copy_of(path, lms, notebooks)
        file = File(entry, student, original, lms, number, path.name)
        if not student:
            report.skipped.append(f"{file.where}: no student id in its name")
            continue
        slot = (student, original.as_posix())
        other = chosen.get(slot)
        if other is None:
            chosen[slot] = file
            continue
        kept, ignored = (file, other) if file.newer_than(other) else (other, file)
        report.duplicates.append(f"{student}/{original}: in {kept.where} and {ignored.where}; kept {kept.where} "
                                 f"({kept.why_newer(ignored)})")
        older.setdefault(student, []).append(ignored.where)
        chosen[slot] = kept

    per_student: dict[str, dict[str, File]] = {}
    for (student, path), file in chosen.items():
        per_student.setdefault(student, {})[path] = file
    expected = {f"{n}.ipynb" for n in notebooks}
    for student, files in sorted(per_student.items()):
        for path, file in sorted(files.items()):
            if file.copy:
                what = "Canvas's name for re-upload" if file.lms.get("lms") == "canvas" else "the name of copy"
                report.renamed.append(f"{student}: {file.handed} -> {PurePosixPath(path).name} ({what} {file.copy})")
        found = sorted(p for p in files if p.endswith(".ipynb"))
        if not found:
            report.no_notebook.append(f"{student}: {', '.join(sorted(files))}")
        wrong = [f"{p} is {elsewhere[PurePosixPath(p).name]}'s notebook" for p in found
                 if PurePosixPath(p).name in (elsewhere or {})]
        if wrong and not expected & set(files):
            report.wrong_assignment.append(f"{student}: {'; '.join(wrong)}")
        if len(notebooks) == 1 and not expected & set(files) and len(found) == 1:
            target = next(iter(expected))
            report.renamed.append(f"{student}: {found[0]} -> {target}")
            files[target] = files.pop(found[0])
        elif len(notebooks) == 1 and not expected & set(files) and len(found) > 1:
            report.not_graded.append(f"{student}: {', '.join(found)}: none is {next(iter(expected))} and there is more "
                                     "than one, so none was renamed (autograde will mark it invalid; rename the one "
                                     "to grade and collect again)")
        else:
            others = [p for p in found if p not in expected]
            if others:
                report.not_graded.append(f"{student}: {', '.join(others)} (collected, not graded: only "
                                         f"{', '.join(sorted(expected))} is)")
        folder = Path(root) / "submitted" / student / assignment
        if folder.exists():
            shutil.rmtree(folder)  # the newest download replaces an earlier one
        for path, file in sorted(files.items()):
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.entry.data)
            if path.endswith(".ipynb"):
                try:
                    json.loads(file.entry.data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    report.unreadable.append(f"{student}/{path}: {type(e).__name__}: {str(e)[:120]}")
        graded = [files[p] for p in sorted(expected & set(files))] or list(files.values())
        lms = next((f.lms for f in graded if f.lms), next((f.lms for f in files.values() if f.lms), {}))
        lms = {k: v for k, v in lms.items() if k != "time"}
        given = [f.lms["time"] for f in graded if f.lms.get("time")]
        newest = max(given, key=_timestamp) if given else \
            datetime.fromtimestamp(max(f.entry.mtime for f in files.values()), timezone.utc).isoformat()
        (folder / "timestamp.txt").write_text(newest)
        late = any(f.lms.get("late") for f in graded)
        meta = {"student": student, **lms, "late": late, "submitted_at": newest,
                "time_from": f"{lms['lms']} (its own time)" if given else "file time (taken as UTC)",
                "files": {path: file.where for path, file in sorted(files.items())},
                "not_kept": sorted(older.get(student, []))}
        (folder / METADATA).write_text(json.dumps(meta, indent=1) + "\n")
        if late:
            report.late.append(f"{student}: {', '.join(f.where for f in graded if f.lms.get('late'))}")
        report.students[student] = sorted(files)
        report.lms[student] = meta
    # What this collect found, for the instructor's report (beside the grading status files, not among them).
    from grader.pipeline.record import _write_atomically

    # (one entry per download: collecting a second LMS's zip keeps the first's findings; the same one again
    # replaces them)
    everything = last_found(root, assignment)
    everything[str(Path(source).resolve())] = {"students": len(report.students),
                                               "found": {title: items for title, items in report.sections() if items}}
    _write_atomically(found_file(root, assignment), (json.dumps(everything, indent=1) + "\n").encode())
    return report


def found_file(root: Path, assignment: str) -> Path:
    return Path(root) / "grading" / f"{assignment}-collect.json"


def last_found(root: Path, assignment: str) -> dict:
    """{download: what collect reported of it} for the assignment ({} before the first collect)."""
    try:
        data = json.loads(found_file(root, assignment).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def gradescope_index(entries: list[Entry], report: Report) -> dict[str, list[tuple[str, dict]]] | None:
    """{submission folder: [(raw student id, what Gradescope says of the submission)]} from a Gradescope
    export's submission_metadata.yml (None when the download is not one)."""
    meta = next((e for e in entries if e.parts == (GRADESCOPE,)), None)
    if meta is None:
        return None
    import yaml

    try:
        data = yaml.safe_load(meta.data.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise Problem(f"{GRADESCOPE} in the download is not readable YAML ({str(e).splitlines()[0]})") from None
    index = {}
    for folder, info in sorted(data.items()) if isinstance(data, dict) else []:
        info = {str(k).lstrip(":"): v for k, v in (info or {}).items()}
        people = [{str(k).lstrip(":"): v for k, v in (p or {}).items()} for p in info.get("submitters") or []]
        when = _gradescope_time(info.get("created_at"))
        members = []
        for person in people:
            raw = str(person.get("name") or str(person.get("email") or "").split("@")[0] or "")
            members.append((raw, {"lms": "gradescope", "login": str(person.get("email") or ""),
                                  "user_id": str(person.get("sid") or ""),
                                  "submission_id": str(folder).removeprefix("submission_"),
                                  **({"time": when} if when else {})}))
        index[str(folder)] = members
        if len(members) > 1:
            report.groups.append(f"{folder}: {', '.join(sanitize(raw) for raw, _ in members)}")
        history = info.get("history") or []
        if history:
            report.earlier.append(f"{', '.join(sanitize(raw) for raw, _ in members)}: {len(history)} earlier "
                                  f"Gradescope submission(s) of {folder}")
    return index


def _gradescope_time(value) -> str | None:
    """Gradescope writes created_at as '2026-11-20 12:00:00.123456789 -0800' (or YAML reads it as a datetime)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    match = re.match(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?",
                     str(value or "").strip())
    if not match:
        return None
    zone = match[3] or "+00:00"
    zone = "+00:00" if zone in ("Z", "UTC") else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    return datetime.fromisoformat(f"{match[1]}T{match[2]}{zone}").isoformat()


def metadata(root: Path, assignment: str, student: str) -> dict:
    """What collect recorded of a student's submission (submission.json), {} where it recorded nothing."""
    path = Path(root) / "submitted" / student / assignment / METADATA
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
