"""The plain tanh RNN cell (the ACT paper's parity network), batched and stateless.

    h_t = tanh(W·[x_t; h_{t-1}] + b)

Parameters: W (D + H, H), b (H,). The state is {'h': (B, H)}; the step's output is h.
"""
import numpy as np

from .backend import array_module
from .ops import affine_backward, affine_forward


def rnn_init(input_size, hidden_size, rng, dtype=np.float32):
    fan_in = input_size + hidden_size
    return {"W": (rng.standard_normal((fan_in, hidden_size)) / np.sqrt(fan_in)).astype(dtype),
            "b": np.zeros(hidden_size, dtype=dtype)}


def rnn_step_forward(x, state, params):
    xp = array_module(x)
    z, cache = affine_forward(xp.concatenate([x, state["h"]], axis=1), params["W"], params["b"])
    h = xp.tanh(z)
    return {"h": h}, h, (cache, h, params)


def rnn_step_backward(dy, dstate, cache):
    affine_cache, h, params = cache
    dz = (dy + dstate["h"]) * (1.0 - h * h)          # h feeds the output and step t + 1; tanh
    dxh, dW, db = affine_backward(dz, affine_cache)
    D = dxh.shape[1] - h.shape[1]
    return dxh[:, :D], {"h": dxh[:, D:]}, {"W": dW, "b": db}
