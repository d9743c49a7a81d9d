"""The Neural Programmer's pipe (the arithmetic task): finite-difference checks in float64 of the
T steps (every parameter, the question and the numbers) and of the whole model's loss, hardmax in
evaluation, and the task's data."""
import numpy as np
import pytest

from ntm_scratch import pipe
from ntm_scratch.cli import model_sizes
from ntm_scratch.gradcheck import check_loss
from ntm_scratch.lstm import LSTMModel
from ntm_scratch.train import batch_to_device
from tasks.arithmetic import SYMBOLS, ArithmeticTask, evaluate_expression

B, N, T = 3, 4, 3


@pytest.mark.parametrize("attention", [False, True])
def test_steps_gradient_for_every_parameter_the_question_and_the_numbers(attention):
    """o_T through three steps of selection, back into the history RNN, the selectors, the
    question and the numbers (also through the outputs of earlier steps, which later steps read);
    with question attention, also into the question RNN's states (the second question a word
    shorter). Example 3 has two numbers: its last two slots are closed until the steps fill
    them."""
    r = np.random.default_rng(0)
    params = pipe.pipe_init(5 + 6 * attention, 6, 4, N + T - 1, r, np.float64)
    for k in params:
        params[k] = params[k] + 0.5 * r.standard_normal(params[k].shape)
    params["q"] = r.standard_normal((B, 5))
    params["values"] = r.uniform(-2, 2, (B, N))
    mask = np.ones((B, N), dtype=bool)
    mask[2, 2:] = False
    up = r.standard_normal(B)
    zmask = np.ones((B, 5), dtype=bool)
    zmask[1, 4] = False
    if attention:
        params["zs"] = r.standard_normal((B, 5, 6)) * zmask[..., None]

    def run():
        weights = {k: v for k, v in params.items() if k not in ("q", "values", "zs")}
        o, program, cache = pipe.pipe_steps_forward(
            weights, params["q"], params["values"] * mask, mask, T,
            states=(params["zs"], zmask) if attention else None)
        return float((o * up).sum()), program, cache

    _, program, cache = run()
    assert np.all(program[0][1][2, 2:] == 0)                   # closed slots get no weight
    dq, dvalues, grads = pipe.pipe_steps_backward(up, cache)
    if attention:
        dq, grads["zs"] = dq
    grads["q"], grads["values"] = dq, dvalues * mask
    errors = check_loss(lambda: run()[0], params, grads)
    assert max(errors.values()) < 1e-6, errors


def _pipe_and_batch(seed, attention="none", entropy=0.0, gumbel=0.0, selection="soft"):
    task = ArithmeticTask(delta=3.0)
    model = pipe.PipeModel(*model_sizes(task, "pipe"), hidden=5, embed=4,
                           question_attention=attention, entropy=entropy, gumbel=gumbel,
                           selection=selection)
    r = np.random.default_rng(seed)
    params = model.init_params(r, np.float64)
    for k in params:
        params[k] = params[k] + 0.3 * r.standard_normal(params[k].shape)
    batch = batch_to_device(task.sample(r, 5), np.float64)
    batch.values = batch.values / 4.0                     # answers on both sides of δ
    return task, model, params, batch


@pytest.mark.parametrize("seed,attention,entropy,gumbel", [
    (0, "none", 0.0, 0.0), (1, "none", 0.0, 0.0), (2, "dot", 0.0, 0.0), (3, "dot", 0.4, 0.0),
    (4, "none", 0.4, 1.5)])
