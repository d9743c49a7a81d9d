"""Figures of the Neural Programmer and the pipe (table-qa, arithmetic): the programs chosen,
the error by evaluation row, learning curves. Shared pieces: figures.py."""

import os

import matplotlib.pyplot as plt
import numpy as np

from . import backend
from .figures import FIGURE_SEED, _example, _label, _learning_curves, _save
from .train import batch_to_device, evaluate


# ----------------------------------------------------------------------------- Neural Programmer
def _program_axes(task, model):
    """The program's parts (the keys of the model's outputs) and the names of their choices."""
    if model.name == "pipe":
        N = model.config["output_size"]
        slots = [f"n{i + 1}" for i in range(N)] + \
            [f"o{s + 1}" for s in range(model.config["program_steps"] - 1)]
        from .pipe import PIPE_OPS
        return (("op", list(PIPE_OPS)), ("a", [f"a={s}" for s in slots]),
                ("b", [f"b={s}" for s in slots]))
    from .programmer import OPS
    parts = [("op", list(OPS))]
    if task.output_size > 1:
        parts.append(("col", [f"col {c}" for c in "ABCDE"[:task.output_size]]))
    return tuple(parts)


def _program_figure(run, path, out):
    """The Neural Programmer paper's Table 3 as heatmaps: for each of the task's example
    questions, the soft selection at every step (shade: probability, training-mode softmax) with
    the hardmax choice that evaluation runs (dot), and whether that program answered right."""
    task, model, params, _ = run
    examples = task.figure_examples
    parts = _program_axes(task, model)
    cols = 2
    rows = -(-len(examples) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 2.1 * rows + 0.6), squeeze=False)
    dtype = params["q_W"].dtype
    for ax, (tag, kwargs) in zip(axes.ravel(), examples):
        batch = batch_to_device(_example(task, tag, kwargs), dtype)
        soft, _ = model.forward_batch(params, batch, train=True, softmax=True)
        hard, _ = model.forward_batch(params, batch, train=False)
        grid = np.concatenate([backend.to_host(soft[k])[:, 0] for k, _ in parts], axis=1)
        picks = np.concatenate([backend.to_host(hard[k])[:, 0] for k, _ in parts], axis=1)
        names = [n for _, ns in parts for n in ns]
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ys, xs = np.nonzero(picks)
        ax.scatter(xs, ys, s=14, color="tab:orange")
        edge = 0
        for _, ns in parts[:-1]:
            edge += len(ns)
            ax.axvline(edge - 0.5, color="0.3", lw=0.8)
        ax.set_xticks(range(len(names)), names, fontsize=6.5, rotation=60)
        ax.set_yticks(range(grid.shape[0]), [f"t={t + 1}" for t in range(grid.shape[0])],
                      fontsize=7)
        ok = bool(backend.to_host(task.answered(hard, batch))[0])
        ax.set_title(f"{task.describe(batch, 0)}\nthe model's: {task.model_answer(hard, batch, 0)}"
                     f" ({'right' if ok else 'wrong'})", fontsize=8)
    for ax in axes.ravel()[len(examples):]:
        ax.axis("off")
    fig.suptitle(f"{task.name}: the program chosen at each step (shade: soft selection; dot: "
                 "hardmax, what evaluation runs)", fontsize=10)
    _save(fig, [path], out)


def question_words(task, model, batch):
    """The words of the batch's first question as the model read them (the pipe: its operators
    and a placeholder for each number)."""
    words, mask = ((batch.words, batch.words_mask) if model.name == "pipe"
                   else (batch.x, batch.x_mask))
    shown = np.asarray(backend.to_host(mask))[:, 0].astype(bool)
    return [task.words[i] for i in np.asarray(backend.to_host(words))[:, 0][shown]]


def _attention_figure(run, path, out):
    """With question attention: for each of the task's example questions, the words each step
    reads (shade: the attention, softmax over the question's words, as evaluation computes it),
    beside the operation the step's hardmax chose."""
    task, model, params, _ = run
    examples = task.figure_examples
    cols = 2
    rows = -(-len(examples) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 1.9 * rows + 0.6), squeeze=False)
    dtype = params["q_W"].dtype
    names = _program_axes(task, model)[0][1]                 # the operations
    for ax, (tag, kwargs) in zip(axes.ravel(), examples):
        batch = batch_to_device(_example(task, tag, kwargs), dtype)
        hard, _ = model.forward_batch(params, batch, train=False)
        words = question_words(task, model, batch)
        weights = backend.to_host(hard["question_attention"])[:, 0, :len(words)]
        ops = backend.to_host(hard["op"])[:, 0].argmax(axis=1)
        ax.imshow(weights, cmap="Blues", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(words)), words, fontsize=7, rotation=45)
        ax.set_yticks(range(len(ops)), [f"t={t + 1}: {names[o]}" for t, o in enumerate(ops)],
                      fontsize=7)
        ax.set_title(task.describe(batch, 0), fontsize=8)
    for ax in axes.ravel()[len(examples):]:
        ax.axis("off")
    fig.suptitle(f"{task.name}: the words each step reads (shade: question attention; row: "
                 "the step and the operation it chose)", fontsize=10)
    _save(fig, [path], out)


def _error_by_row(runs, paths, out, count=256):
    """The metric on each of the task's evaluation rows (table-qa: each template on the test
    tables; arithmetic: by how many numbers, and numbers up to 99), for every run; table-qa also
    shows how often the program is the template's own."""
    task = runs[0][0]
    rows = task.eval_rows
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) * len(runs) + 2.2))
    height = 0.8 / len(runs)
    for i, (run, path) in enumerate(zip(runs, paths)):
        evs = [evaluate(run[0], run[1], run[2], np.random.default_rng([FIGURE_SEED, j]), count,
                        **kwargs) for j, (_, kwargs) in enumerate(rows)]
        y = np.arange(len(rows)) + i * height
        ax.barh(y, [e[task.metric] for e in evs], height=height, label=_label(run, path))
        if "own_program" in evs[0]:
            ax.scatter([100 - e["own_program"] for e in evs], y, marker="|", color="k", s=40,
                       label="100 − % programs that are the template's own", zorder=3)
    ax.set_yticks(np.arange(len(rows)) + 0.4 - height / 2, [name for name, _ in rows],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(task.metric_label)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.suptitle(f"{task.name}: {count} fresh questions per row", fontsize=10)
    _save(fig, paths, out)


def draw_programmer_figures(runs, paths, out_dir, count=256):
    """A Neural Programmer (table-qa, arithmetic), with a baseline where there is one: the
    program heatmaps of the programmer (and with question attention, the words each step
    reads), the error on each evaluation row, and the learning curves; returns the paths
    written."""
    task = runs[0][0]
    written = [os.path.join(out_dir, f"{task.name}_{s}.png")
               for s in ("programs", "by_row", "learning_curves")]
    programmers = [(r, p) for r, p in zip(runs, paths) if "q_W" in r[2]]
    if programmers:
        _program_figure(*programmers[0], written[0])
        run, path = programmers[0]
        if run[1].config.get("question_attention") == "dot":
            written.insert(1, os.path.join(out_dir, f"{task.name}_question_attention.png"))
            _attention_figure(run, path, written[1])
    else:
        written.pop(0)
    _error_by_row(runs, paths, written[-2], count)
    _learning_curves(runs, paths, written[-1])
    return written
