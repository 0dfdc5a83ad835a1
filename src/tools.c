/*
 * tools.c - the subcommands' common parts: dispatch, VOLUME parsing and
 * opening the store, reading a volume's layout from a listing, deleting
 * in the order the layout needs, progress, and a small thread pool.
 *
 * The subcommands talk to the store interface (store.h) directly, with the
 * same backends and options as the daemon, and read the layout the way the
 * daemon does (ns.c): a file is blocks 0..K-1, all of the size of block 0
 * but the last, which holds 1..bs bytes; the first missing, empty,
 * oversized block, or a block after a short one, ends it.  Unlike the
 * daemon's O(log K) size discovery they list every block: a copy or a check
 * reads every block anyway, and the listing shows what lies past the end.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local.h"
#include "log.h"
#include "s3.h"
#include "tools_int.h"
#include "util.h"

#define TOOLS_DEL_BATCH 1000

/* ---------------------------------------------------------------- dispatch */

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} tools_cmds[] = {
	{"stats", tools_cmd_stats},
	{"import", tools_cmd_import},
	{"export", tools_cmd_export},
	{"fsck", tools_cmd_fsck},
};

int
tools_is_command(const char *arg)
{
	for (size_t i = 0; i < sizeof(tools_cmds) / sizeof(tools_cmds[0]); i++)
		if (strcmp(arg, tools_cmds[i].name) == 0)
			return 1;
	return 0;
}

int
tools_main(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(tools_cmds) / sizeof(tools_cmds[0]); i++) {
		if (strcmp(argv[0], tools_cmds[i].name) != 0)
			continue;
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
			fprintf(stderr, "s3blockfs: cannot initialise libcurl\n");
			return TOOLS_EXIT_FAIL;
		}
		log_set_level(LOG_NOTICE);
		int rc = tools_cmds[i].fn(argc, argv);
		curl_global_cleanup();
		return rc;
	}
	return TOOLS_EXIT_USAGE;
}

/* ---------------------------------------------------------------- messages */

static void
tools_vmsg(const char *cmd, const char *fmt, va_list ap)
{
	char buf[2048];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* One write: lines from threads and the store's log stay whole. */
	fprintf(stderr, "s3blockfs %s: %s\n", cmd, buf);
}

void
tools_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tools_vmsg(cmd, fmt, ap);
	va_end(ap);
}

void
tools_note(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tools_vmsg(cmd, fmt, ap);
	va_end(ap);
}

void
tools_human_bytes(uint64_t n, char *buf, size_t bufsz)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, bufsz, "%" PRIu64 " B", n);
		return;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, bufsz, "%.1f %s", v, units[u]);
}

/* ------------------------------------------------------------------ VOLUME */

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

/* A volume name: non-empty path elements, none "." or "..", not under the
 * hidden ".s3blockfs" and not ending in something a block name. */
