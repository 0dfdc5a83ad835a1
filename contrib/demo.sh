#!/bin/sh
# The README's first command: installs the build dependencies (Debian 12,
# apt), builds s3blockfs, mounts the embedded local directory backend and
# lets the stock sqlite3 shell create, fill, query and re-open a database
# that lives as block objects.  Cleans up after itself.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

say() { printf '\n== %s\n' "$*"; }

say "installing build dependencies (apt, only what is missing)"
contrib/install-deps.sh

say "building"
[ -x configure ] || ./autogen.sh >/dev/null
[ -f Makefile ] || ./configure --quiet
make -j"$(nproc)" --quiet s3blockfs s3blockfs_vfs.la >/dev/null
./s3blockfs --version | head -1

work=$(mktemp -d /tmp/s3blockfs-demo.XXXXXX)
backend=$work/bucket
mnt=$work/mnt
mkdir -p "$backend" "$mnt"
pid=""
cleanup() {
	if grep -q " $mnt fuse" /proc/mounts; then fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt"; fi
	if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

mount_it() {
	./s3blockfs -f -o block_size=4096 "file://$backend" "$mnt" 2>>"$work/daemon.log" &
	pid=$!
	for _ in $(seq 50); do grep -q " $mnt fuse.s3blockfs" /proc/mounts && return 0; sleep 0.1; done
	cat "$work/daemon.log"; exit 1
}
unmount_it() {
	fusermount3 -u "$mnt"
	wait "$pid"
	pid=""
}

say "mounting file://$backend on $mnt"
mount_it
grep " $mnt " /proc/mounts

say "sqlite3: create a table and insert 10,000 rows"
time sqlite3 "$mnt/app.sqlite" <<'SQL'
PRAGMA page_size=4096;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
INSERT INTO t(k, v) SELECT abs(random()) % 1000, printf('row %06d %s', value, hex(randomblob(20)))
  FROM generate_series(1, 10000);
CREATE INDEX t_k ON t(k);
SELECT 'rows: ' || count(*) || ', distinct k: ' || count(DISTINCT k) FROM t;
SQL
ls -l "$mnt"

say "the database is block objects: <prefix>/<10-digit block number>, 4096 bytes each"
nblocks=$(find "$backend/app.sqlite" -type f | wc -l)
find "$backend/app.sqlite" -type f | sort | sed -n '1,3p'
echo "... $nblocks objects in all; the last:"
ls -l "$(find "$backend/app.sqlite" -type f | sort | tail -1)"

say "unmounting (flushes every block), mounting again, querying"
unmount_it
mount_it
sqlite3 "$mnt/app.sqlite" "SELECT 'rows after remount: ' || count(*) FROM t; PRAGMA integrity_check;"
sqlite3 "$mnt/app.sqlite" "SELECT id, k, v FROM t WHERE k = 42 LIMIT 3;"

say "the same database through the s3blockfs SQLite shim"
sqlite3 "$mnt/app.sqlite" ".load $top/.libs/s3blockfs_vfs" \
	"SELECT 'through the shim: ' || count(*) || ' rows' FROM t;" 2>&1 || true

say "statistics of the mount (getfattr -n user.s3blockfs.stats)"
getfattr --only-values -n user.s3blockfs.stats "$mnt" 2>/dev/null; echo

unmount_it
say "done: the demo's files are removed"
