/*
 * cmd_import.c - s3blockfs import FILE VOLUME: store a file (a SQLite
 * database, or anything) as a volume, in parallel.
 *
 * The order makes every interruption visible in the layout rather than
 * silently wrong: an old volume loses its block 0 first (it no longer
 * exists, and its journal and WAL go next, so that SQLite can never replay
 * them onto the new file), then blocks 1..K-1 go up in parallel, then stale
 * blocks past the new end are deleted, highest first, and only then is
 * block 0 written: the volume appears whole or not at all.  A failure
 * before block 0 leaves debris that is not a volume (fsck --repair removes
 * it) and the message says so.  Then the result is verified: the listing
 * must show exactly the blocks written, and (by default) every block is
 * read back and compared with the file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkmap.h"
#include "tools_int.h"
#include "util.h"

static const char import_usage[] =
	"usage: s3blockfs import [options] FILE VOLUME\n"
	"\n"
	"Stores FILE (a SQLite database or any file) as the volume VOLUME, in the\n"
	"block layout the mount uses, without a mount.  Blocks go up in parallel;\n"
	"block 0 goes last, so the volume appears only when it is whole.  Then the\n"
	"result is verified (every block read back and compared).\n"
	"\n"
	"VOLUME is BUCKET:PREFIX/NAME, s3://BUCKET/PREFIX/NAME, file:///DIR:NAME or\n"
	"file:///DIR/NAME (DIR: the local backend directory).\n"
	"\n"
	"options:\n"
	"  --block-size N   block size (default: -o block_size=N, else 4096)\n"
	"  --force          replace an existing volume: its block 0 is deleted first,\n"
	"                   then its -journal and -wal, then the new blocks go up and\n"
	"                   the old ones past the new end are deleted (highest first)\n"
	"  --quick-verify   verify only the listing (number and sizes of the blocks),\n"
	"                   do not read the blocks back\n"
	"  --no-verify      do not verify\n"
	"  -q, --quiet      no progress on stderr\n"
	"  -o OPTIONS       mount options that apply: the S3 ones (endpoint=, region=,\n"
	"                   credentials=, ...), connections=N (parallel transfers,\n"
	"                   default 16), block_size=N, no_local_sync, log_level=,\n"
	"                   config=FILE\n"
	"  -h, --help       this text\n"
	"\n"
	"An empty FILE is stored as no objects (the layout has no empty volumes):\n"
	"'s3blockfs export --empty-ok' gives it back.\n"
	"\n"
	"Exit status: 0 imported and verified; 1 failed (the message says what is\n"
	"left in the store); 2 usage error; 3 refused: VOLUME (or its journal or\n"
	"WAL) exists and --force was not given.\n";

struct imp {
	struct store *st;
	const char *vol;
	int fd;
	uint32_t bs;
	uint64_t size, nblocks;
	struct tools_progress *pg;
};

static size_t
imp_len(const struct imp *im, uint64_t blk)
{
	return blk + 1 < im->nblocks ? im->bs : (size_t)(im->size - blk * im->bs);
}

/* The file's bytes of block blk; -ESTALE if the file got shorter. */
static int
imp_read(const struct imp *im, uint64_t blk, char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(im->fd, buf + done, len - done, (off_t)(blk * im->bs + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ESTALE;
		done += (size_t)n;
	}
	return 0;
}

static int
imp_put(void *arg, uint64_t blk, void *buf)
{
	struct imp *im = arg;
	size_t len = imp_len(im, blk);
	char key[PATH_MAX];
	int rc;

	if ((rc = imp_read(im, blk, buf, len)) < 0)
		return rc;
	if ((rc = util_block_key(key, sizeof(key), im->vol, blk)) < 0 ||
	    (rc = store_put(im->st, key, buf, len)) < 0)
		return rc;
	tools_progress_add(im->pg, len);
	return 0;
}

/* Reads block blk back (one byte more than expected, to see a longer
 * object) and compares it with the file. */
static int
imp_verify(void *arg, uint64_t blk, void *buf)
{
	struct imp *im = arg;
	size_t len = imp_len(im, blk), got = 0;
	char *fbuf = buf, *sbuf = (char *)buf + im->bs, key[PATH_MAX];
	int rc;

	if ((rc = imp_read(im, blk, fbuf, len)) < 0)
		return rc;
	if ((rc = util_block_key(key, sizeof(key), im->vol, blk)) < 0 ||
	    (rc = store_get(im->st, key, 0, len + 1, sbuf, &got)) < 0)
		return rc;
	if (got != len || memcmp(fbuf, sbuf, len) != 0)
		return -EBADMSG;
	tools_progress_add(im->pg, len);
	return 0;
}

static int
same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino == b->st_ino;
}

