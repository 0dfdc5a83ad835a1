/*
 * s3tool.c - drives the S3 store (src/s3.c + src/retry.c) from the command
 * line, for development and for the integration tests against a loopback
 * S3 server.
 *
 *   s3tool [-o OPTS] [-j N] [-v] BUCKET[:PREFIX] COMMAND [ARGS]
 *     probe
 *     put KEY FILE|-          get KEY [OFF LEN] (to stdout)      head KEY
 *     del KEY...              copy SRC DST
 *     list [PREFIX [DELIM [START_AFTER [MAX]]]]
 *     selftest                every call, odd keys, ranges, paging, big
 *                             deletes, copies; exit 0 only if all pass
 * -o takes the mount's S3 options (endpoint=, region=, credentials=, ...);
 * credentials also come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
 * -j: connections (default 16).  -v: debug log.
 * -N: s3rver quirks: skip keys with empty or dot path segments ("a//b",
 * "a/./b", "a/../b"), which s3rver mangles (it normalizes request paths;
 * AWS and Ceph RGW keep them), and after the 5 MiB PUT wait until HEAD
 * shows its full size (s3rver acknowledges a PUT before its file is fully
 * written, so an immediate GET may see a shorter object).
 * Exit: 0 ok, 1 failure (message on stderr), 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log.h"
#include "s3.h"
#include "store.h"
#include "util.h"

#define MAX_FILE (64u << 20)

static int
usage(void)
{
	fprintf(stderr, "usage: s3tool [-o OPTS] [-j N] [-v] BUCKET[:PREFIX] "
	                "probe|put|get|head|del|copy|list|selftest [ARGS]\n");
	s3_conf_help(stderr);
	return 2;
}

static int
fail(const char *what, int rc)
{
	char eb[128];

	fprintf(stderr, "s3tool: %s: %s (%d)\n", what, util_strerror(-rc, eb, sizeof(eb)), rc);
	return 1;
}

static int
print_entry(void *arg, const struct store_entry *e)
{
	if (e->is_prefix)
		printf("PRE %s\n", e->key);
	else
		printf("%12" PRIu64 " %10lld %s\n", e->size, (long long)e->mtime, e->key);
	return 0;
}

static int
read_all(const char *path, char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 65536, n = 0;
	char *b;

	if (f == NULL)
		return -errno;
	if ((b = malloc(cap)) == NULL) {
		if (f != stdin)
			fclose(f);
		return -ENOMEM;
	}
	for (;;) {
		if (n == cap) {
			char *nb = cap < MAX_FILE ? realloc(b, cap * 2) : NULL;
			if (nb == NULL) {
				free(b);
				if (f != stdin)
					fclose(f);
				return cap < MAX_FILE ? -ENOMEM : -EFBIG;
			}
			cap *= 2;
			b = nb;
		}
		size_t r = fread(b + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	if (f != stdin)
		fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

/* ------------------------------------------------------------ selftest */

static int failures;
static int s3rver_quirks;
static char tp[128]; /* the test's own prefix under the store's root */

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __func__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static void
key_of(char *out, size_t sz, const char *rel)
{
	snprintf(out, sz, "%s%s", tp, rel);
}

/* store_put(); with -N also waits until HEAD shows the new size (s3rver
 * acknowledges a PUT before its file is written). */
static int
put(struct store *st, const char *key, const void *buf, size_t len)
{
	uint64_t size;
	int rc = store_put(st, key, buf, len);

	for (int i = 0; rc == 0 && s3rver_quirks && i < 100; i++) {
		if (store_head(st, key, &size, NULL) == 0 && size == len)
			break;
		usleep(20000);
	}
	return rc;
}

static void
fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)((i * 131u + seed * 7u + (i >> 8)) & 0xff);
}

struct names {
	char **v;
	size_t n, cap;
	size_t prefixes;
};

static int
collect(void *arg, const struct store_entry *e)
{
	struct names *nm = arg;

	if (nm->n == nm->cap) {
		nm->cap = nm->cap ? nm->cap * 2 : 64;
		char **nv = realloc(nm->v, nm->cap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		nm->v = nv;
	}
	if ((nm->v[nm->n] = strdup(e->key)) == NULL)
		return -ENOMEM;
	nm->n++;
	nm->prefixes += e->is_prefix != 0;
	return 0;
}

static void
names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
	memset(nm, 0, sizeof(*nm));
}

