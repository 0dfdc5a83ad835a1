#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 reverse proxy for S3 tests (stdlib only).

Requests are relayed byte for byte (request line, headers including Host,
body), so SigV4 signatures made for the proxy's address stay valid upstream.
Keep-alive on both sides: one upstream connection per client connection.
Bodies are streamed in 64 KiB pieces; nothing is buffered without a bound.

Start:
  faultproxy.py --upstream 127.0.0.1:PORT [--listen-port 0] [--delay-ms 10]
                [--fail-rate 0.1] [--fail-kinds 500,503,drop,truncate,slow]
                [--slow-ms 2000] [--seed N] [--port-file F] [--verbose]
  prints "PROXY_PORT=N" on stdout once listening (127.0.0.1 only); with
  --port-file also writes N to file F (appears only once listening).

Faults (for --fail-rate of the requests, kinds picked at random):
  500       HTTP 500 InternalError (S3 XML body), request not forwarded
  503       HTTP 503 SlowDown (S3 XML body), request not forwarded
  drop      connection closed without a reply, request not forwarded
  truncate  request forwarded; reply headers (with the full Content-Length)
            and half the body are sent, then the connection is closed (a
            reply without body is cut inside its status line)
  slow      request forwarded after an extra --slow-ms delay
--delay-ms N or A-B adds N ms (or uniform A..B ms per request) to every
forwarded request.

Control (same port; never forwarded; GET, answers JSON):
  /__proxy__/stats    counters: forwarded requests by method, responses by
                      status, faults by kind, in-flight now/max/average
  /__proxy__/reset    zero the counters
  /__proxy__/set?fail_rate=0.2&kinds=503,drop&delay_ms=10&slow_ms=500
                &next=3&methods=PUT,GET&path_re=REGEX&seed=1
                      change settings; next=N injects a fault into exactly the
                      next N matching requests (then fail_rate applies again);
                      methods / path_re restrict which requests may get faults
                      (empty value = all)
  /__proxy__/down     act as if the server were gone: open client connections
                      are reset, new requests are answered by a reset
  /__proxy__/up       back to normal
Stops on SIGTERM / SIGINT.
"""
import argparse
import json
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

MAX_HEAD = 64 * 1024        # request / response head ceiling
MAX_LINE = 16 * 1024
PIECE = 64 * 1024           # streaming unit
MAX_CONNS = 1024            # client connections served at once
IO_TIMEOUT = 120.0          # idle / read timeout on either side
CONTROL = b"/__proxy__/"
KINDS = ("500", "503", "drop", "truncate", "slow")


def shut(sock):
    """End a connection now (FIN), even while a makefile() still refers to it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def close_up(up):
    if up is not None:
        shut(up[0])
        up[1].close()
        up[0].close()


class Closed(Exception):
    """The peer went away or sent something we cannot relay."""


def parse_delay(spec):
    spec = str(spec).strip()
    if "-" in spec:
        a, b = spec.split("-", 1)
        lo, hi = float(a), float(b)
    else:
        lo = hi = float(spec)
    if lo < 0 or hi < lo:
        raise ValueError(f"bad delay {spec!r}")
    return lo, hi


def parse_kinds(spec):
    kinds = [k.strip() for k in spec.split(",") if k.strip()]
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown fault kind {k!r} (known: {','.join(KINDS)})")
    return kinds


def s3_error(status, reason, code, message, close=False):
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message><RequestId>faultproxy</RequestId></Error>"
            % (code, message)).encode()
    head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
            "Content-Length: %d\r\n%s\r\n"
            % (status, reason, len(body), "Connection: close\r\n" if close else ""))
    return head.encode() + body


class Head:
    """A parsed request or response head; raw keeps the exact bytes."""

    def __init__(self, raw, first, headers):
        self.raw, self.first, self.headers = raw, first, headers

    def get(self, name):
        return self.headers.get(name.lower())

    def tokens(self, name):
        v = self.get(name) or b""
        return [t.strip().lower() for t in v.split(b",") if t.strip()]


