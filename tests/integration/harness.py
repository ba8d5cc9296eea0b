"""harness.py — start real lithair-node clusters on 127.0.0.1 for integration tests.

A Cluster runs N lithair-node processes on free ports in a fresh temporary directory and
drives them with the real lithair-admin CLI (-w json). Every wait is bounded in time;
every process is killed when the test ends, whatever happens. Tests are plain functions
named test_*; run_tests() runs them and ends with the line "N passed, F failed".

Usage: python3 test_x.py BUILD_DIR [TEST_NAME...]
"""

import json
import os
import re
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback


def admin_env():
    """The environment for lithair-admin runs: nng's exit-time dialer race is suppressed
    for LeakSanitizer (see lsan-nng-admin.supp); everything else is reported as usual."""
    env = dict(os.environ)
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan-nng-admin.supp")
    opts = env.get("LSAN_OPTIONS", "")
    env["LSAN_OPTIONS"] = (opts + ":" if opts else "") + "suppressions=" + supp
    return env


def agreed_digests(build_dir, urls, count=3):
    """The three nodes' `lithair-admin status --digest` rows when all are healthy and agree
    on the applied index and the store's digest, else None (for wait_for)."""
    p = subprocess.run([os.path.join(build_dir, "tools", "admin", "lithair-admin"),
                        "--endpoints", ",".join(urls), "-w", "json", "--timeout", "3000",
                        "status", "--digest"], capture_output=True, text=True, timeout=30,
                       env=admin_env())
    try:
        out = json.loads(p.stdout)
    except ValueError:
        return None
    if len(out) != count or not all(o.get("healthy") for o in out):
        return None
    if len({(o.get("digest"), o.get("digestIndex"), o.get("applied")) for o in out}) != 1:
        return None
    return out


def pb_varint(v):
    """A protobuf base-128 varint (tests that hand-build wire messages)."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_parse(data):
    """The fields of a protobuf message: {number: last value} (varints and bytes only).
    ValueError for bytes that are not such a message (a bad wire type, cut short)."""
    fields, i = {}, 0

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            if i >= len(data):
                raise ValueError("cut short at byte %d" % i)
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
    while i < len(data):
        key = varint()
        wt = key & 7
        if wt == 0:
            fields[key >> 3] = varint()
        elif wt == 2:
            n = varint()
            fields[key >> 3] = data[i:i + n]
            i += n
        elif wt in (1, 5):
            i += 8 if wt == 1 else 4
        else:
            raise ValueError("wire type %d" % wt)
    return fields


_given_ports = set()
_port_locks = []  # open lock files: held until this process exits


def _claim_port(p):
    """Takes an exclusive lock on a file named after port `p`, shared by every test process
    on the machine (ctest runs two at once): a port given to one is never given to another
    while the first lives, however their random draws fall. False if another holds it."""
    import fcntl
    d = os.path.join(tempfile.gettempdir(), "lithair-test-ports")
    try:
        os.makedirs(d, exist_ok=True)
        fd = os.open(os.path.join(d, "%d.lock" % p), os.O_CREAT | os.O_RDWR, 0o666)
    except OSError:
        return True  # no lock directory: fall back to the bind check alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _port_locks.append(fd)
    return True


def _port_range():
    """Where free ports are drawn: from 10000 to the start of the kernel's ephemeral range."""
    lo, hi = 10000, 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            hi = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return lo, hi


def free_port():
    """A free port on 127.0.0.1, never the same twice in this process nor, while it runs,
    to another test process (_claim_port). Drawn at random from below the kernel's
    ephemeral range: a port from inside it (what bind(0) gives) can be taken as the source
    port of any outgoing connection before the process it is meant for binds it, which
    parallel tests make likely enough to have been seen."""
    lo, hi = _port_range()
    for _ in range(200):
        p = random.randrange(lo, hi) if hi > lo else 0
        if p in _given_ports or not _claim_port(p):
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
            p = s.getsockname()[1]
        _given_ports.add(p)
        return p
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_block(offsets):
    """A base port such that base + o is free (and claimed, as free_port's are) for every
    o in `offsets`: for a program that derives its ports from one base."""
    lo, hi = _port_range()
    for _ in range(200):
        base = random.randrange(lo, hi - max(offsets))
        ports = [base + o for o in offsets]
        if any(p in _given_ports for p in ports):
            continue
        ok = True
        for p in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
            if not ok or not _claim_port(p):
                ok = False
                break
        if ok:
            _given_ports.update(ports)
            return base
    raise Failure("no free block of ports for offsets %r" % (offsets,))


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def help_entry(text, flag):
    """The entry of `flag` in a --help text: its line ("  --flag ...") and the indented lines
    that continue it, joined by single spaces (None when --help does not list it)."""
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if re.match(r"\s{2,}%s\b" % re.escape(flag), ln) and not ln.lstrip().startswith(flag + "-"):
            out = [ln.strip()]
            for nxt in lines[i + 1:]:
                if not nxt.startswith(" " * 20) or nxt.strip().startswith("--"):
                    break
                out.append(nxt.strip())
            return " ".join(out)
    return None


def range_refused(err):
    """(low, high) from an out-of-range flag's error "FLAG takes a number from LOW to HIGH"
    (also "takes milliseconds (LOW..HIGH)"), None if it names none."""
    m = re.search(r"takes a number from (\S+) to (\S+?),? not|\((\d+)\.\.(\d+)\)", err)
    if not m:
        return None
    return (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))


def wait_for(what, fn, timeout=10.0, interval=0.05):
    """Calls fn until it returns a true value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Failure as e:
            last = e
        time.sleep(interval)
    raise Failure("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


def read_log(path):
    """The text of a process's log file, "" if there is none (bad UTF-8 replaced)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


