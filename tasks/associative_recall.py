"""Associative recall (NTM paper §4.3): after a list of items, answer "what came after this one?"

An item is 3 random 6-bit vectors. An episode shows 2–6 items, each preceded by a step with the
item delimiter raised; then the query delimiter, a copy of one of the items (never the last),
and the query delimiter again. The network must then output the item that followed the query
in the list. Items are compared by content, so the network has to look one up by its value.

Layout (input channels: bits, item delimiter, query delimiter; output: bits), n items of
k = 3 vectors:

    item i (i = 0..n-1):   step 4i: item delimiter; steps 4i+1 .. 4i+3: its vectors
    then:                  query delimiter, the query item (3 steps), query delimiter
    then:                  3 output steps: the item after the query (the only scored steps)

Episodes with fewer items end earlier; the mask scores each one's own output steps.
"""
import numpy as np

from .base import Batch, BitTask, batch_lengths_option, draw_sizes


class AssociativeRecallTask(BitTask):
    name = "associative-recall"
    summary = "recall the item that followed a query item (NTM paper §4.3)"
    options = (("bits", 6, "random bits per vector"),
               ("item_length", 3, "vectors per item"),
               ("min_items", 2, "fewest items per training episode"),
               ("max_items", 6, "most items per training episode"),
               batch_lengths_option("mixed", ". Mixed here: with one item count a batch, seed 0 "
                                    "had not learnt the task after 320,000 sequences; with "
                                    "mixed counts it had at 64,800"))
    default_model = "ntm"
    paper_curves = (("NTM paper, Fig. 10, NTM with LSTM controller (read off)",
                     [(50_000, 11.0), (100_000, 0.5), (200_000, 0.0)]),
                    ("NTM paper, Fig. 10, LSTM (read off)",
                     [(50_000, 14.0), (100_000, 10.5), (200_000, 8.0)]))
    sweep = ("items", (6, 8, 10, 12, 15))
    figure_examples = (("items6", {"items": 6}), ("items12", {"items": 12}))   # NTM Fig. 12
    generalisation = (("items", (2, 4, 6, 8, 10, 12, 15), 6),)
    train_defaults = {"all": {"steps": 20000, "eval_every": 100, "stop_below": 0.1},
                      "ntm": {"batch_size": 16, "optimizer": "rmsprop", "lr": 3e-4,
                              "clip_norm": 10.0, "eval_every": 50}}

    def __init__(self, bits=6, item_length=3, min_items=2, max_items=6, batch_lengths="mixed"):
        if not 2 <= min_items <= max_items:
            raise ValueError("associative recall needs 2 <= min_items <= max_items")
        self.config = {"bits": int(bits), "item_length": int(item_length),
                       "min_items": int(min_items), "max_items": int(max_items),
                       "batch_lengths": batch_lengths}
        self.input_size = bits + 2        # data bits, item delimiter, query delimiter
        self.output_size = bits

    def episode_length(self, items):
        k = self.config["item_length"]
        return items * (k + 1) + (k + 2) + k

    def sample(self, rng, batch_size, items=None, one_size=False):
        """A batch; `items` fixes every episode's number of items (for evaluation), `one_size`
        draws one number of items for the whole batch."""
        c = self.config
        if items is not None and int(items) < 2:
            raise ValueError(f"associative recall needs at least 2 items (a query and the item "
                             f"after it), not {items}")
        bits, k = c["bits"], c["item_length"]
        n = draw_sizes(rng, c["min_items"], c["max_items"], batch_size, items, one_size)
        n_max = int(n.max())
        T = int(self.episode_length(n).max())
        cols = np.arange(batch_size)
        data = rng.integers(0, 2, size=(n_max, k, batch_size, bits)).astype(np.float64)
        query = (rng.random(batch_size) * (n - 1)).astype(int)        # any item but the last

        x = np.zeros((T, batch_size, bits + 2))
        y = np.zeros((T, batch_size, bits))
        mask = np.zeros((T, batch_size))
        for i in range(n_max):                                         # item i, where it exists
            present = i < n
            x[(k + 1) * i, cols[present], bits] = 1.0                  # item delimiter
            for j in range(k):
                x[(k + 1) * i + 1 + j, cols[present], :bits] = data[i, j, present]
        q0 = (k + 1) * n                                               # the query block starts
        x[q0, cols, bits + 1] = 1.0
        x[q0 + k + 1, cols, bits + 1] = 1.0
        for j in range(k):
            x[q0 + 1 + j, cols, :bits] = data[query, j, cols]          # the query item
            y[q0 + k + 2 + j, cols] = data[query + 1, j, cols]         # the item after it
            mask[q0 + k + 2 + j, cols] = 1.0
        return Batch(x=x, y=y, mask=mask)
