"""The other four NTM tasks (NTM paper §4.2–4.5): their data, and the NTM's gradient on each
task's input layout."""
import numpy as np
import pytest

from ntm_scratch.gradcheck import check_loss
from ntm_scratch.ntm import NTMModel
from tasks.associative_recall import AssociativeRecallTask
from tasks.ngrams import NGramsTask, bayes_optimal
from tasks.priority_sort import PrioritySortTask
from tasks.repeat_copy import RepeatCopyTask


def test_repeat_copy_layout():
    task = RepeatCopyTask()
    batch = task.sample(np.random.default_rng(0), 32)
    T, B, _ = batch.x.shape
    assert batch.x.shape[2] == 10 and batch.y.shape[2] == 9
    seen_counts = set()
    for b in range(B):
        L = int(np.argmax(batch.x[:, b, 8]))                          # where the delimiter is
        seq = batch.x[:L, b, :8]
        R = int(round(batch.x[L, b, 9] * task.repeat_std + task.repeat_mean))
        seen_counts.add(R)
        assert 1 <= L <= 10 and 1 <= R <= 10
        assert np.all(batch.x[L + 1:, b] == 0) and np.all(batch.x[:L, b, 8:] == 0)
        out = batch.y[L + 1:L + 1 + R * L, b, :8]
        assert np.array_equal(out, np.tile(seq, (R, 1)))               # R copies, in order
        end = L + 1 + R * L
        assert batch.y[end, b, 8] == 1 and batch.y[:, b, 8].sum() == 1   # one end marker
        assert np.all(batch.mask[L + 1:end + 1, b] == 1) and batch.mask[:, b].sum() == R * L + 1
    assert len(seen_counts) > 5
    counts = np.arange(1, 11)
    z = task.normalise_repeats(counts)
    assert abs(z.mean()) < 1e-12 and abs(z.var() - 1) < 1e-12         # the paper's normalisation
    fixed = task.sample(np.random.default_rng(1), 2, length=20, repeats=20)
    assert fixed.mask.sum(axis=0).tolist() == [401, 401]


def test_associative_recall_layout():
    task = AssociativeRecallTask()
    batch = task.sample(np.random.default_rng(0), 64)
    _, B, _ = batch.x.shape
    counts = set()
    for b in range(B):
        starts = np.nonzero(batch.x[:, b, 6])[0]                       # item delimiters
        n = len(starts)
        counts.add(n)
        assert 2 <= n <= 6 and np.array_equal(starts, 4 * np.arange(n))
        items = [batch.x[s + 1:s + 4, b, :6] for s in starts]
        q = np.nonzero(batch.x[:, b, 7])[0]                            # the query delimiters
        assert q.tolist() == [4 * n, 4 * n + 4]
        query = batch.x[q[0] + 1:q[0] + 4, b, :6]
        matches = [i for i, item in enumerate(items[:-1]) if np.array_equal(item, query)]
        assert matches                                                 # the query is an item
        answer = batch.y[q[1] + 1:q[1] + 4, b]
        assert any(np.array_equal(answer, items[i + 1]) for i in matches)   # and what followed
        assert batch.mask[:, b].sum() == 3 and np.all(batch.mask[q[1] + 1:q[1] + 4, b] == 1)
    assert counts == {2, 3, 4, 5, 6}
    assert task.sample(np.random.default_rng(1), 2, items=12).x.shape[0] == task.episode_length(12)


def test_priority_sort_layout():
    task = PrioritySortTask()
    batch, priority = task.sample(np.random.default_rng(0), 8, return_priorities=True)
    assert batch.x.shape == (37, 8, 10) and batch.y.shape == (37, 8, 8)
    assert np.all(np.abs(priority) <= 1) and np.array_equal(batch.x[:20, :, 8], priority)
    assert np.all(batch.x[20, :, 9] == 1) and batch.x[:, :, 9].sum() == 8
    for b in range(8):
        ranked = sorted(range(20), key=lambda i: -priority[i, b])[:16]
        assert np.array_equal(batch.y[21:, b], batch.x[ranked, b, :8])   # best first
    assert np.all(batch.mask[21:] == 1) and batch.mask[:21].sum() == 0


def slow_bayes(bits, k=5):
    """The Bayesian optimum by a plain loop over one sequence (the test's reference)."""
    counts = {}
    p = [0.5] * (len(bits) - 1)
    for t in range(k - 1, len(bits) - 1):
        ctx = tuple(bits[t - k + 1:t + 1])
        n0, n1 = counts.get((ctx, 0), 0), counts.get((ctx, 1), 0)
        p[t] = (n1 + 0.5) / (n1 + n0 + 1)
        counts[(ctx, bits[t + 1])] = counts.get((ctx, bits[t + 1]), 0) + 1
    return np.array(p)


