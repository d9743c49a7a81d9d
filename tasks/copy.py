"""The copy task (NTM paper, §4.1).

A sequence of L random 8-bit vectors (L uniform in [min_length, max_length]) is shown, then a
delimiter flag on its own input channel; the network must then write the sequence back, with
no input, over the next L steps. Only those L output steps are scored.

Layout for one example of length L (input channels: `bits` data bits, then the delimiter):

    t        0 .. L-1        L            L+1 .. 2L
    input    the vectors     delimiter    zeros
    target   (not scored)    (not scored) the vectors

Training draws one length for the whole batch (`batch_lengths` 'one', the default), so every
step of the batch is work; with 'mixed', and in evaluation, examples of different lengths share
a batch: it lasts 2·max(L) + 1 steps, and the mask is 1 only on each example's own output steps.
"""
import numpy as np

from .base import BATCH_LENGTHS, Batch, BitTask, draw_sizes


class CopyTask(BitTask):
    name = "copy"
    summary = "read a sequence of random bit vectors back (NTM paper §4.1)"
    options = (("bits", 8, "random bits per vector"),
               ("min_length", 1, "shortest training sequence"),
               ("max_length", 20, "longest training sequence"),
               BATCH_LENGTHS)
    default_model = "ntm"
    paper_curves = (("NTM paper, Fig. 3, NTM with LSTM controller (read off)", [(100_000, 0.1)]),
                    ("NTM paper, Fig. 3, LSTM (read off)",
                     [(100_000, 4.8), (200_000, 2.1), (300_000, 1.2)]))
    sweep = ("length", (10, 20, 30, 50, 80, 120))   # what `run.py eval` varies, and its default values
    figure_examples = (("len20", {"length": 20}), ("len80", {"length": 80}))
    generalisation = (("length", (10, 20, 30, 40, 50, 60, 80, 100, 120), 20),)
    train_defaults = {"all": {"steps": 10000, "eval_every": 100, "stop_below": 0.1},
                      "ntm": {"batch_size": 16, "optimizer": "rmsprop", "lr": 3e-4,
                              "clip_norm": 10.0, "eval_every": 50}}

    def __init__(self, bits=8, min_length=1, max_length=20, batch_lengths="one"):
        if not 1 <= min_length <= max_length:
            raise ValueError(f"copy lengths need 1 <= min_length <= max_length, "
                             f"got {min_length} and {max_length}")
        self.config = {"bits": int(bits), "min_length": int(min_length),
                       "max_length": int(max_length), "batch_lengths": batch_lengths}
        self.input_size = bits + 1        # the data bits and the delimiter channel
        self.output_size = bits

    def sample(self, rng, batch_size, length=None, one_size=False):
        """A batch of copy examples; `length` fixes every example's length (for evaluation),
        `one_size` draws one length for the batch."""
        c = self.config
        bits = c["bits"]
        lengths = draw_sizes(rng, c["min_length"], c["max_length"], batch_size, length, one_size)
        L = int(lengths.max())
        T = 2 * L + 1
        seq = rng.integers(0, 2, size=(L, batch_size, bits)).astype(np.float64)
        t = np.arange(L)[:, None]                            # (L, 1)
        valid = t < lengths[None, :]                         # (L, B): step t is in example b
        seq *= valid[..., None]
        cols = np.broadcast_to(np.arange(batch_size)[None, :], valid.shape)

        x = np.zeros((T, batch_size, bits + 1))
        x[:L, :, :bits] = seq                                # the vectors to remember
        x[lengths, np.arange(batch_size), bits] = 1.0        # the delimiter, right after them
        y = np.zeros((T, batch_size, bits))
        mask = np.zeros((T, batch_size))
        out_t = (lengths[None, :] + 1 + t)[valid]            # the output step of vector t
        y[out_t, cols[valid]] = seq[valid]
        mask[out_t, cols[valid]] = 1.0
        return Batch(x=x, y=y, mask=mask)
