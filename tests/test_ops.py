"""Finite-difference checks of every primitive and loss, for every input (float64, < 1e-7)."""
import functools

import numpy as np
import pytest
from op_cases import CASES

from ntm_scratch import losses, ops
from ntm_scratch.gradcheck import check_op, rel_error

TOL = 1e-7   # docs/MATH.md: one smooth op


def rng():
    return np.random.default_rng(1234)


PAIRS = [(op, name) for op, make in CASES.items() for name in make()[2]]


@pytest.mark.parametrize("op,inp", PAIRS, ids=[f"{o}-{i}" for o, i in PAIRS])
def test_gradient(op, inp):
    """Every primitive, every differentiable input, against central differences."""
    forward, backward, inputs, extras = CASES[op]()
    errors = check_op(functools.partial(forward, **extras), backward, inputs)
    assert errors[inp] < TOL, errors


def test_checker_catches_a_wrong_gradient():
    """The check must be able to fail: a sigmoid backward off by 1% in one entry is caught."""
    def bad_backward(dy, cache):
        dx = ops.sigmoid_backward(dy, cache).copy()
        dx[1, 2] *= 1.01
        return dx
    errors = check_op(ops.sigmoid_forward, bad_backward, {"x": rng().standard_normal((3, 5))})
    assert errors["x"] > 1e-4


def test_checker_uses_a_random_upstream_gradient():
    """A softmax backward that forgets the Σ y·dy term passes with an upstream of ones (the
    term vanishes then) but not with the checker's random upstream."""
    def bad_backward(dy, cache):
        y, axis = cache
        return y * dy
    x = rng().standard_normal((3, 5))
    y, cache = ops.softmax_forward(x)
    ones = np.ones_like(y)
    assert np.allclose(bad_backward(ones, cache), ops.softmax_backward(ones, cache) + y)
    errors = check_op(ops.softmax_forward, bad_backward, {"x": x})
    assert errors["x"] > 1e-3


def test_rel_error_definition():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0, -2.0]), np.array([1.0, -1.0])) == pytest.approx(1.0 / 3.0)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0


def test_masked_softmax_gives_exact_zeros_even_for_infinite_scores():
    x = np.array([[1.0, np.inf, 2.0, -np.inf], [np.nan, 0.5, 0.5, 3.0]])
    mask = np.array([[1, 0, 1, 0], [0, 1, 1, 1]], dtype=bool)
    y, cache = ops.softmax_forward(x, mask)
    assert np.all(y[~mask] == 0.0) and np.all(np.isfinite(y))
    assert np.allclose(y.sum(axis=1), 1.0)
    dx = ops.softmax_backward(np.random.default_rng(0).standard_normal(x.shape), cache)
    assert np.all(dx[~mask] == 0.0)
    empty, _ = ops.softmax_forward(np.ones((1, 3)), np.zeros((1, 3), dtype=bool))
    assert np.all(empty == 0.0)


def test_softmax_and_softplus_survive_extreme_inputs():
    x = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    y, _ = ops.softmax_forward(x)
    assert np.all(np.isfinite(y)) and y[0, 0] == pytest.approx(1.0)
    sp = ops.softplus(np.array([-1000.0, 0.0, 1000.0], dtype=np.float32))
    assert np.all(np.isfinite(sp)) and sp[2] == pytest.approx(1000.0) and sp[0] >= 0
    s = ops.sigmoid(np.array([-1000.0, 1000.0], dtype=np.float32))
    assert s[0] == 0.0 and s[1] == 1.0
    loss, _ = losses.sigmoid_cross_entropy_forward(np.array([1000.0, -1000.0]), np.array([0.0, 1.0]))
    assert loss == pytest.approx(2000.0)


def test_cosine_similarity_is_the_cosine_and_safe_at_zero():
    r = rng()
    k, mem = r.standard_normal((2, 3)), r.standard_normal((2, 4, 3))
    K, _ = ops.cosine_similarity_forward(k, mem)
    expected = np.einsum("bm,bnm->bn", k, mem) / (
        np.linalg.norm(k, axis=1)[:, None] * np.linalg.norm(mem, axis=2))
    assert np.allclose(K, expected, atol=1e-7)
    K0, cache = ops.cosine_similarity_forward(np.zeros((1, 3)), np.zeros((1, 2, 3)))
    dk, dmem = ops.cosine_similarity_backward(np.ones((1, 2)), cache)
    assert np.all(K0 == 0) and np.all(np.isfinite(dk)) and np.all(np.isfinite(dmem))


def test_ops_keep_float32():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for fwd in (ops.sigmoid_forward, ops.tanh_forward, ops.softmax_forward, ops.softplus_forward,
                ops.oneplus_forward):
        assert fwd(x)[0].dtype == np.float32
