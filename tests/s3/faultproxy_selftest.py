#!/usr/bin/env python3
"""Self-test of faultproxy.py against a stdlib HTTP/1.1 upstream (no S3).

Checks byte-for-byte relaying (Host header, Content-Length, chunked and
Expect: 100-continue bodies, keep-alive), every fault kind, down/up, the
counters, and that SIGTERM stops it.  Exit 0 = all passed.
Usage: python3 tests/s3/faultproxy_selftest.py
"""
import hashlib
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAILS = []


def check(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail) if detail else ''}", flush=True)
    if not ok:
        FAILS.append(name)


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, body, status=200):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            data = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(n)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def echo(self):
        b = self.body()
        info = {"method": self.command, "path": self.path, "host": self.headers.get("Host"),
                "len": len(b), "sha": hashlib.sha256(b).hexdigest()}
        if self.path.startswith("/slow"):
            time.sleep(0.2)
        if self.path.startswith("/big"):
            self.reply(b"z" * 100000)
            return
        self.reply(json.dumps(info).encode())

    do_GET = do_PUT = do_POST = do_DELETE = echo

    def do_HEAD(self):
        self.reply(b"x" * 10)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    up = srv.server_address[1]
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "faultproxy.py"),
                          "--upstream", f"127.0.0.1:{up}", "--seed", "1"],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()
        check("prints PROXY_PORT=N", line.startswith("PROXY_PORT="), line)
        port = int(line.split("=", 1)[1])
        run(port)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=5)
            check("stops on SIGTERM", True, f"rc={rc}")
        except subprocess.TimeoutExpired:
            p.kill()
            check("stops on SIGTERM", False, "still running after 5 s")
        srv.shutdown()
    print(f"{'ALL PASSED' if not FAILS else 'FAILED: ' + ', '.join(FAILS)}")
    return 1 if FAILS else 0


def ctl(port, cmd):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/__proxy__/" + cmd)
    r = c.getresponse()
    d = json.loads(r.read())
    c.close()
    return r.status, d