static const char *const all_odd_keys[] = {
    "plain",
    "sp ace",
    "plus+sign",
    "per%cent",
    "per%20cent-literal",
    "amp&ersand=eq;semi",
    "tilde~under_score-dash.dot",
    "unicod\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80",
    "q?mark#hash",
    "quote'dq\"",
    "lt<gt>",
    "brace{}[]()!*@$,:",
    "caret^back`pipe|bs\\",
    "dot/./seg",
    "dot/../seg",
    "double//slash",
    "trailing.",
    "tab\tnl\ncr\r",
};

static void
test_odd_keys(struct store *st)
{
	const char *odd[sizeof(all_odd_keys) / sizeof(all_odd_keys[0])] = {0};
	size_t nk = 0;
	unsigned char buf[600], back[700];
	char key[512];
	size_t got;
	int rc;

	for (size_t i = 0; i < sizeof(all_odd_keys) / sizeof(all_odd_keys[0]); i++) {
		const char *k = all_odd_keys[i];
		if (!s3rver_quirks || (!strstr(k, "//") && !strstr(k, "/./") && !strstr(k, "/../")))
			odd[nk++] = k;
	}
	for (size_t i = 0; i < nk; i++) {
		key_of(key, sizeof(key), "odd/");
		strncat(key, odd[i], sizeof(key) - strlen(key) - 1);
		fill(buf, 100 + i, (unsigned)i);
		rc = put(st, key, buf, 100 + i);
		CHECK(rc == 0, "put '%s': %d", odd[i], rc);
		uint64_t size = 0;
		time_t mt = 0;
		rc = store_head(st, key, &size, &mt);
		CHECK(rc == 0 && size == 100 + i && mt > 0, "head '%s': %d size %" PRIu64, odd[i],
		      rc, size);
		memset(back, 0, sizeof(back));
		rc = store_get(st, key, 0, sizeof(back), back, &got);
		CHECK(rc == 0 && got == 100 + i && memcmp(buf, back, got) == 0,
		      "get '%s': %d got %zu", odd[i], rc, got);
		rc = store_get(st, key, 10, 20, back, &got);
		CHECK(rc == 0 && got == 20 && memcmp(buf + 10, back, 20) == 0,
		      "get range '%s': %d got %zu", odd[i], rc, got);
		/* listing the key itself as prefix finds exactly it */
		struct names nm = {0};
		rc = store_list(st, key, NULL, NULL, 0, collect, &nm);
		CHECK(rc == 0 && nm.n >= 1 && strcmp(nm.v[0], key) == 0, "list '%s': %d n %zu",
		      odd[i], rc, nm.n);
		names_free(&nm);
	}
	/* one listing of them all: every name round-trips, in byte order */
	struct names nm = {0};
	key_of(key, sizeof(key), "odd/");
	rc = store_list(st, key, NULL, NULL, 0, collect, &nm);
	CHECK(rc == 0 && nm.n == nk, "list odd: %d n %zu (want %zu)", rc, nm.n, nk);
	for (size_t i = 0; rc == 0 && i < nm.n; i++) {
		int found = 0;
		for (size_t j = 0; j < nk; j++) {
			char want[512];
			snprintf(want, sizeof(want), "%sodd/%s", tp, odd[j]);
			found |= strcmp(want, nm.v[i]) == 0;
		}
		CHECK(found, "listed unknown key '%s'", nm.v[i]);
		if (i > 0)
			CHECK(strcmp(nm.v[i - 1], nm.v[i]) < 0, "out of order: '%s' '%s'",
			      nm.v[i - 1], nm.v[i]);
	}
	/* copies between odd names */
	char dst[512];
	key_of(key, sizeof(key), "odd/sp ace");
	key_of(dst, sizeof(dst), "copy/+odd key&%\xc3\xa9~");
	rc = store_copy(st, key, dst);
	CHECK(rc == 0, "copy: %d", rc);
	rc = store_get(st, dst, 0, sizeof(back), back, &got);
	fill(buf, 101, 1);
	CHECK(rc == 0 && got == 101 && memcmp(buf, back, got) == 0, "get copy: %d got %zu", rc,
	      got);
	key_of(key, sizeof(key), "odd/no such key");
	rc = store_copy(st, key, dst);
	CHECK(rc == -ENOENT, "copy of a missing key: %d", rc);
	/* delete them all in one batch: odd names in DeleteObjects XML */
	const char *keys[64];
	char kbuf[64][512];
	for (size_t i = 0; i < nm.n && i < 63; i++) {
		snprintf(kbuf[i], sizeof(kbuf[i]), "%s", nm.v[i]);
		keys[i] = kbuf[i];
	}
	size_t nd = UTIL_MIN(nm.n, (size_t)63);
	snprintf(kbuf[nd], sizeof(kbuf[nd]), "%s", dst);
	keys[nd] = kbuf[nd];
	rc = store_del(st, keys, nd + 1);
	CHECK(rc == 0, "delete odd keys: %d", rc);
	names_free(&nm);
	key_of(key, sizeof(key), "");
	rc = store_list(st, key, NULL, NULL, 0, collect, &nm);
	CHECK(rc == 0 && nm.n == 0, "after delete: %d, %zu left (first '%s')", rc, nm.n,
	      nm.n ? nm.v[0] : "");
	names_free(&nm);
}

