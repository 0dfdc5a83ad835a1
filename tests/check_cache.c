/*
 * check_cache.c - unit tests of the block cache (src/cache.c) over the
 * in-memory store with scripted faults and delays (src/mem.c), checking the
 * durability contract of DESIGN.md section 5 by looking at what the store
 * holds: cache_flush returns only when the blocks are stored, a failed
 * upload is an error and is never dropped, a write during an upload is
 * never lost, discarded blocks are never uploaded, uploads run in parallel,
 * stay inside the extension window (vol.h), and dirty memory is bounded.
 *
 * Waiting is done on counters (mem_store_inflight, cache_get_stats, the
 * test's own), polled with a bounded deadline; nothing asserts on time.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "mem.h"
#include "store.h"
#include "util.h"
#include "vol.h"

#define BS 4096
#define NEVER_MS (3600ULL * 1000) /* write-back delay: only fsync uploads */

/* ---------------------------------------------------------------- helpers */

static struct cache *
cache_new(struct store *st, uint64_t cache_blocks, uint64_t dirty_blocks, unsigned workers,
	  uint64_t writeback_ms, uint32_t bs)
{
	struct cache_conf cc = {
		.cache_bytes = cache_blocks * bs,
		.dirty_bytes = dirty_blocks * bs,
		.writeback_delay_ms = writeback_ms,
		.workers = workers,
	};
	struct cache *c = cache_create(&cc, st);

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(cache_start(c), 0);
	return c;
}

static struct vol *
vol_new(struct cache *c, uint64_t id, uint32_t bs, const char *path, uint64_t stored)
{
	struct vol *v = calloc(1, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	pthread_mutex_init(&v->wmu, NULL);
	pthread_mutex_init(&v->mu, NULL);
	v->id = id;
	v->block_size = bs;
	v->path = strdup(path);
	cache_vol_init(c, v, path, stored);
	return v;
}

static void
vol_free(struct cache *c, struct vol *v)
{
	cache_vol_fini(c, v);
	pthread_mutex_destroy(&v->wmu);
	pthread_mutex_destroy(&v->mu);
	free(v->path);
	free(v);
}

/* Tears down in the order the daemon does: workers, volumes, cache, store. */
static void
finish(struct store **st, struct cache **c, struct vol **vols, size_t n)
{
	cache_stop(*c);
	for (size_t i = 0; i < n; i++)
		vol_free(*c, vols[i]);
	cache_destroy(c);
	ck_assert_ptr_null(*c);
	store_destroy(st);
}

/* The byte at offset i of block blk in generation gen of the test data. */
static unsigned char
pat(uint64_t blk, uint32_t i, unsigned gen)
{
	return (unsigned char)(blk * 131 + i * 7 + gen * 29 + (i >> 8));
}

static void
fill(unsigned char *buf, uint64_t blk, uint32_t len, unsigned gen)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = pat(blk, i, gen);
}

/* Writes block blk whole with generation gen. */
static void
write_block(struct cache *c, struct vol *v, uint64_t blk, uint32_t old_len, uint32_t len,
	    unsigned gen)
{
	unsigned char *buf = malloc(v->block_size);

	fill(buf, blk, len, gen);
	ck_assert_int_eq(cache_modify(c, v, blk, old_len, len, 0, buf, len), 0);
	free(buf);
}

/* Puts block blk of prefix directly into the store. */
static void
store_block(struct store *st, const char *prefix, uint64_t blk, uint32_t len, unsigned gen)
{
	char key[256];
	unsigned char *buf = malloc(len ? len : 1);

	fill(buf, blk, len, gen);
	ck_assert_int_eq(util_block_key(key, sizeof(key), prefix, blk), 0);
	ck_assert_int_eq(store_put(st, key, buf, len), 0);
	free(buf);
}

/* Asserts the store holds block blk of prefix with len bytes of gen. */
static void
expect_stored(struct store *st, const char *prefix, uint64_t blk, uint32_t len, unsigned gen)
{
	char key[256];
	uint64_t size;
	size_t got;
	unsigned char *buf = malloc(len + 16), *want = malloc(len + 1);

	ck_assert_int_eq(util_block_key(key, sizeof(key), prefix, blk), 0);
	int rc = store_head(st, key, &size, NULL);
	ck_assert_msg(rc == 0, "%s: head %d", key, rc);
	ck_assert_msg(size == len, "%s: %llu bytes, expected %u", key, (unsigned long long)size,
		      len);
	ck_assert_int_eq(store_get(st, key, 0, len + 16, buf, &got), 0);
	ck_assert_uint_eq(got, len);
	fill(want, blk, len, gen);
	/* One assertion, not one per byte: each is a message to Check's parent. */
	if (memcmp(buf, want, len) != 0) {
		uint32_t i = 0;
		while (buf[i] == want[i])
			i++;
		ck_abort_msg("%s: byte %u is %u, expected %u (gen %u)", key, i, buf[i], want[i],
			     gen);
	}
	free(buf);
	free(want);
}

static void
expect_missing(struct store *st, const char *prefix, uint64_t blk)
{
	char key[256];
	uint64_t size;

	ck_assert_int_eq(util_block_key(key, sizeof(key), prefix, blk), 0);
	ck_assert_msg(store_head(st, key, &size, NULL) == -ENOENT, "%s exists", key);
}

static struct store_stats
sstats(struct store *st)
{
	struct store_stats s = {0};

	store_get_stats(st, &s);
	return s;
}

static struct cache_stats
cstats(struct cache *c)
{
	struct cache_stats s;

	cache_get_stats(c, &s);
	return s;
}

static unsigned
inflight_now(struct store *st)
{
	unsigned now, max;

	mem_store_inflight(st, &now, &max);
	return now;
}

static unsigned
inflight_max(struct store *st)
{
	unsigned now, max;

	mem_store_inflight(st, &now, &max);
	return max;
}

/* Polls cond(arg) every millisecond for up to 20 s. */
static int
wait_for(int (*cond)(void *), void *arg)
{
	for (int i = 0; i < 20000; i++) {
		if (cond(arg))
			return 1;
		usleep(1000);
	}
	return cond(arg);
}

static int
cond_inflight(void *arg)
{
	return inflight_now(arg) > 0;
}

/* No request in flight, every failed PUT counted by the cache, and no new
 * failure since the last polls: a worker between the store's answer and
 * the cache's lock is in neither count, so one sample is not enough. */
struct settle {
	struct store *st;
	struct cache *c;
	uint64_t last_errors;
	int idle_polls;
};

