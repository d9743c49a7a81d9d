"""The LSTM (Graves 2013 form, no peepholes), batched, with optional stacked layers.

docs/MATH.md, "The LSTM":

    z = W·[x_t; h_{t-1}] + b          gate order i, f, o, g  (GATES)
    i = σ(z_i)  f = σ(z_f)  o = σ(z_o)  g = tanh(z_g)
    c_t = f⊙c_{t-1} + i⊙g             h_t = o⊙tanh(c_t)

Parameters (a dict) for L layers of H units on an input of size D:
    W{l}: (D_l + H, 4H), b{l}: (4H,) with D_0 = D and D_l = H above; the forget-gate block of
    b{l} starts at +1. h_init, c_init: (L, H), the learned initial state, broadcast over the batch.
    The steps read W{l} and b{l} only, so a caller may start from a state of its own (the
    seq2seq decoder starts from the encoder's final state).
The state is {'h': (L, B, H), 'c': (L, B, H)}; the step's output is the top layer's h.

Two ways to run it, the same numbers (a test checks):
    lstm_step_forward / lstm_step_backward    every layer, one time step: the cell that the
                                              NTM's controller, the encoder-decoder and ACT
                                              drive step by step through their own recurrences
    lstm_layer_forward / lstm_layer_backward  one layer, every time step: what the LSTM baseline
                                              runs, with the products that do not depend on the
                                              previous step taken out of the loop over time
"""
import numpy as np

from .backend import array_module
from .ops import affine_backward, affine_forward, sigmoid

GATES = ("i", "f", "o", "g")   # the order of the four H-wide blocks of z
FORGET_BIAS = 1.0


def num_layers(params):
    L = 0
    while f"b{L}" in params:
        L += 1
    return L


def hidden_size(params):
    return params["b0"].shape[0] // 4


def lstm_init(input_size, hidden_size, layers=1, rng=None, dtype=np.float32):
    """Host (NumPy) parameters; the caller moves them to the active backend."""
    rng = np.random.default_rng(0) if rng is None else rng
    H = hidden_size
    params = {}
    for l in range(layers):
        fan_in = (input_size if l == 0 else H) + H
        params[f"W{l}"] = (rng.standard_normal((fan_in, 4 * H)) / np.sqrt(fan_in)).astype(dtype)
        b = np.zeros(4 * H, dtype=dtype)
        f = GATES.index("f")
        b[f * H:(f + 1) * H] = FORGET_BIAS                    # remember by default at the start
        params[f"b{l}"] = b
    params["h_init"] = np.zeros((layers, H), dtype=dtype)
    params["c_init"] = np.zeros((layers, H), dtype=dtype)
    return params


def lstm_initial_state(params, batch_size):
    """The learned initial state, broadcast over the batch: {'h', 'c'} each (L, B, H)."""
    xp = array_module(params["h_init"])
    L, H = params["h_init"].shape
    return {k: xp.broadcast_to(params[f"{k}_init"][:, None, :], (L, batch_size, H)).copy()
            for k in ("h", "c")}


def lstm_initial_state_backward(dstate):
    """Gradient of h_init and c_init: the broadcast over the batch becomes a sum."""
    return {"h_init": dstate["h"].sum(axis=1), "c_init": dstate["c"].sum(axis=1)}


def lstm_step_forward(x, state, params):
    """One time step through every layer.

    x: (B, D)   state: {'h': (L, B, H), 'c': (L, B, H)}
    Returns the new state, y = top layer's h (B, H), and the cache.
    """
    xp = array_module(x)
    L = num_layers(params)
    H = hidden_size(params)
    inp = x
    hs, cs, caches = [], [], []
    for l in range(L):
        h_prev, c_prev = state["h"][l], state["c"][l]
        xh = xp.concatenate([inp, h_prev], axis=1)              # [x_t; h_{t-1}]
        z, _ = affine_forward(xh, params[f"W{l}"], params[f"b{l}"])
        ifo = sigmoid(z[:, :3 * H])                             # i, f, o = σ(z_i), σ(z_f), σ(z_o)
        i, f, o = ifo[:, :H], ifo[:, H:2 * H], ifo[:, 2 * H:]
        g = xp.tanh(z[:, 3 * H:])                               # g = tanh(z_g)
        c = f * c_prev + i * g                                  # c_t = f⊙c_{t-1} + i⊙g
        tanh_c = xp.tanh(c)
        h = o * tanh_c                                          # h_t = o⊙tanh(c_t)
        hs.append(h)
        cs.append(c)
        caches.append((xh, ifo, g, c_prev, tanh_c))
        inp = h                                                 # feeds the layer above
    new_state = {"h": xp.stack(hs), "c": xp.stack(cs)}
    return new_state, inp, (caches, params)


