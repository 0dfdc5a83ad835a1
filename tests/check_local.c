/*
 * check_local.c - unit tests of the local directory backend (src/local.c)
 * on a fresh mkdtemp directory per test: object semantics (ranges, atomic
 * replace, deletes that prune directories), S3-like listings (byte order,
 * common prefixes, start_after, max_keys), the hidden .s3blockfs directory,
 * key checks, read-only mode and the probe.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "store.h"

static char tmpdir[64];

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);

	if (d) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_local.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	rm_rf(tmpdir);
}

static struct store *
open_store(int read_only)
{
	char msg[256] = "";
	struct store *st = local_store_create(tmpdir, read_only, 0, msg, sizeof(msg));

	ck_assert_msg(st != NULL, "local_store_create: %s", msg);
	return st;
}

static void
put_str(struct store *st, const char *key, const char *data)
{
	ck_assert_int_eq(store_put(st, key, data, strlen(data)), 0);
}

/* Does DIR/rel exist (as anything)? */
static int
exists(const char *rel)
{
	char p[4096];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	return lstat(p, &sb) == 0;
}

/* A listing rendered as one string: "key:size,prefix/,..." */
struct listing {
	char buf[4096];
	int count;
	int stop_after; /* return 1 after this many (0: never) */
};

static int
list_cb(void *arg, const struct store_entry *e)
{
	struct listing *l = arg;
	size_t n = strlen(l->buf);

	if (e->is_prefix)
		snprintf(l->buf + n, sizeof(l->buf) - n, "%s%s", n ? "," : "", e->key);
	else
		snprintf(l->buf + n, sizeof(l->buf) - n, "%s%s:%llu", n ? "," : "", e->key,
			 (unsigned long long)e->size);
	l->count++;
	return l->stop_after && l->count >= l->stop_after ? 1 : 0;
}

static const char *
list(struct store *st, const char *prefix, const char *delim, const char *after, size_t max,
     struct listing *l)
{
	memset(l, 0, sizeof(*l));
	ck_assert_int_eq(store_list(st, prefix, delim, after, max, list_cb, l), 0);
	return l->buf;
}

START_TEST(test_put_get_head)
{
	struct store *st = open_store(0);
	char buf[64];
	size_t got = 99;
	uint64_t size;
	time_t mtime = 0;

	put_str(st, "vol/0000000000", "hello world");
	ck_assert_int_eq(store_get(st, "vol/0000000000", 0, sizeof(buf), buf, &got), 0);
	ck_assert_uint_eq(got, 11);
	ck_assert(memcmp(buf, "hello world", 11) == 0);

	/* Ranges, and short at the end of the object. */
	ck_assert_int_eq(store_get(st, "vol/0000000000", 6, 3, buf, &got), 0);
	ck_assert_uint_eq(got, 3);
	ck_assert(memcmp(buf, "wor", 3) == 0);
	ck_assert_int_eq(store_get(st, "vol/0000000000", 6, 100, buf, &got), 0);
	ck_assert_uint_eq(got, 5);
	ck_assert(memcmp(buf, "world", 5) == 0);
	ck_assert_int_eq(store_get(st, "vol/0000000000", 11, 10, buf, &got), 0);
	ck_assert_uint_eq(got, 0);
	ck_assert_int_eq(store_get(st, "vol/0000000000", 50, 10, buf, &got), 0);
	ck_assert_uint_eq(got, 0);
	ck_assert_int_eq(store_get(st, "vol/0000000000", 0, 0, buf, &got), 0);
	ck_assert_uint_eq(got, 0);

	ck_assert_int_eq(store_head(st, "vol/0000000000", &size, &mtime), 0);
	ck_assert_uint_eq(size, 11);
	ck_assert(mtime > 0);
	ck_assert_int_eq(store_head(st, "vol/0000000000", &size, NULL), 0);

	/* Replace: shorter object. */
	put_str(st, "vol/0000000000", "bye");
	ck_assert_int_eq(store_head(st, "vol/0000000000", &size, NULL), 0);
	ck_assert_uint_eq(size, 3);
	ck_assert_int_eq(store_get(st, "vol/0000000000", 0, sizeof(buf), buf, &got), 0);
	ck_assert_uint_eq(got, 3);
	ck_assert(memcmp(buf, "bye", 3) == 0);

	/* Empty object. */
	ck_assert_int_eq(store_put(st, "empty", "", 0), 0);
	ck_assert_int_eq(store_head(st, "empty", &size, NULL), 0);
	ck_assert_uint_eq(size, 0);

	/* Missing keys; a "directory" is not an object. */
	ck_assert_int_eq(store_get(st, "vol/0000000001", 0, 10, buf, &got), -ENOENT);
	ck_assert_int_eq(store_head(st, "vol/0000000001", &size, NULL), -ENOENT);
	ck_assert_int_eq(store_head(st, "nodir/x", &size, NULL), -ENOENT);
	ck_assert_int_eq(store_head(st, "vol", &size, NULL), -ENOENT);
	ck_assert_int_eq(store_get(st, "nodir/x", 0, 10, buf, &got), -ENOENT);
	/* Below an object (ENOTDIR on the file system). */
	ck_assert_int_eq(store_head(st, "empty/x", &size, NULL), -ENOENT);
	ck_assert_int_eq(store_get(st, "empty/x", 0, 10, buf, &got), -ENOENT);

	struct store_stats ss = {0};
	store_get_stats(st, &ss);
	ck_assert_uint_ge(ss.puts, 3);
	ck_assert_uint_ge(ss.gets, 7);
	ck_assert_uint_ge(ss.heads, 4);
	ck_assert_uint_eq(ss.bytes_up, 11 + 3);
	store_destroy(&st);
	ck_assert_ptr_null(st);
}
END_TEST

