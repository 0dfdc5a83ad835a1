/*
 * fs.c - FUSE operations over the namespace and volumes.
 *
 * Every open file holds a struct fh: the volume (a reference) and the
 * read-ahead state of that descriptor.  Path-based calls look the path up
 * in the namespace; calls with a file handle use its volume, so an open
 * file keeps working when it is renamed.
 *
 * Errors are -errno from the layers below, passed to the kernel as is.
 * What the layout cannot do gets a proper errno: chmod is EPERM, links are
 * EPERM, setting an extended attribute is ENOTSUP.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "blkmap.h"
#include "fs.h"
#include "log.h"
#include "ns.h"
#include "util.h"
#include "volume.h"

struct fh {
	struct vol *v;
	pthread_mutex_t mu; /* read-ahead state */
	uint64_t next_off;  /* where a sequential read would continue */
	uint64_t ra_end;    /* blocks before this were already asked for */
	uint32_t ra_blocks; /* current read-ahead window */
	uint32_t streak;    /* reads in a row that continued the previous one */
	struct fh *prev, *next; /* in fs->fh_list, under fs->fh_lock */
};

static struct s3bfs *
fs_get(void)
{
	return fuse_get_context()->private_data;
}

/* "/a/b" -> "a/b"; "/" -> "". */
static const char *
rel(const char *path)
{
	while (*path == '/')
		path++;
	return path;
}

static struct fh *
fh_of(struct fuse_file_info *fi)
{
	return fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
}

static void
stat_vol(struct s3bfs *fs, struct vol *v, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = v->block_size;
	CHECK_PTHREAD(pthread_mutex_lock(&v->mu));
	st->st_size = (off_t)v->size;
	st->st_mtim = v->mtime;
	if (v->unlinked)
		st->st_nlink = 0;
	CHECK_PTHREAD(pthread_mutex_unlock(&v->mu));
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
}

static void
stat_dir(struct s3bfs *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtime = st->st_ctime = st->st_atime = fs->mount_time;
	st->st_blksize = fs->conf->block_size;
}

static void *
fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct s3bfs *fs = fuse_get_context()->private_data;

	/* The namespace keeps its own answers; the kernel may keep attributes
	 * briefly (sizes change only through us). */
	cfg->use_ino = 0;
	cfg->nullpath_ok = 1;
	cfg->hard_remove = 1; /* unlink of an open file is ours to handle */
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 1.0;
	cfg->negative_timeout = 0;
	if (fs->conf->writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = UTIL_MAX(conn->max_write, 1u << 20);
	/* No kernel read-ahead: a random 4 KiB read must cost one block GET,
	 * not a window of them.  Sequential reads are detected here, per open
	 * file, and read ahead in parallel (fh_readahead). */
	conn->max_readahead = 0;
	int rc = stack_start(fs);
	if (rc < 0) {
		char eb[128];
		s3bfs_log(LOG_ERR, "cannot start transfer threads: %s",
			  util_strerror(-rc, eb, sizeof(eb)));
		fuse_exit(fuse_get_context()->fuse);
	}
	s3bfs_log(LOG_INFO, "mounted %s (block size %u, cache %llu MiB, %u connections)",
		  fs->conf->source, fs->conf->block_size,
		  (unsigned long long)(fs->conf->cache_size >> 20), fs->conf->connections);
	return fs;
}

static int
fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();
	struct fh *h = fh_of(fi);
	enum ns_type t;
	struct vol *v = NULL;
	int rc;

	if (h) {
		stat_vol(fs, h->v, st);
		return 0;
	}
	if ((rc = ns_lookup(fs->ns, rel(path), &t, &v)) < 0)
		return rc;
	if (t == NS_NONE)
		return -ENOENT;
	if (t == NS_DIR) {
		stat_dir(fs, st);
		return 0;
	}
	stat_vol(fs, v, st);
	ns_vol_put(fs->ns, v);
	return 0;
}

static int
fs_access(const char *path, int mask)
{
	struct s3bfs *fs = fs_get();
	enum ns_type t;
	int rc;

	if ((rc = ns_lookup(fs->ns, rel(path), &t, NULL)) < 0)
		return rc;
	if (t == NS_NONE)
		return -ENOENT;
	if ((mask & W_OK) && fs->conf->read_only)
		return -EROFS;
	return 0;
}

