"""test_disk_full.py — a cluster whose disk fills up. With the free-space guard
(--min-free-mb) the leader refuses creates and updates before any member's disk is full
(its own or a follower's, which each stamps on its raft messages), and nothing stops.
Without it: snapshots that find no room fail and are tried again later, not on every pass
of the loop, while writes go on in the WAL's room; nodes that cannot write
their WAL stop with a message that says so, no acknowledged write is lost, and once there
is room again they restart, catch up and agree. A follower refuses a snapshot from its
leader that would leave less than --min-free-mb, and takes it once there is room.

The three nodes keep their data on a small tmpfs of their own: the test re-runs itself in a
private mount namespace (`unshare -m`, as root — the suite's machines are), mounts the
tmpfs on a temporary directory there, and grows it (`mount -o remount,size=`) to give the
room back. Nothing is mounted outside that namespace, and the mount goes with it.

Run: python3 test_disk_full.py BUILD_DIR [TEST...]
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, run_tests, wait_for  # noqa: E402

IN_NS = "LT_TEST_MOUNT_NS"
FULL_MB = 96  # three nodes' WALs of 4 MiB segments fill this in a few seconds
ROOM_MB = 1024
PAD = "x" * 60000  # an item's metadata: up to 64 KiB (models.c)


def mount_tmpfs(path, size_mb, remount=False):
    opts = ("remount," if remount else "") + "size=%dm" % size_mb
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], check=True)


class SmallDisk:
    """A tmpfs of `size_mb` for a cluster's data dirs (its logs go elsewhere: a full disk
    would swallow their last lines)."""

    def __init__(self, build, size_mb, node_args):
        self.mnt = tempfile.mkdtemp(prefix="lithair-diskfull-")
        self.logs = tempfile.mkdtemp(prefix="lithair-diskfull-logs-")
        mount_tmpfs(self.mnt, size_mb)
        tempfile.tempdir = self.mnt
        try:
            self.cluster = Cluster(build, node_args=node_args)
        finally:
            tempfile.tempdir = None
        for n in self.cluster.nodes:
            n.log = os.path.join(self.logs, "node%d.log" % n.id)

    def grow(self, size_mb):
        mount_tmpfs(self.mnt, size_mb, remount=True)

    def temp_files(self):
        """Temp files (an unfinished snapshot's) under the nodes' data dirs."""
        return [os.path.join(root, f) for n in self.cluster.nodes
                for root, _, files in os.walk(n.dir) for f in files if ".tmp" in f]

    def close(self):
        subprocess.run(["umount", "-l", self.mnt], check=False)
        shutil.rmtree(self.mnt, ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)


def big_item(c, name):
    body = json.dumps({"name": name, "metadata": {"pad": PAD}})
    return c.admin("items", "create", body, check_rc=False, timeout_ms=3000)


def write_once_there_is_room(c):
    """Writes resume within a check or two of the free space (4 Hz) once there is room."""
    t0 = time.monotonic()
    rc, err = 1, ""
    while time.monotonic() - t0 < 10:
        rc, _, err = big_item(c, "after-room")
        if rc == 0:
            return
        time.sleep(0.1)
    check(rc == 0, "a write once there is room: %s" % err)


def test_snapshot_without_room_backs_off(build):
    disk = SmallDisk(build, 64, ("--wal-segment-mb", "4", "--snapshot-interval", "20",
                                 "--min-free-mb", "0"))
    try:
        with disk.cluster as c:
            c.wait_leader(timeout=10)
            for i in range(30):  # a store of 1.8 MB per node; snapshots come and go
                rc, _, err = big_item(c, "big-%d" % i)
                check(rc == 0, "write %d: %s" % (i, err))
            # fill what is left of the disk: a snapshot (the whole store) no longer fits,
            # while each WAL still has megabytes of zeros written ahead of its records
            ballast = os.path.join(disk.mnt, "ballast")
            with open(ballast, "wb") as f:
                try:
                    for _ in range(64):
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError:
                    pass
            try:
                with open(ballast, "ab") as f:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
            except OSError:
                pass
            print("  disk after the ballast: %s" % (shutil.disk_usage(disk.mnt),))
            logs_at = [os.path.getsize(n.log) for n in c.nodes]
            t0 = time.monotonic()
            for i in range(150):  # small writes for about 6 s: snapshots fall due and fail
                _, out, _ = c.admin("items", "create", '{"name":"small-%d"}' % i)
                check(out.get("version") in (1, "1"), "small write %d: %r" % (i, out))
                time.sleep(max(0.0, t0 + 0.04 * (i + 1) - time.monotonic()))
            took = time.monotonic() - t0
            failed = []
            for n, at in zip(c.nodes, logs_at):
                check(n.alive(), "node %d still serves: its WAL had room" % n.id)
                with open(n.log, errors="replace") as f:
                    f.seek(at)
                    failed.append(len(re.findall(r"snapshot at \d+ failed: no space left",
                                                 f.read())))
            print("  %.1f s of writes; failed snapshots per node: %s" % (took, failed))
            check(sum(failed) >= 1, "snapshots fell due and found no room: %s" % failed)
            # 1 s, 2 s, 4 s ... between tries: at most 1 + log2(took) tries each
            most = 2 + int(took).bit_length()
            check(max(failed) <= most, "snapshots retried at most %d times in %.1f s, not on "
                  "every pass of the loop: %s" % (most, took, failed))

            os.unlink(ballast)  # room again: a requested snapshot does not wait
            _, snaps, _ = c.admin("snapshot", timeout_ms=20000)
            check(len(snaps) == 3 and all(int(s.get("index", "0")) >= 180 for s in snaps),
                  "a snapshot on every node once there is room: %r" % snaps)
            check(not disk.temp_files(), "temp files left: %r" % disk.temp_files())
    finally:
        disk.close()


def test_disk_full_stops_cleanly_and_loses_nothing(build):
    # no free-space guard (--min-free-mb 0): the disk really fills under the WALs
    disk = SmallDisk(build, FULL_MB, ("--wal-segment-mb", "4", "--snapshot-interval", "200",
                                      "--min-free-mb", "0"))
    try:
        with disk.cluster as c:
            c.wait_leader(timeout=10)
            acked, refused = {}, []
            lock = threading.Lock()
            stop = threading.Event()

            def writer(w):
                for i in range(400):  # 400 x 60 KB x 4 writers: far more than fits
                    if stop.is_set():
                        return
                    name = "full-%d-%d" % (w, i)
                    rc, out, err = big_item(c, name)
                    with lock:
                        if rc == 0:
                            acked[out["id"]] = name
                        else:
                            refused.append(err.strip())
                            if len(refused) >= 40:  # the cluster has stopped taking writes
                                stop.set()

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=240)
            check(not any(t.is_alive() for t in threads), "the writers ended")
            print("  %d writes acknowledged, %d refused; disk: %s"
                  % (len(acked), len(refused), shutil.disk_usage(disk.mnt)))
            check(len(acked) > 50, "writes went through before the disk filled")
            check(len(refused) >= 40, "the full disk stopped the writes: %r" % refused[-3:])

            stopped = [n for n in c.nodes if not n.alive()]
            check(stopped, "a node that cannot write its WAL stops")
            for n in stopped:
                log = n.log_text()
                check("no space left" in log and "stopped: no space left" in log,
                      "node %d says why it stopped: %r" % (n.id, log[-600:]))

            # room again: the stopped nodes restart, recover their WAL and catch up
            disk.grow(ROOM_MB)
            for n in stopped:
                n.start()
            c.wait_leader(timeout=20)
            st = c.wait_converged(timeout=60)
            check(len(st) == 3 and len({s["digest"] for s in st}) == 1,
                  "three identical stores after the restart")
            for n in c.nodes:
                _, out, _ = c.admin("items", "list", "--all", "--serializable", "--limit", "1000",
                                    endpoints=n.rpc, timeout_ms=20000)
                items = {it["id"]: it["name"] for it in out["items"]}
                missing = [i for i in acked if i not in items]
                check(not missing, "node %d lost %d acknowledged writes" % (n.id, len(missing)))
                wrong = [i for i, name in acked.items() if items[i] != name]
                check(not wrong, "node %d: content of %d acknowledged writes" % (n.id, len(wrong)))
            _, out, _ = c.admin("items", "create", '{"name":"after the disk had room again"}')
            check(out.get("version") in (1, "1"), "a write after the restart: %r" % out)
            check(not disk.temp_files(), "temp files left: %r" % disk.temp_files())
    finally:
        disk.close()


def test_nearly_full_disk_refuses_writes(build):
    """With --min-free-mb, the leader refuses creates and updates while its disk is nearly
    full: no node stops, reads and deletes go on, and writes resume once there is room."""
    disk = SmallDisk(build, 128, ("--wal-segment-mb", "4", "--min-free-mb", "48"))
    try:
        with disk.cluster as c:
            c.wait_leader(timeout=10)
            acked, refused = {}, []
            for i in range(1000):  # 1000 x 60 KB x 3 nodes: far more than 128 - 48 MB
                rc, out, err = big_item(c, "near-%d" % i)
                if rc == 0:
                    acked[out["id"]] = "near-%d" % i
                else:
                    refused.append(err.strip())
                    if len(refused) >= 5:
                        break
            print("  %d writes acknowledged, then refused: %r; disk: %s"
                  % (len(acked), refused[:1], shutil.disk_usage(disk.mnt)))
            check(len(acked) > 50, "writes went through before the disk filled")
            check(len(refused) >= 5 and all("disk is nearly full" in e and "--min-free-mb" in e
                                            for e in refused), "refused with the reason: %r"
                  % refused[:2])
            check(all(n.alive() for n in c.nodes), "no node stopped")
            for n in c.nodes:
                check("no space left" not in n.log_text(), "node %d hit the full disk" % n.id)
            def low_everywhere():  # each node reads the free space 4 times a second
                _, ws, _ = c.admin("wal-stats")
                return ws if all(int(w["minFreeBytes"]) == 48 << 20 and
                                 int(w["diskFreeBytes"]) < 48 << 20 for w in ws) else None
            wait_for("wal-stats to name the free space below the limit on every node",
                     low_everywhere, timeout=3, interval=0.2)
            # reads and deletes go on
            first = next(iter(acked))
            _, got, _ = c.admin("items", "get", first)
            check(got["name"] == acked[first], "a read: %r" % got)
            _, _, _ = c.admin("items", "delete", first)
            del acked[first]
            # room again: writes resume within a check or two (4 Hz)
            disk.grow(ROOM_MB)
            write_once_there_is_room(c)
            st = c.wait_converged(timeout=30)
            check(len({s["digest"] for s in st}) == 1, "three identical stores")
            _, out, _ = c.admin("items", "list", "--all", "--serializable", "--limit", "1000")
            names = {it["id"]: it["name"] for it in out["items"]}
            check(all(names.get(i) == name for i, name in acked.items()),
                  "every acknowledged write is there")
    finally:
        disk.close()


def test_follower_disk_low_refuses_writes(build):
    """The leader refuses creates and updates while a follower's disk is below its
    --min-free-mb too, naming that follower, so that no node stops (QA: the followers'
    disks filled up while the leader's had room; both stopped, and the cluster lost its
    majority). The followers' data dirs are on a small tmpfs, the leader's on a large one."""
    small = tempfile.mkdtemp(prefix="lithair-diskfull-small-")
    big = tempfile.mkdtemp(prefix="lithair-diskfull-big-")
    mount_tmpfs(small, 128)
    mount_tmpfs(big, ROOM_MB)
    try:
        c = Cluster(build, node_args=("--wal-segment-mb", "4", "--min-free-mb", "48"))
        c.node(1).dir = os.path.join(big, "node1")
        for n in (c.node(2), c.node(3)):
            n.dir = os.path.join(small, "node%d" % n.id)
        with c:
            lead = c.wait_leader(timeout=10)
            if int(lead) != 1:
                c.admin("leader", "transfer", "1", timeout_ms=5000)
                wait_for("node 1 to lead", lambda: c.leader() == 1, timeout=10)
            acked, refused = 0, []
            for i in range(1000):  # 1000 x 60 KB x 2 followers: far more than 128 - 48 MB
                rc, _, err = big_item(c, "near-%d" % i)
                if rc == 0:
                    acked += 1
                else:
                    refused.append(err.strip())
                    if len(refused) >= 5:
                        break
            print("  %d writes acknowledged, then refused: %r" % (acked, refused[:1]))
            check(acked > 50, "writes went through before the followers' disks filled")
            check(len(refused) >= 5 and all(
                ("node 2's disk" in e or "node 3's disk" in e) and "--min-free-mb" in e
                for e in refused), "refused naming a follower's disk: %r" % refused[:2])
            check(all(n.alive() for n in c.nodes), "no node stopped")
            for n in c.nodes:
                check("no space left" not in n.log_text(), "node %d hit the full disk" % n.id)
            mount_tmpfs(small, ROOM_MB, remount=True)
            write_once_there_is_room(c)
            st = c.wait_converged(timeout=30)
            check(len({s["digest"] for s in st}) == 1, "three identical stores")
    finally:
        for m in (small, big):
            subprocess.run(["umount", "-l", m], check=False)
            shutil.rmtree(m, ignore_errors=True)


def test_follower_refuses_snapshot_without_room(build):
    """A follower far behind is sent a snapshot larger than the room left above its
    --min-free-mb: it refuses it, saying so, writes nothing of it and keeps running (the
    three nodes share this disk: written anyway, the snapshot would take the room every
    WAL needs); with room again it takes the leader's next try and catches up."""
    disk = SmallDisk(build, 384, ("--wal-segment-mb", "4", "--min-free-mb", "16",
                                  "--compact-keep", "5", "--snapshot-interval", "0"))
    try:
        with disk.cluster as c:
            leader = c.wait_leader(timeout=10)
            lagger = next(n for n in c.nodes if n.id != leader)
            others = [n for n in c.nodes if n is not lagger]
            lagger.kill(signal.SIGKILL)
            # a store of 10-20 MB (benchmark items of 4 KiB)
            _, out, _ = c.admin("bench", "--type", "write", "--concurrency", "16", "--duration",
                                "2", "--payload-size", "4096", "--warmup", "0",
                                endpoints=c.endpoints(others), timeout_ms=5000)
            check(out["ops"] - out["errors"] > 1000, "the writes went through: %r" % out)
            _, snaps, _ = c.admin("snapshot", endpoints=c.endpoints(others), timeout_ms=20000)
            size = max(int(s["bytes"]) for s in snaps)
            # leave 16 MB + half the snapshot free: the leader still takes writes, the
            # snapshot does not fit above the limit
            # The nodes may still be deleting the WAL segments the snapshot covers (a thread
            # does it after the answer): the ballast grows until the free space stays at the
            # target, else the room it left could fit the snapshot after all (seen on a
            # loaded machine: 100 MB free where 45 were meant).
            ballast = os.path.join(disk.mnt, "ballast")
            target = (16 << 20) + size // 2
            check(shutil.disk_usage(disk.mnt).free > target, "room for the ballast")
            steady = 0
            with open(ballast, "wb") as f:
                for _ in range(50):  # at most about 10 s
                    extra = shutil.disk_usage(disk.mnt).free - target
                    while extra > 0:
                        k = min(extra, 1 << 20)
                        f.write(b"\0" * k)
                        extra -= k
                    f.flush()
                    os.fsync(f.fileno())
                    steady = steady + 1 if shutil.disk_usage(disk.mnt).free <= target + (1 << 20) \
                        else 0
                    if steady == 3:
                        break
                    time.sleep(0.2)
            check(steady == 3, "the free space settled at the target")
            free_before = shutil.disk_usage(disk.mnt).free
            print("  a %.1f MB snapshot; %.1f MB free" % (size / 1e6, free_before / 1e6))
            lagger.start()
            wait_for("the follower to refuse the snapshot",
                     lambda: "no room for snapshot" in lagger.log_text(), timeout=20,
                     interval=0.2)
            line = next(ln for ln in lagger.log_text().splitlines() if "no room for snapshot" in ln)
            print("  " + line.split(" ", 3)[-1])
            check("--min-free-mb 16" in line and disk.mnt in line, "the line names the disk and "
                  "the limit: %r" % line)
            time.sleep(1)
            check(all(n.alive() for n in c.nodes), "every node runs")
            check(not disk.temp_files(), "nothing of the snapshot written: %r" % disk.temp_files())
            check(shutil.disk_usage(disk.mnt).free >= free_before - (4 << 20),
                  "the free space is still there")
            rc, _, err = big_item(c, "while-refused")
            check(rc == 0, "the leader takes writes meanwhile: %s" % err)
            os.unlink(ballast)  # room again: the leader's next try goes through
            st = c.wait_converged(timeout=60)
            check(len(st) == 3 and len({s["digest"] for s in st}) == 1, "three identical stores")
            check("received snapshot" in lagger.log_text(), "caught up through the snapshot")
    finally:
        disk.close()


def main():
    if os.environ.get(IN_NS) != "1":
        # this process again, in a mount namespace of its own
        env = dict(os.environ, **{IN_NS: "1"})
        cmd = ["unshare", "--mount", "--propagation", "private", sys.executable,
               os.path.abspath(__file__)] + sys.argv[1:]
        return subprocess.call(cmd, env=env)
    return run_tests(globals())


if __name__ == "__main__":
    sys.exit(main())
