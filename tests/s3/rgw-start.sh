#!/usr/bin/env bash
# Start a throw-away single-node Ceph cluster (1 mon + 1 osd, no mgr) and a
# RADOS Gateway (beast frontend) on 127.0.0.1, create an S3 user and bucket.
#
# Usage: eval "$(tests/s3/rgw-start.sh)"   ...   tests/s3/rgw-stop.sh "$RGW_DIR"
#
# Environment (all optional):
#   RGW_DIR=DIR          state dir (conf, logs, data, pids).  Default: a fresh
#                        mktemp -d /tmp/s3blockfs-rgw.XXXXXX, so runs never
#                        collide.  A given DIR must be absent or empty, or hold
#                        a previous run that is no longer running (wiped first).
#   OSD_STORE=bluestore  bluestore: the production engine on a sparse file
#                        $RGW_DIR/osd0/block; memstore: all data in RAM (grows
#                        ~1.5 GB after tens of thousands of writes)
#   OSD_SIZE_GB=4        bluestore file size / memstore capacity
#   S3_ACCESS_KEY, S3_SECRET_KEY   default: random per run
#   S3_BUCKET=blocks, S3_REGION=us-east-1
#   S3_EXTRA_BUCKETS="a b"   more buckets to create
#   RGW_PORT, MON_PORT, MON_PORT2   default: free ports picked at start
#   INSTALL=1            apt-get install ceph-mon ceph-osd radosgw ceph-common
#                        when missing (0: fail instead)
#   START_TIMEOUT=120    seconds allowed for each wait (osd up, rgw answering)
#   KEEP_ON_FAIL=0       1: leave daemons and RGW_DIR for debugging on failure
#
# stdout: KEY=VALUE lines only (S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY
# S3_BUCKET S3_REGION RGW_DIR CEPH_CONF); progress and errors go to stderr.
# Every daemon started is recorded, one PID a line, in $RGW_DIR/pids;
# rgw-stop.sh kills exactly those.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OSD_STORE_GIVEN=${OSD_STORE:+1}
OSD_STORE=${OSD_STORE:-bluestore}
OSD_SIZE_GB=${OSD_SIZE_GB:-4}
# Fresh random credentials per run: a client that reaches another run's
# gateway by mistake is refused instead of silently using the wrong cluster.
randstr() { python3 -c 'import secrets,string,sys; a=string.ascii_uppercase+string.digits+(string.ascii_lowercase if sys.argv[1]=="s" else ""); print("".join(secrets.choice(a) for _ in range(int(sys.argv[2]))))' "$@"; }
S3_ACCESS_KEY=${S3_ACCESS_KEY:-$(randstr k 20)}
S3_SECRET_KEY=${S3_SECRET_KEY:-$(randstr s 40)}
S3_BUCKET=${S3_BUCKET:-blocks}
S3_REGION=${S3_REGION:-us-east-1}
S3_EXTRA_BUCKETS=${S3_EXTRA_BUCKETS:-}
INSTALL=${INSTALL:-1}
START_TIMEOUT=${START_TIMEOUT:-120}
KEEP_ON_FAIL=${KEEP_ON_FAIL:-0}
PKGS="ceph-mon ceph-osd radosgw ceph-common"

log() { echo "[rgw-start] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

case "$OSD_STORE" in
bluestore | memstore) ;;
*) die "OSD_STORE must be bluestore or memstore, not '$OSD_STORE'" ;;
esac

# ---- packages -----------------------------------------------------------------
have_ceph() {
	command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null &&
		command -v radosgw >/dev/null && command -v radosgw-admin >/dev/null &&
		command -v ceph >/dev/null && command -v monmaptool >/dev/null &&
		command -v ceph-authtool >/dev/null
}
apt_install() {
	# shellcheck disable=SC2086 # PKGS is a word list on purpose
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q \
		--no-install-recommends "$@" >&2
}
if ! have_ceph; then
	[ "$INSTALL" = 1 ] || die "ceph is not installed ($PKGS); set INSTALL=1 or install them"
	[ "$(id -u)" = 0 ] || die "ceph is not installed and apt-get needs root: apt-get install $PKGS"
	log "installing $PKGS with apt-get (once; about a minute)"
	# shellcheck disable=SC2086
	if ! apt_install $PKGS; then
		log "install failed; running apt-get update and retrying"
		timeout 600 apt-get update -q >&2 || die "apt-get update failed"
		# shellcheck disable=SC2086
		apt_install $PKGS || die "apt-get install $PKGS failed"
	fi
	have_ceph || die "ceph tools still missing after install"
	log "packages installed ($(elapsed)s)"
