"""The sample class's 04_bptt submissions: full marks, a classic BPTT bug, an unfinished notebook."""

from examples.samples import replace_in

ASSIGNMENT = "04_bptt"

COHORT = {
    "ada": {},
    "ben": {"overrides": replace_in(ASSIGNMENT, "train_truncated_bptt", "        h = h.detach()\n", "")},
    "cleo": {"overrides": replace_in(ASSIGNMENT, "rnn_sequence_backward",
                                     "weight_grads = [total + grad for total, grad in zip(weight_grads, step_grads)]",
                                     "weight_grads = step_grads")},
    "dev": {"filled": False},
}
