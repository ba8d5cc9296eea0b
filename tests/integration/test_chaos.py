"""test_chaos.py — the whole stack under a random fault schedule.

Three nodes supervised by the gateway, with snapshots every 500 entries and 100 entries
kept behind one (so compaction, snapshot transfer — a follower out for a moment misses
more than that — and restarts from a snapshot all happen). Writers create items and
update their own items with If-Match over REST, while a nemesis, through the control API
and signals, kills nodes (SIGKILL and SIGTERM), restarts them, freezes one with SIGSTOP and
wakes it, forces elections and takes snapshots — at most one node down or frozen at a
time, so a quorum always exists — and now and then kills every node at once (a power
cut) and restarts them all. Then, with every node back:
- every acknowledged create is readable, and every item holds one of the values its
  writer may have left (the last acknowledged one, or a later write whose outcome was
  unknown), at a version no lower than the last acknowledged;
- no item exists that no writer attempted, and none was created twice;
- the stores are identical (digests) at one applied index;
- no node wrote a sanitizer report, and none that stopped on its own or by SIGTERM
  exited non-zero.

Run: python3 test_chaos.py BUILD_DIR. Environment: LITHAIR_CHAOS_SECONDS (how long the
faults go on, default 25), LITHAIR_CHAOS_SEED (replays the nemesis's choices; printed),
LITHAIR_CHAOS_NODES (5: up to two nodes out at once, a frozen one staying frozen over
the next faults), LITHAIR_CHAOS_PAD (bytes added to every value: larger snapshots),
LITHAIR_CHAOS_COMPACT_KEEP (default 100). LITHAIR_KEEP_TEST_DIR=1 keeps the logs and data.
"""

import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gw_harness import Gateway  # noqa: E402
from harness import agreed_digests, check, run_tests, wait_for  # noqa: E402

SECONDS = 25.0
# LITHAIR_CHAOS_PAD: bytes added to every description (up to 4000): larger snapshots,
# whose writing and shipping the nemesis then hits more often
PAD = "p" * min(4000, int(os.environ.get("LITHAIR_CHAOS_PAD", 0)))


class Writer:
    """Creates items named chaos-W-N and updates its own; remembers what it may have left."""

    def __init__(self, g, wid, stop):
        self.g, self.wid, self.stop = g, wid, stop
        self.rnd = random.Random(1000 + wid)
        # id -> {"version": last acknowledged, "values": descriptions the item may hold}
        self.items = {}
        self.names_tried = set()
        self.acked = self.unknown = 0
        self.error = None
        self.thread = threading.Thread(target=self.run_guarded, daemon=True)

    def run_guarded(self):
        try:
            self.run()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = "writer %d: %s: %s" % (self.wid, type(e).__name__, e)

    def call(self, method, path, body=None, headers=None):
        try:
            return self.g.request(method, path, body, headers=headers, timeout=15)
        except OSError as e:  # the gateway answers even when the cluster does not
            return 0, {}, str(e)

    def run(self):
        n = 0
        for _ in range(100000):
            if self.stop.is_set():
                return
            if not self.items or self.rnd.random() < 0.4:
                n += 1
                name = "chaos-%d-%d" % (self.wid, n)
                desc = "c%d" % self.rnd.randrange(10 ** 9) + PAD
                self.names_tried.add(name)
                st, _, body = self.call("POST", "/api/items", {"name": name, "description": desc})
                if st == 201:
                    self.acked += 1
                    self.items[body["id"]] = {"version": int(body["version"]), "values": {desc},
                                              "name": name}
                elif st in (0, 500, 503, 504):
                    self.unknown += 1  # it may exist: found later by name, or not at all
                else:
                    raise AssertionError("create answered %d: %r" % (st, body))
            else:
                iid = self.rnd.choice(sorted(self.items))
                it = self.items[iid]
                desc = "u%d" % self.rnd.randrange(10 ** 9) + PAD
                st, _, body = self.call("PUT", "/api/items/" + iid, {"description": desc},
                                        headers={"If-Match": '"%d"' % it["version"]})
                if st == 200:
                    self.acked += 1
                    it["version"], it["values"] = int(body["version"]), {desc}
                elif st in (0, 500, 503, 504):
                    self.unknown += 1
                    it["values"].add(desc)  # it may have happened
                elif st == 412:
                    # an earlier write of unknown outcome happened: learn the version
                    st2, _, cur = self.call("GET", "/api/items/" + iid)
                    if st2 == 200:
                        check(cur["description"] in it["values"],
                              "%s holds %r, none of %r" % (iid, cur["description"], it["values"]))
                        it["version"], it["values"] = int(cur["version"]), {cur["description"]}
                else:
                    raise AssertionError("update answered %d: %r" % (st, body))
            time.sleep(0.005)


