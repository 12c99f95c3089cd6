#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's side of bench_manager: multiprocessing.managers.SyncManager on this machine.

Figures (the same definitions bench_manager uses):
  manager.call_rtt            us per proxy call: d['k'] = i on a Manager().dict(), one at a time
                              (Manager() default: a unix socket, the server in a child);
  manager.create              us per proxy creation: m.dict() (then the proxy is dropped);
  manager.dict_100_updates    us per item of 100 dict updates: here 100 one-at-a-time
                              d[k] = v calls (bench_manager sends them as one batch);
  manager.pyclient_call_rtt   us per d['k'] = i made by a Python client: here against Python's
                              server, in bench_manager against mproc's (the same script, run
                              with --client ADDRESS AUTHKEY_HEX, times the calls there).
A rep times N operations; the figure is the median of the reps.

Prints {"bench":...,"python":X,"start_method":"fork"} lines; with --client it prints one line
{"bench":"manager.pyclient_call_rtt","client":X} for bench_manager to read.

Usage: manager_bench.py [--quick] [--json-only]
       manager_bench.py --client ADDRESS AUTHKEY_HEX [--quick]
"""
import multiprocessing as mp
import sys
import time
from multiprocessing.managers import BaseManager, DictProxy

from bench_common import emit, parse_args, print_json

# (calls per rep, creations per rep, reps)
SIZES = {"quick": (1000, 50, 5), "full": (4000, 200, 9)}


def time_calls(d, n):
    t0 = time.perf_counter()
    for i in range(n):
        d["k"] = i
    return (time.perf_counter() - t0) * 1e6 / n


def time_creates(m, n):
    t0 = time.perf_counter()
    for _ in range(n):
        m.dict()  # dropped at once: its decref is part of the cost, as in a loop of creations
    return (time.perf_counter() - t0) * 1e6 / n


def time_100_updates(d):
    t0 = time.perf_counter()
    for i in range(100):
        d[i] = i
    return (time.perf_counter() - t0) * 1e6 / 100


class ClientManager(BaseManager):
    pass


ClientManager.register("dict", dict, DictProxy)


def client(address, key_hex, quick):
    """Python's client against the server at address (a unix path or host:port)."""
    if address.startswith("@"):  # a Linux abstract name, which Python spells '\0name'
        address = "\0" + address[1:]
    elif ":" in address and not address.startswith("/"):
        host, port = address.rsplit(":", 1)
        address = (host, int(port))
    m = ClientManager(address=address, authkey=bytes.fromhex(key_hex))
    m.connect()
    calls, _, reps = SIZES["quick" if quick else "full"]
    d = m.dict()
    time_calls(d, calls // 10)  # warm-up
    vals = sorted(time_calls(d, calls) for _ in range(reps))
    print_json({"bench": "manager.pyclient_call_rtt", "client": round(vals[len(vals) // 2], 3)})
    return 0


def main(argv):
    if argv[:1] == ["--client"] and len(argv) >= 3:
        return client(argv[1], argv[2], "--quick" in argv[3:])
    parsed = parse_args(argv, "manager_bench.py")
    if parsed is None:
        return 2
    quick, json_only = parsed
    calls, creates, reps = SIZES["quick" if quick else "full"]
    mp.set_start_method("fork")
    with mp.Manager() as m:
        d = m.dict()
        time_calls(d, calls // 10)
        rtt = [time_calls(d, calls) for _ in range(reps)]
        made = [time_creates(m, creates) for _ in range(reps)]
        upd = [time_100_updates(d) for _ in range(reps * 10)]
    emit("manager.call_rtt", "us", rtt, f" of {calls}", json_only, width=26)
    emit("manager.create", "us", made, f" of {creates}", json_only, width=26)
    emit("manager.dict_100_updates", "us", upd, "", json_only, width=26)
    emit("manager.pyclient_call_rtt", "us", rtt, f" of {calls}", json_only, width=26)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
