"""NTM addressing (Graves, Wayne & Danihelka 2014, §3.3): from a key and four scalars to a weighting.

    (5, 6) content:       w^c = softmax_i(β · K[k, M(i)])
    (7)    interpolation: w^g = g·w^c + (1 − g)·w_prev
    (8)    shift:         w̃(i) = Σ_j w^g(j) · s((i − j) mod N)
    (9)    sharpening:    w = softmax(γ · log(w̃ + δ))       (log space, docs/MATH.md)

Each stage is a forward/backward pair. They work on a head axis: every array carries (B, H, ...)
for H heads addressing one memory per example, so several heads cost one call. `address_forward`
and `address_backward` chain the four with the single-head interface a reader studies:

    memory (B, N, M); k (B, M); beta, g, gamma (B,); s (B, 2R+1) over shifts −R..+R;
    w_prev and w (B, N)

The inputs are the already-constrained values (β ≥ 0, g in (0, 1), s a distribution, γ ≥ 1);
the activations that produce them live in the NTM's heads.
"""
import functools

import numpy as np

from .backend import array_module
from .ops import (cosine_similarity_normed_backward, cosine_similarity_normed_forward,
                  row_norms_backward, row_norms_forward, softmax_backward, softmax_forward)

SHARPEN_DELTA = 1e-12  # docs/MATH.md: δ in log(w̃ + δ)


# ----------------------------------------------------------------------------- (5, 6) content
def content_forward(memory, memory_norms, k, beta):
    """memory (B, N, M), memory_norms (B, N) its rows' norms ‖M(i)‖, k (B, H, M), beta (B, H)
    ->  w^c (B, H, N). The norms are an input because several heads, and the next step's write
    heads, address one memory: they are computed once (`row_norms_forward`)."""
    K, cos_cache = cosine_similarity_normed_forward(k, memory, memory_norms)   # (6) K[k, M(i)]
    wc, sm_cache = softmax_forward(beta[..., None] * K)      # (5) softmax_i(β·K)
    return wc, (K, beta, cos_cache, sm_cache)


def content_backward(dwc, cache):
    """Returns dmemory (through k·M(i) alone), dmemory_norms, dk, dbeta."""
    K, beta, cos_cache, sm_cache = cache
    dz = softmax_backward(dwc, sm_cache)                     # back through (5)'s softmax
    dbeta = (dz * K).sum(axis=-1)                            # z = β·K
    dk, dmemory, dnorms = cosine_similarity_normed_backward(dz * beta[..., None], cos_cache)
    return dmemory, dnorms, dk, dbeta                        # (back through (6))


# ----------------------------------------------------------------------------- (7) interpolation
def interpolate_forward(wc, g, w_prev):
    """w^g = g·w^c + (1 − g)·w_prev, computed as w_prev + g·(w^c − w_prev);
    wc, w_prev (B, H, N), g (B, H)."""
    diff = wc - w_prev
    return w_prev + g[..., None] * diff, (g, diff)


def interpolate_backward(dwg, cache):
    """Returns dwc, dg, dw_prev."""
    g, diff = cache
    dwc = g[..., None] * dwg                                 # ∂w^g/∂w^c = g
    return dwc, (dwg * diff).sum(axis=-1), dwg - dwc         # ∂w^g/∂w_prev = 1 − g


# ----------------------------------------------------------------------------- (8) shift
@functools.lru_cache(maxsize=None)
def _shift_index(xp, N, S, sign):
    """idx[d, i] = (i − sign·(d − R)) mod N, for the 2R+1 = S shift offsets d − R (cached: the
    same few tables serve every step)."""
    R = (S - 1) // 2
    offsets = np.arange(S) - R
    table = (np.arange(N)[None, :] - sign * offsets[:, None]) % N
    table.flags.writeable = False                       # shared by every call: never written
    return xp.asarray(table)


def shift_forward(wg, s):
    """(8) circular convolution: w̃(i) = Σ_d s(d)·w^g((i − d) mod N), d = −R..R.

    s(+1) moves the focus from row j to row j + 1 (docs/MATH.md's direction).
    wg (B, H, N), s (B, H, 2R+1)  ->  w̃ (B, H, N)
    """
    xp = array_module(wg)
    N, S = wg.shape[-1], s.shape[-1]
    idx = _shift_index(xp, N, S, +1)                         # (S, N)
    rolled = wg[..., idx]                                    # (B, H, S, N): w^g((i − d) mod N)
    w_tilde = (s[..., None] * rolled).sum(axis=-2)
    return w_tilde, (s, rolled)