def test_ngrams_data_and_the_bayesian_optimum():
    task = NGramsTask()
    batch = task.sample(np.random.default_rng(0), 6)
    assert batch.x.shape == (199, 6, 1) and np.array_equal(batch.x[1:], batch.y[:-1])
    assert np.all(batch.mask[:4] == 0) and np.all(batch.mask[4:] == 1)
    bits = np.concatenate([batch.x[:, :, 0], batch.y[-1:, :, 0]]).astype(int)
    for b in range(6):
        assert np.allclose(batch.optimal[:, b], slow_bayes(list(bits[:, b])), atol=0, rtol=1e-15)
    assert np.allclose(bayes_optimal(bits.astype(float)), batch.optimal)
    # predicting with the optimum itself costs exactly optimal_bits
    logits = np.log(batch.optimal / (1 - batch.optimal))[..., None]
    _, _, metrics = task.loss(logits, batch)
    assert abs(float(metrics["bits"]) - float(metrics["optimal_bits"])) < 1e-9
    assert 60 < float(metrics["optimal_bits"]) < 190          # well under 1 bit a prediction


def test_ngram_statistics_follow_the_drawn_model():
    """Long sequences: the empirical next-bit frequency per context tracks Beta-drawn values,
    so some contexts are strongly biased (Beta(½, ½) puts mass near 0 and 1)."""
    task = NGramsTask(length=4000)
    batch = task.sample(np.random.default_rng(3), 1)
    p = batch.optimal[-1, 0]
    finals = batch.optimal[task.config["context"]:, 0]
    assert np.mean((finals < 0.15) | (finals > 0.85)) > 0.3 and 0 < p < 1


LAYOUTS = {
    "repeat-copy": (RepeatCopyTask(max_length=3, max_repeats=3), {}),
    "associative-recall": (AssociativeRecallTask(bits=3, item_length=2, max_items=3), {}),
    "ngrams": (NGramsTask(length=8, context=2), {}),
    "priority-sort": (PrioritySortTask(bits=3, items=4, outputs=3), {"read_heads": 3,
                                                                      "write_heads": 3}),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_ntm_gradient_on_each_task_layout(name):
    """The whole NTM loss on the task's own batch and loss, every parameter (< 1e-5); priority
    sort with several read and write heads, as the paper's uses."""
    task, heads = LAYOUTS[name]
    r = np.random.default_rng(0)
    model = NTMModel(task.input_size, task.output_size, hidden=5, memory_rows=6, memory_width=3,
                     **heads)
    params = model.init_params(r, np.float64)
    for k in params:
        params[k] = params[k] + 0.3 * r.standard_normal(params[k].shape)
    params["w_init"] = r.standard_normal(params["w_init"].shape)   # away from the saturated start
    batch = task.sample(np.random.default_rng(1), 2)

    def loss():
        logits, _ = model.forward(params, batch.x)
        return float(task.loss(logits, batch)[0])

    logits, cache = model.forward(params, batch.x)
    _, dlogits, _ = task.loss(logits, batch)
    errors = check_loss(loss, params, model.backward(dlogits, cache))
    assert max(errors.values()) < 1e-5, errors


def test_repeat_copy_curriculum_stages():
    """The stages grow with the sequences seen; a stage bounds the data; the curriculum never
    changes how the repeat count is normalised (that of the whole task)."""
    task = RepeatCopyTask(curriculum=10.0, batch_lengths="mixed")
    stages = [task.training_kwargs(s) for s in (0, 5000, 10000, 50000)]
    assert stages[0] == {"up_to_length": 2, "up_to_repeats": 2}
    assert stages[1] == {"up_to_length": 6, "up_to_repeats": 6}
    assert stages[2] == stages[3] == {"up_to_length": 10, "up_to_repeats": 10}
    assert RepeatCopyTask(curriculum=0, batch_lengths="mixed").training_kwargs(0) == {}
    assert RepeatCopyTask().training_kwargs(75000) == {}             # the default: none
    assert RepeatCopyTask(curriculum=150).training_kwargs(75000) == {"up_to_length": 6,
                                                                      "up_to_repeats": 6}
    assert RepeatCopyTask(curriculum=150, batch_lengths="one").training_kwargs(75000) == {
        "up_to_length": 6, "up_to_repeats": 6, "one_size": True}
    batch = task.sample(np.random.default_rng(0), 64, **stages[0])
    L = np.argmax(batch.x[:, :, 8], axis=0)                          # the delimiter's step
    R = np.round(batch.x[L, np.arange(64), 9] * task.repeat_std + task.repeat_mean)
    assert L.max() <= 2 and R.max() <= 2 and R.min() >= 1
    assert task.repeat_mean == 5.5                                    # the whole task's 1..10
