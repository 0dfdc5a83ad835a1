/*
 * cache.h - the block cache: a bounded LRU of clean blocks plus dirty blocks
 * awaiting upload, worker threads that fetch and upload in parallel, and the
 * durability contract of DESIGN.md section 5.
 *
 * Blocks are keyed by (volume id, block number).  Bytes of a cached block
 * past its length are always zero.  The cache copies: callers' buffers are
 * never kept.  All calls return 0 or -errno.
 */
#ifndef S3BFS_CACHE_H
#define S3BFS_CACHE_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"
#include "vol.h"

struct cache;

struct cache_conf {
	uint64_t cache_bytes;        /* clean + dirty block memory */
	uint64_t dirty_bytes;        /* writers wait above this much dirty data */
	uint64_t writeback_delay_ms; /* a dirty block older than this is uploaded */
	unsigned workers;            /* parallel transfers */
};

struct cache_stats {
	uint64_t hits, misses, readahead, evictions;
	uint64_t uploads, upload_errors, fetch_errors;
	uint64_t bytes_cached, bytes_dirty, blocks_dirty;
	uint64_t writer_waits; /* times a writer waited for the dirty limit */
};

struct cache *cache_create(const struct cache_conf *conf, struct store *st);
/* Starts the workers: after the daemon has forked. */
int cache_start(struct cache *c);
/* Joins the workers; dirty blocks stay (flush first). */
void cache_stop(struct cache *c);
void cache_destroy(struct cache **cp);

/* A new volume (or one just found in the store with `stored` blocks). */
void cache_vol_init(struct cache *c, struct vol *v, const char *path, uint64_t stored);
/* Frees the cache's state of a volume that has no blocks in the cache left. */
void cache_vol_fini(struct cache *c, struct vol *v);
/* Changes the prefix new uploads go to (rename; the volume is flushed). */
int cache_vol_set_path(struct cache *c, struct vol *v, const char *path);

/*
 * Copies bytes [off, off+n) of the volume into dst; size is the volume's
 * size (the caller clamps off+n to it).  Missing blocks are fetched in
 * parallel; a block that should exist but is missing is -EIO.
 */
int cache_read(struct cache *c, struct vol *v, uint64_t size, uint64_t off, size_t n, void *dst);
/* Starts fetching blocks [blk, blk+count) (clamped to size) without waiting. */
void cache_prefetch(struct cache *c, struct vol *v, uint64_t size, uint64_t blk, uint64_t count);

/*
 * Updates block blk: its old length is old_len (0: it did not exist), the
 * new one new_len; bytes [off, off+n) become src, bytes past new_len zero.
 * Reads the old block first when the update does not cover it.  Waits while
 * dirty data is at the limit.
 */
int cache_modify(struct cache *c, struct vol *v, uint64_t blk, uint32_t old_len,
		 uint32_t new_len, uint32_t off, const void *src, uint32_t n);

/* fsync: returns when every block of v made dirty before the call is stored,
 * or with the error of an upload that failed (the block stays dirty and is
 * retried).  v NULL: every volume. */
int cache_flush(struct cache *c, struct vol *v);

/* Drops blocks >= from_blk of v, dirty or not, after any transfer of them
 * in progress has finished.  For truncate and unlink. */
void cache_discard(struct cache *c, struct vol *v, uint64_t from_blk);

/* One past the highest block of v known to be in the store. */
uint64_t cache_stored_end(struct cache *c, struct vol *v);
/* After deleting blocks >= n from the store. */
void cache_set_stored_end(struct cache *c, struct vol *v, uint64_t n);

/* Has v something stored and nothing dirty or in transfer (may be dropped
 * from memory and found again in the store)? */
int cache_vol_idle(struct cache *c, struct vol *v);
/* Dirty blocks of any volume? */
uint64_t cache_dirty_blocks(struct cache *c);
/* Writes every dirty block as a file DIR/<key> (the local backend's layout),
 * for when the store is gone at unmount; returns the count or -errno. */
long cache_dump_dirty(struct cache *c, const char *dir);

void cache_get_stats(struct cache *c, struct cache_stats *out);

/* Called by a worker, holding no lock, before it uploads block blk of the
 * volume at path: returns when the upload may go (ns.c holds it back while
 * a background deletion of an earlier volume of that name covers blk). */
typedef void (*cache_upload_gate)(void *arg, const char *path, uint64_t blk);
void cache_set_upload_gate(struct cache *c, cache_upload_gate gate, void *arg);

#endif
