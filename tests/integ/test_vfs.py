#!/usr/bin/env python3
"""Integration test of the SQLite VFS shim (s3blockfs_vfs.so) on a real mount.

Mounts a local-directory backend with the daemon and drives the stock
sqlite3 shell (".load") and Python's sqlite3 module through the shim:

  * journal modes DELETE TRUNCATE PERSIST MEMORY OFF WAL x page sizes
    512..65536: integrity_check, results, ".vfsname" and PRAGMA s3blockfs_info
    show the shim in use; the stock shell (no shim) reads every database back,
    also after a remount;
  * S3BLOCKFS_VFS_DEFAULT=1 makes the shim the default VFS;
  * Python's sqlite3 module loads the shim and runs the same workload;
  * a database off the mount through the shim: same output, same bytes;
  * -o test_refuse_locks: through the shim one writer works (rollback and
    WAL), without it sqlite3 fails;
  * WAL: no *-shm object ever appears in the backend directory.

Exit 77 (skip) without /dev/fuse, fusermount3, the daemon, the shim or the
sqlite3 shell.  Everything it starts is stopped and removed, also on failure:
unmount, then the daemon it started (by PID), then the temp directory.

Backend: a local directory; with S3BFS_TEST_BACKEND=s3 the S3 server named by
S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET [S3_REGION] (as printed by
tests/s3/rgw-start.sh), under a fresh prefix that is deleted at the end, and
the backend is listed with tests/s3/s3admin.py.  (-o test_refuse_locks and the
off-mount check run on a local backend either way.)

Paths: $S3BLOCKFS (daemon), $S3BLOCKFS_VFS (the .so), else the build
directory ($abs_top_builddir, $top_builddir, the current directory or the
source tree above this file): ./s3blockfs and ./.libs/s3blockfs_vfs.so.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

SKIP = 77
TIMEOUT = 120  # seconds for one sqlite3/python run

MODES = ["DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF", "WAL"]
PAGE_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]

WORKLOAD = """\
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 600)
  INSERT INTO t SELECT x, printf('%0200d', x) FROM c;
