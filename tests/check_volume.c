/*
 * check_volume.c - unit tests of byte-range volume I/O (src/volume.c) on a
 * block cache over the in-memory store: writes at odd offsets across block
 * boundaries against a reference byte array, growth with zero blocks,
 * truncation and deletion in the order DESIGN.md section 5 asks, and after
 * every flush the store's layout checked against DESIGN.md section 2.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkmap.h"
#include "cache.h"
#include "mem.h"
#include "store.h"
#include "util.h"
#include "vol.h"
#include "volume.h"

#define NEVER_MS (3600ULL * 1000)

/* ---------------------------------------------------------------- a recording store */

/* Forwards to mem and records the order of DELETEs and PUTs of blocks. */
#define REC_MAX 4096

struct rec_event {
	char op;      /* 'D' delete, 'P' put */
	uint64_t blk; /* block number of the key */
	unsigned batch; /* which store_del call */
};

struct rec {
	struct store *lower;
	pthread_mutex_t lock;
	struct rec_event ev[REC_MAX];
	size_t n;
	unsigned batches;
	size_t batch_max; /* most keys in one DELETE */
};

static void
rec_add(struct rec *r, char op, const char *key, unsigned batch)
{
	const char *slash = strrchr(key, '/');
	uint64_t blk = UINT64_MAX;

	if (slash)
		util_parse_block_name(slash + 1, &blk);
	if (r->n < REC_MAX)
		r->ev[r->n++] = (struct rec_event){op, blk, batch};
}

static int
r_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got)
{
	struct rec *r = st->priv;
	return store_get(r->lower, key, off, len, buf, got);
}

static int
r_put(struct store *st, const char *key, const void *buf, size_t len)
{
	struct rec *r = st->priv;
	int rc = store_put(r->lower, key, buf, len);

	CHECK_PTHREAD(pthread_mutex_lock(&r->lock));
	if (rc == 0)
		rec_add(r, 'P', key, 0);
	CHECK_PTHREAD(pthread_mutex_unlock(&r->lock));
	return rc;
}

static int
r_head(struct store *st, const char *key, uint64_t *size, time_t *mtime)
{
	struct rec *r = st->priv;
	return store_head(r->lower, key, size, mtime);
}

static int
r_del(struct store *st, const char *const *keys, size_t n)
{
	struct rec *r = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&r->lock));
	unsigned batch = ++r->batches;
	if (n > r->batch_max)
		r->batch_max = n;
	for (size_t i = 0; i < n; i++)
		rec_add(r, 'D', keys[i], batch);
	CHECK_PTHREAD(pthread_mutex_unlock(&r->lock));
	return store_del(r->lower, keys, n);
}

static int
r_list(struct store *st, const char *prefix, const char *delimiter, const char *start_after,
       size_t max_keys, store_list_cb cb, void *arg)
{
	struct rec *r = st->priv;
	return store_list(r->lower, prefix, delimiter, start_after, max_keys, cb, arg);
}

static void
r_destroy(struct store *st)
{
	struct rec *r = st->priv;

	store_destroy(&r->lower);
	pthread_mutex_destroy(&r->lock);
	free(r);
	free(st);
}

static const struct store_ops rec_ops = {
	.name = "rec",
	.get = r_get,
	.put = r_put,
	.head = r_head,
	.del = r_del,
	.list = r_list,
	.destroy = r_destroy,
};

static struct store *
rec_create(void)
{
	struct store *st = calloc(1, sizeof(*st));
	struct rec *r = calloc(1, sizeof(*r));

	ck_assert(st && r);
	r->lower = mem_store_create();
	pthread_mutex_init(&r->lock, NULL);
	st->ops = &rec_ops;
	st->priv = r;
	st->lower = r->lower;
	return st;
}

static void
rec_clear(struct store *st)
{
	struct rec *r = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&r->lock));
	r->n = 0;
	r->batches = 0;
	r->batch_max = 0;
	CHECK_PTHREAD(pthread_mutex_unlock(&r->lock));
}

/* ---------------------------------------------------------------- fixture */

