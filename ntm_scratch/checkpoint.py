"""Checkpoints: one `.npz` holding parameters, optimiser state and a JSON `meta` record.

Layout of the archive:
    param/NAME   each parameter (host copy, training dtype)
    optim/KEY    each optimiser slot ('n/W0', ...) and the step count 't'
    meta         a JSON string: task and model (names and configs), optimiser and training
                 configs, step, sequences seen, wall time, and the data RNG's state

Writes are atomic: the archive goes to a temporary file in the same folder, is flushed to disk,
then renamed over the target, so a crash leaves either the old checkpoint or the new one,
never half of one. Loading never unpickles (allow_pickle=False).
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .backend import to_host

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
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".npz.tmp", dir=folder)
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
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint "
                              f"({exc.__class__.__name__}: {str(exc)[:80]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not params:
        raise CheckpointError(f"{path} is not an ntm_scratch checkpoint of format {FORMAT}")
    for key, kind in REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise CheckpointError(f"{path} is damaged: its record lacks a valid {key!r}")
    if "t" not in optim:
        raise CheckpointError(f"{path} is damaged: it holds no optimiser state")
    return params, optim, meta
