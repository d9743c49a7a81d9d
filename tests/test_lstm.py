"""The LSTM: gradients through BPTT (T = 10, < 1e-6), and the consistency of its drivers."""
import numpy as np
import pytest

from ntm_scratch.gradcheck import check_loss, numerical_gradient, rel_error
from ntm_scratch.lstm import (GATES, LSTMModel, lstm_init, lstm_initial_state,
                              lstm_layer_backward, lstm_layer_forward, lstm_step_backward,
                              lstm_step_forward)
from ntm_scratch.losses import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward
from ntm_scratch.recurrent import sequence_backward, sequence_forward

T, B, D, H, L = 10, 2, 3, 4, 2
TOL_BPTT = 1e-6      # docs/MATH.md: through BPTT with T >= 10


def setup(seed=0):
    r = np.random.default_rng(seed)
    params = lstm_init(D, H, layers=L, rng=r, dtype=np.float64)
    for k in params:                                  # make every entry matter, biases included
        params[k] = params[k] + 0.3 * r.standard_normal(params[k].shape)
    xs = r.standard_normal((T, B, D))
    state0 = {"h": 0.5 * r.standard_normal((L, B, H)), "c": 0.5 * r.standard_normal((L, B, H))}
    up = {"ys": r.standard_normal((T, B, H)), "h": r.standard_normal((L, B, H)),
          "c": r.standard_normal((L, B, H))}
    return params, xs, state0, up


def contracted(params, xs, state0, up):
    """f = Σ up·(every output and the final state): the scalar whose gradient is checked."""
    ys, final, _ = sequence_forward(lstm_step_forward, xs, state0, params)
    return float(np.sum(up["ys"] * ys) + np.sum(up["h"] * final["h"]) + np.sum(up["c"] * final["c"]))


def analytic(params, xs, state0, up):
    _, _, caches = sequence_forward(lstm_step_forward, xs, state0, params)
    return sequence_backward(lstm_step_backward, up["ys"], {"h": up["h"], "c": up["c"]}, caches)


@pytest.mark.parametrize("name", ["W0", "b0", "W1", "b1"])
def test_bptt_gradient_of_each_parameter(name):
    params, xs, state0, up = setup()
    _, _, dparams = analytic(params, xs, state0, up)
    err = check_loss(lambda: contracted(params, xs, state0, up), params, dparams, [name])[name]
    assert err < TOL_BPTT


def test_bptt_gradient_of_the_inputs():
    params, xs, state0, up = setup()
    dxs, _, _ = analytic(params, xs, state0, up)
    num = numerical_gradient(lambda: contracted(params, xs, state0, up), xs)
    assert rel_error(dxs, num) < TOL_BPTT


@pytest.mark.parametrize("key", ["h", "c"])
def test_bptt_gradient_of_the_initial_state(key):
    params, xs, state0, up = setup()
    _, dstate0, _ = analytic(params, xs, state0, up)
    num = numerical_gradient(lambda: contracted(params, xs, state0, up), state0[key])
    assert rel_error(dstate0[key], num) < TOL_BPTT


def test_model_loss_gradient_including_the_learned_initial_state():
    """The baseline model (2 stacked layers + readout) under a masked sigmoid cross-entropy."""
    r = np.random.default_rng(3)
    model = LSTMModel(D, 5, hidden=H, layers=L)
    params = model.init_params(r, np.float64)
    for k in params:
        params[k] = params[k] + 0.3 * r.standard_normal(params[k].shape)
    x = r.standard_normal((T, B, D))
    y = (r.random((T, B, 5)) > 0.5).astype(float)
    mask = (r.random((T, B, 1)) > 0.3).astype(float)

    def loss():
        logits, _ = model.forward(params, x)
        return float(sigmoid_cross_entropy_forward(logits, y, mask)[0])

    logits, cache = model.forward(params, x)
    _, lcache = sigmoid_cross_entropy_forward(logits, y, mask)
    dlogits, _ = sigmoid_cross_entropy_backward(0.7, lcache)
    grads = model.backward(dlogits, cache)
    assert set(grads) == set(params)
    errors = check_loss(lambda: 0.7 * loss(), params, grads)
    assert max(errors.values()) < TOL_BPTT, errors


