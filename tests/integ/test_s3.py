#!/usr/bin/env python3
"""S3-only integration tests: mount-time errors, sqlite-s3vfs interop, fault
injection, server outages with recovery, and keys with odd characters.

Runs only with S3BFS_TEST_BACKEND=s3 and the S3_* variables printed by
tests/s3/rgw-start.sh (exit 77 with the reason otherwise, at once).  The
bucket is checked with tests/s3/s3admin.py (boto3 or its own stdlib SigV4
client, in this process), never with s3blockfs itself.  Faults come from tests/s3/faultproxy.py
started by the test between the daemon and the server.

  test_mount_errors     without -f, the parent reports one line and exits
                        non-zero before detaching, nothing stays mounted, no
                        process stays behind: no such bucket, wrong secret,
                        unknown access key, closed port, credentials file
                        mode 0644, malformed endpoint, unknown option, wrong
                        region (RGW ignores regions: a stdlib fake answers
                        301 + x-amz-bucket-region like AWS does)
  test_interop_s3vfs    databases uploaded as sqlite-s3vfs writes them
                        (s3admin put-volume, block sizes 4095/4096/65536, page
                        sizes 4096/65536) read byte-identical through the
                        mount; rows written through the mount are in the
                        blocks concatenated by s3admin cat-volume; layout ok
  test_faults           5-10% of requests fail (500, 503 SlowDown, drop,
                        truncate) plus delays: a few hundred sqlite
                        transactions (bulk insert, updates, DELETE and WAL
                        journal modes) complete, integrity ok, every row,
                        layout ok; proxy faults > 0 and daemon retries > 0;
                        a fresh daemon reads it all back through the faults
  test_outage           server down: fsync and COMMIT fail with EIO within a
                        bound, a cold read fails with EIO; server back: fsync
                        succeeds, the data is in the bucket, nothing
                        acknowledged is lost
  test_outage_unmount   unmount while the server is down: exit 1, the log
                        names the recovery dir, which holds the dirty blocks
                        under their keys; copied back, the database is whole
  test_odd_keys         names with spaces, '+', '%', '&', unicode and '~'
                        (and a root prefix with them) created, listed,
                        renamed and removed through the mount; the bucket
                        holds exactly NAME/0000000000

Run: S3BFS_TEST_BACKEND=s3 python3 tests/integ/test_s3.py [TEST...]
(environment: see harness.py; set -a; eval "$(tests/s3/rgw-start.sh)").
"""

import argparse
import contextlib
import copy
import errno
import http.server
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import harness as H

FAULTPROXY = os.path.join(H.TOP_SRCDIR, "tests", "s3", "faultproxy.py")
sys.path.insert(0, os.path.join(H.TOP_SRCDIR, "tests", "s3"))


def timed(what, t0):
    dt = time.monotonic() - t0
    H.info(f"{what}: {dt:.2f} s")
    return dt


# ------------------------------------------------------------------ helpers

class Admin:
    """tests/s3/s3admin.py in this process: the same commands (put-volume
    writes blocks as sqlite-s3vfs's deserialize does; cat-volume; the layout
    check), one boto3 client for the whole run instead of one process and
    one boto3 import per call (seconds each on a busy machine).  It shares
    no code with s3blockfs."""

    _st = None

    def __init__(self, be):
        import s3admin
        self.mod = s3admin
        self.be = be
        if Admin._st is None:
            ns = argparse.Namespace(local=None, bucket=os.environ["S3_BUCKET"], stdlib=False,
                                    retry_secs=10)
            Admin._st = s3admin.make_store(ns)
        self.st = Admin._st

    def full(self, vol):
        return f"{self.be.prefix}/{vol}"

    def _quiet(self, fn, **kw):
        with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
            rc = fn(self.st, argparse.Namespace(**kw))
        H.check(rc == 0, f"s3admin {fn.__name__}({kw}): {rc}")

    def put_volume(self, path, vol, bs):
        self._quiet(self.mod.cmd_put_volume, file=path, prefix=self.full(vol), block_size=bs,
                    replace=False)

    def cat_volume(self, vol, out):
        self._quiet(self.mod.cmd_cat_volume, prefix=self.full(vol), out=out)

    def volume_bytes(self, vol):
        vp = self.full(vol) + "/"
        return b"".join(self.st.get(k) for k, _ in self.st.list(vp)
                        if re.match(r"^\d{10}$", k[len(vp):]))

    def keys(self, rel=""):
        root = self.be.prefix + "/"
        return sorted(k[len(root):] for k, _ in self.st.list(root + rel))

    def check_layout(self, vol, bs=None):
        vp = self.full(vol) + "/"
        ok, msg = self.mod.check_layout(self.st.list(vp), vp, bs)
        H.check(ok, f"layout of {vol}: {msg}")
        return f"{vol}: {msg}"

    def put(self, rel, data):
        self.st.put(self.full(rel), data)

    def remove_all(self):
        keys = [k for k, _ in self.st.list(self.be.prefix + "/")]
        if keys:
            self.st.delete(keys)


