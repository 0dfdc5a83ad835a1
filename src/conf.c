/*
 * conf.c - option parsing with fuse_opt, as FUSE file systems do: our
 * options are -o name=value words that fuse_opt_parse takes out of the
 * argument list; what it leaves is for libfuse.  Numbers are parsed after,
 * with checked conversions, so a bad value gets a message that names the
 * option.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "util.h"

enum {
	KEY_RO,
	KEY_NONOPT_CHECK,
};

#define OPT(t, f, v)                                                                               \
	{                                                                                          \
		t, offsetof(struct conf, f), v                                                     \
	}

static const struct fuse_opt conf_opts[] = {
	OPT("block_size=%s", block_size_s, 0),
	OPT("cache_size=%s", cache_size_s, 0),
	OPT("dirty_limit=%s", dirty_limit_s, 0),
	OPT("connections=%s", connections_s, 0),
	OPT("writeback_delay=%s", writeback_delay_s, 0),
	OPT("ttl=%s", ttl_s, 0),
	OPT("log_level=%s", log_level_s, 0),
	OPT("shm_max=%s", local_max_s, 0),
	OPT("recovery_dir=%s", recovery_dir, 0),
	OPT("local_sync", local_sync, 1),
	OPT("no_local_sync", local_sync, 0),
	OPT("writeback_cache", writeback_cache, 1),
	OPT("no_writeback_cache", writeback_cache, 0),
	OPT("test_refuse_locks", test_refuse_locks, 1),
	FUSE_OPT_KEY("ro", KEY_RO),
	/* Words only fstab and mount(8) use. */
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("x-systemd.%s", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("comment=%s", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END,
};

void
conf_init(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->block_size = 4096;
	c->cache_size = 64ULL << 20;
	c->dirty_limit = 32ULL << 20;
	c->connections = 16;
	c->writeback_delay_ms = 30000;
	c->ttl_ms = 10000;
	c->local_max = 256ULL << 20;
	c->log_level = LOG_INFO;
	c->local_sync = 1;
	c->prefix = strdup("");
}

static void conf_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
conf_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "s3blockfs: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Trims '/' at both ends of a prefix, in place. */
static void
trim_slashes(char *s)
{
	size_t l = strlen(s), i = 0;

	while (l > 0 && s[l - 1] == '/')
		s[--l] = '\0';
	while (s[i] == '/')
		i++;
	memmove(s, s + i, l - i + 1);
}

int
conf_parse_source(struct conf *c, const char *src, char *msg, size_t msgsz)
{
	free(c->local_dir);
	free(c->bucket);
	c->local_dir = c->bucket = NULL;
	if (strncmp(src, "file://", 7) == 0) {
		const char *dir = src + 7;
		if (dir[0] != '/') {
			snprintf(msg, msgsz, "bad SOURCE '%s': file:// needs an absolute path, "
					     "as in file:///var/lib/blocks", src);
			return -EINVAL;
		}
		c->backend = CONF_LOCAL;
		c->local_dir = strdup(dir);
		return c->local_dir ? 0 : -ENOMEM;
	}
	const char *b = src, *sep;
	if (strncmp(src, "s3://", 5) == 0) {
		b = src + 5;
		sep = strchr(b, '/');
	} else {
		if (strstr(src, "://")) {
			snprintf(msg, msgsz, "bad SOURCE '%s': use BUCKET[:PREFIX], "
					     "s3://BUCKET/PREFIX or file:///DIR", src);
			return -EINVAL;
		}
		sep = strchr(b, ':');
	}
	size_t blen = sep ? (size_t)(sep - b) : strlen(b);
	if (blen < 3 || blen > 63) {
		snprintf(msg, msgsz, "bad SOURCE '%s': a bucket name has 3 to 63 characters", src);
		return -EINVAL;
	}
	for (size_t i = 0; i < blen; i++) {
		char ch = b[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '.' || ch == '_' || (ch >= 'A' && ch <= 'Z'))) {
			snprintf(msg, msgsz, "bad SOURCE '%s': '%c' cannot be in a bucket name", src,
				 ch);
			return -EINVAL;
		}
	}
	c->backend = CONF_S3;
	c->bucket = strndup(b, blen);
	free(c->prefix);
	c->prefix = strdup(sep ? sep + 1 : "");
	if (!c->bucket || !c->prefix)
		return -ENOMEM;
	trim_slashes(c->prefix);
	return 0;
}

static int
conf_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct conf *c = data;
	char msg[512];

	switch (key) {
	case KEY_RO:
		c->read_only = 1;
		return 1; /* libfuse mounts read-only too */
	case FUSE_OPT_KEY_NONOPT:
		if (c->nonopt++ == 0) {
			free(c->source);
			c->source = strdup(arg);
			if (conf_parse_source(c, arg, msg, sizeof(msg)) < 0) {
				fprintf(stderr, "s3blockfs: %s\n", msg);
				return -1;
			}
			return 0;
		}
		if (c->nonopt > 2) {
			conf_err("unexpected argument '%s' (usage: s3blockfs [options] SOURCE "
				 "MOUNTPOINT)",
				 arg);
			return -1;
		}
		return 1; /* MOUNTPOINT: for fuse_parse_cmdline */
	default:
		return 1;
	}
}