/* On S3 a GET of a key that is only a prefix is 404; here it is a
 * directory, which must read as missing too. */
START_TEST(test_get_prefix_is_enoent)
{
	struct store *st = open_store(0);
	char buf[16];
	size_t got;

	put_str(st, "vol/0000000000", "x");
	ck_assert_int_eq(store_get(st, "vol", 0, sizeof(buf), buf, &got), -ENOENT);
	store_destroy(&st);
}
END_TEST

START_TEST(test_big_object)
{
	struct store *st = open_store(0);
	size_t n = 3 * 1024 * 1024 + 17, got;
	unsigned char *a = malloc(n), *b = malloc(n);

	for (size_t i = 0; i < n; i++)
		a[i] = (unsigned char)(i * 31 + 7);
	ck_assert_int_eq(store_put(st, "big/0000000000", a, n), 0);
	ck_assert_int_eq(store_get(st, "big/0000000000", 0, n, b, &got), 0);
	ck_assert_uint_eq(got, n);
	ck_assert(memcmp(a, b, n) == 0);
	ck_assert_int_eq(store_get(st, "big/0000000000", n - 10, 100, b, &got), 0);
	ck_assert_uint_eq(got, 10);
	ck_assert(memcmp(a + n - 10, b, 10) == 0);
	free(a);
	free(b);
	store_destroy(&st);
}
END_TEST

