"""run.py sweep: grids × seeds on Dask (an in-process local cluster), its faults and halving."""
import json
import os
import time

import pytest

from ntm_scratch.checkpoint import load_checkpoint
from ntm_scratch.cli import main
from ntm_scratch.train import read_log_records

PARITY = ["--bits", "3", "--hidden", "4", "--batch-size", "4", "--eval-every", "1",
          "--eval-size", "4"]
COPY = ["--hidden", "4", "--memory-rows", "6", "--memory-width", "3", "--max-length", "2",
        "--batch-size", "2", "--eval-size", "2", "--eval-every", "1"]


def summary_of(folder):
    with open(folder / "summary.json") as f:
        return json.load(f)


def test_an_act_sweep_over_tau_trains_every_run_with_the_baseline_once(tmp_path, capsys):
    runs, figs = tmp_path / "runs", tmp_path / "figs"
    argv = ["sweep", "parity", "--grid", "tau=1e-2", "--seeds", "0,3", "--jobs", "2",
            "--dir", str(runs), "--out", str(figs), "--count", "16", "--steps", "2", *PARITY]
    assert main(argv) == 0
    out = capsys.readouterr().out
    names = {f"{t}-seed{s}" for t in ("tau0.01", "noact") for s in (0, 3)}
    assert {line.split(":")[0] for line in out.splitlines() if "trained in" in line} == names
    assert sorted(os.listdir(figs)) == ["parity_error_vs_grid.png", "parity_error_vs_tau.png",
                                        "parity_ponder_vs_difficulty.png"]
    summary = summary_of(runs)
    assert {r["name"] for r in summary["runs"]} == names
    assert all(r["status"] == "trained" and r["eval"]["seqs"] == 8 for r in summary["runs"])
    means = [c["mean"] for c in summary["configs"]]
    assert means == sorted(means) and {c["evaluated"] for c in summary["configs"]} == {2}
    meta = load_checkpoint(str(runs / "tau0.01-seed3.npz"))[2]
    assert meta["model_config"]["tau"] == 0.01 and meta["train"]["seed"] == 3
    assert load_checkpoint(str(runs / "noact-seed0.npz"))[2]["model_config"]["max_ponder"] == 1
    assert main(argv) == 0                                   # a second time trains nothing
    assert capsys.readouterr().out.count("already trained") == 4


def test_a_two_axis_grid_on_an_ntm_task_passes_each_value_to_its_run(tmp_path, capsys):
    argv = ["sweep", "copy", "--grid", "lr=0.01,0.001", "--grid", "memory-rows=6,8",
            "--dir", str(tmp_path), "--count", "4", "--steps", "2", *[
                a for a in COPY if a not in ("--memory-rows", "6")]]
    assert main(argv) == 0
    names = {f"lr{lr}-memory-rows{n}-seed0" for lr in ("0.01", "0.001") for n in (6, 8)}
    assert {r["name"] for r in summary_of(tmp_path)["runs"]} == names
    meta = load_checkpoint(str(tmp_path / "lr0.001-memory-rows8-seed0.npz"))[2]
    assert meta["optimizer"]["lr"] == 0.001 and meta["model_config"]["memory_rows"] == 8
    assert os.path.exists(tmp_path / "copy_cost_vs_grid.png")
    table = capsys.readouterr().out
    assert "lr=0.001 memory-rows=8" in table and "configuration" in table


@pytest.mark.parametrize("argv", [["--grid", "lr"], ["--grid", "lr=0.1", "--grid", "lr=0.2"],
                                  ["--grid", "lr=0.1,0.1"], ["--grid", "lr=a/b"],
                                  ["--grid", "seed=1,2"], ["--grid", "lr=0.1", "--lr", "0.2"],
                                  ["--grid", "steps=1,2"], ["--grid", "nonsense=1"],
                                  ["--grid", "lr=-1"], ["--seed", "2"],
                                  ["--grid", "tau=0.1", "--bits", "0"],
                                  ["--grid", "tau=0.1", "--scheduler", "localhost"],
                                  ["--grid", "tau=0.1", "--scheduler", "tls://host:8786"]])
def test_sweep_bad_arguments(argv, tmp_path, capsys):
    assert main(["sweep", "parity", "--dir", str(tmp_path), *argv]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())                        # nothing was started


