"""Arithmetic expressions (the Distill article's simpler Neural Programmer): the value of an
expression of 2 to 4 whole numbers joined by +, − and ×, with × taken before + and − and
otherwise from left to right: 3 + 4 × 5 − 6 = 17.

The numbers are uniform in [0, `high`] (9 in training). The pipe model (ntm_scratch/pipe.py)
reads the expression with its numbers taken out, "N + N × N − N", and gets the numbers as
values; it must build the program (here 4 × 5, then 3 + that, then that − 6) from operations on
the outputs of earlier steps, and is trained on the final value alone. The LSTM baseline reads
the whole expression, one symbol per step (a digit string per number, then the operator), and
answers with a linear readout at its last symbol.

Loss: Huber (δ = `delta`) of the answer. An answer is right when it rounds to the true value
(|error| < 0.5). `run.py eval arithmetic` also asks about numbers up to 99, which neither model
saw: a program does not care how large its numbers are.
"""
import itertools
from dataclasses import dataclass

import numpy as np

from ntm_scratch.backend import array_module, to_host
from ntm_scratch.losses import huber_backward, huber_forward

from .base import BATCH_LENGTHS, Task, draw_sizes

OPERATORS = "+-*"
WORDS = ("<pad>", "N", *OPERATORS)                     # what the pipe reads
SYMBOLS = "0123456789" + OPERATORS                     # what the LSTM reads, one-hot


@dataclass
class ArithmeticBatch:
    """x: (L, B, len(SYMBOLS)) the expression, one-hot, for the LSTM; last: (L, B) 1 at each
    expression's last symbol; words (W, B), words_mask: the pipe's words; values (B, N),
    value_mask: the numbers; y (B,) the value; numbers (B,) how many numbers."""
    x: np.ndarray
    last: np.ndarray
    words: np.ndarray
    words_mask: np.ndarray
    values: np.ndarray
    value_mask: np.ndarray
    y: np.ndarray
    numbers: np.ndarray

    batch_first = ("values", "value_mask", "y", "numbers")


def evaluate_expression(numbers, operators):
    """The value of n_1 o_1 n_2 o_2 ... with × first, then + and − from left to right."""
    terms, signs = [numbers[0]], []
    for op, n in zip(operators, numbers[1:]):
        if op == "*":
            terms[-1] = terms[-1] * n
        else:
            terms.append(n)
            signs.append(op)
    value = terms[0]
    for sign, term in zip(signs, terms[1:]):
        value = value + term if sign == "+" else value - term
    return value


