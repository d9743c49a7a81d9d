"""Training throughput of every model family, and how much of the machine it uses.

    python run.py bench [--model ntm] [--batch-sizes 1,8,32,128] [--seconds 10] [--backend cupy]

For each model family on its own task (the NTM and the LSTM on copy at the NTM paper's sizes,
the encoder-decoder with attention on reverse, ACT on parity, the Neural Programmer on table-qa,
the pipe on arithmetic) and each batch size, a fresh model trains on the task's own training
distribution, sampled on the host as training samples it (one length per batch where the task
draws one), for at least `seconds` of wall time after one warm-up step. Reported:

    seq/s      sequences per second: forward + backward + update
    ms/step    wall time of one step
    GFLOP/s    floating-point operations of the steps timed, counted (below), per second
    % peak     that against the float32 matrix-product peak of the processes used (one
               process's peak, measured on the spot by `matmul_peak` with large square
               products and the same BLAS threads, times the worker processes)

The operations are counted, not estimated: after the timing, each distinct shape of batch timed
is run once more through the same code on arrays of `CountingArray`, which adds up what every
NumPy operation computes (an elementwise operation: one per output element; a reduction: one per
input element; a matrix product or einsum: 2 per multiply-add). Copies, indexing and data
generation count nothing. The clock stops only after the device has finished (a host read of
the last loss), so GPU timings are honest; on the GPU the counts come from the same NumPy
arrays and the peak is CuPy's.
"""
import time

import numpy as np

from . import backend
from .optim import make_optimizer
from .parallel import WorkerGroup, default_workers, loss_and_grads, one_part
from .train import batch_to_device

# (model, task): each family on the task it is measured on
FAMILIES = (("ntm", "copy"), ("lstm", "copy"), ("seq2seq", "reverse"), ("act", "parity"),
            ("programmer", "table-qa"), ("pipe", "arithmetic"))


# ----------------------------------------------------------------------------- counting
class CountingArray(np.ndarray):
    """A NumPy array that adds the floating-point operations done on it to `CountingArray.flops`.

    Every ufunc (+, *, exp, matmul, their reductions) and einsum is intercepted; the result is
    computed on plain arrays and handed back as a CountingArray, so a whole training step run on
    such arrays counts every operation it does, whatever model it is."""

    flops = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = _plain(inputs)
        if "out" in kwargs:
            kwargs["out"] = _plain(kwargs["out"])
        result = getattr(ufunc, method)(*args, **kwargs)
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        if ufunc is np.matmul and method == "__call__":
            a, b = (np.asarray(x) for x in args[:2])
            k = a.shape[-1]
            CountingArray.flops += 2 * k * np.asarray(result).size
        elif method == "reduce" and arrays:
            CountingArray.flops += arrays[0].size
        elif method == "__call__":
            CountingArray.flops += np.asarray(result).size
        return _counting(result)

    def __array_function__(self, func, types, args, kwargs):
        args, kwargs = _plain(args), _plain(kwargs)
        result = func(*args, **kwargs)
        if func is np.einsum:
            operands = [a for a in args[1:] if isinstance(a, np.ndarray)]
            letters = args[0].replace(" ", "").split("->")[0].split(",")
            sizes = {}
            for spec, a in zip(letters, operands):
                sizes.update(zip(spec, a.shape))
            CountingArray.flops += 2 * int(np.prod(list(sizes.values()), dtype=np.int64))
        elif func in (np.dot, np.tensordot, np.inner, np.vdot):
            a = np.asarray(args[0])
            CountingArray.flops += 2 * a.shape[-1] * max(1, np.asarray(result).size)
        return _counting(result)


