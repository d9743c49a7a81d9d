"""Priority sort (NTM paper §4.5): output the highest-priority vectors in sorted order.

20 random 8-bit vectors are shown, each with a scalar priority drawn uniformly from [−1, 1] on
its own input channel; then a delimiter; then the network must output the 16 vectors of highest
priority, highest first. The paper's NTM wrote each vector to a location set by its priority and
then read the locations in order (its Fig. 17), using 5 read and 5 write heads and a controller
of two LSTM layers of 100 (its Table 1: "5" heads, "2 × 100", 269,038 parameters; read so, the
model here has 261,448 with `--controller-layers 2`). The default has one layer of 100
(134,048 parameters), which learnt the task much faster here (README.md, priority sort).

Layout (input channels: bits, priority, delimiter; output: bits):

    t        0 .. 19                    20           21 .. 36
    input    vector and its priority    delimiter    zeros
    target   (not scored)               (not scored) the 16 best vectors, highest priority first
"""
import numpy as np

from .base import Batch, BitTask


class PrioritySortTask(BitTask):
    name = "priority-sort"
    summary = "output the 16 highest-priority of 20 vectors, sorted (NTM paper §4.5)"
    options = (("bits", 8, "random bits per vector"),
               ("items", 20, "vectors shown"),
               ("outputs", 16, "vectors to output"))
    default_model = "ntm"
    sweep = None
    figure_examples = (("seq", {}),)
    train_defaults = {"all": {"steps": 20000, "eval_every": 100},
                      "ntm": {"batch_size": 16, "optimizer": "rmsprop", "lr": 3e-4,
                              "clip_norm": 10.0, "eval_every": 50, "eval_size": 64}}
    model_defaults = {"ntm": {"read_heads": 5, "write_heads": 5,      # Table 1's 5 heads; its
                              "controller_layers": 1}}                # 2 × 100 learnt slower here
    paper_curves = (("NTM paper, Fig. 18, NTM with LSTM controller (read off)",
                     [(200_000, 35.0), (400_000, 25.0), (1_000_000, 18.0)]),
                    ("NTM paper, Fig. 18, LSTM (read off)",
                     [(200_000, 90.0), (400_000, 70.0), (1_000_000, 58.0)]))

    def __init__(self, bits=8, items=20, outputs=16):
        if not 1 <= outputs <= items:
            raise ValueError("priority sort needs 1 <= outputs <= items")
        self.config = {"bits": int(bits), "items": int(items), "outputs": int(outputs)}
        self.input_size = bits + 2        # data bits, priority, delimiter
        self.output_size = bits

    def sample(self, rng, batch_size, return_priorities=False):
        c = self.config
        bits, n, m = c["bits"], c["items"], c["outputs"]
        T = n + 1 + m
        vectors = rng.integers(0, 2, size=(n, batch_size, bits)).astype(np.float64)
        priority = rng.uniform(-1.0, 1.0, size=(n, batch_size))
        x = np.zeros((T, batch_size, bits + 2))
        x[:n, :, :bits] = vectors
        x[:n, :, bits] = priority
        x[n, :, bits + 1] = 1.0
        order = np.argsort(-priority, axis=0, kind="stable")[:m]       # (m, B), best first
        y = np.zeros((T, batch_size, bits))
        y[n + 1:] = np.take_along_axis(vectors, order[..., None], axis=0)
        mask = np.zeros((T, batch_size))
        mask[n + 1:] = 1.0
        batch = Batch(x=x, y=y, mask=mask)
        return (batch, priority) if return_priorities else batch
