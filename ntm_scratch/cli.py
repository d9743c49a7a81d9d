"""`run.py`: train a task, with every bad input answered by one line and exit status 2.

    python run.py --help
    python run.py TASK [--model M] [--steps N] [--batch-size B] [--seed S] [--lr X]
                       [--backend numpy|cupy] [--checkpoint PATH] [--resume PATH]
                       [--eval-every K] [...]

Settings are resolved in this order, later winning: TrainConfig's defaults, the model's
`train_defaults`, the task's `train_defaults`, the checkpoint's (when resuming), then the flags
given on the command line. A checkpoint fixes the task and model configuration: a flag that
contradicts it is refused rather than silently ignored.
"""
import argparse
import math
import os
import sys
import time
from dataclasses import fields

from . import backend
from .backend import BackendError
from .checkpoint import CheckpointError, load_checkpoint
from .lstm import LSTMModel
from .optim import OPTIMIZERS, make_optimizer
from .train import DTYPES, TrainConfig, TrainingError, train

MODELS = {LSTMModel.name: LSTMModel}


def _tasks():
    from tasks import TASKS      # the tasks live beside the package, at the project's top level
    return TASKS


class CLIError(Exception):
    """Bad input: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
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


positive_int = _number(int, "a positive integer", lambda v: v > 0)
nonnegative_int = _number(int, "a whole number >= 0", lambda v: v >= 0)
positive_float = _number(float, "a positive number", lambda v: math.isfinite(v) and v > 0)


def _flag(name):
    return "--" + name.replace("_", "-")


# ----------------------------------------------------------------------------- the parser
def build_parser():
    tasks = _tasks()
    parser = Parser(
        prog="run.py",
        description="Train augmented RNNs written from scratch in NumPy/CuPy. "
                    "Tasks: " + ", ".join(tasks) + ". Run `python run.py TASK --help` for a "
                    "task's options.")
    sub = parser.add_subparsers(dest="command", metavar="TASK", parser_class=Parser)
    sub.required = True
    for name, task_cls in tasks.items():
        p = sub.add_parser(name, help=task_cls.__doc__.strip().splitlines()[0]
                           if task_cls.__doc__ else name)
        add_train_arguments(p, task_cls)
    return parser


def add_train_arguments(p, task_cls):
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=list(MODELS), default=None,
                   help=f"which model to train (default: {task_cls.default_model})")
    seen = set()
    for model_cls in MODELS.values():
        for opt, default, helptext in model_cls.options:
            if opt not in seen:
                seen.add(opt)
                g.add_argument(_flag(opt), type=positive_int, default=None,
                               help=f"{helptext} ({model_cls.name}; default {default})")
    g = p.add_argument_group(f"the {task_cls.name} task")
    for opt, default, helptext in task_cls.options:
        g.add_argument(_flag(opt), type=positive_int, default=None,
                       help=f"{helptext} (default {default})")
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=positive_int, help="train until this many steps in all")
    g.add_argument("--batch-size", type=positive_int, help="sequences per step")
    g.add_argument("--seed", type=nonnegative_int, help="seeds parameters and data (default 0)")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), help="rmsprop (Graves' form) or adam")
    g.add_argument("--lr", type=positive_float, help="learning rate")
    g.add_argument("--clip-value", type=positive_float, help="clip each gradient component to ±X")
    g.add_argument("--clip-norm", type=positive_float, help="clip the global gradient norm to X")
    g.add_argument("--eval-every", type=positive_int, help="evaluate and checkpoint every K steps")
    g.add_argument("--eval-size", type=positive_int, help="fresh sequences per evaluation")
    g.add_argument("--log-every", type=positive_int, help="a train line in the log every K steps")
    g.add_argument("--stop-below", type=positive_float,
                   help="stop once the evaluation metric falls below X")
    g.add_argument("--dtype", choices=list(DTYPES), help="float32 (default) or float64")
    g = p.add_argument_group("files and device")
    g.add_argument("--backend", choices=list(backend.BACKENDS),
                   help="numpy (CPU) or cupy (GPU); default: $NTM_BACKEND, else numpy")
    g.add_argument("--checkpoint", metavar="PATH",
                   help="where to write the checkpoint (.npz); its log goes beside it (.jsonl). "
                        "Default: runs/TASK-MODEL-seedS-TIME/checkpoint.npz")
    g.add_argument("--resume", metavar="PATH", help="continue the run saved in this checkpoint")


# ----------------------------------------------------------------------------- resolving settings
def log_path_for(checkpoint_path):
    root, _ = os.path.splitext(checkpoint_path)
    return root + ".jsonl"


def _resolve_config(kind, declared, args, saved):
    """{option: value} for a task or model: saved values (from a checkpoint) or the declared
    defaults, overridden by flags; a flag that contradicts a checkpoint is an error."""
    config = {}
    for opt, default, _ in declared:
        given = getattr(args, opt, None)
        if saved is not None:
            if given is not None and given != saved.get(opt):
                raise CLIError(f"the checkpoint's {kind} has {opt}={saved.get(opt)}, "
                               f"but {_flag(opt)} {given} was given")
            config[opt] = saved.get(opt, default)
        else:
            config[opt] = default if given is None else given
    return config


def _train_settings(args, task_cls, model_cls, meta):
    train_values = {f.name: f.default for f in fields(TrainConfig)}
    opt_values = {"name": "adam", "lr": None, "clip_value": None, "clip_norm": None}
    for layer in (model_cls.train_defaults, task_cls.train_defaults.get("all", {}),
                  task_cls.train_defaults.get(model_cls.name, {})):
        for k, v in layer.items():
            (opt_values if k in ("optimizer", "lr", "clip_value", "clip_norm")
             else train_values)[k if k != "optimizer" else "name"] = v
    if meta is not None:
        train_values.update(meta["train"])
        opt_values.update(meta["optimizer"])
    for f in fields(TrainConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            train_values[f.name] = given
    for k in ("lr", "clip_value", "clip_norm"):
        if getattr(args, k) is not None:
            opt_values[k] = getattr(args, k)
    if args.optimizer is not None:
        if meta is not None and args.optimizer != meta["optimizer"]["name"]:
            raise CLIError(f"the checkpoint was trained with {meta['optimizer']['name']}; "
                           f"--optimizer {args.optimizer} cannot resume it")
        opt_values["name"] = args.optimizer
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


# ----------------------------------------------------------------------------- commands
def cmd_train(args):
    tasks = _tasks()
    task_cls = tasks[args.command]
    meta = resume = None
    if args.resume:
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
    model_name = meta["model"] if meta else (args.model or task_cls.default_model)
    model_cls = MODELS[model_name]
    own = {opt for opt, _, _ in model_cls.options}
    for other in MODELS.values():
        for opt, _, _ in other.options:
            if opt not in own and getattr(args, opt) is not None:
                raise CLIError(f"{_flag(opt)} does not apply to the model {model_name}")

    task_config = _resolve_config("task", task_cls.options, args,
                                  meta["task_config"] if meta else None)
    model_config = _resolve_config("model", model_cls.options, args,
                                   meta["model_config"] if meta else None)
    cfg, opt_values = _train_settings(args, task_cls, model_cls, meta)

    if args.backend is not None:
        backend.use(args.backend)
    else:
        backend.xp()

    if resume:
        checkpoint_path = args.checkpoint or args.resume
        if args.checkpoint and os.path.exists(args.checkpoint) and \
                os.path.abspath(args.checkpoint) != os.path.abspath(args.resume):
            raise CLIError(f"{args.checkpoint} already exists; choose another --checkpoint")
        if meta["step"] >= cfg.steps:
            raise CLIError(f"{args.resume} is already at step {meta['step']}; "
                           f"pass --steps larger than that to train on")
    else:
        checkpoint_path = args.checkpoint or os.path.join(
            _default_run_dir(task_cls.name, model_name, cfg.seed), "checkpoint.npz")
        for path in (checkpoint_path, log_path_for(checkpoint_path)):
            if os.path.exists(path):
                raise CLIError(f"{path} already exists: pass --resume {checkpoint_path} to continue "
                               "that run, or choose another --checkpoint")
    log_path = log_path_for(checkpoint_path)

    try:
        task = task_cls(**task_config)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    model = model_cls(task.input_size, task.output_size, **model_config)
    if resume:
        _check_params_fit(resume[0], model)
    optimizer = make_optimizer(opt_values["name"], opt_values["lr"],
                               opt_values["clip_value"], opt_values["clip_norm"])
    result = train(task, model, optimizer, cfg, checkpoint_path, log_path, resume=resume)
    ev = result["eval"] or {}
    print(f"done: step {result['step']}, {result['seqs']:,} sequences, "
          f"{result['wall']:.1f} s; eval {task.metric} {ev.get(task.metric, float('nan')):.3f}; "
          f"checkpoint {checkpoint_path}, log {log_path}")
    return 0


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        return cmd_train(args)
    except (CLIError, BackendError, CheckpointError) as exc:
        print("run.py: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    except TrainingError as exc:
        print("run.py: " + " ".join(str(exc).split()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run.py: interrupted; the last checkpoint written is kept (see the log)",
              file=sys.stderr)
        return 130
