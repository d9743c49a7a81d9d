"""Attention between a decoder state and the encoder's states (docs/MATH.md, "Attention").

For a query s (B, Dq) and the encoder's states h (B, S, Dh), one score per source position j:

    additive (Bahdanau et al. 2014, §3.1, A.1.2)   e_j = v·tanh(W_a·s + U_a·h_j)
    dot      (Luong et al. 2015, §3.1)             e_j = s·h_j
    general  (Luong et al. 2015, §3.1)             e_j = s·W_a·h_j

then, for every kind,

    α = softmax_j(e) over the unmasked source positions      c = Σ_j α_j·h_j

What depends on h alone (U_a·h_j for additive, W_a·h_j for general) is computed once per
sequence by `project_keys_forward`, outside the decoder's loop; the scores then take these
"keys". So general is dot attention on projected keys. Padded source positions get α = 0
exactly and, through the softmax backward, exactly zero gradient (ops.softmax_forward's mask).

Arrays here are batch-major (B, S, ...): a decoder step attends over the whole source at once.
"""
from .backend import array_module
from .ops import softmax_backward, softmax_forward

SCORES = ("additive", "dot", "general")


def project_keys_forward(h, U):
    """keys_j = U·h_j for every position at once.  h: (B, S, Dh), U: (Dh, A) -> (B, S, A)."""
    return h @ U, (h, U)


def project_keys_backward(dkeys, cache):
    h, U = cache
    Dh, A = U.shape
    dh = dkeys @ U.T                                          # backprop keys = h·U into h
    dU = h.reshape(-1, Dh).T @ dkeys.reshape(-1, A)           # and into U, summed over (B, S)
    return dh, dU


def additive_scores_forward(s, keys, W, v):
    """e_j = v·tanh(W_a·s + U_a·h_j), with keys = U_a·h precomputed.

    s: (B, Dq), keys: (B, S, A), W: (Dq, A), v: (A,).  Returns e (B, S) and the cache.
    """
    a = array_module(s).tanh(keys + (s @ W)[:, None, :])      # (B, S, A)
    return a @ v, (s, W, v, a)


def additive_scores_backward(de, cache):
    """Returns ds (B, Dq), dkeys (B, S, A), dW (Dq, A), dv (A,)."""
    s, W, v, a = cache
    A = v.shape[0]
    dv = a.reshape(-1, A).T @ de.reshape(-1)                  # backprop e = a·v into v
    dz = de[..., None] * v * (1.0 - a * a)                    # into a, then through the tanh
    dWs = dz.sum(axis=1)                                      # W·s is shared by every j
    return dWs @ W.T, dz, s.T @ dWs, dv


def dot_scores_forward(s, keys):
    """e_j = s·keys_j (dot: keys = h; general: keys = W_a·h).  s: (B, D), keys: (B, S, D)."""
    return (keys @ s[:, :, None])[:, :, 0], (s, keys)


def dot_scores_backward(de, cache):
    """Returns ds (B, D), dkeys (B, S, D)."""
    s, keys = cache
    ds = (de[:, None, :] @ keys)[:, 0]                        # Σ_j de_j keys_j
    dkeys = de[:, :, None] * s[:, None, :]                    # de_j s, for every j
    return ds, dkeys


def attend_forward(e, mask, h):
    """α = softmax_j(e) over the mask, c = Σ_j α_j h_j.

    e: (B, S) scores, mask: (B, S) boolean (True on real source positions), h: (B, S, Dh).
    Returns (α (B, S), c (B, Dh)) and the cache.
    """
    alpha, sm_cache = softmax_forward(e, mask)
    c = (alpha[:, None, :] @ h)[:, 0]
    return (alpha, c), (alpha, sm_cache, h)


def attend_backward(dout, cache):
    """dout = (dα, dc).  Returns de (B, S), dh (B, S, Dh)."""
    dalpha, dc = dout
    alpha, sm_cache, h = cache
    dalpha = dalpha + (h @ dc[:, :, None])[:, :, 0]           # backprop c = Σ α_j h_j into α
    dh = alpha[:, :, None] * dc[:, None, :]                   # and into h
    return softmax_backward(dalpha, sm_cache), dh             # de: zero where α is masked
