"""Attention and the encoder–decoder: gradients of the whole model's loss, masking, greedy
decoding, and the reverse task's data."""
import numpy as np
import pytest
from op_cases import SOURCE_MASK

from ntm_scratch import attention, losses
from ntm_scratch.gradcheck import check_loss
from ntm_scratch.seq2seq import Seq2SeqModel
from tasks.reverse import ReverseTask
from tasks.tokens import EOS, TokenBatch

TOL = 1e-5   # docs/MATH.md: a whole model's loss

KINDS = [("additive", "no"), ("additive", "yes"), ("dot", "no"), ("general", "no"),
         ("general", "yes"), ("none", "no"), ("none", "yes")]


def tiny_batch(seed=0, V=7):
    """Three sources of lengths 5, 3, 1 and targets of lengths 4, 2, 3 (padded, masked)."""
    r = np.random.default_rng(seed)
    S, T = 5, 4
    src_mask = np.arange(S)[:, None] < np.array([5, 3, 1])
    mask = (np.arange(T)[:, None] < np.array([4, 2, 3])).astype(np.float64)
    x = r.integers(3, V, (S, 3)) * src_mask
    y = r.integers(2, V, (T, 3)) * (mask > 0)
    return TokenBatch(x=x, src_mask=src_mask, y=y, mask=mask)


def tiny_model(kind, bidirectional, layers=1, seed=1):
    model = Seq2SeqModel(7, 7, hidden=4, embed=3, layers=layers, attention=kind,
                         bidirectional=bidirectional)
    params = model.init_params(np.random.default_rng(seed), np.float64)
    r = np.random.default_rng(seed + 1)   # away from the small initial values, so every
    for k in params:                      # gradient is large enough to be checked
        params[k] = params[k] + 0.5 * r.standard_normal(params[k].shape)
    return model, params


def loss_and_grads(model, params, batch):
    logits, cache = model.forward_batch(params, batch)
    B = logits.shape[1]
    nats, ce = losses.softmax_cross_entropy_forward(logits, batch.y, batch.mask)
    grads = model.backward(losses.softmax_cross_entropy_backward(1.0 / B, ce), cache)
    return nats / B, grads


@pytest.mark.parametrize("kind,bidirectional", KINDS)
def test_gradient_of_the_whole_loss(kind, bidirectional):
    """Every parameter, for every score kind, with padded sources and targets."""
    model, params = tiny_model(kind, bidirectional, layers=2 if bidirectional == "no" else 1)
    batch = tiny_batch()
    _, grads = loss_and_grads(model, params, batch)
    assert set(grads) == set(params)
    errors = check_loss(lambda: loss_and_grads(model, params, batch)[0], params, grads)
    assert max(errors.values()) < TOL, errors


def test_a_padded_position_gets_zero_weight_and_zero_gradient():
    r = np.random.default_rng(3)
    e, h = 3 * r.standard_normal((3, 5)), r.standard_normal((3, 5, 4))
    (alpha, c), cache = attention.attend_forward(e, SOURCE_MASK, h)
    assert np.all(alpha[~SOURCE_MASK] == 0.0)
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, rtol=1e-12)
    de, dh = attention.attend_backward((r.standard_normal((3, 5)), r.standard_normal((3, 4))),
                                       cache)
    assert np.all(de[~SOURCE_MASK] == 0.0) and np.all(dh[~SOURCE_MASK] == 0.0)
    assert np.all(de[:2][SOURCE_MASK[:2]] != 0.0)
    assert np.all(de[2] == 0.0)              # one real position: α = 1 whatever its score


@pytest.mark.parametrize("kind,bidirectional", KINDS)
def test_padding_changes_nothing(kind, bidirectional):
    """What the padded source positions hold, and how much padding a batch has, do not change
    any example's logits or its gradient: each example equals itself run alone."""
    model, params = tiny_model(kind, bidirectional)
    batch = tiny_batch()
    logits, _ = model.forward_batch(params, batch)
    _, grads = loss_and_grads(model, params, batch)
    noisy = TokenBatch(x=np.where(batch.src_mask, batch.x, 5), src_mask=batch.src_mask,
                       y=batch.y, mask=batch.mask)
    np.testing.assert_array_equal(model.forward_batch(params, noisy)[0], logits)
    summed = {k: 0.0 for k in grads}
    for b in range(3):
        S = int(batch.src_mask[:, b].sum())
        alone = TokenBatch(x=batch.x[:S, b:b + 1], src_mask=batch.src_mask[:S, b:b + 1],
                           y=batch.y[:, b:b + 1], mask=batch.mask[:, b:b + 1])
        np.testing.assert_allclose(model.forward_batch(params, alone)[0][:, 0], logits[:, b],
                                   rtol=1e-10, atol=1e-12)
        for k, g in loss_and_grads(model, params, alone)[1].items():
            summed[k] = summed[k] + g / 3                      # each alone has B = 1
    for k in grads:
        np.testing.assert_allclose(summed[k], grads[k], rtol=1e-9, atol=1e-12)
    assert np.all(grads["src_embed"][0] == 0)                  # the padding token learns nothing


@pytest.mark.parametrize("kind", ["additive", "general", "none"])
def test_greedy_decoding_is_teacher_forcing_on_its_own_output(kind):
    """Fed its own argmax as the target, the teacher-forced pass gives the greedy logits: the
    two share one decoder step."""
    model, params = tiny_model(kind, "no")
    batch = tiny_batch()
    greedy, aux = model.forward_batch(params, batch, train=False)
    own = TokenBatch(x=batch.x, src_mask=batch.src_mask, y=greedy.argmax(axis=-1),
                     mask=np.ones_like(batch.mask))
    np.testing.assert_allclose(model.forward_batch(params, own)[0], greedy, rtol=1e-12)
    if kind == "none":
        assert aux["alpha"] is None
    else:
        alpha = aux["alpha"]                                     # (T, B, S)
        assert alpha.shape == (4, 3, 5) and np.all(alpha[:, ~batch.src_mask.T] == 0.0)


