/*
 * conf.c - option parsing with fuse_opt, as FUSE file systems do: our
 * options are -o name=value words that fuse_opt_parse takes out of the
 * argument list; what it leaves is for libfuse.  Numbers are parsed after,
 * with checked conversions, so a bad value gets a message that names the
 * option.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	c->writeback_delay_ms = 2000;
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
	case FUSE_OPT_KEY_OPT:
		/* mount(8)'s "x-" words (x-systemd.automount, x-mount.mkdir, ...)
		 * are for userspace tools: a template "x-systemd.%s" would only
		 * match itself (fuse_opt reads %s only after '=' or ' '). */
		if (strncmp(arg, "x-", 2) == 0)
			return 0;
		return 1;
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

/* ------------------------------------------------------ -o config=FILE */

/* The first pass only finds config=FILE and counts the positional
 * arguments; everything else stays where it is. */
struct conf_pre {
	char *config;
	int nonopt;
};

static const struct fuse_opt conf_pre_opts[] = {
	{"config=%s", offsetof(struct conf_pre, config), 0},
	FUSE_OPT_END,
};

static int
conf_pre_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct conf_pre *p = data;

	if (key == FUSE_OPT_KEY_NONOPT)
		p->nonopt++;
	return 1;
}

struct conf_file {
	const char *path;
	unsigned line;
	char *opts; /* "a=b,c", escaped for fuse_opt's comma splitting */
	char *source, *mountpoint;
};

static void conf_file_err(const struct conf_file *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
conf_file_err(const struct conf_file *f, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "s3blockfs: %s:%u: ", f->path, f->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The whole file, NUL-terminated, at most CONF_FILE_MAX bytes. */
static int
conf_file_read(const char *path, char **out)
{
	struct stat sb;
	char eb[128], *buf = NULL;
	size_t len = 0;
	int fd, rc = -EINVAL;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		conf_err("config file %s: %s", path, util_strerror(errno, eb, sizeof(eb)));
		return -EINVAL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		conf_err("config file %s: not a regular file", path);
		goto out;
	}
	if (sb.st_size > CONF_FILE_MAX) {
		conf_err("config file %s: larger than %d bytes", path, CONF_FILE_MAX);
		goto out;
	}
	if (!(buf = malloc(CONF_FILE_MAX + 1))) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, CONF_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			conf_err("config file %s: %s", path, util_strerror(errno, eb, sizeof(eb)));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONF_FILE_MAX) {
			conf_err("config file %s: larger than %d bytes", path, CONF_FILE_MAX);
			goto out;
		}
	}
	if (memchr(buf, '\0', len)) {
		conf_err("config file %s: not a text file (it holds NUL bytes)", path);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int
conf_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static int
conf_is_name(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-' || ch == '.';
}

/* A leading $CREDENTIALS_DIRECTORY (or ${...}) becomes its value: the unit
 * loads the credentials file with LoadCredential= and the config names it
 * as $CREDENTIALS_DIRECTORY/s3, with no path that depends on the unit. */
static int
conf_file_expand(struct conf_file *f, const char *value, char *out, size_t outsz)
{
	static const char *const vars[] = {"${CREDENTIALS_DIRECTORY}", "$CREDENTIALS_DIRECTORY"};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		size_t n = strlen(vars[i]);
		if (strncmp(value, vars[i], n) != 0 || (value[n] != '\0' && value[n] != '/'))
			continue;
		const char *dir = getenv("CREDENTIALS_DIRECTORY");
		if (!dir || !dir[0]) {
			conf_file_err(f, "$CREDENTIALS_DIRECTORY is not set (systemd sets it for "
					 "a unit with LoadCredential=)");
			return -EINVAL;
		}
		if ((size_t)snprintf(out, outsz, "%s%s", dir, value + n) >= outsz)
			break;
		return 0;
	}
	if ((size_t)snprintf(out, outsz, "%s", value) >= outsz) {
		conf_file_err(f, "value too long");
		return -EINVAL;
	}
	return 0;
}

