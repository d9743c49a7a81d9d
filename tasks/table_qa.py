"""Questions about a table of numbers (the Neural Programmer paper's synthetic task, §3.1, Table 4).

A table of `columns` columns (1: the paper's single-column task; 3 or 5: its next step) holds
integers uniform in [−100, 100], with 30 to 100 rows in training; the test tables hold
[−200, 200] with 120 rows (`split="test"`). A question is one of 23 templates (TEMPLATES):

    sum | count | print
    greater N  sum | count | print                 lesser N  sum | count | print
    greater N1 and lesser N2  sum | count | print   lesser N1 and greater N2  sum | count | print
    greater N1 or lesser N2  sum | count | print    lesser N1 or greater N2  sum | count | print
    sum diff count                                  count diff sum

With several columns, each comparison and each sum or print names its column (a letter), e.g.
"greater 17 A and lesser 40 C sum B"; count needs none. The numbers are taken out of the
question: the model reads the words, and the pivots of greater and lesser are the numbers that
follow those words (pivots by rule, ntm_scratch/programmer.py): the comparisons
greater (B, R, C) = [table > pivot_g] and lesser = [table < pivot_l] arrive with the batch.

Answers: sum, count and the differences are scalars (Huber loss, δ = `delta`); print answers
with the cells of its column in the selected rows (log-loss over the table's cells, weighted by
`lam`: the paper's λ). An answer is right when a scalar equals the true one to the first decimal
place (|error| < 0.05) or when every cell of a lookup is on the right side of 0.5.
"""
from dataclasses import dataclass

import numpy as np

from ntm_scratch.backend import array_module, to_host
from ntm_scratch.losses import huber_backward, huber_forward

from .base import BATCH_LENGTHS, Task, draw_sizes

# (conditions, logic, final): conditions are the comparisons in the order the question says
# them; logic joins two of them; final is what is done with the selected rows.
_FINALS = ("sum", "count", "print")
TEMPLATES = tuple(
    [((), None, f) for f in _FINALS]
    + [((c,), None, f) for c in ("greater", "lesser") for f in _FINALS]
    + [(pair, logic, f) for logic in ("and", "or") for pair in (("greater", "lesser"),
                                                                ("lesser", "greater"))
       for f in _FINALS]
    + [((), None, "sum diff count"), ((), None, "count diff sum")])
NAMES = tuple(" ".join(c if i == 0 else f"{logic} {c}" for i, c in enumerate(conds)) +
              (" " if conds else "") + final for conds, logic, final in TEMPLATES)
COLUMN_NAMES = "ABCDE"
WORDS = ("<pad>", "sum", "count", "print", "greater", "lesser", "and", "or", "diff",
         *COLUMN_NAMES)
WORD = {w: i for i, w in enumerate(WORDS)}
SPLITS = {"train": ((30, 100), 100), "test": ((120, 120), 200)}   # rows (low, high), |value| ≤


@dataclass
class TableBatch:
    """x: (L, B) the question's words, x_mask (L, B); table (B, R, C) and row_mask (B, R);
    greater, lesser (B, R, C): the comparisons with the question's pivots; y (B,) the scalar
    answer (0 for a lookup), target (B, R, C) the lookup answer's cells, is_lookup (B,);
    template (B,), cols (B, 3): the columns named by the first and second comparison and by
    the final sum or print; pivots (B, 2): pivot_g, pivot_l."""
    x: np.ndarray
    x_mask: np.ndarray
    table: np.ndarray
    row_mask: np.ndarray
    greater: np.ndarray
    lesser: np.ndarray
    y: np.ndarray
    target: np.ndarray
    is_lookup: np.ndarray
    template: np.ndarray
    cols: np.ndarray
    pivots: np.ndarray

    batch_first = ("table", "row_mask", "greater", "lesser", "y", "target", "is_lookup",
                   "template", "cols", "pivots")


