"""Adaptive Computation Time: the gradient of the whole loss with the ponder cost, the flag bit,
independent halting within a batch, and the parity task's data."""
import numpy as np
import pytest

from ntm_scratch import losses
from ntm_scratch.act import EPSILON, ACTModel
from ntm_scratch.gradcheck import check_loss
from tasks.addition import NO_DIGIT, AdditionTask
from tasks.base import Batch
from tasks.parity import ParityTask

TOL = 1e-5   # docs/MATH.md: a whole model's loss
MARGIN = 1e-3


SEEDS = {"rnn": 1, "lstm": 4}   # chosen so that no halting sum lies near its threshold


def tiny(cell, max_ponder=6, tau=0.05, seed=None):
    seed = SEEDS[cell] if seed is None else seed
    model = ACTModel(5, 2, hidden=6, cell=cell, max_ponder=max_ponder, tau=tau,
                     layers=2 if cell == "lstm" else 1)
    params = model.init_params(np.random.default_rng(seed), np.float64)
    r = np.random.default_rng(seed + 1)
    for k in params:
        params[k] = params[k] + 0.3 * r.standard_normal(params[k].shape)
    params["b_h"][...] = -1.0        # halting probabilities well below 1: several ponder steps
    x = r.standard_normal((3, 4, 5))
    y = (r.random((3, 4, 2)) > 0.5).astype(float)
    return model, params, Batch(x=x, y=y, mask=np.ones((3, 4)))


def loss_and_grads(model, params, batch):
    logits, cache = model.forward_batch(params, batch)
    B = logits.shape[1]
    nats, ce = losses.sigmoid_cross_entropy_forward(logits, batch.y)
    dlogits, _ = losses.sigmoid_cross_entropy_backward(1.0 / B, ce)
    penalty, _ = model.penalty(cache, batch)
    return nats / B + penalty, model.backward(dlogits, cache), cache


def halting_margins(cache):
    """For every input step, example and ponder step up to N (but M_max): how far Σ_{k≤n} h^k
    is from the threshold 1 − ε. A finite difference must not move any of them across it."""
    out = []
    for c in cache["caches"]:
        cum = np.zeros(len(c["N"]))
        for st in c["steps"]:                       # the examples that ran ponder step n
            cum[st["idx"]] += st["h"]
            out.append(np.abs(cum[st["idx"]] - (1 - EPSILON)))
    return np.concatenate(out)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_gradient_of_the_loss_with_the_ponder_cost(cell):
    model, params, batch = tiny(cell)
    loss, grads, cache = loss_and_grads(model, params, batch)
    assert set(grads) == set(params)
    assert halting_margins(cache).min() > MARGIN, "too close to a halting threshold to check"
    N = np.stack(cache["N"])
    assert len(np.unique(N)) >= 3 and N.max() == 6      # several ponder counts, and M_max hit
    errors = check_loss(lambda: loss_and_grads(model, params, batch)[0], params, grads)
    assert max(errors.values()) < TOL, errors
    assert np.abs(grads["b_h"]).max() > 1e-3            # the ponder cost reaches the halting unit


def test_the_ponder_cost_has_the_gradient_of_minus_one_per_step_before_N():
    """With τ alone (no task loss) and one input step, dL/db_h = −τ Σ_{n<N} h^n(1 − h^n) / B:
    eqs. (14), (19). (Over several input steps the state also carries b_h's effect onward.)"""
    model, params, batch = tiny("rnn", tau=1.0)
    batch = Batch(x=batch.x[:1], y=batch.y[:1], mask=batch.mask[:1])
    logits, cache = model.forward_batch(params, batch)
    grads = model.backward(np.zeros_like(logits), cache)
    expected = 0.0
    for c in cache["caches"]:
        for n, st in enumerate(c["steps"], start=1):
            below = n < c["N"][st["idx"]]               # the examples that ponder past n
            expected -= (below * st["h"] * (1 - st["h"])).sum() / 4
    np.testing.assert_allclose(grads["b_h"][0], expected, rtol=1e-12)


