/*
 * stack.h - one mounted file system: the configuration, the store stack,
 * the block cache and the namespace.  stack.c is the only file that knows
 * the order of the layers; it travels as FUSE's private data (no globals).
 */
#ifndef S3BFS_STACK_H
#define S3BFS_STACK_H

#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include "cache.h"
#include "conf.h"
#include "ns.h"
#include "store.h"
#include "volume.h"

struct s3_conf;

struct s3bfs {
	struct conf *conf;
	struct s3_conf *s3conf;
	struct store *st;     /* the top of the store stack */
	struct cache *cache;  /* above it */
	struct volctx x;
	struct ns *ns;
	int started;          /* cache workers running */
	pthread_mutex_t fh_lock; /* protects fh_list */
	void *fh_list;        /* open files (fs.c): freed at teardown if never released */
	uid_t uid;
	gid_t gid;
	time_t mount_time;
};

/* Builds the store for conf's SOURCE, checks it (probe), and the cache and
 * namespace above it.  On error, one line for the user in msg. */
int stack_create(struct s3bfs *fs, struct conf *conf, struct s3_conf *s3conf, char *msg,
		 size_t msgsz);
/* Starts the transfer threads (after the daemon has forked). */
int stack_start(struct s3bfs *fs);
/* Flushes every dirty block; on failure writes them to the recovery
 * directory and says where in msg.  Returns 0 or -errno. */
int stack_flush_all(struct s3bfs *fs, char *msg, size_t msgsz);
void stack_destroy(struct s3bfs *fs);

#endif
