/*
 * cmd_export.c - s3blockfs export VOLUME FILE: download a volume into a
 * local file, in parallel, and check it.
 *
 * The copy goes to a temporary file next to FILE and is renamed over it
 * only when complete (and checked), so FILE is never half-written.  A
 * volume is exported only if its layout is whole (fsck tells why not).
 *
 * SQLite's side files decide whether the volume alone is a consistent
 * database: a hot "-journal" (first byte not 0) means a transaction did not
 * finish, and a "-wal" may hold committed transactions not yet in the main
 * file.  Export refuses both unless --rollback, which downloads them too,
 * next to the copy under the names SQLite looks for, and opens the copy
 * with SQLite: that rolls the journal back, or recovers and checkpoints
 * the WAL, exactly as the next opener through a mount would, but on the
 * local copy only (the store is not changed).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools_int.h"
#include "util.h"

static const char export_usage[] =
	"usage: s3blockfs export [options] VOLUME FILE\n"
	"\n"
	"Copies the volume VOLUME into the local file FILE, in parallel, without a\n"
	"mount.  The copy is written next to FILE and renamed over it when it is\n"
	"complete.  A SQLite database (\"SQLite format 3\" header) is then checked\n"
	"with PRAGMA integrity_check.\n"
	"\n"
	"VOLUME is BUCKET:PREFIX/NAME, s3://BUCKET/PREFIX/NAME, file:///DIR:NAME or\n"
	"file:///DIR/NAME (DIR: the local backend directory).\n"
	"\n"
	"options:\n"
	"  --rollback       the volume has a hot NAME-journal (an unfinished\n"
	"                   transaction) or a NAME-wal: download it too and let SQLite\n"
	"                   roll back (or apply the WAL) on the local copy; without\n"
	"                   it, export refuses such a volume\n"
	"  --no-check       skip PRAGMA integrity_check\n"
	"  --force          overwrite FILE (and remove a FILE-journal/-wal beside it)\n"
	"  --empty-ok       a volume with no objects is an empty file (the layout\n"
	"                   stores an empty file as nothing), not an error\n"
	"  -q, --quiet      no progress on stderr\n"
	"  -o OPTIONS       mount options that apply: the S3 ones (endpoint=, region=,\n"
	"                   credentials=, ...), connections=N (parallel transfers,\n"
	"                   default 16), block_size=N (of a one-block volume),\n"
	"                   log_level=, config=FILE\n"
	"  -h, --help       this text\n"
	"\n"
	"Exit status: 0 exported (and checked); 1 failed: no such volume, a damaged\n"
	"layout, a store or file error, or integrity_check found problems (the copy\n"
	"is then kept in FILE); 2 usage error; 3 refused: FILE exists (--force), or\n"
	"a hot journal or a WAL is next to the volume (--rollback).\n";

static const char sqlite_magic[16] = "SQLite format 3";

struct exp {
	struct store *st;
	const char *vol;
	int fd;
	uint64_t bs, nblocks, size;
	struct tools_progress *pg;
};

static int
pwrite_all(int fd, const char *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Block blk into the file; one byte more is asked for, so that an object
 * that grew since the listing is caught. */
static int
exp_get(void *arg, uint64_t blk, void *buf)
{
	struct exp *ex = arg;
	size_t len = blk + 1 < ex->nblocks ? ex->bs : (size_t)(ex->size - blk * ex->bs), got = 0;
	char key[PATH_MAX];
	int rc;

	if ((rc = util_block_key(key, sizeof(key), ex->vol, blk)) < 0 ||
	    (rc = store_get(ex->st, key, 0, len + 1, buf, &got)) < 0)
		return rc;
	if (got != len)
		return -EBADMSG;
	if ((rc = pwrite_all(ex->fd, buf, len, (off_t)(blk * ex->bs))) < 0)
		return rc == -EBADMSG ? -EIO : rc;
	tools_progress_add(ex->pg, len);
	return 0;
}

