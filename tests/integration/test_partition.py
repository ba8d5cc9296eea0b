"""test_partition.py — network partitions between real nodes.

Every directed raft link (node i dialing node j) runs through its own TCP proxy on
127.0.0.1, so a test can cut a link (connections closed, new ones refused: the peer is
unreachable) or blackhole it (connections stay up, nothing flows: a silent partition, the
sender's queue fills) in one direction, and heal it. Client RPCs go to the nodes directly.

- An isolated leader is replaced by a leader of a higher term among the others; it steps
  down on its own (CheckQuorum), and acknowledges no write and serves no linearizable
  read while cut off; healed, it rejoins and the three stores are identical.
- A follower that hears nobody (its incoming links blackholed) but can still send does
  not disturb the cluster: PreVote keeps the leader's term, and once healed it catches up.
- Concurrent histories of reads and writes, with clients attached to every node, stay
  linearizable while random partitions come and go.
- Writes pending at a leader cut off from its followers' answers, committed meanwhile by a
  new leader that then compacts its log, are answered "outcome unknown" when the old
  leader installs the snapshot: never "not applied, retry", which clients would act on by
  sending them again.

Run: python3 test_partition.py BUILD_DIR
"""

import json
import os
import random
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, free_port, run_tests, wait_for  # noqa: E402
from histories import check_history, make_registers, run_history  # noqa: E402


