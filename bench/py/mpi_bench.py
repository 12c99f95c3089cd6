#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's side of bench_mpi: mpi4py.futures.MPIPoolExecutor.

Figure (bench_mpi's definition):
  mpi.map_trivial  ms per list(executor.map(square, range(200000))) with mpi4py's default
                   chunksize (1), on 2 worker ranks. It costs hundreds of us an item here, so
                   the run maps 20,000 items (--quick) or 50,000 and scales the time to 200,000
                   ("items" in the JSON line says how many were mapped).
  mpi.map_trivial_chunked  the same map with chunksize=25000 (what mproc's automatic
                   chunksize, ceil(n / 4P), gives with 2 workers): mpi4py at its best here.

mpi4py is Debian's python3-mpi4py, built for /usr/bin/python3; bench/run starts this script
with its own interpreter, so the script starts itself again as
`mpiexec -n 3 /usr/bin/python3 -m mpi4py.futures mpi_bench.py --inner ...`: rank 0 runs the
script, ranks 1 and 2 are the executor's workers. Without mpiexec or mpi4py it prints nothing
and exits 0 (the row then has no python figure).

Usage: mpi_bench.py [--quick] [--json-only]
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import emit, parse_args  # noqa: E402

MAP_N = 200_000
SYSTEM_PYTHON = "/usr/bin/python3"


def square(x):
    return x * x


def inner(quick, json_only):
    from mpi4py.futures import MPIPoolExecutor

    n = 20_000 if quick else 50_000
    reps = 3
    vals = []
    with MPIPoolExecutor() as ex:
        list(ex.map(square, range(1000)))  # warm-up: the workers are up
        for _ in range(reps):
            t0 = time.perf_counter()
            out = list(ex.map(square, range(n)))
            vals.append((time.perf_counter() - t0) * 1e3 * MAP_N / n)
            assert out[-1] == (n - 1) * (n - 1)
        chunked = []
        for _ in range(reps):
            t0 = time.perf_counter()
            out = list(ex.map(square, range(MAP_N), chunksize=MAP_N // 8))
            chunked.append((time.perf_counter() - t0) * 1e3)
            assert out[-1] == (MAP_N - 1) * (MAP_N - 1)
    emit("mpi.map_trivial", "ms", vals, f", {n} items scaled to {MAP_N}", json_only,
         items=n, ranks=2)
    emit("mpi.map_trivial_chunked", "ms", chunked, ", chunksize 25000", json_only, ranks=2)


def outer(argv):
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None or not os.path.exists(SYSTEM_PYTHON):
        print("mpi_bench.py: no mpiexec or /usr/bin/python3: skipped", file=sys.stderr)
        return 0
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import mpi4py.futures"],
                           capture_output=True)
    if probe.returncode != 0:
        print("mpi_bench.py: no mpi4py for /usr/bin/python3 (python3-mpi4py): skipped",
              file=sys.stderr)
        return 0
    env = dict(os.environ)
    for k, v in (("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
                 ("OMPI_MCA_rmaps_base_oversubscribe", "1"),
                 ("OMPI_MCA_btl_vader_single_copy_mechanism", "none")):
        env.setdefault(k, v)
    env.pop("PYTHONPATH", None)
    cmd = [mpiexec, "-n", "3", SYSTEM_PYTHON, "-m", "mpi4py.futures",
           os.path.abspath(__file__), "--inner"] + argv
    return subprocess.run(cmd, env=env).returncode


def main(argv):
    if "--inner" in argv:
        argv = [a for a in argv if a != "--inner"]
        args = parse_args(argv, "mpi_bench.py")
        inner(*args)
        return 0
    if parse_args(argv, "mpi_bench.py") is None:
        return 2
    return outer(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
