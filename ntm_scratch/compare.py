"""`run.py compare`: several trained models of one task on the same fresh sequences, as one
setting varies (copy's length, associative recall's items, ...), with runs that differ only in
their seed gathered into one line of the table and one curve of the figure.

    python run.py compare copy --checkpoints A.npz B.npz C.npz --lengths 10,50,100,200,400
        --count 32 --out figures/copy_length_limit.png --json results.json

Every model sees the very same sequences at each value (they are drawn once, from
default_rng([seed, value]), a text value by its CRC-32, as `run.py eval` draws them). A bit task's rows also give the share of the scored output bits
that are wrong, which is what makes different lengths comparable: 50% is chance.
"""
import inspect
import json
from dataclasses import asdict

import numpy as np

from . import backend
from .optim import OPTIMIZERS
from .train import TrainConfig, batch_to_device, data_key

SEED_KEYS = ("memory_seed",)          # model settings that only seed a run
NOT_THE_RUN = ("seed", "steps", "workers", "eval_every", "eval_size", "log_every", "stop_below",
               "keep_best")


def describe_run(run):
    """What identifies a run apart from its seed and its length: the model and all its settings
    (as rebuilt, so an option added since the run was saved shows its value), the training
    settings and the optimiser's, with the learning rate it started from. (The task's settings
    are the same for every run compared.)"""
    _, model, _, meta = run
    described = {"model": meta["model"]}
    described.update({f"model.{k}": v for k, v in model.config.items() if k not in SEED_KEYS})
    saved = {**asdict(TrainConfig()), **meta["train"]}  # a setting added since: its default
    train = {k: v for k, v in saved.items() if k not in NOT_THE_RUN}
    optimizer = dict(meta["optimizer"])
    if "eps" not in optimizer and optimizer.get("name") in OPTIMIZERS:   # saved before --eps:
        optimizer["eps"] = inspect.signature(                          # trained with its default
            OPTIMIZERS[optimizer["name"]]).parameters["eps"].default
    if meta.get("lr_dropped_at") is not None:           # the rate it started from
        optimizer["lr"] = optimizer["lr"] / train.get("lr_drop", 1.0)
    described.update({f"train.{k}": v for k, v in train.items()})
    described.update({f"optimizer.{k}": v for k, v in optimizer.items()})
    return described


def group_runs(runs):
    """Indices of runs with the same configuration, in first-seen order, and each group's label:
    the model's name and the settings in which the runs of that model differ."""
    described = [describe_run(r) for r in runs]
    groups = {}
    for i, d in enumerate(described):
        groups.setdefault(json.dumps(d, sort_keys=True), []).append(i)
    labelled = []
    for members in groups.values():
        d = described[members[0]]
        same_model = [e for e in described if e["model"] == d["model"]]
        shown = [f"{k.split('.', 1)[1].replace('_', ' ')} {d[k]}" for k in sorted(d)
                 if k != "model" and len({repr(e.get(k)) for e in same_model}) > 1]
        labelled.append((members, ", ".join([d["model"].upper(), *shown])))
    return labelled


def evaluate_on_same_data(runs, name, values, count, seed, batch_size=32):
    """metric[i][j]: run i's mean task metric at values[j]; share[j] the scored output bits per
    sequence there (None for tasks that are not bit tasks). Each value's sequences are drawn
    once and given to every run."""
    task = runs[0][0]
    metric = np.zeros((len(runs), len(values)))
    scored = []
    for j, value in enumerate(values):
        rng = np.random.default_rng([seed, data_key(value)])
        seen, bits = 0, 0.0
        while seen < count:
            b = min(batch_size, count - seen)
            batch = task.sample(rng, b, **{**task.eval_kwargs, name: value})
            bits += float(batch.mask.sum()) * task.output_size
            for i, (_, model, params, _) in enumerate(runs):
                dtype = params[next(iter(params))].dtype
                device_batch = batch_to_device(batch, dtype)
                logits, _ = model.forward_batch(params, device_batch, train=False)
                _, _, metrics = task.loss(logits, device_batch)
                metric[i, j] += backend.scalar(metrics[task.metric]) * b
            seen += b
        scored.append(bits / count)
    return metric / count, scored