class Link:
    """One directed link: a listener that forwards every connection to `target_port`.
    mode: "ok" forwards; "cut" closes its connections and refuses new ones (the peer is
    unreachable); "blackhole" stops reading them (nothing arrives, the sender's buffers and
    queue fill, as on a silent network), and healing lets what waited flow on in order."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.port = free_port()
        self.mode = "ok"
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.pairs = {}  # socket -> its peer socket


class Proxies:
    """Every link of a cluster, served by one thread (selectors, bounded waits)."""

    def __init__(self):
        self.links = {}  # (from_id, to_id) -> Link
        self.lock = threading.Lock()
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.thread = None

    def add(self, src, dst, target_port):
        link = Link(target_port)
        self.links[(src, dst)] = link
        self.sel.register(link.listener, selectors.EVENT_READ, ("listen", link))
        return link

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=10)
        for link in self.links.values():
            for s in list(link.pairs):
                self._drop(link, s)
            link.listener.close()

    def set(self, src, dst, mode):
        with self.lock:
            link = self.links[(src, dst)]
            was, link.mode = link.mode, mode
            if mode == "cut":
                for s in list(link.pairs):
                    self._drop(link, s)
            elif mode == "blackhole" and was != "blackhole":
                for s in link.pairs:  # stop reading: the bytes wait, the sender's queue fills
                    self.sel.unregister(s)
            elif mode == "ok" and was == "blackhole":
                for s in link.pairs:  # what waited flows again, in order, as TCP would
                    self.sel.register(s, selectors.EVENT_READ, ("pump", link))

    def heal(self):
        for key in self.links:
            self.set(key[0], key[1], "ok")

    def isolate(self, nid, mode="cut"):
        for (src, dst) in self.links:
            if nid in (src, dst):
                self.set(src, dst, mode)

    def _drop(self, link, s):
        peer = link.pairs.pop(s, None)
        for x in (s, peer):
            if x is None:
                continue
            link.pairs.pop(x, None)
            try:
                self.sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()

    def _run(self):
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.05):
                kind, link = key.data
                with self.lock:
                    if kind == "listen":
                        self._accept(link)
                    elif key.fileobj in link.pairs:
                        self._pump(link, key.fileobj)

    def _accept(self, link):
        try:
            c, _ = link.listener.accept()
        except OSError:
            return
        if link.mode == "cut":
            c.close()
            return
        try:
            t = socket.create_connection(("127.0.0.1", link.target_port), timeout=1)
        except OSError:
            c.close()
            return
        for x in (c, t):
            x.setblocking(True)
            x.settimeout(2)
        link.pairs[c] = t
        link.pairs[t] = c
        if link.mode == "ok":  # a blackholed link holds new connections unread too
            self.sel.register(c, selectors.EVENT_READ, ("pump", link))
            self.sel.register(t, selectors.EVENT_READ, ("pump", link))

    def _pump(self, link, s):
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(link, s)
            return
        try:
            link.pairs[s].sendall(data)
        except (OSError, KeyError):
            self._drop(link, s)


class PartitionCluster(Cluster):
    def __init__(self, build_dir):
        super().__init__(build_dir)
        self.proxies = Proxies()
        for a in self.nodes:
            for b in self.nodes:
                if a is not b:
                    self.proxies.add(a.id, b.id, int(b.raft.rsplit(":", 1)[1]))

    def peer_raft(self, node, peer):
        return "tcp://127.0.0.1:%d" % self.proxies.links[(node.id, peer.id)].port

    def __enter__(self):
        self.proxies.start()
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self.proxies.close()

    def node_status(self, nid, timeout_ms=1000):
        st = self.status(nodes=[self.node(nid)], timeout_ms=timeout_ms)
        return st[0] if st and st[0].get("healthy") else None


def write(c, nid, key, value, timeout_ms=1000):
    rc, _, _ = c.admin("items", "update", key, json.dumps({"description": value}),
                       endpoints=c.node(nid).rpc, timeout_ms=timeout_ms, check_rc=False)
    return rc == 0


def test_isolated_leader_is_replaced(build):
    with PartitionCluster(build) as c:
        old = c.wait_leader(timeout=10)
        _, it, _ = c.admin("items", "create", json.dumps({"name": "p", "description": "v0"}))
        key = it["id"]
        term0 = int(c.node_status(old)["term"])
        c.proxies.isolate(old, "cut")
        others = [n for n in c.nodes if n.id != old]
        new = wait_for("a new leader among the others",
                       lambda: (lambda lid: lid if lid not in (None, old) else None)(
                           c.leader(nodes=others)), timeout=10, interval=0.1)
        check(int(c.node_status(new)["term"]) > term0, "the new leader has a higher term")
        check(write(c, new, key, "v1"), "the majority side takes writes")
        # cut off, the old leader steps down and neither acknowledges a write nor serves a
        # linearizable read (it would be the stale v0)
        wait_for("the isolated leader to step down",
                 lambda: (c.node_status(old) or {}).get("role") not in (None, "leader"),
                 timeout=5, interval=0.1)
        check(not write(c, old, key, "lost"), "no write acknowledged by the isolated node")
        rc, out, _ = c.admin("items", "get", key, endpoints=c.node(old).rpc, timeout_ms=1000,
                             check_rc=False)
        check(rc != 0, "no linearizable read from the isolated node: %r" % (out,))
        # healed, it rejoins: one leader, three identical stores holding v1
        c.proxies.heal()
        st = c.wait_converged(timeout=30)
        check(len(st) == 3 and len({s["digest"] for s in st}) == 1, "three identical stores")
        for n in c.nodes:
            rc, out, _ = c.admin("items", "get", key, "--serializable", endpoints=n.rpc)
            check(out["description"] == "v1", "node %d holds v1: %r" % (n.id, out))


def test_deaf_follower_does_not_disrupt(build):
    with PartitionCluster(build) as c:
        lid = c.wait_leader(timeout=10)
        term0 = int(c.node_status(lid)["term"])
        deaf = next(n.id for n in c.nodes if n.id != lid)
        for n in c.nodes:
            if n.id != deaf:
                c.proxies.set(n.id, deaf, "blackhole")  # it hears nobody, but can speak
        _, it, _ = c.admin("items", "create", json.dumps({"name": "d"}),
                           endpoints=c.node(lid).rpc)
        time.sleep(2.0)  # a dozen election timeouts of the deaf node
        st = c.node_status(lid)
        check(st and st["role"] == "leader" and int(st["term"]) == term0,
              "PreVote: the leader keeps term %d: %r" % (term0, st))
        for i in range(20):
            check(write(c, lid, it["id"], "w%d" % i), "writes go on")
        lead, behind = c.node_status(lid), c.node_status(deaf)
        check(behind and int(behind["applied"]) + 20 <= int(lead["applied"]),
              "the deaf node heard none of it: %r vs %r" % (behind, lead))
        c.proxies.heal()
        st = c.wait_converged(timeout=30)
        check(len({s["digest"] for s in st}) == 1, "the deaf node caught up")
        check(int(c.node_status(lid)["term"]) == term0 and c.leader() == lid,
              "still one leader, same term, after healing")


def test_history_under_partitions_is_linearizable(build):
    with PartitionCluster(build) as c:
        c.wait_leader(timeout=10)
        keys = make_registers(c)
        rnd = random.Random(int(os.environ.get("LITHAIR_PARTITION_SEED", time.time())))
        faults = []
        lid = c.wait_leader(timeout=10)
        term0 = int(c.node_status(lid)["term"])

        def nemesis(stop):
            try:
                for step in range(6):
                    time.sleep(0.8)
                    # the first fault isolates the leader (so the history spans a change of
                    # leader for sure), the others are drawn
                    victim = lid if step == 0 else rnd.randint(1, 3)
                    kind = "isolate" if step == 0 else rnd.choice(["isolate", "blackhole",
                                                                   "one-way"])
                    if kind == "isolate":
                        c.proxies.isolate(victim, "cut")
                    elif kind == "blackhole":
                        c.proxies.isolate(victim, "blackhole")
                    else:
                        other = rnd.choice([n.id for n in c.nodes if n.id != victim])
                        c.proxies.set(victim, other, "cut")
                    faults.append("%s %d" % (kind, victim))
                    time.sleep(rnd.uniform(0.5, 1.5))
                    c.proxies.heal()
            finally:
                c.proxies.heal()
                time.sleep(1.0)

        history = run_history(c, keys, 6, nemesis)
        print("  faults: %s" % ", ".join(faults))
        check_history(history)
        st = c.wait_converged(timeout=30)
        check(len({s["digest"] for s in st}) == 1, "three identical stores after healing")
        check(int(st[0]["term"]) > term0, "the history spans a change of leader: term %s, was %d"
              % (st[0]["term"], term0))


def pending_across_snapshot_install(build):
    """One run of the scenario below; checks its safety, returns whether a write was
    pending at the old leader when the snapshot arrived (the case it is for)."""
    c = PartitionCluster(build)
    c.node_args = ("--compact-keep", "20", "--snapshot-interval", "0")
    with c:
        lid = c.wait_leader(timeout=10)
        others = [n for n in c.nodes if n.id != lid]
        # the old leader first: every call starts there, and is sent on elsewhere on a
        # "not the leader" or "unavailable"
        eps = c.endpoints([c.node(lid)] + others)
        stop = threading.Event()
        results = []  # (name, rc, stderr)
        lock = threading.Lock()

        def writer(k):
            for i in range(400):
                if stop.is_set():
                    return
                name = "w%d-%d" % (k, i)
                rc, _, err = c.admin("items", "create", json.dumps({"name": name}),
                                     endpoints=eps, timeout_ms=20000, check_rc=False)
                with lock:
                    results.append((name, rc, err.strip()))

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(12)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.5)
            for f in others:  # the followers' answers to the old leader are lost
                c.proxies.set(f.id, lid, "cut")
            new = wait_for("a new leader among the others",
                           lambda: (lambda x: x if x not in (None, lid) else None)(
                               c.leader(nodes=others)), timeout=15, interval=0.1)
            ep_new = c.endpoints([c.node(new)])
            c.admin("bench", "--duration", "1", "--warmup", "0", "--concurrency", "8",
                    endpoints=ep_new, timeout_ms=5000)
            c.admin("snapshot", endpoints=ep_new, timeout_ms=10000)
            c.proxies.heal()
            wait_for("the old leader to install the new leader's snapshot",
                     lambda: "received snapshot" in c.node(lid).log_text(), timeout=20,
                     interval=0.2)
            # more entries for the old leader to apply after the snapshot (a pending
            # write is then past its index)
            c.admin("bench", "--duration", "1", "--warmup", "0", "--concurrency", "4",
                    endpoints=ep_new, timeout_ms=5000)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        check(not any(t.is_alive() for t in threads), "the writers finished")
        st = c.wait_converged(timeout=30)
        check(len({s["digest"] for s in st}) == 1, "three identical stores")
        _, items, _ = c.admin("items", "list", "--all", endpoints=ep_new, timeout_ms=20000)
        counts = {}
        for it in (items.get("items", []) if isinstance(items, dict) else items):
            counts[it["name"]] = counts.get(it["name"], 0) + 1
        twice = sorted(n for n, k in counts.items() if k > 1 and n.startswith("w"))
        lost = [n for n, rc, _ in results if rc == 0 and counts.get(n, 0) != 1]
        unknown = [(n, e) for n, rc, e in results if rc != 0]
        print("  %d writes: %d acknowledged, %d of unknown outcome (%d answered by the "
              "snapshot's rule)" % (len(results), len(results) - len(unknown), len(unknown),
                                    sum("a snapshot replaced" in e for _, e in unknown)))
        check(not twice, "writes stored twice: %s" % twice[:10])
        check(not lost, "acknowledged writes not stored exactly once: %s" % lost[:10])
        return any("a snapshot replaced" in e for _, e in unknown)

def test_write_pending_across_snapshot_install_is_not_sent_twice(build):
    """Writes pending at a leader whose followers' answers are cut: a new leader commits
    them, moves on and compacts its log; healed, the old leader installs its snapshot and
    must not answer them "not applied, retry" (clients would send them again and apply
    them twice), but "outcome unknown". Every write carries a unique name; no name may be
    stored twice, and every acknowledged one once."""
    # Whether the old leader still has writes pending when the snapshot arrives depends on
    # timing (in some runs all of them are acknowledged before it arrives; the checks hold
    # either way): up to three runs, each checked in full, until one exercises the case.
    for attempt in range(3):
        if pending_across_snapshot_install(build):
            return
        print("  attempt %d: no write was pending at the old leader when it installed the "
              "snapshot; again" % (attempt + 1))
    check(False, "in three runs no write was pending at the old leader when it installed "
          "the snapshot: the case was not exercised")


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
