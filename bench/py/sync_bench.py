#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's side of bench_sync: multiprocessing's Lock, Semaphore and Event.

Figures (the same definitions bench_sync uses; all lower is better):
  lock.uncontended       ns per lock.acquire(); lock.release() pair of a Lock(), one process;
  lock.uncontended_with  ns per `with lock: pass`;
  semaphore.uncontended  ns per s.acquire(); s.release() pair of a Semaphore(1);
  lock.contended_2p      ns per increment: two processes each do N times
                         `lock.acquire(); counter.value += 1; lock.release()` on a Lock() and a
                         RawValue('l'); child i pins itself to the i-th allowed CPU (Linux, 2
                         CPUs or more), both wait at a Barrier(2) and then time themselves, the
                         figure is (last end - first start) / 2N. N is 50,000 (quick) or
                         200,000 (full): Python takes ~1.3 us per increment, so 2 x 200,000
                         would take ~0.5 s per rep. bench_sync uses 100,000 / 200,000; the
                         figure is per increment, so the two compare directly;
  rlock.contended_2p     the same with an RLock() (reps interleaved with the Lock's);
  event.pingpong         us per round trip over two Events: the parent sets e1, waits for e2
                         and clears it; the child waits for e1, clears it and sets e2;
  event.pingpong_pinned  the same with both processes on one CPU (Linux only);
  event.pingpong_cross   the same with the child on one CPU and the parent on another.
Children are started with the "fork" start method (as in pipe_bench.py; the start is never
timed). The loop figures time N operations back to back (the `for` loop's own cost, ~10 ns
an iteration, included: that is what a Python caller pays); a figure is the median of the reps.

Prints {"bench":...,"python":X,"start_method":"fork"}; bench/run keeps "python".

Usage: sync_bench.py [--quick] [--json-only]
"""
import multiprocessing as mp
import sys
import time

from bench_common import (START_METHOD, check_exit, emit, parse_args, pin, pin_begin, pin_end,
                          run_all, start_child, two_cpus, two_proc_ns)

WARM_RTT = 100
# pairs per loop rep, reps; increments per process, reps; round trips per event rep, reps
SIZES = {
    "quick": {"loop": (200_000, 9), "cont": (50_000, 5), "rtt": (1000, 7)},
    "full": {"loop": (1_000_000, 15), "cont": (200_000, 15), "rtt": (2000, 15)},
}


def loop_lock(lock, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        lock.acquire()
        lock.release()
    return (time.perf_counter_ns() - t0) / n


def loop_with(lock, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        with lock:
            pass
    return (time.perf_counter_ns() - t0) / n


def cont_child(lock, counter, barrier, times, idx, n, cpu):
    pin(cpu)
    barrier.wait()
    times[idx] = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        counter.value += 1
        lock.release()
    times[2 + idx] = time.perf_counter()


def cont_rep(ctx, lock, n, cpus):
    counter = ctx.RawValue("l", 0)
    times = ctx.RawArray("d", 4)
    barrier = ctx.Barrier(2)
    ps = [ctx.Process(target=cont_child, args=(lock, counter, barrier, times, i, n, cpus[i]))
          for i in range(2)]
    run_all(ps)
    if counter.value != 2 * n:
        raise RuntimeError(f"counter is {counter.value}, not {2 * n}")
    return two_proc_ns(times, n)


def ev_child(e1, e2, count):
    for _ in range(count):
        e1.wait()
        e1.clear()
        e2.set()


def ev_rounds(e1, e2, n):
    for _ in range(n):
        e1.set()
        e2.wait()
        e2.clear()


def ev_rep(ctx, n, cross=None):
    """cross=(parent_cpu, child_cpu): start the child on one CPU, keep the parent on the other."""
    e1, e2 = ctx.Event(), ctx.Event()
    p = ctx.Process(target=ev_child, args=(e1, e2, WARM_RTT + n))
    start_child(p, cross)
    ev_rounds(e1, e2, WARM_RTT)
    t0 = time.perf_counter_ns()
    ev_rounds(e1, e2, n)
    dt = (time.perf_counter_ns() - t0) / 1e3 / n
    p.join()
    check_exit(p)
    return dt


def main(argv):
    args = parse_args(argv, "sync_bench.py")
    if args is None:
        return 2
    quick, json_only = args
    sizes = SIZES["quick" if quick else "full"]
    ctx = mp.get_context(START_METHOD)

    # One process: reps of the three loops interleaved, as bench_sync interleaves its variants.
    n, reps = sizes["loop"]
    lock, sem = ctx.Lock(), ctx.Semaphore(1)
    loops = [("lock.uncontended", loop_lock, lock), ("lock.uncontended_with", loop_with, lock),
             ("semaphore.uncontended", loop_lock, sem)]
    vals = {name: [] for name, _, _ in loops}
    for _, fn, obj in loops:
        fn(obj, 1000)  # warm-up
    for _ in range(reps):
        for name, fn, obj in loops:
            vals[name].append(fn(obj, n))
    for name, _, _ in loops:
        emit(name, "ns", vals[name], f" x {n}", json_only)

    n, reps = sizes["cont"]
    lock, rlock = ctx.Lock(), ctx.RLock()
    # Child i on the i-th allowed CPU (Linux, 2 CPUs or more), as bench_sync does: two
    # processes sharing a CPU take turns by time slice and never contest the lock.
    cpus = two_cpus()
    vals = {"lock.contended_2p": [], "rlock.contended_2p": []}
    for _ in range(reps):  # interleaved, as bench_sync does
        vals["lock.contended_2p"].append(cont_rep(ctx, lock, n, cpus))
        vals["rlock.contended_2p"].append(cont_rep(ctx, rlock, n, cpus))
    for name, v in vals.items():
        emit(name, "ns/incr", v, f" x {n}", json_only)

    n, reps = sizes["rtt"]
    for name, how in (("event.pingpong", None), ("event.pingpong_pinned", "same"),
                      ("event.pingpong_cross", "cross")):
        pinned = pin_begin(how)
        if pinned is None:
            continue
        saved, cross = pinned
        try:
            vals = [ev_rep(ctx, n, cross) for _ in range(reps)]
        finally:
            pin_end(how, saved)
        emit(name, "us", vals, f" x {n}", json_only)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
