"""`run.py`: train a task, with every bad input answered by one line and exit status 2.

    python run.py --help
    python run.py TASK [--model M] [--steps N] [--batch-size B] [--seed S] [--lr X]
                       [--backend numpy|cupy] [--checkpoint PATH] [--resume PATH]
                       [--eval-every K] [...]                       train
    python run.py eval TASK --checkpoint PATH [--lengths 10,20,...]      cost per length
    python run.py compare TASK --checkpoints A B ... [--lengths ...] [--out F.png]   side by side
    python run.py figures TASK --checkpoint PATH [--baseline PATH]      draw into figures/
    python run.py bench [--model ntm] [--batch-sizes 1,8,32,128]        training throughput

Settings are resolved in this order, later winning: TrainConfig's defaults, the model's
`train_defaults`, the task's `train_defaults`, the checkpoint's (when resuming), then the flags
given on the command line. A checkpoint fixes the task and model configuration: a flag that
contradicts it is refused rather than silently ignored.
"""
import argparse
import contextlib
import inspect
import json
import math
import os
import sys
import time
from dataclasses import asdict, fields

from . import backend
from .act import ACTModel
from .backend import BackendError
from .checkpoint import (CheckpointError, load_checkpoint, remove_stale_temporaries,
                         shown_path)
from .lstm import LSTMModel
from .ntm import NTMModel
from .optim import OPTIMIZERS, make_optimizer
from .parallel import SPLIT_AT, default_workers, set_blas_threads, usable_cores
from .pipe import PipeModel
from .programmer import ProgrammerModel
from .seq2seq import Seq2SeqModel
from .train import DTYPES, TrainConfig, TrainingError, best_path, train

MODELS = {m.name: m for m in (NTMModel, LSTMModel, Seq2SeqModel, ACTModel, ProgrammerModel,
                                PipeModel)}


def _tasks():
    from tasks import TASKS      # the tasks live beside the package, at the project's top level
    return TASKS


class CLIError(Exception):
    """Bad input: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """Errors in one line; no abbreviated flags (`--tau` is not `--taus`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):                     # one line instead of usage + message
        raise CLIError(message)


# ----------------------------------------------------------------------------- argument types
def _number(cast, what, ok):
    """An argparse type: `cast` the text, then require `ok(value)`; else say `what` was expected."""
    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value
    return parse


MAX_COUNT = 2 ** 31 - 1          # steps, batch sizes, intervals: beyond it nothing can be allocated
positive_int = _number(int, f"a positive integer up to {MAX_COUNT:,}",
                       lambda v: 0 < v <= MAX_COUNT)
nonnegative_int = _number(int, "a whole number >= 0", lambda v: v >= 0)
positive_float = _number(float, "a positive number", lambda v: math.isfinite(v) and v > 0)
nonnegative_float = _number(float, "a number >= 0", lambda v: math.isfinite(v) and v >= 0)
MAX_SIZE = 100_000
size_int = _number(int, f"a positive integer up to {MAX_SIZE:,}", lambda v: 0 < v <= MAX_SIZE)


def _list(cast, what, ok):
    """An argparse type for comma-separated values, each cast and then checked by `ok`."""
    def parse(text):
        try:
            values = [cast(v) for v in text.split(",") if v.strip()]
        except ValueError:
            values = []
        if not values or not all(ok(v) for v in values):
            raise argparse.ArgumentTypeError(f"must be {what} separated by commas, got {text!r}")
        return values
    return parse


int_list = _list(int, "positive integers", lambda v: 0 < v <= MAX_SIZE)
_seeds = _list(int, "distinct whole numbers >= 0", lambda v: v >= 0)
_taus = _list(float, "positive numbers", lambda v: math.isfinite(v) and v > 0)


def seed_list(text):
    values = _seeds(text)
    if len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"must be distinct whole numbers >= 0 separated by "
                                         f"commas, got {text!r}")
    return values


def tau_list(text):
    return sorted(set(_taus(text)))