struct dir_fill {
	void *buf;
	fuse_fill_dir_t filler;
};

static int
dir_fill_cb(void *arg, const char *name, enum ns_type type)
{
	struct dir_fill *d = arg;

	return d->filler(d->buf, name, NULL, 0, 0) ? -ENOMEM : 0;
}

/* A directory handle remembers its path: with nullpath_ok the readdir
 * call may come without one. */
static int
fs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();
	enum ns_type t;
	int rc;

	if ((rc = ns_lookup(fs->ns, rel(path), &t, NULL)) < 0)
		return rc;
	if (t != NS_DIR)
		return t == NS_VOL ? -ENOTDIR : -ENOENT;
	char *p = strdup(rel(path));
	if (!p)
		return -ENOMEM;
	fi->fh = (uint64_t)(uintptr_t)p;
	return 0;
}

static int
fs_releasedir(const char *path, struct fuse_file_info *fi)
{
	free((void *)(uintptr_t)fi->fh);
	return 0;
}

static int
fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
	   struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct s3bfs *fs = fs_get();
	struct dir_fill d = {buf, filler};

	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	return ns_readdir(fs->ns, (const char *)(uintptr_t)fi->fh, dir_fill_cb, &d);
}

static int
fh_open(struct s3bfs *fs, struct vol *v, struct fuse_file_info *fi)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->mu, NULL);
	h->v = v; /* takes the caller's reference */
	CHECK_PTHREAD(pthread_mutex_lock(&v->mu));
	v->opens++;
	CHECK_PTHREAD(pthread_mutex_unlock(&v->mu));
	CHECK_PTHREAD(pthread_mutex_lock(&fs->fh_lock));
	h->next = fs->fh_list;
	if (h->next)
		h->next->prev = h;
	fs->fh_list = h;
	CHECK_PTHREAD(pthread_mutex_unlock(&fs->fh_lock));
	fi->fh = (uint64_t)(uintptr_t)h;
	/* This daemon is the volume's only writer: the kernel's cached pages
	 * of it stay valid across opens. */
	fi->keep_cache = 1;
	return 0;
}

static int
fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();
	struct vol *v;
	int rc;

	if (!S_ISREG(mode))
		return -EPERM;
	if ((rc = ns_create_vol(fs->ns, rel(path), &v)) < 0)
		return rc;
	if ((rc = fh_open(fs, v, fi)) < 0)
		ns_vol_put(fs->ns, v);
	return rc;
}

static int
fs_open(const char *path, struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();
	enum ns_type t;
	struct vol *v = NULL;
	int rc;

	if ((rc = ns_lookup(fs->ns, rel(path), &t, &v)) < 0)
		return rc;
	if (t != NS_VOL)
		return t == NS_DIR ? -EISDIR : -ENOENT;
	if ((rc = fh_open(fs, v, fi)) < 0)
		ns_vol_put(fs->ns, v);
	return rc;
}

/*
 * Read-ahead: while a descriptor reads sequentially, ask for the blocks
 * after the read in parallel, doubling the window up to the cache's limit;
 * a jump resets it.  Blocks already asked for are not asked again.
 */
static void
fh_readahead(struct s3bfs *fs, struct fh *h, uint64_t off, size_t n, uint64_t size)
{
	uint32_t bs = h->v->block_size;
	uint64_t from = 0, count = 0;
	/* Up to 1/8 of the cache, at most 256 blocks, at least 1. */
	uint64_t max = UTIL_MIN((uint64_t)256, UTIL_MAX((uint64_t)1, fs->conf->cache_size / 8 / bs));

	CHECK_PTHREAD(pthread_mutex_lock(&h->mu));
	/* The kernel may split one read into page-sized requests that follow
	 * each other: a stream is three reads in a row, not two. */
	h->streak = off == h->next_off && off > 0 ? h->streak + 1 : 0;
	if (h->streak >= 2) {
		uint64_t w = h->ra_blocks ? (uint64_t)h->ra_blocks * 2 : 4;
		h->ra_blocks = (uint32_t)UTIL_MIN(w, max);
		uint64_t want_end = (off + n + bs - 1) / bs + h->ra_blocks;
		from = UTIL_MAX(h->ra_end, (off + n + bs - 1) / bs);
		if (want_end > from) {
			count = want_end - from;
			h->ra_end = want_end;
		}
	} else {
		h->ra_blocks = 0;
		h->ra_end = 0;
	}
	h->next_off = off + n;
	CHECK_PTHREAD(pthread_mutex_unlock(&h->mu));
	if (count && from * bs < size)
		cache_prefetch(fs->cache, h->v, size, from, count);
}

