"""Training throughput of a PyTorch peer: a plain torch.nn.LSTM on the copy task.

Measures sequences per second (and milliseconds per training step) of an nn.LSTM(9, hidden,
layers) + nn.Linear(hidden, 8) trained on the copy task: one sequence length L per batch,
uniform in [--length-min, --length-max]; input (T, B, 9) with T = 2L + 1 (L random 8-bit
vectors, the delimiter on its own channel, then L zero steps); BCEWithLogits on the L output
steps only (the others masked), summed over elements and divided by the batch size; Adam
(lr 1e-3); every gradient clamped to [-10, 10].

This script is NOT part of ntm_scratch and PyTorch is never a dependency of the project: run it
with the Python of a separate environment that has PyTorch, e.g.

    /work/peer-venv/bin/python benchmarks/peer_lstm.py --batch-size 32 --seconds 10 \
        --hidden 256 --layers 3

Timing, as `run.py bench` does: one untimed warm-up step, then steps until at least --seconds
have passed and at least 3 steps were timed; data generation is inside the timed loop. One
thread. Prints one line of JSON on stdout and nothing else.
"""
import argparse

import numpy as np
import torch
from torch import nn

from peer_common import add_common_flags, check_common_flags, time_and_report


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=256, help="LSTM units per layer")
    p.add_argument("--layers", type=int, default=3, help="stacked LSTM layers")
    add_common_flags(p)
    a = p.parse_args()
    check_common_flags(p, a)
    if a.hidden < 1 or a.layers < 1:
        p.error("--hidden and --layers must be >= 1")
    return a


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    bits, B = 8, args.batch_size
    lstm = nn.LSTM(bits + 1, args.hidden, args.layers)
    head = nn.Linear(args.hidden, bits)
    params = list(lstm.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    bce = nn.BCEWithLogitsLoss(reduction="none")
    rng = np.random.default_rng(args.seed)

    def sample():
        L = int(rng.integers(args.length_min, args.length_max + 1))    # one length per batch
        T = 2 * L + 1
        seq = torch.from_numpy(rng.integers(0, 2, size=(L, B, bits)).astype(np.float32))
        x = torch.zeros(T, B, bits + 1)
        x[:L, :, :bits] = seq
        x[L, :, bits] = 1.0                                            # the delimiter
        y = torch.zeros(T, B, bits)
        y[L + 1:] = seq
        mask = torch.zeros(T, B, 1)
        mask[L + 1:] = 1.0                                             # only the output steps
        return x, y, mask

    def step():
        x, y, mask = sample()
        optimizer.zero_grad()
        h, _ = lstm(x)
        loss = (bce(head(h), y) * mask).sum() / B
        loss.backward()
        for p in params:
            p.grad.clamp_(-10, 10)
        optimizer.step()
        return loss.item()

    time_and_report("torch.nn.LSTM", B, step, args.seconds, torch)

if __name__ == "__main__":
    main()
