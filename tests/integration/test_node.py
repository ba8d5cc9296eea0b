"""test_node.py — lithair-node clusters of real processes on 127.0.0.1, driven by
lithair-admin: election, replication, redirects, validation, failover under load with
kill -9, restart and recovery, snapshots and catch-up, leadership transfer, a leader's
hand-over when it is asked to stop, followers
learning the commit index between heartbeats, torn, corrupt and lost write-ahead logs,
a damaged snapshot, hostile bytes on every raft and RPC port, the scheduling policy of a
node's threads.

Run: python3 test_node.py BUILD_DIR [TEST...]
"""

import glob
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Cluster, Failure, Node, admin_env, check, pb_parse, pb_varint,  # noqa: E402
                     run_tests, wait_for)


def create(c, name, endpoints=None, **fields):
    body = dict(name=name, **fields)
    import json
    _, out, _ = c.admin("items", "create", json.dumps(body), endpoints=endpoints)
    return out


def list_all(c, node):
    _, out, _ = c.admin("items", "list", "--all", "--serializable", "--limit", "1000",
                        endpoints=node.rpc)
    return {it["id"]: it for it in out["items"]}


def thread_policies(pid):
    """{thread name: set of scheduling policies} of process `pid` (/proc/PID/task/TID/stat
    field 41: 0 SCHED_OTHER, 3 SCHED_BATCH)."""
    out = {}
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                stat = f.read()
        except OSError:
            continue  # it ended
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        out.setdefault(name, set()).add(int(stat[stat.rindex(")") + 2:].split()[38]))
    return out


def test_elect_and_replicate(build):
    with Cluster(build) as c:
        leader = c.wait_leader(timeout=5)
        check(1 <= leader <= 3, "leader id in range")
        # NNG's threads do not preempt the loop (lt_cpu.h): SCHED_BATCH; the node's own
        # threads keep the default
        for node in c.nodes:
            pol = thread_policies(node.proc.pid)
            nng = {k: v for k, v in pol.items() if k.startswith("nng:")}
            check({"nng:task", "nng:poll:epoll"} <= set(nng) and
                  all(v == {3} for v in nng.values()) and pol.get("lithair-node") == {0},
                  "node %d thread policies %r" % (node.id, pol))
        made = [create(c, "item-%d" % i, status="active", metadata={"i": i}) for i in range(5)]
        for it in made:
            check(it["version"] == "1", "version 1 on create")
            check(it["status"] == "active", "status kept")
            check(it["metadata"] == {"i": int(it["name"].split("-")[1])}, "metadata kept as JSON")
        st = c.wait_converged()
        check(len({s["digest"] for s in st}) == 1, "identical stores")
        for node in c.nodes:
            items = list_all(c, node)
            for it in made:
                check(it["id"] in items, "item %s on node %d" % (it["id"], node.id))
                check(items[it["id"]]["name"] == it["name"], "same content on node %d" % node.id)


def test_follower_redirect(build):
    with Cluster(build) as c:
        leader = c.wait_leader(timeout=5)
        follower = next(n for n in c.nodes if n.id != leader)
        rc, _, err = c.admin("items", "create", '{"name":"x"}', endpoints=follower.rpc,
                             check_rc=False)
        check(rc == 1, "a write to a follower alone fails")
        check("not the leader" in err and ("node %d" % leader) in err,
              "the error names the leader: %r" % err)
        # With every endpoint known, the client follows the redirect.
        # the follower first, then the others (an endpoint given twice is refused)
        out = create(c, "via-follower", endpoints=",".join(
            [follower.rpc] + [n.rpc for n in c.nodes if n is not follower]))
        check(out["name"] == "via-follower", "redirected write succeeded")


def test_validation_conflicts_and_errors(build):
    import json
    with Cluster(build) as c:
        c.wait_leader(timeout=5)
        rc, _, err = c.admin("items", "create", '{"name":""}', check_rc=False)
        check(rc == 1 and "INVALID_ARGUMENT" in err and "name" in err, "empty name refused: %r" % err)
        rc, _, err = c.admin("items", "create", '{"name":"a","bogus":1}', check_rc=False)
        check(rc == 2 and "bogus" in err, "unknown field refused: %r" % err)
        rc, _, err = c.admin("items", "create", '{"name":', check_rc=False)
        check(rc == 2 and "bad JSON" in err, "malformed JSON refused: %r" % err)
        # the CLI reads JSON as strictly as the gateway: nothing REST refuses gets in
        for bad, why in (('{"name":"n","metadata":NaN}', "NaN"),
                         ('{"name":"n","metadata":1e400}', "NaN"),
                         ('{"name":"n","metadata":{"a":18446744073709551616}}', "64 bits"),
                         ('{"name":"x"} trailing', "malformed JSON"),
                         ('{"name":"first"}\n{"name":"second"}', "malformed JSON"),
                         ('{"name":"a\u0001b"}'.replace("\\u0001", "\x01"), "control"),
                         ('{"name":"\\ud800"}', "surrogate"),
                         ('{"name":"x","benchmark":true}', "set by the server"),
                         ('{"name":"x","createdAt":"2000-01-01T00:00:00Z"}', "set by the server"),
                         ('{"name":"x","created_at":"2000-01-01T00:00:00Z"}', "set by the server"),
                         ('{"name":"x","version":"3"}', "set by the server")):
            rc, _, err = c.admin("items", "create", bad, check_rc=False)
            check(rc == 2 and "bad JSON" in err and why in err, "%r refused: %d %r" % (bad, rc, err))
        # (an argument str holding "\udcff" reaches the program as the byte 0xFF)
        for bad in ('{"name":"\udcff"}', '{"name":"\udcc0\udcaf"}'):
            rc, _, err = c.admin("items", "create", bad, check_rc=False)
            check(rc == 2 and "UTF-8" in err, "invalid UTF-8 refused: %r" % err)
        _, page, _ = c.admin("items", "list", "--all")
        check(page["items"] == [], "nothing stored: %r" % page)
        # an update cannot mark a user's record as benchmark data (purge would delete it)
        mine = create(c, "mine")
        rc, _, err = c.admin("items", "update", mine["id"], '{"benchmark":true}', check_rc=False)
        check(rc == 2 and "benchmark" in err and "cannot be set by an update" in err,
              "benchmark flag refused: %r" % err)
        c.admin("items", "purge")
        _, still, _ = c.admin("items", "get", mine["id"])
        check(still["id"] == mine["id"] and still["benchmark"] is False, "kept: %r" % still)
        c.admin("items", "delete", mine["id"])
        rc, _, err = c.admin("items", "create", '{"name":"a","status":"shiny"}', check_rc=False)
        check(rc == 2 and "status" in err, "bad enum refused: %r" % err)
        it = create(c, "versioned")
        _, up, _ = c.admin("items", "update", it["id"], json.dumps({"description": "d1"}),
                           "--expected-version", "1")
        check(up["version"] == "2" and up["description"] == "d1" and up["name"] == "versioned",
              "update with the right version: %r" % up)
        rc, _, err = c.admin("items", "update", it["id"], '{"description":"d2"}',
                             "--expected-version", "1", check_rc=False)
        check(rc == 1 and "ABORTED" in err, "stale version refused: %r" % err)
        _, got, _ = c.admin("items", "get", it["id"])
        check(got["description"] == "d1" and got["version"] == "2", "nothing changed by a conflict")
        _, hist, _ = c.admin("items", "history", it["id"])
        check([h["op"] for h in hist["entries"]] == ["create", "update"], "history: %r" % hist)
        rc, _, err = c.admin("items", "delete", it["id"], "--expected-version", "1", check_rc=False)
        check(rc == 1 and "ABORTED" in err, "delete with a stale version refused")
        c.admin("items", "delete", it["id"], "--expected-version", "2")
        rc, _, err = c.admin("items", "get", it["id"], check_rc=False)
        check(rc == 1 and "NOT_FOUND" in err, "deleted item is gone: %r" % err)
        rc, _, err = c.admin("items", "update", "no-such-id", '{"name":"x"}', check_rc=False)
        check(rc == 1 and "NOT_FOUND" in err, "update of a missing item: %r" % err)
        rc, _, err = c.admin("items", "list", "--index", "colour", "--equals", "red",
                             check_rc=False)
        check(rc == 1 and "INVALID_ARGUMENT" in err, "unknown index refused: %r" % err)
        create(c, "a1", status="active")
        create(c, "a2", status="archived")
        _, page, _ = c.admin("items", "list", "--index", "status", "--equals", "archived")
        check([i["name"] for i in page["items"]] == ["a2"], "index filter: %r" % page)


def test_kill_leader_under_load(build):
    with Cluster(build) as c:
        first = c.wait_leader(timeout=5)
        acked = {}
        errors = []
        lock = threading.Lock()
        stop = threading.Event()

        def writer(w):
            i = 0
            while not stop.is_set() and i < 500:
                name = "w%d-%d" % (w, i)
                rc, out, err = c.admin("items", "create", '{"name":"%s"}' % name,
                                       check_rc=False, timeout_ms=4000)
                with lock:
                    if rc == 0:
                        acked[out["id"]] = name
                    else:
                        errors.append(err.strip())
                i += 1

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        t_kill = time.monotonic()
        c.node(first).kill(signal.SIGKILL)
        second = c.wait_leader(timeout=10, not_id=first)
        failover = time.monotonic() - t_kill
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        check(second != first, "a new leader took over")
        print("  failover to node %d in %.2fs; %d writes acknowledged, %d refused"
              % (second, failover, len(acked), len(errors)))
        check(len(acked) > 20, "writes went through before and after the failover")
        c.node(first).start()
        st = c.wait_converged(timeout=30)
        check(len(st) == 3 and len({s["digest"] for s in st}) == 1, "three identical stores")
        for node in c.nodes:
            items = list_all(c, node)
            missing = [i for i in acked if i not in items]
            check(not missing, "node %d lost %d acknowledged writes" % (node.id, len(missing)))
            for i, name in acked.items():
                check(items[i]["name"] == name, "content of %s on node %d" % (i, node.id))


