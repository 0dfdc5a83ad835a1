/*
 * stack.c - assembles the layers, bottom up:
 *
 *   local (file:///DIR) | s3 -> retry      the store (s3_store_create
 *                                          returns retry over s3)
 *   cache                                  block cache, write-back
 *   volume + ns                            byte ranges, the namespace
 *   fs.c                                   FUSE operations on top
 *
 * and takes them down top first: flush the cache into the still-running
 * store, stop the workers, free.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local.h"
#include "log.h"
#include "s3.h"
#include "stack.h"
#include "util.h"

int
stack_create(struct s3bfs *fs, struct conf *conf, struct s3_conf *s3conf, char *msg,
	     size_t msgsz)
{
	int rc;

	memset(fs, 0, sizeof(*fs));
	pthread_mutex_init(&fs->fh_lock, NULL);
	fs->conf = conf;
	fs->s3conf = s3conf;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->mount_time = time(NULL);
	if (conf->backend == CONF_LOCAL) {
		fs->st = local_store_create(conf->local_dir, conf->read_only, conf->local_sync, msg,
					    msgsz);
	} else {
		fs->st = s3_store_create(s3conf, conf->bucket, conf->prefix, conf->connections, msg,
					 msgsz);
	}
	if (!fs->st)
		return -EINVAL;
	msg[0] = '\0';
	if ((rc = fs->st->ops->probe(fs->st, msg, msgsz)) < 0) {
		if (!msg[0]) {
			char eb[128];
			snprintf(msg, msgsz, "cannot use %s: %s", conf->source,
				 util_strerror(-rc, eb, sizeof(eb)));
		}
		goto fail_store;
	}
	struct cache_conf cc = {
		.cache_bytes = conf->cache_size,
		.dirty_bytes = conf->dirty_limit,
		.writeback_delay_ms = conf->writeback_delay_ms,
		.workers = conf->connections,
	};
	fs->cache = cache_create(&cc, fs->st);
	if (!fs->cache) {
		snprintf(msg, msgsz, "out of memory");
		rc = -ENOMEM;
		goto fail_store;
	}
	fs->x.st = fs->st;
	fs->x.cache = fs->cache;
	fs->x.local_max = conf->local_max;
	struct ns_conf nc = {
		.default_block_size = conf->block_size,
		.ttl_ms = conf->ttl_ms,
		.read_only = conf->read_only,
		.mount_time = fs->mount_time,
	};
	fs->ns = ns_create(&nc, &fs->x);
	if (!fs->ns) {
		snprintf(msg, msgsz, "out of memory");
		rc = -ENOMEM;
		goto fail_cache;
	}
	return 0;
fail_cache:
	cache_destroy(&fs->cache);
fail_store:
	store_destroy(&fs->st);
	return rc;
}

int
stack_start(struct s3bfs *fs)
{
	if (fs->started)
		return 0;
	int rc = cache_start(fs->cache);
	if (rc == 0 && (rc = ns_start(fs->ns)) < 0)
		cache_stop(fs->cache);
	if (rc == 0)
		fs->started = 1;
	return rc;
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = strchr(tmp + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return mkdir(tmp, mode) < 0 && errno != EEXIST ? -errno : 0;
}

int
stack_flush_all(struct s3bfs *fs, char *msg, size_t msgsz)
{
	char eb[128], eb2[128];
	int rc;

	msg[0] = '\0';
	if ((rc = stack_start(fs)) < 0) {
		snprintf(msg, msgsz, "cannot start transfer threads: %s",
			 util_strerror(-rc, eb, sizeof(eb)));
		return rc;
	}
	uint64_t dirty = cache_dirty_blocks(fs->cache);
	if (dirty)
		s3bfs_log(LOG_INFO, "flushing %llu dirty block(s)", (unsigned long long)dirty);
	if ((rc = cache_flush(fs->cache, NULL)) == 0) {
		ns_drain(fs->ns); /* deletions of removed files finish too */
		return 0;
	}

	/* The store is gone: keep the blocks on local disk rather than lose them. */
	const char *base = fs->conf->recovery_dir ? fs->conf->recovery_dir
						  : "/var/lib/s3blockfs/recovery";
	char dir[4096];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(dir, sizeof(dir), "%s/%s-%ld", base, stamp, (long)getpid());
	int r = mkdir_p(dir, 0700);
	long n = r < 0 ? r : cache_dump_dirty(fs->cache, dir);
	if (n < 0) {
		snprintf(msg, msgsz,
			 "could not store %llu dirty block(s) (%s) nor save them to %s (%s): "
			 "their data is lost",
			 (unsigned long long)cache_dirty_blocks(fs->cache),
			 util_strerror(-rc, eb, sizeof(eb)), dir, util_strerror((int)-n, eb2, sizeof(eb2)));
	} else {
		snprintf(msg, msgsz,
			 "could not store %ld dirty block(s): %s; they are saved in %s in the "
			 "bucket's layout (keys relative to the root prefix): copy them back with "
			 "e.g. 'aws s3 cp --recursive %s s3://BUCKET/PREFIX/' or 'cp -a %s/. DIR/' "
			 "for a local backend",
			 n, util_strerror(-rc, eb, sizeof(eb)), dir, dir, dir);
	}
	return rc;
}

void
stack_destroy(struct s3bfs *fs)
{
	if (fs->ns)
		ns_stop(fs->ns);
	if (fs->cache && fs->started)
		cache_stop(fs->cache);
	ns_destroy(&fs->ns);
	cache_destroy(&fs->cache);
	store_destroy(&fs->st);
	pthread_mutex_destroy(&fs->fh_lock);
}
