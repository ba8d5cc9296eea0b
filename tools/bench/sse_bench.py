#!/usr/bin/env python3
"""sse_bench.py — how fast committed entries reach an SSE client, idle and while a
saturating write load runs through the gateway (issue 6: "SSE events reach a client
within 50 ms p99 of commit").

Starts `lithair-gateway --spawn 3` (free ports, a temporary data dir), waits for a leader,
opens ONE stream to the combined /_playground/events with a plain socket, then:
  idle:  IDLE seconds of a low-rate writer (RATE POST /api/items a second), nothing else;
  load:  `wrk -t2 -c64` POST /api/items with a 256-byte description for SECONDS (python
         processes instead when wrk is missing), the low-rate writer running alongside.
For every `committed` event received it records  receive time - "at"  (the node's publish
time, right after it applied the entry; same machine, same clock): "commit -> SSE". For
the low-rate writer's own items it records  SSE receive time - the POST's 201 response
time  for the first committed event carrying that id (any node): "201 -> SSE" (can be
negative: the leader publishes right after applying, before the 201 leaves the gateway),
and its part  at - 201  spent before that node published (a follower applies later than
the leader; the rest is delivery).
The gateway passes at most 200 committed events a second per node, so under load most of
the writer's items are never seen: the count seen is printed.

Prints figures; asserts nothing. Needs a Release build. Every process it starts is stopped
on exit, Ctrl-C included.

Usage: tools/bench/sse_bench.py BUILD_DIR [--seconds N] [--idle-seconds N] [--rate R]
                                [--connections C] [--json]
"""

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DESC = "x" * 256


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(port, method, path, body=None, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body) if body is not None else None
        c.request(method, path, body=data,
                  headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        text = r.read()
        return r.status, json.loads(text) if text else None
    finally:
        c.close()


def pct(values, p):
    """Nearest-rank percentile of a sorted list."""
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(-(-p * len(values) // 100)) - 1))
    return values[k]


def summary(values):
    v = sorted(values)
    return {"count": len(v), "p50": pct(v, 50), "p99": pct(v, 99),
            "max": v[-1] if v else float("nan")}


class SseReader:
    """One stream; for each `committed` event: (phase, node, id, receive ms, at ms).
    The receive time is taken when recv() returns the bytes, before any parsing."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"GET /_playground/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Accept: text/event-stream\r\n\r\n")
        self.sock.settimeout(None)
        self.phase = "warmup"
        self.records = []
        self.first_seen = {}  # item id -> (receive ms, node, at) of its first committed event
        self.skipped = {}  # phase -> committed events the gateway reported left out
        self.other = 0
        self.head = None
        self.ended = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        buf = b""
        try:
            while True:
                data = self.sock.recv(262144)
                now = time.time() * 1000.0
                if not data:
                    self.ended = "the gateway closed the stream"
                    return
                buf += data
                if self.head is None:
                    if b"\r\n\r\n" not in buf:
                        continue
                    self.head, buf = buf.split(b"\r\n\r\n", 1)
                blocks = buf.split(b"\n\n")
                buf = blocks.pop()
                for block in blocks:
                    self._event(block, now)
        except OSError as e:
            self.ended = "stream error: %s" % e

    def _event(self, block, now):
        name, data = None, []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        if name != b"committed":
            self.other += 1
            return
        d = json.loads(b"\n".join(data))
        with self.lock:
            self.records.append((self.phase, d["node"], d.get("id"), now, d.get("at")))
            self.skipped[self.phase] = self.skipped.get(self.phase, 0) + d.get("skipped", 0)
            if d.get("id") and d["id"] not in self.first_seen:
                self.first_seen[d["id"]] = (now, d["node"], d.get("at"))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class ProbeWriter:
    """Creates `rate` items a second over one keep-alive connection; keeps, per id, the
    wall-clock ms at which its 201 response was read."""

    def __init__(self, port, rate, tag):
        self.port, self.rate, self.tag = port, rate, tag
        self.sent = {}  # id -> 201 time ms
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        n = 0
        t0 = time.monotonic()
        while not self.stop.is_set():
            n += 1
            body = json.dumps({"name": "%s-%d" % (self.tag, n), "description": DESC})
            try:
                c.request("POST", "/api/items", body=body,
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                text = r.read()
                t = time.time() * 1000.0
                if r.status == 201:
                    self.sent[json.loads(text)["id"]] = t
                else:
                    self.errors += 1
            except (OSError, http.client.HTTPException, ValueError):
                self.errors += 1
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            delay = t0 + n / self.rate - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
        c.close()

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=15)


def py_load(port, seconds, connections, out):
    """Fallback load without wrk: `connections` threads in this (separate) process, each
    writing as fast as it can over a keep-alive connection. Puts the request count."""
    stop = time.monotonic() + seconds
    counts = [0] * connections

    def worker(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while time.monotonic() < stop:
            n += 1
            try:
                c.request("POST", "/api/items",
                          body=json.dumps({"name": "p%d-%d" % (i, n), "description": DESC}),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                counts[i] += r.status == 201
            except (OSError, http.client.HTTPException):
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(sum(counts))


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build_dir)
        self.tmp = tempfile.mkdtemp(prefix="lithair-ssebench-")
        self.port = free_port()
        self.gw = None
        self.node_pids = []
        self.load = None  # wrk Popen or multiprocessing.Process
        self.reader = None

    def start(self):
        gw_bin = os.path.join(self.build, "gateway", "lithair-gateway")
        node_bin = os.path.join(self.build, "node", "lithair-node")
        self.log = open(os.path.join(self.tmp, "gateway.log"), "wb")
        # Its own session: a Ctrl-C reaches this script only, which then stops it cleanly.
        self.gw = subprocess.Popen(
            [gw_bin, "--listen", str(self.port), "--spawn", "3",
             "--data-dir", os.path.join(self.tmp, "lithair"), "--node-bin", node_bin,
             "--frontend", os.path.join(ROOT, "frontend"), "--node-base-port", "0"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if self.gw.poll() is not None:
                raise RuntimeError("the gateway exited (%s); log in %s"
                                   % (self.gw.returncode, self.log.name))
            try:
                st, body = request(self.port, "GET", "/healthz", timeout=1)
                if st == 200 and body.get("leaderId"):
                    break
            except (OSError, http.client.HTTPException, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("no leader within 30 s")
            time.sleep(0.1)
        st, body = request(self.port, "GET", "/_playground/cluster/status")
        self.node_pids = [n["pid"] for n in body.get("nodes", []) if n.get("pid")]

    def stop(self):
        if self.reader:
            self.reader.close()
        if isinstance(self.load, subprocess.Popen) and self.load.poll() is None:
            self.load.kill()
            self.load.wait()
        elif isinstance(self.load, multiprocessing.Process) and self.load.is_alive():
            self.load.kill()
            self.load.join()
        if self.gw and self.gw.poll() is None:
            self.gw.send_signal(signal.SIGTERM)  # stops its nodes too
            try:
                self.gw.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.gw.kill()
                self.gw.wait()
        for pid in self.node_pids:  # never leave a node behind, whatever happened above
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.gw:
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def leader(self):
        try:
            st, body = request(self.port, "GET", "/healthz", timeout=2)
            return body.get("leaderId") if st == 200 else None
        except (OSError, http.client.HTTPException, ValueError):
            return None

    def wrk_script(self):
        path = os.path.join(self.tmp, "items.lua")
        with open(path, "w") as f:
            f.write('wrk.method = "POST"\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    "local n = 0\n"
                    "request = function()\n"
                    "  n = n + 1\n"
                    "  return wrk.format(nil, \"/api/items\", nil, "
                    "'{\"name\":\"w' .. n .. '\",\"description\":\"%s\"}')\n"
                    "end\n" % DESC)
        return path

    def phase(self, name, seconds, load):
        """Runs the probe writer (and the load) for `seconds`; returns the phase's figures."""
        r = self.reader
        wrk_out = None
        q = None
        if load:
            if shutil.which("wrk"):
                self.load = subprocess.Popen(
                    ["wrk", "-t2", "-c%d" % self.args.connections, "-d%ds" % seconds,
                     "--latency", "-s", self.wrk_script(), "http://127.0.0.1:%d" % self.port],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                    start_new_session=True)
            else:
                q = multiprocessing.Queue()
                self.load = multiprocessing.Process(
                    target=py_load, args=(self.port, seconds, self.args.connections, q))
                self.load.start()
            time.sleep(0.5)  # measure the load, not its ramp-up
        leader = self.leader()
        r.phase = name
        probe = ProbeWriter(self.port, self.args.rate, name).start()
        t_end = time.monotonic() + (seconds - 1.0 if load else seconds)
        while time.monotonic() < t_end and not r.ended:
            time.sleep(0.1)
        probe.finish()
        r.phase = name + "-drain"
        if load:
            if isinstance(self.load, subprocess.Popen):
                wrk_out, _ = self.load.communicate(timeout=seconds + 30)
            else:
                self.load.join(timeout=seconds + 30)
        time.sleep(1.0)  # the last probe's events
        with r.lock:
            recs = [x for x in r.records if x[0] == name]
            seen = dict(r.first_seen)
            skipped = r.skipped.get(name, 0)
        lat = [rx - at for _, _, _, rx, at in recs if at is not None]
        mine = [(seen[i], t) for i, t in probe.sent.items() if i in seen]
        e2e = [rx - t for (rx, _, _), t in mine]
        # Split: a follower applies (and publishes) later than the leader, and the rate
        # limit may have dropped the leader's event of an item.
        from_leader = sum(1 for (_, node, _), _ in mine if node == leader)
        apply_part = [at - t for (_, _, at), t in mine if at is not None]
        res = {"phase": name, "seconds": seconds,
               "commit_to_sse_ms": summary(lat),
               "committed_events": len(recs), "skipped_reported": skipped,
               "no_at": sum(1 for x in recs if x[4] is None),
               "probe_201_to_sse_ms": summary(e2e),
               "probes_created": len(probe.sent), "probes_seen": len(e2e),
               "probes_first_from_leader": from_leader, "leader": leader,
               "probe_201_to_at_ms": summary(apply_part),
               "probe_errors": probe.errors,
               "per_node_p99_ms": {}}
        for node in sorted({x[1] for x in recs}):
            res["per_node_p99_ms"][node] = pct(
                sorted(rx - at for _, nd, _, rx, at in recs if nd == node and at is not None),
                99)
        if wrk_out is not None:
            for line in wrk_out.splitlines():
                f = line.split()
                if line.startswith("Requests/sec"):
                    res["load_writes_per_sec"] = float(f[1])
                elif line.strip().startswith("99%"):
                    res["load_p99"] = f[1]
                elif "Non-2xx" in line:
                    res["load_non2xx"] = int(f[-1])
        elif q is not None:
            res["load_writes_per_sec"] = q.get(timeout=5) / seconds
        return res

    def run(self):
        self.start()
        self.reader = SseReader(self.port)
        t = time.monotonic() + 10
        while self.reader.head is None and time.monotonic() < t:
            time.sleep(0.05)
        if self.reader.head is None or b" 200 " not in self.reader.head.split(b"\r\n")[0]:
            raise RuntimeError("the SSE stream did not open: %r" % self.reader.head)
        time.sleep(1.0)  # the bridge has seen every node (their 4 Hz metrics)
        out = [self.phase("idle", self.args.idle_seconds, False),
               self.phase("load", self.args.seconds, True)]
        if self.reader.ended:
            print("WARNING: %s (the figures stop there)" % self.reader.ended)
        return out


def fmt(s):
    return "n=%-6d p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms" % (
        s["count"], s["p50"], s["p99"], s["max"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--seconds", type=float, default=10, help="load phase (default 10)")
    ap.add_argument("--idle-seconds", type=float, default=3, help="idle phase (default 3)")
    ap.add_argument("--rate", type=float, default=20, help="probe writes/s (default 20)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args()
    if args.seconds < 2 or args.idle_seconds <= 0 or args.rate <= 0:
        ap.error("--seconds must be at least 2, --idle-seconds and --rate positive")

    # SIGINT (even when started with it ignored, as in a background job), SIGTERM and
    # SIGHUP end the run like Ctrl-C: through the finally below, which stops everything.
    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    b = Bench(args)
    try:
        with open("/proc/loadavg") as f:
            load_before = " ".join(f.read().split()[:3])
        results = b.run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        b.stop()
    with open("/proc/loadavg") as f:
        load_after = " ".join(f.read().split()[:3])
    print("sse_bench %s %s nproc=%d, load average before %s, after %s" % (
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), os.uname().machine,
        os.cpu_count(), load_before, load_after))
    for r in results:
        head = "%s: %g s, %g probe writes/s" % (r["phase"], r["seconds"], args.rate)
        if "load_writes_per_sec" in r:
            head += ", load %s writes/s (%d connections, p99 %s, non-2xx %d)" % (
                "%.0f" % r["load_writes_per_sec"], args.connections, r.get("load_p99", "?"),
                r.get("load_non2xx", 0))
        print(head)
        print("  commit -> SSE (receive - at), every committed event: %s"
              % fmt(r["commit_to_sse_ms"]))
        print("    %d committed events received, %d reported skipped by the rate limit%s;"
              " p99 per node %s" % (
                  r["committed_events"], r["skipped_reported"],
                  ", %d without at" % r["no_at"] if r["no_at"] else "",
                  " ".join("%s: %.2f ms" % kv for kv in r["per_node_p99_ms"].items())))
        print("  201 -> SSE (own items, first event seen):            %s"
              % fmt(r["probe_201_to_sse_ms"]))
        print("    %d of %d created items seen on the stream%s, %d first from the leader"
              " (node %s)" % (
                  r["probes_seen"], r["probes_created"],
                  " (%d write errors)" % r["probe_errors"] if r["probe_errors"] else "",
                  r["probes_first_from_leader"], r["leader"]))
        print("    of which 201 -> at (the publishing node applied it): %s"
              % fmt(r["probe_201_to_at_ms"]))
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
