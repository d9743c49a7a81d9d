#!/usr/bin/env python3
"""Train and evaluate ntm_scratch's models. `python run.py --help` lists the tasks."""
import sys

from ntm_scratch.cli import main

if __name__ == "__main__":
    sys.exit(main())
