#!/usr/bin/env python3
"""The sqlite-s3vfs style matrix on real mounts.

Page sizes 512..65536 x journal modes DELETE TRUNCATE PERSIST MEMORY OFF WAL,
for each block size 4095, 4096, 4097 (one mount per block size, -o
block_size=N, the 48 databases of a mount written in parallel):

  workload   create, insert random blobs in several transactions, index,
             update, delete, a rolled-back transaction, vacuum
  checks     integrity_check ok; after the unmount every volume in the store
             obeys the layout with that block size, no "-shm" object exists;
             after a remount with the default block size (each volume's own
             block size is inferred from block 0) the database file read
             through the mount is byte for byte the stored blocks
             concatenated, integrity_check is ok and the content hash is
             the one taken before the unmount.

The three block sizes run concurrently, each on its own mount.

Run: python3 tests/integ/test_matrix.py [TEST...]   (environment: harness.py)
"""

import concurrent.futures
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as H  # noqa: E402

PAGE_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]
# On S3 (a real server on a 2-core machine) the ends and the middle of the
# range, unless S3BFS_MATRIX_FULL=1: the full matrix runs on the local
# backend in every run, and the layout code is the same.
if H.BACKEND_KIND == "s3" and os.environ.get("S3BFS_MATRIX_FULL") != "1":
    PAGE_SIZES = [512, 4096, 65536]
MODES = ["DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF", "WAL"]
BLOCK_SIZES = [4095, 4096, 4097]
WORKERS = 3  # sqlite3 processes per mount at once

INSERT = ("BEGIN;\n"
          "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100)\n"
          "  INSERT INTO foo(y, z) SELECT randomblob(abs(random()) % 2000), hex(randomblob(20))\n"
          "  FROM c;\n"
          "COMMIT;\n")
SUMMARY = "SELECT 'sum', count(*), hex(sha3_query('SELECT * FROM foo ORDER BY x'));\n"


def workload(page_size, mode):
    return (f"PRAGMA page_size = {page_size};\n"
            f"PRAGMA journal_mode = {mode};\n"
            "CREATE TABLE foo(x INTEGER PRIMARY KEY, y BLOB, z TEXT);\n"
            + INSERT * 2 +
            "CREATE INDEX foo_z ON foo(z);\n"
            + INSERT +
            "UPDATE foo SET y = randomblob(300) WHERE x % 7 = 0;\n"
            "DELETE FROM foo WHERE x % 3 = 0;\n"
            "BEGIN; DELETE FROM foo WHERE x > 50; UPDATE foo SET z = 'gone'; ROLLBACK;\n"
            "VACUUM;\n"
            "PRAGMA integrity_check;\n"
            f"SELECT 'ps', * FROM pragma_page_size;\n"
            + SUMMARY)


def summary_of(out):
    lines = [l for l in out.splitlines() if l.startswith("sum|")]
    H.check(len(lines) == 1, f"no summary in {out[-300:]!r}")
    return lines[0]


def run_one(mnt, name, page_size, mode):
    r = H.sql(os.path.join(mnt, name), workload(page_size, mode), timeout=300)
    lines = r.stdout.splitlines()
    H.check("ok" in lines, f"{name}: integrity_check: {r.stdout[-500:]}")
    H.check(f"ps|{page_size}" in lines, f"{name}: page size not {page_size}: {r.stdout[-200:]}")
    return summary_of(r.stdout)


def one_block_size(be, bs):
    """Runs the matrix on one mount; returns {db name: summary}."""
    dbs = {f"p{ps}-{mode.lower()}.db": (ps, mode) for ps in PAGE_SIZES for mode in MODES}
    # durability of the local backend's files is not what this test is about
    fast = ["no_local_sync"] if be.kind == "local" else []
    with H.Mount(be, opts=[f"block_size={bs}"] + fast, tag=f"m{bs}") as m:
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
            futs = {name: ex.submit(run_one, m.mnt, name, ps, mode)
                    for name, (ps, mode) in dbs.items()}
            return {name: f.result() for name, f in futs.items()}


def verify(be, bs, want):
    keys = [k for k, _ in be.keys() if not k.startswith(".s3blockfs/")]
    H.check(not [k for k in keys if "-shm/" in k], f"bs {bs}: -shm objects stored")
    vols = sorted({k.rsplit("/", 1)[0] for k in keys})
    extra = [v for v in vols if v not in want and not v.endswith("-journal")]
    H.check(not extra, f"bs {bs}: unexpected volumes {extra[:5]}")
    for v in vols:
        be.check_layout(v, bs)
    journals = [v for v in vols if v.endswith("-journal")]
    H.check(all(v.startswith("p") and "-persist.db" in v for v in journals),
            f"bs {bs}: journals left behind: {journals}")
    stored = {name: be.volume_bytes(name) for name in want}
    with H.Mount(be, tag=f"r{bs}") as m:  # default block size: inferred per volume
        def check_db(name):
            p = m.path(name)
            data = H.file_bytes(p)
            H.check(data == stored[name], f"bs {bs} {name}: stored blocks ({len(stored[name])} "
                    f"bytes) != file read back ({len(data)} bytes)")
            H.check(os.getxattr(p, "user.s3blockfs.block_size") == str(bs).encode(),
                    f"bs {bs} {name}: block size not inferred")
            r = H.sql(p, "PRAGMA integrity_check;\n" + SUMMARY)
            H.check(r.stdout.splitlines()[0] == "ok", f"bs {bs} {name}: {r.stdout[:300]}")
            H.check(summary_of(r.stdout) == want[name], f"bs {bs} {name}: content changed")
            return len(data)

        with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
            sizes = list(ex.map(check_db, sorted(want)))
    return len(vols), sum(sizes)


def matrix(bs):
    be = H.new_backend(f"bs{bs}", tmpfs_size="1g")
    t0 = time.monotonic()
    want = one_block_size(be, bs)
    t1 = time.monotonic()
    nvols, nbytes = verify(be, bs, want)
    return (f"block size {bs}: {len(want)} databases, {nvols} volumes, {nbytes} bytes: ok "
            f"(workload {t1 - t0:.1f} s, checks {time.monotonic() - t1:.1f} s)")


def test_matrix():
    with concurrent.futures.ThreadPoolExecutor(len(BLOCK_SIZES)) as ex:
        for msg in ex.map(matrix, BLOCK_SIZES):
            H.info(msg)


if __name__ == "__main__":
    H.main([test_matrix])
