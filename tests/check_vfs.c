/*
 * check_vfs.c - unit tests of the SQLite VFS shim (src/sqlite_vfs.c, compiled
 * in with -DS3BFS_VFS_STATIC).
 *
 * A "fake mount" is a directory or file carrying the attribute
 * user.s3blockfs.block_size, set with setxattr(2) (ext4, xfs, btrfs and
 * tmpfs on Linux >= 6.6 take user attributes); tests needing it say
 * "skipped" and pass where the temp directory refuses them.  Lock and -shm
 * failures are injected into the real unix VFS through its xSetSystemCall()
 * table: fcntl() failing F_SETLK/F_GETLK with ENOLCK is what the daemon's
 * -o test_refuse_locks produces, and mmap() failing is a -shm file that
 * cannot be mapped.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define XATTR "user.s3blockfs.block_size"

/* Exported by src/sqlite_vfs.c when built with -DS3BFS_VFS_STATIC. */
int s3bfs_vfs_register(int make_default);
int s3bfs_vfs_unregister(void);

static char tmpdir[256];
static char mountdir[PATH_MAX]; /* fake mount: the directory has the attribute */
static int have_xattr;
static int refuse_errno;
static int nwarn; /* SQLITE_WARNING messages since setup */
static char lastwarn[1024];

static void
log_sink(void *arg, int code, const char *msg)
{
	if ((code & 0xff) == SQLITE_WARNING) {
		nwarn++;
		snprintf(lastwarn, sizeof(lastwarn), "%s", msg);
	}
}

static int
refusing_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (cmd == F_SETLK || cmd == F_SETLKW || cmd == F_GETLK) {
		errno = refuse_errno;
		return -1;
	}
	return fcntl(fd, cmd, arg);
}

static void *
refusing_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	errno = ENODEV;
	return MAP_FAILED;
}

static sqlite3_vfs *
unix_vfs(void)
{
	sqlite3_vfs *u = sqlite3_vfs_find("unix");

	ck_assert_ptr_nonnull(u);
	return u;
}

static void
refuse_locks(int err)
{
	refuse_errno = err;
	ck_assert_int_eq(
	    unix_vfs()->xSetSystemCall(unix_vfs(), "fcntl", (sqlite3_syscall_ptr)refusing_fcntl),
	    SQLITE_OK);
}

