"""A fast, safe autograder for the recurrent-networks course notebooks.

The folders are the trust zones (DESIGN.md):

- `probe/` runs untrusted code: the zygote, the probe that serves one submission (`serve`), the cell
  runner, the sandbox and the recipes. It holds no expected value, reference or solution, and imports
  nothing from the other zones; it is all a probe's sandbox shows of the package (with the top-level
  modules here).
- `wire.py` is the one contract between probe and judge: the framing, `Call` and `Outcome`.
- `judge/` decides: it plans and supervises a submission (`grading`, `runner`, `supervise`), and turns
  what came back into verdicts (`evaluate`, `byhand`, `deadlines`). `checks/` (its path is kept:
  exported hidden modules import it) holds the check definitions the judge applies.
- `reports/` only renders what the judge recorded: results.json and its one reader (`results`),
  feedback pages and their sanitiser, the class report, CI, gradebooks, merges, similarity. No module
  there imports torch or the checks.
- `authoring/` is for instructors: releasing notebooks, the student bundle, the Gradescope package.

The top-level modules are the public entry points (`autograder.inline.check`, `autograder.data`,
`autograder.models`, the CLI, the pytest plugin) and small helpers every zone uses (`course`,
`notebook`, `files`). This module stays import-light: importing it loads nothing else.
"""

__version__ = "0.1.0"
