"""Train one ACT task for several τ and seeds at once, one process per core, then compare them.

    python run.py sweep parity --taus 0.001,0.01,0.1 --seeds 0,1,2 [--bits 16 --steps 5000 ...]

runs `run.py parity --tau T --seed S --checkpoint DIR/tauT-seedS.npz [flags]` for every pair,
plus the no-ACT baseline (`--max-ponder 1`) for every seed, `--jobs` at a time (default: the
machine's cores), each one process with one BLAS thread and its own log beside its checkpoint.
A run whose checkpoint already holds all its steps is not trained again, and one that stopped
part way is resumed, so a sweep cut short continues where it was. Then every checkpoint is evaluated on the
same fresh sequences, the table is printed and saved (DIR/summary.json), and the figures are
drawn: the task's metric against τ with the baseline (ACT paper Fig. 4), and ponder time against
difficulty for each τ (Fig. 6).
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from .checkpoint import CheckpointError, load_checkpoint
from .train import read_log_records

BASELINE = "none"


def run_name(tau, seed):
    return f"tau{tau!r}-seed{seed}" if tau != BASELINE else f"noact-seed{seed}"   # τ exactly


RUN_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run.py")


def _command(task, tau, seed, path, extra):
    cmd = [sys.executable, RUN_PY, task, "--seed", str(seed), "--checkpoint", path, *extra]
    if not any(a == "--workers" or a.startswith("--workers=") for a in extra):
        cmd += ["--workers", "1"]                   # the runs themselves share the cores
    cmd += ["--max-ponder", "1"] if tau == BASELINE else ["--tau", repr(tau)]
    return cmd


def _end_with_parent():
    """Run in each training process before it starts (Linux): ask the kernel to send it SIGTERM
    when the sweep ends, however the sweep ends (Ctrl-C, SIGTERM, kill -9, a scheduler). A
    training ended so keeps its last checkpoint, and the sweep started again resumes it."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):                                 # not Linux: no such call
        pass


def _solved(path):
    """Whether the run's log says it stopped early because it was solved (--stop-below)."""
    try:
        records = read_log_records(os.path.splitext(path)[0] + ".jsonl")
        return any(r.get("event") == "solved" for r in records)
    except (OSError, ValueError):
        return False


def _needs(path, steps):
    """'train', 'resume' or 'done' for a run's checkpoint (a damaged one is an error: the run
    would refuse to overwrite it)."""
    if not os.path.exists(path):
        return "train"
    meta = load_checkpoint(path)[2]                  # raises CheckpointError, one line
    return "done" if meta["step"] >= steps or _solved(path) else "resume"


def run_all(task, taus, seeds, extra, out_dir, jobs, steps, log=sys.stdout):
    """Train every (τ, seed) and the baselines, `jobs` at a time. Returns {name: exit status}
    (0 for a run already trained)."""
    os.makedirs(out_dir, exist_ok=True)
    queue, status = [], {}
    for seed in seeds:
        for tau in [*taus, BASELINE]:
            path = os.path.join(out_dir, run_name(tau, seed) + ".npz")
            state = _needs(path, steps)
            if state == "done":
                print(f"{run_name(tau, seed)}: already trained", file=log, flush=True)
                status[run_name(tau, seed)] = 0
                continue
            cmd = _command(task, tau, seed, path, extra)
            if state == "resume":
                cmd = [c for c in cmd if c != path and c != "--checkpoint"] + ["--resume", path]
            queue.append((run_name(tau, seed), cmd, path))
    running = []
    while queue or running:
        while queue and len(running) < jobs:
            name, cmd, path = queue.pop(0)
            out = open(os.path.splitext(path)[0] + ".out", "a")
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    preexec_fn=_end_with_parent)
            running.append((name, proc, out, time.monotonic()))
            print(f"{name}: started ({' '.join(cmd[1:])})", file=log, flush=True)
        time.sleep(0.5)
        for item in list(running):
            name, proc, out, start = item
            if proc.poll() is not None:
                out.close()
                running.remove(item)
                status[name] = proc.returncode
                print(f"{name}: exit {proc.returncode} after {time.monotonic() - start:.0f} s",
                      file=log, flush=True)
    return status


def evaluate_all(task_name, taus, seeds, out_dir, count, load, status):
    """Every finished run's metric and ponder (the runs of one seed on the same fresh
    sequences): a list of rows, and {path: the loaded run}. Runs that failed (status ≠ 0) are
    left out."""
    from .train import evaluate
    rows, loaded = [], {}
    for seed in seeds:
        for tau in [*taus, BASELINE]:
            path = os.path.join(out_dir, run_name(tau, seed) + ".npz")
            if status.get(run_name(tau, seed)) != 0:
                continue
            loaded[path] = task, model, params, meta = load(path, task_name)
            ev = evaluate(task, model, params, np.random.default_rng([99, seed]), count)
            rows.append({"tau": tau, "seed": seed, "path": path, "seqs": meta["seqs"],
                         "step": meta["step"], "metric": task.metric, task.metric: ev[task.metric],
                         "ponder": ev.get("ponder"), "ponder_steps": ev.get("ponder_steps")})
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return rows, loaded
