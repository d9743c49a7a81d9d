"""Reverse a sequence of tokens: the attention task whose right alignment is known.

A source of L tokens (L uniform in [min_length, max_length]) drawn from `vocab` symbols; the
target is the same tokens in reverse order, then EOS. Output step t < L copies source position
L − 1 − t, so an attending decoder should put its weight there: `alignment_error` measures how
often the attention's argmax is elsewhere. Trained on lengths 1–20; `run.py eval reverse
--lengths 21,25,30` tests longer ones.

    source   a b c d            (token ids SPECIALS .. SPECIALS + vocab − 1)
    target   d c b a EOS
"""
import numpy as np

from ntm_scratch.backend import array_module, to_host

from .base import BATCH_LENGTHS, draw_sizes
from .tokens import EOS, SPECIALS, TokenBatch, TokenTask


class ReverseTask(TokenTask):
    name = "reverse"
    summary = "reverse a sequence of tokens: a decoder that attends over its encoder"
    options = (("vocab", 20, "distinct symbols"),
               ("min_length", 1, "shortest training sequence"),
               ("max_length", 20, "longest training sequence"),
               BATCH_LENGTHS)
    sweep = ("length", (10, 20, 21, 25, 30))
    source_alphabet = target_alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    figure_examples = (("len12", {"length": 12}), ("len30", {"length": 30}))
    generalisation = (("length", (1, 5, 10, 15, 20, 22, 24, 26, 28, 30), 20),)
    train_defaults = {"all": {"steps": 3000, "eval_every": 100, "eval_size": 256}}

    def __init__(self, vocab=20, min_length=1, max_length=20, batch_lengths="one"):
        if not 1 <= min_length <= max_length:
            raise ValueError("reverse needs 1 <= min_length <= max_length")
        self.config = {"vocab": int(vocab), "min_length": int(min_length),
                       "max_length": int(max_length), "batch_lengths": batch_lengths}
        self.input_size = self.output_size = SPECIALS + int(vocab)

    def sample(self, rng, batch_size, length=None, one_size=False):
        """A batch; `length` fixes every example's length (for evaluation), `one_size` draws
        one length for the whole batch."""
        c = self.config
        lengths = draw_sizes(rng, c["min_length"], c["max_length"], batch_size, length, one_size)
        S = int(lengths.max())
        src_mask = np.arange(S)[:, None] < lengths[None, :]                  # (S, B)
        x = rng.integers(SPECIALS, SPECIALS + c["vocab"], size=(S, batch_size)) * src_mask
        t = np.arange(S + 1)[:, None]
        source_pos = lengths[None, :] - 1 - t                                # what step t copies
        copies = t < lengths[None, :]
        y = np.where(copies, np.take_along_axis(x, np.clip(source_pos, 0, S - 1), axis=0), 0)
        y[lengths, np.arange(batch_size)] = EOS
        mask = (t <= lengths[None, :]).astype(np.float64)
        return TokenBatch(x=x, src_mask=src_mask, y=y, mask=mask)

    def alignment(self, src_mask, T):
        """(T, B): the source position output step t copies, −1 where it copies none (EOS)."""
        lengths = np.asarray(src_mask).sum(axis=0)
        t = np.arange(T)[:, None]
        return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, -1)

    def alignment_error(self, alpha, batch):
        """Percentage of copying steps whose attention argmax (alpha: (T, B, S)) is not the
        position copied."""
        xp = array_module(alpha)
        target = xp.asarray(self.alignment(to_host(batch.src_mask), alpha.shape[0]))
        scored = target >= 0
        wrong = (alpha.argmax(axis=-1) != target) & scored
        return 100.0 * wrong.sum() / scored.sum()
