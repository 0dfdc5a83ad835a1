/*
 * check_blkmap.c - unit tests of the byte-range <-> block arithmetic
 * (src/blkmap.[ch]) against the layout of DESIGN.md section 2, with the
 * block sizes the Python library's tests use (4095, 4096, 4097).
 */
#include "config.h"

#include <check.h>
#include <stdint.h>

#include "blkmap.h"

static const uint32_t sizes[] = {1, 2, 7, 4095, 4096, 4097, 65536};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

START_TEST(test_nblocks)
{
	ck_assert_uint_eq(blkmap_nblocks(0, 4096), 0);
	ck_assert_uint_eq(blkmap_nblocks(1, 4096), 1);
	ck_assert_uint_eq(blkmap_nblocks(4096, 4096), 1);
	ck_assert_uint_eq(blkmap_nblocks(4097, 4096), 2);
	ck_assert_uint_eq(blkmap_nblocks(8192, 4096), 2);
	ck_assert_uint_eq(blkmap_nblocks(8190, 4095), 2);
	ck_assert_uint_eq(blkmap_nblocks(8191, 4095), 3);
	ck_assert_uint_eq(blkmap_nblocks(4097, 4097), 1);
	ck_assert_uint_eq(blkmap_nblocks(1ULL << 40, 4096), 1ULL << 28);
	ck_assert_uint_eq(blkmap_nblocks(5, 1), 5);
	for (size_t i = 0; i < NSIZES; i++) {
		uint32_t bs = sizes[i];
		for (uint64_t k = 0; k < 5; k++) {
			ck_assert_uint_eq(blkmap_nblocks(k * bs, bs), k);
			ck_assert_uint_eq(blkmap_nblocks(k * bs + 1, bs), k + 1);
			if (k > 0)
				ck_assert_uint_eq(blkmap_nblocks(k * bs - 1, bs), bs == 1 ? k - 1 : k);
		}
	}
}
END_TEST

START_TEST(test_len)
{
	/* Every block full but the last; the last holds 1..bs bytes. */
	ck_assert_uint_eq(blkmap_len(0, 4096, 0), 0);
	ck_assert_uint_eq(blkmap_len(1, 4096, 0), 1);
	ck_assert_uint_eq(blkmap_len(4096, 4096, 0), 4096);
	ck_assert_uint_eq(blkmap_len(4096, 4096, 1), 0);
	ck_assert_uint_eq(blkmap_len(4097, 4096, 1), 1);
	ck_assert_uint_eq(blkmap_len(10000, 4096, 0), 4096);
	ck_assert_uint_eq(blkmap_len(10000, 4096, 1), 4096);
	ck_assert_uint_eq(blkmap_len(10000, 4096, 2), 10000 - 8192);
	ck_assert_uint_eq(blkmap_len(10000, 4096, 3), 0);
	ck_assert_uint_eq(blkmap_len(10000, 4096, 1000000), 0);
	for (size_t i = 0; i < NSIZES; i++) {
		uint32_t bs = sizes[i];
		for (uint64_t size = 0; size < 3ULL * bs + 3 && size < 200000; size += bs > 64 ? 61 : 1) {
			uint64_t n = blkmap_nblocks(size, bs), total = 0;
			for (uint64_t b = 0; b < n; b++) {
				uint32_t l = blkmap_len(size, bs, b);
				ck_assert_uint_ge(l, 1);
				ck_assert_uint_le(l, bs);
				if (b + 1 < n)
					ck_assert_uint_eq(l, bs);
				total += l;
			}
			ck_assert_uint_eq(total, size);
			ck_assert_uint_eq(blkmap_len(size, bs, n), 0);
		}
	}
}
END_TEST

/* The reference: a block is in the span when the write overlaps it or its
 * length changes (growth). */
static int
ref_span(uint64_t old, uint64_t off, uint64_t n, uint32_t bs, uint64_t *first, uint64_t *last)
{
	uint64_t new_size = off + n > old ? off + n : old;
	uint64_t nb = blkmap_nblocks(new_size, bs);
	int have = 0;

	for (uint64_t b = 0; b < nb; b++) {
		uint64_t s = b * bs, e = s + bs;
		int touched = n > 0 && off < e && off + n > s;
		if (touched || blkmap_len(old, bs, b) != blkmap_len(new_size, bs, b)) {
			if (!have)
				*first = b;
			*last = b;
			have = 1;
		}
	}
	return have;
}

