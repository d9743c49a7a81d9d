"""Primitives with hand-written backward passes.

Every op is a pair of pure functions:

    y, cache = f_forward(inputs...)
    grads = f_backward(dy, cache)     # one gradient per input, in the order of the inputs

The backward never writes into `dy` or the cache. Ops take their array module from their
inputs, so they run on NumPy or CuPy alike, in whatever dtype the inputs carry.
"""
from .backend import array_module

COSINE_EPS = 1e-8  # docs/MATH.md (6): the ε in the cosine-similarity denominator


# ----------------------------------------------------------------------------- affine
def affine_forward(x, W, b):
    """y = x·W + b over any leading axes.

    x: (..., D)   W: (D, H)   b: (H,)   ->   y: (..., H)
    """
    y = x @ W + b
    return y, (x, W)


def affine_backward(dy, cache):
    """Returns dx (..., D), dW (D, H), db (H,)."""
    x, W = cache
    D, H = W.shape
    dx = dy @ W.T                                        # backprop into the input
    x2, dy2 = x.reshape(-1, D), dy.reshape(-1, H)
    if x2.shape[0] == 1:                                 # one position (batch 1): x·dyᵀ is an
        dW = array_module(x).outer(x2[0], dy2[0])        # outer product, which NumPy runs ~8×
    else:                                                # faster than a product of inner size 1
        dW = x2.T @ dy2                                  # sum over every leading position
    db = dy2.sum(axis=0)
    return dx, dW, db


# ----------------------------------------------------------------------------- sigmoid, tanh
def sigmoid(x):
    """σ(x) written with tanh: branch-free and never overflows (exp is never called)."""
    xp = array_module(x)
    return 0.5 * (1.0 + xp.tanh(0.5 * x))


def sigmoid_forward(x):
    y = sigmoid(x)
    return y, y


def sigmoid_backward(dy, cache):
    y = cache
    return dy * y * (1.0 - y)                            # σ' = σ(1 − σ)


def tanh_forward(x):
    y = array_module(x).tanh(x)
    return y, y


def tanh_backward(dy, cache):
    y = cache
    return dy * (1.0 - y * y)                            # tanh' = 1 − tanh²


# ----------------------------------------------------------------------------- softmax
def softmax_forward(x, mask=None, axis=-1):
    """Stable softmax along `axis`; masked-out positions get exactly zero weight.

    x: any shape.  mask: boolean, broadcastable to x, True where a position takes part.
    Positions outside the mask are never exponentiated, so any value there (even inf) is
    harmless, and their gradient is exactly zero. A slice with no position in the mask gives
    all zeros rather than 0/0.
    """
    xp = array_module(x)
    if mask is None:
        z = x - x.max(axis=axis, keepdims=True)          # max subtraction: exp never overflows
        e = xp.exp(z)
        y = e / e.sum(axis=axis, keepdims=True)
    else:
        mask = xp.broadcast_to(xp.asarray(mask, dtype=bool), x.shape)
        neg_inf = xp.asarray(-xp.inf, dtype=x.dtype)
        m = xp.where(mask, x, neg_inf).max(axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)               # an all-masked slice: any finite shift
        e = xp.where(mask, xp.exp(xp.where(mask, x, m) - m), 0)
        s = e.sum(axis=axis, keepdims=True)
        y = e / xp.where(s > 0, s, 1)                    # all-masked slice -> zeros, not 0/0
    return y, (y, axis)


def softmax_backward(dy, cache):
    """dx_j = y_j (dy_j − Σ_k y_k dy_k); a masked position has y = 0, hence dx = 0 exactly."""
    y, axis = cache
    return y * (dy - (y * dy).sum(axis=axis, keepdims=True))


# ----------------------------------------------------------------------------- softplus, oneplus
def softplus(x):
    """log(1 + eˣ) = log(e⁰ + eˣ), with logaddexp's max-shift: no overflow for large |x|."""
    return array_module(x).logaddexp(0, x)


def softplus_forward(x):
    return softplus(x), x


def softplus_backward(dy, cache):
    x = cache
    return dy * sigmoid(x)                               # d softplus / dx = σ(x)


def oneplus_forward(x):
    """1 + softplus(x) ≥ 1: the NTM's sharpening exponent γ (docs/MATH.md)."""
    return 1.0 + softplus(x), x


def oneplus_backward(dy, cache):
    return softplus_backward(dy, cache)


