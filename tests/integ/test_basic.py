#!/usr/bin/env python3
"""Basic integration tests: stock sqlite3 on a mount, and plain-file semantics.

  test_sqlite_10k      10,000 rows, remount, same rows, integrity_check; the
                       stored layout is valid and its blocks concatenated are
                       the database read back through a fresh mount; insert
                       timing on the mount vs on a tmpfs file (printed only)
  test_dd_odd_offsets  dd writes/reads at odd offsets and sizes across block
                       boundaries (block size 4097), a gap past EOF reads as
                       zeros; layout and bytes while mounted and after
  test_truncate        truncate down/up/to a boundary/to 0: layout after each
  test_unlink          unlink removes every block
  test_mkdir_rmdir     mkdir, rmdir, ENOTEMPTY, EEXIST, ENOENT
  test_rename          a file, a file over another, a directory tree: contents
                       intact, old keys gone
  test_hidden          .s3blockfs is invisible and unusable through the mount
  test_empty_file      an empty file exists until unmount, gone after remount
                       (documented limit: the layout cannot store it)
  test_xattr_statfs_chmod  user.s3blockfs.block_size (inferred from block 0 at
                       a remount with another default), statfs, chmod = EPERM

Run: python3 tests/integ/test_basic.py [TEST...]   (see harness.py for the
environment: S3BLOCKFS, S3BFS_TEST_BACKEND=s3, S3BFS_DAEMON_WRAPPER, ...)
"""

import errno
import json
import os
import random
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as H  # noqa: E402

NROWS = 10000


def insert_script(first, n, per_txn):
    out = []
    for start in range(first, first + n, per_txn):
        out.append("BEGIN;")
        for i in range(start, min(start + per_txn, first + n)):
            out.append(f"INSERT INTO t VALUES({i}, 'name-{i}', {i * 1.5}, "
                       f"printf('%0100d', {i}));")
        out.append("COMMIT;")
    return "\n".join(out) + "\n"


SCHEMA = "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, val REAL, pad TEXT);\n"
QUERY = ("SELECT count(*), sum(id), sum(length(name)), total(val) FROM t;\n"
         "SELECT name, pad FROM t WHERE id = 5000;\n"
         "SELECT count(*) FROM t WHERE name LIKE 'name-99%';\n")


def timed_insert(db, per_txn):
    H.sql(db, SCHEMA)
    script = insert_script(1, NROWS, per_txn)
    t0 = time.monotonic()
    H.sql(db, script)
    return time.monotonic() - t0


def non_hidden(keys):
    return [(k, s) for k, s in keys if not k.startswith(".s3blockfs/")]


def test_sqlite_10k():
    be = H.new_backend()
    fast = H.tmpfs("256m", "tmpfs-ref")
    times = {}
    with H.Mount(be) as m:
        db = m.path("app.db")
        times["mount-1txn"] = timed_insert(db, NROWS)
        want = H.sql(db, QUERY).stdout
        dump = H.sql(db, ".dump").stdout
        times["mount-100txn"] = timed_insert(m.path("app2.db"), 100)
        H.check(H.sql(m.path("app2.db"), QUERY).stdout == want, "app2.db differs from app.db")
    times["tmpfs-1txn"] = timed_insert(os.path.join(fast, "app.db"), NROWS)
    times["tmpfs-100txn"] = timed_insert(os.path.join(fast, "app2.db"), 100)
    H.check(H.sql(os.path.join(fast, "app.db"), QUERY).stdout == want, "tmpfs copy differs")
    H.info(f"insert {NROWS} rows in 1 transaction: mount {times['mount-1txn']:.3f} s, "
           f"tmpfs {times['tmpfs-1txn']:.3f} s")
    H.info(f"insert {NROWS} rows in 100 transactions: mount {times['mount-100txn']:.3f} s, "
           f"tmpfs {times['tmpfs-100txn']:.3f} s")

    # the store holds valid volumes, and nothing else (no journals left)
    for vol in ("app.db", "app2.db"):
        H.info(be.check_layout(vol, 4096))
    vols = sorted({k.split("/")[0] for k, _ in non_hidden(be.keys())})
    H.check(vols == ["app.db", "app2.db"], f"unexpected volumes in the store: {vols}")
    stored = be.volume_bytes("app.db")

    with H.Mount(be) as m:
        db = m.path("app.db")
        H.check(H.sql(db, QUERY).stdout == want, "rows differ after remount")
        H.check(H.sql(db, ".dump").stdout == dump, ".dump differs after remount")
        H.integrity_ok(db)
        H.integrity_ok(m.path("app2.db"))
        back = H.file_bytes(db)
    H.check(len(back) == len(stored) and back == stored,
            f"blocks concatenated ({len(stored)} bytes) != file read back ({len(back)} bytes)")
    H.check(len(stored) % 4096 == 0 and len(stored) > NROWS * 100,
            f"odd database size {len(stored)}")


