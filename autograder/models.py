"""Models the assignments provide to students, and the grader rebuilds to load their weights.

They are public: notebooks import them, the probe builds them for a recipe, and the judge builds its
own copies to evaluate weights a student's training produced. One definition serves all three.
"""

from __future__ import annotations

import torch
from torch import nn

RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class TinyRNNModel(nn.Module):
    """A one-layer tanh RNN with a linear read-out (04_bptt's truncated-BPTT exercise).

    forward(x, h) -> (logits, h): x (T, N, I) float, h (1, N, H) or None, logits (T, N, V).
    """

    def __init__(self, input_size: int, hidden_size: int, vocab_size: int) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.rnn(x, h)
        return self.readout(out), h


class CharLM(nn.Module):
    """A character-level language model: embedding, one recurrent layer, a linear read-out (06).

    forward(x, state=None) -> (logits, state): x a LongTensor (T, N), logits (T, N, V), state the
    recurrent layer's state (a tensor, or (h, c) for the LSTM).
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, cell: str = "lstm") -> None:
        super().__init__()
        if cell not in RECURRENT:
            raise ValueError(f"cell must be one of {sorted(RECURRENT)}, not {cell!r}")
        self.cell = cell
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = RECURRENT[cell](embed_dim, hidden_size)
        self.readout = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, state=None):
        out, state = self.rnn(self.embed(x), state)
        return self.readout(out), state
