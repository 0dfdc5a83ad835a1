/*
 * cache.c - the block cache.
 *
 * Entries are keyed by (volume id, block) in a chained hash table and are
 * in exactly one of these states:
 *
 *   READING  a worker is fetching it; readers wait on `fetched`
 *   CLEAN    matches the store; on the LRU list, evictable when unreferenced
 *   DIRTY    newer than the store; on its volume's dirty list
 *   WRITING  a worker is uploading it; still on the volume's dirty list.  A
 *            write meanwhile copies the buffer (the upload keeps the old
 *            one) and sets `redirty`, so the entry is DIRTY again after.
 *
 * Workers take fetches first (a reader waits), then uploads.  A volume's
 * dirty blocks are uploaded when an fsync waits for them, when dirty data
 * passes half the dirty limit, or when they are older than the write-back
 * delay.  Writers wait while dirty data is at the limit.
 *
 * fsync (cache_flush) marks the volume's dirty and writing entries with a
 * new flush generation, counts them, and waits until the count drops to
 * zero or a marked upload fails.  Blocks dirtied after the mark are not
 * waited for, so a busy writer cannot starve an fsync.
 *
 * Contiguity: a block at or past the stored end is uploaded only within
 * VOL_EXT_WINDOW of the contiguous stored blocks (see vol.h), so a crash
 * leaves holes only where ns.c's discovery can find them.
 *
 * One mutex guards everything; it is never held across store I/O.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "log.h"
#include "util.h"

enum ce_state { CE_READING, CE_CLEAN, CE_DIRTY, CE_WRITING };

struct centry {
	struct vol *vol;
	uint64_t blk;
	enum ce_state state;
	unsigned refs;   /* threads holding the entry across an unlock */
	uint32_t len;    /* object length; bytes past it are zero */
	int err;         /* READING failed: the error for the waiters */
	int redirty;     /* written while WRITING */
	int flush_mark;  /* counted in vol->flush_pending for flush_gen */
	int flush_twice; /* the current upload predates a marked write */
	int prefetch;    /* read ahead, not yet used */
	uint64_t flush_gen;
	uint64_t dirty_ms; /* when it was last written */
	uint64_t retry_ms; /* a failed upload is not retried before */
	unsigned char *data;
	struct centry *hnext;        /* hash chain */
	struct centry *prev, *next;  /* LRU (CLEAN) or the volume's dirty list */
	struct centry *qnext;        /* fetch queue */
};

struct cache {
	struct cache_conf conf;
	struct store *st;
	pthread_mutex_t lock;
	pthread_cond_t work;    /* there is something for workers */
	pthread_cond_t fetched; /* a READING entry finished */
	pthread_cond_t written; /* an upload finished, or dirty space was freed */
	pthread_t *threads;
	unsigned nthreads;
	int stopping;

	struct centry **table; /* hash table; protected by lock */
	size_t nbuckets, nentries;
	struct centry *lru_head, *lru_tail; /* CLEAN entries, most recent first */
	struct centry *fetch_head, *fetch_tail;
	struct vol *dirty_vols; /* volumes with DIRTY or WRITING entries */
	uint64_t bytes, dirty_bytes;
	uint64_t prefetch_bytes; /* read ahead and not used yet */
	unsigned flushing_all;
	struct cache_stats stats;
	cache_upload_gate gate; /* set before the workers start */
	void *gate_arg;
};

static size_t
ce_hash(uint64_t vid, uint64_t blk, size_t nb)
{
	uint64_t h = vid * 0x9E3779B97F4A7C15ULL ^ (blk + 0x632BE59BD9B4E019ULL) * 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 31;
	return (size_t)(h % nb);
}

static struct centry *
ce_lookup(struct cache *c, const struct vol *v, uint64_t blk)
{
	for (struct centry *e = c->table[ce_hash(v->id, blk, c->nbuckets)]; e; e = e->hnext)
		if (e->vol == v && e->blk == blk)
			return e;
	return NULL;
}

