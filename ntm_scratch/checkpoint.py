"""Checkpoints: one `.npz` holding parameters, optimiser state and a JSON `meta` record.

Layout of the archive:
    param/NAME   each parameter (host copy, training dtype)
    optim/KEY    each optimiser slot ('n/W0', ...) and the step count 't'
    meta         a JSON string: task and model (names and configs), optimiser and training
                 configs, step, sequences seen, wall time, and the data RNG's state

A *model file* (`export_model`, `run.py export`) is a checkpoint without the optimiser state:
its meta says `"model_only": true`, it holds no `optim/` entries, and its parameters may be
stored in float16 (`"stored": "float16"`; they are cast back to the training dtype on loading).
It is what the project ships in `checkpoints/`: it can be evaluated and drawn, not resumed.

Writes are atomic: the archive goes to a temporary file in the same folder, is flushed to disk,
then renamed over the target, so a crash leaves either the old checkpoint or the new one,
never half of one. The temporary file is named after its checkpoint (`.NAME.npz.XXXX.tmp`), so
the next run of that checkpoint, which owns it (its lock), removes one a killed run left
(`remove_stale_temporaries`). Loading never unpickles (allow_pickle=False).
"""
import json
import math
import os
import tempfile
import threading
import zipfile

import numpy as np

from .backend import to_host
from .optim import OPTIMIZERS

FORMAT = 1
STORED = ("float32", "float64", "float16")     # how a model file's parameters may be stored
REQUIRED = {"task": str, "task_config": dict, "model": str, "model_config": dict,
            "optimizer": dict, "train": dict, "step": int, "seqs": int, "wall": (int, float),
            "rng_state": dict}


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable, or does not fit the run that asks for it."""


def save_checkpoint(path, params, optim_state, meta):
    arrays = {f"param/{k}": to_host(v) for k, v in params.items()}
    arrays.update({f"optim/{k}": to_host(v) for k, v in optim_state.items()})
    arrays["meta"] = np.asarray(json.dumps(dict(meta, format=FORMAT)))
    _write_atomically(path, lambda f: np.savez(f, **arrays))


def _write_atomically(path, write):
    """Call write(file) on a temporary file beside `path`, flush it to disk, then rename it
    over `path`: a crash leaves the old file or the new one, never half of one."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)                   # as an ordinary file would be, not 0600
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)                           # atomic on POSIX within one filesystem
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)                                # make the rename itself durable
    finally:
        os.close(dir_fd)


def _temporary_prefix(path):
    return "." + os.path.basename(path) + "."


def remove_stale_temporaries(path):
    """Remove the temporary files a killed run of this checkpoint left half written. Only the
    process that owns the checkpoint (holds its lock) may call this: no other writes them."""
    folder = os.path.dirname(os.path.abspath(path))
    prefix = _temporary_prefix(path)
    for name in os.listdir(folder):
        if name.startswith(prefix) and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(folder, name))
            except FileNotFoundError:
                pass


