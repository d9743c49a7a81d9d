"""Data parallelism over processes, so a NumPy run uses every core.

Threads do not help here: a training step is hundreds of short NumPy calls that hold the GIL,
so two threads mostly take turns (measured: slower than one). Processes do not share a GIL.

    group = WorkerGroup(task, model, params, workers=2)
    loss, grads, metrics = group.loss_and_grads(batch)    # this process computes one part
    group.close()

The parameters move into shared memory once (the arrays in `params` are replaced, in place in
the dict, by views of it), so the optimiser's in-place update is seen by every worker without a
copy. Each step sends the workers their part of the batch through a pipe; each writes its
gradients into its own shared buffer. The parts' means are combined weighted by their sizes in a
fixed order: a run is deterministic for a given number of workers, though not bit-equal to a run
with another number. NumPy backend only (a GPU runs one process).

Threads inside BLAS are set here too, through threadpoolctl: every process uses one BLAS thread
by default. The models' matrix products are small (a (32, 229) × (229, 400) LSTM gate product
at batch 32), so a second BLAS thread gains little on an idle machine, and when another process
holds a core OpenBLAS's spinning threads wait on it: measured, the whole run then slows to
0.15–0.2×. The cores are used by worker processes instead (`default_workers`).
"""
import multiprocessing as mp
import os
import signal

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

SPLIT_AT = 32   # the smallest batch that `default_workers` splits: a part of 16 or more sequences


def usable_cores():
    """The cores this process may run on (its CPU affinity, which a scheduler may restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                # not on Linux
        return os.cpu_count() or 1


def default_workers(batch_size, backend_name="numpy"):
    """Worker processes for a batch: one per core, as long as each part keeps at least
    SPLIT_AT // 2 sequences; one process on the GPU or for a small batch (measured on 2 cores:
    two processes gave 1.3× (NTM) and 1.5× (LSTM) at batch 32, in README.md)."""
    if backend_name != "numpy" or batch_size < SPLIT_AT:
        return 1
    return max(1, min(usable_cores(), batch_size // (SPLIT_AT // 2)))


def set_blas_threads(n):
    """Limit every BLAS library loaded in this process to n threads (workers forked later
    inherit it). Returns what is loaded, as 'openblas 0.3.x: 1 thread(s)'."""
    threadpool_limits(limits=n, user_api="blas")
    found = [f"{i['internal_api']} {i.get('version') or ''}".strip() + f": {i['num_threads']} "
             f"thread(s)" for i in threadpool_info() if i["user_api"] == "blas"]
    return ", ".join(found) or "no BLAS library found"


def _shared_views(template, count):
    """`count` dicts of arrays shaped like `template`, each in its own block of shared memory."""
    views = []
    for _ in range(count):
        dtype = next(iter(template.values())).dtype
        total = sum(v.size for v in template.values())
        flat = np.frombuffer(mp.RawArray("b", total * dtype.itemsize), dtype=dtype)
        out, offset = {}, 0
        for key in sorted(template):
            n = template[key].size
            out[key] = flat[offset:offset + n].reshape(template[key].shape)
            offset += n
        views.append(out)
    return views


def one_part(task, model, params, batch):
    """Forward, loss and backward for one batch: (loss, grads, metrics), means per sequence."""
    logits, cache = model.forward_batch(params, batch)
    loss, dlogits, metrics = task.loss(logits, batch)
    loss = add_penalty(model, cache, batch, loss, metrics)
    return loss, model.backward(dlogits, cache), metrics


def add_penalty(model, cache, batch, loss, metrics):
    """A model's own term of the loss (ACT's τ·ponder cost), whose gradient its backward adds;
    its metrics join the task's. Returns the whole loss."""
    if getattr(model, "penalty", None) is None:
        return loss
    value, extra = model.penalty(cache, batch)
    metrics.update(extra)
    return loss + value


def loss_and_grads(task, model, params, batch, group=None):
    """One step's (loss, grads, metrics): in this process, or shared out by a WorkerGroup."""
    if group is None:
        return one_part(task, model, params, batch)
    return group.loss_and_grads(batch)


PARENT_CHECK = 0.5   # seconds between a waiting worker's checks that its parent still lives