def test_dot_scores_refuse_a_bidirectional_encoder():
    with pytest.raises(ValueError, match="general or additive"):
        Seq2SeqModel(7, 7, attention="dot", bidirectional="yes")


def test_reverse_task_layout_and_alignment():
    task = ReverseTask()
    batch = task.sample(np.random.default_rng(0), 64)
    lengths = batch.src_mask.sum(axis=0)
    assert lengths.min() >= 1 and lengths.max() <= 20 and len(set(lengths)) > 10
    target = task.alignment(batch.src_mask, batch.y.shape[0])
    for b in range(64):
        L = lengths[b]
        src = batch.x[:L, b]
        assert np.all(src >= 3) and np.all(batch.x[L:, b] == 0)
        assert np.array_equal(batch.y[:L, b], src[::-1]) and batch.y[L, b] == EOS
        assert batch.mask[:, b].sum() == L + 1
        assert np.array_equal(src[target[:L, b]], batch.y[:L, b])   # step t copies target[t]
        assert np.all(target[L:, b] == -1)
    longer = task.sample(np.random.default_rng(1), 4, length=30)
    assert longer.x.shape == (30, 4) and longer.src_mask.all()


def test_alignment_error_counts_misplaced_argmaxes():
    task = ReverseTask()
    batch = task.sample(np.random.default_rng(2), 3, length=4)
    target = task.alignment(batch.src_mask, 5)
    alpha = np.zeros((5, 3, 4))
    for t in range(4):
        alpha[t, :, target[t, 0]] = 1.0                          # every step right
    assert task.alignment_error(alpha, batch) == 0.0
    alpha[0, 0] = np.roll(alpha[0, 0], 1)                        # one of 12 steps wrong
    assert task.alignment_error(alpha, batch) == pytest.approx(100.0 / 12)


def test_dates_formats_targets_and_held_out_dates():
    import datetime
    from tasks.dates import CHARS, FORMATS, ISO_CHARS, DatesTask
    task = DatesTask()
    assert len(FORMATS) >= 10
    sunday = datetime.date(1987, 5, 3)
    written = {f(sunday) for f in FORMATS}
    assert {"3 may 1987", "05/03/87", "Sunday, May 3, 1987", "1987.5.3"} <= written
    assert len(written) == len(FORMATS)                         # twelve different spellings
    batch, dates = task.sample(np.random.default_rng(0), 256, return_dates=True)
    for b, d in enumerate(dates):
        assert "".join(task.text(batch.y[:, b], ISO_CHARS)) == d.isoformat() + "<eos>"
        assert "".join(task.text(batch.x[:, b], CHARS)) in {f(d) for f in FORMATS}
        assert batch.y[10, b] == EOS
    assert not any(d.toordinal() % 10 in (0, 5) for d in dates)  # never a held-out date
    test, test_dates = task.sample(np.random.default_rng(1), 64, split="test", return_dates=True)
    assert all(d.toordinal() % 10 == 0 for d in test_dates)
    _, valid_dates = task.sample(np.random.default_rng(2), 64, split="valid", return_dates=True)
    assert all(d.toordinal() % 10 == 5 for d in valid_dates)
    assert task.eval_kwargs == {"split": "valid"}            # training evaluates on validation
    assert task.sweep == ("split", ("valid", "test"))        # run.py eval reports both
    assert np.all(test.src_mask == (test.x != 0)) and test.mask.all()


def test_embedding_and_masked_encoder_step_gradients():
    """embed_backward, and the encoder's masked LSTM step (a padded example keeps its state):
    finite differences for the embeddings, the input, the state and the weights."""
    from ntm_scratch.gradcheck import check_op
    from ntm_scratch.lstm import lstm_init
    from ntm_scratch.seq2seq import (embed_backward, embed_forward, masked_lstm_step_backward,
                                     masked_lstm_step_forward)
    r = np.random.default_rng(8)
    tokens = np.array([[3, 0, 5], [5, 5, 1]])
    errors = check_op(lambda E: embed_forward(E, tokens), embed_backward,
                      {"E": r.standard_normal((7, 4))})
    assert errors["E"] < 1e-7, errors
    p = lstm_init(4, 5, 2, r, np.float64)
    p = {k: v + 0.3 * r.standard_normal(v.shape) for k, v in p.items()}
    m = np.array([[1.0], [0.0], [1.0]])                       # example 1 is padding here

    def forward(x, h, c, W0, W1):
        state, y, cache = masked_lstm_step_forward(np.concatenate([x, m], axis=1),
                                                   {"h": h, "c": c}, dict(p, W0=W0, W1=W1))
        return (state["h"], state["c"], y), cache

    def backward(dout, cache):
        dh, dc, dy = dout
        dxm, dprev, dp = masked_lstm_step_backward(dy, {"h": dh, "c": dc}, cache)
        return dxm[:, :-1], dprev["h"], dprev["c"], dp["W0"], dp["W1"]

    inputs = {"x": r.standard_normal((3, 4)), "h": r.standard_normal((2, 3, 5)),
              "c": r.standard_normal((2, 3, 5)), "W0": p["W0"], "W1": p["W1"]}
    errors = check_op(forward, backward, inputs)
    assert max(errors.values()) < 1e-7, errors
    (h, c, y), _ = forward(*inputs.values())
    assert np.array_equal(h[:, 1], inputs["h"][:, 1]) and np.all(y[1] == 0)   # padding: kept
