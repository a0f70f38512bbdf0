"""The sample class's 06_language_model submissions: full marks, two classic bugs, an unfinished notebook."""

from examples.samples import replace_in

ASSIGNMENT = "06_language_model"

COHORT = {
    "ada": {},
    # A training loop that never steps: the grading run's weights come back unchanged.
    "ben": {"overrides": replace_in(ASSIGNMENT, "train_char_lm", "        adam.step()\n", "")},
    # Sampling that ignores the temperature.
    "cleo": {"overrides": replace_in(ASSIGNMENT, "sample", "torch.softmax(scores / temperature, dim=-1)",
                                     "torch.softmax(scores, dim=-1)")},
    "dev": {"filled": False},
}
