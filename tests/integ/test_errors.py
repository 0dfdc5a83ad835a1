#!/usr/bin/env python3
"""Errors: bad input before detaching, and a backend that refuses writes.

  test_bad_input        each bad command line gets one clear line on stderr
                        and the documented status (main.c: 2 usage error, 1
                        mount failure), with -f and without it (the parent,
                        before it detaches, reports); nothing is mounted and
                        no process is left behind
  test_backend_unwritable  a read-only bind of the backend directory: exit 1
                        "Read-only file system"; -o ro mounts it and reads
  test_backend_unreadable  root bypasses permission bits, so the daemon runs
                        as nobody (setpriv) on a 0700 directory: exit 1
  test_daemonize        without -f: status 0 once mounted, the detached
                        daemon serves, exits after fusermount3 -u
  test_backend_full     backend on a 2 MB tmpfs: a commit that overflows it
                        fails in sqlite3 (I/O error / disk full), the daemon
                        stays up, what was committed before is intact (also
                        after a remount)
  test_backend_full_recovery  a plain file that cannot be stored: fsync and
                        close fail with ENOSPC, the unmount exits 1 naming
                        the recovery directory, and replaying it as told
                        restores every byte
  test_backend_readonly the backend tmpfs remounted read-only under a live
                        mount: writes fail at fsync/COMMIT, never silently;
                        once writable again fsync succeeds, nothing is lost
  test_s3_refusals      (S3 only) bad credentials, unknown bucket,
                        unreachable endpoint: one line, exit 1, before detaching

Run: python3 tests/integ/test_errors.py [TEST...]   (environment: harness.py)
"""

import errno
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as H  # noqa: E402


def leftover_processes(needle):
    """PIDs (not ours) whose command line mentions needle."""
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


def expect_error(args, status, pattern, where, env=None, prefix=()):
    """Runs the daemon with args, with and without -f; checks the status and
    that stderr is exactly one line matching pattern; nothing mounted."""
    for fg in (["-f"], []):
        r = H.run_daemon(fg + list(args), prefix=prefix, env=env)
        lines = r.stderr.strip().splitlines()
        desc = f"s3blockfs {' '.join(fg + list(args))}"
        H.check(r.returncode == status,
                f"{desc}: exit {r.returncode}, want {status}; stderr: {r.stderr.strip()!r}")
        H.check(len(lines) == 1, f"{desc}: want one line on stderr, got {len(lines)}: "
                f"{r.stderr.strip()!r}")
        H.check(re.search(pattern, lines[0]), f"{desc}: message {lines[0]!r} does not match "
                f"{pattern!r}")
        H.check(r.stdout == "", f"{desc}: stdout {r.stdout!r}")
        H.check(not H.is_mounted(where), f"{desc}: {where} got mounted")
        left = leftover_processes(where)
        H.check(not left, f"{desc}: processes left behind: {left}")
    return lines[0]


def test_bad_input():
    d = H.tmpdir("bad")
    b, m, f = (os.path.join(d, x) for x in ("backend", "mnt", "file"))
    os.mkdir(b)
    os.mkdir(m)
    with open(f, "w") as fh:
        fh.write("not a directory\n")
    src = "file://" + b
    cases = [
        ("unknown -o option", ["-o", "bogus_option=1", src, m], 2, r"bogus_option"),
        ("unknown flag", ["--bogus-flag", src, m], 2, r"bogus-flag"),
        ("cache_size=abc", ["-o", "cache_size=abc", src, m], 2,
         r"^s3blockfs: bad value 'abc' for -o cache_size"),
        ("block_size=0", ["-o", "block_size=0", src, m], 2,
         r"^s3blockfs: bad value '0' for -o block_size"),
        ("block_size huge", ["-o", "block_size=999999999999", src, m], 2,
         r"^s3blockfs: bad value '999999999999' for -o block_size"),
        ("connections=0", ["-o", "connections=0", src, m], 2, r"-o connections"),
        ("log_level", ["-o", "log_level=loud", src, m], 2, r"'loud' for -o log_level"),
        ("no arguments", [], 2, r"missing SOURCE and MOUNTPOINT"),
        ("no MOUNTPOINT", [src], 2, r"missing MOUNTPOINT"),
        ("extra argument", [src, m, "extra"], 2, r"unexpected argument 'extra'"),
        ("mountpoint missing", [src, os.path.join(d, "nonexistent")], 2,
         r"nonexistent.*No such file or directory"),
        ("mountpoint is a file", [src, f], 2, re.escape(f) + r".* not a directory"),
        ("backend missing", ["file://" + os.path.join(d, "nob"), m], 1,
         r"backend directory .*nob: No such file or directory"),
        ("backend is a file", ["file://" + f, m], 1, re.escape(f) + r".* not a directory"),
        ("relative file:// SOURCE", ["file://rel/dir", m], 2, r"bad SOURCE 'file://rel/dir'.*absolute"),
        ("empty file:// SOURCE", ["file://", m], 2, r"bad SOURCE 'file://'"),
        ("short bucket", ["s3://ab", m], 2, r"bad SOURCE 's3://ab'.*bucket name"),
        ("empty bucket", [":prefix", m], 2, r"bad SOURCE ':prefix'"),
    ]
    failures = []
    for name, args, status, pattern in cases:
        try:
            line = expect_error(args, status, pattern, m)
            H.info(f"{name}: {status}: {line}")
        except H.Fail as e:
            failures.append(f"{name}: {e}")
    H.check(not failures, f"{len(failures)} of {len(cases)} cases wrong:\n  " + "\n  ".join(failures))


