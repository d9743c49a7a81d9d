"""Repeat copy (NTM paper §4.2): copy a sequence a given number of times, then say "done".

A sequence of L random 8-bit vectors is shown, then a step carrying the delimiter flag and the
number of repeats R on its own input channel. The network must then write the sequence R times
in a row and, on the step after, raise an end marker on an extra output channel: it has to count.

The repeat count is normalised as the paper does, to mean 0 and variance 1 under the training
distribution (R uniform on min_repeats..max_repeats), so a count outside that range (the
generalisation test: 20 repeats) arrives as a value the network never saw.

Layout for one example (input channels: bits, delimiter, repeats; output: bits, end marker):

    t        0 .. L-1        L                   L+1 .. L+R·L        L+R·L+1
    input    the vectors     delimiter, R̂        zeros               zeros
    target   (not scored)    (not scored)        the vectors R times end marker

Every output step is scored on every channel, so the end marker must also stay off until its
step. Examples of different L and R share a batch through the mask.

By default the NTM trains on the whole task from the start, one sequence a step with RMSProp
at 1e-4 (the paper's rate), dropping to 3e-5 once an evaluation is under 2 wrong bits. With
copy's 16 sequences a step it stalls near 80 wrong bits; a curriculum (`--curriculum 150`, in
thousands of training sequences: the longest length and the most repeats grow linearly from 2
to their maxima) makes batch 16 learn, more slowly (README). Evaluation always draws from the
whole task.
"""
import numpy as np

from .base import Batch, BitTask, batch_lengths_option, draw_sizes


