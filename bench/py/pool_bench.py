#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's side of bench_pool: multiprocessing.Pool.

Figures (the same definitions bench_pool uses):
  pool.map_trivial          ms per pool.map(square, range(200000)) (x*x, default chunksize:
                            ceil(n / 4P) = 25,000 with P = 2);
  pool.map_trivial_1M       the same over range(1000000) (chunksize 125,000 with P = 2);
  pool.map_array_1M         pool.map_trivial_1M's figure again ("python_is" says so): Python has
                            no map over a shared array, so bench_pool's row for
                            mproc_pool_map_array sets it beside Python's map of the same items;
  pool.map_trivial_c1       the same with chunksize=1. It costs ~20 us an item here (~4.5 s a
                            map), so --quick maps 20,000 items and scales the time to 200,000
                            ("items" in the JSON line says how many were mapped); the full run
                            maps all 200,000;
  pool.map_trivial_c1_pipe  pool.map_trivial_c1's figure again ("python_is" says so): the row of
                            bench_pool that compares mproc with a pipe-message-per-task pool;
  pool.apply_async_rtt      us per pool.apply_async(noop).get();
  pool.cpu_speedup          serial time / pool time of counting the primes below N by trial
                            division in 4P tasks (task k tests the odd numbers 3 + 2k, 3 + 2k +
                            8P, ...; pool.starmap with chunksize=1). The serial run calls the
                            same function in this process. N is smaller than bench_pool's (Python
                            runs the loop ~50x slower): the figure is a ratio, not a time.
P, the pool's processes, is the number of CPUs this process may use (the affinity mask, capped
by a cgroup CPU quota), as bench_pool's mproc_cpu_count_usable(), where Pool() alone would take
os.cpu_count(); --processes P sets it. One
Pool(P) with the "fork" start method serves every figure; it is started and warmed up before
anything is timed. A map rep times one map call (Python turns the range into a list inside
it); a round-trip rep times N round trips and divides; a speed-up rep is one serial run and one
pool run. The figure is the median of the reps.

Prints {"bench":...,"python":X,"start_method":"fork","processes":P}; bench/run keeps "python".

Usage: pool_bench.py [--quick] [--json-only] [--processes P]
"""
import math
import multiprocessing as mp
import os
import statistics
import sys
import time

from bench_common import START_METHOD, emit, print_json, rounded

MAP_N = 200_000
MAP_N_BIG = 1_000_000
# reps of map_trivial, (items, reps) of map_trivial_c1, (round trips, reps) of the round trip,
# (primes below, reps) of the speed-up
SIZES = {
    "quick": {"map": 5, "map_big": 3, "c1": (20_000, 3), "rtt": (1000, 5), "cpu": (300_000, 3)},
    "full": {"map": 11, "map_big": 5, "c1": (200_000, 5), "rtt": (2000, 11), "cpu": (600_000, 7)},
}


def square(x):
    return x * x


def noop():
    pass


def count_task(k, tasks, n):
    """Primes below n among 3 + 2k, 3 + 2k + 2*tasks, ... (task 0 also counts 2)."""
    c = 1 if k == 0 and n > 2 else 0
    for x in range(3 + 2 * k, n, 2 * tasks):
        d = 3
        while d * d <= x:
            if x % d == 0:
                break
            d += 2
        else:
            c += 1
    return c


def usable_cpus():
    """mproc_cpu_count_usable(): the affinity mask, capped by ceil(cgroup v2 CPU quota)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()
        if quota != "max":
            n = min(n, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(n or 1, 1)


def parse(argv):
    quick = json_only = False
    procs = None
    it = iter(argv)
    for a in it:
        if a == "--quick":
            quick = True
        elif a == "--json-only":
            json_only = True
        elif a == "--processes":
            procs = int(next(it, "0"))
        else:
            return None
    return quick, json_only, procs or usable_cpus()


def time_map(pool, n, chunksize):
    t0 = time.perf_counter()
    r = pool.map(square, range(n), chunksize)
    ms = (time.perf_counter() - t0) * 1e3
    if len(r) != n or r[-1] != (n - 1) ** 2:
        raise RuntimeError("map returned wrong values")
    return ms


def time_rtt(pool, n):
    t0 = time.perf_counter()
    for _ in range(n):
        pool.apply_async(noop).get()
    return (time.perf_counter() - t0) * 1e6 / n


def cpu_rep(pool, tasks, below):
    """(serial s, pool s), after checking that both counted the same primes."""
    t0 = time.perf_counter()
    serial = sum(count_task(k, tasks, below) for k in range(tasks))
    t1 = time.perf_counter()
    par = sum(pool.starmap(count_task, [(k, tasks, below) for k in range(tasks)], 1))
    t2 = time.perf_counter()
    if par != serial:
        raise RuntimeError(f"pool counted {par} primes, serial {serial}")
    return t1 - t0, t2 - t1


def main(argv):
    args = parse(argv)
    if args is None:
        print("usage: pool_bench.py [--quick] [--json-only] [--processes P]", file=sys.stderr)
        return 2
    quick, json_only, procs = args
    size = SIZES["quick" if quick else "full"]
    extra = {"processes": procs}
    status = 0
    with mp.get_context(START_METHOD).Pool(procs) as pool:
        # Warm-up: every worker has run each function once.
        pool.map(square, range(1000), 1)
        pool.starmap(count_task, [(k, 4 * procs, 2000) for k in range(4 * procs)], 1)
        time_rtt(pool, 100)
        try:
            vals = [time_map(pool, MAP_N, None) for _ in range(size["map"])]
            emit("pool.map_trivial", "ms", vals, "", json_only, **extra)
            vals = [time_map(pool, MAP_N_BIG, None) for _ in range(size["map_big"])]
            emit("pool.map_trivial_1M", "ms", vals, "", json_only, **extra)
            print_json({"bench": "pool.map_array_1M", "python": rounded(statistics.median(vals)),
                        "start_method": START_METHOD, "python_is": "pool.map_trivial_1M",
                        **extra})

            n, reps = size["c1"]
            vals = [time_map(pool, n, 1) * MAP_N / n for _ in range(reps)]
            detail = f", {n} items scaled to {MAP_N}" if n != MAP_N else ""
            emit("pool.map_trivial_c1", "ms", vals, detail, json_only, items=n, **extra)
            print_json({"bench": "pool.map_trivial_c1_pipe",
                        "python": rounded(statistics.median(vals)),
                        "start_method": START_METHOD, "python_is": "pool.map_trivial_c1",
                        "items": n, **extra})

            n, reps = size["rtt"]
            vals = [time_rtt(pool, n) for _ in range(reps)]
            emit("pool.apply_async_rtt", "us", vals, f" x {n}", json_only, **extra)

            below, reps = size["cpu"]
            tasks = 4 * procs
            reps_t = [cpu_rep(pool, tasks, below) for _ in range(reps)]
            vals = [s / p for s, p in reps_t]
            emit("pool.cpu_speedup", "x", vals, f", {tasks} tasks, primes below {below}, "
                 f"serial median {statistics.median(s for s, _ in reps_t) * 1e3:.0f} ms",
                 json_only, **extra)
            s = statistics.median(vals)
            print(f"pool_bench.py: pool.cpu_speedup: python {s:.2f} on {procs} cores "
                  f"({s / procs:.2f} per core)", file=sys.stderr)
        except Exception as e:  # report, go on with nothing more; bench/run prints nulls
            print(f"pool_bench.py: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
