# SPDX-License-Identifier: MIT
"""A SyncManager client that exercises every served type and prints one line per step.

    mgr_client.py connect ADDRESS HEXKEY   use the server at ADDRESS (mproc syntax:
                                           unix:/path, unix:@name, tcp:host:port)
    mgr_client.py python                   start a Python SyncManager and use it
    mgr_client.py blocked ADDRESS HEXKEY   block in Queue.get; print what ends the wait
    mgr_client.py badkey ADDRESS           connect with a wrong key; print the error
    mgr_client.py killed ADDRESS HEXKEY    hold proxies, then die by SIGKILL
    mgr_client.py custom ADDRESS HEXKEY    use the typeids the C test registers
    mgr_client.py shm ADDRESS HEXKEY       SharedMemoryManager client: make two tracked
                                           segments, print their names and the server's list

The C tests run "python" and "connect" and compare the outputs line by line: the C server must
answer as Python's does."""
import array
import gc
import multiprocessing
import os
import signal
import queue
import sys
import threading
import time
from multiprocessing.managers import RemoteError, SyncManager


def py_address(a):
    if a.startswith("tcp:"):
        host, port = a[4:].rsplit(":", 1)
        return (host.strip("[]"), int(port))
    if a.startswith("unix:@"):
        return "\0" + a[6:]
    return a.split(":", 1)[1] if a.startswith(("unix:", "pipe:")) else a


def step(name, fn):
    try:
        r = fn()
        print("%s -> %r" % (name, r))
    except RemoteError as e:
        lines = [x for x in str(e).splitlines() if x.strip() and not x.startswith("---")]
        last = lines[-1] if lines else ""
        print("%s -> RemoteError %s" % (name, last.split(":", 1)[0]))
    except Exception as e:  # the exception the server raised, re-raised here
        print("%s -> %s%r" % (name, type(e).__name__, e.args))
    sys.stdout.flush()


def run_dict(m):
    d = m.dict()
    step("dict.setitem", lambda: d.__setitem__("a", 1))
    step("dict.setitem_nested", lambda: d.__setitem__("n", {"x": [1, 2, (3, None)], "y": b"\x00b"}))
    step("dict.setitem_bigint", lambda: d.__setitem__(2**70, -(2**65)))
    step("dict.setitem_float_key", lambda: d.__setitem__(1.0, "one"))
    step("dict.getitem_true", lambda: d[True])
    step("dict.getitem", lambda: d["n"])
    step("dict.getitem_missing", lambda: d["missing"])
    step("dict.unhashable", lambda: d.__setitem__([1], 2))
    step("dict.len", lambda: len(d))
    step("dict.contains", lambda: ("a" in d, "zz" in d))
    step("dict.get", lambda: (d.get("a"), d.get("zz"), d.get("zz", 5)))
    step("dict.keys", lambda: d.keys())
    step("dict.values", lambda: d.values())
    step("dict.items", lambda: d.items())
    step("dict.iter", lambda: list(iter(d)))
    step("dict.copy", lambda: d.copy())
    step("dict.update", lambda: d.update({"b": True, "c": 2.5}, z=None))
    step("dict.update_pairs", lambda: d.update([("p", "q")]))
    step("dict.setdefault", lambda: (d.setdefault("a", 9), d.setdefault("s", 7)))
    step("dict.pop", lambda: (d.pop("s"), d.pop("s", "dflt")))
    step("dict.pop_missing", lambda: d.pop("s"))
    step("dict.popitem", lambda: d.popitem())
    step("dict.delitem", lambda: d.__delitem__("b"))
    step("dict.delitem_missing", lambda: d.__delitem__("b"))
    step("dict.str", lambda: str(d))
    step("dict.getvalue", lambda: d._getvalue())
    step("dict.clear", lambda: (d.clear(), len(d)))
    step("dict.popitem_empty", lambda: d.popitem())
    step("dict.from_args", lambda: m.dict({"k": 1}, j=2)._getvalue())