static int
cond_settled(void *arg)
{
	struct settle *s = arg;
	uint64_t errors = cstats(s->c).upload_errors;

	if (inflight_now(s->st) == 0 && errors == s->last_errors && sstats(s->st).errors == errors)
		s->idle_polls++;
	else
		s->idle_polls = 0;
	s->last_errors = errors;
	return s->idle_polls >= 3;
}

/* ---------------------------------------------------------------- read, modify */

START_TEST(test_read_modify_read)
{
	struct store *st = mem_store_create();
	unsigned char buf[3 * BS], want[3 * BS];

	/* A volume of 2 full blocks and 100 bytes. */
	store_block(st, "v", 0, BS, 0);
	store_block(st, "v", 1, BS, 0);
	store_block(st, "v", 2, 100, 0);
	uint64_t size = 2 * BS + 100;
	struct cache *c = cache_new(st, 64, 32, 4, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "v", 3);
	ck_assert_uint_eq(cache_stored_end(c, v), 3);

	fill(want, 0, BS, 0);
	fill(want + BS, 1, BS, 0);
	fill(want + 2 * BS, 2, 100, 0);
	ck_assert_int_eq(cache_read(c, v, size, 0, size, buf), 0);
	ck_assert(memcmp(buf, want, size) == 0);
	/* An unaligned range across two blocks. */
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(cache_read(c, v, size, BS - 10, 30, buf), 0);
	ck_assert(memcmp(buf, want + BS - 10, 30) == 0);
	ck_assert_int_eq(cache_read(c, v, size, 5, 0, buf), 0);
	struct cache_stats cs = cstats(c);
	ck_assert_uint_eq(cs.misses, 3);
	ck_assert_uint_ge(cs.hits, 2);
	ck_assert_uint_eq(sstats(st).gets, 3);

	/* Modify a few bytes of block 1 and read them back. */
	ck_assert_int_eq(cache_modify(c, v, 1, BS, BS, 10, "HELLO", 5), 0);
	memcpy(want + BS + 10, "HELLO", 5);
	ck_assert_int_eq(cache_read(c, v, size, 0, size, buf), 0);
	ck_assert(memcmp(buf, want, size) == 0);
	ck_assert_uint_eq(cstats(c).blocks_dirty, 1);
	/* Nothing reached the store yet. */
	expect_stored(st, "v", 1, BS, 0);

	/* Grow the last block from 100 to 300 bytes writing at 250: the bytes
	 * in between are zeros. */
	ck_assert_int_eq(cache_modify(c, v, 2, 100, 300, 250, "0123456789", 10), 0);
	memset(want + 2 * BS + 100, 0, 150);
	memcpy(want + 2 * BS + 250, "0123456789", 10);
	memset(want + 2 * BS + 260, 0, 40);
	size = 2 * BS + 300;
	ck_assert_int_eq(cache_read(c, v, size, 0, size, buf), 0);
	ck_assert(memcmp(buf, want, size) == 0);

	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(cstats(c).blocks_dirty, 0);
	ck_assert_uint_eq(sstats(st).puts, 3 + 2); /* the 3 of the fixture, 2 uploads */
	char key[64];
	size_t got;
	util_block_key(key, sizeof(key), "v", 1);
	ck_assert_int_eq(store_get(st, key, 0, BS, buf, &got), 0);
	ck_assert_uint_eq(got, BS);
	ck_assert(memcmp(buf, want + BS, BS) == 0);
	util_block_key(key, sizeof(key), "v", 2);
	ck_assert_int_eq(store_get(st, key, 0, BS, buf, &got), 0);
	ck_assert_uint_eq(got, 300);
	ck_assert(memcmp(buf, want + 2 * BS, 300) == 0);
	expect_stored(st, "v", 0, BS, 0);

	/* Another volume object (a cold cache) sees the stored bytes. */
	struct vol *w = vol_new(c, 2, BS, "v", 3);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(cache_read(c, w, size, 0, size, buf), 0);
	ck_assert(memcmp(buf, want, size) == 0);
	struct vol *vols[] = {v, w};
	finish(&st, &c, vols, 2);
}
END_TEST

/* A partial write of a block that is not cached reads it first. */
START_TEST(test_partial_write_fetches)
{
	struct store *st = mem_store_create();
	unsigned char buf[BS], want[BS];

	store_block(st, "p", 0, BS, 3);
	store_block(st, "p", 1, 1000, 3);
	struct cache *c = cache_new(st, 64, 32, 2, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "p", 2);

	ck_assert_int_eq(cache_modify(c, v, 0, BS, BS, 100, "xyz", 3), 0);
	ck_assert_uint_eq(sstats(st).gets, 1);
	/* Shrinking the last block (truncate) needs the old bytes too. */
	ck_assert_int_eq(cache_modify(c, v, 1, 1000, 500, 0, NULL, 0), 0);
	ck_assert_uint_eq(sstats(st).gets, 2);
	/* A write covering the old bytes does not read. */
	unsigned char full[BS];
	fill(full, 2, BS, 0);
	ck_assert_int_eq(cache_modify(c, v, 2, 0, BS, 0, full, BS), 0);
	ck_assert_uint_eq(sstats(st).gets, 2);

	ck_assert_int_eq(cache_flush(c, v), 0);
	fill(want, 0, BS, 3);
	memcpy(want + 100, "xyz", 3);
	size_t got;
	ck_assert_int_eq(store_get(st, "p/0000000000", 0, BS, buf, &got), 0);
	ck_assert_uint_eq(got, BS);
	ck_assert(memcmp(buf, want, BS) == 0);
	expect_stored(st, "p", 1, 500, 3);
	expect_stored(st, "p", 2, BS, 0);

	/* Growing the shrunk block again: the cut bytes come back as zeros,
	 * not as the old data. */
	ck_assert_int_eq(cache_modify(c, v, 1, 500, 1000, 0, NULL, 0), 0);
	ck_assert_int_eq(cache_read(c, v, 2 * BS + 1000, BS, 1000, buf), 0);
	fill(want, 1, 500, 3);
	memset(want + 500, 0, 500);
	ck_assert(memcmp(buf, want, 1000) == 0);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* ---------------------------------------------------------------- write-back */

START_TEST(test_writeback_exact_blocks)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 4, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "db", 0);

	for (uint64_t b = 0; b < 4; b++)
		write_block(c, v, b, 0, BS, 1);
	write_block(c, v, 4, 0, 100, 1);
	ck_assert_uint_eq(mem_store_count(st), 0);
	ck_assert_uint_eq(cache_dirty_blocks(c), 5);
	ck_assert_uint_eq(cstats(c).bytes_dirty, 5 * BS);
	ck_assert(!cache_vol_idle(c, v));

	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(mem_store_count(st), 5);
	ck_assert_uint_eq(sstats(st).puts, 5);
	ck_assert_uint_eq(sstats(st).bytes_up, 4 * BS + 100);
	for (uint64_t b = 0; b < 4; b++)
		expect_stored(st, "db", b, BS, 1);
	expect_stored(st, "db", 4, 100, 1);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	ck_assert_uint_eq(cstats(c).uploads, 5);
	ck_assert_uint_eq(cache_stored_end(c, v), 5);
	ck_assert(cache_vol_idle(c, v));

	/* Only the dirty block goes up again. */
	write_block(c, v, 2, BS, BS, 2);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(sstats(st).puts, 6);
	expect_stored(st, "db", 2, BS, 2);
	expect_stored(st, "db", 1, BS, 1);

	/* Nothing dirty: no request (the test's own checks made the GETs). */
	struct store_stats before = sstats(st);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_int_eq(cache_flush(c, NULL), 0);
	struct store_stats after = sstats(st);
	ck_assert_uint_eq(after.puts, 6);
	ck_assert_uint_eq(after.gets, before.gets);
	ck_assert_uint_eq(after.heads, before.heads);
	ck_assert_uint_eq(cstats(c).misses, 0); /* whole-block writes never read */
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

