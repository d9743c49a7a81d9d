"""NTM memory access (Graves, Wayne & Danihelka 2014, §3.1–3.2), for any number of heads.

    (2) read:  r_h = Σ_i w_h(i) · M(i)
    (3) erase: M̃(i) = M_{t−1}(i) ⊙ Π_h (1 − w_h(i)·e_h)
    (4) add:   M_t(i) = M̃(i) + Σ_h w_h(i)·a_h

With several write heads every erase applies before any add, so the result does not depend on
the order of the heads (MATH.md). Shapes: memory (B, N, M); weightings w (B, H, N); erase e and
add a (B, H, M); reads r (B, H, M).
"""
from .backend import array_module


def read_forward(memory, w):
    """(2) r = w·M for every head: w (B, H, N), memory (B, N, M) -> r (B, H, M)."""
    return w @ memory, (memory, w)


def read_backward(dr, cache):
    """Returns dmemory (B, N, M), dw (B, H, N)."""
    memory, w = cache
    dw = dr @ memory.transpose(0, 2, 1)                      # ∂r_h/∂w_h(i) = M(i)
    dmemory = w.transpose(0, 2, 1) @ dr                      # ∂r_h/∂M(i) = w_h(i), summed over heads
    return dmemory, dw


def write_forward(memory, w, e, a):
    """(3, 4) erase then add. memory (B, N, M); w (B, H, N); e, a (B, H, M) -> new memory."""
    xp = array_module(memory)
    keep = 1.0 - w[..., :, None] * e[..., None, :]           # (B, H, N, M): 1 − w_h(i)·e_h
    erase = xp.prod(keep, axis=1)                            # (3) Π over the write heads
    added = w.transpose(0, 2, 1) @ a                         # (4) Σ_h w_h(i)·a_h, (B, N, M)
    return memory * erase + added, (memory, w, e, a, keep, erase)


def write_backward(dnew, cache):
    """Returns dmemory, dw, de, da for the gradient dnew of the written memory."""
    memory, w, e, a, keep, erase = cache
    xp = array_module(dnew)
    H = w.shape[1]
    da = w @ dnew                                            # back through (4): Σ_i w_h(i)·dM(i)
    dw = a @ dnew.transpose(0, 2, 1)                         # ∂M_t(i)/∂w_h(i) = a_h
    dmemory = dnew * erase                                   # back through (3): M̃ = M ⊙ erase
    derase = dnew * memory
    dkeep = xp.empty_like(keep)
    for h in range(H):                                       # ∂erase/∂keep_h: Π of the others
        others = xp.prod(keep[:, :h], axis=1) * xp.prod(keep[:, h + 1:], axis=1)
        dkeep[:, h] = derase * others
    dw = dw - (dkeep * e[..., None, :]).sum(axis=-1)         # keep = 1 − w(i)·e
    de = -(dkeep * w[..., :, None]).sum(axis=-2)
    return dmemory, dw, de, da
