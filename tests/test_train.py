"""The training loop: exact resume, NaN handling, atomic checkpoints, and that it learns."""
import json
import os

import numpy as np
import pytest

from ntm_scratch import checkpoint as ckpt
from ntm_scratch.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ntm_scratch.cli import main
from ntm_scratch.lstm import LSTMModel
from ntm_scratch.optim import RMSPropGraves
from ntm_scratch.train import TrainConfig, TrainingError, train
from tasks.copy import CopyTask

TINY = ["--model", "lstm", "--hidden", "8", "--layers", "1", "--max-length", "4",
        "--batch-size", "4", "--eval-size", "8"]


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def train_losses(path):
    """The last logged training loss of every step (a resumed run re-logs nothing twice)."""
    return {r["step"]: r["loss"] for r in read_log(path) if r["kind"] == "train"}


@pytest.mark.parametrize("log_every", [1, 4])
def test_resumed_run_reproduces_the_uninterrupted_losses_exactly(tmp_path, capsys, log_every):
    """Stop at step 3 (a checkpoint), resume to 8: every log line and parameter equals the
    uninterrupted run's, for both optimisers, also when a log window spans the resume."""
    for opt in ("rmsprop", "adam"):
        full, part = str(tmp_path / f"full-{opt}.npz"), str(tmp_path / f"part-{opt}.npz")
        common = ["copy", *TINY, "--optimizer", opt, "--lr", "0.01", "--eval-every", "3",
                  "--seed", "7", "--log-every", str(log_every)]
        assert main(common + ["--steps", "8", "--checkpoint", full]) == 0
        assert main(common + ["--steps", "3", "--checkpoint", part]) == 0
        assert load_checkpoint(part)[2]["step"] == 3
        assert main(["copy", "--steps", "8", "--resume", part]) == 0
        a, b = train_losses(full[:-4] + ".jsonl"), train_losses(part[:-4] + ".jsonl")
        assert sorted(a) == sorted(b) == list(range(log_every, 9, log_every))
        assert all(a[s] == b[s] for s in a), (opt, a, b)           # bit for bit
        pa, _, ma = load_checkpoint(full)
        pb, _, mb = load_checkpoint(part)
        assert ma["step"] == mb["step"] == 8 and ma["seqs"] == mb["seqs"] == 32
        assert all(np.array_equal(pa[k], pb[k]) for k in pa)
        events = [r["event"] for r in read_log(part[:-4] + ".jsonl") if r["kind"] == "event"]
        assert events == ["start", "done", "resume", "done"]


def test_resumed_run_with_gumbel_noise_and_entropy_schedule_is_exact(tmp_path, capsys):
    """The table model's Gumbel noise is drawn from the run's seed and step, and the entropy
    bonus falls with the step: stopped at step 3 and resumed to 6, the losses and parameters
    are the uninterrupted run's, bit for bit; another seed draws other noise."""
    common = ["table-qa", "--hidden", "6", "--embed", "4", "--batch-size", "8", "--eval-size",
              "8", "--eval-every", "3", "--log-every", "1", "--gumbel", "1", "--entropy", "5",
              "--entropy-steps", "4", "--question-attention", "dot", "--workers", "1"]
    full, part, other = (str(tmp_path / f"{n}.npz") for n in ("full", "part", "other"))
    assert main(common + ["--seed", "3", "--steps", "6", "--checkpoint", full]) == 0
    assert main(common + ["--seed", "3", "--steps", "3", "--checkpoint", part]) == 0
    assert main(["table-qa", "--steps", "6", "--resume", part]) == 0
    a, b = train_losses(full[:-4] + ".jsonl"), train_losses(part[:-4] + ".jsonl")
    assert sorted(a) == sorted(b) == list(range(1, 7)) and all(a[s] == b[s] for s in a)
    pa, pb = load_checkpoint(full)[0], load_checkpoint(part)[0]
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert load_checkpoint(full)[2]["model_config"]["gumbel"] == 1.0


class NaNAfter(CopyTask):
    """Copy, except the loss turns NaN from the `bad_step`-th training batch on."""

    def __init__(self, bad_step, **kw):
        super().__init__(**kw)
        self.calls, self.bad_step = 0, bad_step

    def sample(self, rng, batch_size, **kwargs):
        if batch_size == 4:                                          # training batches only
            self.calls += 1
        return super().sample(rng, batch_size, **kwargs)

    def loss(self, logits, batch):
        loss, dlogits, metrics = super().loss(logits, batch)
        if logits.shape[1] == 4 and self.calls >= self.bad_step:
            loss = loss * np.nan
        return loss, dlogits, metrics