static int
cond_uploaded_3(void *arg)
{
	return cstats(arg).uploads >= 3;
}

/* Without fsync, blocks older than the write-back delay go up by themselves. */
START_TEST(test_writeback_delay)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 2, 0, BS);
	struct vol *v = vol_new(c, 1, BS, "wb", 0);

	for (uint64_t b = 0; b < 3; b++)
		write_block(c, v, b, 0, BS, 4);
	ck_assert(wait_for(cond_uploaded_3, c));
	for (uint64_t b = 0; b < 3; b++)
		expect_stored(st, "wb", b, BS, 4);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(sstats(st).puts, 3);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

START_TEST(test_flush_all_volumes)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 4, NEVER_MS, BS);
	struct vol *a = vol_new(c, 1, BS, "a", 0), *b = vol_new(c, 2, 4095, "dir/b", 0);

	write_block(c, a, 0, 0, BS, 1);
	write_block(c, a, 1, 0, 10, 1);
	write_block(c, b, 0, 0, 4095, 2);
	write_block(c, b, 1, 0, 4095, 2);
	write_block(c, b, 2, 0, 1, 2);
	ck_assert_uint_eq(cache_dirty_blocks(c), 5);
	ck_assert_int_eq(cache_flush(c, NULL), 0);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	expect_stored(st, "a", 0, BS, 1);
	expect_stored(st, "a", 1, 10, 1);
	expect_stored(st, "dir/b", 0, 4095, 2);
	expect_stored(st, "dir/b", 1, 4095, 2);
	expect_stored(st, "dir/b", 2, 1, 2);
	ck_assert_uint_eq(mem_store_count(st), 5);
	struct vol *vols[] = {a, b};
	finish(&st, &c, vols, 2);
}
END_TEST

/* ---------------------------------------------------------------- flush contract */

START_TEST(test_flush_returns_when_stored)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 4, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "slow", 0);

	mem_store_set_delay(st, 30);
	for (uint64_t b = 0; b < 8; b++)
		write_block(c, v, b, 0, BS, 5);
	ck_assert_int_eq(cache_flush(c, v), 0);
	/* Right after the return, every block is in the store... */
	ck_assert_uint_eq(mem_store_count(st), 8);
	/* ... and no upload is still running. */
	ck_assert_uint_eq(inflight_now(st), 0);
	mem_store_set_delay(st, 0);
	for (uint64_t b = 0; b < 8; b++)
		expect_stored(st, "slow", b, BS, 5);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

START_TEST(test_flush_error_nothing_lost)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 4, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "e", 0);

	/* The store refuses uploads (no retry layer in this stack): fsync
	 * fails, the block stays dirty, and a later fsync stores it. */
	struct settle se = {st, c, 0, 0};
	write_block(c, v, 0, 0, BS, 1);
	mem_store_fail(st, MEM_PUT, -EIO, 0);
	ck_assert_int_eq(cache_flush(c, v), -EIO);
	ck_assert_uint_eq(mem_store_count(st), 0);
	ck_assert_uint_eq(cache_dirty_blocks(c), 1);
	ck_assert_uint_ge(cstats(c).upload_errors, 1);
	ck_assert(wait_for(cond_settled, &se));
	mem_store_fail(st, 0, 0, 0);
	ck_assert_int_eq(cache_flush(c, v), 0);
	expect_stored(st, "e", 0, BS, 1);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);

	/* A single failure: the worker may retry at once while the fsync
	 * waits, so fsync returns the error or 0, but 0 only when stored. */
	write_block(c, v, 0, BS, BS, 5);
	mem_store_fail(st, MEM_PUT, -EIO, 1);
	int rc = cache_flush(c, v);
	ck_assert_msg(rc == 0 || rc == -EIO, "fsync: %d", rc);
	if (rc == 0) {
		expect_stored(st, "e", 0, BS, 5);
	} else {
		ck_assert_int_eq(cache_flush(c, v), 0);
		expect_stored(st, "e", 0, BS, 5);
	}
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	write_block(c, v, 0, BS, BS, 1);
	ck_assert_int_eq(cache_flush(c, v), 0);

	/* The store keeps failing: every fsync fails, nothing is dropped. */
	write_block(c, v, 1, 0, BS, 2);
	write_block(c, v, 2, 0, BS, 2);
	write_block(c, v, 3, 0, 77, 2);
	mem_store_fail(st, MEM_PUT, -ENOSPC, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(cache_flush(c, v), -ENOSPC);
		ck_assert_uint_eq(cache_dirty_blocks(c), 3);
	}
	ck_assert_int_eq(cache_flush(c, NULL), -ENOSPC);
	ck_assert_uint_eq(mem_store_count(st), 1);
	/* A write meanwhile is kept too. */
	write_block(c, v, 2, BS, BS, 3);
	/* fsync returns at the first failure; uploads of the same round may
	 * still be failing: let them end before the store recovers. */
	se.idle_polls = 0;
	ck_assert(wait_for(cond_settled, &se));
	mem_store_fail(st, 0, 0, 0);
	/* A failure after the last fsync returned is reported by the next
	 * one (sticky), though its retry stores the block; then no more. */
	rc = cache_flush(c, v);
	ck_assert_msg(rc == 0 || rc == -ENOSPC, "fsync: %d", rc);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	expect_stored(st, "e", 0, BS, 1);
	expect_stored(st, "e", 1, BS, 2);
	expect_stored(st, "e", 2, BS, 3);
	expect_stored(st, "e", 3, 77, 2);
	ck_assert_uint_eq(cache_stored_end(c, v), 4);

	/* One failure among several uploads. */
	for (uint64_t b = 0; b < 4; b++)
		write_block(c, v, b, b == 3 ? 77 : BS, BS, 4);
	mem_store_fail(st, MEM_PUT, -EIO, 1);
	rc = cache_flush(c, v);
	ck_assert_msg(rc == 0 || rc == -EIO, "fsync: %d", rc);
	se.idle_polls = 0;
	ck_assert(wait_for(cond_settled, &se));
	ck_assert_int_eq(cache_flush(c, v), 0);
	for (uint64_t b = 0; b < 4; b++)
		expect_stored(st, "e", b, BS, 4);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

