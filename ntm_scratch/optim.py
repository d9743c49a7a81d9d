"""Optimisers and gradient clipping.

Clipping lives here, in the optimiser's step, and never inside a function whose gradient is
checked. Both optimisers update the parameter arrays in place and keep their slots in a dict of
arrays with the parameters' keys, so a checkpoint can save and restore them exactly.
"""
import numpy as np

from .backend import array_module


def clip_by_value(grads, limit):
    """Per-component clipping to [−limit, limit] (the NTM paper clips to ±10)."""
    return {k: array_module(g).clip(g, -limit, limit) for k, g in grads.items()}


def global_norm(grads):
    """√(Σ_k ‖g_k‖²) summed in float64 (float32 overflows near 1e19), a 0-d array on the
    gradients' device (no host sync)."""
    xp = array_module(*grads.values())
    return xp.sqrt(sum(xp.square(g, dtype=xp.float64).sum() for g in grads.values()))


def clip_by_global_norm(grads, max_norm):
    """Scale every gradient by min(1, max_norm / ‖g‖) so the global norm is at most max_norm."""
    norm = global_norm(grads)
    xp = array_module(norm)
    scale = xp.minimum(1.0, max_norm / (norm + 1e-12))
    return {k: (g * scale).astype(g.dtype) for k, g in grads.items()}, norm


class Optimizer:
    """Shared by the optimisers: clipping, slots, and their checkpointed state."""

    name = None
    slots = ()

    def __init__(self, lr, clip_value=None, clip_norm=None):
        self.lr = lr
        self.clip_value = clip_value
        self.clip_norm = clip_norm
        self.t = 0
        self.state = {s: {} for s in self.slots}

    def config(self):
        return {"name": self.name, "lr": self.lr, "eps": self.eps, "clip_value": self.clip_value,
                "clip_norm": self.clip_norm}

    def clip(self, grads):
        if self.clip_value is not None:
            grads = clip_by_value(grads, self.clip_value)
        if self.clip_norm is not None:
            grads, _ = clip_by_global_norm(grads, self.clip_norm)
        return grads

    def step(self, params, grads):
        """Clip the gradients, then update every parameter in place."""
        grads = self.clip(grads)
        self.t += 1
        for k, p in params.items():
            if k not in self.state[self.slots[0]]:
                for s in self.slots:
                    self.state[s][k] = array_module(p).zeros_like(p)
            self.update(k, p, grads[k])

    def update(self, key, p, g):
        raise NotImplementedError

    def state_dict(self):
        """Flat {'slot/param': array} plus the step count, for a checkpoint."""
        out = {f"{s}/{k}": v for s in self.slots for k, v in self.state[s].items()}
        out["t"] = np.asarray(self.t)
        return out

    def load_state_dict(self, flat, to_device):
        self.t = int(flat["t"])
        self.state = {s: {} for s in self.slots}
        for key, v in flat.items():
            if key != "t":
                slot, name = key.split("/", 1)
                self.state[slot][name] = to_device(v)


class RMSPropGraves(Optimizer):
    """RMSProp in Graves' form (Graves 2013, arXiv 1308.0850, eqs. 38–41), the NTM paper's:

        n ← ℵn + (1−ℵ)g²       ḡ ← ℵḡ + (1−ℵ)g
        Δ ← ℶΔ − ℷ·g / √(n − ḡ² + ϵ)        θ ← θ + Δ

    with ℵ = 0.95 (decay), ℶ = 0.9 (momentum), ℷ = 1e-4 (lr), ϵ = 1e-4. Dividing by the
    running *standard deviation* of g rather than its RMS is what distinguishes it.
    """

    name = "rmsprop"
    slots = ("n", "g", "delta")

    def __init__(self, lr=1e-4, decay=0.95, momentum=0.9, eps=1e-4, clip_value=None, clip_norm=None):
        super().__init__(lr, clip_value, clip_norm)
        self.decay, self.momentum, self.eps = decay, momentum, eps

    def update(self, key, p, g):
        xp = array_module(p)
        n, gbar, delta = self.state["n"][key], self.state["g"][key], self.state["delta"][key]
        a = self.decay
        n *= a
        n += (1 - a) * g * g                                    # n ← ℵn + (1−ℵ)g²
        gbar *= a
        gbar += (1 - a) * g                                     # ḡ ← ℵḡ + (1−ℵ)g
        delta *= self.momentum
        delta -= self.lr * g / xp.sqrt(n - gbar * gbar + self.eps)   # Δ ← ℶΔ − ℷg/√(n − ḡ² + ϵ)
        p += delta                                              # θ ← θ + Δ


class Adam(Optimizer):
    """Adam (Kingma & Ba 2014) with bias correction."""

    name = "adam"
    slots = ("m", "v")

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip_value=None, clip_norm=None):
        super().__init__(lr, clip_value, clip_norm)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def update(self, key, p, g):
        xp = array_module(p)
        m, v = self.state["m"][key], self.state["v"][key]
        m *= self.beta1
        m += (1 - self.beta1) * g                               # first moment
        v *= self.beta2
        v += (1 - self.beta2) * g * g                           # second moment
        m_hat_scale = 1.0 / (1 - self.beta1 ** self.t)          # bias corrections
        v_hat_scale = 1.0 / (1 - self.beta2 ** self.t)
        p -= self.lr * (m * m_hat_scale) / (xp.sqrt(v * v_hat_scale) + self.eps)


OPTIMIZERS = {"rmsprop": RMSPropGraves, "adam": Adam}


def make_optimizer(name, lr=None, clip_value=None, clip_norm=None, eps=None):
    """An optimiser by name; lr and eps None take its own defaults."""
    cls = OPTIMIZERS[name]
    kwargs = {"clip_value": clip_value, "clip_norm": clip_norm}
    if lr is not None:
        kwargs["lr"] = lr
    if eps is not None:
        kwargs["eps"] = eps
    return cls(**kwargs)