static void
refuse_mmap(void)
{
	ck_assert_int_eq(
	    unix_vfs()->xSetSystemCall(unix_vfs(), "mmap", (sqlite3_syscall_ptr)refusing_mmap),
	    SQLITE_OK);
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void
setup(void)
{
	const char *t = getenv("TMPDIR");

	ck_assert_int_lt(
	    snprintf(tmpdir, sizeof(tmpdir), "%s/check_vfs.XXXXXX", t != NULL && *t ? t : "/tmp"),
	    (int)sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_lt(snprintf(mountdir, sizeof(mountdir), "%s/mnt", tmpdir),
	                 (int)sizeof(mountdir));
	ck_assert_int_eq(mkdir(mountdir, 0700), 0);
	have_xattr = setxattr(mountdir, XATTR, "4096", 4, 0) == 0;
	ck_assert_int_eq(s3bfs_vfs_register(0), SQLITE_OK);
	nwarn = 0;
	lastwarn[0] = '\0';
}

static void
teardown(void)
{
	/* NULL name: every system call back to its default. */
	unix_vfs()->xSetSystemCall(unix_vfs(), NULL, NULL);
	ck_assert_int_eq(s3bfs_vfs_unregister(), SQLITE_OK);
	sqlite3_vfs_register(unix_vfs(), 1);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
skip_without_xattr(void)
{
	if (!have_xattr)
		fprintf(stderr, "skipped: %s takes no user xattrs\n", tmpdir);
	return !have_xattr;
}

/* Opens file:<path>?vfs=<vfs>[&<params>]. */
static sqlite3 *
db_open(const char *path, const char *vfs, const char *params)
{
	char uri[PATH_MAX + 128];
	sqlite3 *db = NULL;
	int rc;

	snprintf(uri, sizeof(uri), "file:%s?vfs=%s%s%s", path, vfs, params ? "&" : "",
	         params ? params : "");
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
	                     NULL);
	ck_assert_msg(rc == SQLITE_OK, "open %s: %s", uri, sqlite3_errmsg(db));
	return db;
}

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void
exec_ok(sqlite3 *db, const char *sql)
{
	int rc = exec(db, sql);

	ck_assert_msg(rc == SQLITE_OK, "%s: %d %s", sql, rc, sqlite3_errmsg(db));
}

/* The first column of the first row as a sqlite3_malloc'd string, NULL if no row. */
static char *
query(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	char *out = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		out = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
	else
		ck_assert_msg(rc == SQLITE_DONE, "%s: %d %s", sql, rc, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return out;
}

static void
query_is(sqlite3 *db, const char *sql, const char *want)
{
	char *got = query(db, sql);

	ck_assert_msg(got != NULL && strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", sql,
	              got ? got : "(no row)", want);
	sqlite3_free(got);
}

static int
query_rc(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc;
}

static sqlite3_file *
db_file(sqlite3 *db)
{
	sqlite3_file *f = NULL;

	ck_assert_int_eq(sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f),
	                 SQLITE_OK);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(f->pMethods);
	return f;
}

static void
vfsname_is(sqlite3 *db, const char *want)
{
	char *name = NULL;

	ck_assert_int_eq(sqlite3_file_control(db, "main", SQLITE_FCNTL_VFSNAME, &name), SQLITE_OK);
	ck_assert_ptr_nonnull(name);
	ck_assert_str_eq(name, want);
	sqlite3_free(name);
}

static void
info_has(sqlite3 *db, const char *want)
{
	char *info = query(db, "PRAGMA s3blockfs_info");

	ck_assert_msg(info != NULL && strstr(info, want) != NULL, "info \"%s\" lacks \"%s\"",
	              info ? info : "(no row)", want);
	sqlite3_free(info);
}

/* An empty volume on the fake mount, answering the attribute itself. */
static void
fake_volume(const char *path, const char *block_size)
{
	int fd = open(path, O_CREAT | O_WRONLY, 0600);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(setxattr(path, XATTR, block_size, strlen(block_size), 0), 0);
}

static void
path_in(char *out, size_t size, const char *dir, const char *name)
{
	ck_assert_int_lt(snprintf(out, size, "%s/%s", dir, name), (int)size);
}

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

#define WORKLOAD                                                                                   \
	"CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);"                                           \
	"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 600)"            \
	" INSERT INTO t SELECT x, printf('%0200d', x) FROM c;"                                     \
	"DELETE FROM t WHERE a % 3 = 0;"                                                           \
	"UPDATE t SET b = b || 'x' WHERE a % 5 = 0;"                                               \
	"CREATE INDEX tb ON t(b);"
#define SUMMARY      "SELECT count(*) || ':' || sum(a) || ':' || total(length(b)) FROM t"
#define SUMMARY_WANT "400:120000:80080.0"

/* ------------------------------------------------------------------ tests */

START_TEST(test_register)
{
	sqlite3_vfs *v = sqlite3_vfs_find("s3blockfs"), *p;
	int n = 0;

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v->zName, "s3blockfs");
	ck_assert_int_gt(v->szOsFile, unix_vfs()->szOsFile);
	ck_assert_int_eq(v->mxPathname, unix_vfs()->mxPathname);
	/* Not the default unless asked; registering again changes nothing. */
	ck_assert_str_eq(sqlite3_vfs_find(NULL)->zName, "unix");
	ck_assert_int_eq(s3bfs_vfs_register(0), SQLITE_OK);
	ck_assert_ptr_eq(sqlite3_vfs_find("s3blockfs"), v);
	ck_assert_str_eq(sqlite3_vfs_find(NULL)->zName, "unix");
	/* make_default on an existing registration promotes it. */
	ck_assert_int_eq(s3bfs_vfs_register(1), SQLITE_OK);
	ck_assert_int_eq(s3bfs_vfs_register(1), SQLITE_OK);
	ck_assert_ptr_eq(sqlite3_vfs_find(NULL), v);
	for (p = sqlite3_vfs_find(NULL); p != NULL; p = p->pNext)
		n += strcmp(p->zName, "s3blockfs") == 0;
	ck_assert_int_eq(n, 1);
}
END_TEST

/* Off the mount the shim is invisible: same results, same bytes, same VFS name. */
START_TEST(test_passthrough)
{
	static const char *const modes[] = {"DELETE", "TRUNCATE", "PERSIST", "WAL"};
	char a[PATH_MAX], b[PATH_MAX], sql[256];
	unsigned char *ba, *bb;
	size_t la, lb;
	sqlite3 *da, *db;
	unsigned int i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(sql, sizeof(sql), "PRAGMA page_size=1024; PRAGMA journal_mode=%s;",
		         modes[i]);
		ck_assert_int_lt(snprintf(a, sizeof(a), "%s/plain-%s.db", tmpdir, modes[i]),
		                 (int)sizeof(a));
		ck_assert_int_lt(snprintf(b, sizeof(b), "%s/shim-%s.db", tmpdir, modes[i]),
		                 (int)sizeof(b));
		da = db_open(a, "unix", NULL);
		db = db_open(b, "s3blockfs", NULL);
		vfsname_is(db, "unix");
		ck_assert_ptr_null(query(db, "PRAGMA s3blockfs_info"));
		exec_ok(da, sql);
		exec_ok(db, sql);
		exec_ok(da, WORKLOAD);
		exec_ok(db, WORKLOAD);
		query_is(da, SUMMARY, SUMMARY_WANT);
		query_is(db, SUMMARY, SUMMARY_WANT);
		query_is(db, "PRAGMA integrity_check", "ok");
		ck_assert_int_eq(sqlite3_close(da), SQLITE_OK);
		ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
		ba = slurp(a, &la);
		bb = slurp(b, &lb);
		ck_assert_uint_eq(la, lb);
		ck_assert_msg(memcmp(ba, bb, la) == 0, "%s: files differ", modes[i]);
		free(ba);
		free(bb);
	}
	ck_assert_int_eq(nwarn, 0);
}
END_TEST