static int
cond_upload_error(void *arg)
{
	return cstats(arg).upload_errors >= 1;
}

/*
 * DESIGN.md section 5: "the error is sticky and returned by the next
 * fsync/close of that volume".  An upload that fails in the background
 * (write-back, no fsync waiting) must make the next fsync fail even if the
 * retry it triggers succeeds.
 */
START_TEST(test_background_error_sticky)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 2, 0, BS);
	struct vol *v = vol_new(c, 1, BS, "bg", 0);

	mem_store_fail(st, MEM_PUT, -EIO, 1);
	write_block(c, v, 0, 0, BS, 1);
	ck_assert(wait_for(cond_upload_error, c));
	ck_assert_int_eq(cache_flush(c, v), -EIO);
	/* Reported once; the data is not lost. */
	ck_assert_int_eq(cache_flush(c, v), 0);
	expect_stored(st, "bg", 0, BS, 1);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* ---------------------------------------------------------------- concurrent writes */

struct flusher {
	struct cache *c;
	struct vol *v;
	int rc;
	int done;
};

static void *
flush_thread(void *arg)
{
	struct flusher *f = arg;

	f->rc = cache_flush(f->c, f->v);
	__atomic_store_n(&f->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* A write during the upload of the same block: the flush that started
 * before it is satisfied by the old bytes; the new bytes are uploaded by
 * the next flush and are the final content. */
START_TEST(test_write_during_upload)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 4, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "cow", 0);
	struct flusher f = {c, v, 1, 0};
	pthread_t t;

	write_block(c, v, 0, 0, BS, 1);
	mem_store_set_delay(st, 200);
	ck_assert_int_eq(pthread_create(&t, NULL, flush_thread, &f), 0);
	ck_assert(wait_for(cond_inflight, st));
	write_block(c, v, 0, BS, BS, 2); /* while generation 1 is being sent */
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(f.rc, 0);
	/* The flush began before generation 2: it may return with generation
	 * 1 stored (a worker may have started sending 2 meanwhile), whole. */
	unsigned char buf[BS], want[BS];
	size_t got;
	ck_assert_int_eq(store_get(st, "cow/0000000000", 0, BS, buf, &got), 0);
	ck_assert_uint_eq(got, BS);
	fill(want, 0, BS, buf[0] == pat(0, 0, 1) ? 1 : 2);
	ck_assert_msg(memcmp(buf, want, BS) == 0, "torn block after the first fsync");
	/* The cache shows the new bytes meanwhile. */
	ck_assert_int_eq(cache_read(c, v, BS, 0, BS, buf), 0);
	fill(want, 0, BS, 2);
	ck_assert(memcmp(buf, want, BS) == 0);
	mem_store_set_delay(st, 0);
	ck_assert_int_eq(cache_flush(c, v), 0);
	expect_stored(st, "cow", 0, BS, 2);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* An fsync called while a stale upload (it predates the last write) is
 * under way must wait for the upload of the last write. */
START_TEST(test_fsync_during_stale_upload)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 4, 0, BS); /* write-back at once */
	struct vol *v = vol_new(c, 1, BS, "stale", 0);

	mem_store_set_delay(st, 200);
	write_block(c, v, 0, 0, BS, 1);
	ck_assert(wait_for(cond_inflight, st)); /* generation 1 is being sent */
	write_block(c, v, 0, BS, BS, 2);
	ck_assert_int_eq(cache_flush(c, v), 0);
	/* Generation 2 was written before the fsync: it must be stored. */
	mem_store_set_delay(st, 0);
	expect_stored(st, "stale", 0, BS, 2);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

struct hammer {
	struct cache *c;
	struct vol *v;
	unsigned gens;
	unsigned last; /* the last generation written */
};

static void *
hammer_thread(void *arg)
{
	struct hammer *h = arg;

	for (unsigned g = 1; g <= h->gens; g++) {
		for (uint64_t b = 0; b < 3; b++)
			write_block(h->c, h->v, b, g == 1 ? 0 : BS, BS, g);
		__atomic_store_n(&h->last, g, __ATOMIC_SEQ_CST);
		if (g % 4 == 0)
			usleep(2000);
	}
	return NULL;
}

/* Writers and fsyncs at once on slow uploads: after the last write and a
 * final fsync, the store holds exactly the last generation, whole. */
