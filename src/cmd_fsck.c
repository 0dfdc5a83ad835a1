/*
 * cmd_fsck.c - s3blockfs fsck [--repair] VOLUME: check a volume's layout
 * (DESIGN.md section 2) and SQLite's side files, say what is wrong in
 * plain words, and repair what can be repaired without guessing.
 *
 * Repairs are the ones the daemon itself makes, or that lose nothing:
 *   - blocks past the end (after a hole, a short, empty or oversized
 *     block) are deleted, highest first: the daemon never acknowledged
 *     them (fsync covers contiguous blocks only) and deletes them itself
 *     when it finds them within its window at the end of a volume;
 *   - block objects without a block 0 are debris of an interrupted import
 *     or delete: not a volume for anyone, deleted;
 *   - a journal whose header is zeroed (not hot), or whose database is
 *     gone, is deleted;
 *   - objects under the volume that are not blocks may be someone's data:
 *     deleted only with --delete-stray.
 * A hot journal is never deleted: that would keep the half-written
 * transaction in the database; SQLite rolls it back on the next open.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools_int.h"
#include "util.h"

static const char fsck_usage[] =
	"usage: s3blockfs fsck [options] VOLUME\n"
	"\n"
	"Checks the layout of the volume VOLUME without a mount: blocks contiguous\n"
	"from 0, all of one size but the last, no other objects under it, and\n"
	"SQLite's journal and WAL beside it.  Each problem is reported in words.\n"
	"Run it while no mount writes the volume: a write in progress looks like\n"
	"damage.\n"
	"\n"
	"VOLUME is BUCKET:PREFIX/NAME, s3://BUCKET/PREFIX/NAME, file:///DIR:NAME or\n"
	"file:///DIR/NAME (DIR: the local backend directory).\n"
	"\n"
	"options:\n"
	"  --repair         repair what can be repaired safely: delete block objects\n"
	"                   past the end of the file (after a missing, short, empty\n"
	"                   or oversized block: the daemon does the same when it finds\n"
	"                   them), debris without a block 0, and a journal that is not\n"
	"                   hot or whose database is gone\n"
	"  --delete-stray   with --repair: also delete objects under VOLUME/ that are\n"
	"                   not blocks (they may be someone's data)\n"
	"  -o OPTIONS       mount options that apply: the S3 ones (endpoint=, region=,\n"
	"                   credentials=, ...), block_size=N (of a one-block volume),\n"
	"                   log_level=, config=FILE\n"
	"  -h, --help       this text\n"
	"\n"
	"A hot journal (an unfinished transaction) is reported, never deleted: SQLite\n"
	"rolls it back when the database is next opened through a mount, and\n"
	"'s3blockfs export --rollback' gives a rolled-back copy.\n"
	"\n"
	"Exit status: 0 no problem (or all were repaired); 1 failed (no such\n"
	"volume, store error); 2 usage error; 4 problems remain.\n";

static void
print_size(FILE *out, const char *vol, const struct tools_layout *lo)
{
	char hb[32];

	tools_human_bytes(lo->size, hb, sizeof(hb));
	if (lo->nblocks)
		fprintf(out, "%s: %" PRIu64 " bytes (%s) in %" PRIu64 " block(s) of %u bytes\n", vol,
			lo->size, hb, lo->nblocks, lo->bs);
	else
		fprintf(out, "%s: no block 0, so no volume\n", vol);
}

int
tools_fsck(struct store *st, const char *vol, const struct tools_fsck_opts *o)
{
	const char *cmd = "fsck";
	FILE *out = o->out ? o->out : stdout;
	struct tools_layout lo = {0};
	struct tools_side jn, wal;
	char eb[128], why[768], side[PATH_MAX];
	unsigned problems = 0, repaired = 0;
	int status = TOOLS_EXIT_FAIL, rc;

	if ((rc = tools_layout_scan(st, vol, o->default_bs, &lo)) < 0 ||
	    (rc = tools_side_check(st, vol, "-journal", &jn)) < 0 ||
	    (rc = tools_side_check(st, vol, "-wal", &wal)) < 0) {
		tools_err(cmd, "cannot list %s: %s", vol, util_strerror(-rc, eb, sizeof(eb)));
		goto out;
	}
	if (lo.nobjects == 0 && !jn.exists && !wal.exists) {
		tools_err(cmd, "no volume %s: nothing is stored under %s/", vol, vol);
		goto out;
	}
	print_size(out, vol, &lo);

	/* The end of the file, and what lies past it. */
	if (lo.end_why != TL_END_NONE) {
		problems++;
		tools_layout_why(&lo, why, sizeof(why));
		fprintf(out, "problem: %s\n", why);
		if (!o->repair) {
			fprintf(out, "  --repair deletes the %zu block object(s) past the end%s\n",
				lo.npast,
				lo.end_why == TL_END_NO_ZERO ? "" : " (their bytes are not part of the "
								    "file for s3blockfs)");
		} else if ((rc = tools_delete_blocks(st, vol, lo.past, lo.npast)) < 0) {
			fprintf(out, "  repair failed: %s\n", util_strerror(-rc, eb, sizeof(eb)));
		} else {
			repaired++;
			if (lo.end_why == TL_END_NO_ZERO)
				fprintf(out, "  repaired: deleted the %zu leftover block object(s)\n",
					lo.npast);
			else
				fprintf(out, "  repaired: deleted the %zu block object(s) past the end; "
					     "the file is %" PRIu64 " bytes\n", lo.npast, lo.size);
		}
	}

	/* Objects that are not blocks. */
	if (lo.nstray) {
		problems++;
		fprintf(out, "problem: %zu object(s) under %s/ are not blocks (%" PRIu64 " bytes); "
			     "sqlite-s3vfs would read them as part of the file:\n",
			lo.nstray, vol, lo.stray_bytes);
		for (size_t i = 0; i < lo.nstray && i < TOOLS_REPORT_MAX; i++)
			fprintf(out, "  %s (%" PRIu64 " bytes)\n", lo.stray[i], lo.stray_size[i]);
		if (lo.nstray > TOOLS_REPORT_MAX)
			fprintf(out, "  ... and %zu more\n", lo.nstray - TOOLS_REPORT_MAX);
		if (!o->repair || !o->delete_stray) {
			fprintf(out, "  %s\n", o->repair ? "left alone: they may be someone's data; "
							    "--delete-stray deletes them"
							  : "--repair --delete-stray deletes them");
		} else {
			rc = 0;
			for (size_t i = 0; i < lo.nstray && rc == 0; i++) {
				const char *k = lo.stray[i];
				rc = store_del(st, &k, 1);
			}
			if (rc < 0) {
				fprintf(out, "  repair failed: %s\n", util_strerror(-rc, eb, sizeof(eb)));
			} else {
				repaired++;
				fprintf(out, "  repaired: deleted them\n");
			}
		}
	}

	/* SQLite's journal and WAL. */
	for (int i = 0; i < 2; i++) {
		const struct tools_side *sd = i == 0 ? &jn : &wal;
		const char *sfx = i == 0 ? "-journal" : "-wal";
		int deletable = 0;
		if (!sd->exists)
			continue;
		snprintf(side, sizeof(side), "%s%s", vol, sfx);
		if (!lo.nblocks) {
			problems++;
			deletable = 1;
			fprintf(out, "problem: %s (%" PRIu64 " bytes) is left over from a database that "
				     "no longer exists\n", side, sd->size);
		} else if (i == 0 && sd->hot) {
			problems++;
			fprintf(out, "problem: %s is a hot journal (%" PRIu64 " bytes): a transaction "
				     "on %s did not finish (or one is running now).  SQLite rolls it "
				     "back when the database is next opened through a mount; "
				     "'s3blockfs export --rollback' gives a rolled-back copy.  fsck "
				     "leaves it alone: deleting it would keep the half-written "
				     "transaction.\n", side, sd->size, vol);
		} else if (i == 0) {
			problems++;
			deletable = 1;
			fprintf(out, "problem: %s (%" PRIu64 " bytes) is left over; its header is "
				     "zeroed (not hot), so SQLite ignores it\n", side, sd->size);
		} else {
			fprintf(out, "note: %s exists (%" PRIu64 " bytes): the database is in WAL mode "
				     "and recent transactions may be only in the WAL; SQLite applies "
				     "them when it next opens the database (not a problem)\n",
				side, sd->size);
		}
		if (!deletable)
			continue;
		if (!o->repair) {
			fprintf(out, "  --repair deletes it\n");
		} else if ((rc = tools_delete_volume(st, side, o->default_bs, 0, NULL)) < 0) {
			fprintf(out, "  repair failed: %s\n", util_strerror(-rc, eb, sizeof(eb)));
		} else {
			repaired++;
			fprintf(out, "  repaired: deleted %s\n", side);
		}
	}

	if (repaired) {
		tools_layout_free(&lo);
		if ((rc = tools_layout_scan(st, vol, o->default_bs, &lo)) < 0) {
			tools_err(cmd, "cannot list %s again: %s", vol,
				  util_strerror(-rc, eb, sizeof(eb)));
			goto out;
		}
		fprintf(out, "after repair: ");
		if (lo.nobjects)
			print_size(out, vol, &lo);
		else
			fprintf(out, "%s: no objects left, no volume\n", vol);
	}
	if (!problems)
		fprintf(out, "%s: no problems found\n", vol);
	else
		fprintf(out, "%s: %u problem(s) found, %u repaired, %u remain\n", vol, problems,
			repaired, problems - repaired);
	status = problems > repaired ? TOOLS_EXIT_DAMAGED : TOOLS_EXIT_OK;
