"""Training throughput of a PyTorch peer: loudinthecloud/pytorch-ntm's NTM on the copy task.

Measures sequences per second (and milliseconds per training step) of the port's own copy-task
training step, at the NTM paper's copy sizes: 9 inputs (8 bits + delimiter), 8 outputs, an
LSTM controller of 100 units in 1 layer, 1 read head and 1 write head, memory 128 x 20.

This script is NOT part of ntm_scratch and PyTorch is never a dependency of the project: run it
with the Python of a separate environment that has PyTorch, pointing --port at a checkout of
https://github.com/loudinthecloud/pytorch-ntm (only its `ntm` package is imported), e.g.

    /work/peer-venv/bin/python benchmarks/peer_ntm.py --port /work/peers/pytorch-ntm \
        --batch-size 32 --seconds 10

One training step mirrors the port's train.py / tasks/copytask.py: one sequence length L per
batch, uniform in [--length-min, --length-max], random bits; init_sequence(batch); feed the
L vectors and the delimiter one step at a time; read L outputs with zero input; BCELoss (mean);
backward; clamp every gradient to [-10, 10]; RMSprop(lr=1e-4, momentum=0.9, alpha=0.95).
(The port's train_batch also binarises the outputs with a per-element Python lambda to report
a bit-error cost; that bookkeeping is not training and is left out here.)

Timing, as `run.py bench` does: one untimed warm-up step, then steps until at least --seconds
have passed and at least 3 steps were timed; data generation is inside the timed loop. One
thread. Prints one line of JSON on stdout and nothing else.
"""
import argparse
import os
import sys

import numpy as np
import torch

from peer_common import add_common_flags, check_common_flags, time_and_report


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", required=True,
                   help="path to a checkout of loudinthecloud/pytorch-ntm (the folder holding ntm/)")
    add_common_flags(p)
    a = p.parse_args()
    check_common_flags(p, a)
    return a


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    sys.path.insert(0, os.path.abspath(args.port))
    from ntm.aio import EncapsulatedNTM

    bits, B = 8, args.batch_size
    # EncapsulatedNTM(num_inputs, num_outputs, controller_size, controller_layers, num_heads, N, M);
    # num_heads=1 makes one read head and one write head.
    net = EncapsulatedNTM(bits + 1, bits, 100, 1, 1, 128, 20)
    criterion = torch.nn.BCELoss()
    optimizer = torch.optim.RMSprop(net.parameters(), lr=1e-4, momentum=0.9, alpha=0.95)
    rng = np.random.default_rng(args.seed)

    def sample():
        L = int(rng.integers(args.length_min, args.length_max + 1))    # one length per batch
        seq = torch.from_numpy(rng.integers(0, 2, size=(L, B, bits)).astype(np.float32))
        x = torch.zeros(L + 1, B, bits + 1)
        x[:L, :, :bits] = seq
        x[L, :, bits] = 1.0                                            # the delimiter
        return x, seq

    def step():
        x, y = sample()
        optimizer.zero_grad()
        net.init_sequence(B)
        for t in range(x.size(0)):                                     # the vectors + delimiter
            net(x[t])
        y_out = torch.zeros(y.size())
        for t in range(y.size(0)):                                     # read back, zero input
            y_out[t], _ = net()
        loss = criterion(y_out, y)
        loss.backward()
        for p in net.parameters():
            if p.grad is not None:
                p.grad.data.clamp_(-10, 10)
        optimizer.step()
        return loss.item()

    time_and_report("pytorch-ntm", B, step, args.seconds, torch)

if __name__ == "__main__":
    main()
