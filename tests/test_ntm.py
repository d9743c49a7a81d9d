"""The whole NTM: its loss's gradient for every parameter, both controllers, 2 read and 2 write
heads, T = 6 (< 1e-5, docs/MATH.md's whole-model tolerance)."""
import numpy as np
import pytest

from ntm_scratch.gradcheck import check_loss, directional_check
from ntm_scratch.losses import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward
from ntm_scratch.ntm import NTMModel

TOL = 1e-5
T, B, D, O = 6, 2, 4, 3


def make(controller, memory_init="learned", read_heads=2, write_heads=2, shift_range=1, seed=0,
         memory_rows=5, controller_layers=1):
    r = np.random.default_rng(seed)
    model = NTMModel(D, O, hidden=6, controller=controller, memory_rows=memory_rows, memory_width=3,
                     read_heads=read_heads, write_heads=write_heads, shift_range=shift_range,
                     memory_init=memory_init, controller_layers=controller_layers)
    params = model.init_params(r, np.float64)
    for k in params:                        # move every parameter off its initial value
        params[k] = params[k] + 0.3 * r.standard_normal(params[k].shape)
    if "M0" in params:
        params["M0"] = r.standard_normal(params["M0"].shape)
    # the initial weightings start focused on row 0 (a saturated softmax, gradient ~1e-4 of
    # the others): check them from an unsaturated point instead
    params["w_init"] = r.standard_normal(params["w_init"].shape)
    x = r.standard_normal((T, B, D))
    y = (r.random((T, B, O)) > 0.5).astype(float)
    mask = (r.random((T, B, 1)) > 0.2).astype(float)
    scale = 0.37                             # an upstream gradient that is not 1

    def loss():
        logits, _ = model.forward(params, x)
        return scale * float(sigmoid_cross_entropy_forward(logits, y, mask)[0])

    def grads():
        logits, cache = model.forward(params, x)
        _, lcache = sigmoid_cross_entropy_forward(logits, y, mask)
        dlogits, _ = sigmoid_cross_entropy_backward(scale, lcache)
        return model.backward(dlogits, cache)
    return model, params, loss, grads


def param_names(controller):
    _, params, _, _ = make(controller)
    return sorted(params)


CASES = [(c, k) for c in ("lstm", "ff") for k in param_names(c)]


