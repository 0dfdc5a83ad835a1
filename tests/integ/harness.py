"""harness.py - shared helpers for the s3blockfs integration tests.

Python 3 standard library only.  A test script does:

    import harness as H

    def test_something():
        be = H.new_backend()                 # fresh backend for this test
        with H.Mount(be, opts=["block_size=4097"]) as m:
            H.sql(m.path("app.db"), "CREATE TABLE t(a); INSERT INTO t VALUES(1);")
        H.check(be.volume_bytes("app.db") != b"", "nothing stored")

    if __name__ == "__main__":
        H.main([test_something])

Every test runs the real daemon on a real FUSE mount; the same test runs
against the local directory backend (default) and against S3.

Environment
  S3BLOCKFS            the daemon (default: ./s3blockfs in $abs_top_builddir,
                       $top_builddir, the current directory, or the source
                       tree above this file)
  TOP_SRCDIR           the source tree (default: two levels above this file);
                       used to find tests/s3/s3admin.py
  S3BFS_TEST_BACKEND   "local" (default) or "s3"; for "s3" set S3_ENDPOINT
                       S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET [S3_REGION], as
                       printed by tests/s3/rgw-start.sh.  Each backend then
                       is the SOURCE "$S3_BUCKET:<unique prefix>" and the
                       tests inspect the bucket with tests/s3/s3admin.py only.
  S3BFS_S3ADMIN_BOTO3=1  let s3admin.py use boto3 (default: its stdlib
                       client, much faster to start)
  S3BFS_DAEMON_WRAPPER command words put before the daemon, e.g.
                       "valgrind -q --error-exitcode=99 --leak-check=full";
                       a daemon exit status other than 0 at a clean unmount
                       fails the test, so wrapper-reported errors show up
  S3BFS_TEST_TIMEOUT_SCALE  multiply every timeout (default 1; 10 with a
                       wrapper, whose daemon is much slower)
  S3BFS_TEST_KEEP=1    keep temporary directories and S3 prefixes (debug)

API (everything raises Fail on a problem, Skip to skip the running test)
  Skip, Fail                    exceptions; check(cond, msg)
  info(msg)                     print a "  # msg" line (measurements)
  tmpdir(tag) -> path           fresh dir under /tmp, removed after the test
  tmpfs(size, tag) -> path      a tmpfs of that size ("2m") mounted on a fresh
                                dir, unmounted and removed after the test
  defer(fn, *args)              run fn(*args) after the test (LIFO), always
  DAEMON, BACKEND_KIND, SCALE   the daemon's path, "local"|"s3", timeout factor
  new_backend(tag="", tmpfs_size=None) -> Backend  a fresh, empty backend for
      this test (local: on a tmpfs of that size when given):
      .kind ("local"|"s3"), .source, .opts (mount options it needs),
      .dir (local only: the backend directory, else None),
      .keys(prefix="") -> [(key, size)] sorted, keys relative to the root
                          (hidden ".s3blockfs/..." included),
      .volume_bytes(vol) -> bytes   blocks of vol concatenated in order,
      .volume_keys(vol) -> [(key, size)] under "vol/",
      .check_layout(vol, block_size=None) -> message (Fail if invalid),
      .require_local(why)           Skip unless kind == "local"
      LocalBackend(dir) makes one on a directory of your own.
  Mount(backend, opts=(), mountpoint=None, expect_status=0)
      context manager: starts "s3blockfs -f -o ... SOURCE MOUNTPOINT",
      waits (bounded) for the fuse.s3blockfs mount; on exit (also on an
      exception or a SIGTERM/SIGINT of the test) unmounts, waits for the
      daemon (bounded), kills it by PID and lazily unmounts if needed.  At a
      normal exit a daemon status != expect_status (None: any) is a Fail.
      .pid, .mnt, .path(rel), .log_text(), .alive(), .mounted(),
      .unmount() -> exit status, .kill9(unmount=True) -> status,
      .lazy_unmount(), .start() (again after unmount/kill9: same backend,
      same mountpoint, a new log file)
  sql(db, script, check=True, timeout=120, cwd=None) -> CompletedProcess
      runs the stock sqlite3 CLI (-bail -batch) with the script on stdin;
      check: a non-zero exit is a Fail that quotes stderr
  integrity_ok(db)              PRAGMA integrity_check says "ok", else Fail
  file_bytes(path) -> bytes
  run_daemon(args, timeout=30, wrapper=True, prefix=(), env=None)
      -> CompletedProcess (text): [prefix] [wrapper] s3blockfs ARGS, no -f
      added (the daemon detaches on success); output through files
  is_mounted(path) -> fstype or None
  main(tests)                   the runner: checks the prerequisites (exit 77
      with the reason when /dev/fuse, root, fusermount3, sqlite3, the daemon
      or the S3 settings are missing), runs the tests named on the command
      line (default all), prints one line per test and finally
      "N passed, N failed" plus ", N skipped" when some were; exit 0, 1 if
      any failed, 77 if all were skipped.
"""

