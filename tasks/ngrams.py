"""Dynamic n-grams (NTM paper §4.4): predict the next bit of a sequence whose statistics are new
every time.

Each sequence has its own 6-gram model: for each of the 32 contexts of 5 previous bits, the
probability that the next bit is 1 is drawn from Beta(½, ½). The first 5 bits are fair coins;
every later bit follows the model. The network sees the bits one at a time and predicts the
next, so it must count, within the sequence, what followed each context.

The Bayesian optimum predicts P(next = 1) = (N1 + ½) / (N1 + N0 + 1), with N1 and N0 the
times a 1 and a 0 have followed the current context so far in this sequence. Each batch carries
it (`optimal`), and the loss reports `optimal_bits` beside the model's `bits`.

Layout (one input channel: the bit; one output: the next bit), a sequence of `length` bits:

    t        0 .. length-2
    input    bit t
    target   bit t + 1, scored from t = 4 on (where its 5-bit context is complete)
"""
from dataclasses import dataclass

import numpy as np

from ntm_scratch.backend import array_module

from .base import LN2, Batch, BitTask


@dataclass
class NGramBatch(Batch):
    """A Batch that also carries the Bayesian optimum's P(next bit = 1): (T, B)."""
    optimal: np.ndarray = None


def bayes_optimal(bits, context=5):
    """P(next = 1) under the Bayesian optimum for every step, from the bits (length, B) alone.

    Returns (length - 1, B): row t predicts bit t + 1 (0.5 where the context is incomplete).
    """
    length, B = bits.shape
    counts = np.zeros((B, 2 ** context, 2))                 # N0, N1 for each context
    weights = 2 ** np.arange(context - 1, -1, -1)           # oldest bit is the most significant
    cols = np.arange(B)
    p = np.full((length - 1, B), 0.5)
    for t in range(context - 1, length - 1):
        ctx = (bits[t - context + 1:t + 1] * weights[:, None]).sum(axis=0).astype(int)
        n0, n1 = counts[cols, ctx, 0], counts[cols, ctx, 1]
        p[t] = (n1 + 0.5) / (n1 + n0 + 1.0)                 # (N1 + ½) / (N1 + N0 + 1)
        counts[cols, ctx, bits[t + 1].astype(int)] += 1     # then see what came next
    return p


class NGramsTask(BitTask):
    name = "ngrams"
    summary = "predict bits from a 6-gram model drawn anew for every sequence (NTM paper §4.4)"
    options = (("length", 200, "bits per sequence"),
               ("context", 5, "bits of context of the n-gram model"))
    default_model = "ntm"
    # Fig. 13 plots the cross-entropy itself (the optimum at 133 bits); here, less the optimum
    paper_curves = (("NTM paper, Fig. 13, NTM with LSTM controller, above the optimum (read off)",
                     [(100_000, 1.0), (200_000, 0.5)]),
                    ("NTM paper, Fig. 13, LSTM, above the optimum (read off)",
                     [(100_000, 4.0), (200_000, 3.0), (400_000, 2.5)]))
    sweep = None
    metric = "bits"
    metric_label = "bits per sequence above the Bayesian optimum"
    figure_examples = (("seq", {}),)
    report = ("bits", "optimal_bits", "cost")
    train_defaults = {"all": {"steps": 20000, "eval_every": 100},
                      "ntm": {"steps": 9000, "batch_size": 16, "optimizer": "rmsprop",
                              "lr": 3e-4, "clip_norm": 10.0, "eval_every": 50, "eval_size": 64}}

    def __init__(self, length=200, context=5):
        if not 1 <= context < length - 1:
            raise ValueError("ngrams needs 1 <= context < length - 1")
        self.config = {"length": int(length), "context": int(context)}
        self.input_size = 1
        self.output_size = 1

    def sample(self, rng, batch_size):
        n, k = self.config["length"], self.config["context"]
        probs = rng.beta(0.5, 0.5, size=(batch_size, 2 ** k))  # this sequence's n-gram model
        weights = 2 ** np.arange(k - 1, -1, -1)
        bits = np.zeros((n, batch_size))
        bits[:k] = rng.integers(0, 2, size=(k, batch_size))
        cols = np.arange(batch_size)
        for t in range(k, n):
            ctx = (bits[t - k:t] * weights[:, None]).sum(axis=0).astype(int)
            bits[t] = rng.random(batch_size) < probs[cols, ctx]
        mask = np.zeros((n - 1, batch_size))
        mask[k - 1:] = 1.0
        return NGramBatch(x=bits[:-1, :, None], y=bits[1:, :, None], mask=mask,
                          optimal=bayes_optimal(bits, k))

    def loss(self, logits, batch):
        loss, dlogits, metrics = super().loss(logits, batch)
        xp = array_module(logits)
        p = xp.clip(xp.asarray(batch.optimal, dtype=xp.float64), 1e-12, 1 - 1e-12)
        y = xp.asarray(batch.y[..., 0], dtype=xp.float64)
        nats = -(y * xp.log(p) + (1 - y) * xp.log(1 - p)) * xp.asarray(batch.mask, dtype=xp.float64)
        metrics["optimal_bits"] = nats.sum() / (LN2 * logits.shape[1])
        return loss, dlogits, metrics