static int
fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();
	struct fh *h = fh_of(fi);

	if (off < 0)
		return -EINVAL;
	if (!h->v->local_only && vol_unlinked(h->v))
		return -ESTALE;
	ssize_t n = vol_read(&fs->x, h->v, (uint64_t)off, size, buf);
	if (n > 0 && !h->v->local_only)
		fh_readahead(fs, h, (uint64_t)off, (size_t)n, vol_size(h->v));
	return (int)n;
}

static int
fs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();
	struct fh *h = fh_of(fi);

	if (off < 0)
		return -EINVAL;
	if (fs->conf->read_only)
		return -EROFS;
	if (!h->v->local_only && vol_unlinked(h->v))
		return -ESTALE;
	return (int)vol_write(&fs->x, h->v, (uint64_t)off, size, buf);
}

static int
sync_vol(struct s3bfs *fs, struct vol *v)
{
	if (v->local_only || vol_unlinked(v))
		return 0; /* nothing of it is meant to reach the store */
	return cache_flush(fs->cache, v);
}

static int
fs_flush(const char *path, struct fuse_file_info *fi)
{
	return sync_vol(fs_get(), fh_of(fi)->v);
}

static int
fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return sync_vol(fs_get(), fh_of(fi)->v);
}

/* Directory entries change in the store synchronously (unlink, rename);
 * only a file with no block yet is not in the store, and no fsync can put
 * an empty file there (the layout has no empty objects). */
static int
fs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	return 0;
}

static void
fh_close(struct s3bfs *fs, struct fh *h)
{
	CHECK_PTHREAD(pthread_mutex_lock(&fs->fh_lock));
	if (h->prev)
		h->prev->next = h->next;
	else
		fs->fh_list = h->next;
	if (h->next)
		h->next->prev = h->prev;
	CHECK_PTHREAD(pthread_mutex_unlock(&fs->fh_lock));
	CHECK_PTHREAD(pthread_mutex_lock(&h->v->mu));
	h->v->opens--;
	CHECK_PTHREAD(pthread_mutex_unlock(&h->v->mu));
	ns_vol_put(fs->ns, h->v);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static int
fs_release(const char *path, struct fuse_file_info *fi)
{
	fh_close(fs_get(), fh_of(fi));
	return 0;
}

void
fs_release_all(struct s3bfs *fs)
{
	while (fs->fh_list)
		fh_close(fs, fs->fh_list);
}

static int
fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();
	struct fh *h = fh_of(fi);
	enum ns_type t;
	struct vol *v;
	int rc;

	if (size < 0)
		return -EINVAL;
	if (fs->conf->read_only)
		return -EROFS;
	if (h) {
		v = h->v;
		ns_vol_get(fs->ns, v);
	} else {
		if ((rc = ns_lookup(fs->ns, rel(path), &t, &v)) < 0)
			return rc;
		if (t != NS_VOL)
			return t == NS_DIR ? -EISDIR : -ENOENT;
	}
	rc = !v->local_only && vol_unlinked(v) ? -ESTALE : vol_truncate(&fs->x, v, (uint64_t)size);
	ns_vol_put(fs->ns, v);
	return rc;
}

static int
fs_unlink(const char *path)
{
	struct s3bfs *fs = fs_get();

	return fs->conf->read_only ? -EROFS : ns_unlink(fs->ns, rel(path));
}

static int
fs_mkdir(const char *path, mode_t mode)
{
	struct s3bfs *fs = fs_get();

	return fs->conf->read_only ? -EROFS : ns_mkdir(fs->ns, rel(path));
}