import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

SKIP = 77
BLOCK_RE = re.compile(r"^[0-9]{10}$")


class Skip(Exception):
    pass


class Fail(Exception):
    pass


class Interrupted(BaseException):
    """SIGTERM/SIGINT of the test: unwinds every with-block, then exit."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def info(msg):
    print(f"  # {msg}", flush=True)


# ------------------------------------------------------------------ settings

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.path.abspath(os.environ.get("TOP_SRCDIR") or os.path.dirname(os.path.dirname(HERE)))
S3ADMIN = os.path.join(TOP_SRCDIR, "tests", "s3", "s3admin.py")
BACKEND_KIND = os.environ.get("S3BFS_TEST_BACKEND", "local") or "local"
WRAPPER = shlex.split(os.environ.get("S3BFS_DAEMON_WRAPPER", ""))
KEEP = os.environ.get("S3BFS_TEST_KEEP") == "1"
try:
    SCALE = float(os.environ.get("S3BFS_TEST_TIMEOUT_SCALE") or (10 if WRAPPER else 1))
except ValueError:
    SCALE = 1.0
S3_VARS = ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET")


def daemon_path():
    if os.environ.get("S3BLOCKFS"):
        return os.path.abspath(os.environ["S3BLOCKFS"])
    for d in (os.environ.get("abs_top_builddir"), os.environ.get("top_builddir"), os.getcwd(),
              TOP_SRCDIR):
        if d and os.access(os.path.join(d, "s3blockfs"), os.X_OK):
            return os.path.abspath(os.path.join(d, "s3blockfs"))
    return os.path.join(os.getcwd(), "s3blockfs")


DAEMON = daemon_path()


def prerequisites():
    """The reason to skip the whole script, or None."""
    if BACKEND_KIND not in ("local", "s3"):
        return f"S3BFS_TEST_BACKEND must be local or s3, not {BACKEND_KIND!r}"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if os.geteuid() != 0:
        return "needs root (FUSE mounts, tmpfs mounts, /dev/fuse access)"
    for tool in ("fusermount3", "sqlite3"):
        if not shutil.which(tool):
            return f"{tool} not found in PATH"
    if not os.access(DAEMON, os.X_OK):
        return f"daemon {DAEMON} not built (set S3BLOCKFS)"
    if WRAPPER and not shutil.which(WRAPPER[0]):
        return f"S3BFS_DAEMON_WRAPPER: {WRAPPER[0]} not found"
    if BACKEND_KIND == "s3":
        missing = [v for v in S3_VARS if not os.environ.get(v)]
        if missing:
            return (f"S3BFS_TEST_BACKEND=s3 but {' '.join(missing)} unset "
                    "(eval \"$(tests/s3/rgw-start.sh)\")")
        if not os.path.exists(S3ADMIN):
            return f"{S3ADMIN} missing"
    return None


# ------------------------------------------------------------- per-test scope

class _Scope:
    def __init__(self, name):
        self.name = name
        self.cleanups = []
        self.mounts = []


_scope = _Scope("<none>")
_global_cleanups = []


def defer(fn, *args):
    _scope.cleanups.append((fn, args))


def _run_cleanups(lst):
    errors = []
    while lst:
        fn, args = lst.pop()
        try:
            fn(*args)
        except Interrupted:
            raise
        except BaseException as e:  # keep cleaning up
            errors.append(f"cleanup {getattr(fn, '__name__', fn)}: {e}")
    return errors


def _rmtree(path):
    if KEEP:
        print(f"  # kept {path}", flush=True)
        return
    # never follow into something still mounted under it
    for mp in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["fusermount3", "-uz", mp], capture_output=True)
        subprocess.run(["umount", "-l", mp], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def tmpdir(tag="t"):
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{_scope.name}-{tag}")[:60]
    d = tempfile.mkdtemp(prefix=f"s3bfs-integ-{safe}-", dir="/tmp")
    defer(_rmtree, d)
    return d


def _proc_mounts():
    out = []
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1])
                    out.append((mp, parts[2]))
    except OSError:
        pass
    return out


def is_mounted(path):
    """The type of what is mounted on path (the topmost mount), or None."""
    path = os.path.realpath(path)
    found = None
    for mp, fstype in _proc_mounts():
        if mp == path:
            found = fstype
    return found


def _mounts_under(path):
    path = os.path.realpath(path)
    return [mp for mp, _ in _proc_mounts() if mp == path or mp.startswith(path + "/")]


def tmpfs(size, tag="tmpfs"):
    """A tmpfs of `size` (e.g. "2m") mounted on a fresh dir; unmounted after the test."""
    d = tmpdir(tag)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", d],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    defer(lambda: subprocess.run(["umount", "-l", d], capture_output=True))
    return d


# ------------------------------------------------------------------ backends

def _check_layout_objs(objs, vp, bs):
    """DESIGN.md section 2 on [(key, size)] under vp: (ok, message)."""
    blocks = []
    for k, size in objs:
        rest = k[len(vp):]
        if not BLOCK_RE.match(rest):
            return False, f"{k!r} is not a block key"
        blocks.append((int(rest), size))
    blocks.sort()
    if not blocks:
        return True, "empty volume (no objects)"
    for i, (n, _) in enumerate(blocks):
        if n != i:
            return False, f"block {i:010d} missing ({len(blocks)} blocks, next is {n:010d})"
    if bs is None:
        bs = blocks[0][1] if len(blocks) >= 2 else None
    for n, size in blocks[:-1]:
        if size != bs:
            return False, f"block {n:010d} has {size} bytes, not the block size {bs}"
    last = blocks[-1][1]
    if last < 1 or (bs is not None and last > bs):
        return False, f"last block {len(blocks) - 1:010d} has {last} bytes (block size {bs})"
    return True, f"{len(blocks)} blocks, size {(len(blocks) - 1) * (bs or 0) + last}"


class Backend:
    kind = None
    dir = None

    def require_local(self, why):
        if self.kind != "local":
            raise Skip(f"local backend only: {why}")

    def volume_keys(self, vol):
        vp = vol.rstrip("/") + "/"
        return [(k, s) for k, s in self.keys(vp)]


class LocalBackend(Backend):
    kind = "local"

    def __init__(self, d):
        self.dir = d
        self.source = "file://" + d
        self.opts = []

    def keys(self, prefix=""):
        out = []
        # walk only the directory the prefix is in
        start = os.path.join(self.dir, prefix.rsplit("/", 1)[0]) if "/" in prefix else self.dir
        for root, _, files in os.walk(start):
            for f in files:
                p = os.path.join(root, f)
                k = os.path.relpath(p, self.dir)
                if k.startswith(prefix):
                    try:
                        out.append((k, os.lstat(p).st_size))
                    except FileNotFoundError:
                        pass  # deleted meanwhile (a background deletion)
        return sorted(out)

    def volume_bytes(self, vol):
        vp = vol.rstrip("/") + "/"
        parts = []
        for k, _ in self.keys(vp):
            if BLOCK_RE.match(k[len(vp):]):
                with open(os.path.join(self.dir, k), "rb") as f:
                    parts.append(f.read())
        return b"".join(parts)

    def check_layout(self, vol, block_size=None):
        vp = vol.rstrip("/") + "/"
        ok, msg = _check_layout_objs(self.keys(vp), vp, block_size)
        if not ok:
            raise Fail(f"layout of {vol}: {msg}")
        return msg


_s3_creds = None


def _s3_credentials_file():
    global _s3_creds
    if _s3_creds is None:
        d = tempfile.mkdtemp(prefix="s3bfs-integ-creds-", dir="/tmp")
        _global_cleanups.append((shutil.rmtree, (d, True)))
        path = os.path.join(d, "credentials")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"AWS_ACCESS_KEY_ID={os.environ['S3_ACCESS_KEY']}\n"
                    f"AWS_SECRET_ACCESS_KEY={os.environ['S3_SECRET_KEY']}\n")
        _s3_creds = path
    return _s3_creds


class S3Backend(Backend):
    kind = "s3"

    def __init__(self, prefix):
        self.prefix = prefix
        self.bucket = os.environ["S3_BUCKET"]
        self.source = f"{self.bucket}:{prefix}"
        region = os.environ.get("S3_REGION") or "us-east-1"
        self.opts = [f"endpoint={os.environ['S3_ENDPOINT']}", f"region={region}",
                     f"credentials={_s3_credentials_file()}"]

    def admin(self, *args, binary=False, check=True, timeout=600):
        # its stdlib client: boto3's import costs ~2 s per call
        opt = [] if os.environ.get("S3BFS_S3ADMIN_BOTO3") == "1" else ["--stdlib"]
        r = subprocess.run([sys.executable, S3ADMIN, "--bucket", self.bucket] + opt + list(args),
                           capture_output=True, timeout=timeout * SCALE)
        if check and r.returncode != 0:
            raise Fail(f"s3admin {' '.join(args)}: exit {r.returncode}: "
                       f"{r.stdout.decode(errors='replace')}{r.stderr.decode(errors='replace')}")
        return r if binary else r.stdout.decode(errors="replace")

    def keys(self, prefix=""):
        out = []
        root = self.prefix + "/"
        for line in self.admin("ls", root + prefix).splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2:
                out.append((parts[1][len(root):], int(parts[0])))
        return sorted(out)

    def volume_bytes(self, vol):
        r = self.admin("cat-volume", f"{self.prefix}/{vol}", "-", binary=True)
        return r.stdout

    def check_layout(self, vol, block_size=None):
        args = ["check-layout", f"{self.prefix}/{vol}"]
        if block_size is not None:
            args += ["--block-size", str(block_size)]
        r = self.admin(*args, check=False)
        if not r.startswith("OK"):
            raise Fail(f"layout of {vol}: {r.strip()}")
        return r.strip()

    def remove(self):
        if KEEP:
            print(f"  # kept s3://{self.bucket}/{self.prefix}/", flush=True)
            return
        self.admin("rm-prefix", self.prefix + "/", check=False)


def new_backend(tag="", tmpfs_size=None):
    """A fresh, empty backend, removed after the test.  tmpfs_size (e.g.
    "2g"): a local backend directory is a tmpfs of that size (fast, or
    small on purpose); ignored for S3."""
    if BACKEND_KIND == "s3":
        safe = re.sub(r"[^A-Za-z0-9_-]", "-", f"{_scope.name}-{tag}".strip("-"))[:60]
        be = S3Backend(f"s3bfs-integ/{safe}-{os.getpid()}-{random.getrandbits(32):08x}")
        defer(be.remove)
        return be
    if tmpfs_size:
        return LocalBackend(tmpfs(tmpfs_size, tag or "backend"))
    return LocalBackend(tmpdir(tag or "backend"))


# -------------------------------------------------------------------- mounts

_live_mounts = []


class Mount:
    def __init__(self, backend, opts=(), mountpoint=None, expect_status=0, tag="m"):
        self.backend = backend
        self.opts = list(backend.opts) + list(opts)
        self.mnt = mountpoint or tmpdir(tag)
        self.expect_status = expect_status
        self.logdir = tmpdir(tag + "-log")
        self.nstarts = 0
        self.proc = None
        self.status = None
        self.logfile = None
        _scope.mounts.append(self)

    # -- life cycle

    def start(self):
        check(self.proc is None or self.proc.poll() is not None, "daemon already running")
        check(not is_mounted(self.mnt), f"{self.mnt} is still mounted")
        self.nstarts += 1
        self.logfile = os.path.join(self.logdir, f"daemon-{self.nstarts}.log")
        cmd = WRAPPER + [DAEMON, "-f"]
        if self.opts:
            cmd += ["-o", ",".join(self.opts)]
        cmd += [self.backend.source, self.mnt]
        with open(self.logfile, "wb") as log:
            # own session: a ^C of the test reaches the harness, which
            # unmounts in order, not the daemon directly
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.status = None
        _live_mounts.append(self)
        deadline = time.monotonic() + 10 * SCALE
        while True:
            fstype = is_mounted(self.mnt)
            if fstype == "fuse.s3blockfs":
                return self
            if self.proc.poll() is not None:
                self.status = self.proc.returncode
                self._forget()
                raise Fail(f"daemon exited with status {self.status} before mounting:\n"
                           + self.log_tail())
            if time.monotonic() > deadline:
                self.kill9()
                raise Fail(f"no fuse.s3blockfs mount on {self.mnt} after {10 * SCALE:.0f} s "
                           f"(found {fstype}):\n" + self.log_tail())
            time.sleep(0.02)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if self.proc is None or self.status is not None:
            return False
        if exc_type is not None:
            try:
                self.unmount()
            except Exception:
                pass
            return False
        st = self.unmount()
        if self.expect_status is not None and st != self.expect_status:
            raise Fail(f"daemon exit status {st} at unmount, expected {self.expect_status}:\n"
                       + self.log_tail())
        return False

    def _forget(self):
        if self in _live_mounts:
            _live_mounts.remove(self)

    def unmount(self, timeout=120):
        """fusermount3 -u, wait for the daemon to exit; its exit status."""
        if self.proc is None:
            return None
        if self.status is not None:
            return self.status
        deadline = time.monotonic() + 10 * SCALE
        last = ""
        while is_mounted(self.mnt) and self.proc.poll() is None:
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, text=True)
            if r.returncode == 0:
                break
            last = r.stderr.strip()
            if time.monotonic() > deadline:
                self.kill9()
                raise Fail(f"fusermount3 -u {self.mnt} kept failing ({last}); killed the "
                           "daemon:\n" + self.log_tail())
            time.sleep(0.1)
        try:
            self.status = self.proc.wait(timeout * SCALE)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise Fail(f"daemon did not exit within {timeout * SCALE:.0f} s of the unmount; "
                       "killed it:\n" + self.log_tail())
        self._forget()
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True)
        return self.status

    def kill9(self, unmount=True):
        """SIGKILL the daemon (by PID), reap it, lazily unmount (unless
        unmount=False: then call lazy_unmount() yourself before start())."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.status = self.proc.wait()
        self._forget()
        if unmount:
            self.lazy_unmount()
        return self.status

    def lazy_unmount(self):
        """fusermount3 -uz until the mountpoint is free (bounded)."""
        for _ in range(100):
            if not is_mounted(self.mnt):
                return
            subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True)
            time.sleep(0.05)
        raise Fail(f"{self.mnt} still mounted after fusermount3 -uz")

    # -- inspection

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def mounted(self):
        return is_mounted(self.mnt) == "fuse.s3blockfs"

    def path(self, rel=""):
        return os.path.join(self.mnt, rel)

    def log_text(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()
        head = f"--- daemon log {self.logfile} (last {min(n, len(lines))} of {len(lines)} lines)"
        return "\n".join([head] + ["| " + l for l in lines[-n:]])


def _emergency_unmount():
    for m in list(_live_mounts):
        try:
            m.unmount(timeout=30)
        except BaseException:
            try:
                m.kill9()
            except BaseException:
                pass


# ----------------------------------------------------------------- processes

def sql(db, script, check=True, timeout=120, cwd=None, args=()):
    """Runs `sqlite3 -bail -batch [args] db` with script on stdin."""
    cmd = ["sqlite3", "-bail", "-batch"] + list(args) + [db]
    try:
        r = subprocess.run(cmd, input=script, capture_output=True, text=True,
                           timeout=timeout * SCALE, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise Fail(f"sqlite3 {db}: no answer within {timeout * SCALE:.0f} s")
    if check and r.returncode != 0:
        raise Fail(f"sqlite3 {db}: exit {r.returncode}: {r.stderr.strip()[:2000]}"
                   f" (script: {script[:200]!r}...)")
    return r


def integrity_ok(db):
    out = sql(db, "PRAGMA integrity_check;").stdout.strip()
    check(out == "ok", f"integrity_check of {db}: {out[:500]}")


def run_daemon(args, timeout=30, wrapper=True, prefix=(), env=None):
    """Runs [prefix] [wrapper] s3blockfs ARGS (no -f added: it detaches on
    success); CompletedProcess with text stdout/stderr.  Output goes through
    files, not pipes: a detached daemon (or valgrind's log descriptor in it)
    holding a pipe open would block the wait for EOF."""
    cmd = list(prefix) + (WRAPPER if wrapper else []) + [DAEMON] + list(args)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        try:
            rc = p.wait(timeout * SCALE)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            err.seek(0)
            raise Fail(f"{' '.join(cmd)}: did not return within {timeout * SCALE:.0f} s "
                       f"(stderr {err.read().decode(errors='replace')!r})")
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, rc, out.read().decode(errors="replace"),
                                           err.read().decode(errors="replace"))


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# -------------------------------------------------------------------- runner

def _on_signal(signum, frame):
    raise Interrupted(signum)


def main(tests):
    """Runs the tests (all, or those named in argv[1:]); exits."""
    global _scope
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    reason = prerequisites()
    if reason:
        print(f"SKIP: {reason}")
        print(f"0 passed, 0 failed, {len(tests)} skipped")
        sys.exit(SKIP)
    wanted = sys.argv[1:]
    names = [t.__name__ for t in tests]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"unknown test(s) {' '.join(unknown)}; tests: {' '.join(names)}")
        sys.exit(2)
    print(f"# daemon {DAEMON}, backend {BACKEND_KIND}"
          + (f", wrapper {' '.join(WRAPPER)}" if WRAPPER else ""), flush=True)
    passed = failed = skipped = 0
    interrupted = None
    for t in tests:
        if wanted and t.__name__ not in wanted:
            continue
        _scope = _Scope(t.__name__)
        t0 = time.monotonic()
        verdict, detail = "PASS", ""
        try:
            t()
        except Skip as e:
            verdict, detail = "SKIP", str(e)
        except Interrupted as e:
            verdict, detail = "FAIL", f"interrupted by signal {e.args[0]}"
            interrupted = e.args[0]
        except Fail as e:
            verdict, detail = "FAIL", str(e)
        except Exception:
            verdict, detail = "FAIL", traceback.format_exc()
        logs = []
        if verdict == "FAIL" and "--- daemon log" not in detail:
            logs = [m.log_tail(20) for m in _scope.mounts if m.log_text()]
        try:
            _emergency_unmount()
            errors = _run_cleanups(_scope.cleanups)
        except Interrupted as e:
            errors = [f"interrupted by signal {e.args[0]} during cleanup"]
            interrupted = e.args[0]
        if errors and verdict != "FAIL":
            verdict, detail = "FAIL", "; ".join(errors)
        elif errors:
            detail += "\n" + "; ".join(errors)
        dt = time.monotonic() - t0
        line = f"{verdict} {t.__name__} ({dt:.1f} s)"
        if detail:
            line += ": " + detail
        print(line, flush=True)
        for l in logs:
            print(l, flush=True)
        if verdict == "FAIL":
            failed += 1
        elif verdict == "SKIP":
            skipped += 1
        else:
            passed += 1
        if interrupted:
            break
    _run_cleanups(_global_cleanups)
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary, flush=True)
    if interrupted:
        sys.exit(128 + interrupted)
    if failed:
        sys.exit(1)
    sys.exit(SKIP if skipped and not passed else 0)