struct fx {
	struct store *st; /* the recording store over mem */
	struct store *mem;
	struct cache *c;
	struct volctx x;
};

static void
fx_init(struct fx *f, uint64_t cache_blocks, uint32_t bs)
{
	struct cache_conf cc = {
		.cache_bytes = cache_blocks * bs,
		.dirty_bytes = cache_blocks * bs / 2,
		.writeback_delay_ms = NEVER_MS,
		.workers = 8,
	};

	f->st = rec_create();
	f->mem = f->st->lower;
	f->c = cache_create(&cc, f->st);
	ck_assert_ptr_nonnull(f->c);
	ck_assert_int_eq(cache_start(f->c), 0);
	f->x = (struct volctx){.st = f->st, .cache = f->c, .local_max = 1 << 20};
}

static struct vol *
vol_make(struct fx *f, uint64_t id, uint32_t bs, const char *path, uint64_t size,
	 uint64_t stored)
{
	struct vol *v = calloc(1, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	pthread_mutex_init(&v->wmu, NULL);
	pthread_mutex_init(&v->mu, NULL);
	v->id = id;
	v->block_size = bs;
	v->size = size;
	v->path = strdup(path);
	size_t l = strlen(path);
	v->local_only = l > 4 && strcmp(path + l - 4, "-shm") == 0;
	cache_vol_init(f->c, v, path, stored);
	return v;
}

static void
vol_drop(struct fx *f, struct vol *v)
{
	cache_vol_fini(f->c, v);
	pthread_mutex_destroy(&v->wmu);
	pthread_mutex_destroy(&v->mu);
	free(v->mem);
	free(v->path);
	free(v);
}

static void
fx_fini(struct fx *f, struct vol **vols, size_t n)
{
	cache_stop(f->c);
	for (size_t i = 0; i < n; i++)
		vol_drop(f, vols[i]);
	cache_destroy(&f->c);
	store_destroy(&f->st);
}

/* ---------------------------------------------------------------- layout check */

struct count_arg {
	size_t n;
	size_t plen;
	int bad;
};

static int
count_cb(void *arg, const struct store_entry *e)
{
	struct count_arg *a = arg;
	uint64_t blk;

	a->n++;
	if (e->is_prefix || util_parse_block_name(e->key + a->plen, &blk) < 0)
		a->bad++;
	return 0;
}

/*
 * DESIGN.md section 2: objects P/0..P/K-1 all exist and nothing else is
 * under P/; every block but the last is exactly bs bytes; the last holds
 * 1..bs bytes (never padded); an empty volume has no objects; the bytes
 * are ref[0..size).
 */
static void
check_layout(struct store *st, const char *prefix, uint32_t bs, const unsigned char *ref,
	     uint64_t size)
{
	uint64_t k = blkmap_nblocks(size, bs);
	unsigned char *buf = malloc(bs + 16);
	char key[256], lp[256];

	for (uint64_t b = 0; b < k; b++) {
		uint64_t osize;
		size_t got;
		ck_assert_int_eq(util_block_key(key, sizeof(key), prefix, b), 0);
		int rc = store_head(st, key, &osize, NULL);
		ck_assert_msg(rc == 0, "%s missing (volume of %llu bytes, %llu blocks)", key,
			      (unsigned long long)size, (unsigned long long)k);
		uint64_t want = b + 1 < k ? bs : size - (k - 1) * bs;
		ck_assert_msg(osize == want, "%s is %llu bytes, expected %llu", key,
			      (unsigned long long)osize, (unsigned long long)want);
		ck_assert(want >= 1 && want <= bs);
		ck_assert_int_eq(store_get(st, key, 0, bs + 16, buf, &got), 0);
		ck_assert_uint_eq(got, want);
		if (memcmp(buf, ref + b * bs, want) != 0) {
			size_t i = 0;
			while (buf[i] == ref[b * bs + i])
				i++;
			ck_abort_msg("%s: byte %zu is %u, expected %u", key, i, buf[i],
				     ref[b * bs + i]);
		}
	}
	snprintf(lp, sizeof(lp), "%s/", prefix);
	struct count_arg a = {0, strlen(lp), 0};
	ck_assert_int_eq(store_list(st, lp, NULL, NULL, 0, count_cb, &a), 0);
	ck_assert_msg(a.n == k && a.bad == 0, "%s: %zu objects (%d not blocks), expected %llu",
		      lp, a.n, a.bad, (unsigned long long)k);
	free(buf);
}

/* Reads the whole volume through the cache and compares with ref. */
static void
check_read(struct fx *f, struct vol *v, const unsigned char *ref, uint64_t size)
{
	unsigned char *buf = malloc(size + 100);

	ck_assert_uint_eq(vol_size(v), size);
	memset(buf, 0xee, size + 100);
	ssize_t n = vol_read(&f->x, v, 0, size + 100, buf);
	ck_assert_int_eq(n, (ssize_t)size);
	if (memcmp(buf, ref, size) != 0) {
		size_t i = 0;
		while (buf[i] == ref[i])
			i++;
		ck_abort_msg("byte %zu of %llu is %u, expected %u", i, (unsigned long long)size,
			     buf[i], ref[i]);
	}
	free(buf);
}

/* Deterministic pseudo-random numbers. */
static uint64_t
rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

/* ---------------------------------------------------------------- tests */

static const uint32_t test_bs[] = {4095, 4096, 4097};

START_TEST(test_random_writes)
{
	uint32_t bs = test_bs[_i];
	const uint64_t max = 12ULL * bs + 777;
	unsigned char *ref = calloc(1, max), *data = malloc(max);
	uint64_t size = 0, seed = 42 + bs;
	struct fx f;

	fx_init(&f, 64, bs);
	struct vol *v = vol_make(&f, 1, bs, "dir/rand.db", 0, 0);
	for (int i = 0; i < 120; i++) {
		/* Odd offsets and lengths, often across boundaries, some past
		 * the end (gaps), some exactly on boundaries. */
		uint64_t off, n;
		switch (rnd(&seed) % 4) {
		case 0:
			off = (rnd(&seed) % 12) * bs + bs - 1 - rnd(&seed) % 3;
			n = 2 + rnd(&seed) % 5;
			break;
		case 1:
			off = (rnd(&seed) % 12) * bs;
			n = bs * (1 + rnd(&seed) % 2);
			break;
		default:
			off = rnd(&seed) % (max - 1);
			n = 1 + rnd(&seed) % (2 * bs + 3);
			break;
		}
		if (off + n > max)
			n = max - off;
		for (uint64_t j = 0; j < n; j++)
			data[j] = (unsigned char)rnd(&seed);
		ck_assert_int_eq(vol_write(&f.x, v, off, n, data), (ssize_t)n);
		memcpy(ref + off, data, n);
		if (off + n > size)
			size = off + n;
		ck_assert_uint_eq(vol_size(v), size);
		/* A read of a random range. */
		uint64_t ro = rnd(&seed) % (size + 10), rn = rnd(&seed) % (3 * bs);
		unsigned char *rb = malloc(rn + 1);
		ssize_t got = vol_read(&f.x, v, ro, rn, rb);
		uint64_t want = ro >= size ? 0 : UTIL_MIN(rn, size - ro);
		ck_assert_int_eq(got, (ssize_t)want);
		ck_assert(want == 0 || memcmp(rb, ref + ro, want) == 0);
		free(rb);
		if (i % 20 == 19) {
			check_read(&f, v, ref, size);
			ck_assert_int_eq(cache_flush(f.c, v), 0);
			check_layout(f.mem, "dir/rand.db", bs, ref, size);
		}
	}
	check_read(&f, v, ref, size);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "dir/rand.db", bs, ref, size);
	ck_assert_uint_eq(cache_stored_end(f.c, v), blkmap_nblocks(size, bs));

	/* A cold volume object reads the same bytes from the store. */
	struct vol *w = vol_make(&f, 2, bs, "dir/rand.db", size, blkmap_nblocks(size, bs));
	check_read(&f, w, ref, size);
	struct vol *vols[] = {v, w};
	fx_fini(&f, vols, 2);
	free(ref);
	free(data);
}
END_TEST

