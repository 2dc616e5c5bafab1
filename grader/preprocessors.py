"""nbgrader preprocessors of our own, each one small step configured in grader/nbgrader_config.py."""

from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


class ClearHiddenTracebacks(NbGraderPreprocessor):
    """Feedback: a failed test cell shows the check's message, not a traceback. A traceback quotes the lines
    it passed through, and in a test cell those include the hidden tests that ClearHiddenTests removed from
    the cell's source."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class JudgeHiddenTests(NbGraderPreprocessor):
    """Autograde, right after Execute: give each test cell's hidden tests their verdict from the evidence the
    kernel left in `evidence_dir` (grader.kernel.evidence, grader.pipeline.judging). A cell whose evidence does not match the
    reference, or is missing, gets an error output, so SaveAutoGrades gives it no points. Does nothing
    without an evidence folder (plain `nbgrader autograde`: the hidden tests judge in the kernel)."""

    evidence_dir = Unicode("", help="Folder where the grading kernel's hidden tests left their evidence").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if not self.evidence_dir or cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        if any(output.output_type == "error" for output in cell.get("outputs", [])):
            return cell, resources  # failed in the kernel already
        from grader.pipeline import judging

        for key in judging.hidden_calls(cell.source):
            problem = judging.verdict(Path(self.evidence_dir), key)
            if problem:
                cell.outputs.append(nbformat.v4.new_output("error", ename="CheckFailed", evalue=problem,
                                                           traceback=[f"CheckFailed: {problem}"]))
                break
        return cell, resources
