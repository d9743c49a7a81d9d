"""Figures of the bit tasks (copy and the NTM paper's others): examples, the NTM's memory use,
where priority sort writes, n-gram predictions against the optimum. Shared pieces: figures.py."""

import os

import matplotlib.pyplot as plt
import numpy as np

from . import backend
from .figures import (_describe, _example, _generalisation_figure, _label, _learning_curves,
                      _save)
from .ops import sigmoid


def _probabilities(run, batch):
    _, model, params, _ = run
    logits, _ = model.forward(params, backend.to_device(batch.x, params["W_y"].dtype),
                              keep_cache=False)
    return backend.to_host(sigmoid(logits))


def _io_figure(runs, paths, tag, kwargs, out):
    task = runs[0][0]
    batch = _example(task, tag, kwargs)
    m = batch.mask[:, 0, None]
    T = batch.x.shape[0]
    rows = [("input", batch.x[:, 0].T), ("target", (batch.y[:, 0] * m).T)]
    for run in runs:
        p = _probabilities(run, batch)[:, 0] * m
        wrong = int((((p > 0.5) != (batch.y[:, 0] > 0.5)) * m).sum())
        rows.append((f"{run[1].name.upper()} output on the scored steps ({wrong} wrong bits)", p.T))
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(6, T / 12), 1.0 + 1.1 * len(rows)),
                             sharex=True)
    for ax, (title, image) in zip(axes, rows):
        ax.imshow(image, aspect="auto", cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_yticks([])
    axes[-1].set_xlabel("time step")
    fig.suptitle(f"{task.name}: {_describe(kwargs)}", fontsize=10)
    _save(fig, paths, out)


def _heads(weights, n_heads, what):
    """(T, H, N) -> (N, T) and a title: the only head, or the heads summed."""
    if n_heads == 1:
        return weights[:, 0].T, f"{what} weighting"
    return weights.sum(axis=1).T, f"{what} weightings, {n_heads} heads summed"


def _memory_figure(run, path, tag, kwargs, out):
    task, model, params, _ = run
    batch = _example(task, tag, kwargs)
    trace = model.trace(params, backend.to_device(batch.x, params["W_y"].dtype))
    write_w, write_title = _heads(trace["write_weights"][:, 0], model.Hw, "write")
    read_w, read_title = _heads(trace["read_weights"][:, 0], model.Hr, "read")
    used = np.nonzero((write_w.max(axis=1) > 0.1) | (read_w.max(axis=1) > 0.1))[0]
    lo, hi = (max(0, used.min() - 2), min(write_w.shape[0], used.max() + 3)) if used.size \
        else (0, write_w.shape[0])
    top = max(1.0, float(write_w.max()), float(read_w.max()))
    panels = [(write_title, write_w[lo:hi], "gray_r", (0, top)),
              (read_title, read_w[lo:hi], "gray_r", (0, top)),
              ("add vector" + (" (first write head)" if model.Hw > 1 else ""),
               trace["add"][:, 0, 0].T, "RdBu_r", (-1, 1))]
    fig, axes = plt.subplots(3, 1, figsize=(max(7, batch.x.shape[0] / 14), 7), sharex=True)
    for ax, (title, image, cmap, (vmin, vmax)) in zip(axes, panels):
        extent = None
        if title.startswith("add vector"):
            ax.set_ylabel("component")
        else:
            extent = (-0.5, image.shape[1] - 0.5, hi - 0.5, lo - 0.5)
            ax.set_ylabel("memory row")
        ax.imshow(image, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                  interpolation="nearest", extent=extent)
        ax.set_title(title, fontsize=9, loc="left")
    axes[-1].set_xlabel("time step")
    fig.suptitle(f"{task.name}: the NTM's memory use ({_describe(kwargs)})", fontsize=10)
    _save(fig, [path], out)


def _priority_writes(run, path, out, count=8):
    """Where each vector was written (the write weighting's peak, per head) against its
    priority, over `count` sequences: NTM Fig. 17, where the relation is close to linear."""
    task, model, params, _ = run
    batch, priority = _example(task, "writes", {}, count=count, return_priorities=True)
    trace = model.trace(params, backend.to_device(batch.x, params["W_y"].dtype))
    n = task.config["items"]
    rows = trace["write_weights"][:n].argmax(axis=-1)            # (items, B, Hw)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for h in range(model.Hw):
        ax.scatter(priority.ravel(), rows[:, :, h].ravel(), s=9, alpha=0.7,
                   label=f"write head {h + 1}")
    ax.set_xlabel("priority")
    ax.set_ylabel("memory row written (the weighting's peak)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, markerscale=2)
    ax.set_title(f"{task.name}: write location against priority ({count} sequences)",
                 fontsize=10)
    _save(fig, [path], out)


def _ngram_predictions(runs, paths, out):
    """One sequence: each model's P(next bit = 1) beside the Bayesian optimum's (NTM Fig. 14)."""
    task = runs[0][0]
    batch = _example(task, "predictions", {})
    t = np.nonzero(batch.mask[:, 0])[0]
    fig, ax = plt.subplots(figsize=(max(7, len(t) / 22), 3.8))
    ax.plot(t, batch.optimal[t, 0], color="k", lw=1.5, label="Bayesian optimum")
    for run, path in zip(runs, paths):
        ax.plot(t, _probabilities(run, batch)[t, 0, 0], lw=1, label=_label(run, path))
    ax.scatter(t, batch.y[t, 0, 0], s=4, color="0.5", label="the next bit")
    ax.set_xlabel("time step")
    ax.set_ylabel("P(next bit = 1)")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    fig.suptitle(f"{task.name}: predictions along one sequence", fontsize=10)
    _save(fig, paths, out)


def draw_bit_task_figures(runs, paths, out_dir, count=64):
    """The figures of a bit task (copy and the NTM paper's others), for the NTM and the LSTM
    baseline: examples, the NTM's memory use, learning curves, generalisation."""
    main_run, path = runs[0], paths[0]
    task = main_run[0]
    written = []

    def target(suffix):
        written.append(os.path.join(out_dir, f"{task.name}_{suffix}.png"))
        return written[-1]

    for tag, kwargs in task.figure_examples:
        _io_figure(runs, paths, tag, kwargs, target(f"io_{tag}"))
    if hasattr(main_run[1], "trace"):
        _memory_figure(main_run, path, *task.figure_examples[0], target("memory"))
        if task.name == "priority-sort":
            _priority_writes(main_run, path, target("writes"))
    if task.name == "ngrams":
        _ngram_predictions(runs, paths, target("predictions"))
    _learning_curves(runs, paths, target("learning_curves"))
    if task.generalisation:
        _generalisation_figure(runs, paths, target("generalisation"), count)
    return written
