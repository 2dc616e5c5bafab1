"""The `resnet-grader` console command (pyproject's [project.scripts]): the instructor's grader, from any
folder. `resnet-grader --course ~/term2 export resnet50` is `python -m grader ...` run in the checkout.

The grader itself is not packaged (it never ships to learners, see DESIGN): this launcher finds it beside
itself, which holds for the editable install that `python3 kit.py grader` and `pip install -e .` make.
"""

import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent


def main(prog: str = "resnet-grader") -> int:
    if not (CHECKOUT / "grader" / "__main__.py").is_file():
        print(f"resnet-grader: no grader/ beside {Path(__file__).resolve()}: the command works from an editable "
              "install of the course kit's checkout (pip install -e '<checkout>[instructor]', or python3 kit.py "
              "grader)", file=sys.stderr)
        return 2
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    from grader.__main__ import main as grader_main

    return grader_main(prog=prog)


if __name__ == "__main__":
    sys.exit(main())
