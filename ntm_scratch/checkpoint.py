"""Checkpoints: one `.npz` holding parameters, optimiser state and a JSON `meta` record.

Layout of the archive:
    param/NAME   each parameter (host copy, training dtype)
    optim/KEY    each optimiser slot ('n/W0', ...) and the step count 't'
    meta         a JSON string: task and model (names and configs), optimiser and training
                 configs, step, sequences seen, wall time, and the data RNG's state

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
import zipfile

import numpy as np

from .backend import to_host
from .optim import OPTIMIZERS

FORMAT = 1
REQUIRED = {"task": str, "task_config": dict, "model": str, "model_config": dict,
            "optimizer": dict, "train": dict, "step": int, "seqs": int, "wall": (int, float),
            "rng_state": dict}


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable, or does not fit the run that asks for it."""


def save_checkpoint(path, params, optim_state, meta):
    arrays = {f"param/{k}": to_host(v) for k, v in params.items()}
    arrays.update({f"optim/{k}": to_host(v) for k, v in optim_state.items()})
    arrays["meta"] = np.asarray(json.dumps(dict(meta, format=FORMAT)))
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)                   # as an ordinary file would be, not 0600
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
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


def load_checkpoint(path):
    """Returns (params, optim_state, meta) as host arrays and a dict, or raises CheckpointError."""
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
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
    if "t" not in optim:
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
    for key, a in params.items():
        if a.dtype not in (np.float32, np.float64):
            return f"the parameter {key} is of type {a.dtype} (float32 or float64 expected)"
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
    for key in ("clip_value", "clip_norm"):
        v = opt.get(key)
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            return f"its optimiser's {key} is {v!r}"
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
    try:
        np.random.default_rng().bit_generator.state = meta["rng_state"]
    except (TypeError, ValueError, KeyError):
        return "its data generator's state is not one NumPy can restore"
    for part in ("task_config", "model_config"):
        if any(v is None for v in meta[part].values()):
            return f"its {part.replace('_', ' ')} has an empty value"
    return None
