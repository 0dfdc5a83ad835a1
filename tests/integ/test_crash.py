#!/usr/bin/env python3
"""kill -9 of the daemon while sqlite3 commits (DESIGN.md section 5).

A writer (the stock sqlite3 shell over a pipe) runs small transactions in a
loop: each inserts row `seq` (with a blob of varying size, sometimes more
rows) and then prints "ack|seq"; a line read back means its COMMIT returned.
At a random moment the daemon gets SIGKILL, then the writer is killed, the
mountpoint lazily unmounted, and the daemon started again on the same
backend: integrity_check must be ok and every acknowledged row present.
ROUNDS rounds per journal mode (DELETE, WAL); then a clean unmount, a valid
layout, and the stored blocks equal the file read back.

S3BFS_TEST_SEED=N repeats a run's random delays; S3BFS_CRASH_ROUNDS=N.

Run: python3 tests/integ/test_crash.py [TEST...]   (environment: harness.py)
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as H  # noqa: E402

ROUNDS = int(os.environ.get("S3BFS_CRASH_ROUNDS") or 5)
SEED = int(os.environ.get("S3BFS_TEST_SEED") or random.randrange(1 << 30))


class Writer:
    """sqlite3 over a pipe; .acked: sequence numbers whose COMMIT returned."""

    def __init__(self, db, first):
        self.acked = []
        self.err = ""
        self.p = subprocess.Popen(["sqlite3", "-bail", "-batch", db], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  bufsize=1)
        self.t = threading.Thread(target=self._run, args=(first,), daemon=True)
        self.t.start()

    def _run(self, seq):
        try:
            self.p.stdin.write(".timeout 5000\n")
            while True:
                extra = ""
                if seq % 10 == 0:  # now and then a bigger transaction
                    extra = (f"INSERT INTO filler SELECT randomblob(1000) FROM "
                             f"(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                             f"LIMIT {seq % 50 + 1}) SELECT x FROM c);")
                self.p.stdin.write(f"BEGIN; INSERT INTO t VALUES({seq}, randomblob({seq * 37 % 6000}));"
                                   f"{extra} COMMIT; SELECT 'ack', {seq};\n")
                self.p.stdin.flush()
                line = self.p.stdout.readline()
                if not line:
                    break
                if line.strip() != f"ack|{seq}":
                    self.err = f"unexpected output {line!r}"
                    break
                self.acked.append(seq)
                seq += 1
        except (BrokenPipeError, OSError, ValueError):
            pass

    def kill(self):
        if self.p.returncode is not None and not self.t.is_alive():
            return
        try:
            self.p.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()
        self.t.join(10)
        try:
            self.err = self.err or self.p.stderr.read().strip()
        except (OSError, ValueError):
            pass
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            try:
                f.close()
            except (OSError, BrokenPipeError):
                pass


def check_leftovers(be):
    """After the clean unmount: crash.db, and at most a journal SQLite left
    because it is not hot (a crash before its header was finalized: the
    magic is still zero, as on any file system), or debris of an interrupted
    write or delete (blocks without block 0, which the daemon removes when
    the name is created again) - reported, not failed."""
    keys = [k for k, _ in be.keys() if not k.startswith(".s3blockfs/")]
    vols = sorted({k.rsplit("/", 1)[0] for k in keys})
    for v in vols:
        if v == "crash.db":
            continue
        H.check(v in ("crash.db-journal", "crash.db-wal"), f"unexpected volume {v}")
        vk = [k for k, _ in be.volume_keys(v)]
        if f"{v}/0000000000" not in vk:
            H.info(f"NOTE: {len(vk)} debris block(s) left under {v}/ (no block 0): {vk[:4]}")
            continue
        H.info(be.check_layout(v, 4096))
        head = be.volume_bytes(v)[:8]
        H.check(head == bytes(8), f"{v} left behind and hot (starts {head.hex()})")
        H.info(f"NOTE: SQLite left a journal that is not hot: {v} (header magic zero)")


def crash_rounds(mode):
    rnd = random.Random(f"{SEED}-{mode}")
    be = H.new_backend(mode.lower())
    acked = set()
    nxt = 1
    with H.Mount(be) as m:
        db = m.path("crash.db")
        H.sql(db, f"PRAGMA journal_mode = {mode};\n"
              "CREATE TABLE t(seq INTEGER PRIMARY KEY, pad BLOB);\n"
              "CREATE TABLE filler(b BLOB);\n")
        for rnum in range(1, ROUNDS + 1):
            w = Writer(db, nxt)
            try:
                # the random moment counts from the first commit (opening
                # the database may first recover a journal or a WAL)
                deadline = time.monotonic() + 60 * H.SCALE
                while not w.acked and w.p.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                delay = rnd.uniform(0.1, 2.0)
                time.sleep(delay)
                m.kill9(unmount=False)
            finally:
                w.kill()  # also when the test fails or is interrupted
            m.lazy_unmount()
            got = list(w.acked)
            H.check(got, f"{mode} round {rnum}: the writer never committed ({w.err})")
            acked.update(got)
            m.start()
            r = H.sql(db, "PRAGMA integrity_check;\nPRAGMA journal_mode;\n"
                      "SELECT seq FROM t ORDER BY seq;\n")
            lines = r.stdout.split()
            H.check(lines[0] == "ok", f"{mode} round {rnum}: integrity_check: {r.stdout[:500]}")
            H.check(lines[1] == mode.lower(), f"{mode} round {rnum}: journal mode {lines[1]}")
            present = {int(x) for x in lines[2:]}
            lost = sorted(acked - present)
            H.check(not lost, f"{mode} round {rnum}: {len(lost)} acknowledged rows lost, "
                    f"first {lost[:10]} (seed {SEED})")
            nxt = max(present | acked | {0}) + 1
            H.info(f"{mode} round {rnum}: killed {delay:.2f} s after the first commit, {len(got)} commits "
                   f"acknowledged, {len(present)} rows present, {len(present - acked)} "
                   f"committed but unacknowledged; ok")
        H.integrity_ok(db)
    check_leftovers(be)
    H.info(be.check_layout("crash.db", 4096))
    stored = be.volume_bytes("crash.db")
    with H.Mount(be) as m:
        H.check(H.file_bytes(m.path("crash.db")) == stored, "stored blocks != file read back")
        H.integrity_ok(m.path("crash.db"))
    return len(acked)


def test_crash_delete():
    H.info(f"seed {SEED}")
    crash_rounds("DELETE")


def test_crash_wal():
    H.info(f"seed {SEED}")
    crash_rounds("WAL")


if __name__ == "__main__":
    H.main([test_crash_delete, test_crash_wal])
