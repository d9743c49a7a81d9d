"""Logic (ACT paper §3.2): follow a chain of binary logic gates, one chain per step.

A sequence has 1 to `max_steps` (10) input steps. Each step brings a bit b and a chain of 1 to
`max_gates` (10) gates, each one of the ten binary gates: the functions of two bits that depend
on both (the 16 truth tables of two bits, less the two constants and the four that copy or
negate one input: AND, OR, XOR, NAND, NOR, XNOR and the four implications and inhibitions).
Going along the chain, each gate takes the last two bits and yields the next:

    p, q = b_prev, b            then, for each gate T in the chain:   p, q = q, T(q, p)

and the step's target is the last bit made (q). At the first step both bits are shown; at later
steps b_prev is not shown: it is the previous step's target, which the network must remember.
So each step needs as many sequential gate evaluations as its chain is long, all within one
input step: the difficulty ACT's pondering adapts to (ACT paper Fig. 7 plots ponder time
against the number of gates).

Layout: x (T, B, 2 + 10·max_gates): x[..., 0] b_prev (first step only), x[..., 1] b, then
`max_gates` one-hot slots of 10 (zeros past the chain's end); y (T, B, 1) the target bit;
mask (T, B) 1 within the sequence (every step is scored); input_mask (T, B) the same (the ponder
cost counts those); `gates_in` (T, B) each step's chain length (difficulty).
"""
from dataclasses import dataclass

import numpy as np

from ntm_scratch.backend import array_module
from ntm_scratch.losses import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward

from .base import BATCH_LENGTHS, Batch, Task, draw_sizes

LN2 = float(np.log(2.0))


def _binary_gates():
    """The ten gates as truth tables g[q, p] (q: the newer bit), in the order of the 4-bit
    number the table reads as (g[0,0], g[0,1], g[1,0], g[1,1] from the highest bit)."""
    gates = []
    for code in range(16):
        g = np.array([[(code >> 3) & 1, (code >> 2) & 1], [(code >> 1) & 1, code & 1]])
        depends_on_q = (g[0] != g[1]).any()
        depends_on_p = (g[:, 0] != g[:, 1]).any()
        if depends_on_q and depends_on_p:
            gates.append(g)
    return np.stack(gates)                      # (10, 2, 2)


GATES = _binary_gates()
N_GATES = len(GATES)


@dataclass
class LogicBatch(Batch):
    input_mask: np.ndarray = None
    gates_in: np.ndarray = None


class LogicTask(Task):
    name = "logic"
    summary = "follow a chain of binary logic gates at every step (ACT paper §3.2)"
    options = (("max_steps", 10, "most input steps per sequence"),
               ("max_gates", 10, "most gates per step"),
               BATCH_LENGTHS)
    models = ("act",)
    default_model = "act"
    model_defaults = {"act": {"cell": "lstm"}}      # the paper: an LSTM of 128
    metric = "seq_error"
    metric_label = "% of sequences with a wrong bit"
    report = ("bits", "seq_error", "bit_error")
    train_defaults = {"all": {"steps": 20000, "batch_size": 16, "eval_every": 250,
                              "eval_size": 1024, "log_every": 50}}

    def __init__(self, max_steps=10, max_gates=10, batch_lengths="one"):
        if max_steps < 1 or max_gates < 1:
            raise ValueError("logic needs max_steps >= 1 and max_gates >= 1")
        self.config = {"max_steps": int(max_steps), "max_gates": int(max_gates),
                       "batch_lengths": batch_lengths}
        self.input_size = 2 + N_GATES * int(max_gates)
        self.output_size = 1

    def sample(self, rng, batch_size, length=None, n_gates=None, one_size=False):
        """A batch; `length` fixes every sequence's length, `n_gates` every step's chain length
        (for evaluation and figures); `one_size` draws one length for the whole batch."""
        S, G = self.config["max_steps"], self.config["max_gates"]
        if n_gates is not None and not 1 <= n_gates <= G:
            raise ValueError(f"logic chains have 1 to {G} gates")
        lengths = draw_sizes(rng, 1, S, batch_size, length, one_size)
        T = int(lengths.max())
        chain = (rng.integers(1, G + 1, size=(T, batch_size)) if n_gates is None
                 else np.full((T, batch_size), int(n_gates)))
        gates = rng.integers(0, N_GATES, size=(T, batch_size, G))
        bits = rng.integers(0, 2, size=(T, batch_size))
        first = rng.integers(0, 2, size=batch_size)
        x = np.zeros((T, batch_size, self.input_size))
        y = np.zeros((T, batch_size, 1))
        x[0, :, 0] = first
        x[:, :, 1] = bits
        used = np.arange(G) < chain[..., None]                       # (T, B, G)
        slots = 2 + N_GATES * np.arange(G) + gates                   # where each one-hot 1 goes
        np.put_along_axis(x, slots, used.astype(np.float64), axis=2)
        p = first
        rows = np.arange(batch_size)
        for t in range(T):                        # the chain, one gate at a time, all examples
            q = bits[t]
            for g in range(G):
                new = GATES[gates[t, :, g], q, p]
                p, q = np.where(used[t, :, g], q, p), np.where(used[t, :, g], new, q)
            y[t, rows, 0] = q
            p = q                                 # the next step's b_prev: this target
        live = (np.arange(T)[:, None] < lengths[None, :]).astype(np.float64)
        x *= live[..., None]
        return LogicBatch(x=x, y=y * live[..., None], mask=live, input_mask=live,
                          gates_in=chain * live)

    def difficulty(self):
        """What ponder time is drawn against: (sample kwarg, values, axis label)."""
        return "n_gates", list(range(1, self.config["max_gates"] + 1)), "gates per input step"

    def loss(self, logits, batch):
        """Sigmoid cross-entropy on each step's bit; metrics per sequence: `bits`, that loss in
        bits; `seq_error`, the % of sequences with any wrong bit (the paper's sequence error);
        `bit_error`, the % of wrong bits."""
        xp = array_module(logits)
        y = xp.asarray(batch.y, dtype=logits.dtype)
        mask = xp.asarray(batch.mask, dtype=logits.dtype)
        B = logits.shape[1]
        nats, cache = sigmoid_cross_entropy_forward(logits, y, mask[..., None])
        dlogits, _ = sigmoid_cross_entropy_backward(1.0 / B, cache)
        wrong = ((logits[..., 0] > 0) != (y[..., 0] > 0.5)) * mask
        metrics = {"bits": nats / B / LN2,
                   "seq_error": 100.0 * (wrong.sum(axis=0) > 0).sum() / B,
                   "bit_error": 100.0 * wrong.sum() / xp.maximum(mask.sum(), 1)}
        return nats / B, dlogits, metrics