def dd_write(path, off, data, tmp):
    src = os.path.join(tmp, "src")
    with open(src, "wb") as f:
        f.write(data)
    r = subprocess.run(["dd", f"if={src}", f"of={path}", "bs=1000", f"seek={off}",
                        "oflag=seek_bytes", "conv=notrunc", "status=none"],
                       capture_output=True, text=True, timeout=60)
    H.check(r.returncode == 0, f"dd write {len(data)} at {off}: {r.stderr}")


def dd_read(path, off, n):
    r = subprocess.run(["dd", f"if={path}", "bs=777", f"skip={off}", f"count={n}",
                        "iflag=skip_bytes,count_bytes", "status=none"],
                       capture_output=True, timeout=60)
    H.check(r.returncode == 0, f"dd read {n} at {off}: {r.stderr}")
    return r.stdout


def test_dd_odd_offsets():
    bs = 4097
    be = H.new_backend()
    tmp = H.tmpdir("dd")
    rnd = __import__("random").Random(42)
    model = bytearray()
    writes = [(0, 1), (1, 4096), (4095, 3), (bs - 1, 2), (3 * bs - 7, 10000),
              (50000, 1), (12345, 2 * bs + 3), (100000, 333),  # past EOF: a gap of zeros
              (99990, 20), (2 * bs, bs), (0, 5)]
    with H.Mount(be, opts=[f"block_size={bs}"]) as m:
        p = m.path("f.bin")
        for off, n in writes:
            data = bytes(rnd.getrandbits(8) for _ in range(n))
            dd_write(p, off, data, tmp)
            if len(model) < off:
                model.extend(bytes(off - len(model)))
            model[off:off + n] = data
            H.check(os.stat(p).st_size == len(model),
                    f"size {os.stat(p).st_size} after write {n}@{off}, want {len(model)}")
        for off, n in [(0, 1), (4096, 2), (bs - 1, 3), (bs * 2 - 5, bs + 11), (60000, 40001),
                       (100320, 100), (len(model) - 1, 10), (len(model), 5), (7, len(model))]:
            got = dd_read(p, off, n)
            H.check(got == bytes(model[off:off + n]), f"dd read {n}@{off} differs")
        H.check(H.file_bytes(p) == model, "whole file differs from the model")
        H.check(model[100000 - 1000:99990] == bytes(99990 - 99000), "model gap not zero")
        # close flushed: the store is already right while mounted
        H.info(be.check_layout("f.bin", bs))
        H.check(be.volume_bytes("f.bin") == model, "stored bytes differ (mounted, after close)")
    H.info(be.check_layout("f.bin", bs))
    H.check(be.volume_bytes("f.bin") == model, "stored bytes differ after unmount")
    with H.Mount(be) as m:  # default 4096: the volume keeps its 4097 blocks
        H.check(H.file_bytes(m.path("f.bin")) == model, "file differs after remount")
        H.check(os.getxattr(m.path("f.bin"), "user.s3blockfs.block_size") == b"4097",
                "block size not inferred from block 0")


def test_truncate():
    bs = 4096
    be = H.new_backend()
    model = bytearray(os.urandom(10 * bs + 123))
    with H.Mount(be) as m:
        p = m.path("t.bin")
        with open(p, "wb") as f:
            f.write(model)
        with open(p, "r+b") as f:
            for n in (9 * bs + 1, 5 * bs, 5 * bs + 1, 17 * bs + 99, 3, 0, 9000, 4096):
                f.truncate(n)
                if n < len(model):
                    del model[n:]
                else:
                    model.extend(bytes(n - len(model)))
                os.fsync(f.fileno())
                H.check(os.fstat(f.fileno()).st_size == n, f"size after truncate({n})")
                H.check(H.file_bytes(p) == model, f"content after truncate({n})")
                be.check_layout("t.bin", bs)
                H.check(be.volume_bytes("t.bin") == model, f"stored bytes after truncate({n})")
                nkeys = len(be.volume_keys("t.bin"))
                H.check(nkeys == (n + bs - 1) // bs,
                        f"{nkeys} blocks stored after truncate({n}), want {(n + bs - 1) // bs}")
        os.truncate(p, 2 * bs + 1)  # by path
        model.extend(bytes(2 * bs + 1 - len(model)))
    H.info(be.check_layout("t.bin", bs))
    H.check(be.volume_bytes("t.bin") == model, "stored bytes after unmount")


