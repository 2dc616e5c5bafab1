"""The "collect" step: submissions as instructors receive them -> submitted/<student>/<assignment>/.

Recognised layouts, as a folder or inside a .zip (LMS downloads):
  notebooks named by student   alice.ipynb, bob-smith.ipynb
  a folder per student         alice/Residual_Networks.ipynb (other files in it come along)
  Canvas names                 smithjohn_12345_67890_Residual_Networks.ipynb (also _LATE_)
  Moodle folders               John Smith_12345_assignsubmission_file_/Residual_Networks.ipynb

Student ids are sanitised (lower case ASCII letters, digits, '.', '_', '-'). Nothing is dropped silently:
duplicates, renamed notebooks, unreadable notebooks and skipped files are all in the report.
"""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

CANVAS = re.compile(r"^(?P<who>[A-Za-z0-9-]+?)(?:_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<name>.+)$")
MOODLE = re.compile(r"^(?P<who>.+?)_(?P<user>\d+)_assignsubmission_\w*?_?$")
JUNK = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db", "__pycache__"}
MAX_FILE_BYTES = 200 * 1024 * 1024  # a notebook over 200 MB is not an honest submission (zip bombs)


@dataclass
class Entry:
    parts: tuple[str, ...]  # path inside the input, split
    data: bytes
    mtime: float


@dataclass
class Report:
    students: dict[str, list[str]] = field(default_factory=dict)  # student -> files collected
    renamed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"collected {len(self.students)} student(s)"]
        for title, items in (("renamed", self.renamed), ("duplicates", self.duplicates),
                             ("unreadable (collected anyway; autograde will mark them)", self.unreadable),
                             ("skipped", self.skipped)):
            if items:
                out.append(f"{title}:")
                out += [f"  {item}" for item in items]
        return out


def sanitize(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9_.-]+", "_", ascii_name.lower()).strip("._-")[:64]


def read_entries(source: Path, report: Report, notebook_files: set[str]) -> list[Entry]:
    source = Path(source)
    entries = []
    if source.is_file() and zipfile.is_zipfile(source):
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


def owner(entry: Entry, assignment: str, notebooks: list[str]) -> tuple[str, PurePosixPath]:
    """(raw student id, path inside the student's assignment folder) for one file."""
    if len(entry.parts) == 1:
        name = entry.parts[0]
        canvas = CANVAS.match(name)
        if canvas:
            return canvas["who"], PurePosixPath(canvas["name"])
        stem = PurePosixPath(name).stem
        target = f"{notebooks[0]}.ipynb" if name.endswith(".ipynb") and len(notebooks) == 1 else name
        return stem, PurePosixPath(target)
    folder, rest = entry.parts[0], list(entry.parts[1:])
    moodle = MOODLE.match(folder)
    if rest[0] == assignment and len(rest) > 1:
        rest = rest[1:]
    return (moodle["who"] if moodle else folder), PurePosixPath(*rest)


def collect(source: Path, assignment: str, root: Path, notebooks: list[str]) -> Report:
    report = Report()
    chosen: dict[tuple[str, str], tuple[Entry, str]] = {}
    for entry in read_entries(source, report, {f"{n}.ipynb" for n in notebooks}):
        raw, path = owner(entry, assignment, notebooks)
        student = sanitize(raw)
        where = "/".join(entry.parts)
        if not student:
            report.skipped.append(f"{where}: no student id in its name")
            continue
        slot = (student, path.as_posix())
        if slot in chosen:
            other = chosen[slot]
            kept, ignored = ((entry, where), other) if entry.mtime >= other[0].mtime else (other, (entry, where))
            report.duplicates.append(f"{student}/{path}: in {kept[1]} and {ignored[1]}; kept {kept[1]} (newer)")
            chosen[slot] = kept
        else:
            chosen[slot] = (entry, where)

    per_student: dict[str, dict[str, Entry]] = {}
    for (student, path), (entry, _) in chosen.items():
        per_student.setdefault(student, {})[path] = entry
    for student, files in sorted(per_student.items()):
        expected = {f"{n}.ipynb" for n in notebooks}
        found = [p for p in files if p.endswith(".ipynb")]
        if len(notebooks) == 1 and not expected & set(files) and len(found) == 1:
            target = next(iter(expected))
            report.renamed.append(f"{student}: {found[0]} -> {target}")
            files[target] = files.pop(found[0])
        folder = Path(root) / "submitted" / student / assignment
        if folder.exists():
            shutil.rmtree(folder)  # the newest download replaces an earlier one
        for path, entry in sorted(files.items()):
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(entry.data)
            if path.endswith(".ipynb"):
                try:
                    json.loads(entry.data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    report.unreadable.append(f"{student}/{path}: {type(e).__name__}: {str(e)[:120]}")
        newest = max(e.mtime for e in files.values())
        (folder / "timestamp.txt").write_text(datetime.fromtimestamp(newest, timezone.utc).isoformat())
        report.students[student] = sorted(files)
    return report
