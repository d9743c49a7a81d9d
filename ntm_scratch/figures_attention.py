"""Figures of an encoder-decoder with attention (reverse, dates): attention heatmaps, learning
curves and generalisation, with and without attention. Shared pieces: figures.py."""

import os

import matplotlib.pyplot as plt

from . import backend
from .figures import _describe, _example, _generalisation_figure, _learning_curves, _save
from .train import batch_to_device


# ----------------------------------------------------------------------------- attention models
def _attention_figure(run, path, out):
    """Source × output heatmaps of the attention weights on the task's examples, with the greedy
    decoder's own outputs as the row labels (the Distill article's translation figure)."""
    task, model, params, _ = run
    examples = task.figure_examples
    same = all(kwargs == examples[0][1] for _, kwargs in examples)    # then say it once, above
    cols = min(3, len(examples))
    rows = -(-len(examples) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.2 * rows), squeeze=False)
    for ax, (tag, kwargs) in zip(axes.ravel(), examples):
        batch = batch_to_device(_example(task, tag, kwargs), params["W_y"].dtype)
        logits, alpha = model.greedy(params, batch)
        source = task.text(backend.to_host(batch.x)[:, 0], task.source_alphabet)
        said = task.text(backend.to_host(logits.argmax(axis=-1))[:, 0], task.target_alphabet)
        truth = task.text(backend.to_host(batch.y)[:, 0], task.target_alphabet)
        a = backend.to_host(alpha)[:len(said), 0, :len(source)]
        ax.imshow(a, cmap="gray_r", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(source)), source, fontsize=7)
        ax.set_yticks(range(len(said)), said, fontsize=7)
        verdict = "right" if said == truth else "wrong: " + "".join(truth)
        ax.set_title(verdict if same else f"{_describe(kwargs)}; {verdict}", fontsize=8)
        ax.set_xlabel("source", fontsize=8)
        ax.set_ylabel("output (greedy)", fontsize=8)
    for ax in axes.ravel()[len(examples):]:
        ax.axis("off")
    common = f" ({_describe(examples[0][1])})" if same else ""
    fig.suptitle(f"{task.name}: where the {model.config['attention']} attention looks{common}",
                 fontsize=10)
    _save(fig, [path], out)


def draw_attention_figures(runs, paths, out_dir, count=64):
    """The attention heatmaps of every run that attends, the learning curves of all, and the
    generalisation sweep; returns the paths written."""
    task = runs[0][0]
    written = []
    for run, path in zip(runs, paths):
        kind = run[1].config["attention"]
        if kind != "none" and task.figure_examples:
            written.append(os.path.join(out_dir, f"{task.name}_attention_{kind}.png"))
            _attention_figure(run, path, written[-1])
    written.append(os.path.join(out_dir, f"{task.name}_learning_curves.png"))
    _learning_curves(runs, paths, written[-1])
    if task.generalisation:
        written.append(os.path.join(out_dir, f"{task.name}_generalisation.png"))
        _generalisation_figure(runs, paths, written[-1], count)
    return written
