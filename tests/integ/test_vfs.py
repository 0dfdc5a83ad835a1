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


class Mount:
    """One daemon in the foreground on a local backend; close() undoes it."""

    def __init__(self, daemon, fusermount, root, name, opts=()):
        self.fusermount = fusermount
        self.backend = os.path.join(root, name + "-backend")
        self.mnt = os.path.join(root, name + "-mnt")
        self.logpath = os.path.join(root, name + ".log")
        self.proc = None
        os.mkdir(self.backend)
        os.mkdir(self.mnt)
        self.start(daemon, opts)

    def start(self, daemon, opts):
        self.cmd = [daemon, "-f", "-o", ",".join(["block_size=4096"] + list(opts)),
                    "file://" + self.backend, self.mnt]
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

    def remount(self, daemon, opts=()):
        rc = self.close()
        check(rc == 0, "daemon exit status %s at unmount:\n%s" % (rc, self.log_tail()))
        self.start(daemon, opts)


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


def shm_objects(backend):
    found = []
    for dirpath, dirnames, filenames in os.walk(backend):
        for n in dirnames + filenames:
            if "-shm" in n:
                found.append(os.path.join(dirpath, n))
    return found


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
    for mode in MODES:
        script, want = "", []
        for ps in PAGE_SIZES:
            path = os.path.join(m.mnt, "m-%s-%d.db" % (mode.lower(), ps))
            s, w = case_script(path, mode, ps)
            script += s
            want += w
            dbs.append(path)
        out = shell_ok(ctx["sqlite3"], ctx["shim"], script)
        check(out.split("\n")[:-1] == want, "%s: output\n%s\nwant\n%s" % (mode, out, "\n".join(want)))
        check(not shm_objects(m.backend), "shm objects: %s" % shm_objects(m.backend))
        log("ok - matrix %s x %d page sizes" % (mode, len(PAGE_SIZES)))
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
shim, mnt, backend = sys.argv[1:4]
c = sqlite3.connect(":memory:")
c.enable_load_extension(True)
c.load_extension(shim)
c.close()
WORKLOAD, SUMMARY = sys.argv[4], sys.argv[5]
def shm_objects():
    return [os.path.join(d, n) for d, ds, fs in os.walk(backend) for n in ds + fs if "-shm" in n]
for mode in ("DELETE", "WAL"):
    path = os.path.join(mnt, "py-%s.db" % mode.lower())
    db = sqlite3.connect("file:%s?vfs=s3blockfs" % path, uri=True, isolation_level=None)
    print(db.execute("PRAGMA journal_mode=%s" % mode).fetchone()[0])
    db.executescript(WORKLOAD)
    db2 = sqlite3.connect("file:%s?vfs=s3blockfs" % path, uri=True, isolation_level=None)
    print(db2.execute(SUMMARY).fetchone()[0])
    print(db.execute("PRAGMA integrity_check").fetchone()[0])
    print(db.execute("PRAGMA s3blockfs_info").fetchone()[0])
    print("shm objects while open: %d" % len(shm_objects()))
    db2.close()
    db.close()
print("shm objects after close: %d" % len(shm_objects()))
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
    r = run([py, "-c", PY_CHILD, ctx["shim"], m.mnt, m.backend, WORKLOAD, SUMMARY.strip()])
    check(r.returncode == 0, "python: %s%s" % (r.stdout, r.stderr))
    want = []
    for mode in ("delete", "wal"):
        want += [mode, SUMMARY_WANT, "ok", info(shm="file" if mode == "wal" else "none"),
                 "shm objects while open: 0"]
    want.append("shm objects after close: 0")
    check(r.stdout.split("\n")[:-1] == want, "python output:\n%s\nwant\n%s"
          % (r.stdout, "\n".join(want)))
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
    check(not shm_objects(m.backend), "shm objects: %s" % shm_objects(m.backend))
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
        m = Mount(daemon, fusermount, root, "main")
        ctx["mounts"].append(m)
        dbs = test_matrix(ctx, m)
        verify_stock(ctx, dbs)
        log("ok - stock sqlite3 reads all %d databases" % len(dbs))
        test_default_env(ctx, m)
        test_python(ctx, m)
        test_two_processes(ctx, m)
        m.remount(daemon)
        verify_stock(ctx, dbs)
        check(not shm_objects(m.backend), "shm objects: %s" % shm_objects(m.backend))
        log("ok - after a remount all databases pass integrity_check; no -shm object stored")
        test_off_mount(ctx, root)
        test_refuse_locks(ctx, root)
        rc = m.close()
        check(rc == 0, "daemon exit status %s:\n%s" % (rc, m.log_tail()))
        log("PASS")
        return 0
    except Fail as e:
        log("FAIL: %s" % e)
        for mm in ctx["mounts"]:
            if mm.proc is not None and not mm.alive():
                log("daemon %s died (%s):\n%s" % (mm.mnt, mm.proc.returncode, mm.log_tail()))
        return 1
    finally:
        for mm in ctx["mounts"]:
            try:
                mm.close()
            except Exception as e:  # keep cleaning up
                log("cleanup of %s: %s" % (mm.mnt, e))
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
