"""Flag suspicious code for the instructor's review: an AST scan of the cells a student could edit, run by the
worker before any of the code executes. A flag costs no points; it puts the submission in the report's
"Flagged for review" table with the line that raised it.

What is flagged: changing other modules' attributes (monkeypatching numpy, keras, the checks), touching
sys.modules, builtins or the exception hooks (swallowing errors globally), importing the grader, naming the
hidden tests, reference or gradebook, processes, signals, raw memory and the network, import hooks and tracing.
"""

from __future__ import annotations

import ast

SUSPICIOUS_IMPORTS = {
    "grader": "imports the instructor's grader package",
    "ctypes": "uses ctypes (raw memory access)",
    "subprocess": "starts processes",
    "multiprocessing": "starts processes",
    "socket": "opens network connections",
    "urllib": "opens network connections",
    "http": "opens network connections",
    "requests": "opens network connections",
    "importlib": "re-imports or reloads modules",
    "signal": "installs signal handlers",
    "atexit": "runs code at interpreter exit",
    "builtins": "changes builtins",
    "sqlite3": "opens databases",
    "shutil": "copies or deletes files",
}
SUSPICIOUS_CALLS = {
    "os._exit": "ends the kernel", "os.fork": "forks the kernel", "os.kill": "sends signals", "os.system": "runs shell commands",
    "os.remove": "deletes files", "os.unlink": "deletes files", "os.chmod": "changes file permissions",
    "sys.exit": "ends the kernel", "exec": "executes generated code", "eval": "evaluates generated code",
    "setattr": "sets attributes by name", "set_custom_exc": "swallows exceptions globally",
    "get_ipython": "drives the notebook kernel", "__import__": "imports by name",
}
# Hooks into the interpreter: exceptions, imports, tracing and profiling (grader.watch also notes them at run time).
HOOKS = ("sys.modules", "sys.excepthook", "sys.settrace", "sys.setprofile", "sys.meta_path", "sys.path_hooks",
         "threading.settrace", "threading.setprofile", "threading.excepthook")
SECRET_WORDS = ("grader", "hidden", "reference", "gradebook", "solutions", "submitted", "autograded")


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


class _Scanner(ast.NodeVisitor):
    def __init__(self, where: str):
        self.where, self.flags, self.modules = where, [], set()

    def flag(self, node: ast.AST, why: str) -> None:
        self.flags.append(f"{self.where}, line {getattr(node, 'lineno', '?')}: {why}")

    def visit_Import(self, node):
        for alias in node.names:
            self._imported(node, alias.name, alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._imported(node, module, None)
        for alias in node.names:  # `from resnet_course import checks` binds a module name too
            self.modules.add(alias.asname or alias.name)

    def _imported(self, node, module: str, bound: str | None) -> None:
        root = module.split(".")[0]
        if root in SUSPICIOUS_IMPORTS:
            self.flag(node, f"import {module}: {SUSPICIOUS_IMPORTS[root]}")
        if bound:
            self.modules.add(bound)

    def visit_Assign(self, node):
        for target in node.targets:
            self._assigned(node, target)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._assigned(node, node.target)
        self.generic_visit(node)

    def _assigned(self, node, target) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._assigned(node, element)
        elif isinstance(target, ast.Attribute):
            name = _dotted(target)
            owner = name.split(".")[0]
            if owner in self.modules or owner in ("sys", "builtins", "__builtins__", "np", "keras", "tf", "torch"):
                self.flag(node, f"assigns {name}: changes another module's behaviour (monkeypatching)")
        elif isinstance(target, ast.Subscript) and _dotted(target.value) in ("sys.modules", "__builtins__"):
            self.flag(node, f"edits {_dotted(target.value)}")

    def visit_Delete(self, node):
        for target in node.targets:
            if isinstance(target, ast.Subscript) and _dotted(target.value) == "sys.modules":
                self.flag(node, "edits sys.modules")
        self.generic_visit(node)

    def visit_Call(self, node):
        name = _dotted(node.func)
        last = name.split(".")[-1] if name else ""
        why = SUSPICIOUS_CALLS.get(name) or SUSPICIOUS_CALLS.get(last)
        if why:
            self.flag(node, f"calls {name}: {why}")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        name = _dotted(node)
        if name in HOOKS or name.endswith("__code__") \
                or name.endswith("__globals__"):
            self.flag(node, f"uses {name}")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and any(w in node.value.lower() for w in SECRET_WORDS) \
                and ("/" in node.value or "." in node.value):
            self.flag(node, f"names a grading file: {node.value[:80]!r}")


def scan_source(source: str, where: str) -> list[str]:
    # IPython magics and shell escapes are not Python: blank them out (keeping line numbers), but flag them.
    lines, flags = [], []
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith(("!", "%")):
            flags.append(f"{where}, line {number}: runs a shell command or magic: {stripped[:80]!r}")
            lines.append("")
        else:
            lines.append(line)
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return flags  # it fails in the kernel too, and earns nothing
    scanner = _Scanner(where)
    scanner.visit(tree)
    return flags + scanner.flags


def scan_notebook(nb) -> list[str]:
    """Flags for every code cell a student could edit (not the locked, graded test cells)."""
    flags = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")) or meta.get("locked"):
            continue
        where = f"cell {meta.get('grade_id') or '#' + str(index + 1)}"
        flags += scan_source(cell.source, where)
    return flags


SKIP_TAGS = {"skip-execution", "raises-exception"}


def _cell_key(cell) -> tuple:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return ("grade_id", grade_id) if grade_id else ("source", cell.get("cell_type"), cell.get("source", "").strip())


def tampered_cells(nb, release) -> list[str]:
    """How the submission's locked test cells differ from the release (nbgrader restores them; the
    instructor should still know): deleted, re-typed, edited, or tagged to be skipped."""
    def graded(notebook):
        return {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                and c.metadata["nbgrader"].get("locked") and not c.metadata["nbgrader"].get("solution")}

    submitted, original = graded(nb), graded(release)
    flags = []
    for grade_id, cell in original.items():
        mine = submitted.get(grade_id)
        if mine is None:
            flags.append(f"locked cell {grade_id} was deleted (restored for grading)")
        elif mine.cell_type != cell.cell_type:
            flags.append(f"locked cell {grade_id} was changed to {mine.cell_type} (restored for grading)")
        elif mine.source.strip() != cell.source.strip():
            flags.append(f"locked cell {grade_id} was edited (restored for grading)")
    # The course tags its own check cells raises-exception (so Run All reaches the summary): a tag is the
    # student's only when the release's cell (same grade id, or same source) does not carry it.
    course_tags = {}
    for cell in release.cells:
        course_tags.setdefault(_cell_key(cell), set()).update(SKIP_TAGS & set(cell.get("metadata", {}).get("tags", [])))
    for index, cell in enumerate(nb.cells):
        tags = SKIP_TAGS & set(cell.get("metadata", {}).get("tags", [])) - course_tags.get(_cell_key(cell), set())
        if tags:
            where = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{index + 1}"
            flags.append(f"cell {where} is tagged {', '.join(sorted(tags))} (ignored for grading)")
    return flags
