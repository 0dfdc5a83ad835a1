/*
 * check_retry.c - unit tests of the retry layer (src/retry.c): the retry
 * decision, backoff bounds, the pause budget, and listings resumed after a
 * failure, against a fake lower store defined here that fails on script.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"
#include "store.h"
#include "util.h"

/* The fake: every call counts; the first `fails` calls return `fail_rc`.
 * Its listing holds keys k00..k19; with list_fail_after > 0 the first
 * listing attempt fails with -EIO after that many entries. */
struct fake {
	int calls;
	int fails;
	int fail_rc;
	int list_fail_after;
	int list_attempts;
	int destroyed;
	char last_start_after[32];
};

static int
fake_step(struct store *st)
{
	struct fake *f = st->priv;

	f->calls++;
	if (f->fails > 0) {
		f->fails--;
		return f->fail_rc;
	}
	return 0;
}

static int
fake_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got)
{
	int rc = fake_step(st);

	if (rc == 0) {
		memset(buf, 'x', len);
		*got = len;
	}
	return rc;
}

static int
fake_put(struct store *st, const char *key, const void *buf, size_t len)
{
	return fake_step(st);
}

static int
fake_head(struct store *st, const char *key, uint64_t *size, time_t *mtime)
{
	int rc = fake_step(st);

	if (rc == 0)
		*size = 42;
	return rc;
}

static int
fake_del(struct store *st, const char *const *keys, size_t n)
{
	return fake_step(st);
}

static int
fake_list(struct store *st, const char *prefix, const char *delimiter, const char *start_after,
          size_t max_keys, store_list_cb cb, void *arg)
{
	struct fake *f = st->priv;
	int rc = fake_step(st);
	size_t sent = 0;

	if (rc < 0)
		return rc;
	f->list_attempts++;
	snprintf(f->last_start_after, sizeof(f->last_start_after), "%s",
	         start_after ? start_after : "(null)");
	for (int i = 0; i < 20; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%02d", i);
		if (start_after && strcmp(key, start_after) <= 0)
			continue;
		if (f->list_attempts == 1 && f->list_fail_after > 0 &&
		    (int)sent == f->list_fail_after)
			return -EIO;
		struct store_entry e = {.key = key, .size = (uint64_t)i};
		rc = cb(arg, &e);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return 0;
		if (max_keys && ++sent >= max_keys)
			return 0;
		if (!max_keys)
			sent++;
	}
	return 0;
}

static int
fake_copy(struct store *st, const char *src, const char *dst)
{
	return fake_step(st);
}

static int
fake_probe(struct store *st, char *msg, size_t msgsz)
{
	return fake_step(st);
}

static void
fake_get_stats(struct store *st, struct store_stats *out)
{
	struct fake *f = st->priv;

	out->gets += (uint64_t)f->calls;
	out->errors += 7;
}

static void
fake_destroy(struct store *st)
{
	struct fake *f = st->priv;

	f->destroyed++;
}

static const struct store_ops fake_ops = {
    .name = "fake",
    .get = fake_get,
    .put = fake_put,
    .head = fake_head,
    .del = fake_del,
    .list = fake_list,
    .copy = fake_copy,
    .probe = fake_probe,
    .get_stats = fake_get_stats,
    .destroy = fake_destroy,
};

static const struct store_ops fake_ops_nocopy = {
    .name = "fake",
    .get = fake_get,
    .put = fake_put,
    .head = fake_head,
    .del = fake_del,
    .list = fake_list,
    .probe = fake_probe,
    .destroy = fake_destroy,
};

static struct fake fk;
static struct store fake_store;

static struct store *
make(uint64_t budget_ms, uint64_t base_ms, uint64_t cap_ms)
{
	memset(&fk, 0, sizeof(fk));
	fake_store.ops = &fake_ops;
	fake_store.lower = NULL;
	fake_store.priv = &fk;
	struct store *st = retry_store_create(&fake_store, budget_ms, base_ms, cap_ms);
	ck_assert_ptr_nonnull(st);
	return st;
}

START_TEST(test_decision)
{
	static const int transient[] = {-EIO, -ETIMEDOUT, -EAGAIN};
	static const int permanent[] = {0,       -ENOENT, -EACCES, -EPERM,  -EINVAL,
	                                -ESTALE, -ELOOP,  -ENXIO,  -EPROTO, -ENOSPC,
	                                -EROFS,  -EFBIG,  -ENOMEM, -EBUSY,  -EOPNOTSUPP};

	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		ck_assert_int_eq(retry_is_transient(transient[i]), 1);
	for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++)
		ck_assert_int_eq(retry_is_transient(permanent[i]), 0);
}
END_TEST