START_TEST(test_concurrent_writes_and_flushes)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 8, 0, BS);
	struct vol *v = vol_new(c, 1, BS, "race", 0);
	struct hammer h = {c, v, 60, 0};
	pthread_t t;

	mem_store_set_delay(st, 3);
	ck_assert_int_eq(pthread_create(&t, NULL, hammer_thread, &h), 0);
	while (__atomic_load_n(&h.last, __ATOMIC_SEQ_CST) < h.gens) {
		/* Each fsync stores at least what was written before it. */
		unsigned before = __atomic_load_n(&h.last, __ATOMIC_SEQ_CST);
		ck_assert_int_eq(cache_flush(c, v), 0);
		if (before > 0) {
			for (uint64_t b = 0; b < 3; b++) {
				unsigned char buf[BS];
				size_t got;
				char key[64];
				util_block_key(key, sizeof(key), "race", b);
				ck_assert_int_eq(store_get(st, key, 0, BS, buf, &got), 0);
				ck_assert_uint_eq(got, BS);
				/* Whole (one generation), and not older than before. */
				unsigned g;
				for (g = before; g <= h.gens; g++)
					if (buf[0] == pat(b, 0, g) && buf[BS - 1] == pat(b, BS - 1, g))
						break;
				ck_assert_msg(g <= h.gens, "block %llu older than generation %u",
					      (unsigned long long)b, before);
				unsigned char want[BS];
				fill(want, b, BS, g);
				ck_assert_msg(memcmp(buf, want, BS) == 0, "block %llu torn",
					      (unsigned long long)b);
			}
		}
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(cache_flush(c, v), 0);
	mem_store_set_delay(st, 0);
	for (uint64_t b = 0; b < 3; b++)
		expect_stored(st, "race", b, BS, h.gens);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* ---------------------------------------------------------------- discard */

START_TEST(test_discard)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 4, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "d", 0);

	for (uint64_t b = 0; b < 4; b++)
		write_block(c, v, b, 0, BS, 1);
	cache_discard(c, v, 2);
	ck_assert_uint_eq(cache_dirty_blocks(c), 2);
	ck_assert_uint_eq(cstats(c).bytes_dirty, 2 * BS);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(sstats(st).puts, 2);
	expect_stored(st, "d", 0, BS, 1);
	expect_stored(st, "d", 1, BS, 1);
	expect_missing(st, "d", 2);
	expect_missing(st, "d", 3);

	/* Everything, clean and dirty. */
	write_block(c, v, 1, BS, BS, 2);
	cache_discard(c, v, 0);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	ck_assert_uint_eq(cstats(c).bytes_cached, 0);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(sstats(st).puts, 2);
	expect_stored(st, "d", 1, BS, 1);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* A discard during an upload of a doomed block waits for it, and the block
 * is not uploaded again after. */
START_TEST(test_discard_during_upload)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 4, 0, BS);
	struct vol *v = vol_new(c, 1, BS, "dd", 0);

	mem_store_set_delay(st, 150);
	write_block(c, v, 0, 0, BS, 1);
	ck_assert(wait_for(cond_inflight, st));
	write_block(c, v, 0, BS, BS, 2); /* redirtied while WRITING */
	cache_discard(c, v, 0);
	ck_assert_uint_eq(inflight_now(st), 0);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	uint64_t puts = sstats(st).puts;
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(sstats(st).puts, puts);
	ck_assert_uint_eq(puts, 1);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* A flush waiting for blocks that get discarded returns. */