def test_the_flag_bit_is_set_on_the_first_ponder_step_only():
    model, params, batch = tiny("rnn")
    _, cache = model.forward_batch(params, batch)
    for c in cache["caches"]:
        flags = [st["cell"][0][0][:, 5] for st in c["steps"]]  # the cell's input [x; flag; h]
        assert np.all(flags[0] == 1) and all(np.all(f == 0) for f in flags[1:])
        assert len(flags) > 1


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_ponder_step_runs_only_the_examples_still_running(cell):
    """A batch costs the sum of its ponder steps: the cell ran ponder step n on one row per
    example with N >= n, and on those examples."""
    model, params, batch = tiny(cell)
    _, cache = model.forward_batch(params, batch)
    for c in cache["caches"]:
        assert len({len(st["idx"]) for st in c["steps"]}) > 1             # some left early
        for n, st in enumerate(c["steps"], start=1):
            np.testing.assert_array_equal(st["idx"], np.flatnonzero(c["N"] >= n))
            assert st["out"].shape[0] == len(st["idx"])                     # what the cell ran


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_examples_halt_independently(cell):
    """A batch gives each example what it gets alone: outputs, ρ, N and (summed) gradients."""
    model, params, batch = tiny(cell)
    logits, cache = model.forward_batch(params, batch)
    _, grads, _ = loss_and_grads(model, params, batch)
    assert len(np.unique(cache["N"][0])) > 1               # they do halt at different steps
    summed = {k: 0.0 for k in grads}
    for b in range(4):
        one = Batch(x=batch.x[:, b:b + 1], y=batch.y[:, b:b + 1], mask=batch.mask[:, b:b + 1])
        l1, c1 = model.forward_batch(params, one)
        np.testing.assert_allclose(l1[:, 0], logits[:, b], rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(c1["N"][:, 0], cache["N"][:, b])
        np.testing.assert_allclose(c1["rho"][:, 0], cache["rho"][:, b], rtol=1e-12)
        _, g1, _ = loss_and_grads(model, params, one)
        for k in grads:
            summed[k] = summed[k] + g1[k] / 4                # each alone has B = 1
    for k in grads:
        np.testing.assert_allclose(summed[k], grads[k], rtol=1e-9, atol=1e-12)


def test_one_ponder_step_is_the_plain_rnn():
    from ntm_scratch.rnn import rnn_step_forward
    model, params, batch = tiny("rnn", max_ponder=1)
    logits, cache = model.forward_batch(params, batch)
    assert np.all(cache["N"] == 1) and np.all(cache["rho"] == 2.0)
    h = {"h": np.broadcast_to(params["cell_h_init"], (4, 6))}
    for t in range(3):
        x = np.concatenate([batch.x[t], np.ones((4, 1))], axis=1)
        h, out, _ = rnn_step_forward(x, h, {"W": params["cell_W"], "b": params["cell_b"]})
        np.testing.assert_allclose(logits[t], out @ params["W_y"] + params["b_y"], rtol=1e-12)


def test_parity_data():
    task = ParityTask(bits=64)
    batch = task.sample(np.random.default_rng(0), 500)
    v = batch.x[0]
    assert batch.x.shape == (1, 500, 64) and batch.y.shape == (1, 500, 1)
    assert set(np.unique(v)) == {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal((v != 0).sum(axis=1), batch.nonzero)
    assert batch.nonzero.min() == 1 and batch.nonzero.max() > 55
    np.testing.assert_array_equal(batch.y[0, :, 0], (v == 1).sum(axis=1) % 2)
    assert 0.4 < batch.y.mean() < 0.6
    fixed = task.sample(np.random.default_rng(1), 8, nonzero=3)
    assert np.all((fixed.x[0] != 0).sum(axis=1) == 3)


def test_parity_with_the_entries_first():
    """positions='first' (Fojo et al.'s layout): the k non-zero entries fill the first k places;
    the default scatters them, so late places are set as often as early ones."""
    first = ParityTask(bits=16, positions="first").sample(np.random.default_rng(0), 400)
    v = first.x[0]
    np.testing.assert_array_equal(v != 0, np.arange(16)[None, :] < first.nonzero[:, None])
    np.testing.assert_array_equal(first.y[0, :, 0], (v == 1).sum(axis=1) % 2)
    assert 0.4 < first.y.mean() < 0.6
    scattered = ParityTask(bits=16).sample(np.random.default_rng(0), 400).x[0]
    assert (scattered[:, -1] != 0).mean() > 0.35 and (v[:, -1] != 0).mean() < 0.15
    with pytest.raises(ValueError, match="positions"):
        ParityTask(bits=16, positions="last")
    moved = ParityTask(bits=16).sample(np.random.default_rng(0), 50, positions="first").x[0]
    np.testing.assert_array_equal(moved != 0, np.sort(moved != 0, axis=1)[:, ::-1])  # a prefix


def test_addition_data():
    from tasks.addition import NO_DIGIT, AdditionTask, write_number
    np.testing.assert_array_equal(write_number([0, 7, 12345, 499995], 6),
                                  [[0] + [NO_DIGIT] * 5, [7] + [NO_DIGIT] * 5,
                                   [1, 2, 3, 4, 5, NO_DIGIT], [4, 9, 9, 9, 9, 5]])
    task = AdditionTask()
    batch = task.sample(np.random.default_rng(0), 200)
    T, B, _ = batch.x.shape
    assert batch.x.shape[2] == 50 and batch.y.shape == (T, B, 6)
    lengths = batch.input_mask.sum(axis=0).astype(int)
    assert lengths.min() == 1 and lengths.max() == 5
    for b in range(B):
        total = 0
        for t in range(lengths[b]):
            shown = task.number_text(batch.x[t, b])
            assert 1 <= len(shown) == batch.digits_in[t, b] <= 5
            total += int(shown)
            written = "".join(str(d) for d in batch.y[t, b] if d != NO_DIGIT)
            assert int(written) == total                      # the running sum
            assert batch.mask[t, b] == (t >= 1)               # scored from the second step
        assert np.all(batch.mask[lengths[b]:, b] == 0) and np.all(batch.x[lengths[b]:, b] == 0)
    fixed = task.sample(np.random.default_rng(1), 4, numbers=3, n_digits=2)
    assert fixed.x.shape[0] == 3 and np.all(fixed.digits_in == 2)


def _layout(name):
    from tasks.addition import AdditionTask
    from tasks.logic import LogicTask
    return {"addition": AdditionTask(digits=2, max_numbers=3),
            "logic": LogicTask(max_steps=3, max_gates=2)}[name]


@pytest.mark.parametrize("name", ["addition", "logic"])
def test_gradient_on_a_task_layout(name):
    """ACT around an LSTM on the task's inputs and its loss (addition: 6 × 11-way softmaxes;
    logic: one sigmoid bit a step), padded steps costing nothing."""
    task = _layout(name)
    batch = task.sample(np.random.default_rng(7), 3)         # (seed: clear of the thresholds)
    model = ACTModel(task.input_size, task.output_size, hidden=5, cell="lstm", max_ponder=5,
                     tau=0.05)
    params = model.init_params(np.random.default_rng(2), np.float64)
    r = np.random.default_rng(3)
    for k in params:
        params[k] = params[k] + 0.3 * r.standard_normal(params[k].shape)
    params["b_h"][...] = -1.0

    def run():
        logits, cache = model.forward_batch(params, batch)
        loss, dlogits, _ = task.loss(logits, batch)
        return loss + model.penalty(cache, batch)[0], dlogits, cache

    loss, dlogits, cache = run()
    assert batch.input_mask.min() == 0                       # some padded steps
    assert halting_margins(cache).min() > MARGIN, "too close to a halting threshold to check"
    grads = model.backward(dlogits, cache)
    errors = check_loss(lambda: run()[0], params, grads)
    assert max(errors.values()) < TOL, errors


def test_rnn_step_gradient():
    """The tanh RNN cell alone: every input, the state and both parameters."""
    from ntm_scratch.gradcheck import check_op
    from ntm_scratch.rnn import rnn_step_backward, rnn_step_forward
    r = np.random.default_rng(5)

    def forward(x, h, W, b):
        state, y, cache = rnn_step_forward(x, {"h": h}, {"W": W, "b": b})
        return (state["h"], y), cache

    def backward(dout, cache):
        dh_state, dy = dout
        dx, dprev, dp = rnn_step_backward(dy, {"h": dh_state}, cache)
        return dx, dprev["h"], dp["W"], dp["b"]

    errors = check_op(forward, backward, {"x": r.standard_normal((3, 4)),
                                          "h": r.standard_normal((3, 5)),
                                          "W": r.standard_normal((9, 5)) / 3,
                                          "b": r.standard_normal(5)})
    assert max(errors.values()) < 1e-7, errors


def test_act_step_gradient():
    """One ACT step alone, act_step_backward against finite differences for its input, the
    previous state and every parameter (away from the halting thresholds, asserted)."""
    from ntm_scratch.act import act_step_backward, act_step_forward
    from ntm_scratch.gradcheck import check_op
    model, params, batch = tiny("rnn")
    names = sorted(params)

    def forward(x, h, *values):
        p = dict(zip(names, values))
        state, (y, rho, N), cache = act_step_forward(x, {"h": h}, p, "rnn", 6)
        return (state["h"], y, rho), cache

    def backward(dout, cache):
        dh_state, dy, drho = dout
        dx, dprev, grads = act_step_backward((dy, drho, None), {"h": dh_state}, cache)
        return (dx, dprev["h"], *[grads.get(k, np.zeros_like(params[k])) for k in names])

    x, h = batch.x[0], np.random.default_rng(6).standard_normal((4, 6)) * 0.5
    _, _, cache = act_step_forward(x, {"h": h}, params, "rnn", 6)
    assert halting_margins({"caches": [cache]}).min() > MARGIN
    errors = check_op(forward, backward, {"x": x, "h": h, **{k: params[k] for k in names}})
    assert max(errors.values()) < 1e-6, errors


def test_addition_seq_error_counts_only_sequences_with_a_sum():
    """A sequence of one number has no target: it is neither right nor wrong, so it does not
    dilute seq_error (it used to count as right)."""
    task = AdditionTask(digits=2, max_numbers=3)
    batch = task.sample(np.random.default_rng(0), 2, numbers=1)
    two = task.sample(np.random.default_rng(1), 2, numbers=2)
    T = 2
    x = np.zeros((T, 4, task.input_size))
    mask = np.concatenate([np.zeros((T, 2)), two.mask], axis=1)     # 2 unscored, 2 scored
    y = np.concatenate([np.zeros((T, 2, task.width), dtype=two.y.dtype), two.y], axis=1)
    joined = type(batch)(x=x, y=y, mask=mask, input_mask=mask, digits_in=mask)
    logits = np.zeros((T, 4, task.output_size))                     # every digit wrong, or
    logits.reshape(T, 4, task.width, 11)[..., NO_DIGIT] = 5.0        # "no digit" everywhere
    _, _, metrics = task.loss(logits, joined)
    assert float(metrics["seq_error"]) == 100.0                      # both scored ones wrong
    _, _, metrics = task.loss(logits[:, :2], type(batch)(**{k: v[:, :2] for k, v in
                                                             vars(joined).items()}))
    assert float(metrics["seq_error"]) == 0.0                        # nothing scored: 0, not 0/0


def _gate(name):
    """A gate written out by hand, as a function of (newer bit q, older bit p)."""
    return {"and": lambda q, p: q & p, "or": lambda q, p: q | p, "xor": lambda q, p: q ^ p,
            "nand": lambda q, p: 1 - (q & p), "nor": lambda q, p: 1 - (q | p),
            "xnor": lambda q, p: 1 - (q ^ p), "q and not p": lambda q, p: q & (1 - p),
            "p and not q": lambda q, p: p & (1 - q), "q or not p": lambda q, p: q | (1 - p),
            "p or not q": lambda q, p: p | (1 - q)}[name]


def test_logic_gates_are_the_ten_that_need_both_inputs():
    from tasks.logic import GATES
    tables = {tuple(GATES[i].ravel()) for i in range(len(GATES))}
    names = ["and", "or", "xor", "nand", "nor", "xnor", "q and not p", "p and not q",
             "q or not p", "p or not q"]
    expected = {tuple(_gate(n)(q, p) for q in (0, 1) for p in (0, 1)) for n in names}
    assert len(GATES) == 10 and tables == expected


def test_logic_data_follows_every_chain_from_the_previous_target():
    """Each step, read back from its one-hot slots, is replayed one example at a time."""
    from tasks.logic import GATES, N_GATES, LogicTask
    task = LogicTask()
    batch = task.sample(np.random.default_rng(0), 300)
    T, B, D = batch.x.shape
    assert D == 102 and batch.y.shape == (T, B, 1)
    lengths = batch.input_mask.sum(axis=0).astype(int)
    assert lengths.min() == 1 and lengths.max() == 10
    for b in range(B):
        prev = int(batch.x[0, b, 0])
        for t in range(lengths[b]):
            assert t == 0 or batch.x[t, b, 0] == 0                # b_prev shown once only
            p, q = prev, int(batch.x[t, b, 1])
            slots = batch.x[t, b, 2:].reshape(-1, N_GATES)
            chain = [int(s.argmax()) for s in slots if s.any()]
            assert len(chain) == batch.gates_in[t, b] and (slots.sum(axis=1) <= 1).all()
            assert not slots[len(chain):].any()                   # the chain, then zeros
            for g in chain:
                p, q = q, int(GATES[g][q, p])
            assert batch.y[t, b, 0] == q and batch.mask[t, b] == 1
            prev = q
        assert not batch.mask[lengths[b]:, b].any() and not batch.x[lengths[b]:, b].any()
    assert 0.3 < batch.y[batch.mask == 1].mean() < 0.7
    fixed = task.sample(np.random.default_rng(1), 4, length=3, n_gates=2)
    assert fixed.x.shape[0] == 3 and np.all(fixed.gates_in == 2)


def test_logic_metrics_count_sequences_and_bits():
    from tasks.logic import LogicBatch, LogicTask
    task = LogicTask(max_steps=3, max_gates=2)
    y = np.array([[[1.0], [0.0]], [[0.0], [1.0]], [[1.0], [0.0]]])      # (T=3, B=2, 1)
    mask = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    batch = LogicBatch(x=np.zeros((3, 2, task.input_size)), y=y, mask=mask, input_mask=mask)
    logits = np.where(y > 0.5, 3.0, -3.0)
    logits[1, 0, 0] = 3.0                                    # one wrong bit, in sequence 0
    logits[2, 1, 0] = 3.0                                    # wrong, but past sequence 1's end
    _, _, metrics = task.loss(logits, batch)
    assert metrics["seq_error"] == 50.0 and metrics["bit_error"] == pytest.approx(20.0)

