"""Addition (ACT paper §3.3): keep a running sum of the numbers shown, one number per step.

A sequence of 1 to `max_numbers` numbers, each of 1 to `digits` decimal digits (the number of
digits uniform, then the digits; a leading zero is allowed, as in the paper). A number arrives as
`digits` one-hot vectors of 10, most significant digit first, zero vectors where it has no digit
(input: digits × 10 = 50 by default). From the second step on, the target is the sum of the
numbers so far, written in as many digits as the largest sum needs (6 by default), most
significant first and left-aligned, the
positions it does not fill given the eleventh class, "no digit": one 11-way softmax per position.
A sequence is right when every digit of every target is (the paper's sequence error).

Layout: x (T, B, digits·10); y (T, B, width) class ids; mask (T, B), 1 on the scored steps
(t ≥ 1, within the sequence); input_mask (T, B), 1 on every step of the sequence (the ponder cost
counts those); `digits_in` (T, B) the number of digits shown at each step (difficulty, Fig. 14).
"""
from dataclasses import dataclass

import numpy as np

from ntm_scratch.backend import array_module
from ntm_scratch.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward

from .base import BATCH_LENGTHS, Batch, Task, draw_sizes

NO_DIGIT = 10


@dataclass
class AdditionBatch(Batch):
    input_mask: np.ndarray = None
    digits_in: np.ndarray = None


def write_number(values, width):
    """Integers (...) -> their decimal digits, most significant first, left-aligned in `width`
    places, NO_DIGIT after the last: (..., width) class ids."""
    values = np.asarray(values, dtype=np.int64)
    n = np.maximum(1, np.floor(np.log10(np.maximum(values, 1))).astype(int) + 1)   # digits used
    pos = np.arange(width)
    power = n[..., None] - 1 - pos                                # the place each position shows
    digit = (values[..., None] // 10 ** np.maximum(power, 0)) % 10
    return np.where(power >= 0, digit, NO_DIGIT)


class AdditionTask(Task):
    name = "addition"
    summary = "running sums of numbers shown one per step (ACT paper §3.3)"
    options = (("digits", 5, "most digits per number"),
               ("max_numbers", 5, "most numbers per sequence"),
               BATCH_LENGTHS)
    models = ("act",)
    default_model = "act"
    model_defaults = {"act": {"cell": "lstm"}}
    metric = "seq_error"
    metric_label = "% of sequences with a wrong digit"
    report = ("nats", "seq_error", "digit_error")
    train_defaults = {"all": {"steps": 20000, "eval_every": 250, "eval_size": 512}}

    def __init__(self, digits=5, max_numbers=5, batch_lengths="one"):
        self.config = {"digits": int(digits), "max_numbers": int(max_numbers),
                       "batch_lengths": batch_lengths}
        self.input_size = 10 * int(digits)
        self.width = len(str(int(max_numbers) * (10 ** int(digits) - 1)))   # the largest sum
        self.output_size = 11 * self.width

    def sample(self, rng, batch_size, numbers=None, n_digits=None, one_size=False):
        """A batch; `numbers` fixes every sequence's length, `n_digits` every number's digits
        (for evaluation and figures); `one_size` draws one length for the whole batch."""
        D, M = self.config["digits"], self.config["max_numbers"]
        if n_digits is not None and not 1 <= n_digits <= D:
            raise ValueError(f"addition numbers have 1 to {D} digits")
        lengths = draw_sizes(rng, 1, M, batch_size, numbers, one_size)
        T = int(lengths.max())
        n_digits = (rng.integers(1, D + 1, size=(T, batch_size)) if n_digits is None
                    else np.full((T, batch_size), int(n_digits)))
        digits = rng.integers(0, 10, size=(T, batch_size, D))
        shown = np.arange(D) < n_digits[..., None]                    # (T, B, D)
        digits = np.where(shown, digits, 0)
        values = (digits * 10 ** (n_digits[..., None] - 1 - np.arange(D)).clip(0)
                  * shown).sum(axis=-1)
        live = np.arange(T)[:, None] < lengths[None, :]
        values = values * live
        x = (digits[..., None] == np.arange(10)) * (shown & live[..., None])[..., None]
        x = x.reshape(T, batch_size, 10 * D).astype(np.float64)
        y = write_number(np.cumsum(values, axis=0), self.width)
        mask = (live & (np.arange(T)[:, None] >= 1)).astype(np.float64)
        return AdditionBatch(x=x, y=y, mask=mask, input_mask=live.astype(np.float64),
                             digits_in=n_digits * live)

    def difficulty(self):
        """What ponder time is drawn against: (sample kwarg, values, axis label)."""
        return "n_digits", list(range(1, self.config["digits"] + 1)), "digits in each number"

    def number_text(self, x_t):
        """One input step's one-hot digits (digits·10,) -> the number as written."""
        rows = np.asarray(x_t).reshape(self.config["digits"], 10)
        return "".join(str(int(r.argmax())) for r in rows if r.any()) or "-"

    def loss(self, logits, batch):
        """Softmax cross-entropy over each target digit; metrics per sequence."""
        xp = array_module(logits)
        T, B = logits.shape[:2]
        z = logits.reshape(T, B, self.width, 11)
        y = xp.asarray(batch.y)
        mask = xp.asarray(batch.mask, dtype=logits.dtype)
        m = xp.broadcast_to(mask[..., None], y.shape)
        nats, cache = softmax_cross_entropy_forward(z, y, m)
        dlogits = softmax_cross_entropy_backward(1.0 / B, cache).reshape(logits.shape)
        wrong = (z.argmax(axis=-1) != y) * m                          # (T, B, width)
        scored = mask.sum(axis=0) > 0           # a sequence of one number has no sum to write
        metrics = {"nats": nats / B,
                   "seq_error": 100.0 * ((wrong.sum(axis=(0, 2)) > 0) & scored).sum()
                                / xp.maximum(scored.sum(), 1),
                   "digit_error": 100.0 * wrong.sum() / xp.maximum(m.sum(), 1)}
        return nats / B, dlogits, metrics