def compare(runs, paths, name, values, count, seed):
    """Rows of the comparison: each group's label, its runs and seeds, and at each value the
    mean, lowest and highest metric over its runs (and, for bit tasks, the wrong share)."""
    task = runs[0][0]
    metric, scored = evaluate_on_same_data(runs, name, values, count, seed)
    bit_task = task.metric == "cost"
    rows = []
    for members, label in group_runs(runs):
        m = metric[members]
        first = runs[members[0]][3]
        rows.append({
            "label": label, "model": first["model"], "model_config": runs[members[0]][1].config,
            "checkpoints": [paths[i] for i in members],
            "seeds": [runs[i][3]["train"]["seed"] for i in members],
            "sequences": [runs[i][3]["seqs"] for i in members],
            "points": [{name: v, "mean": float(m[:, j].mean()), "min": float(m[:, j].min()),
                        "max": float(m[:, j].max()), "each": [float(x) for x in m[:, j]],
                        **({"scored_bits": scored[j]} if bit_task else {})}
                       for j, v in enumerate(values)]})
    return rows


def print_table(rows, task, name, values, count):
    print(f"{task.name}: {task.metric_label}, mean over each group's runs (lowest–highest), "
          f"{count} fresh sequences per {name}, the same for every run")
    width = max(len(r["label"]) for r in rows) + 2
    for r in rows:
        print(f"{r['label']:<{width}} seeds {','.join(map(str, r['seeds']))}")
        for p in r["points"]:
            share = (f"  {100 * p['mean'] / p['scored_bits']:5.1f}% of the scored bits wrong"
                     if "scored_bits" in p else "")
            print(f"{'':<4}{name} {p[name]:>5}: {p['mean']:10.2f}  ({p['min']:.2f}–{p['max']:.2f})"
                  f"{share}", flush=True)


def draw(rows, task, name, values, count, paths, out):
    """The metric (for bit tasks, the share of wrong bits) against the varied setting: each
    group's mean, thick, and each of its runs, thin; an NTM's memory size, where the setting is
    a length, as a dotted line in the group's colour."""
    from .figures import _save, plt
    fig, ax = plt.subplots(figsize=(8, 4.8))
    share = all("scored_bits" in p for r in rows for p in r["points"])
    train_max = task.config.get(f"max_{name}",          # the runs' own longest, else the task's
                                {n: m for n, _, m in task.generalisation}.get(name))
    numeric = all(isinstance(v, (int, float)) for v in values)
    if not numeric:
        train_max = None
    if train_max is not None:
        ax.axvspan(0, train_max, color="0.9", label=f"training range (≤ {train_max})")
    for r in rows:
        scale = [100 / p["scored_bits"] if share else 1.0 for p in r["points"]]
        mean = [p["mean"] * s for p, s in zip(r["points"], scale)]
        n = len(r["seeds"])
        line, = ax.plot(values, mean, marker="o", markersize=3, lw=2,
                        label=f"{r['label']}: " + (f"mean of {n} runs" if n > 1 else "1 run"))
        if n > 1:                                       # and each run, thin
            for i in range(n):
                ax.plot(values, [p["each"][i] * s for p, s in zip(r["points"], scale)],
                        color=line.get_color(), lw=0.8, alpha=0.45)
        rows_n = r["model_config"].get("memory_rows")
        if rows_n is not None and name == "length" and rows_n <= max(values):
            ax.axvline(rows_n, color=line.get_color(), linestyle=":", lw=1)
    ax.set_xlabel(name + ("  (dotted: the NTM's memory rows)" if name == "length" else ""))
    ax.set_ylabel("% of output bits wrong" if share else task.metric_label)
    if share:
        top = max(p["max"] * 100 / p["scored_bits"] for r in rows for p in r["points"])
        ax.set_ylim(0, max(55, top + 5))
        ax.axhline(50, color="0.5", lw=0.8, linestyle="--", label="chance")
    if numeric:
        ax.set_xlim(0, max(values) * 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{task.name}: {count} fresh sequences per point, the same for every model "
                 "(thin: each run)", fontsize=9)
    _save(fig, paths, out)
    return out


def write_json(path, rows, task, name, values, count, seed):
    with open(path, "w") as f:                          # its folder: made by run.py compare
        json.dump({"task": task.name, "metric": task.metric, "varied": name, "values": values,
                   "count": count, "seed": seed, "groups": rows}, f, indent=1)
