/*
 * blkmap.h - pure byte-range <-> block arithmetic of the layout
 * (DESIGN.md section 2): block N holds bytes [N*bs, (N+1)*bs).
 */
#ifndef S3BFS_BLKMAP_H
#define S3BFS_BLKMAP_H

#include <stdint.h>

/* Number of blocks a volume of `size` bytes has. */
static inline uint64_t
blkmap_nblocks(uint64_t size, uint32_t bs)
{
	return size / bs + (size % bs != 0);
}

/* Length of block blk in a volume of `size` bytes (0 past the end). */
static inline uint32_t
blkmap_len(uint64_t size, uint32_t bs, uint64_t blk)
{
	if (size / bs > blk)
		return bs;
	if (size / bs == blk)
		return (uint32_t)(size % bs);
	return 0;
}

/*
 * The blocks a write of n bytes at off touches in a volume growing from
 * old_size to max(old_size, off+n): the written blocks, and when the volume
 * grows, the old last block (its length changes) and every block of the gap
 * (they become zeros).  Returns 0 (nothing to do) or 1 with [*first, *last].
 */
int blkmap_write_span(uint64_t old_size, uint64_t off, uint64_t n, uint32_t bs, uint64_t *first,
		      uint64_t *last);

/* The part of [off, off+n) inside block blk: offset in the block and length. */
void blkmap_overlap(uint64_t off, uint64_t n, uint32_t bs, uint64_t blk, uint32_t *boff,
		    uint32_t *blen);

/* Largest block count of a volume: 10 digits of block number in the key. */
#define BLKMAP_MAX_BLOCKS 10000000000ULL

#endif
