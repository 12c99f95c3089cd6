#!/usr/bin/env python3
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
import json
import multiprocessing as mp
import os
import statistics
import sys
import time

START_METHOD = "fork"
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
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
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
    for p in ps:
        p.start()
    for p in ps:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"child exited with {p.exitcode}")
    if counter.value != 2 * n:
        raise RuntimeError(f"counter is {counter.value}, not {2 * n}")
    return (max(times[2], times[3]) - min(times[0], times[1])) * 1e9 / (2 * n)


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
    if cross:
        os.sched_setaffinity(0, {cross[1]})
    p.start()
    if cross:
        os.sched_setaffinity(0, {cross[0]})
    ev_rounds(e1, e2, WARM_RTT)
    t0 = time.perf_counter_ns()
    ev_rounds(e1, e2, n)
    dt = (time.perf_counter_ns() - t0) / 1e3 / n
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"child exited with {p.exitcode}")
    return dt


def emit(name, unit, vals, n, json_only):
    med = statistics.median(vals)
    print(json.dumps({"bench": name, "python": round(med, 3 if med < 10 else 1),
                      "start_method": START_METHOD}, separators=(",", ":")), flush=True)
    if not json_only:
        print(f"  {name:<24} python median {med:9.3f} {unit}  (min {min(vals):.3f}, "
              f"max {max(vals):.3f}; {len(vals)} reps x {n})", file=sys.stderr)


def main(argv):
    quick = "--quick" in argv
    json_only = "--json-only" in argv
    unknown = [a for a in argv if a not in ("--quick", "--json-only")]
    if unknown:
        print("usage: sync_bench.py [--quick] [--json-only]", file=sys.stderr)
        return 2
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
        emit(name, "ns", vals[name], n, json_only)

    n, reps = sizes["cont"]
    lock = ctx.Lock()
    # Child i on the i-th allowed CPU (Linux, 2 CPUs or more), as bench_sync does: two
    # processes sharing a CPU take turns by time slice and never contest the lock.
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cpus = allowed[:2] if len(allowed) >= 2 else [None, None]
    emit("lock.contended_2p", "ns/incr", [cont_rep(ctx, lock, n, cpus) for _ in range(reps)],
         n, json_only)

    n, reps = sizes["rtt"]
    pinnable = hasattr(os, "sched_setaffinity")
    for name, pin in (("event.pingpong", None), ("event.pingpong_pinned", "same"),
                      ("event.pingpong_cross", "cross")):
        saved = os.sched_getaffinity(0) if pinnable else set()
        if pin and (not pinnable or (pin == "cross" and len(saved) < 2)):
            continue
        cpus = sorted(saved)[:2]
        cross = tuple(cpus) if pin == "cross" else None
        if pin == "same":
            os.sched_setaffinity(0, {cpus[0]})
        try:
            vals = [ev_rep(ctx, n, cross) for _ in range(reps)]
        finally:
            if pin:
                os.sched_setaffinity(0, saved)
        emit(name, "us", vals, n, json_only)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
