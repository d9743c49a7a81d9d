"""The LSTM (Graves 2013 form, no peepholes), batched, with optional stacked layers.

MATH.md, "LSTM controller":

    z = W·[x_t; h_{t-1}] + b          gate order i, f, o, g  (GATES)
    i = σ(z_i)  f = σ(z_f)  o = σ(z_o)  g = tanh(z_g)
    c_t = f⊙c_{t-1} + i⊙g             h_t = o⊙tanh(c_t)

Parameters (a dict) for L layers of H units on an input of size D:
    W{l}: (D_l + H, 4H), b{l}: (4H,) with D_0 = D and D_l = H above; the forget-gate block of
    b{l} starts at +1. h_init, c_init: (L, H), the learned initial state, broadcast over the batch.
    The steps read W{l} and b{l} only, so a caller may start from a state of its own (the
    seq2seq decoder starts from the encoder's final state).
The state is {'h': (L, B, H), 'c': (L, B, H)}; the step's output is the top layer's h.
"""
import numpy as np

from .backend import array_module
from .ops import affine_backward, affine_forward, sigmoid
from .recurrent import sequence_backward, sequence_forward, zeros_like_state

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
        do = dh * tanh_c                                        # backprop h_t = o⊙tanh(c_t)
        dc = dstate["c"][l] + dh * o * (1.0 - tanh_c * tanh_c)
        di = dc * g                                             # backprop c_t = f⊙c_{t-1} + i⊙g
        dg = dc * i
        df = dc * c_prev
        dc_prev[l] = dc * f
        dz = xp.concatenate([di * i * (1.0 - i),                # through the gate nonlinearities
                             df * f * (1.0 - f),
                             do * o * (1.0 - o),
                             dg * (1.0 - g * g)], axis=1)
        dxh, dparams[f"W{l}"], dparams[f"b{l}"] = affine_backward(dz, (xh, params[f"W{l}"]))
        D = xh.shape[1] - H
        dh_prev[l] = dxh[:, D:]                                 # into h_{t-1} of this layer
        dh_above = dxh[:, :D]                                   # into the input: the layer below
    return dh_above, {"h": xp.stack(dh_prev), "c": xp.stack(dc_prev)}, dparams


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
        state0 = lstm_initial_state(params, x.shape[1])
        hs, state, caches = sequence_forward(lstm_step_forward, x, state0, params, keep_cache)
        logits, out_cache = affine_forward(hs, params["W_y"], params["b_y"])
        return logits, (caches, state, out_cache)

    def forward_batch(self, params, batch, train=True):
        """What the training loop calls: logits for batch.x (cached only when training)."""
        return self.forward(params, batch.x, keep_cache=train)

    def backward(self, dlogits, cache):
        caches, state, out_cache = cache
        dhs, dW_y, db_y = affine_backward(dlogits, out_cache)
        _, dstate0, grads = sequence_backward(lstm_step_backward, dhs,
                                              zeros_like_state(state), caches)
        grads.update(lstm_initial_state_backward(dstate0))
        grads["W_y"], grads["b_y"] = dW_y, db_y
        return grads