START_TEST(test_growth_leaves_zeros)
{
	uint32_t bs = test_bs[_i];
	struct fx f;

	fx_init(&f, 64, bs);
	struct vol *v = vol_make(&f, 1, bs, "g", 0, 0);
	uint64_t off = 5ULL * bs + 3;
	uint64_t size = off + 10;
	unsigned char *ref = calloc(1, size + 4 * bs);

	/* An empty volume has no objects. */
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "g", bs, ref, 0);
	ck_assert_uint_eq(mem_store_count(f.mem), 0);

	ck_assert_int_eq(vol_write(&f.x, v, off, 10, "0123456789"), 10);
	memcpy(ref + off, "0123456789", 10);
	check_read(&f, v, ref, size);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "g", bs, ref, size);

	/* Growth from a partial last block: it is extended, not padded. */
	uint64_t off2 = size + 2 * bs + 1;
	ck_assert_int_eq(vol_write(&f.x, v, off2, 1, "Z"), 1);
	ref[off2] = 'Z';
	size = off2 + 1;
	check_read(&f, v, ref, size);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "g", bs, ref, size);

	/* Growth to an exact boundary: the last block is full. */
	uint64_t end = blkmap_nblocks(size, bs) * bs;
	ck_assert_int_eq(vol_truncate(&f.x, v, end), 0);
	size = end;
	check_read(&f, v, ref, size);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "g", bs, ref, size);
	/* One byte more makes a 1-byte block. */
	ck_assert_int_eq(vol_write(&f.x, v, size, 1, "!"), 1);
	ref[size++] = '!';
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "g", bs, ref, size);
	struct vol *vols[] = {v};
	fx_fini(&f, vols, 1);
	free(ref);
}
END_TEST

