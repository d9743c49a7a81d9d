"""NTM addressing, (5)–(9): every stage and the chain, every input, R = 1 and R = 2 (< 1e-7)."""
import numpy as np
import pytest

from ntm_scratch import addressing as A
from ntm_scratch.gradcheck import check_op

TOL = 1e-7
B, H, N, M = 2, 2, 7, 3


def dist(r, shape):
    """A strictly positive distribution over the last axis."""
    p = r.random(shape) + 0.1
    return p / p.sum(axis=-1, keepdims=True)


def inputs(R, seed=0, heads=True):
    r = np.random.default_rng(seed)
    lead = (B, H) if heads else (B,)
    return {
        "memory": r.standard_normal((B, N, M)),
        "k": r.standard_normal(lead + (M,)),
        "beta": r.uniform(0.5, 3.0, lead),
        "g": r.uniform(0.1, 0.9, lead),
        "s": dist(r, lead + (2 * R + 1,)),
        "gamma": r.uniform(1.0, 3.0, lead),
        "w_prev": dist(r, lead + (N,)),
        "memory_norms": r.uniform(0.5, 2.0, (B, N)),      # an input of its own (independent here)
    }


def stage_cases(R):
    x = inputs(R)
    r = np.random.default_rng(5)
    return {
        "content": (A.content_forward, A.content_backward,
                    {"memory": x["memory"], "memory_norms": x["memory_norms"], "k": x["k"],
                     "beta": x["beta"]}),
        "interpolate": (A.interpolate_forward, A.interpolate_backward,
                        {"wc": dist(r, (B, H, N)), "g": x["g"], "w_prev": x["w_prev"]}),
        "shift": (A.shift_forward, A.shift_backward, {"wg": dist(r, (B, H, N)), "s": x["s"]}),
        "sharpen": (A.sharpen_forward, A.sharpen_backward,
                    {"w_tilde": dist(r, (B, H, N)), "gamma": x["gamma"]}),
    }


STAGE_INPUTS = [(stage, name, R) for R in (1, 2) for stage, (_, _, ins) in stage_cases(R).items()
                for name in ins]


@pytest.mark.parametrize("stage,name,R", STAGE_INPUTS,
                         ids=[f"{s}-{n}-R{R}" for s, n, R in STAGE_INPUTS])
def test_each_stage(stage, name, R):
    forward, backward, ins = stage_cases(R)[stage]
    assert check_op(forward, backward, ins)[name] < TOL


KEYS = ["memory", "k", "beta", "g", "s", "gamma", "w_prev"]


def _dict_backward(dw, cache):
    grads = A.address_backward(dw, cache)
    assert set(grads) == set(KEYS)
    return tuple(grads[k] for k in KEYS)


@pytest.mark.parametrize("R", [1, 2])
@pytest.mark.parametrize("name", KEYS)
def test_address_chain_single_head_interface(name, R):
    x = inputs(R, seed=3, heads=False)
    errors = check_op(A.address_forward, _dict_backward, {k: x[k] for k in KEYS})
    assert errors[name] < TOL, errors


HEADS_KEYS = ["memory", "memory_norms", *KEYS[1:]]


@pytest.mark.parametrize("name", HEADS_KEYS)
def test_address_chain_several_heads(name):
    """The memory's row norms are an input of their own here (the NTM computes them once per
    memory); `memory` is the gradient through k·M(i) alone."""
    x = inputs(1, seed=4)

    def backward(dw, cache):
        grads = A.heads_address_backward(dw, cache)
        assert set(grads) == set(HEADS_KEYS)
        return tuple(grads[k] for k in HEADS_KEYS)
    errors = check_op(A.heads_address_forward, backward, {k: x[k] for k in HEADS_KEYS})
    assert errors[name] < TOL, errors


def test_shift_plus_one_moves_the_focus_to_the_next_row():
    """docs/MATH.md: s(+1) moves the focus from row j to row j + 1 (and wraps around)."""
    for j in (0, 3, N - 1):
        w = np.zeros((1, 1, N))
        w[0, 0, j] = 1.0
        plus_one = np.array([[[0.0, 0.0, 1.0]]])                 # s over (−1, 0, +1)
        minus_two = np.array([[[1.0, 0.0, 0.0, 0.0, 0.0]]])      # s over (−2, ..., +2)
        out, _ = A.shift_forward(w, plus_one)
        assert out[0, 0].argmax() == (j + 1) % N and out[0, 0].max() == 1.0
        out, _ = A.shift_forward(w, minus_two)
        assert out[0, 0].argmax() == (j - 2) % N


def test_shift_is_the_circular_convolution_of_equation_8():
    r = np.random.default_rng(2)
    wg, s = dist(r, (1, 1, N)), dist(r, (1, 1, 5))
    R = 2
    expected = [sum(wg[0, 0, j] * s[0, 0, R + d] for j in range(N) for d in range(-R, R + 1)
                    if (i - j) % N == d % N) for i in range(N)]
    out, _ = A.shift_forward(wg, s)
    assert np.allclose(out[0, 0], expected, atol=1e-14)


def test_sharpening_equals_equation_9_and_survives_zeros_in_float32():
    r = np.random.default_rng(0)
    w_tilde, gamma = dist(r, (2, 1, N)), np.array([[1.7], [3.0]])
    w, _ = A.sharpen_forward(w_tilde, gamma)
    ref = w_tilde ** gamma[..., None]
    assert np.allclose(w, ref / ref.sum(axis=-1, keepdims=True), atol=1e-10)
    hard = np.zeros((1, 1, N), dtype=np.float32)
    hard[0, 0, 2] = 1.0
    w, cache = A.sharpen_forward(hard, np.array([[40.0]], dtype=np.float32))
    assert np.all(np.isfinite(w)) and w[0, 0, 2] == pytest.approx(1.0)
    dwt, dg = A.sharpen_backward(np.ones_like(w), cache)
    assert np.all(np.isfinite(dwt)) and np.all(np.isfinite(dg))


def test_content_addressing_focuses_on_the_matching_row():
    r = np.random.default_rng(1)
    memory = r.standard_normal((1, N, M))
    k = memory[:, 4][:, None] * 2.0                               # row 4, scaled: cosine 1
    wc, _ = A.content_forward(memory, np.linalg.norm(memory, axis=-1), k, np.array([[50.0]]))
    assert wc[0, 0].argmax() == 4 and wc[0, 0, 4] > 0.9
