"""The README's library example runs as printed, and its gradients check."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_library_example_runs_and_its_gradients_check(capsys):
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index("## As a library"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    printed = eval(capsys.readouterr().out)                     # {name: "relative error"}
    assert printed and all(float(v) < 1e-5 for v in printed.values())


def _readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def _commands(text):
    """Every `python3 run.py ...` command of the README: the lines of its code blocks, and the
    inline ones of its text, joined across their line breaks."""
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    commands = [line[len("python3 run.py "):] for line in lines if line.startswith("python3 run.py ")]
    prose = " ".join(re.sub(r"```.*?```", " ", text, flags=re.S).split())
    return commands + [m.group(1).strip() for m in re.finditer(r"`python3 run\.py ([^`]*)`", prose)]


def test_every_shipped_model_is_named_whole_and_small_enough():
    """checkpoints/ holds what the README names, nothing else: each a model file that loads
    for its task, with the log of its training beside it; 34 MB in all at most."""
    from ntm_scratch.checkpoint import load_checkpoint
    from ntm_scratch.cli import _load_trained
    text = _readme()
    folder = os.path.join(ROOT, "checkpoints")
    shipped = sorted(os.path.relpath(os.path.join(d, f), folder)
                     for d, _, files in os.walk(folder) for f in files if f.endswith(".npz"))
    named = set(re.findall(r"checkpoints/([a-z0-9/-]+\.npz)", text))     # (no capitals: no family)
    for pattern in re.findall(r"checkpoints/([a-zA-Z0-9/-]*-sS\.npz)", text):   # a family:
        named |= {pattern.replace("nN", f"n{n}").replace("sS", f"s{s}")      # N = 128, 256, 512
                  for n in (128, 256, 512) for s in (0, 1, 2)}              # S = 0, 1, 2
    assert shipped == sorted(named)
    total = 0
    for name in shipped:
        path = os.path.join(folder, name)
        _, _, _, meta = _load_trained(path, load_checkpoint(path)[2]["task"])
        assert os.path.basename(name).startswith(meta["task"]) and meta["model_only"] is True
        assert os.path.isfile(path[:-len(".npz")] + ".jsonl")
        total += os.path.getsize(path) + os.path.getsize(path[:-len(".npz")] + ".jsonl")
    assert total <= 35e6                     # the models and their logs: a small clone


def test_every_eval_and_figures_command_on_a_shipped_model_works(tmp_path, capsys):
    """The README's `run.py eval` and `run.py compare` lines on shipped models run (on 2
    sequences a row instead of their count, to stay fast, and drawing nothing); its `run.py
    figures` lines name files that exist and flags the command line takes."""
    from ntm_scratch.cli import build_parser, main
    commands = [c.split() for c in _commands(_readme())
                if c.split()[0] in ("eval", "figures", "compare") and "checkpoints/" in c]
    assert commands and any(argv[0] == "compare" for argv in commands)
    for argv in commands:
        args = build_parser().parse_args(argv)
        named = [getattr(args, "checkpoint", None), getattr(args, "baseline", None),
                 *(getattr(args, "checkpoints", None) or [])]
        for path in named:
            if path is not None and path.startswith("checkpoints/"):
                assert os.path.isfile(os.path.join(ROOT, path)), argv
        shipped = all(p.startswith("checkpoints/") for p in named if p is not None)
        if argv[0] in ("eval", "compare") and shipped:
            if argv[0] == "eval":
                argv = [a for a in argv if a != "--json"]
            for flag in ("--count", "--out", "--json"):     # 2 sequences a row; no files here
                if flag in argv:
                    argv = argv[:argv.index(flag)] + argv[argv.index(flag) + 2:]
            if argv[0] == "compare" and "--lengths" in argv:  # the first two lengths: fast
                i = argv.index("--lengths") + 1
                argv[i] = ",".join(argv[i].split(",")[:2])
            paths = [os.path.join(ROOT, a) if a.startswith("checkpoints/") else a for a in argv]
            assert main([*paths, "--count", "2"]) == 0, argv
            capsys.readouterr()