def test_whole_pipe_loss_gradient(seed, attention, entropy, gumbel):
    """The Huber loss of o_T through the question RNN and the steps, every parameter, below
    docs/MATH.md's 1e-5; every |o_T − y| is asserted to be at least 1e-3 from δ (Huber's kink).
    With the entropy bonus (β > 0), the loss is the whole one, the Huber loss plus the model's
    penalty on the operation and both operand choices (closed slots included, at weight 0).
    With Gumbel noise, the same noise at every pass of one step, on all three choices, and
    closed slots still get no weight."""
    from ntm_scratch.parallel import add_penalty
    task, model, params, batch = _pipe_and_batch(seed, attention, entropy, gumbel)
    model.at_step(2, 5)                              # as the trainer does: the noise's seed

    def run():
        outs, cache = model.forward_batch(params, batch, train=True)
        loss, douts, metrics = task.loss(outs, batch)
        loss = add_penalty(model, cache, batch, loss, metrics)
        return float(loss), outs, douts, cache

    _, outs, douts, cache = run()
    if entropy:
        bonus, metrics = model.penalty(cache, batch)
        assert bonus < 0 and metrics["choice_entropy"] > 0
        assert (batch.value_mask == 0).any()                # some slots are closed
    if gumbel:
        quiet = _pipe_and_batch(seed, attention, entropy)[1]
        noisy, plain = (m.forward_batch(params, batch)[0] for m in (model, quiet))
        for k in ("op", "a", "b"):
            assert np.abs(noisy[k] - plain[k]).max() > 0.05
            np.testing.assert_array_equal(noisy[k], model.forward_batch(params, batch)[0][k])
        closed = ~batch.value_mask.astype(bool)              # at step 1, slots N.. are closed too
        assert closed.any() and np.all(noisy["a"][0][:, :closed.shape[1]][closed] == 0)
        assert np.all(noisy["a"][0][:, closed.shape[1]:] == 0)
    assert np.abs(np.abs(outs["value"] - batch.y) - task.config["delta"]).min() > 1e-3
    grads = model.backward(douts, cache)
    errors = check_loss(lambda: run()[0], params, grads)
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("seed,attention,entropy,gumbel", [
    (5, "none", 0.0, 0.0), (6, "dot", 0.4, 1.0)])
def test_straight_through_pipe_runs_discrete_programs_and_its_gradient(monkeypatch, seed,
                                                                        attention, entropy,
                                                                        gumbel):
    """`selection="straight"`: in training every choice is a one-hot, and without noise the
    answer is exactly evaluation's; with noise the programs differ from the noiseless ones.
    The backward is the exact gradient of the surrogate in which each one-hot H0 becomes
    H0 + softmax − (the softmax at these parameters) (conftest.FrozenChoices), below 1e-5, with
    the entropy bonus taken on the softmax behind each one-hot."""
    from conftest import FrozenChoices, training_loss
    task, model, params, batch = _pipe_and_batch(seed, attention, entropy, gumbel, "straight")
    if not gumbel:
        train, test = (model.forward_batch(params, batch, train)[0] for train in (True, False))
        np.testing.assert_array_equal(train["value"], test["value"])
    shown = model.forward_batch(params, batch, True, softmax=True)[0]["op"]   # figures' view
    assert ((shown > 0.01) & (shown < 0.99)).any()
    model.at_step(2, 5)
    quiet = _pipe_and_batch(seed, attention, entropy)[1].forward_batch(params, batch, False)[0]
    frozen = FrozenChoices(monkeypatch, pipe)
    run = training_loss(model, task, params, batch)
    first = run()
    _, outs, _, cache = first
    for k in ("op", "a", "b"):
        assert np.all((outs[k] == 0) | (outs[k] == 1)) and np.all(outs[k].sum(axis=-1) == 1)
    if gumbel:
        assert (quiet["op"] != outs["op"]).any()
    if entropy:
        assert model.penalty(cache, batch)[1]["choice_entropy"] > 0.5
    assert np.abs(np.abs(outs["value"] - batch.y) - task.config["delta"]).min() > 1e-3
    frozen.check(run, model, params, first)


def test_sampled_choices_are_draws_from_the_softmax():
    """`sample`: the one-hot at the largest logit plus Gumbel(0, 1) noise is a draw from the
    softmax of the logits (the Gumbel-max trick): over 40,000 draws of one selector the
    frequencies match the softmax kept in the cache within 0.01, and closed choices are never
    drawn."""
    from ntm_scratch.programmer import selector_forward, soft_choice
    r = np.random.default_rng(0)
    n, K = 40000, 5
    q, h = np.tile(r.standard_normal((1, 3)), (n, 1)), np.tile(r.standard_normal((1, 2)), (n, 1))
    W, E = r.standard_normal((5, 4)), 2.0 * r.standard_normal((K, 4))
    mask = np.ones((n, K), dtype=bool)
    mask[:, 3] = False
    drawn, cache = selector_forward(q, h, W, E, mask, noise=r.gumbel(size=(n, K)), sample=True)
    soft = soft_choice(cache)
    assert np.all(drawn.sum(axis=1) == 1) and np.all(drawn[:, 3] == 0) and soft[0, 3] == 0
    assert soft[0].max() < 0.9                                 # a spread to draw from
    assert np.abs(drawn.mean(axis=0) - soft[0]).max() < 0.01


