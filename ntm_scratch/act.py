"""Adaptive Computation Time (Graves 2016, arXiv 1603.08983, §2; docs/MATH.md, "Adaptive Computation
Time") around a recurrent cell: a tanh RNN (rnn.py) or the LSTM (lstm.py).

For each input step t, ponder steps n = 1..N(t) share one cell S:

    s^1 = S(s_{t-1}, [x_t; 1]),  s^n = S(s^{n-1}, [x_t; 0])      the flag bit: 1 on n = 1 only
    y^n = W_y·s^n + b_y          h^n = σ(W_h·s^n + b_h)           b_h starts at +1
    N(t) = min{M_max, min{n : Σ_{k≤n} h^k ≥ 1 − ε}}                ε = 0.01
    R(t) = 1 − Σ_{n<N} h^n       p^n = h^n (n < N),  p^N = R(t)
    s_t = Σ_n p^n·s^n            y_t = Σ_n p^n·y^n                (for an LSTM: h and c)
    ρ_t = N(t) + R(t)            the ponder cost; the loss adds τ·Σ_t ρ_t

(s^n in y^n and h^n is the cell's output: the top layer's h for an LSTM.) N(t) is piecewise
constant and treated as a constant (§2.2), so ∂ρ/∂h^n = −1 for n < N and h^N gets no gradient.

Batched: every example halts on its own. Ponder step n runs the cell on the examples still
running, and only on them: an example that halts leaves the batch (its rows are dropped from
the state), so a batch costs the sum of its ponder steps, not its size times the longest. The
cache keeps, per ponder step, which examples ran (`idx`, into the batch) and which of them went
on (`keep`); the backward pass scatters their gradients back. With M_max = 1 the step is the
plain cell: N = 1, p^1 = 1, and ρ = 2 is a constant: the no-ACT baseline.
"""
import numpy as np

from .backend import array_module
from .lstm import (lstm_init, lstm_initial_state, lstm_initial_state_backward,
                   lstm_step_backward, lstm_step_forward)
from .ops import affine_backward, affine_forward, sigmoid
from .recurrent import (prefixed, sequence_backward, sequence_forward, subparams,
                        zeros_like_state)
from .rnn import rnn_init, rnn_step_backward, rnn_step_forward

EPSILON = 0.01
HALT_BIAS = 1.0
CELLS = {"rnn": (rnn_step_forward, rnn_step_backward),
         "lstm": (lstm_step_forward, lstm_step_backward)}


def _batch_col(v, like):
    """A (B,) vector shaped to scale a state array along its batch axis: (B, H) or (L, B, H)."""
    return v[:, None] if like.ndim == 2 else v[None, :, None]


def _rows(v, which):
    """A state array's examples `which` (indices or a mask), along its batch axis."""
    return v[which] if v.ndim == 2 else v[:, which]


def _add_rows(total, which, v):
    """total[examples `which`] += v, along the batch axis (`which` names each example once)."""
    if total.ndim == 2:
        total[which] += v
    else:
        total[:, which] += v


def act_step_forward(x, state, params, cell, max_ponder, eps=EPSILON):
    """One input step of ACT.

    x: (B, D); state: the cell's state dict at t − 1; params: the cell's parameters under the
    prefix 'cell_', and W_y (H, O), b_y (O,), W_h (H, 1), b_h (1,); cell: 'rnn' or 'lstm'.
    Returns the mean-field state s_t, the outputs (y_t (B, O), ρ_t (B,), N_t (B,)) and the cache:
    per ponder step n, `idx` (the examples that ran it), `keep` (which of those run step n + 1),
    and s^n, y^n, h^n, p^n for those examples only.
    """
    xp = array_module(x)
    step_forward = CELLS[cell][0]
    cell_params = subparams(params, "cell_")
    B = x.shape[0]
    first = xp.concatenate([x, xp.ones((B, 1), dtype=x.dtype)], axis=1)    # the flag bit on
    later = xp.concatenate([x, xp.zeros((B, 1), dtype=x.dtype)], axis=1)   # ... and off
    idx = xp.arange(B)                                # the examples still running
    cum = xp.zeros(B, dtype=x.dtype)                  # their Σ_{k<n} h^k
    N = xp.zeros(B, dtype=x.dtype)
    R = xp.zeros(B, dtype=x.dtype)
    y_t = None
    mean_state = {k: xp.zeros_like(v) for k, v in state.items()}
    steps = []
    s = state
    for n in range(1, max_ponder + 1):
        s, out, cell_cache = step_forward(first if n == 1 else later[idx], s, cell_params)
        y, y_cache = affine_forward(out, params["W_y"], params["b_y"])             # y^n
        h = sigmoid(out @ params["W_h"] + params["b_h"])[:, 0]                    # h^n
        halts = (cum + h >= 1.0 - eps) | (n == max_ponder)                       # n = N(t)
        p = xp.where(halts, 1.0 - cum, h)                                         # p^n
        N[idx[halts]] = n
        R[idx[halts]] = (1.0 - cum)[halts]                                        # R(t)
        if y_t is None:
            y_t = xp.zeros((B, y.shape[1]), dtype=y.dtype)
        y_t[idx] += p[:, None] * y                                                # y_t = Σ p^n y^n
        for k, v in s.items():
            _add_rows(mean_state[k], idx, _batch_col(p, v) * v)                   # s_t = Σ p^n s^n
        keep = ~halts
        steps.append({"idx": idx, "keep": keep, "s": s, "out": out, "y": y, "h": h, "p": p,
                      "cell": cell_cache, "y_cache": y_cache})
        going = int(keep.sum())                       # one device sync per ponder step
        if going == 0:
            break
        if going < len(idx):                          # the halted leave the batch
            idx, cum, h = idx[keep], cum[keep], h[keep]
            s = {k: _rows(v, keep) for k, v in s.items()}
        cum = cum + h
    rho = N + R                                                                   # ρ_t = N + R
    return mean_state, (y_t, rho, N), {"steps": steps, "N": N, "params": params, "cell": cell,
                                        "state0": state}