static void
check_span(uint64_t old, uint64_t off, uint64_t n, uint32_t bs)
{
	uint64_t f = 12345, l = 12345, rf = 0, rl = 0;
	int got = blkmap_write_span(old, off, n, bs, &f, &l);
	int want = ref_span(old, off, n, bs, &rf, &rl);

	ck_assert_msg(got == want, "span old=%llu off=%llu n=%llu bs=%u: %d, expected %d",
		      (unsigned long long)old, (unsigned long long)off, (unsigned long long)n, bs,
		      got, want);
	if (want)
		ck_assert_msg(f == rf && l == rl,
			      "span old=%llu off=%llu n=%llu bs=%u: [%llu,%llu], expected [%llu,%llu]",
			      (unsigned long long)old, (unsigned long long)off,
			      (unsigned long long)n, bs, (unsigned long long)f,
			      (unsigned long long)l, (unsigned long long)rf, (unsigned long long)rl);
}

START_TEST(test_write_span_cases)
{
	uint64_t f, l;

	/* Nothing to do: empty write inside the volume. */
	ck_assert_int_eq(blkmap_write_span(100, 5, 0, 4096, &f, &l), 0);
	ck_assert_int_eq(blkmap_write_span(0, 0, 0, 4096, &f, &l), 0);
	ck_assert_int_eq(blkmap_write_span(8192, 8192, 0, 4096, &f, &l), 0);

	/* First write of an empty volume. */
	ck_assert_int_eq(blkmap_write_span(0, 0, 1, 4096, &f, &l), 1);
	ck_assert_uint_eq(f, 0);
	ck_assert_uint_eq(l, 0);

	/* Writes inside. */
	ck_assert_int_eq(blkmap_write_span(100000, 100, 10, 4096, &f, &l), 1);
	ck_assert(f == 0 && l == 0);
	ck_assert_int_eq(blkmap_write_span(100000, 4000, 200, 4096, &f, &l), 1);
	ck_assert(f == 0 && l == 1);

	/* Exact block boundaries. */
	ck_assert_int_eq(blkmap_write_span(3 * 4096, 4096, 4096, 4096, &f, &l), 1);
	ck_assert(f == 1 && l == 1);
	ck_assert_int_eq(blkmap_write_span(3 * 4096, 4095, 2, 4096, &f, &l), 1);
	ck_assert(f == 0 && l == 1);
	ck_assert_int_eq(blkmap_write_span(3 * 4095, 4095, 4095, 4095, &f, &l), 1);
	ck_assert(f == 1 && l == 1);
	ck_assert_int_eq(blkmap_write_span(3 * 4097, 4097, 4097, 4097, &f, &l), 1);
	ck_assert(f == 1 && l == 1);

	/* Append right after a full last block: the old block does not change. */
	ck_assert_int_eq(blkmap_write_span(8192, 8192, 1, 4096, &f, &l), 1);
	ck_assert(f == 2 && l == 2);

	/* Append after a partial last block: it grows too. */
	ck_assert_int_eq(blkmap_write_span(8000, 8192, 1, 4096, &f, &l), 1);
	ck_assert(f == 1 && l == 2);

	/* A gap: every block from the old last one becomes zeros. */
	ck_assert_int_eq(blkmap_write_span(100, 10 * 4096 + 5, 3, 4096, &f, &l), 1);
	ck_assert(f == 0 && l == 10);
	ck_assert_int_eq(blkmap_write_span(4096, 10 * 4096, 1, 4096, &f, &l), 1);
	ck_assert(f == 1 && l == 10);
	ck_assert_int_eq(blkmap_write_span(0, 1ULL << 30, 4096, 4096, &f, &l), 1);
	ck_assert(f == 0 && l == (1ULL << 30) / 4096);

	/* Growth without data (truncate up). */
	ck_assert_int_eq(blkmap_write_span(100, 3 * 4096, 0, 4096, &f, &l), 1);
	ck_assert(f == 0 && l == 2);
	ck_assert_int_eq(blkmap_write_span(4096, 4097, 0, 4096, &f, &l), 1);
	ck_assert(f == 1 && l == 1);

	/* A write that grows and starts below the old end. */
	ck_assert_int_eq(blkmap_write_span(5000, 100, 9000, 4096, &f, &l), 1);
	ck_assert(f == 0 && l == 2);
}
END_TEST