START_TEST(test_backoff_bounds)
{
	const uint64_t base = 200, cap = 5000;
	uint64_t sum = 0;

	for (unsigned n = 0; n < 80; n++) {
		uint64_t ceil = n < 20 ? UTIL_MIN(cap, base << n) : cap;
		/* the extremes of the random number, then random ones */
		ck_assert_uint_eq(retry_backoff_ms(n, base, cap, 0), 0);
		ck_assert_uint_eq(retry_backoff_ms(n, base, cap, ceil), ceil);
		ck_assert_uint_le(retry_backoff_ms(n, base, cap, UINT64_MAX), ceil);
		for (int i = 0; i < 1000; i++) {
			uint64_t ms = retry_backoff_ms(n, base, cap, util_rand64());
			ck_assert_uint_le(ms, ceil);
			if (n == 0)
				sum += ms;
		}
	}
	/* full jitter: the mean of pause 0 is about base/2 */
	ck_assert_uint_gt(sum / 1000, base / 2 - 30);
	ck_assert_uint_lt(sum / 1000, base / 2 + 30);
	/* no overflow with huge bases or attempts */
	ck_assert_uint_le(retry_backoff_ms(4000000000u, UINT64_MAX / 3, UINT64_MAX - 1, 12345),
	                  UINT64_MAX - 1);
	ck_assert_uint_eq(retry_backoff_ms(70, 1, UINT64_MAX, 5), 5);
}
END_TEST

START_TEST(test_retries_then_success)
{
	struct store *st = make(10000, 1, 4);
	struct store_stats s;
	char buf[8];
	size_t got = 0;

	fk.fails = 3;
	fk.fail_rc = -EIO;
	ck_assert_int_eq(store_get(st, "a", 0, sizeof(buf), buf, &got), 0);
	ck_assert_uint_eq(got, sizeof(buf));
	ck_assert_int_eq(fk.calls, 4);

	fk.fails = 2;
	fk.fail_rc = -EAGAIN;
	ck_assert_int_eq(store_put(st, "a", buf, 8), 0);
	fk.fails = 1;
	fk.fail_rc = -ETIMEDOUT;
	uint64_t size = 0;
	ck_assert_int_eq(store_head(st, "a", &size, NULL), 0);
	ck_assert_uint_eq(size, 42);
	const char *keys[] = {"a", "b"};
	fk.fails = 1;
	fk.fail_rc = -EIO;
	ck_assert_int_eq(store_del(st, keys, 2), 0);
	fk.fails = 1;
	ck_assert_int_eq(store_copy(st, "a", "b"), 0);
	fk.fails = 1;
	char msg[64];
	ck_assert_int_eq(st->ops->probe(st, msg, sizeof(msg)), 0);
	ck_assert_int_eq(fk.calls, 4 + 3 + 2 + 2 + 2 + 2);

	memset(&s, 0, sizeof(s));
	store_get_stats(st, &s);
	ck_assert_uint_eq(s.retries, 3 + 2 + 1 + 1 + 1 + 1);
	ck_assert_uint_eq(s.gets, (uint64_t)fk.calls); /* the lower's counters are added */
	ck_assert_uint_eq(s.errors, 7);
	store_destroy(&st);
	ck_assert_int_eq(fk.destroyed, 1);
	ck_assert_ptr_null(st);
}
END_TEST

START_TEST(test_permanent_not_retried)
{
	static const int rcs[] = {-ENOENT, -EACCES, -EPERM,  -EINVAL, -ESTALE,
	                          -ELOOP,  -ENXIO,  -EPROTO, -ENOSPC};
	struct store *st = make(10000, 1, 4);
	char buf[4];
	size_t got;

	for (size_t i = 0; i < sizeof(rcs) / sizeof(rcs[0]); i++) {
		fk.calls = 0;
		fk.fails = 5;
		fk.fail_rc = rcs[i];
		ck_assert_int_eq(store_get(st, "k", 0, 4, buf, &got), rcs[i]);
		ck_assert_int_eq(fk.calls, 1);
	}
	struct store_stats s = {0};
	store_get_stats(st, &s);
	ck_assert_uint_eq(s.retries, 0);
	store_destroy(&st);
}
END_TEST

/* A store that never recovers: the pauses stop within the budget. */
START_TEST(test_budget)
{
	const uint64_t budget = 600;
	struct store *st = make(budget, 50, 200);
	char buf[4];
	size_t got;

	fk.fails = 1000000;
	fk.fail_rc = -EAGAIN;
	uint64_t t0 = util_now_ms();
	ck_assert_int_eq(store_get(st, "k", 0, 4, buf, &got), -EAGAIN);
	uint64_t took = util_now_ms() - t0;
	ck_assert_uint_le(took, budget + 100);
	/* the budget was used, not abandoned early: after the last pause the
	 * total reaches the budget exactly (the last pause is clipped) */
	ck_assert_uint_ge(took, budget - 5);
	ck_assert_int_ge(fk.calls, 3);
	ck_assert_int_le(fk.calls, RETRY_MAX_ATTEMPTS);
	store_destroy(&st);

	/* budget 0: one attempt, no pause */
	st = make(0, 50, 200);
	fk.fails = 1000000;
	fk.fail_rc = -EIO;
	t0 = util_now_ms();
	ck_assert_int_eq(store_get(st, "k", 0, 4, buf, &got), -EIO);
	ck_assert_int_eq(fk.calls, 1);
	ck_assert_uint_lt(util_now_ms() - t0, 50);
	store_destroy(&st);

	/* ~0 pauses cannot loop forever: the attempt cap stops them */
	st = make(1000, 0, 0); /* defaults: 200 ms base */
	fk.fails = 1000000;
	fk.fail_rc = -EIO;
	ck_assert_int_eq(store_get(st, "k", 0, 4, buf, &got), -EIO);
	ck_assert_int_le(fk.calls, RETRY_MAX_ATTEMPTS);
	store_destroy(&st);
}
END_TEST