def train_into_nan(tmp_path, **settings):
    """Train a tiny LSTM whose loss turns NaN from step 6; returns (message, checkpoint, log)."""
    task = NaNAfter(bad_step=6, max_length=4)
    model = LSTMModel(task.input_size, task.output_size, hidden=8, layers=1)
    path, log = str(tmp_path / "c.npz"), str(tmp_path / "c.jsonl")
    with pytest.raises(TrainingError) as info:
        train(task, model, RMSPropGraves(), TrainConfig(batch_size=4, eval_size=8, **settings),
              path, log, out=open(os.devnull, "w"))
    return str(info.value), path, log


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    message, path, log = train_into_nan(tmp_path, steps=20, eval_every=2, log_every=1)
    assert "at step 6" in message and "(step 4)" in message and path in message
    params, _, meta = load_checkpoint(path)
    assert meta["step"] == 4 and all(np.all(np.isfinite(v)) for v in params.values())
    assert read_log(log)[-1]["event"] == "nan"


def test_the_loss_is_read_once_a_log_line_and_a_nan_still_stops_there(tmp_path):
    """The step loop leaves the loss on the device until a log line is due (no per-step host
    sync on a GPU); a NaN in steps 6..10 stops the run at step 10's line, and the checkpoint of
    step 0 is kept."""
    message, path, log = train_into_nan(tmp_path, steps=30, eval_every=20, log_every=5)
    assert "in steps 6..10" in message and "(step 0)" in message
    assert load_checkpoint(path)[2]["step"] == 0
    records = read_log(log)
    assert [r["step"] for r in records if r["kind"] == "train"] == [5]
    assert records[-1]["event"] == "nan" and records[-1]["step"] == 10


def test_nan_parameters_are_never_written_over_a_good_checkpoint(tmp_path):
    task = CopyTask(max_length=3)
    model = LSTMModel(task.input_size, task.output_size, hidden=4, layers=1)
    path, log = str(tmp_path / "c.npz"), str(tmp_path / "c.jsonl")
    cfg = TrainConfig(steps=2, batch_size=2, eval_every=1, eval_size=2, log_every=1)

    class PoisonOnSecondStep(RMSPropGraves):
        def step(self, params, grads):
            super().step(params, grads)
            if self.t == 2:
                params["W_y"][0, 0] = np.nan                     # the loss is still finite here
    with pytest.raises(TrainingError) as info:                  # and the run says so
        train(task, model, PoisonOnSecondStep(), cfg, path, log, out=open(os.devnull, "w"))
    assert "stopped" in str(info.value) and "(step 1)" in str(info.value)
    params, _, meta = load_checkpoint(path)
    assert meta["step"] == 1 and np.all(np.isfinite(params["W_y"]))


def complete_meta(step):
    """A complete checkpoint record (load_checkpoint refuses one with keys missing)."""
    return {"task": "copy", "task_config": {}, "model": "lstm", "model_config": {},
            "optimizer": {"name": "adam", "lr": 1e-3}, "train": {}, "step": step, "seqs": 0,
            "wall": 0.0, "rng_state": np.random.default_rng(0).bit_generator.state}


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "c.npz")
    save_checkpoint(path, {"w": np.ones(3)}, {"t": np.asarray(0)}, complete_meta(1))
    before = open(path, "rb").read()

    def crash(f, **arrays):
        f.write(b"half an archive")
        raise OSError("disk full")
    monkeypatch.setattr(ckpt.np, "savez", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, {"w": np.zeros(3)}, {"t": np.asarray(0)}, complete_meta(2))
    assert open(path, "rb").read() == before                    # the old one, whole
    assert os.listdir(tmp_path) == ["c.npz"]                    # no temporary left behind
    params, _, meta = load_checkpoint(path)
    assert meta["step"] == 1 and np.array_equal(params["w"], np.ones(3))


