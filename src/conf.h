/*
 * conf.h - the daemon's configuration: command line and -o options.
 */
#ifndef S3BFS_CONF_H
#define S3BFS_CONF_H

#include <stdint.h>
#include <stdio.h>

#define FUSE_USE_VERSION 312
#include <fuse_opt.h>

enum conf_backend { CONF_NONE, CONF_LOCAL, CONF_S3 };

struct conf {
	char *source; /* SOURCE as given */
	enum conf_backend backend;
	char *local_dir; /* file:///DIR */
	char *bucket;    /* BUCKET[:PREFIX] or s3://BUCKET/PREFIX */
	char *prefix;    /* root prefix, no leading or trailing '/'; "" for none */

	char *block_size_s, *cache_size_s, *dirty_limit_s; /* raw, parsed by conf_parse */
	char *connections_s, *writeback_delay_s, *ttl_s, *log_level_s, *local_max_s;
	uint32_t block_size;
	uint64_t cache_size, dirty_limit, local_max;
	unsigned connections;
	uint64_t writeback_delay_ms, ttl_ms;
	int log_level;
	int read_only;
	int local_sync;
	int test_refuse_locks;
	int writeback_cache;
	char *recovery_dir;
	char *config;    /* -o config=FILE, already expanded into the arguments */
	int nonopt; /* how many positional arguments were seen */
};

/* Sets the defaults. */
void conf_init(struct conf *c);
/* Takes our options and SOURCE out of args (MOUNTPOINT and FUSE's own
 * options stay for fuse_parse_cmdline and fuse_new) and validates.  On
 * error prints one line "s3blockfs: ..." to stderr and returns -EINVAL.
 *
 * First, -o config=FILE is replaced by the file's settings, placed before
 * the command line's options so that these override them and every later
 * parser (s3_conf_parse, libfuse) sees them: lines "name = value" or
 * "name" (any -o option), "source = SOURCE" and "mountpoint = DIR" (used
 * when the command line has no SOURCE / MOUNTPOINT), '#' comment lines and
 * blank lines.  A value may be in double quotes; a leading
 * $CREDENTIALS_DIRECTORY (systemd's LoadCredential=) is expanded.  A bad
 * line is one error "s3blockfs: FILE:LINE: ...". */
int conf_parse(struct conf *c, struct fuse_args *args);
/* Parses SOURCE into backend, dir or bucket and prefix; -EINVAL with a
 * message in msg. */
int conf_parse_source(struct conf *c, const char *source, char *msg, size_t msgsz);
void conf_help(FILE *out);
void conf_free(struct conf *c);

/* Limits on option values (and on a config file). */
#define CONF_FILE_MAX (64 * 1024)
#define CONF_LINE_MAX 4096
#define CONF_MAX_BLOCK_SIZE (64u << 20)
#define CONF_MAX_CONNECTIONS 256

#endif
