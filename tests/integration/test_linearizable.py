"""test_linearizable.py — a concurrent history of reads and writes on a few items, taken
while the leader is killed with SIGKILL and restarted, must be linearizable (checked by
linearizability.py, whose own self-test runs first so the checker is known to bite).

Run: python3 test_linearizable.py BUILD_DIR
"""

import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linearizability  # noqa: E402
from harness import Cluster, check, run_tests  # noqa: E402


def test_checker_bites(build):
    linearizability._self_test()


def test_history_with_leader_kill_is_linearizable(build):
    with Cluster(build) as c:
        c.wait_leader(timeout=5)
        keys = []
        for k in range(3):
            _, it, _ = c.admin("items", "create", json.dumps({"name": "reg-%d" % k}))
            keys.append(it["id"])
        history = {k: [] for k in keys}
        lock = threading.Lock()
        stop = threading.Event()
        counter = [0]

        def client(seed):
            rnd = random.Random(seed)
            for _ in range(400):
                if stop.is_set():
                    return
                key = rnd.choice(keys)
                if rnd.random() < 0.5:
                    with lock:
                        counter[0] += 1
                        value = "v%d" % counter[0]
                    t0 = time.monotonic()
                    rc, _, _ = c.admin("items", "update", key, json.dumps({"description": value}),
                                       timeout_ms=1500, check_rc=False)
                    op = {"kind": "write", "value": value, "start": t0, "end": time.monotonic(),
                          "ok": rc == 0}
                else:
                    t0 = time.monotonic()
                    rc, out, _ = c.admin("items", "get", key, timeout_ms=1500, check_rc=False)
                    op = {"kind": "read", "value": out.get("description", "") if rc == 0 else None,
                          "start": t0, "end": time.monotonic(), "ok": rc == 0}
                with lock:
                    history[key].append(op)

        threads = [threading.Thread(target=client, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        victim = c.node(c.wait_leader(timeout=5))
        victim.kill(signal.SIGKILL)
        time.sleep(2.0)
        victim.start()
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        total = sum(len(h) for h in history.values())
        failed = sum(1 for h in history.values() for o in h if not o["ok"])
        print("  %d operations (%d failed or indeterminate) on %d registers"
              % (total, failed, len(keys)))
        check(total > 40, "enough operations to mean something")
        for key, h in history.items():
            ok, why = linearizability.check(h, initial="")
            check(ok, "register %s: %s" % (key, why))


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
