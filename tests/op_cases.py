"""The primitives under test, shared by the gradient checks and the CuPy parity tests.

Each case is (forward, backward, inputs, extras): forward(*inputs.values(), **extras) ->
(out, cache) and backward(dout, cache) -> one gradient per input. `extras` hold what is not
differentiated (masks, labels, an axis).
"""
import numpy as np

from ntm_scratch import attention, losses, ops


def _rng():
    return np.random.default_rng(1234)


def _affine():
    r = _rng()
    return ops.affine_forward, ops.affine_backward, {
        "x": r.standard_normal((2, 3, 4)), "W": r.standard_normal((4, 5)),
        "b": r.standard_normal(5)}, {}


def _unary(fwd, bwd, scale=2.0):
    def make():
        return fwd, bwd, {"x": scale * _rng().standard_normal((3, 5))}, {}
    return make


def _softmax_masked():
    mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0], [0, 1, 1, 1, 1]], dtype=bool)
    return ops.softmax_forward, ops.softmax_backward, {
        "x": 3 * _rng().standard_normal((3, 5))}, {"mask": mask}


def _softmax_axis0():
    return ops.softmax_forward, ops.softmax_backward, {
        "x": 3 * _rng().standard_normal((4, 3))}, {"axis": 0}


def _cosine(heads):
    def make():
        r = _rng()
        k_shape = (2, 3, 4) if heads else (3, 4)
        return ops.cosine_similarity_forward, ops.cosine_similarity_backward, {
            "k": r.standard_normal(k_shape), "mem": r.standard_normal((k_shape[0], 6, 4))}, {}
    return make


def _row_norms():
    return ops.row_norms_forward, ops.row_norms_backward, {
        "x": _rng().standard_normal((2, 6, 4))}, {}


def _cosine_normed():
    """The norms ‖M(i)‖ as an input of their own (the NTM computes them once per memory)."""
    r = _rng()
    return ops.cosine_similarity_normed_forward, ops.cosine_similarity_normed_backward, {
        "k": r.standard_normal((2, 3, 4)), "mem": r.standard_normal((2, 6, 4)),
        "mem_norms": r.uniform(0.5, 2.0, (2, 6))}, {}


def _sigmoid_ce():
    r = _rng()
    return losses.sigmoid_cross_entropy_forward, losses.sigmoid_cross_entropy_backward, {
        "logits": 3 * r.standard_normal((4, 3, 5)), "targets": r.random((4, 3, 5))}, {
        "mask": (r.random((4, 3, 1)) > 0.3).astype(float)}


def _softmax_ce():
    r = _rng()
    return losses.softmax_cross_entropy_forward, losses.softmax_cross_entropy_backward, {
        "logits": 3 * r.standard_normal((4, 3, 6))}, {
        "labels": r.integers(0, 6, size=(4, 3)), "mask": (r.random((4, 3)) > 0.3).astype(float)}


def _huber():
    # Huber's second derivative jumps at |pred − target| = δ; every residual here stays at
    # least 0.05 away from δ, so no central difference straddles the switch.
    r = _rng()
    delta = 1.0
    target = r.standard_normal((4, 5))
    a = r.uniform(0.05, 0.95, (4, 5)) * r.choice([-1, 1], (4, 5))
    a[::2] = r.uniform(1.05, 3.0, (2, 5)) * r.choice([-1, 1], (2, 5))   # half of them beyond δ
    assert np.all(np.abs(np.abs(a) - delta) >= 0.05)
    return losses.huber_forward, losses.huber_backward, {
        "pred": target + a, "target": target}, {"delta": delta}


# Attention: B = 3 sequences over S = 5 source positions, one of them padded to length 1.
SOURCE_MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=bool)


def _project_keys():
    r = _rng()
    return attention.project_keys_forward, attention.project_keys_backward, {
        "h": r.standard_normal((3, 5, 4)), "U": r.standard_normal((4, 6))}, {}


def _additive_scores():
    r = _rng()
    return attention.additive_scores_forward, attention.additive_scores_backward, {
        "s": r.standard_normal((3, 4)), "keys": r.standard_normal((3, 5, 6)),
        "W": 0.5 * r.standard_normal((4, 6)), "v": r.standard_normal(6)}, {}


def _dot_scores():
    r = _rng()
    return attention.dot_scores_forward, attention.dot_scores_backward, {
        "s": r.standard_normal((3, 4)), "keys": r.standard_normal((3, 5, 4))}, {}


def _attend_forward(e, h, mask):               # the differentiated inputs first, the mask last
    return attention.attend_forward(e, mask, h)


def _attend():
    r = _rng()
    return _attend_forward, attention.attend_backward, {
        "e": 2 * r.standard_normal((3, 5)), "h": r.standard_normal((3, 5, 4))}, \
        {"mask": SOURCE_MASK}


CASES = {
    "affine": _affine,
    "sigmoid": _unary(ops.sigmoid_forward, ops.sigmoid_backward),
    "tanh": _unary(ops.tanh_forward, ops.tanh_backward),
    "softmax": _unary(ops.softmax_forward, ops.softmax_backward, scale=3.0),
    "softmax_axis0": _softmax_axis0,
    "softmax_masked": _softmax_masked,
    "softplus": _unary(ops.softplus_forward, ops.softplus_backward, scale=5.0),
    "oneplus": _unary(ops.oneplus_forward, ops.oneplus_backward, scale=5.0),
    "cosine_similarity": _cosine(heads=False),
    "cosine_similarity_heads": _cosine(heads=True),
    "row_norms": _row_norms,
    "cosine_similarity_normed": _cosine_normed,
    "sigmoid_cross_entropy": _sigmoid_ce,
    "softmax_cross_entropy": _softmax_ce,
    "huber": _huber,
    "attention_project_keys": _project_keys,
    "attention_additive_scores": _additive_scores,
    "attention_dot_scores": _dot_scores,
    "attention_attend_masked": _attend,
}