def test_restart_all_recovers(build):
    with Cluster(build) as c:
        c.wait_leader(timeout=5)
        made = [create(c, "durable-%d" % i) for i in range(10)]
        for n in c.nodes:
            n.kill(signal.SIGKILL)
        for n in c.nodes:
            n.start()
        c.wait_leader(timeout=10)
        for it in made:
            _, got, _ = c.admin("items", "get", it["id"])
            check(got["name"] == it["name"], "item survived kill -9 of every node")
        c.wait_converged()
        for n in c.nodes:  # each applied the committed part of its WAL at start, and said so
            m = re.search(r"applied the WAL tail: (\d+) entries \(\d+ ms after start\)",
                          n.log_text())
            check(m is not None and int(m.group(1)) >= 1,
                  "node %d logged its WAL tail: %r" % (n.id, n.log_text()[-400:]))


def test_snapshot_catch_up(build):
    args = ("--snapshot-interval", "20", "--compact-keep", "5")
    with Cluster(build, node_args=args) as c:
        leader = c.wait_leader(timeout=5)
        lagger = next(n for n in c.nodes if n.id != leader)
        lagger.kill(signal.SIGKILL)
        made = [create(c, "snap-%d" % i) for i in range(20)]
        # Many more rounds than a peer's send queue holds, so the stale appends queued for
        # the dead node cannot bring it up to date: it needs the snapshot.
        c.admin("bench", "--concurrency", "4", "--duration", "2", "--warmup", "0",
                timeout_ms=5000)
        # the lagger is down: the command says so (exit 1) and reports the others' snapshots
        rc, snaps, err = c.admin("snapshot", check_rc=False)
        check(rc == 1 and "1 of 3 endpoints failed" in err, "a node down is reported: %r" % err)
        check(any(int(s.get("index", "0")) > 20 for s in snaps if "error" not in s),
              "snapshots taken: %r" % snaps)
        lagger.start()
        st = c.wait_converged(timeout=30)
        mine = next(s for s in st if int(s["id"]) == lagger.id)
        check(int(mine.get("snapshotIndex", "0")) > 0, "the restarted node installed a snapshot")
        items = list_all(c, lagger)
        check(all(it["id"] in items for it in made), "all items on the caught-up node")
        check("received snapshot" in lagger.log_text(), "caught up through InstallSnapshot")


def slowest_pass_ms(log):
    """The longest loop pass a node's log reports (it reports those longer than an election
    timeout), 0 if none."""
    return max((int(x) for x in re.findall(r"loop: one pass took (\d+) ms", log)), default=0)


def test_large_snapshot_catch_up(build):
    """A follower far behind a large store (a snapshot of ~170 MB) catches up. Its chunks
    once went through the peer's bounded send queue without waiting: they overflowed it, the
    follower got a file with gaps, and the leader started over, for ever (a node 395 MB
    behind had not caught up after 120 s) while reading the whole file on its loop each
    time. Now a thread sends them at the follower's pace on the peer's raft socket. The
    follower checks, syncs and loads the file on a thread too (a loop pass of 0.68 s here
    when its loop did it), and the leader hashes its store for a digest on a thread
    (0.8 s on its loop)."""
    with Cluster(build, node_args=("--compact-keep", "1000")) as c:
        leader = c.wait_leader(timeout=5)
        lagger = next(n for n in c.nodes if n.id != leader)
        lagger.kill(signal.SIGKILL)
        others = [n for n in c.nodes if n is not lagger]
        written = 0
        for _ in range(30):  # 40,000 writes of 4 KiB, a few seconds each round
            _, out, _ = c.admin("bench", "--type", "write", "--concurrency", "64", "--duration",
                                "3", "--payload-size", "4096", "--warmup", "0",
                                endpoints=c.endpoints(others), timeout_ms=5000)
            written += out["ops"] - out["errors"]
            if written >= 40000:
                break
        check(written >= 40000, "40,000 writes went through: %d" % written)
        _, snaps, _ = c.admin("snapshot", endpoints=c.endpoints(others), timeout_ms=60000)
        size = min(int(s["bytes"]) for s in snaps)
        check(size > 150 << 20, "snapshots of more than 150 MB: %r" % snaps)
        t0 = time.monotonic()
        lagger.start()

        def same_applied():
            st = c.status()
            a = {s.get("applied") for s in st}
            return st if len(st) == 3 and len(a) == 1 else None
        wait_for("the lagger to catch up", same_applied, timeout=60, interval=0.5)
        took = time.monotonic() - t0
        print("  a %d MB snapshot: caught up in %.1f s" % (size >> 20, took))
        # the follower loaded it on a thread; its loop only swapped the state in (loading it
        # on the loop held it 0.5 s per 350 MB)
        log = lagger.log_text()
        check(re.search(r"loaded snapshot \d+/\d+ in \d+ ms on a thread", log),
              "the follower loaded the snapshot on a thread")
        # (writing the chunks can hold a pass past the 150 ms election timeout now and then
        # on this 2-core machine, so the bound is 400 ms: loading this snapshot on the loop
        # made a pass of 0.68 s here)
        check(slowest_pass_ms(log) < 400, "no loop pass of the follower of 400 ms or more: %r"
              % re.findall(r".*loop: one pass took.*", log))

        # The digests hash every byte of the store. They once ran on the nodes' loops (0.75 s
        # for 420,000 records: a leader lost its leadership); now each node hashes a pinned
        # view on a thread and goes on serving: its loop never stalls meanwhile.
        lead = next(n for n in c.nodes if n.id == leader)
        log_at = len(lead.log_text())
        got = {}
        th = threading.Thread(target=lambda: got.update(st=c.status(digest=True,
                                                                     timeout_ms=60000)))
        t1 = time.monotonic()
        th.start()
        pings = []
        while th.is_alive() and len(pings) < 500 and time.monotonic() - t1 < 90:
            p0 = time.monotonic()
            _, out, _ = c.admin("ping", endpoints=c.endpoints([lead]), check_rc=False,
                                timeout_ms=5000)
            if isinstance(out, list) and out and "ms" in out[0]:
                pings.append(time.monotonic() - p0)
        th.join(timeout=90)
        st = got.get("st", [])
        print("  digests of the three stores in %.1f s; %d pings of the leader meanwhile, the "
              "slowest %.0f ms" % (time.monotonic() - t1, len(pings),
                                   1000 * max(pings, default=0)))
        check(len(st) == 3 and len({(s.get("digest"), s.get("digestIndex")) for s in st}) == 1
              and st[0].get("digest", "0") != "0", "identical stores: %r" % st)
        check(len(pings) >= 1, "the leader answered pings while it hashed its store")
        check(slowest_pass_ms(lead.log_text()[log_at:]) < 400,
              "no loop pass of the leader of 400 ms or more meanwhile (hashing this store on "
              "the loop took 0.8 s here): %r" % re.findall(r".*loop: one pass took.*",
                                                         lead.log_text()[log_at:]))
        check(c.leader() == leader, "the same leader")
        check("received snapshot" in lagger.log_text(), "caught up through InstallSnapshot")
        sent = [n.id for n in others
                if re.search(r"sent snapshot \d+/\d+ to node %d: \d+ bytes" % lagger.id,
                             n.log_text())]
        check(sent, "the leader says it sent it")


# Nodes that snapshot every 20 entries and keep 5 behind: snapshots come quickly.
SNAPPY = ("--snapshot-interval", "20", "--compact-keep", "5")


def hold_snapshot(c, node, prefix, hold_ms=120000):
    """Restarts `node` so that its snapshots hold their pin and temp file for `hold_ms`,
    writes 40 items, and returns them once the node has started a snapshot."""
    node.kill(signal.SIGKILL)
    node.start(extra=("--snapshot-delay-ms", str(hold_ms)))
    c.wait_converged(timeout=20)
    made = [create(c, "%s-%d" % (prefix, i)) for i in range(40)]
    wait_for("node %d's snapshot to start" % node.id,
             lambda: "writing it in the background" in node.log_text(), timeout=10)
    return made


def test_received_snapshot_supersedes_own(build):
    """A follower still writing a snapshot of its own when its leader sends one gives its own
    up (the store it pins is about to be replaced), installs the leader's and converges."""
    with Cluster(build, node_args=SNAPPY) as c:
        leader = c.wait_leader(timeout=5)
        lagger = next(n for n in c.nodes if n.id != leader)
        others = [n for n in c.nodes if n is not lagger]
        made = hold_snapshot(c, lagger, "own")
        lagger.proc.send_signal(signal.SIGSTOP)
        try:
            # More rounds than a send queue holds, and snapshots that compact the log past
            # everything the follower has: only a snapshot can bring it up to date.
            c.admin("bench", "--concurrency", "4", "--duration", "2", "--warmup", "0",
                    endpoints=c.endpoints(others), timeout_ms=5000)
            c.admin("snapshot", endpoints=c.endpoints(others), timeout_ms=10000)
        finally:
            lagger.proc.send_signal(signal.SIGCONT)
        st = c.wait_converged(timeout=30)
        check(len(st) == 3 and len({s["digest"] for s in st}) == 1, "three identical stores")
        log = lagger.log_text()
        check("received snapshot" in log, "the follower installed the leader's snapshot")
        check("given up: a received snapshot replaces the store" in log,
              "the follower gave its own snapshot up")
        items = list_all(c, lagger)
        check(all(it["id"] in items for it in made), "all items on the follower")
        create(c, "after-supersede")  # the follower keeps serving and applying