def path_arg(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("must be a file path, got an empty string")
    return text


def text_arg(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def scheduler_address(text):
    """A Dask scheduler's address: tcp://HOST:PORT (HOST:PORT means tcp)."""
    import re
    if not re.fullmatch(r"(tcp://)?[A-Za-z0-9._\-\[\]:]+:\d{1,5}", text.strip()):
        raise argparse.ArgumentTypeError(f"must be a scheduler's address, tcp://HOST:PORT, "
                                         f"got {text!r}")
    return text.strip()


def _flag(name):
    return "--" + name.replace("_", "-")


# ----------------------------------------------------------------------------- the parser
BACKEND_HELP = "numpy (CPU) or cupy (GPU); default: $NTM_BACKEND, else numpy"


def build_parser():
    tasks = _tasks()
    parser = Parser(
        prog="run.py",
        description="Train augmented RNNs written from scratch in NumPy/CuPy. "
                    "Tasks: " + ", ".join(tasks) + ". Run `python run.py TASK --help` for a "
                    "task's options.")
    sub = parser.add_subparsers(dest="command", metavar="TASK | eval | compare | figures | explore | programs | export | sweep | bench",
                                parser_class=Parser)
    sub.required = True
    for name, task_cls in tasks.items():
        p = sub.add_parser(name, help=f"train on {name}: " + task_cls.summary)
        add_train_arguments(p, task_cls)

    p = sub.add_parser("eval", help="a checkpoint's cost on fresh sequences, by length or size")
    p.add_argument("task", choices=list(tasks))
    p.add_argument("--checkpoint", metavar="PATH", type=path_arg, required=True,
                   help="the trained model to evaluate")
    _add_varied_flags(p)
    p.add_argument("--count", type=positive_int, default=256, help="sequences per length")
    p.add_argument("--seed", type=nonnegative_int, default=1234, help="seeds the test sequences")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the table: task, model, step, "
                        "sequences, and rows of metrics, each with its setting")
    p.add_argument("--backend", choices=list(backend.BACKENDS), help=BACKEND_HELP)

    p = sub.add_parser("compare", help="several trained models on the same fresh sequences as "
                                       "one setting varies; runs that differ only in their seed "
                                       "form one line (mean, lowest, highest); a table and a figure")
    p.add_argument("task", choices=list(tasks))
    p.add_argument("--checkpoints", metavar="PATH", type=path_arg, nargs="+", required=True,
                   help="the trained models")
    _add_varied_flags(p)
    p.add_argument("--count", type=positive_int, default=64, help="sequences per value")
    p.add_argument("--seed", type=nonnegative_int, default=1234, help="seeds the test sequences")
    p.add_argument("--out", metavar="FILE.png", type=path_arg,
                   help="draw the comparison into this file")
    p.add_argument("--json", metavar="PATH", type=path_arg,
                   help="also write the table, with every run's own numbers, as JSON")
    p.add_argument("--backend", choices=list(backend.BACKENDS), help=BACKEND_HELP)

    p = sub.add_parser("figures", help="draw a trained model's figures (beside its checkpoint, "
                                       "or into --out)")
    p.add_argument("task", choices=list(tasks))
    p.add_argument("--checkpoint", metavar="PATH", type=path_arg, required=True,
                   help="the model to draw (its log gives the learning curve)")
    p.add_argument("--baseline", metavar="PATH", type=path_arg,
                   help="a second checkpoint to compare with (the LSTM baseline)")
    p.add_argument("--out", metavar="DIR", type=path_arg,
                   help="where the pictures go (default: the checkpoint's own folder; "
                        "--out figures writes the project's figures/)")
    p.add_argument("--count", type=positive_int, default=64,
                   help="fresh sequences per point of the generalisation figure "
                        "(per row of the Neural Programmer's error figure)")
    p.add_argument("--backend", choices=list(backend.BACKENDS), help=BACKEND_HELP)

    p = sub.add_parser("explore", help="write one self-contained HTML page that shows a "
                                       "trained model at work, step by step")
    p.add_argument("task", choices=list(tasks))
    p.add_argument("--checkpoint", metavar="PATH", type=path_arg, required=True,
                   help="the trained model to show")
    p.add_argument("--out", metavar="FILE", type=path_arg,
                   help="the page to write (.html; default TASK_explorer.html here)")
    p.add_argument("--backend", choices=list(backend.BACKENDS), help=BACKEND_HELP)

    p = sub.add_parser("programs", help="the Neural Programmer's landscape: the loss of every "
                                        "hard program on one template's questions, and "
                                        "where one-step changes from a program lead")
    p.add_argument("task", choices=["table-qa"])
    p.add_argument("--template", required=True, metavar="NAME",
                   help="the question template, as `run.py eval table-qa` names it (e.g. "
                        "'sum diff count')")
    p.add_argument("--start", metavar="OP,OP,OP,OP",
                   help="a program to start from (e.g. one a trained model induced): change "
                        "one step at a time, the best change each time, while the loss falls")
    p.add_argument("--count", type=size_int, default=256, help="questions (default 256)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seeds the tables (default 0)")
    p.add_argument("--top", type=size_int, default=5, help="programs listed (default 5)")

    p = sub.add_parser("export", help="write a training checkpoint's model without its "
                                      "optimiser state (what checkpoints/ ships), and its log")
    p.add_argument("--checkpoint", metavar="PATH", type=path_arg, required=True,
                   help="the training checkpoint to export")
    p.add_argument("--out", metavar="PATH", type=path_arg, required=True,
                   help="the model file to write (.npz); its log goes beside it (.jsonl)")
    p.add_argument("--float16", action="store_true",
                   help="store the parameters in float16 (half the size; they are cast back "
                        "to the training dtype when loaded)")

    p = sub.add_parser("sweep", help="train a task over a grid of settings and seeds on Dask "
                                     "(a local cluster or --scheduler); then compare and plot")
    p.add_argument("task", choices=list(tasks))
    p.add_argument("--grid", metavar="KEY=V1,V2", action="append", default=[],
                   help="a training or model flag and its values (e.g. lr=0.001,0.003 or "
                        "tau=0.001,0.01); repeat for more axes: every combination is trained")
    p.add_argument("--seeds", type=seed_list, default=[0], help="comma-separated seeds")
    p.add_argument("--dir", metavar="DIR", type=path_arg,
                   help="where the runs go (default runs/sweep-TASK); on a cluster, a folder "
                        "every worker reaches at the same path")
    p.add_argument("--scheduler", metavar="ADDRESS", type=scheduler_address,
                   help="the Dask scheduler to run on (tcp://HOST:PORT); default: a local "
                        "cluster of --jobs workers")
    p.add_argument("--jobs", type=positive_int, default=usable_cores(),
                   help="the local cluster's workers, runs at a time (default: one per core)")
    p.add_argument("--halving", action="store_true",
                   help="successive halving: train all for steps/eta^(rungs-1), keep the best "
                        "1/eta of the configurations, and so on up to the full steps")
    p.add_argument("--eta", type=_number(int, "an integer >= 2", lambda v: v >= 2), default=3,
                   help="--halving keeps the best 1/eta at each rung (default 3)")
    p.add_argument("--rungs", type=positive_int, default=3,
                   help="--halving's number of rungs (default 3)")
    p.add_argument("--out", metavar="DIR", type=path_arg,
                   help="where the figures go (default: the sweep's --dir)")
    p.add_argument("--count", type=positive_int, default=2048,
                   help="fresh sequences to evaluate each run on")
    p.add_argument("--backend", choices=list(backend.BACKENDS), help=BACKEND_HELP)
    p.epilog = ("Any other flag is a training or model flag, passed to every run (e.g. --bits 16 "
                "--steps 5000).")

    p = sub.add_parser("bench", help="training throughput of every model family at several "
                                     "batch sizes: sequences/s, GFLOP/s, %% of the matmul peak")
    p.add_argument("--model", choices=list(MODELS),
                   help="one model family (default: every family, each on its own task)")
    p.add_argument("--task", choices=list(tasks),
                   help="the task to measure the model on (default: the family's own)")
    p.add_argument("--batch-sizes", type=int_list, default=[1, 8, 32, 128],
                   help="comma-separated batch sizes (default 1,8,32,128)")
    p.add_argument("--json", metavar="PATH", type=path_arg,
                   help="also write the rows as JSON to this file")
    p.add_argument("--no-count", action="store_true",
                   help="measure throughput only: no operation count and no matmul peak")
    p.add_argument("--seconds", type=positive_float, default=10.0,
                   help="time each batch size for at least this long")
    p.add_argument("--workers", type=positive_int,
                   help="processes that share each batch (as run.py TASK --workers; default: "
                        "chosen for each batch size as training chooses it)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="BLAS threads per process (default 1)")
    p.add_argument("--backend", choices=list(backend.BACKENDS), help=BACKEND_HELP)
    return parser


VARIED = {"length": "lengths", "repeats": "repeats", "items": "items", "nonzero": "nonzero",
          "positions": "positions", "numbers": "numbers", "n_digits": "digits_each",
          "n_gates": "gates_each", "operators": "operators"}
#                                                                 sample() keyword: its flag


def _add_varied_flags(p):
    """The settings `run.py eval` and `run.py compare` can vary, each a comma-separated list."""
    p.add_argument("--lengths", type=int_list,
                   help="comma-separated sequence lengths (copy: default 10,20,30,50,80,120; "
                        "logic: input steps)")
    p.add_argument("--repeats", type=int_list, help="repeat-copy: comma-separated repeat counts")
    p.add_argument("--items", type=int_list,
                   help="associative-recall: comma-separated item counts (default 6,8,10,12,15)")
    p.add_argument("--nonzero", type=int_list, help="parity: comma-separated non-zero counts")
    p.add_argument("--positions", type=_list(str, "random or first", lambda v: v in
                                             ("random", "first")),
                   help="parity: where the non-zero entries sit, random and/or first (whatever "
                        "the model was trained on)")
    p.add_argument("--numbers", type=int_list, help="addition: comma-separated sequence lengths")
    p.add_argument("--digits-each", type=int_list,
                   help="addition: comma-separated digits per number")
    p.add_argument("--gates-each", type=int_list,
                   help="logic: comma-separated gates per input step")
    p.add_argument("--operators", type=_list(str, "operator patterns such as +* or -*- (or all)",
                                             lambda v: v == "all" or set(v) <= set("+-*")),
                   help="arithmetic: comma-separated operator patterns, one row each (-* is "
                        "n − n × n; write --operators=-*,+- when the first begins with -), or "
                        "all: every pattern")


def _varied_settings(args, task, task_name):
    """{sample keyword: values} from the flags given; one that the task does not take fails."""
    given = {kw: getattr(args, flag) for kw, flag in VARIED.items()
             if getattr(args, flag, None) is not None}
    allowed = set(inspect.signature(task.sample).parameters) - {"rng", "batch_size"}
    for kw in given:
        if kw not in allowed:
            raise CLIError(f"--{VARIED[kw].replace('_', '-')} does not apply to {task_name}")
    if len(given) > 1:
        raise CLIError("vary one thing at a time: " +
                       " or ".join(f"--{VARIED[k].replace('_', '-')}" for k in given))
    return given


def add_train_arguments(p, task_cls):
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=list(task_cls.models), default=None,
                   help=f"which model to train (default: {task_cls.default_model})")
    model_options = {}                               # an option several models share is one flag
    for model_cls in (MODELS[m] for m in task_cls.models):
        for opt, default, helptext, *choices in model_cls.options:
            default = task_cls.model_defaults.get(model_cls.name, {}).get(opt, default)
            entry = model_options.setdefault(opt, (helptext, choices, [], type(default)))
            entry[2].append(f"{model_cls.name} {default}")
    for opt, (helptext, choices, defaults, kind) in model_options.items():
        _add_option(g, opt, choices, f"{helptext} (default: {', '.join(defaults)})", kind)
    g = p.add_argument_group(f"the {task_cls.name} task")
    for opt, default, helptext, *choices in task_cls.options:
        _add_option(g, opt, choices, f"{helptext} (default {default})", type(default))
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=positive_int, help="train until this many steps in all")
    g.add_argument("--batch-size", type=positive_int, help="sequences per step")
    g.add_argument("--seed", type=nonnegative_int, help="seeds parameters and data (default 0)")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), help="rmsprop (Graves' form) or adam")
    g.add_argument("--lr", type=positive_float, help="learning rate")
    g.add_argument("--eps", type=positive_float,
                   help="the optimiser's ε (default: Adam 1e-8, RMSProp 1e-4)")
    g.add_argument("--clip-value", type=positive_float, help="clip each gradient component to ±X")
    g.add_argument("--clip-norm", type=nonnegative_float,
                   help="clip the global gradient norm to X (0: no norm clipping)")
    g.add_argument("--grad-noise", type=nonnegative_float,
                   help="η: add Gaussian noise of variance η/(1 + t)^0.55 to every gradient "
                        "(default 0: none)")
    g.add_argument("--lr-drop-below", type=positive_float,
                   help=_escaped(f"once an evaluation's {task_cls.metric} is below X, multiply "
                                 f"the learning rate by --lr-drop, once (default: never)"))
    g.add_argument("--lr-drop", type=positive_float,
                   help="the factor of --lr-drop-below (default 0.1)")
    g.add_argument("--keep-best", action="store_const", const=True, default=None,
                   help=_escaped(f"also keep the model of the lowest evaluation's "
                                 f"{task_cls.metric} so far, as a model file beside the "
                                 f"checkpoint (RUN.best.npz)"))
    g.add_argument("--eval-every", type=positive_int, help="evaluate and checkpoint every K steps")
    g.add_argument("--eval-size", type=positive_int, help="fresh sequences per evaluation")
    g.add_argument("--log-every", type=positive_int, help="a train line in the log every K steps")
    g.add_argument("--stop-below", type=positive_float,
                   help=_escaped(f"stop once the evaluation's {task_cls.metric} "
                                 f"({getattr(task_cls, 'metric_label', task_cls.metric)}) "
                                 f"falls below X"))
    g.add_argument("--no-stop", action="store_true",
                   help="train all --steps, even once the metric is below --stop-below")
    g.add_argument("--dtype", choices=list(DTYPES), help="float32 (default) or float64")
    g.add_argument("--workers", type=positive_int,
                   help="processes that share each batch (NumPy only; default: one per core "
                        f"for a batch of {SPLIT_AT} or more, else 1)")
    g.add_argument("--threads", type=positive_int, default=1,
                   help="BLAS threads per process (default 1: the cores go to --workers)")
    g = p.add_argument_group("files and device")
    g.add_argument("--backend", choices=list(backend.BACKENDS), help=BACKEND_HELP)
    g.add_argument("--checkpoint", metavar="PATH", type=path_arg,
                   help="where to write the checkpoint (.npz); its log goes beside it (.jsonl). "
                        "Default: runs/TASK-MODEL-seedS-TIME/checkpoint.npz")
    g.add_argument("--resume", metavar="PATH", type=path_arg,
                   help="continue the run saved in this checkpoint")


