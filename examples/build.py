"""Regenerate examples/submitted/: a small class of 01_rnn submissions for `autograder demo`.

    python examples/build.py

Each student shows something the grader must handle: full marks, a classic bug, an unfinished
notebook, a different but correct solution, and submissions that try to break or fool the grader.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from examples.samples import ROOT, make_notebook, replace_in, write_notebook

OUT = ROOT / "examples" / "submitted"
A = "01_rnn"

ALTERNATIVE_CELL = '''import torch.nn.functional as F


def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One step of an Elman RNN, written with F.linear (bias=None is allowed there)."""
    act = {"tanh": torch.tanh, "relu": torch.relu}.get(nonlinearity)
    if act is None:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}")
    return act(F.linear(x, W_ih, b_ih) + F.linear(h_prev, W_hh, b_hh))
'''

HANGS_CELL = '''def rnn_forward(x, h_0, layers, batch_first=False, nonlinearity="tanh"):
    while True:
        pass
'''

FAKE_PASS_CELL = '''import torch
torch.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
print("All checks passed! 12 / 12 points")


class AlwaysEqual(torch.Tensor):
    def __eq__(self, other):
        return True


def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    return torch.zeros(x.shape[0], W_ih.shape[0], dtype=x.dtype).as_subclass(AlwaysEqual)
'''

EXIT_CELL = "import os\nos._exit(0)  # leftover from a script\n"


def students() -> dict[str, dict]:
    return {
        "ada": {},
        "ben": {"overrides": replace_in(A, "rnn_cell_forward", "return torch.tanh(pre_activation)",
                                        "return pre_activation")},
        "cleo": {"overrides": replace_in(A, "rnn_forward", "    if batch_first:\n        x = x.transpose(0, 1)\n", "")},
        "dev": {"filled": False},
        "eli": {"overrides": {"rnn_cell_forward": ALTERNATIVE_CELL}},
        "fay": {"overrides": {"rnn_cell_forward": FAKE_PASS_CELL}},
        "gus": {"added": [("rnn_cell_forward", EXIT_CELL)]},
        "hana": {"overrides": {"rnn_forward": HANGS_CELL}},
        "ivo": {"overrides": replace_in(A, "count_rnn_params_solution", "num_directions * hidden_size + hidden_size",
                                        "hidden_size + hidden_size")},
    }


def later_assignments() -> dict[str, dict[str, dict]]:
    """A few students also hand in the later assignments, with their classic bugs.

    02_lstm and 03_gru are here; each later assignment has its own examples/cohort_<ID>.py with
    ASSIGNMENT and COHORT (student → spec, as in students()).
    """
    cohorts = {
        "02_lstm": {
            "ada": {},
            "ben": {"overrides": replace_in("02_lstm", "lstm_cell_forward", "a_i, a_f, a_g, a_o = ",
                                            "a_i, a_f, a_o, a_g = ")},
            "dev": {"filled": False},
        },
        "03_gru": {
            "ada": {},
            "cleo": {"overrides": replace_in("03_gru", "gru_cell_forward",
                                             "return (1 - update_gate) * candidate + update_gate * h_prev",
                                             "return update_gate * candidate + (1 - update_gate) * h_prev")},
            "eli": {"overrides": replace_in("03_gru", "gru_cell_forward", "hidden_part = h_prev @ W_hh.T\n"
                                            "    if b_hh is not None:\n        hidden_part = hidden_part + b_hh",
                                            "hidden_part = h_prev @ W_hh.T")},
        },
    }
    for path in sorted(Path(__file__).parent.glob("cohort_*.py")):
        module = importlib.import_module(f"examples.{path.stem}")
        cohorts[module.ASSIGNMENT] = module.COHORT
    return cohorts


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    for name, spec in students().items():
        nb = make_notebook(A, spec.get("overrides"), spec.get("added"), spec.get("filled", True))
        write_notebook(nb, OUT / name / A / f"{A}.ipynb")
    for assignment, cohort in later_assignments().items():
        for name, spec in cohort.items():
            nb = make_notebook(assignment, spec.get("overrides"), spec.get("added"), spec.get("filled", True))
            write_notebook(nb, OUT / name / assignment / f"{assignment}.ipynb")
    broken = OUT / "jo" / A / f"{A}.ipynb"
    broken.parent.mkdir(parents=True)
    text = (ROOT / "assignments" / A / f"{A}.ipynb").read_text(encoding="utf-8")
    broken.write_text(text[: len(text) // 2], encoding="utf-8")  # a notebook saved halfway
    print(f"wrote {len(list(OUT.glob('*/*/*.ipynb')))} submissions to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