def act_step_backward(dout, dstate, cache):
    """dout = (dy_t (B, O), dρ_t (B,), dN_t ignored: N is a constant); dstate: the gradient of
    the mean-field state s_t. Returns dx (B, D), the gradient of s_{t−1} and the parameters'."""
    dy_t, drho = dout[0], dout[1]
    steps, params = cache["steps"], cache["params"]
    step_backward = CELLS[cache["cell"]][1]
    xp = array_module(dy_t)
    B = dy_t.shape[0]
    # dp^n: p^n scales y^n in y_t and s^n in s_t (for the examples that ran step n)
    dps = []
    dp_last = xp.zeros(B, dtype=dy_t.dtype)           # dp^N, each example's at its own N
    for st in steps:
        idx = st["idx"]
        dp = (dy_t[idx] * st["y"]).sum(axis=1)
        for k, v in st["s"].items():
            dp = dp + (_rows(dstate[k], idx) * v).sum(
                axis=tuple(i for i in range(v.ndim) if i != v.ndim - 2))
        dps.append(dp)
        halted = ~st["keep"]
        dp_last[idx[halted]] = dp[halted]
    grads = {"W_y": 0.0, "b_y": 0.0, "W_h": 0.0, "b_h": 0.0}
    dcell_sum = {}                                # the cell's weights, summed over ponder steps
    ds_next = None                                # the gradient s^n gets from s^{n+1}
    dx = None
    for n in range(len(steps), 0, -1):
        st = steps[n - 1]
        idx, keep, p, h, out = st["idx"], st["keep"], st["p"], st["h"], st["out"]
        # p^n = h^n for n < N, and p^N = R = 1 − Σ_{n<N} h^n; ρ = N + R: h^N gets nothing
        below = keep.astype(dy_t.dtype)                                          # n < N
        dh = below * (dps[n - 1] - dp_last[idx] - drho[idx])
        dz = (dh * h * (1.0 - h))[:, None]                                       # through σ
        grads["W_h"] = grads["W_h"] + out.T @ dz
        grads["b_h"] = grads["b_h"] + dz.sum(axis=0)
        dout_n, dW_y, db_y = affine_backward(p[:, None] * dy_t[idx], st["y_cache"])  # y^n
        grads["W_y"] = grads["W_y"] + dW_y
        grads["b_y"] = grads["b_y"] + db_y
        dout_n = dout_n + dz @ params["W_h"].T                                  # and h^n
        ds = {k: _batch_col(p, v) * _rows(dstate[k], idx) for k, v in st["s"].items()}
        if ds_next is not None:                       # from the examples that went on
            for k in ds:
                _add_rows(ds[k], keep, ds_next[k])
        dxf, ds_next, dcell = step_backward(dout_n, ds, st["cell"])
        for k, v in dcell.items():                # our own buffer on the first step, then +=
            if k in dcell_sum:
                dcell_sum[k] += v
            else:
                dcell_sum[k] = v.copy()
        if dx is None:
            dx = xp.zeros((B, dxf.shape[1] - 1), dtype=dxf.dtype)
        dx[idx] += dxf[:, :-1]                        # the flag bit is not an input to learn
    grads.update(prefixed(dcell_sum, "cell_"))
    return dx, ds_next, grads


