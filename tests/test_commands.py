"""run.py eval, figures and bench on tiny trained checkpoints."""
import os

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


def test_bench_prints_a_row_per_batch_size(capsys):
    assert main(["bench", "--batch-sizes", "1,2", "--seconds", "0.01"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].split() == ["batch", "seq/s", "ms/step", "steps"]
    assert [line.split()[0] for line in lines[2:]] == ["1", "2"]
    assert all(float(line.split()[1]) > 0 for line in lines[2:])
