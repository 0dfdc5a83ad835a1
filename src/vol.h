/*
 * vol.h - one volume (a virtual file): a key prefix whose bytes live in
 * block objects "<prefix>/%010u" (DESIGN.md section 2).
 *
 * Locks, in the order they may be taken:
 *   wmu          serializes what changes the volume's shape: writes,
 *                truncate, unlink, rename (one at a time per volume)
 *   ns lock      the namespace tables (ns.c), never held across I/O
 *   cache lock   the block cache's state (cache.c), never held across I/O
 *   mu           size, times and open counts
 * A thread holding a later lock never takes an earlier one.
 */
#ifndef S3BFS_VOL_H
#define S3BFS_VOL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/*
 * How far past the stored contiguous blocks uploads may run ahead.  Uploads
 * finish out of order, so a crash can leave holes; keeping them within this
 * window lets size discovery (ns.c) find the true end with one bounded
 * listing after its binary search, and drop what lies past a hole.  Deletes
 * run in batches no larger than this, top down, for the same reason.
 */
#define VOL_EXT_WINDOW 256

struct centry;

struct vol {
	uint64_t id;         /* unique in this daemon: the cache's key */
	uint32_t block_size; /* fixed for the volume's life */
	int local_only;      /* a "-shm" file: kept in memory, never stored */

	pthread_mutex_t wmu; /* see above */

	pthread_mutex_t mu;
	uint64_t size;         /* bytes, including data not yet uploaded; under mu */
	struct timespec mtime; /* under mu */
	unsigned opens;        /* open file handles; under mu */
	int unlinked;          /* removed from the namespace while open; under mu */
	unsigned char *mem;    /* local_only data; under wmu */
	size_t mem_cap;

	/* Under the ns lock. */
	char *path;    /* key prefix relative to the root prefix, e.g. "dir/app.db" */
	unsigned refs; /* ns table + open handles + operations in progress */
	int in_table;
	struct vol *ns_next;

	/* Under the cache lock (cache.c owns these). */
	char *key_prefix;                       /* copy of path for uploads */
	uint64_t contig;                        /* blocks [0, contig) are stored */
	uint64_t extbits[VOL_EXT_WINDOW / 64];  /* bit i: block contig+i is stored */
	struct centry *dirty_head, *dirty_tail; /* DIRTY and WRITING entries */
	unsigned ndirty, nwriting, nreading;
	uint64_t discard_from; /* UINT64_MAX, or blocks >= this are being dropped */
	struct vol *dv_prev, *dv_next; /* in the cache's list of volumes with dirty blocks */
	int in_dirty_vols;
	pthread_mutex_t flush_mu; /* one fsync at a time per volume */
	uint64_t flush_gen;
	unsigned flush_pending, flush_waiters;
	int flush_err;
	int last_err;   /* last upload failure, for logs */
	int sticky_err; /* an upload failed since the last fsync reported one */
};

#endif
