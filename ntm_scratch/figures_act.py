"""Figures of Adaptive Computation Time (parity, logic, addition): ponder time against difficulty and
along sequences, learning curves, and the sweep's metric against τ. Shared pieces: figures.py."""

import os

import matplotlib.pyplot as plt
import numpy as np

from . import backend
from .figures import FIGURE_SEED, _example, _label, _learning_curves, _save
from .train import batch_to_device, evaluate


# ----------------------------------------------------------------------------- ACT
def _ponder_by(run, name, values, count=256):
    """Mean ponder time ρ per input step over `count` fresh sequences at each value of the
    task's difficulty (sample kwarg `name`)."""
    task, model, params, _ = run
    out = []
    for v in values:
        ev = evaluate(task, model, params, np.random.default_rng([FIGURE_SEED, v]), count,
                      **{name: v})
        out.append(ev["ponder"])
    return out


def _ponder_vs_difficulty(runs, paths, out, count=256):
    """Ponder time against the task's difficulty, one line per model (ACT paper Figs. 6, 14)."""
    task = runs[0][0]
    name, values, label = task.difficulty()
    fig, ax = plt.subplots(figsize=(7, 4 + 0.18 * len(runs)))    # room for the legend below
    for run, path in zip(runs, paths):
        if run[1].config["max_ponder"] > 1:
            ax.plot(values, _ponder_by(run, name, values, count), marker="o",
                    label=_label(run, path))
    ax.set_xlabel(label)
    ax.set_ylabel("ponder time ρ = N + R per input step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.19), borderaxespad=0,
              frameon=False)                            # below the axes: never over a line
    ax.set_title(f"{task.name}: ponder time against difficulty ({count} sequences per point)",
                 fontsize=10)
    _save(fig, paths, out)


def _ponder_along_sequences(run, path, out, count=4):
    """Ponder time at every input step of a few sequences, each step labelled with the number
    it shows (ACT paper Fig. 15)."""
    task, model, params, _ = run
    batch = _example(task, "sequence", {"numbers": task.config["max_numbers"]}, count=count)
    _, cache = model.forward_batch(params, batch_to_device(batch, params["W_y"].dtype),
                                   train=False)
    rho = backend.to_host(cache["rho"])
    fig, axes = plt.subplots(1, count, figsize=(3.2 * count, 3.4), sharey=True)
    for b, ax in enumerate(np.atleast_1d(axes)):
        shown = [task.number_text(batch.x[t, b]) for t in range(batch.x.shape[0])]
        ax.bar(range(len(shown)), rho[:, b], color="tab:blue")
        ax.set_xticks(range(len(shown)), shown, rotation=45, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    np.atleast_1d(axes)[0].set_ylabel("ponder time ρ")
    fig.suptitle(f"{task.name}: ponder time at each input step ({_label(run, path)})",
                 fontsize=10)
    _save(fig, [path], out)


def draw_act_figures(runs, paths, out_dir, count=256):
    """One or two ACT models (e.g. with and without ACT): learning curves, ponder time against
    difficulty, and for addition ponder time along sequences; returns the paths written."""
    task = runs[0][0]
    written = [os.path.join(out_dir, f"{task.name}_learning_curves.png")]
    _learning_curves(runs, paths, written[-1])
    if any(r[1].config["max_ponder"] > 1 for r in runs):
        written.append(os.path.join(out_dir, f"{task.name}_ponder_vs_difficulty.png"))
        _ponder_vs_difficulty(runs, paths, written[-1], count)
        if task.name == "addition":
            act_run, act_path = next((r, p) for r, p in zip(runs, paths)
                                     if r[1].config["max_ponder"] > 1)
            written.append(os.path.join(out_dir, f"{task.name}_ponder_sequence.png"))
            _ponder_along_sequences(act_run, act_path, written[-1])
    return written


def draw_sweep_figures(rows, task, runs, out_dir, count=256):
    """The metric against τ, each seed a dot and the mean a line, the no-ACT baseline dashed
    (ACT paper Fig. 4); ponder time against difficulty for each τ (first seed; Fig. 6)."""
    written = [os.path.join(out_dir, f"{task.name}_{task.metric}_vs_tau.png")]
    fig, ax = plt.subplots(figsize=(7, 4))
    act = [r for r in rows if r["tau"] != "none"]
    base = [r[task.metric] for r in rows if r["tau"] == "none"]
    taus = sorted({r["tau"] for r in act})
    ax.scatter([r["tau"] for r in act], [r[task.metric] for r in act], color="tab:blue",
               alpha=0.6, label="ACT, one seed each")
    ax.plot(taus, [np.mean([r[task.metric] for r in act if r["tau"] == t]) for t in taus],
            color="tab:blue", label="ACT, mean over seeds")
    if base:
        ax.axhline(np.mean(base), color="tab:red", ls="--",
                   label=f"no ACT, mean of {len(base)} seed(s)")
    ax.set_xscale("log")
    ax.set_xlabel("time penalty τ")
    ax.set_ylabel(task.metric_label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    seqs = sorted({r["seqs"] for r in rows})
    seen = f"{seqs[0]:,}" if len(seqs) == 1 else f"{seqs[0]:,} to {seqs[-1]:,}"
    sizes = ", ".join(f"{k} {v}" for k, v in task.config.items())
    ax.set_title(f"{task.name} ({sizes}): {task.metric} against τ\n"
                 f"after {seen} training sequences", fontsize=10)
    _save(fig, sorted({os.path.dirname(r["path"]) for r in rows}), written[-1])
    if runs:
        written.append(os.path.join(out_dir, f"{task.name}_ponder_vs_difficulty.png"))
        _ponder_vs_difficulty([r for r, _ in runs], [p for _, p in runs], written[-1], count)
    return written
