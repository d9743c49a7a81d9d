"""Sweeps: train one task over a grid of settings and seeds on Dask distributed, then compare.

    python run.py sweep TASK --seeds 0,1,2 --grid lr=0.001,0.003 --grid tau=0.001,0.01 [flags]

Every point of the product of the grids is trained once per seed: `run.py TASK --lr 0.001 --tau
0.01 --seed S --checkpoint DIR/lr0.001-tau0.01-seedS.npz [flags]`, each run in its own process
with one BLAS thread, its log beside its checkpoint (.jsonl) and its printed output too (.out).
For an ACT task with τ on the grid, the no-ACT baseline (`--max-ponder 1`, named `noact`) is
trained beside it for each seed.

The runs are Dask tasks. By default the sweep starts a local cluster of one worker per core
(threads of this process: each only starts and watches its training's process);
`--scheduler tcp://HOST:PORT` sends them to a running cluster instead. A Dask task decides when
it starts whether its run is new, to be resumed, or already trained, so

- a worker lost mid-run: Dask gives the task to another worker, which resumes the run from its
  last checkpoint (the training's process dies with its worker: the kernel ends it);
- a sweep interrupted and started again trains only what is missing;
- a run that fails is reported with its one-line error, and the others go on;
- Ctrl-C or SIGTERM cancels the sweep's tasks, and each task ends its training (locally and on a
  cluster); every run keeps its last checkpoint.

`--halving` is successive halving: every configuration trains for steps/η², the best 1/η of
them (their mean metric over seeds, on fresh sequences) go on to steps/η, and the best 1/η of
those to the full steps (the no-ACT baselines, a reference, always go on). The summary says
where the others were stopped.

Then every run is evaluated on the same fresh sequences per seed (`evaluate_run`, also a Dask
task), and the table (configurations best first: mean and spread over seeds, best checkpoint),
DIR/summary.json and the figures are written.
"""
import contextlib
import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np

BASELINE = "none"                                   # τ of the no-ACT baseline runs
RUN_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run.py")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9._+-]+$")      # values become parts of file names
POLL = 0.25                                         # seconds between a task's looks at its run


# ----------------------------------------------------------------------------- the plan
def parse_grid(items):
    """['lr=0.001,0.003', 'tau=0.01'] -> {'lr': ['0.001', '0.003'], 'tau': ['0.01']}, in the
    order given. Raises ValueError with the reason."""
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().lstrip("-").replace("_", "-")
        if not sep or not key:
            raise ValueError(f"--grid {item!r}: expected KEY=V1,V2,... (e.g. lr=0.001,0.003)")
        if key in grid:
            raise ValueError(f"--grid {key} is given twice")
        texts = [_canonical(v.strip()) for v in values.split(",") if v.strip()]
        if not texts:
            raise ValueError(f"--grid {item!r}: no values")
        if len(set(texts)) < len(texts):
            raise ValueError(f"--grid {key}: a value is given twice")
        bad = [v for v in texts if not SAFE_VALUE.match(v)]
        if bad:
            raise ValueError(f"--grid {key}: {bad[0]!r} cannot be part of a file name "
                             f"(letters, digits and . _ + - only)")
        grid[key] = texts
    return grid


def _canonical(text):
    """A value as it is named and passed: 1e-3 and 0.001 are both '0.001'; words stay words."""
    try:
        return str(int(text))
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return repr(value) if math.isfinite(value) else text


def run_name(config, seed):
    """'lr0.001-tau0.01-seed0'; the baseline's τ reads 'noact' ('noact-seed0')."""
    parts = ["noact" if k == "tau" and v == BASELINE else f"{k}{v}" for k, v in config.items()]
    return "-".join([*parts, f"seed{seed}"])


def config_name(config):
    return " ".join("no ACT" if k == "tau" and v == BASELINE else f"{k}={v}"
                    for k, v in config.items()) or "(defaults)"


def plan(grid, seeds, act_baseline):
    """The configurations (dicts, in grid order) and, for an ACT task with τ on the grid, the
    no-ACT baseline of each combination of the other axes."""
    configs = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    if act_baseline:
        seen = []
        for c in configs:
            base = {**c, "tau": BASELINE}
            if base not in seen and base not in configs:     # (`--grid tau=...,none`)
                seen.append(base)
        configs += seen
    return configs


def run_argv(task, config, seed, extra):
    """The training flags of a new run (without --checkpoint)."""
    argv = [task, *extra, "--seed", str(seed)]
    for key, value in config.items():
        argv += ["--max-ponder", "1"] if key == "tau" and value == BASELINE else \
            [f"--{key}", value]
    if not any(a == "--workers" or a.startswith("--workers=") for a in argv):
        argv += ["--workers", "1"]                   # the runs themselves share the cores
    return argv


