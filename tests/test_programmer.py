"""The Neural Programmer's pieces: finite-difference checks of the selector and of every
operation (float64, docs/MATH.md's 1e-7 for one op), with the min/max kinks kept away from."""
import numpy as np
import pytest

from ntm_scratch import programmer
from ntm_scratch.gradcheck import check_loss, check_op
from ntm_scratch.programmer import ProgrammerModel
from tasks.table_qa import NAMES, TEMPLATES, TableQATask

TOL = 1e-7
B, R, C = 3, 6, 2


def test_selector_gradient():
    r = np.random.default_rng(0)
    errors = check_op(programmer.selector_forward, programmer.selector_backward,
                      {"q": r.standard_normal((B, 4)), "h": r.standard_normal((B, 5)),
                       "W": r.standard_normal((9, 7)) / 3, "E": r.standard_normal((9, 7))})
    assert max(errors.values()) < TOL, errors


def operation_inputs(seed=1):
    """Weights from softmaxes; row selections in (0, 1) with |rs1 − rs2| ≥ 0.05 everywhere (away
    from min and max's kink, also on the padded rows: the last two of example 2, where rs1 is 0
    as in a real run and rs2 is 0.5 only to keep the check off the kink)."""
    r = np.random.default_rng(seed)
    mask = np.ones((B, R))
    mask[2, 4:] = 0
    soft = lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    rs1 = r.uniform(0.05, 0.95, (B, R))
    gap = r.uniform(0.1, 0.4, (B, R)) * np.where(r.random((B, R)) < 0.5, -1, 1)
    rs2 = np.clip(rs1 + gap, 0.0, 1.0)
    assert np.abs(rs1 - rs2).min() >= 0.05
    table = np.round(r.uniform(-100, 100, (B, R, C))) * mask[..., None]
    pivot_g, pivot_l = r.uniform(-50, 50, B), r.uniform(-50, 50, B)
    greater = (table > pivot_g[:, None, None]) * mask[..., None]
    lesser = (table < pivot_l[:, None, None]) * mask[..., None]
    return {"alpha_op": soft(r.standard_normal((B, len(programmer.OPS)))),
            "alpha_col": soft(r.standard_normal((B, C))),
            "rs1": rs1 * mask, "rs2": np.where(mask > 0, rs2, 0.5),
            "s1": r.standard_normal(B) * 10, "s3": r.standard_normal(B) * 10}, \
        (table, mask, greater, lesser)


def ops_forward(alpha_op, alpha_col, rs1, rs2, s1, s3, table, mask, greater, lesser,
                logic="minmax"):
    out, cache = programmer.operations_forward(
        alpha_op, alpha_col, {"rs1": rs1, "rs2": rs2, "s1": s1, "s3": s3}, table, mask,
        greater, lesser, logic)
    return out, cache


def ops_backward(dout, cache):
    dop, dcol, dprev = programmer.operations_backward(dout, cache)
    return dop, dcol, dprev["rs1"], dprev["rs2"], dprev["s1"], dprev["s3"]


@pytest.mark.parametrize("seed,logic", [(1, "minmax"), (2, "minmax"), (3, "product")])
def test_operations_gradient(seed, logic):
    inputs, data = operation_inputs(seed)
    errors = check_op(lambda *a: ops_forward(*a, *data, logic), ops_backward, inputs)
    assert max(errors.values()) < TOL, errors


def test_product_logic_is_min_max_on_hard_selections_and_below_min_on_soft_ones():
    """On 0/1 row selections the product's and/or are min/max; on soft ones and = rs1·rs2 is
    below min(rs1, rs2) (so it selects less even when rs1 = rs2) and or is above the max."""
    inputs, data = operation_inputs(4)
    r = np.random.default_rng(4)
    for name in ("and", "or"):
        op = np.zeros_like(inputs["alpha_op"])
        op[:, programmer.OP[name]] = 1.0
        hard = {**inputs, "alpha_op": op, "rs1": (r.random((B, R)) < 0.5) * data[1],
                "rs2": (r.random((B, R)) < 0.5) * data[1]}
        (mm, _), (pr, _) = (ops_forward(**hard, table=data[0], mask=data[1], greater=data[2],
                                        lesser=data[3], logic=lg) for lg in programmer.LOGIC)
        np.testing.assert_array_equal(mm["rs"], pr["rs"])
        rs1 = r.uniform(0.1, 0.9, (B, R))
        rs2 = np.where(r.random((B, R)) < 0.5, rs1, r.uniform(0.1, 0.9, (B, R)))  # some equal
        soft = {**inputs, "alpha_op": op, "rs1": rs1, "rs2": rs2}
        (mm, _), (pr, _) = (ops_forward(**soft, table=data[0], mask=data[1], greater=data[2],
                                        lesser=data[3], logic=lg) for lg in programmer.LOGIC)
        below = pr["rs"] < mm["rs"] if name == "and" else pr["rs"] > mm["rs"]
        assert np.all(below), name


