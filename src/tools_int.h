/*
 * tools_int.h - what the subcommands (tools.c, cmd_*.c) share, and what
 * the unit test (tests/check_tools.c) drives directly on an in-memory
 * store.  Not used by the daemon.
 */
#ifndef S3BFS_TOOLS_INT_H
#define S3BFS_TOOLS_INT_H

#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "store.h"
#include "tools.h"

/* Ceilings. */
#define TOOLS_MAX_OPTS 64           /* -o arguments */
#define TOOLS_POOL_BYTES (256u << 20) /* transfer buffers of all workers */
#define TOOLS_MAX_LISTED (16u << 20)  /* blocks or stray keys kept from one listing */
#define TOOLS_REPORT_MAX 20           /* problems of one kind printed in full */

/* -------------------------------------------------------------- volumes */

/* An opened volume: the store for its backend and root, and its name. */
struct tools_vol {
	struct conf conf;
	struct s3_conf *s3conf;
	struct store *st;
	char *vol;          /* the volume's key prefix, relative to the store's root */
	const char *source; /* VOLUME as given */
};

/* Splits VOLUME into backend + root (into c) and the volume's name. */
int tools_parse_volume(struct conf *c, const char *source, char **vol, char *msg,
		       size_t msgsz);
/* Parses -o options (opts[0..nopts)), VOLUME, creates the store and probes
 * it (read_only: a local backend is opened read-only).  On error prints one
 * line and returns TOOLS_EXIT_USAGE or TOOLS_EXIT_FAIL; 0 on success. */
int tools_open(struct tools_vol *tv, const char *cmd, const char *source, char **opts,
	       size_t nopts, int read_only);
void tools_close(struct tools_vol *tv);

/* --------------------------------------------------------- the layout */

struct tools_blk {
	uint64_t blk;
	uint64_t size;
};

/* What a listing of "<vol>/" says about the volume (DESIGN.md section 2),
 * read as the daemon reads it: the file is blocks 0..nblocks-1; it ends at
 * the first missing, empty, oversized block or after the first short one.
 * Every block object beyond that end is in past[]. */
struct tools_layout {
	uint64_t nobjects;  /* every object under "<vol>/" */
	uint64_t nblocks;   /* contiguous valid blocks from 0 */
	uint32_t bs;        /* block size: of block 0 if nblocks >= 2, else default */
	uint64_t size;      /* file size the daemon would see */
	uint64_t last_size; /* size of block nblocks-1 */
	/* Why the file ends before the last block object, if it does. */
	enum {
		TL_END_NONE,    /* no block objects past the end */
		TL_END_NO_ZERO, /* block 0 is missing: the volume does not exist */
		TL_END_HOLE,    /* block end_blk is missing */
		TL_END_SHORT,   /* block end_blk-1 is short but blocks follow */
		TL_END_EMPTY,   /* block end_blk has 0 bytes */
		TL_END_LONG,    /* block end_blk is larger than the block size */
	} end_why;
	uint64_t end_blk;
	uint64_t end_size; /* the size of the block named by end_why */
	struct tools_blk *past; /* ascending */
	size_t npast;
	/* Objects under "<vol>/" that are not block objects. */
	char **stray;
	uint64_t *stray_size;
	size_t nstray;
	uint64_t stray_bytes;
};

/* Lists "<vol>/" and fills lo.  default_bs is the block size of a volume of
 * fewer than two blocks.  0 or -errno (-E2BIG past TOOLS_MAX_LISTED). */
int tools_layout_scan(struct store *st, const char *vol, uint32_t default_bs,
		      struct tools_layout *lo);
void tools_layout_free(struct tools_layout *lo);
/* One sentence on why the file ends early ("" if it does not). */
void tools_layout_why(const struct tools_layout *lo, char *buf, size_t bufsz);

/* A SQLite side file next to the volume ("<vol>-journal", "<vol>-wal"). */
struct tools_side {
	int exists;
	uint64_t size;
	int hot; /* journal: first byte non-zero, so SQLite would roll it back */
};
int tools_side_check(struct store *st, const char *vol, const char *suffix,
		     struct tools_side *out);