def test_step_by_step_equals_the_sequence_driver():
    params, xs, state0, up = setup()
    ys, final, _ = sequence_forward(lstm_step_forward, xs, state0, params)
    dxs, dstate0, dparams = analytic(params, xs, state0, up)

    state, caches, ys_steps = state0, [], []
    for t in range(T):                                      # forward one step at a time
        state, y, cache = lstm_step_forward(xs[t], state, params)
        ys_steps.append(y)
        caches.append(cache)
    dstate = {"h": up["h"], "c": up["c"]}
    dW_sum = {k: 0.0 for k in dparams}
    for t in reversed(range(T)):                            # and back, one step at a time
        dx, dstate, dp = lstm_step_backward(up["ys"][t], dstate, caches[t])
        assert np.allclose(dx, dxs[t], rtol=0, atol=1e-13)
        for k in dp:
            dW_sum[k] = dW_sum[k] + dp[k]
    assert np.allclose(np.stack(ys_steps), ys, rtol=0, atol=1e-14)
    for k in ("h", "c"):
        assert np.allclose(state[k], final[k], rtol=0, atol=1e-14)
        assert np.allclose(dstate[k], dstate0[k], rtol=0, atol=1e-13)
    for k in dparams:
        assert np.allclose(dW_sum[k], dparams[k], rtol=0, atol=1e-12)


def test_two_chunks_equal_one_pass():
    """Cut the sequence in two; carry the state forward and its gradient backward between them."""
    params, xs, state0, up = setup()
    dxs, dstate0, dparams = analytic(params, xs, state0, up)
    half = T // 2
    ys1, mid, c1 = sequence_forward(lstm_step_forward, xs[:half], state0, params)
    ys2, final, c2 = sequence_forward(lstm_step_forward, xs[half:], mid, params)
    dx2, dmid, dp2 = sequence_backward(lstm_step_backward, up["ys"][half:],
                                       {"h": up["h"], "c": up["c"]}, c2)
    dx1, d0, dp1 = sequence_backward(lstm_step_backward, up["ys"][:half], dmid, c1)
    assert np.allclose(np.concatenate([dx1, dx2]), dxs, rtol=0, atol=1e-13)
    for k in ("h", "c"):
        assert np.allclose(d0[k], dstate0[k], rtol=0, atol=1e-13)
    for k in dparams:
        assert np.allclose(dp1[k] + dp2[k], dparams[k], rtol=0, atol=1e-12)


def test_forward_matches_the_equations_written_out():
    """A reference LSTM written gate by gate (docs/MATH.md), independent of the module's slicing."""
    params, xs, state0, _ = setup()
    ys, final, _ = sequence_forward(lstm_step_forward, xs, state0, params)
    sig = lambda z: 1 / (1 + np.exp(-z))
    h = [state0["h"][l] for l in range(L)]
    c = [state0["c"][l] for l in range(L)]
    for t in range(T):
        inp = xs[t]
        for l in range(L):
            z = np.concatenate([inp, h[l]], axis=1) @ params[f"W{l}"] + params[f"b{l}"]
            blocks = dict(zip(GATES, np.split(z, 4, axis=1)))
            i, f, o, g = sig(blocks["i"]), sig(blocks["f"]), sig(blocks["o"]), np.tanh(blocks["g"])
            c[l] = f * c[l] + i * g
            h[l] = o * np.tanh(c[l])
            inp = h[l]
        assert np.allclose(ys[t], inp, atol=1e-12)
    assert np.allclose(final["c"], np.stack(c), atol=1e-12)