def new_backend(suffix=""):
    """H.new_backend() with an in-process cleanup (the harness's spawns
    s3admin.py rm-prefix: seconds per test on a busy machine); suffix is
    appended to the unique root prefix."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", H._scope.name)[:40]
    be = H.S3Backend(f"s3bfs-integ/{name}-{os.getpid()}-{random.getrandbits(32):08x}{suffix}")
    ad = Admin(be)
    if H.KEEP:
        H.defer(H.info, f"kept s3://{be.bucket}/{be.prefix}/")
    else:
        H.defer(ad.remove_all)
    return be, ad


def closed_port():
    """A local TCP port that nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def creds_file(d, name, key, secret, mode=0o600):
    p = os.path.join(d, name)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"AWS_ACCESS_KEY_ID={key}\nAWS_SECRET_ACCESS_KEY={secret}\n")
    os.chmod(p, mode)
    return p


def processes_mentioning(needle):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if needle in cmd and "s3blockfs" in cmd:
            out.append(int(pid))
    return out


def via(be, endpoint, extra=()):
    """The backend as seen through another endpoint (the proxy)."""
    b = copy.copy(be)
    b.opts = [o for o in be.opts if not o.startswith("endpoint=")] + [f"endpoint={endpoint}"]
    b.opts += list(extra)
    return b