def start_writers(g, count, stop):
    writers = [Writer(g, w, stop) for w in range(count)]
    for w in writers:
        w.thread.start()
    return writers


def status(g):
    st, _, s = g.get("/_playground/cluster/status", timeout=15)
    return s if st == 200 else None


def node_pid(g, nid):
    s = status(g)
    for n in (s or {}).get("nodes", []):
        if n["id"] == nid and n.get("running"):
            return n.get("pid")
    return None


def crash_all(g, log):
    """SIGKILL every node at once (a power cut: no quorum for a moment), then restart them:
    each recovers from its own WAL and snapshot, with a tail cut mid-write perhaps."""
    pids = [n["pid"] for n in (status(g) or {}).get("nodes", []) if n.get("running")
            and n.get("pid")]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    log.append("crash-all (%d)" % len(pids))
    wait_for("every node to be seen down", lambda: all(
        not n.get("running") for n in (status(g) or {}).get("nodes", [{"running": True}])),
        timeout=15, interval=0.05)
    restart_down(g)


def restart_down(g):
    s = status(g)
    for n in (s or {}).get("nodes", []):
        if not n.get("running"):
            st, _, body = g.post("/_playground/cluster/restart/%d" % n["id"])
            check(st in (200, 409), "restart %d: %d %r" % (n["id"], st, body))


ACTIONS = ["kill", "kill", "term", "freeze", "freeze", "elect", "snapshot",
           "kill", "term", "freeze", "freeze", "elect", "snapshot", "crash"]


def control(g, action, victim, log):
    """The nemesis's steps through the control API: kill (SIGKILL), term (SIGTERM),
    elect (a leadership transfer to victim), snapshot; each answer is one it may give."""
    if action in ("kill", "term"):
        graceful = "?graceful=true" if action == "term" else ""
        st, _, body = g.post("/_playground/cluster/kill/%d%s" % (victim, graceful))
        log.append("%s %d: %d" % (action, victim, st))
        check(st in (200, 409), "kill: %d %r" % (st, body))
    elif action == "elect":
        st, _, body = g.post("/_playground/cluster/force-election?target=%d" % victim)
        log.append("elect %d: %d" % (victim, st))
        check(st in (200, 409, 503, 504), "force-election: %d %r" % (st, body))
    else:
        st, _, body = g.post("/_playground/cluster/snapshot")
        log.append("snapshot: %d" % st)
        check(st in (200, 503, 504), "snapshot: %d %r" % (st, body))


def nemesis(g, rnd, seconds, log):
    end = time.monotonic() + seconds
    steps = 0
    while time.monotonic() < end and steps < max(200, int(seconds)):
        steps += 1
        time.sleep(rnd.uniform(0.5, 1.5))
        action = rnd.choice(ACTIONS)
        restart_down(g)  # at most one node out at a time
        if action == "crash":
            crash_all(g, log)
            continue
        s = status(g)
        if not s:
            continue
        ids = [n["id"] for n in s["nodes"]]
        victim = rnd.choice(ids)
        if action == "freeze":
            pid = node_pid(g, victim)
            if pid:
                os.kill(pid, signal.SIGSTOP)
                log.append("freeze %d" % victim)
                try:
                    time.sleep(rnd.uniform(0.5, 2.0))
                finally:
                    os.kill(pid, signal.SIGCONT)
        else:
            control(g, action, victim, log)
    restart_down(g)