def test_a_failed_run_is_reported_and_the_others_go_on(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "tau0.1-seed0.npz").write_bytes(b"not a checkpoint")
    argv = ["sweep", "parity", "--grid", "tau=0.1,0.01", "--dir", str(runs), "--count", "8",
            "--steps", "2", *PARITY]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and "tau0.1-seed0" in captured.err
    rows = {r["name"]: r for r in summary_of(runs)["runs"]}
    assert rows["tau0.1-seed0"]["status"] == "failed"
    assert "not a readable checkpoint" in rows["tau0.1-seed0"]["failure"]
    assert rows["tau0.01-seed0"]["status"] == rows["noact-seed0"]["status"] == "trained"
    assert rows["tau0.01-seed0"]["failure"] is None and "error" in rows["tau0.01-seed0"]["eval"]


def test_a_run_started_with_other_flags_is_not_continued(tmp_path, capsys):
    argv = ["sweep", "parity", "--grid", "tau=0.1", "--dir", str(tmp_path), "--count", "4",
            "--steps", "1", *PARITY]
    assert main(argv) == 0
    more = [*argv, "--steps", "2"]                               # more steps: the same runs
    assert main(more) == 0
    assert load_checkpoint(str(tmp_path / "tau0.1-seed0.npz"))[2]["step"] == 2
    capsys.readouterr()
    assert main([*more, "--lr", "0.5"]) == 1                     # not the same runs any more
    rows = {r["name"]: r for r in summary_of(tmp_path)["runs"]}
    assert rows["tau0.1-seed0"]["status"] == "failed"
    assert "started with other flags (--lr (not given), now 0.5)" in \
        rows["tau0.1-seed0"]["failure"]
    assert load_checkpoint(str(tmp_path / "tau0.1-seed0.npz"))[2]["optimizer"]["lr"] != 0.5


def test_the_plan_adds_the_baseline_once_and_errors_say_this_attempt():
    from ntm_scratch.sweep import identity, plan
    assert plan({"tau": ["0.1", "none"]}, [0], True) == [{"tau": "0.1"}, {"tau": "none"}]
    assert plan({"lr": ["1", "2"], "tau": ["0.1"]}, [0], True)[2:] == [
        {"lr": "1", "tau": "none"}, {"lr": "2", "tau": "none"}]
    assert identity(["copy", "--steps", "5", "--lr", "0.1", "--workers=2", "--backend",
                     "numpy"]) == ["copy", "--lr", "0.1"]
    from ntm_scratch.sweep import _as_dict
    assert _as_dict(["copy", "--lr", "0.1", "--no-stop", "--seed=2"]) == {
        "": "copy", "--lr": "0.1", "--no-stop": "", "--seed": "2"}


def test_a_failed_attempt_reports_its_own_error(tmp_path):
    from ntm_scratch.sweep import _last_error
    out = tmp_path / "run.out"
    out.write_text("run.py: error: an old attempt's error\nstep 5/9\n")
    offset = len(out.read_bytes())
    with open(out, "a") as f:
        f.write("step 6/9\nTraceback (most recent call last):\nZeroDivisionError: x\n")
    assert _last_error(str(out), offset, 1) == \
        "exit status 1; its last line: ZeroDivisionError: x"
    assert _last_error(str(out), len(out.read_bytes()), -9) == "killed by SIGKILL"
    assert _last_error(str(out), 0, 2) == "run.py: error: an old attempt's error"


