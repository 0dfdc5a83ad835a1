/*
 * blkmap.c - see blkmap.h.
 */
#include "config.h"

#include "blkmap.h"

int
blkmap_write_span(uint64_t old_size, uint64_t off, uint64_t n, uint32_t bs, uint64_t *first,
		  uint64_t *last)
{
	uint64_t end = off + n;
	uint64_t new_size = end > old_size ? end : old_size;
	int have = 0;

	if (n > 0) {
		*first = off / bs;
		*last = (end - 1) / bs;
		have = 1;
	}
	if (new_size > old_size) {
		/* From the old partial last block (or, when it is full, the
		 * first new block) to the new end. */
		uint64_t g0 = old_size / bs, g1 = (new_size - 1) / bs;
		if (!have || g0 < *first)
			*first = g0;
		if (!have || g1 > *last)
			*last = g1;
		have = 1;
	}
	return have;
}

void
blkmap_overlap(uint64_t off, uint64_t n, uint32_t bs, uint64_t blk, uint32_t *boff,
	       uint32_t *blen)
{
	uint64_t bstart = blk * bs, bend = bstart + bs;
	uint64_t from = off > bstart ? off : bstart;
	uint64_t to = off + n < bend ? off + n : bend;

	if (to <= from) {
		*boff = 0;
		*blen = 0;
		return;
	}
	*boff = (uint32_t)(from - bstart);
	*blen = (uint32_t)(to - from);
}