def test_checkpoints_are_read_safely_from_many_threads(tmp_path):
    """numpy parses array headers with ast, whose recursion count CPython 3.11 shares between
    threads; a thread switch inside the parser (here forced by garbage whose finaliser sleeps)
    made a sweep's evaluation fail with SystemError. Reading checkpoints must not."""
    import gc
    import threading
    import time
    path = str(tmp_path / "c.npz")
    save_checkpoint(path, {f"w{i}": np.ones(2) for i in range(40)}, {"t": np.asarray(0)},
                    complete_meta(1))

    class Switch:
        def __del__(self):
            time.sleep(0)                   # lets another thread run, from inside the parser

    errors = []

    def read():
        try:
            for _ in range(200):
                garbage = Switch()
                garbage.cycle = garbage     # freed by the collector, at any allocation
                del garbage
                load_checkpoint(path)
        except Exception as exc:            # noqa: BLE001 (any failure is the finding)
            errors.append(repr(exc))
    threshold = gc.get_threshold()
    gc.set_threshold(5)
    try:
        threads = [threading.Thread(target=read) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        gc.set_threshold(*threshold)
    assert errors == []


def test_unreadable_checkpoints_raise_checkpoint_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(str(bad))
    with pytest.raises(CheckpointError):
        load_checkpoint(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "foreign.npz", x=np.ones(2))
    with pytest.raises(CheckpointError):
        load_checkpoint(str(tmp_path / "foreign.npz"))


def test_a_small_lstm_learns_short_copies(tmp_path, capsys):
    """The loop trains: the evaluation cost of a small LSTM on copies of length 1–3 falls to
    under half of the untrained model's (step 0) in 200 steps."""
    path = str(tmp_path / "c.npz")
    assert main(["copy", "--model", "lstm", "--hidden", "64", "--layers", "1", "--max-length", "3",
                 "--batch-size", "32", "--steps", "200", "--eval-every", "50", "--eval-size", "256",
                 "--lr", "0.01", "--checkpoint", path]) == 0
    evals = [r for r in read_log(path[:-4] + ".jsonl") if r["kind"] == "eval"]
    assert [e["step"] for e in evals] == [0, 50, 100, 150, 200]
    assert evals[-1]["cost"] < 0.5 * evals[0]["cost"], [e["cost"] for e in evals]


def test_worker_processes_give_the_gradient_of_one_pass():
    """Cutting a batch of 7 across 2 or 3 processes changes only roundoff, repeats exactly, and
    the workers see the parameters the optimiser updates in place."""
    from ntm_scratch.ntm import NTMModel
    from ntm_scratch.parallel import WorkerGroup, one_part
    task = CopyTask(max_length=5)
    model = NTMModel(task.input_size, task.output_size, hidden=8, memory_rows=10, memory_width=4)
    params = model.init_params(np.random.default_rng(0), np.float64)
    batch = task.sample(np.random.default_rng(1), 7)
    loss, grads, metrics = one_part(task, model, params, batch)
    for workers in (2, 3):
        shared = {k: v.copy() for k, v in params.items()}
        group = WorkerGroup(task, model, shared, workers)
        try:
            l2, g2, m2 = group.loss_and_grads(batch)
            l3, g3, _ = group.loss_and_grads(batch)
            assert abs(l2 - loss) < 1e-12 and abs(m2["cost"] - metrics["cost"]) < 1e-12
            for k in grads:
                assert np.allclose(g2[k], grads[k], rtol=0, atol=1e-12)
                assert np.array_equal(g2[k], g3[k])
            shared["W_y"] += 0.5                        # an in-place update, as the optimiser does
            l4, g4, _ = group.loss_and_grads(batch)
            params_moved = dict(params, W_y=params["W_y"] + 0.5)
            assert abs(l4 - one_part(task, model, params_moved, batch)[0]) < 1e-12
        finally:
            group.close()
        assert all(not p.is_alive() for p in group.procs)


def test_worker_processes_follow_the_entropy_schedule():
    """The table model's entropy bonus falls linearly to 0 over entropy_steps; the step the
    trainer gives the model (at_step) reaches the worker processes, so the loss and gradient cut
    across 2 processes are those of one pass at every point of the schedule."""
    from ntm_scratch.parallel import WorkerGroup, one_part
    from ntm_scratch.programmer import ProgrammerModel
    from tasks.table_qa import TableQATask
    task = TableQATask(columns=2)
    model = ProgrammerModel(task.input_size, task.output_size, hidden=6, embed=4, entropy=30.0,
                            entropy_steps=10)
    weights = []
    for step in (0, 5, 10, 20):
        model.at_step(step)
        weights.append(model.entropy_weight())
    assert weights == [30.0, 15.0, 0.0, 0.0]
    params = model.init_params(np.random.default_rng(0), np.float64)
    batch = task.sample(np.random.default_rng(1), 6)
    group = WorkerGroup(task, model, {k: v.copy() for k, v in params.items()}, 2)
    try:
        for step in (0, 5, 10):
            model.at_step(step)
            loss, grads, metrics = one_part(task, model, params, batch)
            l2, g2, m2 = group.loss_and_grads(batch)
            assert abs(l2 - loss) < 1e-9 and abs(m2["choice_entropy"] -
                                                 metrics["choice_entropy"]) < 1e-9
            for k in grads:
                assert np.allclose(g2[k], grads[k], rtol=0, atol=1e-9), (step, k)
    finally:
        group.close()


def test_worker_processes_draw_the_gumbel_noise_of_their_part():
    """With Gumbel noise each part of a batch draws its own noise, from (seed, step, part): a
    batch cut across 2 processes gives the weighted sum of the two parts computed here with
    at_step(step, seed, 0) and at_step(step, seed, 1); the noise changes the loss."""
    from ntm_scratch.parallel import WorkerGroup, _split, one_part
    from ntm_scratch.programmer import ProgrammerModel
    from tasks.table_qa import TableQATask
    task = TableQATask()
    model = ProgrammerModel(task.input_size, task.output_size, hidden=6, embed=4, gumbel=2.0)
    params = model.init_params(np.random.default_rng(0), np.float64)
    batch = task.sample(np.random.default_rng(1), 6)
    parts, weights = _split(batch, 2)
    model.at_step(4, 9)
    group = WorkerGroup(task, model, {k: v.copy() for k, v in params.items()}, 2)
    try:
        l2, g2, _ = group.loss_and_grads(batch)
    finally:
        group.close()
    results = []
    for i, part in enumerate(parts):
        model.at_step(4, 9, i)
        results.append(one_part(task, model, params, part))
    assert abs(l2 - sum(w * r[0] for w, r in zip(weights, results))) < 1e-9
    for k in g2:
        expected = sum(w * r[1][k] for w, r in zip(weights, results))
        assert np.allclose(g2[k], expected, rtol=0, atol=1e-9), k
    quiet = ProgrammerModel(task.input_size, task.output_size, hidden=6, embed=4)
    assert abs(one_part(task, quiet, params, parts[0])[0] - results[0][0]) > 1e-6


def test_training_with_two_worker_processes(tmp_path, capsys):
    path = str(tmp_path / "w.npz")
    assert main(["copy", *TINY, "--steps", "4", "--eval-every", "2", "--workers", "2",
                 "--checkpoint", path]) == 0
    assert load_checkpoint(path)[2]["step"] == 4
    assert "2 process(es)" in capsys.readouterr().out


class FailsOnce(CopyTask):
    """Copy whose loss raises once, on a part of 2 sequences that starts with a marked input."""
    def loss(self, logits, batch):
        if batch.x[0, 0, 0] == 42.0:
            raise FloatingPointError("planted failure")
        return super().loss(logits, batch)


def test_a_worker_error_is_raised_and_the_next_step_is_right():
    """After a part fails, every reply is still read: the next step's gradients are correct,
    not a stale worker's (and the error arrives as itself)."""
    from ntm_scratch.ntm import NTMModel
    from ntm_scratch.parallel import WorkerGroup, one_part
    task = FailsOnce(max_length=4)
    model = NTMModel(task.input_size, task.output_size, hidden=8, memory_rows=10, memory_width=4)
    params = model.init_params(np.random.default_rng(0), np.float64)
    good = task.sample(np.random.default_rng(1), 8)
    bad = task.sample(np.random.default_rng(2), 8)
    bad.x[0, 2, 0] = 42.0                                   # the second of four parts fails
    expected_loss, expected, _ = one_part(task, model, params, good)
    group = WorkerGroup(task, model, params, 4)
    try:
        with pytest.raises(FloatingPointError):
            group.loss_and_grads(bad)
        loss, grads, _ = group.loss_and_grads(good)
        assert abs(loss - expected_loss) < 1e-12
        assert all(np.allclose(grads[k], expected[k], rtol=0, atol=1e-12) for k in grads)
    finally:
        group.close()


def test_workers_follow_the_batch_and_the_cores(monkeypatch):
    """One process below a batch of 32 or on the GPU; from 32 on, one per usable core as long
    as each part keeps 16 sequences."""
    from ntm_scratch import parallel
    monkeypatch.setattr(parallel, "usable_cores", lambda: 4)
    assert [parallel.default_workers(b) for b in (1, 16, 31, 32, 48, 64, 128)] == [1, 1, 1, 2, 3,
                                                                                  4, 4]
    assert parallel.default_workers(128, "cupy") == 1
    monkeypatch.setattr(parallel, "usable_cores", lambda: 1)
    assert parallel.default_workers(128) == 1


def test_blas_threads_are_set_through_threadpoolctl():
    from threadpoolctl import threadpool_info
    from ntm_scratch.parallel import set_blas_threads
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    try:
        assert "1 thread(s)" in set_blas_threads(1)
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
    finally:
        if before:
            set_blas_threads(before[0])


def test_progress_lines_never_repeat_a_stale_training_mean(tmp_path):
    """A progress line shows the training means only when a new log window has closed since
    the last line (here at steps 20 and 40, not at the evaluation of step 30)."""
    import io
    task = CopyTask(max_length=3)
    model = LSTMModel(task.input_size, task.output_size, hidden=4, layers=1)
    out = io.StringIO()
    train(task, model, RMSPropGraves(), TrainConfig(steps=40, batch_size=2, eval_every=10,
                                                    eval_size=2, log_every=20),
          str(tmp_path / "c.npz"), str(tmp_path / "c.jsonl"), out=out)
    lines = [l for l in out.getvalue().splitlines() if l.startswith("step ") and "/" in l.split()[1]]
    with_means = [l.split()[1] for l in lines if " train " in l]
    assert with_means == ["20/40", "40/40"], lines


def test_the_learning_rate_drops_once_below_the_threshold_and_a_resume_keeps_it(tmp_path, capsys):
    """--lr-drop-below: the first evaluation under the threshold multiplies the rate by
    --lr-drop, once; the checkpoint keeps the lower rate, and a resumed run neither restores
    the old one nor drops again. A threshold never reached changes nothing."""
    path = str(tmp_path / "run.npz")
    assert main(["copy", *TINY, "--lr", "0.01", "--eval-every", "2", "--steps", "2",
                 "--lr-drop-below", "1e9", "--lr-drop", "0.5", "--checkpoint", path]) == 0
    meta = load_checkpoint(path)[2]
    assert meta["optimizer"]["lr"] == pytest.approx(0.005) and meta["lr_dropped_at"] == 0
    drops = [r for r in read_log(path[:-4] + ".jsonl") if r.get("event") == "lr_drop"]
    assert [(d["step"], d["lr"]) for d in drops] == [(0, pytest.approx(0.005))]
    assert main(["copy", "--resume", path, "--steps", "4"]) == 0
    assert load_checkpoint(path)[2]["optimizer"]["lr"] == pytest.approx(0.005)
    assert sum(r.get("event") == "lr_drop" for r in read_log(path[:-4] + ".jsonl")) == 1
    never = str(tmp_path / "never.npz")
    assert main(["copy", *TINY, "--lr", "0.01", "--eval-every", "2", "--steps", "2",
                 "--lr-drop-below", "1e-9", "--checkpoint", never]) == 0
    meta = load_checkpoint(never)[2]
    assert meta["optimizer"]["lr"] == 0.01 and meta["lr_dropped_at"] is None
    capsys.readouterr()
    # refused rather than ignored: a factor with no threshold, a second drop after the first
    assert main(["copy", *TINY, "--steps", "1", "--lr-drop", "0.5",
                 "--checkpoint", str(tmp_path / "x.npz")]) == 2
    assert main(["copy", "--resume", path, "--steps", "6", "--lr-drop-below", "5"]) == 2
    assert "already dropped at step 0" in capsys.readouterr().err
    # the run's own values again are no contradiction: it resumes, and does not drop again
    assert main(["copy", "--resume", path, "--steps", "6", "--lr-drop-below", "1e9",
                 "--lr-drop", "0.5"]) == 0
    assert load_checkpoint(path)[2]["optimizer"]["lr"] == pytest.approx(0.005)


def test_the_optimisers_epsilon_is_a_flag_kept_across_a_resume(tmp_path):
    """--eps reaches the optimiser (a huge ε all but stops Adam's steps) and the checkpoint,
    and a resumed run keeps it; runs saved before the flag existed keep their class default."""
    from ntm_scratch.optim import make_optimizer
    assert make_optimizer("adam").eps == 1e-8 and make_optimizer("rmsprop").eps == 1e-4
    path, still = str(tmp_path / "run.npz"), str(tmp_path / "still.npz")
    assert main(["copy", *TINY, "--optimizer", "adam", "--eps", "1e-6", "--steps", "1",
                 "--checkpoint", path]) == 0
    assert load_checkpoint(path)[2]["optimizer"]["eps"] == 1e-6
    assert main(["copy", "--resume", path, "--steps", "2"]) == 0
    assert load_checkpoint(path)[2]["optimizer"]["eps"] == 1e-6
    assert main(["copy", *TINY, "--optimizer", "adam", "--eps", "1e9", "--steps", "2",
                 "--checkpoint", still]) == 0
    before = load_checkpoint(still)[0]
    assert main(["copy", "--resume", still, "--steps", "3"]) == 0
    after = load_checkpoint(still)[0]
    assert max(float(np.abs(after[k] - before[k]).max()) for k in before) < 1e-6


def test_keep_best_keeps_the_model_of_the_lowest_evaluation_through_a_resume(tmp_path, capsys):
    """--keep-best writes RUN.best.npz, a model file of the first evaluation lower than every
    one before it; a resumed run (which keeps the setting) replaces it only with a lower one."""
    path = str(tmp_path / "c.npz")
    best = str(tmp_path / "c.best.npz")

    def lowest():
        evals = [r for r in read_log(str(tmp_path / "c.jsonl")) if r["kind"] == "eval"]
        costs = [r["cost"] for r in evals]
        return evals[costs.index(min(costs))]          # the first of the lowest
    assert main(["copy", *TINY, "--eval-every", "1", "--steps", "6", "--keep-best",
                 "--checkpoint", path]) == 0
    params, optim, meta = load_checkpoint(best)
    assert meta["model_only"] is True and optim == {}
    assert meta["step"] == lowest()["step"] and meta["best"]["value"] == lowest()["cost"]
    assert load_checkpoint(path)[2]["best"] == meta["best"]
    assert main(["copy", "--resume", path, "--steps", "12"]) == 0
    assert load_checkpoint(best)[2]["step"] == lowest()["step"]
    assert f"best: step {lowest()['step']}" in capsys.readouterr().out
    assert main(["eval", "copy", "--checkpoint", best, "--count", "4"]) == 0
    other = str(tmp_path / "plain.npz")
    assert main(["copy", *TINY, "--steps", "2", "--checkpoint", other]) == 0
    assert not os.path.exists(str(tmp_path / "plain.best.npz"))


def test_keep_best_in_a_continued_run_refuses_to_overwrite_and_is_checked(tmp_path, capsys):
    """--keep-best added on a resume starts from the resumed model; a run continued under
    another name keeps its own best file; a file at RUN.best.npz that is not a model file is
    never replaced; a damaged record of the best is refused on loading; figures draw the best
    file with its run's log."""
    a = str(tmp_path / "a.npz")
    assert main(["copy", *TINY, "--eval-every", "1", "--steps", "3", "--checkpoint", a]) == 0
    assert main(["copy", "--resume", a, "--steps", "4", "--eval-every", "100",
                 "--keep-best"]) == 0                     # no evaluation before its last step
    kept = load_checkpoint(str(tmp_path / "a.best.npz"))[2]
    assert kept["step"] in (3, 4) and kept["best"]["step"] == kept["step"]
    records = [r for r in read_log(str(tmp_path / "a.jsonl")) if r["kind"] == "eval"]
    at = {r["step"]: r["cost"] for r in records}
    assert kept["best"]["value"] == min(at[3], at[4])   # the resumed model was a candidate
    fork = str(tmp_path / "fork.npz")
    assert main(["copy", "--resume", a, "--steps", "5", "--checkpoint", fork]) == 0
    assert os.path.isfile(str(tmp_path / "fork.best.npz"))
    assert main(["figures", "copy", "--checkpoint", str(tmp_path / "fork.best.npz"),
                 "--out", str(tmp_path / "figs")]) == 0
    other = str(tmp_path / "x.best.npz")                       # another run's checkpoint
    assert main(["copy", *TINY, "--steps", "1", "--checkpoint", other]) == 0
    before = open(other, "rb").read()
    capsys.readouterr()
    assert main(["copy", *TINY, "--steps", "1", "--keep-best",
                 "--checkpoint", str(tmp_path / "x.npz")]) != 0
    assert "not a model file" in capsys.readouterr().err
    assert open(other, "rb").read() == before
    params, optim, meta = load_checkpoint(a)
    save_checkpoint(a, params, optim, dict(meta, best={"step": 2}))
    with pytest.raises(CheckpointError, match="best"):
        load_checkpoint(a)
