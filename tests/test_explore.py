"""run.py explore: the self-contained page, its data, and the page at work in a real browser."""
import json
import os
import re
import shutil
import subprocess

import pytest

from ntm_scratch.cli import main

TINY = {   # kind: the training flags of a tiny model of each family
    "ntm": ["copy", "--hidden", "6", "--memory-rows", "12", "--memory-width", "4",
            "--max-length", "3", "--read-heads", "2"],
    "act": ["logic", "--max-steps", "3", "--max-gates", "4", "--hidden", "4"],
    "seq2seq": ["reverse", "--max-length", "4", "--hidden", "6", "--embed", "4"],
    "programmer": ["table-qa", "--columns", "3", "--hidden", "6", "--embed", "4",
                   "--question-attention", "dot"],                 # (the pipe: without)
    "pipe": ["arithmetic", "--hidden", "6", "--embed", "4"]}
COMMON = ["--batch-size", "2", "--eval-size", "2", "--steps", "1"]
DRAWN = {"ntm": {"output", "memory", "weightings", "stage_wc", "stage_w", "key"},
         "act": {"ponder", "input", "halting"}, "seq2seq": {"alignment"},   # (untrained: α even)
         "programmer": {"choices", "made", "read"}, "pipe": {"choices", "made"}}


def page_data(path):
    text = open(path, encoding="utf-8").read()
    found = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    return text, json.loads(found.group(1).replace("<\\/", "</"))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """One page of each family, from a tiny model trained one step."""
    folder, out = tmp_path_factory.mktemp("explore"), {}
    for kind, argv in TINY.items():
        checkpoint, out[kind] = str(folder / f"{kind}.npz"), str(folder / f"{kind}.html")
        assert main([*argv, *COMMON, "--checkpoint", checkpoint]) == 0
        assert main(["explore", argv[0], "--checkpoint", checkpoint, "--out", out[kind]]) == 0
    return out


def test_the_ntm_page_holds_every_step_of_every_example_and_nothing_from_outside(pages):
    text, data = page_data(pages["ntm"])
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


def test_the_ntm_pages_stages_are_the_addressing_equations(pages):
    """Each shown stage follows from the one before and the values shown (to the page's three
    decimals): w^g = g·w^c + (1 − g)·w_{t−1}, w̃ the circular shift of w^g by s, w ∝ w̃^γ."""
    import numpy as np
    _, data = page_data(pages["ntm"])
    for e in data["examples"]:
        for kind in ("read", "write"):
            wc, wg, wt, w = (np.array(e[f"{kind}_{k}"]) for k in ("wc", "wg", "w_tilde", "w"))
            g, s, gamma = (np.array(e[f"{kind}_{k}"]) for k in ("g", "s", "gamma"))
            for t in range(1, len(w)):
                for h in range(w.shape[1]):
                    np.testing.assert_allclose(
                        wg[t, h], g[t, h] * wc[t, h] + (1 - g[t, h]) * w[t - 1, h], atol=0.01)
                    R = (s.shape[-1] - 1) // 2
                    shifted = sum(s[t, h, R + d] * np.roll(wg[t, h], d) for d in range(-R, R + 1))
                    np.testing.assert_allclose(wt[t, h], shifted, atol=0.01)
                    sharp = np.maximum(wt[t, h], 1e-12) ** gamma[t, h]
                    np.testing.assert_allclose(w[t, h], sharp / sharp.sum(), atol=0.02)


def test_the_act_page_holds_every_ponder_step(pages):
    from ntm_scratch.act import EPSILON
    _, data = page_data(pages["act"])
    assert data["kind"] == "act" and data["epsilon"] == EPSILON
    assert [e["label"] for e in data["examples"]] == [
        "gates per input step: 1", "gates per input step: 3", "gates per input step: 4",
        "length 6 (beyond training: at most 3)"]
    for e in data["examples"]:
        assert len(e["steps"]) == len(e["x"]) == len(e["target"]) == len(e["answer"]) >= 1
        assert "beyond" not in e["label"] or len(e["steps"]) == 6
        for s in e["steps"]:
            assert len(s["h"]) == len(s["p"]) == s["N"] >= 1
            assert s["R"] == s["p"][-1] and abs(sum(s["p"]) - 1) < 2e-3
            assert abs(s["rho"] - (s["N"] + s["R"])) < 2e-3
            assert sum(s["h"][:-1]) < 1 - EPSILON                # it stopped once it reached it
        assert all(a.startswith(("0 (P(1) =", "1 (P(1) =")) for a in e["answer"])