def _plain(x):
    """Plain ndarrays in place of CountingArrays, through tuples, lists and dicts."""
    if isinstance(x, CountingArray):
        return x.view(np.ndarray)
    if isinstance(x, (tuple, list)):
        return type(x)(_plain(v) for v in x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def _counting(x):
    if type(x) is np.ndarray:
        return x.view(CountingArray)
    if isinstance(x, tuple):
        return tuple(_counting(v) for v in x)
    return x


def count_flops(task, model, batch, dtype=np.float32, optimizer=None):
    """Floating-point operations of one training step (forward, loss, backward, update) on
    `batch` (host arrays), counted as the module docstring says."""
    params = {k: v.view(CountingArray)
              for k, v in model.init_params(np.random.default_rng(0), dtype).items()}
    cast = {k: (np.asarray(v, dtype) if np.issubdtype(np.asarray(v).dtype, np.floating)
                else np.asarray(v)).view(CountingArray) for k, v in vars(batch).items()}
    before = CountingArray.flops
    _, grads, _ = one_part(task, model, params, type(batch)(**cast))
    if optimizer is not None:
        optimizer.step(params, grads)
    return CountingArray.flops - before


def _shape_key(batch):
    return tuple((k, np.shape(v)) for k, v in sorted(vars(batch).items()))


# ----------------------------------------------------------------------------- peak
def matmul_peak(seconds=1.0, n=1024, dtype=np.float32):
    """This process's float32 matrix-product rate (GFLOP/s): n × n products on the active
    backend, as many as fit in `seconds` after one untimed."""
    xp = backend.xp()
    rng = np.random.default_rng(0)
    a = backend.to_device(rng.standard_normal((n, n)), dtype)
    b = backend.to_device(rng.standard_normal((n, n)), dtype)
    c = a @ b
    backend.scalar(c[0, 0])
    reps, t0 = 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - t0 < seconds:
        c = xp.matmul(a, b, out=c)
        reps += 1
    backend.scalar(c[0, 0])                              # wait for the device
    return 2.0 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


# ----------------------------------------------------------------------------- throughput
def measure(task, model, batch_size, seconds, optimizer, dtype=np.float32, workers=1,
            count=True):
    """Train for `seconds`; returns {seq_per_s, ms_per_step, steps, gflop}: gflop is the
    counted work of the steps timed, in GFLOP (None with count=False). optimizer: a dict with
    the keys name, lr, clip_value, clip_norm (the task's training settings)."""
    make_opt = lambda: make_optimizer(optimizer["name"], optimizer["lr"], optimizer["clip_value"],
                                      optimizer["clip_norm"])
    params = backend.to_device(model.init_params(np.random.default_rng(0), dtype))
    opt = make_opt()
    rng = np.random.default_rng(0)
    group = WorkerGroup(task, model, params, workers) if workers > 1 else None
    shapes = {}                                          # shape of batch -> (a batch, steps)

    def step(record):
        host = task.sample(rng, batch_size, **task.training_kwargs(0))
        if record:
            key = _shape_key(host)
            first, n = shapes.get(key, (host, 0))
            shapes[key] = (first, n + 1)
        loss, grads, _ = loss_and_grads(task, model, params, batch_to_device(host, dtype), group)
        opt.step(params, grads)
        return loss

    try:
        backend.scalar(step(False))                      # warm-up: allocations, kernel compiles
        steps, t0 = 0, time.perf_counter()
        while True:
            loss = step(True)
            steps += 1
            if steps >= 3 and time.perf_counter() - t0 >= seconds:
                backend.scalar(loss)                     # wait for the device to finish
                break
        elapsed = time.perf_counter() - t0
    finally:
        if group is not None:
            group.close()
    gflop = sum(n * count_flops(task, model, batch, dtype, make_opt())
                for batch, n in shapes.values()) / 1e9 if count else None
    return {"seq_per_s": steps * batch_size / elapsed, "ms_per_step": 1000.0 * elapsed / steps,
            "steps": steps, "gflop": gflop, "seconds": elapsed}


def run_bench(families, batch_sizes, seconds, out, workers=None, count=True):
    """families: a list of (task, model, optimizer settings). Prints a table per family and
    returns the rows (dicts). workers None: as training would choose for each batch size.
    count=False: throughput only (no operation count, no peak; the GFLOP/s columns show -)."""
    peak = matmul_peak(min(1.0, seconds)) if count else None
    print(f"backend {backend.name()}, float32; float32 matrix-product peak of this process: "
          + (f"{peak:.1f} GFLOP/s" if count else "not measured"), file=out, flush=True)
    rows = []
    for task, model, optimizer in families:
        print(f"\n{model.name} on {task.name}: {model.config}, {optimizer['name']}", file=out)
        print(f"{'batch':>6} {'workers':>8} {'seq/s':>10} {'ms/step':>10} {'GFLOP/s':>9} "
              f"{'% peak':>7} {'steps':>7}", file=out, flush=True)
        for b in batch_sizes:
            w = workers or default_workers(b, backend.name())
            r = measure(task, model, b, seconds, optimizer, workers=w, count=count)
            gflops = r["gflop"] / r["seconds"] if count else None
            row = {"model": model.name, "task": task.name, "batch": b, "workers": w,
                   "seq_per_s": r["seq_per_s"], "ms_per_step": r["ms_per_step"],
                   "gflop_per_s": gflops, "peak_fraction": gflops / (peak * w) if count else None,
                   "steps": r["steps"], "peak_gflop_per_s": peak}
            rows.append(row)
            rate = (f"{gflops:>9.2f} {100 * row['peak_fraction']:>6.1f}%" if count
                    else f"{'-':>9} {'-':>7}")
            print(f"{b:>6} {w:>8} {r['seq_per_s']:>10.1f} {r['ms_per_step']:>10.1f} {rate} "
                  f"{r['steps']:>7}", file=out, flush=True)
    return rows