/* A database not yet created is recognised through its directory. */
START_TEST(test_mount_directory)
{
	char path[PATH_MAX];
	sqlite3_file *f;
	sqlite3 *db;

	if (skip_without_xattr())
		return;
	path_in(path, sizeof(path), mountdir, "new.db");
	db = db_open(path, "s3blockfs", NULL);
	vfsname_is(db, "s3blockfs/unix");
	f = db_file(db);
	ck_assert_int_eq(f->pMethods->xSectorSize(f), 4096);
	ck_assert_int_eq(f->pMethods->xDeviceCharacteristics(f), SQLITE_IOCAP_POWERSAFE_OVERWRITE);
	info_has(db, "vfs=s3blockfs block_size=4096 sector_size=4096 locking=posix shm=none");
	exec_ok(db, WORKLOAD);
	query_is(db, SUMMARY, SUMMARY_WANT);
	query_is(db, "PRAGMA integrity_check", "ok");
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	ck_assert_int_eq(nwarn, 0);
}
END_TEST

/* The attribute of the file itself decides; the sector size is a power of two. */
START_TEST(test_mount_file_attribute)
{
	static const struct {
		const char *attr;
		int sector; /* 0: not recognised */
	} cases[] = {
	    {"4096", 4096}, {"8192", 8192},   {"4097", 8192},     {"100", 512},
	    {"512", 512},   {"65536", 65536}, {"1048576", 65536}, {"4096\n", 4096},
	    {"abc", 0},     {"0", 0},         {"-4096", 0},       {"99999999999", 0},
	};
	char path[PATH_MAX], name[32], want[64];
	sqlite3_file *f;
	sqlite3 *db;
	unsigned int i;

	if (skip_without_xattr())
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "f%u.db", i);
		path_in(path, sizeof(path), tmpdir, name); /* tmpdir has no attribute */
		fake_volume(path, cases[i].attr);
		db = db_open(path, "s3blockfs", NULL);
		f = db_file(db);
		if (cases[i].sector == 0) {
			vfsname_is(db, "unix");
			ck_assert_ptr_null(query(db, "PRAGMA s3blockfs_info"));
		} else {
			vfsname_is(db, "s3blockfs/unix");
			ck_assert_int_eq(f->pMethods->xSectorSize(f), cases[i].sector);
			snprintf(want, sizeof(want), "sector_size=%d", cases[i].sector);
			info_has(db, want);
		}
		exec_ok(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
		ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	}
	/* Garbage in the attribute is logged; the files were passed through. */
	ck_assert_int_eq(nwarn, 4);
	ck_assert_ptr_nonnull(strstr(lastwarn, "is not a block size"));

	/* psow=0 withdraws the only device characteristic. */
	path_in(path, sizeof(path), mountdir, "psow.db");
	db = db_open(path, "s3blockfs", "psow=0");
	f = db_file(db);
	ck_assert_int_eq(f->pMethods->xDeviceCharacteristics(f), 0);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}
