/*
 * store.h - the object-store interface every backend implements.
 *
 * s3blockfs keeps each volume as block objects named "<prefix>/%010u" (see
 * DESIGN.md section 2).  Everything below the block cache talks in *keys*:
 * the S3 backend (s3.c), the local directory backend (local.c), the
 * in-memory test backend with scripted faults (mem.c) and the retry layer
 * (retry.c), which wraps another store and retries transient failures.
 *
 * Why keys and not blocks: the namespace code (ns.c) needs listings, HEADs,
 * batch deletes and copies of arbitrary keys, and the block cache needs GET
 * and PUT of block keys.  One key-level interface serves both, and every
 * layer stays ignorant of the layers above it (the S3 code knows nothing of
 * caching, the cache nothing of HTTP).
 *
 * Keys are relative to the mount's root prefix (the backend adds it), never
 * start with '/', and are UTF-8.  All calls are thread-safe and may block;
 * they must never block forever (each backend enforces its deadlines).
 * Every call returns 0 or a negative errno:
 *   -ENOENT     no such key
 *   -EACCES/-EPERM  refused by the server or the file system
 *   -ENOSPC/-EDQUOT/-EROFS  the backend is full or read-only
 *   -ETIMEDOUT  the deadline passed
 *   -EAGAIN     throttled (503 SlowDown); retryable
 *   -EIO        anything else (5xx, truncated or malformed reply, ...)
 */
#ifndef S3BFS_STORE_H
#define S3BFS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;

/* One entry of a listing: an object (is_prefix == 0, size and mtime valid)
 * or a common prefix ending in the delimiter (is_prefix == 1). */
struct store_entry {
	const char *key; /* full key relative to the root prefix */
	int is_prefix;
	uint64_t size;
	time_t mtime;
};

/* Called once per entry, in ascending byte order of key.  Return 0 to go
 * on, 1 to stop early (the list call then returns 0), or a negative errno
 * to abort (the list call returns it). */
typedef int (*store_list_cb)(void *arg, const struct store_entry *e);

struct store_stats {
	uint64_t gets, puts, heads, deletes, lists, copies; /* requests sent */
	uint64_t bytes_down, bytes_up;
	uint64_t retries, errors;
};

struct store_ops {
	const char *name; /* "s3", "local", "mem", "retry": for logs and stats */

	/* Reads bytes [off, off+len) of an object into buf; *got receives the
	 * number of bytes read, which is less than len only where the object
	 * ends (a short object is not an error; a reply shorter than what the
	 * server announced is -EIO).  len == 0 is allowed. */
	int (*get)(struct store *st, const char *key, uint64_t off, size_t len, void *buf,
		   size_t *got);
	/* Stores len bytes as the whole object, replacing any old one
	 * atomically (readers see the old or the new object, never a mix). */
	int (*put)(struct store *st, const char *key, const void *buf, size_t len);
	/* Size (and mtime, may be NULL) of an object; -ENOENT if missing. */
	int (*head)(struct store *st, const char *key, uint64_t *size, time_t *mtime);
	/* Deletes keys, in the order given as far as the backend can honour
	 * it (S3 batches of up to 1000 are unordered inside a batch).  A key
	 * that does not exist is not an error. */
	int (*del)(struct store *st, const char *const *keys, size_t n);
	/* Lists keys starting with prefix, after start_after (NULL: from the
	 * start), at most max_keys entries (0: no limit).  delimiter NULL lists
	 * recursively; "/" rolls deeper keys up into common prefixes.  The
	 * listing is complete or the call fails: never a partial listing. */
	int (*list)(struct store *st, const char *prefix, const char *delimiter,
		    const char *start_after, size_t max_keys, store_list_cb cb, void *arg);
	/* Server-side copy of one object (rename).  May be NULL: the caller
	 * then falls back to get + put. */
	int (*copy)(struct store *st, const char *src_key, const char *dst_key);
	/* Checks at mount time, before the daemon detaches, that the store is
	 * reachable, exists and accepts the credentials; on failure fills msg
	 * with one line for the user. */
	int (*probe)(struct store *st, char *msg, size_t msgsz);
	/* Adds this layer's counters (and the layers' below) into *out. */
	void (*get_stats)(struct store *st, struct store_stats *out);
	/* Frees the layer, then the layer below. */
	void (*destroy)(struct store *st);
};

struct store {
	const struct store_ops *ops;
	struct store *lower; /* NULL at the bottom */
	void *priv;          /* layer state; no other file looks inside */
};

static inline int
store_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got)
{
	return st->ops->get(st, key, off, len, buf, got);
}

static inline int
store_put(struct store *st, const char *key, const void *buf, size_t len)
{
	return st->ops->put(st, key, buf, len);
}

static inline int
store_head(struct store *st, const char *key, uint64_t *size, time_t *mtime)
{
	return st->ops->head(st, key, size, mtime);
}

static inline int
store_del(struct store *st, const char *const *keys, size_t n)
{
	return st->ops->del(st, keys, n);
}

static inline int
store_list(struct store *st, const char *prefix, const char *delimiter, const char *start_after,
	   size_t max_keys, store_list_cb cb, void *arg)
{
	return st->ops->list(st, prefix, delimiter, start_after, max_keys, cb, arg);
}

int store_copy(struct store *st, const char *src_key, const char *dst_key);

/* Adds every counter of in to out (for get_stats of each layer). */
void store_stats_add(struct store_stats *out, const struct store_stats *in);

static inline void
store_get_stats(struct store *st, struct store_stats *out)
{
	if (st->ops->get_stats)
		st->ops->get_stats(st, out);
}

static inline void
store_destroy(struct store **stp)
{
	if (*stp) {
		(*stp)->ops->destroy(*stp);
		*stp = NULL;
	}
}

#endif