def raw_exchange(port, data, read_until_close=True, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
            if not read_until_close:
                break
    except ConnectionResetError:
        out += b"<RST>"
    s.close()
    return out


def run(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = os.urandom(200000)
    c.request("PUT", "/b/k%20x?x=1", body=body, headers={"Host": f"127.0.0.1:{port}"})
    r = c.getresponse()
    d = json.loads(r.read())
    check("PUT relayed: Host kept", d["host"] == f"127.0.0.1:{port}", d["host"])
    check("PUT relayed: path kept", d["path"] == "/b/k%20x?x=1", d["path"])
    check("PUT relayed: body intact", d["sha"] == hashlib.sha256(body).hexdigest(), d["len"])
    c.request("GET", "/again")
    r = c.getresponse()
    d = json.loads(r.read())
    check("keep-alive second request", r.status == 200 and d["path"] == "/again")
    c.request("HEAD", "/h")
    r = c.getresponse()
    check("HEAD relayed", r.status == 200 and r.read() == b"" and r.getheader("content-length") == "10")
    c.close()

    # chunked request body, raw
    req = (b"PUT /chunked HTTP/1.1\r\nHost: h:1\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    out = raw_exchange(port, req)
    d = json.loads(out.split(b"\r\n\r\n", 1)[1])
    check("chunked request body", d["sha"] == hashlib.sha256(b"hello world").hexdigest()
          and d["host"] == "h:1", d)
    # Expect: 100-continue
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"PUT /expect HTTP/1.1\r\nHost: e:2\r\nContent-Length: 4\r\n"
              b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
    first = s.recv(1000)
    s.sendall(b"abcd")
    rest = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        rest += b
    s.close()
    check("Expect: 100-continue answered", first.startswith(b"HTTP/1.1 100"), first[:30])
    allb = first + rest
    d = json.loads(allb.rsplit(b"\r\n\r\n", 1)[1])
    check("Expect: 100-continue body relayed", d["sha"] == hashlib.sha256(b"abcd").hexdigest())

    # faults, one at a time via next=1
    for kind, code in (("500", "InternalError"), ("503", "SlowDown")):
        ctl(port, f"set?next=1&kinds={kind}")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("PUT", "/f", body=b"x" * 1000)
        r = c.getresponse()
        b = r.read()
        check(f"fault {kind}", r.status == int(kind) and f"<Code>{code}</Code>".encode() in b,
              (r.status, b[:80]))
        c.request("GET", "/after")
        r = c.getresponse()
        r.read()
        check(f"fault {kind}: connection still usable", r.status == 200)
        c.close()
    ctl(port, "set?next=1&kinds=drop")
    out = raw_exchange(port, b"GET /d HTTP/1.1\r\nHost: x\r\n\r\n")
    check("fault drop: closed without reply", out == b"", out[:40])
    ctl(port, "set?next=1&kinds=truncate")
    out = raw_exchange(port, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, b = out.partition(b"\r\n\r\n")
    check("fault truncate: full Content-Length, half body",
          b"Content-Length: 100000" in head and len(b) == 50000, (len(b), head[:40]))
    ctl(port, "set?next=1&kinds=truncate")
    out = raw_exchange(port, b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
    check("fault truncate without body: status line cut", 0 < len(out) < 12, out)
    ctl(port, "set?next=1&kinds=slow&slow_ms=300")
    t0 = time.monotonic()
    out = raw_exchange(port, b"GET /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("fault slow: +300 ms", time.monotonic() - t0 >= 0.3 and b" 200 " in out)
    ctl(port, "set?next=2&kinds=500&methods=PUT")
    out = raw_exchange(port, b"GET /m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("methods filter: GET not faulted", b" 200 " in out.split(b"\r\n")[0])
    ctl(port, "set?next=0&methods=")

    # fail rate
    ctl(port, "reset")
    ctl(port, "set?fail_rate=0.5&kinds=503&seed=3")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n503 = 0
    for i in range(200):
        c.request("GET", f"/r{i}")
        r = c.getresponse()
        r.read()
        n503 += r.status == 503
    c.close()
    _, st = ctl(port, "stats")
    check("fail_rate 0.5: about half faulted", 70 <= n503 <= 130 and st["faults"].get("503") == n503,
          f"{n503}/200, stats={st['faults']}")
    ctl(port, "set?fail_rate=0")

    # down / up
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/before-down")
    c.getresponse().read()
    st_, d = ctl(port, "down")
    check("down: control answers", st_ == 200 and d["down"] is True)
    try:
        c.request("GET", "/during-down")
        r = c.getresponse()
        ok = False
        detail = r.status
    except (ConnectionError, http.client.HTTPException) as e:
        ok, detail = True, type(e).__name__
    check("down: open connection is cut", ok, detail)
    out = raw_exchange(port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    check("down: new requests get reset/closed", out in (b"", b"<RST>"), out[:40])
    st_, d = ctl(port, "up")
    out = raw_exchange(port, b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("up: served again", b" 200 " in out.split(b"\r\n")[0])

    # concurrency counters with delay
    ctl(port, "reset")
    ctl(port, "set?delay_ms=10")

    def worker():
        cc = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(5):
            cc.request("GET", "/slow")
            cc.getresponse().read()
        cc.close()
    ts = [threading.Thread(target=worker) for _ in range(8)]
    t0 = time.monotonic()
    [t.start() for t in ts]
    [t.join() for t in ts]
    el = time.monotonic() - t0
    _, st = ctl(port, "stats")
    check("stats: forwarded count", st["forwarded"].get("GET") == 40 and st["requests"] == 40,
          st["forwarded"])
    check("stats: max_in_flight == 8", st["max_in_flight"] == 8, st["max_in_flight"])
    check("stats: avg_in_flight_busy in (4, 8]", 4 < st["avg_in_flight_busy"] <= 8,
          st["avg_in_flight_busy"])
    check("delay 10 ms + 200 ms upstream: 5 rounds >= 1.05 s", el >= 1.05, f"{el:.2f}s")
    st_, d = ctl(port, "set?fail_rate=2")
    check("bad setting -> 400", st_ == 400)


if __name__ == "__main__":
    sys.exit(main())