static int
conf_file_line(struct conf_file *f, char *line)
{
	char kv[3 * CONF_LINE_MAX], val[CONF_LINE_MAX + 1024];
	size_t len = strlen(line);

	if (len > CONF_LINE_MAX) {
		conf_file_err(f, "line longer than %d bytes", CONF_LINE_MAX);
		return -EINVAL;
	}
	while (len > 0 && conf_is_space(line[len - 1]))
		line[--len] = '\0';
	while (conf_is_space(*line))
		line++;
	if (line[0] == '\0' || line[0] == '#')
		return 0;

	char *name = line, *p = line;
	while (conf_is_name(*p))
		p++;
	size_t nlen = (size_t)(p - name);
	while (conf_is_space(*p))
		p++;
	if (nlen == 0 || (*p != '\0' && *p != '=')) {
		conf_file_err(f, "expected 'name = value' or 'name', not '%.60s'", line);
		return -EINVAL;
	}
	int has_value = *p == '=';
	name[nlen] = '\0';
	char *value = NULL;
	if (has_value) {
		value = p + 1;
		while (conf_is_space(*value))
			value++;
		size_t vlen = strlen(value);
		if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
			value[vlen - 1] = '\0';
			value++;
		}
		if (conf_file_expand(f, value, val, sizeof(val)) < 0)
			return -EINVAL;
	}

	if (strcmp(name, "config") == 0) {
		conf_file_err(f, "config= cannot appear in a config file");
		return -EINVAL;
	}
	if (strcmp(name, "source") == 0 || strcmp(name, "mountpoint") == 0) {
		char **dst = name[0] == 's' ? &f->source : &f->mountpoint;
		if (!has_value || !val[0]) {
			conf_file_err(f, "%s needs a value: '%s = ...'", name, name);
			return -EINVAL;
		}
		free(*dst);
		return (*dst = strdup(val)) ? 0 : -ENOMEM;
	}
	snprintf(kv, sizeof(kv), "%s%s%s", name, has_value ? "=" : "", has_value ? val : "");
	if (fuse_opt_add_opt_escaped(&f->opts, kv) < 0)
		return -ENOMEM;
	return 0;
}

/* Replaces -o config=FILE in args by the file's settings (see conf.h). */
static int
conf_expand_file(struct conf *c, struct fuse_args *args)
{
	struct conf_pre pre = {0};
	struct conf_file f = {0};
	struct fuse_args n = FUSE_ARGS_INIT(0, NULL);
	char *text = NULL;
	int rc;

	if (fuse_opt_parse(args, &pre, conf_pre_opts, conf_pre_proc) < 0)
		return -EINVAL;
	if (!pre.config)
		return 0;
	free(c->config);
	c->config = pre.config;
	if ((rc = conf_file_read(c->config, &text)) < 0)
		return rc;
	f.path = c->config;
	for (char *line = text, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		f.line++;
		if ((rc = conf_file_line(&f, line)) < 0)
			goto out;
	}
	rc = -ENOMEM;
	if (fuse_opt_add_arg(&n, args->argc > 0 ? args->argv[0] : "s3blockfs") < 0)
		goto out;
	if (f.opts && (fuse_opt_add_arg(&n, "-o") < 0 || fuse_opt_add_arg(&n, f.opts) < 0))
		goto out;
	for (int i = 1; i < args->argc; i++)
		if (fuse_opt_add_arg(&n, args->argv[i]) < 0)
			goto out;
	/* The command line's SOURCE and MOUNTPOINT win; the file fills in. */
	if (pre.nonopt == 0 && f.source && fuse_opt_add_arg(&n, f.source) < 0)
		goto out;
	if ((pre.nonopt == 1 || (pre.nonopt == 0 && f.source)) && f.mountpoint &&
	    fuse_opt_add_arg(&n, f.mountpoint) < 0)
		goto out;
	fuse_opt_free_args(args);
	*args = n;
	n = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	rc = 0;
out:
	fuse_opt_free_args(&n);
	free(f.opts);
	free(f.source);
	free(f.mountpoint);
	free(text);
	return rc;
}

int
conf_parse(struct conf *c, struct fuse_args *args)
{
	uint64_t v;

	if (conf_expand_file(c, args) < 0)
		return -EINVAL;
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
		"    -o writeback_delay=S   upload dirty blocks not written for S seconds\n"
		"                           without waiting for fsync (default 2)\n"
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
		"    -o config=FILE         read options from FILE: 'name = value' or 'name'\n"
		"                           lines, 'source = SOURCE', 'mountpoint = DIR', '#'\n"
		"                           comments; command-line options win\n"
		"\n"
		"fstab words (_netdev, noauto, nofail, auto, user, defaults, x-systemd.*)\n"
		"are accepted and ignored.\n"
		"\n"
		"Subcommands (each has --help): s3blockfs stats MOUNTPOINT,\n"
		"s3blockfs import FILE VOLUME, s3blockfs export VOLUME FILE,\n"
		"s3blockfs fsck VOLUME.\n");
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
	free(c->config);
	memset(c, 0, sizeof(*c));
}