static int
check_vol_name(const char *vol, char *msg, size_t msgsz)
{
	const char *p = vol;

	if (!vol[0]) {
		snprintf(msg, msgsz, "no volume name");
		return -EINVAL;
	}
	if (strncmp(vol, ".s3blockfs", 10) == 0 && (vol[10] == '\0' || vol[10] == '/')) {
		snprintf(msg, msgsz, "'%s' is s3blockfs's own hidden prefix, not a volume", vol);
		return -EINVAL;
	}
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(msg, msgsz, "bad volume name '%s' (empty, '.' or '..' element)", vol);
			return -EINVAL;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

int
tools_parse_volume(struct conf *c, const char *source, char **vol, char *msg, size_t msgsz)
{
	char buf[PATH_MAX + 16], m[512];
	const char *name;
	int rc;

	*vol = NULL;
	if (strncmp(source, "file://", 7) == 0) {
		const char *path = source + 7, *sep;
		if (path[0] != '/') {
			snprintf(msg, msgsz, "bad VOLUME '%s': use file:///DIR:NAME or file:///DIR/NAME "
					     "(an absolute directory)", source);
			return -EINVAL;
		}
		/* file:///DIR:NAME names the backend directory and the volume in
		 * it; without ':' the last element is the volume (the local
		 * backend maps keys to paths, so both name the same files). */
		if ((sep = strchr(path, ':')) == NULL)
			sep = strrchr(path, '/');
		size_t dlen = (size_t)(sep - path);
		if (dlen >= PATH_MAX) {
			snprintf(msg, msgsz, "bad VOLUME '%s': path too long", source);
			return -EINVAL;
		}
		if (dlen == 0)
			snprintf(buf, sizeof(buf), "file:///");
		else
			snprintf(buf, sizeof(buf), "file://%.*s", (int)dlen, path);
		name = sep + 1;
		if ((rc = conf_parse_source(c, buf, m, sizeof(m))) < 0) {
			snprintf(msg, msgsz, "%s", m);
			return rc;
		}
		if (!(*vol = strdup(name)))
			return -ENOMEM;
	} else {
		if ((rc = conf_parse_source(c, source, m, sizeof(m))) < 0) {
			if (strncmp(m, "bad SOURCE", 10) == 0)
				snprintf(msg, msgsz, "bad VOLUME%s", m + 10);
			else
				snprintf(msg, msgsz, "%s", m);
			return rc;
		}
		char *slash = strrchr(c->prefix, '/');
		if (!c->prefix[0]) {
			snprintf(msg, msgsz, "VOLUME '%s' names a bucket, not a volume: use "
					     "BUCKET:PREFIX/NAME or s3://BUCKET/PREFIX/NAME", source);
			return -EINVAL;
		}
		if (slash) {
			*slash = '\0';
			*vol = strdup(slash + 1);
		} else {
			*vol = strdup(c->prefix);
			c->prefix[0] = '\0';
		}
		if (!*vol)
			return -ENOMEM;
	}
	trim_slashes(*vol);
	if ((rc = check_vol_name(*vol, m, sizeof(m))) < 0) {
		snprintf(msg, msgsz, "bad VOLUME '%s': %s", source, m);
		free(*vol);
		*vol = NULL;
		return rc;
	}
	return 0;
}

int
tools_open(struct tools_vol *tv, const char *cmd, const char *source, char **opts, size_t nopts,
	   int read_only)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char msg[1024];
	int rc, status = TOOLS_EXIT_USAGE;

	memset(tv, 0, sizeof(*tv));
	conf_init(&tv->conf);
	tv->source = source;
	if (!(tv->s3conf = s3_conf_create()) || fuse_opt_add_arg(&args, "s3blockfs") < 0)
		goto oom;
	for (size_t i = 0; i < nopts; i++)
		if (fuse_opt_add_arg(&args, "-o") < 0 || fuse_opt_add_arg(&args, opts[i]) < 0)
			goto oom;
	if (conf_parse(&tv->conf, &args) < 0 || s3_conf_parse(tv->s3conf, &args) < 0)
		goto out;
	/* What neither took is a FUSE mount option or a typo; a config file
	 * shared with the mount may well hold the former. */
	for (int i = 1; i < args.argc; i++) {
		if (strcmp(args.argv[i], "-o") == 0 && i + 1 < args.argc && !tv->conf.config) {
			tools_err(cmd, "unknown option(s) -o %s (see s3blockfs %s --help)",
				  args.argv[i + 1], cmd);
			goto out;
		}
	}
	log_set_level(tv->conf.log_level_s ? tv->conf.log_level : LOG_NOTICE);
	if (tools_parse_volume(&tv->conf, source, &tv->vol, msg, sizeof(msg)) < 0) {
		tools_err(cmd, "%s", msg);
		goto out;
	}
	status = TOOLS_EXIT_FAIL;
	msg[0] = '\0';
	if (tv->conf.backend == CONF_LOCAL)
		tv->st = local_store_create(tv->conf.local_dir, read_only, tv->conf.local_sync, msg,
					    sizeof(msg));
	else
		tv->st = s3_store_create(tv->s3conf, tv->conf.bucket, tv->conf.prefix,
					 tv->conf.connections, msg, sizeof(msg));
	if (!tv->st) {
		tools_err(cmd, "%s", msg[0] ? msg : "cannot open the store");
		goto out;
	}
	msg[0] = '\0';
	if ((rc = tv->st->ops->probe(tv->st, msg, sizeof(msg))) < 0) {
		char eb[128];
		if (msg[0])
			tools_err(cmd, "%s", msg);
		else
			tools_err(cmd, "cannot use %s: %s", source, util_strerror(-rc, eb, sizeof(eb)));
		goto out;
	}
	fuse_opt_free_args(&args);
	return 0;
oom:
	tools_err(cmd, "out of memory");
	status = TOOLS_EXIT_FAIL;
out:
	fuse_opt_free_args(&args);
	tools_close(tv);
	return status;
}

void
tools_close(struct tools_vol *tv)
{
	store_destroy(&tv->st);
	s3_conf_destroy(&tv->s3conf);
	conf_free(&tv->conf);
	free(tv->vol);
	tv->vol = NULL;
}