START_TEST(test_del_prunes)
{
	struct store *st = open_store(0);
	struct listing l;
	uint64_t size;

	put_str(st, "a/b/c/0000000000", "1");
	put_str(st, "a/b/c/0000000001", "2");
	put_str(st, "a/x", "3");
	ck_assert(exists("a/b/c"));

	const char *k1[] = {"a/b/c/0000000000"};
	ck_assert_int_eq(store_del(st, k1, 1), 0);
	ck_assert_int_eq(store_head(st, "a/b/c/0000000000", &size, NULL), -ENOENT);
	ck_assert(exists("a/b/c/0000000001"));
	ck_assert_str_eq(list(st, "a/", "/", NULL, 0, &l), "a/b/,a/x:1");

	/* Deleting the last key below a/b removes a/b/c and a/b. */
	const char *k2[] = {"a/b/c/0000000001"};
	ck_assert_int_eq(store_del(st, k2, 1), 0);
	ck_assert(!exists("a/b/c"));
	ck_assert(!exists("a/b"));
	ck_assert(exists("a"));
	/* A prefix with no keys is not listed. */
	ck_assert_str_eq(list(st, "a/", "/", NULL, 0, &l), "a/x:1");
	ck_assert_str_eq(list(st, "", "/", NULL, 0, &l), "a/");
	ck_assert_str_eq(list(st, "a/b/", NULL, NULL, 0, &l), "");

	/* Missing keys are not an error; several at once. */
	const char *k3[] = {"a/x", "nope/0000000000", "a/b/c/0000000001"};
	ck_assert_int_eq(store_del(st, k3, 3), 0);
	ck_assert(!exists("a"));
	ck_assert_str_eq(list(st, "", "/", NULL, 0, &l), "");
	ck_assert_int_eq(store_del(st, k3, 0), 0);

	/* An empty directory left by something else is not a prefix either. */
	char p[4096];
	snprintf(p, sizeof(p), "%s/emptydir", tmpdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/emptydir/sub", tmpdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_str_eq(list(st, "", "/", NULL, 0, &l), "");
	ck_assert_str_eq(list(st, "", NULL, NULL, 0, &l), "");
	store_destroy(&st);
}
END_TEST

START_TEST(test_list_basic)
{
	struct store *st = open_store(0);
	struct listing l;

	put_str(st, "db/0000000000", "aaaa");
	put_str(st, "db/0000000001", "bb");
	put_str(st, "db-journal/0000000000", "j");
	put_str(st, "dir/sub/v/0000000000", "vv");
	put_str(st, "dir/w/0000000000", "w");
	put_str(st, "top", "t");

	/* With the delimiter: objects and common prefixes, in byte order. */
	ck_assert_str_eq(list(st, "", "/", NULL, 0, &l), "db-journal/,db/,dir/,top:1");
	ck_assert_str_eq(list(st, "d", "/", NULL, 0, &l), "db-journal/,db/,dir/");
	ck_assert_str_eq(list(st, "db", "/", NULL, 0, &l), "db-journal/,db/");
	ck_assert_str_eq(list(st, "db/", "/", NULL, 0, &l), "db/0000000000:4,db/0000000001:2");
	ck_assert_str_eq(list(st, "dir/", "/", NULL, 0, &l), "dir/sub/,dir/w/");
	ck_assert_str_eq(list(st, "dir/s", "/", NULL, 0, &l), "dir/sub/");
	ck_assert_str_eq(list(st, "zzz", "/", NULL, 0, &l), "");
	ck_assert_str_eq(list(st, "nodir/", "/", NULL, 0, &l), "");

	/* Without: every key below, recursively, in byte order. */
	ck_assert_str_eq(list(st, "", NULL, NULL, 0, &l),
			 "db-journal/0000000000:1,db/0000000000:4,db/0000000001:2,"
			 "dir/sub/v/0000000000:2,dir/w/0000000000:1,top:1");
	ck_assert_str_eq(list(st, "dir/", NULL, NULL, 0, &l),
			 "dir/sub/v/0000000000:2,dir/w/0000000000:1");
	ck_assert_str_eq(list(st, "db/000000000", NULL, NULL, 0, &l),
			 "db/0000000000:4,db/0000000001:2");
	ck_assert_str_eq(list(st, "db/0000000001", NULL, NULL, 0, &l), "db/0000000001:2");

	/* Only "/" is a delimiter a directory tree can answer. */
	ck_assert_int_eq(store_list(st, "", ",", NULL, 0, list_cb, &l), -EINVAL);
	store_destroy(&st);
}
END_TEST

START_TEST(test_list_order_like_s3)
{
	struct store *st = open_store(0);
	struct listing l;

	/* '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < '0' (0x30) < 'A' < '_' < 'a'. */
	put_str(st, "a/x", "1");
	put_str(st, "a-b/x", "1");
	put_str(st, "a.c", "1");
	put_str(st, "a0", "1");
	put_str(st, "aB", "1");
	put_str(st, "a_", "1");
	put_str(st, "ab", "1");
	ck_assert_str_eq(list(st, "", "/", NULL, 0, &l), "a-b/,a.c:1,a/,a0:1,aB:1,a_:1,ab:1");
	ck_assert_str_eq(list(st, "", NULL, NULL, 0, &l),
			 "a-b/x:1,a.c:1,a/x:1,a0:1,aB:1,a_:1,ab:1");

	/* Bytes >= 0x80 (UTF-8) sort after ASCII, as unsigned bytes. */
	put_str(st, "\xc3\xa9t\xc3\xa9", "1");
	put_str(st, "z", "1");
	ck_assert_str_eq(list(st, "", NULL, "ab", 0, &l), "z:1,\xc3\xa9t\xc3\xa9:1");

	/* Many blocks come back in block order. */
	char key[64];
	for (int i = 29; i >= 0; i--) {
		snprintf(key, sizeof(key), "v/%010d", i);
		put_str(st, key, "b");
	}
	list(st, "v/", "/", NULL, 0, &l);
	ck_assert_int_eq(l.count, 30);
	char *s = l.buf;
	for (int i = 0; i < 30; i++) {
		snprintf(key, sizeof(key), "v/%010d:1", i);
		ck_assert_msg(strncmp(s, key, strlen(key)) == 0, "entry %d: %s", i, s);
		s += strlen(key) + 1;
	}
	store_destroy(&st);
}
END_TEST

START_TEST(test_list_start_after_max_keys)
{
	struct store *st = open_store(0);
	struct listing l;
	char key[64];

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "v/%010d", i);
		put_str(st, key, "xy");
	}
	put_str(st, "v/sub/a", "1");
	put_str(st, "w/a", "1");

	/* start_after is exclusive, and may be a key that does not exist. */
	ck_assert_str_eq(list(st, "v/", "/", "v/0000000007", 0, &l),
			 "v/0000000008:2,v/0000000009:2,v/sub/");
	ck_assert_str_eq(list(st, "v/", "/", "v/00000000075", 0, &l),
			 "v/0000000008:2,v/0000000009:2,v/sub/");
	ck_assert_str_eq(list(st, "v/", NULL, "v/0000000009", 0, &l), "v/sub/a:1");
	/* A start_after before the prefix lists from the prefix on. */
	ck_assert_str_eq(list(st, "v/", "/", "a", 3, &l),
			 "v/0000000000:2,v/0000000001:2,v/0000000002:2");
	/* A start_after inside a common prefix skips that prefix (as S3 does). */
	ck_assert_str_eq(list(st, "", "/", "v/0000000003", 0, &l), "w/");
	ck_assert_str_eq(list(st, "", "/", "v/", 0, &l), "w/");
	ck_assert_str_eq(list(st, "v/", "/", "v/sub/a", 0, &l), "");
	/* Past the end. */
	ck_assert_str_eq(list(st, "v/", "/", "v/zzz", 0, &l), "");

	/* max_keys counts objects and prefixes. */
	ck_assert_str_eq(list(st, "v/", "/", NULL, 1, &l), "v/0000000000:2");
	ck_assert_str_eq(list(st, "v/", "/", "v/0000000008", 2, &l),
			 "v/0000000009:2,v/sub/");
	ck_assert_str_eq(list(st, "", "/", NULL, 1, &l), "v/");
	list(st, "v/", "/", NULL, 100, &l);
	ck_assert_int_eq(l.count, 11);

	/* A callback returning 1 stops the listing without an error. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	ck_assert_int_eq(store_list(st, "v/", "/", NULL, 0, list_cb, &l), 0);
	ck_assert_int_eq(l.count, 2);
	store_destroy(&st);
}
END_TEST

static int
abort_cb(void *arg, const struct store_entry *e)
{
	return -ECANCELED;
}

START_TEST(test_list_cb_error)
{
	struct store *st = open_store(0);

	put_str(st, "v/0000000000", "x");
	ck_assert_int_eq(store_list(st, "", NULL, NULL, 0, abort_cb, NULL), -ECANCELED);
	store_destroy(&st);
}
END_TEST

START_TEST(test_hidden_internal_dir)
{
	struct store *st = open_store(0);
	struct listing l;
	char msg[256] = "";

	/* The probe makes the scratch directory; puts use it too. */
	ck_assert_int_eq(st->ops->probe(st, msg, sizeof(msg)), 0);
	ck_assert(exists(".s3blockfs/tmp"));
	put_str(st, "v/0000000000", "x");
	/* Internal objects under .s3blockfs/ are hidden from listings of the
	 * root, as the mount hides them. */
	char p[4096];
	snprintf(p, sizeof(p), "%s/.s3blockfs/lease", tmpdir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("lease", f);
	fclose(f);
	ck_assert_str_eq(list(st, "", "/", NULL, 0, &l), "v/");
	ck_assert_str_eq(list(st, "", NULL, NULL, 0, &l), "v/0000000000:1");
	ck_assert_str_eq(list(st, ".", "/", NULL, 0, &l), "");
	/* A deeper ".s3blockfs" is an ordinary name. */
	put_str(st, "d/.s3blockfs/x", "y");
	ck_assert_str_eq(list(st, "d/", "/", NULL, 0, &l), "d/.s3blockfs/");
	store_destroy(&st);
}
END_TEST