def _escaped(helptext):
    """Help text as argparse reads it: a literal % doubled (argparse formats help with %)."""
    return helptext.replace("%", "%%")


def _add_option(group, opt, choices, helptext, kind=int):
    """An option's flag: one of its choices, a number >= 0 (a float option), text the task
    checks (a text option), or a size."""
    if choices:
        group.add_argument(_flag(opt), choices=choices[0], default=None, help=_escaped(helptext))
    elif kind is str:
        group.add_argument(_flag(opt), type=text_arg, default=None, metavar="TEXT",
                           help=_escaped(helptext))
    else:
        group.add_argument(_flag(opt), type=nonnegative_float if kind is float else size_int,
                           default=None, help=_escaped(helptext))


# ----------------------------------------------------------------------------- resolving settings
def log_path_for(checkpoint_path):
    root, _ = os.path.splitext(checkpoint_path)
    return root + ".jsonl"


def _resolve_config(kind, declared, args, saved, defaults=None, predates=None):
    """{option: value} for a task or model: saved values (from a checkpoint) or the declared
    defaults (as `defaults` overrides them), overridden by flags; a flag that contradicts a
    checkpoint is an error. `predates` gives the value a checkpoint older than an option was
    made with, where that is certain (a controller of one layer, before there could be two)."""
    config = {}
    saved = saved if saved is None or not predates else {**predates, **saved}
    for opt, default, *_ in declared:
        default = (defaults or {}).get(opt, default)
        given = getattr(args, opt, None)
        if saved is not None and opt not in saved:      # a checkpoint older than the option
            if given is None:
                raise CLIError(f"the checkpoint's {kind} predates {_flag(opt)}; pass "
                               f"{_flag(opt)} to say which value it was trained with")
            config[opt] = given
            continue
        if saved is not None:
            if given is not None and given != saved.get(opt):
                raise CLIError(f"the checkpoint's {kind} has {opt}={saved.get(opt)}, "
                               f"but {_flag(opt)} {given} was given")
            config[opt] = saved.get(opt, default)
        else:
            config[opt] = default if given is None else given
    return config