# ----------------------------------------------------------------------------- helpers for memories
def row_sq_norms(x):
    """Σ_m x[..., m]² for every row: a matmul with a vector of ones, which NumPy runs several
    times faster than .sum(axis=-1) over a short last axis (20 columns)."""
    xp = array_module(x)
    return (x * x) @ xp.ones(x.shape[-1], dtype=x.dtype)


def row_norms_forward(x):
    """‖x_i‖ for every row i (the last axis): x (..., N, M) -> (..., N)."""
    norms = array_module(x).sqrt(row_sq_norms(x))
    return norms, (x, norms)


def row_norms_backward(dnorms, cache):
    """∂‖x_i‖/∂x_i = x_i/‖x_i‖; a zero row has no direction, and its norm passes no gradient."""
    x, norms = cache
    xp = array_module(x)
    return (dnorms / xp.where(norms > 0, norms, 1))[..., None] * x


def outer_sum(w, a):
    """Σ_h w_h(i)·a_h(m) for every row i: w (B, H, N), a (B, H, M) -> (B, N, M).

    The batched product wᵀ·a for several heads, einsum for one: NumPy runs a product whose inner
    size is 1 through a slow loop of its own, and einsum over several heads likewise (measured,
    B = 32, N = 128, M = 20: one head 43 µs by einsum, 130 µs by the product; two heads 25 µs by
    the product, 150 µs by einsum)."""
    if w.shape[1] == 1:
        return array_module(w).einsum("bn,bm->bnm", w[:, 0], a[:, 0])
    return w.transpose(0, 2, 1) @ a


# ----------------------------------------------------------------------------- cosine similarity
def cosine_similarity_normed_forward(k, mem, mem_norms, eps=COSINE_EPS):
    """(6) K[k, M(i)] = k·M(i) / (‖k‖·‖M(i)‖ + ε), given the rows' norms ‖M(i)‖ (computed once
    for a memory that several heads address, `row_norms_forward`).

    k: (B, R, M) R keys (heads) per example; mem: (B, N, M); mem_norms: (B, N)  ->  K (B, R, N)
    """
    xp = array_module(k, mem)
    dot = k @ mem.transpose(0, 2, 1)                     # (B, R, N): k·M(i)
    nk = xp.sqrt(row_sq_norms(k))                        # (B, R)   ‖k‖
    denom = nk[:, :, None] * mem_norms[:, None, :] + eps     # (B, R, N)
    K = dot / denom
    return K, (k, mem, nk, mem_norms, denom, K)


def cosine_similarity_normed_backward(dK, cache):
    """Returns dk (B, R, M), dmem (B, N, M) through k·M(i) alone, and dmem_norms (B, N)."""
    k, mem, nk, nm, denom, K = cache
    xp = array_module(dK)
    ddot = dK / denom                                    # through K = dot / denom
    ddenom = ddot * K                                    # ∂K/∂denom = −K/denom (negated below)
    dnk = -(ddenom @ nm[:, :, None])                     # denom = ‖k‖‖M(i)‖ + ε: (B, R, 1)
    dnm = -(ddenom * nk[:, :, None]).sum(axis=1)
    dk = ddot @ mem                                      # dot = k·M(i)
    dk += (dnk / xp.where(nk > 0, nk, 1)[:, :, None]) * k    # ∂‖k‖/∂k = k/‖k‖ (0 at k = 0)
    return dk, outer_sum(ddot, k), dnm


def cosine_similarity_forward(k, mem, eps=COSINE_EPS):
    """(6) for every row i of a batch of memories, the norms included.

    k: (B, M) one key per example, or (B, R, M) R keys (heads) per example
    mem: (B, N, M)
    ->   K: (B, N), or (B, R, N)
    """
    single = k.ndim == 2
    kk = k[:, None, :] if single else k                  # (B, R, M)
    nm, norm_cache = row_norms_forward(mem)              # (B, N)   ‖M(i)‖
    K, cache = cosine_similarity_normed_forward(kk, mem, nm, eps)
    return (K[:, 0, :] if single else K), (cache, norm_cache, single)


def cosine_similarity_backward(dK, cache):
    """Returns dk (shape of k) and dmem (B, N, M)."""
    cache, norm_cache, single = cache
    dk, dmem, dnm = cosine_similarity_normed_backward(dK[:, None, :] if single else dK, cache)
    dmem += row_norms_backward(dnm, norm_cache)          # the norms' share of M's gradient
    return (dk[:, 0, :] if single else dk), dmem
