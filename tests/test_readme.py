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