DELETE FROM t WHERE a % 3 = 0;
UPDATE t SET b = b || 'x' WHERE a % 5 = 0;
CREATE INDEX tb ON t(b);
"""
ROLLBACK = "BEGIN; DELETE FROM t WHERE a > 300; ROLLBACK;\n"
SUMMARY = "SELECT count(*) || ':' || sum(a) || ':' || total(length(b)) FROM t;\n"
SUMMARY_WANT = "400:120000:80080.0"


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def build_dirs():
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [os.environ.get("abs_top_builddir"), os.environ.get("top_builddir"),
             os.getcwd(), os.path.dirname(os.path.dirname(here))]
    return [os.path.abspath(c) for c in cands if c]


def find_file(env, rel):
    if os.environ.get(env):
        return os.path.abspath(os.environ[env])
    for d in build_dirs():
        p = os.path.join(d, rel)
        if os.path.exists(p):
            return p
    return None


def tools():
    if not os.path.exists("/dev/fuse") or not os.access("/dev/fuse", os.R_OK | os.W_OK):
        raise Skip("no usable /dev/fuse")
    fusermount = shutil.which("fusermount3")
    if not fusermount:
        raise Skip("no fusermount3")
    daemon = find_file("S3BLOCKFS", "s3blockfs")
    if not daemon or not os.access(daemon, os.X_OK):
        raise Skip("no s3blockfs daemon (build it, or set S3BLOCKFS)")
    shim = find_file("S3BLOCKFS_VFS", os.path.join(".libs", "s3blockfs_vfs.so"))
    if not shim:
        raise Skip("no s3blockfs_vfs.so (build it, or set S3BLOCKFS_VFS)")
    sqlite3 = shutil.which("sqlite3")
    if not sqlite3:
        raise Skip("no sqlite3 shell")
    return fusermount, daemon, shim[:-3] if shim.endswith(".so") else shim, sqlite3


def s3admin_path():
    here = os.path.dirname(os.path.abspath(__file__))
    for d in [os.environ.get("TOP_SRCDIR"), os.environ.get("abs_top_srcdir"),
              os.path.dirname(os.path.dirname(here))]:
        if d and os.path.exists(os.path.join(d, "tests", "s3", "s3admin.py")):
            return os.path.join(d, "tests", "s3", "s3admin.py")
    return None


def s3_settings(root):
    """Mount options, source bucket and s3admin.py for S3BFS_TEST_BACKEND=s3; None if local."""
    if os.environ.get("S3BFS_TEST_BACKEND", "local") != "s3":
        return None
    need = ["S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET"]
    missing = [v for v in need if not os.environ.get(v)]
    if missing:
        raise Skip("S3BFS_TEST_BACKEND=s3 without %s" % " ".join(missing))
    admin = s3admin_path()
    if not admin:
        raise Skip("no tests/s3/s3admin.py to list the bucket with")
    creds = os.path.join(root, "credentials")
    fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                % (os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"]))
    opts = ["endpoint=" + os.environ["S3_ENDPOINT"], "credentials=" + creds,
            "region=" + os.environ.get("S3_REGION", "us-east-1")]
    return {"opts": opts, "bucket": os.environ["S3_BUCKET"], "admin": admin,
            "prefix": "s3bfs-vfs-test-" + uuid.uuid4().hex[:12]}


class Mount:
    """One daemon in the foreground on a backend; close() undoes it."""

    def __init__(self, daemon, fusermount, root, name, opts=(), s3=None):
        self.fusermount = fusermount
        self.s3 = s3
        self.backend = os.path.join(root, name + "-backend")
        self.mnt = os.path.join(root, name + "-mnt")
        self.logpath = os.path.join(root, name + ".log")
        self.proc = None
        if s3:
            self.prefix = "%s/%s" % (s3["prefix"], name)
            self.source = "%s:%s" % (s3["bucket"], self.prefix)
            opts = list(s3["opts"]) + list(opts)
        else:
            os.mkdir(self.backend)
            self.source = "file://" + self.backend
        os.mkdir(self.mnt)
        self.opts = list(opts)
        self.start(daemon)

    def start(self, daemon):
        self.cmd = [daemon, "-f", "-o", ",".join(["block_size=4096"] + self.opts),
                    self.source, self.mnt]
        with open(self.logpath, "a") as logf:
            self.proc = subprocess.Popen(self.cmd, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not self.mounted():
            if self.proc.poll() is not None:
                raise Fail("daemon exited with %s before mounting:\n%s"
                           % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise Fail("mount did not appear in /proc/mounts:\n" + self.log_tail())
            time.sleep(0.05)

    def mounted(self):
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[1] == self.mnt and fields[2] == "fuse.s3blockfs":
                    return True
        return False

    def log_tail(self, n=30):
        try:
            with open(self.logpath) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        """Unmounts, waits for the daemon; returns its exit status (None if killed)."""
        if self.proc is None:
            return None
        deadline = time.monotonic() + 10
        while self.mounted():
            r = subprocess.run([self.fusermount, "-u", self.mnt], capture_output=True,
                               timeout=30)
            if r.returncode == 0 or not self.mounted():
                break
            if time.monotonic() > deadline:
                subprocess.run([self.fusermount, "-u", "-z", self.mnt], capture_output=True,
                               timeout=30)
                break
            time.sleep(0.2)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # the daemon this test started, by PID
            self.proc.wait(timeout=30)
            rc = None
        self.proc = None
        return rc

    def remount(self, daemon):
        rc = self.close()
        check(rc == 0, "daemon exit status %s at unmount:\n%s" % (rc, self.log_tail()))
        self.start(daemon)

    def keys(self):
        """Every object (local: file) name stored for this mount."""
        if not self.s3:
            return [os.path.join(d, n) for d, ds, fs in os.walk(self.backend) for n in ds + fs]
        r = run([sys.executable, self.s3["admin"], "--bucket", self.s3["bucket"], "ls",
                 self.prefix + "/"])
        check(r.returncode == 0, "s3admin.py ls: %s" % r.stderr)
        return [ln.split(None, 1)[1] for ln in r.stdout.splitlines() if " " in ln]

    def shm_objects(self):
        return [k for k in self.keys() if "-shm" in k]

    def destroy_backend(self):
        if self.s3:
            run([sys.executable, self.s3["admin"], "--bucket", self.s3["bucket"], "rm-prefix",
                 self.prefix + "/"])


def run(cmd, script=None, env=None, timeout=TIMEOUT):
    return subprocess.run(cmd, input=script, capture_output=True, text=True, env=env,
                          timeout=timeout)


def shell(sqlite3, shim, script, env=None):
    """sqlite3 with the shim loaded first; returns (rc, stdout, stderr)."""
    r = run([sqlite3, "-batch", "-bail", ":memory:"], ".load %s\n%s" % (shim, script), env)
    return r.returncode, r.stdout, r.stderr


def shell_ok(sqlite3, shim, script, env=None):
    rc, out, err = shell(sqlite3, shim, script, env)
    check(rc == 0 and not err, "sqlite3 failed (%d): %s\nscript:\n%s" % (rc, err, script))
    return out


def stock(sqlite3, path, script):
    r = run([sqlite3, "-batch", "-bail", path], script)
    return r.returncode, r.stdout, r.stderr


def info(block_size=4096, locking="posix", shm="none"):
    return "vfs=s3blockfs block_size=%d sector_size=%d locking=%s shm=%s" % (
        block_size, block_size, locking, shm)


def uri(path, extra=""):
    return "file:%s?vfs=s3blockfs%s" % (path, extra)


def case_script(path, mode, page_size):
    s = ".open %s\n.vfsname\n" % uri(path)
    s += "PRAGMA page_size=%d;\nPRAGMA journal_mode=%s;\n" % (page_size, mode)
    s += WORKLOAD
    if mode != "OFF":  # ROLLBACK is undefined with journal_mode=OFF
        s += ROLLBACK
    s += "PRAGMA integrity_check;\n" + SUMMARY + "PRAGMA page_size;\nPRAGMA s3blockfs_info;\n"
    want = ["s3blockfs/unix", mode.lower(), "ok", SUMMARY_WANT, str(page_size),
            info(shm="file" if mode == "WAL" else "none")]
    return s, want


def test_matrix(ctx, m):
    """Every journal mode x page size through the shell with .load."""
    dbs = []
    # On S3 every block is a request: the ends and the middle of the range.
    page_sizes = [512, 4096, 65536] if m.s3 else PAGE_SIZES
    for mode in MODES:
        script, want = "", []
        for ps in page_sizes:
            path = os.path.join(m.mnt, "m-%s-%d.db" % (mode.lower(), ps))
            s, w = case_script(path, mode, ps)
            script += s
            want += w
            dbs.append(path)
        out = shell_ok(ctx["sqlite3"], ctx["shim"], script)
        check(out.split("\n")[:-1] == want, "%s: output\n%s\nwant\n%s" % (mode, out, "\n".join(want)))
        check(not m.shm_objects(), "shm objects: %s" % m.shm_objects())
        log("ok - matrix %s x %d page sizes" % (mode, len(page_sizes)))
    return dbs


def verify_stock(ctx, dbs):
    for path in dbs:
        rc, out, err = stock(ctx["sqlite3"], path, "PRAGMA integrity_check;\n" + SUMMARY)
        check(rc == 0 and out == "ok\n%s\n" % SUMMARY_WANT,
              "stock sqlite3 on %s: %d %r %r" % (path, rc, out, err))


def test_default_env(ctx, m):
    path = os.path.join(m.mnt, "default.db")
    env = dict(os.environ, S3BLOCKFS_VFS_DEFAULT="1")
    out = shell_ok(ctx["sqlite3"], ctx["shim"],
                   ".open %s\n.vfsname\nCREATE TABLE d(x);\nPRAGMA s3blockfs_info;\n" % path, env)
    check(out == "s3blockfs/unix\n%s\n" % info(), "default VFS: %r" % out)
    # Without the variable the shim is loaded but not the default.
    out = shell_ok(ctx["sqlite3"], ctx["shim"], ".open %s\n.vfsname\n" % path)
    check(out == "unix\n", "not default: %r" % out)
    log("ok - S3BLOCKFS_VFS_DEFAULT=1 makes the shim the default VFS")


PY_CHILD = r"""
import os, sqlite3, sys
shim, mnt = sys.argv[1:3]
WORKLOAD, SUMMARY = sys.argv[3], sys.argv[4]
c = sqlite3.connect(":memory:")
c.enable_load_extension(True)
c.load_extension(shim)
c.close()
for mode in ("DELETE", "WAL"):
    path = os.path.join(mnt, "py-%s.db" % mode.lower())
    db = sqlite3.connect("file:%s?vfs=s3blockfs" % path, uri=True, isolation_level=None)
    print(db.execute("PRAGMA journal_mode=%s" % mode).fetchone()[0])
    db.executescript(WORKLOAD)
    db2 = sqlite3.connect("file:%s?vfs=s3blockfs" % path, uri=True, isolation_level=None)
    print(db2.execute(SUMMARY).fetchone()[0])
    print(db.execute("PRAGMA integrity_check").fetchone()[0])
    print(db.execute("PRAGMA s3blockfs_info").fetchone()[0], flush=True)
    if mode == "WAL":
        db.execute("PRAGMA wal_checkpoint")
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)  # the blocks are in the store now
    os.close(fd)
    sys.stdin.readline()  # the parent lists the backend while both are open
    db2.close()
    db.close()
