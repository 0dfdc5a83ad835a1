/*
 * check_util.c - unit tests of src/util.c: checked number and size parsing,
 * block keys (DESIGN.md section 2: 10-digit zero padding), block names, hex.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

/* Parses s with fn, expecting rc and (when 0) the value want. */
static void
expect_parse(int (*fn)(const char *, uint64_t *), const char *s, int rc, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	int got = fn(s, &v);

	ck_assert_msg(got == rc, "parse '%s': rc %d, expected %d", s, got, rc);
	if (rc == 0)
		ck_assert_msg(v == want, "parse '%s': %llu, expected %llu", s,
			      (unsigned long long)v, (unsigned long long)want);
	else
		ck_assert_msg(v == 0xdeadbeef, "parse '%s' failed but wrote the output", s);
}

START_TEST(test_parse_u64)
{
	expect_parse(util_parse_u64, "0", 0, 0);
	expect_parse(util_parse_u64, "7", 0, 7);
	expect_parse(util_parse_u64, "000123", 0, 123);
	expect_parse(util_parse_u64, "4096", 0, 4096);
	expect_parse(util_parse_u64, "18446744073709551615", 0, UINT64_MAX);
	expect_parse(util_parse_u64, "18446744073709551616", -ERANGE, 0);
	expect_parse(util_parse_u64, "18446744073709551620", -ERANGE, 0);
	expect_parse(util_parse_u64, "99999999999999999999999", -ERANGE, 0);
	expect_parse(util_parse_u64, "", -EINVAL, 0);
	expect_parse(util_parse_u64, NULL, -EINVAL, 0);
	expect_parse(util_parse_u64, "-1", -EINVAL, 0);
	expect_parse(util_parse_u64, "+1", -EINVAL, 0);
	expect_parse(util_parse_u64, " 1", -EINVAL, 0);
	expect_parse(util_parse_u64, "1 ", -EINVAL, 0);
	expect_parse(util_parse_u64, "12a", -EINVAL, 0);
	expect_parse(util_parse_u64, "0x10", -EINVAL, 0);
	expect_parse(util_parse_u64, "1.5", -EINVAL, 0);
	expect_parse(util_parse_u64, "4K", -EINVAL, 0);
}
END_TEST

START_TEST(test_parse_size)
{
	expect_parse(util_parse_size, "0", 0, 0);
	expect_parse(util_parse_size, "4096", 0, 4096);
	expect_parse(util_parse_size, "10B", 0, 10);
	expect_parse(util_parse_size, "10b", 0, 10);
	expect_parse(util_parse_size, "4K", 0, 4096);
	expect_parse(util_parse_size, "4k", 0, 4096);
	expect_parse(util_parse_size, "4KB", 0, 4096);
	expect_parse(util_parse_size, "4KiB", 0, 4096);
	expect_parse(util_parse_size, "4Ki", 0, 4096);
	expect_parse(util_parse_size, "64M", 0, 64ULL << 20);
	expect_parse(util_parse_size, "64MiB", 0, 64ULL << 20);
	expect_parse(util_parse_size, "64mib", 0, 64ULL << 20);
	expect_parse(util_parse_size, "1g", 0, 1ULL << 30);
	expect_parse(util_parse_size, "1G", 0, 1ULL << 30);
	expect_parse(util_parse_size, "3T", 0, 3ULL << 40);
	expect_parse(util_parse_size, "0K", 0, 0);
	/* The largest value of each suffix, and one more. */
	expect_parse(util_parse_size, "16777215T", 0, 16777215ULL << 40);
	expect_parse(util_parse_size, "16777216T", -ERANGE, 0);
	expect_parse(util_parse_size, "17179869183G", 0, 17179869183ULL << 30);
	expect_parse(util_parse_size, "17179869184G", -ERANGE, 0);
	expect_parse(util_parse_size, "18446744073709551615", 0, UINT64_MAX);
	expect_parse(util_parse_size, "18446744073709551616", -ERANGE, 0);
	expect_parse(util_parse_size, "1234567890123456789012345678901234567890", -ERANGE, 0);
	/* Junk. */
	expect_parse(util_parse_size, "", -EINVAL, 0);
	expect_parse(util_parse_size, NULL, -EINVAL, 0);
	expect_parse(util_parse_size, "K", -EINVAL, 0);
	expect_parse(util_parse_size, "M4", -EINVAL, 0);
	expect_parse(util_parse_size, "-4K", -EINVAL, 0);
	expect_parse(util_parse_size, " 4K", -EINVAL, 0);
	expect_parse(util_parse_size, "4K ", -EINVAL, 0);
	expect_parse(util_parse_size, "4X", -EINVAL, 0);
	expect_parse(util_parse_size, "4KK", -EINVAL, 0);
	expect_parse(util_parse_size, "4KBB", -EINVAL, 0);
	expect_parse(util_parse_size, "4iB", -EINVAL, 0);
	expect_parse(util_parse_size, "4Bi", -EINVAL, 0);
	expect_parse(util_parse_size, "4.5M", -EINVAL, 0);
	expect_parse(util_parse_size, "1e6", -EINVAL, 0);
}
END_TEST