static void
test_ranges(struct store *st)
{
	static unsigned char buf[10000], back[5000];
	char key[256];
	size_t got = 12345;
	uint64_t size;
	int rc;

	key_of(key, sizeof(key), "r/obj");
	fill(buf, sizeof(buf), 99);
	rc = put(st, key, buf, sizeof(buf));
	CHECK(rc == 0, "put: %d", rc);
	for (uint64_t off = 0; off < 12000; off += 4096) {
		rc = store_get(st, key, off, 4096, back, &got);
		size_t want = off >= 10000 ? 0 : UTIL_MIN(4096, 10000 - off);
		CHECK(rc == 0 && got == want && memcmp(back, buf + off, got) == 0,
		      "get %" PRIu64 "+4096: %d got %zu want %zu", off, rc, got, want);
	}
	rc = store_get(st, key, 9999, 1, back, &got);
	CHECK(rc == 0 && got == 1 && back[0] == buf[9999], "last byte: %d %zu", rc, got);
	rc = store_get(st, key, 10000, 1, back, &got);
	CHECK(rc == 0 && got == 0, "at end: %d %zu", rc, got);
	rc = store_get(st, key, 1u << 30, 4096, back, &got);
	CHECK(rc == 0 && got == 0, "far past end: %d %zu", rc, got);
	rc = store_get(st, key, 5, 0, back, &got);
	CHECK(rc == 0 && got == 0, "len 0: %d %zu", rc, got);
	key_of(key, sizeof(key), "r/missing");
	rc = store_get(st, key, 0, 10, back, &got);
	CHECK(rc == -ENOENT, "missing get: %d", rc);
	rc = store_get(st, key, 0, 0, back, &got);
	CHECK(rc == -ENOENT, "missing get len 0: %d", rc);
	rc = store_head(st, key, &size, NULL);
	CHECK(rc == -ENOENT, "missing head: %d", rc);
	const char *one[] = {key};
	rc = store_del(st, one, 1);
	CHECK(rc == 0, "delete missing: %d", rc);
	/* empty object */
	key_of(key, sizeof(key), "r/empty");
	rc = put(st, key, "", 0);
	CHECK(rc == 0, "put empty: %d", rc);
	rc = store_head(st, key, &size, NULL);
	CHECK(rc == 0 && size == 0, "head empty: %d %" PRIu64, rc, size);
	rc = store_get(st, key, 0, 4096, back, &got);
	CHECK(rc == 0 && got == 0, "get empty: %d %zu", rc, got);
	/* overwrite with a shorter object */
	key_of(key, sizeof(key), "r/obj");
	rc = put(st, key, buf + 1, 3000);
	CHECK(rc == 0, "overwrite: %d", rc);
	rc = store_get(st, key, 0, 4096, back, &got);
	CHECK(rc == 0 && got == 3000 && memcmp(back, buf + 1, 3000) == 0, "reread: %d %zu", rc,
	      got);
	/* a big object and a big range */
	size_t big = 5u << 20;
	unsigned char *bb = malloc(big), *bk = malloc(big);
	if (bb && bk) {
		fill(bb, big, 5);
		key_of(key, sizeof(key), "r/big");
		rc = put(st, key, bb, big);
		CHECK(rc == 0, "put 5 MiB: %d", rc);
		rc = store_get(st, key, 0, big, bk, &got);
		CHECK(rc == 0 && got == big && memcmp(bb, bk, big) == 0, "get 5 MiB: %d %zu", rc,
		      got);
		rc = store_get(st, key, 1234567, 1000000, bk, &got);
		CHECK(rc == 0 && got == 1000000 && memcmp(bb + 1234567, bk, got) == 0,
		      "get 1 MB inside: %d %zu", rc, got);
	}
	free(bb);
	free(bk);
	const char *dk[3];
	char k1[256], k2[256], k3[256];
	key_of(k1, sizeof(k1), "r/obj");
	key_of(k2, sizeof(k2), "r/empty");
	key_of(k3, sizeof(k3), "r/big");
	dk[0] = k1;
	dk[1] = k2;
	dk[2] = k3;
	rc = store_del(st, dk, 3);
	CHECK(rc == 0, "delete: %d", rc);
}

