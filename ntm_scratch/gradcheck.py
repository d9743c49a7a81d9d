"""Finite-difference gradient checks (docs/MATH.md, "Checking gradients").

Everything here runs in float64 on the CPU. An op's outputs are contracted with a *random*
upstream gradient G, never with ones (the weights of a softmax sum to 1, so an upstream of ones
hides errors), and the scalar f = Σ G·out is differentiated by central differences.

Relative error, as docs/MATH.md defines it:

    max|a − n| / max(1e-8, |a| + |n|)

with every maximum taken over the whole tensor: the worst absolute disagreement, measured
against the tensor's scale (max|a| + max|n|). An entry whose true gradient is near zero therefore
does not turn roundoff into a large error, while any wrong entry larger than the tolerance times
the tensor's scale still fails.
"""
import numpy as np

H = 1e-6  # central-difference step


def rel_error(analytic, numeric):
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"gradient shape {a.shape} differs from the numeric one {n.shape}")
    if a.size == 0:
        return 0.0
    scale = max(1e-8, float(np.abs(a).max() + np.abs(n).max()))
    return float(np.abs(a - n).max()) / scale


def numerical_gradient(f, x, h=H):
    """Central differences of the scalar f() with respect to every element of the array x.

    f reads x by reference: x is nudged in place and restored exactly after each element.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks run in float64, got {x.dtype}")
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        f_plus = f()
        x[idx] = old - h
        f_minus = f()
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def _flatten(out):
    """The arrays inside an output: an array, a tuple/list of them, or a dict of them."""
    if isinstance(out, dict):
        return [out[k] for k in sorted(out)]
    if isinstance(out, (tuple, list)):
        return [a for item in out for a in _flatten(item)]
    return [out]


def _contract(out, upstream):
    return float(sum(np.sum(o * g) for o, g in zip(_flatten(out), upstream)))


def random_like(out, rng):
    """A random upstream gradient with the structure of `out` (same nesting as `out`)."""
    if isinstance(out, dict):
        return {k: random_like(v, rng) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return type(out)(random_like(v, rng) for v in out)
    return rng.standard_normal(np.shape(out))


def check_op(forward, backward, inputs, seed=0, h=H):
    """Check a forward/backward pair against finite differences for every input.

    forward(*inputs.values()) -> (out, cache), out an array or a tuple/dict of arrays.
    backward(dout, cache)     -> one gradient per input, in the order of `inputs`
                                 (a bare array when there is a single input).
    Returns {input name: relative error}.
    """
    rng = np.random.default_rng(seed)
    names = list(inputs)
    arrays = [inputs[k] for k in names]
    out, cache = forward(*arrays)
    dout = random_like(out, rng)
    grads = backward(dout, cache)
    if len(names) == 1 and not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(names):
        raise ValueError(f"backward returned {len(grads)} gradients for {len(names)} inputs")
    upstream = _flatten(dout)

    def f():
        return _contract(forward(*arrays)[0], upstream)

    return {k: rel_error(g, numerical_gradient(f, x, h)) for k, x, g in zip(names, arrays, grads)}


def check_loss(loss_fn, params, grads, names=None, h=H):
    """Element-by-element check of a scalar loss against its analytic gradients.

    loss_fn() reads the arrays of `params` by reference; grads has the same keys.
    Returns {name: relative error} for `names` (default: every key of grads).
    """
    names = sorted(grads) if names is None else names
    return {k: rel_error(grads[k], numerical_gradient(loss_fn, params[k], h)) for k in names}


def directional_check(loss_fn, params, grads, seed=0, h=1e-5, trials=3):
    """Check a whole model's gradient along random directions (for tensors too large to check
    element by element).

    For a random unit direction d over all parameters, the directional derivative
    (L(θ + h·d) − L(θ − h·d)) / 2h must equal Σ g·d. Returns the worst relative error, as
    |a − n| / max(1e-8, |a| + |n|), over `trials` directions.
    """
    rng = np.random.default_rng(seed)
    keys = sorted(grads)
    worst = 0.0
    for _ in range(trials):
        d = {k: rng.standard_normal(params[k].shape) for k in keys}
        norm = np.sqrt(sum(np.sum(v * v) for v in d.values()))
        d = {k: v / norm for k, v in d.items()}
        saved = {k: params[k].copy() for k in keys}
        for k in keys:
            params[k] += h * d[k]
        f_plus = loss_fn()
        for k in keys:
            params[k][...] = saved[k] - h * d[k]
        f_minus = loss_fn()
        for k in keys:
            params[k][...] = saved[k]
        numeric = (f_plus - f_minus) / (2 * h)
        analytic = float(sum(np.sum(grads[k] * d[k]) for k in keys))
        worst = max(worst, abs(analytic - numeric) / max(1e-8, abs(analytic) + abs(numeric)))
    return worst
