#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's side of bench_shared: multiprocessing's Value and RawArray.

Figures (the same definitions bench_shared uses):
  value.locked_incr       ns per `with v.get_lock(): v.value += 1` on v = Value('i', 0), one
                          process (the `for` loop's own cost included: a Python caller pays it);
  value.locked_incr_2p    ns per increment, two processes each doing N of them on the same
                          Value: (last end - first start) / 2N. Child i pins itself to the i-th
                          allowed CPU (Linux, 2 CPUs or more), both wait at a Barrier(2) first;
  value.atomic_incr,      Python has no atomic increment: these print the two locked figures
  value.atomic_incr_2p    above again (the cheapest way Python has to increment a shared int
                          safely), marked "python_is":"locked_incr";
  array.create_256MiB     ms for RawArray('b', 256 MiB) (multiprocessing.heap maps a tmpfs file
                          and RawArray zero-fills it with ctypes.memset);
  array.fill_256MiB       GiB/s: a forked child does ctypes.memset(arr, 1, size), timed in the
                          child;
  array.sum_256MiB        GiB/s: the parent then reduces the array: numpy.frombuffer(arr,
                          uint64).sum() when numpy is installed, else zlib.adler32 over a
                          memoryview (a C loop over every byte whose low half is the byte sum
                          mod 65521; sum(memoryview) runs ~0.3 GiB/s). "sum_method" says which;
  array.bandwidth_256MiB  GiB/s: size / (create + fill + sum), per rep.
The Python counts of increments are smaller than bench_shared's (Python is ~20-50x slower per
increment); every figure is per operation, so they compare directly. The array is 256 MiB in
both modes (MIB below; a smaller one would be reported under the same names, create scaled).
Children are started with the "fork" start method (the start is never timed). A figure is the
median of the reps.

Prints {"bench":...,"python":X,"start_method":"fork",...}; bench/run keeps "python" and ignores
the extra fields.

Usage: shared_bench.py [--quick] [--json-only]
"""
import ctypes
import multiprocessing as mp
import sys
import time
import zlib

try:
    import numpy
except ImportError:
    numpy = None

from bench_common import START_METHOD, emit, parse_args, pin, run_all, two_cpus, two_proc_ns

WARM = 1000
NAME_MIB = 256
# increments per loop rep, reps; increments per process, reps; array MiB, reps
SIZES = {
    "quick": {"loop": (200_000, 7), "2p": (50_000, 5), "array": (256, 3)},
    "full": {"loop": (1_000_000, 11), "2p": (200_000, 11), "array": (256, 7)},
}


def loop_rep(v, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    return (time.perf_counter_ns() - t0) / n


def incr_child(v, barrier, times, idx, n, cpu):
    pin(cpu)
    barrier.wait()
    times[idx] = time.perf_counter()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    times[2 + idx] = time.perf_counter()


def two_proc_rep(ctx, n, cpus):
    v = ctx.Value("i", 0)
    times = ctx.RawArray("d", 4)
    barrier = ctx.Barrier(2)
    ps = [ctx.Process(target=incr_child, args=(v, barrier, times, i, n, cpus[i]))
          for i in range(2)]
    run_all(ps)
    if v.value != 2 * n:
        raise RuntimeError(f"counter is {v.value}, not {2 * n}")
    return two_proc_ns(times, n)


def fill_child(arr, times, size):
    t0 = time.perf_counter()
    ctypes.memset(arr, 1, size)
    times[0] = time.perf_counter() - t0


def array_sum(arr, size):
    """Reduces every byte of arr (filled with 1) and checks the result."""
    if numpy is not None:
        got = int(numpy.frombuffer(arr, dtype=numpy.uint64).sum())
        want = (size // 8) * 0x0101010101010101 % 2**64
    else:
        got = zlib.adler32(memoryview(arr)) & 0xFFFF
        want = (1 + size) % 65521
    if got != want:
        raise RuntimeError(f"array sum is {got}, not {want}")


def array_rep(ctx, size):
    """Returns (create s, fill s, sum s) for a fresh RawArray of size bytes."""
    times = ctx.RawArray("d", 1)
    t0 = time.perf_counter()
    arr = ctx.RawArray("b", size)
    create = time.perf_counter() - t0
    p = ctx.Process(target=fill_child, args=(arr, times, size))
    run_all([p])
    t0 = time.perf_counter()
    array_sum(arr, size)
    dt = time.perf_counter() - t0
    del arr
    return create, times[0], dt


def main(argv):
    args = parse_args(argv, "shared_bench.py")
    if args is None:
        return 2
    quick, json_only = args
    sizes = SIZES["quick" if quick else "full"]
    ctx = mp.get_context(START_METHOD)

    n, reps = sizes["loop"]
    v = ctx.Value("i", 0)
    loop_rep(v, WARM)
    loop = [loop_rep(v, n) for _ in range(reps)]
    if v.value != WARM + n * reps:
        raise RuntimeError(f"counter is {v.value}, not {WARM + n * reps}")
    emit("value.locked_incr", "ns", loop, f" x {n}", json_only)
    emit("value.atomic_incr", "ns", loop, f" x {n}: the locked figure", json_only,
         python_is="locked_incr")

    n, reps = sizes["2p"]
    # Child i on the i-th allowed CPU (Linux, 2 CPUs or more), as bench_shared does.
    cpus = two_cpus()
    two = [two_proc_rep(ctx, n, cpus) for _ in range(reps)]
    pinned = ", pinned to 2 CPUs" if cpus[0] is not None else ""
    emit("value.locked_incr_2p", "ns", two, f" x 2 x {n}{pinned}", json_only)
    emit("value.atomic_incr_2p", "ns", two, f" x 2 x {n}{pinned}: the locked figure",
         json_only, python_is="locked_incr_2p")

    mib, reps = sizes["array"]
    size = mib << 20
    gib = size / 2**30
    method = "numpy" if numpy is not None else "zlib.adler32"
    reps_arr = [array_rep(ctx, size) for _ in range(reps)]
    detail = f" of {mib} MiB"
    extra = {"mib": mib, "sum_method": method}
    emit(f"array.create_{NAME_MIB}MiB", "ms",
         [c * 1e3 * NAME_MIB / mib for c, _, _ in reps_arr], detail + ", scaled", json_only,
         **extra)
    emit(f"array.fill_{NAME_MIB}MiB", "GiB/s", [gib / f for _, f, _ in reps_arr], detail,
         json_only, **extra)
    emit(f"array.sum_{NAME_MIB}MiB", "GiB/s", [gib / s for _, _, s in reps_arr],
         detail + ", " + method, json_only, **extra)
    emit(f"array.bandwidth_{NAME_MIB}MiB", "GiB/s", [gib / (c + f + s) for c, f, s in reps_arr],
         detail, json_only, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