def test_snapshot_now_is_recent(build):
    """"Snapshot now" while an older snapshot is still being written answers with a snapshot
    at least as recent as the call, not with the older one."""
    with Cluster(build, node_args=SNAPPY) as c:
        c.wait_leader(timeout=5)
        node = c.nodes[2]
        hold_snapshot(c, node, "recent", hold_ms=1500)
        for i in range(10):
            create(c, "after-%d" % i)
        asked_at = int(next(s for s in c.status(nodes=[node]) if "applied" in s)["applied"])
        _, snaps, _ = c.admin("snapshot", endpoints=node.rpc, timeout_ms=20000)
        got = int(snaps[0].get("index", "0"))
        check(got >= asked_at, "snapshot at %d, asked when %d was applied" % (got, asked_at))


def test_digest_and_snapshot_take_turns(build):
    """status --digest pins the store as a snapshot does, and the store has one pin: a
    "snapshot now" asked while a digest is being made waits for it, a digest asked while a
    snapshot is being written waits for that; both answer right, and writes go on
    meanwhile. (The delays hold each pin 1.5 s.)"""
    args = ("--snapshot-interval", "0", "--snapshot-delay-ms", "1500", "--digest-delay-ms",
            "1500")
    with Cluster(build, node_args=args) as c:
        leader = c.wait_leader(timeout=5)
        node = next(n for n in c.nodes if n.id != leader)
        for i in range(20):
            create(c, "turns-%d" % i)
        got = {}

        def ask(key, *args, **kw):
            got[key] = c.admin(*args, endpoints=node.rpc, check_rc=False, **kw)
            got[key + "-at"] = time.monotonic()

        def lines(pattern):
            return len(re.findall(pattern, node.log_text()))

        # a snapshot asked while a digest is pinned
        asked = int(c.status(nodes=[node])[0]["applied"])
        pinned = lines(r"digest at \d+: hashing")
        a = threading.Thread(target=ask, args=("digest", "status", "--digest"),
                             kwargs={"timeout_ms": 20000})
        a.start()
        wait_for("the digest to pin the store", lambda: lines(r"digest at \d+: hashing") > pinned,
                 timeout=10, interval=0.02)
        b = threading.Thread(target=ask, args=("snap", "snapshot"), kwargs={"timeout_ms": 20000})
        b.start()
        for i in range(5):
            create(c, "meanwhile-%d" % i)
        a.join(30)
        b.join(30)
        rc, st, _ = got["digest"]
        check(rc == 0 and st[0].get("digest", "0") != "0" and
              int(st[0]["digestIndex"]) >= asked, "the digest: %r" % (got["digest"],))
        rc, snaps, _ = got["snap"]
        check(rc == 0 and int(snaps[0]["index"]) >= asked, "the snapshot: %r" % (got["snap"],))
        check(got["digest-at"] < got["snap-at"], "the snapshot waited for the digest")

        # a digest asked while a snapshot is being written
        for i in range(5):
            create(c, "more-%d" % i)
        writing = lines("writing it in the background")
        b = threading.Thread(target=ask, args=("snap", "snapshot"), kwargs={"timeout_ms": 20000})
        b.start()
        wait_for("the snapshot to start", lambda: lines("writing it in the background") > writing,
                 timeout=10, interval=0.02)
        asked = int(c.status(nodes=[node])[0]["applied"])
        a = threading.Thread(target=ask, args=("digest", "status", "--digest"),
                             kwargs={"timeout_ms": 20000})
        a.start()
        create(c, "while-snapshotting")
        a.join(30)
        b.join(30)
        rc, st, _ = got["digest"]
        check(rc == 0 and int(st[0]["digestIndex"]) >= asked, "the digest: %r" % (got["digest"],))
        check(got["snap"][0] == 0, "the snapshot: %r" % (got["snap"],))
        check(got["snap-at"] < got["digest-at"], "the digest waited for the snapshot")
        check(lines(r"digest at \d+: [0-9a-f]{16} in \d+ ms") >= 2, "the node logs its digests")
        wait_for("the same applied index", lambda: len({s.get("applied") for s in c.status()}) == 1,
                 timeout=10)
        st = c.status(digest=True, timeout_ms=10000)
        check(len(st) == 3 and len({(s["digest"], s["digestIndex"]) for s in st}) == 1,
              "three identical stores: %r" % st)


def test_digest_gives_way_to_received_snapshot(build):
    """A follower hashing its store for a status --digest when its leader's snapshot arrives
    gives the digest up (the store it pins is about to be replaced), installs the snapshot
    and answers the status with a digest of the new store."""
    with Cluster(build, node_args=SNAPPY) as c:
        leader = c.wait_leader(timeout=5)
        lagger = next(n for n in c.nodes if n.id != leader)
        others = [n for n in c.nodes if n is not lagger]
        lagger.kill(signal.SIGKILL)
        lagger.start(extra=("--digest-delay-ms", "8000"))
        wait_for("the follower to serve", lambda: any(
            s.get("leaderId") == str(leader) for s in c.status(nodes=[lagger])), timeout=10)
        got = {}
        th = threading.Thread(target=lambda: got.update(r=c.admin(
            "status", "--digest", endpoints=lagger.rpc, check_rc=False, timeout_ms=30000)))
        th.start()
        wait_for("the digest to pin the store",
                 lambda: "hashing the store in the background" in lagger.log_text(), timeout=10)
        lagger.proc.send_signal(signal.SIGSTOP)
        try:  # snapshots that compact the log past everything the follower has
            c.admin("bench", "--concurrency", "4", "--duration", "2", "--warmup", "0",
                    endpoints=c.endpoints(others), timeout_ms=5000)
            _, snaps, _ = c.admin("snapshot", endpoints=c.endpoints(others), timeout_ms=10000)
        finally:
            lagger.proc.send_signal(signal.SIGCONT)
        th.join(40)
        rc, st, err = got.get("r", (None, None, None))
        log = lagger.log_text()
        check("received snapshot" in log, "the follower installed the leader's snapshot")
        check(re.search(r"digest at \d+ given up", log), "the digest was given up")
        snap_at = min(int(s["index"]) for s in snaps)
        check(rc == 0 and int(st[0].get("digestIndex", "0")) >= snap_at,
              "a digest of the new store (snapshot at %d): %r %r" % (snap_at, st, err))
        create(c, "after-digest")


def test_stop_gives_up_snapshot(build):
    """SIGTERM while a snapshot is being written stops the node promptly (the snapshot is
    given up: the WAL holds everything), and it restarts with every write."""
    with Cluster(build, node_args=SNAPPY) as c:
        c.wait_leader(timeout=5)
        node = c.nodes[0]
        made = hold_snapshot(c, node, "stop")
        t0 = time.monotonic()
        node.kill(signal.SIGTERM)
        took = time.monotonic() - t0
        check(took < 5, "stopped in %.1f s with a snapshot in progress" % took)
        check("given up: the node is stopping" in node.log_text(), "the snapshot was given up")
        node.start()
        c.wait_converged(timeout=20)
        items = list_all(c, node)
        check(all(it["id"] in items for it in made), "every write after the restart")


def test_clean_exit_after_restore_from_snapshot(build):
    """A node restarted from a snapshot keeps the mapped file's bytes in its store; asked to
    stop, it exits 0. Under AddressSanitizer it once exited 1 with a LeakSanitizer report
    (the mapping's 24-byte reference count and 16-byte handle), found by test_chaos: the
    store a node leaves behind at exit is reachable, but its versions held their pointer to
    the mapping at an unaligned offset, where LeakSanitizer does not look for pointers."""
    with Cluster(build, node_args=SNAPPY) as c:
        c.wait_leader(timeout=5)
        node = c.nodes[2]
        made = [create(c, "mapped-%d" % i) for i in range(30)]
        c.wait_converged(timeout=20)
        c.admin("snapshot", endpoints=node.rpc)
        node.kill(signal.SIGKILL)
        node.start()
        wait_for("the restart from the snapshot",
                 lambda: "restored snapshot" in node.log_text(), timeout=10)
        c.wait_converged(timeout=20)
        check(all(it["id"] in list_all(c, node) for it in made), "every write after the restart")
        proc = node.proc
        node.kill(signal.SIGTERM)
        log = node.log_text()
        check(proc.returncode == 0 and "Sanitizer" not in log,
              "exit status %s after SIGTERM: %r" % (proc.returncode, log[-1500:]))


def test_unreadable_mapped_snapshot_is_said(build):
    """A store restored from a snapshot keeps its values in the mapped file. When a read of
    that mapping fails (the disk's I/O error, or here the file truncated under the node),
    the kernel raises SIGBUS: the node must say so in its log, one timestamped ERROR line
    naming the mapped file, not vanish without a word, and it must not serve on."""
    with Cluster(build, node_args=SNAPPY) as c:
        c.wait_leader(timeout=5)
        node = c.nodes[2]
        for i in range(30):
            create(c, "unreadable-%d" % i)
        c.wait_converged(timeout=20)
        c.admin("snapshot", endpoints=node.rpc)
        node.kill(signal.SIGKILL)
        node.start(extra=("--snapshot-interval", "0"))  # keeps the file it restored mapped
        wait_for("the restart from the snapshot",
                 lambda: "restored snapshot" in node.log_text(), timeout=10)
        snap_dir = os.path.realpath(os.path.join(node.dir, "snap"))
        with open("/proc/%d/maps" % node.proc.pid) as f:
            mapped = {line.split(None, 5)[5].strip() for line in f
                      if len(line.split(None, 5)) == 6
                      and line.split(None, 5)[5].startswith(snap_dir + "/")}
        check(len(mapped) == 1, "one snapshot file mapped: %r" % mapped)
        os.truncate(mapped.pop(), 0)
        rc, _, err = c.admin("items", "list", "--all", "--serializable", "--limit", "1000",
                             endpoints=node.rpc, check_rc=False)
        check(rc != 0, "the list was not answered from the truncated file")
        node.proc.wait(timeout=15)
        log = node.log_text()
        check(node.proc.returncode == -signal.SIGBUS,
              "the node ended by SIGBUS: exit status %s: %r" % (node.proc.returncode, log[-800:]))
        check(re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR node3 SIGBUS at 0x[0-9a-f]{16}: "
                        r"a read of a memory-mapped file failed", log),
              "the log says what happened: %r" % log[-800:])