static void
ce_hash_insert(struct cache *c, struct centry *e)
{
	if (c->nentries >= c->nbuckets * 2) {
		size_t nb = c->nbuckets * 2;
		struct centry **nt = calloc(nb, sizeof(*nt));
		if (nt) {
			for (size_t i = 0; i < c->nbuckets; i++) {
				for (struct centry *x = c->table[i], *nx; x; x = nx) {
					nx = x->hnext;
					size_t h = ce_hash(x->vol->id, x->blk, nb);
					x->hnext = nt[h];
					nt[h] = x;
				}
			}
			free(c->table);
			c->table = nt;
			c->nbuckets = nb;
		}
	}
	size_t h = ce_hash(e->vol->id, e->blk, c->nbuckets);
	e->hnext = c->table[h];
	c->table[h] = e;
	c->nentries++;
}

static void
ce_hash_remove(struct cache *c, struct centry *e)
{
	struct centry **pp = &c->table[ce_hash(e->vol->id, e->blk, c->nbuckets)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	c->nentries--;
}

static void
lru_unlink(struct cache *c, struct centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push(struct cache *c, struct centry *e)
{
	e->prev = NULL;
	e->next = c->lru_head;
	if (c->lru_head)
		c->lru_head->prev = e;
	else
		c->lru_tail = e;
	c->lru_head = e;
}

static void
dv_link(struct cache *c, struct vol *v)
{
	if (v->in_dirty_vols)
		return;
	v->in_dirty_vols = 1;
	v->dv_prev = NULL;
	v->dv_next = c->dirty_vols;
	if (c->dirty_vols)
		c->dirty_vols->dv_prev = v;
	c->dirty_vols = v;
}

static void
dv_unlink(struct cache *c, struct vol *v)
{
	if (!v->in_dirty_vols)
		return;
	if (v->dv_prev)
		v->dv_prev->dv_next = v->dv_next;
	else
		c->dirty_vols = v->dv_next;
	if (v->dv_next)
		v->dv_next->dv_prev = v->dv_prev;
	v->in_dirty_vols = 0;
	v->dv_prev = v->dv_next = NULL;
}

static void
dl_unlink(struct vol *v, struct centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		v->dirty_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		v->dirty_tail = e->prev;
	e->prev = e->next = NULL;
}

static void
dl_append(struct cache *c, struct vol *v, struct centry *e)
{
	e->next = NULL;
	e->prev = v->dirty_tail;
	if (v->dirty_tail)
		v->dirty_tail->next = e;
	else
		v->dirty_head = e;
	v->dirty_tail = e;
	dv_link(c, v);
}

/* A read-ahead block is used (or dropped): it no longer counts against the
 * read-ahead allowance. */
static void
ce_unprefetch(struct cache *c, struct centry *e)
{
	if (e->prefetch) {
		e->prefetch = 0;
		c->prefetch_bytes -= e->vol->block_size;
	}
}

static void
ce_free(struct cache *c, struct centry *e)
{
	ce_unprefetch(c, e);
	c->bytes -= e->vol->block_size;
	free(e->data);
	free(e);
}

/* Evicts clean, unreferenced blocks until `need` more bytes fit. */
static void
cache_make_room(struct cache *c, uint64_t need)
{
	struct centry *e = c->lru_tail;

	while (e && c->bytes + need > c->conf.cache_bytes) {
		struct centry *prev = e->prev;
		if (e->refs == 0) {
			lru_unlink(c, e);
			ce_hash_remove(c, e);
			ce_free(c, e);
			c->stats.evictions++;
		}
		e = prev;
	}
}

static struct centry *
ce_new(struct cache *c, struct vol *v, uint64_t blk, enum ce_state state)
{
	cache_make_room(c, v->block_size);
	struct centry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->data = calloc(1, v->block_size);
	if (!e->data) {
		free(e);
		return NULL;
	}
	e->vol = v;
	e->blk = blk;
	e->state = state;
	c->bytes += v->block_size;
	ce_hash_insert(c, e);
	return e;
}

static void
fetch_enqueue(struct cache *c, struct centry *e)
{
	e->qnext = NULL;
	if (c->fetch_tail)
		c->fetch_tail->qnext = e;
	else
		c->fetch_head = e;
	c->fetch_tail = e;
	e->refs++; /* the queue's reference */
	e->vol->nreading++;
	CHECK_PTHREAD(pthread_cond_signal(&c->work));
}

/* ---------------------------------------------------------------- stored extent */

static int
ext_test(const struct vol *v, uint64_t i)
{
	return (v->extbits[i / 64] >> (i % 64)) & 1;
}

/* Records that block blk is in the store, advancing the contiguous end. */
static void
ext_mark_stored(struct vol *v, uint64_t blk)
{
	if (blk < v->contig)
		return;
	uint64_t i = blk - v->contig;
	if (i >= VOL_EXT_WINDOW)
		return; /* cannot happen: uploads stay inside the window */
	v->extbits[i / 64] |= 1ULL << (i % 64);
	while (v->extbits[0] & 1) {
		/* Shift the window by one block. */
		for (unsigned w = 0; w < VOL_EXT_WINDOW / 64; w++) {
			v->extbits[w] >>= 1;
			if (w + 1 < VOL_EXT_WINDOW / 64)
				v->extbits[w] |= (v->extbits[w + 1] & 1) << 63;
		}
		v->contig++;
	}
}

uint64_t
cache_stored_end(struct cache *c, struct vol *v)
{
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	uint64_t end = v->contig;
	for (uint64_t i = VOL_EXT_WINDOW; i > 0; i--) {
		if (ext_test(v, i - 1)) {
			end = v->contig + i;
			break;
		}
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	return end;
}

void
cache_set_stored_end(struct cache *c, struct vol *v, uint64_t n)
{
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	if (n <= v->contig) {
		v->contig = n;
		memset(v->extbits, 0, sizeof(v->extbits));
	} else {
		for (uint64_t i = n - v->contig; i < VOL_EXT_WINDOW; i++)
			v->extbits[i / 64] &= ~(1ULL << (i % 64));
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
}

/* ---------------------------------------------------------------- workers */

/*
 * The next block to upload, or NULL.  A volume's dirty list is in order of
 * last write, oldest first: an fsync waiting, a flush of everything, or
 * dirty data past half the limit take blocks from the front; otherwise only
 * blocks not written for the write-back delay go (a block SQLite keeps
 * rewriting, like a B-tree's interior page, stays until fsync).
 */
static struct centry *
pick_upload(struct cache *c, uint64_t now, uint64_t *next_ms)
{
	int pressure = c->dirty_bytes * 2 >= c->conf.dirty_bytes || c->flushing_all;

	for (struct vol *v = c->dirty_vols; v; v = v->dv_next) {
		int force = pressure || v->flush_waiters;
		for (struct centry *e = v->dirty_head; e; e = e->next) {
			if (e->state != CE_DIRTY || e->blk >= v->discard_from)
				continue;
			if (e->blk >= v->contig + VOL_EXT_WINDOW)
				continue;
			if (e->retry_ms > now) {
				*next_ms = UTIL_MIN(*next_ms, e->retry_ms);
				continue;
			}
			if (force || now - e->dirty_ms >= c->conf.writeback_delay_ms)
				return e;
			*next_ms = UTIL_MIN(*next_ms, e->dirty_ms + c->conf.writeback_delay_ms);
			break; /* the rest were written later */
		}
	}
	return NULL;
}

static void
do_fetch(struct cache *c, struct centry *e)
{
	struct vol *v = e->vol;
	char key[PATH_MAX];
	size_t got = 0;
	int rc = util_block_key(key, sizeof(key), v->key_prefix, e->blk);
	uint32_t want = e->len;

	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	if (rc == 0)
		rc = store_get(c->st, key, 0, want, e->data, &got);
	if (rc == 0 && got != want) {
		s3bfs_log(LOG_ERR, "block %s is %zu bytes, the volume's size needs %u", key, got,
			  want);
		rc = -EIO;
	}
	if (rc == -ENOENT) {
		/* Inside the known size a missing block is a hole, never zeros. */
		s3bfs_log(LOG_ERR, "block %s is missing inside the volume", key);
		rc = -EIO;
	}
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	v->nreading--;
	if (rc < 0) {
		char eb[128];
		if (rc != -EIO)
			s3bfs_log(LOG_ERR, "read %s: %s", key, util_strerror(-rc, eb, sizeof(eb)));
		e->err = rc;
		c->stats.fetch_errors++;
		/* Waiters see the error; the last reference frees the entry. */
		ce_hash_remove(c, e);
		e->state = CE_CLEAN;
		e->refs--;
		if (e->refs == 0)
			ce_free(c, e);
	} else {
		e->state = CE_CLEAN;
		e->refs--;
		lru_push(c, e);
	}
	CHECK_PTHREAD(pthread_cond_broadcast(&c->fetched));
}

static void
do_upload(struct cache *c, struct centry *e)
{
	struct vol *v = e->vol;
	char key[PATH_MAX], path[PATH_MAX];
	unsigned char *buf = e->data;
	uint32_t len = e->len;
	uint64_t blk = e->blk;
	int rc = util_block_key(key, sizeof(key), v->key_prefix, blk);

	if (c->gate)
		snprintf(path, sizeof(path), "%s", v->key_prefix);
	e->state = CE_WRITING;
	e->refs++;
	v->nwriting++;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	if (c->gate)
		c->gate(c->gate_arg, path, blk);
	if (rc == 0)
		rc = store_put(c->st, key, buf, len);
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	v->nwriting--;
	e->refs--;
	if (e->data != buf)
		free(buf); /* a writer replaced the buffer during the upload */
	if (rc == 0) {
		c->stats.uploads++;
		if (v->last_err) {
			s3bfs_log(LOG_NOTICE, "%s: uploads work again", v->key_prefix);
			v->last_err = 0;
		}
		uint64_t contig = v->contig;
		ext_mark_stored(v, e->blk);
		if (v->contig != contig)
			CHECK_PTHREAD(pthread_cond_broadcast(&c->work)); /* the window moved */
		if (e->flush_mark && e->flush_gen == v->flush_gen) {
			if (e->flush_twice) {
				e->flush_twice = 0;
			} else {
				e->flush_mark = 0;
				v->flush_pending--;
			}
		}
		if (e->redirty) {
			e->redirty = 0;
			e->state = CE_DIRTY;
		} else {
			e->state = CE_CLEAN;
			e->flush_mark = 0;
			dl_unlink(v, e);
			v->ndirty--;
			c->dirty_bytes -= v->block_size;
			lru_push(c, e);
			if (!v->dirty_head)
				dv_unlink(c, v);
		}
	} else {
		char eb[128];
		/* One line per volume and error, not one per block and attempt. */
		s3bfs_log(v->last_err == rc ? LOG_DEBUG : LOG_ERR,
			  "upload of %s failed: %s; the block stays dirty and is retried", key,
			  util_strerror(-rc, eb, sizeof(eb)));
		c->stats.upload_errors++;
		e->redirty = 0;
		e->state = CE_DIRTY;
		e->retry_ms = util_now_ms() + 1000;
		v->last_err = rc;
		if (e->flush_mark && e->flush_gen == v->flush_gen) {
			/* The fsync that marked it reports it (or already has). */
			if (v->flush_waiters)
				v->flush_err = rc;
		} else {
			v->sticky_err = rc; /* a write-back failure: the next fsync's */
		}
	}
	CHECK_PTHREAD(pthread_cond_broadcast(&c->written));
}

static void *
cache_worker(void *arg)
{
	struct cache *c = arg;

	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	for (;;) {
		if (c->fetch_head) {
			struct centry *e = c->fetch_head;
			c->fetch_head = e->qnext;
			if (!c->fetch_head)
				c->fetch_tail = NULL;
			do_fetch(c, e);
			continue;
		}
		uint64_t now = util_now_ms(), next_ms = UINT64_MAX;
		struct centry *e = pick_upload(c, now, &next_ms);
		if (e) {
			do_upload(c, e);
			continue;
		}
		if (c->stopping)
			break;
		struct timespec ts;
		uint64_t wait = next_ms == UINT64_MAX ? 1000 : (next_ms > now ? next_ms - now : 1);
		util_deadline(&ts, UTIL_MIN(wait, 1000));
		int rc = pthread_cond_timedwait(&c->work, &c->lock, &ts);
		if (rc != 0 && rc != ETIMEDOUT)
			util_pthread_fail("pthread_cond_timedwait", rc, __FILE__, __LINE__);
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	return NULL;
}

/* ---------------------------------------------------------------- public */

struct cache *
cache_create(const struct cache_conf *conf, struct store *st)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->conf = *conf;
	if (c->conf.workers == 0)
		c->conf.workers = 1;
	c->st = st;
	c->nbuckets = 1024;
	c->table = calloc(c->nbuckets, sizeof(*c->table));
	if (!c->table)
		goto fail1;
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		goto fail2;
	if (util_cond_init(&c->work) < 0)
		goto fail3;
	if (util_cond_init(&c->fetched) < 0)
		goto fail4;
	if (util_cond_init(&c->written) < 0)
		goto fail5;
	return c;
fail5:
	pthread_cond_destroy(&c->fetched);
fail4:
	pthread_cond_destroy(&c->work);
fail3:
	pthread_mutex_destroy(&c->lock);
fail2:
	free(c->table);
fail1:
	free(c);
	errno = ENOMEM;
	return NULL;
}

int
cache_start(struct cache *c)
{
	c->threads = calloc(c->conf.workers, sizeof(*c->threads));
	if (!c->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < c->conf.workers; i++) {
		int rc = pthread_create(&c->threads[i], NULL, cache_worker, c);
		if (rc != 0) {
			cache_stop(c);
			return -rc;
		}
		c->nthreads++;
	}
	return 0;
}

void
cache_stop(struct cache *c)
{
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	c->stopping = 1;
	CHECK_PTHREAD(pthread_cond_broadcast(&c->work));
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	for (unsigned i = 0; i < c->nthreads; i++)
		CHECK_PTHREAD(pthread_join(c->threads[i], NULL));
	free(c->threads);
	c->threads = NULL;
	c->nthreads = 0;
}

void
cache_destroy(struct cache **cp)
{
	struct cache *c = *cp;

	if (!c)
		return;
	if (c->nthreads)
		cache_stop(c);
	for (size_t i = 0; i < c->nbuckets; i++) {
		for (struct centry *e = c->table[i], *n; e; e = n) {
			n = e->hnext;
			ce_free(c, e);
		}
	}
	free(c->table);
	pthread_cond_destroy(&c->written);
	pthread_cond_destroy(&c->fetched);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cp = NULL;
}

void
cache_vol_init(struct cache *c, struct vol *v, const char *path, uint64_t stored)
{
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	v->key_prefix = strdup(path);
	v->contig = stored;
	memset(v->extbits, 0, sizeof(v->extbits));
	v->dirty_head = v->dirty_tail = NULL;
	v->ndirty = v->nwriting = v->nreading = 0;
	v->discard_from = UINT64_MAX;
	v->in_dirty_vols = 0;
	v->flush_gen = 0;
	v->flush_pending = v->flush_waiters = 0;
	v->flush_err = v->last_err = v->sticky_err = 0;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	pthread_mutex_init(&v->flush_mu, NULL);
}

void
cache_vol_fini(struct cache *c, struct vol *v)
{
	cache_discard(c, v, 0);
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	free(v->key_prefix);
	v->key_prefix = NULL;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	pthread_mutex_destroy(&v->flush_mu);
}

int
cache_vol_set_path(struct cache *c, struct vol *v, const char *path)
{
	char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	free(v->key_prefix);
	v->key_prefix = p;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	return 0;
}

static uint32_t
blk_len(const struct vol *v, uint64_t size, uint64_t blk)
{
	uint64_t start = blk * v->block_size;

	if (start >= size)
		return 0;
	return (uint32_t)UTIL_MIN((uint64_t)v->block_size, size - start);
}

/* Gets a referenced entry for reading, queueing a fetch if needed (lock held). */
static struct centry *
ce_get_for_read(struct cache *c, struct vol *v, uint64_t size, uint64_t blk, int prefetch,
		int *err)
{
	struct centry *e = ce_lookup(c, v, blk);

	if (e) {
		if (e->state == CE_CLEAN) {
			lru_unlink(c, e);
			lru_push(c, e);
		}
		if (!prefetch) {
			if (e->prefetch || e->state != CE_READING)
				c->stats.hits++;
			ce_unprefetch(c, e);
		}
		return e;
	}
	if (!prefetch)
		c->stats.misses++;
	e = ce_new(c, v, blk, CE_READING);
	if (!e) {
		*err = -ENOMEM;
		return NULL;
	}
	e->len = blk_len(v, size, blk);
	if (prefetch) {
		e->prefetch = 1;
		c->prefetch_bytes += v->block_size;
		c->stats.readahead++;
	}
	fetch_enqueue(c, e);
	return e;
}

/* Blocks handled per round of cache_read: bounds the entries pinned at once. */
#define CACHE_READ_BATCH 256

int
cache_read(struct cache *c, struct vol *v, uint64_t size, uint64_t off, size_t n, void *dst)
{
	struct centry *ents[CACHE_READ_BATCH];
	unsigned char *out = dst;
	uint32_t bs = v->block_size;
	int rc = 0;

	if (n == 0)
		return 0;
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	uint64_t blk = off / bs, last = (off + n - 1) / bs;
	while (rc == 0 && blk <= last) {
		unsigned cnt = (unsigned)UTIL_MIN((uint64_t)CACHE_READ_BATCH, last - blk + 1);
		unsigned got = 0;
		for (unsigned i = 0; i < cnt; i++) {
			ents[i] = ce_get_for_read(c, v, size, blk + i, 0, &rc);
			if (!ents[i])
				break;
			ents[i]->refs++;
			got++;
		}
		for (unsigned i = 0; i < got; i++) {
			struct centry *e = ents[i];
			while (e->state == CE_READING)
				CHECK_PTHREAD(pthread_cond_wait(&c->fetched, &c->lock));
			if (e->err && rc == 0)
				rc = e->err;
			if (rc == 0) {
				uint64_t bstart = (blk + i) * bs;
				uint64_t from = UTIL_MAX(off, bstart), to = UTIL_MIN(off + n, bstart + bs);
				memcpy(out + (from - off), e->data + (from - bstart), to - from);
			}
			if (--e->refs == 0 && e->err)
				ce_free(c, e);
		}
		blk += cnt;
	}
	/* A cache_discard may be waiting for these references to go. */
	if (v->discard_from != UINT64_MAX)
		CHECK_PTHREAD(pthread_cond_broadcast(&c->written));
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	return rc;
}

void
cache_prefetch(struct cache *c, struct vol *v, uint64_t size, uint64_t blk, uint64_t count)
{
	int err = 0;
	uint64_t end = (size + v->block_size - 1) / v->block_size;

	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	for (uint64_t b = blk; b < blk + count && b < end; b++) {
		/* Blocks read ahead and not used yet take at most a quarter of
		 * the cache; used ones age out of the LRU like any other. */
		if (c->prefetch_bytes + v->block_size > c->conf.cache_bytes / 4)
			break;
		if (!ce_lookup(c, v, b) && !ce_get_for_read(c, v, size, b, 1, &err))
			break;
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
}

/* Waits, lock held, until one more dirty block fits under the limit. */
static void
wait_dirty_space(struct cache *c, struct vol *v)
{
	if (c->dirty_bytes + v->block_size <= c->conf.dirty_bytes)
		return;
	c->stats.writer_waits++;
	while (c->dirty_bytes + v->block_size > c->conf.dirty_bytes && c->dirty_bytes > 0) {
		CHECK_PTHREAD(pthread_cond_broadcast(&c->work));
		CHECK_PTHREAD(pthread_cond_wait(&c->written, &c->lock));
	}
}

int
cache_modify(struct cache *c, struct vol *v, uint64_t blk, uint32_t old_len, uint32_t new_len,
	     uint32_t off, const void *src, uint32_t n)
{
	uint32_t bs = v->block_size;
	int rc = 0;

	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	for (;;) {
		struct centry *e = ce_lookup(c, v, blk);
		if (!e || e->state == CE_CLEAN) {
			/* About to add a dirty block: respect the limit first; the
			 * entry may change meanwhile, so look it up again after. */
			if (c->dirty_bytes + bs > c->conf.dirty_bytes) {
				if (e)
					e->refs++;
				wait_dirty_space(c, v);
				if (e)
					e->refs--;
				e = ce_lookup(c, v, blk);
				if (e && e->state != CE_CLEAN)
					continue;
			}
		}
		if (!e) {
			/* The old bytes are needed unless the update covers them all. */
			int need_old = old_len > 0 && !(off == 0 && n >= old_len);
			if (need_old) {
				e = ce_new(c, v, blk, CE_READING);
				if (!e) {
					rc = -ENOMEM;
					break;
				}
				e->len = old_len;
				c->stats.misses++;
				fetch_enqueue(c, e);
				continue; /* wait for it below */
			}
			e = ce_new(c, v, blk, CE_CLEAN);
			if (!e) {
				rc = -ENOMEM;
				break;
			}
			lru_push(c, e);
		}
		if (e->state == CE_READING) {
			e->refs++;
			while (e->state == CE_READING)
				CHECK_PTHREAD(pthread_cond_wait(&c->fetched, &c->lock));
			rc = e->err;
			if (--e->refs == 0 && e->err)
				ce_free(c, e);
			if (rc < 0)
				break;
			continue;
		}
		if (e->state == CE_DIRTY || e->state == CE_WRITING) {
			/* Written again: to the back of the list of last writes. */
			dl_unlink(v, e);
			dl_append(c, v, e);
			e->dirty_ms = util_now_ms();
		}
		if (e->state == CE_WRITING) {
			/* Copy on write: the upload keeps sending the old buffer. */
			if (!e->redirty) {
				unsigned char *nb = malloc(bs);
				if (!nb) {
					rc = -ENOMEM;
					break;
				}
				memcpy(nb, e->data, bs);
				e->data = nb;
				e->redirty = 1;
				if (e->flush_mark && e->flush_gen == v->flush_gen)
					e->flush_twice = 0; /* the mark now waits for the next upload */
			}
		} else if (e->state == CE_CLEAN) {
			lru_unlink(c, e);
			ce_unprefetch(c, e);
			e->state = CE_DIRTY;
			e->dirty_ms = util_now_ms();
			e->retry_ms = 0;
			e->flush_mark = 0;
			dl_append(c, v, e);
			v->ndirty++;
			c->dirty_bytes += bs;
			/* Past half the limit write-back starts: wake a worker now
			 * rather than at its next timeout. */
			if (c->dirty_bytes * 2 >= c->conf.dirty_bytes)
				CHECK_PTHREAD(pthread_cond_signal(&c->work));
		}
		/* Bytes past the old length are zero (a stale longer copy too). */
		if (old_len < bs)
			memset(e->data + old_len, 0, bs - old_len);
		if (n)
			memcpy(e->data + off, src, n);
		if (new_len < bs)
			memset(e->data + new_len, 0, bs - new_len);
		e->len = new_len;
		break;
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	return rc;
}

static int
flush_one(struct cache *c, struct vol *v)
{
	int rc;

	CHECK_PTHREAD(pthread_mutex_lock(&v->flush_mu));
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	v->flush_gen++;
	v->flush_pending = 0;
	v->flush_err = 0;
	for (struct centry *e = v->dirty_head; e; e = e->next) {
		e->flush_gen = v->flush_gen;
		e->flush_mark = 1;
		e->retry_ms = 0; /* an fsync tries a failed block again at once */
		/* An upload under way may predate the last write: wait for the next. */
		e->flush_twice = e->state == CE_WRITING && e->redirty;
		v->flush_pending++;
	}
	v->flush_waiters++;
	CHECK_PTHREAD(pthread_cond_broadcast(&c->work));
	while (v->flush_pending > 0 && v->flush_err == 0)
		CHECK_PTHREAD(pthread_cond_wait(&c->written, &c->lock));
	rc = v->flush_pending > 0 ? v->flush_err : 0;
	/* DESIGN.md section 5: an upload that failed since the last fsync is
	 * reported by this one, once, even if its retry has stored the block
	 * meanwhile: the application learns that a write-back failed. */
	if (rc == 0)
		rc = v->sticky_err;
	v->sticky_err = 0;
	v->flush_waiters--;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	CHECK_PTHREAD(pthread_mutex_unlock(&v->flush_mu));
	return rc;
}

int
cache_flush(struct cache *c, struct vol *v)
{
	if (v)
		return flush_one(c, v);

	/* Every volume: one pass marks all of them urgent, then each is waited
	 * for.  Volumes are not freed while they have dirty blocks. */
	int rc = 0;
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	c->flushing_all++;
	CHECK_PTHREAD(pthread_cond_broadcast(&c->work));
	for (;;) {
		struct vol *x = c->dirty_vols;
		if (!x)
			break;
		CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
		int r = flush_one(c, x);
		CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
		if (r < 0) {
			rc = r;
			break; /* the store is failing: the caller decides what next */
		}
	}
	c->flushing_all--;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	return rc;
}

void
cache_discard(struct cache *c, struct vol *v, uint64_t from_blk)
{
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	v->discard_from = from_blk;
	for (;;) {
		/* Wait until no transfer of the doomed blocks is under way. */
		int busy = 0;
		for (size_t i = 0; i < c->nbuckets && !busy; i++)
			for (struct centry *e = c->table[i]; e && !busy; e = e->hnext)
				if (e->vol == v && e->blk >= from_blk && e->refs > 0)
					busy = 1;
		if (!busy)
			break;
		CHECK_PTHREAD(pthread_cond_wait(v->nreading ? &c->fetched : &c->written, &c->lock));
		/* Both conditions are broadcast; re-check under the lock. */
	}
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct centry **pp = &c->table[i];
		while (*pp) {
			struct centry *e = *pp;
			if (e->vol != v || e->blk < from_blk) {
				pp = &e->hnext;
				continue;
			}
			*pp = e->hnext;
			c->nentries--;
			if (e->state == CE_CLEAN) {
				lru_unlink(c, e);
			} else {
				dl_unlink(v, e);
				v->ndirty--;
				c->dirty_bytes -= v->block_size;
				if (e->flush_mark && e->flush_gen == v->flush_gen && v->flush_pending)
					v->flush_pending--;
			}
			ce_free(c, e);
		}
	}
	if (!v->dirty_head)
		dv_unlink(c, v);
	if (from_blk == 0)
		v->sticky_err = 0; /* the blocks that failed are gone with the volume */
	v->discard_from = UINT64_MAX;
	CHECK_PTHREAD(pthread_cond_broadcast(&c->written));
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
}

int
cache_vol_idle(struct cache *c, struct vol *v)
{
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	int idle = v->contig > 0 && !v->dirty_head && v->nreading == 0 && v->nwriting == 0;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	return idle;
}

uint64_t
cache_dirty_blocks(struct cache *c)
{
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	uint64_t n = 0;
	for (struct vol *v = c->dirty_vols; v; v = v->dv_next)
		n += v->ndirty;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	return n;
}

static int
mkdirs_for(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = strchr(tmp + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

long
cache_dump_dirty(struct cache *c, const char *dir)
{
	long count = 0;
	int rc = 0;

	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	for (struct vol *v = c->dirty_vols; v && rc == 0; v = v->dv_next) {
		for (struct centry *e = v->dirty_head; e && rc == 0; e = e->next) {
			char key[PATH_MAX], path[PATH_MAX];
			if (util_block_key(key, sizeof(key), v->key_prefix, e->blk) < 0 ||
			    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, key) >= sizeof(path)) {
				rc = -ENAMETOOLONG;
				break;
			}
			if ((rc = mkdirs_for(path)) < 0)
				break;
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd < 0) {
				rc = -errno;
				break;
			}
			if (write(fd, e->data, e->len) != (ssize_t)e->len || fsync(fd) < 0)
				rc = errno ? -errno : -EIO;
			close(fd);
			count++;
		}
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
	return rc < 0 ? rc : count;
}

void
cache_set_upload_gate(struct cache *c, cache_upload_gate gate, void *arg)
{
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	c->gate = gate;
	c->gate_arg = arg;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
}

void
cache_get_stats(struct cache *c, struct cache_stats *out)
{
	CHECK_PTHREAD(pthread_mutex_lock(&c->lock));
	*out = c->stats;
	out->bytes_cached = c->bytes;
	out->bytes_dirty = c->dirty_bytes;
	out->blocks_dirty = 0;
	for (struct vol *v = c->dirty_vols; v; v = v->dv_next)
		out->blocks_dirty += v->ndirty;
	CHECK_PTHREAD(pthread_mutex_unlock(&c->lock));
}
