"""`run.py explore`: one self-contained HTML page that shows a trained model at work.

    python run.py explore copy --checkpoint checkpoints/copy.npz [--out copy_explorer.html]

The page (ntm_scratch/explorer.html, with the data embedded as JSON: no network, no server)
has a time slider and a play button. For an NTM it shows, at each step, the input, the
target and the output so far; the memory after the step's write; every head's weighting over
time; and, for a chosen head, the four addressing stages (w^c, w^g, w̃, w) with k, β, g, s and
γ; the examples are the task's figure examples, one drawn as in training and one beyond the
training range. For ACT it shows ρ at every input step and, for the step chosen, each ponder
step's halting probability, the remainder and the answer, on an easy, a middle and the
hardest setting of the task's difficulty. For an encoder–decoder, the alignment building up
as the greedy decoder produces each token. For the Neural Programmer and the pipe, each
step's soft and hard choices and what the hard program made (rows selected, values). FILE.html#example=1&step=30 opens it at that example and step; opened as
FILE.html#selftest, the page moves its slider itself and reports what changed (the browser
test reads that).
"""
import html
import json
import os

import numpy as np

from . import backend
from .act import EPSILON
from .figures import _example
from .train import batch_to_device

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "explorer.html")
DIGITS = 3                                   # decimals kept in the page: enough to draw


def _rounded(a, digits=DIGITS):
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


def _examples(task):
    """(label, tag, sample kwargs): the task's figure examples, one drawn as in training (unless
    a figure example is one already), and for each generalisation setting the first value
    beyond the training range. Examples beyond it say so."""
    limits = {name: trained for name, _, trained in task.generalisation}
    found = []
    for tag, kwargs in task.figure_examples:
        found.append((tag, dict(kwargs)))
    if not any(kwargs == {} for _, kwargs in found):
        found.append(("train", {}))
    for name, values, trained in task.generalisation:
        beyond = [v for v in values if v > trained]
        if beyond and not any(kw.get(name, 0) > trained for _, kw in found):
            found.append((f"beyond-{name}", {name: beyond[0]}))
    labelled = []
    for tag, kwargs in found:
        label = ", ".join(f"{k} {v}" for k, v in kwargs.items()) or "drawn as in training"
        over = [f"{k} at most {limits[k]}" for k, v in kwargs.items()
                if k in limits and isinstance(v, int) and v > limits[k]]
        if over:
            label += f" (beyond training: {', '.join(over)})"
        labelled.append([label, tag, kwargs])
    names = [label for label, _, _ in labelled]
    for item in labelled:                      # the same settings twice: number them
        if names.count(item[0]) > 1:
            item[0] = f"{item[0]} ({item[1]})"
    return [tuple(item) for item in labelled]


def ntm_data(task, model, params):
    """The page's data for an NTM: the sizes and, per example, every step's trace."""
    dtype = params["W_y"].dtype
    examples = []
    for label, tag, kwargs in _examples(task):
        batch = _example(task, tag, kwargs)
        tr = model.trace(params, backend.to_device(batch.x, dtype), detail=True)
        probs = 1.0 / (1.0 + np.exp(-tr["logits"][:, 0]))
        ex = {"label": label, "x": _rounded(batch.x[:, 0]), "y": _rounded(batch.y[:, 0]),
              "mask": _rounded(batch.mask[:, 0], 0), "out": _rounded(probs),
              "memory": _rounded(tr["memory"][:, 0], 2)}
        for kind in ("read", "write"):
            ex[f"{kind}_w"] = _rounded(tr[f"{kind}_weights"][:, 0])
            for key in ("wc", "wg", "w_tilde", "k", "beta", "g", "s", "gamma"):
                ex[f"{kind}_{key}"] = _rounded(tr[f"{kind}_{key}"][:, 0])
        examples.append(ex)
    memory = np.concatenate([np.abs(np.asarray(e["memory"])).ravel() for e in examples])
    keys = np.concatenate([np.abs(np.asarray(e[f"{k}_k"])).ravel() for e in examples
                           for k in ("read", "write")])
    return {"N": model.N, "M": model.M, "Hr": model.Hr, "Hw": model.Hw, "examples": examples,
            "memory_scale": float(max(np.percentile(memory, 99), 1e-6)),
            "key_scale": float(max(np.percentile(keys, 99), 1e-6))}


