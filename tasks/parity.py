"""Parity (ACT paper §3.1): is the number of +1 entries in a vector odd?

A vector of D elements (64 in the paper), of which a random number k from 1 to D are set to +1
or −1 and the rest are 0; the target is 1 if the number of +1 entries is odd. The paper does
not say where the k entries sit. Here they are at k random positions by default
(`positions='random'`); Fojo, Campos and Giró-i-Nieto's public reproduction puts them in the
first k places (`positions='first'`): the same function of the vector, but a different
distribution of vectors, in which the early positions are nearly always set and the late
ones rarely.
The whole vector arrives in one input step, so a network that answers at once has one step of
computation; with ACT it may ponder. Difficulty is k, the number of non-zero entries (Fig. 6
plots ponder time against it).

Layout: x (1, B, D), y (1, B, 1), mask (1, B); `nonzero` (B,) rides along for the figures.
"""
from dataclasses import dataclass

import numpy as np

from .base import Batch, BitTask


@dataclass
class ParityBatch(Batch):
    nonzero: np.ndarray = None      # (B,) k, the non-zero entries of each vector


class ParityTask(BitTask):
    name = "parity"
    summary = "the parity of a vector given in one step (ACT paper §3.1)"
    options = (("bits", 64, "D, the vector's length"),
               ("positions", "random", "where the k non-zero entries sit: at k random places, or "
                "in the first k places (as Fojo et al.'s reproduction has them)",
                ("random", "first")))
    predates = {"positions": "random"}   # what checkpoints older than the option were made with
    models = ("act",)
    default_model = "act"
    metric = "error"
    metric_label = "% of vectors whose parity is wrong"
    report = ("error", "bits")
    train_defaults = {"all": {"steps": 20000, "eval_every": 250, "eval_size": 1024,
                              "log_every": 50}}

    def __init__(self, bits=64, positions="random"):
        if positions not in ("random", "first"):
            raise ValueError(f"parity's positions are 'random' or 'first', not {positions!r}")
        self.config = {"bits": int(bits), "positions": positions}
        self.input_size = int(bits)
        self.output_size = 1

    def sample(self, rng, batch_size, nonzero=None, positions=None):
        """A batch; `nonzero` fixes k, the non-zero entries of every vector, and `positions`
        their layout, whatever the task's (both for evaluation)."""
        D = self.config["bits"]
        positions = self.config["positions"] if positions is None else positions
        if positions not in ("random", "first"):
            raise ValueError(f"parity's positions are 'random' or 'first', not {positions!r}")
        if nonzero is not None and not 1 <= nonzero <= D:
            raise ValueError(f"parity needs 1 <= nonzero <= {D}")
        k = (rng.integers(1, D + 1, size=batch_size) if nonzero is None
             else np.full(batch_size, int(nonzero)))
        if positions == "first":
            chosen = np.arange(D)[None, :] < k[:, None]
        else:                                                   # k random positions
            chosen = rng.random((batch_size, D)).argsort(axis=1) < k[:, None]
        signs = np.where(rng.random((batch_size, D)) < 0.5, 1.0, -1.0)
        v = chosen * signs
        y = ((v == 1).sum(axis=1) % 2).astype(np.float64)
        return ParityBatch(x=v[None], y=y[None, :, None], mask=np.ones((1, batch_size)),
                           nonzero=k)

    def difficulty(self):
        """What ponder time is drawn against: (sample kwarg, values, axis label)."""
        D = self.config["bits"]
        values = sorted({int(v) for v in np.linspace(1, D, min(D, 16))})
        return "nonzero", values, "non-zero entries in the vector"

    def loss(self, logits, batch):
        loss, dlogits, metrics = super().loss(logits, batch)
        metrics["error"] = 100.0 * metrics.pop("cost")      # one bit per vector: wrong or right
        return loss, dlogits, metrics
