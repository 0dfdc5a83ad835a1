#!/usr/bin/env python3
"""Operations: the systemd unit, readiness, fstab-style mounts, statistics, and
the import / export / fsck subcommands, on the local backend (default) or S3
(S3BFS_TEST_BACKEND=s3).

  test_unit_verify        systemd-analyze verify on the unit generated from
                          systemd/s3blockfs@.service.in: no warning at all
  test_help_and_usage     every subcommand's --help, bad options exit 2
  test_ready_notify       the daemon started as the unit starts it (-f -o
                          config=FILE, $NOTIFY_SOCKET on a datagram socket the
                          test owns, path and abstract): STATUS= first, READY=1
                          only when the mount already answers, STOPPING=1 on
                          SIGTERM, exit 0, the data stored
  test_stop_failed_flush  (local) a flush that cannot store: exit 1, STATUS
                          says where the blocks went, they are in recovery_dir
  test_config_file_errors a bad line is "FILE:LINE: ..." and exit 2; command
                          line options override the file
  test_journal_levels     with stderr = $JOURNAL_STREAM, lines carry "<N>"
  test_restart_after_crash  a daemon killed by SIGKILL leaves a dead mount;
                          the next start (Restart=on-failure) detaches it
  test_mount_helper       mount -t fuse.s3blockfs through mount.fuse3 (needs
                          s3blockfs in mount's minimal PATH: a symlink in
                          /usr/local/sbin while the test runs), an fstab line
                          (mount -T FILE) with _netdev,nofail,x-systemd.*, and
                          the old "s3blockfs#SOURCE" form of -t fuse
  test_stats              stats MOUNTPOINT: table, --json, --prometheus;
                          a clear error on a directory that is not a mount
  test_import_export_roundtrip  real SQLite databases (empty, sizes not a
                          multiple of the block size, a few MB; block sizes
                          4095/4096/4097) round-trip byte for byte; the layout
                          is valid and the mount reads the imported database
  test_import_over_larger import --force of a smaller file leaves no stale
                          tail; without --force it is refused
  test_fsck_faults        a missing middle block, a short middle block, a stray
                          object, debris without block 0, a hot journal and a
                          zeroed one: each reported, --repair fixes the
                          repairable ones, the rest remain (exit 4)
  test_export_journal_wal a real hot journal and a real WAL next to a volume:
                          export refuses (3); --rollback gives SQLite's result
  test_bad_input          nonexistent / unreadable / non-regular file, bad
                          VOLUME, missing volume, a store without permission,
                          a backend that fills up mid-import: clear message,
                          non-zero exit, nothing half-written without saying so
  test_tools_valgrind     import and export under valgrind (skipped without it)

Run: python3 tests/integ/test_ops.py [TEST...]  (harness.py: S3BLOCKFS,
S3BFS_TEST_BACKEND=s3, ...)
"""

import argparse
import errno
import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time

import harness as H

sys.path.insert(0, os.path.join(H.TOP_SRCDIR, "tests", "s3"))
import s3admin  # noqa: E402  (the independent client, to plant faults)

UNIT_IN = os.path.join(H.TOP_SRCDIR, "systemd", "s3blockfs@.service.in")


# ------------------------------------------------------------------ helpers

def tool(args, timeout=300, check=None, env=None):
    """s3blockfs SUBCOMMAND ...; CompletedProcess (text)."""
    cmd = H.WRAPPER + [H.DAEMON] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * H.SCALE,
                           stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise H.Fail(f"{' '.join(cmd)}: no answer within {timeout * H.SCALE:.0f} s")
    if check is not None and r.returncode != check:
        raise H.Fail(f"{' '.join(args)}: exit {r.returncode}, expected {check}:\n"
                     f"stdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-2000:]}")
    return r


def volume(be, vol):
    """The VOLUME argument naming vol in backend be."""
    if be.kind == "local":
        return f"file://{be.dir}:{vol}"
    return f"{be.source}/{vol}"


def opts_args(be, extra=()):
    o = list(be.opts) + list(extra)
    if be.kind == "local":
        o.append("no_local_sync")
    return ["-o", ",".join(o)] if o else []


class Objects:
    """Put/delete raw objects in a backend (keys relative to its root) with the
    independent client, to plant faults."""

    def __init__(self, be):
        ns = argparse.Namespace(local=be.dir if be.kind == "local" else None,
                                bucket=getattr(be, "bucket", None), stdlib=False, retry_secs=10)
        self.st = s3admin.make_store(ns)
        self.root = "" if be.kind == "local" else be.prefix + "/"

    def put(self, key, data):
        self.st.put(self.root + key, data)

    def delete(self, key):
        self.st.delete([self.root + key])

    def get(self, key):
        return self.st.get(self.root + key)


def make_db(path, rows, page_size=4096, journal="delete", blob=100):
    if os.path.exists(path):
        os.unlink(path)
    c = sqlite3.connect(path)
    c.execute(f"PRAGMA page_size={page_size}")
    c.execute(f"PRAGMA journal_mode={journal}")
    c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
    c.executemany("INSERT INTO t VALUES(?, randomblob(?))", [(i, blob) for i in range(rows)])
    c.commit()
    c.close()
    return os.path.getsize(path)


