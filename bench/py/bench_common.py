# SPDX-License-Identifier: MIT
"""Helpers shared by the Python benchmarks of bench/py: arguments, JSON lines and the summary,
CPU pinning (Linux) and children. bench/run runs each script by its path, so Python puts this
directory on sys.path and `import bench_common` works from any working directory."""
import json
import os
import statistics
import sys

START_METHOD = "fork"


def parse_args(argv, prog):
    """(quick, json_only) from the arguments, or None after printing the usage."""
    unknown = [a for a in argv if a not in ("--quick", "--json-only")]
    if unknown:
        print(f"usage: {prog} [--quick] [--json-only]", file=sys.stderr)
        return None
    return "--quick" in argv, "--json-only" in argv


def rounded(med):
    return round(med, 3 if med < 10 else 1)


def print_json(rec):
    print(json.dumps(rec, separators=(",", ":")), flush=True)


def emit(name, unit, vals, detail, json_only, width=24, **extra):
    """Prints the JSON line of a figure (the median of vals) and, unless json_only, its summary
    line on stderr; detail follows the number of reps there."""
    med = statistics.median(vals)
    rec = {"bench": name, "python": rounded(med), "start_method": START_METHOD}
    rec.update(extra)
    print_json(rec)
    if not json_only:
        print(f"  {name:<{width}} python median {med:9.3f} {unit}  (min {min(vals):.3f}, "
              f"max {max(vals):.3f}; {len(vals)} reps{detail})", file=sys.stderr)


def pin(cpu):
    """Pins this process to cpu; None: not at all."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def two_cpus():
    """The first two CPUs this process may use (Linux, 2 CPUs or more), else [None, None]."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return allowed[:2] if len(allowed) >= 2 else [None, None]


def pin_begin(how):
    """For a figure pinned `how` (None; "same": parent and child on one CPU; "cross": on two):
    None when that cannot be had here, else (saved CPU mask, cross) with cross=(parent_cpu,
    child_cpu) for "cross". Pins this process now for "same"; pin_end undoes it."""
    pinnable = hasattr(os, "sched_setaffinity")
    saved = os.sched_getaffinity(0) if pinnable else set()
    if how and (not pinnable or (how == "cross" and len(saved) < 2)):
        return None
    cpus = sorted(saved)[:2]  # CPU 0 (and 1) when allowed
    cross = tuple(cpus) if how == "cross" else None
    if how == "same":
        os.sched_setaffinity(0, {cpus[0]})
    return saved, cross


def pin_end(how, saved):
    if how:
        os.sched_setaffinity(0, saved)


def start_child(p, cross=None):
    """p.start(); cross=(parent_cpu, child_cpu): the child starts on one CPU, the parent stays
    on the other."""
    if cross:
        os.sched_setaffinity(0, {cross[1]})
    p.start()
    if cross:
        os.sched_setaffinity(0, {cross[0]})


def check_exit(p):
    if p.exitcode != 0:
        raise RuntimeError(f"child exited with {p.exitcode}")


def run_all(procs):
    """Starts the processes, joins them, raises if one did not exit with 0."""
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        check_exit(p)


def two_proc_ns(times, n):
    """ns per operation of two children that did n each; times = t_start[2] + t_end[2] in s."""
    return (max(times[2], times[3]) - min(times[0], times[1])) * 1e9 / (2 * n)
