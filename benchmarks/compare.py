"""ntm_scratch against PyTorch peers, measured alternately in one run, one thread each.

    python3 benchmarks/compare.py --peer-python PEER_VENV/bin/python --port PYTORCH_NTM \
        [--batch-sizes 1,32] [--rounds 3] [--seconds 10] [--json FILE]

For every batch size and every round it runs, one after the other, each as its own process:
`run.py bench` (ours: one process, one BLAS thread, copy at the NTM paper's sizes, one length per
batch) and the peer's script (`peer_ntm.py`: loudinthecloud/pytorch-ntm's copy training step;
`peer_lstm.py`: a torch.nn.LSTM 3 × 256 training loop), so that both programs see the machine in
the same state, however its speed drifts. The table gives the median of the rounds and the
ratio ours / peer.

PyTorch is never a dependency of ntm_scratch: the peers run with the Python of a separate
environment (`python3 -m venv PEER_VENV && PEER_VENV/bin/pip install torch numpy`), and the port
from its own checkout (`git clone` of loudinthecloud/pytorch-ntm).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def ours(model, batch, seconds):
    """seq/s of `run.py bench` for one model and batch size (throughput only)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), "bench", "--model", model,
                        "--batch-sizes", str(batch), "--seconds", str(seconds), "--workers",
                        "1", "--threads", "1", "--no-count", "--json", out],
                       check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        with open(out) as f:
            return json.load(f)[0]["seq_per_s"]


def peer(args, model, batch):
    """seq/s of the peer's script for one model and batch size."""
    script = os.path.join(HERE, "peer_ntm.py" if model == "ntm" else "peer_lstm.py")
    cmd = [args.peer_python, script, "--batch-size", str(batch), "--seconds", str(args.seconds)]
    if model == "ntm":
        cmd += ["--port", args.port]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True,
                          env=dict(os.environ, **ONE_THREAD))
    return json.loads(done.stdout.strip().splitlines()[-1])["seq_per_s"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer-python", required=True,
                   help="the Python of an environment with PyTorch (never this project's)")
    p.add_argument("--port", help="a checkout of loudinthecloud/pytorch-ntm (for the NTM rows)")
    p.add_argument("--models", default="ntm,lstm", help="ntm, lstm or both (default both)")
    p.add_argument("--batch-sizes", default="1,32", help="comma-separated (default 1,32)")
    p.add_argument("--rounds", type=int, default=3, help="alternations per row (default 3)")
    p.add_argument("--seconds", type=float, default=10.0,
                   help="each program trains for at least this long per measurement")
    p.add_argument("--json", help="also write every measurement to this file")
    args = p.parse_args()
    models = args.models.split(",")
    if "ntm" in models and not args.port:
        p.error("the NTM rows need --port (a checkout of loudinthecloud/pytorch-ntm)")
    rows = []
    print("| model | batch | ntm_scratch seq/s | peer seq/s | ratio | rounds |")
    print("|---|---|---|---|---|---|")
    for model in models:
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            a, b = [], []
            for _ in range(args.rounds):
                a.append(ours(model, batch, args.seconds))
                b.append(peer(args, model, batch))
            row = {"model": model, "batch": batch, "ours": a, "peer": b,
                   "ratio": statistics.median(a) / statistics.median(b)}
            rows.append(row)
            name = "NTM vs pytorch-ntm" if model == "ntm" else "LSTM 3×256 vs torch.nn.LSTM"
            print(f"| {name} | {batch} | {statistics.median(a):.1f} | {statistics.median(b):.1f} "
                  f"| {row['ratio']:.2f}× | {', '.join(f'{x:.0f}/{y:.0f}' for x, y in zip(a, b))} |",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
