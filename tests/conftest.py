"""Shared test settings: the `gpu` marker skips itself where CuPy or a GPU is missing."""
import pytest


def _gpu_reason():
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no GPU is visible"
    except Exception as exc:  # no driver
        return f"CuPy cannot reach a GPU ({exc.__class__.__name__})"
    return None


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    reason = _gpu_reason() if gpu_items else None
    if reason:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))
