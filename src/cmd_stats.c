/*
 * cmd_stats.c - s3blockfs stats [--json|--prometheus] MOUNTPOINT: the
 * mount's counters, read from the user.s3blockfs.stats attribute of its
 * root (fs.c writes it as JSON), as a table, as is, or in the Prometheus
 * text exposition format (for node_exporter's textfile collector, say).
 *
 * The JSON is flattened ("cache.hits") with a small parser that accepts
 * any JSON, so counters added later show up without a change here; the
 * ones known below get labels, units and Prometheus types.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs.h"
#include "tools_int.h"
#include "util.h"

#define STATS_MAX_JSON (64 * 1024)
#define STATS_MAX_VALUES 512
#define STATS_MAX_DEPTH 8

static const char stats_usage[] =
	"usage: s3blockfs stats [--json | --prometheus] MOUNTPOINT\n"
	"\n"
	"Prints the statistics of the s3blockfs mount at MOUNTPOINT: requests by kind,\n"
	"bytes up and down, retries, errors, cache hits and misses, dirty blocks...\n"
	"\n"
	"  --json          the JSON the mount gives (the user.s3blockfs.stats\n"
	"                  attribute of its root directory)\n"
	"  --prometheus    Prometheus text exposition format, with a mountpoint label\n"
	"  -h, --help      this text\n"
	"\n"
	"Exit status: 0 printed; 1 MOUNTPOINT is not an s3blockfs mount, or its\n"
	"daemon is gone; 2 usage error.\n";

struct stat_val {
	char path[128]; /* "cache.hits" */
	int is_num;
	double num;
	char str[128];
};

struct jparse {
	const char *p;
	struct stat_val *vals;
	size_t n;
};

static void
jws(struct jparse *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

/* A JSON string into out (escapes kept simple: \" \\ \/ and \uXXXX as '?'). */
static int
jstring(struct jparse *j, char *out, size_t outsz)
{
	size_t n = 0;

	if (*j->p != '"')
		return -EINVAL;
	j->p++;
	while (*j->p && *j->p != '"') {
		char ch = *j->p++;
		if (ch == '\\') {
			ch = *j->p++;
			if (ch == 'u') {
				for (int i = 0; i < 4; i++)
					if (!*j->p++)
						return -EINVAL;
				ch = '?';
			} else if (ch == 'n' || ch == 't' || ch == 'r' || ch == 'b' || ch == 'f') {
				ch = ' ';
			} else if (ch == '\0') {
				return -EINVAL;
			}
		}
		if (n + 1 < outsz)
			out[n++] = ch;
	}
	if (*j->p != '"')
		return -EINVAL;
	j->p++;
	out[n] = '\0';
	return 0;
}

static struct stat_val *
jadd(struct jparse *j, const char *path)
{
	if (j->n == STATS_MAX_VALUES)
		return NULL;
	struct stat_val *v = &j->vals[j->n++];
	memset(v, 0, sizeof(*v));
	snprintf(v->path, sizeof(v->path), "%s", path);
	return v;
}

static int
jvalue(struct jparse *j, const char *path, int depth)
{
	char key[96], sub[128];
	struct stat_val *v;
	int rc;

	if (depth > STATS_MAX_DEPTH)
		return -E2BIG;
	jws(j);
	if (*j->p == '{' || *j->p == '[') {
		char close = *j->p == '{' ? '}' : ']';
		int idx = 0;
		j->p++;
		jws(j);
		if (*j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			jws(j);
			if (close == '}') {
				if ((rc = jstring(j, key, sizeof(key))) < 0)
					return rc;
				jws(j);
				if (*j->p++ != ':')
					return -EINVAL;
			} else {
				snprintf(key, sizeof(key), "%d", idx++);
			}
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
			if ((rc = jvalue(j, sub, depth + 1)) < 0)
				return rc;
			jws(j);
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != close)
				return -EINVAL;
			return 0;
		}
	}
	if (!(v = jadd(j, path)))
		return -E2BIG;
	if (*j->p == '"')
		return jstring(j, v->str, sizeof(v->str));
	if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "null", 4) == 0) {
		snprintf(v->str, sizeof(v->str), "%.4s", j->p);
		j->p += 4;
		return 0;
	}
	if (strncmp(j->p, "false", 5) == 0) {
		snprintf(v->str, sizeof(v->str), "false");
		j->p += 5;
		return 0;
	}
	char *end;
	v->num = strtod(j->p, &end);
	if (end == j->p)
		return -EINVAL;
	v->is_num = 1;
	j->p = end;
	return 0;
}