/* Downloads a volume with a whole layout into fd (from offset 0). */
static int
exp_download(struct store *st, const char *vol, const struct tools_layout *lo, int fd,
	     const char *what, const struct tools_export_opts *o)
{
	struct tools_progress pg;
	struct exp ex = {.st = st, .vol = vol, .fd = fd, .bs = lo->bs, .nblocks = lo->nblocks,
			 .size = lo->size, .pg = &pg};
	char eb[128];
	uint64_t failed = 0;
	int rc;

	if (lo->nblocks == 1)
		ex.bs = lo->size; /* one block: its own size, whatever the default */
	if (ftruncate(fd, (off_t)lo->size) < 0) {
		rc = -errno;
		tools_err("export", "%s: %s", what, util_strerror(errno, eb, sizeof(eb)));
		return rc;
	}
	tools_progress_init(&pg, what, lo->size, o->quiet);
	rc = tools_pool_run(tools_pool_threads(o->connections, ex.bs + 1, lo->nblocks), 0,
			    lo->nblocks, ex.bs + 1, exp_get, &ex, &pg, &failed);
	tools_progress_clear(&pg);
	if (rc == -EBADMSG) {
		tools_err("export", "block %010" PRIu64 " of %s is not the size its listing said: "
				    "is something writing the volume?", failed, vol);
		return rc;
	}
	if (rc < 0) {
		tools_err("export", "block %010" PRIu64 " of %s: %s", failed, vol,
			  util_strerror(-rc, eb, sizeof(eb)));
		return rc;
	}
	tools_progress_show(&pg, 1, 1);
	return 0;
}

/* Scans a volume and checks its layout is whole; prints why not. */
static int
exp_scan(struct store *st, const char *vol, uint32_t default_bs, struct tools_layout *lo)
{
	char eb[128], why[512];
	int rc;

	if ((rc = tools_layout_scan(st, vol, default_bs, lo)) < 0) {
		tools_err("export", "cannot list %s: %s", vol, util_strerror(-rc, eb, sizeof(eb)));
		return rc;
	}
	if (lo->end_why != TL_END_NONE || lo->nstray) {
		tools_layout_why(lo, why, sizeof(why));
		if (!why[0])
			snprintf(why, sizeof(why), "%zu object(s) under %s/ are not blocks", lo->nstray,
				 vol);
		tools_err("export", "%s is damaged: %s; 's3blockfs fsck VOLUME' reports every "
				    "problem, export refuses to guess", vol, why);
		tools_layout_free(lo);
		return -EBADMSG;
	}
	return 0;
}

static int
file_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static void
unlink_side_files(const char *path)
{
	static const char *const sfx[] = {"-journal", "-wal", "-shm"};
	char p[PATH_MAX + 16];

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		(void)unlink(p);
	}
}

/* A local journal SQLite would still roll back? */
static int
local_journal_hot(const char *path)
{
	unsigned char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	ssize_t n = read(fd, &c, 1);
	close(fd);
	return n == 1 && c != 0;
}

static int
local_file_size(const char *path, uint64_t *size)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return -errno;
	*size = (uint64_t)sb.st_size;
	return 0;
}

/*
 * Opens the copy with SQLite.  recover: journal or WAL files lie next to
 * it; reading the schema makes SQLite roll back / recover, and a TRUNCATE
 * checkpoint moves the WAL into the file.  check: PRAGMA integrity_check.
 * Returns 0, -EBADMSG when the check reports problems (printed), -EIO.
 */
static int
exp_sqlite(const char *path, const char *vol, int recover, int check)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc, result = -EIO, nbad = 0;
	char side[PATH_MAX + 16];

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		tools_err("export", "SQLite cannot open the copy: %s",
			  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	if (recover) {
		char *err = NULL;
		if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_master; "
				     "PRAGMA wal_checkpoint(TRUNCATE);",
				 NULL, NULL, &err) != SQLITE_OK) {
			tools_err("export", "SQLite could not roll back / recover the copy: %s",
				  err ? err : sqlite3_errmsg(db));
			sqlite3_free(err);
			goto out;
		}
	}
	if (check) {
		if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL) != SQLITE_OK) {
			tools_err("export", "integrity_check: %s", sqlite3_errmsg(db));
			goto out;
		}
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			const char *row = (const char *)sqlite3_column_text(stmt, 0);
			if (row && strcmp(row, "ok") == 0)
				continue;
			if (nbad++ < TOOLS_REPORT_MAX)
				tools_err("export", "integrity_check of %s: %s", vol, row ? row : "?");
		}
		if (rc != SQLITE_DONE) {
			tools_err("export", "integrity_check of %s: %s", vol, sqlite3_errmsg(db));
			goto out;
		}
	}
	result = nbad ? -EBADMSG : 0;
out:
	sqlite3_finalize(stmt);
	if (db && sqlite3_close(db) != SQLITE_OK && result == 0) {
		tools_err("export", "SQLite could not close the copy: %s", sqlite3_errmsg(db));
		result = -EIO;
	}
	if (result < 0 && result != -EBADMSG)
		return result;
	/* What SQLite leaves must be spent: a journal not hot, a WAL empty. */
	uint64_t sz = 0;
	snprintf(side, sizeof(side), "%s-journal", path);
	if (local_journal_hot(side)) {
		tools_err("export", "the journal is still hot after SQLite opened the copy");
		return -EIO;
	}
	snprintf(side, sizeof(side), "%s-wal", path);
	if (local_file_size(side, &sz) == 0 && sz > 0) {
		tools_err("export", "the WAL still holds %" PRIu64 " bytes after a checkpoint", sz);
		return -EIO;
	}
	return result;
}

