"""Training throughput: sequences per second for forward + backward + update.

    python run.py bench [--model ntm] [--batch-sizes 1,8,32,128] [--seconds 10] [--backend cupy]

Each batch size trains a fresh model on the task's own training distribution (copy: lengths
1–20) for at least `seconds` of wall time after one warm-up step, sampling data on the host
as training does, and reports sequences per second and milliseconds per step. The clock stops
only after the device has finished (a host read of the last loss), so GPU timings are honest.
"""
import time

import numpy as np

from . import backend
from .optim import make_optimizer
from .parallel import WorkerGroup, loss_and_grads
from .train import batch_to_device


def measure(task, model, batch_size, seconds, optimizer, dtype=np.float32, workers=1):
    """Returns (sequences per second, ms per step, steps timed). optimizer: a dict with the
    keys name, lr, clip_value, clip_norm (the task's training settings)."""
    params = backend.to_device(model.init_params(np.random.default_rng(0), dtype))
    opt = make_optimizer(optimizer["name"], optimizer["lr"], optimizer["clip_value"],
                         optimizer["clip_norm"])
    rng = np.random.default_rng(0)
    group = WorkerGroup(task, model, params, workers) if workers > 1 else None

    def step():
        batch = batch_to_device(task.sample(rng, batch_size), dtype)
        loss, grads, _ = loss_and_grads(task, model, params, batch, group)
        opt.step(params, grads)
        return loss

    try:
        backend.scalar(step())                           # warm-up: allocations, kernel compiles
        steps, t0 = 0, time.perf_counter()
        while True:
            loss = step()
            steps += 1
            if steps >= 3 and time.perf_counter() - t0 >= seconds:
                backend.scalar(loss)                     # wait for the device to finish
                break
        elapsed = time.perf_counter() - t0
    finally:
        if group is not None:
            group.close()
    return steps * batch_size / elapsed, 1000.0 * elapsed / steps, steps


def run_bench(task, model, batch_sizes, seconds, out, workers, optimizer):
    print(f"training throughput: {task.name}, model {model.name} {model.config}, "
          f"backend {backend.name()}, float32, {workers} process(es), optimizer {optimizer}",
          file=out)
    print(f"{'batch':>6} {'seq/s':>10} {'ms/step':>10} {'steps':>7}", file=out, flush=True)
    rows = []
    for b in batch_sizes:
        rate, ms, steps = measure(task, model, b, seconds, optimizer, workers=workers)
        rows.append({"batch": b, "seq_per_s": rate, "ms_per_step": ms, "steps": steps})
        print(f"{b:>6} {rate:>10.1f} {ms:>10.1f} {steps:>7}", file=out, flush=True)
    return rows