/* A gap far larger than the dirty limit: writers wait, uploads drain, the
 * layout ends contiguous. */
START_TEST(test_big_gap)
{
	const uint32_t bs = 512;
	struct fx f;

	fx_init(&f, 64, bs); /* dirty limit: 32 blocks */
	struct vol *v = vol_make(&f, 1, bs, "gap", 0, 0);
	uint64_t off = 1000ULL * bs + 17, size = off + 3;
	unsigned char *ref = calloc(1, size);

	ck_assert_int_eq(vol_write(&f.x, v, off, 3, "abc"), 3);
	memcpy(ref + off, "abc", 3);
	struct cache_stats cs;
	cache_get_stats(f.c, &cs);
	ck_assert_uint_le(cs.bytes_dirty, 32 * bs);
	ck_assert_uint_ge(cs.writer_waits, 1);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "gap", bs, ref, size);
	check_read(&f, v, ref, size);
	struct vol *vols[] = {v};
	fx_fini(&f, vols, 1);
	free(ref);
}
END_TEST

START_TEST(test_truncate_down)
{
	uint32_t bs = test_bs[_i];
	struct fx f;
	struct rec *r;

	fx_init(&f, 64, bs);
	r = f.st->priv;
	struct vol *v = vol_make(&f, 1, bs, "t", 0, 0);
	uint64_t size = 10ULL * bs + 100;
	unsigned char *ref = malloc(size);
	for (uint64_t i = 0; i < size; i++)
		ref[i] = (unsigned char)(i * 13 + 1);
	ck_assert_int_eq(vol_write(&f.x, v, 0, size, ref), (ssize_t)size);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "t", bs, ref, size);
	ck_assert_uint_eq(cache_stored_end(f.c, v), 11);

	/* To a size inside block 3: blocks 4..10 go, highest first, then the
	 * straddling block is rewritten (after the deletes). */
	rec_clear(f.st);
	uint64_t nsize = 3ULL * bs + 50;
	ck_assert_int_eq(vol_truncate(&f.x, v, nsize), 0);
	ck_assert_uint_eq(vol_size(v), nsize);
	check_read(&f, v, ref, nsize);
	ck_assert_uint_eq(cache_stored_end(f.c, v), 4);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "t", bs, ref, nsize);
	ck_assert_uint_eq(r->n, 8);
	for (size_t i = 0; i < 7; i++) {
		ck_assert_int_eq(r->ev[i].op, 'D');
		ck_assert_uint_eq(r->ev[i].blk, 10 - i);
	}
	ck_assert_int_eq(r->ev[7].op, 'P');
	ck_assert_uint_eq(r->ev[7].blk, 3);

	/* To an exact boundary: nothing to rewrite. */
	rec_clear(f.st);
	ck_assert_int_eq(vol_truncate(&f.x, v, 2ULL * bs), 0);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "t", bs, ref, 2ULL * bs);
	ck_assert_uint_eq(r->n, 2);
	ck_assert(r->ev[0].op == 'D' && r->ev[0].blk == 3);
	ck_assert(r->ev[1].op == 'D' && r->ev[1].blk == 2);

	/* Up again: zeros, not the old bytes. */
	ck_assert_int_eq(vol_truncate(&f.x, v, 4ULL * bs + 1), 0);
	memset(ref + 2ULL * bs, 0, 2ULL * bs + 1);
	check_read(&f, v, ref, 4ULL * bs + 1);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "t", bs, ref, 4ULL * bs + 1);

	/* Down with dirty blocks past the end that were never stored: they are
	 * dropped, never uploaded. */
	ck_assert_int_eq(vol_write(&f.x, v, 8ULL * bs, 10, "dirtydirty"), 10);
	rec_clear(f.st);
	ck_assert_int_eq(vol_truncate(&f.x, v, bs + 7), 0);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "t", bs, ref, bs + 7);
	for (size_t i = 0; i < r->n; i++)
		if (r->ev[i].op == 'P')
			ck_assert_uint_eq(r->ev[i].blk, 1);

	/* To zero: block 0 first, then the rest; no objects left. */
	rec_clear(f.st);
	ck_assert_int_eq(vol_truncate(&f.x, v, 0), 0);
	ck_assert_uint_eq(vol_size(v), 0);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	ck_assert_uint_eq(mem_store_count(f.mem), 0);
	ck_assert_uint_ge(r->n, 2);
	ck_assert(r->ev[0].op == 'D' && r->ev[0].blk == 0 && r->ev[0].batch == 1);
	ck_assert(r->ev[1].batch == 2);
	ck_assert_uint_eq(cache_stored_end(f.c, v), 0);
	unsigned char buf[8];
	ck_assert_int_eq(vol_read(&f.x, v, 0, sizeof(buf), buf), 0);
	struct vol *vols[] = {v};
	fx_fini(&f, vols, 1);
	free(ref);
}
END_TEST