def _act_examples(task):
    """(label, tag, sample kwargs): the easiest, a middle and the hardest setting of the task's
    difficulty (ACT paper Figs. 6, 14: ponder time should follow it)."""
    name, values, axis = task.difficulty()
    chosen = sorted({values[0], values[len(values) // 2], values[-1]})
    found = [(f"{axis}: {v}", f"explore-{v}", {name: v}) for v in chosen]
    if "max_steps" in task.config:             # logic: a sequence twice the longest trained
        longest = task.config["max_steps"]
        found.append((f"length {2 * longest} (beyond training: at most {longest})",
                      "explore-long", {"length": 2 * longest}))
    return found


def _answers(task, batch, logits):
    """Each input step's target and the model's answer, as text ('' where nothing is scored):
    a bit and P(1) for one sigmoid output, else the decimal digits of addition's sums."""
    T = batch.x.shape[0]
    scored = np.asarray(batch.mask)[:, 0] > 0
    if task.output_size == 1:
        p = 1.0 / (1.0 + np.exp(-logits[:, 0, 0]))
        return ([f"{int(batch.y[t, 0, 0])}" if scored[t] else "" for t in range(T)],
                [f"{int(p[t] > 0.5)} (P(1) = {p[t]:.2f})" if scored[t] else "" for t in range(T)])
    digits = logits[:, 0].reshape(T, -1, 11).argmax(axis=-1)
    text = lambda row: "".join(str(d) for d in row if d < 10) or "-"
    return ([text(batch.y[t, 0]) if scored[t] else "" for t in range(T)],
            [text(digits[t]) if scored[t] else "" for t in range(T)])


def act_data(task, model, params):
    """The page's data for ACT: per example, each input step's ponder steps (halting
    probabilities h^n, their weights p^n), N, the remainder R and ρ = N + R."""
    dtype = params["W_y"].dtype
    examples = []
    for label, tag, kwargs in _act_examples(task):
        batch = _example(task, tag, kwargs)
        logits, cache = model.forward_batch(params, batch_to_device(batch, dtype), train=True)
        live = np.asarray(getattr(batch, "input_mask", np.ones(batch.x.shape[:2])))[:, 0] > 0
        steps = []
        rho = backend.to_host(cache["rho"])[:, 0]
        for t, c in enumerate(cache["caches"]):
            if not live[t]:
                break
            n = int(backend.to_host(c["N"])[0])
            h = [float(backend.to_host(st["h"])[0]) for st in c["steps"][:n]]
            p = [float(backend.to_host(st["p"])[0]) for st in c["steps"][:n]]
            steps.append({"h": _rounded(h), "p": _rounded(p), "N": n, "R": round(p[-1], DIGITS),
                          "rho": round(float(rho[t]), DIGITS)})        # the model's own ρ_t
        target, answer = _answers(task, batch, backend.to_host(logits))
        T = len(steps)
        examples.append({"label": label, "x": _rounded(batch.x[:T, 0]), "steps": steps,
                         "target": target[:T], "answer": answer[:T]})
    return {"examples": examples, "epsilon": EPSILON, "max_ponder": model.config["max_ponder"],
            "tau": model.config["tau"]}


def _tokens(ids, alphabet, stop=True):
    """Token ids -> their symbols, one per position, the special tokens named; up to and
    including the first end token (`stop`), or up to the padding (a source)."""
    from tasks.tokens import BOS, EOS, PAD, SPECIALS
    out = []
    for t in (int(t) for t in ids):
        if not stop and t == PAD:
            break
        name = {PAD: "<pad>", BOS: "<bos>", EOS: "<eos>"}.get(t)
        if name is None:
            k = t - SPECIALS
            name = alphabet[k] if k < len(alphabet) else str(t)
        out.append(name)
        if stop and t == EOS:
            break
    return out


def seq2seq_data(task, model, params):
    """The page's data for an encoder–decoder: per example the source, the greedy decoder's
    output, the target, and the attention weights of every output step over the source."""
    dtype = params["W_y"].dtype
    examples = []
    for label, tag, kwargs in _examples(task):
        batch = batch_to_device(_example(task, tag, kwargs), dtype)
        logits, alpha = model.greedy(params, batch)
        source = _tokens(backend.to_host(batch.x)[:, 0], task.source_alphabet, stop=False)
        said = _tokens(backend.to_host(logits.argmax(axis=-1))[:, 0], task.target_alphabet)
        truth = _tokens(backend.to_host(batch.y)[:, 0], task.target_alphabet)
        a = backend.to_host(alpha)[:len(said), 0, :len(source)]      # every step, in order
        examples.append({"label": label, "source": source, "said": said, "truth": truth,
                         "alpha": _rounded(a)})
    return {"examples": examples, "attention": model.config["attention"]}


def program_data(task, model, params):
    """The page's data for the Neural Programmer and the pipe: per example the question, each
    step's soft choices (training's softmax) and hard choices (evaluation's hardmax), what each
    step of the hard program made (the programmer: its row selection and scalar; the pipe: its
    value), the table or the numbers, and the answer."""
    from .figures_programmer import _program_axes, question_words
    parts = _program_axes(task, model)
    dtype = params["q_W"].dtype
    examples = []
    for tag, kwargs in task.figure_examples:
        batch = batch_to_device(_example(task, tag, kwargs), dtype)
        soft, _ = model.forward_batch(params, batch, train=True, softmax=True)
        hard, _ = model.forward_batch(params, batch, train=False)
        host = lambda k, d=hard: backend.to_host(d[k])[:, 0]
        where = ", ".join(f"{k} {v}" for k, v in kwargs.items() if k != "template")
        ex = {"label": f"{tag} ({where})" if where else tag, "question": task.describe(batch, 0),
              "answer": task.model_answer(hard, batch, 0),
              "right": bool(backend.to_host(task.answered(hard, batch))[0]),
              "parts": [{"name": k, "choices": names, "soft": _rounded(host(k, soft)),
                         "hard": _rounded(host(k), 0)} for k, names in parts]}
        if "question_attention" in soft:       # the words each step reads: soft in both modes
            words = question_words(task, model, batch)
            ex["read"] = {"words": words,
                          "weights": _rounded(host("question_attention", soft)[:, :len(words)])}
        if model.name == "pipe":
            ex["made"] = _rounded(host("value_steps"))
            shown = np.asarray(backend.to_host(batch.value_mask))[0].astype(bool)
            ex["numbers"] = _rounded(np.asarray(backend.to_host(batch.values))[0][shown])
        else:
            rows = int(backend.to_host(batch.row_mask)[0].sum())
            ex["made"] = _rounded(host("scalar_steps"))
            ex["rows"] = _rounded(host("rs_steps")[:, :rows])
            ex["table"] = _rounded(backend.to_host(batch.table)[0, :rows])
        examples.append(ex)
    return {"examples": examples, "model": model.name}


def write_explorer(run, path, out):
    """Write the page for a trained run (task, model, params, meta) loaded from `path`."""
    task, model, params, meta = run
    data = {"ntm": ntm_data, "act": act_data, "seq2seq": seq2seq_data,
            "programmer": program_data, "pipe": program_data}[model.name](task, model, params)
    data["kind"] = model.name
    data["subtitle"] = (f"{model.name.upper()} from {path}, trained on {meta['seqs']:,} "
                        f"sequences ({meta['step']:,} steps). Drag the slider, or press play.")
    with open(TEMPLATE, encoding="utf-8") as f:
        page = f.read()
    title = html.escape(f"{task.name}: a trained {model.name.upper()} at work")
    text = json.dumps(data, separators=(",", ":"))
    for ch, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(ch, code)             # nothing in it can end or open a tag
    page = page.replace("__TITLE__", title).replace("__DATA__", text)
    with open(out, "w", encoding="utf-8") as f:
        f.write(page)
    return os.path.getsize(out)
