"""The copy task's data: layout, channels and mask (NTM paper §4.1)."""
import numpy as np
import pytest

from tasks.copy import CopyTask


def test_layout_of_every_example():
    task = CopyTask(bits=8, min_length=1, max_length=20)
    rng = np.random.default_rng(0)
    batch = task.sample(rng, 64)
    T, B, I = batch.x.shape
    assert I == 9 and batch.y.shape == (T, B, 8) and batch.mask.shape == (T, B)
    lengths = batch.mask.sum(axis=0).astype(int)                 # one scored step per vector
    assert T == 2 * lengths.max() + 1
    assert lengths.min() >= 1 and lengths.max() <= 20 and len(set(lengths)) > 5
    for b in range(B):
        L = lengths[b]
        seq = batch.x[:L, b, :8]
        assert set(np.unique(seq)) <= {0.0, 1.0}
        assert np.all(batch.x[:L, b, 8] == 0)                        # no delimiter among the data
        assert batch.x[L, b, 8] == 1 and np.all(batch.x[L, b, :8] == 0)   # the delimiter
        assert np.all(batch.x[L + 1:, b] == 0)                       # nothing during the output
        assert np.array_equal(batch.y[L + 1:2 * L + 1, b], seq)      # read back, in order
        assert np.all(batch.mask[L + 1:2 * L + 1, b] == 1)
        assert batch.mask[:L + 1, b].sum() == 0 and batch.mask[2 * L + 1:, b].sum() == 0
        assert np.all(batch.y[batch.mask[:, b] == 0, b] == 0)


def test_fixed_length_and_seeding():
    task = CopyTask()
    a = task.sample(np.random.default_rng(5), 4, length=30)
    b = task.sample(np.random.default_rng(5), 4, length=30)
    assert a.x.shape == (61, 4, 9) and np.all(a.mask.sum(axis=0) == 30)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    c = task.sample(np.random.default_rng(6), 4, length=30)
    assert not np.array_equal(a.x, c.x)


def test_metrics_bits_and_cost():
    """Perfect logits cost 0 wrong bits; flipping the sign of k scored logits costs k bits."""
    task = CopyTask(max_length=5)
    batch = task.sample(np.random.default_rng(1), 3)
    logits = np.where(batch.y > 0.5, 20.0, -20.0)
    loss, dlogits, m = task.loss(logits, batch)
    assert float(m["cost"]) == 0.0 and float(m["bits"]) < 1e-6
    assert np.all(dlogits[batch.mask == 0] == 0)                   # unscored steps: no gradient
    t_idx, b_idx = np.nonzero(batch.mask)
    wrong = logits.copy()
    wrong[t_idx[:3], b_idx[:3], 0] *= -1
    _, _, m = task.loss(wrong, batch)
    assert float(m["cost"]) == pytest.approx(3 / 3)                # 3 wrong bits over 3 sequences
    _, _, m = task.loss(np.zeros_like(logits), batch)
    assert float(m["bits"]) == pytest.approx(batch.mask.sum() * 8 / 3)   # 1 bit per guess


def test_bad_lengths_are_refused():
    with pytest.raises(ValueError):
        CopyTask(min_length=5, max_length=3)


@pytest.mark.parametrize("name, size", [("copy", lambda b: b.mask.sum(axis=0)),
                                        ("repeat-copy", lambda b: b.mask.sum(axis=0)),
                                        ("associative-recall", lambda b: b.x[:, :, -2].sum(axis=0)),
                                        ("reverse", lambda b: b.src_mask.sum(axis=0)),
                                        ("addition", lambda b: b.input_mask.sum(axis=0)),
                                        ("arithmetic", lambda b: b.numbers),
                                        ("table-qa", lambda b: b.row_mask.sum(axis=1))])
def test_training_draws_one_length_per_batch_and_evaluation_mixes(name, size):
    """batch_lengths 'one' (the default but for associative recall): every training batch is of
    one length, so no step is padding, yet over many batches each length is as likely as when
    examples mix; evaluation (no training kwargs) and batch_lengths 'mixed' draw each example's
    own."""
    from tasks import TASKS
    rng = np.random.default_rng(0)
    extra = {"curriculum": 0} if name == "repeat-copy" else {}      # the whole task from step 0
    one = TASKS[name](batch_lengths="one", **extra)
    mixed = TASKS[name](batch_lengths="mixed", **extra)
    per_batch = [size(one.sample(rng, 16, **one.training_kwargs(0))) for _ in range(300)]
    assert all(len(set(s)) == 1 for s in per_batch)
    evaluated = [size(one.sample(rng, 16)) for _ in range(300)]
    trained_mixed = [size(mixed.sample(rng, 16, **mixed.training_kwargs(0))) for _ in range(300)]
    assert all(len(set(s)) > 1 for s in evaluated[:20] + trained_mixed[:20])
    a, b = np.concatenate(per_batch), np.concatenate(evaluated)
    assert a.min() >= b.min() and a.max() <= b.max()
    values = sorted(set(a) | set(b))
    counts_a = np.array([np.mean(a == v) for v in values])
    counts_b = np.array([np.mean(b == v) for v in values])
    assert np.abs(counts_a - counts_b).max() < 0.06


def test_dates_train_one_format_per_batch():
    """Dates: one format for the whole training batch, so its sources differ in length by a few
    characters at most; evaluation mixes the formats (and their lengths)."""
    from tasks import TASKS
    task, rng = TASKS["dates"](), np.random.default_rng(0)
    spread = lambda b: np.ptp(b.src_mask.sum(axis=0))
    trained = [task.sample(rng, 32, **task.training_kwargs(0)) for _ in range(100)]
    evaluated = [task.sample(rng, 32) for _ in range(100)]
    assert max(map(spread, trained)) <= 9                # "may" / "september", "Sunday" / ...
    assert np.mean(list(map(spread, trained))) < 0.4 * np.mean(list(map(spread, evaluated)))
    assert np.mean([b.x.shape[0] for b in trained]) < 0.7 * np.mean([b.x.shape[0] for b in evaluated])