def test_kill_during_snapshot(build):
    """kill -9 while a snapshot's temp file is half done: the restarted node deletes the temp
    file, recovers every write from its WAL and serves; the interrupted snapshot is never
    taken for a real one."""
    with Cluster(build, node_args=SNAPPY) as c:
        c.wait_leader(timeout=5)
        node = c.nodes[1]
        made = hold_snapshot(c, node, "kill-snap")
        snap_dir = os.path.join(node.dir, "snap")
        wait_for("the node's snapshot temp file",
                 lambda: glob.glob(os.path.join(snap_dir, "*.tmp")), timeout=10)
        node.kill(signal.SIGKILL)
        node.start()
        c.wait_converged(timeout=20)
        check(not glob.glob(os.path.join(snap_dir, "*.tmp")), "the temp file was deleted")
        items = list_all(c, node)
        check(all(it["id"] in items for it in made), "every write after kill -9 mid-snapshot")
        # and its snapshots work again (no hold this time)
        _, snaps, _ = c.admin("snapshot", endpoints=node.rpc)
        check(all("error" not in s for s in snaps), "a snapshot after the restart: %r" % snaps)


def test_snapshot_failure_names_its_cause(build):
    """A "snapshot now" whose snapshot fails is answered with the cause (here its temp file
    deleted under it), not only "see the node's log" (QA)."""
    import subprocess
    with Cluster(build, 1, node_args=("--snapshot-delay-ms", "1500")) as c:
        c.wait_leader(timeout=5)
        create(c, "before-snapshot")
        node = c.nodes[0]
        snap_dir = os.path.join(node.dir, "snap")
        snap = subprocess.Popen([c.admin_bin, "--endpoints", node.rpc, "--timeout", "20000",
                                 "snapshot"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            tmp = wait_for("the snapshot's temp file",
                           lambda: glob.glob(os.path.join(snap_dir, "*.tmp")), timeout=10)
            for f in tmp:
                os.unlink(f)
            out, err = snap.communicate(timeout=30)
        finally:
            if snap.poll() is None:
                snap.kill()
                snap.wait()
        check(snap.returncode == 1 and "snapshot failed: " in err + out and
              "(the node's log says more)" in err + out,
              "the failure and its cause: %d %r %r" % (snap.returncode, out, err))
        check(re.search(r"snapshot failed: [a-z]", err + out) is not None,
              "a cause is named: %r %r" % (out, err))
        # the node goes on, and its next snapshot works
        create(c, "after-snapshot")
        _, snaps, _ = c.admin("snapshot", endpoints=node.rpc, timeout_ms=20000)
        check(all("error" not in s for s in snaps), "the next snapshot: %r" % snaps)


def test_started_policy_kept(build):
    """A node started under another scheduling policy (chrt --idle) leaves it to every
    thread, the loop and NNG's alike, and serves."""
    c = Cluster(build)
    wrapper = os.path.join(c.root, "idle-node.sh")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec chrt --idle 0 %s \"$@\"\n" % c.node_bin)
    os.chmod(wrapper, 0o755)
    c.node_bin = wrapper
    with c:
        c.wait_leader(timeout=10)
        made = create(c, "under-idle")
        check(made["version"] == "1", "served under SCHED_IDLE: %r" % made)
        for node in c.nodes:
            pol = thread_policies(node.proc.pid)
            check("nng:task" in pol and all(v == {5} for v in pol.values()),
                  "node %d thread policies %r (expected SCHED_IDLE, 5, everywhere)"
                  % (node.id, pol))


def test_transfer_to_silent_node(build):
    """A leadership transfer to a node whose process runs but does not answer (frozen with
    SIGSTOP here; one still recovering its store after a restart is the same to the leader)
    gives up saying what the leader knows: it has heard nothing from that node for longer
    than an election timeout, so it is down, starting or stalled. It said only "the target
    did not take over in time (it may be down, stalled or behind)". lithair-admin asks the
    leader, also when a follower comes first in --endpoints (a follower passes the request
    on, and can say only that no new leader came)."""
    with Cluster(build) as c:
        leader = c.wait_leader(timeout=5)
        create(c, "before-freeze")
        frozen = next(n for n in c.nodes if n.id != leader)
        other = next(n for n in c.nodes if n.id not in (leader, frozen.id))
        frozen.proc.send_signal(signal.SIGSTOP)
        try:
            rc, _, err = c.admin("leader", "transfer", str(frozen.id),
                                 endpoints=c.endpoints([other, frozen, c.node(leader)]),
                                 timeout_ms=10000, check_rc=False)
            m = re.search(r"node %d did not take over, and the leader \(node %d\) has heard "
                          r"nothing from it for (\d+) ms: it is down, starting or stalled" %
                          (frozen.id, leader), err)
            # the give-up comes two election timeouts (2 x 15 x 10 ms) after the request
            check(rc == 1 and "ABORTED" in err and m and int(m.group(1)) >= 150,
                  "the transfer to frozen node %d: rc %d %r" % (frozen.id, rc, err))
            print("  %s" % err.strip())
        finally:
            frozen.proc.send_signal(signal.SIGCONT)
        # resumed, it may still take over (the hand-over waited in its socket): either way
        # one node leads and takes writes
        c.wait_leader(timeout=10)
        create(c, "after-freeze")


def test_leadership_transfer(build):
    with Cluster(build) as c:
        leader = c.wait_leader(timeout=5)
        create(c, "before-transfer")
        target = next(n.id for n in c.nodes if n.id != leader)
        _, out, _ = c.admin("leader", "transfer", str(target))
        check(out["leaderId"] == str(target), "the named node leads: %r" % out)
        check(c.wait_leader(timeout=5) == target, "all nodes agree on the new leader")
        create(c, "after-transfer")
        rc, _, err = c.admin("leader", "transfer", "42", check_rc=False)
        check(rc == 1 and "no node 42 in this cluster: its members are 1, 2, 3" in err,
              "transfer to a stranger refused, naming the members: %r" % err)
        # a transfer to a node that is down gives up promptly, whether asked of the leader
        # or of a follower (which passes it on and once waited for the client's deadline)
        down = next(n for n in c.nodes if n.id != target)
        other = next(n for n in c.nodes if n.id not in (target, down.id))
        down.kill(signal.SIGKILL)
        for via in (c.node(target), other):
            t0 = time.monotonic()
            rc, _, err = c.admin("leader", "transfer", str(down.id), endpoints=via.rpc,
                                 timeout_ms=10000, check_rc=False)
            took = time.monotonic() - t0
            check(rc == 1 and "ABORTED" in err and took < 5,
                  "transfer to a dead node through node %d: rc %d in %.2fs: %r" %
                  (via.id, rc, took, err))
            # it had caught up (the core sent it the hand-over at once): not said to lag
            # (a frozen target that got it took over seconds after this "gave up")
            check("did not catch up" not in err and ("did not take over" in err or
                                                     "no new leader" in err),
                  "the refusal says what is known: %r" % err)
        check(c.wait_leader(timeout=5) == target, "the leader stays")
        # with no target the leader picks a follower it hears from: the dead one keeps the
        # match it had, and won a tie with the live one by its lower id (QA: the transfer
        # then gave up)
        time.sleep(0.7)  # past two CheckQuorum rounds (an election timeout: 150-300 ms)
        _, out, _ = c.admin("leader", "transfer", timeout_ms=10000)
        check(out["leaderId"] == str(other.id),
              "any follower, node %d dead: %r (node %d lives)" % (down.id, out, other.id))


def test_graceful_stop_hands_over(build):
    """SIGTERM to the leader during a write load: it hands its leadership to a follower
    first and stays until its writes are answered, so the load sees no error (a SIGKILL,
    the control, costs writes their deadline: the clients cannot know their outcome). The
    new leader is elected in one term, without an election timeout; a second SIGTERM stops
    a node at once; a Shutdown RPC to the leader hands over too."""
    import json

    def stop_under_load(c, sig):
        leader = c.wait_leader(timeout=5)
        term = next(s["term"] for s in c.status() if s.get("role") == "leader")
        cmd = [c.admin_bin, "--endpoints", c.endpoints(), "-w", "json", "--timeout", "5000",
               "bench", "--concurrency", "16", "--duration", "3", "--warmup", "0"]
        bench = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=admin_env())
        time.sleep(1.5)
        t0 = time.monotonic()
        c.node(leader).kill(sig)
        took = time.monotonic() - t0
        out, err = bench.communicate(timeout=60)
        check(bench.returncode in (0, 1), "bench ran: %d %r" % (bench.returncode, err[-300:]))
        return leader, int(term), took, json.loads(out)

    with Cluster(build) as c:
        old, term, took, rep = stop_under_load(c, signal.SIGTERM)
        new = c.wait_leader(timeout=5)
        log = c.node(old).log_text()
        m = re.search(r"stopping: handing leadership over to node (\d+) first", log)
        check(m and int(m.group(1)) == new, "node %d said whom it hands over to (node %d "
              "leads): %r" % (old, new, log[-600:]))
        m = re.search(r"stopping: node (\d+) leads now \((\d+) ms\)", log)
        check(m and int(m.group(1)) == new and int(m.group(2)) < 150,
              "the hand-over took less than an election timeout: %r" % log[-600:])
        check(took < 2, "node %d stopped in %.2f s" % (old, took))
        check(rep["ops"] > 1000 and rep["errors"] == 0,
              "no write failed: %d of %d (%r)" % (rep["errors"], rep["ops"],
                                                   rep.get("errorsByCode")))
        st = [s for s in c.status() if s.get("healthy")]
        check(all(int(s["term"]) == term + 1 for s in st),
              "one election, the hand-over's: term %d -> %r" % (term, [s["term"] for s in st]))
        print("  SIGTERM to leader %d: node %d leads in term %d, %d writes, none failed, "
              "stopped in %.2f s" % (old, new, term + 1, rep["ops"], took))

        # the control: a SIGKILL leaves writes of unknown outcome (its clients time out)
        c.node(old).start()
        c.wait_converged(timeout=20)
        victim, _, _, rep = stop_under_load(c, signal.SIGKILL)
        print("  SIGKILL to leader %d: %d of %d writes failed" % (victim, rep["errors"],
                                                                 rep["ops"]))
        check(rep["errors"] > 0, "the control: a SIGKILL costs writes (%r)" % rep)
        c.node(victim).start()
        leader = c.wait_leader(timeout=10)

        # a Shutdown RPC to the leader (the gateway's kill in attach mode): the same hand-over
        sock, _ = sp_connect(c.node(leader).rpc, SP_REQ)
        sock.sendall(sp_frame(struct.pack(">I", 0x80000007) +
                              rpc_request("Cluster/Shutdown", 7, timeout_ms=3000)))
        check(7 in sp_read_replies(sock, {7}, 5.0), "the Shutdown RPC was answered")
        sock.close()
        wait_for("node %d to exit" % leader,
                 lambda: c.node(leader).proc.poll() is not None, timeout=5)
        log = c.node(leader).log_text()
        check("stopping: handing leadership over to node" in log.split("shutdown requested")[-1],
              "a Shutdown RPC hands over too: %r" % log[-400:])
        c.node(leader).proc = None
        check(c.wait_leader(timeout=5) != leader, "another node leads")

    # a follower that stalled just before (SIGSTOP) may still look up to date: if the leader
    # chose it, it chooses the other after an election timeout (150 ms), within the two it has
    with Cluster(build) as c:
        leader = c.wait_leader(timeout=5)
        frozen, other = sorted(n.id for n in c.nodes if n.id != leader)  # ties: lowest id
        c.node(frozen).proc.send_signal(signal.SIGSTOP)
        try:
            c.node(leader).kill(signal.SIGTERM)
            log = c.node(leader).log_text()
            first = re.search(r"stopping: handing leadership over to node (\d+) first", log)
            check(first, "a hand-over: %r" % log[-600:])
            if int(first.group(1)) == frozen:
                check("node %d did not take over; handing leadership to node %d instead"
                      % (frozen, other) in log, "the other follower next: %r" % log[-600:])
            m = re.search(r"stopping: node (\d+) leads now \((\d+) ms\)", log)
            check(m and int(m.group(1)) == other and int(m.group(2)) < 300,
                  "node %d leads within two election timeouts: %r" % (other, log[-600:]))
            print("  with node %d frozen: node %d first, node %d leads after %s ms"
                  % (frozen, int(first.group(1)), other, m.group(2)))
        finally:
            c.node(frozen).proc.send_signal(signal.SIGCONT)
        check(c.wait_leader(timeout=5) == other, "node %d still leads once node %d resumes"
              % (other, frozen))

    # a second signal stops a node at once: a leader whose followers are gone would wait
    # two election timeouts for its hand-over (node_stop_due)
    with Cluster(build) as c:
        leader = c.wait_leader(timeout=5)
        for n in c.nodes:
            if n.id != leader:
                n.kill(signal.SIGKILL)
        proc = c.node(leader).proc
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
        log = c.node(leader).log_text()
        check("second stop signal: stopping at once" in log, "said: %r" % log[-400:])
        check("did not take over" not in log, "did not wait for the hand-over: %r" % log[-400:])
        c.node(leader).proc = None


