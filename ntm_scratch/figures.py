"""Figures drawn from trained checkpoints (matplotlib, no screen needed).

    python run.py figures TASK --checkpoint NTM.npz --baseline LSTM.npz

writes beside the checkpoint (or into --out), each file named after the task:
    TASK_io_TAG.png            input, target and each model's output on the task's examples
                               (`task.figure_examples`; for copy NTM Fig. 4, repeat copy Fig. 8)
    TASK_memory.png            the NTM's write and read weightings over time, and its add vectors,
                               on the first example (the Distill article's memory figure)
    TASK_learning_curves.png   the evaluation metric against sequences seen, from the logs
    TASK_generalisation.png    the metric beyond the training range (`task.generalisation`)
and for two tasks one more:
    priority-sort_writes.png   where each vector was written against its priority (NTM Fig. 17)
    ngrams_predictions.png     each model's P(next bit = 1) beside the Bayesian optimum's
An ACT model (parity, logic, addition), with the no-ACT baseline, gets instead:
    TASK_learning_curves.png, TASK_ponder_vs_difficulty.png (ACT Figs. 6, 14), and for addition
    addition_ponder_sequence.png (ponder time at each input step, Fig. 15); `run.py sweep` over τ
    adds TASK_METRIC_vs_tau.png (Fig. 4).
`run.py sweep` draws TASK_METRIC_vs_grid.png: the metric against each axis of its grid.
A Neural Programmer (table-qa; arithmetic, with the LSTM baseline) gets instead:
    TASK_programs.png          the operation (and column or operands) chosen at each step for
                               the task's example questions (NP paper Table 3, as heatmaps)
    TASK_by_row.png            the error on each evaluation row: per template on the test
                               tables (table-qa, with how often the program is the template's
                               own), by numbers in the expression (arithmetic)
    TASK_learning_curves.png
An encoder–decoder (reverse, dates) gets instead:
    TASK_attention_KIND.png    source × output attention heatmaps on the task's examples
    TASK_learning_curves.png, TASK_generalisation.png   as above, with and without attention
Every figure names the checkpoints it was drawn from.

This module holds what every mechanism's figures share (saving, labels, learning curves,
generalisation) and `draw_figures`, which hands a run to its mechanism's module:
figures_ntm.py, figures_attention.py, figures_act.py, figures_programmer.py.
"""
import os
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .checkpoint import shown_path  # noqa: E402
from .train import evaluate, log_path_of, read_log_records  # noqa: E402

FIGURE_SEED = 2024


def _label(run, path):
    task, model, _, meta = run
    name = os.path.basename(path)        # a run's default file is checkpoint.npz: its folder
    if name == "checkpoint.npz":
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return f"{getattr(model, 'label', model.name.upper())} ({name}, {meta['seqs']:,} sequences)"


FOOTER_LINE = 0.12      # inches: the height of one line of the 7-point footer


def _footer(fig, paths):
    """The checkpoints a figure was drawn from, along its bottom edge, wrapped to the figure's
    width; returns the number of lines."""
    text = "from " + ", ".join(shown_path(p) for p in paths if p)
    lines = textwrap.wrap(text, int(fig.get_figwidth() * 17)) or [""]   # ~17 characters an inch
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=7, color="0.4", ha="left", va="bottom")
    return len(lines)


