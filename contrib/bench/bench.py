#!/usr/bin/env python3
"""s3blockfs benchmark: stock sqlite3 workloads on a mount over a delaying proxy.

Run through contrib/bench/bench.sh, which starts the test S3 server (Ceph
RGW) and exports its S3_* variables; this script does the rest:

  for each added latency L (BENCH_LATENCIES, default "0 10" ms):
    start tests/s3/faultproxy.py --delay-ms L in front of the server
    measure the server's raw parallel PUT/GET rate through it (the lower
      bound on time): BENCH_RAW_THREADS threads x objects of each block size
    for each block size B (BENCH_BLOCK_SIZES, default "4096 65536"):
      mount s3blockfs (the daemon talks to the proxy), page size 4096, and run
      W1 bulk load, W2 small transactions (DELETE, then WAL journal),
      W3 cold point queries (after a remount), W4 cold full scan (after a
      remount); statistics from the daemon (user.s3blockfs.stats) and from
      the proxy (/__proxy__/stats) around each workload
  the same workloads on a tmpfs file (the upper bound)
  a summary table and the targets of the performance issue, PASS/MISS.

W2 and W3 run in one sqlite3 process each, fed one statement at a time
through a pipe: the time of a statement is from sending it to reading a
marker printed after it (the shell flushes after every statement), so
process start-up is not measured, and the daemon's counters are read between
statements (requests per commit, GETs per query).  A few more W2 commits run
under strace -T to count the pages sqlite3 writes and to show which system
calls a commit waits in.

Exit status: 0 when every workload ran (whatever the targets say), 1 when
something broke.  Python 3 stdlib only.
"""
import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
S3DIR = os.path.join(ROOT, "tests", "s3")
MiB = 1024 * 1024
PAGE = 4096


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def env_list(name, default):
    v = os.environ.get(name, "")
    return [int(x) for x in (v.split() if v.strip() else default)]


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------
# processes we start: every PID also goes to WORKDIR/pids for bench.sh's trap

class Procs:
    def __init__(self, workdir):
        self.pidfile = os.path.join(workdir, "pids")
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        with open(self.pidfile, "a") as f:
            f.write(f"{p.pid}\n")
        return p

    def stop(self, p, timeout=10):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p)


# ---------------------------------------------------------------------------
# the proxy

def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


class Proxy:
    def __init__(self, procs, workdir, upstream, delay_ms):
        self.procs = procs
        self.delay_ms = delay_ms
        pf = os.path.join(workdir, f"proxy-{delay_ms}.port")
        self.logf = open(os.path.join(workdir, f"proxy-{delay_ms}.log"), "w")
        self.p = procs.start([sys.executable, os.path.join(S3DIR, "faultproxy.py"),
                              "--upstream", upstream, "--delay-ms", str(delay_ms),
                              "--port-file", pf],
                             stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not os.path.exists(pf):
            if self.p.poll() is not None or time.monotonic() > deadline:
                raise BenchError("faultproxy did not start")
            time.sleep(0.05)
        with open(pf) as f:
            self.port = int(f.read().strip())
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self):
        return http_json(self.url + "/__proxy__/stats")

    def reset(self):
        http_json(self.url + "/__proxy__/reset")

    def stop(self):
        self.procs.stop(self.p)
        self.logf.close()


# ---------------------------------------------------------------------------
# raw S3 rate: N threads (split over a few processes, so Python's lock does
# not serialise the signing) PUT then GET objects of one size for some seconds

