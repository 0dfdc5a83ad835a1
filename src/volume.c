/*
 * volume.c - see volume.h.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "blkmap.h"
#include "log.h"
#include "util.h"
#include "volume.h"

uint64_t
vol_size(struct vol *v)
{
	CHECK_PTHREAD(pthread_mutex_lock(&v->mu));
	uint64_t s = v->size;
	CHECK_PTHREAD(pthread_mutex_unlock(&v->mu));
	return s;
}

int
vol_unlinked(struct vol *v)
{
	CHECK_PTHREAD(pthread_mutex_lock(&v->mu));
	int u = v->unlinked;
	CHECK_PTHREAD(pthread_mutex_unlock(&v->mu));
	return u;
}

static void
vol_set_size(struct vol *v, uint64_t size, int touch)
{
	CHECK_PTHREAD(pthread_mutex_lock(&v->mu));
	v->size = size;
	if (touch)
		clock_gettime(CLOCK_REALTIME, &v->mtime);
	CHECK_PTHREAD(pthread_mutex_unlock(&v->mu));
}

ssize_t
vol_read(struct volctx *x, struct vol *v, uint64_t off, size_t n, void *dst)
{
	if (v->local_only) {
		CHECK_PTHREAD(pthread_mutex_lock(&v->wmu));
		size_t size = (size_t)vol_size(v);
		size_t cnt = off >= size ? 0 : UTIL_MIN(n, size - (size_t)off);
		if (cnt)
			memcpy(dst, v->mem + off, cnt);
		CHECK_PTHREAD(pthread_mutex_unlock(&v->wmu));
		return (ssize_t)cnt;
	}
	uint64_t size = vol_size(v);
	if (off >= size)
		return 0;
	size_t cnt = (size_t)UTIL_MIN((uint64_t)n, size - off);
	int rc = cache_read(x->cache, v, size, off, cnt, dst);
	return rc < 0 ? rc : (ssize_t)cnt;
}

static int
mem_resize(struct volctx *x, struct vol *v, uint64_t size)
{
	if (size > x->local_max)
		return -EFBIG;
	if (size > v->mem_cap) {
		size_t cap = v->mem_cap ? v->mem_cap : 32768;
		while (cap < size)
			cap *= 2;
		unsigned char *m = realloc(v->mem, cap);
		if (!m)
			return -ENOMEM;
		memset(m + v->mem_cap, 0, cap - v->mem_cap);
		v->mem = m;
		v->mem_cap = cap;
	}
	uint64_t old = vol_size(v);
	if (size < old)
		memset(v->mem + size, 0, (size_t)(old - size));
	return 0;
}

/* The write path proper; v->wmu held.  n == 0 grows the volume to off. */
static int
write_locked(struct volctx *x, struct vol *v, uint64_t off, size_t n, const void *src)
{
	uint32_t bs = v->block_size;
	uint64_t old = vol_size(v), end = off + n, first, last;
	uint64_t new_size = UTIL_MAX(old, end);

	if (end < off || blkmap_nblocks(new_size, bs) > BLKMAP_MAX_BLOCKS)
		return -EFBIG;
	if (v->local_only) {
		int rc = mem_resize(x, v, new_size);
		if (rc < 0)
			return rc;
		if (n)
			memcpy(v->mem + off, src, n);
		vol_set_size(v, new_size, 1);
		return 0;
	}
	if (!blkmap_write_span(old, off, n, bs, &first, &last))
		return 0;
	for (uint64_t b = first; b <= last; b++) {
		uint32_t old_len = blkmap_len(old, bs, b);
		uint32_t new_len = blkmap_len(new_size, bs, b);
		uint32_t boff, blen;
		blkmap_overlap(off, n, bs, b, &boff, &blen);
		if (blen == 0 && old_len == new_len)
			continue;
		const unsigned char *p = blen ? (const unsigned char *)src + (b * bs + boff - off) : NULL;
		int rc = cache_modify(x->cache, v, b, old_len, new_len, boff, p, blen);
		if (rc < 0) {
			/* Keep the size consistent with the blocks already changed. */
			if (b > first)
				vol_set_size(v, UTIL_MAX(old, UTIL_MIN(new_size, b * bs)), 1);
			return rc;
		}
	}
	vol_set_size(v, new_size, 1);
	return 0;
}