def _save(fig, paths, out):
    lines = _footer(fig, paths)
    fig.tight_layout(rect=(0, (lines * FOOTER_LINE + 0.04) / fig.get_figheight(), 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _describe(kwargs):
    return ", ".join(f"{k} {v}" for k, v in kwargs.items()) or "a training-distribution example"


def _example(task, tag, kwargs, count=1, return_priorities=False):
    """The same example(s) for every model and every figure that shows them."""
    rng = np.random.default_rng([FIGURE_SEED, sum(map(ord, tag))])
    extra = {"return_priorities": True} if return_priorities else {}
    return task.sample(rng, count, **kwargs, **extra)


def read_log(path):
    records = read_log_records(log_path_of(path))
    evals = {}
    for r in records:                                   # a step logged twice: keep the last
        if r.get("kind") == "eval":
            evals[r["step"]] = r
    return [evals[s] for s in sorted(evals)]


def _metric(task, record):
    """The number a figure plots: the task's metric, less the optimum where the task has one."""
    return record[task.metric] - record.get("optimal_bits", 0.0)


def _metric_axis(ax, task, whole_percent=False, label=None):
    """The metric's axis (linear to 1, logarithmic above; with whole_percent, a percentage on
    a linear 0–100 axis), grid and legend; `label` names another quantity on the same scale."""
    ax.set_ylabel(label or task.metric_label)
    if whole_percent and "%" in task.metric_label:
        ax.set_ylim(0, 100)
    else:
        ax.set_yscale("symlog", linthresh=1.0)
        top = ax.get_ylim()[1]
        ax.set_ylim(0, 10 ** np.ceil(np.log10(max(top, 1.0))))     # up to a labelled decade
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _learning_curves(runs, paths, out):
    """The metric against sequences seen. A bit task's metric is wrong bits; beside it goes
    the cross-entropy in bits, which is what the NTM paper plots, with the paper's own points
    where the task has them (`task.paper_curves`)."""
    task = runs[0][0]
    logs = [read_log(path) for path in paths]
    both = task.metric == "cost" and all(e and "bits" in e[0] for e in logs)
    fig, axes = plt.subplots(1, 2 if both else 1, figsize=(13 if both else 7, 4), squeeze=False)
    panels = [(axes[0][-1], lambda r: _metric(task, r))]
    if both:                                # the cross-entropy on the left, wrong bits right
        panels.insert(0, (axes[0][0], lambda r: r["bits"]))
    for ax, value in panels:                # a linear axis in thousands, as the papers draw
        for run, path, evals in zip(runs, paths, logs):
            ax.plot([r["seqs"] / 1000 for r in evals], [value(r) for r in evals],
                    label=_label(run, path))
        ax.set_xlabel("sequences seen (thousands)")
        ax.set_xlim(left=0)
    if both or task.metric == "bits":       # a panel of cross-entropy: the paper's points
        _paper_points(axes[0][0], task.paper_curves)
    if both:
        _metric_axis(axes[0][0], task, label="cross-entropy, bits per sequence")
        ax.set_title("the NTM paper's cost: cross-entropy", fontsize=10)
        axes[0][1].set_title("wrong bits (output thresholded at 0.5)", fontsize=10)
    _metric_axis(axes[0][-1], task)
    fig.suptitle(f"{task.name}: evaluation on fresh sequences during training", fontsize=11)
    _save(fig, paths, out)


def _paper_points(ax, curves):
    """The paper's points read off its figure, one marker per model it plots, the axis
    reaching the last of them."""
    for (label, points), marker in zip(curves, "*XPDs"):
        ax.plot([n / 1000 for n, _ in points], [b for _, b in points], "k" + marker,
                markersize=9 if marker == "*" else 7, linestyle="none", label=label)
        ax.set_xlim(right=max(ax.get_xlim()[1], 1.05 * points[-1][0] / 1000))


def generalisation(run, name, values, count=64):
    """The task's metric (less any optimum) over `count` fresh sequences at each value."""
    task, model, params, _ = run
    return [_metric(task, evaluate(task, model, params, np.random.default_rng([FIGURE_SEED, v]),
                                   count, batch_size=32, **{name: v})) for v in values]


def _generalisation_figure(runs, paths, out, count=64):
    task = runs[0][0]
    sweeps = task.generalisation
    fig, axes = plt.subplots(1, len(sweeps), figsize=(7 * len(sweeps), 4), squeeze=False)
    for ax, (name, values, train_max) in zip(axes[0], sweeps):
        for run, path in zip(runs, paths):
            ax.plot(values, generalisation(run, name, values, count), marker="o",
                    label=_label(run, path))
        ax.axvspan(0, train_max, color="0.9", label=f"training range (≤ {train_max})")
        ax.set_xlabel(name)
        ax.set_xlim(0, max(values) + 1)
        _metric_axis(ax, task, whole_percent=True)
    fig.suptitle(f"{task.name}: beyond the training range ({count} sequences per point)",
                 fontsize=10)
    _save(fig, paths, out)


def draw_figures(main_run, baseline, path, baseline_path, out_dir, count=64):
    """Draw every figure the task has (`count` sequences per generalisation point); returns the
    paths written."""
    os.makedirs(out_dir, exist_ok=True)
    task = main_run[0]
    runs = [main_run] + ([baseline] if baseline else [])
    paths = [path] + ([baseline_path] if baseline else [])
    if hasattr(main_run[1], "greedy"):                   # an encoder-decoder: its own figures
        from .figures_attention import draw_attention_figures
        return draw_attention_figures(runs, paths, out_dir, count)
    if hasattr(task, "answered"):                        # a Neural Programmer's task
        from .figures_programmer import draw_programmer_figures
        return draw_programmer_figures(runs, paths, out_dir, count)
    if hasattr(main_run[1], "penalty"):                  # ACT
        from .figures_act import draw_act_figures
        return draw_act_figures(runs, paths, out_dir)
    from .figures_ntm import draw_bit_task_figures         # the NTM's tasks, NTM or LSTM
    return draw_bit_task_figures(runs, paths, out_dir, count)


def _axis_position(values):
    """x positions for a grid axis's values: the numbers themselves (log-spaced when they are
    positive and span a factor of 10 or more), else the values' order."""
    if not values:
        return {}, None
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return {v: i for i, v in enumerate(values)}, None
    scale = "log" if min(numbers) > 0 and max(numbers) >= 10 * min(numbers) else "linear"
    return dict(zip(values, numbers)), scale


def draw_grid_figure(summary, rows, out_dir):
    """`run.py sweep`'s figure: the metric against each grid axis, one panel each; every run a
    dot (a grey cross where halving stopped it, at its own step), and the mean over the runs
    with that value that trained to the end a line. Returns the path written."""
    metric = summary["metric"]
    rows = [{**r, metric: r["eval"][metric]} for r in rows]
    axes_names = [k for k in rows[0]["config"]]
    fig, axes = plt.subplots(1, len(axes_names), figsize=(4.2 * len(axes_names) + 1, 3.8),
                             squeeze=False)
    for ax, key in zip(axes[0], axes_names):
        values = list(dict.fromkeys(r["config"][key] for r in rows))   # in grid order
        shown = [v for v in values if v != "none"]                      # the no-ACT baseline
        position, scale = _axis_position(shown)
        for stopped, style in ((False, dict(color="tab:blue", marker="o", label="one run")),
                               (True, dict(color="0.5", marker="x",
                                           label="one run, stopped by halving"))):
            some = [r for r in rows if r["config"][key] != "none"
                    and (r["status"] == "stopped") == stopped]
            if some:
                ax.scatter([position[r["config"][key]] for r in some], [r[metric] for r in some],
                           alpha=0.7, **style)
        full = {v: [r[metric] for r in rows if r["config"][key] == v and r["status"] != "stopped"]
                for v in shown}
        line = [v for v in shown if full[v]]
        ax.plot([position[v] for v in line], [np.mean(full[v]) for v in line], color="tab:blue",
                label="mean of the runs with this value" +
                      (" (not stopped)" if any(r["status"] == "stopped" for r in rows) else ""))
        if "none" in values:
            ax.axhline(np.mean([r[metric] for r in rows if r["config"][key] == "none"]),
                       color="tab:red", ls="--", label="no ACT (baseline), mean")
        if scale is not None:
            ax.set_xscale(scale)
            ax.minorticks_off()
        ax.set_xticks(list(position.values()), list(position))
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{summary['task']}: {metric} of {len(rows)} run(s) on fresh sequences, "
                 f"against each grid axis", fontsize=10)
    out = os.path.join(out_dir, f"{summary['task']}_{metric}_vs_grid.png")
    _save(fig, sorted({os.path.dirname(r["path"]) for r in rows}), out)
    return out
