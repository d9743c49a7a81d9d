"""Bad input gets one line on stderr and exit status 2, and never overwrites a file."""
import os
import subprocess
import sys

import numpy as np
import pytest

from ntm_scratch.checkpoint import save_checkpoint
from ntm_scratch.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--model", "lstm", "--hidden", "4", "--layers", "1", "--max-length", "3", "--batch-size", "2",
        "--eval-size", "2"]


def run_cli(*args, env=None):
    """run.py in a subprocess: the real exit status and stderr, with no traceback possible to hide."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=120)


def assert_one_line_error(code, err):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("run.py: error: ") and "Traceback" not in err


def test_help_lists_the_tasks():
    res = run_cli("--help")
    assert res.returncode == 0 and "copy" in res.stdout


def test_every_commands_help_prints(capsys):
    """`run.py TASK --help` for every task and command (a % in a help text once broke argparse)."""
    from tasks import TASKS
    for command in [*TASKS, "eval", "compare copy", "figures", "explore copy", "export",
                    "sweep parity", "bench"]:
        with pytest.raises(SystemExit) as done:
            main([*command.split(), "--help"])
        assert done.value.code == 0, command
        assert "--" in capsys.readouterr().out, command


BAD = {
    "unknown task": ["nosuchtask"],
    "no task": [],
    "unknown model": ["copy", "--model", "gru"],
    "zero steps": ["copy", "--steps", "0"],
    "negative steps": ["copy", "--steps", "-3"],
    "steps not a number": ["copy", "--steps", "ten"],
    "fractional batch": ["copy", "--batch-size", "2.5"],
    "zero batch": ["copy", "--batch-size", "0"],
    "zero rate": ["copy", "--lr", "0"],
    "negative rate": ["copy", "--lr", "-1e-3"],
    "rate not a number": ["copy", "--lr", "fast"],
    "rate nan": ["copy", "--lr", "nan"],
    "zero hidden": ["copy", "--hidden", "0"],
    "zero eval interval": ["copy", "--eval-every", "0"],
    "negative seed": ["copy", "--seed", "-1"],
    "lengths reversed": ["copy", "--min-length", "5", "--max-length", "3", *TINY[:4]],
    "unknown backend": ["copy", "--backend", "tpu"],
}


@pytest.mark.parametrize("argv", BAD.values(), ids=BAD.keys())
def test_bad_arguments(argv, capsys):
    code = main(argv)
    assert_one_line_error(code, capsys.readouterr().err)


def test_bad_input_in_a_real_process_has_no_traceback():
    res = run_cli("copy", "--steps", "0")
    assert_one_line_error(res.returncode, res.stderr)
    res = run_cli("copy", "--resume", "/no/such/checkpoint.npz")
    assert_one_line_error(res.returncode, res.stderr)
    assert "no checkpoint" in res.stderr


def test_cupy_unavailable_says_how_to_install(capsys):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    code = main(["copy", *TINY, "--steps", "1", "--backend", "cupy"])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert "requirements-gpu.txt" in err and "cupy" in err.lower()
    res = run_cli("copy", *TINY, "--steps", "1", env={"NTM_BACKEND": "cupy"})
    assert_one_line_error(res.returncode, res.stderr)


def test_missing_and_corrupt_checkpoints(tmp_path, capsys):
    assert_one_line_error(main(["copy", "--resume", str(tmp_path / "none.npz")]),
                          capsys.readouterr().err)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert_one_line_error(main(["copy", "--resume", str(bad)]), capsys.readouterr().err)
    assert bad.read_bytes() == b"PK\x03\x04 truncated"                 # left as it was


@pytest.fixture
def trained(tmp_path, capsys):
    """A real 2-step checkpoint of a tiny LSTM (hidden 4)."""
    path = str(tmp_path / "run.npz")
    assert main(["copy", *TINY, "--steps", "2", "--checkpoint", path]) == 0
    capsys.readouterr()
    return path


def test_checkpoint_of_another_model_size_task_or_model(trained, tmp_path, capsys):
    before = open(trained, "rb").read()
    for argv in (["--hidden", "8"], ["--layers", "2"], ["--max-length", "9"]):
        code = main(["copy", "--steps", "4", "--resume", trained, *argv])
        err = capsys.readouterr().err
        assert_one_line_error(code, err)
        assert argv[0][2:] in err.replace("-", "_") or argv[0] in err
    from ntm_scratch.checkpoint import load_checkpoint
    params, optim, meta = load_checkpoint(trained)
    other = str(tmp_path / "other.npz")
    save_checkpoint(other, params, optim, dict(meta, task="priority-sort"))
    code = main(["copy", "--steps", "4", "--resume", other])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert "priority-sort" in err
    assert open(trained, "rb").read() == before                    # nothing was written


def test_a_checkpoint_whose_parameters_do_not_fit(trained, tmp_path, capsys):
    from ntm_scratch.checkpoint import load_checkpoint
    params, optim, meta = load_checkpoint(trained)
    params["W0"] = params["W0"][:, :3]
    forged = str(tmp_path / "forged.npz")
    save_checkpoint(forged, params, optim, meta)
    assert_one_line_error(main(["copy", "--steps", "4", "--resume", forged]),
                          capsys.readouterr().err)


def test_existing_files_are_never_overwritten(trained, capsys):
    before = open(trained, "rb").read()
    log = trained[:-4] + ".jsonl"
    log_before = open(log).read()
    code = main(["copy", *TINY, "--steps", "2", "--checkpoint", trained])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert "--resume" in err
    assert open(trained, "rb").read() == before and open(log).read() == log_before


def test_resume_past_its_steps_and_wrong_optimizer(trained, capsys):
    assert_one_line_error(main(["copy", "--steps", "2", "--resume", trained]),
                          capsys.readouterr().err)
    assert_one_line_error(main(["copy", "--steps", "4", "--resume", trained,
                                "--optimizer", "rmsprop"]), capsys.readouterr().err)
    assert main(["copy", "--steps", "3", "--resume", trained]) == 0    # and a good resume works


def test_damaged_checkpoints_and_bare_arrays(trained, tmp_path, capsys):
    from ntm_scratch.checkpoint import load_checkpoint
    params, optim, meta = load_checkpoint(trained)
    for key in ("rng_state", "train", "step", "model_config"):
        broken = str(tmp_path / f"no-{key}.npz")
        save_checkpoint(broken, params, optim, {k: v for k, v in meta.items() if k != key})
        assert_one_line_error(main(["copy", "--steps", "9", "--resume", broken]),
                              capsys.readouterr().err)
    np.save(tmp_path / "array.npy", np.ones(3))
    assert_one_line_error(main(["copy", "--resume", str(tmp_path / "array.npy")]),
                          capsys.readouterr().err)


@pytest.mark.parametrize("argv", [["--checkpoint", ""], ["--resume", ""], ["--hidden", "99999999999"],
                                  ["--max-length", "1000000000"], ["--checkpoint", "/dev/null/x.npz"],
                                  ["--checkpoint", "notes.jsonl"], ["--batch-size", "1" + "0" * 20],
                                  ["--eval-size", "1" + "0" * 20], ["--steps", "1" + "0" * 20]],
                         ids=["empty checkpoint", "empty resume", "huge hidden", "huge length",
                              "unwritable path", "not an npz", "batch of 10^20",
                              "evaluation of 10^20", "10^20 steps"])
def test_more_bad_paths_and_sizes(argv, capsys):
    assert_one_line_error(main(["copy", *TINY, "--steps", "1", *argv]), capsys.readouterr().err)


def test_resume_into_a_new_checkpoint_never_touches_another_runs_log(trained, tmp_path, capsys):
    target = tmp_path / "new.npz"
    (tmp_path / "new.jsonl").write_text("another run's log\n")
    code = main(["copy", "--steps", "4", "--resume", trained, "--checkpoint", str(target)])
    assert_one_line_error(code, capsys.readouterr().err)
    assert (tmp_path / "new.jsonl").read_text() == "another run's log\n" and not target.exists()
    assert main(["copy", "--steps", "4", "--resume", trained,
                 "--checkpoint", str(tmp_path / "branch.npz")]) == 0      # a fresh name works


def test_resume_refuses_another_seed_or_dtype(trained, capsys):
    for argv in (["--seed", "5"], ["--dtype", "float64"]):
        assert_one_line_error(main(["copy", "--steps", "4", "--resume", trained, *argv]),
                              capsys.readouterr().err)


def test_a_run_that_fails_to_start_leaves_no_log(tmp_path, capsys, monkeypatch):
    import ntm_scratch.train as train_module

    def no_disk(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(train_module, "save_checkpoint", no_disk)
    path = tmp_path / "run.npz"
    assert_one_line_error(main(["copy", *TINY, "--steps", "2", "--checkpoint", str(path)]),
                          capsys.readouterr().err)
    assert not path.exists() and not (tmp_path / "run.jsonl").exists()


def test_a_checkpoint_with_settings_this_version_does_not_know(trained, tmp_path, capsys):
    from ntm_scratch.checkpoint import load_checkpoint
    params, optim, meta = load_checkpoint(trained)
    meta["train"] = dict(meta["train"], future_setting=3)
    meta["optimizer"] = dict(meta["optimizer"], future_option=True)
    newer = str(tmp_path / "newer.npz")
    save_checkpoint(newer, params, optim, meta)
    assert main(["copy", "--steps", "3", "--resume", newer]) == 0


def test_evaluation_settings_a_task_cannot_make(tmp_path, capsys):
    """Associative recall with one item has no item after the query: one line, exit 2, and no
    partial table."""
    path = str(tmp_path / "ar.npz")
    assert main(["associative-recall", "--hidden", "8", "--memory-rows", "12", "--memory-width",
                 "4", "--max-items", "3", "--batch-size", "4", "--eval-size", "4", "--steps", "1",
                 "--checkpoint", path]) == 0
    capsys.readouterr()
    assert main(["eval", "associative-recall", "--checkpoint", path, "--items", "6,1",
                 "--count", "4"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "2 items" in err


def _rewrite(path, out, change):
    """A copy of a checkpoint with `change(arrays, meta)` applied to its raw contents."""
    import json
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    change(arrays, meta)
    arrays["meta"] = np.asarray(json.dumps(meta))
    with open(out, "wb") as f:
        np.savez(f, **arrays)


def _patch_zip(path, out, local_offset, central_offset, value):
    """A copy of an archive with one field of every entry's headers set to `value` (2 bytes)."""
    data = bytearray(open(path, "rb").read())
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        start = data.find(signature)
        while start >= 0:
            data[start + offset:start + offset + 2] = value.to_bytes(2, "little")
            start = data.find(signature, start + 4)
    open(out, "wb").write(bytes(data))