struct putjob {
	struct store *st;
	unsigned from, to, step;
	int rc;
};

static void *
put_worker(void *arg)
{
	struct putjob *j = arg;
	char key[256], rel[64];
	unsigned char b[64];

	for (unsigned i = j->from; i < j->to && j->rc == 0; i += j->step) {
		snprintf(rel, sizeof(rel), "p/%s/%05u", i % 10 == 9 ? "sub" : "top", i);
		key_of(key, sizeof(key), rel);
		fill(b, sizeof(b), i);
		j->rc = store_put(j->st, key, b, (size_t)(i % 64));
	}
	return NULL;
}

static void
test_paging(struct store *st, unsigned threads)
{
	const unsigned total = 2500;
	struct putjob jobs[64];
	pthread_t th[64];
	char key[256], after[256];
	int rc;

	threads = UTIL_MAX(1u, UTIL_MIN(threads, 64u));
	uint64_t t0 = util_now_ms();
	for (unsigned t = 0; t < threads; t++) {
		jobs[t] = (struct putjob){.st = st, .from = t, .to = total, .step = threads};
		CHECK_PTHREAD(pthread_create(&th[t], NULL, put_worker, &jobs[t]));
	}
	for (unsigned t = 0; t < threads; t++) {
		CHECK_PTHREAD(pthread_join(th[t], NULL));
		CHECK(jobs[t].rc == 0, "parallel put: %d", jobs[t].rc);
	}
	fprintf(stderr, "s3tool: %u PUTs with %u threads in %" PRIu64 " ms\n", total, threads,
	        util_now_ms() - t0);

	/* recursive: every key once, in order, across 3 pages */
	struct names nm = {0};
	key_of(key, sizeof(key), "p/");
	rc = store_list(st, key, NULL, NULL, 0, collect, &nm);
	CHECK(rc == 0 && nm.n == total && nm.prefixes == 0, "list all: %d n %zu", rc, nm.n);
	for (size_t i = 1; i < nm.n; i++)
		CHECK(strcmp(nm.v[i - 1], nm.v[i]) < 0, "order at %zu", i);
	names_free(&nm);
	/* max_keys over a page boundary */
	rc = store_list(st, key, NULL, NULL, 1234, collect, &nm);
	CHECK(rc == 0 && nm.n == 1234, "list max 1234: %d n %zu", rc, nm.n);
	names_free(&nm);
	/* start_after */
	key_of(after, sizeof(after), "p/top/01000");
	rc = store_list(st, key, NULL, after, 0, collect, &nm);
	/* sub: 250 keys sort before top; top keys > 01000: 2250 top keys,
	 * those numbered above 1000 and not ending in 9 */
	size_t want = 0;
	for (unsigned i = 1001; i < total; i++)
		want += i % 10 != 9;
	CHECK(rc == 0 && nm.n == want, "list start_after: %d n %zu want %zu", rc, nm.n, want);
	if (nm.n)
		CHECK(strcmp(nm.v[0], after) > 0, "first after start_after: %s", nm.v[0]);
	names_free(&nm);
	/* delimiter: two common prefixes under p/ */
	rc = store_list(st, key, "/", NULL, 0, collect, &nm);
	CHECK(rc == 0 && nm.n == 2 && nm.prefixes == 2, "list delimiter: %d n %zu", rc, nm.n);
	if (rc == 0 && nm.n == 2) {
		char w0[256], w1[256];
		key_of(w0, sizeof(w0), "p/sub/");
		key_of(w1, sizeof(w1), "p/top/");
		CHECK(strcmp(nm.v[0], w0) == 0 && strcmp(nm.v[1], w1) == 0, "prefixes %s %s",
		      nm.v[0], nm.v[1]);
	}
	names_free(&nm);
	/* delimiter over pages: tp has "p/" only */
	key_of(key, sizeof(key), "p/top/");
	rc = store_list(st, key, "/", NULL, 0, collect, &nm);
	CHECK(rc == 0 && nm.n == 2250 && nm.prefixes == 0, "list top/: %d n %zu", rc, nm.n);
	/* delete them all at once: 3 DeleteObjects batches */
	key_of(key, sizeof(key), "p/");
	names_free(&nm);
	rc = store_list(st, key, NULL, NULL, 0, collect, &nm);
	t0 = util_now_ms();
	rc = store_del(st, (const char *const *)nm.v, nm.n);
	CHECK(rc == 0, "delete %zu: %d", nm.n, rc);
	fprintf(stderr, "s3tool: deleted %zu keys in %" PRIu64 " ms\n", nm.n, util_now_ms() - t0);
	names_free(&nm);
	rc = store_list(st, key, NULL, NULL, 0, collect, &nm);
	CHECK(rc == 0 && nm.n == 0, "after delete: %d n %zu", rc, nm.n);
	names_free(&nm);
}