def test_the_attention_and_program_pages_hold_their_choices(pages):
    _, data = page_data(pages["seq2seq"])
    for e in data["examples"]:
        assert len(e["alpha"]) == len(e["said"]) and len(e["alpha"][0]) == len(e["source"])
        assert all(abs(sum(row) - 1) < 0.01 for row in e["alpha"])       # attention weights
    for kind in ("programmer", "pipe"):
        _, data = page_data(pages[kind])
        assert data["model"] == kind and data["examples"]
        for e in data["examples"]:
            assert e["question"] and e["answer"] and e["right"] in (True, False)
            for part in e["parts"]:
                T = len(part["soft"])
                assert T == len(part["hard"]) == len(e["made"]) and len(part["choices"]) == \
                    len(part["soft"][0])
                assert all(abs(sum(r) - 1) < 0.01 for r in part["soft"])
                assert all(sorted(r)[-1] == 1 and sum(r) == 1 for r in part["hard"])
            if kind == "programmer":
                assert len(e["rows"]) == T and len(e["rows"][0]) == len(e["table"])
                words = e["question"].split(";")[0].split()        # the words, numbers out
                assert e["read"]["words"] == [w for w in words if not w.lstrip("-").isdigit()]
                assert len(e["read"]["weights"]) == T
                assert all(abs(sum(r) - 1) < 0.01 for r in e["read"]["weights"])
            else:
                assert "read" not in e                  # no question attention: no panel


def test_explore_refuses_what_it_cannot_show(tmp_path, capsys):
    lstm = str(tmp_path / "lstm.npz")
    assert main(["copy", "--model", "lstm", "--hidden", "4", "--layers", "1", "--max-length",
                 "3", "--batch-size", "2", "--eval-size", "2", "--steps", "1",
                 "--checkpoint", lstm]) == 0
    capsys.readouterr()
    plain = str(tmp_path / "plain.npz")                   # an encoder–decoder without attention
    assert main(["reverse", "--attention", "none", *TINY["seq2seq"][1:], *COMMON,
                 "--checkpoint", plain]) == 0
    capsys.readouterr()
    for argv in (["explore", "copy", "--checkpoint", lstm, "--out", str(tmp_path / "a.html")],
                 ["explore", "reverse", "--checkpoint", plain, "--out", str(tmp_path / "b.html")],
                 ["explore", "copy", "--checkpoint", lstm, "--out", str(tmp_path / "a.txt")],
                 ["explore", "copy", "--checkpoint", str(tmp_path / "none.npz")]):
        assert main(argv) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not any(p.suffix in (".html", ".txt") for p in tmp_path.iterdir())


def test_text_from_the_data_cannot_open_a_tag(tmp_path):
    """A checkpoint's path reaches the page (its subtitle): whatever it holds stays data."""
    odd = str(tmp_path / "a<!--<script>alert(1)</script>&b.npz")
    assert main([*TINY["act"], *COMMON, "--checkpoint", odd]) == 0
    out = str(tmp_path / "odd.html")
    assert main(["explore", "logic", "--checkpoint", odd, "--out", out]) == 0
    text, data = page_data(out)
    inside = text[text.index('<script id="data"'):]
    inside = inside[inside.index(">") + 1:inside.index("</script>")]
    assert "<" not in inside and ">" not in inside and "&" not in inside
    assert odd in data["subtitle"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian's package: chromium)")
@pytest.mark.parametrize("kind", sorted(TINY))
def test_the_page_runs_in_a_browser_and_the_slider_moves_what_is_drawn(kind, pages):
    """Headless Chromium opens the page as FILE.html#selftest: the page moves its own slider
    to the last step and reports which of its pictures changed and any error it caught; the
    browser's console must show no error either."""
    page = pages[kind]
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--enable-logging=stderr", "--v=0", "--dump-dom", "file://" + page + "#selftest"],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="report">(.*?)</pre>', done.stdout, re.S)
    assert found, "the page wrote no report: its script did not run to the end"
    report = json.loads(found.group(1))
    assert report["errors"] == [] and report["steps"] > 1
    _, data = page_data(page)                       # every example (and head) was visited
    assert report["visited"] >= 3 * len(data["examples"]) * max(1, data.get("Hr", 0) +
                                                                 data.get("Hw", 0))
    assert DRAWN[kind] <= set(report["changed"])
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
