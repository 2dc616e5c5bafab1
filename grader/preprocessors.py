"""nbgrader preprocessors of our own, each one small step configured in grader/nbgrader_config.py."""

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor


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