def _sampled_pipe(seed, attention="none", entropy=0.0, samples=4):
    task, _, params, batch = _pipe_and_batch(seed, attention, entropy)
    model = pipe.PipeModel(*model_sizes(task, "pipe"), hidden=5, embed=4,
                           question_attention=attention, entropy=entropy, selection="sample",
                           samples=samples)
    model.at_step(2, 5)                              # as the trainer does: the draws' seed
    return task, model, params, batch


@pytest.mark.parametrize("seed,attention,entropy", [(7, "none", 0.0), (8, "dot", 0.4)])
def test_sampled_programs_log_probability_gradient(seed, attention, entropy):
    """`selection="sample"`: K drawn programs for each question, one-hot choices; 'log_p' is the
    sum of the log-softmax at the draws (checked against the softmax kept for each choice).
    The backward of random upstream gradients of every draw's log_p (plus the entropy bonus)
    agrees with central differences below 1e-5, the draws held by the same noise; the questions'
    K rows share one question RNN pass. A gradient of the drawn programs' values reaches no
    parameter: their choices are constants."""
    task, model, params, batch = _sampled_pipe(seed, attention, entropy)
    B, K = batch.y.shape[0], 4
    up = np.random.default_rng(seed).standard_normal(B * K)

    def run():
        outs, cache = model.forward_batch(params, batch, train=True)
        bonus = model.penalty(cache, batch)[0] if entropy else 0.0
        return float((up * outs["log_p"]).sum() + bonus), outs, cache

    _, outs, cache = run()
    assert outs["value"].shape == (B * K,) and outs["op"].shape[1] == B * K
    for k in ("op", "a", "b"):
        assert np.all((outs[k] == 0) | (outs[k] == 1)) and np.all(outs[k].sum(axis=-1) == 1)
    rows = outs["a"][0].reshape(B, K, -1)
    assert (rows != rows[:, :1]).any()                       # a question's draws differ
    read = cache[1][0][0][8][:, :batch.values.shape[1]]    # the numbers step 1 read, per row
    np.testing.assert_array_equal(read.reshape(B, K, -1),    # rows b·K.. are question b's
                                  np.broadcast_to(batch.values[:, None], (B, K, read.shape[1])))
    assert len(np.unique(batch.values, axis=0)) == B
    soft = model._choices(cache[:2])
    expected = sum(np.log((drawn * s).sum(axis=1)) for t, step in enumerate(soft)
                   for drawn, s in zip((outs["op"][t], outs["a"][t], outs["b"][t]), step))
    np.testing.assert_allclose(outs["log_p"], expected, rtol=1e-12)
    assert outs["log_p"].max() < 0
    zero = np.zeros(B * K)
    grads = model.backward({"value": zero, "log_p": up}, cache)
    assert min(abs(grads[k]).max() for k in ("U", "W_op", "E_b", "W_hist", "q_W")) > 1e-3
    errors = check_loss(lambda: run()[0], params, grads)
    assert max(errors.values()) < 1e-5, errors
    if not entropy:
        through_values = model.backward({"value": up, "log_p": zero}, cache)
        assert all(np.all(g == 0) for g in through_values.values())


def test_sampled_loss_rewards_the_draws_that_hit():
    """The task's loss for drawn programs: each hit of question b weighs 1 / (its hits), the
    loss is −(1/B)·Σ w·log p, a question without a hit adds nothing; the metrics are the share
    of draws that miss and of questions with a hit. Through the model, a question whose draws
    all hit and all miss gets the same gradient whatever their values."""
    task = ArithmeticTask()
    batch = task.sample(np.random.default_rng(0), 2, numbers=2)
    y = batch.y
    value = np.array([y[0], y[0] + 0.4, y[0] + 3.0, y[1] - 0.6, y[1] + 7.0, y[1] + 0.7])
    log_p = np.log(np.array([0.2, 0.1, 0.3, 0.05, 0.5, 0.25]))
    loss, douts, metrics = task.loss({"value": value, "log_p": log_p}, batch)
    w = np.array([0.5, 0.5, 0.0, 0.0, 0.0, 0.0]) / 2
    np.testing.assert_allclose(douts["log_p"], -w)
    np.testing.assert_allclose(loss, -(w * log_p).sum())
    assert np.all(douts["value"] == 0)
    assert metrics["error"] == pytest.approx(100 * 4 / 6) and metrics["found"] == 50.0


