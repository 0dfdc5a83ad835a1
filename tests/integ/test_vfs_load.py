#!/usr/bin/env python3
"""Loading test of the SQLite VFS shim (s3blockfs_vfs.so), no daemon needed.

Runs where FUSE is unavailable (containers, CI) and checks what does not need
a mount: the stock sqlite3 shell loads the shim with ".load" under the entry
point SQLite derives from the file name and under both explicit names,
loading twice registers one VFS, the VFS outlives the loading connection
(SQLITE_OK_LOAD_PERMANENTLY), it is not the default unless
S3BLOCKFS_VFS_DEFAULT=1, and Python's sqlite3 module loads it.  A temp
directory given the attribute user.s3blockfs.block_size stands in for a
mount (skipped where the file system refuses user xattrs).

Exit 77 (skip) without the shim or the sqlite3 shell.  Paths: $S3BLOCKFS_VFS,
else ./.libs/s3blockfs_vfs.so in the build directory ($abs_top_builddir,
$top_builddir, the current directory or the source tree above this file).
"""

import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
XATTR = "user.s3blockfs.block_size"


class Fail(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def find_shim():
    if os.environ.get("S3BLOCKFS_VFS"):
        return os.path.abspath(os.environ["S3BLOCKFS_VFS"])
    here = os.path.dirname(os.path.abspath(__file__))
    for d in [os.environ.get("abs_top_builddir"), os.environ.get("top_builddir"), os.getcwd(),
              os.path.dirname(os.path.dirname(here))]:
        if d:
            p = os.path.join(os.path.abspath(d), ".libs", "s3blockfs_vfs.so")
            if os.path.exists(p):
                return p
    return None


def shell(sqlite3, script, env=None):
    r = subprocess.run([sqlite3, "-batch", "-bail", ":memory:"], input=script, text=True,
                       capture_output=True, env=env, timeout=60)
    check(r.returncode == 0 and not r.stderr, "sqlite3 failed (%d): %s\nscript:\n%s"
          % (r.returncode, r.stderr, script))
    return r.stdout


def python_with_load_extension():
    for py in [sys.executable, "/usr/bin/python3", shutil.which("python3")]:
        if py and os.access(py, os.X_OK):
            r = subprocess.run([py, "-c", "import sqlite3; "
                                "sqlite3.connect(':memory:').enable_load_extension"],
                               capture_output=True, timeout=60)
            if r.returncode == 0:
                return py
    return None


PY_CHILD = r"""
import sqlite3, sys
shim, path = sys.argv[1:3]
c = sqlite3.connect(":memory:")
c.enable_load_extension(True)
c.load_extension(shim)
c.load_extension(shim)
c.close()
db = sqlite3.connect("file:%s?vfs=s3blockfs" % path, uri=True)
db.execute("CREATE TABLE t(x)")
db.execute("INSERT INTO t VALUES (42)")
db.commit()
row = db.execute("PRAGMA s3blockfs_info").fetchone()
print(row[0] if row else "no info")
print(db.execute("SELECT x FROM t").fetchone()[0])
"""


def main():
    shim = find_shim()
    sqlite3 = shutil.which("sqlite3")
    if not shim or not sqlite3:
        log("SKIP: no %s" % ("s3blockfs_vfs.so" if not shim else "sqlite3 shell"))
        return SKIP
    base = shim[:-3]
    root = tempfile.mkdtemp(prefix="s3bfs-vfsload-")
    try:
        # The derived entry point, loaded twice: one VFS, not the default.
        other = os.path.join(root, "other.db")
        out = shell(sqlite3, ".load %s\n.load %s\n.vfslist\n.open %s\n.vfsinfo\n"
                    % (base, base, other))
        names = [ln.split('"')[1] for ln in out.splitlines() if ln.startswith("vfs.zName")]
        check(names.count("s3blockfs") == 1, "vfs list: %s" % names)
        check(names[-1] == "unix", "the shim became the default without S3BLOCKFS_VFS_DEFAULT")
        log("ok - .load with the derived entry point sqlite3_sblockfsvfs_init, twice")
        for entry in ("sqlite3_sblockfsvfs_init", "sqlite3_s3blockfsvfs_init"):
            out = shell(sqlite3, ".load %s %s\n.vfslist\n" % (shim, entry))
            check('"s3blockfs"' in out, "entry %s: %s" % (entry, out))
        log("ok - .load with either explicit entry point name")

        plain = os.path.join(root, "plain.db")
        out = shell(sqlite3, ".load %s\n.open file:%s?vfs=s3blockfs\n.vfsname\n"
                    "CREATE TABLE t(x);\nPRAGMA s3blockfs_info;\n" % (base, plain))
        check(out == "unix\n", "off-mount file through the shim: %r" % out)
        log("ok - the VFS outlives the loading connection; an ordinary file passes through")
        env = dict(os.environ, S3BLOCKFS_VFS_DEFAULT="1")
        out = shell(sqlite3, ".load %s\n.open %s\n.vfsinfo\n.vfsname\n" % (base, other), env)
        check(out.startswith('vfs.zName      = "s3blockfs"\n') and out.endswith("\nunix\n"),
              "default: %s" % out)
        log("ok - S3BLOCKFS_VFS_DEFAULT=1 makes it the default")

        fake = os.path.join(root, "mnt")
        os.mkdir(fake)
        try:
            os.setxattr(fake, XATTR, b"8192")
        except OSError as e:
            log("ok - fake mount # SKIP %s takes no user xattrs (%s)" % (root, e))
            fake = None
        if fake:
            db = os.path.join(fake, "a.db")
            out = shell(sqlite3, ".load %s\n.open file:%s?vfs=s3blockfs\n.vfsname\n"
                        "CREATE TABLE t(x);\nPRAGMA s3blockfs_info;\n" % (base, db))
            check(out == "s3blockfs/unix\nvfs=s3blockfs block_size=8192 sector_size=8192 "
                  "locking=posix shm=none\n", "fake mount: %r" % out)
            log("ok - a directory with the attribute is recognised (block size 8192)")

        py = python_with_load_extension()
        if py is None:
            log("ok - python # SKIP no interpreter supports enable_load_extension")
        else:
            path = os.path.join(fake or root, "py.db")
            r = subprocess.run([py, "-c", PY_CHILD, base, path], capture_output=True,
                               text=True, timeout=60)
            want = ("vfs=s3blockfs block_size=8192 sector_size=8192 locking=posix shm=none"
                    if fake else "no info") + "\n42\n"
            check(r.returncode == 0 and r.stdout == want, "python: %r %r" % (r.stdout, r.stderr))
            log("ok - python sqlite3 module (%s) loads the shim" % py)
        log("PASS")
        return 0
    except Fail as e:
        log("FAIL: %s" % e)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