def test_each_operation_alone_does_what_it_says():
    """With all the weight on one operation and one column, the output is that operation's."""
    inputs, (table, mask, greater, lesser) = operation_inputs(3)
    rs1, s1, s3 = inputs["rs1"], inputs["s1"], inputs["s3"]
    rs2 = inputs["rs2"] * mask                                   # padded rows: 0, as in a run
    col = np.zeros((B, C))
    col[:, 1] = 1.0
    for name, k in programmer.OP.items():
        op = np.zeros((B, len(programmer.OPS)))
        op[:, k] = 1.0
        out, _ = ops_forward(op, col, rs1, rs2, s1, s3, table, mask, greater, lesser)
        expected_scalar = {"sum": (rs1 * table[:, :, 1]).sum(axis=1), "count": rs1.sum(axis=1),
                           "difference": s3 - s1}.get(name, np.zeros(B))
        expected_rs = {"greater": greater[:, :, 1], "lesser": lesser[:, :, 1],
                       "and": np.minimum(rs1, rs2), "or": np.maximum(rs1, rs2),
                       "reset": mask}.get(name, np.zeros((B, R)))
        np.testing.assert_allclose(out["scalar"], expected_scalar, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(out["rs"], expected_rs, atol=1e-12, err_msg=name)
        lookup = np.zeros((B, R, C))
        if name == "print":
            lookup[:, :, 1] = rs1
        np.testing.assert_allclose(out["lookup"], lookup, atol=1e-12, err_msg=name)
        assert np.all(out["rs"][2, 4:] == 0) and np.all(out["lookup"][2, 4:] == 0)   # padding


def _question_states(r, L=4, H=6):
    """The question RNN's states after each of L words, (B, L, H), and their mask: the second
    question is a word shorter (its last state is zero, as question_forward leaves padding)."""
    mask = np.ones((B, L), dtype=bool)
    mask[1, L - 1] = False
    return r.standard_normal((B, L, H)) * mask[..., None], mask


def test_question_attention_gradient_and_padding():
    """c^q = Σ_i β_i z_i with β = softmax_i(h·z_i): the gradients of the query and of every
    state, against finite differences; a padded word gets β = 0 and no gradient."""
    r = np.random.default_rng(11)
    zs, mask = _question_states(r)
    params = {"h": r.standard_normal((B, 6)), "zs": zs}
    up = r.standard_normal((B, 6))

    def run():
        (beta, context), cache = programmer.question_attention_forward(params["h"],
                                                                       params["zs"], mask)
        return float((context * up).sum()), beta, cache

    _, beta, cache = run()
    assert np.all(beta[~mask] == 0) and np.allclose(beta.sum(axis=1), 1.0)
    dh, dzs = programmer.question_attention_backward(up, cache)
    assert np.all(dzs[~mask] == 0)
    errors = check_loss(lambda: run()[0], params, {"h": dh, "zs": dzs})
    assert max(errors.values()) < TOL, errors


def test_question_read_gradient_with_and_without_attention():
    """What the selectors read: [q; c^q] with attention, back into q, the query h and every
    word's state (question_read_backward, against finite differences); q itself without."""
    r = np.random.default_rng(12)
    zs, mask = _question_states(r)
    params = {"q": r.standard_normal((B, 5)), "h": r.standard_normal((B, 6)), "zs": zs}
    up = r.standard_normal((B, 11))

    def run():
        read, _, cache = programmer.question_read_forward(params["q"], params["h"],
                                                          (params["zs"], mask))
        return float((read * up).sum()), cache

    _, cache = run()
    dq, dh, dzs = programmer.question_read_backward(up, cache)
    errors = check_loss(lambda: run()[0], params, {"q": dq, "h": dh, "zs": dzs})
    assert max(errors.values()) < TOL, errors
    read, beta, cache = programmer.question_read_forward(params["q"], params["h"], None)
    assert read is params["q"] and beta is None
    dq, dh, dzs = programmer.question_read_backward(up[:, :5], cache)
    assert np.array_equal(dq, up[:, :5])
    assert dh == 0.0 and dzs == 0.0


@pytest.mark.parametrize("attention", [False, True])
def test_four_steps_gradient_for_every_parameter_and_the_question(attention):
    """T = 4 steps of selection and operations, back through the history RNN and the outputs
    of earlier steps (the and/or kinks: every |rs_{t-1} − rs_{t-2}| that depends on the
    parameters is asserted to be at least 1e-3); with question attention, also back into the
    question RNN's states."""
    r = np.random.default_rng(7)
    _, (table, mask, greater, lesser) = operation_inputs(4)
    table = table / 50.0                                       # sums of order one
    params = programmer.programmer_init(5 + 6 * attention, 6, 4, C, r, np.float64)
    for k in params:
        params[k] = params[k] + 0.5 * r.standard_normal(params[k].shape)
    params["q"] = r.standard_normal((B, 5))
    zs, zmask = _question_states(r)
    if attention:
        params["zs"] = zs
    up = {"scalar": r.standard_normal(B), "rs": r.standard_normal((B, R)),
          "lookup": r.standard_normal((B, R, C))}

    def run():
        weights = {k: v for k, v in params.items() if k not in ("q", "zs")}
        states = (params["zs"], zmask) if attention else None
        out, _, cache = programmer.steps_forward(weights, params["q"], table, mask, greater,
                                                 lesser, T=4, states=states)
        return sum(float((out[k] * up[k]).sum()) for k in up), cache

    loss, cache = run()
    caches = cache[0]
    for t in range(1, 4):
        ops_cache = caches[t][4]
        rs1, rs2 = ops_cache[2]["rs1"], ops_cache[2]["rs2"]
        assert np.abs(rs1 - rs2)[mask > 0].min() > 1e-3, f"step {t + 1} is near a kink"
    dq, grads = programmer.steps_backward(up, cache)
    if attention:
        dq, grads["zs"] = dq
    grads["q"] = dq
    errors = check_loss(lambda: run()[0], params, grads)
    assert max(errors.values()) < 1e-6, errors              # docs/MATH.md: through T steps


# ----------------------------------------------------------------------------- the whole model
def test_question_rnn_gradient_with_padding():
    """The question RNN's last state, back to the embeddings and the RNN's weights; the second
    question is two words shorter, so its padding must carry the state through."""
    r = np.random.default_rng(3)
    params = programmer.question_init(7, 3, 4, r, np.float64)
    words = r.integers(1, 7, size=(5, B))
    mask = np.ones((5, B), dtype=bool)
    mask[3:, 1] = False
    words[3:, 1] = 0
    up = r.standard_normal((B, 4))

    def run():
        q, _, cache = programmer.question_forward(params, words, mask)
        return float((q * up).sum()), q, cache

    _, q, cache = run()
    grads = programmer.question_backward(up, cache)
    errors = check_loss(lambda: run()[0], params, grads)
    assert max(errors.values()) < 1e-7, errors
    short, _, _ = programmer.question_forward(params, words[:3, 1:2], mask[:3, 1:2])
    np.testing.assert_allclose(q[1:2], short, atol=1e-14)       # padding changed nothing


def test_entropy_gradient_and_its_values():
    """H = −Σ α log α: finite differences on the simplex's inside; ln K at the uniform choice,
    0 at a one-hot one (whose zero weights add nothing, and no NaN)."""
    r = np.random.default_rng(3)
    alpha = r.dirichlet(np.ones(5), size=B)
    errors = check_op(programmer.entropy_forward, programmer.entropy_backward, {"alpha": alpha})
    assert max(errors.values()) < TOL, errors
    H, _ = programmer.entropy_forward(np.vstack([np.full(5, 0.2), np.eye(5)[1]]))
    np.testing.assert_allclose(H, [np.log(5), 0.0], atol=1e-15)
    d = programmer.entropy_backward(np.ones(1), programmer.entropy_forward(np.eye(4)[2:3])[1])
    assert np.isfinite(d).all()


def _model_and_batch(columns, seed, attention="none", logic="minmax", entropy=0.0, gumbel=0.0,
                     selection="soft"):
    from ntm_scratch.train import batch_to_device
    task = TableQATask(columns=columns, delta=5.0, lam=3.0)
    model = ProgrammerModel(task.input_size, task.output_size, hidden=5, embed=4,
                            question_attention=attention, logic=logic, entropy=entropy,
                            gumbel=gumbel, selection=selection)
    r = np.random.default_rng(seed)
    params = model.init_params(r, np.float64)
    for k in params:                                   # away from the symmetric start
        params[k] = params[k] + 0.3 * r.standard_normal(params[k].shape)
    batch = batch_to_device(task.sample(r, 4), np.float64)
    batch.table = batch.table / 50.0                   # answers of order one: the Huber loss
    batch.y = batch.y / 50.0                           # on both sides of δ
    return task, model, params, batch


@pytest.mark.parametrize("columns,seed,attention,logic,entropy,gumbel", [
    (1, 0, "none", "minmax", 0.0, 0.0), (3, 1, "none", "minmax", 0.0, 0.0),
    (1, 2, "dot", "product", 0.0, 0.0), (3, 4, "dot", "product", 0.7, 0.0),
    (3, 6, "dot", "product", 0.7, 1.5)])
def test_whole_model_loss_gradient(columns, seed, attention, logic, entropy, gumbel):
    """The table-qa loss (Huber on scalar answers, log-loss on lookups) through the programmer:
    every parameter, float64, below docs/MATH.md's 1e-5 for a whole model's loss. Kept away from the
    kinks, and asserted: every |scalar − y| is at least 1e-3 from δ, and every |rs_{t-1} −
    rs_{t-2}| that depends on the parameters is at least 1e-4. With question attention the
    question RNN's weights also get gradient through every word's state. With the entropy
    bonus (β > 0) the loss is the whole one, the task's plus the model's penalty, and the
    backward adds the penalty's term (operations and, with 3 columns, columns). With Gumbel
    noise (σ > 0) every forward pass of one step draws the same noise, a constant of the
    loss; the noise is asserted to change the choices, and evaluation to have none."""
    from ntm_scratch.parallel import add_penalty
    task, model, params, batch = _model_and_batch(columns, seed, attention, logic, entropy,
                                                  gumbel)
    model.at_step(3, 1)                              # as the trainer does: the noise's seed

    def run():
        outs, cache = model.forward_batch(params, batch, train=True)
        loss, douts, metrics = task.loss(outs, batch)
        loss = add_penalty(model, cache, batch, loss, metrics)
        return float(loss), outs, douts, cache

    if entropy:
        _, outs, _, cache = run()
        bonus, metrics = model.penalty(cache, batch)
        assert bonus < 0 and metrics["choice_entropy"] > 0
    if gumbel:
        quiet = _model_and_batch(columns, seed, attention, logic, entropy)[1]
        ops = lambda m, train=True: m.forward_batch(params, batch, train)[0]["op"]
        assert np.abs(ops(model) - ops(quiet)).max() > 0.05        # the noise moves the choices,
        np.testing.assert_array_equal(ops(model), ops(model))      # the same at every pass,
        np.testing.assert_array_equal(ops(model, False), ops(quiet, False))  # none in evaluation
        model.seed = None                                # nor outside training (figures)
        np.testing.assert_array_equal(ops(model), ops(quiet))

    _, outs, douts, cache = run()
    a = np.abs(outs["scalar"] - batch.y)[batch.is_lookup == 0]
    assert np.abs(a - task.config["delta"]).min() > 1e-3, "a scalar answer is at Huber's kink"
    for t, step in enumerate(cache[1][0][1:], start=2):
        prev = step[4][2]
        gap = np.abs(prev["rs1"] - prev["rs2"])[batch.row_mask > 0]
        assert gap.min() > 1e-4, f"step {t} is near the min/max kink"
    assert 0 < batch.is_lookup.sum() < len(batch.is_lookup)        # both losses are checked
    grads = model.backward(douts, cache)
    errors = check_loss(lambda: run()[0], params, grads)
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("columns,seed,attention,logic,entropy,gumbel", [
    (1, 10, "none", "product", 0.0, 0.0), (3, 7, "dot", "product", 0.7, 1.0)])
def test_straight_through_programs_and_their_gradient(monkeypatch, columns, seed, attention,
                                                      logic, entropy, gumbel):
    """`selection="straight"`: in training every operation and column choice is a one-hot, and
    without noise the answers are exactly evaluation's. The backward is the exact gradient of
    the surrogate in which each one-hot H0 becomes H0 + softmax − (the softmax here)
    (conftest.FrozenChoices), below 1e-5, with the entropy bonus on the softmax behind each
    one-hot (product logic: one-hot choices make many rows' rs_{t-1} and rs_{t-2} equal, the
    kink of min/max). Every question is scored as a scalar one here: a one-hot program's
    lookup is 0 or 1 in every cell, where the log-loss's curvature, about 1/ε² = 1e12, swamps
    any finite difference (the lookup's own backward is the soft tests' above)."""
    from conftest import FrozenChoices, training_loss
    from ntm_scratch import programmer
    task, model, params, batch = _model_and_batch(columns, seed, attention, logic, entropy,
                                                  gumbel, "straight")
    batch.is_lookup = np.zeros_like(batch.is_lookup)
    if not gumbel:
        train, test = (model.forward_batch(params, batch, train)[0] for train in (True, False))
        for k in ("scalar", "lookup"):
            np.testing.assert_array_equal(train[k], test[k])
    shown = model.forward_batch(params, batch, True, softmax=True)[0]["op"]   # figures' view
    assert ((shown > 0.01) & (shown < 0.99)).any()
    model.at_step(3, 1)
    frozen = FrozenChoices(monkeypatch, programmer)
    run = training_loss(model, task, params, batch)
    first = run()
    _, outs, _, cache = first
    for k in ("op", "col"):
        assert np.all((outs[k] == 0) | (outs[k] == 1)) and np.all(outs[k].sum(axis=-1) == 1)
    if entropy:
        assert model.penalty(cache, batch)[1]["choice_entropy"] > 0.5
    a = np.abs(outs["scalar"] - batch.y)[batch.is_lookup == 0]
    assert np.abs(a - task.config["delta"]).min() > 1e-3, "a scalar answer is at Huber's kink"
    frozen.check(run, model, params, first)


def test_every_template_has_its_own_four_step_program():
    """Each template's own program (TableQATask.own_program), run with one-hot selections,
    answers every question of that template right: the operations do what the templates need,
    and the task's answers are what the programs compute."""
    for columns in (1, 3):
        task = TableQATask(columns=columns)
        r = np.random.default_rng(columns)
        for k, name in enumerate(NAMES):
            for split in ("train", "test"):
                b = task.sample(r, 16, split=split, template=k)
                programs = [task.own_program(t, c) for t, c in zip(b.template, b.cols)]
                ops = np.array([[programmer.OP[o] for o in p[0]] for p in programs]).T
                cols = np.array([p[1] for p in programs]).T
                out = programmer.run_program(ops, cols, b.table, b.row_mask, b.greater,
                                             b.lesser)
                ok = task.answered(out, b)
                assert ok.all(), (columns, name, split)


def test_answers_against_a_plain_loop():
    """The vectorised answers equal a question-by-question reading of the template."""
    task = TableQATask(columns=3)
    b = task.sample(np.random.default_rng(5), 200)
    for i in range(200):
        conds, logic, final = TEMPLATES[b.template[i]]
        rows = [r for r in range(b.table.shape[1]) if b.row_mask[i, r]]
        keep = []
        for r in rows:
            tests = [b.table[i, r, b.cols[i, j]] > b.pivots[i, 0] if c == "greater"
                     else b.table[i, r, b.cols[i, j]] < b.pivots[i, 1] for j, c in enumerate(conds)]
            if not tests or (any(tests) if logic == "or" else all(tests)):
                keep.append(r)
        col = b.table[i, :, b.cols[i, 2]]
        expected = {"sum": sum(col[r] for r in keep), "count": len(keep),
                    "sum diff count": sum(col[r] for r in rows) - len(rows),
                    "count diff sum": len(rows) - sum(col[r] for r in rows)}.get(final, 0)
        assert b.y[i] == expected, task.question_text(b.template[i], b.cols[i], b.pivots[i])
        if final == "print":
            target = np.zeros_like(b.target[i])
            target[keep, b.cols[i, 2]] = 1
            assert np.array_equal(b.target[i], target)
    assert set(b.template) == set(range(len(NAMES)))


def test_hardmax_gives_one_hot_choices_and_an_exact_program():
    """In evaluation every softmax is a hardmax: each step's choice is one-hot, and the answer is
    what run_program gives for that program."""
    task, model, params, batch = _model_and_batch(3, 2)
    outs, _ = model.forward_batch(params, batch, train=False)
    for name in ("op", "col"):
        assert np.all((outs[name] == 0) | (outs[name] == 1))
        assert np.all(outs[name].sum(axis=2) == 1)
    out = programmer.run_program(outs["op"].argmax(axis=2), outs["col"].argmax(axis=2),
                                 batch.table, batch.row_mask, batch.greater, batch.lesser)
    np.testing.assert_array_equal(out["scalar"], outs["scalar"])
    np.testing.assert_array_equal(out["lookup"], outs["lookup"])


def test_pivots_make_bands_and_tails():
    """and-questions ask for a band (pivot_g ≤ pivot_l), or-questions for two tails."""
    task = TableQATask()
    b = task.sample(np.random.default_rng(0), 400)
    logic = np.array([TEMPLATES[t][1] for t in b.template])
    assert np.all(b.pivots[logic == "and", 0] <= b.pivots[logic == "and", 1])
    assert np.all(b.pivots[logic == "or", 0] >= b.pivots[logic == "or", 1])
