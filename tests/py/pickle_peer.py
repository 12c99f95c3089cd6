# SPDX-License-Identifier: MIT
"""Python side of the pickle codec tests (tests/test_pickle.c).

  pickle_peer.py dump DIR   writes DIR/NN-pP.pkl (value NN pickled at protocol P, 2..5)
                            and DIR/NN.repr (what the C decoder must print for it)
  pickle_peer.py load FILE  prints repr(pickle.loads(FILE's bytes))
"""
import array
import os
import pickle
import queue
import sys
import threading
from multiprocessing import managers


class Reduced:
    """Pickles as RebuildProxy(ListProxy, token, 'pickle', {...}) without any manager."""

    def __init__(self, token, kwds):
        self.token, self.kwds = token, kwds

    def __reduce__(self):
        return (managers.RebuildProxy, (managers.ListProxy, self.token, 'pickle', self.kwds))


def values():
    token = managers.Token('list', ('127.0.0.1', 47341), '7f0697e10400')
    out = [
        None, True, False, 0, 255, 256, 65535, 65536, -1, -2**31, 2**31, 2**63 - 1, -2**63,
        2**63, 2**70, -2**40, 10**40, -(10**300), 2**2100,
        0.0, -0.0, 0.1, 1e16, 5e-324, float('inf'), float('nan'),
        '', 'a', 'x' * 300, 'h\u00e9llo \u20ac \U0001f600', "it's", 'tab\tnl\n',
        b'', b'\x00\xff', b'y' * 70000,
        (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), [], [1], list(range(2500)),
        {}, {'a': 1}, {i: str(i) for i in range(1500)},
        {'a': [1, (2,)], 'b': True}, [[[]]], ({'k': (None,)},),
        {1: 'c', (1, 'x'): [b'']},
        KeyError('missing'), IndexError('list index out of range'), queue.Empty(),
        ValueError('g() failed', 3), StopIteration(),
        slice(0, 2, None), bytearray(b'\x01\x02'),
        {1, 2, 3}, frozenset({4, 5}), set(), frozenset(),
        token,
    ]
    attr = AttributeError("'Namespace' object has no attribute 'missing'")
    if sys.version_info >= (3, 13):
        attr.name = 'missing'  # 3.13 pickles this state with BUILD
    out.append(attr)
    return out


# Values Python cannot load without side effects, or whose repr is not Python's: the pickle
# and the text the C decoder prints.
def special():
    token = managers.Token('dict', '/tmp/pymp-x/listener-1', 'a1')
    return [
        (Reduced(token, {'exposed': ('get', 'set'), 'incref': False}),
         "RebuildProxy(<class 'multiprocessing.managers.ListProxy'>, "
         "Token(typeid='dict', address='/tmp/pymp-x/listener-1', id='a1'), 'pickle', "
         "{'exposed': ('get', 'set'), 'incref': False})"),
        (array.array('i', [1, 2]),
         "_array_reconstructor(<class 'array.array'>, 'i', 8, "
         "b'\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00')"),
        (threading.BrokenBarrierError(), "BrokenBarrierError()"),
    ]


def dump(d):
    os.makedirs(d, exist_ok=True)
    cases = [(v, repr(v)) for v in values()] + special()
    for n, (v, text) in enumerate(cases):
        for proto in (2, 3, 4, 5):
            if proto == 2 and ("b'" in text or 'b"' in text or 'array' in text):
                continue  # protocol 2 writes bytes as _codecs.encode(...): not in the subset
            with open(os.path.join(d, '%03d-p%d.pkl' % (n, proto)), 'wb') as f:
                f.write(pickle.dumps(v, protocol=proto))
        with open(os.path.join(d, '%03d.repr' % n), 'w', encoding='utf-8') as f:
            f.write(text)


def load(path):
    with open(path, 'rb') as f:
        v = pickle.loads(f.read())
    sys.stdout.write(repr(v))


if __name__ == '__main__':
    {'dump': dump, 'load': load}[sys.argv[1]](sys.argv[2])