def lstm_step_backward(dy, dstate, cache):
    """Backward of one step.

    dy: (B, H) gradient of the output (top h); dstate: gradient of the new state.
    Returns dx (B, D), the gradient of the previous state, and {W{l}, b{l}}.
    """
    caches, params = cache
    xp = array_module(dy)
    L = len(caches)
    H = hidden_size(params)
    dh_prev = [None] * L
    dc_prev = [None] * L
    dparams = {}
    dh_above = dy                                               # the top layer's h is the output
    for l in reversed(range(L)):
        xh, ifo, g, c_prev, tanh_c = caches[l]
        i, f, o = ifo[:, :H], ifo[:, H:2 * H], ifo[:, 2 * H:]
        dh = dh_above + dstate["h"][l]                          # h_t feeds the output and t+1
        dc = dstate["c"][l] + dh * o * (1.0 - tanh_c * tanh_c)  # backprop h_t = o⊙tanh(c_t)
        dz = xp.empty((dy.shape[0], 4 * H), dtype=dy.dtype)
        dz[:, :H] = dc * g                                      # backprop c_t = f⊙c_{t-1} + i⊙g:
        dz[:, H:2 * H] = dc * c_prev                            #   di, df
        dz[:, 2 * H:3 * H] = dh * tanh_c                        #   do
        dz[:, :3 * H] *= ifo * (1.0 - ifo)                      # through σ: σ' = σ(1 − σ)
        dz[:, 3 * H:] = dc * i * (1.0 - g * g)                  # dg, through tanh
        dc_prev[l] = dc * f                                     # into c_{t-1}
        dxh, dparams[f"W{l}"], dparams[f"b{l}"] = affine_backward(dz, (xh, params[f"W{l}"]))
        D = xh.shape[1] - H
        dh_prev[l] = dxh[:, D:]                                 # into h_{t-1} of this layer
        dh_above = dxh[:, :D]                                   # into the input: the layer below
    return dh_above, {"h": xp.stack(dh_prev), "c": xp.stack(dc_prev)}, dparams


def lstm_layer_forward(xs, h0, c0, W, b, keep_cache=True):
    """One layer over a whole sequence: the same equations as `lstm_step_forward`, in the order
    that suits a computer. z_t = W·[x_t; h_{t−1}] + b splits into W_x·x_t, which depends on no
    earlier step, and W_h·h_{t−1}, which does: the first is one matrix product over every time
    step at once, and only the second stays inside the loop over time.

    xs: (T, B, D); h0, c0: (B, H); W: (D + H, 4H); b: (4H,).
    Returns hs (T, B, H), the final (h, c) and the cache (None with keep_cache=False).
    """
    xp = array_module(xs)
    T, B, D = xs.shape
    H = W.shape[1] // 4
    # σ(z) = ½(1 + tanh(z/2)): the i, f, o columns of W and b are halved once here, so that one
    # tanh a step gives all four gates (tanh is the costly part of the step's elementwise work)
    half = xp.concatenate([xp.full(3 * H, 0.5, dtype=xs.dtype), xp.ones(H, dtype=xs.dtype)])
    Wx, Wh = W[:D] * half, W[D:] * half
    zx = (xs.reshape(T * B, D) @ Wx + b * half).reshape(T, B, 4 * H)   # W_x·x_t + b, every t
    hs = xp.empty((T, B, H), dtype=xs.dtype)
    acts = xp.empty((T, B, 4 * H), dtype=xs.dtype)              # σ(z_i), σ(z_f), σ(z_o), tanh(z_g)
    cs = xp.empty((T, B, H), dtype=xs.dtype)                    # c_t
    tanh_cs = xp.empty((T, B, H), dtype=xs.dtype)               # tanh(c_t)
    h, c = h0, c0
    for t in range(T):
        a = acts[t]
        xp.matmul(h, Wh, out=a)                                 # z = W·[x_t; h_{t-1}] + b
        a += zx[t]                                              #   (its i, f, o halved)
        xp.tanh(a, out=a)
        a[:, :3 * H] += 1.0
        a[:, :3 * H] *= 0.5                                     # i, f, o = σ(z_i), σ(z_f), σ(z_o)
        i, f, o, g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]   # g = tanh(z_g)
        c = cs[t] = f * c + i * g                               # c_t = f⊙c_{t-1} + i⊙g
        h = hs[t] = o * xp.tanh(c, out=tanh_cs[t])              # h_t = o⊙tanh(c_t)
    cache = (xs, h0, c0, W, hs, acts, cs, tanh_cs) if keep_cache else None
    return hs, (h, c), cache