fi
for t in python3 curl timeout setsid; do
	command -v "$t" >/dev/null || die "$t is needed"
done

# ---- state dir ----------------------------------------------------------------
if [ -n "${RGW_DIR:-}" ]; then
	if [ -f "$RGW_DIR/pids" ]; then
		# never stop a live cluster implicitly: after `set -a; eval` of our
		# output RGW_DIR is exported, and a second start must not kill the first
		while read -r p; do
			if [ -n "$p" ] && grep -qs "$RGW_DIR" "/proc/$p/cmdline" &&
				[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]; then
				die "RGW_DIR=$RGW_DIR holds a running cluster (pid $p); stop it with $HERE/rgw-stop.sh $RGW_DIR or unset RGW_DIR"
			fi
		done <"$RGW_DIR/pids"
		log "removing the stopped previous run in $RGW_DIR"
		"$HERE/rgw-stop.sh" "$RGW_DIR" >&2 || true
	fi
	mkdir -p "$RGW_DIR"
	[ -z "$(ls -A "$RGW_DIR")" ] || die "RGW_DIR=$RGW_DIR is not empty; refusing to use it"
else
	RGW_DIR=$(mktemp -d /tmp/s3blockfs-rgw.XXXXXX)
fi
RGW_DIR=$(cd "$RGW_DIR" && pwd)
mkdir -p "$RGW_DIR"/{mon,osd0,run,log,rgw,crash}
: >"$RGW_DIR/pids"

STARTED_OK=0
on_exit() {
	[ "$STARTED_OK" = 1 ] && return 0
	if [ "$KEEP_ON_FAIL" = 1 ]; then
		log "start failed; KEEP_ON_FAIL=1: left running, stop with: $HERE/rgw-stop.sh $RGW_DIR"
	else
		log "start failed; stopping what was started and removing $RGW_DIR"
		"$HERE/rgw-stop.sh" "$RGW_DIR" >&2 || true
	fi
}
trap on_exit EXIT

# Print the last lines of a log file to stderr (for failures).
tail_log() {
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		log "---- last lines of $f ----"
		tail -n 25 "$f" >&2 || true
	done
}

# ---- ports ----------------------------------------------------------------------
# Ask the kernel for three distinct free ports on 127.0.0.1 (held open together
# so they differ).  OSDs bind in Ceph's own 6800-7300 range, outside the
# kernel's ephemeral range, so they cannot take these.
read -r P1 P2 P3 < <(python3 -c '
import socket
ss = []
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))
')
RGW_PORT=${RGW_PORT:-$P1}
MON_PORT=${MON_PORT:-$P2}
MON_PORT2=${MON_PORT2:-$P3}

uuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }
FSID=$(uuid)
CONF=$RGW_DIR/ceph.conf
SIZE_BYTES=$((OSD_SIZE_GB * 1024 * 1024 * 1024))
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT2,v1:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
# radosgw's built-in defaults demand a 'secure' mon connection, which cannot
# work with auth=none (it hangs 300 s fetching its config): allow crc framing
ms mon client mode = crc secure
run dir = $RGW_DIR/run
admin socket = $RGW_DIR/run/\$name.asok
pid file = $RGW_DIR/run/\$name.pid
log file = $RGW_DIR/log/\$name.log
keyring = $RGW_DIR/keyring
crash dir = $RGW_DIR/crash
exporter sock dir = $RGW_DIR/run
mon data = $RGW_DIR/mon/\$id
osd data = $RGW_DIR/osd\$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
# Every pool radosgw creates at first start waits for an osdmap commit; the
# default 1 s proposal interval makes that ~2 s a pool
paxos propose interval = 0.1
osd objectstore = $OSD_STORE
memstore device bytes = $SIZE_BYTES
bluestore block size = $SIZE_BYTES
bluestore block create = true
bluestore fsck on mkfs = false
bluestore fsck on mount = false
bluestore cache autotune = false
bluestore cache size = 268435456
osd memory target = 939524096
osd op num shards = 2
osd op num threads per shard = 1
osd max object name len = 460
osd max object namespace len = 64
osd check max object name len on startup = false
debug ms = 0
debug osd = 0
debug mon = 0
debug rgw = 0
debug bluestore = 0