int
tools_export(struct store *st, const char *vol, const char *file,
	     const struct tools_export_opts *o)
{
	const char *cmd = "export";
	struct tools_layout lo = {0}, slo = {0};
	struct tools_side jn, wal;
	char tmp[PATH_MAX], side[PATH_MAX], eb[128], what[PATH_MAX + 16], hb[32];
	char head[16] = {0};
	int status = TOOLS_EXIT_FAIL, fd = -1, rc, fetched_side = 0, tmp_made = 0;
	struct stat sb;

	if (lstat(file, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		tools_err(cmd, "%s is a directory; name the file to write", file);
		return TOOLS_EXIT_USAGE;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.s3bfs-XXXXXX", file) >= sizeof(tmp) - 16) {
		tools_err(cmd, "%s: name too long", file);
		return TOOLS_EXIT_USAGE;
	}
	if ((rc = tools_layout_scan(st, vol, o->default_bs, &lo)) < 0) {
		tools_err(cmd, "cannot list %s: %s", vol, util_strerror(-rc, eb, sizeof(eb)));
		return TOOLS_EXIT_FAIL;
	}
	if (lo.nobjects == 0 && !o->empty_ok) {
		tools_err(cmd, "no volume %s: nothing is stored under %s/ (an empty file is stored "
			       "as no objects: --empty-ok exports that as an empty file)", vol, vol);
		goto out;
	}
	tools_layout_free(&lo);
	if (exp_scan(st, vol, o->default_bs, &lo) < 0)
		goto out;
	if ((rc = tools_side_check(st, vol, "-journal", &jn)) < 0 ||
	    (rc = tools_side_check(st, vol, "-wal", &wal)) < 0) {
		tools_err(cmd, "cannot look for %s's journal: %s", vol,
			  util_strerror(-rc, eb, sizeof(eb)));
		goto out;
	}
	if (jn.exists && jn.hot && !o->rollback) {
		tools_err(cmd, "%s-journal is a hot journal (%" PRIu64 " bytes): a transaction on "
			       "%s did not finish (or is running), so the volume alone may be "
			       "inconsistent.  --rollback downloads both and lets SQLite roll the copy "
			       "back; or open the database once through a mount",
			  vol, jn.size, vol);
		status = TOOLS_EXIT_REFUSED;
		goto out;
	}
	if (wal.exists && !o->rollback) {
		tools_err(cmd, "%s-wal exists (%" PRIu64 " bytes): committed transactions may be "
			       "only there.  --rollback downloads it too and lets SQLite apply it to "
			       "the copy; or checkpoint through a mount "
			       "(PRAGMA wal_checkpoint(TRUNCATE))",
			  vol, wal.size);
		status = TOOLS_EXIT_REFUSED;
		goto out;
	}
	if (jn.exists && !jn.hot && !o->quiet)
		tools_note(cmd, "ignoring %s-journal: its header is zeroed (a finished transaction), "
				"so SQLite would not use it", vol);
	if (!o->force) {
		static const char *const sfx[] = {"", "-journal", "-wal"};
		for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
			snprintf(side, sizeof(side), "%s%s", file, sfx[i]);
			if (file_exists(side)) {
				tools_err(cmd, "%s exists%s; --force overwrites it", side,
					  i ? " (SQLite would apply it to the copy)" : "");
				status = TOOLS_EXIT_REFUSED;
				goto out;
			}
		}
	}

	if ((fd = mkstemp(tmp)) < 0) {
		tools_err(cmd, "cannot create a file next to %s: %s", file,
			  util_strerror(errno, eb, sizeof(eb)));
		goto out;
	}
	tmp_made = 1;
	mode_t um = umask(0);
	umask(um);
	(void)fchmod(fd, 0666 & ~um);
	const char *base = strrchr(vol, '/');
	snprintf(what, sizeof(what), "export %s", base ? base + 1 : vol);
	if (lo.nblocks && exp_download(st, vol, &lo, fd, what, o) < 0)
		goto out;
	if (pread(fd, head, sizeof(head), 0) < 0)
		memset(head, 0, sizeof(head));
	int is_sqlite = lo.size >= 100 && memcmp(head, sqlite_magic, sizeof(head)) == 0;

	/* --rollback: the side files, next to the copy under SQLite's names. */
	for (int i = 0; i < 2 && o->rollback; i++) {
		const struct tools_side *sd = i == 0 ? &jn : &wal;
		const char *sfx = i == 0 ? "-journal" : "-wal";
		if (!sd->exists || (i == 0 && !sd->hot))
			continue;
		if (!is_sqlite) {
			tools_note(cmd, "%s is not a SQLite database: %s%s not used", vol, vol, sfx);
			continue;
		}
		char sidevol[PATH_MAX], sidefile[PATH_MAX + 16];
		snprintf(sidevol, sizeof(sidevol), "%s%s", vol, sfx);
		snprintf(sidefile, sizeof(sidefile), "%s%s", tmp, sfx);
		tools_layout_free(&slo);
		if (exp_scan(st, sidevol, 4096, &slo) < 0)
			goto out;
		int sfd = open(sidefile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (sfd < 0) {
			tools_err(cmd, "%s: %s", sidefile, util_strerror(errno, eb, sizeof(eb)));
			goto out;
		}
		snprintf(what, sizeof(what), "export %s%s", base ? base + 1 : vol, sfx);
		rc = slo.nblocks ? exp_download(st, sidevol, &slo, sfd, what, o) : 0;
		close(sfd);
		fetched_side = 1;
		if (rc < 0)
			goto out;
	}
	if (fsync(fd) < 0) {
		tools_err(cmd, "%s: %s", tmp, util_strerror(errno, eb, sizeof(eb)));
		goto out;
	}
	int check_failed = 0;
	if (is_sqlite && (fetched_side || o->check)) {
		rc = exp_sqlite(tmp, vol, fetched_side, o->check);
		if (rc == -EBADMSG)
			check_failed = 1;
		else if (rc < 0)
			goto out;
		if (fetched_side && !o->quiet)
			tools_note(cmd, "SQLite rolled back / recovered the copy; the store is "
					"unchanged");
	}
	unlink_side_files(tmp);
	if (o->force)
		unlink_side_files(file);
	close(fd);
	fd = -1;
	if (rename(tmp, file) < 0) {
		tools_err(cmd, "cannot rename %s to %s: %s", tmp, file,
			  util_strerror(errno, eb, sizeof(eb)));
		goto out;
	}
	tmp_made = 0;
	uint64_t final_size = 0;
	(void)local_file_size(file, &final_size);
	tools_human_bytes(final_size, hb, sizeof(hb));
	if (check_failed) {
		tools_err(cmd, "%s is in %s, but SQLite's integrity_check reports problems (above)",
			  vol, file);
		goto out;
	}
	printf("exported %s to %s: %" PRIu64 " bytes (%s)%s%s\n", vol, file, final_size, hb,
	       !is_sqlite ? "" : o->check ? ", integrity_check ok" : ", not checked",
	       fetched_side ? ", rolled back / recovered by SQLite" : "");
	status = TOOLS_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made) {
		(void)unlink(tmp);
		unlink_side_files(tmp);
	}
	tools_layout_free(&lo);
	tools_layout_free(&slo);
	return status;
}