START_TEST(test_delete_blocks_all)
{
	const uint32_t bs = 16;
	const uint64_t nb = 700; /* more than two batches of VOL_EXT_WINDOW */
	struct fx f;
	struct rec *r;

	fx_init(&f, 2 * nb, bs);
	r = f.st->priv;
	struct vol *v = vol_make(&f, 1, bs, "del/me", 0, 0);
	uint64_t size = nb * bs - 5;
	unsigned char *ref = malloc(size);
	memset(ref, 'q', size);
	ck_assert_int_eq(vol_write(&f.x, v, 0, size, ref), (ssize_t)size);
	ck_assert_int_eq(cache_flush(f.c, v), 0);
	check_layout(f.mem, "del/me", bs, ref, size);
	/* A neighbour that must survive. */
	ck_assert_int_eq(store_put(f.mem, "del/me2/0000000000", "x", 1), 0);

	rec_clear(f.st);
	CHECK_PTHREAD(pthread_mutex_lock(&v->wmu));
	cache_discard(f.c, v, 0);
	ck_assert_int_eq(vol_delete_blocks(&f.x, v, 0), 0);
	CHECK_PTHREAD(pthread_mutex_unlock(&v->wmu));
	ck_assert_uint_eq(mem_store_count(f.mem), 1);
	ck_assert_uint_eq(cache_stored_end(f.c, v), 0);
	/* Block 0 alone in the first DELETE: the commit point. */
	ck_assert_uint_eq(r->n, nb);
	ck_assert(r->ev[0].blk == 0 && r->ev[0].batch == 1);
	ck_assert(r->ev[1].batch == 2);
	/* Then the rest, highest first, in batches of at most the window. */
	ck_assert_uint_le(r->batch_max, VOL_EXT_WINDOW);
	for (size_t i = 1; i < r->n; i++) {
		ck_assert_int_eq(r->ev[i].op, 'D');
		ck_assert_uint_eq(r->ev[i].blk, nb - i);
	}
	ck_assert_uint_ge(r->batches, 1 + (nb - 1 + VOL_EXT_WINDOW - 1) / VOL_EXT_WINDOW);

	/* Nothing stored: nothing to do. */
	rec_clear(f.st);
	ck_assert_int_eq(vol_delete_blocks(&f.x, v, 0), 0);
	ck_assert_uint_eq(r->n, 0);
	struct vol *vols[] = {v};
	fx_fini(&f, vols, 1);
	free(ref);
}
END_TEST