@pytest.mark.parametrize("controller,name", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_loss_gradient_of_every_parameter(controller, name):
    model, params, loss, grads = make(controller)
    g = grads()
    assert set(g) == set(params)
    assert check_loss(loss, params, g, [name])[name] < TOL


@pytest.mark.parametrize("memory_init", ["constant", "random"])
def test_fixed_memory_inits_have_no_memory_parameter(memory_init):
    model, params, loss, grads = make("lstm", memory_init=memory_init, read_heads=1,
                                      write_heads=1, shift_range=2)
    assert "M0" not in params
    g = grads()
    assert set(g) == set(params)
    assert directional_check(loss, params, g) < TOL


def test_default_sizes_and_initial_state():
    model = NTMModel(9, 8)
    params = model.init_params(np.random.default_rng(0))
    assert params["W0"].shape == (9 + 20 + 100, 400)                # [x; r; h] -> 4·100
    assert params["W_head"].shape == (100, (20 + 6) + (20 + 6 + 40))
    state, _ = model.initial_state(params, 3)
    assert state["M"].shape == (3, 128, 20) and np.all(state["M"] == np.float32(1e-6))
    assert np.allclose(state["wr"].sum(axis=-1), 1.0) and state["r"].shape == (3, 1, 20)


def test_trace_returns_the_heads_over_time():
    model, params, _, _ = make("lstm")
    x = np.random.default_rng(1).standard_normal((T, B, D))
    tr = model.trace(params, x)
    assert tr["read_weights"].shape == (T, B, 2, 5) and tr["write_weights"].shape == (T, B, 2, 5)
    assert tr["erase"].shape == (T, B, 2, 3) and tr["logits"].shape == (T, B, O)
    assert np.allclose(tr["write_weights"].sum(axis=-1), 1.0)
    logits, _ = model.forward(params, x)
    assert np.array_equal(tr["logits"], logits)


@pytest.mark.parametrize("controller,read_heads,write_heads,shift_range,memory_rows", [
    ("ff", 1, 3, 2, 3),        # more shifts than rows: the offsets wrap onto each other
    ("lstm", 3, 1, 2, 2),
])
def test_unequal_heads_and_wrapping_shifts(controller, read_heads, write_heads, shift_range,
                                           memory_rows):
    model, params, loss, grads = make(controller, memory_init="random", read_heads=read_heads,
                                      write_heads=write_heads, shift_range=shift_range,
                                      memory_rows=memory_rows)
    errors = check_loss(loss, params, grads())
    assert max(errors.values()) < TOL, errors


def test_a_two_layer_controller_whose_layers_all_feed_the_heads():
    """Every parameter of a 2-layer LSTM controller (the priority-sort NTM's), whose lower
    layer's h reaches the heads and the output directly as well as through the layer above."""
    model, params, loss, grads = make("lstm", controller_layers=2)
    assert params["W1"].shape == (6 + 6, 4 * 6) and params["W_head"].shape[0] == 2 * 6
    assert params["W_y"].shape[0] == 2 * 6 + 2 * 3                  # [h¹; h²; r¹; r²]
    g = grads()
    assert set(g) == set(params)
    # element by element where the second layer enters (its weights and both layers' initial
    # states, whose gradients pass through the heads' share of each layer); every parameter
    # along random directions
    errors = check_loss(loss, params, g, ["W1", "b1", "h_init", "c_init"])
    assert max(errors.values()) < TOL, errors
    assert directional_check(loss, params, g, trials=4) < TOL


def test_the_priority_sort_ntm_has_about_the_papers_parameter_count():
    """The paper's Table 1 gives 269,038 parameters for its priority-sort NTM (5 heads, a
    2 × 100 LSTM controller, 128 × 20 memory). Reading "5 heads" as 5 read and 5 write heads and
    "2 × 100" as two layers that both feed the heads comes within 4%; one layer gives half."""
    def count(layers):
        model = NTMModel(10, 8, hidden=100, controller_layers=layers, read_heads=5, write_heads=5)
        return sum(v.size for v in model.init_params(np.random.default_rng(0)).values())
    assert abs(count(2) / 269_038 - 1) < 0.04
    assert count(1) < 0.55 * 269_038
    with pytest.raises(ValueError, match="feed-forward"):
        NTMModel(10, 8, controller="ff", controller_layers=2)


def test_a_saved_model_keeps_its_memory_seed(tmp_path):
    """eval, figures and resume rebuild the model from everything the checkpoint saved."""
    from ntm_scratch.checkpoint import save_checkpoint
    from ntm_scratch.cli import _load_trained
    from tasks.copy import CopyTask
    task = CopyTask(max_length=3)
    model = NTMModel(task.input_size, task.output_size, hidden=4, memory_rows=6, memory_width=3,
                     memory_init="random", memory_seed=7)
    params = model.init_params(np.random.default_rng(0))
    meta = {"task": "copy", "task_config": task.config, "model": "ntm",
            "model_config": model.config, "optimizer": {"name": "rmsprop", "lr": 1e-4},
            "train": {"dtype": "float32"}, "step": 1, "seqs": 1, "wall": 0.0,
            "rng_state": np.random.default_rng(0).bit_generator.state}
    path = str(tmp_path / "m.npz")
    save_checkpoint(path, params, {"t": np.asarray(0)}, meta)
    _, loaded, _, _ = _load_trained(path, "copy")
    assert loaded.config["memory_seed"] == 7
    assert np.array_equal(loaded._memory0(params, 1), model._memory0(params, 1))


@pytest.mark.parametrize("write", [False, True], ids=["read-heads", "write-heads"])
def test_head_activations_gradient(write):
    """head_activations_backward for every part of a head (k, β, g, s, γ, and e, a), < 1e-7."""
    from ntm_scratch.gradcheck import check_op
    from ntm_scratch.ntm import head_activations_backward, head_activations_forward
    M, S = 3, 5
    width = M + 3 + S + (2 * M if write else 0)
    z = 2 * np.random.default_rng(5).standard_normal((2, 3, width))
    errors = check_op(lambda z: head_activations_forward(z, M, S, write),
                      head_activations_backward, {"z": z})
    assert errors["z"] < 1e-7