class Proxy:
    """tests/s3/faultproxy.py between the daemon and the server; stopped by
    PID after the test."""

    def __init__(self, *args):
        ep = os.environ["S3_ENDPOINT"]
        m = re.match(r"^https?://([^/]+)", ep)
        H.check(m, f"S3_ENDPOINT {ep!r}: cannot find host:port")
        self.log = os.path.join(H.tmpdir("proxy"), "proxy.log")
        cmd = [sys.executable, FAULTPROXY, "--upstream", m.group(1), "--listen-port", "0"]
        cmd += list(args)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        H.defer(self.stop)
        deadline = time.monotonic() + 15 * H.SCALE
        line = b""
        while time.monotonic() < deadline and b"\n" not in line:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                c = os.read(self.proc.stdout.fileno(), 256)
                if not c:
                    break
                line += c
        m = re.search(rb"PROXY_PORT=(\d+)", line)
        H.check(m, f"faultproxy did not print PROXY_PORT: {line!r} {self.tail()}")
        self.port = int(m.group(1))
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def tail(self):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def ctl(self, cmd):
        with urllib.request.urlopen(f"{self.endpoint}/__proxy__/{cmd}", timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def daemon_stats(m):
    return json.loads(os.getxattr(m.mnt, "user.s3blockfs.stats").decode())


def local_db(path, script):
    r = subprocess.run(["sqlite3", "-bail", "-batch", path], input=script, capture_output=True,
                       text=True, timeout=120)
    H.check(r.returncode == 0, f"local sqlite3 {path}: {r.stderr.strip()}")
    return r.stdout


DUMP = "SELECT id, k, v FROM t ORDER BY id;"


# ----------------------------------------------------------- 1. mount errors

class _Redirect(http.server.BaseHTTPRequestHandler):
    """What AWS answers for a bucket in another region."""

    def do_GET(self):
        body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code>'
                b'<Message>The bucket you are attempting to access must be addressed using the '
                b'specified endpoint.</Message><Endpoint>blocks.s3.eu-west-3.amazonaws.com'
                b'</Endpoint><Bucket>blocks</Bucket><RequestId>FAKE</RequestId></Error>')
        self.send_response(301)
        self.send_header("x-amz-bucket-region", "eu-west-3")
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_mount_errors():
    be, ad = new_backend()
    mnt = H.tmpdir("mnt")
    d = H.tmpdir("creds")
    ak, sk = os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"]
    ep = os.environ["S3_ENDPOINT"]
    region = os.environ.get("S3_REGION") or "us-east-1"
    bucket = os.environ["S3_BUCKET"]
    good = creds_file(d, "good", ak, sk)
    badsecret = creds_file(d, "badsecret", ak, "wrong-secret-0123456789abcdefghijklmnopq")
    badkey = creds_file(d, "badkey", "AKIAS3BFSNOSUCHKEY00", sk)
    openf = creds_file(d, "open", ak, sk, 0o644)
    port = closed_port()
    nob = f"s3bfs-nosuch-{random.getrandbits(32):08x}"
    esc = re.escape

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    H.defer(srv.server_close)
    H.defer(srv.shutdown)
    fake = f"http://127.0.0.1:{srv.server_address[1]}"

    def o(endpoint=ep, creds=good, extra=""):
        return f"endpoint={endpoint},region={region},credentials={creds}{extra}"

    cases = [
        ("no such bucket", [o(), f"{nob}:x"], 1,
         f"s3blockfs: bucket {nob} does not exist (HTTP 404 NoSuchBucket at {ep})"),
        ("wrong secret", [o(creds=badsecret), be.source], 1,
         f"s3blockfs: access denied to bucket {bucket}: check the access key and secret "
         "(SignatureDoesNotMatch)"),
        ("unknown access key", [o(creds=badkey), be.source], 1,
         f"s3blockfs: access denied to bucket {bucket}: check the access key and secret "
         "(InvalidAccessKeyId)"),
        ("endpoint unreachable", [o(endpoint=f"http://127.0.0.1:{port}",
                                    extra=",connect_timeout=2,retry_budget=2"), be.source], 1,
         re.compile(f"^s3blockfs: cannot reach endpoint {esc(f'http://127.0.0.1:{port}')}: "
                    r".*(?i:connect|refused)")),
        ("credentials readable by others", [o(creds=openf), be.source], 1,
         f"s3blockfs: credentials file {openf} is readable by others (mode 0644); "
         f"chmod 600 {openf}"),
        ("malformed endpoint (scheme)", [o(endpoint="htp:/127.0.0.1"), be.source], 2,
         "s3blockfs: endpoint=htp:/127.0.0.1: must start with http:// or https://"),
        ("malformed endpoint (port)", [o(endpoint="http://127.0.0.1:12ab"), be.source], 2,
         "s3blockfs: endpoint=http://127.0.0.1:12ab: bad port"),
        ("unknown option", [o(extra=",no_such_option=1"), be.source], 2,
         re.compile(r"^s3blockfs: .*unknown option.*no_such_option=1")),
        ("wrong region (fake 301 + x-amz-bucket-region)",
         [o(endpoint=fake), be.source], 1,
         f"s3blockfs: bucket {bucket} is in region eu-west-3, not {region}: "
         "use -o region=eu-west-3"),
    ]
    # RGW itself does not care about the signing region: say so, once.
    r = H.run_daemon(["-o", o(extra="").replace(f"region={region}", "region=eu-west-3"),
                      be.source, mnt])
    if r.returncode == 0:
        H.info("wrong region against RGW: accepted (RGW ignores the region), "
               "the fake endpoint stands in for AWS")
        deadline = time.monotonic() + 30 * H.SCALE
        while (H.is_mounted(mnt) or processes_mentioning(mnt)) and time.monotonic() < deadline:
            if H.is_mounted(mnt):
                subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
            time.sleep(0.1)
        H.check(not H.is_mounted(mnt), f"{mnt}: the probe mount did not go away")
    else:
        H.info(f"wrong region against RGW: exit {r.returncode}: {r.stderr.strip()}")
    # the whole environment minus AWS_*: nothing but the options decides
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    failures = []
    for name, args, status, want in cases:
        cmd = [H.DAEMON, "-o", args[0], args[1], mnt]
        t0 = time.monotonic()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * H.SCALE,
                               stdin=subprocess.DEVNULL, env=env)
        except subprocess.TimeoutExpired:
            failures.append(f"{name}: still running after {60 * H.SCALE:.0f} s")
            continue
        dt = time.monotonic() - t0
        lines = r.stderr.strip().splitlines()
        problems = []
        if r.returncode != status:
            problems.append(f"exit {r.returncode}, want {status}")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr")
        elif isinstance(want, str) and lines[0] != want:
            problems.append(f"message {lines[0]!r}, want {want!r}")
        elif not isinstance(want, str) and not want.search(lines[0]):
            problems.append(f"message {lines[0]!r} does not match {want.pattern!r}")
        if r.stdout:
            problems.append(f"stdout {r.stdout!r}")
        if H.is_mounted(mnt):
            problems.append("left mounted")
            subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        left = processes_mentioning(mnt)
        if left:
            problems.append(f"processes left: {left}")
        if problems:
            failures.append(f"{name}: {'; '.join(problems)} (stderr {r.stderr.strip()!r})")
        else:
            H.info(f"{name}: exit {r.returncode} in {dt:.2f} s: {lines[0]}")
    H.check(not failures, "\n  ".join(failures))