def test_stopping_follower_does_not_take_over(build):
    """Two nodes stopped at once, the leader and the follower it hands over to: the stopping
    follower does not take leadership over (it exited as leader with the writes sent to it
    meanwhile: QA, all 16 writes in flight of a benchmark timed out, and the others waited
    for an election); the leader hands over to another after an election timeout. Five
    nodes; the two followers the leader must not choose are frozen first, so that it chooses
    between the two others: the lower id, on an idle log's tie."""
    with Cluster(build, n=5) as c:
        leader = c.wait_leader(timeout=5)
        x, y, w, z = sorted(n.id for n in c.nodes if n.id != leader)
        for f in (w, z):
            c.node(f).proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(0.4)  # the leader has not heard from w, z within an election timeout
            c.node(x).proc.send_signal(signal.SIGTERM)
            c.node(leader).proc.send_signal(signal.SIGTERM)
            time.sleep(0.05)  # the leader chose; w and z vote for its next choice
        finally:
            for f in (w, z):
                c.node(f).proc.send_signal(signal.SIGCONT)
        for k in (x, leader):
            c.node(k).proc.wait(timeout=5)
            c.node(k).proc = None
        log_x = c.node(x).log_text()
        log_l = c.node(leader).log_text()
        check("stopping: handing leadership over to node %d first" % x in log_l,
              "the leader chose node %d first: %r" % (x, log_l[-600:]))
        check(not re.search(r"node%d leader in term" % x, log_x),
              "stopping node %d did not take over: %r" % (x, log_x[-800:]))
        check("stopping: not taking leadership over from node %d" % leader in log_x,
              "node %d said so: %r" % (x, log_x[-600:]))
        m = re.search(r"stopping: node (\d+) leads now \((\d+) ms\)", log_l)
        check(m and int(m.group(1)) in (y, w, z) and int(m.group(2)) < 300,
              "another node leads within two election timeouts: %r" % log_l[-600:])
        new = int(m.group(1))
        check(c.wait_leader(timeout=5) == new, "node %d leads" % new)
        create(c, "after the two stops")
        print("  leader %d and node %d stopped at once: node %d leads after %s ms"
              % (leader, x, new, m.group(2)))


def test_stop_without_successor_says_so(build):
    """A stopping leader whose followers are gone steps down (CheckQuorum) before its two
    election timeouts end: its log says no leader is known, not "node 0 leads now" (QA)."""
    with Cluster(build) as c:
        leader = c.wait_leader(timeout=5)
        for n in c.nodes:
            if n.id != leader:
                n.kill(signal.SIGKILL)
        time.sleep(0.1)
        c.node(leader).kill(signal.SIGTERM)
        log = c.node(leader).log_text().split("stopping: handing leadership over")[-1]
        check("node 0 leads" not in log, "no node 0: %r" % log[-400:])
        check(re.search(r"stopping: (no longer leader, and no new leader known yet|node \d+ did "
                        r"not take over within)", log), "said how it ended: %r" % log[-400:])


def test_followers_learn_commit_between_heartbeats(build):
    """A leader's commit index rides its next append; when none follows, the leader sends
    it alone after 1 ms. Heartbeats here are 2 s apart: each of 8 lone writes must reach
    every follower's store well before a heartbeat could have carried it (a build that
    leaves it to the heartbeat fails this with probability ~1 - 0.5^8)."""
    args = ("--tick-ms", "100", "--heartbeat-ticks", "20", "--election-ticks", "30")
    with Cluster(build, node_args=args) as c:
        c.wait_leader(timeout=15)
        for i in range(8):
            create(c, "lone-%d" % i)
            t0 = time.monotonic()

            def applied_everywhere():
                st = [s for s in c.status() if s.get("healthy")]
                return len(st) == 3 and len({s.get("applied") for s in st}) == 1

            wait_for("every node to apply lone write %d" % i, applied_everywhere,
                     timeout=1.0, interval=0.02)
            check(time.monotonic() - t0 < 1.0, "applied within 1 s")


def test_leaderless_answers_quickly(build):
    with Cluster(build) as c:
        c.wait_leader(timeout=5)
        c.node(1).kill(signal.SIGKILL)
        c.node(2).kill(signal.SIGKILL)
        t0 = time.monotonic()
        rc, _, err = c.admin("items", "create", '{"name":"x"}', endpoints=c.node(3).rpc,
                             timeout_ms=1000, check_rc=False)
        took = time.monotonic() - t0
        check(rc == 1, "no write without a quorum")
        check("UNAVAILABLE" in err or "DEADLINE_EXCEEDED" in err, "clear error: %r" % err)
        check(took < 5, "answered within the deadline (%.2fs)" % took)


def test_log_level_flag_beats_env(build):
    """--log-level is the threshold; $LT_LOG_LEVEL only when no --log-level is given, as
    --help says ("default info; env LT_LOG_LEVEL"). The environment won: with
    LT_LOG_LEVEL=error in it, --log-level info printed nothing but errors (QA)."""
    saved = os.environ.get("LT_LOG_LEVEL")
    os.environ["LT_LOG_LEVEL"] = "error"
    try:
        with Cluster(build, n=1, node_args=("--log-level", "info")) as c:
            c.wait_leader(timeout=5)
            n1 = c.node(1)
            wait_for("the INFO lines --log-level info asks for",
                     lambda: " INFO  node1 serving: " in n1.log_text(), timeout=5)
            n1.kill(signal.SIGTERM)
            os.truncate(n1.log, 0)
            c.node_args = ()  # no flag: the environment's threshold
            n1.start()
            c.wait_leader(timeout=5)
            n1.kill(signal.SIGTERM)
            check(" INFO " not in n1.log_text(),
                  "LT_LOG_LEVEL=error without a flag: no INFO lines: %r" % n1.log_text()[-500:])
    finally:
        if saved is None:
            del os.environ["LT_LOG_LEVEL"]
        else:
            os.environ["LT_LOG_LEVEL"] = saved


def test_stranger_is_named(build):
    """Nodes given different --peer lists: node 1 is told it is alone, node 2 that node 1
    is its peer. Node 1 drops node 2's vote requests, and says so in its log, once per
    10 s (not once per message), naming node 2 and the --peer lists."""
    with Cluster(build, n=1) as c:
        stranger = Node(c, 2)
        c.nodes.append(stranger)  # its --peer list: nodes 1 and 2
        stranger.start()
        first = c.node(1)
        pattern = re.compile(r"WARN .*raft messages from node 2, which is not a member "
                             r"\(members: 1\).*--peer lists must be the same on every node")
        wait_for("node 1 to name node 2", lambda: pattern.search(first.log_text()), timeout=15)
        # node 2 keeps campaigning (an election every 150-300 ms): no more lines for 2 s
        time.sleep(2)
        lines = [l for l in first.log_text().splitlines() if "from node 2, which" in l]
        check(len(lines) == 1, "said once in 10 s: %r" % lines)
        check(stranger.alive() and first.alive(), "both nodes still run")


