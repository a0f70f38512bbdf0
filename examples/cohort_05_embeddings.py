"""The sample class's 05_embeddings submissions: full marks, two classic embedding bugs, an unfinished notebook.

ben and cleo each make one classic mistake, elsewhere; both tokenize Chinese text correctly, cleo in a way of her
own (a loop over the characters instead of the reference's regular expression).
"""

from examples.samples import replace_in

ASSIGNMENT = "05_embeddings"

CHINESE_BY_LOOP = '''def chinese_tokenize(line: str) -> list[str]:
    """Chinese characters and punctuation marks one by one; the text between them through basic_english_tokenize."""
    blocks = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF)]
    tokens = []
    text = ""
    for ch in line:
        if ch in CHINESE_PUNCTUATION or any(low <= ord(ch) <= high for low, high in blocks):
            tokens += basic_english_tokenize(text) + [ch]
            text = ""
        else:
            text += ch
    return tokens + basic_english_tokenize(text)
'''

COHORT = {
    "ada": {},
    "ben": {"overrides": replace_in(ASSIGNMENT, "embedding_backward_solution",
                                    "grad_weight = grad_weight.index_add(0, indices.reshape(-1), "
                                    "grad_output.reshape(-1, D))",
                                    "grad_weight[indices.reshape(-1)] = grad_output.reshape(-1, D)")},
    "cleo": {"overrides": {**replace_in(ASSIGNMENT, "build_vocab_solution",
                                        "sorted(counts.items(), key=lambda item: (-item[1], item[0]))",
                                        "counts.most_common()"),
                           "chinese_tokenize_solution": CHINESE_BY_LOOP}},
    "dev": {"filled": False},
}
