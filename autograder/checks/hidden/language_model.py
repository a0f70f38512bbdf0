"""Hidden cases for 06_language_model."""

from autograder.checks import language_model as lm

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
    ],
}