/* Says what an interrupted import left in the store. */
static void
imp_left(const char *vol, int replaced, int block0_written)
{
	if (block0_written) {
		tools_err("import", "%s was written but is not right: run the import again "
				    "(with --force)", vol);
		return;
	}
	tools_err("import", "%s is INCOMPLETE: block 0 was not written, so the volume does not "
			    "exist for s3blockfs or sqlite-s3vfs%s; blocks written so far are "
			    "debris under %s/: run the import again with --force, or remove them "
			    "with 's3blockfs fsck --repair VOLUME'",
		  vol, replaced ? ", and the old volume it replaces is already deleted" : "", vol);
}

int
tools_import(struct store *st, const char *vol, const char *file, int fd,
	     const struct tools_import_opts *o)
{
	const char *cmd = "import";
	struct tools_layout old = {0}, now = {0};
	struct tools_side jn, wal;
	struct tools_progress pg;
	struct stat sb0, sb1;
	char eb[128], hb[32], what[PATH_MAX + 16], key[PATH_MAX], side[PATH_MAX];
	const char *k0 = key;
	struct tools_blk *stale = NULL;
	int status = TOOLS_EXIT_FAIL, replaced = 0, rc;
	uint64_t failed = 0;

	if (fstat(fd, &sb0) < 0 || !S_ISREG(sb0.st_mode)) {
		tools_err(cmd, "%s is not a regular file", file);
		return TOOLS_EXIT_USAGE;
	}
	struct imp im = {.st = st, .vol = vol, .fd = fd, .bs = o->block_size,
			 .size = (uint64_t)sb0.st_size, .pg = &pg};
	im.nblocks = (im.size + im.bs - 1) / im.bs;
	if (im.nblocks > BLKMAP_MAX_BLOCKS) {
		tools_err(cmd, "%s needs %" PRIu64 " blocks of %u bytes: more than 10-digit block "
			       "names allow; use a larger --block-size", file, im.nblocks, im.bs);
		return TOOLS_EXIT_USAGE;
	}

	/* What is there now. */
	if ((rc = tools_layout_scan(st, vol, im.bs, &old)) < 0 ||
	    (rc = tools_side_check(st, vol, "-journal", &jn)) < 0 ||
	    (rc = tools_side_check(st, vol, "-wal", &wal)) < 0) {
		tools_err(cmd, "cannot list %s: %s", vol, util_strerror(-rc, eb, sizeof(eb)));
		goto out;
	}
	if (!o->force && (old.nobjects || jn.exists || wal.exists)) {
		if (old.nblocks)
			tools_err(cmd, "%s already exists (%" PRIu64 " bytes in %" PRIu64 " blocks); "
				       "--force replaces it", vol, old.size, old.nblocks);
		else if (old.nobjects)
			tools_err(cmd, "%s/ already holds %" PRIu64 " object(s), though no whole "
				       "volume; --force replaces them", vol, old.nobjects);
		else
			tools_err(cmd, "%s has a %s next to it (it belongs to an older %s); --force "
				       "deletes it", vol, jn.exists ? "journal" : "WAL", vol);
		status = TOOLS_EXIT_REFUSED;
		goto out;
	}

	/* 1. The old volume disappears: block 0 first, then its side files. */
	if (old.nobjects) {
		if ((rc = util_block_key(key, sizeof(key), vol, 0)) < 0 ||
		    (rc = store_del(st, &k0, 1)) < 0) {
			tools_err(cmd, "cannot delete the old %s: %s; nothing was changed", vol,
				  util_strerror(-rc, eb, sizeof(eb)));
			goto out;
		}
		replaced = 1;
	}
	for (int i = 0; i < 2; i++) {
		const struct tools_side *sd = i == 0 ? &jn : &wal;
		if (!sd->exists)
			continue;
		snprintf(side, sizeof(side), "%s%s", vol, i == 0 ? "-journal" : "-wal");
		if ((rc = tools_delete_volume(st, side, im.bs, 0, NULL)) < 0) {
			tools_err(cmd, "cannot delete %s: %s", side, util_strerror(-rc, eb, sizeof(eb)));
			imp_left(vol, replaced, 0);
			goto out;
		}
		if (!o->quiet)
			tools_note(cmd, "deleted %s (%" PRIu64 " bytes) left by the old %s", side,
				   sd->size, vol);
	}
	if (im.nblocks == 0) {
		if ((rc = tools_delete_volume(st, vol, im.bs, 1, NULL)) < 0) {
			tools_err(cmd, "cannot delete the old %s: %s", vol,
				  util_strerror(-rc, eb, sizeof(eb)));
			imp_left(vol, replaced, 0);
			goto out;
		}
		printf("imported %s to %s: the file is empty, and an empty file is stored as no "
		       "objects, so %s does not exist now (export --empty-ok gives the empty file "
		       "back)\n", file, vol, vol);
		status = TOOLS_EXIT_OK;
		goto out;
	}

	/* 2. Blocks 1..K-1, in parallel. */
	const char *base = strrchr(file, '/');
	snprintf(what, sizeof(what), "import %s", base ? base + 1 : file);
	tools_progress_init(&pg, what, im.size, o->quiet);
	rc = tools_pool_run(tools_pool_threads(o->connections, im.bs, im.nblocks - 1), 1,
			    im.nblocks - 1, im.bs, imp_put, &im, &pg, &failed);
	tools_progress_clear(&pg);
	if (rc < 0) {
		if (rc == -ESTALE)
			tools_err(cmd, "%s got shorter while it was read", file);
		else
			tools_err(cmd, "block %010" PRIu64 " of %s: %s", failed, vol,
				  util_strerror(-rc, eb, sizeof(eb)));
		imp_left(vol, replaced, 0);
		goto out;
	}

	/* 3. Stale blocks past the new end, highest first; stray objects. */
	size_t nstale = 0;
	if (old.nblocks > im.nblocks || old.npast) {
		size_t cap = (old.nblocks > im.nblocks ? old.nblocks - im.nblocks : 0) + old.npast;
		if (!(stale = malloc(cap * sizeof(*stale)))) {
			tools_err(cmd, "out of memory");
			imp_left(vol, replaced, 0);
			goto out;
		}
		for (uint64_t b = im.nblocks; b < old.nblocks; b++)
			stale[nstale++] = (struct tools_blk){.blk = b};
		for (size_t i = 0; i < old.npast; i++)
			if (old.past[i].blk >= im.nblocks)
				stale[nstale++] = old.past[i];
	}
	if ((rc = tools_delete_blocks(st, vol, stale, nstale)) < 0) {
		tools_err(cmd, "cannot delete the old blocks past the new end: %s",
			  util_strerror(-rc, eb, sizeof(eb)));
		imp_left(vol, replaced, 0);
		goto out;
	}
	for (size_t i = 0; i < old.nstray; i++) {
		const char *k = old.stray[i];
		if ((rc = store_del(st, &k, 1)) < 0) {
			tools_err(cmd, "cannot delete %s: %s", k, util_strerror(-rc, eb, sizeof(eb)));
			imp_left(vol, replaced, 0);
			goto out;
		}
	}
	if (!o->quiet && (nstale || old.nstray))
		tools_note(cmd, "deleted %zu old block(s) past the new end and %zu stray object(s)",
			   nstale, old.nstray);

	/* 4. The file must not have changed while it was read: a mix of two
	 * states must never become a volume. */
	if (fstat(fd, &sb1) < 0 || !same_file_state(&sb0, &sb1)) {
		tools_err(cmd, "%s changed while it was read; stop what writes it and run the "
			       "import again", file);
		imp_left(vol, replaced, 0);
		goto out;
	}

	/* 5. Block 0: the volume appears. */
	char *b0 = malloc(im.bs);
	rc = b0 ? imp_put(&im, 0, b0) : -ENOMEM;
	free(b0);
	if (rc < 0) {
		tools_err(cmd, "block 0000000000 of %s: %s", vol, util_strerror(-rc, eb, sizeof(eb)));
		imp_left(vol, replaced, 0);
		goto out;
	}
	tools_progress_show(&pg, 1, 1);

	/* 6. Verify. */
	if (o->verify) {
		if ((rc = tools_layout_scan(st, vol, im.bs, &now)) < 0) {
			tools_err(cmd, "cannot list %s to verify it: %s", vol,
				  util_strerror(-rc, eb, sizeof(eb)));
			imp_left(vol, replaced, 1);
			goto out;
		}
		if (now.nblocks != im.nblocks || now.size != im.size || now.npast || now.nstray) {
			tools_err(cmd, "verify: %s lists %" PRIu64 " blocks, %" PRIu64 " bytes, %zu "
				       "object(s) past the end and %zu stray, expected %" PRIu64
				       " blocks and %" PRIu64 " bytes (is something else writing it?)",
				  vol, now.nblocks, now.size, now.npast, now.nstray, im.nblocks, im.size);
			imp_left(vol, replaced, 1);
			goto out;
		}
	}
	if (o->verify >= 2) {
		snprintf(what, sizeof(what), "verify %s", base ? base + 1 : file);
		tools_progress_init(&pg, what, im.size, o->quiet);
		rc = tools_pool_run(tools_pool_threads(o->connections, 2 * (size_t)im.bs + 1,
						       im.nblocks),
				    0, im.nblocks, 2 * (size_t)im.bs + 1, imp_verify, &im, &pg,
				    &failed);
		tools_progress_clear(&pg);
		if (rc < 0) {
			if (rc == -EBADMSG)
				tools_err(cmd, "verify: block %010" PRIu64 " of %s differs from %s",
					  failed, vol, file);
			else
				tools_err(cmd, "verify: block %010" PRIu64 " of %s: %s", failed, vol,
					  util_strerror(-rc, eb, sizeof(eb)));
			imp_left(vol, replaced, 1);
			goto out;
		}
		tools_progress_show(&pg, 1, 1);
	}
	tools_human_bytes(im.size, hb, sizeof(hb));
	printf("imported %s to %s: %" PRIu64 " bytes (%s) in %" PRIu64 " block(s) of %u%s\n", file,
	       vol, im.size, hb, im.nblocks, im.bs,
	       o->verify >= 2 ? ", read back and verified"
	       : o->verify   ? ", listing verified"
			     : ", not verified");
	status = TOOLS_EXIT_OK;
out:
	free(stale);
	tools_layout_free(&old);
	tools_layout_free(&now);
	return status;
}

