"""Hidden cases for 06_language_model, and the references its cases are judged by: the contract's encoding,
batching, training, perplexity and sampling loops (each also with one classic mistake at a time), and the
judge's own measure of a student's trained weights."""

import math
from functools import cache

import torch
import torch.nn.functional as F

from autograder import data
from autograder.checks import language_model as lm
from autograder.checks.language_model import (
    GRADING_BATCH_SIZE,
    GRADING_SEQ_LEN,
    GRADING_SIZES,
    initial_model,
    loaded_model,
)
from autograder.models import CharLM
from autograder.probe.recipes import state_of

HIDDEN = {
    "encode_names_values": lambda: [
        lm.encode_case("no names: an empty LongTensor", [], lm.data.char_vocab()),
        lm.encode_case("one name of one letter", ["a"], lm.data.char_vocab()),
        lm.encode_case("a vocabulary of three symbols", ["bob", "ob", "b"], lm.shuffled_vocab(5, ".bo")),
        lm.encode_case("every validation name", lm.data.load_split("validation"), lm.shuffled_vocab(6)),
    ],
    "make_batches_values": lambda: [
        lm.batches_case("batch_size=1: one stream", 9, 1, 3),
        lm.batches_case("seq_len longer than the data: one short pair", 20, 4, 10),
        lm.batches_case("seq_len divides n - 1: every pair full", 28, 4, 3),
        lm.batches_case("seq_len=1", 13, 3, 1),
    ],
    "train_char_lm_steps": lambda: [
        lm.train_case("RNN, fewer steps than batches", lm.train_inputs(140, "rnn", 70, 3, 3, 5)),
        lm.train_case("LSTM, one batch: every step starts a pass", lm.train_inputs(141, "lstm", 24, 4, 8, 4)),
        lm.train_case("GRU, clip too large to matter", lm.train_inputs(142, "gru", 50, 4, 4, 6, clip=1e6)),
    ],
    "perplexity_values": lambda: [
        lm.perplexity_case("RNN, one batch", lm.perplexity_inputs(150, "rnn", 25, 3, 10)),
        lm.perplexity_case("N=1, eight batches", lm.perplexity_inputs(151, "lstm", 25, 1, 3)),
        lm.perplexity_case("GRU called in train mode", lm.perplexity_inputs(152, "gru", 40, 3, 4), training=True),
    ],
    "sample_values": lambda: [
        lm.sample_case("stops after max_len new characters", "jo", 3, 1.0, 9),
        lm.sample_case("temperature 0.8 after the prefix 'k'", "k", 15, 0.8, 3),
        lm.sample_case("a vocabulary numbered in another order", "", 12, 1.0, 22, vocab=lm.shuffled_vocab(7)),
        lm.sample_case("LSTM: the state is a pair (h, c)", "", 15, 1.5, 5, model="lstm"),
        lm.sample_case("GRU, greedy", "an", 10, 0.0, 0, model="gru"),
        lm.samples_case("three samples in a row from one generator, temperature 0.7", "", 12, 0.7, 3, count=3),
    ],
}


# ---------------------------------------------------------------- references and mistake models
# What the public cases' expected values are computed by; never shipped to students.

def encode_reference(names: list[str], vocab: dict[str, int], mistake: str | None = None) -> torch.Tensor:
    end = [vocab[data.END]]
    indices: list[int] = []
    for name in names:
        letters = [ord(ch) - ord("a") + 1 for ch in name] if mistake == "ord" else [vocab[ch] for ch in name]
        indices += {"no_end": letters, "end_first": end + letters}.get(mistake, letters + end)
    if mistake == "one_end":
        indices += end
    return torch.tensor(indices, dtype=torch.long)