static int
fs_rmdir(const char *path)
{
	struct s3bfs *fs = fs_get();

	return fs->conf->read_only ? -EROFS : ns_rmdir(fs->ns, rel(path));
}

static int
fs_rename(const char *from, const char *to, unsigned int flags)
{
	struct s3bfs *fs = fs_get();

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL; /* RENAME_EXCHANGE cannot be done without a window */
	if (fs->conf->read_only)
		return -EROFS;
	return ns_rename(fs->ns, rel(from), rel(to), flags & RENAME_NOREPLACE ? 1 : 0);
}

static int
fs_statfs(const char *path, struct statvfs *sv)
{
	struct s3bfs *fs = fs_get();

	/* An object store has no fixed capacity: report a large, free one. */
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = fs->conf->block_size;
	sv->f_frsize = fs->conf->block_size;
	sv->f_blocks = (fsblkcnt_t)((1ULL << 50) / fs->conf->block_size);
	sv->f_bfree = sv->f_blocks;
	sv->f_bavail = sv->f_blocks;
	sv->f_files = 1ULL << 32;
	sv->f_ffree = 1ULL << 32;
	sv->f_favail = 1ULL << 32;
	sv->f_namemax = 255;
	if (fs->conf->read_only)
		sv->f_flag |= ST_RDONLY;
	return 0;
}

static int
fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();
	struct fh *h = fh_of(fi);
	enum ns_type t;
	struct vol *v = NULL;
	int rc;

	if (h) {
		v = h->v;
		ns_vol_get(fs->ns, v);
	} else {
		if ((rc = ns_lookup(fs->ns, rel(path), &t, &v)) < 0)
			return rc;
		if (t == NS_NONE)
			return -ENOENT;
		if (t == NS_DIR)
			return 0; /* directories have no stored times; see README */
	}
	/* Times live in memory only: the layout has nowhere to keep them. */
	CHECK_PTHREAD(pthread_mutex_lock(&v->mu));
	if (tv[1].tv_nsec == UTIME_NOW)
		clock_gettime(CLOCK_REALTIME, &v->mtime);
	else if (tv[1].tv_nsec != UTIME_OMIT)
		v->mtime = tv[1];
	CHECK_PTHREAD(pthread_mutex_unlock(&v->mu));
	ns_vol_put(fs->ns, v);
	return 0;
}

static int
fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EPERM; /* modes are not stored: every file is 0644 */
}

static int
fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();

	/* SQLite, run as root, chowns its journal to the database's owner:
	 * that is a no-op here and succeeds; anything else cannot be kept. */
	if ((uid == (uid_t)-1 || uid == fs->uid) && (gid == (gid_t)-1 || gid == fs->gid))
		return 0;
	return -EPERM;
}

static int
fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct s3bfs *fs = fs_get();
	enum ns_type t;
	struct vol *v = NULL;
	char buf[4096];
	int rc, len;

	if (strcmp(name, FS_XATTR_BLOCK_SIZE) != 0 && strcmp(name, FS_XATTR_STATS) != 0)
		return -ENODATA;
	if ((rc = ns_lookup(fs->ns, rel(path), &t, &v)) < 0)
		return rc;
	if (t == NS_NONE)
		return -ENOENT;
	if (strcmp(name, FS_XATTR_STATS) == 0) {
		if (t == NS_VOL)
			ns_vol_put(fs->ns, v);
		if (rel(path)[0] != '\0')
			return -ENODATA;
		len = fs_stats_json(fs, buf, sizeof(buf));
		if (len < 0)
			return len;
	} else {
		len = snprintf(buf, sizeof(buf), "%u", t == NS_VOL ? v->block_size
								  : fs->conf->block_size);
		if (t == NS_VOL)
			ns_vol_put(fs->ns, v);
	}
	if (size == 0)
		return len;
	if ((size_t)len > size)
		return -ERANGE;
	memcpy(value, buf, (size_t)len);
	return len;
}

static int
fs_listxattr(const char *path, char *list, size_t size)
{
	static const char names[] = FS_XATTR_BLOCK_SIZE;

	if (size == 0)
		return sizeof(names);
	if (size < sizeof(names))
		return -ERANGE;
	memcpy(list, names, sizeof(names));
	return sizeof(names);
}

