"""gw_harness.py — run lithair-gateway for integration tests, in attach mode against a
harness.Cluster or in supervisor mode (--spawn), on free ports, and talk HTTP to it.

Every wait is bounded; the gateway is stopped (SIGTERM, then SIGKILL) when the test ends.
LITHAIR_KEEP_TEST_DIR=1 keeps its directory (gateway and node logs, node data) for a look.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from harness import Failure, check, free_port, read_log, wait_for  # noqa: F401 (re-exported)


def http_request(host, port, method, path, body=None, headers=None, timeout=15, raw=None,
                 source=None):
    """One request (from address `source` if given); returns (status, headers dict with
    lower-case names, parsed JSON or text)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        out = text.decode("utf-8", "replace")
        if hdrs.get("content-type", "").startswith("application/json") and text:
            out = json.loads(text)
        return resp.status, hdrs, out
    finally:
        conn.close()


def expect_error(resp, status, code=None, text=None):
    """Checks an error answer: its status, the one JSON error shape, its code and words."""
    st, h, body = resp
    check(st == status, "expected HTTP %d, got %d: %r" % (status, st, body))
    check(isinstance(body, dict) and set(body) == {"code", "message", "details"},
          "error shape: %r" % (body,))
    if code:
        check(body["code"] == code, "expected code %s: %r" % (code, body))
    if text:
        check(text in body["message"], "message should name %r: %r" % (text, body))
    return h, body


def raw_exchange(port, data, seconds=5.0, source=None):
    """Sends `data` on a new connection (from address `source` if given, 127.0.0.x) and
    reads until the gateway closes it or `seconds` pass; returns (bytes read, whether the
    gateway closed the connection)."""
    sk = socket.create_connection(("127.0.0.1", port), timeout=seconds,
                                  source_address=(source, 0) if source else None)
    try:
        sk.sendall(data)
        got, deadline = b"", time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                chunk = sk.recv(65536)
            except socket.timeout:
                return got, False
            if not chunk:
                return got, True
            got += chunk
        return got, False
    finally:
        sk.close()


class SseStream:
    """Reads a text/event-stream in a thread, keeping each block as the gateway wrote it:
    `blocks` are dicts {"id", "event", "data" (the text), "json" (data parsed, None if it
    is not JSON), "retry", "comment", "ids" (id lines seen)}; `head` the response head."""

    def __init__(self, port, path, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                           "%s\r\n" % (path, extra)).encode())
        self.head, self.blocks, self.lock = b"", [], threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return
                buf += data
                if not self.head:
                    if b"\r\n\r\n" not in buf:
                        continue
                    self.head, buf = buf.split(b"\r\n\r\n", 1)
                while b"\n\n" in buf:
                    raw, buf = buf.split(b"\n\n", 1)
                    blk = {"id": None, "event": None, "data": None, "json": None, "retry": None,
                           "comment": None, "ids": 0}
                    for line in raw.decode("utf-8").split("\n"):
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "":
                            blk["comment"] = value
                        elif field == "id":
                            blk["id"] = int(value)
                            blk["ids"] += 1
                        elif field == "data":
                            blk["data"] = value if blk["data"] is None else \
                                blk["data"] + "\n" + value
                        elif field in ("event", "retry"):
                            blk[field] = value
                    if blk["data"] is not None:
                        try:
                            blk["json"] = json.loads(blk["data"])
                        except ValueError:
                            pass
                    with self.lock:
                        self.blocks.append(blk)
        except (OSError, ValueError):
            return

    def events(self):
        """The blocks that carry data, in order."""
        with self.lock:
            return [b for b in self.blocks if b["data"] is not None]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Gateway:
    def __init__(self, build_dir, nodes=None, spawn=0, extra=(), node_args=()):
        self.build_dir = build_dir
        self.bin = os.path.join(build_dir, "gateway", "lithair-gateway")
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="lithair-gw-")
        self.frontend = os.path.join(self.root, "frontend")
        os.makedirs(os.path.join(self.frontend, "vendor"))
        with open(os.path.join(self.frontend, "index.html"), "w") as f:
            f.write("<!doctype html><title>Lithair</title>")
        with open(os.path.join(self.frontend, "app.js"), "w") as f:
            f.write("console.log('hi');\n")
        with open(os.path.join(self.frontend, "vendor", "lib.css"), "w") as f:
            f.write("body{}\n")
        self.log = os.path.join(self.root, "gateway.log")
        args = [self.bin, "--listen", str(self.port), "--frontend", self.frontend]
        if spawn:
            args += ["--spawn", str(spawn), "--data-dir", os.path.join(self.root, "data"),
                     "--node-bin", os.path.join(build_dir, "node", "lithair-node")]
            for a in node_args:
                args += ["--node-arg=" + a]
        else:
            for n in nodes:
                args += ["--node", "%d,%s,%s" % (n.id, n.rpc, n.events)]
        self.args = args + list(extra)
        self.proc = None

    def __enter__(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.args, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        wait_for("the gateway to listen", self._answers, timeout=15)
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise RuntimeError("gateway exited with %s:\n%s" % (self.proc.returncode,
                                                                self.log_text()[-3000:]))
        try:
            st, _, _ = self.request("GET", "/index.html", timeout=1)
            return st == 200
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the gateway; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise Failure("the gateway did not stop within %ds of %s" % (timeout, sig))
        rc = self.proc.returncode
        self.proc = None
        return rc

    def __exit__(self, exc_type, exc, tb):
        rc, why = None, None
        try:
            rc = self.stop()
        except Failure as e:
            why = str(e)
        if rc not in (0, None) and why is None:
            why = "the gateway exited with status %s (sanitizer report?)" % rc
        if exc_type is not None or why:
            sys.stderr.write("---- gateway log ----\n%s\n" % self.log_text()[-8000:])
            # supervisor mode: each node's log is in its data dir
            data = os.path.join(self.root, "data")
            for d in sorted(os.listdir(data)) if os.path.isdir(data) else []:
                try:
                    with open(os.path.join(data, d, "node.log"), "rb") as f:
                        text = f.read().decode("utf-8", "replace")
                except OSError:
                    continue
                sys.stderr.write("---- %s/node.log ----\n%s\n" % (d, text[-4000:]))
        if os.environ.get("LITHAIR_KEEP_TEST_DIR"):
            sys.stderr.write("kept the gateway's dir (logs, node data): %s\n" % self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)
        if why and exc_type is None:
            raise Failure(why)
        return False

    def log_text(self):
        return read_log(self.log)

    def request(self, method, path, body=None, headers=None, timeout=15, raw=None):
        """Returns (status, headers dict (lower-case names), parsed JSON or text)."""
        return http_request("127.0.0.1", self.port, method, path, body=body, headers=headers,
                            timeout=timeout, raw=raw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def wait_leader(self, timeout=15):
        def fn():
            st, _, b = self.get("/healthz", timeout=3)
            return b.get("leaderId") if st == 200 else None
        return wait_for("a leader through the gateway", fn, timeout=timeout, interval=0.1)