def nemesis_wide(g, rnd, seconds, log, max_out):
    """As nemesis, with up to `max_out` nodes out at once (killed, stopping or frozen; a
    majority of the cluster always runs): a frozen node stays frozen over the next steps,
    so a leader can be frozen while a follower is killed, two followers lag at once, a
    snapshot is shipped to one while another restarts."""
    end = time.monotonic() + seconds
    frozen = {}  # id -> pid
    steps = 0
    while time.monotonic() < end and steps < max(200, int(seconds)):
        steps += 1
        time.sleep(rnd.uniform(0.3, 1.2))
        s = status(g)
        if not s:
            continue
        down = [n["id"] for n in s["nodes"] if not n.get("running") and n["id"] not in frozen]
        while len(down) + len(frozen) >= max_out:  # bring one back
            if frozen and (not down or rnd.random() < 0.5):
                nid = rnd.choice(sorted(frozen))
                os.kill(frozen.pop(nid), signal.SIGCONT)
                log.append("thaw %d" % nid)
            else:
                nid = down.pop(rnd.randrange(len(down)))
                st, _, body = g.post("/_playground/cluster/restart/%d" % nid)
                log.append("restart %d: %d" % (nid, st))
                check(st in (200, 409), "restart %d: %d %r" % (nid, st, body))
        action = rnd.choice(ACTIONS)
        if action == "crash":
            for pid in frozen.values():
                os.kill(pid, signal.SIGCONT)
            frozen.clear()
            crash_all(g, log)
            continue
        live = [n["id"] for n in s["nodes"] if n.get("running") and n["id"] not in frozen]
        victim = rnd.choice(live or [n["id"] for n in s["nodes"]])
        if action == "freeze":
            pid = node_pid(g, victim)
            if pid:
                os.kill(pid, signal.SIGSTOP)
                frozen[victim] = pid
                log.append("freeze %d" % victim)
        else:
            control(g, action, victim, log)
    for pid in frozen.values():
        os.kill(pid, signal.SIGCONT)
    restart_down(g)


def test_chaos(build_dir):
    run_chaos(build_dir, int(os.environ.get("LITHAIR_CHAOS_NODES", 3)),
              float(os.environ.get("LITHAIR_CHAOS_SECONDS", SECONDS)))


def test_chaos_five_nodes(build_dir):
    """Five nodes, up to two of them out at once (nemesis_wide): a frozen leader beside a
    killed follower, two followers catching up at once. Shorter than test_chaos (the suite
    runs on two CPUs); LITHAIR_CHAOS_NODES=5 with LITHAIR_CHAOS_SECONDS soaks it."""
    run_chaos(build_dir, 5, min(15.0, float(os.environ.get("LITHAIR_CHAOS_SECONDS", 15))))