def read_head(f):
    """Read one head from buffered file f; None on clean EOF before a byte."""
    raw = bytearray()
    first = None
    headers = {}
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            if not raw:
                return None
            raise Closed("EOF inside head")
        if len(line) > MAX_LINE or len(raw) + len(line) > MAX_HEAD:
            raise Closed("head too large")
        if first is None and line in (b"\r\n", b"\n"):
            continue  # tolerate stray CRLF between messages (RFC 9112 2.2)
        raw += line
        if first is None:
            first = line.rstrip(b"\r\n")
            continue
        if line in (b"\r\n", b"\n"):
            return Head(bytes(raw), first, headers)
        if b":" not in line:
            raise Closed("malformed header line")
        k, v = line.split(b":", 1)
        k = k.strip().lower().decode("latin-1")
        v = v.strip()
        headers[k] = headers[k] + b", " + v if k in headers else v


def copy_exact(src, dst, n, counter=None):
    """Stream exactly n bytes from file src to socket dst (dst may be None)."""
    while n > 0:
        b = src.read(min(PIECE, n))
        if not b:
            raise Closed("EOF inside body")
        if dst is not None:
            dst.sendall(b)
        if counter is not None:
            counter(len(b))
        n -= len(b)


def copy_chunked(src, dst, counter=None):
    """Relay a chunked body verbatim (sizes, data, trailers)."""
    while True:
        line = src.readline(MAX_LINE + 1)
        if not line or len(line) > MAX_LINE:
            raise Closed("bad chunk size line")
        if dst is not None:
            dst.sendall(line)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise Closed("bad chunk size") from None
        if size == 0:
            break
        copy_exact(src, dst, size + 2, counter)  # data + CRLF
    while True:  # trailers up to the empty line
        line = src.readline(MAX_LINE + 1)
        if not line or len(line) > MAX_LINE:
            raise Closed("bad trailer")
        if dst is not None:
            dst.sendall(line)
        if line in (b"\r\n", b"\n"):
            return


def body_kind(head, is_request, method=None, status=None):
    """('none'|'length'|'chunked'|'close', length)."""
    if not is_request:
        if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            return "none", 0
    if b"chunked" in head.tokens("transfer-encoding"):
        return "chunked", 0
    cl = head.get("content-length")
    if cl is not None:
        try:
            n = int(cl.split(b",")[0])
        except ValueError:
            raise Closed("bad Content-Length") from None
        if n < 0:
            raise Closed("bad Content-Length")
        return ("length", n) if n else ("none", 0)
    return ("none", 0) if is_request else ("close", 0)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            now = time.monotonic()
            self.t0 = now
            self.requests = 0
            self.forwarded = {}
            self.responses = {}
            self.faults = {}
            self.control = 0
            self.upstream_errors = 0
            self.bytes_up = 0
            self.bytes_down = 0
            self.conns_accepted = 0
            self.conns_refused = 0
            self.in_flight = getattr(self, "in_flight", 0)
            self.max_in_flight = self.in_flight
            self.area = 0.0        # integral of in_flight over time
            self.busy = 0.0        # time with in_flight > 0
            self.t_last = now

    def _advance(self):
        now = time.monotonic()
        dt = now - self.t_last
        self.area += self.in_flight * dt
        if self.in_flight > 0:
            self.busy += dt
        self.t_last = now

    def begin(self):
        with self.lock:
            self._advance()
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self):
        with self.lock:
            self._advance()
            self.in_flight -= 1

    def bump(self, table, key, n=1):
        with self.lock:
            d = getattr(self, table)
            d[key] = d.get(key, 0) + n

    def add(self, field, n):
        with self.lock:
            setattr(self, field, getattr(self, field) + n)

    def snapshot(self):
        with self.lock:
            self._advance()
            el = max(time.monotonic() - self.t0, 1e-9)
            return {
                "requests": self.requests,
                "forwarded": dict(self.forwarded),
                "forwarded_total": sum(self.forwarded.values()),
                "responses": dict(self.responses),
                "faults": dict(self.faults),
                "faults_total": sum(self.faults.values()),
                "control_requests": self.control,
                "upstream_errors": self.upstream_errors,
                "bytes_from_clients": self.bytes_up,
                "bytes_to_clients": self.bytes_down,
                "connections_accepted": self.conns_accepted,
                "connections_refused": self.conns_refused,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "avg_in_flight": round(self.area / el, 4),
                "avg_in_flight_busy": round(self.area / self.busy, 4) if self.busy else 0.0,
                "busy_secs": round(self.busy, 4),
                "elapsed_secs": round(el, 4),
            }