def _raw_worker(args):
    endpoint, ak, sk, region, bucket, prefix, size, nthreads, secs, mode, nkeys, wid = args
    sys.path.insert(0, S3DIR)
    import s3admin  # noqa: E402  (tests/s3/s3admin.py: stdlib SigV4 client)
    body = os.urandom(size)
    counts = [0] * nthreads
    lat = [0.0] * nthreads
    errors = []
    start_at = time.monotonic() + 0.3
    stop_at = start_at + secs

    def run(t):
        c = s3admin.StdlibS3(endpoint, ak, sk, region, bucket, 10)
        rnd = random.Random(wid * 1000 + t)
        while time.monotonic() < start_at:
            time.sleep(0.005)
        n = 0
        try:
            while True:
                t0 = time.monotonic()
                if t0 >= stop_at:
                    break
                if mode == "put":
                    c.put(f"{prefix}/{wid}-{t}-{n}", body)
                elif mode == "del":
                    if n >= nkeys:
                        break
                    c.req("DELETE", c._kpath(f"{prefix}/{wid}-{t}-{n}"))
                else:
                    # any object the PUT phase stored: worker, thread, number
                    c.get(f"{prefix}/{rnd.randrange(nkeys[0])}-{rnd.randrange(nkeys[1])}-"
                          f"{rnd.randrange(nkeys[2])}")
                lat[t] += time.monotonic() - t0
                n += 1
        except Exception as e:  # noqa: BLE001
            errors.append(f"{type(e).__name__}: {e}")
        counts[t] = n

    ths = [threading.Thread(target=run, args=(t,)) for t in range(nthreads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return counts, sum(lat), errors


def _raw_init():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def raw_rate(s3, endpoint, prefix, size, threads, secs):
    """-> dict: put_rate, get_rate (objects/s with `threads` threads), put_ms,
    get_ms (their average latency), get1_ms, put1_ms, del1_ms (one thread)."""
    nproc = max(1, min(4, threads // 4))
    per = [threads // nproc + (1 if i < threads % nproc else 0) for i in range(nproc)]
    ctx = multiprocessing.get_context("fork")
    base = (endpoint, s3["ak"], s3["sk"], s3["region"], s3["bucket"], prefix, size)
    out = {}
    pool = ctx.Pool(nproc, initializer=_raw_init)
    try:
        res = pool.map(_raw_worker, [base + (per[i], secs, "put", None, i) for i in range(nproc)])
        errs = [e for r in res for e in r[2]]
        if errs:
            raise BenchError(f"raw PUT failed: {errs[0]}")
        n = sum(sum(r[0]) for r in res)
        out["put_rate"] = n / secs
        out["put_ms"] = 1000 * sum(r[1] for r in res) / max(n, 1)
        # every worker put at least min_per objects per thread: GET among those
        min_per = min(min(r[0]) for r in res)
        if min_per < 1:
            raise BenchError("raw PUT: a thread stored nothing")
        nkeys = (nproc, min(per), min_per)
        res = pool.map(_raw_worker, [base + (min(per), secs, "get", nkeys, i) for i in range(nproc)])
        errs = [e for r in res for e in r[2]]
        if errs:
            raise BenchError(f"raw GET failed: {errs[0]}")
        n = sum(sum(r[0]) for r in res)
        out["get_rate"] = n / secs
        out["get_ms"] = 1000 * sum(r[1] for r in res) / max(n, 1)
        # one thread: the latency of a single request, what a round trip
        # costs on this server (GET: "one block at a time"; PUT: one fsync;
        # DELETE: one journal deletion)
        one = max(1.0, secs / 2)
        res = pool.map(_raw_worker, [base + (1, one, "get", nkeys, 0)])
        res += pool.map(_raw_worker, [base[:5] + (prefix + "-1", size, 1, one, "put", None, 0)])
        res += pool.map(_raw_worker, [base[:5] + (prefix + "-1", size, 1, one, "del",
                                                  res[1][0][0], 0)])
        for mode, r in zip(("get", "put", "del"), res):
            if r[2]:
                raise BenchError(f"raw {mode} failed: {r[2][0]}")
            out[mode + "1_ms"] = 1000 * r[1] / max(r[0][0], 1)
        pool.close()
        pool.join()
    finally:
        pool.terminate()
    return out


# ---------------------------------------------------------------------------
# the daemon

def mounted(mnt):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == mnt:
                return True
    return False


def daemon_stats(mnt):
    return json.loads(os.getxattr(mnt, "user.s3blockfs.stats"))


class Daemon:
    def __init__(self, procs, binary, source, mnt, opts, logpath):
        self.procs, self.mnt = procs, mnt
        self.logpath = logpath
        self.logf = open(logpath, "a")
        self.p = procs.start([binary, "-f", "-o", opts, source, mnt],
                             stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not mounted(mnt):
            if self.p.poll() is not None:
                raise BenchError(f"s3blockfs exited with {self.p.returncode}: "
                                 f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise BenchError("s3blockfs did not mount within 60 s")
            time.sleep(0.05)
        self.rss_max = 0
        self._poll_stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_rss, daemon=True)
        self._poller.start()

    def log_tail(self, n=15):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def _status(self, field):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _poll_rss(self):
        while not self._poll_stop.wait(0.05):
            self.rss_max = max(self.rss_max, self._status("VmRSS"))

    def reset_peak(self):
        """Peak RSS from now on: VmHWM reset (clear_refs 5) and our own poll."""
        self.rss_max = self._status("VmRSS")
        try:
            with open(f"/proc/{self.p.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def peak_rss(self):
        return max(self._status("VmHWM"), self.rss_max)

    def stats(self):
        return daemon_stats(self.mnt)

    def umount(self, timeout=600):
        self._poll_stop.set()
        for i in range(20):
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, text=True)
            if r.returncode == 0 or not mounted(self.mnt):
                break
            time.sleep(0.25)
        else:
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True)
            raise BenchError(f"cannot unmount {self.mnt}: {r.stderr.strip()}")
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.procs.stop(self.p)
            raise BenchError("s3blockfs did not exit after unmount")
        if self.p in self.procs.procs:
            self.procs.procs.remove(self.p)
        self.logf.close()
        if rc != 0:
            raise BenchError(f"s3blockfs exited with {rc} at unmount: {self.log_tail()}")

    def kill(self):
        self._poll_stop.set()
        if mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True)
        self.procs.stop(self.p)


# ---------------------------------------------------------------------------
# snapshots: daemon + proxy counters at one instant

def take_snap(mnt, proxy_url, reset=False):
    s = {}
    if proxy_url and reset:
        http_json(proxy_url + "/__proxy__/reset")
    s["t"] = time.monotonic()
    if mnt:
        s["daemon"] = daemon_stats(mnt)
    if proxy_url:
        s["proxy"] = http_json(proxy_url + "/__proxy__/stats")
    return s


DKINDS = ("get", "put", "head", "delete", "list", "copy")


def delta(a, b):
    """What happened between snapshots a and b (b taken later)."""
    d = {"secs": b["t"] - a["t"]}
    if "daemon" in a:
        da, db = a["daemon"], b["daemon"]
        d["req"] = {k: db["requests"].get(k, 0) - da["requests"].get(k, 0) for k in DKINDS}
        d["bytes_up"] = db["bytes_up"] - da["bytes_up"]
        d["bytes_down"] = db["bytes_down"] - da["bytes_down"]
        d["retries"] = db.get("retries", 0) - da.get("retries", 0)
        d["errors"] = db.get("errors", 0) - da.get("errors", 0)
        ca, cb = da.get("cache", {}), db.get("cache", {})
        d["cache"] = {k: cb[k] - ca.get(k, 0) for k in
                      ("hits", "misses", "readahead", "evictions", "uploads")
                      if k in cb}
    if "proxy" in a:
        pa, pb = a["proxy"], b["proxy"]
        meths = set(pa["forwarded"]) | set(pb["forwarded"])
        d["proxy"] = {m: pb["forwarded"].get(m, 0) - pa["forwarded"].get(m, 0) for m in sorted(meths)}
        d["proxy_up"] = pb["bytes_from_clients"] - pa["bytes_from_clients"]
        d["proxy_down"] = pb["bytes_to_clients"] - pa["bytes_to_clients"]
        area_a = pa["avg_in_flight"] * pa["elapsed_secs"]
        area_b = pb["avg_in_flight"] * pb["elapsed_secs"]
        # the proxy's clock is its own; its elapsed time spans the interval
        span = max(pb["elapsed_secs"] - pa["elapsed_secs"], 1e-6)
        d["avg_in_flight"] = (area_b - area_a) / span
        d["area"] = area_b - area_a
        d["max_in_flight"] = pb["max_in_flight"]  # since the last reset
        d["busy_secs"] = pb["busy_secs"] - pa["busy_secs"]
    return d


# ---------------------------------------------------------------------------
# sqlite3

TIMER_RE = re.compile(r"^Run Time: real ([0-9.]+)", re.M)


def run_sqlite(db, script, workdir, name, timeout=1800):
    path = os.path.join(workdir, name + ".sql")
    with open(path, "w") as f:
        f.write(script)
    t0 = time.monotonic()
    with open(path) as inp:
        r = subprocess.run(["sqlite3", "-batch", "-bail", db], stdin=inp,
                           capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    if r.returncode != 0 or "Error" in r.stderr:
        raise BenchError(f"sqlite3 {name} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return wall, r.stdout, [float(x) for x in TIMER_RE.findall(r.stdout)]


def w1_script(rows):
    return f"""PRAGMA page_size={PAGE};
PRAGMA journal_mode=DELETE;
PRAGMA synchronous=FULL;
.timer on
BEGIN;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<{rows})
INSERT INTO t SELECT i, abs(random()) % 1000000000, hex(randomblob(50)) FROM c;
COMMIT;
CREATE INDEX t_k ON t(k);
"""


class Shell:
    """One sqlite3 process driven a statement at a time through pipes.

    The shell flushes its output after every statement, so a marker printed
    after a statement tells that it has finished (a COMMIT: acknowledged),
    without counting process start-up, and lets us read the daemon's
    counters between two statements."""

    MARK = "@@bench-done@@"

    def __init__(self, db):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen(["sqlite3", "-batch", "-bail", db], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1)

    def run(self, sql):
        """-> (seconds, output lines)."""
        t0 = time.monotonic()
        try:
            self.p.stdin.write(f"{sql}\n.print {self.MARK}\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        out = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.p.wait()
                self.err.seek(0)
                raise BenchError(f"sqlite3 ended ({self.p.returncode}) at {sql[:60]!r}: "
                                 f"{self.err.read().strip()[-300:]}")
            if line.rstrip("\n") == self.MARK:
                return time.monotonic() - t0, out
            out.append(line.rstrip("\n"))

    def close(self, timeout=600):
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        rc = self.p.wait(timeout)
        self.err.seek(0)
        err = self.err.read().strip()
        self.err.close()
        if rc != 0 or err:
            raise BenchError(f"sqlite3 failed at exit ({rc}): {err[-300:]}")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def run_statements(db, setup, stmts, mnt=None, proxy_url=None):
    """setup, then each statement of stmts in one sqlite3 process.

    -> dict: wall (the statements only), per-statement seconds, per-statement
    daemon request deltas, and the delta of both counters over the loop."""
    sh = Shell(db)
    try:
        sh.run(setup)
        s0 = take_snap(mnt, proxy_url, reset=True)
        prev = s0.get("daemon")
        secs, per = [], []
        for q in stmts:
            dt, _ = sh.run(q)
            secs.append(dt)
            if mnt:
                cur = daemon_stats(mnt)
                per.append({k: cur["requests"].get(k, 0) - prev["requests"].get(k, 0)
                            for k in DKINDS})
                prev = cur
        s1 = take_snap(mnt, proxy_url)
        sh.close()
    except BaseException:
        sh.kill()
        raise
    r = delta(s0, s1) if (mnt or proxy_url) else {}
    r["wall"] = s1["t"] - s0["t"]
    r["_s0"] = s0
    r["secs"] = secs
    r["per"] = per
    return r


def update_sql(i):
    return f"UPDATE t SET v=hex(randomblob(50)) WHERE id={i};"


def w2_setup(mode):
    return f"PRAGMA journal_mode={mode};\nPRAGMA synchronous=FULL;\nSELECT count(*) FROM sqlite_master;"


def w3_sql(i):
    return f"SELECT length(v) FROM t WHERE id={i};"


W4_SQL = ".timer on\nSELECT count(*), sum(length(v)) FROM t;\n"

TRACE_CALLS = "%file,%desc,clone,clone3,vfork"
TRACE_RE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?).*?(?:<([0-9.]+)>)?\s*$")
MARK_RE = re.compile(r"^(\d+)\s+(clone3?|vfork)\(")


def trace_commits(db, mode, ids, workdir, name):
    """Run more updates under strace -T; -> what one commit costs sqlite3.

    Per commit: distinct (file, 4 KiB page) pairs written with pwrite64 (the
    -shm file left out: the daemon keeps it in memory), fsyncs, unlinks, and
    the time spent in each kind of system call on each file, which shows
    where a commit waits for the daemon.  Commits are told apart by a
    ".shell true" between them (a clone in the trace)."""
    if not shutil.which("strace"):
        return None
    script = (w2_setup(mode) + "\n.shell true\n" +
              "".join(f"{update_sql(i)}\n.shell true\n" for i in ids))
    spath = os.path.join(workdir, name + ".sql")
    tpath = os.path.join(workdir, name + ".strace")
    with open(spath, "w") as f:
        f.write(script)
    with open(spath) as inp:
        r = subprocess.run(["strace", "-f", "-qq", "-T", "-e", "trace=" + TRACE_CALLS,
                            "-e", "signal=none", "-s", "0", "-o", tpath,
                            "sqlite3", "-batch", "-bail", db], stdin=inp,
                           capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise BenchError(f"sqlite3 under strace failed: {r.stderr.strip()[-300:]}")
    ddir = os.path.dirname(db)

    def kind(path):
        if path == db:
            return "db"
        for sfx in ("-journal", "-wal", "-shm"):
            if path == db + sfx:
                return sfx[1:]
        return "dir" if path == ddir else "other"

    main_pid = None
    fds = {}
    windows = []
    cur = None
    with open(tpath) as f:
        for line in f:
            m = MARK_RE.match(line)
            if m and (main_pid is None or m.group(1) == main_pid):
                main_pid = m.group(1)
                if cur is not None:
                    windows.append(cur)
                cur = {"pages": set(), "writes": 0, "syncs": 0, "dirsyncs": 0, "unlinks": 0,
                       "time": {}}
                continue
            m = TRACE_RE.match(line)
            if not m:
                continue
            pid, call, args, ret, dur = m.groups()
            if main_pid is not None and pid != main_pid:
                continue
            ret = int(ret) if ret != "?" else -1
            path = None
            if args.startswith('"') or args.startswith("AT_FDCWD"):
                path = args.split('"')[1] if '"' in args else "?"
                if not path.startswith("/"):
                    path = os.path.join(os.getcwd(), path)
            else:
                mfd = re.match(r"(\d+)(,|$)", args)
                if mfd:
                    path = fds.get(int(mfd.group(1)), "?")
            if call == "openat" and ret >= 0:
                fds[ret] = path
            elif call == "close" and args.strip().isdigit():
                fds.pop(int(args), None)
            if cur is None or path is None:
                continue
            k = kind(path)
            if k in ("shm", "other"):
                continue
            t = cur["time"].setdefault(f"{call} {k}", [0, 0.0])
            t[0] += 1
            t[1] += float(dur or 0)
            if call == "pwrite64" and ret > 0:
                off = int(args.split(",")[-1])
                cur["writes"] += 1
                for pg in range(off // PAGE, (off + ret - 1) // PAGE + 1):
                    cur["pages"].add((k, pg))
            elif call in ("fsync", "fdatasync"):
                cur["dirsyncs" if k == "dir" else "syncs"] += 1
            elif call == "unlink" and ret == 0:
                cur["unlinks"] += 1
    if cur is not None:
        windows.append(cur)
    w = windows[:len(ids)]
    if not w:
        return None
    n = len(w)
    times = {}
    for x in w:
        for key, (c, t) in x["time"].items():
            a = times.setdefault(key, [0, 0.0])
            a[0] += c
            a[1] += t
    return {"commits": n,
            "pages": sum(len(x["pages"]) for x in w) / n,
            "writes": sum(x["writes"] for x in w) / n,
            "syncs": sum(x["syncs"] for x in w) / n,
            "dirsyncs": sum(x["dirsyncs"] for x in w) / n,
            "unlinks": sum(x["unlinks"] for x in w) / n,
            "ms": sum(t for c, t in times.values()) * 1000 / n,
            "calls": {k: {"n": c / n, "ms": 1000 * t / n}
                      for k, (c, t) in sorted(times.items(), key=lambda kv: -kv[1][1])}}


def btree_depth(db):
    r = subprocess.run(["sqlite3", "-batch", db,
                        "SELECT name, max(length(path)-length(replace(path,'/',''))), count(*) "
                        "FROM dbstat GROUP BY name"],
                       capture_output=True, text=True, timeout=600)
    out = {}
    for line in r.stdout.splitlines():
        p = line.split("|")
        if len(p) == 3:
            out[p[0]] = {"depth": int(p[1]), "pages": int(p[2])}
    return out


# ---------------------------------------------------------------------------
# one configuration: a mount (latency, block size) or tmpfs

class Config:
    def __init__(self, name, latency, bs):
        self.name, self.latency, self.bs = name, latency, bs
        self.w = {}      # workload -> results
        self.raw = None  # raw rates for this latency and object size
        self.notes = []


def fmt_req(d):
    if "req" not in d:
        return ""
    r = d["req"]
    s = " ".join(f"{k}={r[k]}" for k in DKINDS if r[k])
    return s or "none"


def fmt_proxy(d):
    if "proxy" not in d:
        return ""
    return " ".join(f"{k}={v}" for k, v in d["proxy"].items() if v) or "none"


def mb(n):
    return n / MiB


class Bench:
    def __init__(self, args):
        self.a = args
        self.workdir = args.workdir
        self.procs = Procs(self.workdir)
        self.rows = env_int("BENCH_ROWS", 200000)
        self.txns = env_int("BENCH_W2_TXNS", 200)
        self.queries = env_int("BENCH_W3_QUERIES", 500)
        self.latencies = env_list("BENCH_LATENCIES", ["0", "10"])
        self.sizes = env_list("BENCH_BLOCK_SIZES", ["4096", "65536"])
        self.raw_secs = float(os.environ.get("BENCH_RAW_SECS", "") or 3)
        self.raw_threads = env_int("BENCH_RAW_THREADS", 16)
        self.cache_size = os.environ.get("BENCH_CACHE_SIZE", "") or "64M"
        self.cache_bytes = parse_size(self.cache_size)
        self.mount_opts = os.environ.get("BENCH_MOUNT_OPTS", "")
        self.tmpfs = env_int("BENCH_TMPFS", 1)
        self.trace_n = env_int("BENCH_TRACE_TXNS", 20)
        self.seed = env_int("BENCH_SEED", 1)
        self.binary = args.binary
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
        self.s3 = {"endpoint": os.environ["S3_ENDPOINT"],
                   "ak": os.environ["S3_ACCESS_KEY"], "sk": os.environ["S3_SECRET_KEY"],
                   "region": os.environ.get("S3_REGION", "us-east-1"),
                   "bucket": os.environ["S3_BUCKET"]}
        self.configs = []
        self.creds = os.path.join(self.workdir, "creds")
        fd = os.open(self.creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"AWS_ACCESS_KEY_ID={self.s3['ak']}\nAWS_SECRET_ACCESS_KEY={self.s3['sk']}\n")

    # -- helpers ----------------------------------------------------------
    def ids(self, salt, n):
        rnd = random.Random(self.seed * 7919 + salt)
        return [rnd.randint(1, self.rows) for _ in range(n)]

    def mount(self, cfg, proxy, mnt):
        opts = (f"endpoint={proxy.url},region={self.s3['region']},credentials={self.creds},"
                f"block_size={cfg.bs},cache_size={self.cache_size}")
        if self.mount_opts:
            opts += "," + self.mount_opts
        cfg.opts = opts.replace(self.creds, "CREDS")
        src = f"{self.s3['bucket']}:bench-{self.run_id}-l{cfg.latency}-b{cfg.bs}"
        return Daemon(self.procs, self.binary, src, mnt, opts,
                      os.path.join(self.workdir, f"daemon-{cfg.name}.log"))

    # -- workloads on a mount ----------------------------------------------
    def run_mount(self, cfg, proxy):
        mnt = os.path.join(self.workdir, f"mnt-{cfg.name}")
        os.makedirs(mnt, exist_ok=True)
        db = os.path.join(mnt, "db.sqlite")
        wd = os.path.join(self.workdir, cfg.name)
        os.makedirs(wd, exist_ok=True)
        snapf = lambda n: os.path.join(wd, n + ".json")  # noqa: E731
        d = self.mount(cfg, proxy, mnt)
        try:
            # W1
            log(f"{cfg.name}: W1 bulk load, {self.rows} rows + index")
            d.reset_peak()
            s0 = take_snap(mnt, proxy.url, reset=True)
            wall, _, timers = run_sqlite(db, w1_script(self.rows), wd, "w1")
            s1 = take_snap(mnt, proxy.url)
            r = delta(s0, s1)
            r["wall"] = wall
            r["index_secs"] = timers[-1] if timers else None
            r["rss"] = d.peak_rss()
            r["db_size"] = os.stat(db).st_size
            r["blocks"] = -(-r["db_size"] // cfg.bs)
            cfg.w["W1"] = r
            cfg.db_size = r["db_size"]
            self.print_w(cfg, "W1", r)

            # W2, DELETE then WAL
            for mode in ("DELETE", "WAL"):
                key = f"W2-{mode}"
                log(f"{cfg.name}: {key}, {self.txns} transactions")
                d.reset_peak()
                r = self.w2(cfg, db, mode, wd, mnt, proxy.url)
                r["rss"] = d.peak_rss()
                cfg.w[key] = r
                self.print_w(cfg, key, r)
            run_sqlite(db, "PRAGMA journal_mode=DELETE;\n", wd, "w2-to-delete")

            # W3 cold point queries
            d.umount()
            d = self.mount(cfg, proxy, mnt)
            log(f"{cfg.name}: W3 cold, {self.queries} point queries")
            d.reset_peak()
            s_mount = take_snap(mnt, None)
            r = self.w3(db, mnt, proxy.url)
            r["open"] = delta(s_mount, r.pop("_s0"))
            r["rss"] = d.peak_rss()
            cfg.w["W3"] = r
            self.print_w(cfg, "W3", r)

            # W4 cold scan
            d.umount()
            d = self.mount(cfg, proxy, mnt)
            log(f"{cfg.name}: W4 cold full scan")
            d.reset_peak()
            s0 = take_snap(mnt, proxy.url, reset=True)
            wall, out, timers = run_sqlite(db, W4_SQL, wd, "w4")
            s1 = take_snap(mnt, proxy.url)
            r = delta(s0, s1)
            r["wall"] = wall
            r["scan_secs"] = timers[-1] if timers else wall
            r["rss"] = d.peak_rss()
            r["db_size"] = os.stat(db).st_size
            r["result"] = out.strip().splitlines()[0] if out.strip() else ""
            cfg.w["W4"] = r
            self.print_w(cfg, "W4", r)
            cfg.depth = btree_depth(db)
            d.umount()
        except BaseException:
            d.kill()
            raise

    def w2(self, cfg, db, mode, wd, mnt=None, proxy_url=None):
        key = f"W2-{mode}"
        if mode == "WAL":
            run_sqlite(db, "PRAGMA journal_mode=WAL;\n", wd, "w2-to-wal")
        ids = self.ids(2 + (mode == "WAL"), self.txns)
        r = run_statements(db, w2_setup(mode), [update_sql(i) for i in ids], mnt, proxy_url)
        r.pop("_s0", None)
        r.update(self.commit_stats(r["secs"]))
        if self.trace_n > 0:
            r["trace"] = trace_commits(db, mode, self.ids(20 + (mode == "WAL"), self.trace_n),
                                       wd, key + "-trace")
        return r

    def w3(self, db, mnt=None, proxy_url=None):
        ids = self.ids(3, self.queries)
        r = run_statements(db, "PRAGMA schema_version;", [w3_sql(i) for i in ids], mnt, proxy_url)
        r["query_secs"] = sum(r["secs"])
        r["queries"] = len(ids)
        if r["per"]:
            gets = [x["get"] for x in r["per"]]
            r["gets_per_query_max"] = max(gets)
            r["gets_per_query_hist"] = {str(k): gets.count(k) for k in sorted(set(gets))}
        return r

    @staticmethod
    def rt_strace(cfg, r):
        """Time sqlite3 spent in system calls per commit, in units of one request."""
        tr = r.get("trace")
        if not tr or not cfg.raw:
            return None
        return tr["ms"] / cfg.raw["put1_ms"]

    def rt_excess(self, cfg, key):
        """(ms per commit here - the same at 0 ms) / latency, when measured."""
        base = [c for c in self.configs if c.latency == 0 and c.bs == cfg.bs]
        try:
            return ((cfg.w[key]["ms_per_commit"] - base[0].w[key]["ms_per_commit"])
                    / cfg.latency)
        except (IndexError, KeyError, ZeroDivisionError, TypeError):
            return None

    def commit_stats(self, secs):
        n = len(secs)
        if n == 0:
            return {}
        st = sorted(secs)
        return {"commit_secs": sum(secs), "commits": n,
                "ms_per_commit": 1000 * sum(secs) / n,
                "ms_median": 1000 * statistics.median(secs),
                "ms_p90": 1000 * st[min(n - 1, int(n * 0.9))],
                "ms_max": 1000 * st[-1]}

    # -- tmpfs ----------------------------------------------------------------
    def run_tmpfs(self, cfg):
        base = "/dev/shm" if is_tmpfs("/dev/shm") else None
        mnt = None
        if base is None:
            mnt = os.path.join(self.workdir, "tmpfs")
            os.makedirs(mnt, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", mnt], check=True)
            base = mnt
        td = tempfile.mkdtemp(prefix="s3bfs-bench-", dir=base)
        wd = os.path.join(self.workdir, cfg.name)
        os.makedirs(wd, exist_ok=True)
        db = os.path.join(td, "db.sqlite")
        try:
            log("tmpfs: W1")
            wall, _, timers = run_sqlite(db, w1_script(self.rows), wd, "w1")
            cfg.db_size = os.stat(db).st_size
            cfg.w["W1"] = {"wall": wall, "index_secs": timers[-1] if timers else None,
                           "db_size": cfg.db_size}
            self.print_w(cfg, "W1", cfg.w["W1"])
            for mode in ("DELETE", "WAL"):
                key = f"W2-{mode}"
                cfg.w[key] = self.w2(cfg, db, mode, wd)
                self.print_w(cfg, key, cfg.w[key])
            run_sqlite(db, "PRAGMA journal_mode=DELETE;\n", wd, "w2-to-delete")
            cfg.w["W3"] = self.w3(db)
            self.print_w(cfg, "W3", cfg.w["W3"])
            wall, _, timers = run_sqlite(db, W4_SQL, wd, "w4")
            cfg.w["W4"] = {"wall": wall, "scan_secs": timers[-1] if timers else wall,
                           "db_size": os.stat(db).st_size}
            self.print_w(cfg, "W4", cfg.w["W4"])
            cfg.depth = btree_depth(db)
        finally:
            shutil.rmtree(td, ignore_errors=True)
            if mnt:
                subprocess.run(["umount", mnt])

    # -- printing -------------------------------------------------------------
    def print_w(self, cfg, key, r):
        L = [f"--- {cfg.name} {key}"]
        if key == "W1":
            L.append(f"  wall {r['wall']:.2f} s (index {r.get('index_secs') or 0:.2f} s), "
                     f"database {mb(r['db_size']):.1f} MiB")
        elif key.startswith("W2"):
            if "ms_per_commit" in r:
                L.append(f"  {r['commits']} commits in {r['commit_secs']:.2f} s "
                         f"(loop {r['wall']:.2f} s): {r['ms_per_commit']:.1f} ms/commit, "
                         f"median {r['ms_median']:.1f}, p90 {r['ms_p90']:.1f}, max {r['ms_max']:.1f}")
        elif key == "W3":
            n = r["queries"]
            L.append(f"  {n} queries in {r['query_secs']:.2f} s: "
                     f"{1000 * r['query_secs'] / max(n, 1):.2f} ms/query")
        elif key == "W4":
            L.append(f"  scan {r['scan_secs']:.2f} s (process {r['wall']:.2f} s), "
                     f"{mb(r['db_size']) / max(r['scan_secs'], 1e-9):.1f} MB/s")
        if "req" in r:
            L.append(f"  daemon requests: {fmt_req(r)}; up {mb(r['bytes_up']):.2f} MiB, "
                     f"down {mb(r['bytes_down']):.2f} MiB; retries {r['retries']}, "
                     f"errors {r['errors']}; cache {r.get('cache')}")
        if "proxy" in r:
            busy = r["busy_secs"]
            L.append(f"  proxy forwarded: {fmt_proxy(r)}; up {mb(r['proxy_up']):.2f} MiB, "
                     f"down {mb(r['proxy_down']):.2f} MiB; in flight avg {r['avg_in_flight']:.2f}"
                     f" (while busy {r['area'] / busy if busy > 0 else 0:.2f}, busy {busy:.2f} s),"
                     f" max {r['max_in_flight']}")
        if key == "W1" and "req" in r:
            L.append(f"  PUTs {r['req']['put']} for {r['blocks']} blocks of the final database "
                     f"({r['req']['put'] / max(r['blocks'], 1):.2f}x)")
            if cfg.raw:
                ideal = r["req"]["put"] / cfg.raw["put_rate"]
                L.append(f"  PUTs / raw PUT rate = {ideal:.2f} s; W1 took "
                         f"{r['wall'] / max(ideal, 1e-9):.2f}x that")
        if key.startswith("W2") and "req" in r and r.get("commits"):
            n = r["commits"]
            tot = sum(r["req"].values())
            L.append(f"  per commit: {tot / n:.2f} requests (PUT {r['req']['put'] / n:.2f}, "
                     f"DELETE {r['req']['delete'] / n:.2f}, GET {r['req']['get'] / n:.2f}, "
                     f"HEAD {r['req']['head'] / n:.2f}, LIST {r['req']['list'] / n:.2f})")
            if r.get("per"):
                pt = [x["put"] for x in r["per"]]
                rq = [sum(x.values()) for x in r["per"]]
                L.append(f"  PUTs in one commit: min {min(pt)}, max {max(pt)}; requests in one "
                         f"commit: max {max(rq)} (counted when the commit returned)")
            if cfg.latency:
                L.append(f"  round trips per commit (ms per commit / {cfg.latency} ms): "
                         f"{r['ms_per_commit'] / cfg.latency:.2f} "
                         f"(median {r['ms_median'] / cfg.latency:.2f})")
                ex = self.rt_excess(cfg, key)
                if ex is not None:
                    L.append(f"  round trips of added latency per commit ((this - the 0 ms run) "
                             f"/ {cfg.latency} ms): {ex:.2f}")
                if cfg.raw:
                    L.append(f"  ms per commit / one PUT's latency here ({cfg.raw['put1_ms']:.1f} ms)"
                             f": {r['ms_per_commit'] / cfg.raw['put1_ms']:.2f}")
            tr = r.get("trace")
            if tr:
                L.append(f"  sqlite3 per commit (strace -T, {tr['commits']} more commits): "
                         f"{tr['pages']:.2f} distinct 4 KiB pages written in {tr['writes']:.1f} "
                         f"writes, {tr['syncs']:.2f} fsyncs (+{tr['dirsyncs']:.2f} of the "
                         f"directory), {tr['unlinks']:.2f} unlinks")
                top = [f"{k} {v['n']:.1f}x {v['ms']:.1f} ms" for k, v in tr["calls"].items()
                       if v["ms"] >= 0.5][:8]
                L.append(f"  where a commit waits ({tr['ms']:.1f} ms in system calls): "
                         + ", ".join(top))
                rts = self.rt_strace(cfg, r) if cfg.latency else None
                if rts is not None:
                    L.append(f"  round trips per commit (ms in system calls / one PUT's latency): "
                             f"{rts:.2f}")
        if key == "W3" and "req" in r:
            n = r["queries"]
            o = r["open"]
            L.append(f"  GETs per query {r['req']['get'] / max(n, 1):.2f} "
                     f"(max for one query {r.get('gets_per_query_max')}, "
                     f"histogram {r.get('gets_per_query_hist')}); "
                     f"LIST+HEAD during the queries {r['req']['list'] + r['req']['head']}")
            L.append(f"  open (before the first query): {fmt_req(o)}")
        if key == "W4" and "req" in r:
            L.append(f"  {r['req']['get']} GETs, avg in flight over the scan "
                     f"{r['avg_in_flight']:.2f}")
            if cfg.raw:
                L.append(f"  GETs / raw GET rate = {r['req']['get'] / cfg.raw['get_rate']:.2f} s; "
                         f"one GET at a time would take {r['req']['get'] * cfg.raw['get1_ms'] / 1000:.2f} s")
        if "rss" in r:
            L.append(f"  daemon peak RSS {mb(r['rss']):.1f} MiB")
        print("\n".join(L), flush=True)

    # -- main -------------------------------------------------------------------
    def run(self):
        up = self.s3["endpoint"].split("://", 1)[1].rstrip("/")
        print(f"s3blockfs benchmark: rows={self.rows} W2 txns={self.txns} W3 queries={self.queries} "
              f"latencies={self.latencies} block sizes={self.sizes} cache_size={self.cache_size} "
              f"extra mount options='{self.mount_opts}'", flush=True)
        print(f"binary {self.binary}; S3 server {self.s3['endpoint']} (bucket {self.s3['bucket']}, "
              f"{os.environ.get('OSD_STORE', '?')}); load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs", flush=True)
        self.raw = {}
        for lat in self.latencies:
            proxy = Proxy(self.procs, self.workdir, up, lat)
            try:
                for bs in self.sizes:
                    log(f"raw rate, {lat} ms, {bs}-byte objects, {self.raw_threads} threads")
                    rr = raw_rate(self.s3, proxy.url, f"bench-{self.run_id}-raw-l{lat}-b{bs}",
                                  bs, self.raw_threads, self.raw_secs)
                    self.raw[(lat, bs)] = rr
                    print(f"--- raw S3 through the proxy, +{lat} ms, {bs}-byte objects, "
                          f"{self.raw_threads} threads: PUT {rr['put_rate']:.0f}/s "
                          f"({rr['put_ms']:.1f} ms each), GET {rr['get_rate']:.0f}/s "
                          f"({rr['get_ms']:.1f} ms each); one thread: PUT {rr['put1_ms']:.1f} ms, "
                          f"GET {rr['get1_ms']:.1f} ms, DELETE {rr['del1_ms']:.1f} ms",
                          flush=True)
                for bs in self.sizes:
                    cfg = Config(f"s3-{lat}ms-{bs // 1024}k", lat, bs)
                    cfg.raw = self.raw[(lat, bs)]
                    self.configs.append(cfg)
                    log(f"{cfg.name}: load average {os.getloadavg()[0]:.1f}")
                    self.run_mount(cfg, proxy)
            finally:
                proxy.stop()
        if self.tmpfs:
            cfg = Config("tmpfs", None, None)
            self.configs.append(cfg)
            self.run_tmpfs(cfg)
        self.summary()

    def summary(self):
        print("\n=== Summary (times in seconds unless noted) ===")
        hdr = (f"{'config':<14}{'W1 s':>7}{'PUT/blk':>8}{'x ideal':>8}{'W2D ms/c':>9}{'RT':>5}"
               f"{'W2W ms/c':>9}{'RT':>5}{'W3 ms/q':>8}{'GET/q':>6}{'W4 s':>7}{'MB/s':>7}"
               f"{'infl':>6}{'RSS MiB':>8}")
        print(hdr)
        for c in self.configs:
            w = c.w
            def g(k, f):  # noqa: E306
                try:
                    return f(w[k])
                except (KeyError, TypeError, ZeroDivisionError):
                    return "-"
            w1 = g("W1", lambda r: f"{r['wall']:.2f}")
            w1p = g("W1", lambda r: f"{r['req']['put'] / r['blocks']:.2f}")
            w1x = g("W1", lambda r: f"{r['wall'] * c.raw['put_rate'] / r['req']['put']:.2f}")
            w2d = g("W2-DELETE", lambda r: f"{r['ms_per_commit']:.1f}")
            rt = g("W2-DELETE", lambda r: f"{self.rt_strace(c, r):.1f}") if c.latency else "-"
            w2w = g("W2-WAL", lambda r: f"{r['ms_per_commit']:.1f}")
            rtw = g("W2-WAL", lambda r: f"{self.rt_strace(c, r):.1f}") if c.latency else "-"
            w3 = g("W3", lambda r: f"{1000 * r['query_secs'] / r['queries']:.2f}")
            w3g = g("W3", lambda r: f"{r['req']['get'] / r['queries']:.2f}")
            w4 = g("W4", lambda r: f"{r['scan_secs']:.2f}")
            w4m = g("W4", lambda r: f"{mb(r['db_size']) / r['scan_secs']:.1f}")
            w4i = g("W4", lambda r: f"{r['avg_in_flight']:.1f}")
            rss = max([r["rss"] for r in w.values() if "rss" in r], default=None)
            rss = f"{mb(rss):.0f}" if rss else "-"
            print(f"{c.name:<14}{w1:>7}{w1p:>8}{w1x:>8}{w2d:>9}{rt:>5}{w2w:>9}{rtw:>5}{w3:>8}"
                  f"{w3g:>6}{w4:>7}{w4m:>7}{w4i:>6}{rss:>8}")
        raws = ", ".join(f"+{lat} ms {bs // 1024}k: PUT {r['put_rate']:.0f}/s GET {r['get_rate']:.0f}/s"
                         for (lat, bs), r in self.raw.items())
        print(f"raw server rate ({self.raw_threads} threads): {raws}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print("PUT/blk: W1 PUTs / blocks of the database; x ideal: W1 time / (PUTs / raw PUT rate);\n"
              "W2D/W2W: W2 DELETE/WAL; RT: round trips per commit (time sqlite3 waits in system\n"
              "calls, strace -T, / one PUT's latency); GET/q: W3 GETs per query; infl: W4 average\n"
              "requests in flight; RSS: the daemon's peak")
        self.targets()

    def targets(self):
        print("\n=== Targets of the performance issue (informational) ===")
        rows = []

        def add(cfg, name, measured, ok, target):
            rows.append((cfg, name, measured, "PASS" if ok else "MISS", target))

        for c in self.configs:
            if c.latency is None:
                continue
            w = c.w
            n = c.name
            if c.latency >= 10 and "W2-DELETE" in w and "ms_per_commit" in w["W2-DELETE"]:
                r = w["W2-DELETE"]
                rt = r["ms_per_commit"] / c.latency
                add(n, "W2 DELETE ms/commit", f"{r['ms_per_commit']:.1f} ms ({rt:.2f} x {c.latency} ms)",
                    r["ms_per_commit"] <= 45, "<= 45 ms")
                rts = self.rt_strace(c, r)
                ex = self.rt_excess(c, "W2-DELETE")
                if rts is not None:
                    add(n, "W2 DELETE round trips/commit",
                        f"{rts:.2f} (strace; {ex:.2f} vs the 0 ms run)" if ex is not None else
                        f"{rts:.2f} (strace)", rts <= 4.0, "<= 4")
                elif ex is not None:
                    add(n, "W2 DELETE round trips/commit", f"{ex:.2f} (vs the 0 ms run)",
                        ex <= 4.0, "<= 4")
                tr = r.get("trace")
                puts = r["req"]["put"] / r["commits"]
                if tr:
                    add(n, "W2 DELETE PUTs/commit", f"{puts:.2f} vs {tr['pages']:.2f} pages",
                        puts <= tr["pages"] + 1, "<= pages written + 1")
                else:
                    add(n, "W2 DELETE PUTs/commit", f"{puts:.2f} (pages unknown: no strace)",
                        False, "<= pages written + 1")
            if "W3" in w and "req" in w["W3"]:
                r = w["W3"]
                q = r["queries"]
                gpq = r["req"]["get"] / max(q, 1)
                add(n, "W3 GETs/query (avg)", f"{gpq:.2f}", gpq <= 1.5, "<= 1.5")
                depth = (getattr(c, "depth", {}) or {}).get("t", {}).get("depth")
                mx = r.get("gets_per_query_max")
                if mx is not None and depth:
                    add(n, "W3 GETs for one query (max)", f"{mx} (depth {depth})", mx <= depth,
                        "<= B-tree depth")
                lh = r["req"]["list"] + r["req"]["head"]
                add(n, "W3 LIST+HEAD during queries", f"{lh}", lh == 0, "0")
            if c.latency >= 10 and "W4" in w and "req" in w["W4"]:
                r = w["W4"]
                inf = r["avg_in_flight"]
                serial = r["req"]["get"] * c.raw["get1_ms"] / 1000 if c.raw else None
                sp = f", {serial / r['scan_secs']:.1f}x faster than one GET at a time" if serial else ""
                add(n, "W4 avg requests in flight", f"{inf:.1f}{sp}", inf >= 8, ">= 8 (10x serial)")
            if "W1" in w and "req" in w["W1"]:
                r = w["W1"]
                ratio = r["req"]["put"] / max(r["blocks"], 1)
                add(n, "W1 PUTs / blocks", f"{ratio:.2f} ({r['req']['put']}/{r['blocks']})",
                    ratio <= 1.1, "<= 1.1")
                if c.raw:
                    ideal = r["req"]["put"] / c.raw["put_rate"]
                    x = r["wall"] / max(ideal, 1e-9)
                    add(n, "W1 time / (PUTs / raw rate)", f"{x:.2f} ({r['wall']:.1f} s vs {ideal:.1f} s)",
                        x <= 1.25, "<= 1.25")
                lim = self.cache_bytes + 32 * MiB
                add(n, "W1 peak RSS", f"{mb(r['rss']):.0f} MiB", r["rss"] <= lim,
                    f"<= {mb(lim):.0f} MiB (cache + 32)")
        w = max((len(r[1]) for r in rows), default=10)
        m = max((len(r[2]) for r in rows), default=10)
        for cfg, name, measured, verdict, target in rows:
            print(f"{cfg:<14} {name:<{w}}  {measured:<{m}}  {verdict}  target {target}")
        miss = sum(1 for r in rows if r[3] == "MISS")
        print(f"{len(rows) - miss} PASS, {miss} MISS")

    def write_json(self, path):
        out = {"params": {"rows": self.rows, "txns": self.txns, "queries": self.queries,
                          "latencies": self.latencies, "block_sizes": self.sizes,
                          "cache_size": self.cache_size, "mount_opts": self.mount_opts},
               "raw": {f"{lat}ms-{bs}": r for (lat, bs), r in getattr(self, "raw", {}).items()},
               "configs": {}}
        for c in self.configs:
            ws = {}
            for k, r in c.w.items():
                r = dict(r)
                r.pop("secs", None)
                r.pop("per", None)
                ws[k] = r
            out["configs"][c.name] = {"latency_ms": c.latency, "block_size": c.bs,
                                      "depth": getattr(c, "depth", None), "workloads": ws}
        with open(path, "w") as f:
            json.dump(out, f, indent=1, default=str)


def parse_size(s):
    s = s.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if s and s[-1] in mult:
        return int(s[:-1]) * mult[s[-1]]
    return int(s)


def is_tmpfs(path):
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                p = line.split()
                if p[4] == path and p[p.index("-") + 1] == "tmpfs":
                    return True
    except (OSError, ValueError, IndexError):
        pass
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", required=True, help="scratch directory (mount points, logs)")
    ap.add_argument("--binary", required=True, help="the s3blockfs program")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    for tool in ("sqlite3", "getfattr", "fusermount3"):
        if not shutil.which(tool):
            print(f"bench: {tool} not found", file=sys.stderr)
            return 1
    b = Bench(a)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    rc = 0
    try:
        b.run()
    except (BenchError, subprocess.SubprocessError, OSError, KeyboardInterrupt) as e:
        print(f"bench: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        rc = 1
    except Exception:  # noqa: BLE001  a bug here: say where, still clean up
        traceback.print_exc()
        rc = 1
    finally:
        b.procs.stop_all()
        if a.json:
            try:
                b.write_json(a.json)
            except OSError as e:
                print(f"bench: cannot write {a.json}: {e}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