static int
fs_setxattr(const char *path, const char *name, const char *value, size_t size, int flags)
{
	return -ENOTSUP;
}

static int
fs_removexattr(const char *path, const char *name)
{
	return -ENOTSUP;
}

static int
fs_lock_refuse(const char *path, struct fuse_file_info *fi, int cmd, struct flock *lock)
{
	return -ENOLCK;
}

static int
fs_flock_refuse(const char *path, struct fuse_file_info *fi, int op)
{
	return -ENOLCK;
}

static int
fs_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	struct s3bfs *fs = fs_get();
	struct fh *h = fh_of(fi);

	if (mode != 0)
		return -EOPNOTSUPP; /* no holes or ranges to punch in this layout */
	if (!h || off < 0 || len <= 0)
		return -EINVAL;
	uint64_t end = (uint64_t)off + (uint64_t)len;
	if (end <= vol_size(h->v))
		return 0;
	return vol_truncate(&fs->x, h->v, end);
}

int
fs_stats_json(struct s3bfs *fs, char *buf, size_t size)
{
	struct store_stats ss = {0};
	struct cache_stats cs;

	store_get_stats(fs->st, &ss);
	cache_get_stats(fs->cache, &cs);
	int n = snprintf(buf, size,
			 "{\"requests\":{\"get\":%" PRIu64 ",\"put\":%" PRIu64 ",\"head\":%" PRIu64
			 ",\"delete\":%" PRIu64 ",\"list\":%" PRIu64 ",\"copy\":%" PRIu64 "},"
			 "\"bytes_down\":%" PRIu64 ",\"bytes_up\":%" PRIu64 ",\"retries\":%" PRIu64
			 ",\"errors\":%" PRIu64 ","
			 "\"cache\":{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"readahead\":%" PRIu64
			 ",\"evictions\":%" PRIu64 ",\"uploads\":%" PRIu64 ",\"upload_errors\":%" PRIu64
			 ",\"fetch_errors\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"dirty_bytes\":%" PRIu64
			 ",\"dirty_blocks\":%" PRIu64 ",\"writer_waits\":%" PRIu64 "}}",
			 ss.gets, ss.puts, ss.heads, ss.deletes, ss.lists, ss.copies, ss.bytes_down,
			 ss.bytes_up, ss.retries, ss.errors, cs.hits, cs.misses, cs.readahead,
			 cs.evictions, cs.uploads, cs.upload_errors, cs.fetch_errors, cs.bytes_cached,
			 cs.bytes_dirty, cs.blocks_dirty, cs.writer_waits);
	if (n < 0 || (size_t)n >= size)
		return -ERANGE;
	return n;
}

void
fs_operations(struct fuse_operations *ops, int refuse_locks)
{
	memset(ops, 0, sizeof(*ops));
	ops->init = fs_init;
	ops->getattr = fs_getattr;
	ops->access = fs_access;
	ops->opendir = fs_opendir;
	ops->readdir = fs_readdir;
	ops->releasedir = fs_releasedir;
	ops->create = fs_create;
	ops->open = fs_open;
	ops->read = fs_read;
	ops->write = fs_write;
	ops->flush = fs_flush;
	ops->fsync = fs_fsync;
	ops->fsyncdir = fs_fsyncdir;
	ops->release = fs_release;
	ops->truncate = fs_truncate;
	ops->unlink = fs_unlink;
	ops->mkdir = fs_mkdir;
	ops->rmdir = fs_rmdir;
	ops->rename = fs_rename;
	ops->statfs = fs_statfs;
	ops->utimens = fs_utimens;
	ops->chmod = fs_chmod;
	ops->chown = fs_chown;
	ops->getxattr = fs_getxattr;
	ops->listxattr = fs_listxattr;
	ops->setxattr = fs_setxattr;
	ops->removexattr = fs_removexattr;
	ops->fallocate = fs_fallocate;
	if (refuse_locks) {
		ops->lock = fs_lock_refuse;
		ops->flock = fs_flock_refuse;
	}
}