def _set(where, key, value):
    return lambda arrays, meta: meta[where].__setitem__(key, value)


DAMAGE = {
    "a missing optimiser slot": lambda a, m: a.pop("optim/v/W0"),
    "an extra optimiser slot": lambda a, m: a.__setitem__("optim/v/bogus", np.zeros(3, np.float32)),
    "a misshapen optimiser slot": lambda a, m: a.__setitem__("optim/m/b0", np.zeros(3, np.float32)),
    "a step count that is no scalar": lambda a, m: a.__setitem__("optim/t", np.arange(2)),
    "a negative step": lambda a, m: m.__setitem__("step", -1),
    "an evaluation interval of 0": _set("train", "eval_every", 0),
    "an unknown optimiser": _set("optimizer", "name", "sgd"),
    "a broken RNG state": lambda a, m: m.__setitem__("rng_state", {"bit_generator": "PCG64"}),
    "an unknown task setting": _set("task_config", "colour", 3),
    "an empty model setting": _set("model_config", "hidden", None),
    "an unknown model setting": _set("model_config", "colour", 3),
    "an unsupported dtype": lambda a, m: a.__setitem__("param/b0", a["param/b0"].astype(np.float16)),
    "a non-finite parameter": lambda a, m: a["param/W0"].__setitem__((0, 0), np.nan),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_every_part_of_a_checkpoint_is_validated(trained, tmp_path, capsys, damage):
    """Resuming, evaluating or drawing a damaged checkpoint: one line, exit 2, and nothing it
    names as "the last good checkpoint" is anything but whole and finite."""
    assert main(["copy", "--steps", "3", "--resume", trained]) == 0     # slots exist now
    capsys.readouterr()
    bad = str(tmp_path / "bad.npz")
    _rewrite(trained, bad, DAMAGE[damage])
    assert_one_line_error(main(["copy", "--steps", "5", "--resume", bad]), capsys.readouterr().err)
    assert_one_line_error(main(["eval", "copy", "--checkpoint", bad, "--count", "2"]),
                          capsys.readouterr().err)


@pytest.mark.parametrize("field", ["encrypted", "unknown compression"])
def test_an_archive_that_zip_cannot_open(trained, tmp_path, capsys, field):
    bad = str(tmp_path / "bad.npz")
    if field == "encrypted":
        _patch_zip(trained, bad, 6, 8, 1)                   # general-purpose flag bit 0
    else:
        _patch_zip(trained, bad, 8, 10, 99)                 # compression method 99
    assert_one_line_error(main(["copy", "--steps", "5", "--resume", bad]), capsys.readouterr().err)


def test_python_dash_m_runs_the_command_line():
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "ntm_scratch", "--help"], cwd=root,
                          capture_output=True, text=True)
    assert done.returncode == 0 and "copy" in done.stdout and "bench" in done.stdout


