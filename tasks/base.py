"""What every task provides to the training loop, and the loss shared by the bit tasks.

A task has `name`, `config` (a JSON-able dict, saved in checkpoints), `input_size`,
`output_size`, `metric` (the name of the number it is judged by, lower is better), and:

    batch = task.sample(rng, batch_size)            # host NumPy arrays, time-major
    loss, dlogits, metrics = task.loss(logits, batch)

`loss` is the mean over the batch of each sequence's summed loss (what the gradient is of);
`metrics` maps names to 0-d arrays, per sequence.
"""
from dataclasses import dataclass

import numpy as np

from ntm_scratch.backend import array_module
from ntm_scratch.losses import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward

LN2 = float(np.log(2.0))

def batch_lengths_option(default="one", why=""):
    """The option of every task whose examples differ in length (or in a size that sets the
    length), with the task's default and, where it is not 'one', the reason."""
    return ("batch_lengths", default,
            "training batches: 'one' draws one length (or size) for the whole batch, so no time "
            "step is spent on padding; 'mixed' draws each example's own. Each example's length "
            "has the same distribution either way; evaluation always mixes" + why,
            ("one", "mixed"))


BATCH_LENGTHS = batch_lengths_option()


def draw_sizes(rng, lo, hi, batch_size, fixed=None, one_size=False):
    """Each example's length (or item count, ...): `fixed` for every example; else uniform in
    [lo, hi], drawn once for the whole batch when `one_size` (training with batch_lengths
    'one'), else once per example."""
    if fixed is not None:
        return np.full(batch_size, int(fixed))
    if one_size:
        return np.full(batch_size, int(rng.integers(lo, hi + 1)))
    return rng.integers(lo, hi + 1, size=batch_size)


@dataclass
class Batch:
    """x: (T, B, input_size); y: (T, B, output_size); mask: (T, B), 1 where the target counts."""
    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray


class Task:
    """What a task may declare, with the defaults every task starts from."""

    options = ()                  # (name, default, help[, choices]): run.py flags, in config
    train_defaults = {}           # {"all" or a model name: {training setting: value}}
    model_defaults = {}           # {model name: {option: value}}: a task's own model sizes
    models = ("ntm", "lstm")      # the models that can learn it
    default_model = "ntm"
    sweep = None                  # (sample kwarg, values): what `run.py eval` varies
    eval_kwargs = {}              # what every evaluation samples (e.g. held-out data)
    figure_examples = ()          # (tag, sample kwargs): the examples `run.py figures` draws
    generalisation = ()           # (sample kwarg, values, training maximum): its sweeps

    def expand_varied(self, keyword, values):
        """The values of a setting `run.py eval` varies, as the task reads them (a task may
        turn a word such as 'all' into its list)."""
        return values

    def training_kwargs(self, seqs):
        """What training samples after `seqs` sequences: one length per batch where the task's
        batch_lengths option says so (a curriculum adds its stage)."""
        return {"one_size": True} if self.config.get("batch_lengths") == "one" else {}


class BitTask(Task):
    """A task whose targets are bits, predicted through a sigmoid (copy and the NTM tasks).

    Loss: sigmoid cross-entropy from the logits over the masked steps. Metrics, per sequence:
    `bits`, that loss in bits (nats / ln 2), which the NTM paper's learning curves plot as
    "cost per sequence (bits)"; `cost`, the bits wrong after thresholding the output at 0.5.
    A wrong bit costs at least one bit of cross-entropy, so `bits` >= `cost`.
    """

    metric = "cost"
    metric_label = "wrong bits per sequence"
    # the paper's learning curves, read off its figure: ((label, [(sequences, cross-entropy
    # bits per sequence), ...]), ...), one entry per model it plots
    paper_curves = ()
    report = ("bits", "cost")     # what the progress line shows

    def loss(self, logits, batch):
        xp = array_module(logits)
        y = xp.asarray(batch.y, dtype=logits.dtype)
        mask = xp.asarray(batch.mask, dtype=logits.dtype)[..., None]
        B = logits.shape[1]
        nats, cache = sigmoid_cross_entropy_forward(logits, y, mask)
        dlogits, _ = sigmoid_cross_entropy_backward(1.0 / B, cache)
        wrong = ((logits > 0) != (y > 0.5)) * mask
        loss = nats / B
        return loss, dlogits, {"bits": loss / LN2, "cost": wrong.sum() / B}
