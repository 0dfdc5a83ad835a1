/*
 * local.c - the local directory backend.
 *
 * Key K is the file DIR/K; the '/' in keys are directories.  A PUT writes a
 * temporary file in DIR/.s3blockfs/tmp and renames it over the key, so that
 * a reader (or a crash) sees the old or the new object, never a mix, as on
 * S3.  Directories exist only while they hold something: a DELETE removes
 * the parent directories it leaves empty, so that the namespace (a prefix
 * exists while a key has it) matches S3's.
 *
 * Listing follows S3: keys in byte order, common prefixes rolled up at the
 * delimiter, start_after exclusive.  A listing reads one directory (with a
 * delimiter) or walks a subtree (without), sorts, and calls back.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "log.h"
#include "util.h"

#define LOCAL_TMPDIR ".s3blockfs/tmp"

struct local_private {
	char *dir;
	int dirfd;
	int read_only;
	int sync;
	pthread_mutex_t lock; /* protects stats and tmp_seq */
	uint64_t tmp_seq;
	struct store_stats stats;
};

static void
local_count(struct local_private *p, uint64_t *counter, uint64_t up, uint64_t down)
{
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	(*counter)++;
	p->stats.bytes_up += up;
	p->stats.bytes_down += down;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

static int
local_err(struct local_private *p, int err)
{
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->stats.errors++;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	return -err;
}

/* Keys must not escape the directory or name its internals. */
static int
local_check_key(const char *key)
{
	if (key[0] == '\0' || key[0] == '/')
		return -EINVAL;
	for (const char *s = key; *s;) {
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
			return -EINVAL;
		if (l > NAME_MAX)
			return -ENAMETOOLONG;
		s += l;
		if (*s == '/')
			s++;
	}
	return strlen(key) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int
local_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got)
{
	struct local_private *p = st->priv;
	int rc, fd;

	if ((rc = local_check_key(key)) < 0)
		return rc;
	fd = openat(p->dirfd, key, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR || errno == EISDIR ? -ENOENT : local_err(p, errno);
	size_t n = 0;
	while (n < len) {
		ssize_t r = pread(fd, (char *)buf + n, len - n, (off_t)(off + n));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* A directory is a prefix, not an object: missing, as on S3. */
			rc = errno == EISDIR ? -ENOENT : local_err(p, errno);
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc == 0) {
		*got = n;
		local_count(p, &p->stats.gets, 0, n);
	}
	return rc;
}

/* mkdir -p for the directories of key, relative to dirfd. */
static int
local_mkdirs(struct local_private *p, const char *key)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", key);
	for (char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(p->dirfd, path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

static int
local_fsync_parent(struct local_private *p, const char *key)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", key);
	char *s = strrchr(path, '/');
	int fd;
	if (s) {
		*s = '\0';
		fd = openat(p->dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		fd = dup(p->dirfd);
	}
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int
local_put(struct store *st, const char *key, const void *buf, size_t len)
{
	struct local_private *p = st->priv;
	char tmp[64];
	int rc, fd;

	if (p->read_only)
		return -EROFS;
	if ((rc = local_check_key(key)) < 0)
		return rc;
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	uint64_t seq = ++p->tmp_seq;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	snprintf(tmp, sizeof(tmp), LOCAL_TMPDIR "/%ld.%llu", (long)getpid(),
		 (unsigned long long)seq);
	fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		if ((rc = local_mkdirs(p, tmp)) < 0)
			return local_err(p, -rc);
		fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return local_err(p, errno);
	size_t n = 0;
	while (n < len) {
		ssize_t w = write(fd, (const char *)buf + n, len - n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		n += (size_t)w;
	}
	if (rc == 0 && p->sync && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0) {
		if (renameat(p->dirfd, tmp, p->dirfd, key) < 0) {
			rc = -errno;
			if (rc == -ENOENT && (rc = local_mkdirs(p, key)) == 0)
				rc = renameat(p->dirfd, tmp, p->dirfd, key) < 0 ? -errno : 0;
		}
	}
	if (rc == 0 && p->sync)
		rc = local_fsync_parent(p, key);
	if (rc < 0) {
		unlinkat(p->dirfd, tmp, 0);
		return local_err(p, -rc);
	}
	local_count(p, &p->stats.puts, len, 0);
	return 0;
}

static int
local_head(struct store *st, const char *key, uint64_t *size, time_t *mtime)
{
	struct local_private *p = st->priv;
	struct stat sb;
	int rc;

	if ((rc = local_check_key(key)) < 0)
		return rc;
	local_count(p, &p->stats.heads, 0, 0);
	if (fstatat(p->dirfd, key, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT || errno == ENOTDIR ? -ENOENT : local_err(p, errno);
	if (!S_ISREG(sb.st_mode))
		return -ENOENT;
	*size = (uint64_t)sb.st_size;
	if (mtime)
		*mtime = sb.st_mtime;
	return 0;
}

/* Removes the now empty directories above key, up to the top. */
static void
local_prune(struct local_private *p, const char *key)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", key);
	for (char *s = strrchr(path, '/'); s; s = strrchr(path, '/')) {
		*s = '\0';
		if (unlinkat(p->dirfd, path, AT_REMOVEDIR) < 0)
			break; /* ENOTEMPTY: still in use */
	}
}

static int
local_del(struct store *st, const char *const *keys, size_t n)
{
	struct local_private *p = st->priv;
	int rc = 0;

	if (p->read_only)
		return -EROFS;
	for (size_t i = 0; i < n; i++) {
		int r = local_check_key(keys[i]);
		if (r == 0 && unlinkat(p->dirfd, keys[i], 0) < 0 && errno != ENOENT &&
		    errno != ENOTDIR)
			r = local_err(p, errno);
		if (r == 0) {
			if (p->sync)
				local_fsync_parent(p, keys[i]);
			local_prune(p, keys[i]);
		} else if (rc == 0) {
			rc = r;
		}
	}
	local_count(p, &p->stats.deletes, 0, 0);
	return rc;
}

struct local_ent {
	char *key;
	int is_prefix;
	uint64_t size;
	time_t mtime;
};

struct local_list {
	struct local_ent *v;
	size_t n, cap;
	size_t limit; /* stop collecting past this many entries: every buffer has a ceiling */
};

static int
local_list_add(struct local_list *l, const char *key, int is_prefix, const struct stat *sb)
{
	if (l->n >= l->limit)
		return -EFBIG;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 64;
		struct local_ent *nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	if (!(l->v[l->n].key = strdup(key)))
		return -ENOMEM;
	l->v[l->n].is_prefix = is_prefix;
	l->v[l->n].size = sb ? (uint64_t)sb->st_size : 0;
	l->v[l->n].mtime = sb ? sb->st_mtime : 0;
	l->n++;
	return 0;
}

/*
 * Collects the keys under directory `dir` (a key prefix ending in '/', or ""
 * for the top) whose names start with name_prefix; recurses when no
 * delimiter is asked for.  Empty directories hold no key and are skipped,
 * as on S3 a prefix without objects does not exist.
 */
static int
local_walk(struct local_private *p, const char *dir, const char *name_prefix, int recurse,
	   struct local_list *l)
{
	/* Not dup(dirfd): a dup shares the directory offset, so a second
	 * listing of the top would start at its end. */
	int fd = openat(p->dirfd, dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	size_t nplen = strlen(name_prefix);
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (dir[0] == '\0' && strcmp(name, ".s3blockfs") == 0)
			continue; /* the backend's own scratch space */
		if (strncmp(name, name_prefix, nplen) != 0)
			continue;
		char key[PATH_MAX];
		if ((size_t)snprintf(key, sizeof(key), "%s%s", dir, name) >= sizeof(key))
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* deleted meanwhile */
		if (S_ISDIR(sb.st_mode)) {
			size_t kl = strlen(key);
			if (kl + 1 >= sizeof(key))
				continue;
			key[kl] = '/';
			key[kl + 1] = '\0';
			if (recurse) {
				rc = local_walk(p, key, "", 1, l);
			} else {
				/* Only a directory that holds a file somewhere is a prefix. */
				struct local_list sub = {.limit = 1};
				int r = local_walk(p, key, "", 1, &sub);
				for (size_t i = 0; i < sub.n; i++)
					free(sub.v[i].key);
				free(sub.v);
				if (r == -EFBIG || sub.n > 0)
					rc = local_list_add(l, key, 1, NULL);
				else if (r < 0)
					rc = r;
			}
		} else if (S_ISREG(sb.st_mode)) {
			rc = local_list_add(l, key, 0, &sb);
		}
	}
	if (rc == 0 && errno != 0)
		rc = -errno;
	closedir(d);
	return rc;
}

static int
local_ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct local_ent *)a)->key, ((const struct local_ent *)b)->key);
}

/* Listing limit: a volume of 64 GiB in 4 KiB blocks has 16 M keys; past
 * 32 M keys in one listing we refuse rather than grow without bound. */
#define LOCAL_LIST_MAX (32u * 1024 * 1024)

static int
local_list(struct store *st, const char *prefix, const char *delimiter, const char *start_after,
	   size_t max_keys, store_list_cb cb, void *arg)
{
	struct local_private *p = st->priv;
	struct local_list l = {.limit = LOCAL_LIST_MAX};
	char dir[PATH_MAX];
	int rc;

	if (delimiter && strcmp(delimiter, "/") != 0)
		return -EINVAL; /* the only delimiter a directory tree can answer */
	local_count(p, &p->stats.lists, 0, 0);
	snprintf(dir, sizeof(dir), "%s", prefix);
	char *slash = strrchr(dir, '/');
	const char *name_prefix;
	if (slash) {
		name_prefix = prefix + (slash - dir) + 1;
		slash[1] = '\0';
	} else {
		name_prefix = prefix;
		dir[0] = '\0';
	}
	rc = local_walk(p, dir, name_prefix, delimiter == NULL, &l);
	if (rc == 0) {
		if (l.n > 1) /* qsort(NULL, 0, ...) is undefined */
			qsort(l.v, l.n, sizeof(l.v[0]), local_ent_cmp);
		size_t sent = 0;
		for (size_t i = 0; i < l.n && (max_keys == 0 || sent < max_keys); i++) {
			if (start_after && strcmp(l.v[i].key, start_after) <= 0)
				continue;
			if (start_after && l.v[i].is_prefix &&
			    strncmp(start_after, l.v[i].key, strlen(l.v[i].key)) == 0)
				continue;
			struct store_entry e = {l.v[i].key, l.v[i].is_prefix, l.v[i].size,
						l.v[i].mtime};
			int r = cb(arg, &e);
			if (r < 0)
				rc = r;
			if (r != 0)
				break;
			sent++;
		}
	} else {
		rc = local_err(p, -rc);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].key);
	free(l.v);
	return rc;
}

static int
local_probe(struct store *st, char *msg, size_t msgsz)
{
	struct local_private *p = st->priv;

	if (!p->read_only) {
		int rc = local_mkdirs(p, LOCAL_TMPDIR "/x");
		if (rc < 0) {
			char eb[128];
			snprintf(msg, msgsz, "cannot write to %s: %s", p->dir,
				 util_strerror(-rc, eb, sizeof(eb)));
			return rc;
		}
	}
	return 0;
}

static void
local_get_stats(struct store *st, struct store_stats *out)
{
	struct local_private *p = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	store_stats_add(out, &p->stats);
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

static void
local_destroy(struct store *st)
{
	struct local_private *p = st->priv;

	close(p->dirfd);
	free(p->dir);
	pthread_mutex_destroy(&p->lock);
	free(p);
	free(st);
}

static const struct store_ops local_ops = {
	.name = "local",
	.get = local_get,
	.put = local_put,
	.head = local_head,
	.del = local_del,
	.list = local_list,
	.probe = local_probe,
	.get_stats = local_get_stats,
	.destroy = local_destroy,
};

struct store *
local_store_create(const char *dir, int read_only, int sync, char *msg, size_t msgsz)
{
	char eb[128];
	struct stat sb;

	if (stat(dir, &sb) < 0) {
		snprintf(msg, msgsz, "backend directory %s: %s", dir,
			 util_strerror(errno, eb, sizeof(eb)));
		return NULL;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(msg, msgsz, "backend %s is not a directory", dir);
		errno = ENOTDIR;
		return NULL;
	}
	if (access(dir, read_only ? (R_OK | X_OK) : (R_OK | W_OK | X_OK)) < 0) {
		snprintf(msg, msgsz, "backend directory %s is not %s: %s", dir,
			 read_only ? "readable" : "readable and writable",
			 util_strerror(errno, eb, sizeof(eb)));
		return NULL;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, msgsz, "cannot open backend directory %s: %s", dir,
			 util_strerror(errno, eb, sizeof(eb)));
		return NULL;
	}
	struct store *st = calloc(1, sizeof(*st));
	struct local_private *p = calloc(1, sizeof(*p));
	if (!st || !p || !(p->dir = strdup(dir))) {
		free(st);
		if (p)
			free(p->dir);
		free(p);
		close(fd);
		snprintf(msg, msgsz, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->dirfd = fd;
	p->read_only = read_only;
	p->sync = sync;
	st->ops = &local_ops;
	st->priv = p;
	return st;
}