def test_unlink():
    be = H.new_backend()
    with H.Mount(be) as m:
        p = m.path("u.bin")
        with open(p, "wb") as f:
            f.write(os.urandom(20 * 4096 + 5))
        H.check(len(be.volume_keys("u.bin")) == 21, "not 21 blocks after close")
        os.unlink(p)
        H.check(not os.path.exists(p), "still there after unlink")
        H.check("u.bin" not in os.listdir(m.mnt), "still listed after unlink")
        # block 0 goes before unlink returns (the commit point SQLite relies
        # on); the rest may go in the background, bounded
        left = [k for k, _ in be.volume_keys("u.bin")]
        H.check("u.bin/0000000000" not in left, "block 0 still stored after unlink returned")
        deadline = time.monotonic() + 10 * H.SCALE
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [k for k, _ in be.volume_keys("u.bin")]
        H.check(not left, f"blocks left 10 s after unlink: {left[:3]}")
        # an open file unlinked: the name goes at once, the blocks too
        with open(m.path("v.bin"), "wb") as f:
            f.write(os.urandom(3 * 4096))
            f.flush()
            os.fsync(f.fileno())
            os.unlink(m.path("v.bin"))
            H.check(not os.path.exists(m.path("v.bin")), "open file still there after unlink")
    H.check(non_hidden(be.keys()) == [], f"keys left after unmount: {non_hidden(be.keys())[:5]}")
    with H.Mount(be) as m:
        H.check(os.listdir(m.mnt) == [], f"names after remount: {os.listdir(m.mnt)}")


