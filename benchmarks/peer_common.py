"""What the two PyTorch peer scripts share: their common flags and the timing loop, which times
steps as `run.py bench` does (one untimed warm-up step, then steps until at least `seconds` have
passed and at least 3 were timed; data generation inside the timed loop), and prints one line
of JSON."""
import json
import time


def add_common_flags(p):
    p.add_argument("--batch-size", type=int, default=32, help="sequences per training step")
    p.add_argument("--seconds", type=float, default=10.0,
                   help="time steps until at least this many seconds have passed (and >= 3 steps)")
    p.add_argument("--length-min", type=int, default=1, help="shortest copy sequence")
    p.add_argument("--length-max", type=int, default=20, help="longest copy sequence")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds torch (the parameters) and numpy.random.default_rng (lengths, bits)")


def check_common_flags(p, a):
    if not 1 <= a.length_min <= a.length_max:
        p.error("need 1 <= --length-min <= --length-max")
    if a.batch_size < 1:
        p.error("--batch-size must be >= 1")


def time_and_report(program, batch_size, step, seconds, torch):
    step()                                                             # warm-up, untimed
    steps, t0 = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        if steps >= 3 and time.perf_counter() - t0 >= seconds:
            break
    elapsed = time.perf_counter() - t0
    print(json.dumps({"program": program, "batch": batch_size,
                      "seq_per_s": steps * batch_size / elapsed,
                      "ms_per_step": 1000.0 * elapsed / steps, "steps": steps,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))
