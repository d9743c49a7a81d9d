"""Optimisers minimise a quadratic; RMSProp follows Graves' equations; clipping bounds what it should."""
import numpy as np
import pytest

from ntm_scratch.optim import (Adam, RMSPropGraves, clip_by_global_norm, clip_by_value,
                               global_norm)


def quadratic(seed=0):
    """f(θ) = ½ Σ a (θ − c)², badly conditioned (a from 0.1 to 10), two parameter arrays."""
    r = np.random.default_rng(seed)
    a = {"w": np.geomspace(0.1, 10, 6).reshape(2, 3), "b": np.array([0.5, 3.0])}
    c = {k: r.standard_normal(v.shape) for k, v in a.items()}
    params = {k: np.zeros_like(v) for k, v in a.items()}
    f = lambda: sum(0.5 * np.sum(a[k] * (params[k] - c[k]) ** 2) for k in a)
    grad = lambda: {k: a[k] * (params[k] - c[k]) for k in a}
    return params, f, grad


@pytest.mark.parametrize("make", [lambda: RMSPropGraves(lr=1e-2), lambda: Adam(lr=5e-2)],
                         ids=["rmsprop-graves", "adam"])
def test_minimises_a_quadratic(make):
    params, f, grad = quadratic()
    opt = make()
    start = f()
    for _ in range(1500):
        opt.step(params, grad())
    assert f() < 1e-4 * start


def test_rmsprop_follows_graves_equations():
    """Two steps by hand (Graves 2013, eqs. 38–41) against the optimiser."""
    p = {"x": np.array([1.0, -2.0])}
    g1, g2 = np.array([0.5, -3.0]), np.array([-1.0, 2.0])
    opt = RMSPropGraves(lr=1e-4, decay=0.95, momentum=0.9, eps=1e-4)
    n = gbar = delta = np.zeros(2)
    x = p["x"].copy()
    for g in (g1, g2):
        opt.step(p, {"x": g})
        n = 0.95 * n + 0.05 * g * g
        gbar = 0.95 * gbar + 0.05 * g
        delta = 0.9 * delta - 1e-4 * g / np.sqrt(n - gbar ** 2 + 1e-4)
        x = x + delta
        assert np.allclose(p["x"], x, rtol=0, atol=1e-15)


def test_clip_by_value_bounds_every_component():
    g = {"a": np.array([-50.0, 3.0, 12.0]), "b": np.array([[9.9, -10.5]])}
    c = clip_by_value(g, 10.0)
    assert all(np.abs(v).max() <= 10.0 for v in c.values())
    assert c["a"].tolist() == [-10.0, 3.0, 10.0] and c["b"].tolist() == [[9.9, -10.0]]
    assert g["a"][0] == -50.0                                   # inputs untouched


def test_clip_by_global_norm_bounds_the_norm_and_keeps_the_direction():
    r = np.random.default_rng(0)
    g = {"a": 10 * r.standard_normal(5), "b": 10 * r.standard_normal((2, 2))}
    c, norm = clip_by_global_norm(g, 1.0)
    assert float(norm) > 1.0
    assert float(global_norm(c)) == pytest.approx(1.0, rel=1e-9)
    assert np.allclose(c["a"] / g["a"], float(1.0 / norm))
    small = {"a": np.array([0.1, 0.2])}
    c_small, _ = clip_by_global_norm(small, 1.0)
    assert np.array_equal(c_small["a"], small["a"])              # under the limit: unchanged


@pytest.mark.parametrize("kind", ["value", "norm"])
def test_the_optimiser_step_applies_its_clipping(kind):
    """With clipping, a huge gradient moves the parameters exactly as its clipped version does."""
    huge = {"x": np.array([1e6, -2e6, 5.0])}
    if kind == "value":
        clipped, opts = clip_by_value(huge, 10.0), {"clip_value": 10.0}
    else:
        clipped, opts = clip_by_global_norm(huge, 10.0)[0], {"clip_norm": 10.0}
    p1, p2 = {"x": np.zeros(3)}, {"x": np.zeros(3)}
    RMSPropGraves(**opts).step(p1, huge)
    RMSPropGraves().step(p2, clipped)
    assert np.array_equal(p1["x"], p2["x"])
    p3 = {"x": np.zeros(3)}
    RMSPropGraves().step(p3, huge)                                 # and without it, it differs
    assert not np.array_equal(p1["x"], p3["x"])


def test_state_dict_round_trip_continues_identically():
    params, f, grad = quadratic()
    opt = Adam(lr=1e-2)
    for _ in range(5):
        opt.step(params, grad())
    saved_params = {k: v.copy() for k, v in params.items()}
    clone = Adam(lr=1e-2)
    clone.load_state_dict({k: v.copy() for k, v in opt.state_dict().items()}, np.asarray)
    twin = {k: v.copy() for k, v in saved_params.items()}
    for _ in range(5):
        g = grad()
        opt.step(params, g)
        clone.step(twin, {k: v.copy() for k, v in g.items()})
    for k in params:
        assert np.array_equal(params[k], twin[k])