def run_nested(m):
    d = m.dict()
    inner = m.list([1])
    step("nested.store", lambda: d.__setitem__("l", inner))
    del inner  # the client's own reference goes (decref); the stored proxy keeps the list
    gc.collect()
    step("nested.append", lambda: d["l"].append(2))
    step("nested.get", lambda: d["l"]._getvalue())
    step("nested.in_list", lambda: (m.list([d["l"]])[0][1]))


def run_list(m):
    lst = m.list([1, "two", 3.0])
    step("list.append", lambda: lst.append(None))
    step("list.extend", lambda: lst.extend([b"x", (1, 2)]))
    step("list.iadd", lambda: (lst.__iadd__([7]), len(lst))[1])
    step("list.getitem", lambda: (lst[0], lst[-1], lst[1]))
    step("list.slice", lambda: (lst[1:3], lst[::-2], lst[-2:]))
    step("list.getitem_out", lambda: lst[50])
    step("list.setitem", lambda: (lst.__setitem__(0, 10), lst[0])[1])
    step("list.setitem_out", lambda: lst.__setitem__(50, 1))
    step("list.delitem", lambda: (lst.__delitem__(1), len(lst))[1])
    step("list.insert", lambda: (lst.insert(0, "first"), lst.insert(-1, "x"), lst[0])[2])
    step("list.index", lambda: lst.index(10))
    step("list.index_missing", lambda: lst.index("nope"))
    step("list.count", lambda: lst.count("x"))
    step("list.contains", lambda: (10 in lst, 11 in lst))
    step("list.remove", lambda: lst.remove("x"))
    step("list.remove_missing", lambda: lst.remove("x"))
    step("list.pop", lambda: (lst.pop(), lst.pop(0)))
    step("list.pop_out", lambda: lst.pop(99))
    step("list.reverse", lambda: (lst.reverse(), lst._getvalue())[1])
    step("list.add", lambda: lst + [1])
    step("list.mul", lambda: m.list([1, 2]) * 2)
    nums = m.list([3, 1.5, 2, True])
    step("list.sort", lambda: (nums.sort(), nums._getvalue())[1])
    step("list.sort_reverse", lambda: (nums.sort(reverse=True), nums._getvalue())[1])
    step("list.str", lambda: str(lst))
    empty = m.list()
    step("list.pop_empty", lambda: empty.pop())
    step("list.len", lambda: (len(lst), len(empty)))


def run_slices(m):
    lst = m.list(list(range(8)))
    step("list.setslice", lambda: (lst.__setitem__(slice(1, 3), ["a", "b", "c"]), lst[:])[1])
    step("list.delslice_step", lambda: (lst.__delitem__(slice(None, None, 2)), lst[:])[1])
    step("list.setslice_ext", lambda: (lst.__setitem__(slice(None, None, 2), (1, 2)), lst[:])[1])
    step("list.setslice_ext_size", lambda: lst.__setitem__(slice(None, None, 2), [1]))
    step("list.setslice_neg", lambda: (lst.__setitem__(slice(None, None, -1), [9, 8, 7, 6]),
                                       lst[:])[1])
    step("list.delslice_neg", lambda: (lst.__delitem__(slice(-1, 0, -2)), lst[:])[1])
    step("list.setslice_grow", lambda: (lst.__setitem__(slice(5, 1), {"k": 0, "j": 1}),
                                        lst[:])[1])
    step("list.setslice_shrink", lambda: (lst.__setitem__(slice(-3, None), []), lst[:])[1])
    step("list.delslice_all", lambda: (lst.__delitem__(slice(None)), lst[:], len(lst))[1:])
    step("list.slice_step0", lambda: lst.__setitem__(slice(0, 1, 0), [5]))
    step("list.delslice_step0", lambda: lst.__delitem__(slice(None, None, 0)))
    arr = m.Array("i", list(range(6)))
    step("array.getslice", lambda: (arr[1:4], arr[::-2], arr[10:]))
    step("array.setslice", lambda: (arr.__setitem__(slice(0, 2), array.array("i", [9])),
                                    arr[:])[1])
    step("array.setslice_ext", lambda: (arr.__setitem__(slice(None, None, 2),
                                                        array.array("i", [7, 7, 7])), arr[:])[1])
    step("array.setslice_ext_size", lambda: arr.__setitem__(slice(None, None, 2),
                                                            array.array("i", [1])))
    step("array.setslice_list", lambda: arr.__setitem__(slice(0, 2), [9, 8]))
    step("array.setslice_typecode", lambda: arr.__setitem__(slice(0, 2), array.array("d", [1])))
    step("array.getvalue", lambda: arr._getvalue())
    step("array.str", lambda: str(arr))
    step("array.kinds", lambda: (m.Array("d", [1.5, 2])[:], m.Array("B", [255])[:],
                                 m.Array("h", [-2])[:], m.Array("f", [0.5])._getvalue()))
    step("array.empty", lambda: (str(m.Array("b", [])), m.Array("q", [])._getvalue()))