def test_backend_unwritable():
    d = H.tmpdir("ro")
    b, ro, m = (os.path.join(d, x) for x in ("backend", "robind", "mnt"))
    for x in (b, ro, m):
        os.mkdir(x)
    be = H.LocalBackend(b)
    with H.Mount(be) as mm:
        H.sql(mm.path("app.db"), "CREATE TABLE t(a); INSERT INTO t VALUES(42);")
    r = subprocess.run(["mount", "--bind", b, ro], capture_output=True, text=True)
    if r.returncode != 0:
        raise H.Skip(f"cannot bind-mount: {r.stderr.strip()}")
    H.defer(lambda: subprocess.run(["umount", "-l", ro], capture_output=True))
    r = subprocess.run(["mount", "-o", "remount,bind,ro", ro], capture_output=True, text=True)
    if r.returncode != 0:
        raise H.Skip(f"cannot make the bind read-only: {r.stderr.strip()}")
    line = expect_error(["file://" + ro, m], 1, r"Read-only file system", m)
    H.info(line)
    with H.Mount(H.LocalBackend(ro), opts=["ro"]) as mm:
        H.check(H.sql(mm.path("app.db"), "SELECT a FROM t;").stdout.strip() == "42",
                "read through -o ro")
        try:
            with open(mm.path("new"), "wb"):
                pass
            raise H.Fail("created a file on a -o ro mount")
        except OSError as e:
            H.check(e.errno == errno.EROFS, f"create on -o ro: {e}")


