"""run.py eval, figures and bench on tiny trained checkpoints."""
import json
import os

import numpy as np
import pytest

from ntm_scratch.cli import main

TINY_NTM = ["--model", "ntm", "--hidden", "8", "--memory-rows", "12", "--memory-width", "4",
            "--max-length", "3", "--batch-size", "4", "--eval-size", "8", "--eval-every", "2"]
TINY_LSTM = ["--model", "lstm", "--hidden", "8", "--layers", "1", "--max-length", "3",
             "--batch-size", "4", "--eval-size", "8", "--eval-every", "2"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    ntm, lstm = str(d / "ntm.npz"), str(d / "lstm.npz")
    assert main(["copy", *TINY_NTM, "--steps", "4", "--checkpoint", ntm]) == 0
    assert main(["copy", *TINY_LSTM, "--steps", "4", "--checkpoint", lstm]) == 0
    return ntm, lstm


def test_eval_prints_the_cost_at_every_length(checkpoints, capsys):
    capsys.readouterr()
    assert main(["eval", "copy", "--checkpoint", checkpoints[0], "--lengths", "2,5,9",
                 "--count", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == ["2", "5", "9"]
    assert all(float(r[1]) >= 0 and float(r[2]) > 0 for r in rows)


@pytest.mark.parametrize("argv", [["--lengths", "0,5"], ["--lengths", "a"], ["--count", "0"]])
def test_eval_bad_arguments(checkpoints, argv, capsys):
    assert main(["eval", "copy", "--checkpoint", checkpoints[0], *argv]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_eval_needs_a_real_checkpoint(tmp_path, capsys):
    assert main(["eval", "copy", "--checkpoint", str(tmp_path / "none.npz")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_compare_gives_every_run_the_same_sequences_and_groups_seeds(checkpoints, tmp_path,
                                                                    capsys):
    ntm, lstm = checkpoints
    twin, other = str(tmp_path / "twin.npz"), str(tmp_path / "seed1.npz")
    with open(ntm, "rb") as src, open(twin, "wb") as dst:        # the same model, another file
        dst.write(src.read())
    assert main(["copy", *TINY_NTM, "--steps", "4", "--seed", "1", "--checkpoint", other]) == 0
    out_json, out_png = str(tmp_path / "cmp.json"), str(tmp_path / "cmp.png")
    capsys.readouterr()
    assert main(["compare", "copy", "--checkpoints", ntm, twin, lstm, "--lengths", "2,7",
                 "--count", "5", "--json", out_json, "--out", out_png]) == 0
    assert "NTM" in capsys.readouterr().out and os.path.getsize(out_png) > 0
    groups = json.load(open(out_json))["groups"]
    assert [g["label"] for g in groups] == ["NTM", "LSTM"]      # nothing else sets them apart
    assert [len(g["checkpoints"]) for g in groups] == [2, 1]
    for p in groups[0]["points"]:             # the twin files saw the very same sequences
        assert p["each"][0] == p["each"][1] == p["min"] == p["max"] > 0
        assert p["scored_bits"] == p["length"] * 8        # copy scores L vectors of 8 bits
    assert main(["compare", "copy", "--checkpoints", ntm, other, "--lengths", "7", "--count", "5",
                 "--json", out_json]) == 0
    seeds = json.load(open(out_json))["groups"]
    assert len(seeds) == 1 and seeds[0]["seeds"] == [0, 1]      # seeds only: one group
    first = seeds[0]["points"][0]
    assert first["each"][0] != first["each"][1] and first["min"] < first["max"]
    assert first["min"] <= first["mean"] <= first["max"]


def test_compare_bad_arguments(checkpoints, tmp_path, capsys):
    ntm, _ = checkpoints
    longer = str(tmp_path / "longer.npz")
    assert main(["copy", *TINY_NTM[:-8], "--max-length", "4", "--batch-size", "4", "--eval-size",
                 "8", "--steps", "1", "--checkpoint", longer]) == 0
    capsys.readouterr()
    for argv in (["--items", "3"], ["--lengths", "0"], ["--out", str(tmp_path / "x.pdf")],
                 ["--lengths", "2", "--repeats", "2"]):
        assert main(["compare", "copy", "--checkpoints", ntm, *argv]) == 2, argv
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["compare", "copy", "--checkpoints", ntm, longer]) == 2   # another task setting
    assert "different versions of the task" in capsys.readouterr().err
    assert main(["compare", "parity", "--checkpoints", ntm]) == 2
    assert "not parity" in capsys.readouterr().err
    assert main(["compare", "copy", "--checkpoints", ntm, "--json", str(tmp_path)]) == 2
    assert "cannot be written" in capsys.readouterr().err         # said before evaluating


def test_compare_groups_an_older_checkpoint_with_its_like_and_varies_text_settings(
        checkpoints, tmp_path, capsys):
    """A checkpoint saved before an option existed (here --controller-layers, and --eps, the
    optimiser's) groups with a new one of the same settings; a setting whose values are words
    (dates' split) works, and a value the task cannot make is one line."""
    from ntm_scratch.checkpoint import load_checkpoint, save_checkpoint
    ntm, _ = checkpoints
    old = str(tmp_path / "old.npz")
    params, optim, meta = load_checkpoint(ntm)
    meta["model_config"].pop("controller_layers")
    assert meta["optimizer"].pop("eps") == 1e-4             # RMSProp's default
    for key in ("lr_drop_below", "lr_drop"):
        meta["train"].pop(key)
    save_checkpoint(old, params, optim, meta)
    out = str(tmp_path / "c.json")
    assert main(["compare", "copy", "--checkpoints", ntm, old, "--lengths", "3", "--count", "2",
                 "--json", out]) == 0
    groups = json.load(open(out))["groups"]
    assert len(groups) == 1 and groups[0]["points"][0]["min"] == groups[0]["points"][0]["max"]
    dates = str(tmp_path / "dates.npz")
    assert main(["dates", "--hidden", "4", "--embed", "3", "--batch-size", "2", "--eval-size", "2",
                 "--steps", "1", "--checkpoint", dates]) == 0
    capsys.readouterr()
    assert main(["compare", "dates", "--checkpoints", dates, "--count", "2"]) == 0
    assert "split valid" in capsys.readouterr().out
    parity = str(tmp_path / "parity.npz")
    assert main(["parity", "--bits", "4", "--hidden", "4", "--batch-size", "2", "--eval-size",
                 "2", "--steps", "1", "--checkpoint", parity]) == 0
    capsys.readouterr()
    assert main(["compare", "parity", "--checkpoints", parity, "--nonzero", "9"]) == 2
    err = capsys.readouterr().err                           # 9 of 4 bits: the task says no
    assert len(err.strip().splitlines()) == 1 and "parity" in err


def test_figures_are_drawn_for_both_models(checkpoints, tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["figures", "copy", "--checkpoint", checkpoints[0], "--baseline", checkpoints[1],
                 "--out", str(out)]) == 0
    names = sorted(os.listdir(out))
    assert names == ["copy_generalisation.png", "copy_io_len20.png", "copy_io_len80.png",
                     "copy_learning_curves.png", "copy_memory.png"]
    for name in names:
        with open(out / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_figures_go_beside_the_checkpoint_unless_told(tmp_path, capsys):
    """Without --out, a model's pictures go into its checkpoint's folder: the project's own
    figures/ is written only when asked."""
    shipped = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "figures")
    before = {n: os.path.getmtime(os.path.join(shipped, n)) for n in os.listdir(shipped)}
    path = str(tmp_path / "run" / "ntm.npz")
    assert main(["copy", *TINY_NTM, "--steps", "2", "--checkpoint", path]) == 0
    assert main(["figures", "copy", "--checkpoint", path, "--count", "2"]) == 0
    assert "copy_memory.png" in os.listdir(tmp_path / "run")
    assert {n: os.path.getmtime(os.path.join(shipped, n)) for n in os.listdir(shipped)} == before


def test_bench_prints_a_row_per_batch_size(capsys):
    assert main(["bench", "--model", "ntm", "--batch-sizes", "1,2", "--seconds", "0.01"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines.index(next(l for l in lines if l.split()[:1] == ["batch"]))
    assert lines[header].split() == ["batch", "workers", "seq/s", "ms/step", "GFLOP/s", "%",
                                     "peak", "steps"]
    rows = [line.split() for line in lines[header + 1:]]
    assert [r[0] for r in rows] == ["1", "2"]
    assert all(float(r[2]) > 0 and float(r[4]) > 0 for r in rows)


def test_bench_covers_every_family(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--batch-sizes", "2", "--seconds", "0.01", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["model"] for r in rows] == ["ntm", "lstm", "seq2seq", "act", "programmer", "pipe"]
    assert all(r["gflop_per_s"] > 0 and 0 < r["peak_fraction"] < 1 for r in rows)


def test_flop_counter_counts_products_elementwise_and_reductions():
    from ntm_scratch.bench import CountingArray
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 5)).view(CountingArray)
    b = rng.standard_normal((3, 5, 6)).view(CountingArray)
    before = CountingArray.flops
    c = a @ b                                            # 2·5 per output element
    d = np.tanh(c) + 1.0                                 # 1 + 1 per element
    e = d.sum(axis=-1)                                   # 1 per input element
    f = np.einsum("bij,bjk->bik", a, b)                  # as the matmul
    assert CountingArray.flops - before == 2 * 5 * 72 + 72 + 72 + 72 + 2 * 5 * 72
    assert isinstance(e, CountingArray) and isinstance(f, CountingArray)
    np.testing.assert_allclose(np.asarray(f), np.asarray(c))


TINY_TASKS = {"repeat-copy": ["--max-length", "3", "--max-repeats", "2"],
              "associative-recall": ["--max-items", "3"],
              "ngrams": ["--length", "20"],
              "priority-sort": ["--items", "5", "--outputs", "3"]}
EXPECTED = {"repeat-copy": ["io_len10_rep10", "io_len10_rep20", "io_len20_rep10", "memory",
                            "learning_curves", "generalisation"],
            "associative-recall": ["io_items6", "io_items12", "memory", "learning_curves",
                                   "generalisation"],
            "ngrams": ["io_seq", "memory", "predictions", "learning_curves"],
            "priority-sort": ["io_seq", "memory", "writes", "learning_curves"]}


@pytest.mark.parametrize("task", sorted(TINY_TASKS))
def test_figures_for_each_ntm_task(task, tmp_path, capsys):
    ntm, lstm = str(tmp_path / "ntm.npz"), str(tmp_path / "lstm.npz")
    common = ["--hidden", "8", "--batch-size", "2", "--eval-size", "2", "--eval-every", "1",
              "--steps", "1", *TINY_TASKS[task]]
    assert main([task, "--model", "ntm", "--memory-rows", "10", "--memory-width", "4",
                 "--read-heads", "2", "--write-heads", "2", *common, "--checkpoint", ntm]) == 0
    assert main([task, "--model", "lstm", "--layers", "1", *common, "--checkpoint", lstm]) == 0
    out = tmp_path / "figs"
    assert main(["figures", task, "--checkpoint", ntm, "--baseline", lstm, "--out", str(out),
                 "--count", "2"]) == 0
    assert sorted(os.listdir(out)) == sorted(f"{task}_{n}.png" for n in EXPECTED[task])


def test_priority_sort_trains_the_papers_five_plus_five_heads(tmp_path):
    from ntm_scratch.checkpoint import load_checkpoint
    path, two = str(tmp_path / "p.npz"), str(tmp_path / "two.npz")
    sizes = ["--hidden", "8", "--memory-rows", "10", "--memory-width", "4", "--items", "4",
             "--outputs", "2", "--batch-size", "2", "--eval-size", "2", "--steps", "1"]
    assert main(["priority-sort", *sizes, "--checkpoint", path]) == 0
    meta = load_checkpoint(path)[2]
    assert meta["model"] == "ntm"
    assert (meta["model_config"]["read_heads"], meta["model_config"]["write_heads"]) == (5, 5)
    assert meta["model_config"]["controller_layers"] == 1
    assert main(["priority-sort", *sizes, "--controller-layers", "2", "--checkpoint", two]) == 0
    assert load_checkpoint(two)[2]["model_config"]["controller_layers"] == 2
    ff = str(tmp_path / "ff.npz")                 # the two layers are the LSTM controller's
    assert main(["priority-sort", "--controller", "ff", "--hidden", "8", "--memory-rows", "10",
                 "--memory-width", "4", "--items", "4", "--outputs", "2", "--batch-size", "2",
                 "--eval-size", "2", "--steps", "1", "--checkpoint", ff]) == 0
    assert load_checkpoint(ff)[2]["model_config"]["controller_layers"] == 1
    assert meta["optimizer"]["name"] == "rmsprop" and meta["train"]["batch_size"] == 2


def test_a_run_saved_before_the_learning_rate_drop_existed_resumes_without_one(tmp_path):
    """Repeat copy's NTM drops its rate by default now; a run saved before that option existed
    goes on as it was configured, without a drop."""
    from ntm_scratch.checkpoint import load_checkpoint, save_checkpoint
    path = str(tmp_path / "old.npz")
    assert main(["repeat-copy", "--hidden", "4", "--memory-rows", "6", "--memory-width", "3",
                 "--max-length", "2", "--max-repeats", "2", "--eval-size", "2", "--steps", "1",
                 "--checkpoint", path]) == 0
    params, optim, meta = load_checkpoint(path)
    for key in ("lr_drop_below", "lr_drop"):
        meta["train"].pop(key)
    save_checkpoint(path, params, optim, meta)
    assert main(["repeat-copy", "--resume", path, "--steps", "2"]) == 0
    assert load_checkpoint(path)[2]["train"]["lr_drop_below"] is None


def test_repeat_copy_trains_the_whole_task_one_sequence_a_step(tmp_path):
    """Repeat copy's NTM defaults: no curriculum, batch 1, RMSProp 1e-4, a drop to 3e-5 once
    under 2 wrong bits, an evaluation every 1,000 sequences."""
    from ntm_scratch.checkpoint import load_checkpoint
    path = str(tmp_path / "r.npz")
    assert main(["repeat-copy", "--hidden", "4", "--memory-rows", "6", "--memory-width", "3",
                 "--max-length", "2", "--max-repeats", "2", "--eval-size", "2", "--steps", "1",
                 "--checkpoint", path]) == 0
    meta = load_checkpoint(path)[2]
    assert meta["task_config"]["curriculum"] == 0
    assert (meta["train"]["batch_size"], meta["train"]["eval_every"]) == (1, 1000)
    assert (meta["train"]["lr_drop_below"], meta["train"]["lr_drop"]) == (2.0, 0.3)
    assert meta["optimizer"]["name"] == "rmsprop" and meta["optimizer"]["lr"] == 1e-4


@pytest.mark.parametrize("task,extra,expected", [
    ("reverse", ["--max-length", "4"],
     ["attention_additive", "learning_curves", "generalisation"]),
    ("dates", [], ["attention_additive", "learning_curves"])])
def test_attention_figures_with_and_without_attention(task, extra, expected, tmp_path, capsys):
    common = ["--hidden", "6", "--embed", "4", "--batch-size", "4", "--eval-size", "4",
              "--eval-every", "1", "--steps", "1", *extra]
    paths = [str(tmp_path / "att.npz"), str(tmp_path / "none.npz")]
    assert main([task, *common, "--checkpoint", paths[0]]) == 0
    assert main([task, *common, "--attention", "none", "--checkpoint", paths[1]]) == 0
    out = tmp_path / "figs"
    assert main(["figures", task, "--checkpoint", paths[0], "--baseline", paths[1],
                 "--out", str(out), "--count", "2"]) == 0
    assert sorted(os.listdir(out)) == sorted(f"{task}_{n}.png" for n in expected)
    capsys.readouterr()
    assert main(["eval", task, "--checkpoint", paths[0], "--count", "4"]) == 0
    header = capsys.readouterr().out.splitlines()[1].split()
    assert header[1:4] == ["seq_error", "nats", "token_error"]
    assert ("align_error" in header) == (task == "reverse")


def test_a_bit_task_refuses_the_seq2seq_model(capsys):
    assert main(["copy", "--model", "seq2seq", "--steps", "1"]) == 2
    assert "invalid choice" in capsys.readouterr().err


ACT_TASKS = {   # sizes, the difficulty flag and kwarg, a value too large, the extra figure
    "addition": (["--digits", "2", "--max-numbers", "3"], "--digits-each", "n_digits", "3",
                 ["addition_ponder_sequence.png"]),
    "logic": (["--max-steps", "3", "--max-gates", "3"], "--gates-each", "n_gates", "4", [])}


@pytest.mark.parametrize("task", sorted(ACT_TASKS))
def test_act_figures_and_evaluation_by_difficulty(task, tmp_path, capsys):
    sizes, flag, kwarg, too_large, extra = ACT_TASKS[task]
    act, base = str(tmp_path / "act.npz"), str(tmp_path / "base.npz")
    common = [task, *sizes, "--hidden", "4", "--batch-size", "4", "--eval-size", "4",
              "--eval-every", "1", "--steps", "1"]
    assert main([*common, "--checkpoint", act]) == 0
    assert main([*common, "--max-ponder", "1", "--checkpoint", base]) == 0
    out = tmp_path / "figs"
    assert main(["figures", task, "--checkpoint", act, "--baseline", base,
                 "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == sorted([f"{task}_learning_curves.png",
                                              f"{task}_ponder_vs_difficulty.png", *extra])
    capsys.readouterr()
    assert main(["eval", task, "--checkpoint", act, flag, "1,2", "--count", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:2] == [kwarg, "seq_error"] and "ponder" in lines[1]
    assert [line.split()[0] for line in lines[2:]] == ["1", "2"]
    assert main(["eval", task, "--checkpoint", act, flag, too_large]) == 2
    other = "--gates-each" if task == "addition" else "--digits-each"
    assert main(["eval", task, "--checkpoint", act, other, "1"]) == 2


def test_parity_trains_with_two_workers_and_evaluates_without_flags(tmp_path, capsys):
    """A batch field of shape (B,) (parity's non-zero counts) is cut between workers too."""
    path = str(tmp_path / "p.npz")
    assert main(["parity", "--bits", "3", "--hidden", "4", "--steps", "2", "--batch-size", "4",
                 "--eval-size", "4", "--eval-every", "1", "--workers", "2",
                 "--checkpoint", path]) == 0
    capsys.readouterr()
    assert main(["eval", "parity", "--checkpoint", path, "--count", "8"]) == 0
    assert "error" in capsys.readouterr().out


def test_a_parity_checkpoint_older_than_positions_continues_with_random_places(tmp_path,
                                                                              capsys):
    """Parity checkpoints saved before --positions existed were trained with the entries at
    random places; they resume, evaluate and refuse --positions first as such."""
    from ntm_scratch.checkpoint import load_checkpoint, save_checkpoint
    path = str(tmp_path / "old.npz")
    tiny = ["--bits", "3", "--hidden", "4", "--batch-size", "4", "--eval-size", "4",
            "--eval-every", "1"]
    assert main(["parity", *tiny, "--steps", "1", "--checkpoint", path]) == 0
    params, optim, meta = load_checkpoint(path)
    assert meta["task_config"].pop("positions") == "random"
    save_checkpoint(path, params, optim, meta)
    assert main(["parity", "--resume", path, "--steps", "2", "--positions", "first"]) == 2
    assert "positions=random" in capsys.readouterr().err
    assert main(["parity", "--resume", path, "--steps", "2"]) == 0
    assert load_checkpoint(path)[2]["task_config"]["positions"] == "random"
    assert main(["eval", "parity", "--checkpoint", path, "--count", "4"]) == 0
    capsys.readouterr()
    assert main(["eval", "parity", "--checkpoint", path, "--positions", "first,random",
                 "--count", "4"]) == 0                   # evaluated on either layout
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]] == [
        "first", "random"]
    older = str(tmp_path / "older.npz")                      # one saved before the option,
    save_checkpoint(older, params, optim, meta)              # beside one saved after it
    assert main(["compare", "parity", "--checkpoints", older, path, "--nonzero", "1,3",
                 "--count", "4"]) == 0


def test_resuming_a_checkpoint_older_than_an_option_asks_for_its_value(tmp_path, capsys):
    """A repeat-copy checkpoint saved before --curriculum existed must not silently take the
    new default: resume asks which value it was trained with, and takes the answer."""
    from ntm_scratch.checkpoint import load_checkpoint, save_checkpoint
    path = str(tmp_path / "old.npz")
    common = ["--hidden", "4", "--memory-rows", "6", "--memory-width", "3", "--max-length", "2",
              "--max-repeats", "2", "--batch-size", "2", "--eval-size", "2",
              "--eval-every", "1"]
    assert main(["repeat-copy", *common, "--curriculum", "0", "--steps", "1",
                 "--checkpoint", path]) == 0
    params, optim, meta = load_checkpoint(path)
    meta["task_config"].pop("curriculum")
    save_checkpoint(path, params, optim, meta)
    capsys.readouterr()
    assert main(["repeat-copy", "--resume", path, "--steps", "2"]) == 2
    assert "predates --curriculum" in capsys.readouterr().err
    assert main(["repeat-copy", "--resume", path, "--steps", "2", "--curriculum", "0"]) == 0
    assert load_checkpoint(path)[2]["task_config"]["curriculum"] == 0.0


def test_a_checkpoint_older_than_the_controller_layers_option_resumes_with_one(tmp_path, capsys):
    """Before --controller-layers an NTM controller had one layer, so such a checkpoint resumes
    without the flag, and refuses a flag that says otherwise."""
    from ntm_scratch.checkpoint import load_checkpoint, save_checkpoint
    path = str(tmp_path / "old.npz")
    assert main(["copy", *TINY_NTM, "--steps", "1", "--checkpoint", path]) == 0
    params, optim, meta = load_checkpoint(path)
    meta["model_config"].pop("controller_layers")
    save_checkpoint(path, params, optim, meta)
    capsys.readouterr()
    assert main(["copy", "--resume", path, "--steps", "2", "--controller-layers", "2"]) == 2
    assert "controller_layers=1" in capsys.readouterr().err
    assert main(["copy", "--resume", path, "--steps", "2"]) == 0
    assert load_checkpoint(path)[2]["model_config"]["controller_layers"] == 1


def test_table_qa_trains_evaluates_every_template_and_draws(tmp_path, capsys):
    """run.py table-qa with three columns; eval prints the training row, the test row and one
    row per template (error and own programs); figures draws the programs, the rows and the
    learning curve."""
    ckpt = str(tmp_path / "np.npz")
    assert main(["table-qa", "--columns", "3", "--hidden", "6", "--embed", "4", "--steps", "3",
                 "--batch-size", "8", "--eval-size", "8", "--eval-every", "3",
                 "--grad-noise", "0.1", "--checkpoint", ckpt]) == 0
    capsys.readouterr()
    assert main(["eval", "table-qa", "--checkpoint", ckpt, "--count", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].split() == ["error", "own_program"]
    assert len(lines) == 2 + 2 + 23 and lines[2].split()[0] == "train"
    assert lines[-1].split()[:3] == ["count", "diff", "sum"]
    assert main(["figures", "table-qa", "--checkpoint", ckpt, "--out", str(tmp_path / "f"),
                 "--count", "4"]) == 0
    assert sorted(os.listdir(tmp_path / "f")) == [
        "table-qa_by_row.png", "table-qa_learning_curves.png", "table-qa_programs.png"]


def test_question_attention_and_product_logic_are_saved_and_resumed(tmp_path, capsys):
    """--question-attention dot, --logic product and --entropy reach the model, are saved with
    it, and come back on --resume and in eval (the entropy is logged in training only); the
    pipe takes --question-attention, --entropy and --selection, the LSTM refuses each in one
    line."""
    from ntm_scratch.checkpoint import load_checkpoint
    from tasks.arithmetic import ArithmeticTask
    ckpt, pipe_ckpt = str(tmp_path / "np.npz"), str(tmp_path / "pipe.npz")
    small = ["--hidden", "6", "--embed", "4", "--steps", "2", "--batch-size", "8",
             "--eval-size", "8", "--eval-every", "2"]
    assert main(["table-qa", *small, "--question-attention", "dot", "--logic", "product",
                 "--entropy", "50", "--log-every", "1", "--checkpoint", ckpt]) == 0
    saved = load_checkpoint(ckpt)
    assert saved[2]["model_config"]["question_attention"] == "dot"
    assert saved[2]["model_config"]["logic"] == "product"
    assert saved[2]["model_config"]["entropy"] == 50.0
    with open(ckpt[:-len(".npz")] + ".jsonl") as f:
        records = [json.loads(line) for line in f]
    trains = [r for r in records if r.get("kind") == "train"]
    assert trains and all(r["choice_entropy"] > 0 for r in trains)
    assert not any("choice_entropy" in r for r in records if r.get("kind") == "eval")
    assert saved[0]["W_op"].shape[0] == 2 * 6 + 6                  # reads [q; c^q; h_t]
    assert main(["table-qa", "--resume", ckpt, "--steps", "3"]) == 0
    assert main(["figures", "table-qa", "--checkpoint", ckpt, "--out", str(tmp_path / "f"),
                 "--count", "2"]) == 0                   # with the words each step reads
    assert sorted(os.listdir(tmp_path / "f")) == [
        "table-qa_by_row.png", "table-qa_learning_curves.png", "table-qa_programs.png",
        "table-qa_question_attention.png"]
    assert main(["table-qa", "--resume", ckpt, "--steps", "4", "--logic", "minmax"]) == 2
    assert main(["eval", "table-qa", "--checkpoint", ckpt, "--count", "2"]) == 0
    plain = str(tmp_path / "plain.npz")                  # the defaults are not saved: resumed
    assert main(["table-qa", *small, "--checkpoint", plain]) == 0        # as none and minmax
    assert "logic" not in load_checkpoint(plain)[2]["model_config"]
    assert main(["table-qa", "--resume", plain, "--steps", "3"]) == 0
    assert main(["table-qa", "--resume", plain, "--steps", "4", "--question-attention",
                 "dot"]) == 2
    assert main(["arithmetic", *small, "--question-attention", "dot",
                 "--checkpoint", pipe_ckpt]) == 0
    assert load_checkpoint(pipe_ckpt)[2]["model_config"]["question_attention"] == "dot"
    assert main(["figures", "arithmetic", "--checkpoint", pipe_ckpt, "--out",
                 str(tmp_path / "g"), "--count", "2"]) == 0
    assert "arithmetic_question_attention.png" in os.listdir(tmp_path / "g")
    capsys.readouterr()                                  # the pipe's rows by operator pattern
    assert main(["eval", "arithmetic", "--checkpoint", pipe_ckpt, "--operators=-*,all",
                 "--count", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
    assert [r["operators"] for r in rows] == ArithmeticTask().operator_patterns()
    assert main(["eval", "arithmetic", "--checkpoint", pipe_ckpt, "--operators=-/"]) == 2
    assert main(["eval", "table-qa", "--checkpoint", ckpt, "--operators", "+"]) == 2
    assert main(["table-qa", "--resume", ckpt, "--steps", "4", "--entropy", "0"]) == 2
    capsys.readouterr()
    pipe_entropy = str(tmp_path / "pipe-entropy.npz")
    assert main(["arithmetic", *small, "--entropy", "1", "--entropy-steps", "5",
                 "--checkpoint", pipe_entropy]) == 0
    assert load_checkpoint(pipe_entropy)[2]["model_config"]["entropy_steps"] == 5
    straight = str(tmp_path / "pipe-straight.npz")
    assert main(["arithmetic", *small, "--selection", "straight", "--gumbel", "1",
                 "--checkpoint", straight]) == 0
    assert load_checkpoint(straight)[2]["model_config"]["selection"] == "straight"
    assert main(["arithmetic", "--resume", straight, "--steps", "3"]) == 0
    assert main(["arithmetic", "--resume", straight, "--steps", "4", "--selection",
                 "soft"]) == 2
    assert "selection" not in load_checkpoint(plain)[2]["model_config"]
    sampled = str(tmp_path / "pipe-sample.npz")         # K drawn programs for each question
    assert main(["arithmetic", *small, "--selection", "sample", "--samples", "3",
                 "--entropy", "0.1", "--checkpoint", sampled]) == 0
    saved = load_checkpoint(sampled)[2]
    assert saved["model_config"]["samples"] == 3
    assert main(["arithmetic", "--resume", sampled, "--steps", "3"]) == 0
    assert load_checkpoint(sampled)[2]["model_config"]["samples"] == 3
    capsys.readouterr()
    assert main(["arithmetic", *small, "--samples", "3", "--checkpoint",
                 str(tmp_path / "s.npz")]) == 2
    assert main(["table-qa", *small, "--selection", "sample", "--checkpoint",
                 str(tmp_path / "s.npz")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 2
    capsys.readouterr()
    assert main(["arithmetic", "--model", "lstm", "--steps", "2", "--selection", "straight",
                 "--checkpoint", str(tmp_path / "lstm.npz")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["arithmetic", "--model", "lstm", "--steps", "2", "--entropy", "1",
                 "--checkpoint", str(tmp_path / "lstm.npz")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["arithmetic", "--model", "lstm", "--steps", "2", "--question-attention",
                 "dot", "--checkpoint", str(tmp_path / "lstm.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "question-attention" in err[0]


def test_arithmetic_pipe_and_lstm_baseline(tmp_path, capsys):
    """The pipe and the LSTM baseline train on arithmetic, evaluate on numbers up to 99, and
    are drawn side by side."""
    pipe, lstm = str(tmp_path / "pipe.npz"), str(tmp_path / "lstm.npz")
    common = ["--hidden", "6", "--steps", "2", "--batch-size", "8", "--eval-size", "8",
              "--eval-every", "2"]
    assert main(["arithmetic", *common, "--embed", "4", "--checkpoint", pipe]) == 0
    assert main(["arithmetic", "--model", "lstm", *common, "--checkpoint", lstm]) == 0
    capsys.readouterr()
    assert main(["eval", "arithmetic", "--checkpoint", lstm, "--count", "4"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()[2:]]
    assert rows == ["train", "2", "3", "4", "to"]
    assert main(["figures", "arithmetic", "--checkpoint", pipe, "--baseline", lstm,
                 "--out", str(tmp_path / "f"), "--count", "4"]) == 0
    assert len(os.listdir(tmp_path / "f")) == 3


@pytest.mark.parametrize("argv", [["table-qa", "--columns", "7"], ["table-qa", "--model", "lstm"],
                                  ["arithmetic", "--max-numbers", "1"],
                                  ["arithmetic", "--max-numbers", "5"],
                                  ["table-qa", "--grad-noise", "-1"],
                                  ["arithmetic", "--model", "lstm", "--embed", "4"]])
def test_programmer_tasks_refuse_bad_input_in_one_line(argv, tmp_path, capsys):
    assert main([*argv, "--steps", "1", "--checkpoint", str(tmp_path / "c.npz")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "c.npz")


def _learning_curves_of_a_tiny_run(task, argv, tmp_path, capsys, monkeypatch):
    """Train a tiny LSTM on `task` for 2 steps (evaluating at each) and return the learning
    curves' figure, not saved."""
    from ntm_scratch import figures
    from ntm_scratch.cli import _load_trained
    path = str(tmp_path / "run.npz")
    assert main([task, "--model", "lstm", "--hidden", "4", "--layers", "1", *argv,
                 "--steps", "2", "--batch-size", "2", "--eval-size", "2", "--eval-every", "1",
                 "--checkpoint", path]) == 0
    capsys.readouterr()
    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, paths, out: drawn.append(fig))
    figures._learning_curves([_load_trained(path, task)], [path], "unused.png")
    (fig,) = drawn
    return fig


def test_a_bit_tasks_learning_curves_draw_the_cross_entropy_and_the_papers_points(
        tmp_path, capsys, monkeypatch):
    """Priority sort: two panels, the cross-entropy (the NTM paper's cost, with its points read
    off Fig. 18, the axis reaching the last of them) and wrong bits, each with the run's curve."""
    from tasks.priority_sort import PrioritySortTask
    cross, wrong = _learning_curves_of_a_tiny_run("priority-sort", [], tmp_path, capsys,
                                                  monkeypatch).axes
    marked = [l for l in cross.get_lines() if l.get_linestyle() == "None"]
    assert [list(l.get_ydata()) for l in marked] == [[b for _, b in points] for _, points
                                                     in PrioritySortTask.paper_curves]
    assert [l.get_label() for l in marked] == [label for label, _
                                               in PrioritySortTask.paper_curves]
    assert cross.get_xlim()[1] >= 1000          # the last point read off is at 1M sequences
    curve = [l for l in cross.get_lines() if l.get_linestyle() != "None"][0]
    assert len(curve.get_xdata()) == 3 and len(wrong.get_lines()) == 1   # steps 0, 1, 2
    assert "cross-entropy" in cross.get_ylabel() and "wrong" in wrong.get_ylabel()


def test_ngrams_learning_curve_marks_the_papers_points_above_the_optimum(tmp_path, capsys,
                                                                           monkeypatch):
    """N-grams has one panel, the cross-entropy above the Bayesian optimum, and the paper's
    points (Fig. 13, less its optimum) go on it."""
    from tasks.ngrams import NGramsTask
    (ax,) = _learning_curves_of_a_tiny_run("ngrams", ["--length", "12"], tmp_path, capsys,
                                           monkeypatch).axes
    marked = [l for l in ax.get_lines() if l.get_linestyle() == "None"]
    assert [list(l.get_ydata()) for l in marked] == [[b for _, b in points] for _, points
                                                     in NGramsTask.paper_curves]
    assert "above" in ax.get_ylabel()


@pytest.mark.parametrize("name", ["copy", "repeat-copy", "associative-recall", "ngrams",
                                  "priority-sort"])
def test_every_ntm_paper_task_has_the_papers_curves_in_order(name):
    """Each NTM task marks the paper's NTM (first) and LSTM curves, sequences increasing."""
    from tasks import TASKS
    curves = TASKS[name].paper_curves
    assert len(curves) == 2 and "NTM with LSTM" in curves[0][0] and ", LSTM" in curves[1][0]
    for _, points in curves:
        seqs = [n for n, _ in points]
        assert seqs == sorted(set(seqs)) and all(b >= 0 for _, b in points)


def test_programs_maps_the_difference_templates_plateau(capsys):
    """`run.py programs`: the own program answers at loss 0, and one-step changes from the sum
    program found in training cannot lower the loss: the answer is three steps away."""
    assert main(["programs", "table-qa", "--template", "sum diff count", "--count", "16",
                 "--start", "reset,reset,reset,sum", "--top", "2"]) == 0
    out = capsys.readouterr().out
    own = out.splitlines()[2].split()
    assert own[:4] == ["loss", "0.00", "0.0%", "wrong"] and own[4:] == ["sum,", "reset,",
                                                                         "count,", "difference"]
    assert "2 programs answer it" in out
    assert out.strip().endswith("the nearest program that answers is 3 steps away")
    assert len(out.split("the best one-step change")[1].splitlines()) == 3   # start, no move


@pytest.mark.parametrize("argv", [["--template", "sum dif"],
                                  ["--template", "sum", "--start", "sum,sum,sum"],
                                  ["--template", "sum", "--start", "sum,sum,sum,add"],
                                  ["--template", "sum", "--count", "0"]])
def test_programs_refuses_bad_input_in_one_line(argv, capsys):
    assert main(["programs", "table-qa", *argv]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_table_qa_trains_on_the_templates_named(tmp_path, capsys):
    """--templates: training and its evaluations draw only the templates named; an old
    checkpoint (before the option) continues with all 23; a wrong name is refused in one line."""
    from ntm_scratch.checkpoint import load_checkpoint, save_checkpoint
    from tasks.table_qa import NAMES, TableQATask
    task = TableQATask(templates="count diff sum, sum")
    drawn = task.sample(np.random.default_rng(0), 200).template
    assert set(drawn) == {NAMES.index("count diff sum"), NAMES.index("sum")}
    assert task.config["templates"] == "count diff sum,sum"
    assert len(set(TableQATask().sample(np.random.default_rng(0), 400).template)) == len(NAMES)
    path = str(tmp_path / "t.npz")
    assert main(["table-qa", "--templates", "sum", "--steps", "2", "--eval-every", "1",
                 "--eval-size", "4", "--batch-size", "4", "--hidden", "4", "--embed", "4",
                 "--workers", "1", "--checkpoint", path]) == 0
    assert main(["table-qa", "--resume", path, "--steps", "3", "--workers", "1"]) == 0
    assert main(["table-qa", "--resume", path, "--templates", "count", "--steps", "4",
                 "--workers", "1"]) == 2
    params, optim, meta = load_checkpoint(path)             # as saved before the option
    assert meta["task_config"].pop("templates") == "sum"
    save_checkpoint(path, params, optim, meta)
    assert main(["table-qa", "--resume", path, "--steps", "4", "--workers", "1"]) == 0
    assert load_checkpoint(path)[2]["task_config"]["templates"] == "all"
    capsys.readouterr()
    assert main(["table-qa", "--templates", "sum,summ", "--steps", "1",
                 "--checkpoint", str(tmp_path / "u.npz")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "u.npz")
