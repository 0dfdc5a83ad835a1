#!/usr/bin/env bash
# s3blockfs benchmark: one command.  Starts a Ceph RADOS Gateway on 127.0.0.1
# (tests/s3/rgw-start.sh), then contrib/bench/bench.py starts the delaying
# proxy (tests/s3/faultproxy.py, 0 and 10 ms per request), mounts s3blockfs
# through it and runs the stock sqlite3 workloads W1-W4, the same on tmpfs,
# and prints per-workload numbers, a summary and the targets (PASS/MISS).
# Everything started is stopped on exit (by PID and RGW_DIR), temp dirs go.
#
# Usage: contrib/bench/bench.sh            (as root: FUSE mounts, apt for Ceph)
# Environment (all optional):
#   S3BFS_BIN=PATH           the daemon to test (default: ./s3blockfs, built
#                            with make if missing or out of date)
#   BENCH_LATENCIES="0 10"   added ms per request, one proxy each
#   BENCH_BLOCK_SIZES="4096 65536"
#   BENCH_ROWS=200000 BENCH_W2_TXNS=200 BENCH_W3_QUERIES=500
#   BENCH_CACHE_SIZE=64M     the mount's cache_size (RSS target: this + 32 MiB)
#   BENCH_MOUNT_OPTS=...     extra -o options for the mount (e.g. writeback_cache)
#   BENCH_RAW_SECS=3 BENCH_RAW_THREADS=16   the raw PUT/GET rate measurement
#   BENCH_TMPFS=0            skip the tmpfs upper bound
#   BENCH_TRACE_TXNS=20      extra W2 commits under strace -T: the pages sqlite3
#                            writes per commit and where a commit waits (0: skip)
#   BENCH_SEED=1             random row ids
#   BENCH_JSON=FILE          also write all results as JSON
#   BENCH_KEEP=1             keep the scratch dir (logs, scripts, snapshots)
#   BENCH_OSD_STORE=memstore the RGW's object store: memstore (default) answers
#                            a PUT in ~3 ms, so the proxy's delay is the latency
#                            that is modelled; bluestore adds its own disk syncs
#                            (15-40 ms per PUT on this kind of machine)
#   BENCH_REUSE_S3=1         use the S3 server of the S3_* variables already in
#                            the environment instead of starting one (the
#                            objects written stay, under bench-<run id>-*)
# Exit status: 0 when every workload ran (missed targets included), 1 otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
log() { echo "[bench.sh] $*" >&2; }

WORK=""
RGW_STARTED=""
PY_PID=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$PY_PID" ] && kill -0 "$PY_PID" 2>/dev/null; then
		kill -TERM "$PY_PID" 2>/dev/null
		wait "$PY_PID" 2>/dev/null
	fi
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		# mounts left behind by bench.py (it unmounts them itself normally)
		awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo |
			while read -r m; do fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
		# processes bench.py started, by PID, if any is still there
		if [ -f "$WORK/pids" ]; then
			while read -r p; do
				[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
			done <"$WORK/pids"
		fi
	fi
	if [ -n "$RGW_STARTED" ]; then
		"$ROOT/tests/s3/rgw-stop.sh" "$RGW_STARTED" >/dev/null 2>&1 ||
			log "rgw-stop.sh $RGW_STARTED failed"
	fi
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "${BENCH_KEEP:-0}" = 1 ]; then
			log "scratch dir kept: $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing $2"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null ||
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
	fi
	command -v "$1" >/dev/null 2>&1 || { log "$1 is needed (Debian package $2)"; exit 1; }
}
need sqlite3 sqlite3
need getfattr attr
need fusermount3 fuse3
need python3 python3
# optional: counting the pages sqlite3 writes per commit (BENCH_TRACE_TXNS)
if ! command -v strace >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q strace >/dev/null 2>&1 ||
		log "strace not installed: pages written per commit will not be counted"
fi

# The daemon.
BIN=${S3BFS_BIN:-}
if [ -z "$BIN" ]; then
	BIN=$ROOT/s3blockfs
	if [ ! -f "$ROOT/Makefile" ]; then
		log "building s3blockfs"
		(cd "$ROOT" && ./autogen.sh && ./configure) >/dev/null || { log "configure failed"; exit 1; }
	fi
	if ! make -C "$ROOT" -j"$(nproc)" s3blockfs >/dev/null; then
		if [ -x "$BIN" ]; then
			log "WARNING: make s3blockfs failed; benchmarking the existing (possibly stale) $BIN"
		else
			log "make s3blockfs failed"
			exit 1
		fi
	fi
fi
[ -x "$BIN" ] || { log "no daemon at $BIN"; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

WORK=$(mktemp -d /tmp/s3bfs-bench.XXXXXX) || exit 1

# The S3 server.
if [ "${BENCH_REUSE_S3:-0}" = 1 ] && [ -n "${S3_ENDPOINT:-}" ]; then
	log "using the S3 server at $S3_ENDPOINT"
else
	log "starting the test S3 server (Ceph RGW)"
	if ! OSD_STORE=${BENCH_OSD_STORE:-memstore} "$ROOT/tests/s3/rgw-start.sh" >"$WORK/rgw.env" 2>"$WORK/rgw.log"; then
		tail -n 20 "$WORK/rgw.log" >&2
		log "rgw-start.sh failed"
		exit 1
	fi
	RGW_STARTED=$(sed -n 's/^RGW_DIR=//p' "$WORK/rgw.env")
	set -a
	# shellcheck disable=SC1091
	. "$WORK/rgw.env"
	set +a
	log "S3 server at $S3_ENDPOINT ($OSD_STORE), state $RGW_DIR"
fi

# bench.py runs in the background so that a signal reaches the trap at once.
python3 "$HERE/bench.py" --workdir "$WORK" --binary "$BIN" ${BENCH_JSON:+--json "$BENCH_JSON"} &
PY_PID=$!
wait "$PY_PID"
rc=$?
PY_PID=""
exit "$rc"