static int
parse_num(const char *name, const char *s, int size, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int rc = size ? util_parse_size(s, &v) : util_parse_u64(s, &v);

	if (rc < 0 || v < min || v > max) {
		char range[96];
		snprintf(range, sizeof(range), "%llu..%llu", (unsigned long long)min,
			 (unsigned long long)max);
		fprintf(stderr, "s3blockfs: bad value '%s' for -o %s: expected %s in %s\n", s,
			name, size ? "a size (e.g. 4096, 64M)" : "a whole number", range);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int
conf_parse(struct conf *c, struct fuse_args *args)
{
	uint64_t v;

	if (fuse_opt_parse(args, c, conf_opts, conf_proc) < 0)
		return -EINVAL;
	if (c->block_size_s) {
		if (parse_num("block_size", c->block_size_s, 1, 1, CONF_MAX_BLOCK_SIZE, &v) < 0)
			return -EINVAL;
		c->block_size = (uint32_t)v;
	}
	if (c->cache_size_s &&
	    parse_num("cache_size", c->cache_size_s, 1, 1, UINT64_MAX >> 1, &c->cache_size) < 0)
		return -EINVAL;
	if (c->dirty_limit_s &&
	    parse_num("dirty_limit", c->dirty_limit_s, 1, 1, UINT64_MAX >> 1, &c->dirty_limit) < 0)
		return -EINVAL;
	else if (!c->dirty_limit_s && c->dirty_limit > c->cache_size / 2)
		c->dirty_limit = c->cache_size / 2;
	if (c->connections_s) {
		if (parse_num("connections", c->connections_s, 0, 1, CONF_MAX_CONNECTIONS, &v) < 0)
			return -EINVAL;
		c->connections = (unsigned)v;
	}
	if (c->writeback_delay_s) {
		if (parse_num("writeback_delay", c->writeback_delay_s, 0, 0, 86400, &v) < 0)
			return -EINVAL;
		c->writeback_delay_ms = v * 1000;
	}
	if (c->ttl_s) {
		if (parse_num("ttl", c->ttl_s, 0, 0, 86400, &v) < 0)
			return -EINVAL;
		c->ttl_ms = v * 1000;
	}
	if (c->local_max_s &&
	    parse_num("shm_max", c->local_max_s, 1, 1, 1ULL << 32, &c->local_max) < 0)
		return -EINVAL;
	if (c->log_level_s && (c->log_level = log_level_parse(c->log_level_s)) < 0) {
		conf_err("bad value '%s' for -o log_level: expected err, warning, notice, info or "
			 "debug",
			 c->log_level_s);
		return -EINVAL;
	}
	/* The cache must hold the dirty blocks and room to read beside them. */
	uint64_t min_cache = 4ULL * c->block_size;
	if (c->cache_size < min_cache || c->cache_size < (1ULL << 20)) {
		conf_err("cache_size %llu is too small: it needs at least %llu bytes",
			 (unsigned long long)c->cache_size,
			 (unsigned long long)UTIL_MAX(min_cache, (uint64_t)(1ULL << 20)));
		return -EINVAL;
	}
	if (c->dirty_limit < c->block_size || c->dirty_limit > c->cache_size) {
		conf_err("dirty_limit must be between block_size and cache_size");
		return -EINVAL;
	}
	return 0;
}

void
conf_help(FILE *out)
{
	fprintf(out,
		"usage: s3blockfs [options] SOURCE MOUNTPOINT\n"
		"\n"
		"SOURCE is BUCKET[:PREFIX], s3://BUCKET/PREFIX, or file:///DIR for the local\n"
		"directory backend (one file per block object, the same layout).\n"
		"\n"
		"s3blockfs options:\n"
		"    -o block_size=N        block size of new volumes (default 4096); existing\n"
		"                           volumes use the size of their block 0\n"
		"    -o cache_size=SIZE     block cache memory, clean + dirty (default 64M)\n"
		"    -o dirty_limit=SIZE    writers wait above this much unsaved data\n"
		"                           (default 32M, at most cache_size)\n"
		"    -o connections=N       parallel transfers (default 16)\n"
		"    -o writeback_delay=S   upload dirty blocks older than S seconds even\n"
		"                           without fsync (default 30)\n"
		"    -o ttl=S               trust listings of other prefixes for S seconds\n"
		"                           (default 10)\n"
		"    -o shm_max=SIZE        largest in-memory '-shm' file (default 256M)\n"
		"    -o recovery_dir=DIR    where unsaved blocks go if the store is gone at\n"
		"                           unmount (default /var/lib/s3blockfs/recovery)\n"
		"    -o no_local_sync       local backend: do not fsync block files\n"
		"    -o writeback_cache     let the kernel buffer writes (fewer, larger writes)\n"
		"    -o log_level=LEVEL     err, warning, notice, info (default) or debug\n"
		"    -o ro                  read-only\n"
		"    -o test_refuse_locks   (tests) fail every lock request with ENOLCK\n"
		"\n"
		"fstab words (_netdev, noauto, nofail, auto, user, defaults, x-systemd.*)\n"
		"are accepted and ignored.\n");
}

void
conf_free(struct conf *c)
{
	free(c->source);
	free(c->local_dir);
	free(c->bucket);
	free(c->prefix);
	free(c->block_size_s);
	free(c->cache_size_s);
	free(c->dirty_limit_s);
	free(c->connections_s);
	free(c->writeback_delay_s);
	free(c->ttl_s);
	free(c->log_level_s);
	free(c->local_max_s);
	free(c->recovery_dir);
	memset(c, 0, sizeof(*c));
}
