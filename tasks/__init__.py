"""The tasks, by the name `run.py` knows them."""
from .addition import AdditionTask
from .arithmetic import ArithmeticTask
from .associative_recall import AssociativeRecallTask
from .copy import CopyTask
from .dates import DatesTask
from .logic import LogicTask
from .ngrams import NGramsTask
from .parity import ParityTask
from .priority_sort import PrioritySortTask
from .repeat_copy import RepeatCopyTask
from .reverse import ReverseTask
from .table_qa import TableQATask

TASKS = {cls.name: cls for cls in (CopyTask, RepeatCopyTask, AssociativeRecallTask, NGramsTask,
                                   PrioritySortTask, ReverseTask, DatesTask, ParityTask,
                                   LogicTask, AdditionTask, TableQATask, ArithmeticTask)}