int
tools_cmd_import(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"block-size", required_argument, NULL, 'b'},
		{"force", no_argument, NULL, 'F'},
		{"quick-verify", no_argument, NULL, 'V'},
		{"no-verify", no_argument, NULL, 'N'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tools_import_opts o = {.verify = 2};
	struct tools_vol tv;
	char *opts[TOOLS_MAX_OPTS], eb[128];
	const char *bs_arg = NULL;
	size_t nopts = 0;
	int c, fd, status;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'b': bs_arg = optarg; break;
		case 'F': o.force = 1; break;
		case 'V': o.verify = 1; break;
		case 'N': o.verify = 0; break;
		case 'q': o.quiet = 1; break;
		case 'o':
			if (nopts == TOOLS_MAX_OPTS) {
				tools_err("import", "too many -o arguments");
				return TOOLS_EXIT_USAGE;
			}
			opts[nopts++] = optarg;
			break;
		case 'h': fputs(import_usage, stdout); return TOOLS_EXIT_OK;
		default:
			tools_err("import", "bad option '%s' (see s3blockfs import --help)",
				  argv[optind - 1]);
			return TOOLS_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		tools_err("import", "expected FILE VOLUME (see s3blockfs import --help)");
		return TOOLS_EXIT_USAGE;
	}
	const char *file = argv[optind], *source = argv[optind + 1];

	/* The file first: a typo there should not cost a round trip.  Not
	 * a FIFO or device: open() could block, and the size must be known. */
	struct stat sb;
	if (stat(file, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		tools_err("import", "%s is not a regular file", file);
		return TOOLS_EXIT_USAGE;
	}
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		tools_err("import", "cannot read %s: %s", file, util_strerror(errno, eb, sizeof(eb)));
		return TOOLS_EXIT_FAIL;
	}
	if ((status = tools_open(&tv, "import", source, opts, nopts, 0)) != 0) {
		close(fd);
		return status;
	}
	o.block_size = tv.conf.block_size;
	o.connections = tv.conf.connections;
	if (bs_arg) {
		uint64_t v;
		if (util_parse_size(bs_arg, &v) < 0 || v < 1 || v > CONF_MAX_BLOCK_SIZE) {
			tools_err("import", "bad --block-size '%s': expected 1..%u (K, M suffixes)",
				  bs_arg, CONF_MAX_BLOCK_SIZE);
			status = TOOLS_EXIT_USAGE;
			goto out;
		}
		o.block_size = (uint32_t)v;
	}
	status = tools_import(tv.st, tv.vol, file, fd, &o);
out:
	close(fd);
	tools_close(&tv);
	return status;
}