END_TEST

/* The kernel refuses locks: stock SQLite fails, the shim goes in-process. */
static const int refused_errnos[] = {ENOLCK, EOPNOTSUPP, ENOSYS};

START_TEST(test_lock_fallback)
{
	char path[PATH_MAX], off[PATH_MAX];
	sqlite3 *db, *db2;
	int rc_unix, rc_off;

	if (skip_without_xattr())
		return;
	path_in(path, sizeof(path), mountdir, "locks.db");
	path_in(off, sizeof(off), tmpdir, "off.db");
	fake_volume(path, "4096");
	refuse_locks(refused_errnos[_i]);

	/* Without the shim: SQLITE_BUSY for ENOLCK, SQLITE_IOERR otherwise. */
	db = db_open(path, "unix", NULL);
	rc_unix = exec(db, "CREATE TABLE t(x)");
	ck_assert_int_ne(rc_unix, SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	/* A file off the mount through the shim fails the same way. */
	db = db_open(off, "s3blockfs", NULL);
	rc_off = exec(db, "CREATE TABLE t(x)");
	ck_assert_int_eq(rc_off, rc_unix);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	ck_assert_int_eq(nwarn, 0);

	/* Through the shim on the mount. */
	db = db_open(path, "s3blockfs", NULL);
	exec_ok(db, WORKLOAD);
	query_is(db, SUMMARY, SUMMARY_WANT);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(lastwarn, "refuses POSIX locks"));
	info_has(db, "locking=none");

	/* Connections of this process still exclude each other. */
	db2 = db_open(path, "s3blockfs", NULL);
	info_has(db2, "locking=none");
	query_is(db2, SUMMARY, SUMMARY_WANT);
	exec_ok(db, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1000, 'a');");
	ck_assert_int_eq(exec(db2, "BEGIN IMMEDIATE"), SQLITE_BUSY);
	exec_ok(db, "COMMIT");
	exec_ok(db2, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1001, 'b'); COMMIT;");
	/* A reader holds SHARED: the writer cannot commit until it ends. */
	exec_ok(db2, "BEGIN");
	query_is(db2, "SELECT count(*) FROM t", "402");
	ck_assert_int_eq(exec(db, "INSERT INTO t VALUES (1002, 'c')"), SQLITE_BUSY);
	exec_ok(db2, "COMMIT");
	exec_ok(db, "INSERT INTO t VALUES (1002, 'c')");
	query_is(db2, "SELECT count(*) FROM t", "403");
	query_is(db2, "PRAGMA integrity_check", "ok");
	ck_assert_int_eq(sqlite3_close(db2), SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);

	/* Logged once per database, also across reopening. */
	db = db_open(path, "s3blockfs", NULL);
	info_has(db, "locking=none");
	query_is(db, "SELECT count(*) FROM t", "403");
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	ck_assert_int_eq(nwarn, 1);
}
END_TEST