class ArithmeticTask(Task):
    name = "arithmetic"
    summary = "the value of an expression such as 3 + 4 × 5 − 6 (Distill's Neural Programmer)"
    words = WORDS                                   # the question's vocabulary, by index
    options = (("max_numbers", 4, "the most numbers in an expression (at least 2)"),
               ("delta", 10.0, "δ of the Huber loss"),
               BATCH_LENGTHS)
    models = ("pipe", "lstm")
    default_model = "pipe"
    model_defaults = {"lstm": {"hidden": 64, "layers": 1}}    # about the pipe's size
    metric = "error"
    metric_label = "% of expressions answered wrong"
    report = ("error",)
    train_defaults = {"all": {"steps": 40000, "eval_every": 500, "eval_size": 512,
                              "log_every": 20, "batch_size": 64},
                      "lstm": {"optimizer": "adam", "lr": 3e-3, "clip_norm": 10.0,
                               "clip_value": None}}

    def __init__(self, max_numbers=4, delta=10.0, batch_lengths="one"):
        if int(max_numbers) < 2:
            raise ValueError("max_numbers must be at least 2")
        if float(delta) <= 0:
            raise ValueError("delta must be positive")
        self.config = {"max_numbers": int(max_numbers), "delta": float(delta),
                       "batch_lengths": batch_lengths}
        self.input_size = len(SYMBOLS)           # the LSTM's input; the pipe's words: WORDS
        self.output_size = 1
        self.eval_rows = (("train", {}),
                          *((f"{n} numbers", {"numbers": n})
                            for n in range(2, int(max_numbers) + 1)),
                          ("to 99", {"high": 99}))

    def model_sizes(self, model_name):
        """(input_size, output_size) for a model: the pipe reads words and picks among up to
        max_numbers values; the LSTM reads one-hot symbols and answers one number."""
        if model_name == "pipe":
            return len(WORDS), self.config["max_numbers"]
        return self.input_size, self.output_size

    def operator_patterns(self):
        """Every operator pattern an expression can have, shortest first: '+', '-', '*', '++',
        '+-', ... (3 + 9 + 27 = 39 of them with 4 numbers)."""
        N = self.config["max_numbers"]
        return ["".join(p) for n in range(1, N) for p in itertools.product(OPERATORS, repeat=n)]

    def expand_varied(self, keyword, values):
        """`run.py eval arithmetic --operators all`: every pattern, one row each."""
        if keyword == "operators" and "all" in values:
            return self.operator_patterns()
        return values

    def sample(self, rng, batch_size, numbers=None, high=9, one_size=False, operators=None):
        """numbers: how many numbers in every expression (None: uniform from 2 to the most,
        drawn once for the whole batch when `one_size`); high: the largest number; operators:
        None, or one pattern such as '-*' for every expression (so 3 numbers: n − n × n)."""
        N = self.config["max_numbers"]
        if operators is not None:
            if operators not in self.operator_patterns():
                raise ValueError(f"operators must be 1 to {N - 1} of {OPERATORS}, "
                                 f"got {operators!r}")
            if numbers not in (None, len(operators) + 1):
                raise ValueError(f"{operators!r} joins {len(operators) + 1} numbers")
            numbers = len(operators) + 1
        if numbers is not None and not 2 <= numbers <= N:
            raise ValueError(f"arithmetic needs 2 <= numbers <= {N}")
        if int(high) < 1:
            raise ValueError("high must be at least 1")
        B = batch_size
        count = draw_sizes(rng, 2, N, B, numbers, one_size)
        values = rng.integers(0, int(high) + 1, size=(B, N))
        value_mask = np.arange(N)[None, :] < count[:, None]
        values = values * value_mask
        ops = rng.integers(0, len(OPERATORS), size=(B, N - 1))
        if operators is not None:
            ops[:, :len(operators)] = [OPERATORS.index(o) for o in operators]
        symbols, words, y = [], [], np.zeros(B)
        for b in range(B):                      # host-side data, built one expression at a time
            n = int(count[b])
            nums, opers = [int(v) for v in values[b, :n]], [OPERATORS[o] for o in ops[b, :n - 1]]
            y[b] = evaluate_expression(nums, opers)
            text = str(nums[0]) + "".join(o + str(v) for o, v in zip(opers, nums[1:]))
            symbols.append([SYMBOLS.index(ch) for ch in text])
            words.append([1] + [w for o in opers for w in (WORDS.index(o), 1)])
        L, W = max(map(len, symbols)), max(map(len, words))
        x = np.zeros((L, B, len(SYMBOLS)))
        last = np.zeros((L, B))
        w = np.zeros((W, B), dtype=np.int64)
        for b in range(B):
            x[np.arange(len(symbols[b])), b, symbols[b]] = 1.0
            last[len(symbols[b]) - 1, b] = 1.0
            w[:len(words[b]), b] = words[b]
        return ArithmeticBatch(x=x, last=last, words=w, words_mask=w != 0,
                               values=values.astype(np.float64), value_mask=value_mask, y=y,
                               numbers=count)

    def text(self, batch, b):
        """Expression b of a batch, as written."""
        n = int(batch.numbers[b])
        ops = [OPERATORS[int(t) - 2] for t in batch.words[1:2 * n - 1:2, b]]
        nums = [f"{float(v):g}" for v in batch.values[b, :n]]
        return " ".join(nums[:1] + [s for o, v in zip(ops, nums[1:]) for s in (o, v)])

    figure_examples = (("a", {"numbers": 4}), ("b", {"numbers": 4}), ("c", {"numbers": 3}),
                       ("d", {"numbers": 2}))

    def describe(self, batch, b):
        """Expression b of a batch, with its true value."""
        return f"{self.text(batch, b)}; true value: {float(batch.y[b]):g}"

    def model_answer(self, outs, batch, b):
        """The model's value for expression b."""
        return f"{float(to_host(self.prediction(outs, batch))[b]):.4g}"

    @staticmethod
    def prediction(outs, batch):
        """The answer: the pipe's o_T, or the LSTM's readout at each expression's last symbol."""
        if isinstance(outs, dict):
            return outs["value"]
        xp = array_module(outs)
        return (outs[..., 0] * xp.asarray(batch.last, dtype=outs.dtype)).sum(axis=0)

    def answered(self, outs, batch):
        """(B,) 1 where the answer rounds to the true value (|error| < 0.5)."""
        pred = self.prediction(outs, batch)
        xp = array_module(pred)
        return _rounds_to(pred, xp.asarray(batch.y, dtype=pred.dtype))

    def loss(self, outs, batch):
        """Huber of the answer; its gradient goes to o_T or to the LSTM's last-symbol logit.
        For programs drawn by the pipe (`selection="sample"`: outs has 'log_p'), `sampled_loss`."""
        if isinstance(outs, dict) and "log_p" in outs:
            return self.sampled_loss(outs, batch)
        pred = self.prediction(outs, batch)
        xp = array_module(pred)
        y = xp.asarray(batch.y, dtype=pred.dtype)
        B = pred.shape[0]
        loss, cache = huber_forward(pred, y, self.config["delta"])
        dpred, _ = huber_backward(1.0 / B, cache)
        if isinstance(outs, dict):
            douts = {"value": dpred}
        else:
            douts = (dpred[None, :] * xp.asarray(batch.last, dtype=pred.dtype))[..., None]
        metrics = {"error": 100.0 * (1.0 - self.answered(outs, batch)).sum() / B}
        return loss / B, douts, metrics

    @staticmethod
    def sampled_loss(outs, batch):
        """Maximum marginal likelihood over K programs drawn for each question: with h_bk = 1
        where draw k of question b hits the answer (rounds to it) and w_bk = h_bk / max(1,
        Σ_k h_bk), the loss is −(1/B) Σ_b Σ_k w_bk·log p_bk with w held constant. Its gradient,
        −(1/B) Σ w_bk·∇log p_bk, is the sampled estimate of the gradient of −(1/B) Σ_b log Σ_z
        p(z | b) over the programs z that hit, since the draws that hit come with probability
        p(z | b) / Σ_z p(z | b). A question with no hit adds nothing (so the estimate is
        unbiased only given a hit; docs/MATH.md). Metrics: `error`, the % of
        drawn programs that miss; `found`, the % of questions with at least one hit."""
        value, log_p = outs["value"], outs["log_p"]
        xp = array_module(value)
        B = batch.y.shape[0]
        y = xp.repeat(xp.asarray(batch.y, dtype=value.dtype), value.shape[0] // B)
        hit = _rounds_to(value, y).reshape(B, -1)
        w = (hit / xp.maximum(1.0, hit.sum(axis=1, keepdims=True))).reshape(-1) / B
        metrics = {"error": 100.0 * (1.0 - hit.mean()),
                   "found": 100.0 * (hit.sum(axis=1) > 0).mean()}
        return -(w * log_p).sum(), {"value": xp.zeros_like(value), "log_p": -w}, metrics


def _rounds_to(pred, y):
    """1 where an answer rounds to the true value (|error| < 0.5), else 0, in pred's dtype."""
    return (array_module(pred).abs(pred - y) < 0.5).astype(pred.dtype)