class Proxy:
    def __init__(self, args):
        host, _, port = args.upstream.rpartition(":")
        self.up_addr = (host or "127.0.0.1", int(port))
        self.verbose = args.verbose
        self.cfg_lock = threading.Lock()
        self.fail_rate = args.fail_rate
        self.kinds = parse_kinds(args.fail_kinds)
        self.delay = parse_delay(args.delay_ms)
        self.slow_ms = args.slow_ms
        self.next_n = 0
        self.methods = set()
        self.path_re = None
        self.rng = random.Random(args.seed)
        self.down = False
        self.stats = Stats()
        self.stopping = threading.Event()
        self.conns = set()       # client sockets being served
        self.conns_lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(MAX_CONNS)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", args.listen_port))
        self.lsock.listen(256)
        self.port = self.lsock.getsockname()[1]

    def log(self, msg):
        if self.verbose:
            print(f"[faultproxy] {msg}", file=sys.stderr, flush=True)

    # ---- settings -------------------------------------------------------------
    def config(self):
        with self.cfg_lock:
            return {"upstream": "%s:%d" % self.up_addr, "fail_rate": self.fail_rate,
                    "kinds": ",".join(self.kinds), "delay_ms": "%g-%g" % self.delay,
                    "slow_ms": self.slow_ms, "next": self.next_n,
                    "methods": ",".join(sorted(self.methods)),
                    "path_re": self.path_re.pattern if self.path_re else "",
                    "down": self.down}

    def apply_settings(self, q):
        with self.cfg_lock:
            if "fail_rate" in q:
                r = float(q["fail_rate"])
                if not 0.0 <= r <= 1.0:
                    raise ValueError("fail_rate must be in [0, 1]")
                self.fail_rate = r
            if "kinds" in q:
                self.kinds = parse_kinds(q["kinds"])
            if "delay_ms" in q:
                self.delay = parse_delay(q["delay_ms"])
            if "slow_ms" in q:
                self.slow_ms = float(q["slow_ms"])
            if "next" in q:
                self.next_n = int(q["next"])
            if "methods" in q:
                self.methods = {m.strip().upper() for m in q["methods"].split(",") if m.strip()}
            if "path_re" in q:
                self.path_re = re.compile(q["path_re"]) if q["path_re"] else None
            if "seed" in q:
                self.rng = random.Random(int(q["seed"]))

    def decide(self, method, path):
        """(fault kind or None, delay seconds) for one request."""
        with self.cfg_lock:
            lo, hi = self.delay
            delay = (lo if lo == hi else self.rng.uniform(lo, hi)) / 1000.0
            eligible = (self.kinds and (not self.methods or method in self.methods)
                        and (self.path_re is None or self.path_re.search(path)))
            fault = None
            if eligible:
                if self.next_n > 0:
                    self.next_n -= 1
                    fault = self.rng.choice(self.kinds)
                elif self.fail_rate > 0 and self.rng.random() < self.fail_rate:
                    fault = self.rng.choice(self.kinds)
            if fault == "slow":
                delay += self.slow_ms / 1000.0
            return fault, delay

    # ---- control --------------------------------------------------------------
    def control(self, target):
        u = urllib.parse.urlsplit(target.decode("latin-1"))
        cmd = u.path[len(CONTROL):].strip("/")
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        self.stats.add("control", 1)
        if cmd == "stats":
            out = self.stats.snapshot()
            out["config"] = self.config()
            return 200, out
        if cmd == "reset":
            self.stats.reset()
            return 200, {"ok": True}
        if cmd == "set":
            try:
                self.apply_settings(q)
            except (ValueError, re.error) as e:
                return 400, {"ok": False, "error": str(e)}
            return 200, {"ok": True, "config": self.config()}
        if cmd == "config":
            return 200, self.config()
        if cmd == "down":
            with self.cfg_lock:
                self.down = True
            self.reset_all(except_sock=threading.current_thread().client_sock)
            return 200, {"ok": True, "down": True}
        if cmd == "up":
            with self.cfg_lock:
                self.down = False
            return 200, {"ok": True, "down": False}
        return 404, {"ok": False, "error": f"unknown control command {cmd!r}"}

    @staticmethod
    def rst_close(sock):
        """Close with a TCP reset, like a server that vanished."""
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def reset_all(self, except_sock=None):
        with self.conns_lock:
            socks = [s for s in self.conns if s is not except_sock]
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- serving --------------------------------------------------------------
    def serve_forever(self):
        while not self.stopping.is_set():
            try:
                r, _, _ = select.select([self.lsock], [], [], 0.2)
                if not r:
                    continue
                sock, _ = self.lsock.accept()
            except OSError:
                if self.stopping.is_set():
                    break
                continue
            if not self.slots.acquire(blocking=False):
                self.stats.add("conns_refused", 1)
                self.rst_close(sock)
                continue
            self.stats.add("conns_accepted", 1)
            t = threading.Thread(target=self.serve_conn, args=(sock,), daemon=True)
            t.start()

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        self.reset_all()

    def serve_conn(self, sock):
        threading.current_thread().client_sock = sock
        with self.conns_lock:
            self.conns.add(sock)
        up = None
        cf = None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(IO_TIMEOUT)
            cf = sock.makefile("rb", buffering=PIECE)
            while not self.stopping.is_set():
                head = read_head(cf)
                if head is None:
                    break
                keep, up = self.one_request(sock, cf, head, up)
                if not keep:
                    break
        except (Closed, OSError) as e:
            self.log(f"client connection ended: {e}")
        finally:
            with self.conns_lock:
                self.conns.discard(sock)
            close_up(up)
            try:
                if cf is not None:
                    cf.close()
                sock.close()
            except OSError:
                pass
            self.slots.release()

    def upstream(self, up):
        """Reuse a live upstream connection or open a new one."""
        if up is not None:
            s = up[0]
            try:
                r, _, _ = select.select([s], [], [], 0)
            except (OSError, ValueError):
                r = [s]
            if not r:
                return up
            close_up(up)  # readable while idle = closed or junk: start over
        s = socket.create_connection(self.up_addr, timeout=IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return (s, s.makefile("rb", buffering=PIECE))

    def one_request(self, sock, cf, head, up):
        """Serve one request; returns (keep client connection, upstream)."""
        parts = head.first.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            sock.sendall(s3_error(400, "Bad Request", "BadRequest", "malformed request line", True))
            return False, up
        method = parts[0].decode("latin-1")
        target = parts[1]
        http10 = parts[2] == b"HTTP/1.0"
        conn_tokens = head.tokens("connection")
        client_keep = (b"keep-alive" in conn_tokens) if http10 else (b"close" not in conn_tokens)
        expect100 = b"100-continue" in head.tokens("expect")
        req_kind, req_len = body_kind(head, True)

        def drain_request():
            if req_kind == "length":
                copy_exact(cf, None, req_len)
            elif req_kind == "chunked":
                copy_chunked(cf, None)

        if target.startswith(CONTROL):
            drain_request()
            status, obj = self.control(target)
            body = (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()
            sock.sendall(("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n"
                          % (status, "OK" if status == 200 else "Error", len(body))).encode()
                         + body)
            return client_keep, up

        with self.cfg_lock:
            down = self.down
        if down:
            self.stats.bump("faults", "down")
            self.rst_close(sock)
            return False, up

        path = target.decode("latin-1").split("?", 1)[0]
        fault, delay = self.decide(method, path)
        self.stats.begin()
        try:
            if fault:
                self.stats.bump("faults", fault)
                self.log(f"fault {fault}: {method} {target[:120]!r}")
            if fault in ("500", "503"):
                if expect100:
                    client_keep = False  # body may or may not follow: don't guess
                else:
                    drain_request()
                if fault == "500":
                    msg = s3_error(500, "Internal Server Error", "InternalError",
                                   "faultproxy: injected internal error", not client_keep)
                else:
                    msg = s3_error(503, "Slow Down", "SlowDown",
                                   "faultproxy: injected SlowDown, reduce your request rate",
                                   not client_keep)
                sock.sendall(msg)
                self.stats.bump("responses", str(int(fault)))
                return client_keep, up
            if fault == "drop":
                shut(sock)
                return False, up
            if delay > 0:
                time.sleep(delay)
            return self.forward(sock, cf, head, method, req_kind, req_len, expect100,
                                client_keep, fault == "truncate", up)
        finally:
            self.stats.end()

    def forward(self, sock, cf, head, method, req_kind, req_len, expect100,
                client_keep, truncate, up):
        self.stats.bump("forwarded", method)
        try:
            up = self.upstream(up)
        except OSError as e:
            self.stats.add("upstream_errors", 1)
            self.log(f"upstream connect failed: {e}")
            sock.sendall(s3_error(502, "Bad Gateway", "BadGateway",
                                  "faultproxy: upstream unreachable", True))
            return False, None
        us, uf = up
        sent_any = False

        def up_count(n):
            self.stats.add("bytes_up", n)

        def down_count(n):
            self.stats.add("bytes_down", n)

        try:
            us.sendall(head.raw)
            body_sent = False
            if not expect100:
                self.send_body(cf, us, req_kind, req_len, up_count)
                body_sent = True
            while True:
                rh = read_head(uf)
                if rh is None:
                    raise Closed("upstream closed before replying")
                rp = rh.first.split(b" ", 2)
                try:
                    status = int(rp[1])
                except (IndexError, ValueError):
                    raise Closed("bad upstream status line") from None
                if 100 <= status < 200:
                    sock.sendall(rh.raw)
                    sent_any = True
                    if status == 100 and not body_sent:
                        self.send_body(cf, us, req_kind, req_len, up_count)
                        body_sent = True
                    continue
                break
            keep = client_keep and body_sent
            up_keep = body_sent and b"close" not in rh.tokens("connection")
            rkind, rlen = body_kind(rh, False, method, status)
            self.stats.bump("responses", str(status))
            if truncate:
                self.send_truncated(sock, uf, rh, rkind, rlen)
                sent_any = True
                close_up(up)
                return False, None
            sock.sendall(rh.raw)
            sent_any = True
            if rkind == "length":
                self.relay_exact(uf, sock, rlen, down_count)
            elif rkind == "chunked":
                copy_chunked(uf, sock, down_count)
            elif rkind == "close":
                while True:
                    b = uf.read1(PIECE)
                    if not b:
                        break
                    sock.sendall(b)
                    down_count(len(b))
                keep = up_keep = False
            if not up_keep:
                close_up(up)
                up = None
            return keep, up
        except (Closed, OSError) as e:
            close_up(up)
            self.stats.add("upstream_errors", 1)
            self.log(f"relay failed: {e}")
            if not sent_any:
                try:
                    sock.sendall(s3_error(502, "Bad Gateway", "BadGateway",
                                          "faultproxy: upstream failed", True))
                except OSError:
                    pass
            return False, None

    def send_body(self, cf, us, kind, n, counter):
        if kind == "length":
            copy_exact(cf, us, n, counter)
        elif kind == "chunked":
            copy_chunked(cf, us, counter)

    @staticmethod
    def relay_exact(uf, sock, n, counter):
        while n > 0:
            b = uf.read1(min(PIECE, n))
            if not b:
                raise Closed("upstream EOF inside body")
            sock.sendall(b)
            counter(len(b))
            n -= len(b)

    def send_truncated(self, sock, uf, rh, rkind, rlen):
        """Head with the full length, half the body, then close."""
        if rkind == "length" and rlen >= 2:
            sock.sendall(rh.raw)
            self.relay_exact(uf, sock, rlen // 2, lambda n: None)
        elif rkind == "chunked":
            sock.sendall(rh.raw)
            line = uf.readline(MAX_LINE + 1)
            sock.sendall(line)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                size = 0
            if size >= 2:
                self.relay_exact(uf, sock, size // 2, lambda n: None)
        else:
            # No body to cut: cut the status line itself (the request did
            # happen upstream).  A cut between headers would not do: many
            # clients take EOF there for the end of a valid head.
            sock.sendall(rh.first[:max(len(rh.first) // 2, 1)])
        shut(sock)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:]))
    ap.add_argument("--upstream", required=True, help="host:port of the S3 server")
    ap.add_argument("--listen-port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--delay-ms", default="0", help="N or A-B, added to every forwarded request")
    ap.add_argument("--fail-rate", type=float, default=0.0)
    ap.add_argument("--fail-kinds", default="500,503,drop,truncate")
    ap.add_argument("--slow-ms", type=float, default=2000.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--port-file", help="also write the port to this file (atomically)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    try:
        parse_delay(args.delay_ms)
        parse_kinds(args.fail_kinds)
        if not 0.0 <= args.fail_rate <= 1.0:
            raise ValueError("--fail-rate must be in [0, 1]")
        proxy = Proxy(args)
    except (ValueError, OSError) as e:
        print(f"faultproxy: {e}", file=sys.stderr)
        return 2

    def on_signal(signum, frame):
        proxy.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{proxy.port}\n")
        os.replace(tmp, args.port_file)
    print(f"PROXY_PORT={proxy.port}", flush=True)
    proxy.log(f"listening on 127.0.0.1:{proxy.port}, upstream {args.upstream}")
    proxy.serve_forever()
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
