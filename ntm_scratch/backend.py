"""The array backend: NumPy on the CPU, CuPy on a GPU, behind one switch.

One place knows which module is active (`use`, `xp`). Ops never import numpy to compute: they
ask their arrays for the module (`array_module(x)`), so the same function runs on either device.
Data is always generated on the host with NumPy's RNG and moved with `to_device`, so a run on
the GPU sees exactly the same sequences as one on the CPU.

The dtype is an argument everywhere (float32 to train, float64 to check gradients); nothing here
changes NumPy's defaults.
"""
import os

import numpy as np

BACKENDS = ("numpy", "cupy")
ENV_VAR = "NTM_BACKEND"

_active = None  # the module in use: numpy or cupy; None until first asked


class BackendError(RuntimeError):
    """The requested backend cannot run here; the message says what is missing."""


def _load_cupy():
    """Import CuPy and make sure a GPU is visible, or say in one sentence what to do."""
    try:
        import cupy
    except ImportError:
        raise BackendError(
            "CuPy is not installed: run `pip install -r requirements-gpu.txt` "
            "(cupy-cuda12x; any CuPy build that matches your CUDA works)") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise BackendError(f"CuPy is installed but cannot reach a GPU ({exc.__class__.__name__}): "
                           "check the NVIDIA driver and that the CuPy build matches your CUDA") from None
    if count == 0:
        raise BackendError("CuPy is installed but no GPU is visible: run on a machine with an "
                           "NVIDIA GPU, or use --backend numpy")
    return cupy


def use(name):
    """Make `name` ('numpy' or 'cupy') the active backend and return its module."""
    global _active
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    _active = np if name == "numpy" else _load_cupy()
    return _active


def xp():
    """The active array module; chosen by NTM_BACKEND on first use (NumPy if unset)."""
    if _active is None:
        use(os.environ.get(ENV_VAR, "numpy").strip().lower() or "numpy")
    return _active


def name():
    """'numpy' or 'cupy'."""
    return "numpy" if xp() is np else "cupy"


def array_module(*arrays):
    """The module (numpy or cupy) that owns these arrays; what every op computes with."""
    for a in arrays:
        if type(a) is not np.ndarray and type(a).__module__.startswith("cupy"):
            import cupy
            return cupy
    return np


def to_device(x, dtype=None):
    """Copy a host array (or nested dict of them) to the active backend, optionally casting."""
    if isinstance(x, dict):
        return {k: to_device(v, dtype) for k, v in x.items()}
    return xp().asarray(x, dtype=dtype)


def to_host(x):
    """A NumPy copy of an array from either backend (or a dict of them)."""
    if isinstance(x, dict):
        return {k: to_host(v) for k, v in x.items()}
    if array_module(x) is np:
        return np.asarray(x)
    return x.get()


def scalar(x):
    """A Python float from a 0-d array on either backend (a device sync on the GPU)."""
    return float(to_host(x))