START_TEST(test_bad_keys)
{
	struct store *st = open_store(0);
	char buf[8];
	size_t got;
	uint64_t size;
	static const char *const bad[] = {
		"",    "/abs", "..",   "../x", "a/../../x", "a/..", "a//b", "a/", "./a", "a/./b",
		".",   "a/.",
	};

	put_str(st, "a/b", "ok");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *k = bad[i];
		ck_assert_msg(store_put(st, k, "x", 1) < 0, "put '%s' accepted", k);
		ck_assert_msg(store_get(st, k, 0, sizeof(buf), buf, &got) < 0, "get '%s'", k);
		ck_assert_msg(store_head(st, k, &size, NULL) < 0, "head '%s'", k);
		ck_assert_msg(store_del(st, &k, 1) < 0, "del '%s' accepted", k);
	}
	ck_assert_int_eq(store_put(st, "../escape", "x", 1), -EINVAL);
	ck_assert_int_eq(store_put(st, "a/../b", "x", 1), -EINVAL);
	/* Nothing escaped the directory. */
	char p[4096];
	snprintf(p, sizeof(p), "%s/../escape", tmpdir);
	ck_assert_int_ne(access(p, F_OK), 0);
	/* Names with dots that are not "." or ".." are fine. */
	put_str(st, "a..b/0000000000", "1");
	put_str(st, "x/...", "1");
	put_str(st, "x/.hidden", "1");
	ck_assert_int_eq(store_head(st, "a..b/0000000000", &size, NULL), 0);
	/* A name too long for the file system. */
	char longname[400];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(store_put(st, longname, "x", 1), -ENAMETOOLONG);
	/* The original object is untouched. */
	ck_assert_int_eq(store_get(st, "a/b", 0, sizeof(buf), buf, &got), 0);
	ck_assert_uint_eq(got, 2);
	store_destroy(&st);
}
END_TEST

