#!/usr/bin/env python3
"""A database growing past 1 GiB: SQLite never writes the lock-byte page.

With 64 KiB pages the page at offset 1073741824 (block 16384 with -o
block_size=65536) is never written; the daemon must fill the gap so that the
volume stays contiguous (DESIGN.md section 2).  After the unmount: the
layout is valid with 65536-byte blocks, block 16384 exists and is zeros;
after a remount stock sqlite3 passes integrity_check and counts the rows.

The local backend directory is a tmpfs mounted here (about 1.2 GB of RAM).
Prints the time taken.

Run: python3 tests/integ/test_lockbyte.py   (environment: harness.py)
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as H  # noqa: E402

BS = 65536
ROWS = 17000
LOCK_BYTE = 1 << 30


def test_lockbyte():
    be = H.new_backend("lockbyte", tmpfs_size="1400m")
    script = ("PRAGMA page_size = 65536;\n"
              "CREATE TABLE t(b);\n"
              "INSERT INTO t SELECT zeroblob(60000) FROM (WITH RECURSIVE c(x) AS "
              f"(SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {ROWS}) SELECT x FROM c);\n"
              "SELECT count(*) FROM t;\n")
    t0 = time.monotonic()
    with H.Mount(be, opts=[f"block_size={BS}"]) as m:
        db = m.path("big.db")
        out = H.sql(db, script, timeout=900).stdout.split()
        H.check(out == [str(ROWS)], f"count: {out}")
        size = os.stat(db).st_size
        t1 = time.monotonic()
    t2 = time.monotonic()
    H.check(size > LOCK_BYTE + BS, f"database only {size} bytes, not past 1 GiB")
    msg = be.check_layout("big.db", BS)
    H.info(msg)
    nblocks = len(be.volume_keys("big.db"))
    H.check(nblocks == (size + BS - 1) // BS, f"{nblocks} blocks for {size} bytes")
    if be.kind == "local":
        with open(os.path.join(be.dir, "big.db", f"{LOCK_BYTE // BS:010d}"), "rb") as f:
            blk = f.read()
        H.check(blk == bytes(BS), "the lock-byte block is not 65536 zero bytes")
    t3 = time.monotonic()
    with H.Mount(be) as m:
        db = m.path("big.db")
        H.check(os.getxattr(db, "user.s3blockfs.block_size") == str(BS).encode(),
                "block size not inferred")
        H.check(os.stat(db).st_size == size, "size changed over the remount")
        r = H.sql(db, "PRAGMA integrity_check;\nSELECT count(*), sum(length(b)) FROM t;\n",
                  timeout=900)
        H.check(r.stdout.split() == ["ok", f"{ROWS}|{ROWS * 60000}"], f"after remount: {r.stdout}")
    t4 = time.monotonic()
    H.info(f"{size} bytes ({size / 2**20:.0f} MiB, {nblocks} blocks): insert {t1 - t0:.1f} s, "
           f"unmount {t2 - t1:.1f} s, layout check {t3 - t2:.1f} s, remount + integrity_check "
           f"{t4 - t3:.1f} s, total {t4 - t0:.1f} s")


if __name__ == "__main__":
    H.main([test_lockbyte])