int
tools_cmd_export(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"rollback", no_argument, NULL, 'R'},
		{"no-check", no_argument, NULL, 'C'},
		{"force", no_argument, NULL, 'F'},
		{"empty-ok", no_argument, NULL, 'E'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tools_export_opts o = {.check = 1};
	struct tools_vol tv;
	char *opts[TOOLS_MAX_OPTS];
	size_t nopts = 0;
	int c, status;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'R': o.rollback = 1; break;
		case 'C': o.check = 0; break;
		case 'F': o.force = 1; break;
		case 'E': o.empty_ok = 1; break;
		case 'q': o.quiet = 1; break;
		case 'o':
			if (nopts == TOOLS_MAX_OPTS) {
				tools_err("export", "too many -o arguments");
				return TOOLS_EXIT_USAGE;
			}
			opts[nopts++] = optarg;
			break;
		case 'h': fputs(export_usage, stdout); return TOOLS_EXIT_OK;
		default:
			tools_err("export", "bad option '%s' (see s3blockfs export --help)",
				  argv[optind - 1]);
			return TOOLS_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		tools_err("export", "expected VOLUME FILE (see s3blockfs export --help)");
		return TOOLS_EXIT_USAGE;
	}
	if ((status = tools_open(&tv, "export", argv[optind], opts, nopts, 1)) != 0)
		return status;
	o.default_bs = tv.conf.block_size;
	o.connections = tv.conf.connections;
	status = tools_export(tv.st, tv.vol, argv[optind + 1], &o);
	tools_close(&tv);
	return status;
}