"""


def python_with_load_extension():
    """An interpreter whose sqlite3 module can load extensions (pyenv builds often cannot)."""
    for py in [sys.executable, "/usr/bin/python3", shutil.which("python3")]:
        if not py or not os.access(py, os.X_OK):
            continue
        r = run([py, "-c", "import sqlite3; sqlite3.connect(':memory:').enable_load_extension"])
        if r.returncode == 0:
            return py
    return None


def test_python(ctx, m):
    py = python_with_load_extension()
    if py is None:
        log("ok - python sqlite3 module # SKIP no interpreter supports enable_load_extension")
        return
    child = subprocess.Popen([py, "-c", PY_CHILD, ctx["shim"], m.mnt, WORKLOAD,
                              SUMMARY.strip()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        for mode in ("delete", "wal"):
            got = [child.stdout.readline().rstrip("\n") for _ in range(4)]
            want = [mode, SUMMARY_WANT, "ok", info(shm="file" if mode == "wal" else "none")]
            check(got == want, "python %s: %s want %s\n%s" % (mode, got, want,
                                                                child.stderr.read()
                                                                if child.poll() is not None
                                                                else ""))
            check(not m.shm_objects(), "shm objects while open: %s" % m.shm_objects())
            check(any("py-%s.db" % mode in k for k in m.keys()), "py-%s.db not stored" % mode)
            child.stdin.write("\n")
            child.stdin.flush()
        check(child.wait(timeout=TIMEOUT) == 0, "python: %s" % child.stderr.read())
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    check(not m.shm_objects(), "shm objects after close: %s" % m.shm_objects())
    log("ok - python sqlite3 module (%s) loads the shim and runs the workload" % py)


PY_HOLDER = r"""
import sqlite3, sys
shim, path = sys.argv[1:3]
c = sqlite3.connect(":memory:")
c.enable_load_extension(True)
c.load_extension(shim)
db = sqlite3.connect("file:%s?vfs=s3blockfs" % path, uri=True, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO t VALUES (10000, 'held')")
print("holding", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
print("committed", flush=True)
sys.stdin.readline()
"""


def test_two_processes(ctx, m):
    """Locks between processes of one host, through the shim, WAL on the mount."""
    py = python_with_load_extension()
    if py is None:
        log("ok - two processes # SKIP no interpreter supports enable_load_extension")
        return
    path = os.path.join(m.mnt, "m-wal-4096.db")
    holder = subprocess.Popen([py, "-c", PY_HOLDER, ctx["shim"], path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        check(holder.stdout.readline() == "holding\n", "holder did not start")
        rc, out, err = shell(ctx["sqlite3"], ctx["shim"], ".open %s\n%s"
                             "INSERT INTO t VALUES (10001, 'x');\n" % (uri(path), SUMMARY))
        check(out == SUMMARY_WANT + "\n" and "locked" in err,
              "second writer while the first holds: %d %r %r" % (rc, out, err))
        holder.stdin.write("\n")
        holder.stdin.flush()
        check(holder.stdout.readline() == "committed\n", "holder did not commit")
        out = shell_ok(ctx["sqlite3"], ctx["shim"], ".open %s\nSELECT count(*) FROM t;\n"
                       "DELETE FROM t WHERE a = 10000;\nPRAGMA s3blockfs_info;\n" % uri(path))
        check(out == "401\n%s\n" % info(shm="file"), "after commit: %r" % out)
        holder.stdin.write("\n")
        holder.stdin.flush()
        check(holder.wait(timeout=TIMEOUT) == 0, "holder failed")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    log("ok - two processes: WAL reader sees the snapshot, second writer is locked out")


def test_off_mount(ctx, root):
    """Off the mount the shim is invisible: same output, same bytes."""
    plain = os.path.join(root, "plain.db")
    shimmed = os.path.join(root, "shimmed.db")
    body = "PRAGMA page_size=1024;\nPRAGMA journal_mode=WAL;\n" + WORKLOAD + ROLLBACK + \
        "PRAGMA integrity_check;\n" + SUMMARY + "PRAGMA s3blockfs_info;\n"
    rc, out_plain, err = shell(ctx["sqlite3"], ctx["shim"], ".open %s\n.vfsname\n%s"
                               % (plain, body))
    check(rc == 0, "plain: %s" % err)
    out_shim = shell_ok(ctx["sqlite3"], ctx["shim"], ".open %s\n.vfsname\n%s"
                        % (uri(shimmed), body))
    check(out_plain == out_shim == "unix\nwal\nok\n%s\n" % SUMMARY_WANT,
          "off-mount outputs differ: %r %r" % (out_plain, out_shim))
    with open(plain, "rb") as a, open(shimmed, "rb") as b:
        check(a.read() == b.read(), "off-mount files differ")
    log("ok - a database off the mount behaves as without the shim")


def test_refuse_locks(ctx, root):
    m = Mount(ctx["daemon"], ctx["fusermount"], root, "nolocks", ["test_refuse_locks"])
    ctx["mounts"].append(m)
    path = os.path.join(m.mnt, "stock.db")
    rc, out, err = stock(ctx["sqlite3"], path, "CREATE TABLE t(x);\n")
    check(rc != 0 and ("locked" in err or "I/O error" in err),
          "stock sqlite3 with refused locks: %d %r %r" % (rc, out, err))
    log("ok - without the shim, refused locks fail: %s" % err.strip().splitlines()[-1])
    for mode, shm in (("DELETE", "none"), ("WAL", "heap")):
        path = os.path.join(m.mnt, "nolock-%s.db" % mode.lower())
        script = ".open %s\nPRAGMA journal_mode=%s;\n%s%sPRAGMA integrity_check;\n%s" \
            "PRAGMA s3blockfs_info;\n" % (uri(path), mode, WORKLOAD, ROLLBACK, SUMMARY)
        out = shell_ok(ctx["sqlite3"], ctx["shim"], script)
        want = "%s\nok\n%s\n%s\n" % (mode.lower(), SUMMARY_WANT, info(locking="none", shm=shm))
        check(out == want, "refused locks, %s: %r want %r" % (mode, out, want))
        # A second run reopens it (WAL recovery from the file, heap index).
        out = shell_ok(ctx["sqlite3"], ctx["shim"], ".open %s\n%s" % (uri(path), SUMMARY))
        check(out == SUMMARY_WANT + "\n", "reopen: %r" % out)
        log("ok - refused locks, %s: one writer works through the shim" % mode)
    # nolock=1 in the URI: no lock is even asked for.
    path = os.path.join(m.mnt, "nolock-uri.db")
    out = shell_ok(ctx["sqlite3"], ctx["shim"], ".open %s\n%s%sPRAGMA s3blockfs_info;\n"
                   % (uri(path, "&nolock=1"), WORKLOAD, SUMMARY))
    check(out == "%s\n%s\n" % (SUMMARY_WANT, info(locking="none")), "nolock=1: %r" % out)
    log("ok - nolock=1 URI parameter")
    check(not m.shm_objects(), "shm objects: %s" % m.shm_objects())
    rc = m.close()
    check(rc == 0, "daemon exit status %s:\n%s" % (rc, m.log_tail()))


def main():
    try:
        fusermount, daemon, shim, sqlite3 = tools()
    except Skip as e:
        log("SKIP: %s" % e)
        return SKIP

    # SIGTERM (test harness timeout) unwinds through the finally below.
    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    root = tempfile.mkdtemp(prefix="s3bfs-vfs-")
    ctx = {"daemon": daemon, "fusermount": fusermount, "shim": shim, "sqlite3": sqlite3,
           "mounts": []}
    m = None
    try:
        try:
            s3 = s3_settings(root)
        except Skip as e:
            log("SKIP: %s" % e)
            return SKIP
        m = Mount(daemon, fusermount, root, "main", s3=s3)
        log("backend: %s" % m.source)
        ctx["mounts"].append(m)
        dbs = test_matrix(ctx, m)
        verify_stock(ctx, dbs)
        log("ok - stock sqlite3 reads all %d databases" % len(dbs))
        test_default_env(ctx, m)
        test_python(ctx, m)
        test_two_processes(ctx, m)
        m.remount(daemon)
        verify_stock(ctx, dbs)
        check(not m.shm_objects(), "shm objects: %s" % m.shm_objects())
        log("ok - after a remount all databases pass integrity_check; no -shm object stored")
        test_off_mount(ctx, root)
        test_refuse_locks(ctx, root)
        rc = m.close()
        check(rc == 0, "daemon exit status %s:\n%s" % (rc, m.log_tail()))
        log("PASS")
        return 0
    except (Fail, OSError, subprocess.SubprocessError) as e:
        log("FAIL: %s: %s" % (type(e).__name__, e))
        for mm in ctx["mounts"]:
            if mm.proc is not None and not mm.alive():
                log("daemon %s died (%s):\n%s" % (mm.mnt, mm.proc.returncode, mm.log_tail()))
        return 1
    finally:
        for mm in ctx["mounts"]:
            try:
                mm.close()
                mm.destroy_backend()
            except Exception as e:  # keep cleaning up
                log("cleanup of %s: %s" % (mm.mnt, e))
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