/* Counts the regular files below a directory. */
static int
count_files(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;

	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char sub[4096];
		struct stat sb;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			n += count_files(sub);
		else
			n++;
	}
	closedir(d);
	return n;
}

START_TEST(test_put_atomic_no_tmp_left)
{
	char msg[256];
	/* sync on: the fsync paths too. */
	struct store *st = local_store_create(tmpdir, 0, 1, msg, sizeof(msg));
	char key[64], p[4096];

	ck_assert_ptr_nonnull(st);
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "v/%010d", i % 7);
		char data[32];
		snprintf(data, sizeof(data), "version %d", i);
		put_str(st, key, data);
	}
	snprintf(p, sizeof(p), "%s/.s3blockfs/tmp", tmpdir);
	ck_assert_int_eq(count_files(p), 0);
	ck_assert_int_eq(count_files(tmpdir), 7);

	/* A failed put (the key's place is a directory) leaves no temporary. */
	put_str(st, "d/x/0000000000", "1");
	ck_assert_int_lt(store_put(st, "d/x", "2", 1), 0);
	ck_assert_int_eq(count_files(p), 0);
	/* ... and a put below an object neither. */
	ck_assert_int_lt(store_put(st, "v/0000000001/x", "2", 1), 0);
	ck_assert_int_eq(count_files(p), 0);
	store_destroy(&st);
}
END_TEST