def test_backend_unreadable():
    if not os.path.exists("/usr/bin/setpriv"):
        raise H.Skip("setpriv missing: as root the permission bits cannot be tested")
    d = H.tmpdir("perm")
    os.chmod(d, 0o755)
    b, m = os.path.join(d, "backend"), os.path.join(d, "mnt")
    os.mkdir(b, 0o700)
    os.mkdir(m, 0o755)
    os.chmod(b, 0o700)
    if not os.access(H.DAEMON, os.X_OK, effective_ids=False):
        raise H.Skip("daemon not executable")
    # root ignores permission bits: run the daemon as nobody.  It fails on
    # the backend before it would need /dev/fuse (which nobody cannot open).
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "test", "-x", H.DAEMON], capture_output=True)
    if probe.returncode != 0:
        raise H.Skip(f"nobody cannot execute {H.DAEMON} (a parent directory is private)")
    line = expect_error(["file://" + b, m], 1, r"backend directory .* Permission denied", m,
                        prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    H.info(line)


def test_daemonize():
    be = H.new_backend()
    m = H.tmpdir("mnt")
    args = []
    if be.opts:
        args = ["-o", ",".join(be.opts)]
    t0 = time.monotonic()
    r = H.run_daemon(args + [be.source, m])
    H.check(r.returncode == 0, f"exit {r.returncode}: {r.stderr.strip()}")
    H.check(H.is_mounted(m) == "fuse.s3blockfs", "not mounted when the parent returned")
    H.info(f"parent returned after {time.monotonic() - t0:.2f} s with the mount up")
    pids = leftover_processes(m)
    try:
        H.check(len(pids) == 1, f"detached daemons: {pids}")
        H.sql(os.path.join(m, "d.db"), "CREATE TABLE t(a); INSERT INTO t VALUES('detached');")
    finally:
        subprocess.run(["fusermount3", "-u", m], capture_output=True)
        deadline = time.monotonic() + 30 * H.SCALE
        while leftover_processes(m) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in leftover_processes(m):
            os.kill(pid, 9)
            subprocess.run(["fusermount3", "-uz", m], capture_output=True)
            raise H.Fail(f"detached daemon {pid} did not exit after fusermount3 -u")
    with H.Mount(be) as mm:
        H.check(H.sql(mm.path("d.db"), "SELECT a FROM t;").stdout.strip() == "detached",
                "data written through the detached daemon")


COMMITTED = ("CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB);\n"
             "INSERT INTO t VALUES(1, randomblob(1000));\n"
             "INSERT INTO t VALUES(2, 'two');\n")
CHECK = "PRAGMA integrity_check;\nSELECT group_concat(a) FROM t;\n"


def test_backend_full():
    be = H.new_backend("full", tmpfs_size="2m")
    be.require_local("needs a backend directory on a tiny tmpfs")
    rec = H.tmpdir("rec")
    with H.Mount(be, opts=[f"recovery_dir={rec}"]) as m:
        db = m.path("app.db")
        H.sql(db, COMMITTED)
        for what, script in (
                ("one big row", "INSERT INTO t SELECT 3, randomblob(5000000);\n"),
                ("many rows, a journal too", "BEGIN; UPDATE t SET b = randomblob(1000);\n"
                 "INSERT INTO t SELECT NULL, randomblob(3000) FROM (WITH RECURSIVE c(x) AS "
                 "(SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) SELECT x FROM c);\n"
                 "COMMIT;\n")):
            r = H.sql(db, script, check=False, timeout=300)
            H.check(r.returncode != 0, f"{what}: an overflowing commit succeeded")
            H.check(re.search(r"disk I/O error|database or disk is full", r.stderr),
                    f"{what}: sqlite3 said {r.stderr.strip()!r}")
            H.info(f"{what}: sqlite3: {r.stderr.strip()}")
            H.check(m.alive() and m.mounted(), f"{what}: the daemon died")
            H.check(H.sql(db, CHECK).stdout.split() == ["ok", "1,2"],
                    f"{what}: committed rows damaged: {H.sql(db, CHECK).stdout!r}")
        H.sql(db, "INSERT INTO t VALUES(3, 'small fits');")
    with H.Mount(be) as m:
        out = H.sql(m.path("app.db"), CHECK).stdout.split()
        H.check(out == ["ok", "1,2,3"], f"after remount: {out}")
    H.info(be.check_layout("app.db", 4096))


def test_backend_full_recovery():
    be = H.new_backend("full", tmpfs_size="2m")
    be.require_local("needs a backend directory on a tiny tmpfs")
    rec = H.tmpdir("rec")
    data = os.urandom(3 << 20)
    with H.Mount(be, opts=[f"recovery_dir={rec}"], expect_status=1) as m:
        fd = os.open(m.path("big"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            for _ in range(2):  # the error is sticky while the store refuses
                try:
                    os.fsync(fd)
                    raise H.Fail("fsync succeeded with the backend full")
                except OSError as e:
                    H.check(e.errno == errno.ENOSPC, f"fsync: {e}")
        finally:
            try:
                os.close(fd)
                raise H.Fail("close succeeded with data unsaved")
            except OSError as e:
                H.check(e.errno == errno.ENOSPC, f"close: {e}")
        H.check(m.alive(), "daemon died")
        st = m.unmount()
        H.check(st == 1, f"unmount status {st}, want 1")
        log = m.log_text()
        mt = re.search(r"saved in (\S+) ", log)
        H.check(mt and mt.group(1).startswith(rec), f"no recovery directory in the log:\n{log}")
        saved = mt.group(1)
        H.info(f"unmount: {[l for l in log.splitlines() if 'saved in' in l][0][:160]}...")
    # the administrator frees space and replays the blocks as the message says
    subprocess.run(["mount", "-o", "remount,size=16m", be.dir], check=True)
    r = subprocess.run(["cp", "-a", saved + "/.", be.dir + "/"], capture_output=True, text=True)
    H.check(r.returncode == 0, f"replay: {r.stderr}")
    H.info(be.check_layout("big", 4096))
    H.check(be.volume_bytes("big") == data, "replayed volume differs from what was written")
    with H.Mount(be) as m:
        H.check(H.file_bytes(m.path("big")) == data, "file differs after replay")


def test_backend_readonly():
    be = H.new_backend("rofs", tmpfs_size="64m")
    be.require_local("needs a backend directory on a tmpfs to remount read-only")
    with H.Mount(be) as m:
        db = m.path("app.db")
        H.sql(db, COMMITTED)
        data = bytearray(os.urandom(10000))
        with open(m.path("f"), "wb") as fh:
            fh.write(data)
        subprocess.run(["mount", "-o", "remount,ro", be.dir], check=True)
        try:
            r = H.sql(db, "INSERT INTO t SELECT 3, randomblob(50000);\n", check=False)
            H.check(r.returncode != 0 and "error" in r.stderr,
                    f"COMMIT on a read-only backend: exit {r.returncode} {r.stderr!r}")
            H.info(f"sqlite3: {r.stderr.strip()}")
            fd = os.open(m.path("f"), os.O_WRONLY)
            try:
                os.pwrite(fd, b"y" * 100, 50)
                data[50:150] = b"y" * 100
                errs = []
                for _ in range(2):  # sticky while the store refuses
                    try:
                        os.fsync(fd)
                        raise H.Fail("fsync succeeded on a read-only backend")
                    except OSError as e:
                        H.check(e.errno in (errno.EROFS, errno.EIO, errno.EACCES),
                                f"fsync: {e}")
                        errs.append(errno.errorcode[e.errno])
                H.info(f"fsync: {', '.join(errs)}")
                H.check(m.alive(), "daemon died")
                subprocess.run(["mount", "-o", "remount,rw", be.dir], check=True)
                os.fsync(fd)  # retried: now stored
            finally:
                os.close(fd)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", be.dir], capture_output=True)
        H.check(be.volume_bytes("f") == data, "f not stored after the backend came back")
        H.check(H.sql(db, CHECK).stdout.split() == ["ok", "1,2"], "committed rows damaged")
        H.sql(db, "INSERT INTO t VALUES(3, 'after');")
    with H.Mount(be) as m:
        H.check(H.sql(m.path("app.db"), CHECK).stdout.split() == ["ok", "1,2,3"], "after remount")
        H.check(H.file_bytes(m.path("f")) == data, "f after remount")


def test_s3_refusals():
    if H.BACKEND_KIND != "s3":
        raise H.Skip("S3 backend only (S3BFS_TEST_BACKEND=s3)")
    be = H.new_backend()
    m = H.tmpdir("mnt")
    d = H.tmpdir("creds")
    bad = os.path.join(d, "bad")
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"AWS_ACCESS_KEY_ID={os.environ['S3_ACCESS_KEY']}\n"
                "AWS_SECRET_ACCESS_KEY=wrong-secret-0123456789abcdefghijklmnopq\n")
    ep, region = os.environ["S3_ENDPOINT"], os.environ.get("S3_REGION") or "us-east-1"
    good = [o for o in be.opts if o.startswith("credentials=")][0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    cases = [
        ("bad credentials", ["-o", f"endpoint={ep},region={region},credentials={bad}",
                             be.source, m], r"(?i)signature|credential|denied|access key|403"),
        ("unknown bucket", ["-o", f"endpoint={ep},region={region},{good}",
                            "no-such-bucket-s3bfs-test:x", m], r"(?i)bucket|404|NoSuch"),
        ("unreachable endpoint", ["-o", f"endpoint=http://127.0.0.1:9,region={region},{good},"
                                  "connect_timeout=2,retry_budget=2", be.source, m],
         r"(?i)connect|unreachable|refused"),
    ]
    failures = []
    for name, args, pattern in cases:
        try:
            H.info(f"{name}: {expect_error(args, 1, pattern, m, env=env)}")
        except H.Fail as e:
            failures.append(f"{name}: {e}")
    H.check(not failures, "\n  ".join(failures))


if __name__ == "__main__":
    H.main([test_bad_input, test_backend_unwritable, test_backend_unreadable, test_daemonize,
            test_backend_full, test_backend_full_recovery, test_backend_readonly,
            test_s3_refusals])
