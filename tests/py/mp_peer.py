# SPDX-License-Identifier: MIT
"""Python's multiprocessing.connection as the peer of the C Listener/Client tests.

  mp_peer.py server ADDRESS KEY [--modern]   listen (tcp:HOST:0 or unix:PATH), print the
                                             address line, then echo messages until EOF
  mp_peer.py client ADDRESS KEY [--modern]   connect, send messages of 0, 1, 1000 and
                                             1 MiB bytes, check the echoes

  mp_peer.py facts - -                       print what Python does where mproc follows it:
                                             after "bad message length" on a duplex and on a
                                             receive-only connection (readable writable
                                             closed), and what wait([], 0.05) returns

KEY "-" means no authkey. Exit codes: 0 ok, 3 AuthenticationError, 4 echo mismatch.
--modern makes an older Python (<= 3.11) speak the 3.12+ "{sha256}" handshake too, so both
forms are exercised whatever python3 is installed.
"""
import hmac
import os
import sys
from multiprocessing import AuthenticationError, connection

SIZES = (0, 1, 1000, 1 << 20)


def modern_handshake():
    """Installs the 3.12+ handshake in an older multiprocessing.connection."""
    if hasattr(connection, "_create_response"):
        return  # this Python already speaks it

    def deliver(conn, key):
        msg = b"{sha256}" + os.urandom(40)
        conn.send_bytes(b"#CHALLENGE#" + msg)
        resp = conn.recv_bytes(256)
        if resp.startswith(b"{sha256}"):
            ok = hmac.compare_digest(resp[8:], hmac.new(key, msg, "sha256").digest())
        else:
            ok = len(resp) == 16 and hmac.compare_digest(resp, hmac.new(key, msg, "md5").digest())
        conn.send_bytes(b"#WELCOME#" if ok else b"#FAILURE#")
        if not ok:
            raise AuthenticationError("digest received was wrong")

    def answer(conn, key):
        msg = conn.recv_bytes(256)
        if not msg.startswith(b"#CHALLENGE#"):
            raise AuthenticationError("expected challenge")
        msg = msg[len(b"#CHALLENGE#"):]
        if len(msg) == 20:
            conn.send_bytes(hmac.new(key, msg, "md5").digest())
        elif msg.startswith(b"{sha256}"):
            conn.send_bytes(b"{sha256}" + hmac.new(key, msg, "sha256").digest())
        else:
            raise AuthenticationError("unsupported challenge")
        if conn.recv_bytes(256) != b"#WELCOME#":
            raise AuthenticationError("digest sent was rejected")

    connection.deliver_challenge = deliver
    connection.answer_challenge = answer


def parse(addr):
    kind, _, rest = addr.partition(":")
    if kind == "unix":
        return rest
    host, _, port = rest.rpartition(":")
    return (host.strip("[]"), int(port))


def fmt(addr):
    if isinstance(addr, str):
        return "unix:" + addr
    host, port = addr[0], addr[1]
    return "tcp:[%s]:%d" % (host, port) if ":" in host else "tcp:%s:%d" % (host, port)


def server(addr, key):
    with connection.Listener(parse(addr), authkey=key) as lst:
        print(fmt(lst.address), flush=True)
        with lst.accept() as conn:
            while True:
                try:
                    conn.send_bytes(conn.recv_bytes())
                except EOFError:
                    return 0


def client(addr, key):
    with connection.Client(parse(addr), authkey=key) as conn:
        for n in SIZES:
            data = os.urandom(n)
            conn.send_bytes(data)
            if conn.recv_bytes() != data:
                return 4
    return 0


def facts():
    from multiprocessing import Pipe
    out = []
    for duplex in (True, False):
        r, w = Pipe(duplex)
        w.send_bytes(b"x" * 100)
        try:
            r.recv_bytes(10)
        except OSError:
            pass
        out.append("%d %d %d" % (r.readable, r.writable, r.closed))
    out.append("%d" % len(connection.wait([], 0.05)))
    print(" ".join(out), flush=True)
    return 0


def main(argv):
    if argv[1] == "facts":
        return facts()
    mode, addr, key = argv[1], argv[2], argv[3]
    if "--modern" in argv:
        modern_handshake()
    key = None if key == "-" else key.encode()
    try:
        return server(addr, key) if mode == "server" else client(addr, key)
    except AuthenticationError as e:
        print("AuthenticationError:", e, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