def expect_oserror(err, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        H.check(e.errno == err, f"{fn.__name__}{args}: {errno.errorcode.get(e.errno)}, "
                f"want {errno.errorcode[err]}")
        return
    raise H.Fail(f"{fn.__name__}{args} succeeded, want {errno.errorcode[err]}")


def test_mkdir_rmdir():
    be = H.new_backend()
    with H.Mount(be) as m:
        d = m.path("d")
        os.mkdir(d)
        H.check(os.path.isdir(d) and "d" in os.listdir(m.mnt), "mkdir: no directory")
        expect_oserror(errno.EEXIST, os.mkdir, d)
        os.rmdir(d)
        H.check(not os.path.exists(d), "rmdir: still there")
        expect_oserror(errno.ENOENT, os.rmdir, d)
        os.makedirs(m.path("d/e/f"))
        with open(m.path("d/e/f/x.db"), "wb") as f:
            f.write(b"x" * 400000)  # ~100 blocks: unlink leaves work for the background
        expect_oserror(errno.ENOTEMPTY, os.rmdir, m.path("d/e/f"))
        expect_oserror(errno.ENOTEMPTY, os.rmdir, d)
        expect_oserror(errno.ENOTDIR, os.rmdir, m.path("d/e/f/x.db"))
        expect_oserror(errno.ENOENT, os.mkdir, m.path("nope/sub"))
        H.check(sorted(os.listdir(m.path("d/e/f"))) == ["x.db"], "listing of d/e/f")
        os.unlink(m.path("d/e/f/x.db"))
        H.check(os.listdir(m.path("d/e/f")) == [], "unlinked name still listed")
        os.rmdir(m.path("d/e/f"))  # at once: "rm -rf" does exactly this
        H.check(os.listdir(m.path("d/e")) == [], "d/e not empty")
        os.makedirs(m.path("k/l"))
        with open(m.path("k/l/y"), "wb") as f:
            f.write(b"y")
    H.check([k for k, _ in non_hidden(be.keys())] == ["k/l/y/0000000000"],
            f"keys: {non_hidden(be.keys())}")
    with H.Mount(be) as m:
        H.check(os.listdir(m.mnt) == ["k"] and os.listdir(m.path("k")) == ["l"],
                f"after remount: {os.listdir(m.mnt)}")
        H.check(H.file_bytes(m.path("k/l/y")) == b"y", "k/l/y content")


def test_rename():
    be = H.new_backend()
    a = os.urandom(3 * 4096 + 17)
    c = os.urandom(5 * 4096)
    tree = {"x": os.urandom(9000), "sub/y": os.urandom(4096), "sub/z": os.urandom(1),
            "sub/deeper/w": os.urandom(70000)}
    with H.Mount(be) as m:
        with open(m.path("a"), "wb") as f:
            f.write(a)
        os.rename(m.path("a"), m.path("b"))
        H.check(not os.path.exists(m.path("a")), "a still there")
        H.check(H.file_bytes(m.path("b")) == a, "b differs from a")
        with open(m.path("c"), "wb") as f:
            f.write(c)
        os.rename(m.path("b"), m.path("c"))  # over an existing, longer file
        H.check(H.file_bytes(m.path("c")) == a, "c differs from a after replacing")
        H.check(sorted(os.listdir(m.mnt)) == ["c"], f"names: {os.listdir(m.mnt)}")
        for rel, data in tree.items():
            os.makedirs(os.path.dirname(m.path("d/" + rel)), exist_ok=True)
            with open(m.path("d/" + rel), "wb") as f:
                f.write(data)
        os.rename(m.path("d"), m.path("e"))
        H.check(not os.path.exists(m.path("d")), "d still there")
        for rel, data in tree.items():
            H.check(H.file_bytes(m.path("e/" + rel)) == data, f"e/{rel} differs")
    keys = [k for k, _ in non_hidden(be.keys())]
    H.check(not [k for k in keys if k.startswith(("a/", "b/", "d/"))],
            f"old keys left: {[k for k in keys if k.startswith(('a/', 'b/', 'd/'))][:5]}")
    stored = be.volume_bytes("c")
    H.check(stored == a, f"stored c differs from a ({len(stored)} vs {len(a)} bytes, "
            f"{'a prefix of a' if a.startswith(stored) else 'the old c' if stored == c else 'mixed'}"
            f"): {be.volume_keys('c')}")
    be.check_layout("c", 4096)
    for rel, data in tree.items():
        be.check_layout("e/" + rel, 4096)
        H.check(be.volume_bytes("e/" + rel) == data, f"stored e/{rel} differs")
    over = {}
    with H.Mount(be) as m:  # rename over an existing volume, again and again
        for i in range(10):
            new, old = os.urandom(3 * 4096 + i), os.urandom((5 + i % 3) * 4096 + 1)
            for name, data in ((f"new{i}", new), (f"over{i}", old)):
                with open(m.path(name), "wb") as f:
                    f.write(data)
            os.rename(m.path(f"new{i}"), m.path(f"over{i}"))
            over[f"over{i}"] = new
    bad = [f"{n}: {[k for k, _ in be.volume_keys(n)]}" for n, d in sorted(over.items())
           if be.volume_bytes(n) != d]
    H.check(not bad, f"rename over an existing file lost data in {len(bad)} of 10: {bad[:3]}")
    with H.Mount(be) as m:
        H.check(sorted(os.listdir(m.mnt)) == ["c", "e"] + sorted(over),
                f"after remount: {os.listdir(m.mnt)}")
        for rel, data in tree.items():
            H.check(H.file_bytes(m.path("e/" + rel)) == data, f"e/{rel} differs after remount")


def test_hidden():
    be = H.new_backend()
    with H.Mount(be) as m:
        with open(m.path("f"), "wb") as f:
            f.write(b"data")
        H.check(".s3blockfs" not in os.listdir(m.mnt), f"listing: {os.listdir(m.mnt)}")
        H.check(not os.path.exists(m.path(".s3blockfs")), ".s3blockfs visible to stat")
        for fn, args in ((open, (m.path(".s3blockfs/x"), "wb")), (open, (m.path(".s3blockfs"), "wb")),
                         (os.mkdir, (m.path(".s3blockfs"),)),
                         (os.rename, (m.path("f"), m.path(".s3blockfs")))):
            try:
                fh = fn(*args)
            except OSError:
                continue
            if hasattr(fh, "close"):
                fh.close()
            raise H.Fail(f"{fn.__name__}{args} succeeded on the hidden name")
        H.check(H.file_bytes(m.path("f")) == b"data", "f damaged")
    H.check(non_hidden(be.keys()) == [("f/0000000000", 4)], f"keys: {non_hidden(be.keys())}")


def test_empty_file():
    be = H.new_backend()
    with H.Mount(be) as m:
        p = m.path("empty")
        open(p, "wb").close()
        H.check(os.path.isfile(p) and os.stat(p).st_size == 0, "empty file missing")
        H.check("empty" in os.listdir(m.mnt), "empty file not listed")
        H.check(H.file_bytes(p) == b"", "empty file not empty")
        os.makedirs(m.path("dir"))
        open(m.path("dir/e2"), "wb").close()
        H.check(os.listdir(m.path("dir")) == ["e2"], "dir/e2 not listed")
    H.check(non_hidden(be.keys()) == [], f"an empty file stored objects: {non_hidden(be.keys())}")
    with H.Mount(be) as m:
        # documented limit: the layout cannot store an empty file or directory
        H.check(not os.path.exists(m.path("empty")), "empty file survived a remount?")
        H.check(os.listdir(m.mnt) == [], f"after remount: {os.listdir(m.mnt)}")


def test_xattr_statfs_chmod():
    be = H.new_backend()
    with H.Mount(be, opts=["block_size=4097"]) as m:
        with open(m.path("big"), "wb") as f:
            f.write(os.urandom(3 * 4097))
        with open(m.path("small"), "wb") as f:
            f.write(b"s" * 10)
        for name in ("big", "small"):
            H.check(os.getxattr(m.path(name), "user.s3blockfs.block_size") == b"4097",
                    f"xattr of {name}")
        H.check("user.s3blockfs.block_size" in os.listxattr(m.path("big")), "listxattr")
        sv = os.statvfs(m.mnt)
        H.check(sv.f_bsize == 4097 and sv.f_blocks > 0 and sv.f_bavail > 0,
                f"statvfs: {sv}")
        r = subprocess.run(["df", "-P", m.mnt], capture_output=True, text=True)
        H.check(r.returncode == 0, f"df: {r.stdout}{r.stderr}")
        for target in (m.path("big"), m.mnt):
            expect_oserror(errno.EPERM, os.chmod, target, 0o600)
        expect_oserror(errno.ENOTSUP, os.setxattr, m.path("big"), "user.x", b"1")
    with H.Mount(be) as m:  # default 4096 now
        H.check(os.getxattr(m.path("big"), "user.s3blockfs.block_size") == b"4097",
                "block size of a 3-block volume not inferred from block 0")
        with open(m.path("new"), "wb") as f:
            f.write(os.urandom(5000))
        H.check(os.getxattr(m.path("new"), "user.s3blockfs.block_size") == b"4096",
                "new volume does not use the default")
        with open(m.path("big"), "ab") as f:  # appending keeps 4097 blocks
            f.write(os.urandom(5000))
    H.info(be.check_layout("big", 4097))
    H.info(be.check_layout("new", 4096))


def test_read_patterns():
    """Read-ahead returns the right bytes whatever the pattern: sequential,
    backwards and random reads of a file, each on a cold cache (a fresh
    mount), compared with what was written; the stats show read-ahead ran."""
    be = H.new_backend()
    rnd = random.Random(7)
    data = bytes(rnd.getrandbits(8) for _ in range(3 * 1024 * 1024 + 1234))
    with H.Mount(be) as m:
        with open(m.path("p.bin"), "wb") as f:
            f.write(data)
    chunk = 4096 + 17  # not block-aligned
    offsets = {
        "sequential": list(range(0, len(data), chunk)),
        "backwards": list(range(0, len(data), chunk))[::-1],
        "random": [rnd.randrange(0, len(data)) for _ in range(400)],
    }
    for name, offs in offsets.items():
        with H.Mount(be) as m:
            fd = os.open(m.path("p.bin"), os.O_RDONLY)
            try:
                for off in offs:
                    got = os.pread(fd, chunk, off)
                    H.check(got == data[off:off + chunk], f"{name}: bytes at {off} differ")
            finally:
                os.close(fd)
            stats = json.loads(os.getxattr(m.mnt, "user.s3blockfs.stats"))
            H.info(f"{name}: {len(offs)} reads, {stats['requests']['get']} GETs, "
                   f"{stats['cache']['readahead']} read ahead")
            if name == "sequential":
                H.check(stats["cache"]["readahead"] > 0, "no read-ahead on a sequential read")


if __name__ == "__main__":
    H.main([test_read_patterns, test_sqlite_10k, test_dd_odd_offsets, test_truncate, test_unlink, test_mkdir_rmdir,
            test_rename, test_hidden, test_empty_file, test_xattr_statfs_chmod])