START_TEST(test_block_key)
{
	char buf[64];

	ck_assert_int_eq(util_block_key(buf, sizeof(buf), "my/path/cool.sqlite", 12), 0);
	ck_assert_str_eq(buf, "my/path/cool.sqlite/0000000012");
	ck_assert_int_eq(util_block_key(buf, sizeof(buf), "a", 0), 0);
	ck_assert_str_eq(buf, "a/0000000000");
	ck_assert_int_eq(util_block_key(buf, sizeof(buf), "a", 9999999999ULL), 0);
	ck_assert_str_eq(buf, "a/9999999999");
	/* 10^10 and more get more digits (a documented limit of the layout). */
	ck_assert_int_eq(util_block_key(buf, sizeof(buf), "a", 10000000000ULL), 0);
	ck_assert_str_eq(buf, "a/10000000000");
	ck_assert_int_eq(util_block_key(buf, sizeof(buf), "a", UINT64_MAX), 0);
	ck_assert_str_eq(buf, "a/18446744073709551615");

	/* Exactly fitting, and one byte short. */
	const char *want = "vol/0000000042";
	size_t need = strlen(want) + 1;
	ck_assert_int_eq(util_block_key(buf, need, "vol", 42), 0);
	ck_assert_str_eq(buf, want);
	ck_assert_int_eq(util_block_key(buf, need - 1, "vol", 42), -ENAMETOOLONG);
	ck_assert_int_eq(util_block_key(buf, 1, "vol", 42), -ENAMETOOLONG);

	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(util_block_key(buf, sizeof(buf), big, 1), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_parse_block_name)
{
	uint64_t b = 77;

	ck_assert_int_eq(util_parse_block_name("0000000012", &b), 0);
	ck_assert_uint_eq(b, 12);
	ck_assert_int_eq(util_parse_block_name("0000000000", &b), 0);
	ck_assert_uint_eq(b, 0);
	ck_assert_int_eq(util_parse_block_name("9999999999", &b), 0);
	ck_assert_uint_eq(b, 9999999999ULL);
	ck_assert_int_eq(util_parse_block_name("10000000000", &b), 0);
	ck_assert_uint_eq(b, 10000000000ULL);

	/* Round trip with util_block_key. */
	char key[64];
	const uint64_t blks[] = {0, 1, 4095, 4096, 123456789, 9999999999ULL, 10000000000ULL};
	for (size_t i = 0; i < sizeof(blks) / sizeof(blks[0]); i++) {
		ck_assert_int_eq(util_block_key(key, sizeof(key), "p", blks[i]), 0);
		ck_assert_int_eq(util_parse_block_name(key + 2, &b), 0);
		ck_assert_uint_eq(b, blks[i]);
	}

	b = 77;
	ck_assert_int_eq(util_parse_block_name("", &b), -EINVAL);
	ck_assert_int_eq(util_parse_block_name("12", &b), -EINVAL);
	ck_assert_int_eq(util_parse_block_name("000000012", &b), -EINVAL);  /* 9 digits */
	ck_assert_int_eq(util_parse_block_name("000000001a", &b), -EINVAL);
	ck_assert_int_eq(util_parse_block_name("00000000-1", &b), -EINVAL);
	ck_assert_int_eq(util_parse_block_name("0000000001/", &b), -EINVAL);
	ck_assert_int_eq(util_parse_block_name(" 000000001", &b), -EINVAL);
	ck_assert_int_eq(util_parse_block_name("abcdefghij", &b), -EINVAL);
	ck_assert_int_eq(util_parse_block_name("99999999999999999999999", &b), -ERANGE);
	ck_assert_uint_eq(b, 77);
}
END_TEST

START_TEST(test_hex)
{
	char out[2 * 8 + 1];
	const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};

	util_hex(in, sizeof(in), out);
	ck_assert_str_eq(out, "00017f80abcdefff");
	memset(out, 'z', sizeof(out));
	util_hex(in, 0, out);
	ck_assert_str_eq(out, "");
	util_hex(in + 4, 1, out);
	ck_assert_str_eq(out, "ab");
}
END_TEST

START_TEST(test_misc)
{
	char eb[128];
	const char *s = util_strerror(ENOENT, eb, sizeof(eb));
	ck_assert_ptr_nonnull(s);
	ck_assert_msg(strstr(s, "No such file") != NULL, "strerror: %s", s);

	uint64_t t0 = util_now_ms(), t1 = util_now_ms();
	ck_assert_uint_ge(t1, t0);

	struct timespec a, b;
	util_deadline(&a, 0);
	util_deadline(&b, 1500);
	ck_assert(b.tv_nsec >= 0 && b.tv_nsec < 1000000000L);
	int64_t d = ((int64_t)b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ck_assert_int_ge(d, 1500);

	ck_assert_int_eq(UTIL_MIN(3, 5), 3);
	ck_assert_int_eq(UTIL_MAX(3, 5), 5);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parse_u64);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_block_key);
	tcase_add_test(tc, test_parse_block_name);
	tcase_add_test(tc, test_hex);
	tcase_add_test(tc, test_misc);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