def wait_exit(pids, timeout):
    deadline = time.monotonic() + timeout * H.SCALE
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")
                 and not open(f"/proc/{p}/stat").read().split(") ")[1].startswith("Z")]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def daemons_on(mnt):
    """PIDs of s3blockfs processes whose command line names mnt."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and os.path.basename(args[0]) == b"s3blockfs" and mnt.encode() in args:
            out.append(int(d))
    return out


# -------------------------------------------------------------- systemd unit

def test_unit_verify():
    if not shutil.which("systemd-analyze"):
        raise H.Skip("systemd-analyze not installed")
    d = H.tmpdir("unit")
    text = open(UNIT_IN).read().replace("@bindir@", os.path.dirname(H.DAEMON))
    H.check("@" + "bindir@" not in text, "unsubstituted @bindir@")
    unit = os.path.join(d, "s3blockfs@test.service")
    with open(unit, "w") as f:
        f.write(text)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", unit], capture_output=True,
                       text=True, timeout=60)
    # verify exits 0 on unknown keys and bad values; any output is a finding
    H.check(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(),
            f"systemd-analyze verify: exit {r.returncode}:\n{r.stdout}{r.stderr}")
    for want in ("Type=notify", "After=network-online.target", "Wants=network-online.target",
                 "Restart=on-failure", "TimeoutStopSec=", "LoadCredential=",
                 "-f -o config=/etc/s3blockfs/%i.conf", "OOMScoreAdjust=-1000"):
        H.check(want in text, f"unit lacks {want}")
    for bad in ("ProtectSystem=", "PrivateTmp=", "PrivateMounts=", "ProtectHome=",
                "ReadWritePaths="):
        H.check(f"\n{bad}" not in text, f"unit sets {bad}: it would hide the mount")
    H.info("systemd-analyze verify: clean")


def test_help_and_usage():
    for cmd in ("import", "export", "fsck", "stats"):
        r = tool([cmd, "--help"], check=0)
        H.check(r.stdout.startswith(f"usage: s3blockfs {cmd}") and "Exit status" in r.stdout,
                f"{cmd} --help: {r.stdout[:200]}")
        r = tool([cmd, "--no-such-option"], check=2)
        H.check(f"s3blockfs {cmd}:" in r.stderr and "--help" in r.stderr, r.stderr)
        r = tool([cmd], check=2)
    r = H.run_daemon(["--help"])
    H.check("config=FILE" in r.stdout and "s3blockfs import" in r.stdout, "daemon --help")


# ----------------------------------------------------------------- readiness

def _notify_socket(abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"@s3bfs-test-{os.getpid()}-{time.monotonic_ns()}"
        s.bind("\0" + name[1:])
    else:
        name = os.path.join(H.tmpdir("notify"), "notify.sock")
        s.bind(name)
    H.defer(s.close)
    return s, name


def _start_unit_like(be, conf_text, mnt, notify_name, extra_env=None):
    """Starts the daemon as the unit does; returns (proc, logfile)."""
    d = H.tmpdir("unitlike")
    conf = os.path.join(d, "mount.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    log = os.path.join(d, "daemon.log")
    env = dict(os.environ, NOTIFY_SOCKET=notify_name, **(extra_env or {}))
    with open(log, "wb") as lf:
        p = subprocess.Popen(H.WRAPPER + [H.DAEMON, "-f", "-o", f"config={conf}"], env=env,
                             stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)

    def cleanup():
        if p.poll() is None:
            p.kill()
            p.wait()
        subprocess.run(["fusermount3", "-uz", mnt], capture_output=True)
    H.defer(cleanup)
    return p, log


def _conf_for(be, mnt, extra="", creds_dir=True):
    lines = [f"# written by test_ops.py", f"source = {be.source}", f"mountpoint = {mnt}"]
    for o in be.opts:
        if o.startswith("credentials=") and creds_dir:
            # the unit's way: LoadCredential= and $CREDENTIALS_DIRECTORY
            lines.append("credentials = $CREDENTIALS_DIRECTORY/" + os.path.basename(o[12:]))
        else:
            k, _, v = o.partition("=")
            lines.append(f"{k} = {v}" if v else k)
    if be.kind == "local":
        lines.append("no_local_sync")
    return "\n".join(lines) + "\n" + extra


def _creds_env(be):
    for o in be.opts:
        if o.startswith("credentials="):
            return {"CREDENTIALS_DIRECTORY": os.path.dirname(o[12:])}
    return {"CREDENTIALS_DIRECTORY": "/nonexistent"}


def _recv(s, timeout):
    s.settimeout(timeout * H.SCALE)
    try:
        return s.recv(4096).decode()
    except socket.timeout:
        return None


def test_ready_notify():
    for abstract in (False, True):
        be = H.new_backend("abstract" if abstract else "path")
        mnt = H.tmpdir("mnt")
        s, name = _notify_socket(abstract)
        t0 = time.monotonic()
        p, log = _start_unit_like(be, _conf_for(be, mnt), mnt, name, _creds_env(be))
        msgs = []
        while True:
            m = _recv(s, 30)
            H.check(m is not None, f"no READY=1 within 30 s; got {msgs}; log:\n"
                    + open(log).read()[-2000:])
            msgs.append(m)
            if "READY=1" in m.split("\n"):
                # at this moment the mount must already answer
                H.check(H.is_mounted(mnt) == "fuse.s3blockfs", "READY=1 before the mount exists")
                H.check(os.getxattr(mnt, "user.s3blockfs.block_size") == b"4096",
                        "READY=1 but the mount does not answer getxattr")
                st = os.stat(mnt)
                H.check(stat.S_ISDIR(st.st_mode), "mount root is not a directory")
                break
        H.info(f"{'abstract' if abstract else 'path'} socket: READY=1 after "
               f"{time.monotonic() - t0:.3f} s; before it: {msgs[:-1]}")
        H.check(msgs[0].startswith("STATUS="), f"first message {msgs[0]!r}")
        H.check("STATUS=mounted" in msgs[-1], f"READY without STATUS: {msgs[-1]!r}")
        data = os.urandom(3 * 4096 + 77)
        with open(os.path.join(mnt, "f.bin"), "wb") as f:
            f.write(data)  # not fsynced: the stop must flush it
        os.kill(p.pid, signal.SIGTERM)
        stopping = False
        last = ""
        while True:
            m = _recv(s, 60)
            if m is None:
                break
            if "STOPPING=1" in m.split("\n"):
                stopping = True
            last = m
            if "STATUS=stopped" in m:
                break
        rc = p.wait(60 * H.SCALE)
        H.check(stopping, "no STOPPING=1 after SIGTERM")
        H.check(rc == 0, f"exit {rc} after SIGTERM; log:\n" + open(log).read()[-2000:])
        H.check("all data stored" in last, f"last STATUS {last!r}")
        H.check(not H.is_mounted(mnt), "still mounted after the daemon exited")
        H.check(be.volume_bytes("f.bin") == data, "data written before SIGTERM not stored")
        be.check_layout("f.bin")


def test_stop_failed_flush():
    be = H.new_backend()
    be.require_local("a local backend that fills up")
    small = H.tmpfs("1m", "small")
    rec = H.tmpdir("recovery")
    mnt = H.tmpdir("mnt")
    s, name = _notify_socket(False)
    conf = (f"source = file://{small}\nmountpoint = {mnt}\nno_local_sync\n"
            f"writeback_delay = 3600\nrecovery_dir = {rec}\nlog_level = err\n")
    p, log = _start_unit_like(be, conf, mnt, name)
    while True:
        m = _recv(s, 30)
        H.check(m is not None, "no READY=1")
        if "READY=1" in m:
            break
    try:
        # more than the 1 MiB backend holds; close() flushes and fails
        with open(os.path.join(mnt, "big"), "wb") as f:
            f.write(os.urandom(1536 * 1024))
    except OSError as e:
        H.check(e.errno == errno.ENOSPC, f"close: {e}")
    os.kill(p.pid, signal.SIGTERM)
    statuses = []
    while True:
        m = _recv(s, 120)
        if m is None:
            break
        statuses.append(m)
        if "could not store" in m or "STATUS=stopped" in m:
            break
    rc = p.wait(120 * H.SCALE)
    H.check(rc == 1, f"exit {rc} after a failed flush, expected 1")
    H.check(any("STOPPING=1" in m for m in statuses), "no STOPPING=1")
    H.check(any("could not store" in m and rec in m for m in statuses),
            f"STATUS does not say where the blocks are: {statuses[-1:]}")
    saved = [f for _, _, fs in os.walk(rec) for f in fs]
    H.check(saved, "nothing in the recovery directory")
    H.info(f"exit 1, {len(saved)} block(s) saved in the recovery directory")


def test_config_file_errors():
    be = H.new_backend()
    mnt = H.tmpdir("mnt")
    d = H.tmpdir("conf")
    conf = os.path.join(d, "bad.conf")
    with open(conf, "w") as f:
        f.write("# ok\nsource = file:///x\ncache_size 3\n")
    r = H.run_daemon(["-f", "-o", f"config={conf}"])
    H.check(r.returncode == 2 and f"{conf}:3:" in r.stderr, f"exit {r.returncode}: {r.stderr}")
    r = H.run_daemon(["-f", "-o", f"config={d}/missing.conf", be.source, mnt])
    H.check(r.returncode == 2 and "missing.conf" in r.stderr, f"exit {r.returncode}: {r.stderr}")
    # a bad value in the file is overridden by the command line
    with open(conf, "w") as f:
        f.write(f"source = {be.source}\nmountpoint = {mnt}\ncache_size = nonsense\n")
    r = H.run_daemon(["-f", "-o", f"config={conf}"])
    H.check(r.returncode == 2 and "nonsense" in r.stderr, r.stderr)
    with open(conf, "w") as f:
        f.write(_conf_for(be, mnt, "block_size = 1000\n", creds_dir=False))
    m = H.Mount(be, opts=["block_size=8192", f"config={conf}"] +
                (["no_local_sync"] if be.kind == "local" else []), mountpoint=mnt)
    with m:
        H.check(os.getxattr(mnt, "user.s3blockfs.block_size") == b"8192",
                "command-line block_size did not override the file's")


def test_journal_levels():
    """Under systemd (stderr = the journal stream named by $JOURNAL_STREAM)
    each line starts with "<N>", so the journal keeps its priority."""
    be = H.new_backend()
    mnt = H.tmpdir("mnt")
    log = os.path.join(H.tmpdir("log"), "stderr")
    with open(log, "wb") as f:
        st = os.fstat(f.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        p = subprocess.Popen([H.DAEMON, "-f"] + opts_args(be) + [be.source, mnt], stdout=f,
                             stderr=f, env=env, stdin=subprocess.DEVNULL)
    H.defer(lambda: (p.poll() is None and p.kill(), p.wait()))
    deadline = time.monotonic() + 10 * H.SCALE
    while H.is_mounted(mnt) != "fuse.s3blockfs" and time.monotonic() < deadline:
        time.sleep(0.02)
    H.check(H.is_mounted(mnt) == "fuse.s3blockfs", "not mounted")
    subprocess.run(["fusermount3", "-u", mnt], check=True)
    H.check(p.wait(60 * H.SCALE) == 0, "exit status")
    lines = open(log).read().splitlines()
    H.check(any(l.startswith("<6>s3blockfs: mounted") for l in lines), f"lines: {lines}")
    H.check(all(l.startswith("<") for l in lines if l.startswith(("<", "s3blockfs:"))),
            f"a line without its level: {lines}")


def test_restart_after_crash():
    """What Restart=on-failure needs: a daemon killed by SIGKILL leaves a dead
    mount (ENOTCONN); the next start detaches it and mounts again."""
    be = H.new_backend()
    mnt = H.tmpdir("mnt")
    opts = opts_args(be)
    H.defer(lambda: subprocess.run(["fusermount3", "-uz", mnt], capture_output=True))
    r = H.run_daemon(opts + [be.source, mnt])
    H.check(r.returncode == 0, f"first start: {r.returncode}: {r.stderr}")
    _sqlite_roundtrip(mnt, "crash")
    pids = daemons_on(mnt)
    H.check(len(pids) == 1, f"daemon pids {pids}")
    os.kill(pids[0], signal.SIGKILL)
    H.check(wait_exit(pids, 10), "daemon survived SIGKILL")
    # The connection dies with the last thread (a zombie leader may still have
    # threads tearing down); statvfs always asks the daemon, stat may not.
    dead = False
    deadline = time.monotonic() + 10 * H.SCALE
    while not dead and time.monotonic() < deadline:
        try:
            os.statvfs(mnt)
            time.sleep(0.05)
        except OSError as e:
            dead = e.errno == errno.ENOTCONN
    H.check(dead, f"no dead mount after SIGKILL of {pids}: {H.is_mounted(mnt)}")
    r = H.run_daemon(opts + [be.source, mnt])
    H.check(r.returncode == 0 and "dead FUSE mount" in r.stderr,
            f"restart: {r.returncode}: {r.stderr}")
    n = H.sql(os.path.join(mnt, "crash.db"), "SELECT count(*) FROM t;").stdout.strip()
    H.check(n == "3", f"after the restart: {n} rows")
    H.check(subprocess.run(["umount", mnt]).returncode == 0, "umount")
    _wait_daemon_gone(mnt)


# --------------------------------------------------------------- mount(8)

def _wait_daemon_gone(mnt, timeout=60):
    pids = daemons_on(mnt)
    H.check(wait_exit(pids, timeout), f"daemon(s) {pids} still running after the unmount")


def _sqlite_roundtrip(mnt, tag):
    db = os.path.join(mnt, f"{tag}.db")
    H.sql(db, "CREATE TABLE t(a); INSERT INTO t VALUES(1),(2),(3);")
    out = H.sql(db, "SELECT sum(a) FROM t;").stdout.strip()
    H.check(out == "6", f"{tag}: sum {out!r}")


def test_mount_helper():
    if not shutil.which("mount.fuse3") and not os.path.exists("/sbin/mount.fuse3"):
        raise H.Skip("mount.fuse3 (package fuse3) not installed")
    be = H.new_backend()
    mnt = H.tmpdir("mnt")
    opts = list(be.opts) + (["no_local_sync"] if be.kind == "local" else [])

    # 1. "-t fuse" with the program's path: needs nothing in PATH
    r = subprocess.run(["mount", "-t", "fuse", "-o", ",".join(opts + ["_netdev", "nofail"]),
                        f"{H.DAEMON}#{be.source}", mnt], capture_output=True, text=True,
                       timeout=60 * H.SCALE)
    H.defer(lambda: subprocess.run(["umount", "-l", mnt], capture_output=True))
    H.check(r.returncode == 0, f"mount -t fuse PATH#SOURCE: {r.returncode}: {r.stderr}")
    H.check(H.is_mounted(mnt) == "fuse.s3blockfs", f"mounted as {H.is_mounted(mnt)}")
    _sqlite_roundtrip(mnt, "one")
    H.check(subprocess.run(["umount", mnt]).returncode == 0, "umount")
    _wait_daemon_gone(mnt)

    # 2. -t fuse.s3blockfs: mount(8) clears PATH, mount.fuse3's /bin/sh then
    # searches /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    link = "/usr/local/sbin/s3blockfs"
    if os.path.lexists(link) and os.path.realpath(link) != os.path.realpath(H.DAEMON):
        raise H.Skip(f"{link} exists and is not this build: not replacing it")
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(H.DAEMON, link)
        H.defer(os.unlink, link)
    r = subprocess.run(["mount", "-t", "fuse.s3blockfs", be.source, mnt, "-o",
                        ",".join(opts + ["_netdev", "nofail", "x-systemd.automount"])],
                       capture_output=True, text=True, timeout=60 * H.SCALE)
    H.check(r.returncode == 0, f"mount -t fuse.s3blockfs: {r.returncode}: {r.stderr}")
    H.check(H.is_mounted(mnt) == "fuse.s3blockfs", f"mounted as {H.is_mounted(mnt)}")
    H.check(H.sql(os.path.join(mnt, "one.db"), "SELECT count(*) FROM t;").stdout.strip() == "3",
            "database from the first mount not there")
    H.check(subprocess.run(["umount", mnt]).returncode == 0, "umount")
    _wait_daemon_gone(mnt)

    # 3. an fstab line, with the words only fstab and systemd use
    fstab = os.path.join(H.tmpdir("fstab"), "fstab")
    fopts = ",".join(["_netdev", "nofail", "noauto", "x-systemd.automount",
                      "x-systemd.idle-timeout=10min", "x-systemd.mount-timeout=15min",
                      "block_size=8192"] + opts)
    src = be.source.replace(" ", "\\040")
    with open(fstab, "w") as f:
        f.write(f"# test fstab\n{src}  {mnt}  fuse.s3blockfs  {fopts}  0 0\n")
    r = subprocess.run(["mount", "-T", fstab, mnt], capture_output=True, text=True,
                       timeout=60 * H.SCALE)
    H.check(r.returncode == 0, f"mount -T fstab: {r.returncode}: {r.stderr}")
    H.check(os.getxattr(mnt, "user.s3blockfs.block_size") == b"8192", "fstab option ignored")
    _sqlite_roundtrip(mnt, "two")
    r = tool(["stats", "--json", mnt], check=0)
    H.check(json.loads(r.stdout)["requests"]["put"] > 0, "no PUT counted")
    H.check(subprocess.run(["umount", mnt]).returncode == 0, "umount")
    _wait_daemon_gone(mnt)
    be.check_layout("two.db", block_size=8192)

    # 4. a wrong line fails at mount time with the daemon's one line
    r = subprocess.run(["mount", "-t", "fuse", "-o", "nofail,block_size=0",
                        f"{H.DAEMON}#{be.source}", mnt], capture_output=True, text=True,
                       timeout=60 * H.SCALE)
    H.check(r.returncode != 0 and "block_size" in r.stderr, f"bad option: {r.stderr}")


# ------------------------------------------------------------------- stats

def test_stats():
    be = H.new_backend()
    with H.Mount(be, opts=["no_local_sync"] if be.kind == "local" else []) as m:
        H.sql(m.path("s.db"), "CREATE TABLE t(a); INSERT INTO t VALUES(randomblob(50000));")
        r = tool(["stats", m.mnt], check=0)
        for want in ("requests", "put", "cache", "dirty_blocks", "bytes_up"):
            H.check(want in r.stdout, f"table lacks {want}:\n{r.stdout}")
        j = json.loads(tool(["stats", "--json", m.mnt], check=0).stdout)
        H.check(j["requests"]["put"] >= 13 and j["bytes_up"] >= 50000, f"counters {j}")
        p = tool(["stats", "--prometheus", m.mnt], check=0).stdout
        H.check(f's3blockfs_requests_total{{mountpoint="{m.mnt}",kind="put"}}' in p, p[:500])
        H.check("# TYPE s3blockfs_cache_dirty_bytes gauge" in p, "no gauge type")
        r = tool(["stats", m.path("s.db")], check=1)
        H.check("not the root of an s3blockfs mount" in r.stderr, r.stderr)
    r = tool(["stats", H.tmpdir("plain")], check=1)
    H.check("not the root of an s3blockfs mount" in r.stderr, r.stderr)
    r = tool(["stats", "/nonexistent/dir"], check=1)
    H.check("No such file" in r.stderr, r.stderr)


# ---------------------------------------------------------- import / export

def test_import_export_roundtrip():
    be = H.new_backend()
    d = H.tmpdir("files")
    cases = []
    p = os.path.join(d, "empty.db")
    open(p, "wb").close()
    cases.append(("empty.db", p, 4096))
    p = os.path.join(d, "small.db")
    size = make_db(p, 3, page_size=512)       # a few 512-byte pages: not 4096-aligned
    H.check(size % 4096 != 0, f"small.db is {size} bytes")
    cases.append(("small.db", p, 4096))
    p = os.path.join(d, "pages.db")
    size = make_db(p, 200, page_size=1024)   # several blocks, the last one short
    H.check(size % 4096 != 0 and size > 3 * 4096, f"pages.db is {size} bytes")
    cases.append(("pages.db", p, 4096))
    p = os.path.join(d, "odd.db")
    make_db(p, 300, page_size=1024)
    cases.append(("odd.db", p, 4097))        # sqlite-s3vfs's odd block sizes
    p = os.path.join(d, "big.db")
    make_db(p, 25000, blob=120)              # a few MB
    cases.append(("big.db", p, 4095))
    p = os.path.join(d, "wal.db")
    make_db(p, 500, journal="wal")           # WAL-mode header, checkpointed at close
    cases.append(("dir/wal.db", p, 65536))
    for vol, path, bs in cases:
        size = os.path.getsize(path)
        t0 = time.monotonic()
        r = tool(["import", "--block-size", str(bs)] + opts_args(be) + [path, volume(be, vol)],
                 check=0)
        dt = time.monotonic() - t0
        H.check("imported" in r.stdout, r.stdout)
        if size:
            H.check("read back and verified" in r.stdout, r.stdout)
            be.check_layout(vol, block_size=bs if size > bs else None)
            H.check(be.volume_bytes(vol) == H.file_bytes(path), f"{vol}: stored bytes differ")
        else:
            H.check(be.keys(vol + "/") == [], f"empty file stored objects: {be.keys(vol + '/')}")
        out = os.path.join(d, "out-" + vol.replace("/", "_"))
        args = ["export", "--quiet"] + (["--empty-ok"] if not size else []) + opts_args(be)
        r = tool(args + [volume(be, vol), out], check=0)
        H.check(H.file_bytes(out) == H.file_bytes(path), f"{vol}: export differs")
        if size:
            H.check("integrity_check ok" in r.stdout, r.stdout)
        H.info(f"{vol}: {size} bytes, block size {bs}: import {dt:.2f} s, round trip exact")
    r = tool(["export"] + opts_args(be) + [volume(be, "empty.db"), os.path.join(d, "x")], check=1)
    H.check("no volume" in r.stderr and "--empty-ok" in r.stderr, r.stderr)
    # what import wrote, the mount reads (block size from block 0)
    with H.Mount(be, opts=["no_local_sync"] if be.kind == "local" else []) as m:
        H.integrity_ok(m.path("big.db"))
        n = H.sql(m.path("big.db"), "SELECT count(*) FROM t;").stdout.strip()
        H.check(n == "25000", f"big.db through the mount: {n} rows")
        H.check(os.getxattr(m.path("big.db"), "user.s3blockfs.block_size") == b"4095",
                "block size not inferred from block 0")


def test_import_over_larger():
    be = H.new_backend()
    d = H.tmpdir("files")
    big, small = os.path.join(d, "big.db"), os.path.join(d, "small.db")
    make_db(big, 20000)
    make_db(small, 100)
    vol = volume(be, "app.db")
    tool(["import", "-q"] + opts_args(be) + [big, vol], check=0)
    nbig = len(be.keys("app.db/"))
    r = tool(["import", "-q"] + opts_args(be) + [small, vol], check=3)
    H.check("--force" in r.stderr and "already exists" in r.stderr, r.stderr)
    H.check(len(be.keys("app.db/")) == nbig, "a refused import changed the volume")
    # a journal of the old database must not survive to be replayed onto the new one
    Objects(be).put("app.db-journal/0000000000", b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 504)
    r = tool(["import", "-q", "--force"] + opts_args(be) + [small, vol], check=0)
    keys = be.keys("app.db/")
    want = (os.path.getsize(small) + 4095) // 4096
    H.check(len(keys) == want, f"{len(keys)} objects after import over {nbig}, expected {want}")
    H.check(be.keys("app.db-journal/") == [], "old journal left next to the new database")
    be.check_layout("app.db", block_size=4096)
    H.check(be.volume_bytes("app.db") == H.file_bytes(small), "stored bytes differ")
    H.info(f"import --force over {nbig} blocks left exactly {want}")


# --------------------------------------------------------------------- fsck

def _fsck(be, vol, *extra, check=None):
    return tool(["fsck"] + list(extra) + opts_args(be) + [volume(be, vol)], check=check)


def test_fsck_faults():
    be = H.new_backend()
    obj = Objects(be)
    d = H.tmpdir("files")
    db = os.path.join(d, "a.db")
    make_db(db, 400)  # ~ 60 blocks
    def fresh(vol):
        tool(["import", "-q", "--force"] + opts_args(be) + [db, volume(be, vol)], check=0)
        r = _fsck(be, vol, check=0)
        H.check("no problems found" in r.stdout, r.stdout)

    # a missing middle block: reported; --repair truncates at the hole
    fresh("hole.db")
    obj.delete("hole.db/0000000010")
    r = _fsck(be, "hole.db", check=4)
    H.check("block 0000000010 is missing" in r.stdout, r.stdout)
    r = _fsck(be, "hole.db", "--repair", check=0)
    H.check("repaired" in r.stdout, r.stdout)
    be.check_layout("hole.db")
    H.check(len(be.keys("hole.db/")) == 10, f"{len(be.keys('hole.db/'))} blocks after repair")
    _fsck(be, "hole.db", check=0)

    # a short middle block
    fresh("short.db")
    obj.put("short.db/0000000005", b"x" * 1000)
    r = _fsck(be, "short.db", check=4)
    H.check("block 0000000005 has 1000 bytes" in r.stdout and "not the last" in r.stdout, r.stdout)
    _fsck(be, "short.db", "--repair", check=0)
    be.check_layout("short.db")

    # a stray object: only --delete-stray removes it
    fresh("stray.db")
    obj.put("stray.db/notes.txt", b"hello")
    r = _fsck(be, "stray.db", check=4)
    H.check("stray.db/notes.txt" in r.stdout and "not blocks" in r.stdout, r.stdout)
    r = _fsck(be, "stray.db", "--repair", check=4)
    H.check("left alone" in r.stdout, r.stdout)
    H.check(be.keys("stray.db/notes.txt"), "stray deleted without --delete-stray")
    _fsck(be, "stray.db", "--repair", "--delete-stray", check=0)
    H.check(not be.keys("stray.db/notes.txt"), "stray still there")

    # debris without block 0 (an interrupted import): deleted
    fresh("debris.db")
    obj.delete("debris.db/0000000000")
    r = _fsck(be, "debris.db", check=4)
    H.check("block 0000000000 is missing" in r.stdout, r.stdout)
    _fsck(be, "debris.db", "--repair", check=0)
    H.check(be.keys("debris.db/") == [], "debris left")
    _fsck(be, "debris.db", check=1)  # no such volume now

    # a hot journal stays; a zeroed one goes
    fresh("j.db")
    obj.put("j.db-journal/0000000000", b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\1" * 1000)
    r = _fsck(be, "j.db", "--repair", check=4)
    H.check("hot journal" in r.stdout and "leaves it alone" in r.stdout, r.stdout)
    H.check(be.keys("j.db-journal/"), "hot journal deleted")
    obj.put("j.db-journal/0000000000", b"\0" * 512)
    r = _fsck(be, "j.db", check=4)
    H.check("not hot" in r.stdout, r.stdout)
    _fsck(be, "j.db", "--repair", check=0)
    H.check(not be.keys("j.db-journal/"), "zeroed journal left")
    _fsck(be, "nothing.db", check=1)


def _hot_journal_db(path):
    """A database with a real hot journal: a writer killed mid-transaction
    after it spilled changed pages into the database file."""
    make_db(path, 3000)
    code = ("import sqlite3, os, signal\n"
            f"c = sqlite3.connect({path!r}, isolation_level=None)\n"
            "c.execute('PRAGMA cache_size=1')\n"
            "c.execute('BEGIN')\n"
            "c.execute('UPDATE t SET v = zeroblob(100)')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code], timeout=60)
    H.check(os.path.exists(path + "-journal"), "no hot journal made")


def _wal_db(path):
    """A WAL database whose last transactions are only in the WAL."""
    make_db(path, 1000, journal="wal")
    code = ("import sqlite3, os\n"
            f"c = sqlite3.connect({path!r}, isolation_level=None)\n"
            "c.execute('PRAGMA wal_autocheckpoint=0')\n"
            "c.execute('INSERT INTO t SELECT id + 100000, v FROM t')\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], timeout=60, check=True)
    H.check(os.path.getsize(path + "-wal") > 0, "WAL empty")


def test_export_journal_wal():
    be = H.new_backend()
    d = H.tmpdir("files")
    # hot journal: the volume alone is half-written; --rollback gives the original
    db = os.path.join(d, "hot.db")
    _hot_journal_db(db)
    for vol, f in (("hot.db", db), ("hot.db-journal", db + "-journal")):
        tool(["import", "-q"] + opts_args(be) + [f, volume(be, vol)], check=0)
    out = os.path.join(d, "out.db")
    r = tool(["export"] + opts_args(be) + [volume(be, "hot.db"), out], check=3)
    H.check("hot journal" in r.stderr and "--rollback" in r.stderr, r.stderr)
    H.check(not os.path.exists(out), "refused export left a file")
    r = tool(["export", "--rollback"] + opts_args(be) + [volume(be, "hot.db"), out], check=0)
    H.check("integrity_check ok" in r.stdout and "rolled back" in r.stdout, r.stdout)
    H.check(not os.path.exists(out + "-journal"), "journal left next to the export")
    n = H.sql(out, "SELECT count(*) FROM t WHERE v = zeroblob(100);").stdout.strip()
    H.check(n == "0", f"{n} rows of the unfinished transaction survived the rollback")
    H.check(H.sql(out, "SELECT count(*) FROM t;").stdout.strip() == "3000", "rows lost")
    H.check(be.keys("hot.db-journal/"), "export --rollback changed the store")

    # WAL: committed rows only in the WAL; --rollback applies them to the copy
    db = os.path.join(d, "w.db")
    _wal_db(db)
    for vol, f in (("w.db", db), ("w.db-wal", db + "-wal")):
        tool(["import", "-q"] + opts_args(be) + [f, volume(be, vol)], check=0)
    out = os.path.join(d, "w-out.db")
    r = tool(["export"] + opts_args(be) + [volume(be, "w.db"), out], check=3)
    H.check("-wal exists" in r.stderr, r.stderr)
    tool(["export", "--rollback"] + opts_args(be) + [volume(be, "w.db"), out], check=0)
    H.check(not os.path.exists(out + "-wal") or os.path.getsize(out + "-wal") == 0,
            "WAL left next to the export")
    n = H.sql(out, "SELECT count(*) FROM t;").stdout.strip()
    H.check(n == "2000", f"{n} rows after applying the WAL, expected 2000")
    r = tool(["export", "--rollback"] + opts_args(be) + [volume(be, "w.db"), out], check=3)
    H.check("exists" in r.stderr and "--force" in r.stderr, r.stderr)


# ---------------------------------------------------------------- bad input

def test_bad_input():
    be = H.new_backend()
    d = H.tmpdir("files")
    db = os.path.join(d, "a.db")
    make_db(db, 300)
    vol = volume(be, "a.db")

    r = tool(["import"] + opts_args(be) + [os.path.join(d, "missing.db"), vol], check=1)
    H.check("cannot read" in r.stderr and "No such file" in r.stderr, r.stderr)
    r = tool(["import"] + opts_args(be) + [d, vol], check=2)
    H.check("not a regular file" in r.stderr, r.stderr)
    if shutil.which("setpriv"):
        secret = os.path.join(d, "secret.db")
        shutil.copy(db, secret)
        os.chmod(secret, 0o600)
        os.chmod(d, 0o755)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", H.DAEMON,
               "import"] + opts_args(be) + [secret, vol]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        H.check(r.returncode == 1 and "Permission denied" in r.stderr,
                f"unreadable file: exit {r.returncode}: {r.stderr}")
    for bad in ("http://host/x", "file://relative/x", "ab", "bucket-only"):
        r = tool(["import"] + opts_args(be) + [db, bad], check=2)
        H.check("VOLUME" in r.stderr, f"{bad}: {r.stderr}")
    r = tool(["export"] + opts_args(be) + [volume(be, "missing.db"), os.path.join(d, "o")],
             check=1)
    H.check("no volume" in r.stderr, r.stderr)
    H.check(not os.path.exists(os.path.join(d, "o")), "export of a missing volume made a file")
    r = tool(["import", "-o", "no_such_option=1", db, vol], check=2)
    H.check("no_such_option" in r.stderr, r.stderr)
    H.check(be.keys("a.db/") == [], "a failed import left objects")

    if be.kind == "local":
        # a backend directory the import may not write
        ro = H.tmpfs("1m", "ro")
        subprocess.run(["mount", "-o", "remount,ro", ro], check=True)
        r = tool(["import", db, f"file://{ro}:a.db"], check=1)
        H.check("read-only" in r.stderr.lower() or "permission" in r.stderr.lower(), r.stderr)
        # a backend that fills up in the middle: no block 0, and it says so
        small = H.tmpfs("256k", "small")
        big = os.path.join(d, "big.db")
        make_db(big, 6000)
        r = tool(["import", "-q", "-o", "no_local_sync", big, f"file://{small}:a.db"], check=1)
        H.check("INCOMPLETE" in r.stderr and "block 0 was not written" in r.stderr, r.stderr)
        H.check(not os.path.exists(os.path.join(small, "a.db", "0000000000")),
                "block 0 written by a failed import")
        r = tool(["fsck", "--repair", f"file://{small}:a.db"], check=0)
        H.check(not os.path.exists(os.path.join(small, "a.db")), "debris not removed")
    else:
        # credentials the server refuses
        bad = os.path.join(H.tmpdir("creds"), "bad")
        fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"AWS_ACCESS_KEY_ID={os.environ['S3_ACCESS_KEY']}\n"
                    "AWS_SECRET_ACCESS_KEY=wrong-secret-0000000000000000\n")
        o = [x for x in be.opts if not x.startswith("credentials=")] + [f"credentials={bad}"]
        r = tool(["import", "-o", ",".join(o), db, vol], check=1)
        H.check(r.stderr.strip(), "no message for refused credentials")
        H.check("wrong-secret" not in r.stderr, "the secret is in the message")
        r = tool(["import"] + opts_args(be) + [db, f"no-such-bucket-s3bfs:{be.prefix}/a.db"],
                 check=1)
        H.check(r.stderr.strip(), "no message for a missing bucket")
        H.check(be.keys("a.db/") == [], "refused imports left objects")
    H.info("each bad input: one clear line, non-zero exit")


def test_tools_valgrind():
    if not shutil.which("valgrind"):
        raise H.Skip("valgrind not installed")
    be = H.new_backend()
    d = H.tmpdir("files")
    db = os.path.join(d, "v.db")
    make_db(db, 2000, page_size=1024)
    vg = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
          "--errors-for-leak-kinds=definite,indirect"]
    supp = os.path.join(H.TOP_SRCDIR, "tests", "valgrind.supp")
    if os.path.exists(supp):
        vg.append(f"--suppressions={supp}")
    out = os.path.join(d, "out.db")
    for args in (["import", "-q", "--block-size", "4097"] + opts_args(be) + [db, volume(be, "v.db")],
                 ["export", "-q"] + opts_args(be) + [volume(be, "v.db"), out],
                 ["fsck"] + opts_args(be) + [volume(be, "v.db")]):
        r = subprocess.run(vg + [H.DAEMON] + args, capture_output=True, text=True,
                           timeout=600 * H.SCALE)
        H.check(r.returncode == 0, f"valgrind {args[0]}: exit {r.returncode}:\n{r.stderr[-3000:]}")
    H.check(H.file_bytes(out) == H.file_bytes(db), "valgrind round trip differs")


if __name__ == "__main__":
    H.main([test_unit_verify, test_help_and_usage, test_ready_notify, test_stop_failed_flush,
            test_config_file_errors, test_journal_levels, test_restart_after_crash, test_mount_helper, test_stats,
            test_import_export_roundtrip, test_import_over_larger, test_fsck_faults,
            test_export_journal_wal, test_bad_input, test_tools_valgrind])
