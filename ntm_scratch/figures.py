"""Figures for the bit tasks, drawn from trained checkpoints (matplotlib, no screen needed).

    python run.py figures copy --checkpoint NTM.npz --baseline LSTM.npz

writes into figures/:
    copy_io_len20.png, copy_io_len80.png   input, target and each model's output (NTM Fig. 4)
    copy_memory.png                        the NTM's write and read weightings over time, and
                                           its add vectors (the Distill article's memory figure)
    copy_learning_curves.png               evaluation cost against sequences seen, from the logs
    copy_generalisation.png                cost against sequence length, 10 to 120
Every figure names the checkpoints it was drawn from.
"""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import backend  # noqa: E402
from .ops import sigmoid  # noqa: E402
from .train import evaluate  # noqa: E402

GENERALISATION_LENGTHS = (10, 20, 30, 40, 50, 60, 80, 100, 120)
FIGURE_SEED = 2024


def _label(run, path):
    task, model, _, meta = run
    return f"{model.name.upper()} ({os.path.basename(os.path.dirname(path)) or path}, " \
           f"{meta['seqs']:,} sequences)"


def _footer(fig, paths):
    fig.text(0.01, 0.005, "from " + ", ".join(p for p in paths if p), fontsize=7, color="0.4",
             ha="left", va="bottom")


def _io_figure(runs, paths, length, out):
    task = runs[0][0]
    batch = task.sample(np.random.default_rng([FIGURE_SEED, length]), 1, length=length)
    T = batch.x.shape[0]
    rows = [("input", batch.x[:, 0].T), ("target", (batch.y[:, 0] * batch.mask[:, 0, None]).T)]
    for run, path in zip(runs, paths):
        _, model, params, _ = run
        logits, _ = model.forward(params, backend.to_device(batch.x, params["W_y"].dtype),
                                  keep_cache=False)
        out_bits = backend.to_host(sigmoid(logits))[:, 0] * batch.mask[:, 0, None]
        wrong = int((((out_bits > 0.5) != (batch.y[:, 0] > 0.5)) * batch.mask[:, 0, None]).sum())
        rows.append((f"{model.name.upper()} output on the scored steps ({wrong} wrong bits)",
                     out_bits.T))
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(6, T / 12), 1.0 + 1.1 * len(rows)),
                             sharex=True)
    for ax, (title, image) in zip(axes, rows):
        ax.imshow(image, aspect="auto", cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_yticks([])
    axes[-1].set_xlabel("time step")
    fig.suptitle(f"{task.name}: a sequence of length {length}", fontsize=10)
    _footer(fig, paths)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _memory_figure(run, path, length, out):
    task, model, params, _ = run
    batch = task.sample(np.random.default_rng([FIGURE_SEED, length]), 1, length=length)
    trace = model.trace(params, backend.to_device(batch.x, params["W_y"].dtype))
    write_w = trace["write_weights"][:, 0, 0].T                   # (N, T), first write head
    read_w = trace["read_weights"][:, 0, 0].T
    used = np.nonzero((write_w.max(axis=1) > 0.02) | (read_w.max(axis=1) > 0.02))[0]
    lo, hi = (max(0, used.min() - 2), min(write_w.shape[0], used.max() + 3)) if used.size \
        else (0, write_w.shape[0])
    heads = "" if model.Hr == model.Hw == 1 else " (first head)"
    panels = [(f"write weighting{heads}", write_w[lo:hi], "gray_r", (0, 1)),
              (f"read weighting{heads}", read_w[lo:hi], "gray_r", (0, 1)),
              (f"add vector{heads}", trace["add"][:, 0, 0].T, "RdBu_r", (-1, 1))]
    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    for ax, (title, image, cmap, (vmin, vmax)) in zip(axes, panels):
        extent = None
        if not title.startswith("add vector"):
            extent = (-0.5, image.shape[1] - 0.5, hi - 0.5, lo - 0.5)
            ax.set_ylabel("memory row")
        else:
            ax.set_ylabel("component")
        ax.imshow(image, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                  interpolation="nearest", extent=extent)
        ax.set_title(title, fontsize=9, loc="left")
    axes[-1].set_xlabel("time step (input, delimiter at %d, then output)" % length)
    fig.suptitle(f"{task.name}: the NTM's memory use on a sequence of length {length}", fontsize=10)
    _footer(fig, [path])
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def read_log(path):
    root, _ = os.path.splitext(path)
    with open(root + ".jsonl") as f:
        records = [json.loads(line) for line in f if line.strip()]
    evals = {}
    for r in records:                                   # a step logged twice: keep the last
        if r.get("kind") == "eval":
            evals[r["step"]] = r
    return [evals[s] for s in sorted(evals)]


def _finish_cost_plot(fig, ax, task, title, paths, out):
    """A cost axis (linear to 1 wrong bit, logarithmic above), legend, title, footer; saved."""
    ax.set_ylabel(f"{task.metric} (wrong bits per sequence)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    _footer(fig, paths)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _learning_curves(runs, paths, out):
    task = runs[0][0]
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, path in zip(runs, paths):
        evals = read_log(path)
        ax.plot([max(r["seqs"], 1) for r in evals], [r[task.metric] for r in evals],
                label=_label(run, path))
    ax.set_xlabel("sequences seen (step 0 drawn at 1)")
    ax.set_xscale("log")
    _finish_cost_plot(fig, ax, task, f"{task.name}: evaluation on fresh sequences during training",
                      paths, out)


def generalisation(run, lengths=GENERALISATION_LENGTHS, count=64):
    task, model, params, _ = run
    return [evaluate(task, model, params, np.random.default_rng([FIGURE_SEED, n]), count,
                     batch_size=32, length=n)[task.metric] for n in lengths]


def _generalisation_figure(runs, paths, out, count=64):
    task = runs[0][0]
    train_max = task.config.get("max_length")
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, path in zip(runs, paths):
        ax.plot(GENERALISATION_LENGTHS, generalisation(run, count=count), marker="o",
                label=_label(run, path))
    if train_max:
        ax.axvspan(0, train_max, color="0.9", label=f"training lengths (≤ {train_max})")
    ax.set_xlabel("sequence length")
    ax.set_xlim(0, max(GENERALISATION_LENGTHS) + 5)
    _finish_cost_plot(fig, ax, task,
                      f"{task.name}: generalisation to longer sequences ({count} per length)",
                      paths, out)


def draw_bit_task_figures(main_run, baseline, path, baseline_path, out_dir):
    """Draw every figure; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    name = main_run[0].name
    runs = [main_run] + ([baseline] if baseline else [])
    paths = [path] + ([baseline_path] if baseline else [])
    written = []
    for length in (20, 80):
        written.append(os.path.join(out_dir, f"{name}_io_len{length}.png"))
        _io_figure(runs, paths, length, written[-1])
    if hasattr(main_run[1], "trace"):
        written.append(os.path.join(out_dir, f"{name}_memory.png"))
        _memory_figure(main_run, path, 20, written[-1])
    written.append(os.path.join(out_dir, f"{name}_learning_curves.png"))
    _learning_curves(runs, paths, written[-1])
    written.append(os.path.join(out_dir, f"{name}_generalisation.png"))
    _generalisation_figure(runs, paths, written[-1])
    return written