def run_getvalue(m):
    ns = m.Namespace(a=1, b=[1, {"k": "v"}])
    step("ns.getvalue", lambda: ns._getvalue())
    step("ns.getvalue_empty", lambda: m.Namespace()._getvalue())
    step("ns.getvalue_attr", lambda: (ns._getvalue().b, ns._getvalue().a))
    v = m.Value("d", 2.5)
    step("value.getvalue", lambda: v._getvalue())
    step("value.getvalue_attr", lambda: v._getvalue().value)


def cond_round(c):
    """A waiter in another thread is notified through c: what its wait returned."""
    got = []

    def waiter():
        with c:
            got.append(c.wait(5))

    t = threading.Thread(target=waiter)
    t.start()
    while True:
        with c:
            c.notify()
        t.join(0.05)
        if not t.is_alive():
            return got


def run_sync_args(m):
    lk = m.Lock()
    c = m.Condition(lk)
    step("cond.lock", lambda: (c.acquire(), lk.acquire(False), c.release(), lk.acquire(False),
                               lk.release()))
    step("cond.lock_wait", lambda: (c.acquire(), c.wait(0.05), lk.acquire(False), c.release()))
    step("cond.lock_notify_unowned", lambda: c.notify())
    step("cond.lock_notified", lambda: cond_round(c))
    step("cond.none", lambda: cond_round(m.Condition(None)))
    step("barrier.kwargs", lambda: m.Barrier(2, timeout=0.05).wait())
    step("barrier.none_args", lambda: m.Barrier(1, None, None).wait())
    step("barrier.kw_action_none", lambda: m.Barrier(parties=1, action=None, timeout=1).wait())
    if not hasattr(queue, "ShutDown"):
        return
    q = m.Queue()
    q.put(5)
    step("queue.shutdown", lambda: (q.shutdown(), q.get(), q.qsize()))
    step("queue.put_shut", lambda: q.put(1))
    step("queue.get_shut", lambda: q.get())
    step("queue.get_nowait_shut", lambda: q.get_nowait())
    q2 = m.JoinableQueue()
    q2.put(5)
    q2.put(6)
    step("queue.shutdown_immediate", lambda: (q2.shutdown(immediate=True), q2.qsize(),
                                              q2.empty(), q2.join()))
    q3 = m.Queue()
    step("queue.shutdown_wakes", lambda: in_thread(lambda: q3.get(timeout=5), q3.shutdown))


def run_namespace_value_array(m):
    ns = m.Namespace(a=1)
    step("ns.get", lambda: ns.a)
    step("ns.set", lambda: (setattr(ns, "b", [1, {"k": "v"}]), ns.b)[1])
    step("ns.missing", lambda: ns.missing)
    step("ns.del", lambda: (delattr(ns, "a"), hasattr(ns, "a"))[1])
    step("ns.str", lambda: str(ns))
    v = m.Value("i", 5)
    step("value.get", lambda: v.value)
    step("value.set", lambda: (setattr(v, "value", "any"), v.value)[1])
    step("value.str", lambda: str(v))
    arr = m.Array("i", [1, 2, 3])
    step("array.len", lambda: len(arr))
    step("array.getitem", lambda: (arr[0], arr[-1]))
    step("array.setitem", lambda: (arr.__setitem__(1, 20), arr[1])[1])
    step("array.getitem_out", lambda: arr[10])
    step("array.setitem_type", lambda: arr.__setitem__(0, "s"))
    darr = m.Array("d", [1, 2.5])
    step("array.double", lambda: (darr[0], darr[1]))


