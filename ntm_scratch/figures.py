"""Figures for the NTM tasks, drawn from trained checkpoints (matplotlib, no screen needed).

    python run.py figures TASK --checkpoint NTM.npz --baseline LSTM.npz

writes into figures/, each file named after the task:
    TASK_io_TAG.png            input, target and each model's output on the task's examples
                               (`task.figure_examples`; for copy NTM Fig. 4, repeat copy Fig. 8)
    TASK_memory.png            the NTM's write and read weightings over time, and its add vectors,
                               on the first example (the Distill article's memory figure)
    TASK_learning_curves.png   the evaluation metric against sequences seen, from the logs
    TASK_generalisation.png    the metric beyond the training range (`task.generalisation`)
and for two tasks one more:
    priority-sort_writes.png   where each vector was written against its priority (NTM Fig. 17)
    ngrams_predictions.png     each model's P(next bit = 1) beside the Bayesian optimum's
An ACT model (parity, addition), with the no-ACT baseline, gets instead:
    TASK_learning_curves.png, TASK_ponder_vs_difficulty.png (ACT Figs. 6, 14), and for addition
    addition_ponder_sequence.png (ponder time at each input step, Fig. 15); `run.py sweep` adds
    TASK_METRIC_vs_tau.png (Fig. 4).
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
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import backend  # noqa: E402
from .ops import sigmoid  # noqa: E402
from .train import batch_to_device, evaluate, read_log_records  # noqa: E402

FIGURE_SEED = 2024


def _label(run, path):
    task, model, _, meta = run
    return f"{getattr(model, 'label', model.name.upper())} ({os.path.basename(os.path.dirname(path)) or path}, " \
           f"{meta['seqs']:,} sequences)"


def _footer(fig, paths):
    fig.text(0.01, 0.005, "from " + ", ".join(p for p in paths if p), fontsize=7, color="0.4",
             ha="left", va="bottom")


def _save(fig, paths, out):
    _footer(fig, paths)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _describe(kwargs):
    return ", ".join(f"{k} {v}" for k, v in kwargs.items()) or "a training-distribution example"


def _example(task, tag, kwargs, count=1, return_priorities=False):
    """The same example(s) for every model and every figure that shows them."""
    rng = np.random.default_rng([FIGURE_SEED, sum(map(ord, tag))])
    extra = {"return_priorities": True} if return_priorities else {}
    return task.sample(rng, count, **kwargs, **extra)


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


def read_log(path):
    root, _ = os.path.splitext(path)
    records = read_log_records(root + ".jsonl")
    evals = {}
    for r in records:                                   # a step logged twice: keep the last
        if r.get("kind") == "eval":
            evals[r["step"]] = r
    return [evals[s] for s in sorted(evals)]


def _metric(task, record):
    """The number a figure plots: the task's metric, less the optimum where the task has one."""
    return record[task.metric] - record.get("optimal_bits", 0.0)


def _metric_axis(ax, task):
    """The metric's axis (linear to 1, logarithmic above), grid and legend."""
    ax.set_ylabel(task.metric_label)
    ax.set_yscale("symlog", linthresh=1.0)
    top = ax.get_ylim()[1]
    ax.set_ylim(0, 10 ** np.ceil(np.log10(max(top, 1.0))))     # up to a labelled decade
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _learning_curves(runs, paths, out):
    task = runs[0][0]
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, path in zip(runs, paths):
        evals = read_log(path)
        ax.plot([max(r["seqs"], 1) for r in evals], [_metric(task, r) for r in evals],
                label=_label(run, path))
    ax.set_xlabel("sequences seen (step 0 drawn at 1)")
    ax.set_xscale("log")
    _metric_axis(ax, task)
    ax.set_title(f"{task.name}: evaluation on fresh sequences during training", fontsize=10)
    _save(fig, paths, out)


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
        _metric_axis(ax, task)
    fig.suptitle(f"{task.name}: beyond the training range ({count} sequences per point)",
                 fontsize=10)
    _save(fig, paths, out)


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


def draw_figures(main_run, baseline, path, baseline_path, out_dir, count=64):
    """Draw every figure the task has (`count` sequences per generalisation point); returns the
    paths written."""
    os.makedirs(out_dir, exist_ok=True)
    task = main_run[0]
    runs = [main_run] + ([baseline] if baseline else [])
    paths = [path] + ([baseline_path] if baseline else [])
    if hasattr(main_run[1], "greedy"):                   # an encoder-decoder: its own figures
        return draw_attention_figures(runs, paths, out_dir, count)
    if hasattr(main_run[1], "penalty"):                  # ACT
        return draw_act_figures(runs, paths, out_dir)
    if hasattr(task, "answered"):                        # a Neural Programmer's task
        return draw_programmer_figures(runs, paths, out_dir, count)
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
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, path in zip(runs, paths):
        if run[1].config["max_ponder"] > 1:
            ax.plot(values, _ponder_by(run, name, values, count), marker="o",
                    label=_label(run, path))
    ax.set_xlabel(label)
    ax.set_ylabel("ponder time ρ = N + R per input step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
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
    sizes = ", ".join(f"{k} {v}" for k, v in task.config.items())
    ax.set_title(f"{task.name} ({sizes}): {task.metric} against τ, "
                 f"{', '.join(f'{s:,}' for s in seqs)} training sequences", fontsize=10)
    _save(fig, sorted({os.path.dirname(r["path"]) for r in rows}), written[-1])
    if runs:
        written.append(os.path.join(out_dir, f"{task.name}_ponder_vs_difficulty.png"))
        _ponder_vs_difficulty([r for r, _ in runs], [p for _, p in runs], written[-1], count)
    return written


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
        soft, _ = model.forward_batch(params, batch, train=True)
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
        ax.set_title(f"{task.describe(batch, 0)}  ({'right' if ok else 'wrong'})", fontsize=8)
    for ax in axes.ravel()[len(examples):]:
        ax.axis("off")
    fig.suptitle(f"{task.name}: the program chosen at each step (shade: soft selection; dot: "
                 "hardmax, what evaluation runs)", fontsize=10)
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
    program heatmaps of the programmer, the error on each evaluation row, and the learning
    curves; returns the paths written."""
    task = runs[0][0]
    written = [os.path.join(out_dir, f"{task.name}_{s}.png")
               for s in ("programs", "by_row", "learning_curves")]
    programmers = [(r, p) for r, p in zip(runs, paths) if "q_W" in r[2]]
    if programmers:
        _program_figure(*programmers[0], written[0])
    else:
        written.pop(0)
    _error_by_row(runs, paths, written[-2], count)
    _learning_curves(runs, paths, written[-1])
    return written
