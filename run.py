#!/usr/bin/env python3
"""Train and evaluate ntm_scratch's models. `python run.py --help` lists the tasks."""
import os
import signal
import sys


def _interrupted_while_loading(signum, frame):
    """Ctrl-C while the modules load: nothing has been written yet, so leave at once (an
    interrupt inside NumPy's import would otherwise surface as an ImportError)."""
    print("run.py: interrupted before anything started", file=sys.stderr)
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted_while_loading)
from ntm_scratch.cli import main  # noqa: E402
signal.signal(signal.SIGINT, signal.default_int_handler)   # from here on main() answers Ctrl-C

if __name__ == "__main__":
    sys.exit(main())
