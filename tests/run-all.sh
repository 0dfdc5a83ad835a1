#!/bin/sh
# The README's second command, and what CI runs (.ci/run): installs what the
# tests need (Debian 12, apt), builds with warnings as errors, runs the unit
# tests and the local-backend integration tests (make check), starts a Ceph
# RADOS Gateway on loopback and runs the S3 integration tests against it,
# and stops the gateway again, whatever happened.
#
#   tests/run-all.sh            everything
#   S3BFS_SKIP_S3=1 tests/run-all.sh      without the S3 server
#
# Ends with one line "N passed, N failed, N skipped" over all suites.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

passed=0 failed=0 skipped=0
say() { printf '\n==== %s\n' "$*"; }
count() { # adds the PASS/FAIL/SKIP counts of an automake test log summary
	p=$(sed -n 's/^# PASS: *//p' "$1" | tail -1)
	f=$(sed -n 's/^# FAIL: *//p' "$1" | tail -1)
	e=$(sed -n 's/^# ERROR: *//p' "$1" | tail -1)
	s=$(sed -n 's/^# SKIP: *//p' "$1" | tail -1)
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0})); skipped=$((skipped + ${s:-0}))
}

s3=1
[ "${S3BFS_SKIP_S3:-0}" = 1 ] && s3=0
say "dependencies"
if [ $s3 = 1 ]; then contrib/install-deps.sh --s3; else contrib/install-deps.sh; fi || exit 1

say "build"
if ! { { [ -x configure ] || ./autogen.sh; } && ./configure --quiet --enable-werror &&
	make -j"$(nproc)"; }; then
	echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

say "unit tests and local integration tests (make check)"
make -j"$(nproc)" check >make-check.out 2>&1
rc=$?
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS|#)' make-check.out || true
count make-check.out
if [ $rc != 0 ]; then
	for f in tests/*.log tests/integ/*.log; do
		[ -f "$f" ] || continue
		grep -qE '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null && { echo "---- $f"; tail -60 "$f"; }
	done
fi

if [ $s3 = 1 ]; then
	say "S3 integration tests against Ceph RGW on 127.0.0.1"
	env_file=$(mktemp)
	if tests/s3/rgw-start.sh >"$env_file"; then
		# shellcheck disable=SC1090
		. "$env_file"
		export S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET S3_REGION RGW_DIR
		trap 'tests/s3/rgw-stop.sh "$RGW_DIR" >/dev/null 2>&1' EXIT INT TERM
		# The tests that exercise the store; the shim's, the local
		# backend's and the 1 GiB lock-byte test (4 min on RGW here) ran
		# above on the local backend.  S3BFS_S3_TESTS="test_lockbyte ..."
		# chooses others.
		for t in ${S3BFS_S3_TESTS:-test_s3 test_basic test_crash test_matrix test_ops}; do
			t=tests/integ/$t.py
			[ -f "$t" ] || continue
			log=${t%.py}.s3.log
			S3BFS_TEST_BACKEND=s3 S3BLOCKFS="$top/s3blockfs" TOP_SRCDIR="$top" \
				python3 "$t" >"$log" 2>&1
			r=$?
			case $r in
			0) echo "PASS: $t (s3)"; passed=$((passed + 1)) ;;
			77) echo "SKIP: $t (s3): $(tail -1 "$log")"; skipped=$((skipped + 1)) ;;
			*) echo "FAIL: $t (s3)"; failed=$((failed + 1)); tail -60 "$log" ;;
			esac
		done
		tests/s3/rgw-stop.sh "$RGW_DIR" >/dev/null 2>&1
		trap - EXIT INT TERM
	else
		echo "FAIL: could not start Ceph RGW"
		failed=$((failed + 1))
	fi
	rm -f "$env_file"
fi

say "summary"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
