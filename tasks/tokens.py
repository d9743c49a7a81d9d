"""What the sequence-to-sequence tasks share: token batches and the loss over them.

Tokens are integers: 0 is padding, 1 starts the decoder (BOS), 2 ends a target (EOS), and each
task's own symbols follow. Arrays are time-major: the source x (S, B), its mask src_mask (S, B),
the target y (T, B) ending in EOS, and its mask (T, B). Every example ends where its mask does,
so sequences of different lengths share a batch.
"""
from dataclasses import dataclass

import numpy as np

from ntm_scratch.backend import array_module
from ntm_scratch.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward

from .base import Task

PAD, BOS, EOS = 0, 1, 2
SPECIALS = 3


@dataclass
class TokenBatch:
    x: np.ndarray          # (S, B) source tokens
    src_mask: np.ndarray   # (S, B) boolean, True on real source tokens
    y: np.ndarray          # (T, B) target tokens
    mask: np.ndarray       # (T, B) 1.0 on the target's steps (EOS included)


def pad(sequences, dtype=np.int64):
    """A list of token lists -> (time-major (len, B) array, boolean mask)."""
    n = max(len(s) for s in sequences)
    out = np.zeros((n, len(sequences)), dtype=dtype)
    for b, s in enumerate(sequences):
        out[:len(s), b] = s
    return out, out != PAD


class TokenTask(Task):
    """A task whose targets are tokens, predicted through a softmax.

    Loss: softmax cross-entropy over the target's steps, summed per sequence (nats) and
    averaged over the batch. Metrics, per sequence: `nats`; `seq_error`, the percentage of
    sequences with any wrong token (100 − exact-match accuracy); `token_error`, the percentage
    of target tokens wrong. Evaluation decodes greedily (the model feeds back its own argmax).
    """

    metric = "seq_error"
    metric_label = "% of sequences not exactly right"
    report = ("nats", "seq_error", "token_error")
    models = ("seq2seq",)
    default_model = "seq2seq"
    source_alphabet = target_alphabet = ""   # the characters of the task's own tokens

    @staticmethod
    def text(tokens, alphabet):
        """Token ids -> a list of symbols, up to and including EOS, without padding."""
        out = []
        for t in (int(t) for t in tokens):
            if t == EOS:
                return out + ["<eos>"]
            if t >= SPECIALS:
                out.append(alphabet[t - SPECIALS] if t - SPECIALS < len(alphabet) else str(t))
        return out

    def loss(self, logits, batch):
        xp = array_module(logits)
        y = xp.asarray(batch.y)
        mask = xp.asarray(batch.mask, dtype=logits.dtype)
        B = logits.shape[1]
        nats, cache = softmax_cross_entropy_forward(logits, y, mask)
        dlogits = softmax_cross_entropy_backward(1.0 / B, cache)
        wrong = (logits.argmax(axis=-1) != y) * mask                  # (T, B)
        metrics = {"nats": nats / B,
                   "seq_error": 100.0 * (wrong.sum(axis=0) > 0).sum() / B,
                   "token_error": 100.0 * wrong.sum() / mask.sum()}
        return nats / B, dlogits, metrics