def lstm_layer_backward(dhs, dh_final, dc_final, cache):
    """Backward of `lstm_layer_forward`. dhs: (T, B, H), the gradient of every output; dh_final,
    dc_final: (B, H), that of the final state. Only the recurrence h_{t−1} -> z_t is walked
    back step by step; the gate gradients of all steps are kept, and the weight gradient, the
    bias gradient and the input gradient are each one matrix product over every step:
    dW_x = Σ_t x_tᵀ·dz_t, dW_h = Σ_t h_{t−1}ᵀ·dz_t, dx_t = dz_t·W_xᵀ.

    Returns dxs (T, B, D), dh0, dc0 (B, H), dW (D + H, 4H), db (4H,).
    """
    xs, h0, c0, W, hs, acts, cs, tanh_cs = cache
    xp = array_module(dhs)
    T, B, D = xs.shape
    H = W.shape[1] // 4
    Wh = W[D:]
    dz = xp.empty_like(acts)
    dh, dc = dh_final, dc_final
    for t in reversed(range(T)):
        a, d, tanh_c = acts[t], dz[t], tanh_cs[t]
        i, f, o, g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        c_prev = cs[t - 1] if t > 0 else c0
        dh = dhs[t] + dh                                        # h_t feeds the output and t+1
        dc = dc + dh * o * (1.0 - tanh_c * tanh_c)              # backprop h_t = o⊙tanh(c_t)
        d[:, :H] = dc * g                                       # backprop c_t = f⊙c_{t-1} + i⊙g:
        d[:, H:2 * H] = dc * c_prev                             #   di, df
        d[:, 2 * H:3 * H] = dh * tanh_c                         #   do
        d[:, :3 * H] *= a[:, :3 * H] * (1.0 - a[:, :3 * H])     # through σ: σ' = σ(1 − σ)
        d[:, 3 * H:] = dc * i * (1.0 - g * g)                   # dg, through tanh
        dc = dc * f                                             # into c_{t-1}
        dh = d @ Wh.T                                           # into h_{t-1}
    h_prev = xp.concatenate([h0[None], hs[:-1]]).reshape(T * B, H)
    dz2 = dz.reshape(T * B, 4 * H)
    dW = xp.empty_like(W)
    xp.matmul(xs.reshape(T * B, D).T, dz2, out=dW[:D])          # Σ_t x_tᵀ·dz_t
    xp.matmul(h_prev.T, dz2, out=dW[D:])                        # Σ_t h_{t−1}ᵀ·dz_t
    dxs = (dz2 @ W[:D].T).reshape(T, B, D)
    return dxs, dh, dc, dW, dz2.sum(axis=0)


class LSTMModel:
    """The LSTM baseline: a stacked LSTM and a linear readout, y_t = W_y·h_t + b_y (logits).

    forward(params, x (T, B, D)) -> (logits (T, B, O), cache); backward(dlogits, cache) -> grads
    with the keys of params. The NTM paper's baseline is 3 layers of 256 units.
    """

    name = "lstm"
    options = (("hidden", 256, "LSTM units per layer"),
               ("layers", 3, "stacked LSTM layers"))
    train_defaults = {"optimizer": "adam", "lr": 1e-3, "clip_value": 10.0, "batch_size": 32}

    def __init__(self, input_size, output_size, hidden=256, layers=3):
        self.config = {"input_size": int(input_size), "output_size": int(output_size),
                       "hidden": int(hidden), "layers": int(layers)}

    def init_params(self, rng, dtype=np.float32):
        c = self.config
        params = lstm_init(c["input_size"], c["hidden"], c["layers"], rng, dtype)
        scale = 1.0 / np.sqrt(c["hidden"])
        params["W_y"] = (rng.standard_normal((c["hidden"], c["output_size"])) * scale).astype(dtype)
        params["b_y"] = np.zeros(c["output_size"], dtype=dtype)
        return params

    def forward(self, params, x, keep_cache=True):
        """Layer by layer, each over the whole sequence (`lstm_layer_forward`): the same
        numbers as stepping every layer together (`lstm_step_forward`), in fewer, larger
        matrix products."""
        state0 = lstm_initial_state(params, x.shape[1])
        hs, caches = x, []
        for l in range(self.config["layers"]):
            hs, _, cache = lstm_layer_forward(hs, state0["h"][l], state0["c"][l],
                                              params[f"W{l}"], params[f"b{l}"], keep_cache)
            caches.append(cache)
        logits, out_cache = affine_forward(hs, params["W_y"], params["b_y"])
        return logits, (caches, out_cache)

    def forward_batch(self, params, batch, train=True):
        """What the training loop calls: logits for batch.x (cached only when training)."""
        return self.forward(params, batch.x, keep_cache=train)

    def backward(self, dlogits, cache):
        caches, out_cache = cache
        xp = array_module(dlogits)
        dhs, dW_y, db_y = affine_backward(dlogits, out_cache)
        grads = {"W_y": dW_y, "b_y": db_y}
        B, H = dhs.shape[1], dhs.shape[2]
        dh0, dc0 = [], []
        for l in reversed(range(len(caches))):                  # the final state feeds nothing
            zero = xp.zeros((B, H), dtype=dhs.dtype)
            dhs, dh, dc, grads[f"W{l}"], grads[f"b{l}"] = lstm_layer_backward(dhs, zero, zero,
                                                                              caches[l])
            dh0.insert(0, dh)
            dc0.insert(0, dc)
        grads.update(lstm_initial_state_backward({"h": xp.stack(dh0), "c": xp.stack(dc0)}))
        return grads