/* -------------------------------------------------------------- the layout */

struct scan_ctx {
	struct tools_layout *lo;
	const char *vol;
	size_t plen; /* strlen(vol) + 1 */
	uint64_t size0, expect;
	int ended;
	size_t past_cap, stray_cap;
};

static int
scan_add_past(struct scan_ctx *sc, uint64_t blk, uint64_t size)
{
	struct tools_layout *lo = sc->lo;

	if (lo->npast == sc->past_cap) {
		size_t cap = sc->past_cap ? sc->past_cap * 2 : 64;
		if (cap > TOOLS_MAX_LISTED)
			return -E2BIG;
		struct tools_blk *p = realloc(lo->past, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		lo->past = p;
		sc->past_cap = cap;
	}
	lo->past[lo->npast].blk = blk;
	lo->past[lo->npast].size = size;
	lo->npast++;
	return 0;
}

static int
scan_add_stray(struct scan_ctx *sc, const char *key, uint64_t size)
{
	struct tools_layout *lo = sc->lo;

	lo->stray_bytes += size;
	if (lo->nstray == sc->stray_cap) {
		size_t cap = sc->stray_cap ? sc->stray_cap * 2 : 16;
		if (cap > TOOLS_MAX_LISTED)
			return -E2BIG;
		char **k = realloc(lo->stray, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		lo->stray = k;
		uint64_t *s = realloc(lo->stray_size, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		lo->stray_size = s;
		sc->stray_cap = cap;
	}
	if (!(lo->stray[lo->nstray] = strdup(key)))
		return -ENOMEM;
	lo->stray_size[lo->nstray] = size;
	lo->nstray++;
	return 0;
}

static int
scan_cb(void *arg, const struct store_entry *e)
{
	struct scan_ctx *sc = arg;
	struct tools_layout *lo = sc->lo;
	char canon[PATH_MAX];
	uint64_t blk;

	if (e->is_prefix)
		return 0;
	lo->nobjects++;
	const char *name = e->key + sc->plen;
	/* Only the canonical name is a block: "%010u" of its number. */
	if (strncmp(e->key, sc->vol, sc->plen - 1) != 0 || e->key[sc->plen - 1] != '/' ||
	    strchr(name, '/') || util_parse_block_name(name, &blk) < 0 ||
	    util_block_key(canon, sizeof(canon), sc->vol, blk) < 0 || strcmp(canon, e->key) != 0)
		return scan_add_stray(sc, e->key, e->size);

	if (!sc->ended) {
		if (blk != sc->expect) {
			lo->end_why = sc->expect == 0 ? TL_END_NO_ZERO : TL_END_HOLE;
			lo->end_blk = sc->expect;
			lo->end_size = 0;
		} else if (e->size == 0) {
			lo->end_why = TL_END_EMPTY;
			lo->end_blk = blk;
			lo->end_size = 0;
		} else if (blk == 0) {
			sc->size0 = e->size;
			lo->nblocks = 1;
			lo->last_size = e->size;
			sc->expect = 1;
			return 0;
		} else if (lo->last_size < sc->size0) {
			lo->end_why = TL_END_SHORT;
			lo->end_blk = blk;
			lo->end_size = lo->last_size;
		} else if (e->size > sc->size0) {
			lo->end_why = TL_END_LONG;
			lo->end_blk = blk;
			lo->end_size = e->size;
		} else {
			lo->nblocks++;
			lo->last_size = e->size;
			sc->expect++;
			return 0;
		}
		sc->ended = 1;
	}
	return scan_add_past(sc, blk, e->size);
}

void
tools_layout_free(struct tools_layout *lo)
{
	for (size_t i = 0; i < lo->nstray; i++)
		free(lo->stray[i]);
	free(lo->stray);
	free(lo->stray_size);
	free(lo->past);
	memset(lo, 0, sizeof(*lo));
}

int
tools_layout_scan(struct store *st, const char *vol, uint32_t default_bs, struct tools_layout *lo)
{
	struct scan_ctx sc = {.lo = lo, .vol = vol, .plen = strlen(vol) + 1};
	char prefix[PATH_MAX];
	int rc;

	memset(lo, 0, sizeof(*lo));
	if ((size_t)snprintf(prefix, sizeof(prefix), "%s/", vol) >= sizeof(prefix))
		return -ENAMETOOLONG;
	if ((rc = store_list(st, prefix, NULL, NULL, 0, scan_cb, &sc)) < 0) {
		tools_layout_free(lo);
		return rc;
	}
	lo->bs = lo->nblocks >= 2 ? (uint32_t)UTIL_MIN(sc.size0, (uint64_t)UINT32_MAX) : default_bs;
	lo->size = lo->nblocks ? (lo->nblocks - 1) * sc.size0 + lo->last_size : 0;
	/* No block 0, or one of 0 bytes: no volume at all, only debris. */
	if (lo->nblocks == 0 && lo->npast)
		lo->end_why = TL_END_NO_ZERO;
	return 0;
}

void
tools_layout_why(const struct tools_layout *lo, char *buf, size_t bufsz)
{
	uint64_t first = lo->npast ? lo->past[0].blk : 0;
	uint64_t last = lo->npast ? lo->past[lo->npast - 1].blk : 0;
	char past[160];

	snprintf(past, sizeof(past), "%zu block object(s) (%010" PRIu64 "..%010" PRIu64 ") lie past it",
		 lo->npast, first, last);
	switch (lo->end_why) {
	case TL_END_NONE:
		buf[0] = '\0';
		break;
	case TL_END_NO_ZERO:
		if (lo->npast && lo->past[0].blk == 0)
			snprintf(buf, bufsz, "block 0000000000 is empty, so the volume does not exist; "
					     "%zu block object(s) remain under it", lo->npast);
		else
			snprintf(buf, bufsz, "block 0000000000 is missing, so the volume does not exist; "
					     "%zu block object(s) (%010" PRIu64 "..%010" PRIu64 ") remain "
					     "under it (left by an interrupted import or delete)",
				 lo->npast, first, last);
		break;
	case TL_END_HOLE:
		snprintf(buf, bufsz, "block %010" PRIu64 " is missing: the file ends before it, at "
				     "%" PRIu64 " bytes, and %s", lo->end_blk, lo->size, past);
		break;
	case TL_END_SHORT:
		snprintf(buf, bufsz, "block %010" PRIu64 " has %" PRIu64 " bytes, less than the block "
				     "size %u, but is not the last: the file ends with it, at %" PRIu64
				     " bytes, and %s", lo->end_blk - 1, lo->end_size, lo->bs, lo->size, past);
		break;
	case TL_END_EMPTY:
		snprintf(buf, bufsz, "block %010" PRIu64 " is an empty object: the file ends before "
				     "it, at %" PRIu64 " bytes, and %s", lo->end_blk, lo->size, past);
		break;
	case TL_END_LONG:
		snprintf(buf, bufsz, "block %010" PRIu64 " has %" PRIu64 " bytes, more than the block "
				     "size %u (the size of block 0): the file ends before it, at "
				     "%" PRIu64 " bytes, and %s", lo->end_blk, lo->end_size, lo->bs,
			 lo->size, past);
		break;
	}
}

int
tools_side_check(struct store *st, const char *vol, const char *suffix, struct tools_side *out)
{
	char side[PATH_MAX], key[PATH_MAX];
	unsigned char first = 0;
	size_t got = 0;
	uint64_t size;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((size_t)snprintf(side, sizeof(side), "%s%s", vol, suffix) >= sizeof(side) ||
	    (rc = util_block_key(key, sizeof(key), side, 0)) < 0)
		return -ENAMETOOLONG;
	rc = store_head(st, key, &size, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	out->exists = 1;
	struct tools_layout lo;
	if ((rc = tools_layout_scan(st, side, 4096, &lo)) < 0)
		return rc;
	out->size = lo.size ? lo.size : size;
	tools_layout_free(&lo);
	/* SQLite rolls a journal back when its first byte is not 0 (a
	 * zeroed header is a finished transaction in PERSIST mode). */
	if ((rc = store_get(st, key, 0, 1, &first, &got)) < 0 && rc != -ENOENT)
		return rc;
	out->hot = got == 1 && first != 0;
	return 0;
}

/* ------------------------------------------------------------- deleting */

static int
blk_desc(const void *a, const void *b)
{
	const struct tools_blk *x = a, *y = b;

	return x->blk < y->blk ? 1 : x->blk > y->blk ? -1 : 0;
}

int
tools_delete_blocks(struct store *st, const char *vol, const struct tools_blk *b, size_t n)
{
	struct tools_blk *sorted = NULL;
	char **keys = NULL;
	size_t nk = 0;
	int rc = -ENOMEM;

	if (n == 0)
		return 0;
	if (!(sorted = malloc(n * sizeof(*sorted))) ||
	    !(keys = calloc(TOOLS_DEL_BATCH, sizeof(*keys))))
		goto out;
	memcpy(sorted, b, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), blk_desc);
	for (size_t i = 0; i < n; i++) {
		char key[PATH_MAX];
		if ((rc = util_block_key(key, sizeof(key), vol, sorted[i].blk)) < 0)
			goto out;
		if (!(keys[nk++] = strdup(key))) {
			rc = -ENOMEM;
			goto out;
		}
		if (nk == TOOLS_DEL_BATCH || i + 1 == n) {
			if ((rc = store_del(st, (const char *const *)keys, nk)) < 0)
				goto out;
			for (size_t j = 0; j < nk; j++) {
				free(keys[j]);
				keys[j] = NULL;
			}
			nk = 0;
		}
	}
	rc = 0;
out:
	for (size_t j = 0; keys && j < nk; j++)
		free(keys[j]);
	free(keys);
	free(sorted);
	return rc;
}

static int
delete_keys(struct store *st, char **keys, size_t n)
{
	for (size_t i = 0; i < n; i += TOOLS_DEL_BATCH) {
		size_t nb = UTIL_MIN(n - i, (size_t)TOOLS_DEL_BATCH);
		int rc = store_del(st, (const char *const *)(keys + i), nb);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
tools_delete_volume(struct store *st, const char *vol, uint32_t default_bs, int with_stray,
		    uint64_t *ndeleted)
{
	struct tools_layout lo;
	struct tools_blk *all = NULL;
	char key[PATH_MAX];
	const char *k0 = key;
	int rc;

	if (ndeleted)
		*ndeleted = 0;
	if ((rc = tools_layout_scan(st, vol, default_bs, &lo)) < 0)
		return rc;
	size_t n = 0;
	if (lo.nblocks) {
		/* Block 0 first: once it is gone the volume is gone, whatever
		 * happens to the rest. */
		if ((rc = util_block_key(key, sizeof(key), vol, 0)) < 0 ||
		    (rc = store_del(st, &k0, 1)) < 0)
			goto out;
		n = 1;
	}
	size_t nall = (lo.nblocks ? lo.nblocks - 1 : 0) + lo.npast;
	if (nall) {
		if (!(all = malloc(nall * sizeof(*all)))) {
			rc = -ENOMEM;
			goto out;
		}
		size_t j = 0;
		for (uint64_t b = 1; b < lo.nblocks; b++)
			all[j++] = (struct tools_blk){.blk = b};
		memcpy(all + j, lo.past, lo.npast * sizeof(*all));
		if ((rc = tools_delete_blocks(st, vol, all, nall)) < 0)
			goto out;
		n += nall;
	}
	if (with_stray && lo.nstray) {
		if ((rc = delete_keys(st, lo.stray, lo.nstray)) < 0)
			goto out;
		n += lo.nstray;
	}
	rc = 0;
out:
	if (ndeleted)
		*ndeleted = n;
	free(all);
	tools_layout_free(&lo);
	return rc;
}

/* ------------------------------------------------------------- progress */

void
tools_progress_init(struct tools_progress *p, const char *what, uint64_t total, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->t0_ms = p->last_ms = util_now_ms();
	p->tty = isatty(STDERR_FILENO);
	p->quiet = quiet;
}

void
tools_progress_add(struct tools_progress *p, uint64_t n)
{
	if (p)
		__atomic_fetch_add(&p->done, n, __ATOMIC_RELAXED);
}

void
tools_progress_clear(struct tools_progress *p)
{
	if (p && p->drawn) {
		fputs("\r\033[K", stderr);
		p->drawn = 0;
	}
}

void
tools_progress_show(struct tools_progress *p, int force, int final)
{
	char line[256], d[32], t[32], r[32];
	uint64_t now = util_now_ms();

	if (!p || p->quiet)
		return;
	if (!force && !final && now - p->last_ms < (p->tty ? 200u : 10000u))
		return;
	p->last_ms = now;
	uint64_t done = __atomic_load_n(&p->done, __ATOMIC_RELAXED);
	uint64_t ms = now - p->t0_ms;
	uint64_t rate = ms ? done * 1000 / ms : 0;
	tools_human_bytes(done, d, sizeof(d));
	tools_human_bytes(p->total, t, sizeof(t));
	tools_human_bytes(rate, r, sizeof(r));
	if (final) {
		snprintf(line, sizeof(line), "%s: %s in %.1f s (%s/s)", p->what, d, (double)ms / 1000,
			 r);
	} else {
		unsigned pct = p->total ? (unsigned)(done * 100 / p->total) : 100;
		char eta[32] = "?";
		if (rate && p->total >= done) {
			uint64_t s = (p->total - done) / rate;
			snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
		}
		snprintf(line, sizeof(line), "%s: %s of %s (%u%%), %s/s, ETA %s", p->what, d, t, pct,
			 r, eta);
	}
	if (p->tty) {
		fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
		p->drawn = !final;
	} else {
		fprintf(stderr, "%s\n", line);
	}
	fflush(stderr);
}

/* ------------------------------------------------------------ the pool */

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a worker finished */
	uint64_t next, end;
	int err;
	uint64_t failed_job;
	unsigned running;
	size_t bufsz;
	tools_job_fn fn;
	void *arg;
};

static void
pool_fail(struct pool *p, int rc, uint64_t job)
{
	CHECK_PTHREAD(pthread_mutex_lock(&p->mu));
	if (!p->err) {
		p->err = rc;
		p->failed_job = job;
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&p->mu));
}

static void *
pool_worker(void *arg)
{
	struct pool *p = arg;
	void *buf = malloc(p->bufsz);

	if (!buf)
		pool_fail(p, -ENOMEM, 0);
	for (;;) {
		CHECK_PTHREAD(pthread_mutex_lock(&p->mu));
		if (!buf || p->err || p->next >= p->end) {
			p->running--;
			CHECK_PTHREAD(pthread_cond_signal(&p->cv));
			CHECK_PTHREAD(pthread_mutex_unlock(&p->mu));
			break;
		}
		uint64_t job = p->next++;
		CHECK_PTHREAD(pthread_mutex_unlock(&p->mu));
		int rc = p->fn(p->arg, job, buf);
		if (rc < 0)
			pool_fail(p, rc, job);
	}
	free(buf);
	return NULL;
}

unsigned
tools_pool_threads(unsigned connections, size_t bufsz, uint64_t njobs)
{
	uint64_t n = connections ? connections : 1;
	uint64_t by_mem = bufsz ? TOOLS_POOL_BYTES / bufsz : n;

	n = UTIL_MIN(n, UTIL_MAX(by_mem, (uint64_t)1));
	n = UTIL_MIN(n, UTIL_MAX(njobs, (uint64_t)1));
	return (unsigned)n;
}

int
tools_pool_run(unsigned nthreads, uint64_t first, uint64_t njobs, size_t bufsz, tools_job_fn fn,
	       void *arg, struct tools_progress *pg, uint64_t *failed_job)
{
	struct pool p = {.next = first, .end = first + njobs, .bufsz = bufsz, .fn = fn, .arg = arg};
	pthread_t *tids;
	unsigned started = 0;
	int rc;

	if (njobs == 0)
		return 0;
	if (nthreads == 0)
		nthreads = 1;
	if (!(tids = calloc(nthreads, sizeof(*tids))))
		return -ENOMEM;
	CHECK_PTHREAD(pthread_mutex_init(&p.mu, NULL));
	if ((rc = util_cond_init(&p.cv)) < 0) {
		CHECK_PTHREAD(pthread_mutex_destroy(&p.mu));
		free(tids);
		return rc;
	}
	CHECK_PTHREAD(pthread_mutex_lock(&p.mu));
	for (unsigned i = 0; i < nthreads; i++) {
		p.running++;
		if (pthread_create(&tids[i], NULL, pool_worker, &p) != 0) {
			p.running--;
			break;
		}
		started++;
	}
	if (started == 0)
		p.err = -EAGAIN;
	while (p.running > 0) {
		struct timespec ts;
		util_deadline(&ts, 100);
		int wrc = pthread_cond_timedwait(&p.cv, &p.mu, &ts);
		if (wrc != 0 && wrc != ETIMEDOUT)
			util_pthread_fail("pthread_cond_timedwait", wrc, __FILE__, __LINE__);
		CHECK_PTHREAD(pthread_mutex_unlock(&p.mu));
		tools_progress_show(pg, 0, 0);
		CHECK_PTHREAD(pthread_mutex_lock(&p.mu));
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&p.mu));
	for (unsigned i = 0; i < started; i++)
		CHECK_PTHREAD(pthread_join(tids[i], NULL));
	if (failed_job)
		*failed_job = p.failed_job;
	rc = p.err;
	CHECK_PTHREAD(pthread_cond_destroy(&p.cv));
	CHECK_PTHREAD(pthread_mutex_destroy(&p.mu));
	free(tids);
	return rc;
}
