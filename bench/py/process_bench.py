#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's side of bench_process: Process(target=noop).start() + join() + close().

Prints one JSON line per start method, {"bench":"process.start_join.<m>","python":X}, X in
microseconds per start+join: each rep times N operations and divides, the figure is the
median of the reps (the same definition bench_process uses). The first start of each method
is not timed, as in the C program: for forkserver it launches the server.

Python's spawn costs ~60 ms per process on a small VM, so N is set per method to keep
--quick well under the 60 s budget of bench/run.

Also {"bench":"process.start_join_128.fork","python":X}, X in milliseconds per 128 processes
started one after the other under fork, then each joined and closed (2 such batches per rep
quick, 5 full; 3 or 7 reps).

Usage: process_bench.py [--quick] [--json-only]
"""
import multiprocessing as mp
import statistics
import sys
import time

from bench_common import check_exit, parse_args, print_json

# (N, reps) per method.
SIZES = {
    "quick": {"fork": (50, 3), "spawn": (20, 3), "forkserver": (30, 3)},
    "full": {"fork": (200, 7), "spawn": (40, 7), "forkserver": (100, 7)},
}


def noop():
    """The target: must live at module level so spawn/forkserver children can import it."""


def one(ctx):
    p = ctx.Process(target=noop)
    p.start()
    p.join()
    check_exit(p)
    p.close()


def rep_us(ctx, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        one(ctx)
    return (time.perf_counter_ns() - t0) / 1e3 / n


def bench(method, n, reps):
    ctx = mp.get_context(method)
    one(ctx)  # warm-up, untimed
    return [rep_us(ctx, n) for _ in range(reps)]


MANY = 128


def many_ms(ctx, batches):
    """Milliseconds per batch of MANY processes alive together, started then joined."""
    t0 = time.perf_counter_ns()
    for _ in range(batches):
        ps = [ctx.Process(target=noop) for _ in range(MANY)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
            check_exit(p)
            p.close()
    return (time.perf_counter_ns() - t0) / 1e6 / batches


def bench_many(quick, json_only):
    if "fork" not in mp.get_all_start_methods():
        return
    ctx = mp.get_context("fork")
    one(ctx)  # warm-up, untimed
    batches, reps = (2, 3) if quick else (5, 7)
    vals = [many_ms(ctx, batches) for _ in range(reps)]
    med = statistics.median(vals)
    print_json({"bench": "process.start_join_128.fork", "python": round(med, 2)})
    if not json_only:
        print(f"  {'fork x128':<10} python median {med:9.2f} ms  (min {min(vals):.2f}, "
              f"max {max(vals):.2f}; {reps} reps x {batches})", file=sys.stderr)


def main(argv):
    args = parse_args(argv, "process_bench.py")
    if args is None:
        return 2
    quick, json_only = args
    sizes = SIZES["quick" if quick else "full"]
    for method in ("fork", "spawn", "forkserver"):
        if method not in mp.get_all_start_methods():
            continue
        n, reps = sizes[method]
        reps_us = bench(method, n, reps)
        med = statistics.median(reps_us)
        print_json({"bench": f"process.start_join.{method}", "python": round(med, 1)})
        if not json_only:
            print(f"  {method:<10} python median {med:9.1f} us  (min {min(reps_us):.1f}, "
                  f"max {max(reps_us):.1f}; {reps} reps x {n})", file=sys.stderr)
        if method == "fork":
            bench_many(quick, json_only)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