struct collect {
	char keys[64][8];
	int n;
	int stop_at; /* return 1 at this entry (1-based), 0: never */
	int fail_at; /* return -EIO at this entry, 0: never */
};

static int
collect_cb(void *arg, const struct store_entry *e)
{
	struct collect *c = arg;

	ck_assert_int_lt(c->n, 64);
	snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", e->key);
	c->n++;
	if (c->fail_at && c->n == c->fail_at)
		return -EIO;
	if (c->stop_at && c->n == c->stop_at)
		return 1;
	return 0;
}

/* A listing that fails half-way resumes after the last delivered key:
 * every key once, in order. */
START_TEST(test_list_resume)
{
	struct store *st = make(10000, 1, 4);
	struct collect c;

	memset(&c, 0, sizeof(c));
	fk.list_fail_after = 7;
	ck_assert_int_eq(store_list(st, "", NULL, NULL, 0, collect_cb, &c), 0);
	ck_assert_int_eq(c.n, 20);
	for (unsigned i = 0; i < 20; i++) {
		char want[16];
		snprintf(want, sizeof(want), "k%02u", i);
		ck_assert_str_eq(c.keys[i], want);
	}
	ck_assert_int_eq(fk.list_attempts, 2);
	ck_assert_str_eq(fk.last_start_after, "k06");

	/* with max_keys across the retry, and a caller's start_after */
	memset(&c, 0, sizeof(c));
	fk.list_attempts = 0;
	ck_assert_int_eq(store_list(st, "", NULL, "k02", 10, collect_cb, &c), 0);
	ck_assert_int_eq(c.n, 10);
	ck_assert_str_eq(c.keys[0], "k03");
	ck_assert_str_eq(c.keys[9], "k12");
	ck_assert_str_eq(fk.last_start_after, "k09");

	/* a lower failure before anything was delivered keeps start_after */
	memset(&c, 0, sizeof(c));
	fk.list_attempts = 0;
	fk.list_fail_after = 0;
	fk.fails = 2;
	fk.fail_rc = -ETIMEDOUT;
	ck_assert_int_eq(store_list(st, "", "/", "k17", 0, collect_cb, &c), 0);
	ck_assert_int_eq(c.n, 2);
	ck_assert_str_eq(fk.last_start_after, "k17");
	store_destroy(&st);
}
END_TEST

/* The callback's own error or stop is never retried. */
START_TEST(test_list_callback)
{
	struct store *st = make(10000, 1, 4);
	struct collect c;

	memset(&c, 0, sizeof(c));
	c.fail_at = 3;
	ck_assert_int_eq(store_list(st, "", NULL, NULL, 0, collect_cb, &c), -EIO);
	ck_assert_int_eq(c.n, 3);
	ck_assert_int_eq(fk.calls, 1);

	memset(&c, 0, sizeof(c));
	c.stop_at = 4;
	ck_assert_int_eq(store_list(st, "", NULL, NULL, 0, collect_cb, &c), 0);
	ck_assert_int_eq(c.n, 4);
	ck_assert_int_eq(fk.calls, 2);
	store_destroy(&st);
}
END_TEST

START_TEST(test_copy_optional)
{
	struct fake f = {0};
	struct store lower = {.ops = &fake_ops_nocopy, .priv = &f};
	struct store *st = retry_store_create(&lower, 1000, 1, 2);

	ck_assert_ptr_nonnull(st);
	ck_assert_ptr_null(st->ops->copy);
	ck_assert_str_eq(st->ops->name, "retry");
	struct store_stats s = {0};
	store_get_stats(st, &s); /* lower without get_stats */
	ck_assert_uint_eq(s.gets, 0);
	store_destroy(&st);
	ck_assert_int_eq(f.destroyed, 1);
	ck_assert_ptr_null(retry_store_create(NULL, 1, 1, 1));
}
END_TEST

static Suite *
retry_suite(void)
{
	Suite *s = suite_create("retry");
	TCase *tc = tcase_create("retry");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_decision);
	tcase_add_test(tc, test_backoff_bounds);
	tcase_add_test(tc, test_retries_then_success);
	tcase_add_test(tc, test_permanent_not_retried);
	tcase_add_test(tc, test_budget);
	tcase_add_test(tc, test_list_resume);
	tcase_add_test(tc, test_list_callback);
	tcase_add_test(tc, test_copy_optional);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(retry_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