/* Known counters: Prometheus name, type, help; label for requests.*. */
static const struct {
	const char *path; /* exact, or a prefix ending in '.' */
	const char *metric;
	const char *type;
	const char *help;
} known[] = {
	{"requests.", "s3blockfs_requests_total", "counter", "Requests sent to the store, by kind"},
	{"bytes_down", "s3blockfs_downloaded_bytes_total", "counter", "Bytes read from the store"},
	{"bytes_up", "s3blockfs_uploaded_bytes_total", "counter", "Bytes written to the store"},
	{"retries", "s3blockfs_retries_total", "counter", "Requests retried"},
	{"errors", "s3blockfs_errors_total", "counter", "Requests that failed"},
	{"cache.hits", "s3blockfs_cache_hits_total", "counter", "Block reads served by the cache"},
	{"cache.misses", "s3blockfs_cache_misses_total", "counter", "Block reads that went to the store"},
	{"cache.readahead", "s3blockfs_cache_readahead_total", "counter", "Blocks read ahead"},
	{"cache.evictions", "s3blockfs_cache_evictions_total", "counter", "Clean blocks evicted"},
	{"cache.uploads", "s3blockfs_cache_uploads_total", "counter", "Dirty blocks uploaded"},
	{"cache.upload_errors", "s3blockfs_cache_upload_errors_total", "counter", "Failed block uploads"},
	{"cache.fetch_errors", "s3blockfs_cache_fetch_errors_total", "counter", "Failed block reads"},
	{"cache.bytes", "s3blockfs_cache_bytes", "gauge", "Bytes held by the block cache"},
	{"cache.dirty_bytes", "s3blockfs_cache_dirty_bytes", "gauge", "Bytes not yet uploaded"},
	{"cache.dirty_blocks", "s3blockfs_cache_dirty_blocks", "gauge", "Blocks not yet uploaded"},
	{"cache.writer_waits", "s3blockfs_cache_writer_waits_total", "counter",
	 "Writes that waited for the dirty limit"},
};

static int
known_index(const char *path)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		size_t n = strlen(known[i].path);
		if (known[i].path[n - 1] == '.' ? strncmp(path, known[i].path, n) == 0
						: strcmp(path, known[i].path) == 0)
			return (int)i;
	}
	return -1;
}

static int
is_bytes(const char *path)
{
	return strstr(path, "bytes") != NULL;
}

/* Prometheus label value: \ " and newline escaped. */
static void
prom_escape(const char *in, char *out, size_t outsz)
{
	size_t n = 0;

	for (; *in && n + 3 < outsz; in++) {
		if (*in == '\\' || *in == '"' || *in == '\n') {
			out[n++] = '\\';
			out[n++] = *in == '\n' ? 'n' : *in;
		} else {
			out[n++] = *in;
		}
	}
	out[n] = '\0';
}

static void
print_prometheus(const struct stat_val *v, size_t n, const char *mountpoint, FILE *out)
{
	char mp[512], name[160];
	int done_help[sizeof(known) / sizeof(known[0])] = {0};

	prom_escape(mountpoint, mp, sizeof(mp));
	for (size_t i = 0; i < n; i++) {
		if (!v[i].is_num)
			continue;
		int k = known_index(v[i].path);
		if (k >= 0) {
			if (!done_help[k]) {
				fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", known[k].metric,
					known[k].help, known[k].metric, known[k].type);
				done_help[k] = 1;
			}
			if (strcmp(known[k].path, "requests.") == 0)
				fprintf(out, "%s{mountpoint=\"%s\",kind=\"%s\"} %.17g\n",
					known[k].metric, mp, v[i].path + 9, v[i].num);
			else
				fprintf(out, "%s{mountpoint=\"%s\"} %.17g\n", known[k].metric, mp,
					v[i].num);
			continue;
		}
		/* Counters added later: an untyped metric named after the path. */
		size_t m = (size_t)snprintf(name, sizeof(name), "s3blockfs_%s", v[i].path);
		for (size_t c = 0; c < m && c < sizeof(name); c++)
			if (!((name[c] >= 'a' && name[c] <= 'z') || (name[c] >= 'A' && name[c] <= 'Z') ||
			      (name[c] >= '0' && name[c] <= '9') || name[c] == '_'))
				name[c] = '_';
		fprintf(out, "# TYPE %s untyped\n%s{mountpoint=\"%s\"} %.17g\n", name, name, mp,
			v[i].num);
	}
}