class Node:
    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        self.raft = "tcp://127.0.0.1:%d" % free_port()
        self.rpc = "tcp://127.0.0.1:%d" % free_port()
        self.events = "tcp://127.0.0.1:%d" % free_port()
        self.dir = os.path.join(cluster.root, "node%d" % node_id)
        self.log = os.path.join(cluster.root, "node%d.log" % node_id)
        self.proc = None

    def start(self, extra=()):
        args = [self.cluster.node_bin, "--id", str(self.id), "--data-dir", self.dir,
                "--raft", self.raft, "--rpc", self.rpc, "--events", self.events]
        for m in self.cluster.nodes:
            raft = m.raft if m is self else self.cluster.peer_raft(self, m)
            args += ["--peer", "%d,%s,%s,%s" % (m.id, raft, m.rpc, m.events)]
        if self.cluster.pin:
            cpus = sorted(os.sched_getaffinity(0))
            if len(cpus) >= 2:  # as lithair-gateway --node-cpus auto does
                args += ["--cpu", str(cpus[(self.id - 1) % len(cpus)])]
        args += list(self.cluster.node_args) + list(extra)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        return read_log(self.log)


class Cluster:
    def __init__(self, build_dir, n=3, node_args=(), pin=False):
        """pin: node I runs on the (I-1 mod K)th CPU this process may use (lithair-node
        --cpu), as the gateway's supervisor places them; benchmarks use it."""
        self.build_dir = build_dir
        self.pin = pin
        self.node_bin = os.path.join(build_dir, "node", "lithair-node")
        self.admin_bin = os.path.join(build_dir, "tools", "admin", "lithair-admin")
        self.root = tempfile.mkdtemp(prefix="lithair-it-")
        self.node_args = node_args
        self.nodes = [None] * n
        for i in range(n):
            self.nodes[i] = Node(self, i + 1)

    def __enter__(self):
        for node in self.nodes:
            node.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        for node in self.nodes:
            node.kill()
        if exc_type is not None:
            for node in self.nodes:
                sys.stderr.write("---- log of node %d ----\n%s\n" % (node.id, node.log_text()[-6000:]))
        shutil.rmtree(self.root, ignore_errors=True)
        return False

    def peer_raft(self, node, peer):
        """The raft URL `node` dials to reach `peer` (a test may put a proxy between)."""
        return peer.raft

    def node(self, node_id):
        return self.nodes[node_id - 1]

    def endpoints(self, nodes=None):
        return ",".join(n.rpc for n in (nodes or self.nodes))

    def admin(self, *args, endpoints=None, timeout_ms=3000, check_rc=True, stdin=None):
        """Runs lithair-admin -w json; returns (rc, parsed JSON or None, stderr)."""
        cmd = [self.admin_bin, "--endpoints", endpoints or self.endpoints(), "-w", "json",
               "--timeout", str(timeout_ms)] + [str(a) for a in args]
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                           timeout=timeout_ms / 1000.0 + 30, env=admin_env())
        out = None
        if p.stdout.strip():
            try:
                out = json.loads(p.stdout)
            except ValueError:
                out = p.stdout
        if check_rc and p.returncode != 0:
            raise Failure("lithair-admin %s failed (%d): %s" % (" ".join(map(str, args)),
                                                                p.returncode, p.stderr.strip()))
        return p.returncode, out, p.stderr

    def status(self, digest=False, nodes=None, timeout_ms=1000):
        args = ["status"] + (["--digest"] if digest else [])
        _, out, _ = self.admin(*args, endpoints=self.endpoints(nodes) if nodes else None,
                               check_rc=False, timeout_ms=timeout_ms)
        return out if isinstance(out, list) else []

    def leader(self, nodes=None, timeout_ms=1000):
        """The id of the single leader all live nodes agree on, or None. `nodes`: ask only
        these (a status call that includes a killed node waits for it)."""
        st = [s for s in self.status(nodes=nodes, timeout_ms=timeout_ms) if s.get("healthy")]
        leaders = [s for s in st if s.get("role") == "leader"]
        if len(leaders) != 1:
            return None
        lid = int(leaders[0]["id"])
        term = leaders[0].get("term")
        return lid if all(s.get("leaderId") == str(lid) or int(s.get("leaderId", 0)) == lid
                          for s in st if s.get("term") == term) else None

    def wait_leader(self, timeout=10.0, not_id=None):
        def fn():
            lid = self.leader()
            return lid if lid and lid != not_id else None
        return wait_for("a leader", fn, timeout=timeout)

    def wait_converged(self, timeout=20.0):
        """Waits until every live node applied the same index with the same store digest."""
        def fn():
            st = [s for s in self.status(digest=True) if s.get("healthy")]
            live = [n for n in self.nodes if n.alive()]
            if len(st) != len(live):
                return None
            applied = {s.get("applied", "0") for s in st}
            digests = {(s.get("digest", "0"), s.get("digestIndex", "0")) for s in st}
            return st if len(applied) == 1 and len(digests) == 1 else None
        return wait_for("all nodes to converge", fn, timeout=timeout, interval=0.2)


def run_tests(module_globals):
    if len(sys.argv) < 2:
        print("usage: %s BUILD_DIR [TEST...]" % sys.argv[0], file=sys.stderr)
        return 2
    build_dir = os.path.abspath(sys.argv[1])
    only = set(sys.argv[2:])
    tests = [(k, v) for k, v in module_globals.items() if k.startswith("test_") and callable(v)]
    passed = failed = 0
    for name, fn in tests:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        try:
            fn(build_dir)
            passed += 1
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print("FAIL %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1