/* Deletes block objects, highest first, in batches; 0 or -errno. */
int tools_delete_blocks(struct store *st, const char *vol, const struct tools_blk *b, size_t n);
/* Deletes a whole volume: block 0 first (the commit point), then the other
 * block objects highest first, then stray objects under it if with_stray.
 * *ndeleted gets the number of objects deleted (may be NULL). */
int tools_delete_volume(struct store *st, const char *vol, uint32_t default_bs, int with_stray,
			uint64_t *ndeleted);

/* ------------------------------------------------ progress and transfers */

struct tools_progress {
	const char *what; /* "import app.db" */
	uint64_t total;   /* bytes */
	uint64_t done;    /* bytes, updated atomically */
	uint64_t t0_ms, last_ms;
	int tty;          /* redraw one line; else a plain line now and then */
	int quiet;
	int drawn;        /* a tty line is on screen */
};

void tools_progress_init(struct tools_progress *p, const char *what, uint64_t total, int quiet);
void tools_progress_add(struct tools_progress *p, uint64_t n);
/* Prints the line if it is time to (force: now); final ends the tty line. */
void tools_progress_show(struct tools_progress *p, int force, int final);
/* Clears a tty progress line before an error message is printed. */
void tools_progress_clear(struct tools_progress *p);

/* Runs fn(arg, job, buf) for job in [first, first+njobs) on nthreads
 * threads (each with its own bufsz-byte buffer), showing progress while it
 * waits.  Stops handing out jobs at the first error, which it returns
 * (-errno) with the job in *failed_job. */
typedef int (*tools_job_fn)(void *arg, uint64_t job, void *buf);
int tools_pool_run(unsigned nthreads, uint64_t first, uint64_t njobs, size_t bufsz,
		   tools_job_fn fn, void *arg, struct tools_progress *pg, uint64_t *failed_job);
/* How many threads: connections, but no more than TOOLS_POOL_BYTES allows. */
unsigned tools_pool_threads(unsigned connections, size_t bufsz, uint64_t njobs);

/* --------------------------------------------------------------- misc */

/* "12.3 MiB" */
void tools_human_bytes(uint64_t n, char *buf, size_t bufsz);
/* Prints "s3blockfs CMD: " + message + "\n" on stderr. */
void tools_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tools_note(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------- subcommands */

struct tools_import_opts {
	uint32_t block_size;
	int force;
	int verify;      /* 2: re-read and compare every block; 1: listing only; 0: none */
	int quiet;
	unsigned connections;
};
/* Imports the open file fd (its whole contents) as volume vol. */
int tools_import(struct store *st, const char *vol, const char *file, int fd,
		 const struct tools_import_opts *o);

struct tools_export_opts {
	uint32_t default_bs;
	int force;
	int rollback;
	int check;     /* PRAGMA integrity_check of a SQLite result */
	int empty_ok;  /* a volume with no objects is an empty file */
	int quiet;
	unsigned connections;
};
int tools_export(struct store *st, const char *vol, const char *file,
		 const struct tools_export_opts *o);

struct tools_fsck_opts {
	uint32_t default_bs;
	int repair;
	int delete_stray;
	FILE *out; /* the report */
};
int tools_fsck(struct store *st, const char *vol, const struct tools_fsck_opts *o);

/* Statistics: the JSON of user.s3blockfs.stats as a table, as is, or in
 * the Prometheus text format (mountpoint becomes a label). */
enum tools_stats_format { TOOLS_STATS_TABLE, TOOLS_STATS_JSON, TOOLS_STATS_PROMETHEUS };
int tools_stats_format(const char *json, const char *mountpoint, enum tools_stats_format f,
		       FILE *out);

int tools_cmd_stats(int argc, char **argv);
int tools_cmd_import(int argc, char **argv);
int tools_cmd_export(int argc, char **argv);
int tools_cmd_fsck(int argc, char **argv);

#endif