def start_refused(victim):
    """Starts `victim`, which must refuse to start (non-zero exit, "refusing to serve" in
    its log); returns its log."""
    victim.start()
    wait_for("the node to refuse to start", lambda: not victim.alive(), timeout=10)
    check(victim.proc.returncode != 0, "non-zero exit")
    log = victim.log_text()
    check("refusing to serve" in log, "it says it refuses: %r" % log[-600:])
    victim.proc = None
    return log


def test_data_dir_inside_another_is_refused(build):
    """A node given a data dir inside another node's (in its wal/ or snap/, or below, or
    through a symbolic link) refuses to start, naming both, and creates nothing there: its
    files would sit among the other's segments and snapshots (QA started one in wal/)."""
    with Cluster(build, n=1) as c:
        c.wait_leader(timeout=5)
        first = c.node(1)
        create(c, "nesting")
        link = os.path.join(c.root, "link-to-wal")
        os.symlink(os.path.join(first.dir, "wal"), link)
        before = sorted(os.listdir(os.path.join(first.dir, "wal")))
        for where in ("wal/inner", "wal", "snap/a/b", "LINK/inner"):
            stranger = Node(c, 2)
            stranger.dir = (os.path.join(link, "inner") if where.startswith("LINK")
                            else os.path.join(first.dir, where))
            log = start_refused(stranger)
            check("is inside another node's data dir %s" % first.dir in log and
                  "give each node a directory of its own" in log,
                  "%s: refused, naming both: %r" % (where, log[-400:]))
        check(sorted(os.listdir(os.path.join(first.dir, "wal"))) == before,
              "nothing created in node 1's wal/: %r" % os.listdir(os.path.join(first.dir, "wal")))
        check(not os.path.exists(os.path.join(first.dir, "snap", "a")), "nor in its snap/")
        check(first.alive(), "node 1 still runs")
        create(c, "still-serving")
        # a fresh directory beside it is fine
        beside = Node(c, 2)
        beside.dir = os.path.join(c.root, "node2-beside")
        beside.start()
        wait_for("the node beside it to serve",
                 lambda: "serving: raft" in beside.log_text(), timeout=10)
        beside.kill()


def killed_after_writes(c, prefix, count, victim_id):
    """Writes `count` items, waits until every node has them, and kill -9s node
    `victim_id`, which it returns (its data dir is then the test's to damage)."""
    c.wait_leader(timeout=5)
    for i in range(count):
        create(c, "%s-%d" % (prefix, i))
    c.wait_converged()
    victim = c.node(victim_id)
    victim.kill(signal.SIGKILL)
    return victim


def wal_segments(node):
    return sorted(glob.glob(os.path.join(node.dir, "wal", "*.wal")))


def test_torn_tail_is_truncated(build):
    with Cluster(build) as c:
        victim = killed_after_writes(c, "torn", 5, 3)
        seg = wal_segments(victim)[-1]
        with open(seg, "ab") as f:
            f.write(b"\x37\x13" * 50)  # a torn, half-written record
        victim.start()
        c.wait_converged(timeout=20)
        check(victim.alive(), "the node started after cutting the torn tail")
        check("torn" in victim.log_text().lower(), "the truncation is reported in the log")


def test_wal_lost_next_to_snapshot(build):
    """A WAL whose segments are gone beside a snapshot refuses to start, saying so: started
    from the snapshot alone (as it once did, lifting its term) it served a shorter log than
    it had acknowledged, and with a peer that missed the writes since it formed a majority
    without them (QA). Its whole data dir deleted, as the message says, it rejoins empty
    and copies every item from the others, with no write to prompt it."""
    with Cluster(build) as c:
        c.wait_leader(timeout=5)
        made = [create(c, "walgone-%d" % i) for i in range(10)]
        c.wait_converged()
        _, snaps, _ = c.admin("snapshot")
        check(all("error" not in s for s in snaps), "snapshots taken: %r" % snaps)
        made += [create(c, "walgone-after-%d" % i) for i in range(5)]
        c.wait_converged()
        victim = c.node(3)
        victim.kill(signal.SIGKILL)
        segs = wal_segments(victim)
        check(len(segs) >= 1, "segments on disk: %r" % segs)
        for seg in segs:
            os.unlink(seg)
        log = start_refused(victim)
        check("the WAL's records are gone" in log and "delete its whole data dir" in log,
              "the refusal says why and what to do: %r" % log[-800:])
        shutil.rmtree(victim.dir)
        victim.start()
        # the leader counted the entries this node once acknowledged: told of them by its
        # next heartbeat, the node says it lacks them, and is sent the log again (no write)
        c.wait_converged(timeout=20)
        items = list_all(c, victim)
        check(all(it["id"] in items for it in made), "every item on the rejoined node")