def run_chaos(build_dir, nodes, seconds):
    seed = int(os.environ.get("LITHAIR_CHAOS_SEED", time.time()))
    print("  seed %d (LITHAIR_CHAOS_SEED replays the nemesis's choices), %d nodes" % (seed, nodes))
    # A follower out for a moment misses more than --compact-keep entries under the
    # writers, so it catches up through InstallSnapshot, which the nemesis then hits too
    # (with the default 5000 no snapshot was ever shipped in a chaos run).
    keep = os.environ.get("LITHAIR_CHAOS_COMPACT_KEEP", "100")
    args = ["--snapshot-interval", "500", "--compact-keep", keep]
    with Gateway(build_dir, spawn=nodes, node_args=args) as g:
        g.wait_leader(timeout=20)
        stop = threading.Event()
        writers = start_writers(g, 4, stop)
        log = []
        try:
            if nodes == 3:
                nemesis(g, random.Random(seed), seconds, log)
            else:
                nemesis_wide(g, random.Random(seed), seconds, log, (nodes - 1) // 2)
        finally:
            for n in (status(g) or {}).get("nodes", []):
                if n.get("pid"):
                    try:
                        os.kill(n["pid"], signal.SIGCONT)
                    except OSError:
                        pass
            stop.set()
            for w in writers:
                w.thread.join(timeout=60)
        print("  nemesis: %s" % ", ".join(log))
        check(not any(w.thread.is_alive() for w in writers), "the writers stopped")
        errors = [w.error for w in writers if w.error]
        check(not errors, "; ".join(errors))
        acked = sum(w.acked for w in writers)
        unknown = sum(w.unknown for w in writers)
        print("  %d writes acknowledged, %d of unknown outcome" % (acked, unknown))
        check(acked > 50, "enough writes went through to mean something")

        # every node back, converged to one store
        restart_down(g)
        seen = {}

        def all_healthy():
            s = status(g)
            seen["nodes"] = [(n["id"], n.get("role"), n.get("running"), n.get("health"),
                              n.get("applied"), n.get("lag")) for n in (s or {}).get("nodes", [])]
            return s and all(n.get("running") and n.get("health") == "healthy"
                             for n in s["nodes"])
        try:
            wait_for("three running healthy nodes", all_healthy, timeout=60, interval=0.5)
        except Exception:
            print("  last status (id, role, running, health, applied, lag): %r" % seen)
            raise
        urls = [n["rpcUrl"] for n in status(g)["nodes"]]
        st = wait_for("three identical stores", lambda: agreed_digests(build_dir, urls, len(urls)), timeout=60,
                      interval=0.5)
        print("  converged at index %s, digest %s" % (st[0]["applied"], st[0]["digest"]))

        # what the writers know holds
        for w in writers:
            for iid, it in w.items.items():
                code, _, cur = g.get("/api/items/" + iid)
                check(code == 200, "acknowledged item %s (%s) is readable: %d" % (iid, it["name"],
                                                                                   code))
                check(int(cur["version"]) >= it["version"] and cur["description"] in it["values"],
                      "%s: %r at version %d, expected one of %r at version >= %d"
                      % (iid, cur["description"], int(cur["version"]), it["values"], it["version"]))
        tried = set().union(*(w.names_tried for w in writers))
        seen, cursor, names = 0, "", set()
        for _ in range(1000):
            code, _, page = g.get("/api/items?limit=1000" + ("&cursor=" + cursor if cursor else ""))
            check(code == 200, "list: %d" % code)
            for item in page["items"]:
                check(item["name"] in tried, "%s was never written: %r" % (item["id"], item))
                # each name was sent once: a second item with it is a create done twice
                check(item["name"] not in names, "created twice: %r" % item["name"])
                names.add(item["name"])
                seen += 1
            cursor = page.get("nextCursor") or ""
            if not cursor:
                break
        known = sum(len(w.items) for w in writers)
        check(seen >= known, "the list holds every acknowledged create: %d < %d" % (seen, known))
        check_clean_exits(g)


def check_clean_exits(g):
    """No node ran into a sanitizer report, and every node that ended other than by a
    signal exited 0 (a node stopped by SIGTERM once exited 1 with a LeakSanitizer report).
    Only SIGKILL ends a node: a SIGTERM is a graceful stop even in a node's first
    milliseconds, before its main() runs (the supervisor execs it with the stop signals
    blocked; such a node once died by signal 15)."""
    bad = []
    data = os.path.join(g.root, "data")
    for d in sorted(os.listdir(data)):
        try:
            with open(os.path.join(data, d, "node.log"), "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        for line in text.splitlines():
            if "Sanitizer" in line or "runtime error" in line:
                bad.append("%s: %s" % (d, line))
    bad += [line for line in g.log_text().splitlines()
            if "exited: exit code" in line and "exit code 0," not in line
            and "exit code -1, signal 9" not in line]
    check(not bad, "sanitizer reports or unclean exits:\n" + "\n".join(bad[:20]))


def test_graceful_stop_under_churn(build_dir):
    """A node asked to stop (SIGTERM) exits within seconds however soon after its start
    and whatever its sockets are doing. NNG 1.5 can hang closing a socket whose peer is
    being dialed: a node stopped within half a second of a restart, under writes, stayed
    alive for ever about one time in five (its closes are bounded now)."""
    rnd = random.Random(int(os.environ.get("LITHAIR_CHAOS_SEED", time.time())))
    with Gateway(build_dir, spawn=3, node_args=["--snapshot-interval", "500"]) as g:
        g.wait_leader(timeout=20)
        stop = threading.Event()
        writers = start_writers(g, 2, stop)
        slow = []
        try:
            for _ in range(30):
                restart_down(g)
                time.sleep(rnd.uniform(0.05, 0.5))
                victim = rnd.randint(1, 3)
                pid = node_pid(g, victim)
                if not pid:
                    continue
                st, _, body = g.post("/_playground/cluster/kill/%d?graceful=true" % victim)
                if st != 200:
                    continue  # would lose the quorum: another node is still starting
                t0 = time.monotonic()
                for _ in range(200):
                    try:
                        os.kill(pid, 0)
                    except OSError:
                        break
                    time.sleep(0.05)
                waited = time.monotonic() - t0
                if waited >= 9.5:
                    slow.append("node %d (pid %d) still alive %.1f s after SIGTERM"
                                % (victim, pid, waited))
                    break
        finally:
            stop.set()
            for w in writers:
                w.thread.join(timeout=60)
        check(not slow, "; ".join(slow))
        restart_down(g)


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
