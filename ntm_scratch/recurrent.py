"""One BPTT loop for any recurrent cell.

A cell is a pair of stateless steps (STYLE.md):

    state, y, cache      = step_forward(x, state, params)
    dx, dstate, dparams  = step_backward(dy, dstate, cache)

`state` is a small dict of arrays. The backward pass takes the gradient of the *final* state and
returns that of the *initial* state, so a long sequence can be cut into chunks and the state
gradient carried from one chunk into the one before it (truncated or chunked BPTT).
"""
from .backend import array_module


def sequence_forward(step_forward, xs, state, params, keep_cache=True):
    """Run a cell over time.

    xs: (T, B, ...) time-major inputs.  Returns ys (T, B, ...), the final state and the caches
    (None with keep_cache=False: evaluation only, each step's cache freed as it goes).
    """
    xp = array_module(xs)
    ys, caches = [], []
    for t in range(xs.shape[0]):
        state, y, cache = step_forward(xs[t], state, params)
        ys.append(y)
        if keep_cache:
            caches.append(cache)
    return xp.stack(ys), state, (caches if keep_cache else None)


def sequence_backward(step_backward, dys, dstate, caches):
    """Backpropagate through time.

    dys: (T, B, ...) gradient of every output; dstate: gradient of the final state (use
    `zeros_like_state(final_state)` when nothing downstream reads it). Returns dxs (T, B, ...),
    the gradient of the initial state and the parameter gradients summed over time.
    """
    xp = array_module(dys)
    T = len(caches)
    dxs = [None] * T
    dparams = {}
    for t in reversed(range(T)):
        dxs[t], dstate, dp = step_backward(dys[t], dstate, caches[t])
        for k, v in dp.items():                          # a weight is reused every step: sum
            if k in dparams:
                dparams[k] += v
            else:
                dparams[k] = v.copy()                    # our own buffer, never the step's
    return xp.stack(dxs), dstate, dparams


def zeros_like_state(state):
    """A zero gradient for a state dict (for a final state that feeds nothing)."""
    return {k: array_module(v).zeros_like(v) for k, v in state.items()}
