"""The tasks, by the name `run.py` knows them."""
from .addition import AdditionTask
from .associative_recall import AssociativeRecallTask
from .copy import CopyTask
from .dates import DatesTask
from .ngrams import NGramsTask
from .parity import ParityTask
from .priority_sort import PrioritySortTask
from .repeat_copy import RepeatCopyTask
from .reverse import ReverseTask

TASKS = {cls.name: cls for cls in (CopyTask, RepeatCopyTask, AssociativeRecallTask, NGramsTask,
                                   PrioritySortTask, ReverseTask, DatesTask, ParityTask,
                                   AdditionTask)}