out:
	tools_layout_free(&lo);
	return status;
}

int
tools_cmd_fsck(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"repair", no_argument, NULL, 'r'},
		{"delete-stray", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tools_fsck_opts o = {.out = stdout};
	struct tools_vol tv;
	char *opts[TOOLS_MAX_OPTS];
	size_t nopts = 0;
	int c, status;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'r': o.repair = 1; break;
		case 'S': o.delete_stray = 1; break;
		case 'o':
			if (nopts == TOOLS_MAX_OPTS) {
				tools_err("fsck", "too many -o arguments");
				return TOOLS_EXIT_USAGE;
			}
			opts[nopts++] = optarg;
			break;
		case 'h': fputs(fsck_usage, stdout); return TOOLS_EXIT_OK;
		default:
			tools_err("fsck", "bad option '%s' (see s3blockfs fsck --help)",
				  argv[optind - 1]);
			return TOOLS_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		tools_err("fsck", "expected VOLUME (see s3blockfs fsck --help)");
		return TOOLS_EXIT_USAGE;
	}
	if (o.delete_stray && !o.repair) {
		tools_err("fsck", "--delete-stray goes with --repair");
		return TOOLS_EXIT_USAGE;
	}
	if ((status = tools_open(&tv, "fsck", argv[optind], opts, nopts, !o.repair)) != 0)
		return status;
	o.default_bs = tv.conf.block_size;
	status = tools_fsck(tv.st, tv.vol, &o);
	tools_close(&tv);
	return status;
}