def rung_steps(steps, eta, rungs):
    """The step counts at which successive halving compares the runs, the last `steps`."""
    return [max(1, round(steps / eta ** k)) for k in reversed(range(rungs))]


# ----------------------------------------------------------------------------- on a worker
try:                                      # resolved here, once: the child after fork only calls
    import ctypes                         # it (no import or dlopen in a forked threaded process)
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):         # not Linux: no such call
    _PRCTL = None


def _end_with_parent():
    """Run in each training process before it starts (Linux): ask the kernel to send it SIGTERM
    when the thread that started it ends, however it ends (a worker lost, Ctrl-C, kill -9). A
    training ended so keeps its last checkpoint, and the run is resumed from it."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)                                       # 1: PR_SET_PDEATHSIG


RUNTIME_FLAGS = ("--steps", "--workers", "--threads", "--backend")   # free to differ on resume


def identity(argv):
    """A run's flags without those a resume may change: what makes it the same run."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in RUNTIME_FLAGS:
            skip = True
        elif not a.startswith(tuple(f + "=" for f in RUNTIME_FLAGS)):
            out.append(a)
    return out


def _as_dict(argv):
    """['copy', '--lr', '0.1', '--no-stop'] -> {'': 'copy', '--lr': '0.1', '--no-stop': ''}."""
    out, key = {}, ""
    for a in argv:
        if a.startswith("--"):
            key, _, value = a.partition("=")
            out[key] = value
        else:
            out[key] = (out.get(key, "") + " " + a).strip()
    return out


def _flags_path(path):
    return os.path.splitext(path)[0] + ".flags.json"


