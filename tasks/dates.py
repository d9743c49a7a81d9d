"""Dates written as people write them, converted to ISO 8601: "Sunday, May 3, 1987" -> 1987-05-03.

Every date from 1950-01-01 to 2049-12-31 (so a two-digit year has one reading: 50–99 are 19xx,
00–49 are 20xx), in twelve formats (FORMATS). Numeric formats keep one convention each: a slash
is always month/day (US), a dot after a day is always day.month (European), and a four-digit year
first is always year.month.day. Two dates in ten are held out, by their day number since
0001-01-01 (`date.toordinal()`): those ≡ 5 (mod 10) are the validation dates, which the
training loop evaluates on (and stops on, with --stop-below); those ≡ 0 (mod 10) are the test
dates, which nothing in training sees and `run.py eval dates` reports. Training draws only from
the other eight in ten, in any format.

Source: characters (CHARS); target: the 10 characters of YYYY-MM-DD, then EOS. Every string is
built once, on first use, and batches are drawn by indexing.
"""
import datetime

import numpy as np

from .base import BATCH_LENGTHS, draw_sizes
from .tokens import EOS, SPECIALS, TokenBatch, TokenTask

FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
SPLITS = {"train": None, "valid": 5, "test": 0}      # held out: toordinal() % 10 == value
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _ordinal(d):
    return f"{d}{'th' if 10 <= d % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"


FORMATS = (
    lambda t: f"{t.day} {MONTHS[t.month - 1].lower()} {t.year}",                 # 3 may 1987
    lambda t: f"{t.month:02d}/{t.day:02d}/{t.year % 100:02d}",                    # 05/03/87
    lambda t: f"{DAYS[t.weekday()]}, {MONTHS[t.month - 1]} {t.day}, {t.year}",    # Sunday, May 3, 1987
    lambda t: f"{t.year}.{t.month}.{t.day}",                                      # 1987.5.3
    lambda t: f"{MONTHS[t.month - 1]} {t.day}, {t.year}",                         # May 3, 1987
    lambda t: f"{t.day:02d}.{t.month:02d}.{t.year}",                              # 03.05.1987
    lambda t: f"{t.year}-{t.month:02d}-{t.day:02d}",                              # 1987-05-03
    lambda t: f"{_ordinal(t.day)} of {MONTHS[t.month - 1]} {t.year}",             # 3rd of May 1987
    lambda t: f"{MONTHS[t.month - 1].upper()} {t.day} {t.year}",                  # MAY 3 1987
    lambda t: f"{t.day} {MONTHS[t.month - 1][:3].lower()} {t.year % 100:02d}",    # 3 may 87
    lambda t: f"{DAYS[t.weekday()][:3].lower()} {t.day} {MONTHS[t.month - 1][:3].lower()} "
              f"{t.year}",                                                        # sun 3 may 1987
    lambda t: f"{t.month}/{t.day}/{t.year}",                                      # 5/3/1987
)
CHARS = " ,./-0123456789" + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ISO_CHARS = "0123456789-"


def _encode(text, alphabet):
    return [SPECIALS + alphabet.index(ch) for ch in text]


class DatesTask(TokenTask):
    name = "dates"
    summary = "convert dates written in 12 human formats to ISO 8601 (held-out test dates)"
    options = (BATCH_LENGTHS[:2] + ("training batches: 'one' draws one format for the whole batch "
                                    "(its dates' lengths then differ by a few characters at most); "
                                    "'mixed' draws each date's own; evaluation always mixes",)
               + BATCH_LENGTHS[3:],)
    eval_kwargs = {"split": "valid"}                # what the training loop evaluates on
    sweep = ("split", ("valid", "test"))            # what `run.py eval dates` reports
    figure_examples = tuple((f"date{i}", {"split": "test"}) for i in range(6))   # test dates
    source_alphabet, target_alphabet = CHARS, ISO_CHARS
    train_defaults = {"all": {"steps": 3000, "eval_every": 100, "eval_size": 512,
                              "stop_below": 0.5}}
    _table = None                                   # built once per process, shared by instances

    def __init__(self, batch_lengths="one"):
        self.config = {"batch_lengths": batch_lengths}
        self.input_size = SPECIALS + len(CHARS)
        self.output_size = SPECIALS + len(ISO_CHARS)

    @classmethod
    def table(cls):
        """(dates, sources (n_dates, n_formats, S), targets (n_dates, 11), the ordinals mod 10)."""
        if cls._table is None:
            n = (LAST - FIRST).days + 1
            dates = [FIRST + datetime.timedelta(days=i) for i in range(n)]
            texts = [[f(t) for f in FORMATS] for t in dates]
            S = max(len(s) for row in texts for s in row)
            src = np.zeros((n, len(FORMATS), S), dtype=np.int64)
            for i, row in enumerate(texts):
                for j, s in enumerate(row):
                    src[i, j, :len(s)] = _encode(s, CHARS)
            tgt = np.array([_encode(t.isoformat(), ISO_CHARS) + [EOS] for t in dates])
            residue = np.array([t.toordinal() % 10 for t in dates])
            cls._table = (dates, src, tgt, residue)
        return cls._table

    def sample(self, rng, batch_size, split="train", return_dates=False, one_size=False):
        """A batch of dates from the training, validation or test dates (`split`); `one_size`
        writes the whole batch in one format."""
        if split not in SPLITS:
            raise ValueError("split is " + ", ".join(SPLITS))
        dates, src, tgt, residue = self.table()
        held_out = (residue == SPLITS["valid"]) | (residue == SPLITS["test"])
        pool = np.nonzero(~held_out if split == "train" else residue == SPLITS[split])[0]
        which = pool[rng.integers(0, len(pool), size=batch_size)]
        fmt = draw_sizes(rng, 0, len(FORMATS) - 1, batch_size, one_size=one_size)
        x = src[which, fmt]                                          # (B, S_max)
        S = int((x != 0).sum(axis=1).max())
        x = x[:, :S].T                                               # time-major (S, B)
        y = tgt[which].T                                             # (11, B)
        batch = TokenBatch(x=x, src_mask=x != 0, y=y, mask=np.ones(y.shape))
        return (batch, [dates[i] for i in which]) if return_dates else batch
