#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's side of bench_queue: multiprocessing.Queue and SimpleQueue between processes.

Figures (the same definitions bench_queue uses; items are bytes objects):
  queue.spsc_64B            items/s, one producer process -> one consumer process, 64-byte
                            items, Queue() (unbounded);
  queue.spsc_64B_bounded    the same with Queue(maxsize=10000);
  simplequeue.spsc_64B      the same with SimpleQueue();
  queue.spsc_64B_pipe       queue.spsc_64B's figure again ("python_is" says so): the row of
                            bench_queue that compares mproc's Queue with a raw pipe;
  queue.spsc_64KiB, queue.spsc_64KiB_bounded, simplequeue.spsc_64KiB, queue.spsc_64KiB_pipe
                            the same with 64 KiB items, in GiB/s;
  queue.mpmc_64B            items/s in total, 4 producers -> 4 consumers on one Queue().
Children are started with "fork". Every rep makes a fresh queue and fresh children, which
move a warm-up of untimed items, meet at a Barrier and read the clock (time.perf_counter,
CLOCK_MONOTONIC on Linux, so the processes' clocks agree). A producer puts the same bytes
object until it has put N or its time budget is spent (--quick: 0.1 s, full: 0.4 s) and then
puts None, which ends its consumer. As in bench_queue, the producers never get more than a
lead of items ahead of the consumers (20,000 items of 64 B, 64 of 64 KiB, 20,000 in total for
4x4; shared counters checked every 64 items): an unbounded Queue's put() only appends to the
feeder thread's buffer, and without a limit a 0.1 s budget left seconds of backlog to drain.
The figure is the items the consumers took divided by (last consumer end - first start): the
consumers' pace. With 4 producers, the parent joins the producers (their exit
flushes their feeder threads) and then puts one None per consumer; a consumer's end is then
the time it took its last item (a perf_counter() per item, ~1% of Python's cost per item). The
reps of the variants are interleaved (Queue, bounded, SimpleQueue, Queue, ...). On Linux with
2 CPUs or more the producer and the consumer of the 1x1 figures pin themselves to CPUs of their
own (os.sched_setaffinity), as bench_queue's do; the 4x4 figure is not pinned.

Prints {"bench":...,"python":X,"start_method":"fork"}; bench/run keeps "python".

Usage: queue_bench.py [--quick] [--json-only]
"""
import multiprocessing as mp
import statistics
import sys
import time

from bench_common import START_METHOD, parse_args, pin, print_json, rounded, two_cpus

SMALL, BIG = 64, 64 << 10
BOUNDED_MAXSIZE = 10000
# (reps, time budget per producer in s)
SIZES = {"quick": (5, 0.1), "full": (11, 0.4)}
# (item bytes, max items per producer, warm-up items per producer, producers, consumers,
#  lead: items the producers may be ahead of the consumers in total, the same limits
#  as bench_queue)
GROUPS = {"64B": (SMALL, 100_000_000, 2000, 1, 1, 20000),
          "64KiB": (BIG, 1_000_000, 32, 1, 1, 64),
          "mpmc": (SMALL, 100_000_000, 500, 4, 4, 20000)}
GIB = float(1 << 30)


def producer(q, item, n, warm, budget, lead, idx, barrier, t_start, counts, put_so_far, taken,
             send_end, cpu):
    pin(cpu)
    payload = bytes(item)
    put = q.put
    for _ in range(warm):
        put(payload)
    barrier.wait()
    t0 = time.perf_counter()
    t_start[idx] = t0
    deadline = t0 + budget
    i = 0
    while i < n:
        for _ in range(64):
            put(payload)
        i += 64
        put_so_far[idx] = i
        if time.perf_counter() >= deadline:
            break
        # put() of an unbounded Queue only appends to the feeder thread's buffer: without a
        # limit, the producer gets seconds of items ahead of the consumers within the budget.
        while sum(put_so_far) - sum(taken) > lead:
            time.sleep(0.0002)
    counts[idx] = i
    if send_end:
        put(None)


def consumer(q, warm, idx, k, barrier, t_start, t_end, counts, taken, last_item_time, cpu):
    pin(cpu)
    get = q.get
    for _ in range(warm):
        get()
    barrier.wait()
    t0 = time.perf_counter()
    t_start[idx] = t0
    got = 0
    if last_item_time:
        clock = time.perf_counter
        last = t0
        while get() is not None:
            got += 1
            last = clock()
            if not got & 63:
                taken[k] = got
        t_end[idx] = last
    else:
        while get() is not None:
            got += 1
            if not got & 63:
                taken[k] = got
        t_end[idx] = time.perf_counter()
    counts[idx] = got


def make_queue(ctx, kind):
    if kind == "simple":
        return ctx.SimpleQueue()
    return ctx.Queue(BOUNDED_MAXSIZE if kind == "bounded" else 0)


def pin_cpus():
    """The CPUs the producer and the consumer of a 1x1 figure pin themselves to (the first two
    this process may use), as bench_queue does; (None, None) without 2 CPUs or on other OSes."""
    return tuple(two_cpus())


def rep(ctx, kind, group, budget, cpus):
    """One rep: returns items per second."""
    item, n, warm, nprod, ncons, lead = GROUPS[group]
    nall = nprod + ncons
    q = make_queue(ctx, kind)
    barrier = ctx.Barrier(nall)
    t_start = ctx.RawArray("d", nall)
    t_end = ctx.RawArray("d", nall)
    counts = ctx.RawArray("q", nall)
    put_so_far = ctx.RawArray("q", nprod)
    taken = ctx.RawArray("q", ncons)
    spsc = nprod == 1 and ncons == 1
    cpu = cpus if spsc else (None, None)
    procs = [ctx.Process(target=producer, args=(q, item, n, warm, budget, lead, i, barrier,
                                                t_start, counts, put_so_far, taken, spsc,
                                                cpu[0]))
             for i in range(nprod)]
    procs += [ctx.Process(target=consumer, args=(q, warm * nprod // ncons, nprod + k, k,
                                                 barrier, t_start, t_end, counts, taken,
                                                 not spsc, cpu[1]))
              for k in range(ncons)]
    for p in procs:
        p.start()
    if not spsc:
        for p in procs[:nprod]:
            p.join()
        for _ in range(ncons):
            q.put(None)
    for p in procs:
        p.join(60)
        if p.exitcode is None:
            for other in procs:
                other.kill()
            raise RuntimeError("a child hangs")
        if p.exitcode != 0:
            raise RuntimeError(f"child exited with {p.exitcode}")
    if kind != "simple":
        q.close()
        q.join_thread()
    else:
        q.close()
    put, got = sum(counts[:nprod]), sum(counts[nprod:])
    if put != got or got <= 0:
        raise RuntimeError(f"{put} items put, {got} taken")
    t0 = min(t_start[:nall])
    t1 = max(t_end[nprod:nall])
    return got / (t1 - t0)


def main(argv):
    args = parse_args(argv, "queue_bench.py")
    if args is None:
        return 2
    quick, json_only = args
    reps, budget = SIZES["quick" if quick else "full"]
    ctx = mp.get_context(START_METHOD)
    cpus = pin_cpus()

    # group -> [(figure, queue kind)], interleaved within a group
    plan = [("64B", [("queue.spsc_64B", "queue"), ("queue.spsc_64B_bounded", "bounded"),
                     ("simplequeue.spsc_64B", "simple")]),
            ("64KiB", [("queue.spsc_64KiB", "queue"), ("queue.spsc_64KiB_bounded", "bounded"),
                       ("simplequeue.spsc_64KiB", "simple")]),
            ("mpmc", [("queue.mpmc_64B", "queue")])]
    status = 0
    for group, figs in plan:
        item = GROUPS[group][0]
        vals = {name: [] for name, _ in figs}
        failed = set()
        for _ in range(reps):
            for name, kind in figs:
                if name in failed:
                    continue
                try:
                    r = rep(ctx, kind, group, budget, cpus)
                except Exception as e:  # report, print null, go on
                    print(f"queue_bench.py: {name}: {e}", file=sys.stderr)
                    failed.add(name)
                    status = 1
                    continue
                vals[name].append(r if item == SMALL else r * item / GIB)
        unit = "items/s" if item == SMALL else "GiB/s"
        for name, _ in figs:
            v = vals[name]
            med = statistics.median(v) if v and name not in failed else None
            out = {"bench": name,
                   "python": None if med is None else rounded(med),
                   "start_method": START_METHOD}
            print_json(out)
            if name in ("queue.spsc_64B", "queue.spsc_64KiB"):
                out = dict(out, bench=name + "_pipe", python_is=name)
                print_json(out)
            if not json_only and med is not None:
                print(f"  {name:<24} python median {med:11.4g} {unit}  (min {min(v):.4g}, "
                      f"max {max(v):.4g}; {len(v)} reps)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