def shown_path(path):
    """A checkpoint's path as tables and figures name it: relative to the working folder when
    it lies inside it, else as it is."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


# numpy reads every array's header with ast.literal_eval, and CPython 3.11's AST constructor
# keeps its recursion depth per interpreter, not per thread: two threads reading at once can
# fail with "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905). The
# workers of a local sweep are threads of one process, so checkpoints are read one at a time.
_READING = threading.Lock()


def load_checkpoint(path):
    """Returns (params, optim_state, meta) as host arrays and a dict, or raises CheckpointError."""
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with _READING:
            z = np.load(path, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):     # a bare .npy array, not an archive
                raise ValueError("not an .npz archive")
            with z:
                meta = json.loads(str(z["meta"]))
                params = {k[len("param/"):]: z[k] for k in z.files if k.startswith("param/")}
                optim = {k[len("optim/"):]: z[k] for k in z.files if k.startswith("optim/")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError,
            NotImplementedError, RuntimeError) as exc:      # (the last two: an encrypted entry,
                                                            #  an unknown compression)
        raise CheckpointError(f"{path} is not a readable checkpoint "
                              f"({exc.__class__.__name__}: {str(exc)[:80]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not params:
        raise CheckpointError(f"{path} is not an ntm_scratch checkpoint of format {FORMAT}")
    for key, kind in REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise CheckpointError(f"{path} is damaged: its record lacks a valid {key!r}")
    model_only = meta.get("model_only", False)
    if model_only not in (True, False) or meta.get("stored", "float32") not in STORED:
        raise CheckpointError(f"{path} is damaged: its record of how it is stored is invalid")
    if model_only and optim:
        raise CheckpointError(f"{path} is damaged: a model file that holds optimiser state")
    if not model_only and "t" not in optim:
        raise CheckpointError(f"{path} is damaged: it holds no optimiser state")
    problem = _damage(params, optim, meta)
    if problem:
        raise CheckpointError(f"{path} is damaged: {problem}")
    return params, optim, meta


def _count(v, least=0):
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def _damage(params, optim, meta):
    """What is wrong with a checkpoint's contents, in a few words, or None. Every part a resume
    or an evaluation reads is checked here, so none of them fails later with a traceback."""
    model_only = meta.get("model_only", False)
    kinds = {np.dtype(meta.get("stored", "float32"))} if model_only else \
        {np.dtype(np.float32), np.dtype(np.float64)}
    for key, a in params.items():
        if a.dtype not in kinds:
            return (f"the parameter {key} is of type {a.dtype} "
                    f"({' or '.join(sorted(k.name for k in kinds))} expected)")
        if not np.all(np.isfinite(a)):
            return f"the parameter {key} is not finite"
    if not (_count(meta["step"]) and _count(meta["seqs"])):
        return "its step or sequence count is not a whole number >= 0"
    if not (math.isfinite(meta["wall"]) and meta["wall"] >= 0):
        return "its wall time is not a number >= 0"
    train = meta["train"]
    for key in ("steps", "batch_size", "eval_every", "eval_size", "log_every"):
        if key in train and not _count(train[key], 1):
            return f"its training record has {key} = {train[key]!r}"
    if "seed" in train and not _count(train["seed"]):
        return f"its training record has seed = {train['seed']!r}"
    if train.get("dtype", "float32") not in ("float32", "float64"):
        return f"its training record has dtype = {train.get('dtype')!r}"
    opt = meta["optimizer"]
    if opt.get("name") not in OPTIMIZERS:
        return f"its optimiser {opt.get('name')!r} is unknown"
    if not (isinstance(opt.get("lr"), (int, float)) and math.isfinite(opt["lr"]) and opt["lr"] > 0):
        return f"its optimiser's learning rate is {opt.get('lr')!r}"
    for key in ("clip_value", "clip_norm", "eps"):
        v = opt.get(key)
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            return f"its optimiser's {key} is {v!r}"
    if model_only:                                      # no optimiser state to check
        return _damage_of_record(meta)
    t = optim["t"]
    if t.shape != () or not np.issubdtype(t.dtype, np.integer) or int(t) < 0:
        return "its optimiser's step count is not a whole number >= 0"
    slots = OPTIMIZERS[opt["name"]].slots
    expected = {f"{s}/{k}" for s in slots for k in params} | {"t"}
    if int(t) == 0 and set(optim) == {"t"}:             # before the first step: no slots yet
        slots = ()
    elif set(optim) != expected:
        wrong = sorted((set(optim) ^ expected) - {"t"})
        return f"its optimiser state has {'extra' if wrong[0] in optim else 'missing'} slot {wrong[0]}"
    for s in slots:
        for k, p in params.items():
            a = optim[f"{s}/{k}"]
            if a.shape != p.shape or a.dtype != p.dtype or not np.all(np.isfinite(a)):
                return f"its optimiser slot {s}/{k} does not fit the parameter {k}"
    return _damage_of_record(meta)


def _damage_of_record(meta):
    try:
        np.random.default_rng().bit_generator.state = meta["rng_state"]
    except (TypeError, ValueError, KeyError):
        return "its data generator's state is not one NumPy can restore"
    best = meta.get("best")                             # --keep-best's record
    if best is not None and not (isinstance(best, dict) and _count(best.get("step"))
                                 and _count(best.get("seqs"))
                                 and isinstance(best.get("value"), (int, float))
                                 and math.isfinite(best["value"])):
        return "its record of the best evaluation is invalid"
    for part in ("task_config", "model_config"):
        if any(v is None for v in meta[part].values()):
            return f"its {part.replace('_', ' ')} has an empty value"
    return None


def is_model_file(path):
    """Whether `path` holds a readable model file (what export and --keep-best may replace)."""
    try:
        return load_checkpoint(path)[2].get("model_only") is True
    except CheckpointError:
        return False


def export_model(source, out, float16=False):
    """Write the model of a training checkpoint as a model file (no optimiser state; float16
    parameters if asked), and copy its metrics log beside it (OUT.jsonl) for the learning
    curves. Returns (parameter count, bytes written). An existing file at OUT is replaced only
    if it is itself a model file: a training checkpoint is never lost this way."""
    params, _, meta = load_checkpoint(source)
    if meta.get("model_only"):
        raise CheckpointError(f"{source} is already a model file")
    if os.path.abspath(source) == os.path.abspath(out):
        raise CheckpointError("the model file must go to another path than its checkpoint")
    if os.path.exists(out) and not is_model_file(out):
        raise CheckpointError(f"{out} exists and is not a model file; choose another path")
    stored = "float16" if float16 else meta["train"].get("dtype", "float32")
    for k, v in params.items():
        if v.size and np.abs(v).max() > np.finfo(stored).max:
            raise CheckpointError(f"the parameter {k} of {source} does not fit in {stored}")
    params = {k: v.astype(stored) for k, v in params.items()}
    save_checkpoint(out, params, {}, dict(meta, model_only=True, stored=stored))
    log, out_log = (os.path.splitext(p)[0] + ".jsonl" for p in (source, out))
    if os.path.isfile(log):
        with open(log, "rb") as f:
            text = f.read()
        _write_atomically(out_log, lambda f: f.write(text))
    elif os.path.exists(out_log):
        os.unlink(out_log)                              # never another run's log beside it
    return sum(int(v.size) for v in params.values()), os.path.getsize(out)
