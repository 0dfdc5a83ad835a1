#!/usr/bin/env bash
# Stop what rgw-start.sh started: exactly the PIDs listed in RGW_DIR/pids
# (each: TERM, wait up to STOP_WAIT=10 seconds, then KILL), never processes
# found by name; then remove RGW_DIR unless KEEP_DATA=1.
#
# Usage: tests/s3/rgw-stop.sh [RGW_DIR]      (default: $RGW_DIR)
set -uo pipefail
RGW_DIR=${1:-${RGW_DIR:-}}
KEEP_DATA=${KEEP_DATA:-0}
STOP_WAIT=${STOP_WAIT:-10}
log() { echo "[rgw-stop] $*" >&2; }

[ -n "$RGW_DIR" ] || { log "usage: $0 RGW_DIR"; exit 2; }
[ -d "$RGW_DIR" ] || { log "no such dir $RGW_DIR; nothing to stop"; exit 0; }
# Refuse to rm -rf a dir that rgw-start.sh did not make.
[ -f "$RGW_DIR/pids" ] || { log "$RGW_DIR has no pids file: not an rgw-start.sh dir; left alone"; exit 1; }
RGW_DIR=$(cd "$RGW_DIR" && pwd)

# Alive = exists and is not a zombie (a reparented daemon may linger as a
# zombie if PID 1 does not reap; it is dead for our purposes).
alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ]
}

# A PID is ours only if it is alive and still runs a program from the set we
# started with this dir's config (guards against PID reuse after a crash).
ours() {
	local p=$1 cmd
	alive "$p" || return 1
	cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || return 1
	case "$cmd" in
	*"$RGW_DIR/ceph.conf"*) return 0 ;;
	*) return 1 ;;
	esac
}

# Stop in reverse start order (rgw, osd, mon), one at a time: radosgw can
# hang in its shutdown when the mon and osd vanish under it.
mapfile -t listed < <(tac "$RGW_DIR/pids")
for p in "${listed[@]}"; do
	[[ "$p" =~ ^[0-9]+$ ]] || continue
	ours "$p" || continue
	kill -TERM "$p" 2>/dev/null || continue
	log "TERM pid $p"
	deadline=$(($(date +%s) + STOP_WAIT))
	while alive "$p" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
	if alive "$p"; then
		kill -KILL "$p" 2>/dev/null && log "KILL pid $p (no exit ${STOP_WAIT}s after TERM)"
		for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
		alive "$p" && log "WARNING: pid $p still alive after KILL"
	fi
done
if [ "$KEEP_DATA" = 1 ]; then
	log "kept $RGW_DIR"
else
	rm -rf "$RGW_DIR" && log "removed $RGW_DIR"
fi