def _state(path, steps, argv):
    """'train', 'resume' or 'done' for a run's checkpoint; raises CheckpointError (one line),
    also when the run there was started with other flags than this sweep's."""
    from .checkpoint import CheckpointError, load_checkpoint
    from .train import read_log_records
    if not os.path.exists(path):
        return "train"
    meta = load_checkpoint(path)[2]
    try:
        with open(_flags_path(path)) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        saved = None                              # a run this sweep did not start: trust it
    if saved is not None and saved != identity(argv):
        before, now = _as_dict(saved), _as_dict(identity(argv))
        changed = [f"{k} {before.get(k, '(not given)')}, now {now.get(k, '(not given)')}"
                   for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
        raise CheckpointError(f"{path} was started with other flags ({'; '.join(changed[:4])}); "
                              f"give the sweep another --dir")
    if meta["step"] >= steps:
        return "done"
    try:
        records = read_log_records(os.path.splitext(path)[0] + ".jsonl")
    except (OSError, ValueError):
        records = []
    return "done" if any(r.get("event") == "solved" for r in records) else "resume"


def _last_error(out_path, offset, returncode):
    """The one-line error a failed run printed in this attempt (run.py's own, else its last
    line), with how it ended when it printed none of its own."""
    try:
        with open(out_path, errors="replace") as f:
            f.seek(offset)
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        lines = []
    ours = [line for line in lines if line.startswith("run.py:")]
    if ours:
        return ours[-1][:300]
    how = (f"killed by {signal.Signals(-returncode).name}" if returncode < 0
           else f"exit status {returncode}")
    return f"{how}" + (f"; its last line: {lines[-1][:200]}" if lines else "")


LOCK_WAIT = 30.0      # seconds a resumed run waits for the training of a lost worker to end


def train_run(argv, resume_argv, path, steps):
    """A Dask task: bring the run whose checkpoint is `path` to `steps` steps, in its own
    process: a new run with the flags `argv`; a run to continue with `resume_argv` only (the
    run's own settings come from its checkpoint, as they were: a learning rate it dropped
    stays dropped). Returns {'status': 'trained' | 'done' | 'failed' | 'ended', 'failure',
    'seconds'}; 'ended' when the task was cancelled (its training stopped). A worker that is
    closing stops its training and asks Dask to run the task elsewhere (Reschedule)."""
    from distributed import Reschedule, get_worker
    from .checkpoint import CheckpointError
    start = time.monotonic()
    try:
        state = _state(path, steps, argv)
    except CheckpointError as exc:
        return {"status": "failed", "failure": " ".join(str(exc).split()), "seconds": 0.0}
    if state == "done":
        return {"status": "done", "failure": None, "seconds": 0.0}
    if state == "train":
        with open(_flags_path(path), "w") as f:
            json.dump(identity(argv), f)
    where = [*resume_argv, "--resume", path] if state == "resume" else \
        [*argv, "--checkpoint", path]
    cmd = [sys.executable, RUN_PY, *where, "--steps", str(steps)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    out_path = os.path.splitext(path)[0] + ".out"
    worker = get_worker()
    key = worker.get_current_task()
    while True:
        with open(out_path, "a") as out:
            offset = out.tell()
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=os.path.dirname(RUN_PY), preexec_fn=_end_with_parent)
            while proc.poll() is None:
                task = worker.state.tasks.get(key)
                leaving = worker.status.name not in ("running", "paused")
                if leaving or task is None or task.state != "executing":
                    proc.terminate()                  # cancelled, or this worker is leaving
                    proc.wait()
                    if leaving:
                        raise Reschedule()
                    return {"status": "ended", "failure": None,
                            "seconds": time.monotonic() - start}
                time.sleep(POLL)
        if proc.returncode == 0:
            return {"status": "trained", "failure": None, "seconds": time.monotonic() - start}
        failure = _last_error(out_path, offset, proc.returncode)
        if "another process is training" in failure and time.monotonic() - start < LOCK_WAIT:
            time.sleep(1.0)                       # a lost worker's training, not yet ended
            continue
        return {"status": "failed", "failure": failure, "seconds": time.monotonic() - start}


def evaluate_run(path, task_name, count, seed):
    """A Dask task: a trained run's metrics on `count` fresh sequences, the same ones for every
    run of one seed. Returns {'failure': None or why the checkpoint cannot be read, 'eval':
    step, seqs and the metrics}."""
    from .checkpoint import CheckpointError
    from .cli import _load_trained
    from .train import evaluate
    try:
        task, model, params, meta = _load_trained(path, task_name)
    except CheckpointError as exc:
        return {"failure": " ".join(str(exc).split()), "eval": None}
    ev = evaluate(task, model, params, np.random.default_rng([99, seed]), count)
    return {"failure": None, "eval": {"step": meta["step"], "seqs": meta["seqs"], **ev}}


# ----------------------------------------------------------------------------- the client
def start_client(scheduler, jobs):
    """A Dask client: of the cluster at `scheduler`, or of a local cluster of `jobs` workers
    (threads of this process, one task each). Returns (client, cluster or None)."""
    import logging
    from distributed import Client, LocalCluster
    logging.getLogger("distributed").setLevel(logging.ERROR)   # its warnings are not ours
    if scheduler is not None:
        return Client(scheduler, timeout="20s"), None
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=False,
                           dashboard_address=":0")
    return Client(cluster), cluster


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """Within it, SIGTERM raises KeyboardInterrupt in the main thread, so that a sweep ends on
    it as on Ctrl-C (its tasks cancelled, each ending its training)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt()
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_sweep(client, runs, rungs, eta, task_name, metric, count, decisions, log=None):
    """Train every run, with successive halving over `rungs` rungs when there are more than
    one, and evaluate them. `runs`: dicts with name, config, seed, path, argv and steps (its
    full count; rung r trains it to rung_steps(steps, eta, rungs)[r]). Fills in each run's
    status ('trained', 'failed' or 'stopped'), failure (its one-line error), stopped_at and evaluation, and returns
    the runs. On Ctrl-C (or SIGTERM, within sigterm_as_ctrl_c) it cancels every task (each ends its training) and raises
    KeyboardInterrupt. `decisions` = (a JSON file, the sweep's context) keeps which
    configurations each halving kept, so that a sweep started again continues with them."""
    log = log or sys.stdout
    futures = []
    try:
        alive = list(runs)
        for r in range(rungs):
            futures = {}
            for run in alive:
                run["target"] = rung_steps(run["steps"], eta, rungs)[r]
                futures[client.submit(train_run, run["argv"], run["resume_argv"], run["path"],
                                      run["target"],
                                      pure=False, key=f"train-{run['name']}-{time.time_ns()}")] \
                    = run
            _collect(futures, lambda run, result: _trained(run, result, log), log)
            if r == rungs - 1:
                break
            alive = _halve(client, alive, eta, metric, task_name, count, decisions, r, log)
        futures = _evaluate(client, [run for run in runs if run["status"] == "trained"],
                            task_name, count, log)
    except KeyboardInterrupt:
        client.cancel(list(futures))                # each task ends its training
        time.sleep(2 * POLL)
        raise
    return runs


def _collect(futures, handle, log):
    """Call handle(run, result) for each future as it finishes; a run whose task could not
    finish on the cluster is marked failed."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker
    for future in as_completed(list(futures)):
        run = futures[future]
        try:
            result = future.result()
        except KilledWorker:
            run["status"], run["failure"] = "failed", "its worker died each time it ran it"
        except FutureCancelledError:
            run["status"], run["failure"] = "failed", "its task was cancelled on the cluster"
        except Exception as exc:          # from the cluster: e.g. it cannot import this package
            first = (str(exc).strip().splitlines() or [""])[0]
            if "deserializ" in first or isinstance(exc, ImportError):
                first = ("the scheduler or a worker cannot import this project: start them with "
                         "its folder on PYTHONPATH (see README.md, Sweeps)")
            run["status"], run["failure"] = "failed", f"{exc.__class__.__name__}: {first}"[:300]
        else:
            handle(run, result)
            continue
        run.pop("eval", None)
        print(f"{run['name']}: failed: {run['failure']}", file=log, flush=True)


def _trained(run, result, log):
    status = result["status"]
    run["status"] = "failed" if status in ("failed", "ended") else "trained"
    if run["status"] == "failed":
        run.pop("eval", None)                 # an earlier rung's evaluation no longer holds
    run["failure"] = result["failure"] if status != "ended" else "its task ended early"
    what = {"done": "already trained", "trained": f"trained in {result['seconds']:.0f} s",
            "failed": f"failed: {result['failure']}", "ended": "ended early"}[status]
    print(f"{run['name']}: {what} (to step {run['target']:,})", file=log, flush=True)


def _evaluate(client, runs, task_name, count, log):
    futures = {client.submit(evaluate_run, run["path"], task_name, count, run["seed"],
                             pure=False): run for run in runs}

    def store(run, result):
        if result["failure"] is not None:
            run["status"], run["failure"] = "failed", result["failure"]
            run.pop("eval", None)
        else:
            run["eval"] = result["eval"]
    _collect(futures, store, log)
    return futures


def config_stats(runs, metric):
    """Each configuration's runs, mean and spread (std over seeds) of the metric: those trained
    furthest first (halving's survivors before those it stopped), best first among them;
    configurations with no evaluated run last."""
    groups = {}
    for run in runs:
        groups.setdefault(json.dumps(run["config"]), []).append(run)
    stats = []
    for key, members in groups.items():
        values = [m["eval"][metric] for m in members if "eval" in m]
        best = min((m for m in members if "eval" in m), key=lambda m: m["eval"][metric],
                   default=None)
        steps = [m["eval"]["step"] for m in members if "eval" in m]
        stats.append({"config": json.loads(key), "runs": len(members), "evaluated": len(values),
                      "mean": float(np.mean(values)) if values else None,
                      "std": float(np.std(values)) if values else None,
                      "step": max(steps) if steps else None,       # the furthest, and
                      "least_step": min(steps) if steps else None,  # the earliest (a run stopped
                                                                    # by --stop-below)
                      "best": best["path"] if best else None,
                      "stopped_at": max((m.get("stopped_at") or 0 for m in members),
                                        default=0) or None})
    return sorted(stats, key=lambda s: (s["mean"] is None, s["stopped_at"] is not None,
                                        -(s["stopped_at"] or 0), s["mean"] or 0.0))


def _baseline(config):
    """The no-ACT baseline: a reference, which halving never stops."""
    return config.get("tau") == BASELINE


def _halve(client, alive, eta, metric, task_name, count, decisions, rung, log):
    """Keep the best ceil(n/η) configurations by their mean metric on fresh sequences; the runs
    of the others are marked stopped where they are (the no-ACT baselines, a reference, all go
    on). `decisions` = (path, context): the choice
    is written there with the sweep's context (its configurations, seeds, steps, η, rungs), and
    a sweep started again with the same context reuses it, so it continues the same runs. A
    choice made while some run had failed is not kept: it could differ once they are fixed."""
    path, context = decisions
    _evaluate(client, [run for run in alive if run["status"] != "failed"], task_name, count, log)
    stats = config_stats(alive, metric)
    ranked = [s for s in stats if s["mean"] is not None and not _baseline(s["config"])]
    try:
        with open(path) as f:
            kept = json.load(f)
    except (OSError, ValueError):
        kept = {}
    if not isinstance(kept, dict) or kept.get("context") != context:
        kept = {"context": context}
    keep = kept.get(str(rung))
    if not isinstance(keep, list) or not keep:
        keep = [json.dumps(s["config"]) for s in ranked[:max(1, math.ceil(len(ranked) / eta))]]
        if ranked and all(run["status"] != "failed" for run in alive):
            kept[str(rung)] = keep
            with open(path, "w") as f:
                json.dump(kept, f, indent=1)
    survivors = []
    for run in alive:
        if run["status"] == "failed":
            continue
        if json.dumps(run["config"]) in keep or _baseline(run["config"]):
            survivors.append(run)
        else:
            run["status"], run["stopped_at"] = "stopped", run["target"]
    print(f"halving: {len(set(keep))} of {len(ranked)} configuration(s) go on", file=log,
          flush=True)
    return survivors