class TableQATask(Task):
    name = "table-qa"
    summary = "answer questions about a table by inducing a program (Neural Programmer §3.1)"
    words = WORDS                                   # the question's vocabulary, by index
    options = (("columns", 1, "columns in every table, 1 to 5 (1: the paper's single-column "
                           "task)"),
               ("templates", "all", "the templates the questions are drawn from, their names "
                                    "separated by commas (e.g. 'sum diff count,count diff "
                                    "sum'); all 23 by default. `eval` still reports each one"),
               ("delta", 10.0, "δ of the Huber loss on scalar answers"),
               ("lam", 50.0, "λ, the weight of the log-loss on lookup answers"),
               BATCH_LENGTHS[:2] + ("training batches: 'one' draws one number of rows for all "
                                    "the batch's tables, so no row is padding; 'mixed' draws "
                                    "each table's own; evaluation always mixes",)
               + BATCH_LENGTHS[3:])
    models = ("programmer",)
    default_model = "programmer"
    metric = "error"
    metric_label = "% of questions answered wrong"
    report = ("error",)
    train_defaults = {"all": {"steps": 20000, "eval_every": 2000, "eval_size": 512,
                              "log_every": 20}}
    figure_examples = tuple((name, {"split": "test", "template": name}) for name in (
        "greater and lesser sum", "lesser or greater count", "sum diff count", "greater print",
        "count diff sum", "lesser and greater print"))
    eval_rows = (("train", {}), ("test", {"split": "test"}),
                 *((name, {"split": "test", "template": name}) for name in NAMES))

    predates = {"templates": "all"}     # what checkpoints older than the option were made with

    def __init__(self, columns=1, templates="all", delta=10.0, lam=50.0, batch_lengths="one"):
        if not 1 <= int(columns) <= len(COLUMN_NAMES):
            raise ValueError(f"columns must be from 1 to {len(COLUMN_NAMES)}")
        if templates != "all":
            names = [t.strip() for t in str(templates).split(",")]
            wrong = [t for t in names if t not in NAMES]
            if wrong or not names:
                raise ValueError(f"templates: {', '.join(map(repr, wrong))} not a template; "
                                 f"the templates are {'; '.join(NAMES)}")
            templates = ",".join(dict.fromkeys(names))
        self.drawn = (None if templates == "all" else
                      np.array([NAMES.index(t) for t in templates.split(",")]))
        if float(delta) <= 0 or float(lam) <= 0:
            raise ValueError("delta and lam must be positive")
        self.config = {"columns": int(columns), "templates": templates, "delta": float(delta),
                       "lam": float(lam), "batch_lengths": batch_lengths}
        self.input_size = len(WORDS)            # the vocabulary
        self.output_size = int(columns)         # the columns to choose from

    # ------------------------------------------------------------------ questions and tables
    def question_words(self, template, cols):
        """The words of one question (numbers taken out): template index, cols (3,)."""
        conds, logic, final = TEMPLATES[template]
        named = self.config["columns"] > 1
        col = lambda j: [COLUMN_NAMES[j]] if named else []
        words = []
        for i, c in enumerate(conds):
            words += ([logic] if i else []) + [c] + col(cols[i])
        for w in final.split():
            words += [w] + (col(cols[2]) if w in ("sum", "print") else [])
        return words

    def question_text(self, template, cols, pivots):
        """The question as the dataset writes it, numbers included."""
        out = []
        for w in self.question_words(template, cols):
            out.append(w)
            if w in ("greater", "lesser"):
                out.append(f"{pivots[0 if w == 'greater' else 1]:g}")
        return " ".join(out)

    def describe(self, batch, b):
        """Question b of a batch, with its true answer."""
        return self.question_text(int(batch.template[b]), to_host(batch.cols)[b],
                                  to_host(batch.pivots)[b]) + \
            f"; true answer: {self.answer_text(batch.target, batch.y, batch, b)}"

    def answer_text(self, lookup, scalar, batch, b):
        """An answer to question b in words: the number, or how many rows a lookup prints."""
        if float(to_host(batch.is_lookup)[b]):
            rows = int((to_host(lookup)[b] > 0.5).any(axis=-1).sum())
            return f"{rows} row{'s' if rows != 1 else ''} printed"
        return f"{float(to_host(scalar)[b]):.4g}"

    def model_answer(self, outs, batch, b):
        """The model's answer to question b, in the words of `answer_text`."""
        return self.answer_text(outs["lookup"], outs["scalar"], batch, b)

    def sample(self, rng, batch_size, split="train", template=None, one_size=False):
        """A batch of questions, each about a table of its own. template: one template's name
        (or index) for every question; None: uniform over the task's templates (all 23 unless
        the `templates` option names fewer). one_size: every table of the batch has the same
        number of rows."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}")
        if template is not None:
            template = NAMES.index(template) if isinstance(template, str) else int(template)
        B, C = batch_size, self.config["columns"]
        if template is not None:
            tmpl = np.full(B, template)
        elif self.drawn is None:
            tmpl = rng.integers(0, len(TEMPLATES), size=B)
        else:
            tmpl = self.drawn[rng.integers(0, len(self.drawn), size=B)]
        cols = rng.integers(0, C, size=(B, 3))
        return self.tables_for(rng, tmpl, cols, split, one_size=one_size)

    def tables_for(self, rng, tmpl, cols, split="train", pivots=None, one_size=False):
        """Fresh tables (and pivots unless given) for the questions (template, cols): the whole
        batch. Asking the same questions about new tables shows whether a program is the
        template's own or right by chance (`program_check`)."""
        (low, high), vmax = SPLITS[split]
        B, C = len(tmpl), self.config["columns"]
        rows = draw_sizes(rng, low, high, B, one_size=one_size)
        R = int(rows.max())
        row_mask = np.arange(R)[None, :] < rows[:, None]
        table = rng.integers(-vmax, vmax + 1, size=(B, R, C)) * row_mask[..., None]
        if pivots is None:
            pivots = rng.integers(-vmax, vmax + 1, size=(B, 2))
            # two conditions ask for a band (and: greater the smaller pivot, lesser the larger)
            # or for two tails (or: the other way round), so few select no row or every row
            logic = np.array([TEMPLATES[t][1] or "" for t in tmpl])
            low_first = np.sort(pivots, axis=1)
            pivots = np.where((logic == "and")[:, None], low_first,
                              np.where((logic == "or")[:, None], low_first[:, ::-1], pivots))
        greater = (table > pivots[:, 0, None, None]) & row_mask[..., None]
        lesser = (table < pivots[:, 1, None, None]) & row_mask[..., None]
        # the answers: rows selected by the conditions (each on its own column), then the final
        ex = np.arange(B)
        conds = [TEMPLATES[t][0] for t in tmpl]

        def condition(j):
            """The rows meeting the j-th comparison of each question (all rows where it has
            none), on the column it names."""
            kind = np.array([c[j] if len(c) > j else "" for c in conds])[:, None]
            return np.where(kind == "greater", greater[ex, :, cols[:, j]],
                            np.where(kind == "lesser", lesser[ex, :, cols[:, j]], row_mask))

        c1, c2 = condition(0), condition(1)
        either = np.array([TEMPLATES[t][1] == "or" for t in tmpl])[:, None]
        selected = np.where(either, c1 | c2, c1 & c2)       # one or no condition: c2 is all rows
        final = np.array([TEMPLATES[t][2] for t in tmpl])
        col_values = table[ex, :, cols[:, 2]]                                # (B, R)
        total = (selected * col_values).sum(axis=1)
        count = selected.sum(axis=1)
        whole_sum, whole_count = (row_mask * col_values).sum(axis=1), row_mask.sum(axis=1)
        y = np.select([final == "sum", final == "count", final == "sum diff count",
                       final == "count diff sum"],
                      [total, count, whole_sum - whole_count, whole_count - whole_sum], 0)
        is_lookup = final == "print"
        target = np.zeros((B, R, C))
        target[ex, :, cols[:, 2]] = selected * is_lookup[:, None]
        words = [[WORD[w] for w in self.question_words(t, c)] for t, c in zip(tmpl, cols)]
        L = max(len(w) for w in words)
        x = np.zeros((L, B), dtype=np.int64)
        for b, w in enumerate(words):
            x[:len(w), b] = w
        return TableBatch(x=x, x_mask=x != 0, table=table.astype(np.float64),
                          row_mask=row_mask.astype(np.float64),
                          greater=greater.astype(np.float64), lesser=lesser.astype(np.float64),
                          y=y.astype(np.float64), target=target,
                          is_lookup=is_lookup.astype(np.float64), template=tmpl, cols=cols,
                          pivots=pivots)

    # ------------------------------------------------------------------ programs
    @staticmethod
    def own_program(template, cols):
        """A 4-step program that answers the template (ops, cols: lists of 4): the
        comparisons (the one comparison three times over), then and/or, then the final
        operation; `reset` where a step has nothing to do."""
        conds, logic, final = TEMPLATES[template]
        f = int(cols[2])
        if final == "sum diff count":
            return ["sum", "reset", "count", "difference"], [f, 0, 0, 0]
        if final == "count diff sum":
            return ["count", "reset", "sum", "difference"], [0, 0, f, 0]
        if len(conds) == 2:
            return [conds[0], conds[1], logic, final], [int(cols[0]), int(cols[1]), 0, f]
        if len(conds) == 1:
            return [conds[0]] * 3 + [final], [int(cols[0])] * 3 + [f]
        return ["reset"] * 3 + [final], [0, 0, 0, f]

    def program_check(self, model, params, batch, rng, tables=4):
        """% of questions whose induced program is the template's own: the model's hardmax
        answer is right on the question's own table and on `tables` fresh test tables asked the
        same question (same words, same pivots). A program can be right on one table by chance (an
        empty selection, a sum that equals a count); it is rarely right on five."""
        from ntm_scratch.train import batch_to_device
        dtype = params["q_W"].dtype
        right = None
        for k in range(tables + 1):
            b = batch if k == 0 else batch_to_device(self.tables_for(
                rng, to_host(batch.template), to_host(batch.cols), "test",
                to_host(batch.pivots)), dtype)
            outs, _ = model.forward_batch(params, b, train=False)
            ok = self.answered(outs, b)
            right = ok if right is None else right * ok
        return 100.0 * right.sum() / right.shape[0]

    def program_landscape(self, template, rng, count=256, steps=4):
        """The training loss and the % answered wrong of every hard program of `steps` steps
        (one column: 9^steps programs) on the same `count` questions of one template, training
        tables. Returns {program (tuple of operation names): (loss, % wrong)}. A hard program
        is a corner of the soft selection's space: this maps the plateaus that gradient
        descent on the soft selection has to cross."""
        import itertools
        from ntm_scratch.programmer import OPS, run_program
        if self.config["columns"] != 1:
            raise ValueError("the program landscape is for the one-column task")
        k = NAMES.index(template) if isinstance(template, str) else int(template)
        batch = self.tables_for(rng, np.full(count, k), np.zeros((count, 3), dtype=int))
        cols = np.zeros((steps, count), dtype=int)
        out = {}
        for program in itertools.product(range(len(OPS)), repeat=steps):
            ops = np.repeat(np.array(program)[:, None], count, axis=1)
            made = run_program(ops, cols, batch.table, batch.row_mask, batch.greater,
                               batch.lesser)
            loss, _, metrics = self.loss(made, batch)
            out[tuple(OPS[i] for i in program)] = (float(loss), float(metrics["error"]))
        return out

    # ------------------------------------------------------------------ loss
    def answered(self, outs, batch):
        """(B,) 1 where the answer is right: a scalar within 0.05 of the truth (equal to the
        first decimal place), or a lookup whose every real cell is on the right side of 0.5."""
        xp = array_module(outs["scalar"])
        dt = outs["scalar"].dtype
        look = xp.asarray(batch.is_lookup, dtype=dt)
        cells = xp.asarray(batch.row_mask, dtype=dt)[..., None]
        wrong_cells = ((outs["lookup"] > 0.5) != (xp.asarray(batch.target) > 0.5)) * cells
        scalar_ok = xp.abs(outs["scalar"] - xp.asarray(batch.y, dtype=dt)) < 0.05
        return xp.where(look > 0, wrong_cells.sum(axis=(1, 2)) == 0, scalar_ok).astype(dt)

    def loss(self, outs, batch):
        """L = mean over questions of (1 − is_lookup)·Huber_δ(scalar − y) + is_lookup·λ·(the
        log-loss of the lookup, averaged over the table's real cells). Returns the loss, the
        gradients of outs['scalar'] and outs['lookup'], and the metrics (percentages)."""
        xp = array_module(outs["scalar"])
        dt = outs["scalar"].dtype
        B = outs["scalar"].shape[0]
        y, look = xp.asarray(batch.y, dtype=dt), xp.asarray(batch.is_lookup, dtype=dt)
        target = xp.asarray(batch.target, dtype=dt)
        cells = xp.asarray(batch.row_mask, dtype=dt)[..., None] * xp.ones_like(target)
        n_cells = cells.sum(axis=(1, 2))                                    # (B,)
        huber, h_cache = huber_forward(outs["scalar"], y, self.config["delta"], 1.0 - look)
        dscalar, _ = huber_backward(1.0 / B, h_cache)
        # log-loss with ε inside the logs: the lookup is a product of weights in [0, 1]
        p, eps = outs["lookup"], 1e-6
        w = (self.config["lam"] * look / n_cells)[:, None, None] * cells
        ll = -(w * (target * xp.log(p + eps) + (1 - target) * xp.log(1 - p + eps))).sum()
        dlookup = -(w * (target / (p + eps) - (1 - target) / (1 - p + eps))) / B
        metrics = {"error": 100.0 * (1.0 - self.answered(outs, batch)).sum() / B}
        return (huber + ll) / B, {"scalar": dscalar, "lookup": dlookup}, metrics