def test_corrupt_middle_refuses_to_start(build):
    with Cluster(build) as c:
        victim = killed_after_writes(c, "corrupt", 20, 2)
        seg = wal_segments(victim)[-1]
        size = os.path.getsize(seg)
        with open(seg, "r+b") as f:
            f.seek(min(200, size // 4))
            b = f.read(1)
            f.seek(min(200, size // 4))
            f.write(bytes([b[0] ^ 0xFF]))
        log = start_refused(victim).lower()
        check("corrupt" in log, "clear message: %r" % log[-500:])


def test_junk_segment_is_named(build):
    """A file named like a newer WAL segment but holding junk: the node refuses to start
    and names that file, not the real last segment before it (which, no longer last,
    would look sealed without its COMMIT)."""
    with Cluster(build) as c:
        victim = killed_after_writes(c, "junkseg", 5, 1)
        last = wal_segments(victim)[-1]
        seq, first = os.path.basename(last)[:-4].split("-")
        junk = os.path.join(os.path.dirname(last),
                            "%016x-%016x.wal" % (int(seq, 16) + 1, int(first, 16) + 1000))
        with open(junk, "wb") as f:
            f.write(b"not a segment" * 10)
        log = start_refused(victim)
        check("%s: bad segment header: corrupt" % junk in log,
              "the junk file is named: %r" % log[-600:])
        check(not any(last in line for line in log.splitlines() if " ERROR " in line),
              "the real segment is not blamed: %r" % log[-600:])


def crc32c(data):
    """CRC32C (Castagnoli, reflected), as tools/common/crc32c.c computes it."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_segment_of_another_version_is_named(build):
    """A WAL segment whose header is whole (its magic and CRC32C good) but of another format
    version (written by another build) is not damage: the node refuses to start and says
    which version it found and which it reads, instead of "bad segment header: corrupt"."""
    with Cluster(build) as c:
        victim = killed_after_writes(c, "walversion", 5, 1)
        last = wal_segments(victim)[-1]
        with open(last, "r+b") as f:
            hdr = bytearray(f.read(40))
            check(hdr[:8] == b"LITHWAL\0" and struct.unpack_from("<I", hdr, 8)[0] == 1,
                  "a version 1 header: %r" % bytes(hdr))
            struct.pack_into("<I", hdr, 8, 2)
            struct.pack_into("<I", hdr, 32, crc32c(bytes(hdr[:32])))
            f.seek(0)
            f.write(hdr)
        log = start_refused(victim)
        check("%s: format version 2" % last in log and "reads version 1" in log,
              "the version is named: %r" % log[-600:])
        check("bad segment header" not in log, "not called damage: %r" % log[-600:])


def test_corrupt_snapshot_refuses_to_start(build):
    """A node whose only snapshot is damaged must not serve: its WAL names that snapshot,
    so it stops with a clear message instead of starting from a shorter log."""
    with Cluster(build) as c:
        c.wait_leader(timeout=5)
        for i in range(30):
            create(c, "snapcorrupt-%d" % i)
        c.wait_converged()
        _, snaps, _ = c.admin("snapshot")
        check(all("error" not in s for s in snaps), "snapshots taken: %r" % snaps)
        victim = c.node(3)
        victim.kill(signal.SIGKILL)
        files = sorted(glob.glob(os.path.join(victim.dir, "snap", "*.snap")))
        check(len(files) == 1, "one snapshot on disk: %r" % files)
        size = os.path.getsize(files[0])
        with open(files[0], "r+b") as f:  # a flipped byte in the data, past the header
            f.seek(128 + (size - 128) // 2)
            b = f.read(1)
            f.seek(128 + (size - 128) // 2)
            f.write(bytes([b[0] ^ 0x20]))
        log = start_refused(victim).lower()
        check("damaged snapshot skipped" in log, "clear message: %r" % log[-600:])


# ---- hostile traffic on the raft and RPC ports (NNG's TCP wire by hand) ----
#
# NNG's TCP transport (nng src/sp/transport/tcp/tcp.c): each side first sends 8 bytes,
# 0x00 'S' 'P' 0x00, its protocol number (16-bit big-endian), two zero bytes; then every
# message is a 64-bit big-endian length and the bytes. A req0 message starts with the
# 32-bit request id (high bit set), which rep0 sends back before its answer.

SP_PUSH, SP_PULL, SP_REQ, SP_REP = 0x50, 0x51, 0x30, 0x31


def sp_header(proto):
    return b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00"


def sp_connect(url, proto, timeout=2.0):
    """A TCP connection to NNG URL `url` that has done the SP handshake as `proto`;
    returns (socket, the peer's 8-byte header)."""
    host, port = url[len("tcp://"):].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(sp_header(proto))
    got = b""
    while len(got) < 8:
        chunk = s.recv(8 - len(got))
        if not chunk:
            break
        got += chunk
    return s, got


def sp_frame(body):
    return struct.pack(">Q", len(body)) + body


def pb_uint(field, v):
    return pb_varint(field << 3) + pb_varint(v) if v else b""


def pb_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return pb_varint(field << 3 | 2) + pb_varint(len(b)) + b if b else b""


def raft_msg(mtype, frm, to, term=0, log_term=0, index=0, commit=0, reject=False, hint=0,
             hint_term=0, entries=(), snapshot=None, chunk=None, context=b""):
    """A lithair.raft.v1.Message (raft.proto)."""
    b = pb_uint(1, mtype) + pb_uint(2, frm) + pb_uint(3, to) + pb_uint(4, term)
    b += pb_uint(5, log_term) + pb_uint(6, index)
    for (eterm, eindex, etype, data) in entries:
        b += pb_bytes(7, pb_uint(1, eterm) + pb_uint(2, eindex) + pb_uint(3, etype) +
                      pb_bytes(4, data))
    b += pb_uint(8, commit) + pb_uint(9, 1 if reject else 0) + pb_uint(10, hint)
    b += pb_uint(11, hint_term)
    if snapshot is not None:
        sidx, sterm, voters = snapshot
        conf = b"".join(pb_bytes(1, pb_uint(1, v)) for v in voters)
        meta = pb_uint(1, sidx) + pb_uint(2, sterm) + pb_bytes(3, conf)
        b += pb_varint(12 << 3 | 2) + pb_varint(len(meta)) + meta
    if chunk is not None:
        offset, data, done = chunk
        b += pb_uint(13, offset) + pb_bytes(14, data) + pb_uint(15, 1 if done else 0)
    return b + pb_bytes(16, context)


def raft_batch(*msgs):
    return b"".join(pb_bytes(1, m) for m in msgs)


def rpc_request(method, rid, payload=b"", timeout_ms=0):
    return pb_bytes(1, method) + pb_uint(2, rid) + pb_uint(3, timeout_ms) + pb_bytes(5, payload)


def mutate(rng, data):
    """1-4 random edits: bit flips, interesting bytes, truncation, insertion, deletion,
    varint extremes, off-by-one lengths (as tests/unit/test_fuzz_node.c does)."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(b)) if b else 0
        op = rng.randrange(7)
        if op == 0 and b:
            b[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[pos] = rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif op == 2:
            del b[rng.randrange(len(b) + 1):]
        elif op == 3:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 4 and b:
            del b[pos:pos + rng.randint(1, 16)]
        elif op == 5:
            b[pos:pos] = rng.choice([b"\xff" * 9 + b"\x01", b"\x80" * 9 + b"\x00",
                                     b"\xff\xff\xff\xff\x07"])
        elif b:
            b[pos] = (b[pos] + rng.choice([1, 255])) & 0xFF
    return bytes(b)


def hostile_raft_frames(rng, ids, target):
    """Raft Batches for node `target`: messages from members that raft_recv must refuse
    (terms and snapshot numbers past the end of their space, a sender naming the target
    itself, another destination), stale ones (no term), and mutated copies of all kinds
    of messages from a stranger (id 1000, which no single mutation turns into a member).
    None can be a valid message of the current term from a member: those are trusted, as
    Raft trusts its members."""
    other = [i for i in ids if i != target]
    big = (1 << 64) - 1
    refused = [
        raft_msg(7, other[0], target, term=big, commit=5),                 # heartbeat
        raft_msg(1, other[0], target, term=big, log_term=big, index=9),    # vote
        raft_msg(11, other[1], target, term=big),                          # timeout now
        raft_msg(5, other[1], target, term=1 << 63, index=3, log_term=1,
                 entries=[(1 << 63, 4, 0, b"x")], commit=4),               # append
        raft_msg(9, other[0], target, term=big, index=big, log_term=big,
                 snapshot=(big, big, ids), chunk=(0, b"junk", True)),      # snapshot
        raft_msg(9, other[0], target, term=3, snapshot=(big, 1, ids),
                 chunk=(0, b"junk", True)),
        raft_msg(7, target, target, term=1 << 40, commit=1 << 40),         # from itself
        raft_msg(7, other[0], 1000, term=1 << 40, commit=1 << 40),         # not for it
    ]
    stale = [raft_msg(t, other[t % 2], target, index=1 << 40, commit=1 << 40, reject=t % 3 == 0,
                      hint=1 << 40, hint_term=7, context=b"\x01" * 8) for t in range(1, 15)]
    stale.append(raft_msg(9, other[0], target, snapshot=(7, 1, ids), chunk=(1 << 30, b"j", False)))
    strangers = [raft_msg(t, 1000, target, term=rng.choice([1, 2, 1 << 40]), log_term=1,
                          index=rng.choice([0, 3, 1 << 40]), commit=1 << 40, reject=t % 2 == 0,
                          entries=[(1, 4, 0, b"\x0a\x03abc")] if t == 5 else (),
                          snapshot=(5, 1, ids) if t == 9 else None,
                          chunk=(0, b"\x00" * 64, True) if t == 9 else None,
                          context=bytes(rng.randrange(256) for _ in range(8)))
                 for t in range(1, 15)]
    frames = [raft_batch(m) for m in refused + stale] + [raft_batch(*refused[:3], *stale[:4])]
    for _ in range(120):
        base = raft_batch(*rng.sample(strangers, rng.randint(1, 3)))
        frames.append(mutate(rng, base))
    for _ in range(20):
        frames.append(bytes(rng.randrange(256) for _ in range(rng.randrange(64))))
    rng.shuffle(frames)
    return frames


def hostile_rpc_requests(rng, rid0):
    """Requests for the RPC port: reads and harmless writes, as they are and mutated (a
    mutated write that still decodes is a write like any other, replicated everywhere)."""
    item = pb_bytes(2, "hostile") + pb_uint(4, 1) + pb_bytes(5, '{"k":1}')
    bases = [
        ("Cluster/Ping", pb_bytes(1, b"\x00\x01\x02")),
        ("Cluster/Status", pb_uint(1, 1)),
        ("Models/Get", pb_bytes(1, "items") + pb_bytes(2, "nosuch")),
        ("Models/List", pb_bytes(1, "items") + pb_bytes(2, "status") + pb_bytes(3, "ACTIVE") +
         pb_uint(5, 3)),
        ("Models/History", pb_bytes(1, "items") + pb_bytes(2, "nosuch")),
        ("Models/Create", pb_bytes(1, "items") + pb_bytes(2, item)),
        ("Models/Get", pb_bytes(1, "nosuch") + pb_bytes(2, "x" * 300)),
        ("Cluster/WalStats", b""),
    ]
    reqs = []
    for k in range(160):
        method, payload = rng.choice(bases)
        if rng.random() < 0.15:
            subs = []
            for i in range(rng.randint(0, 3)):
                sub_method, sub_payload = rng.choice(bases)
                subs.append(rpc_request(sub_method, rid0 * 10 + k * 10 + i, sub_payload))
            method, payload = "Rpc/Batch", b"".join(pb_bytes(1, sub) for sub in subs)
        how = rng.randrange(3)
        if how == 1:
            payload = mutate(rng, payload)
        body = rpc_request(method, rid0 + k, payload, timeout_ms=rng.choice([0, 2000]))
        if how == 2:
            body = mutate(rng, body)
        reqs.append((how == 0, rid0 + k, body))
    return reqs


def sp_read_replies(s, want, timeout):
    """Reads rep0 answers from `s` until every request id in `want` was answered or
    `timeout` passed; returns {request id: Response bytes}."""
    got, buf = {}, b""
    deadline = time.monotonic() + timeout
    while want - set(got) and time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            n = struct.unpack(">Q", buf[:8])[0]
            if len(buf) < 8 + n:
                break
            msg, buf = buf[8:8 + n], buf[8 + n:]
            if len(msg) >= 4:
                got[struct.unpack(">I", msg[:4])[0] & 0x7FFFFFFF] = msg[4:]
    return got


def hostile_traffic(rng, node, ids, stalled):
    """Sends one node everything test_hostile_traffic_on_every_port describes; returns
    (frames sent, requests answered, well-formed requests left unanswered). Connections
    meant to stall are appended to `stalled`. OSError if the node stops accepting."""
    sent, answered, unanswered = 0, 0, []
    for url, proto in ((node.raft, SP_PUSH), (node.rpc, SP_REQ)):
        # half a handshake, and a whole one followed by half a message: held open
        for k in range(4):
            host, port = url[len("tcp://"):].rsplit(":", 1)
            s = socket.create_connection((host, int(port)), timeout=2)
            stalled.append(s)
            s.sendall(sp_header(proto)[:k * 2 + 1])
        s, _ = sp_connect(url, proto)
        stalled.append(s)
        s.sendall(struct.pack(">Q", 100) + b"\x0a\x05")
        # wrong protocol numbers, and a length past the receive limit
        for bad in (SP_PULL, SP_REP, 0x10, 0xFFFF):
            s, _ = sp_connect(url, bad, timeout=1)
            try:
                s.sendall(sp_frame(b"\x0a\x00"))
            except OSError:
                pass  # refused: as it should
            s.close()
        s, _ = sp_connect(url, proto)
        s.sendall(struct.pack(">Q", 1 << 40) + b"\x00" * 64)
        s.close()

    # the raft port
    s, hdr = sp_connect(node.raft, SP_PUSH)
    check(hdr == sp_header(SP_PULL), "the raft port speaks pull0: %r" % hdr)
    for frame in hostile_raft_frames(rng, ids, node.id):
        try:
            s.sendall(sp_frame(frame))
            sent += 1
        except OSError:  # it hung up on us: dial again
            s.close()
            s, _ = sp_connect(node.raft, SP_PUSH)
    s.close()

    # the RPC port: every well-formed request is answered, with its id
    s, hdr = sp_connect(node.rpc, SP_REQ)
    check(hdr == sp_header(SP_REP), "the RPC port speaks rep0: %r" % hdr)
    want = set()
    reqs = hostile_rpc_requests(rng, 100000 * node.id)
    for k, (clean, rid, body) in enumerate(reqs):
        try:
            s.sendall(sp_frame(struct.pack(">I", 0x80000000 | rid) + body))
            sent += 1
        except OSError:  # rep0 hangs up on a request without a request id: dial again
            s.close()
            s, _ = sp_connect(node.rpc, SP_REQ)
            continue
        if clean:
            want.add(rid)
        if len(want) >= 8 or k == len(reqs) - 1:
            got = sp_read_replies(s, want, 5.0)
            answered += len(want & set(got))
            unanswered += sorted(want - set(got))
            for r in want & set(got):
                try:
                    echoed = pb_parse(got[r]).get(1)
                except ValueError:
                    echoed = None
                check(echoed == r, "the answer to %d echoes its id" % r)
            want = set()
    s.close()
    return sent, answered, unanswered


def test_hostile_traffic_on_every_port(build):
    """Garbage and mutated frames on every node's raft and RPC ports, over NNG's TCP wire
    written by hand: raft messages raft_recv must refuse (terms and snapshots past the end
    of their number space, a sender naming the node itself), stale ones, mutated messages
    of every type from a stranger, random bytes, mutated RPC requests, wrong protocol
    numbers, a length past the receive limit, and connections that stall half-way through
    the handshake or a message. Afterwards every node is alive, there is one leader, writes
    go through and the three stores are identical. LT_SEED replays the same frames."""
    seed = int(os.environ.get("LT_SEED") or 20240917)
    rng = random.Random(seed)
    print("  seed %d (replay with LT_SEED=%d)" % (seed, seed))
    with Cluster(build) as c:
        c.wait_leader(timeout=10)
        for i in range(3):
            create(c, "before-hostile-%d" % i)
        ids = [n.id for n in c.nodes]
        stalled, sent, answered, unanswered = [], 0, 0, []
        try:
            for node in c.nodes:
                try:
                    n_sent, n_answered, missing = hostile_traffic(rng, node, ids, stalled)
                except OSError as e:
                    raise Failure("node %d stopped taking connections (%s; alive: %s): %s"
                                  % (node.id, e, node.alive(), node.log_text()[-2000:]))
                sent += n_sent
                answered += n_answered
                unanswered += missing
            check(not unanswered, "every well-formed request answered; missing %r" % unanswered)
            check(answered > 0, "requests were answered")
            print("  %d frames sent, %d answers checked, %d connections held"
                  % (sent, answered, len(stalled)))
            for node in c.nodes:
                check(node.alive(), "node %d survived: %s" % (node.id, node.log_text()[-2000:]))
            leader = c.wait_leader(timeout=20)  # while the stalled connections stay open
            check(leader, "a leader")
        finally:
            for s in stalled:
                s.close()
        for node in c.nodes:
            log = node.log_text()
            check("AddressSanitizer" not in log and "runtime error" not in log,
                  "node %d: no sanitizer report: %s" % (node.id, log[-3000:]))
            # hundreds of malformed batches in about a second: a line a second at most
            warned = log.count("malformed raft batch")
            check(warned <= 5, "node %d: malformed batches logged %d times" % (node.id, warned))
        made = [create(c, "after-hostile-%d" % i) for i in range(5)]
        st = c.wait_converged(timeout=30)
        check(len(st) == 3 and len({s["digest"] for s in st}) == 1, "three identical stores")
        for node in c.nodes:
            check(node.alive(), "node %d alive at the end" % node.id)
            items = list_all(c, node)
            check(all(it["id"] in items for it in made), "the writes on node %d" % node.id)


def test_committed_events_batched(build):
    """A node publishes the entries it commits in CommittedBatch events: under load at most
    one every --event-batch-ms (1 s here), after a quiet spell at once, and before a role
    change those committed earlier; none is lost or reordered."""
    import json
    import subprocess
    from harness import admin_env
    with Cluster(build, node_args=("--event-batch-ms", "1000")) as c:
        lid = c.wait_leader(timeout=10)
        leader = c.node(lid)
        w = subprocess.Popen([c.admin_bin, "watch", "--events", leader.events],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env=admin_env())
        got, lock = [], threading.Lock()  # (receive time, event), in arrival order

        def reader():
            for line in w.stdout:
                ev = json.loads(line)
                with lock:
                    got.append((time.monotonic(), ev))

        def events():
            with lock:
                return list(got)

        def entries(evs):
            return [(ts, int(e["seq"]), x) for ts, e in evs
                    for x in e.get("committedBatch", {}).get("entries", [])]

        def seen(item_id):
            for ts, seq, x in entries(events()):
                if x.get("id") == item_id:
                    return ts, seq
            return None

        threading.Thread(target=reader, daemon=True).start()
        try:
            wait_for("the watcher subscribed (a metrics event)",
                     lambda: any("metrics" in e for _, e in events()), timeout=15)
            # 1. after a quiet spell longer than the interval, a write goes out at once, each
            # of five: the first too, though the election's entries were published less than
            # an interval before it (the quiet spell counts from the last commit, not from the
            # last event; counted from the event, the first was held 0.3-0.6 s)
            late = []
            for i in range(5):
                time.sleep(1.3)
                it = create(c, "lone-%d" % i, endpoints=leader.rpc)
                acked = time.monotonic()
                ts, _ = wait_for("lone-%d's event" % i, lambda: seen(it["id"]))
                late.append(round(ts - acked, 3))
            check(max(late) < 0.5, "lone writes published at once, not held 1 s: %r" % late)
            # 2. under load: about one CommittedBatch a second
            time.sleep(1.3)
            start = len(events())
            t0 = time.monotonic()
            subprocess.run([c.admin_bin, "--endpoints", leader.rpc, "bench", "--type", "write",
                            "--concurrency", "8", "--duration", "3", "--warmup", "0"],
                           capture_output=True, timeout=60, env=admin_env(), check=True)
            secs = time.monotonic() - t0
            time.sleep(1.5)  # the last batch is due at most 1 s after the load ended
            # A flush publishes what waits, 1024 entries an event, all stamped with the end
            # of the first one's apply round; one goes early when 1024 entries wait.
            flushes = {}
            for ts, e in events()[start:]:
                if "committedBatch" in e:
                    f = flushes.setdefault(e["at"], [ts, 0])
                    f[1] += len(e["committedBatch"]["entries"])
            flushes = sorted(flushes.values())
            n_load = sum(n for _, n in flushes)
            check(n_load >= 200, "the load committed entries: %d" % n_load)
            timed = [i for i, (_, n) in enumerate(flushes) if n < 1024]
            check(len(timed) <= secs + 3, "%d entries in %d flushes (%d not forced) over %.1f s"
                  % (n_load, len(flushes), len(timed), secs))
            gaps = [round(flushes[i][0] - flushes[i - 1][0], 3) for i in timed[1:]]
            check(all(g > 0.5 for g in gaps), "a flush not forced waits 1 s: %r" % gaps)
            # 3. a role change: what was committed before it is published before it
            create(c, "flush-a", endpoints=leader.rpc)  # at once; the next one is held
            b = create(c, "flush-b", endpoints=leader.rpc)
            target = next(n.id for n in c.nodes if n.id != lid)
            c.admin("leader", "transfer", str(target))
            role = wait_for("the old leader's role event",
                            lambda: next((int(e["seq"]) for _, e in events()[start:]
                                          if "role" in e), None))
            _, b_seq = wait_for("flush-b's event", lambda: seen(b["id"]))
            check(b_seq < role, "flush-b (seq %d) before the role change (seq %d)"
                  % (b_seq, role))
            # nothing lost, nothing reordered: one event per index, in log order
            idx = [int(x["index"]) for _, _, x in entries(events())]
            check(idx == list(range(idx[0], idx[0] + len(idx))),
                  "indexes %d..%d contiguous and in order" % (idx[0], idx[-1]))
            print("  lone writes seen %r s after their ack; %d entries in %d flushes under "
                  "load (%d not forced by size)" % (late, n_load, len(flushes), len(timed)))
        finally:
            w.kill()
            w.wait()

def test_metrics_fsync_p99_is_recent(build):
    """The 4 Hz metrics event's fsyncP99Us is of the last 2 s of WAL syncs (a live figure,
    which the page plots): 0 on an idle node, set under writes, back to 0 once they stop.
    It was the histogram since the node's start, so the election's syncs stayed in it."""
    import json
    import subprocess
    from harness import admin_env
    with Cluster(build) as c:
        leader = c.node(c.wait_leader(timeout=10))
        w = subprocess.Popen([c.admin_bin, "watch", "--events", leader.events],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env=admin_env())
        got, lock = [], threading.Lock()  # (receive time, fsyncP99Us)

        def reader():
            for line in w.stdout:
                m = json.loads(line).get("metrics")
                if m is not None:
                    with lock:
                        got.append((time.monotonic(), int(m.get("fsyncP99Us", 0))))

        def since(t):
            with lock:
                return [v for ts, v in got if ts >= t]

        threading.Thread(target=reader, daemon=True).start()
        try:
            t = time.monotonic()
            wait_for("an idle leader's fsync p99 of 0 (the election's syncs left its window)",
                     lambda: 0 in since(t), timeout=10)
            t = time.monotonic()
            subprocess.run([c.admin_bin, "--endpoints", leader.rpc, "bench", "--type", "write",
                            "--concurrency", "4", "--duration", "2", "--warmup", "0"],
                           capture_output=True, timeout=60, env=admin_env(), check=True)
            busy = since(t)
            check(len(busy) >= 4 and max(busy) > 0,
                  "fsync p99 shown while writes run: %r" % busy)
            t = time.monotonic()
            wait_for("fsync p99 back to 0 once the writes stopped", lambda: 0 in since(t),
                     timeout=6)
            print("  under writes %d..%d us; idle 0" % (min(busy), max(busy)))
        finally:
            w.kill()
            w.wait()


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