# -------------------------------------------------------- 2. s3vfs interop

def make_db(path, page_size, rows):
    local_db(path, f"""
PRAGMA page_size={page_size};
PRAGMA journal_mode=DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
CREATE INDEX t_k ON t(k);
BEGIN;
INSERT INTO t(k, v) SELECT (value * 7919) % 10007, printf('row-%06d-%s', value, hex(zeroblob(value % 40)))
  FROM generate_series(1, {rows});
COMMIT;
""")


MORE = """
BEGIN;
INSERT INTO t(k, v) SELECT value, printf('mount-%06d', value) FROM generate_series(1, 1500);
UPDATE t SET v = v || '-upd' WHERE id % 13 = 0;
DELETE FROM t WHERE id % 97 = 0;
COMMIT;
INSERT INTO t(k, v) VALUES (-1, 'last');
"""


def test_interop_s3vfs():
    be, ad = new_backend()
    work = H.tmpdir("work")
    combos = [(4096, 4095), (4096, 4096), (65536, 65536), (65536, 4096)]
    rows = 3000
    vols = {}
    t0 = time.monotonic()
    for ps, bs in combos:
        src = os.path.join(work, f"src-{ps}-{bs}.db")
        make_db(src, ps, rows)
        vol = f"v{ps}-{bs}/app.db"
        ad.put_volume(src, vol, bs)
        vols[(ps, bs)] = (src, vol)
        H.info(f"page {ps} block {bs}: {os.path.getsize(src)} bytes, "
               f"{-(-os.path.getsize(src) // bs)} blocks uploaded")
    timed("build + put-volume x4", t0)
    before = {}
    t0 = time.monotonic()
    with H.Mount(be) as m:
        for (ps, bs), (src, vol) in vols.items():
            p = m.path(vol)
            want = H.file_bytes(src)
            got = H.file_bytes(p)
            H.check(got == want, f"{vol}: {len(got)} bytes through the mount differ from the "
                    f"{len(want)}-byte source")
            H.check(os.path.getsize(p) == len(want), f"{vol}: st_size {os.path.getsize(p)}")
            bsx = os.getxattr(p, "user.s3blockfs.block_size").decode()
            H.check(bsx == str(bs), f"{vol}: block size {bsx}, want {bs}")
            H.integrity_ok(p)
            q = "SELECT count(*), sum(k), total(length(v)) FROM t;" + DUMP
            a = H.sql(p, q).stdout
            b = local_db(src, q)
            H.check(a == b, f"{vol}: query results differ through the mount")
            before[(ps, bs)] = b.splitlines()[0]
        timed("read 4 volumes (bytes, integrity, queries)", t0)
        t0 = time.monotonic()
        for (ps, bs), (src, vol) in vols.items():
            H.sql(m.path(vol), MORE)
            local_db(src, MORE)  # the reference
        timed("write through the mount x4", t0)
    t0 = time.monotonic()
    for (ps, bs), (src, vol) in vols.items():
        out = os.path.join(work, f"out-{ps}-{bs}.db")
        ad.cat_volume(vol, out)
        H.check(H.file_bytes(out)[:16] == b"SQLite format 3\x00", f"{vol}: no SQLite header")
        H.integrity_ok(out)
        q = "SELECT count(*), sum(k), total(length(v)) FROM t;" + DUMP
        a, b = local_db(out, q), local_db(src, q)
        H.check(a == b, f"{vol}: downloaded database differs from the reference: "
                f"{a.splitlines()[0]} vs {b.splitlines()[0]}")
        H.check(a.splitlines()[0] != before[(ps, bs)], f"{vol}: new rows missing")
        msg = ad.check_layout(vol, bs)
        keys = ad.keys(f"v{ps}-{bs}/")
        stray = [k for k in keys if not re.match(rf"^v{ps}-{bs}/app\.db/\d{{10}}$", k)]
        H.check(not stray, f"{vol}: stray keys after the unmount: {stray[:5]}")
        H.info(f"{vol}: {a.splitlines()[0]}; {msg}")
    timed("cat-volume + checks x4", t0)