def test_halving_stops_the_worse_configurations_and_keeps_its_choice(tmp_path, capsys):
    argv = ["sweep", "parity", "--grid", "tau=0.1,0.01,0.001", "--dir", str(tmp_path),
            "--halving", "--eta", "3", "--rungs", "2", "--count", "8", "--steps", "3", *PARITY]
    assert main(argv) == 0
    summary = summary_of(tmp_path)
    status = {r["name"]: r["status"] for r in summary["runs"]}
    assert sorted(status.values()) == ["stopped", "stopped", "trained", "trained"]
    for row in summary["runs"]:              # the survivor and the baseline train on
        step = load_checkpoint(row["path"])[2]["step"]
        assert (step, row["stopped_at"]) == ((1, 1) if row["status"] == "stopped" else (3, None))
    kept = json.load(open(tmp_path / "halving.json"))
    survivor = [n for n, v in status.items() if v == "trained" and "noact" not in n][0]
    assert kept["0"] == [json.dumps({"tau": survivor[3:-6]})]
    other = [n for n, v in status.items() if v == "stopped"][0]
    kept["0"] = [json.dumps({"tau": other[3:-6]})]           # as if the other had been best
    json.dump(kept, open(tmp_path / "halving.json", "w"))
    capsys.readouterr()
    assert main(argv) == 0                   # started again: the recorded choice is followed
    assert summary_of(tmp_path)["configs"][0]["config"] == {"tau": other[3:-6]}
    assert "trained in" in capsys.readouterr().out                # the other one trains on
    bigger = [a if a != "tau=0.1,0.01,0.001" else "tau=0.1,0.01,0.001,0.5" for a in argv]
    assert main(bigger) == 0                 # another grid: a choice of its own
    assert json.load(open(tmp_path / "halving.json"))["context"]["runs"][-1] == "tau0.5-seed0"


def test_a_run_whose_worker_is_lost_resumes_on_another(tmp_path):
    """A worker closed while its run trains: the run's process ends, Dask gives the task to
    the other worker, and the run resumes from its last checkpoint."""
    from distributed import Client, LocalCluster
    from ntm_scratch.sweep import run_sweep
    path = str(tmp_path / "lost-seed0.npz")
    argv = ["copy", *COPY, "--seed", "0", "--workers", "1"]
    runs = [{"name": "lost-seed0", "config": {}, "seed": 0, "argv": argv, "path": path,
             "resume_argv": ["copy", "--workers", "1"], "steps": 250}]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        import threading
        result = {}
        sweep = threading.Thread(target=lambda: result.update(runs=run_sweep(
            client, runs, 1, 3, "copy", "cost", 2, str(tmp_path / "halving.json"),
            log=open(os.devnull, "w"))))
        sweep.start()
        deadline = time.monotonic() + 60
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        busy = [w for w in cluster.workers.values() if w.state.executing_count]
        assert len(busy) == 1, "the run did not start"
        client.sync(busy[0].close)
        sweep.join(timeout=120)
    events = [r["event"] for r in read_log_records(path[:-4] + ".jsonl") if r["kind"] == "event"]
    assert events[0] == "start" and "resume" in events and events[-1] == "done"
    assert result["runs"][0]["status"] == "trained"
    assert load_checkpoint(path)[2]["step"] == 250


def test_a_sweep_runs_on_the_scheduler_it_is_given(tmp_path, capsys):
    from distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=":0") as cluster:
        argv = ["sweep", "parity", "--grid", "tau=0.1", "--scheduler",
                cluster.scheduler_address, "--dir", str(tmp_path), "--count", "4",
                "--steps", "1", *PARITY]
        assert main(argv) == 0
    assert f"on {cluster.scheduler_address}" in capsys.readouterr().out
    assert {r["status"] for r in summary_of(tmp_path)["runs"]} == {"trained"}


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc")
def test_ctrl_c_cancels_the_runs_on_a_cluster(tmp_path):
    """The sweep (a process of its own) on a cluster in this process: its trainings are
    children of this process, so only the sweep's cancelling, not its exit, can end them."""
    import signal
    import subprocess
    import sys
    from distributed import LocalCluster
    from test_processes import ROOT, children, end_everything, wait_until_gone
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=":0") as cluster:
        sweep = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "run.py"), "sweep", "parity", "--grid",
             "tau=0.01", "--scheduler", cluster.scheduler_address, "--dir", str(tmp_path),
             "--bits", "3", "--hidden", "4", "--steps", "1000000", "--batch-size", "4",
             "--eval-every", "1000000", "--eval-size", "4"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": ROOT})
        runs = []
        try:
            deadline = time.monotonic() + 60
            while len(runs) < 2 and time.monotonic() < deadline:
                assert sweep.poll() is None, "the sweep ended by itself"
                runs = [pid for pid in children(os.getpid()) if pid != sweep.pid]
                time.sleep(0.05)
            assert len(runs) == 2, "the sweep's two trainings did not start here"
            sweep.send_signal(signal.SIGINT)
            assert sweep.wait(timeout=20) == 130
            assert wait_until_gone(runs), "a training outlived the sweep's Ctrl-C"
        finally:
            end_everything(sweep, runs)
