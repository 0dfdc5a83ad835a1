/*
 * mem.h - in-memory store with scripted faults and delays, the bottom layer
 * of unit tests (the role of s3backer's test_io.c).
 */
#ifndef S3BFS_MEM_H
#define S3BFS_MEM_H

#include "store.h"

enum mem_op {
	MEM_GET = 1 << 0,
	MEM_PUT = 1 << 1,
	MEM_HEAD = 1 << 2,
	MEM_DEL = 1 << 3,
	MEM_LIST = 1 << 4,
	MEM_ALL = 0x1f,
};

struct store *mem_store_create(void);
/* The next `count` calls of the ops in mask fail with err (negative errno);
 * count 0 = until further notice (mem_store_fail(st, 0, 0, 0) clears). */
void mem_store_fail(struct store *st, unsigned mask, int err, unsigned count);
/* Every call sleeps this long first (simulated latency). */
void mem_store_set_delay(struct store *st, unsigned delay_ms);
/* Requests currently running and the most ever seen at once. */
void mem_store_inflight(struct store *st, unsigned *now, unsigned *max);
/* Number of objects stored. */
size_t mem_store_count(struct store *st);

#endif
