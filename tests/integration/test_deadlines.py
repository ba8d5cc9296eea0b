"""test_deadlines.py — how late a lithair-node answers a write whose deadline passed.

A write that cannot commit (both followers stopped with SIGSTOP) must be answered
DEADLINE_EXCEEDED within about one tick (10 ms) of its deadline. lithair-admin gives up at
that same deadline, so this test speaks the RPC itself: NNG's req0 protocol over TCP (an
8-byte handshake, then 8-byte big-endian lengths) carrying a lithair.v1.Request encoded by
hand — no NNG or protobuf module needed.

Run: python3 test_deadlines.py BUILD_DIR [TEST...]
"""

import os
import random
import signal
import socket
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, pb_parse, pb_varint, run_tests, wait_for  # noqa: E402

CODE_DEADLINE_EXCEEDED = 4  # rpc.proto Code


def pb_field(num, val):
    """One protobuf field: an int as a varint, str/bytes as length-delimited."""
    if isinstance(val, int):
        return pb_varint(num << 3) + pb_varint(val)
    if isinstance(val, str):
        val = val.encode()
    return pb_varint((num << 3) | 2) + pb_varint(len(val)) + val


class RawRpc:
    """One req0 connection to a node's RPC URL (tcp://host:port)."""

    def __init__(self, url):
        host, port = url[len("tcp://"):].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(b"\x00SP\x00\x00\x30\x00\x00")  # SP, protocol req0 (48)
        peer = self._recv_exact(8)
        check(peer[:4] == b"\x00SP\x00" and peer[4:6] == b"\x00\x31",
              "the node speaks rep0: %r" % peer)
        self.next_id = 1

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the node closed the connection")
            buf += chunk
        return buf

    def send(self, body):
        self.next_id += 1
        msg = struct.pack(">I", 0x80000000 | self.next_id) + body
        self.sock.sendall(struct.pack(">Q", len(msg)) + msg)

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        n = struct.unpack(">Q", self._recv_exact(8))[0]
        return self._recv_exact(n)[4:]  # after the request id (the backtrace)

    def close(self):
        self.sock.close()


def create_request(rid, timeout_ms, name):
    item = pb_field(2, name)  # PlaygroundItem.name
    create = pb_field(1, "items") + pb_field(2, item)  # CreateRequest
    return (pb_field(1, "Models/Create") + pb_field(2, rid) + pb_field(3, timeout_ms) +
            pb_field(5, create))


def test_expired_write_answered_within_a_tick(build):
    """The median lateness of DEADLINE_EXCEEDED answers over TRIALS writes stays well under
    the 100 ms a check every tenth tick gave (uniform over 0-100 ms: median 50)."""
    trials, timeout_ms, bound_ms = 15, 100, 25.0
    # a longer election timeout: the leader must not step down (check-quorum) while both
    # followers are stopped for a trial
    with Cluster(build, node_args=("--election-ticks", "60")) as c:
        leader = c.wait_leader(timeout=15)
        lates = []
        for t in range(trials):
            followers = [n for n in c.nodes if n.id != leader]
            rpc = RawRpc(c.node(leader).rpc)
            # a random phase against the node's ticks: trials in step with them would
            # all see the same lateness
            time.sleep(random.uniform(0, 0.1))
            try:
                for f in followers:
                    f.proc.send_signal(signal.SIGSTOP)
                t0 = time.monotonic()
                rpc.send(create_request(1000 + t, timeout_ms, "late-%d" % t))
                resp = pb_parse(rpc.recv(timeout=10))
                took_ms = (time.monotonic() - t0) * 1000.0
            finally:
                for f in followers:
                    f.proc.send_signal(signal.SIGCONT)
                rpc.close()
            check(resp.get(2) == CODE_DEADLINE_EXCEEDED,
                  "trial %d: DEADLINE_EXCEEDED, not %r (%r)" % (t, resp.get(2), resp.get(3)))
            check(took_ms >= timeout_ms - 1, "trial %d: not before the deadline (%.1f ms)"
                  % (t, took_ms))
            lates.append(took_ms - timeout_ms)
            leader = wait_for("a leader after trial %d" % t, c.leader, timeout=15)
        lates.sort()
        med = statistics.median(lates)
        print("  lateness past a %d ms deadline over %d trials: median %.1f ms, min %.1f, "
              "max %.1f" % (timeout_ms, trials, med, lates[0], lates[-1]), flush=True)
        check(med <= bound_ms, "median lateness %.1f ms > %.0f ms: %s"
              % (med, bound_ms, ", ".join("%.0f" % x for x in lates)))


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