def test_sampled_pipe_options():
    """`samples` only with `selection="sample"`, at least 1; no extra Gumbel noise on the
    draws; the table model has no sampled selection."""
    from ntm_scratch.programmer import ProgrammerModel
    for kwargs in ({"samples": 8}, {"selection": "sample", "samples": 0},
                   {"selection": "sample", "gumbel": 1.0}):
        with pytest.raises(ValueError):
            pipe.PipeModel(5, 4, **kwargs)
    with pytest.raises(ValueError):
        ProgrammerModel(5, 3, selection="sample")
    model = pipe.PipeModel(5, 4, selection="sample", samples=8)
    assert model.config["selection"] == "sample" and model.config["samples"] == 8
    assert "samples" not in pipe.PipeModel(5, 4).config


def test_lstm_baseline_loss_gradient_reads_the_last_symbol():
    """The LSTM answers at each expression's last symbol: the loss's gradient reaches the logits
    there and nowhere else, and the whole loss checks against finite differences."""
    task = ArithmeticTask(delta=3.0)
    model = LSTMModel(*model_sizes(task, "lstm"), hidden=4, layers=1)
    r = np.random.default_rng(2)
    params = model.init_params(r, np.float64)
    batch = batch_to_device(task.sample(r, 4), np.float64)

    def run():
        logits, cache = model.forward_batch(params, batch)
        loss, dlogits, _ = task.loss(logits, batch)
        return float(loss), dlogits, cache

    _, dlogits, cache = run()
    assert np.all(dlogits[..., 0][batch.last == 0] == 0)
    grads = model.backward(dlogits, cache)
    errors = check_loss(lambda: run()[0], params, grads)
    assert max(errors.values()) < 1e-5, errors


def test_hardmax_program_is_one_hot_and_its_answer_exact():
    """In evaluation each step picks one operation and two open operands, and o_T is what that
    program computes with plain arithmetic."""
    task, model, params, batch = _pipe_and_batch(3)
    outs, _ = model.forward_batch(params, batch, train=False)
    for k in ("op", "a", "b"):
        assert np.all(outs[k].sum(axis=2) == 1) and np.all((outs[k] == 0) | (outs[k] == 1))
    for b in range(batch.y.shape[0]):
        slots = list(batch.values[b])
        for t in range(outs["op"].shape[0]):
            x, y = slots[int(outs["a"][t, b].argmax())], slots[int(outs["b"][t, b].argmax())]
            assert int(outs["a"][t, b].argmax()) < N + t and \
                (int(outs["a"][t, b].argmax()) >= N or batch.value_mask[b, outs["a"][t, b].argmax()])
            op = pipe.PIPE_OPS[int(outs["op"][t, b].argmax())]
            slots.append({"add": x + y, "subtract": x - y, "multiply": x * y, "first": x}[op])
        assert outs["value"][b] == pytest.approx(slots[-1], abs=1e-12)


def test_expressions_and_their_values():
    """Values against Python's own arithmetic; the pipe's words and the LSTM's symbols say the
    same expression."""
    assert evaluate_expression([3, 4, 5, 6], ["+", "*", "-"]) == 17
    task = ArithmeticTask()
    b = task.sample(np.random.default_rng(4), 300)
    for i in range(300):
        text = task.text(b, i)
        assert b.y[i] == eval(text.replace(" ", "")), text
        length = int(b.last[:, i].argmax()) + 1
        symbols = "".join(SYMBOLS[k] for k in b.x[:length, i].argmax(axis=1))
        assert symbols == text.replace(" ", "")
    assert set(b.numbers) == {2, 3, 4}
    assert np.all(b.values[~b.value_mask] == 0)



def test_one_operator_pattern_for_every_expression():
    """`operators` fixes every expression's pattern (and so how many numbers it joins); 'all'
    lists the 39 patterns of up to three operators; a pattern the task cannot make is refused."""
    task = ArithmeticTask()
    patterns = task.operator_patterns()
    assert len(patterns) == len(set(patterns)) == 3 + 9 + 27 and patterns[:3] == ["+", "-", "*"]
    assert task.expand_varied("operators", ["-*", "all"]) == patterns
    assert task.expand_varied("numbers", [2, 3]) == [2, 3]
    b = task.sample(np.random.default_rng(1), 50, operators="-*")
    assert set(b.numbers) == {3}
    for i in range(50):
        text = task.text(b, i)
        assert text.split()[1::2] == ["-", "*"] and b.y[i] == eval(text.replace(" ", ""))
    for bad in ("", "-/", "+-*+"):
        with pytest.raises(ValueError):
            task.sample(np.random.default_rng(0), 2, operators=bad)
    with pytest.raises(ValueError):
        task.sample(np.random.default_rng(0), 2, numbers=2, operators="-*")