def test_initialisation_forget_bias_and_learned_initial_state():
    params = lstm_init(D, H, layers=2, rng=np.random.default_rng(0))
    f = GATES.index("f")
    for l in range(2):
        b = params[f"b{l}"]
        assert np.all(b[f * H:(f + 1) * H] == 1.0)
        assert np.all(np.delete(b, np.s_[f * H:(f + 1) * H]) == 0.0)
        assert params[f"W{l}"].dtype == np.float32
    params["h_init"][:] = np.arange(2 * H).reshape(2, H)
    state = lstm_initial_state(params, 3)
    assert state["h"].shape == (2, 3, H) and np.all(state["h"][:, 1] == params["h_init"])
    state["h"][0, 0, 0] = -99.0                                  # a copy, not a view
    assert params["h_init"][0, 0] == 0.0


def test_learned_initial_state_gradient():
    """lstm_initial_state_backward: the broadcast over the batch becomes a sum (< 1e-7)."""
    from ntm_scratch.gradcheck import check_op
    from ntm_scratch.lstm import lstm_initial_state_backward
    r = np.random.default_rng(4)

    def forward(h_init, c_init):
        return lstm_initial_state({"h_init": h_init, "c_init": c_init}, 3), None

    def backward(dstate, cache):
        g = lstm_initial_state_backward(dstate)
        return g["h_init"], g["c_init"]
    errors = check_op(forward, backward, {"h_init": r.standard_normal((L, H)),
                                          "c_init": r.standard_normal((L, H))})
    assert max(errors.values()) < 1e-7, errors


def layer_contracted(l, xs, h0, c0, W, b, up):
    hs, (h, c), _ = lstm_layer_forward(xs, h0, c0, W, b)
    return float(np.sum(up["ys"] * hs) + np.sum(up["h"][l] * h) + np.sum(up["c"][l] * c))


@pytest.mark.parametrize("wrt", ["xs", "h0", "c0", "W", "b"])
def test_layer_over_the_sequence_gradient_of_each_input(wrt):
    """lstm_layer_backward against finite differences, with random gradients of every output
    and of the final state (< 1e-6 through T = 10 steps)."""
    params, xs, state0, up = setup()
    inputs = {"xs": xs, "h0": state0["h"][0], "c0": state0["c"][0], "W": params["W0"],
              "b": params["b0"]}
    _, _, cache = lstm_layer_forward(*inputs.values())
    grads = dict(zip(inputs, lstm_layer_backward(up["ys"], up["h"][0], up["c"][0], cache)))
    num = numerical_gradient(lambda: layer_contracted(0, *inputs.values(), up), inputs[wrt])
    assert rel_error(grads[wrt], num) < TOL_BPTT


def test_layer_by_layer_equals_every_layer_step_by_step():
    """The model's layer-major passes (one product for the inputs of all steps, one for the
    weight gradient of all steps) give the step-major driver's outputs and gradients."""
    params, xs, state0, up = setup()
    ys, final, _ = sequence_forward(lstm_step_forward, xs, state0, params)
    dxs, dstate0, dparams = analytic(params, xs, state0, up)
    hs, caches = xs, []
    for l in range(L):
        hs, (h, c), cache = lstm_layer_forward(hs, state0["h"][l], state0["c"][l],
                                               params[f"W{l}"], params[f"b{l}"])
        caches.append(cache)
        assert np.allclose(h, final["h"][l], rtol=0, atol=1e-13)
        assert np.allclose(c, final["c"][l], rtol=0, atol=1e-13)
    assert np.allclose(hs, ys, rtol=0, atol=1e-13)
    dhs = up["ys"]
    for l in reversed(range(L)):
        dhs, dh0, dc0, dW, db = lstm_layer_backward(dhs, up["h"][l], up["c"][l], caches[l])
        assert np.allclose(dW, dparams[f"W{l}"], rtol=0, atol=1e-12)
        assert np.allclose(db, dparams[f"b{l}"], rtol=0, atol=1e-12)
        assert np.allclose(dh0, dstate0["h"][l], rtol=0, atol=1e-12)
        assert np.allclose(dc0, dstate0["c"][l], rtol=0, atol=1e-12)
    assert np.allclose(dhs, dxs, rtol=0, atol=1e-12)
