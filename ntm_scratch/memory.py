"""NTM memory access (Graves, Wayne & Danihelka 2014, §3.1–3.2), for any number of heads.

    (2) read:  r_h = Σ_i w_h(i) · M(i)
    (3) erase: M̃(i) = M_{t−1}(i) ⊙ Π_h (1 − w_h(i)·e_h)
    (4) add:   M_t(i) = M̃(i) + Σ_h w_h(i)·a_h

With several write heads every erase applies before any add, so the result does not depend on
the order of the heads (docs/MATH.md). Shapes: memory (B, N, M); weightings w (B, H, N); erase
e and add a (B, H, M); reads r (B, H, M).
"""
from .backend import array_module
from .ops import outer_sum


def read_forward(memory, w):
    """(2) r = w·M for every head: w (B, H, N), memory (B, N, M) -> r (B, H, M)."""
    return w @ memory, (memory, w)


def read_backward(dr, cache):
    """Returns dmemory (B, N, M), dw (B, H, N)."""
    memory, w = cache
    dw = dr @ memory.transpose(0, 2, 1)                      # ∂r_h/∂w_h(i) = M(i)
    dmemory = outer_sum(w, dr)                               # ∂r_h/∂M(i) = w_h(i), summed over heads
    return dmemory, dw


def write_forward(memory, w, e, a):
    """(3, 4) erase then add. memory (B, N, M); w (B, H, N); e, a (B, H, M) -> new memory."""
    xp = array_module(memory)
    keeps = []
    for h in range(w.shape[1]):
        keep = outer_sum(w[:, h:h + 1], e[:, h:h + 1])           # w_h(i)·e_h
        keeps.append(xp.subtract(1.0, keep, out=keep))           # 1 − w_h(i)·e_h
    erase = keeps[0]
    for keep in keeps[1:]:
        erase = erase * keep                                 # (3) the product over write heads
    new = memory * erase
    new += outer_sum(w, a)                                   # (4) + Σ_h w_h(i)·a_h
    return new, (memory, w, e, a, keeps, erase)


def write_backward(dnew, cache):
    """Returns dmemory, dw, de, da for the gradient dnew of the written memory."""
    memory, w, e, a, keeps, erase = cache
    xp = array_module(dnew)
    H = w.shape[1]
    da = w @ dnew                                            # back through (4): Σ_i w_h(i)·dM(i)
    dw = a @ dnew.transpose(0, 2, 1)                         # ∂M_t(i)/∂w_h(i) = a_h
    dmemory = dnew * erase                                   # back through (3): M̃ = M ⊙ erase
    derase = dnew * memory
    de = xp.empty_like(e)
    for h in range(H):
        dkeep = derase                                       # ∂erase/∂keep_h: Π of the others
        for j in range(H):
            if j != h:
                dkeep = dkeep * keeps[j]
        dw[:, h] -= (dkeep @ e[:, h, :, None])[..., 0]       # keep_h = 1 − w_h(i)·e_h
        de[:, h] = -(w[:, h, None, :] @ dkeep)[:, 0]
    return dmemory, dw, de, da
