"""The Neural Programmer's pieces: finite-difference checks of the selector and of every
operation (float64, MATH.md's 1e-7 for one op), with the min/max kinks kept away from."""
import numpy as np
import pytest

from ntm_scratch import programmer
from ntm_scratch.gradcheck import check_op

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


def ops_forward(alpha_op, alpha_col, rs1, rs2, s1, s3, table, mask, greater, lesser):
    out, cache = programmer.operations_forward(
        alpha_op, alpha_col, {"rs1": rs1, "rs2": rs2, "s1": s1, "s3": s3}, table, mask,
        greater, lesser)
    return out, cache


def ops_backward(dout, cache):
    dop, dcol, dprev = programmer.operations_backward(dout, cache)
    return dop, dcol, dprev["rs1"], dprev["rs2"], dprev["s1"], dprev["s3"]


@pytest.mark.parametrize("seed", [1, 2])
def test_operations_gradient(seed):
    inputs, data = operation_inputs(seed)
    errors = check_op(lambda *a: ops_forward(*a, *data), ops_backward, inputs)
    assert max(errors.values()) < TOL, errors


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


def test_four_steps_gradient_for_every_parameter_and_the_question():
    """T = 4 steps of selection and operations, back through the history RNN and the outputs
    of earlier steps (the and/or kinks: every |rs_{t-1} − rs_{t-2}| that depends on the
    parameters is asserted to be at least 1e-3)."""
    from ntm_scratch.gradcheck import check_loss
    r = np.random.default_rng(7)
    _, (table, mask, greater, lesser) = operation_inputs(4)
    table = table / 50.0                                       # sums of order one
    params = programmer.programmer_init(5, 6, 4, C, r, np.float64)
    for k in params:
        params[k] = params[k] + 0.5 * r.standard_normal(params[k].shape)
    params["q"] = r.standard_normal((B, 5))
    up = {"scalar": r.standard_normal(B), "rs": r.standard_normal((B, R)),
          "lookup": r.standard_normal((B, R, C))}

    def run():
        weights = {k: v for k, v in params.items() if k != "q"}
        out, _, cache = programmer.steps_forward(weights, params["q"], table, mask, greater,
                                                 lesser, T=4)
        return sum(float((out[k] * up[k]).sum()) for k in up), cache

    loss, cache = run()
    caches = cache[0]
    for t in range(1, 4):
        ops_cache = caches[t][4]
        rs1, rs2 = ops_cache[2]["rs1"], ops_cache[2]["rs2"]
        assert np.abs(rs1 - rs2)[mask > 0].min() > 1e-3, f"step {t + 1} is near a kink"
    dq, grads = programmer.steps_backward(up, cache)
    grads["q"] = dq
    errors = check_loss(lambda: run()[0], params, grads)
    assert max(errors.values()) < 1e-6, errors              # MATH.md: through T steps