def test_eval_json_and_a_reader_that_leaves_early(trained, capsys):
    """--json: one object with a row per setting (the training distribution's has none);
    `run.py eval ... | head -1` ends quietly with status 0."""
    import json
    import subprocess
    import sys
    assert main(["eval", "copy", "--checkpoint", trained, "--lengths", "2,3", "--count", "2",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "copy" and report["step"] == 2 and report["sequences"] > 0
    assert [r.get("length") for r in report["rows"]] == [2, 3]
    assert all({"cost", "bits", "loss"} <= set(r) for r in report["rows"])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(f"{sys.executable} run.py eval copy --checkpoint {trained} "
                          f"--lengths 1,2,3,4,5,6,7,8,9,10 --count 64 | head -1", shell=True,
                          cwd=root, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "" and len(done.stdout.splitlines()) == 1


def _eval_json(path, capsys):
    import json
    assert main(["eval", "copy", "--checkpoint", path, "--lengths", "2,3", "--count", "8",
                 "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_model_file_evaluates_as_its_checkpoint_and_cannot_be_resumed(trained, tmp_path,
                                                                        capsys):
    """run.py export: the parameters without the optimiser state (float32 exact, float16 close),
    the log beside it; eval reads it, a resume refuses it in one line, and no training
    checkpoint is ever overwritten by an export."""
    assert main(["copy", "--steps", "4", "--resume", trained]) == 0      # slots exist now
    capsys.readouterr()
    model, half = str(tmp_path / "m.npz"), str(tmp_path / "h.npz")
    assert main(["export", "--checkpoint", trained, "--out", model]) == 0
    assert main(["export", "--checkpoint", trained, "--out", half, "--float16"]) == 0
    assert "float16" in capsys.readouterr().out
    with np.load(model) as z:
        assert not [k for k in z.files if k.startswith("optim/")]
    with np.load(half) as z:
        assert {z[k].dtype for k in z.files if k.startswith("param/")} == {np.dtype(np.float16)}
    assert open(str(tmp_path / "m.jsonl")).read() == open(str(tmp_path / "run.jsonl")).read()
    full, exported, halved = (_eval_json(p, capsys) for p in (trained, model, half))
    assert exported == full
    for a, b in zip(full["rows"], halved["rows"]):
        assert abs(a["loss"] - b["loss"]) < 1e-2 * max(1.0, abs(a["loss"]))
    assert main(["figures", "copy", "--checkpoint", model, "--out", str(tmp_path / "f"),
                 "--count", "2"]) == 0
    capsys.readouterr()
    assert_one_line_error(main(["copy", "--steps", "6", "--resume", model]),
                          capsys.readouterr().err)
    before = open(trained, "rb").read()
    assert_one_line_error(main(["export", "--checkpoint", model, "--out", trained]),
                          capsys.readouterr().err)
    other = str(tmp_path / "other.npz")
    assert main(["copy", *TINY, "--steps", "1", "--checkpoint", other]) == 0
    capsys.readouterr()
    assert_one_line_error(main(["export", "--checkpoint", other, "--out", trained]),
                          capsys.readouterr().err)
    assert open(trained, "rb").read() == before
    assert main(["export", "--checkpoint", other, "--out", model]) == 0    # a model file: replaced
    capsys.readouterr()
    assert _eval_json(model, capsys)["step"] == 1


MODEL_FILE_DAMAGE = {
    "optimiser state in a model file": lambda a, m: a.__setitem__("optim/t", np.asarray(3)),
    "a parameter not stored as it says": lambda a, m: a.__setitem__(
        "param/b0", a["param/b0"].astype(np.float32)),
    "an unknown storage": lambda a, m: m.__setitem__("stored", "int8"),
}


@pytest.mark.parametrize("damage", MODEL_FILE_DAMAGE, ids=list(MODEL_FILE_DAMAGE))
def test_a_damaged_model_file(trained, tmp_path, capsys, damage):
    model, bad = str(tmp_path / "m.npz"), str(tmp_path / "bad.npz")
    assert main(["export", "--checkpoint", trained, "--out", model, "--float16"]) == 0
    capsys.readouterr()
    _rewrite(model, bad, MODEL_FILE_DAMAGE[damage])
    assert_one_line_error(main(["eval", "copy", "--checkpoint", bad, "--count", "2"]),
                          capsys.readouterr().err)


def test_a_parameter_too_large_for_float16_is_not_exported(trained, tmp_path, capsys):
    big = str(tmp_path / "big.npz")
    _rewrite(trained, big, lambda a, m: a["param/W0"].__setitem__((0, 0), 1e6))
    assert_one_line_error(main(["export", "--checkpoint", big, "--out", str(tmp_path / "m.npz"),
                                "--float16"]), capsys.readouterr().err)
    assert not os.path.exists(str(tmp_path / "m.npz"))