START_TEST(test_nolock_uri)
{
	char path[PATH_MAX];
	sqlite3 *db;

	if (skip_without_xattr())
		return;
	path_in(path, sizeof(path), mountdir, "nolock.db");
	fake_volume(path, "4096");
	refuse_locks(ENOLCK);
	db = db_open(path, "s3blockfs", "nolock=1");
	info_has(db, "locking=none");
	exec_ok(db, WORKLOAD);
	query_is(db, SUMMARY, SUMMARY_WANT);
	/* SQLite itself refuses WAL on a nolock=1 connection. */
	query_is(db, "PRAGMA journal_mode=WAL", "delete");
	query_is(db, "PRAGMA integrity_check", "ok");
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	/* Nothing was refused: the shim never asked the kernel. */
	ck_assert_int_eq(nwarn, 0);
}
END_TEST

/* Locks refused: WAL works with a heap index shared by the process's connections. */
START_TEST(test_wal_heap_nolock)
{
	char path[PATH_MAX], shm[PATH_MAX + 8];
	sqlite3 *db, *db2;

	if (skip_without_xattr())
		return;
	path_in(path, sizeof(path), mountdir, "wal.db");
	snprintf(shm, sizeof(shm), "%s-shm", path);
	fake_volume(path, "4096");
	refuse_locks(ENOLCK);
	db = db_open(path, "s3blockfs", NULL);
	query_is(db, "PRAGMA journal_mode=WAL", "wal");
	exec_ok(db, WORKLOAD);
	info_has(db, "locking=none shm=heap");
	db2 = db_open(path, "s3blockfs", NULL);
	query_is(db2, SUMMARY, SUMMARY_WANT);
	info_has(db2, "shm=heap");
	/* Snapshot isolation through the shared index. */
	exec_ok(db2, "BEGIN");
	query_is(db2, "SELECT count(*) FROM t", "400");
	exec_ok(db, "INSERT INTO t VALUES (1000, 'a')");
	query_is(db2, "SELECT count(*) FROM t", "400");
	exec_ok(db2, "COMMIT");
	query_is(db2, "SELECT count(*) FROM t", "401");
	/* One writer at a time. */
	exec_ok(db, "BEGIN IMMEDIATE");
	ck_assert_int_eq(exec(db2, "BEGIN IMMEDIATE"), SQLITE_BUSY);
	exec_ok(db, "COMMIT");
	query_is(db, "PRAGMA wal_checkpoint(TRUNCATE)", "0");
	ck_assert_int_eq(access(shm, F_OK), -1);
	ck_assert_int_eq(sqlite3_close(db2), SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	ck_assert_int_eq(access(shm, F_OK), -1);

	db = db_open(path, "s3blockfs", NULL);
	query_is(db, "PRAGMA journal_mode", "wal");
	query_is(db, "SELECT count(*) FROM t", "401");
	query_is(db, "PRAGMA integrity_check", "ok");
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	ck_assert_int_eq(nwarn, 1);
}
END_TEST

/* Locks work, the -shm file cannot be mapped: exclusive mode with a heap index. */
START_TEST(test_wal_shm_unmappable)
{
	char path[PATH_MAX];
	sqlite3 *db, *db2;

	if (skip_without_xattr())
		return;
	path_in(path, sizeof(path), mountdir, "excl.db");
	fake_volume(path, "4096");
	refuse_mmap();
	db = db_open(path, "s3blockfs", NULL);
	query_is(db, "PRAGMA journal_mode=WAL", "wal");
	exec_ok(db, WORKLOAD);
	query_is(db, SUMMARY, SUMMARY_WANT);
	info_has(db, "locking=exclusive shm=heap");
	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(lastwarn, "heap memory"));
	/* Everyone else is kept out while it holds the index. */
	db2 = db_open(path, "s3blockfs", NULL);
	ck_assert_int_eq(query_rc(db2, "SELECT count(*) FROM t"), SQLITE_BUSY);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	query_is(db2, SUMMARY, SUMMARY_WANT);
	query_is(db2, "PRAGMA integrity_check", "ok");
	/* Leaving WAL mode gives the lock back. */
	query_is(db2, "PRAGMA journal_mode=DELETE", "delete");
	info_has(db2, "locking=posix shm=none");
	db = db_open(path, "s3blockfs", NULL);
	query_is(db, "SELECT count(*) FROM t", "400");
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(db2), SQLITE_OK);

	/* Without the shim the same database cannot be read in WAL mode. */
	db = db_open(path, "s3blockfs", NULL);
	query_is(db, "PRAGMA journal_mode=WAL", "wal");
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	db = db_open(path, "unix", NULL);
	ck_assert_int_ne(query_rc(db, "SELECT count(*) FROM t"), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}