START_TEST(test_write_span_exhaustive)
{
	static const uint32_t bss[] = {1, 3, 4095, 4096, 4097};

	for (size_t i = 0; i < sizeof(bss) / sizeof(bss[0]); i++) {
		uint32_t bs = bss[i];
		/* Interesting points: around each block boundary of 4 blocks. */
		uint64_t pts[32];
		size_t np = 0;
		for (uint64_t k = 0; k <= 4; k++) {
			uint64_t b = k * bs;
			if (b > 0)
				pts[np++] = b - 1;
			pts[np++] = b;
			pts[np++] = b + 1;
		}
		/* Sorted and distinct (they overlap for tiny block sizes). */
		for (size_t a = 1; a < np; a++)
			for (size_t c = a; c > 0 && pts[c - 1] > pts[c]; c--) {
				uint64_t t = pts[c];
				pts[c] = pts[c - 1];
				pts[c - 1] = t;
			}
		size_t nd = 0;
		for (size_t a = 0; a < np; a++)
			if (nd == 0 || pts[nd - 1] != pts[a])
				pts[nd++] = pts[a];
		np = nd;
		for (size_t a = 0; a < np; a++)
			for (size_t o = 0; o < np; o++)
				for (size_t e = o; e < np; e++)
					check_span(pts[a], pts[o], pts[e] - pts[o], bs);
	}
}
END_TEST

START_TEST(test_overlap)
{
	uint32_t bo, bl;

	blkmap_overlap(100, 5000, 4096, 0, &bo, &bl);
	ck_assert(bo == 100 && bl == 3996);
	blkmap_overlap(100, 5000, 4096, 1, &bo, &bl);
	ck_assert(bo == 0 && bl == 1004);
	blkmap_overlap(100, 5000, 4096, 2, &bo, &bl);
	ck_assert(bo == 0 && bl == 0);
	blkmap_overlap(4096, 4096, 4096, 0, &bo, &bl);
	ck_assert(bo == 0 && bl == 0);
	blkmap_overlap(4096, 4096, 4096, 1, &bo, &bl);
	ck_assert(bo == 0 && bl == 4096);
	blkmap_overlap(4096, 4096, 4096, 2, &bo, &bl);
	ck_assert(bo == 0 && bl == 0);
	blkmap_overlap(4095, 2, 4095, 0, &bo, &bl);
	ck_assert(bo == 0 && bl == 0);
	blkmap_overlap(4095, 2, 4095, 1, &bo, &bl);
	ck_assert(bo == 0 && bl == 2);
	blkmap_overlap(4096, 2, 4097, 0, &bo, &bl);
	ck_assert(bo == 4096 && bl == 1);
	blkmap_overlap(4096, 2, 4097, 1, &bo, &bl);
	ck_assert(bo == 0 && bl == 1);
	blkmap_overlap(10, 0, 4096, 0, &bo, &bl);
	ck_assert(bo == 0 && bl == 0);
	/* A large offset: 64-bit arithmetic. */
	blkmap_overlap((1ULL << 40) + 7, 10, 4096, (1ULL << 40) / 4096, &bo, &bl);
	ck_assert(bo == 7 && bl == 10);

	/* The pieces of any range tile it exactly. */
	static const uint32_t bss[] = {4095, 4096, 4097};
	for (size_t i = 0; i < 3; i++) {
		uint32_t bs = bss[i];
		for (uint64_t off = 0; off < 3ULL * bs; off += 997) {
			for (uint64_t n = 0; n < 3ULL * bs; n += 1231) {
				uint64_t pos = off, total = 0;
				for (uint64_t b = 0; b < 8; b++) {
					blkmap_overlap(off, n, bs, b, &bo, &bl);
					if (bl == 0)
						continue;
					ck_assert_uint_eq(b * bs + bo, pos);
					pos += bl;
					total += bl;
				}
				ck_assert_uint_eq(total, n);
			}
		}
	}
}
END_TEST

static Suite *
blkmap_suite(void)
{
	Suite *s = suite_create("blkmap");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_nblocks);
	tcase_add_test(tc, test_len);
	tcase_add_test(tc, test_write_span_cases);
	tcase_add_test(tc, test_write_span_exhaustive);
	tcase_add_test(tc, test_overlap);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(blkmap_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
