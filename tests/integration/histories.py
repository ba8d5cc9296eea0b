"""histories.py — concurrent histories of reads and writes on a few items (registers),
taken with lithair-admin while a test's nemesis injects faults, and their check by the
linearizability checker. Shared by test_linearizable.py and test_partition.py.
"""

import json
import random
import subprocess
import threading
import time

import linearizability
from harness import check


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