class ACTModel:
    """A recurrent cell with ACT and a linear readout; the loss adds τ·Σ_t ρ_t (`penalty`).

    forward_batch(params, batch) -> (logits (T, B, O), cache); penalty(cache, batch) -> (τ times
    the ponder cost per sequence, metrics); backward(dlogits, cache) -> the gradient of both.
    Input steps where batch.input_mask (T, B) is 0 (padding) cost nothing. Parameter keys: the
    cell's under 'cell_' (rnn: W, b, h_init; lstm: W{l}, b{l}, h_init, c_init), W_y, b_y, W_h, b_h.
    """

    name = "act"
    options = (("hidden", 128, "units of the cell"),
               ("cell", "rnn", "the recurrent cell ACT wraps", ("rnn", "lstm")),
               ("layers", 1, "stacked layers (lstm cell)"),
               ("max_ponder", 100, "M_max, the most ponder steps per input step "
                                   "(1: no ACT, the plain cell: the baseline)"),
               ("tau", 0.01, "τ, the weight of the ponder cost"))
    train_defaults = {"optimizer": "adam", "lr": 1e-3, "clip_norm": 10.0, "batch_size": 128}

    def __init__(self, input_size, output_size, hidden=128, cell="rnn", layers=1,
                 max_ponder=100, tau=0.01):
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}")
        if cell == "rnn" and layers != 1:
            raise ValueError("the rnn cell has one layer; --layers is for the lstm cell")
        self.config = {"input_size": int(input_size), "output_size": int(output_size),
                       "hidden": int(hidden), "cell": cell, "layers": int(layers),
                       "max_ponder": int(max_ponder), "tau": float(tau)}

    @property
    def label(self):
        c = self.config
        return (f"{c['cell'].upper()}, no ACT" if c["max_ponder"] == 1
                else f"{c['cell'].upper()} + ACT, τ = {c['tau']:g}")

    def init_params(self, rng, dtype=np.float32):
        c = self.config
        D, H, O = c["input_size"] + 1, c["hidden"], c["output_size"]     # + 1: the flag bit
        if c["cell"] == "rnn":
            cell = rnn_init(D, H, rng, dtype)
            cell["h_init"] = np.zeros(H, dtype=dtype)
        else:
            cell = lstm_init(D, H, c["layers"], rng, dtype)
        params = prefixed(cell, "cell_")
        params["W_y"] = (rng.standard_normal((H, O)) / np.sqrt(H)).astype(dtype)
        params["b_y"] = np.zeros(O, dtype=dtype)
        params["W_h"] = (rng.standard_normal((H, 1)) / np.sqrt(H)).astype(dtype)
        params["b_h"] = np.full(1, HALT_BIAS, dtype=dtype)                 # b_h starts at +1
        return params

    def _initial_state(self, params, B):
        if self.config["cell"] == "lstm":
            return lstm_initial_state(subparams(params, "cell_"), B)
        xp = array_module(params["W_y"])
        return {"h": xp.broadcast_to(params["cell_h_init"], (B, self.config["hidden"])).copy()}

    def _initial_state_backward(self, dstate):
        if self.config["cell"] == "lstm":
            return prefixed(lstm_initial_state_backward(dstate), "cell_")
        return {"cell_h_init": dstate["h"].sum(axis=0)}

    def step_forward(self, x, state, params):
        return act_step_forward(x, state, params, self.config["cell"], self.config["max_ponder"])

    def forward_batch(self, params, batch, train=True):
        """Logits (T, B, O) and the cache (which carries ρ and N, with or without training)."""
        xp = array_module(params["W_y"])
        x = batch.x
        T, B = x.shape[:2]
        (logits, rho, N), final, caches = sequence_forward(
            self.step_forward, x, self._initial_state(params, B), params, keep_cache=train)
        mask = getattr(batch, "input_mask", None)
        mask = xp.ones((T, B), dtype=x.dtype) if mask is None else xp.asarray(mask, dtype=x.dtype)
        return logits, {"caches": caches, "final": final, "rho": rho, "N": N, "mask": mask}

    def penalty(self, cache, batch):
        """τ·Σ_t ρ_t per sequence (mean over the batch), and the ponder metrics: `ponder`, the
        mean ρ per input step, and `ponder_steps`, the mean N per input step."""
        rho, N, mask = cache["rho"], cache["N"], cache["mask"]
        B = rho.shape[1]
        steps = mask.sum()
        value = self.config["tau"] * (rho * mask).sum() / B
        return value, {"ponder": (rho * mask).sum() / steps, "ponder_steps": (N * mask).sum() / steps}

    def backward(self, dlogits, cache):
        """Gradients of the task loss (through dlogits) **plus the ponder cost's own term**,
        τ·Σ_t ρ_t / B (`penalty`): the caller passes the task loss's gradient alone, and the
        gradient returned is that of the whole loss, task loss + penalty."""
        xp = array_module(dlogits)
        B = dlogits.shape[1]
        drho = self.config["tau"] * cache["mask"] / B                     # of τ·Σ_t ρ_t / B
        _, dstate0, grads = sequence_backward(
            act_step_backward, (dlogits, drho, xp.zeros_like(drho)),
            zeros_like_state(cache["final"]), cache["caches"])
        grads.update(self._initial_state_backward(dstate0))
        return grads