START_TEST(test_delete_blocks_from)
{
	const uint32_t bs = 16;
	const uint64_t nb = 600;
	struct fx f;
	struct rec *r;

	fx_init(&f, 2 * nb, bs);
	r = f.st->priv;
	struct vol *v = vol_make(&f, 1, bs, "part", 0, 0);
	unsigned char *ref = malloc(nb * bs);
	memset(ref, 'p', nb * bs);
	ck_assert_int_eq(vol_write(&f.x, v, 0, nb * bs, ref), (ssize_t)(nb * bs));
	ck_assert_int_eq(cache_flush(f.c, v), 0);

	rec_clear(f.st);
	CHECK_PTHREAD(pthread_mutex_lock(&v->wmu));
	cache_discard(f.c, v, 10);
	ck_assert_int_eq(vol_delete_blocks(&f.x, v, 10), 0);
	CHECK_PTHREAD(pthread_mutex_unlock(&v->wmu));
	ck_assert_uint_eq(mem_store_count(f.mem), 10);
	ck_assert_uint_eq(cache_stored_end(f.c, v), 10);
	ck_assert_uint_eq(r->n, nb - 10);
	ck_assert_uint_le(r->batch_max, VOL_EXT_WINDOW);
	for (size_t i = 0; i < r->n; i++)
		ck_assert_uint_eq(r->ev[i].blk, nb - 1 - i);

	/* A failing delete is reported, and the stored end still covers what
	 * is left, so a later delete finishes the job. */
	CHECK_PTHREAD(pthread_mutex_lock(&v->mu));
	v->size = 10 * bs;
	CHECK_PTHREAD(pthread_mutex_unlock(&v->mu));
	mem_store_fail(f.mem, MEM_DEL, -EIO, 1);
	CHECK_PTHREAD(pthread_mutex_lock(&v->wmu));
	ck_assert_int_eq(vol_delete_blocks(&f.x, v, 5), -EIO);
	ck_assert_uint_eq(cache_stored_end(f.c, v), 10);
	ck_assert_int_eq(vol_delete_blocks(&f.x, v, 5), 0);
	CHECK_PTHREAD(pthread_mutex_unlock(&v->wmu));
	ck_assert_uint_eq(mem_store_count(f.mem), 5);
	ck_assert_uint_eq(cache_stored_end(f.c, v), 5);
	struct vol *vols[] = {v};
	fx_fini(&f, vols, 1);
	free(ref);
}
END_TEST