static void
print_table(const struct stat_val *v, size_t n, const char *mountpoint, FILE *out)
{
	char group[128] = "", hb[32];

	fprintf(out, "s3blockfs statistics of %s\n", mountpoint);
	for (size_t i = 0; i < n; i++) {
		const char *dot = strrchr(v[i].path, '.');
		const char *leaf = dot ? dot + 1 : v[i].path;
		size_t glen = dot ? (size_t)(dot - v[i].path) : 0;
		if (glen != strlen(group) || strncmp(group, v[i].path, glen) != 0) {
			snprintf(group, sizeof(group), "%.*s", (int)glen, v[i].path);
			if (glen)
				fprintf(out, "%s\n", group);
		}
		const char *indent = glen ? "  " : "";
		int width = glen ? 22 : 24;
		if (!v[i].is_num) {
			fprintf(out, "%s%-*s %14s\n", indent, width, leaf, v[i].str);
		} else if (is_bytes(v[i].path) && v[i].num >= 0 && v[i].num < 1.8e19) {
			tools_human_bytes((uint64_t)v[i].num, hb, sizeof(hb));
			fprintf(out, "%s%-*s %14.0f  (%s)\n", indent, width, leaf, v[i].num, hb);
		} else {
			fprintf(out, "%s%-*s %14.15g\n", indent, width, leaf, v[i].num);
		}
	}
}

int
tools_stats_format(const char *json, const char *mountpoint, enum tools_stats_format f, FILE *out)
{
	struct jparse j = {.p = json};
	int rc;

	if (f == TOOLS_STATS_JSON) {
		fprintf(out, "%s\n", json);
		return 0;
	}
	if (!(j.vals = calloc(STATS_MAX_VALUES, sizeof(*j.vals))))
		return -ENOMEM;
	rc = jvalue(&j, "", 0);
	jws(&j);
	if (rc == 0 && *j.p != '\0')
		rc = -EINVAL;
	if (rc == 0) {
		if (f == TOOLS_STATS_PROMETHEUS)
			print_prometheus(j.vals, j.n, mountpoint, out);
		else
			print_table(j.vals, j.n, mountpoint, out);
	}
	free(j.vals);
	return rc;
}

int
tools_cmd_stats(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"prometheus", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	enum tools_stats_format f = TOOLS_STATS_TABLE;
	char eb[128], *buf = NULL;
	int c, status = TOOLS_EXIT_FAIL;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'j': f = TOOLS_STATS_JSON; break;
		case 'p': f = TOOLS_STATS_PROMETHEUS; break;
		case 'h': fputs(stats_usage, stdout); return TOOLS_EXIT_OK;
		default:
			tools_err("stats", "bad option '%s' (see s3blockfs stats --help)",
				  argv[optind - 1]);
			return TOOLS_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		tools_err("stats", "expected MOUNTPOINT (see s3blockfs stats --help)");
		return TOOLS_EXIT_USAGE;
	}
	const char *mp = argv[optind];
	if (!(buf = malloc(STATS_MAX_JSON + 1))) {
		tools_err("stats", "out of memory");
		return TOOLS_EXIT_FAIL;
	}
	ssize_t n = getxattr(mp, FS_XATTR_STATS, buf, STATS_MAX_JSON);
	if (n < 0) {
		int e = errno;
		if (e == ENODATA || e == ENOTSUP)
			tools_err("stats", "%s is not the root of an s3blockfs mount (it has no %s "
					   "attribute)", mp, FS_XATTR_STATS);
		else if (e == ENOTCONN)
			tools_err("stats", "%s: the s3blockfs daemon of this mount is gone (%s); "
					   "'fusermount3 -uz %s' removes the dead mount",
				  mp, util_strerror(e, eb, sizeof(eb)), mp);
		else
			tools_err("stats", "%s: %s", mp, util_strerror(e, eb, sizeof(eb)));
		goto out;
	}
	buf[n] = '\0';
	int rc = tools_stats_format(buf, mp, f, stdout);
	if (rc < 0) {
		tools_err("stats", "%s: cannot parse the statistics (%s): %.200s", mp,
			  util_strerror(-rc, eb, sizeof(eb)), buf);
		goto out;
	}
	status = fflush(stdout) == 0 ? TOOLS_EXIT_OK : TOOLS_EXIT_FAIL;
out:
	free(buf);
	return status;
}