def _default_settings(task_cls, model_cls):
    """TrainConfig's defaults, then the model's, then the task's: (train values, optimiser)."""
    train_values = {f.name: f.default for f in fields(TrainConfig)}
    train_values["workers"] = None               # chosen from the batch and the cores, later
    opt_values = {"name": "adam", "lr": None, "eps": None, "clip_value": None, "clip_norm": None}
    for layer in (model_cls.train_defaults, task_cls.train_defaults.get("all", {}),
                  task_cls.train_defaults.get(model_cls.name, {})):
        for k, v in layer.items():
            (opt_values if k in ("optimizer", "lr", "eps", "clip_value", "clip_norm")
             else train_values)[k if k != "optimizer" else "name"] = v
    return train_values, opt_values


def _train_settings(args, task_cls, model_cls, meta):
    train_values, opt_values = _default_settings(task_cls, model_cls)
    if meta is not None:                         # (keys this version does not know are ignored)
        legacy = asdict(TrainConfig())           # a run saved before a setting existed keeps
        train_values.update({k: meta["train"].get(k, legacy[k]) for k in train_values})  # its
                                                 # behaviour: that setting's plain default
        opt_values.update({k: v for k, v in meta["optimizer"].items() if k in opt_values})
        train_values["workers"] = None           # a runtime choice, not the run's: ask again
    for f in fields(TrainConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            saved = train_values[f.name]
            if meta is not None and f.name in ("seed", "dtype") and given != saved:
                raise CLIError(f"the checkpoint was trained with {f.name} {saved}; "
                               f"a resumed run keeps it (got {_flag(f.name)} {given})")
            train_values[f.name] = given
    if args.no_stop:
        train_values["stop_below"] = None
    for k in ("lr", "eps", "clip_value", "clip_norm"):
        if getattr(args, k) is not None:
            opt_values[k] = getattr(args, k)
    if opt_values["clip_norm"] == 0:
        opt_values["clip_norm"] = None
    if args.optimizer is not None:
        if meta is not None and args.optimizer != meta["optimizer"]["name"]:
            raise CLIError(f"the checkpoint was trained with {meta['optimizer']['name']}; "
                           f"--optimizer {args.optimizer} cannot resume it")
        opt_values["name"] = args.optimizer
    if args.lr_drop is not None and train_values["lr_drop_below"] is None:
        raise CLIError("--lr-drop is the factor of --lr-drop-below; give that too")
    if meta is not None and meta.get("lr_dropped_at") is not None and any(
            getattr(args, k) not in (None, meta["train"].get(k)) for k in ("lr_drop_below",
                                                                          "lr_drop")):
        raise CLIError(f"this run's learning rate already dropped at step "
                       f"{meta['lr_dropped_at']}; it drops only once (pass --lr to set it)")
    return TrainConfig(**train_values), opt_values


def _default_run_dir(task, model, seed):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = os.path.join("runs", f"{task}-{model}-seed{seed}-{stamp}")
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = f"{base}-{n}"
    return path


def _check_params_fit(params, model):
    import numpy as np
    expected = model.init_params(np.random.default_rng(0))
    if set(params) != set(expected) or any(params[k].shape != expected[k].shape for k in params):
        raise CheckpointError("the checkpoint's parameters do not fit the model it names")


def _checkpoint_path(args, task, model, seed):
    """Where this run writes; refuses any path that would overwrite another run's files."""
    path = args.checkpoint
    if path is not None and not path.endswith(".npz"):
        raise CLIError(f"--checkpoint must name a .npz file, got {path!r}")
    continuing = args.resume is not None and (
        path is None or os.path.abspath(path) == os.path.abspath(args.resume))
    if continuing:
        return args.resume                              # the resumed run's own files
    if path is None:
        path = os.path.join(_default_run_dir(task, model, seed), "checkpoint.npz")
    log = log_path_for(path)
    if os.path.exists(log) and not os.path.exists(path) and _never_checkpointed(log):
        os.unlink(log)            # a run stopped before its first checkpoint: nothing to keep
    for p in (path, log):
        if os.path.exists(p):
            hint = "choose another --checkpoint" if args.resume is not None else \
                f"pass --resume {path} to continue that run, or choose another --checkpoint"
            raise CLIError(f"{p} already exists: {hint}")
    return path


def _never_checkpointed(log_path):
    """Whether a log is that of a run stopped (killed) before its first checkpoint: it holds
    nothing but start events, which a new run of the same name may replace."""
    try:
        with open(log_path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            if i == len(lines) - 1 and i > 0:           # a torn last line after the start
                continue
            return False                                # not our log: never replace it
        if not (isinstance(record, dict) and record.get("kind") == "event"
                and record.get("event") == "start"):
            return False
    return bool(lines)


# ----------------------------------------------------------------------------- commands
def cmd_train(args):
    tasks = _tasks()
    task_cls = tasks[args.command]
    meta = resume = None
    if args.resume is not None:
        resume = load_checkpoint(args.resume)
        meta = resume[2]
        if meta.get("task") != task_cls.name:
            raise CheckpointError(f"{args.resume} was trained on the task {meta.get('task')}, "
                                  f"not {task_cls.name}")
        if args.model is not None and args.model != meta.get("model"):
            raise CheckpointError(f"{args.resume} holds the model {meta.get('model')}, "
                                  f"not {args.model}")
        if meta.get("model") not in MODELS:
            raise CheckpointError(f"{args.resume} holds an unknown model {meta.get('model')!r}")
        if meta.get("model_only"):
            raise CheckpointError(f"{args.resume} is a model file, without the optimiser state a "
                                  f"run needs to continue: run.py eval and figures read it, "
                                  f"training cannot resume from it")
    model_name = meta["model"] if meta else (args.model or task_cls.default_model)
    model_cls = MODELS[model_name]
    own = {o[0] for o in model_cls.options}
    for other in (MODELS[m] for m in task_cls.models):
        for opt, *_ in other.options:
            if opt not in own and getattr(args, opt) is not None:
                raise CLIError(f"{_flag(opt)} does not apply to the model {model_name}")

    if meta is not None:
        _check_saved_task_config(args.resume, task_cls, meta)
    task_config = _resolve_config("task", task_cls.options, args,
                                  meta["task_config"] if meta else None, None,
                                  getattr(task_cls, "predates", None))
    model_config = _resolve_config("model", model_cls.options, args,
                                   meta["model_config"] if meta else None,
                                   task_cls.model_defaults.get(model_name),
                                   getattr(model_cls, "predates", None))
    if hasattr(model_cls, "settle_defaults") and meta is None:
        model_cls.settle_defaults(model_config, given={o[0] for o in model_cls.options
                                                       if getattr(args, o[0], None) is not None})
    cfg, opt_values = _train_settings(args, task_cls, model_cls, meta)

    _use_backend(args)
    if cfg.workers is None:
        cfg.workers = default_workers(cfg.batch_size, backend.name())
    _check_workers(cfg.workers)
    _report_threads(args.threads, cfg.workers)
    checkpoint_path = _checkpoint_path(args, task_cls.name, model_name, cfg.seed)
    if resume and meta["step"] >= cfg.steps:
        raise CLIError(f"{args.resume} is already at step {meta['step']}; "
                       f"pass --steps larger than that to train on")
    log_path = log_path_for(checkpoint_path)

    try:
        task = task_cls(**task_config)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if meta is not None:
        model_config = dict(_saved_model_kwargs(meta), **model_config)
    try:
        model = model_cls(*model_sizes(task, model_cls.name), **model_config)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except TypeError as exc:                            # a saved setting this version lacks
        raise CheckpointError(f"{args.resume} is damaged: its model configuration does not "
                              f"fit ({str(exc)[:80]})") from None
    if resume:
        _check_params_fit(resume[0], model)
    optimizer = make_optimizer(opt_values["name"], opt_values["lr"],
                               opt_values["clip_value"], opt_values["clip_norm"],
                               opt_values["eps"])
    with _run_lock(checkpoint_path):
        result = train(task, model, optimizer, cfg, checkpoint_path, log_path, resume=resume)
    ev = result["eval"] or {}
    print(f"done: step {result['step']}, {result['seqs']:,} sequences, "
          f"{result['wall']:.1f} s; eval {task.metric} {ev.get(task.metric, float('nan')):.3f}; "
          f"checkpoint {checkpoint_path}, log {log_path}")
    if result["best"]:
        print(f"best: step {result['best']['step']}, eval {task.metric} "
              f"{result['best']['value']:.3f}; model {best_path(checkpoint_path)}")
    return 0


@contextlib.contextmanager
def _run_lock(checkpoint_path):
    """Own a run's checkpoint and log for as long as it trains: an OS-level lock on
    CHECKPOINT.lock, which the OS releases however the process ends (a lock file left by a
    killed run blocks nothing). A second process training the same checkpoint, fresh or
    resumed, gets one line and exit status 2."""
    import fcntl
    lock_path = checkpoint_path + ".lock"
    os.makedirs(os.path.dirname(os.path.abspath(lock_path)), exist_ok=True)
    lock = open(lock_path, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise CLIError(f"another process is training {checkpoint_path}; wait for it to end, or "
                       f"choose another --checkpoint") from None
    remove_stale_temporaries(checkpoint_path)        # half-written by a killed run of it
    remove_stale_temporaries(best_path(checkpoint_path))    # (and its --keep-best model)
    try:
        yield
    finally:
        try:
            os.unlink(lock_path)                    # still ours: remove it, then let go
        except FileNotFoundError:
            pass
        lock.close()


def model_sizes(task, model_name):
    """(input_size, output_size) of a model on a task: the task's, unless it gives each model
    its own (arithmetic: the pipe reads words and picks among numbers, the LSTM reads symbols)."""
    if hasattr(task, "model_sizes"):
        return task.model_sizes(model_name)
    return task.input_size, task.output_size


def _check_saved_task_config(path, task_cls, meta):
    """A checkpoint's task configuration names only options the task has."""
    unknown = set(meta["task_config"]) - {o[0] for o in task_cls.options}
    if unknown:
        raise CheckpointError(f"{path} is damaged: its task configuration has the unknown "
                              f"setting {sorted(unknown)[0]!r}")


def _saved_model_kwargs(meta):
    """Every saved model setting (options and the rest, e.g. memory_seed) but the sizes the
    task fixes."""
    return {k: v for k, v in meta["model_config"].items() if k not in ("input_size", "output_size")}


def _load_trained(path, task_name):
    """The task, model and parameters (on the active backend) saved in a checkpoint."""
    params, _, meta = load_checkpoint(path)
    if meta["task"] != task_name:
        raise CheckpointError(f"{path} was trained on the task {meta['task']}, not {task_name}")
    if meta["model"] not in MODELS:
        raise CheckpointError(f"{path} holds an unknown model {meta['model']!r}")
    _check_saved_task_config(path, _tasks()[task_name], meta)
    model_cls = MODELS[meta["model"]]
    try:
        task_cls = _tasks()[task_name]
        task = task_cls(**{**getattr(task_cls, "predates", {}), **meta["task_config"]})
        model = model_cls(*model_sizes(task, model_cls.name), **_saved_model_kwargs(meta))
    except (TypeError, ValueError) as exc:              # a setting this version cannot take
        raise CheckpointError(f"{path} is damaged: its configuration does not fit "
                              f"({str(exc)[:80]})") from None
    _check_params_fit(params, model)
    dtype = DTYPES[meta["train"].get("dtype", "float32")]
    return task, model, backend.to_device(params, dtype), meta


def _report_threads(threads, workers):
    """Set the BLAS threads of this process (and of the workers it will fork) and say what runs."""
    blas = set_blas_threads(threads) if backend.name() == "numpy" else "GPU"
    print(f"threads: {workers} process(es) on {usable_cores()} usable core(s), {blas} each",
          flush=True)


def _check_workers(workers):
    if workers > 1 and backend.name() != "numpy":
        raise CLIError("--workers runs several NumPy processes; on the GPU use --workers 1")


def _use_backend(args):
    if args.backend is not None:
        backend.use(args.backend)
    else:
        backend.xp()


def cmd_eval(args):
    import numpy as np
    from .train import data_key, evaluate, shown_metrics
    _use_backend(args)
    task, model, params, meta = _load_trained(args.checkpoint, args.task)
    given = {kw: task.expand_varied(kw, values)
             for kw, values in _varied_settings(args, task, args.task).items()}
    if not given and task.sweep is not None:     # the training distribution first, unless the
        first = [] if task.eval_kwargs else [None]  # task evaluates on data of its own (dates)
        given = {task.sweep[0]: [*first, *task.sweep[1]]}
    name, values = next(iter(given.items())) if given else ("-", [None])
    rows = [(value, {} if value is None else {name: value}) for value in values]
    if not given and getattr(task, "eval_rows", None):   # a task's own rows (table-qa: each
        name, rows = "", list(task.eval_rows)            # template on the test tables)
    for value, kwargs in rows:                         # every row's setting, before any output
        try:
            task.sample(np.random.default_rng(0), 1, **{**task.eval_kwargs, **kwargs})
        except ValueError as exc:                       # a size the task cannot make
            raise CLIError(f"{args.task}: {exc}") from None
    width = max(7, *(len(str(v)) for v, _ in rows))
    if not args.json:
        print(f"{args.task}, model {meta['model']} at step {meta['step']} "
              f"({meta['seqs']:,} sequences); {args.count} fresh sequences per row "
              f"(-: as in training)")
    columns, records = None, []
    for value, kwargs in rows:
        try:
            ev = evaluate(task, model, params, np.random.default_rng([args.seed, data_key(value)]),
                          args.count, **kwargs)
        except ValueError as exc:                       # a size the task cannot make
            raise CLIError(str(exc)) from None
        records.append({**kwargs, **ev})                # the row's setting, then its metrics
        if args.json:
            continue
        if columns is None:
            columns = list(dict.fromkeys([task.metric, *shown_metrics(task, ev)]))
            print(f"{name:>{width}} " + " ".join(f"{c:>12}" for c in columns))
        print(f"{value if value is not None else '-':>{width}} " +
              " ".join(f"{ev[c]:>12.3f}" if c in ev else f"{'-':>12}" for c in columns),
              flush=True)
    if args.json:
        print(json.dumps({"task": args.task, "model": meta["model"], "step": meta["step"],
                          "sequences": meta["seqs"], "rows": records}))
    return 0


def cmd_bench(args):
    from .bench import FAMILIES, run_bench
    _use_backend(args)
    tasks = _tasks()
    if args.task is not None and args.model is None:
        args.model = tasks[args.task].default_model
    chosen = [(m, args.task or t) for m, t in FAMILIES if args.model in (None, m)]
    if not chosen:                                   # a model with no family row of its own
        chosen = [(args.model, args.task or next(n for n, t in tasks.items()
                                                  if args.model in t.models))]
    families = []
    for model_name, task_name in chosen:
        task_cls, model_cls = tasks[task_name], MODELS[model_name]
        if model_name not in task_cls.models:
            raise CLIError(f"{task_name} is learnt by {' or '.join(task_cls.models)}, "
                           f"not {model_name}")
        task = task_cls()
        model = model_cls(*model_sizes(task, model_name),
                          **task_cls.model_defaults.get(model_name, {}))
        families.append((task, model, _default_settings(task_cls, model_cls)[1]))
    _check_workers(args.workers or 1)
    if backend.name() == "numpy":
        print(f"threads: {set_blas_threads(args.threads)} per process, on {usable_cores()} "
              f"usable core(s)", flush=True)
    rows = run_bench(families, args.batch_sizes, args.seconds, sys.stdout, args.workers,
                     count=not args.no_count)
    if args.json is not None:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


def cmd_compare(args):
    import numpy as np
    from . import compare
    _use_backend(args)
    if args.out is not None and not args.out.endswith(".png"):
        raise CLIError(f"--out {args.out}: the figure's name ends in .png")
    runs = [_load_trained(path, args.task) for path in args.checkpoints]
    task = runs[0][0]
    if len({json.dumps(r[0].config, sort_keys=True) for r in runs}) > 1:   # as rebuilt
        raise CLIError("these models were trained on different versions of the task; "
                       "compare runs of one task configuration")
    given = _varied_settings(args, task, args.task)
    if not given:
        if task.sweep is None:
            raise CLIError(f"{args.task} has no setting to vary by default; give one "
                           "(--lengths, --items, ...)")
        given = {task.sweep[0]: list(task.sweep[1])}
    name, values = next(iter(given.items()))
    for value in values:                               # every value, before any evaluation
        try:
            task.sample(np.random.default_rng(0), 1, **{name: value})
        except ValueError as exc:
            raise CLIError(f"{args.task}: {exc}") from None
    for path in (args.json, args.out):                 # before the evaluation, which is long
        if path is not None:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            if not os.access(folder, os.W_OK) or os.path.isdir(path):
                raise CLIError(f"{path}: cannot be written")
    rows = compare.compare(runs, args.checkpoints, name, values, args.count, args.seed)
    compare.print_table(rows, task, name, values, args.count)
    if args.json is not None:
        compare.write_json(args.json, rows, task, name, values, args.count, args.seed)
        print(args.json)
    if args.out is not None:
        print(compare.draw(rows, task, name, values, args.count, args.checkpoints, args.out))
    return 0


def cmd_figures(args):
    from .figures import draw_figures
    _use_backend(args)
    main_run = _load_trained(args.checkpoint, args.task)
    baseline = _load_trained(args.baseline, args.task) if args.baseline is not None else None
    out = args.out if args.out is not None else os.path.dirname(os.path.abspath(args.checkpoint))
    for path in draw_figures(main_run, baseline, args.checkpoint, args.baseline, out,
                             args.count):
        print(path)
    return 0


def cmd_explore(args):
    from .explore import write_explorer
    out = args.out if args.out is not None else f"{args.task}_explorer.html"
    if not out.endswith(".html"):
        raise CLIError(f"--out {out}: the page's name ends in .html")
    if os.path.isdir(out):
        raise CLIError(f"--out {out} is a folder; give the page's file name")
    _use_backend(args)
    run = _load_trained(args.checkpoint, args.task)
    if run[1].name not in ("ntm", "act", "seq2seq", "programmer", "pipe"):
        raise CLIError(f"run.py explore shows the NTM, ACT, the encoder–decoder and the Neural "
                       f"Programmer; {args.checkpoint} holds the model {run[1].name}")
    if run[1].name == "seq2seq" and run[1].config["attention"] == "none":
        raise CLIError(f"{args.checkpoint} is an encoder–decoder without attention: there is "
                       f"no alignment to show")
    size = write_explorer(run, args.checkpoint, out)
    print(f"{out}: {size / 1e3:,.0f} kB; open it in a browser")
    return 0


SWEEP_SETS = ("seed", "checkpoint", "resume")


def _sweep_runs(args, extra, out_dir):
    """The sweep's runs (dicts: name, config, seed, path, argv, resume_argv, steps), every one's flags
    parsed here first, so that a bad flag or value fails once, before anything starts."""
    from .sweep import parse_grid, plan, run_argv, run_name
    try:
        grid = parse_grid(args.grid)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    given = {flag.split("=")[0].lstrip("-") for flag in extra if flag.startswith("--")}
    for key in [*given, *grid]:
        if key in SWEEP_SETS:
            raise CLIError(f"run.py sweep sets --{key} itself for every run")
        if key == "steps" and key in grid:
            raise CLIError("--steps is the sweep's budget, not a grid axis")
    both = sorted(given & set(grid))
    if both:
        raise CLIError(f"--{both[0]} is both a flag and a grid axis")
    task_cls = _tasks()[args.task]
    parser = build_parser()
    model = parser.parse_args([args.task, *extra]).model or task_cls.default_model
    act_baseline = model == "act" and "tau" in grid and "max-ponder" not in given | set(grid)
    runs = []
    for config in plan(grid, args.seeds, act_baseline):
        for seed in args.seeds:
            argv = run_argv(args.task, config, seed, extra)
            if args.backend is not None:                      # the runs train there too
                argv += ["--backend", args.backend]
            train_args = parser.parse_args(argv)
            model_cls = MODELS[train_args.model or task_cls.default_model]
            steps = train_args.steps or _default_settings(task_cls, model_cls)[0]["steps"]
            name = run_name(config, seed)
            resume = [args.task, "--workers", str(train_args.workers or 1), "--threads",
                      str(train_args.threads)]
            if train_args.backend is not None:
                resume += ["--backend", train_args.backend]
            runs.append({"name": name, "config": config, "seed": seed, "argv": argv,
                         "resume_argv": resume, "steps": steps,
                         "path": os.path.join(out_dir, name + ".npz")})
    return runs


def cmd_sweep(args, extra):
    from .sweep import config_name, run_sweep, sigterm_as_ctrl_c, start_client
    out_dir = os.path.abspath(args.dir or os.path.join("runs", f"sweep-{args.task}"))
    runs = _sweep_runs(args, extra, out_dir)
    if args.halving and len({r["steps"] for r in runs}) > 1:
        raise CLIError("--halving needs one --steps for every run")
    task_cls = _tasks()[args.task]
    metric = task_cls.metric
    rungs = args.rungs if args.halving else 1
    print(f"sweep: {len(runs)} run(s) in {out_dir}, on "
          f"{args.scheduler or f'a local cluster of {args.jobs} worker(s)'}", flush=True)
    try:
        client, cluster = start_client(args.scheduler, args.jobs)
    except Exception as exc:                     # Dask's own errors of connection, of any kind
        raise CLIError(f"cannot reach the Dask scheduler {args.scheduler}: "
                       f"{' '.join(str(exc).split())[:200]}") from None
    context = {"runs": sorted(r["name"] for r in runs), "steps": sorted({r["steps"] for r in runs}),
               "eta": args.eta, "rungs": rungs}
    try:
        os.makedirs(out_dir, exist_ok=True)
        with sigterm_as_ctrl_c():
            run_sweep(client, runs, rungs, args.eta, args.task, metric, args.count,
                      (os.path.join(out_dir, "halving.json"), context))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    summary = _sweep_summary(args, runs, metric, rungs)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"{'configuration':<32} {'seeds':>5} {'steps':>17} {metric + ' mean':>12} "
          f"{'spread':>8}  best run")
    for c in summary["configs"]:
        if c["mean"] is None:
            continue
        stopped = "  (stopped by halving)" if c["stopped_at"] else ""
        steps = (f"{c['step']:,}" if c["least_step"] == c["step"]
                 else f"{c['least_step']:,}–{c['step']:,}")
        print(f"{config_name(c['config']):<32} {c['evaluated']:>5} {steps:>17} "
              f"{c['mean']:>12.4g} {c['std']:>8.3g}  {shown_path(c['best'])}{stopped}")
    failed = [r for r in runs if r["status"] == "failed"]
    for r in failed:
        print(f"{r['name']}: failed: {r['failure']}")
    fig_dir = args.out if args.out is not None else out_dir
    os.makedirs(fig_dir, exist_ok=True)
    for path in _sweep_figures(summary, args.task, runs, fig_dir):
        print(path)
    print(os.path.join(out_dir, "summary.json"))
    if failed:
        raise TrainingError(f"{len(failed)} of {len(runs)} run(s) failed: "
                            f"{', '.join(r['name'] for r in failed)} (see summary.json and their "
                            f".out files)")
    return 0


def _sweep_summary(args, runs, metric, rungs):
    from .sweep import config_stats
    keep = ("name", "config", "seed", "path", "status", "failure", "stopped_at", "eval")
    rows = [{k: r.get(k) for k in keep} for r in runs]
    return {"task": args.task, "metric": metric, "grid": args.grid, "seeds": args.seeds,
            "halving": {"eta": args.eta, "rungs": rungs} if args.halving else None,
            "configs": config_stats(runs, metric), "runs": rows}


def _sweep_figures(summary, task_name, runs, fig_dir):
    """The metric against each grid axis; for an ACT sweep over τ alone, the ACT paper's
    figures too (metric against τ with the baseline, ponder time against difficulty)."""
    from .figures import draw_grid_figure
    evaluated = [r for r in summary["runs"] if r["eval"] is not None]
    if not evaluated or not summary["grid"]:
        return []
    written = [draw_grid_figure(summary, evaluated, fig_dir)]
    axes = {k for r in runs for k in r["config"]}
    if axes == {"tau"} and any(r["config"]["tau"] == "none" for r in runs):
        from .figures_act import draw_sweep_figures
        rows = [{**r["eval"], "seed": r["seed"], "path": r["path"],
                 "tau": "none" if r["config"]["tau"] == "none" else float(r["config"]["tau"])}
                for r in evaluated]
        first = min(r["seed"] for r in rows)
        loaded = [(_load_trained(r["path"], task_name), r["path"]) for r in rows
                  if r["seed"] == first and r["tau"] != "none"]
        if loaded:
            written += draw_sweep_figures(rows, loaded[0][0][0], loaded, fig_dir)
    return written


def cmd_export(args):
    from .checkpoint import export_model
    if not args.out.endswith(".npz"):
        raise CLIError(f"--out {args.out}: a model file's name ends in .npz")
    count, size = export_model(args.checkpoint, args.out, args.float16)
    log = log_path_for(args.out)
    print(f"{args.out}: {count:,} parameters in "
          f"{'float16' if args.float16 else 'their training dtype'}, {size / 1e6:.2f} MB"
          + (f"; log {log}" if os.path.exists(log) else "; no log beside the checkpoint"))
    return 0


def cmd_programs(args):
    """Every hard program's loss on one template (TableQATask.program_landscape), the best ones,
    and a descent by one-step changes from --start."""
    from tasks.table_qa import NAMES
    from .programmer import OPS
    if args.template not in NAMES:
        raise CLIError(f"--template {args.template!r}: not a template; the templates are "
                       + "; ".join(NAMES))
    task = _tasks()["table-qa"]()
    start = None
    if args.start is not None:
        start = tuple(w.strip() for w in args.start.split(","))
        if len(start) != 4 or any(w not in OPS for w in start):
            raise CLIError(f"--start {args.start}: four operations from {', '.join(OPS)}")
    import numpy as np
    land = task.program_landscape(args.template, np.random.default_rng(args.seed), args.count)
    show = lambda p: ", ".join(p)
    line = lambda p: f"  loss {land[p][0]:9.2f}  {land[p][1]:5.1f}% wrong  {show(p)}"
    own = tuple(task.own_program(NAMES.index(args.template), [0, 0, 0])[0])
    right = [p for p in land if land[p][1] < 1.0]
    print(f"{args.template}: {len(land):,} programs of 4 steps on {args.count} questions "
          f"(training tables, seed {args.seed})")
    print(f"its own program:\n{line(own)}")
    print(f"{len(right)} program{'s' if len(right) != 1 else ''} answer it (under 1% wrong); "
          f"the {args.top} of lowest loss:")
    for p in sorted(land, key=lambda p: land[p])[:args.top]:
        print(line(p))
    if start is not None:
        dist = lambda a, b: sum(x != y for x, y in zip(a, b))
        path, here = [start], start
        while True:
            step = min((p for p in land if dist(p, here) == 1), key=lambda p: land[p][0])
            if land[step][0] >= land[here][0]:
                break
            path.append(step)
            here = step
        print(f"from {show(start)}, the best one-step change while the loss falls:")
        for p in path:
            print(line(p))
        flat = sum(abs(v[0] - land[here][0]) <= 1e-6 * max(1.0, abs(land[here][0]))
                   for v in land.values())
        near = min((dist(p, here) for p in right), default=None)
        print(f"stops there: no one-step change lowers the loss; {flat:,} programs share it"
              + (f"; the nearest program that answers is {near} steps away" if near else ""))
    return 0


COMMANDS = {"eval": cmd_eval, "compare": cmd_compare, "bench": cmd_bench, "figures": cmd_figures,
            "export": cmd_export, "explore": cmd_explore,
            "programs": cmd_programs}


def main(argv=None):
    args = None
    try:
        args, extra = build_parser().parse_known_args(argv)
        if args.command == "sweep":
            return cmd_sweep(args, extra)
        if extra:
            raise CLIError(f"unrecognized arguments: {' '.join(extra)}")
        return COMMANDS.get(args.command, cmd_train)(args)
    except BrokenPipeError:                             # the reader left (`run.py eval | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        # a reader that has seen enough is no failure for a report; a training stops, though
        return 0 if args is not None and args.command in COMMANDS else 1
    except (CLIError, BackendError, CheckpointError) as exc:
        print("run.py: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    except OSError as exc:                              # a path that cannot be written or read
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"run.py: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print("run.py: error: not enough memory for these sizes; choose smaller ones",
              file=sys.stderr)
        return 2
    except ValueError as exc:                           # NumPy: an array larger than can exist
        if "too big" not in str(exc) and "dimension exceeded" not in str(exc):
            raise
        print("run.py: error: these sizes make arrays larger than this machine can hold; "
              "choose smaller ones", file=sys.stderr)
        return 2
    except TrainingError as exc:
        print("run.py: " + " ".join(str(exc).split()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run.py: interrupted; the last checkpoint written is kept (see the log)",
              file=sys.stderr)
        return 130
