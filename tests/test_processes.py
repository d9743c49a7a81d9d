"""Processes: a run's workers end with it, however it ends."""
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--hidden", "8", "--memory-rows", "12", "--memory-width", "4", "--max-length", "3",
        "--batch-size", "8", "--eval-size", "8", "--eval-every", "100000", "--steps", "100000"]


def children(pid):
    """The processes `pid` started, from any of its threads (a sweep's Dask workers are
    threads)."""
    found = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return found


def end_everything(proc, pids):
    """Test cleanup: the process and every child it had, never left behind."""
    if proc.poll() is None:
        proc.kill()
    for pid in pids + children(proc.pid):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def wait_until_gone(pids, seconds=10):
    """Whether every process in pids has ended within `seconds`."""
    deadline = time.monotonic() + seconds
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(map(alive, pids))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"    # a zombie has ended
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_end_when_their_run_is_killed(tmp_path, how):
    run = subprocess.Popen([sys.executable, os.path.join(ROOT, "run.py"), "copy", *TINY,
                            "--workers", "2", "--checkpoint", str(tmp_path / "c.npz")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    workers = []
    try:
        deadline = time.monotonic() + 60
        while not children(run.pid) and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended by itself"
            time.sleep(0.05)
        workers = children(run.pid)
        assert workers, "no worker started"
        run.send_signal(how)
        run.wait(timeout=10)
        assert wait_until_gone(workers), "a worker outlived its run"
    finally:
        end_everything(run, workers)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_sweeps_trainings_end_with_it(tmp_path, how):
    """Ctrl-C and SIGTERM cancel the sweep's Dask tasks, which end their trainings; kill -9
    leaves them to the kernel (each training's parent-death signal)."""
    sweep = subprocess.Popen([sys.executable, os.path.join(ROOT, "run.py"), "sweep", "parity",
                              "--grid", "tau=0.01", "--seeds", "0", "--jobs", "2", "--dir",
                              str(tmp_path), "--bits", "3", "--hidden", "4", "--steps", "1000000",
                              "--batch-size", "4", "--eval-every", "1000000", "--eval-size", "4"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    runs = []
    try:
        deadline = time.monotonic() + 60
        while len(children(sweep.pid)) < 2 and time.monotonic() < deadline:
            assert sweep.poll() is None, "the sweep ended by itself"
            time.sleep(0.05)
        runs = children(sweep.pid)
        assert len(runs) == 2, "the sweep did not start its two trainings"
        time.sleep(0.5)                                   # let them get past their start
        sweep.send_signal(how)
        sweep.wait(timeout=10)
        assert wait_until_gone(runs), "a training outlived its sweep"
    finally:
        end_everything(sweep, runs)


def _before_the_handler(err):
    """Whether a traceback shows Ctrl-C arriving before run.py's first handler was installed:
    while the interpreter starts, or while run.py imports `signal` to install it."""
    import re
    source = open(os.path.join(ROOT, "run.py")).read().splitlines()
    installed = next(i for i, line in enumerate(source, 1)
                     if line.startswith("signal.signal(signal.SIGINT"))
    lines = [int(n) for n in re.findall(r'run\.py", line (\d+)', err)]
    return not lines or lines[0] < installed


@pytest.mark.parametrize("after", [0.08, 0.11, 0.14, 0.4, 0.8])
def test_ctrl_c_at_any_moment_gives_one_line_and_status_130(tmp_path, after):
    """From the modules' loading through the first evaluation to training: one line on stderr,
    exit status 130, and whatever checkpoint exists is whole. (Before Python has started
    run.py at all, about the first 0.15 s here, the interpreter itself answers Ctrl-C.)"""
    path = tmp_path / "c.npz"
    run = subprocess.Popen([sys.executable, os.path.join(ROOT, "run.py"), "copy", *TINY,
                            "--eval-every", "50", "--checkpoint", str(path)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(after)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=30)
    if run.returncode != 130 and _before_the_handler(err):
        pytest.skip("Ctrl-C came before run.py had installed its handler")
    assert run.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    if path.exists():
        from ntm_scratch.checkpoint import load_checkpoint
        load_checkpoint(str(path))


def test_two_processes_cannot_train_one_checkpoint(tmp_path, capsys):
    """While a run trains (it holds its lock), a second one on the same checkpoint, started
    fresh or as a resume, gets one line and exit status 2, and touches nothing."""
    import fcntl
    from ntm_scratch.cli import main
    path = tmp_path / "c.npz"
    tiny = [a for a in TINY if a not in ("--steps", "100000", "--eval-every")]
    assert main(["copy", *tiny, "--steps", "2", "--eval-every", "1", "--checkpoint", str(path)]) == 0
    assert not (tmp_path / "c.npz.lock").exists()               # a finished run lets go
    capsys.readouterr()
    before = path.read_bytes(), (tmp_path / "c.jsonl").read_bytes()
    with open(str(path) + ".lock", "a") as held:                # as a running process holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["copy", "--steps", "4", "--resume", str(path)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "another process" in err
    assert (path.read_bytes(), (tmp_path / "c.jsonl").read_bytes()) == before
    assert main(["copy", "--steps", "4", "--resume", str(path)]) == 0   # the lock is free again


def test_a_run_killed_before_its_first_checkpoint_can_be_started_again(tmp_path, capsys):
    """It leaves a log with its start line and no checkpoint: the same command starts it again
    (nothing is lost: there was nothing to keep). A log with more in it is never replaced."""
    from ntm_scratch.cli import main
    path = tmp_path / "c.npz"
    log = tmp_path / "c.jsonl"
    log.write_text('{"kind": "event", "event": "start", "step": 0}\n{"kind": "ev')   # torn
    tiny = [a for a in TINY if a not in ("--steps", "100000", "--eval-every")]
    assert main(["copy", *tiny, "--steps", "1", "--eval-every", "1",
                 "--checkpoint", str(path)]) == 0
    assert path.exists()
    log.write_text('{"kind": "eval", "step": 0, "loss": 1.0}\n')      # a log worth keeping
    path.unlink()
    assert main(["copy", *tiny, "--steps", "1", "--checkpoint", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_torn_last_log_line_is_ended_before_a_resume_appends(tmp_path, capsys):
    """A full disk can tear the last line; a resume starts a new line after it, and the
    readers skip the torn one."""
    from ntm_scratch.cli import main
    from ntm_scratch.train import read_log_records
    path, log = tmp_path / "c.npz", tmp_path / "c.jsonl"
    tiny = [a for a in TINY if a not in ("--steps", "100000", "--eval-every")]
    assert main(["copy", *tiny, "--steps", "2", "--eval-every", "1",
                 "--checkpoint", str(path)]) == 0
    with open(log, "a") as f:
        f.write('{"kind": "train", "st')                              # torn mid-record
    assert main(["copy", "--steps", "3", "--resume", str(path)]) == 0
    records = read_log_records(str(log))
    assert records[-1]["event"] == "done" and records[-1]["step"] == 3
    assert sum(1 for line in log.read_text().splitlines() if line.startswith('{"kind": "train", "st')
               and not line.endswith("}")) == 1                       # the torn line, alone


def test_a_killed_writes_temporary_file_is_removed_by_the_next_run(tmp_path, capsys):
    """kill -9 during a checkpoint write leaves `.c.npz.XXXX.tmp`; the next run of that
    checkpoint removes it, and never touches another checkpoint's."""
    from ntm_scratch.cli import main
    path = tmp_path / "c.npz"
    tiny = [a for a in TINY if a not in ("--steps", "100000", "--eval-every")]
    assert main(["copy", *tiny, "--steps", "1", "--eval-every", "1",
                 "--checkpoint", str(path)]) == 0
    stale, other = tmp_path / ".c.npz.k1ll3d.tmp", tmp_path / ".d.npz.w0rk1ng.tmp"
    stale.write_bytes(b"half an archive")
    other.write_bytes(b"another run, writing")
    assert main(["copy", "--steps", "2", "--resume", str(path)]) == 0
    assert not stale.exists() and other.exists()
