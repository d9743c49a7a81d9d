"""The one training loop every task uses.

    for each step: sample a batch (host RNG) -> model.forward_batch -> task.loss -> model.backward
                   -> optimiser.step (clipping inside)
    every eval_every steps: evaluate on fresh sequences, log, checkpoint (atomically)

Determinism: the parameters come from default_rng(seed), the training data from
default_rng([seed, 1]) and each evaluation from default_rng([seed, 2, step]), all on the host.
A checkpoint saves the data RNG's state with the parameters and the optimiser's slots, so a run
resumed from it continues exactly as the uninterrupted run would have (same losses, bit for bit,
and the same log lines: the partly summed log window is saved too). A step logged twice (after a
crash, the steps since the last checkpoint are trained and logged again) is read from its last line.

The metrics log is JSON lines, appended to and flushed line by line:
    {"kind": "train", "step", "seqs", "loss", <task metrics>, "wall"}   means over the log_every
                                                     steps ending at a multiple of log_every
    {"kind": "eval",  "step", "seqs", "loss", <task metrics>, "wall"}   on fresh sequences
    {"kind": "event", "event": "start" | "resume" | "solved" | "lr_drop" | "nan" | "done", "step", ...}
"""
import json
import math
import os
import sys
import time
import zlib
from dataclasses import asdict, dataclass

import numpy as np

from . import backend
from .checkpoint import is_model_file, save_checkpoint
from .parallel import WorkerGroup, add_penalty, loss_and_grads

DTYPES = {"float32": np.float32, "float64": np.float64}


class TrainingError(Exception):
    """Training cannot go on (for example the loss became NaN); the message says what was kept."""


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 32
    seed: int = 0
    eval_every: int = 100
    eval_size: int = 256        # fresh sequences per evaluation
    log_every: int = 10         # a "train" log line every this many steps
    stop_below: float = None    # stop once the evaluation metric falls below this (None: never)
    dtype: str = "float32"
    workers: int = 1            # processes sharing each batch (parallel.py; NumPy only)
    grad_noise: float = 0.0     # η: Gaussian noise of variance η/(1 + t)^0.55 on every gradient
    lr_drop_below: float = None  # once an evaluation's metric is below this, the learning rate
    lr_drop: float = 0.1         # is multiplied by lr_drop, once (None: never)
    keep_best: bool = False      # also keep the model of the lowest evaluation so far, as a
                                 # model file beside the checkpoint (best_path)


def best_path(checkpoint_path):
    """Where --keep-best keeps the model of a run's lowest evaluation: RUN.best.npz."""
    return os.path.splitext(checkpoint_path)[0] + ".best.npz"


def log_path_of(path):
    """The metrics log of a checkpoint or model file: RUN.jsonl beside RUN.npz; for the model
    that --keep-best keeps (RUN.best.npz, which has no log of its own), its run's RUN.jsonl."""
    root = os.path.splitext(path)[0]
    if root.endswith(".best") and not os.path.exists(root + ".jsonl"):
        root = root[:-len(".best")]
    return root + ".jsonl"


def batch_to_device(batch, dtype):
    """The batch's arrays on the active backend; floating ones cast to dtype, tokens and masks
    of integers or booleans kept as they are."""
    return type(batch)(**{k: backend.to_device(v, dtype if np.issubdtype(np.asarray(v).dtype,
                                                                         np.floating) else None)
                          for k, v in vars(batch).items()})