def shift_backward(dw_tilde, cache):
    """Returns dwg, ds."""
    s, rolled = cache
    xp = array_module(dw_tilde)
    N, S = dw_tilde.shape[-1], s.shape[-1]
    ds = (dw_tilde[..., None, :] * rolled).sum(axis=-1)      # ∂w̃(i)/∂s(d) = w^g((i − d) mod N)
    back = _shift_index(xp, N, S, -1)                        # w^g(j) reaches w̃((j + d) mod N)
    dwg = (s[..., None] * dw_tilde[..., back]).sum(axis=-2)
    return dwg, ds


# ----------------------------------------------------------------------------- (9) sharpening
def sharpen_forward(w_tilde, gamma):
    """(9) w = w̃^γ / Σ w̃^γ, computed as softmax(γ·log(w̃ + δ)): no 0/0, no underflow.

    w_tilde (B, H, N), gamma (B, H)  ->  w (B, H, N)
    """
    xp = array_module(w_tilde)
    log_w = xp.log(w_tilde + SHARPEN_DELTA)
    w, sm_cache = softmax_forward(gamma[..., None] * log_w)
    return w, (w_tilde, gamma, log_w, sm_cache)


def sharpen_backward(dw, cache):
    """Returns dw_tilde, dgamma."""
    w_tilde, gamma, log_w, sm_cache = cache
    dz = softmax_backward(dw, sm_cache)                      # back through the softmax
    dgamma = (dz * log_w).sum(axis=-1)                       # z = γ·log(w̃ + δ)
    dw_tilde = dz * gamma[..., None] / (w_tilde + SHARPEN_DELTA)
    return dw_tilde, dgamma


# ----------------------------------------------------------------------------- the chain
def heads_address_forward(memory, memory_norms, k, beta, g, s, gamma, w_prev):
    """(5)–(9) for H heads at once: k (B, H, M); beta, g, gamma (B, H); s (B, H, S);
    w_prev (B, H, N); memory (B, N, M) and its rows' norms (B, N)  ->  w (B, H, N).
    `address_stages(cache)` gives the intermediate weightings (w^c, w^g, w̃)."""
    wc, c1 = content_forward(memory, memory_norms, k, beta)  # (5, 6)
    wg, c2 = interpolate_forward(wc, g, w_prev)              # (7)
    w_tilde, c3 = shift_forward(wg, s)                       # (8)
    w, c4 = sharpen_forward(w_tilde, gamma)                  # (9)
    return w, (c1, c2, c3, c4, (wc, wg, w_tilde))


def address_stages(cache):
    """The weightings a heads_address_forward call passed through: {'wc', 'wg', 'w_tilde'}."""
    wc, wg, w_tilde = cache[4]
    return {"wc": wc, "wg": wg, "w_tilde": w_tilde}


def heads_address_backward(dw, cache):
    """Returns {'memory', 'memory_norms', 'k', 'beta', 'g', 's', 'gamma', 'w_prev'}, shaped as
    the inputs ('memory': through k·M(i) alone; the norms' share is 'memory_norms')."""
    c1, c2, c3, c4, _ = cache
    dw_tilde, dgamma = sharpen_backward(dw, c4)              # (9)
    dwg, ds = shift_backward(dw_tilde, c3)                   # (8)
    dwc, dg, dw_prev = interpolate_backward(dwg, c2)         # (7)
    dmemory, dnorms, dk, dbeta = content_backward(dwc, c1)   # (5, 6)
    return {"memory": dmemory, "memory_norms": dnorms, "k": dk, "beta": dbeta, "g": dg, "s": ds,
            "gamma": dgamma, "w_prev": dw_prev}


def address_forward(memory, k, beta, g, s, gamma, w_prev):
    """One head's weighting from M_{t−1}, (5)–(9). Shapes: see the module docstring."""
    head = lambda a: a[:, None]                              # add the head axis, H = 1
    norms, norm_cache = row_norms_forward(memory)            # ‖M(i)‖ for (6)
    w, cache = heads_address_forward(memory, norms, head(k), head(beta), head(g), head(s),
                                     head(gamma), head(w_prev))
    return w[:, 0], (cache, norm_cache)


def address_backward(dw, cache):
    """Gradients under the keys memory, k, beta, g, s, gamma, w_prev."""
    cache, norm_cache = cache
    grads = heads_address_backward(dw[:, None], cache)
    grads["memory"] += row_norms_backward(grads.pop("memory_norms"), norm_cache)
    return {k: (v if k == "memory" else v[:, 0]) for k, v in grads.items()}
