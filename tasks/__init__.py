"""The tasks, by the name `run.py` knows them."""
from .copy import CopyTask

TASKS = {CopyTask.name: CopyTask}
