#!/usr/bin/env python3
"""Train and evaluate ntm_scratch's models. `python run.py --help` lists the tasks."""
import os
import sys


def _workers(argv):
    """The value of --workers, read before NumPy loads (0 if absent or not a number)."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--workers=") else \
            (argv[i + 1] if arg == "--workers" and i + 1 < len(argv) else None)
        if value is not None:
            return int(value) if value.isdigit() else 0
    return 0


if _workers(sys.argv[1:]) > 1:
    # Several worker processes share the cores: each gets one BLAS thread, or their spinning
    # BLAS threads fight over the cores (measured: 4x slower). Must be set before NumPy loads.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

from ntm_scratch.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