def evaluate(task, model, params, rng, n, batch_size=64, **sample_kwargs):
    """Mean loss and metrics per sequence over n fresh sequences (drawn as `task.eval_kwargs`
    says, e.g. from held-out data, then as `sample_kwargs` say). Returns a dict of floats.
    A model that reports its attention (aux["alpha"]) on a task that knows the right alignment
    adds `align_error` (task.alignment_error); a task that can check a program (table-qa) adds
    `own_program`, the % of programs that are the question's own (task.program_check)."""
    sample_kwargs = {**task.eval_kwargs, **sample_kwargs}
    dtype = params[next(iter(params))].dtype
    totals, seen = {}, 0
    while seen < n:
        b = min(batch_size, n - seen)
        batch = batch_to_device(task.sample(rng, b, **sample_kwargs), dtype)
        logits, aux = model.forward_batch(params, batch, train=False)
        loss, _, metrics = task.loss(logits, batch)
        loss = add_penalty(model, aux, batch, loss, metrics)
        if isinstance(aux, dict) and aux.get("alpha") is not None \
                and hasattr(task, "alignment_error"):
            metrics["align_error"] = task.alignment_error(aux["alpha"], batch)
        if hasattr(task, "program_check"):
            metrics["own_program"] = task.program_check(model, params, batch, rng)
        for k, v in dict(metrics, loss=loss).items():
            totals[k] = totals.get(k, 0.0) + backend.scalar(v) * b
        seen += b
    return {k: v / n for k, v in totals.items()}


def data_key(value):
    """The integer that seeds a row's test sequences (with --seed) in `run.py eval` and
    `run.py compare`: the setting itself if it is a whole number, else its text's CRC-32
    (None, the training distribution: 0)."""
    if value is None:
        return 0
    return value if isinstance(value, int) else zlib.crc32(str(value).encode())


def shown_metrics(task, metrics):
    """What a progress line shows: the task's `report`, then any other metric it was given
    (ACT's ponder cost, the attention's alignment error), never the loss."""
    rest = [k for k in metrics if k not in task.report and k not in ("loss", "step", "seqs",
                                                                       "wall", "kind")]
    return [k for k in task.report if k in metrics] + rest


def add_gradient_noise(grads, eta, seed, step):
    """g ← g + N(0, η/(1 + t)^0.55) (Neelakantan et al. 2015, arXiv 1511.06807; the Neural
    Programmer paper trains with it). The noise of step t comes from default_rng([seed, 3, t])
    on the host, so a resumed run adds the same noise as the uninterrupted one."""
    rng = np.random.default_rng([seed, 3, step])
    std = math.sqrt(eta / (1.0 + step) ** 0.55)
    for key in sorted(grads):
        g = grads[key]
        noise = rng.standard_normal(g.shape).astype(g.dtype)
        grads[key] = g + std * backend.to_device(noise)


