# SPDX-License-Identifier: MIT
"""A Python SyncManager for the C client's tests.

    mgr_pyserver.py unix PATH KEYHEX    serve at the unix socket PATH
    mgr_pyserver.py tcp - KEYHEX        serve at 127.0.0.1, any free port
    ... shm                             a SharedMemoryManager instead of a SyncManager

Prints the address in mproc's syntax ("unix:/path", "tcp:127.0.0.1:PORT") on one line, then
serves until killed, asked to shut down, or its stdin reaches end of file (the test that
started it is gone, whatever way it ended). Objects live in this very process, so stopping or
killing it stops or kills the manager.
"""
import multiprocessing
import os
import sys
import threading
from multiprocessing.managers import SharedMemoryManager, SyncManager


def exit_with_parent():
    sys.stdin.buffer.read()
    os._exit(0)


def main():
    threading.Thread(target=exit_with_parent, daemon=True).start()
    kind, where, keyhex = sys.argv[1:4]
    address = where if kind == "unix" else ("127.0.0.1", 0)
    key = bytes.fromhex(keyhex)
    # A proxy unpickled in the server (Condition(lock)) connects back with the process key
    # (python/cpython#139801): it must be the manager's.
    multiprocessing.current_process().authkey = key
    kind_of = SharedMemoryManager if sys.argv[4:5] == ["shm"] else SyncManager
    manager = kind_of(address=address, authkey=key)
    server = manager.get_server()
    a = server.address
    print("unix:" + a if isinstance(a, str) else "tcp:%s:%d" % a, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