def run_queues(m):
    q = m.Queue(2)
    step("queue.put", lambda: (q.put(1), q.put((2, "b"))))
    step("queue.full", lambda: (q.full(), q.empty(), q.qsize()))
    step("queue.put_full", lambda: q.put(3, timeout=0.05))
    step("queue.put_nowait_full", lambda: q.put_nowait(3))
    step("queue.get", lambda: (q.get(), q.get(timeout=1)))
    step("queue.get_empty", lambda: q.get(timeout=0.05))
    step("queue.get_nowait_empty", lambda: q.get_nowait())
    step("queue.get_nonblock", lambda: q.get(False))
    jq = m.JoinableQueue()
    step("jqueue.put", lambda: (jq.put("t"), jq.get()))
    step("jqueue.task_done", lambda: jq.task_done())
    step("jqueue.join", lambda: jq.join())
    step("jqueue.task_done_extra", lambda: jq.task_done())


def run_sync(m):
    lk = m.Lock()
    step("lock.acquire", lambda: lk.acquire())
    step("lock.acquire_timeout", lambda: lk.acquire(True, 0.05))
    step("lock.acquire_nonblock", lambda: lk.acquire(False))
    step("lock.release", lambda: lk.release())
    step("lock.release_unlocked", lambda: lk.release())
    rl = m.RLock()
    step("rlock.acquire_twice", lambda: (rl.acquire(), rl.acquire()))
    step("rlock.release_twice", lambda: (rl.release(), rl.release()))
    step("rlock.release_unowned", lambda: rl.release())
    sem = m.Semaphore(2)
    step("sem.acquire", lambda: (sem.acquire(), sem.acquire(), sem.acquire(timeout=0.05)))
    step("sem.release", lambda: (sem.release(), sem.release(), sem.release()))
    bs = m.BoundedSemaphore(1)
    step("bsem.release_extra", lambda: bs.release())
    ev = m.Event()
    step("event.is_set", lambda: ev.is_set())
    step("event.wait_timeout", lambda: ev.wait(0.05))
    step("event.set", lambda: (ev.set(), ev.is_set(), ev.wait(1)))
    step("event.clear", lambda: (ev.clear(), ev.is_set()))
    cond = m.Condition()
    step("cond.notify_unowned", lambda: cond.notify())
    step("cond.wait_timeout", lambda: (cond.acquire(), cond.wait(0.05), cond.release()))
    got = []

    def waiter():
        with cond:
            got.append(cond.wait(5))

    t = threading.Thread(target=waiter)
    t.start()
    while True:  # wait until the waiter has the lock released inside wait()
        with cond:
            cond.notify()
        t.join(0.05)
        if not t.is_alive():
            break
    step("cond.notified", lambda: got)
    bar = m.Barrier(1)
    step("barrier.wait", lambda: bar.wait())
    step("barrier.attrs", lambda: (bar.parties, bar.n_waiting, bar.broken))
    bar2 = m.Barrier(2)
    step("barrier.timeout", lambda: bar2.wait(0.05))
    step("barrier.broken", lambda: (bar2.broken, bar2.wait()))
    step("barrier.reset", lambda: (bar2.reset(), bar2.broken)[1])
    step("barrier.two", lambda: sorted(in_thread(lambda: bar2.wait(5), lambda: bar2.wait(5))))
    step("barrier.reset_waiting", lambda: in_thread(lambda: bar2.wait(5), lambda: (
        wait_until(lambda: bar2.n_waiting == 1), bar2.reset())[1]))
    step("barrier.abort", lambda: (bar2.abort(), bar2.broken, bar2.n_waiting))
    step("barrier.abort_wait", lambda: bar2.wait())
    lk2 = m.Lock()
    lk2.acquire()  # held here; the other thread waits until it is released
    step("lock.two_threads", lambda: in_thread(lambda: lk2.acquire(True, 5), lambda: (
        time.sleep(0.1), lk2.release())[1]))