END_TEST

/* Every journal mode at small, common and largest page sizes on the fake mount. */
static const char *const journal_modes[] = {"DELETE", "TRUNCATE", "PERSIST",
                                            "MEMORY", "OFF",      "WAL"};

START_TEST(test_matrix)
{
	static const int page_sizes[] = {512, 4096, 65536};
	char path[PATH_MAX], name[64], sql[128], want[32];
	const char *mode = journal_modes[_i];
	sqlite3 *db;
	unsigned int i;
	int k;

	if (skip_without_xattr())
		return;
	for (k = 0; k < 2; k++) {
		if (k == 1)
			refuse_locks(ENOLCK);
		for (i = 0; i < sizeof(page_sizes) / sizeof(page_sizes[0]); i++) {
			snprintf(name, sizeof(name), "m-%s-%d-%d.db", mode, page_sizes[i], k);
			path_in(path, sizeof(path), mountdir, name);
			db = db_open(path, "s3blockfs", NULL);
			snprintf(sql, sizeof(sql), "PRAGMA page_size=%d; PRAGMA journal_mode=%s;",
			         page_sizes[i], mode);
			exec_ok(db, sql);
			exec_ok(db, WORKLOAD);
			exec_ok(db, "BEGIN; DELETE FROM t WHERE a > 300; ROLLBACK;");
			query_is(db, SUMMARY, SUMMARY_WANT);
			query_is(db, "PRAGMA integrity_check", "ok");
			snprintf(want, sizeof(want), "%d", page_sizes[i]);
			query_is(db, "PRAGMA page_size", want);
			info_has(db, k == 0 ? "locking=posix" : "locking=none");
			ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
		}
	}
}
END_TEST

static Suite *
vfs_suite(void)
{
	Suite *s = suite_create("vfs");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_register);
	tcase_add_test(tc, test_passthrough);
	tcase_add_test(tc, test_mount_directory);
	tcase_add_test(tc, test_mount_file_attribute);
	tcase_add_loop_test(tc, test_lock_fallback, 0,
	                    sizeof(refused_errnos) / sizeof(refused_errnos[0]));
	tcase_add_test(tc, test_nolock_uri);
	tcase_add_test(tc, test_wal_heap_nolock);
	tcase_add_test(tc, test_wal_shm_unmappable);
	tcase_add_loop_test(tc, test_matrix, 0, sizeof(journal_modes) / sizeof(journal_modes[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	/* Before SQLite initialises: warnings from the shim land in log_sink(). */
	sqlite3_config(SQLITE_CONFIG_LOG, log_sink, NULL);
	sr = srunner_create(vfs_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	sqlite3_shutdown();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