ssize_t
vol_write(struct volctx *x, struct vol *v, uint64_t off, size_t n, const void *src)
{
	CHECK_PTHREAD(pthread_mutex_lock(&v->wmu));
	int rc = write_locked(x, v, off, n, src);
	CHECK_PTHREAD(pthread_mutex_unlock(&v->wmu));
	return rc < 0 ? rc : (ssize_t)n;
}

int
vol_delete_blocks(struct volctx *x, struct vol *v, uint64_t from)
{
	uint64_t end = cache_stored_end(x->cache, v);
	char (*keys)[PATH_MAX] = NULL;
	const char *ptrs[VOL_EXT_WINDOW];
	int rc = 0;

	if (end <= from)
		return 0;
	keys = malloc(sizeof(*keys) * VOL_EXT_WINDOW);
	if (!keys)
		return -ENOMEM;
	int whole = from == 0;
	if (whole) {
		/* Block 0 alone first: once it is gone the volume is gone. */
		if ((rc = util_block_key(keys[0], PATH_MAX, v->path, 0)) == 0) {
			ptrs[0] = keys[0];
			rc = store_del(x->st, ptrs, 1);
		}
		if (rc < 0) {
			free(keys);
			return rc;
		}
		cache_set_stored_end(x->cache, v, 0);
		from = 1;
	}
	/* Then the rest, highest first, so that a crash leaves a contiguous
	 * prefix and at most one batch of holes (see VOL_EXT_WINDOW). */
	while (rc == 0 && end > from) {
		uint64_t lo = end - UTIL_MIN((uint64_t)VOL_EXT_WINDOW, end - from);
		size_t k = 0;
		for (uint64_t b = end; b > lo; b--) {
			if ((rc = util_block_key(keys[k], PATH_MAX, v->path, b - 1)) < 0)
				break;
			ptrs[k] = keys[k];
			k++;
		}
		if (rc == 0)
			rc = store_del(x->st, ptrs, k);
		if (rc == 0 && lo > 0)
			cache_set_stored_end(x->cache, v, lo);
		end = lo;
	}
	if (rc < 0) {
		char eb[128];
		s3bfs_log(LOG_ERR, "deleting blocks of %s: %s%s", v->path,
			  util_strerror(-rc, eb, sizeof(eb)),
			  whole ? " (the volume is deleted; the leftover blocks are removed when "
				  "the name is created again)"
				: "");
	}
	free(keys);
	/* Past block 0 the volume is gone: what is left is debris, not an error. */
	return whole ? 0 : rc;
}

int
vol_truncate(struct volctx *x, struct vol *v, uint64_t size)
{
	int rc = 0;

	CHECK_PTHREAD(pthread_mutex_lock(&v->wmu));
	uint64_t old = vol_size(v);
	uint32_t bs = v->block_size;
	if (size >= old) {
		rc = size > old ? write_locked(x, v, size, 0, NULL) : 0;
		goto out;
	}
	if (v->local_only) {
		rc = mem_resize(x, v, size);
		if (rc == 0)
			vol_set_size(v, size, 1);
		goto out;
	}
	uint64_t keep = blkmap_nblocks(size, bs);
	cache_discard(x->cache, v, keep);
	rc = vol_delete_blocks(x, v, keep);
	/* The blocks past the end are gone from the cache whatever happened:
	 * the size follows, and a failed delete is retried by the next one. */
	if (size % bs != 0) {
		int r = cache_modify(x->cache, v, keep - 1, blkmap_len(old, bs, keep - 1),
				     (uint32_t)(size % bs), 0, NULL, 0);
		if (rc == 0)
			rc = r;
	}
	vol_set_size(v, size, 1);
out:
	CHECK_PTHREAD(pthread_mutex_unlock(&v->wmu));
	return rc;
}
