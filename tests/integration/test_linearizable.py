"""test_linearizable.py — a concurrent history of reads and writes on a few items, taken
while the leader is killed with SIGKILL and restarted, or frozen with SIGSTOP (cut off
from the others) and woken after a new leader took over, must be linearizable (checked by
linearizability.py, whose own self-test runs first so the checker is known to bite).

Run: python3 test_linearizable.py BUILD_DIR
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linearizability  # noqa: E402
from harness import Cluster, check, run_tests, wait_for  # noqa: E402


def test_checker_bites(build):
    linearizability._self_test()


def run_history(c, keys, clients, nemesis):
    """Runs `clients` threads of random reads and writes on `keys` while `nemesis(stop)` runs
    in this thread; client i asks node i % 3 first (so requests keep reaching a node the
    nemesis is working on). Returns {key: history}."""
    history = {k: [] for k in keys}
    hangs = []
    hang_s = 10.0  # the deadline is 1.5 s; a start and a retry under ASan fit well within
    lock = threading.Lock()
    stop = threading.Event()
    counter = [0]

    def client(seed):
        rnd = random.Random(seed)
        first = c.nodes[seed % len(c.nodes)]
        order = [first] + [n for n in c.nodes if n is not first]

        def call(*args):
            try:
                rc, out, _ = c.admin(*args, endpoints=c.endpoints(order), timeout_ms=1500,
                                     check_rc=False)
                return rc, out
            except subprocess.TimeoutExpired:  # killed by the harness: recorded as a hang
                return -1, None

        for _ in range(400):
            if stop.is_set():
                return
            key = rnd.choice(keys)
            if rnd.random() < 0.5:
                with lock:
                    counter[0] += 1
                    value = "v%d" % counter[0]
                t0 = time.monotonic()
                rc, _ = call("items", "update", key, json.dumps({"description": value}))
                op = {"kind": "write", "value": value, "start": t0, "end": time.monotonic(),
                      "ok": rc == 0}
            else:
                t0 = time.monotonic()
                rc, out = call("items", "get", key)
                op = {"kind": "read", "value": out.get("description", "") if rc == 0 else None,
                      "start": t0, "end": time.monotonic(), "ok": rc == 0}
            with lock:
                history[key].append(op)
                if op["end"] - t0 > hang_s:
                    hangs.append("%s took %.1f s (deadline 1.5 s)" % (op["kind"], op["end"] - t0))

    threads = [threading.Thread(target=client, args=(s,)) for s in range(clients)]
    for t in threads:
        t.start()
    try:
        nemesis(stop)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    check(not hangs, "every call ends near its deadline: %s" % "; ".join(hangs[:3]))
    return history


def check_history(history):
    total = sum(len(h) for h in history.values())
    failed = sum(1 for h in history.values() for o in h if not o["ok"])
    print("  %d operations (%d failed or indeterminate) on %d registers"
          % (total, failed, len(history)))
    check(total > 40, "enough operations to mean something")
    for key, h in history.items():
        ok, why = linearizability.check(h, initial="")
        check(ok, "register %s: %s" % (key, why))


def make_registers(c, n=3):
    keys = []
    for k in range(n):
        _, it, _ = c.admin("items", "create", json.dumps({"name": "reg-%d" % k}))
        keys.append(it["id"])
    return keys


def test_history_with_paused_leader_is_linearizable(build):
    """A leader frozen with SIGSTOP (a partition: it neither sends nor hears) is replaced;
    when it wakes it still believes it leads, with the requests queued to it meanwhile.
    Nothing it answers may be stale: a read it serves must reflect every write the new
    leader acknowledged. Then a follower is frozen and woken the same way."""
    with Cluster(build) as c:
        c.wait_leader(timeout=5)
        keys = make_registers(c)

        def nemesis(stop):
            time.sleep(1.0)
            old = c.node(c.wait_leader(timeout=5))
            old.proc.send_signal(signal.SIGSTOP)
            try:
                others = [n for n in c.nodes if n is not old]
                wait_for("a new leader while the old one is frozen",
                         lambda: c.leader(nodes=others) not in (None, old.id), timeout=10)
                time.sleep(1.5)  # writes go through the new leader
            finally:
                old.proc.send_signal(signal.SIGCONT)
            time.sleep(1.5)  # the old leader answers what was queued to it, then steps down
            lid = c.wait_leader(timeout=10)
            f = next(n for n in c.nodes if n.id != lid)
            f.proc.send_signal(signal.SIGSTOP)
            try:
                time.sleep(1.0)
            finally:
                f.proc.send_signal(signal.SIGCONT)
            time.sleep(1.0)

        history = run_history(c, keys, 6, nemesis)
        check_history(history)
        st = c.wait_converged(timeout=30)
        check(len(st) == 3 and len({s["digest"] for s in st}) == 1, "three identical stores")


def test_history_with_leader_kill_is_linearizable(build):
    with Cluster(build) as c:
        c.wait_leader(timeout=5)
        keys = make_registers(c)

        def nemesis(stop):
            time.sleep(1.5)
            victim = c.node(c.wait_leader(timeout=5))
            victim.kill(signal.SIGKILL)
            time.sleep(2.0)
            victim.start()
            time.sleep(2.0)

        check_history(run_history(c, keys, 4, nemesis))


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