# ------------------------------------------------------- 3. fault injection

def workload(n_delete, n_wal, bulk):
    s = ["PRAGMA journal_mode=DELETE;",
         "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);",
         "CREATE INDEX t_k ON t(k);",
         "BEGIN;",
         f"INSERT INTO t(k, v) SELECT value, printf('bulk-%06d-%0100d', value, value) "
         f"FROM generate_series(1, {bulk});",
         "COMMIT;"]
    for i in range(n_delete):
        s.append(f"BEGIN; INSERT INTO t(k, v) VALUES({100000 + i}, 'del-{i}'); "
                 f"UPDATE t SET v = v || '+' WHERE id = {(i * 37) % bulk + 1}; COMMIT;")
    s.append("PRAGMA journal_mode=WAL;")
    for i in range(n_wal):
        s.append(f"BEGIN; INSERT INTO t(k, v) VALUES({200000 + i}, 'wal-{i}'); "
                 f"UPDATE t SET k = k + 1 WHERE id = {(i * 53) % bulk + 1}; COMMIT;")
    s.append("UPDATE t SET v = upper(v) WHERE id % 10 = 0;")
    s.append("PRAGMA wal_checkpoint(TRUNCATE);")
    return "\n".join(s) + "\n"


def test_faults():
    be, ad = new_backend()
    work = H.tmpdir("work")
    px = Proxy("--fail-rate", "0.08", "--fail-kinds", "500,503,drop,truncate",
               "--delay-ms", "0-4", "--seed", "7")
    n_delete, n_wal, bulk = 120, 150, 4000
    script = workload(n_delete, n_wal, bulk)
    ref = os.path.join(work, "ref.db")
    local_db(ref, script)
    want = local_db(ref, "SELECT count(*), sum(k) FROM t;" + DUMP)
    pbe = via(be, px.endpoint, ["request_timeout=10", "connect_timeout=3"])
    t0 = time.monotonic()
    with H.Mount(pbe) as m:
        db = m.path("app.db")
        H.sql(db, script, timeout=400)
        timed(f"workload through the proxy: bulk {bulk} rows, {n_delete} DELETE-mode + "
              f"{n_wal} WAL transactions", t0)
        H.integrity_ok(db)
        got = H.sql(db, "SELECT count(*), sum(k) FROM t;" + DUMP).stdout
        H.check(got == want, f"rows differ: {got.splitlines()[0]} vs {want.splitlines()[0]}")
        ds = daemon_stats(m)
        ps = px.ctl("stats")
        H.sql(db, "PRAGMA journal_mode=DELETE;")
    H.info(f"proxy: {ps['requests']} requests, faults {ps['faults']}, "
           f"responses {ps['responses']}")
    H.info(f"daemon: requests {ds['requests']}, retries {ds['retries']}, "
           f"errors {ds['errors']}, up {ds['bytes_up']} B, down {ds['bytes_down']} B")
    H.check(ps["faults_total"] > 0, "the proxy injected no fault")
    H.check(ds["retries"] > 0, f"daemon stats show no retry: {ds}")
    # the read path through the same faults: a fresh daemon reads every
    # block (truncated GETs must be errors and retried, never short blocks)
    px.ctl("reset")
    t0 = time.monotonic()
    with H.Mount(pbe) as m:
        db = m.path("app.db")
        H.integrity_ok(db)
        got = H.sql(db, "SELECT count(*), sum(k) FROM t;" + DUMP).stdout
        H.check(got == want, "rows differ when read back through the faults")
        ds = daemon_stats(m)
    ps = px.ctl("stats")
    timed("cold read back through the proxy", t0)
    H.info(f"read back: {ds['requests']['get']} GETs, faults {ps['faults']}, "
           f"retries {ds['retries']}")
    H.check(ps["faults_total"] > 0 and ds["retries"] > 0, "no fault while reading back")
    H.info(ad.check_layout("app.db"))
    keys = ad.keys()
    stray = [k for k in keys if not re.match(r"^app\.db/\d{10}$", k)]
    H.check(not stray, f"stray keys: {stray[:5]}")
    out = os.path.join(work, "out.db")
    ad.cat_volume("app.db", out)
    H.integrity_ok(out)
    got = local_db(out, "SELECT count(*), sum(k) FROM t;" + DUMP)
    H.check(got == want, "the downloaded database differs from the reference")
    H.info(f"downloaded: {got.splitlines()[0]} rows/sum as expected")