class RepeatCopyTask(BitTask):
    name = "repeat-copy"
    summary = "copy a sequence a given number of times, then emit an end marker (NTM paper §4.2)"
    options = (("bits", 8, "random bits per vector"),
               ("min_length", 1, "shortest training sequence"),
               ("max_length", 10, "longest training sequence"),
               ("min_repeats", 1, "fewest training repeats"),
               ("max_repeats", 10, "most training repeats"),
               ("curriculum", 0.0, "thousands of training sequences over which the longest "
                                   "length and the most repeats grow from 2 to their maxima "
                                   "(0: none; 150 learns at batch 16)"),
               batch_lengths_option("mixed", ". Mixed here: with one length and repeat count a "
                                    "batch, a batch-16 curriculum run of seed 0 had not learnt "
                                    "the task after 320,000 sequences (17 to 71 wrong bits); "
                                    "mixed, it went under 1 at 172,000 (at batch 1, the "
                                    "default, the two are the same)"))
    default_model = "ntm"
    paper_curves = (("NTM paper, Fig. 7, NTM with LSTM controller (read off)", [(50_000, 5.0)]),
                    ("NTM paper, Fig. 7, LSTM (read off)",
                     [(50_000, 105.0), (100_000, 20.0), (150_000, 5.0)]))
    sweep = ("length", (10, 20))                    # `run.py eval --repeats` varies the repeats
    figure_examples = (("len10_rep10", {"length": 10, "repeats": 10}),     # NTM Fig. 8
                       ("len20_rep10", {"length": 20, "repeats": 10}),
                       ("len10_rep20", {"length": 10, "repeats": 20}))
    generalisation = (("length", (2, 4, 6, 8, 10, 12, 14, 16, 18, 20), 10),
                      ("repeats", (2, 4, 6, 8, 10, 12, 14, 16, 18, 20), 10))
    train_defaults = {"all": {"steps": 20000, "eval_every": 100, "stop_below": 0.1},
                      # the paper's and the PyTorch port's: one sequence a step, RMSProp 1e-4;
                      # then 3e-5 once under 2 wrong bits (README: what stalls, what learns)
                      "ntm": {"batch_size": 1, "optimizer": "rmsprop", "lr": 1e-4,
                              "clip_norm": 10.0, "steps": 100000, "eval_every": 1000,
                              "lr_drop_below": 2.0, "lr_drop": 0.3}}

    def __init__(self, bits=8, min_length=1, max_length=10, min_repeats=1, max_repeats=10,
                 curriculum=0.0, batch_lengths="mixed"):
        if not (1 <= min_length <= max_length and 1 <= min_repeats <= max_repeats):
            raise ValueError("repeat-copy needs 1 <= min <= max for lengths and repeats")
        self.config = {"bits": int(bits), "min_length": int(min_length),
                       "max_length": int(max_length), "min_repeats": int(min_repeats),
                       "max_repeats": int(max_repeats), "curriculum": float(curriculum),
                       "batch_lengths": batch_lengths}
        self.input_size = bits + 2        # data bits, delimiter, repeat count
        self.output_size = bits + 1       # data bits, end marker
        n = max_repeats - min_repeats + 1
        self.repeat_mean = (min_repeats + max_repeats) / 2.0
        self.repeat_std = np.sqrt((n * n - 1) / 12.0) if n > 1 else 1.0   # of a discrete uniform

    def normalise_repeats(self, repeats):
        return (np.asarray(repeats, dtype=np.float64) - self.repeat_mean) / self.repeat_std

    def training_kwargs(self, seqs):
        """The curriculum's stage after `seqs` training sequences: the longest length and the
        most repeats grow linearly from 2 (or the minimum) to their maxima over `curriculum`
        thousand sequences. A function of the count alone, so a resumed run draws the same data.
        Evaluation never passes these: it measures the whole task."""
        c = self.config
        kwargs = super().training_kwargs(seqs)              # one length and count per batch
        if c["curriculum"] <= 0:
            return kwargs
        frac = min(1.0, seqs / (1000.0 * c["curriculum"]))

        def grow(lo, hi):
            start = min(max(lo, 2), hi)
            return int(round(start + frac * (hi - start)))
        return dict(kwargs, up_to_length=grow(c["min_length"], c["max_length"]),
                    up_to_repeats=grow(c["min_repeats"], c["max_repeats"]))

    def sample(self, rng, batch_size, length=None, repeats=None, up_to_length=None,
               up_to_repeats=None, one_size=False):
        """A batch; `length` and `repeats` fix those of every example (for evaluation),
        `up_to_length`, `up_to_repeats` lower the maxima (the curriculum's stages), and
        `one_size` draws one length and one repeat count for the whole batch."""
        c = self.config
        bits = c["bits"]
        hi_len = c["max_length"] if up_to_length is None else up_to_length
        hi_rep = c["max_repeats"] if up_to_repeats is None else up_to_repeats
        lengths = draw_sizes(rng, c["min_length"], hi_len, batch_size, length, one_size)
        counts = draw_sizes(rng, c["min_repeats"], hi_rep, batch_size, repeats, one_size)
        L = int(lengths.max())
        T = int((lengths + 2 + counts * lengths).max())
        cols = np.arange(batch_size)
        seq = rng.integers(0, 2, size=(L, batch_size, bits)).astype(np.float64)
        valid = np.arange(L)[:, None] < lengths[None, :]              # (L, B)
        seq *= valid[..., None]

        x = np.zeros((T, batch_size, bits + 2))
        x[:L, :, :bits] = seq
        x[lengths, cols, bits] = 1.0                                   # the delimiter
        x[lengths, cols, bits + 1] = self.normalise_repeats(counts)    # and the repeat count
        y = np.zeros((T, batch_size, bits + 1))
        mask = np.zeros((T, batch_size))
        t_valid, b_valid = np.nonzero(valid)
        for r in range(int(counts.max())):                             # the r-th copy
            keep = r < counts[b_valid]
            t_out = lengths[b_valid] + 1 + r * lengths[b_valid] + t_valid
            y[t_out[keep], b_valid[keep], :bits] = seq[t_valid[keep], b_valid[keep]]
        end = lengths + 1 + counts * lengths
        y[end, cols, bits] = 1.0                                       # the end marker
        scored = (np.arange(T)[:, None] > lengths[None, :]) & (np.arange(T)[:, None] <= end[None, :])
        mask[scored] = 1.0
        return Batch(x=x, y=y, mask=mask)
