/*
 * volume.h - byte-range I/O on a volume: reads through the cache, writes as
 * read-modify-write of blocks, growth with zero blocks (the layout stays
 * contiguous), truncation and deletion in the order DESIGN.md section 5
 * requires.
 */
#ifndef S3BFS_VOLUME_H
#define S3BFS_VOLUME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache.h"
#include "store.h"
#include "vol.h"

struct volctx {
	struct store *st;
	struct cache *cache;
	size_t local_max; /* cap on a memory-only volume ("-shm") */
};

/* Reads up to n bytes at off; returns the count (short at the end) or -errno. */
ssize_t vol_read(struct volctx *x, struct vol *v, uint64_t off, size_t n, void *dst);
/* Writes n bytes at off; returns n or -errno.  Takes v->wmu. */
ssize_t vol_write(struct volctx *x, struct vol *v, uint64_t off, size_t n, const void *src);
/* Sets the size; growth adds zeros.  Takes v->wmu. */
int vol_truncate(struct volctx *x, struct vol *v, uint64_t size);
/* Deletes stored blocks >= from: block 0 first when from is 0 (the commit
 * point SQLite relies on when it deletes a journal), otherwise the highest
 * first, in batches of at most VOL_EXT_WINDOW.  Caller holds v->wmu and has
 * discarded the cached blocks. */
int vol_delete_blocks(struct volctx *x, struct vol *v, uint64_t from);
uint64_t vol_size(struct vol *v);
/* Removed from the namespace while open (I/O through it is ESTALE)? */
int vol_unlinked(struct vol *v);

#endif