def _serve(conn, task, model, params, grads_out, parent):
    """A worker: compute each part it is sent, until it is sent None. Ctrl-C reaches the whole
    process group; the worker ignores it and lets the main process shut it down. A worker
    whose parent is gone (killed, out of memory, ended by a scheduler) ends too: it holds a
    copy of the parent's end of its pipe, so it would otherwise wait forever. `parent` is the
    parent's pid as the parent gave it: read here instead, it would be the new parent's if the
    parent died before the worker started."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != parent:                           # gone already
        os._exit(0)
    while True:
        while not conn.poll(PARENT_CHECK):
            if os.getppid() != parent:
                os._exit(0)
        part = conn.recv()
        if part is None:
            return
        part, where = part
        if where is not None:                 # (step, seed, part): a model that follows it
            model.at_step(*where)
        try:
            loss, grads, metrics = one_part(task, model, params, part)
            for key, g in grads.items():
                grads_out[key][...] = g
            conn.send((float(loss), {k: float(v) for k, v in metrics.items()}))
        except Exception as exc:                          # report it (as itself), keep serving
            conn.send(exc)


def _split(batch, k):
    """k parts of a batch. Its fields are time-major (T, B, ...) or (B,), unless the batch
    names those that are batch-major (B, ...) in `batch_first`."""
    B = batch.x.shape[1]
    bounds = [B * i // k for i in range(k + 1)]
    first = getattr(batch, "batch_first", ())
    cut = lambda name, a, lo, hi: a[lo:hi] if a.ndim == 1 or name in first else a[:, lo:hi]
    parts = [type(batch)(**{name: cut(name, a, lo, hi) for name, a in vars(batch).items()})
             for lo, hi in zip(bounds[:-1], bounds[1:])]
    return parts, [(hi - lo) / B for lo, hi in zip(bounds[:-1], bounds[1:])]


class WorkerGroup:
    def __init__(self, task, model, params, workers):
        if workers < 2:
            raise ValueError("a worker group needs at least 2 workers")
        if not all(isinstance(v, np.ndarray) for v in params.values()):
            raise ValueError("worker processes share NumPy arrays; a GPU run uses one process")
        self.task, self.model, self.params, self.workers = task, model, params, workers
        shared = _shared_views(params, 1)[0]
        for key in params:                                # the parameters now live in shared memory
            shared[key][...] = params[key]
            params[key] = shared[key]
        self.grads = _shared_views(params, workers - 1)
        ctx = mp.get_context("fork")
        self.conns, self.procs = [], []
        for i in range(workers - 1):
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_serve, daemon=True,
                               args=(there, task, model, params, self.grads[i], os.getpid()))
            proc.start()
            there.close()
            self.conns.append(here)
            self.procs.append(proc)

    def loss_and_grads(self, batch):
        k = min(self.workers, batch.x.shape[1])
        parts, weights = _split(batch, k)
        follows = hasattr(self.model, "at_step")        # the step, the seed, and its part
        for i, (conn, part) in enumerate(zip(self.conns, parts[1:]), start=1):
            conn.send((part, (self.model.step, self.model.seed, i) if follows else None))
        replies, error = [], None
        try:
            mine = one_part(self.task, self.model, self.params, parts[0])
        except Exception as exc:
            mine, error = None, exc
        for conn in self.conns[:k - 1]:                   # every reply is read, even after an
            try:                                          # error, so the pipes stay in step
                replies.append(conn.recv())
            except EOFError:
                replies.append(RuntimeError("a worker process died"))
        error = error or next((r for r in replies if isinstance(r, Exception)), None)
        if error is not None:
            raise error
        loss, grads, metrics = mine
        loss = weights[0] * loss
        grads = {key: weights[0] * g for key, g in grads.items()}
        metrics = {key: weights[0] * v for key, v in metrics.items()}
        for i, ((part_loss, part_metrics), w) in enumerate(zip(replies, weights[1:])):
            loss = loss + w * part_loss
            for key in grads:
                grads[key] += w * self.grads[i][key]
            for key in metrics:
                metrics[key] = metrics[key] + w * part_metrics[key]
        return loss, grads, metrics

    def close(self):
        for conn in self.conns:
            try:
                conn.send(None)
                conn.close()
            except (OSError, BrokenPipeError):
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