START_TEST(test_read_only)
{
	/* The data is made without the store, so nothing else exists. */
	char p[4096];
	snprintf(p, sizeof(p), "%s/v", tmpdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/v/0000000000", tmpdir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("data", f);
	fclose(f);

	struct store *st = open_store(1);
	char buf[8], msg[256] = "";
	size_t got;
	uint64_t size;
	const char *k = "v/0000000000";
	struct listing l;

	ck_assert_int_eq(store_put(st, "v/0000000001", "x", 1), -EROFS);
	ck_assert_int_eq(store_put(st, k, "x", 1), -EROFS);
	ck_assert_int_eq(store_del(st, &k, 1), -EROFS);
	ck_assert_int_eq(store_get(st, k, 0, sizeof(buf), buf, &got), 0);
	ck_assert_uint_eq(got, 4);
	ck_assert_int_eq(store_head(st, k, &size, NULL), 0);
	ck_assert_str_eq(list(st, "", NULL, NULL, 0, &l), "v/0000000000:4");
	/* The probe of a read-only store writes nothing. */
	ck_assert_int_eq(st->ops->probe(st, msg, sizeof(msg)), 0);
	ck_assert(!exists(".s3blockfs"));
	ck_assert(!exists("v/0000000001"));
	store_destroy(&st);
}
END_TEST

START_TEST(test_create_errors)
{
	char msg[256] = "", p[4096];

	snprintf(p, sizeof(p), "%s/missing", tmpdir);
	ck_assert_ptr_null(local_store_create(p, 0, 0, msg, sizeof(msg)));
	ck_assert_msg(strstr(msg, "missing") != NULL, "message: %s", msg);

	snprintf(p, sizeof(p), "%s/file", tmpdir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	msg[0] = '\0';
	ck_assert_ptr_null(local_store_create(p, 0, 0, msg, sizeof(msg)));
	ck_assert_msg(strstr(msg, "not a directory") != NULL, "message: %s", msg);

	if (geteuid() != 0) {
		/* Root ignores permissions. */
		snprintf(p, sizeof(p), "%s/ro", tmpdir);
		ck_assert_int_eq(mkdir(p, 0500), 0);
		msg[0] = '\0';
		ck_assert_ptr_null(local_store_create(p, 0, 0, msg, sizeof(msg)));
		ck_assert(msg[0] != '\0');
		struct store *st = local_store_create(p, 1, 0, msg, sizeof(msg));
		ck_assert_ptr_nonnull(st);
		store_destroy(&st);
	}
}
END_TEST

START_TEST(test_probe_fails)
{
	struct store *st = open_store(0);
	char msg[256] = "", p[4096];

	/* .s3blockfs is a file: the scratch directory cannot be made. */
	snprintf(p, sizeof(p), "%s/.s3blockfs", tmpdir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_lt(st->ops->probe(st, msg, sizeof(msg)), 0);
	ck_assert_msg(strstr(msg, tmpdir) != NULL, "message: %s", msg);
	store_destroy(&st);
}
END_TEST

START_TEST(test_copy_fallback)
{
	struct store *st = open_store(0);
	char buf[16];
	size_t got;

	put_str(st, "a/0000000000", "block zero");
	ck_assert_int_eq(store_copy(st, "a/0000000000", "b/0000000000"), 0);
	ck_assert_int_eq(store_get(st, "b/0000000000", 0, sizeof(buf), buf, &got), 0);
	ck_assert_uint_eq(got, 10);
	ck_assert(memcmp(buf, "block zero", 10) == 0);
	ck_assert_int_eq(store_copy(st, "a/0000000001", "b/0000000001"), -ENOENT);
	store_destroy(&st);
}
END_TEST

static Suite *
local_suite(void)
{
	Suite *s = suite_create("local");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_put_get_head);
	tcase_add_test(tc, test_get_prefix_is_enoent);
	tcase_add_test(tc, test_big_object);
	tcase_add_test(tc, test_del_prunes);
	tcase_add_test(tc, test_list_basic);
	tcase_add_test(tc, test_list_order_like_s3);
	tcase_add_test(tc, test_list_start_after_max_keys);
	tcase_add_test(tc, test_list_cb_error);
	tcase_add_test(tc, test_hidden_internal_dir);
	tcase_add_test(tc, test_bad_keys);
	tcase_add_test(tc, test_put_atomic_no_tmp_left);
	tcase_add_test(tc, test_read_only);
	tcase_add_test(tc, test_create_errors);
	tcase_add_test(tc, test_probe_fails);
	tcase_add_test(tc, test_copy_fallback);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(local_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
