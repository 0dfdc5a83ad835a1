/*
 * ns.h - the namespace (DESIGN.md section 3): paths to volumes and
 * directories, size and block-size discovery, and a bounded, expiring
 * cache of what the store said.
 *
 * Paths are keys relative to the root prefix, without a leading '/'; ""
 * is the root.  A path is a volume when "<path>/0000000000" exists (or the
 * daemon created it and has not deleted it), a directory when other keys
 * start with "<path>/".  "<root>/.s3blockfs" is hidden.
 */
#ifndef S3BFS_NS_H
#define S3BFS_NS_H

#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "store.h"
#include "vol.h"
#include "volume.h"

enum ns_type { NS_NONE, NS_DIR, NS_VOL };

struct ns_conf {
	uint32_t default_block_size;
	uint64_t ttl_ms;     /* how long a listing's answer is believed */
	size_t max_entries;  /* bound on cached answers */
	size_t max_vols;     /* idle volumes kept in memory */
	int read_only;
	time_t mount_time;
};

struct ns;

struct ns *ns_create(const struct ns_conf *conf, struct volctx *x);
/* Starts the background deleter (after the daemon has forked); without it
 * deletions run in the caller. */
int ns_start(struct ns *ns);
/* Waits until every background deletion is done. */
void ns_drain(struct ns *ns);
/* Stops the deleter after the queue is empty. */
void ns_stop(struct ns *ns);
/* Frees every volume; the cache must have been flushed. */
void ns_destroy(struct ns **nsp);

/* 0 and the type; for NS_VOL *vp gets a reference (ns_vol_put).  vp may be
 * NULL.  -EIO etc. when the store fails. */
int ns_lookup(struct ns *ns, const char *path, enum ns_type *type, struct vol **vp);
void ns_vol_get(struct ns *ns, struct vol *v);
void ns_vol_put(struct ns *ns, struct vol *v);

/* A new empty volume, existing in memory until its first block is stored.
 * -EEXIST, -ENOENT (no parent), -EISDIR. */
int ns_create_vol(struct ns *ns, const char *path, struct vol **vp);
int ns_unlink(struct ns *ns, const char *path);
int ns_mkdir(struct ns *ns, const char *path);
int ns_rmdir(struct ns *ns, const char *path);
/* flags: 0 or RENAME_NOREPLACE. */
int ns_rename(struct ns *ns, const char *from, const char *to, unsigned flags);

/* Calls cb for each name in the directory (not "." and ".."). */
typedef int (*ns_dir_cb)(void *arg, const char *name, enum ns_type type);
int ns_readdir(struct ns *ns, const char *path, ns_dir_cb cb, void *arg);

/* Size discovery, exported for tests: finds the block size, the size and
 * the number of stored blocks of the volume at path (block 0 exists),
 * removing blocks past a hole left by an interrupted write unless
 * read_only. */
int ns_discover(struct store *st, const char *path, uint32_t default_bs, int read_only,
		uint32_t *bs, uint64_t *size, uint64_t *nblocks, time_t *mtime);

/* Is a name one of ours to hide (".s3blockfs" at the root)? */
int ns_hidden(const char *path);
/* Is this a scratch file kept in memory only ("*-shm")? */
int ns_local_only(const char *path);

#endif
