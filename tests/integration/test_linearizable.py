"""test_linearizable.py — a concurrent history of reads and writes on a few items, taken
while the leader is killed with SIGKILL and restarted, or frozen with SIGSTOP (cut off
from the others) and woken after a new leader took over, must be linearizable (checked by
linearizability.py, whose own self-test runs first so the checker is known to bite).

Run: python3 test_linearizable.py BUILD_DIR
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linearizability  # noqa: E402
from harness import Cluster, check, run_tests, wait_for  # noqa: E402
from histories import check_history, make_registers, run_history  # noqa: E402


def test_checker_bites(build):
    linearizability._self_test()


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