def read_log_records(log_path):
    """Every record of a metrics log, in order. A line that is not whole JSON (the last line of
    a run stopped mid-write, on a full disk) is skipped: the lines before it are whole."""
    records = []
    with open(log_path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def _open_log(log_path):
    """The log, opened to append one line at a time; a torn last line is ended first, so that
    the next record starts a line of its own."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    torn = False
    if os.path.exists(log_path) and os.path.getsize(log_path) > 0:
        with open(log_path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    log = open(log_path, "a", buffering=1)
    if torn:
        log.write("\n")
    return log


def _fmt_time(seconds):
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _all_finite(params):
    xp = backend.xp()
    return all(bool(xp.isfinite(p).all()) for p in params.values())


def train(task, model, optimizer, cfg, checkpoint_path, log_path, resume=None, out=None):
    """Train `model` on `task`; returns a summary dict.

    resume: None for a fresh run, else (params, optim_state, meta) from load_checkpoint.
    Raises TrainingError if the loss or the parameters stop being finite; the last good
    checkpoint is kept, and the message names it.
    """
    out = sys.stdout if out is None else out
    dtype = DTYPES[cfg.dtype]
    if resume is None:
        params = backend.to_device(model.init_params(np.random.default_rng(cfg.seed), dtype))
        rng = np.random.default_rng([cfg.seed, 1])
        step, seqs, wall0, window = 0, 0, 0.0, {}
    else:
        host_params, optim_state, meta = resume
        params = backend.to_device(host_params, dtype)
        optimizer.load_state_dict(optim_state, lambda a: backend.to_device(a, dtype))
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng_state"]
        step, seqs, wall0 = meta["step"], meta["seqs"], meta["wall"]
        window = meta.get("log_window", {})             # the log line in progress
    dropped = {"step": resume[2].get("lr_dropped_at") if resume else None}   # lr_drop_below
    best = dict(resume[2].get("best") or {}) if resume else {}       # keep_best: step, metric
    if cfg.keep_best:
        kept = best_path(checkpoint_path)
        if os.path.exists(kept) and not is_model_file(kept):
            raise TrainingError(f"{kept} exists and is not a model file; --keep-best would "
                                f"replace it (move it, or choose another --checkpoint)")
        if not os.path.exists(kept):
            best = {}                   # a run continued under another name, or a file removed
    t0 = time.monotonic()
    wall = lambda: wall0 + time.monotonic() - t0
    last_good = {"step": step if resume else None}
    result = {"solved": False, "eval": None}

    def stop(what):
        write({"kind": "event", "event": "nan", "step": step, "wall": wall()})
        if last_good["step"] is None:                   # the untrained model itself failed
            raise TrainingError(f"{what}; training stopped before any checkpoint was written")
        raise TrainingError(f"{what}; training stopped and the last good checkpoint "
                            f"(step {last_good['step']}) is kept at {checkpoint_path}")

    def run_meta(extra):
        meta = {"task": task.name, "task_config": task.config,
                "model": model.name, "model_config": model.config,
                "optimizer": optimizer.config(), "train": asdict(cfg),
                "step": step, "seqs": seqs, "wall": wall(), "backend": backend.name(),
                "rng_state": rng.bit_generator.state,
                "log_window": {k: backend.scalar(v) for k, v in window.items()}}
        meta.update(extra)
        return meta

    def checkpoint(extra):
        """(Only once the parameters are known to be finite: evaluate_and_checkpoint.)"""
        save_checkpoint(checkpoint_path, params, optimizer.state_dict(), run_meta(extra))
        last_good["step"] = step

    def keep_if_best(ev):
        """--keep-best: the model of an evaluation lower than every one before, as a model file
        (what `run.py export` writes), the step and value recorded for a resumed run. (Finite
        parameters only: checked before, or loaded from a checkpoint, which holds no other.)"""
        if not cfg.keep_best or (best and ev[task.metric] >= best["value"]):
            return
        best.update(step=step, seqs=seqs, value=ev[task.metric])
        save_checkpoint(best_path(checkpoint_path), params, {},
                        run_meta({"eval": ev, "lr_dropped_at": dropped["step"], "best": best,
                                  "model_only": True, "stored": cfg.dtype}))

    def evaluate_and_checkpoint():
        """Evaluate on fresh sequences, log, checkpoint; returns the progress line's part."""
        ev = evaluate(task, model, params, np.random.default_rng([cfg.seed, 2, step]),
                      cfg.eval_size)
        if not math.isfinite(ev["loss"]):
            stop(f"the evaluation loss became {ev['loss']} at step {step}")
        write({"kind": "eval", "step": step, "seqs": seqs, **ev, "wall": wall()})
        result["eval"] = ev
        if cfg.lr_drop_below is not None and dropped["step"] is None \
                and ev[task.metric] < cfg.lr_drop_below:     # the checkpoint keeps the new rate
            optimizer.lr *= cfg.lr_drop
            dropped["step"] = step
            write({"kind": "event", "event": "lr_drop", "step": step, "seqs": seqs,
                   "lr": optimizer.lr, "wall": wall(), task.metric: ev[task.metric]})
        if not _all_finite(params):                     # never replace a good one with NaN
            stop(f"the parameters stopped being finite by step {step}")
        keep_if_best(ev)
        checkpoint({"eval": ev, "lr_dropped_at": dropped["step"], "best": best or None})
        if cfg.stop_below is not None and ev[task.metric] < cfg.stop_below:
            result["solved"] = True
            write({"kind": "event", "event": "solved", "step": step, "seqs": seqs,
                   "wall": wall(), task.metric: ev[task.metric]})
        return "eval " + " ".join(f"{k} {ev[k]:.3f}" for k in shown_metrics(task, ev))

    log = _open_log(log_path)
    write = lambda record: log.write(json.dumps(record) + "\n")
    try:
        write({"kind": "event", "event": "resume" if resume else "start", "step": step,
               "task": task.name, "model": model.name, "config": asdict(cfg),
               "optimizer": optimizer.config(), "backend": backend.name()})
        print(f"{task.name}/{model.name}: training steps {step + 1}..{cfg.steps}, batch "
              f"{cfg.batch_size}, {optimizer.name} lr {optimizer.lr:g}, backend "
              f"{backend.name()}, {cfg.workers} process(es); log {log_path}", file=out, flush=True)
        if resume is None:                              # step 0: the untrained baseline, and a
            print(f"step 0  {evaluate_and_checkpoint()}", file=out, flush=True)  # first checkpoint
        elif not best and resume[2].get("eval"):        # --keep-best from here: the model it
            keep_if_best(resume[2]["eval"])             # resumes from is the first candidate
    except BaseException:
        log.close()
        if resume is None and last_good["step"] is None:
            os.unlink(log_path)                         # a fresh run that never started: no trace
        raise

    group = WorkerGroup(task, model, params, cfg.workers) if cfg.workers > 1 else None
    train_line = None
    last_print = time.monotonic()
    rate_mark = (time.monotonic(), seqs)
    try:
        while step < cfg.steps and not result["solved"]:
            batch = batch_to_device(task.sample(rng, cfg.batch_size, **task.training_kwargs(seqs)),
                                    dtype)
            if hasattr(model, "at_step"):          # a schedule (entropy) or noise (Gumbel)
                model.at_step(step, cfg.seed)
            loss, grads, metrics = loss_and_grads(task, model, params, batch, group)
            if cfg.grad_noise > 0:
                add_gradient_noise(grads, cfg.grad_noise, cfg.seed, step)
            optimizer.step(params, grads)
            step += 1
            seqs += cfg.batch_size

            # a train line averages the steps since the last multiple of log_every; the loss and
            # metrics stay on the device until then, so a GPU step loop never waits on the host
            for k, v in dict(metrics, loss=loss).items():
                window[k] = window.get(k, 0.0) + v
            window["n"] = window.get("n", 0) + 1
            if step % cfg.log_every == 0:
                n = window.pop("n")
                train_line = {k: backend.scalar(v) / n for k, v in window.items()}
                if not math.isfinite(train_line["loss"]):  # checked once a line; no checkpoint
                    where = f"at step {step}" if n == 1 else f"in steps {step - n + 1}..{step}"
                    stop(f"the loss became {train_line['loss']} {where}")   # is written after it
                write({"kind": "train", "step": step, "seqs": seqs, **train_line, "wall": wall()})
                window = {}

            is_eval = step % cfg.eval_every == 0 or step == cfg.steps
            if is_eval or time.monotonic() - last_print > 10:
                now = time.monotonic()
                rate = (seqs - rate_mark[1]) / max(1e-9, now - rate_mark[0])
                rate_mark = (now, seqs)
                eta = (cfg.steps - step) * cfg.batch_size / max(rate, 1e-9)
                parts = [f"step {step}/{cfg.steps}", f"seqs {seqs:,}"]
                if train_line:                           # only a mean not shown before
                    parts.append("train " + " ".join(f"{k} {train_line[k]:.2f}"
                                                     for k in shown_metrics(task, train_line)))
                    train_line = None
                if is_eval:
                    parts.append(evaluate_and_checkpoint())
                parts.append(f"{rate:,.1f} seq/s  ETA {_fmt_time(eta)}")
                print("  ".join(parts), file=out, flush=True)
                last_print = now
        if result["solved"]:
            print(f"solved: eval {task.metric} {result['eval'][task.metric]:.3f} < "
                  f"{cfg.stop_below} after {seqs:,} sequences, {_fmt_time(wall())}",
                  file=out, flush=True)
        write({"kind": "event", "event": "done", "step": step, "seqs": seqs, "wall": wall()})
    finally:
        log.close()
        if group is not None:
            group.close()
    result.update(step=step, seqs=seqs, wall=wall(), checkpoint=checkpoint_path, log=log_path,
                  last_checkpoint_step=last_good["step"], best=best or None)
    return result