def in_thread(fn, here):
    """fn() in another thread (its own connection), here() in this one: both results."""
    out = []

    def run():
        try:
            out.append(fn())
        except Exception as e:
            out.append(type(e).__name__)

    t = threading.Thread(target=run)
    t.start()
    mine = here()
    t.join(10)
    return [mine] + out


def wait_until(cond):
    for _ in range(500):
        if cond():
            return True
        time.sleep(0.01)
    return False


def run_errors(m):
    step("create.unknown", lambda: m._create("Nope"))
    d = m.dict()
    step("call.not_exposed", lambda: d._callmethod("nothere"))
    step("number_of_objects", lambda: isinstance(m._number_of_objects(), int))


def run_all(m):
    run_dict(m)
    run_nested(m)
    run_list(m)
    run_slices(m)
    run_namespace_value_array(m)
    run_getvalue(m)
    run_sync_args(m)
    run_queues(m)
    run_sync(m)
    run_errors(m)


def run_shm(address, key):
    from multiprocessing import resource_tracker
    from multiprocessing.managers import SharedMemoryManager, dispatch
    smm = SharedMemoryManager(address=py_address(address), authkey=key)
    smm.connect()
    shm = smm.SharedMemory(64)
    shm.buf[:2] = b"hi"
    sl = smm.ShareableList([1, "a"])
    for name in (shm.name, sl.shm.name):
        # the server unlinks them, not this process's resource tracker at exit
        resource_tracker.unregister("/" + name if os.name == "posix" else name, "shared_memory")
        print("shm", name)
    with smm._Client(smm._address, authkey=key) as conn:
        names = dispatch(conn, None, "list_segments")
    print("tracked", sorted(names) == sorted([shm.name, sl.shm.name]), len(names))
    shm.close()
    sl.shm.close()


def connect(address, key):
    multiprocessing.current_process().authkey = key  # nested proxies (cpython#139801)
    m = SyncManager(address=py_address(address), authkey=key)
    m.connect()
    return m


def main():
    mode = sys.argv[1]
    if mode == "python":
        key = b"mproc-test-key"
        multiprocessing.current_process().authkey = key
        m = SyncManager(authkey=key)
        m.start()
        try:
            run_all(m)
        finally:
            m.shutdown()
    elif mode == "connect":
        run_all(connect(sys.argv[2], bytes.fromhex(sys.argv[3])))
    elif mode == "blocked":
        m = connect(sys.argv[2], bytes.fromhex(sys.argv[3]))
        q = m.Queue()
        print("blocking", flush=True)
        try:
            q.get()
            print("got an item")
        except Exception as e:  # RuntimeError from the C server, EOFError from Python
            print("ended with", type(e).__name__)
    elif mode == "killed":  # holds proxies and dies without a decref
        m = connect(sys.argv[2], bytes.fromhex(sys.argv[3]))
        held = [m.dict({"a": 1}), m.list([1]), m.Queue(), m.Lock()]
        held[0]["l"] = held[1]
        print("holding", len(held), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "custom":  # typeids the C test registers: Counter, get_queue
        SyncManager.register("Counter")
        SyncManager.register("get_queue")
        m = connect(sys.argv[2], bytes.fromhex(sys.argv[3]))
        k = m.Counter()
        step("counter.bump", lambda: (k.bump(), k.bump()))
        step("counter.fail", lambda: k.fail())
        step("counter.str", lambda: str(k))
        other = k.same()  # '#PROXY': a new Counter
        step("counter.proxy", lambda: (type(other).__name__, other.bump(), other.bump()))
        q1, q2 = m.get_queue(), m.get_queue()
        step("get_queue.same", lambda: (q1.put("x"), q2.get(timeout=1)))
        step("objects", lambda: m._number_of_objects())
    elif mode == "shm":
        run_shm(sys.argv[2], bytes.fromhex(sys.argv[3]))
    elif mode == "badkey":
        try:
            connect(sys.argv[2], b"wrong key")
            print("connected")
        except multiprocessing.AuthenticationError as e:
            print("AuthenticationError", e)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