def batches_reference(stream: torch.Tensor, batch_size: int, seq_len: int,
                      mistake: str | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    n = stream.shape[0] // batch_size
    if mistake == "batch_major":
        rows = stream[: n * batch_size].view(n, batch_size)
    else:
        rows = stream[: n * batch_size].view(batch_size, n).t()
    pairs = []
    for i in range(0, n - 1, seq_len):
        s = min(seq_len, n - 1 - i)
        if mistake == "drop_last" and s < seq_len:
            break
        shift = 0 if mistake == "not_shifted" else 1
        pairs.append((rows[i:i + s], rows[i + shift:i + shift + s]))
    return pairs


def _detached(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)


def train_reference(case: dict, mistake: str | None = None) -> tuple[list[float], dict[str, torch.Tensor]]:
    """The contract's training loop from the case's seeded CharLM, or the loop with one classic mistake."""
    model = initial_model(case["sizes"], case["seed"], case["dtype"])
    batches, steps = case["batches"], case["steps"]
    optimizer = torch.optim.Adam(model.parameters(), lr=case["lr"])
    state, losses = None, []
    for step in range(steps):
        position = step % len(batches)
        if mistake == "new_optimizer":
            optimizer = torch.optim.Adam(model.parameters(), lr=case["lr"])
        if (position == 0 and mistake != "never_reset") or mistake == "reset_every_batch":
            state = None
        inputs, targets = batches[position]
        logits, state = model(inputs, state)
        loss = _cross_entropy(logits, targets, "sum" if mistake == "sum_loss" else "mean")
        if mistake != "no_zero_grad":
            optimizer.zero_grad()
        loss.backward()
        if mistake != "no_clip":
            torch.nn.utils.clip_grad_norm_(model.parameters(), case["clip"])
        if mistake != "no_step":
            optimizer.step()
        state = _detached(state)
        losses.append(loss.item())
    return losses, state_of(model)


def _exp(x: float) -> float:
    return math.exp(x) if x < 700 else math.inf  # what an overflowing torch.exp gives


def perplexity_reference(model: CharLM, batches: list, mistake: str | None = None) -> float:
    """exp(total cross-entropy / number of targets), the state carried over all batches; or a classic mistake."""
    total, count, state, batch_means, batch_perplexities = 0.0, 0, None, [], []
    with torch.no_grad():
        for inputs, targets in batches:
            logits, state = model(inputs, None if mistake == "reset" else state)
            summed = _cross_entropy(logits, targets, "sum").item()
            total += summed
            count += targets.numel()
            batch_means.append(summed / targets.numel())
            batch_perplexities.append(math.exp(batch_means[-1]))
    return {
        "summed": lambda: _exp(total),
        "sum_of_means": lambda: _exp(sum(batch_means)),
        "mean_of_means": lambda: math.exp(sum(batch_means) / len(batch_means)),
        "mean_of_perplexities": lambda: sum(batch_perplexities) / len(batch_perplexities),
        "no_exp": lambda: total / count,
        "base_2": lambda: 2 ** (total / count),
    }.get(mistake, lambda: math.exp(total / count))()


def sample_reference(model: CharLM, vocab: dict[str, int], prefix: str, max_len: int, temperature: float,
                     seed: int, mistake: str | None = None) -> str:
    """The contract's sampling loop with torch.Generator().manual_seed(seed), or with one classic mistake."""
    return _sample(model, vocab, prefix, max_len, temperature, torch.Generator().manual_seed(seed), mistake)


def samples_reference(model: CharLM, vocab: dict[str, int], prefix: str, max_len: int, temperature: float,
                      seed: int, count: int, mistake: str | None = None) -> list[str]:
    """`count` samples in a row from one torch.Generator().manual_seed(seed), each going on where the last stopped."""
    generator = torch.Generator().manual_seed(seed)
    return [_sample(model, vocab, prefix, max_len, temperature, generator, mistake) for _ in range(count)]


def _sample(model: CharLM, vocab: dict[str, int], prefix: str, max_len: int, temperature: float,
            generator: torch.Generator, mistake: str | None) -> str:
    symbols = {index: symbol for symbol, index in vocab.items()}
    start = prefix if mistake == "no_start" else data.END + prefix
    if not start:
        return ""
    new: list[str] = []
    budget = max_len - len(prefix) if mistake == "max_len_total" else max_len
    with torch.no_grad():
        logits, state = model(torch.tensor([[vocab[ch]] for ch in start]))
        scores = logits[0 if mistake == "first_logits" else -1, 0]
        while len(new) < budget:
            if temperature == 0 and mistake != "ignore_temperature":
                index = int(scores.argmax())
            else:
                scaled = {"ignore_temperature": scores, "times_temperature": scores * temperature}.get(
                    mistake, scores / temperature) if temperature else scores
                index = int(torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator))
            if symbols[index] == data.END:
                if mistake == "keep_end":
                    new.append(data.END)
                if mistake == "draw_after_end":  # all max_len characters drawn, the name then cut at the first "."
                    for _ in range(budget - len(new) - 1):
                        logits, state = model(torch.tensor([[index]]), state)
                        probs = torch.softmax(logits[-1, 0] / temperature, dim=-1)
                        index = int(torch.multinomial(probs, 1, generator=generator))
                break
            new.append(symbols[index])
            logits, state = model(torch.tensor([[index]]), None if mistake == "no_state" else state)
            scores = logits[-1, 0]
    return ("" if mistake == "no_prefix" else prefix) + "".join(new)


@cache
def names_batches(split: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The names of one split, encoded and cut into the grading run's time-major batches."""
    stream = encode_reference(data.load_split(split), data.char_vocab())
    return batches_reference(stream, GRADING_BATCH_SIZE, GRADING_SEQ_LEN)


def validation_perplexity(state: dict[str, torch.Tensor]) -> float:
    """The judge's own measure of trained weights: its CharLM, its perplexity, the validation names."""
    model = loaded_model(GRADING_SIZES, state).double().eval()
    return perplexity_reference(model, names_batches("validation"))
