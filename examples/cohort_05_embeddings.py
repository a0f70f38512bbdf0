"""The sample class's 05_embeddings submissions: full marks, two classic embedding bugs, an unfinished notebook."""

from examples.samples import replace_in

ASSIGNMENT = "05_embeddings"

COHORT = {
    "ada": {},
    "ben": {"overrides": replace_in(ASSIGNMENT, "embedding_backward_solution",
                                    "grad_weight = grad_weight.index_add(0, indices.reshape(-1), "
                                    "grad_output.reshape(-1, D))",
                                    "grad_weight[indices.reshape(-1)] = grad_output.reshape(-1, D)")},
    "cleo": {"overrides": replace_in(ASSIGNMENT, "build_vocab_solution",
                                     "sorted(counts.items(), key=lambda item: (-item[1], item[0]))",
                                     "counts.most_common()")},
    "dev": {"filled": False},
}