# ---------------------------------------------------------------- 4. outage

OUTAGE_OPTS = ["retry_budget=3", "request_timeout=2", "connect_timeout=1",
               "writeback_delay=300"]
BOUND = 45  # seconds an EIO may take with these options


def expect_eio(what, fn):
    t0 = time.monotonic()
    try:
        fn()
    except OSError as e:
        dt = time.monotonic() - t0
        H.check(e.errno == errno.EIO, f"{what}: {e!r}, want EIO")
        H.check(dt < BOUND * H.SCALE, f"{what}: EIO took {dt:.1f} s")
        H.info(f"{what}: EIO after {dt:.2f} s")
        return dt
    raise H.Fail(f"{what}: succeeded while the server is down "
                 f"({time.monotonic() - t0:.2f} s)")


def test_outage():
    be, ad = new_backend()
    px = Proxy()
    rd = H.tmpdir("recovery")
    # ttl: what the daemon knows of names (app.db-journal is absent) stays
    # trusted through the outage, so sqlite's journal opens and the COMMIT
    # fails where it should, at the fsync.  (With the default ttl=10 a new
    # sqlite3 process during a long outage fails earlier: "unable to open
    # database file", the journal's lookup needing the store.)
    pbe = via(be, px.endpoint, OUTAGE_OPTS + [f"recovery_dir={rd}", "ttl=3600"])
    cold = os.urandom(300_000)
    m = H.Mount(pbe)
    with m:
        db = m.path("app.db")
        H.sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                  "INSERT INTO t(v) SELECT printf('before-%d', value) FROM generate_series(1, 500);")
        with open(m.path("cold.bin"), "wb") as f:
            f.write(cold)
            f.flush()
            os.fsync(f.fileno())
    # a fresh daemon: nothing of cold.bin is cached
    m.start()
    fds = {}

    def close_fds():
        # before any unmount: an open descriptor makes the mount busy
        for name in list(fds):
            try:
                os.close(fds.pop(name))
            except OSError:
                pass

    try:
        db = m.path("app.db")
        H.check(H.sql(db, "SELECT count(*) FROM t;").stdout.strip() == "500", "rows before")
        H.check(os.stat(m.path("cold.bin")).st_size == len(cold), "cold.bin size")
        data = os.urandom(200_000)
        fds["plain"] = fd = os.open(m.path("plain.bin"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                                    0o644)
        H.check(os.write(fd, data) == len(data), "short write")
        fds["cold"] = cfd = os.open(m.path("cold.bin"), os.O_RDONLY)

        H.check(px.ctl("down")["down"], "proxy not down")
        expect_eio("fsync of plain.bin, server down", lambda: os.fsync(fd))
        expect_eio("cold read of cold.bin, server down", lambda: os.pread(cfd, 4096, 150_000))
        t0 = time.monotonic()
        r = H.sql(db, "BEGIN; INSERT INTO t(v) VALUES('during-outage'); COMMIT;", check=False,
                  timeout=BOUND)
        dt = time.monotonic() - t0
        H.check(r.returncode != 0, "COMMIT succeeded while the server is down")
        H.check("disk I/O error" in r.stderr, f"COMMIT failed with {r.stderr.strip()!r}")
        H.check(dt < BOUND * H.SCALE, f"COMMIT took {dt:.1f} s to fail")
        H.info(f"COMMIT, server down: {r.stderr.strip()} after {dt:.2f} s")
        # a second fsync still fails: the blocks stayed dirty, not dropped
        expect_eio("second fsync, server still down", lambda: os.fsync(fd))

        px.ctl("up")
        t0 = time.monotonic()
        os.fsync(fd)
        timed("fsync after the server came back", t0)
        os.close(fds.pop("plain"))
        got = ad.volume_bytes("plain.bin")
        H.check(got == data, f"bucket holds {len(got)} bytes of plain.bin, want {len(data)}")
        H.info(ad.check_layout("plain.bin"))
        H.check(os.pread(cfd, len(cold), 0) == cold, "cold.bin read back wrong after /up")
        close_fds()
        H.sql(db, "INSERT INTO t(v) SELECT printf('after-%d', value) FROM generate_series(1, 50);")
        st = m.unmount()
        H.check(st == 0, f"daemon exit {st} at unmount:\n" + m.log_tail())
    finally:
        close_fds()
        px.ctl("up")
    # a direct mount (no proxy): what was acknowledged is there
    with H.Mount(be) as m2:
        db = m2.path("app.db")
        H.integrity_ok(db)
        out = H.sql(db, "SELECT count(*) FROM t WHERE v LIKE 'before-%';"
                        "SELECT count(*) FROM t WHERE v LIKE 'after-%';"
                        "SELECT count(*) FROM t WHERE v = 'during-outage';").stdout.split()
        H.check(out == ["500", "50", "0"], f"before/after/failed rows: {out}")
        H.check(H.file_bytes(m2.path("plain.bin")) == data, "plain.bin after remount")
    H.check(not os.listdir(rd), f"recovery dir used by a clean unmount: {os.listdir(rd)}")
    H.info(ad.check_layout("app.db"))


def test_outage_unmount():
    be, ad = new_backend()
    px = Proxy()
    rd = H.tmpdir("recovery")
    work = H.tmpdir("work")
    pbe = via(be, px.endpoint, OUTAGE_OPTS + [f"recovery_dir={rd}"])
    m = H.Mount(pbe, expect_status=None)
    data = os.urandom(50_000)
    with m:
        db = m.path("app.db")
        H.sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                  "INSERT INTO t(v) SELECT printf('acked-%d-%0200d', value, value) "
                  "FROM generate_series(1, 400);")
        # a session that writes without fsync; its close happens while down
        sq = subprocess.Popen(["sqlite3", "-batch", db], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        H.defer(lambda: sq.poll() is None and sq.kill())
        sq.stdin.write("PRAGMA synchronous=OFF;\n"
                       "INSERT INTO t(v) SELECT printf('unsynced-%d-%0200d', value, value) "
                       "FROM generate_series(1, 300);\nSELECT 'done';\n")
        sq.stdin.flush()
        r, _, _ = select.select([sq.stdout], [], [], 60 * H.SCALE)
        H.check(r and sq.stdout.readline().strip() == "done", "sqlite3 session did not finish")
        fd = os.open(m.path("plain.bin"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        ds = daemon_stats(m)
        H.info(f"dirty before the outage: {ds['cache']['dirty_blocks']} blocks")
        H.check(ds["cache"]["dirty_blocks"] > 0, "nothing dirty: the test would prove nothing")
        px.ctl("down")
        out, err = sq.communicate(timeout=BOUND * H.SCALE)
        H.info(f"sqlite3 closed while down: exit {sq.returncode} {err.strip()!r}")
        try:
            os.close(fd)
            raise H.Fail("close of plain.bin succeeded while the server is down")
        except OSError as e:
            H.check(e.errno == errno.EIO, f"close: {e!r}")
        t0 = time.monotonic()
        st = m.unmount(timeout=BOUND)
        dt = timed("unmount with the server down", t0)
        H.check(st == 1, f"daemon exit {st} at unmount, want 1:\n" + m.log_tail())
        H.check(not H.is_mounted(m.mnt), "still mounted")
    log = m.log_text()
    mm = re.search(r"saved in (" + re.escape(rd) + r"/[^ ]+) ", log)
    H.check(mm, f"the log does not name a recovery dir under {rd}:\n" + m.log_tail())
    rdir = mm.group(1)
    H.info("daemon said: " + [l for l in log.splitlines() if rdir in l][0].strip())
    saved = {}
    for root, _, files in os.walk(rdir):
        for f in files:
            p = os.path.join(root, f)
            saved[os.path.relpath(p, rdir)] = H.file_bytes(p)
    H.info(f"recovery dir: {len(saved)} files: {sorted(saved)[:8]}...")
    bad = [k for k in saved if not re.match(r"^(app\.db|plain\.bin)/\d{10}$", k)]
    H.check(not bad, f"recovery dir holds other names: {bad}")
    H.check("plain.bin/0000000000" in saved, "plain.bin's block not in the recovery dir")
    H.check(any(k.startswith("app.db/") for k in saved), "no app.db block in the recovery dir")

    px.ctl("up")
    before = ad.volume_bytes("app.db")
    for k, v in sorted(saved.items()):
        ad.put(k, v)
    out = os.path.join(work, "app.db")
    ad.cat_volume("app.db", out)
    H.check(H.file_bytes(out) != before, "the recovered blocks changed nothing")
    H.integrity_ok(out)
    cnt = local_db(out, "SELECT count(*) FROM t WHERE v LIKE 'acked-%';"
                        "SELECT count(*) FROM t WHERE v LIKE 'unsynced-%';").split()
    H.check(cnt == ["400", "300"], f"acked/unsynced rows after recovery: {cnt}")
    H.check(ad.volume_bytes("plain.bin") == data, "plain.bin after recovery")
    H.info(ad.check_layout("app.db"))
    with H.Mount(be) as m2:
        H.integrity_ok(m2.path("app.db"))
        H.check(H.sql(m2.path("app.db"), "SELECT count(*) FROM t;").stdout.strip() == "700",
                "rows through a new mount")


# --------------------------------------------------------------- 5. odd keys

ODD = ["a b+c%d&é~.db", "plain space.db", "plus+plus.bin", "pct%2Fnot-a-slash.bin",
       "amp&amp;.bin", "ünïcødé-日本.bin", "~tilde~.bin", "q?hash#eq=.bin", "%%41.bin"]


def test_odd_keys():
    # the mount's root prefix has odd characters too
    be, ad = new_backend("/root dir +&%é~")
    contents = {}
    with H.Mount(be, opts=["block_size=65536"]) as m:
        H.sql(m.path(ODD[0]), "CREATE TABLE t(x); INSERT INTO t VALUES('odd');")
        contents[ODD[0]] = None
        for i, n in enumerate(ODD[1:]):
            b = f"{n}\n".encode() * (i + 1)
            with open(m.path(n), "wb") as f:
                f.write(b)
            contents[n] = b
        os.mkdir(m.path("dir with space+&é"))
        with open(m.path("dir with space+&é/in~side%.bin"), "wb") as f:
            f.write(b"inside")
        H.check(sorted(os.listdir(m.mnt)) == sorted(ODD + ["dir with space+&é"]),
                f"listing: {sorted(os.listdir(m.mnt))}")
        H.check(os.listdir(m.path("dir with space+&é")) == ["in~side%.bin"], "sub listing")
    want = sorted(f"{n}/0000000000" for n in ODD) + ["dir with space+&é/in~side%.bin/0000000000"]
    got = ad.keys()
    H.check(sorted(got) == sorted(want), f"bucket keys {got}, want {want}")
    with H.Mount(be, opts=["block_size=65536"]) as m:
        H.check(sorted(os.listdir(m.mnt)) == sorted(ODD + ["dir with space+&é"]),
                f"listing after remount: {sorted(os.listdir(m.mnt))}")
        H.check(H.sql(m.path(ODD[0]), "SELECT x FROM t;").stdout.strip() == "odd", "query")
        for n, b in contents.items():
            if b is not None:
                H.check(H.file_bytes(m.path(n)) == b, f"{n!r}: contents")
        # rename (server-side copy) from one odd name to another, and remove
        os.rename(m.path("plus+plus.bin"), m.path("renamed &+% é~.bin"))
        os.unlink(m.path("~tilde~.bin"))
        H.check(H.file_bytes(m.path("renamed &+% é~.bin")) == contents["plus+plus.bin"],
                "renamed contents")
    want = sorted([k for k in want if not k.startswith(("plus+plus.bin/", "~tilde~.bin/"))]
                  + ["renamed &+% é~.bin/0000000000"])
    got = ad.keys()
    H.check(got == want, f"bucket keys after rename/unlink {got}, want {want}")
    H.info(f"{len(got)} keys as expected: {got}")


TESTS = [test_mount_errors, test_interop_s3vfs, test_faults, test_outage, test_outage_unmount,
         test_odd_keys]

if __name__ == "__main__":
    if H.BACKEND_KIND != "s3":
        print("SKIP: S3 tests only (S3BFS_TEST_BACKEND=s3 and the S3_* variables of "
              "tests/s3/rgw-start.sh)")
        print(f"0 passed, 0 failed, {len(TESTS)} skipped")
        sys.exit(H.SKIP)
    H.main(TESTS)
