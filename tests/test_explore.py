"""run.py explore: the self-contained page, its data, and the page at work in a real browser."""
import json
import os
import re
import shutil
import subprocess

import pytest

from ntm_scratch.cli import main

TINY_COPY = ["copy", "--hidden", "6", "--memory-rows", "12", "--memory-width", "4",
             "--max-length", "3", "--batch-size", "2", "--eval-size", "2", "--steps", "1"]


def page_data(path):
    text = open(path, encoding="utf-8").read()
    found = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    return text, json.loads(found.group(1).replace("<\\/", "</"))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explore")
    checkpoint, out = str(folder / "c.npz"), str(folder / "copy.html")
    assert main([*TINY_COPY, "--read-heads", "2", "--checkpoint", checkpoint]) == 0
    assert main(["explore", "copy", "--checkpoint", checkpoint, "--out", out]) == 0
    return out


def test_the_page_holds_every_step_of_every_example_and_nothing_from_outside(page):
    text, data = page_data(page)
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', text)      # no network
    assert (data["N"], data["M"], data["Hr"], data["Hw"]) == (12, 4, 2, 1)
    labels = [e["label"] for e in data["examples"]]
    assert labels[0] == "length 20" and any("beyond training" in label for label in labels)
    for e in data["examples"]:
        T = len(e["x"])
        assert len(e["memory"]) == T and len(e["memory"][0]) == 12 and len(e["memory"][0][0]) == 4
        for kind, H in (("read", 2), ("write", 1)):
            for key in ("w", "wc", "wg", "w_tilde"):
                w = e[f"{kind}_{key}"]
                assert len(w) == T and len(w[0]) == H and len(w[0][0]) == 12
                assert abs(sum(w[-1][0]) - 1) < 0.02               # each stage a weighting
            assert len(e[f"{kind}_s"][0][0]) == 3 and len(e[f"{kind}_k"][0][0]) == 4
            assert all(g[0] >= 1 for g in e[f"{kind}_gamma"])
        assert len(e["out"]) == T and all(0 <= p <= 1 for row in e["out"] for p in row)


def test_explore_refuses_what_it_cannot_show(tmp_path, capsys):
    lstm = str(tmp_path / "lstm.npz")
    assert main(["copy", "--model", "lstm", "--hidden", "4", "--layers", "1", "--max-length",
                 "3", "--batch-size", "2", "--eval-size", "2", "--steps", "1",
                 "--checkpoint", lstm]) == 0
    capsys.readouterr()
    for argv in (["explore", "copy", "--checkpoint", lstm, "--out", str(tmp_path / "a.html")],
                 ["explore", "copy", "--checkpoint", lstm, "--out", str(tmp_path / "a.txt")],
                 ["explore", "copy", "--checkpoint", str(tmp_path / "none.npz")]):
        assert main(argv) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not any(p.suffix in (".html", ".txt") for p in tmp_path.iterdir())


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian's package: chromium)")
def test_the_page_runs_in_a_browser_and_the_slider_moves_what_is_drawn(page):
    """Headless Chromium opens the page as FILE.html#selftest: the page moves its own slider
    to the last step and reports which of its pictures changed and any error it caught; the
    browser's console must show no error either."""
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--enable-logging=stderr", "--v=0", "--dump-dom", "file://" + page + "#selftest"],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="report">(.*?)</pre>', done.stdout, re.S)
    assert found, "the page wrote no report: its script did not run to the end"
    report = json.loads(found.group(1))
    assert report["errors"] == [] and report["steps"] > 1
    assert {"output", "memory", "weightings", "stage_wc", "stage_w", "key"} <= \
        set(report["changed"])
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
