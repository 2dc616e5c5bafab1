"""Reading what a graded kernel left: each failed cell's message, cells that timed out, the watch's notes and
why a submission could not be graded (the status and the one sentence the export and feedback show).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from grader.pipeline.jobs import Limits


def _first_line(text: str, limit: int = 300) -> str:
    line = next((s for s in str(text).splitlines() if s.strip()), "")
    return line[:limit]


def cell_messages(nb) -> dict[str, str]:
    """{grade id: why it lost points} from an autograded notebook's test cells. A check that found a function
    undefined because the cell defining it failed (an IndentationError in the answer) names that failure too."""
    messages = {}
    failed_definitions: dict[str, str] = {}  # function or class name: the error of the cell that defines it
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        error = next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if error is not None:
            for name in re.findall(r"^\s*(?:async\s+)?(?:def|class)\s+(\w+)", cell.get("source", ""), re.M):
                failed_definitions.setdefault(name, f"{error.ename}: {error.evalue}"[:300])
        if not meta.get("grade"):
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                message = f"{output.ename}: {output.evalue}"
                undefined = re.fullmatch(r"name '(\w+)' is not defined", str(output.evalue))
                if output.ename == "NameError" and undefined and undefined[1] in failed_definitions:
                    message += f" (the cell defining it failed: {failed_definitions[undefined[1]]})"
                messages[meta["grade_id"]] = message[:2000]
                break
            if output.get("name") == "stderr":
                messages[meta["grade_id"]] = "wrote to stderr: " + _first_line(output.get("text", ""))
                break
    return messages


def timed_out_cells(nb) -> list[str]:
    """Grade ids (or cell numbers) of the cells nbgrader interrupted at the cell time limit."""
    return [cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{i + 1}"
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and any(o.output_type == "error" and o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))]


def _cell_name(nb, index: int) -> str:
    cell = nb.cells[index] if 0 <= index < len(nb.cells) else {}
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{index + 1}"


def watch_flags(nb, folder: Path, observed: list[tuple[int, str]] = ()) -> list[str]:
    """Flags for review from what the kernel's watch noted (grader.watch: cell and line) and from the processes
    seen from outside after each cell (`observed`: cell index, what). Read once the kernel has ended."""
    from grader.kernel import watch

    counts = {c.get("execution_count"): i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and c.get("execution_count") is not None}
    flags, noted = [], set()
    path = folder / watch.NOTES
    try:
        notes = json.loads(path.read_text()) if path.is_file() and path.stat().st_size < 1_000_000 else []
        if not isinstance(notes, list):
            raise ValueError("not a list")
    except (OSError, ValueError) as e:
        notes = []
        flags.append(f"the kernel's watch notes were unreadable (altered by the submission?): {_first_line(e, 80)}")
    for note in notes[:100]:
        if not isinstance(note, dict) or note.get("kind") not in watch.KINDS or not isinstance(note.get("what"), str):
            flags.append("the kernel's watch notes were altered")
            break
        index = counts.get(note.get("count"))
        where = _cell_name(nb, index) if index is not None else f"[{note.get('count')}]"
        line = note.get("line") if isinstance(note.get("line"), int) else None
        flags.append(f"cell {where}{f', line {line}' if line else ''}: {note['what'][:200]}")
        if note["kind"] == "process" and index is not None:
            noted.add(index)
    flags += [f"cell {_cell_name(nb, index)}: {what}" for index, what in observed if index not in noted]
    return list(dict.fromkeys(flags))


def kernel_end(report: Path) -> str:
    if not report.exists():
        return "the kernel stopped responding"
    end = json.loads(report.read_text())
    if end.get("processes"):
        return (f"the kernel's code started {end['processes']} processes (a fork bomb?); all of them were killed "
                "to protect the other submissions")
    if "signal" in end:
        cause = {"SIGKILL": "killed (out of memory, or the per-submission limit)", "SIGXCPU": "CPU-time limit",
                 "SIGSEGV": "segmentation fault", "SIGABRT": "aborted"}.get(end["name"], end["name"])
        return f"the kernel was killed by {end['name']}: {cause}"
    return f"the kernel exited with code {end['exit_code']} (os._exit or sys.exit from outside a cell?)"


def failure(result: dict, report: Path, timed_out: bool, limits: Limits) -> tuple[str, str]:
    text = (result.get("error") or "") + "\n" + (result.get("log") or "")
    if timed_out:
        return "timed_out", f"grading took longer than the {limits.submission_timeout} s per-submission limit"
    if "DeadKernelError" in text or "Kernel died" in text or "UnresponsiveKernelError" in text or report.exists():
        return "kernel_died", kernel_end(report)
    errors = [line[len("[ERROR] "):] for line in text.splitlines() if line.startswith("[ERROR] ")]
    nbgrader_says = next((e for e in errors if "cell" in e.lower() or "grade" in e.lower()), None)
    if nbgrader_says or "ValidationError" in text or "MetadataValidation" in text:
        detail = nbgrader_says or _first_line(text.split("Error:")[-1])
        return "invalid", f"nbgrader refused the notebook: {detail}"
    return "error", "the grader failed: " + _first_line(errors[-1] if errors else text.strip().splitlines()[-1])