START_TEST(test_discard_releases_flush)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 2, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "df", 0);
	struct flusher f = {c, v, 1, 0};
	pthread_t t;

	for (uint64_t b = 0; b < 8; b++)
		write_block(c, v, b, 0, BS, 1);
	mem_store_fail(st, MEM_PUT, -EAGAIN, 0);
	mem_store_set_delay(st, 20);
	ck_assert_int_eq(pthread_create(&t, NULL, flush_thread, &f), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(f.rc, -EAGAIN);
	/* Still failing: the discard waits for the uploads under way, after
	 * it nothing of the volume is sent. */
	cache_discard(c, v, 0);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	uint64_t puts = sstats(st).puts;
	mem_store_fail(st, 0, 0, 0);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(mem_store_count(st), 0);
	ck_assert_uint_eq(sstats(st).puts, puts);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

struct reader {
	struct cache *c;
	struct vol *v;
	uint64_t size, off;
	size_t n;
	int rc;
};

static void *
read_thread(void *arg)
{
	struct reader *r = arg;
	unsigned char *buf = malloc(r->n);

	r->rc = cache_read(r->c, r->v, r->size, r->off, r->n, buf);
	free(buf);
	return NULL;
}

static void *
discard_thread(void *arg)
{
	struct flusher *f = arg;

	cache_discard(f->c, f->v, 1);
	__atomic_store_n(&f->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int
cond_done(void *arg)
{
	return __atomic_load_n(&((struct flusher *)arg)->done, __ATOMIC_SEQ_CST);
}

/*
 * A truncate (cache_discard) while a read holds doomed blocks: the reader
 * pins block 1 (cached) while it waits for block 2's fetch; the discard
 * must return once the reader is done, whichever wakes first.
 */
START_TEST(test_discard_during_read)
{
	for (int round = 0; round < 6; round++) {
		struct store *st = mem_store_create();
		for (uint64_t b = 0; b < 3; b++)
			store_block(st, "r", b, BS, 1);
		struct cache *c = cache_new(st, 64, 32, 2, NEVER_MS, BS);
		struct vol *v = vol_new(c, 1, BS, "r", 3);
		unsigned char buf[BS];
		ck_assert_int_eq(cache_read(c, v, 3 * BS, BS, BS, buf), 0); /* block 1 cached */
		mem_store_set_delay(st, 100);
		struct reader r = {c, v, 3 * BS, BS, 2 * BS, 1};
		struct flusher f = {c, v, 0, 0};
		pthread_t tr, td;
		ck_assert_int_eq(pthread_create(&tr, NULL, read_thread, &r), 0);
		ck_assert(wait_for(cond_inflight, st)); /* block 2 is being fetched */
		ck_assert_int_eq(pthread_create(&td, NULL, discard_thread, &f), 0);
		ck_assert_int_eq(pthread_join(tr, NULL), 0);
		ck_assert_int_eq(r.rc, 0);
		/* The reader is done: the discard must finish by itself. */
		ck_assert_msg(wait_for(cond_done, &f), "round %d: cache_discard never returned",
			      round);
		ck_assert_int_eq(pthread_join(td, NULL), 0);
		struct vol *vols[] = {v};
		finish(&st, &c, vols, 1);
	}
}
END_TEST

/* ---------------------------------------------------------------- memory bounds */

START_TEST(test_eviction_bounded)
{
	struct store *st = mem_store_create();
	const uint64_t nb = 64, cap = 8;
#define NDIRTY 3

	for (uint64_t b = 0; b < nb; b++)
		store_block(st, "big", b, BS, 7);
	struct cache *c = cache_new(st, cap, cap, 4, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "big", nb);
	unsigned char buf[BS], want[BS];

	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t b = 0; b < nb; b++) {
			ck_assert_int_eq(cache_read(c, v, nb * BS, b * BS, BS, buf), 0);
			fill(want, b, BS, 7);
			ck_assert_msg(memcmp(buf, want, BS) == 0, "block %llu",
				      (unsigned long long)b);
			ck_assert_uint_le(cstats(c).bytes_cached, cap * BS);
		}
	}
	/* Evicted blocks were fetched again, correctly. */
	ck_assert_uint_eq(sstats(st).gets, 2 * nb);
	ck_assert_uint_ge(cstats(c).evictions, 2 * nb - cap);

	/* Dirty blocks are never evicted; clean ones make room for them.
	 * (Fewer than half the dirty limit: write-back does not start.) */
	for (uint64_t b = 0; b < NDIRTY; b++)
		write_block(c, v, b, BS, BS, 8);
	for (uint64_t b = nb / 2; b < nb; b++) {
		ck_assert_int_eq(cache_read(c, v, nb * BS, b * BS, BS, buf), 0);
		ck_assert_uint_le(cstats(c).bytes_cached, cap * BS);
	}
	ck_assert_uint_eq(cache_dirty_blocks(c), NDIRTY);
	ck_assert_uint_eq(mem_store_count(st), nb);
	for (uint64_t b = 0; b < NDIRTY; b++) {
		ck_assert_int_eq(cache_read(c, v, nb * BS, b * BS, BS, buf), 0);
		fill(want, b, BS, 8);
		ck_assert(memcmp(buf, want, BS) == 0);
	}
	ck_assert_int_eq(cache_flush(c, v), 0);
	for (uint64_t b = 0; b < nb; b++)
		expect_stored(st, "big", b, BS, b < NDIRTY ? 8 : 7);

	/* A large read still returns the right bytes. */
	unsigned char *all = malloc(nb * BS);
	ck_assert_int_eq(cache_read(c, v, nb * BS, 0, nb * BS, all), 0);
	for (uint64_t b = 0; b < nb; b++) {
		fill(want, b, BS, b < NDIRTY ? 8 : 7);
		ck_assert(memcmp(all + b * BS, want, BS) == 0);
	}
	free(all);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

struct writer {
	struct cache *c;
	struct vol *v;
	uint64_t nblocks;
	unsigned done; /* blocks written so far */
};

static void *
writer_thread(void *arg)
{
	struct writer *w = arg;

	for (uint64_t b = 0; b < w->nblocks; b++) {
		write_block(w->c, w->v, b, 0, BS, 9);
		__atomic_add_fetch(&w->done, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static int
cond_writer_waits(void *arg)
{
	struct cache_stats s = cstats(arg);

	return s.writer_waits >= 1 && s.upload_errors >= 1;
}

/* At the dirty limit a writer waits until write-back makes room. */
START_TEST(test_dirty_limit_waits)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 4, 4, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "lim", 0);
	struct writer w = {c, v, 12, 0};
	pthread_t t;

	/* The store refuses every upload: dirty data cannot drain. */
	mem_store_fail(st, MEM_PUT, -EIO, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, writer_thread, &w), 0);
	ck_assert(wait_for(cond_writer_waits, c));
	/* Exactly the limit got in; the writer is stuck on the next block. */
	ck_assert_uint_eq(__atomic_load_n(&w.done, __ATOMIC_SEQ_CST), 4);
	ck_assert_uint_eq(cstats(c).bytes_dirty, 4 * BS);
	ck_assert_uint_eq(mem_store_count(st), 0);
	/* Some more failed retries change nothing. */
	uint64_t errs = cstats(c).upload_errors;
	for (int i = 0; i < 20000 && cstats(c).upload_errors < errs + 2; i++)
		usleep(1000);
	ck_assert_uint_eq(__atomic_load_n(&w.done, __ATOMIC_SEQ_CST), 4);

	/* The store recovers: the writer finishes. */
	mem_store_fail(st, 0, 0, 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(w.done, 12);
	ck_assert_uint_le(cstats(c).bytes_dirty, 4 * BS);
	/* The write-back failures are reported once (sticky), then not. */
	ck_assert_int_eq(cache_flush(c, v), -EIO);
	ck_assert_int_eq(cache_flush(c, v), 0);
	for (uint64_t b = 0; b < 12; b++)
		expect_stored(st, "lim", b, BS, 9);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* ---------------------------------------------------------------- missing blocks */

START_TEST(test_missing_block_is_eio)
{
	struct store *st = mem_store_create();
	unsigned char buf[3 * BS];

	store_block(st, "h", 0, BS, 1);
	store_block(st, "h", 2, 50, 1); /* block 1 is missing */
	struct cache *c = cache_new(st, 64, 32, 2, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "h", 3);
	uint64_t size = 2 * BS + 50;

	ck_assert_int_eq(cache_read(c, v, size, 0, BS, buf), 0);
	ck_assert_int_eq(cache_read(c, v, size, BS, 10, buf), -EIO);
	ck_assert_int_eq(cache_read(c, v, size, 0, size, buf), -EIO);
	ck_assert_int_eq(cache_read(c, v, size, 2 * BS, 50, buf), 0);
	/* A partial write of the missing block cannot read it either. */
	ck_assert_int_eq(cache_modify(c, v, 1, BS, BS, 5, "x", 1), -EIO);
	ck_assert_uint_eq(cache_dirty_blocks(c), 0);
	ck_assert_uint_ge(cstats(c).fetch_errors, 3);

	/* A block shorter than the size says is an error, not zeros (a cold
	 * volume object: v has block 2 cached). */
	struct vol *u = vol_new(c, 3, BS, "h", 3);
	ck_assert_int_eq(cache_read(c, u, 2 * BS + 100, 2 * BS, 100, buf), -EIO);

	/* The error is not cached: once the block exists it reads. */
	store_block(st, "h", 1, BS, 1);
	ck_assert_int_eq(cache_read(c, v, size, BS, BS, buf), 0);
	unsigned char want[BS];
	fill(want, 1, BS, 1);
	ck_assert(memcmp(buf, want, BS) == 0);

	/* A store failure on GET is reported, then reads work again. */
	struct vol *w = vol_new(c, 2, BS, "h", 3);
	mem_store_fail(st, MEM_GET, -ETIMEDOUT, 1);
	ck_assert_int_eq(cache_read(c, w, size, 0, BS, buf), -ETIMEDOUT);
	ck_assert_int_eq(cache_read(c, w, size, 0, BS, buf), 0);
	fill(want, 0, BS, 1);
	ck_assert(memcmp(buf, want, BS) == 0);
	struct vol *vols[] = {v, w, u};
	finish(&st, &c, vols, 3);
}
END_TEST

/* ---------------------------------------------------------------- parallelism */

START_TEST(test_parallel_flush)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 128, 64, 16, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "par", 0);

	for (uint64_t b = 0; b < 64; b++)
		write_block(c, v, b, 0, BS, 2);
	mem_store_set_delay(st, 20);
	ck_assert_int_eq(cache_flush(c, v), 0);
	unsigned max = inflight_max(st);
	/* 16 workers and 64 slow uploads: far more than one at a time. */
	ck_assert_msg(max >= 8, "at most %u uploads at once", max);
	ck_assert_uint_le(max, 16);
	mem_store_set_delay(st, 0);
	for (uint64_t b = 0; b < 64; b++)
		expect_stored(st, "par", b, BS, 2);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

START_TEST(test_parallel_fetch_and_prefetch)
{
	struct store *st = mem_store_create();
	for (uint64_t b = 0; b < 32; b++)
		store_block(st, "rd", b, BS, 6);
	struct cache *c = cache_new(st, 128, 64, 16, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "rd", 32);
	unsigned char *buf = malloc(32 * BS), want[BS];

	mem_store_set_delay(st, 20);
	ck_assert_int_eq(cache_read(c, v, 32 * BS, 0, 16 * BS, buf), 0);
	ck_assert_msg(inflight_max(st) >= 4, "at most %u fetches at once", inflight_max(st));
	for (uint64_t b = 0; b < 16; b++) {
		fill(want, b, BS, 6);
		ck_assert(memcmp(buf + b * BS, want, BS) == 0);
	}
	/* Read-ahead: the blocks are fetched without a reader, then hit. */
	cache_prefetch(c, v, 32 * BS, 16, 8);
	ck_assert_uint_eq(cstats(c).readahead, 8);
	ck_assert_int_eq(cache_read(c, v, 32 * BS, 16 * BS, 8 * BS, buf), 0);
	struct cache_stats cs = cstats(c);
	ck_assert_uint_eq(cs.misses, 16);
	ck_assert_uint_ge(cs.hits, 8);
	ck_assert_uint_eq(sstats(st).gets, 24);
	for (uint64_t b = 16; b < 24; b++) {
		fill(want, b, BS, 6);
		ck_assert(memcmp(buf + (b - 16) * BS, want, BS) == 0);
	}
	/* Read-ahead stops at the end of the volume. */
	cache_prefetch(c, v, 32 * BS, 30, 100);
	ck_assert_int_eq(cache_read(c, v, 32 * BS, 30 * BS, 2 * BS, buf), 0);
	ck_assert_uint_eq(sstats(st).gets, 26);
	free(buf);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* ---------------------------------------------------------------- extension window */

/*
 * A store layer over mem that checks the window rule on every PUT of a
 * block of prefix "w": block N may be sent only while N < C + VOL_EXT_WINDOW,
 * C being the number of contiguous blocks from 0 the store holds.  PUTs of
 * block 0 wait at a gate the test opens.
 */
#define WBLOCKS 1200

struct wpriv {
	struct store *lower;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int gate_open;
	unsigned char stored[WBLOCKS];
	uint64_t contig, nstored;
	uint64_t max_started; /* highest block whose PUT started, +1 */
	unsigned violations;
	uint64_t first_violation;
};

static int
wblk(const char *key, uint64_t *blk)
{
	return strncmp(key, "w/", 2) == 0 && util_parse_block_name(key + 2, blk) == 0 &&
	       *blk < WBLOCKS;
}

static int
w_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got)
{
	struct wpriv *p = st->priv;
	return store_get(p->lower, key, off, len, buf, got);
}

static int
w_put(struct store *st, const char *key, const void *buf, size_t len)
{
	struct wpriv *p = st->priv;
	uint64_t blk;
	int isblk = wblk(key, &blk);

	if (isblk) {
		CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
		if (blk >= p->contig + VOL_EXT_WINDOW && !p->stored[blk]) {
			if (p->violations++ == 0)
				p->first_violation = blk;
		}
		if (blk + 1 > p->max_started)
			p->max_started = blk + 1;
		while (blk == 0 && !p->gate_open)
			CHECK_PTHREAD(pthread_cond_wait(&p->cond, &p->lock));
		CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	}
	int rc = store_put(p->lower, key, buf, len);
	if (rc == 0 && isblk) {
		CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
		if (!p->stored[blk]) {
			p->stored[blk] = 1;
			p->nstored++;
		}
		while (p->contig < WBLOCKS && p->stored[p->contig])
			p->contig++;
		CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	}
	return rc;
}

static int
w_head(struct store *st, const char *key, uint64_t *size, time_t *mtime)
{
	struct wpriv *p = st->priv;
	return store_head(p->lower, key, size, mtime);
}

static int
w_del(struct store *st, const char *const *keys, size_t n)
{
	struct wpriv *p = st->priv;
	return store_del(p->lower, keys, n);
}

static int
w_list(struct store *st, const char *prefix, const char *delimiter, const char *start_after,
       size_t max_keys, store_list_cb cb, void *arg)
{
	struct wpriv *p = st->priv;
	return store_list(p->lower, prefix, delimiter, start_after, max_keys, cb, arg);
}

static void
w_destroy(struct store *st)
{
	struct wpriv *p = st->priv;

	store_destroy(&p->lower);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
	free(st);
}

static const struct store_ops w_ops = {
	.name = "window-check",
	.get = w_get,
	.put = w_put,
	.head = w_head,
	.del = w_del,
	.list = w_list,
	.destroy = w_destroy,
};

static struct store *
wstore_create(void)
{
	struct store *st = calloc(1, sizeof(*st));
	struct wpriv *p = calloc(1, sizeof(*p));

	ck_assert(st && p);
	p->lower = mem_store_create();
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	st->ops = &w_ops;
	st->priv = p;
	st->lower = p->lower;
	return st;
}

static int
cond_window_full(void *arg)
{
	struct wpriv *p = arg;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	int full = p->nstored >= VOL_EXT_WINDOW - 1;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	return full;
}

START_TEST(test_extension_window)
{
	const uint32_t bs = 64;
	struct store *st = wstore_create();
	struct wpriv *wp = st->priv;
	struct cache *c = cache_new(st, 4 * WBLOCKS, 4 * WBLOCKS, 16, NEVER_MS, bs);
	struct vol *v = vol_new(c, 1, bs, "w", 0);
	struct flusher f = {c, v, 1, 0};
	pthread_t t;

	/* A large extension of an empty volume. */
	for (uint64_t b = 0; b < WBLOCKS; b++)
		write_block(c, v, b, 0, b + 1 < WBLOCKS ? bs : 10, 1);
	ck_assert_uint_eq(cache_stored_end(c, v), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, flush_thread, &f), 0);

	/* Block 0 is held: the uploads stop at the window. */
	ck_assert(wait_for(cond_window_full, wp));
	CHECK_PTHREAD(pthread_mutex_lock(&wp->lock));
	uint64_t nstored = wp->nstored, max_started = wp->max_started;
	CHECK_PTHREAD(pthread_mutex_unlock(&wp->lock));
	ck_assert_uint_eq(nstored, VOL_EXT_WINDOW - 1);
	ck_assert_uint_le(max_started, VOL_EXT_WINDOW);
	ck_assert(!__atomic_load_n(&f.done, __ATOMIC_SEQ_CST));
	/* Stored blocks 1..255 past a hole at 0: the stored end is 256. */
	ck_assert_uint_eq(cache_stored_end(c, v), VOL_EXT_WINDOW);

	CHECK_PTHREAD(pthread_mutex_lock(&wp->lock));
	wp->gate_open = 1;
	CHECK_PTHREAD(pthread_cond_broadcast(&wp->cond));
	CHECK_PTHREAD(pthread_mutex_unlock(&wp->lock));
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(f.rc, 0);

	ck_assert_msg(wp->violations == 0, "%u uploads past the window, first block %llu",
		      wp->violations, (unsigned long long)wp->first_violation);
	ck_assert_uint_eq(wp->nstored, WBLOCKS);
	ck_assert_uint_eq(wp->contig, WBLOCKS);
	for (uint64_t b = 0; b < WBLOCKS; b++)
		expect_stored(st, "w", b, b + 1 < WBLOCKS ? bs : 10, 1);
	ck_assert_uint_eq(mem_store_count(wp->lower), WBLOCKS);
	ck_assert_uint_eq(cache_stored_end(c, v), WBLOCKS);

	/* Bookkeeping after deletes (truncate): the end follows. */
	cache_set_stored_end(c, v, 700);
	ck_assert_uint_eq(cache_stored_end(c, v), 700);
	cache_set_stored_end(c, v, 0);
	ck_assert_uint_eq(cache_stored_end(c, v), 0);
	ck_assert(!cache_vol_idle(c, v)); /* nothing stored: it cannot be dropped */
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* Blocks stored out of order inside the window, and an end lowered into
 * the window. */
START_TEST(test_stored_end_bookkeeping)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 4, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "se", 5);

	ck_assert_uint_eq(cache_stored_end(c, v), 5);
	write_block(c, v, 5, 0, BS, 1);
	write_block(c, v, 6, 0, BS, 1);
	write_block(c, v, 7, 0, 9, 1);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(cache_stored_end(c, v), 8);
	/* Truncate to 6 blocks: deletes 6 and 7. */
	cache_set_stored_end(c, v, 6);
	ck_assert_uint_eq(cache_stored_end(c, v), 6);
	write_block(c, v, 6, 0, 1, 2);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_uint_eq(cache_stored_end(c, v), 7);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

/* ---------------------------------------------------------------- misc */

START_TEST(test_set_path)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 2, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "old", 0);

	write_block(c, v, 0, 0, BS, 1);
	ck_assert_int_eq(cache_flush(c, v), 0);
	ck_assert_int_eq(cache_vol_set_path(c, v, "new/name"), 0);
	write_block(c, v, 1, 0, 5, 1);
	ck_assert_int_eq(cache_flush(c, v), 0);
	expect_stored(st, "old", 0, BS, 1);
	expect_stored(st, "new/name", 1, 5, 1);
	expect_missing(st, "old", 1);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

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

START_TEST(test_dump_dirty)
{
	struct store *st = mem_store_create();
	struct cache *c = cache_new(st, 64, 32, 2, NEVER_MS, BS);
	struct vol *v = vol_new(c, 1, BS, "dir/db", 0);
	char dir[] = "/tmp/check_cache.XXXXXX", p[256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	write_block(c, v, 0, 0, BS, 1);
	write_block(c, v, 1, 0, 33, 1);
	mem_store_fail(st, MEM_PUT, -EIO, 0);
	ck_assert_int_eq(cache_flush(c, v), -EIO);
	ck_assert_int_eq(cache_dump_dirty(c, dir), 2);
	struct stat sb;
	snprintf(p, sizeof(p), "%s/dir/db/0000000000", dir);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(sb.st_size, BS);
	snprintf(p, sizeof(p), "%s/dir/db/0000000001", dir);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(sb.st_size, 33);
	FILE *f = fopen(p, "rb");
	unsigned char buf[64], want[33];
	ck_assert_uint_eq(fread(buf, 1, sizeof(buf), f), 33);
	fclose(f);
	fill(want, 1, 33, 1);
	ck_assert(memcmp(buf, want, 33) == 0);
	rm_rf(dir);
	struct settle se = {st, c, 0, 0};
	ck_assert(wait_for(cond_settled, &se));
	mem_store_fail(st, 0, 0, 0);
	int rc = cache_flush(c, v); /* may report a late failure once (sticky) */
	ck_assert_msg(rc == 0 || rc == -EIO, "fsync: %d", rc);
	ck_assert_int_eq(cache_flush(c, v), 0);
	struct vol *vols[] = {v};
	finish(&st, &c, vols, 1);
}
END_TEST

static Suite *
cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_read_modify_read);
	tcase_add_test(tc, test_partial_write_fetches);
	tcase_add_test(tc, test_writeback_exact_blocks);
	tcase_add_test(tc, test_writeback_delay);
	tcase_add_test(tc, test_flush_all_volumes);
	tcase_add_test(tc, test_flush_returns_when_stored);
	tcase_add_test(tc, test_flush_error_nothing_lost);
	tcase_add_test(tc, test_background_error_sticky);
	tcase_add_test(tc, test_write_during_upload);
	tcase_add_test(tc, test_fsync_during_stale_upload);
	tcase_add_test(tc, test_concurrent_writes_and_flushes);
	tcase_add_test(tc, test_discard);
	tcase_add_test(tc, test_discard_during_upload);
	tcase_add_test(tc, test_discard_releases_flush);
	tcase_add_test(tc, test_discard_during_read);
	tcase_add_test(tc, test_eviction_bounded);
	tcase_add_test(tc, test_dirty_limit_waits);
	tcase_add_test(tc, test_missing_block_is_eio);
	tcase_add_test(tc, test_parallel_flush);
	tcase_add_test(tc, test_parallel_fetch_and_prefetch);
	tcase_add_test(tc, test_extension_window);
	tcase_add_test(tc, test_stored_end_bookkeeping);
	tcase_add_test(tc, test_set_path);
	tcase_add_test(tc, test_dump_dirty);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cache_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
