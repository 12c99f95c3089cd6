#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's side of bench_pipe: multiprocessing.Pipe() between the parent and one child.

Figures (the same definitions bench_pipe uses):
  pipe.rtt_8B           us per round trip: parent send_bytes(8 bytes), child recv_bytes +
                        send_bytes back, parent recv_bytes;
  pipe.rtt_8B_pinned    the same with the parent, and so the child, pinned to one CPU
                        (os.sched_setaffinity; Linux only, else not printed);
  pipe.rtt_8B_cross     the same with the child on one CPU and the parent on another (the
                        child inherits the mask it was started under; needs 2 CPUs);
  pipe.throughput_1MiB  GiB/s of 1 MiB send_bytes messages, received by the child with
                        recv_bytes_into into one reused bytearray, acknowledged at the end.
Children are started with the "fork" start method (Python's fastest; the start is not timed
anyway). A rep starts a child, warms up, times N operations, stops the child; the figure is
the median of the reps. A message of length 0 stops the child; for throughput, a message of
length 1 asks for an acknowledgement.

Prints {"bench":...,"python":X,"start_method":"fork"}; bench/run keeps "python" and ignores
the extra field.

Usage: pipe_bench.py [--quick] [--json-only]
"""
import multiprocessing as mp
import sys
import time

from bench_common import (START_METHOD, check_exit, emit, parse_args, pin_begin, pin_end,
                          start_child)

BIG = 1 << 20
# (round trips per RTT rep, 1 MiB messages per throughput rep, reps): as bench_pipe.
SIZES = {"quick": (2000, 100, 9), "full": (10000, 500, 15)}


def echo(conn, other):
    other.close()  # the parent's end, inherited under fork
    while True:
        msg = conn.recv_bytes()
        if not msg:
            return
        conn.send_bytes(msg)


def sink(conn, other):
    other.close()
    buf = bytearray(BIG)
    while True:
        n = conn.recv_bytes_into(buf)
        if n == 0:
            return
        if n == 1:
            conn.send_bytes(b"k")


def rtt_loop(conn, n):
    msg = b"01234567"
    for _ in range(n):
        conn.send_bytes(msg)
        conn.recv_bytes()


def tput_loop(conn, n):
    payload = bytes(BIG)
    for _ in range(n):
        conn.send_bytes(payload)
    conn.send_bytes(b"a")
    conn.recv_bytes()


def rep(ctx, target, loop, warm, n, cross=None):
    """Starts a child, warms up, times n operations, stops the child. Returns seconds.
    cross=(parent_cpu, child_cpu): start the child on one CPU, keep the parent on the other."""
    mine, theirs = ctx.Pipe()
    p = ctx.Process(target=target, args=(theirs, mine))
    start_child(p, cross)
    theirs.close()
    loop(mine, warm)
    t0 = time.perf_counter_ns()
    loop(mine, n)
    dt = (time.perf_counter_ns() - t0) / 1e9
    mine.send_bytes(b"")
    p.join()
    mine.close()
    check_exit(p)
    return dt


def main(argv):
    args = parse_args(argv, "pipe_bench.py")
    if args is None:
        return 2
    quick, json_only = args
    n_rtt, n_tput, reps = SIZES["quick" if quick else "full"]
    ctx = mp.get_context(START_METHOD)

    figures = [("pipe.rtt_8B", None), ("pipe.rtt_8B_pinned", "same"),
               ("pipe.rtt_8B_cross", "cross"), ("pipe.throughput_1MiB", None)]
    for name, how in figures:
        pinned = pin_begin(how)
        if pinned is None:
            continue
        saved, cross = pinned
        try:
            if name == "pipe.throughput_1MiB":
                vals = [n_tput * BIG / 2**30 / rep(ctx, sink, tput_loop, 2, n_tput)
                        for _ in range(reps)]
                unit, n = "GiB/s", n_tput
            else:
                vals = [rep(ctx, echo, rtt_loop, 100, n_rtt, cross) * 1e6 / n_rtt
                        for _ in range(reps)]
                unit, n = "us", n_rtt
        finally:
            pin_end(how, saved)
        emit(name, unit, vals, f" x {n}", json_only, width=22)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
