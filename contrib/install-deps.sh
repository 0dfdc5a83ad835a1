#!/bin/sh
# Installs what s3blockfs needs to build, run and be tested on Debian 12 (as root,
# or through sudo).  Idempotent: packages already there are left alone.
#   contrib/install-deps.sh          build + run + local tests
#   contrib/install-deps.sh --s3     also Ceph RGW for the S3 tests (~290 MB)
set -eu

pkgs="build-essential autoconf automake libtool pkg-config
libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libsqlite3-dev libexpat1-dev check
sqlite3 python3 python3-boto3 attr curl"
[ "${1:-}" = "--s3" ] && pkgs="$pkgs ceph-mon ceph-osd radosgw ceph-common"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >&2 ||
	{ $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q --no-install-recommends $missing >&2; }