[client.rgw.gw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $RGW_DIR/rgw
rgw dns name = localhost
rgw thread pool size = 64
rgw enable usage log = false
rgw enable ops log = false
log file = $RGW_DIR/log/rgw.log
EOF

ceph() { timeout 60 ceph -c "$CONF" --connect-timeout 20 "$@"; }

# Start a daemon in the foreground of its own session (setsid: a Ctrl-C or a
# test harness killing our process group leaves it alone; the caller stops it
# with rgw-stop.sh).  No fd of ours stays open in it, so $(rgw-start.sh)
# returns.  Without job control a background job is no group leader, so setsid
# execs in place and $! is the daemon's own PID.
start_daemon() {
	local name=$1
	shift
	setsid "$@" -f </dev/null >>"$RGW_DIR/log/$name.out" 2>&1 &
	echo $! >>"$RGW_DIR/pids"
	log "$name started (pid $!)"
}

# wait_for DESC LOGFILE CMD...: run CMD every 0.25 s until it succeeds or
# START_TIMEOUT passes; on timeout print the log tail and fail.
wait_for() {
	local desc=$1 logf=$2 deadline
	shift 2
	deadline=$(($(date +%s) + START_TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			log "timed out after ${START_TIMEOUT}s waiting for $desc"
			tail_log "$logf" "${logf%.log}.out"
			exit 1
		fi
		check_alive
		sleep 0.25
	done
}

# listens PID PORT: true if process PID has a listening TCP socket on PORT
# (so an answer on the port comes from our daemon, not another run's).
listens() {
	python3 - "$1" "$2" <<'PY'
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(fn).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(f[9])
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        t = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if t.startswith("socket:[") and t[8:-1] in inodes:
        sys.exit(0)
sys.exit(1)
PY
}

# A daemon that died while we wait will never come up: fail early with its log.
check_alive() {
	local p
	while read -r p; do
		[ -n "$p" ] || continue
		if ! kill -0 "$p" 2>/dev/null; then
			log "daemon pid $p exited during start"
			tail_log "$RGW_DIR"/log/*.log "$RGW_DIR"/log/*.out
			exit 1
		fi
	done <"$RGW_DIR/pids"
}

# ---- mon ------------------------------------------------------------------------
log "state dir $RGW_DIR; ports rgw=$RGW_PORT mon=$MON_PORT,$MON_PORT2; store=$OSD_STORE"
monmaptool --create --fsid "$FSID" \
	--addv a "[v2:127.0.0.1:$MON_PORT2,v1:127.0.0.1:$MON_PORT]" \
	"$RGW_DIR/monmap" >/dev/null
ceph-authtool --create-keyring "$RGW_DIR/keyring" --gen-key -n mon. \
	--cap mon 'allow *' >/dev/null
ceph-authtool "$RGW_DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' \
	--cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
timeout 60 ceph-mon -c "$CONF" --mkfs -i a --monmap "$RGW_DIR/monmap" \
	--keyring "$RGW_DIR/keyring" >"$RGW_DIR/log/mon-mkfs.log" 2>&1 ||
	{ tail_log "$RGW_DIR/log/mon-mkfs.log"; die "ceph-mon --mkfs failed"; }
start_daemon mon.a ceph-mon -c "$CONF" -i a
MON_PID=$!
wait_for "the mon to listen on 127.0.0.1:$MON_PORT" "$RGW_DIR/log/mon.a.log" \
	listens "$MON_PID" "$MON_PORT"
wait_for "the mon to answer" "$RGW_DIR/log/mon.a.log" ceph mon stat
log "mon answering ($(elapsed)s)"

# ---- osd ------------------------------------------------------------------------
OSD_UUID=$(uuid)
OSD_ID=$(ceph osd new "$OSD_UUID") || die "ceph osd new failed"
[ "$OSD_ID" = 0 ] || die "unexpected osd id '$OSD_ID'"
log "osd.$OSD_ID mkfs ($OSD_STORE, ${OSD_SIZE_GB} GiB)"
osd_mkfs() {
	timeout "$START_TIMEOUT" ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" \
		>>"$RGW_DIR/log/osd-mkfs.log" 2>&1
}
if ! osd_mkfs; then
	tail_log "$RGW_DIR/log/osd-mkfs.log"
	# bluestore needs O_DIRECT on its file, which some filesystems (tmpfs
	# before Linux 6.6) lack; memstore runs anywhere
	if [ "$OSD_STORE" != bluestore ] || [ -n "$OSD_STORE_GIVEN" ]; then
		die "ceph-osd --mkfs failed"
	fi
	log "bluestore mkfs failed in $RGW_DIR; falling back to OSD_STORE=memstore"
	OSD_STORE=memstore
	sed -i 's/^osd objectstore = .*/osd objectstore = memstore/' "$CONF"
	find "$RGW_DIR/osd0" -mindepth 1 -delete
	osd_mkfs || { tail_log "$RGW_DIR/log/osd-mkfs.log"; die "ceph-osd --mkfs failed"; }
fi
start_daemon "osd.$OSD_ID" ceph-osd -c "$CONF" -i "$OSD_ID"
osd_up() { ceph osd dump 2>/dev/null | grep -q "^osd.$OSD_ID up"; }
wait_for "osd.$OSD_ID to be up" "$RGW_DIR/log/osd.$OSD_ID.log" osd_up
log "osd up ($(elapsed)s)"

# ---- rgw ------------------------------------------------------------------------
start_daemon rgw radosgw -c "$CONF" -n client.rgw.gw
RGW_PID=$!
wait_for "radosgw to listen on 127.0.0.1:$RGW_PORT" "$RGW_DIR/log/rgw.log" \
	listens "$RGW_PID" "$RGW_PORT"
wait_for "radosgw to answer on 127.0.0.1:$RGW_PORT" "$RGW_DIR/log/rgw.log" \
	curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$RGW_PORT/"
log "rgw answering on 127.0.0.1:$RGW_PORT ($(elapsed)s)"

timeout 60 radosgw-admin -c "$CONF" -n client.admin user create --uid=s3blockfs \
	--display-name=s3blockfs --access-key="$S3_ACCESS_KEY" \
	--secret-key="$S3_SECRET_KEY" >"$RGW_DIR/log/user-create.log" 2>&1 ||
	{ tail_log "$RGW_DIR/log/user-create.log"; die "radosgw-admin user create failed"; }

# ---- buckets (signed with s3admin.py's stdlib SigV4 client) ------------------------
export S3_ENDPOINT="http://127.0.0.1:$RGW_PORT" S3_ACCESS_KEY S3_SECRET_KEY S3_REGION
for b in $S3_BUCKET $S3_EXTRA_BUCKETS; do
	timeout 90 python3 "$HERE/s3admin.py" --stdlib --retry-secs 60 mb "$b" >&2 ||
		{ tail_log "$RGW_DIR/log/rgw.log"; die "creating bucket $b failed"; }
done

STARTED_OK=1
log "ready in $(elapsed)s (state: $RGW_DIR; stop: $HERE/rgw-stop.sh $RGW_DIR)"
echo "S3_ENDPOINT=http://127.0.0.1:$RGW_PORT"
echo "S3_ACCESS_KEY=$S3_ACCESS_KEY"
echo "S3_SECRET_KEY=$S3_SECRET_KEY"
echo "S3_BUCKET=$S3_BUCKET"
echo "S3_REGION=$S3_REGION"
echo "RGW_DIR=$RGW_DIR"
echo "CEPH_CONF=$CONF"
echo "OSD_STORE=$OSD_STORE"