START_TEST(test_read_edges_and_errors)
{
	const uint32_t bs = 4096;
	struct fx f;
	unsigned char buf[3 * 4096];

	fx_init(&f, 64, bs);
	struct vol *v = vol_make(&f, 1, bs, "e", 0, 0);
	ck_assert_int_eq(vol_read(&f.x, v, 0, 10, buf), 0);
	ck_assert_int_eq(vol_write(&f.x, v, 0, 5000, memset(buf, 'a', 5000)), 5000);
	ck_assert_int_eq(vol_read(&f.x, v, 4990, 100, buf), 10);
	ck_assert_int_eq(vol_read(&f.x, v, 5000, 100, buf), 0);
	ck_assert_int_eq(vol_read(&f.x, v, 9999, 100, buf), 0);
	ck_assert_int_eq(vol_write(&f.x, v, 10, 0, buf), 0);
	ck_assert_uint_eq(vol_size(v), 5000);
	ck_assert_int_eq(cache_flush(f.c, v), 0);

	/* A partial write of a block the store cannot read fails, and the
	 * size is unchanged. */
	struct vol *w = vol_make(&f, 2, bs, "e", 5000, 2);
	mem_store_fail(f.mem, MEM_GET, -EIO, 0);
	ck_assert_int_eq(vol_write(&f.x, w, 100, 10, "0123456789"), -EIO);
	ck_assert_int_eq(vol_write(&f.x, w, 4000, 6000, buf), -EIO);
	ck_assert_uint_eq(vol_size(w), 5000);
	ck_assert_int_eq(vol_read(&f.x, w, 0, 10, buf), -EIO);
	mem_store_fail(f.mem, 0, 0, 0);
	ck_assert_int_eq(vol_read(&f.x, w, 0, 5000, buf), 5000);
	for (int i = 0; i < 5000; i++)
		if (buf[i] != 'a')
			ck_abort_msg("byte %d", i);

	/* Past the largest volume the layout can name. */
	ck_assert_int_eq(vol_write(&f.x, w, BLKMAP_MAX_BLOCKS * bs, 1, "x"), -EFBIG);
	ck_assert_int_eq(vol_write(&f.x, w, UINT64_MAX - 1, 5, "xxxxx"), -EFBIG);
	ck_assert_uint_eq(vol_size(w), 5000);
	struct vol *vols[] = {v, w};
	fx_fini(&f, vols, 2);
}
END_TEST

/* "-shm" files live in memory only: nothing reaches the store. */
START_TEST(test_local_only)
{
	struct fx f;
	unsigned char buf[100000];

	fx_init(&f, 64, 4096);
	struct vol *v = vol_make(&f, 1, 4096, "db-shm", 0, 0);
	ck_assert(v->local_only);
	ck_assert_int_eq(vol_write(&f.x, v, 40000, 5, "hello"), 5);
	ck_assert_uint_eq(vol_size(v), 40005);
	ck_assert_int_eq(vol_read(&f.x, v, 0, sizeof(buf), buf), 40005);
	for (int i = 0; i < 40000; i++)
		if (buf[i] != 0)
			ck_abort_msg("byte %d", i);
	ck_assert(memcmp(buf + 40000, "hello", 5) == 0);
	ck_assert_int_eq(vol_truncate(&f.x, v, 40002), 0);
	ck_assert_int_eq(vol_truncate(&f.x, v, 40010), 0);
	ck_assert_int_eq(vol_read(&f.x, v, 40000, 100, buf), 10);
	ck_assert(memcmp(buf, "he\0\0\0\0\0\0\0\0", 10) == 0);
	/* The cap (local_max = 1 MiB in the fixture). */
	ck_assert_int_eq(vol_write(&f.x, v, 1 << 20, 1, "x"), -EFBIG);
	ck_assert_int_eq(vol_truncate(&f.x, v, (1 << 20) + 1), -EFBIG);
	ck_assert_uint_eq(vol_size(v), 40010);
	ck_assert_int_eq(cache_flush(f.c, NULL), 0);
	ck_assert_uint_eq(mem_store_count(f.mem), 0);
	struct vol *vols[] = {v};
	fx_fini(&f, vols, 1);
}
END_TEST

static Suite *
volume_suite(void)
{
	Suite *s = suite_create("volume");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_random_writes, 0, 3);
	tcase_add_loop_test(tc, test_growth_leaves_zeros, 0, 3);
	tcase_add_test(tc, test_big_gap);
	tcase_add_loop_test(tc, test_truncate_down, 0, 3);
	tcase_add_test(tc, test_delete_blocks_all);
	tcase_add_test(tc, test_delete_blocks_from);
	tcase_add_test(tc, test_read_edges_and_errors);
	tcase_add_test(tc, test_local_only);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(volume_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
