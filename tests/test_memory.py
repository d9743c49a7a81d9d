"""NTM memory, (2)–(4): read and write for every input, one and several heads (< 1e-7)."""
import numpy as np
import pytest

from ntm_scratch.gradcheck import check_op
from ntm_scratch.memory import read_backward, read_forward, write_backward, write_forward

TOL = 1e-7
B, N, M = 2, 6, 4


def weights(r, H):
    w = r.random((B, H, N)) + 0.05
    return w / w.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("H", [1, 3])
@pytest.mark.parametrize("name", ["memory", "w"])
def test_read_gradients(name, H):
    r = np.random.default_rng(H)
    ins = {"memory": r.standard_normal((B, N, M)), "w": weights(r, H)}
    assert check_op(read_forward, read_backward, ins)[name] < TOL


@pytest.mark.parametrize("H", [1, 2, 3])
@pytest.mark.parametrize("name", ["memory", "w", "e", "a"])
def test_write_gradients(name, H):
    r = np.random.default_rng(10 + H)
    ins = {"memory": r.standard_normal((B, N, M)), "w": weights(r, H),
           "e": r.uniform(0.05, 0.95, (B, H, M)), "a": np.tanh(r.standard_normal((B, H, M)))}
    assert check_op(write_forward, write_backward, ins)[name] < TOL


def test_write_equals_equations_3_and_4_and_ignores_head_order():
    r = np.random.default_rng(0)
    memory = r.standard_normal((B, N, M))
    w, e, a = weights(r, 2), r.random((B, 2, M)), r.standard_normal((B, 2, M))
    new, _ = write_forward(memory, w, e, a)
    for b in range(B):
        for i in range(N):
            erased = memory[b, i] * (1 - w[b, 0, i] * e[b, 0]) * (1 - w[b, 1, i] * e[b, 1])
            assert np.allclose(new[b, i], erased + w[b, 0, i] * a[b, 0] + w[b, 1, i] * a[b, 1])
    swapped, _ = write_forward(memory, w[:, ::-1], e[:, ::-1], a[:, ::-1])
    assert np.allclose(new, swapped, atol=1e-14)


def test_a_full_erase_and_add_overwrites_a_row():
    memory = np.ones((1, N, M))
    w = np.zeros((1, 1, N))
    w[0, 0, 2] = 1.0
    new, _ = write_forward(memory, w, np.ones((1, 1, M)), np.full((1, 1, M), -0.5))
    assert np.all(new[0, 2] == -0.5) and np.all(np.delete(new[0], 2, axis=0) == 1.0)
    r, _ = read_forward(new, w)
    assert np.all(r[0, 0] == -0.5)