static int
selftest(struct store *st, unsigned threads)
{
	char msg[512] = "";
	int rc;

	snprintf(tp, sizeof(tp), "s3tool-selftest-%ld-%04x/", (long)getpid(),
	         (unsigned)(util_rand64() & 0xffff));
	rc = st->ops->probe(st, msg, sizeof(msg));
	CHECK(rc == 0, "probe: %d %s", rc, msg);
	test_ranges(st);
	test_odd_keys(st);
	test_paging(st, threads);
	struct store_stats s = {0};
	store_get_stats(st, &s);
	fprintf(stderr,
	        "s3tool: stats: %" PRIu64 " GET %" PRIu64 " PUT %" PRIu64 " HEAD %" PRIu64
	        " DELETE %" PRIu64 " LIST %" PRIu64 " COPY, %" PRIu64 " B up %" PRIu64
	        " B down, %" PRIu64 " retries %" PRIu64 " errors\n",
	        s.gets, s.puts, s.heads, s.deletes, s.lists, s.copies, s.bytes_up, s.bytes_down,
	        s.retries, s.errors);
	fprintf(stderr, "s3tool: selftest %s (%d failures)\n", failures ? "FAILED" : "passed",
	        failures);
	return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct s3_conf *conf = NULL;
	struct store *st = NULL;
	unsigned threads = 16;
	char msg[512] = "";
	int opt, rc = 2;

	log_set_level(LOG_NOTICE);
	if (fuse_opt_add_arg(&args, "s3tool") != 0)
		return 1;
	while ((opt = getopt(argc, argv, "o:j:vNh")) != -1) {
		uint64_t v;
		switch (opt) {
		case 'o':
			if (fuse_opt_add_arg(&args, "-o") != 0 ||
			    fuse_opt_add_arg(&args, optarg) != 0)
				return 1;
			break;
		case 'j':
			if (util_parse_u64(optarg, &v) < 0 || v == 0 || v > 64)
				return usage();
			threads = (unsigned)v;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'N':
			s3rver_quirks = 1;
			break;
		default:
			return usage();
		}
	}
	if (argc - optind < 2)
		return usage();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((conf = s3_conf_create()) == NULL)
		goto out;
	if (s3_conf_parse(conf, &args) < 0)
		goto out;
	if (args.argc > 1) {
		fprintf(stderr, "s3tool: unknown option %s\n", args.argv[1]);
		goto out;
	}
	char *bucket = strdup(argv[optind]);
	if (bucket == NULL)
		goto out;
	char *colon = strchr(bucket, ':');
	const char *prefix = "";
	if (colon) {
		*colon = '\0';
		prefix = colon + 1;
	}
	st = s3_store_create(conf, bucket, prefix, threads, msg, sizeof(msg));
	free(bucket);
	if (st == NULL) {
		fprintf(stderr, "s3tool: %s\n", msg);
		rc = 1;
		goto out;
	}

	const char *cmd = argv[optind + 1];
	char **a = argv + optind + 2;
	int na = argc - optind - 2;
	rc = 1;
	if (strcmp(cmd, "probe") == 0) {
		int r = st->ops->probe(st, msg, sizeof(msg));
		if (r < 0)
			fprintf(stderr, "s3tool: %s (%d)\n", msg, r);
		else
			printf("ok\n");
		rc = r < 0;
	} else if (strcmp(cmd, "put") == 0 && na == 2) {
		char *buf = NULL;
		size_t len = 0;
		int r = read_all(a[1], &buf, &len);
		if (r < 0) {
			rc = fail(a[1], r);
		} else {
			r = store_put(st, a[0], buf, len);
			free(buf);
			rc = r < 0 ? fail("put", r) : 0;
		}
	} else if (strcmp(cmd, "get") == 0 && (na == 1 || na == 3)) {
		uint64_t off = 0, len = MAX_FILE;
		if (na == 3 && (util_parse_u64(a[1], &off) < 0 || util_parse_u64(a[2], &len) < 0 ||
		                len > MAX_FILE)) {
			rc = usage();
			goto out;
		}
		char *buf = malloc(len ? len : 1);
		size_t got = 0;
		int r = buf ? store_get(st, a[0], off, len, buf, &got) : -ENOMEM;
		if (r == 0)
			fwrite(buf, 1, got, stdout);
		free(buf);
		rc = r < 0 ? fail("get", r) : 0;
	} else if (strcmp(cmd, "head") == 0 && na == 1) {
		uint64_t size;
		time_t mt;
		int r = store_head(st, a[0], &size, &mt);
		if (r == 0)
			printf("%" PRIu64 " %lld\n", size, (long long)mt);
		rc = r < 0 ? fail("head", r) : 0;
	} else if (strcmp(cmd, "del") == 0 && na >= 1) {
		int r = store_del(st, (const char *const *)a, (size_t)na);
		rc = r < 0 ? fail("del", r) : 0;
	} else if (strcmp(cmd, "copy") == 0 && na == 2) {
		int r = store_copy(st, a[0], a[1]);
		rc = r < 0 ? fail("copy", r) : 0;
	} else if (strcmp(cmd, "list") == 0 && na <= 4) {
		uint64_t max = 0;
		if (na == 4 && util_parse_u64(a[3], &max) < 0) {
			rc = usage();
			goto out;
		}
		int r = store_list(st, na > 0 ? a[0] : "", na > 1 && a[1][0] ? a[1] : NULL,
		                   na > 2 && a[2][0] ? a[2] : NULL, (size_t)max, print_entry, NULL);
		rc = r < 0 ? fail("list", r) : 0;
	} else if (strcmp(cmd, "selftest") == 0 && na == 0) {
		rc = selftest(st, threads);
	} else {
		rc = usage();
	}
out:
	store_destroy(&st);
	s3_conf_destroy(&conf);
	fuse_opt_free_args(&args);
	curl_global_cleanup();
	return rc;
}
