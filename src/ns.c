/*
 * ns.c - the namespace: see ns.h.
 *
 * Two tables under one lock:
 *   vols  every volume in memory (open, recently used, or created here and
 *         not yet stored), by path; what the daemon knows of a volume it
 *         holds is authoritative (one writer per prefix is the contract)
 *   ents  answers about other paths (directory, nothing, debris) with an
 *         expiry; directories made by mkdir are pinned (the layout cannot
 *         store an empty directory, so they live in memory until they hold
 *         a volume)
 * Both are bounded: idle volumes and expired answers are dropped when a
 * table is full.
 *
 * Size discovery (ns_discover) finds the last block by an exponential then
 * binary search over HEADs (existence is monotone but for a window of
 * VOL_EXT_WINDOW blocks near the end after a crash) and reads the sizes
 * around the end with one listing, so a volume of K blocks costs about
 * 2 log2(K) HEADs and one LIST, never a listing of every block.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkmap.h"
#include "log.h"
#include "ns.h"
#include "util.h"

#define NS_BUCKETS 4096

enum ns_ent_type { ENT_NONE, ENT_DIR, ENT_DEBRIS };

struct nsent {
	char *path;
	enum ns_ent_type type;
	int pinned; /* made by mkdir: no expiry */
	int sticky; /* this daemon removed it: no expiry, but evictable */
	uint64_t expires_ms;
	struct nsent *next;
};

/* Blocks [from, end) of a deleted volume, removed in the background once
 * its block 0 is gone (the volume is gone then: SQLite's commit point). */
struct ns_deletion {
	char *path;
	uint64_t from, end;
	struct ns_deletion *next;
};

struct ns {
	struct ns_conf conf;
	struct volctx *x;
	pthread_mutex_t lock;
	/* Background deletions; protected by lock.  A path with a deletion
	 * queued or running cannot be created again until it is done, so a
	 * deletion never removes a block written later. */
	struct ns_deletion *del_head, *del_tail, *del_running;
	pthread_cond_t del_work, del_done;
	pthread_t del_thread;
	int del_started, del_stop;
	struct vol *vols[NS_BUCKETS]; /* protected by lock */
	size_t nvols;
	struct nsent *ents[NS_BUCKETS]; /* protected by lock */
	size_t nents;
	uint64_t next_id;
};

int
ns_hidden(const char *path)
{
	return strncmp(path, ".s3blockfs", 10) == 0 && (path[10] == '\0' || path[10] == '/');
}

int
ns_local_only(const char *path)
{
	size_t l = strlen(path);

	return l > 4 && strcmp(path + l - 4, "-shm") == 0;
}

static size_t
path_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)(h % NS_BUCKETS);
}

/* Is path below dir (dir "" is the root)? */
static int
path_under(const char *path, const char *dir)
{
	size_t l = strlen(dir);

	if (l == 0)
		return path[0] != '\0';
	return strncmp(path, dir, l) == 0 && path[l] == '/';
}

/* ---------------------------------------------------------------- volumes */

static struct vol *
vol_find(struct ns *ns, const char *path)
{
	for (struct vol *v = ns->vols[path_hash(path)]; v; v = v->ns_next)
		if (strcmp(v->path, path) == 0)
			return v;
	return NULL;
}

static struct vol *
vol_new(struct ns *ns, const char *path, uint32_t bs, uint64_t size, uint64_t stored,
	time_t mtime)
{
	struct vol *v = calloc(1, sizeof(*v));

	if (!v || !(v->path = strdup(path))) {
		free(v);
		return NULL;
	}
	pthread_mutex_init(&v->wmu, NULL);
	pthread_mutex_init(&v->mu, NULL);
	v->id = __atomic_add_fetch(&ns->next_id, 1, __ATOMIC_RELAXED);
	v->block_size = bs;
	v->size = size;
	v->mtime.tv_sec = mtime;
	v->local_only = ns_local_only(path);
	cache_vol_init(ns->x->cache, v, path, stored);
	return v;
}

static void
vol_free(struct ns *ns, struct vol *v)
{
	cache_vol_fini(ns->x->cache, v);
	pthread_mutex_destroy(&v->wmu);
	pthread_mutex_destroy(&v->mu);
	free(v->mem);
	free(v->path);
	free(v);
}

static void
table_remove(struct ns *ns, struct vol *v)
{
	struct vol **pp = &ns->vols[path_hash(v->path)];

	while (*pp && *pp != v)
		pp = &(*pp)->ns_next;
	if (*pp) {
		*pp = v->ns_next;
		ns->nvols--;
	}
	v->in_table = 0;
	v->ns_next = NULL;
}

static void
table_insert(struct ns *ns, struct vol *v)
{
	size_t h = path_hash(v->path);

	v->ns_next = ns->vols[h];
	ns->vols[h] = v;
	v->in_table = 1;
	v->refs++;
	ns->nvols++;
}

void
ns_vol_get(struct ns *ns, struct vol *v)
{
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	v->refs++;
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
}

void
ns_vol_put(struct ns *ns, struct vol *v)
{
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	int last = --v->refs == 0;
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	if (last)
		vol_free(ns, v);
}

/* Drops idle volumes (only the table holds them, nothing dirty) while the
 * table is over its bound.  ns lock held; returns the victims to free. */
static struct vol *
table_trim(struct ns *ns)
{
	struct vol *victims = NULL;

	for (size_t i = 0; i < NS_BUCKETS && ns->nvols > ns->conf.max_vols; i++) {
		struct vol **pp = &ns->vols[i];
		while (*pp && ns->nvols > ns->conf.max_vols) {
			struct vol *v = *pp;
			/* A volume not yet stored exists only here: keep it. */
			if (v->refs == 1 && !v->local_only && cache_vol_idle(ns->x->cache, v)) {
				*pp = v->ns_next;
				ns->nvols--;
				v->in_table = 0;
				v->refs--;
				v->ns_next = victims;
				victims = v;
			} else {
				pp = &v->ns_next;
			}
		}
	}
	return victims;
}

/* ---------------------------------------------------------------- answers */

static struct nsent *
ent_find(struct ns *ns, const char *path)
{
	for (struct nsent *e = ns->ents[path_hash(path)]; e; e = e->next)
		if (strcmp(e->path, path) == 0)
			return e;
	return NULL;
}

static void
ent_del(struct ns *ns, const char *path)
{
	struct nsent **pp = &ns->ents[path_hash(path)];

	while (*pp) {
		struct nsent *e = *pp;
		if (strcmp(e->path, path) == 0) {
			*pp = e->next;
			free(e->path);
			free(e);
			ns->nents--;
			return;
		}
		pp = &e->next;
	}
}

/* Removes the unpinned answers drop() selects, stopping once the table is
 * down to `until` entries (0: sweep it all). */
static void
ent_sweep(struct ns *ns, int (*drop)(const struct nsent *e, const void *arg), const void *arg,
	  size_t until)
{
	for (size_t i = 0; i < NS_BUCKETS && ns->nents > until; i++) {
		struct nsent **pp = &ns->ents[i];
		while (*pp) {
			struct nsent *e = *pp;
			if (!e->pinned && drop(e, arg)) {
				*pp = e->next;
				free(e->path);
				free(e);
				ns->nents--;
			} else {
				pp = &e->next;
			}
		}
	}
}

static int
ent_expired(const struct nsent *e, const void *now)
{
	return e->expires_ms <= *(const uint64_t *)now;
}

static int
ent_any(const struct nsent *e, const void *arg)
{
	return 1;
}

static int
ent_at_or_under(const struct nsent *e, const void *path)
{
	return strcmp(e->path, path) == 0 || path_under(e->path, path);
}

/* Drops expired answers, then any unpinned ones, until there is room. */
static void
ent_trim(struct ns *ns)
{
	uint64_t now = util_now_ms();

	if (ns->nents < ns->conf.max_entries)
		return;
	ent_sweep(ns, ent_expired, &now, ns->conf.max_entries - 1);
	ent_sweep(ns, ent_any, NULL, ns->conf.max_entries - 1);
}

static void
ent_set(struct ns *ns, const char *path, enum ns_ent_type type, int pinned)
{
	struct nsent *e = ent_find(ns, path);

	if (!e) {
		ent_trim(ns);
		e = calloc(1, sizeof(*e));
		if (!e || !(e->path = strdup(path))) {
			free(e);
			return; /* only an answer lost: it is asked again */
		}
		size_t h = path_hash(path);
		e->next = ns->ents[h];
		ns->ents[h] = e;
		ns->nents++;
	}
	e->type = type;
	e->pinned = pinned;
	e->sticky = 0;
	e->expires_ms = util_now_ms() + ns->conf.ttl_ms;
}

/* What this daemon deleted stays deleted (one writer per name): the answer
 * does not expire, which spares SQLite's hot-journal checks a request. */
static void
ent_stick(struct ns *ns, const char *path)
{
	struct nsent *e = ent_find(ns, path);

	if (e)
		e->sticky = 1;
}

/* Forgets every unpinned answer under (and at) path. */
static void
ent_forget_under(struct ns *ns, const char *path)
{
	ent_sweep(ns, ent_at_or_under, path, 0);
}

/* ---------------------------------------------------------------- discovery */

static int
block_exists(struct store *st, const char *path, uint64_t blk, uint64_t *size)
{
	char key[PATH_MAX];
	uint64_t sz;
	int rc = util_block_key(key, sizeof(key), path, blk);

	if (rc == 0)
		rc = store_head(st, key, &sz, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (size)
		*size = sz;
	return 1;
}

struct window {
	size_t plen;
	uint64_t blks[2 * VOL_EXT_WINDOW + 2];
	uint64_t sizes[2 * VOL_EXT_WINDOW + 2];
	size_t n;
	size_t strays;
};

static int
window_cb(void *arg, const struct store_entry *e)
{
	struct window *w = arg;
	uint64_t blk;

	if (e->is_prefix || util_parse_block_name(e->key + w->plen, &blk) < 0 ||
	    strchr(e->key + w->plen, '/')) {
		w->strays++;
		return 0;
	}
	if (w->n >= sizeof(w->blks) / sizeof(w->blks[0]))
		return 1;
	w->blks[w->n] = blk;
	w->sizes[w->n] = e->size;
	w->n++;
	return 0;
}

int
ns_discover(struct store *st, const char *path, uint32_t default_bs, int read_only, uint32_t *bs,
	    uint64_t *size, uint64_t *nblocks, time_t *mtime)
{
	char key[PATH_MAX], after[PATH_MAX], prefix[PATH_MAX];
	uint64_t s0;
	int rc;

	if ((rc = util_block_key(key, sizeof(key), path, 0)) < 0)
		return rc;
	if ((rc = store_head(st, key, &s0, mtime)) < 0)
		return rc;

	/* Bracket the end: exists(lo), !exists(hi). */
	uint64_t lo = 0, hi = 0;
	for (uint64_t probe = 1;; probe *= 2) {
		if (probe >= BLKMAP_MAX_BLOCKS) {
			hi = BLKMAP_MAX_BLOCKS;
			break;
		}
		if ((rc = block_exists(st, path, probe, NULL)) < 0)
			return rc;
		if (!rc) {
			hi = probe;
			break;
		}
		lo = probe;
	}
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if ((rc = block_exists(st, path, mid, NULL)) < 0)
			return rc;
		if (rc)
			lo = mid;
		else
			hi = mid;
	}

	/* The true end lies within a window below lo+1: read it whole. */
	struct window *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	uint64_t start = lo > VOL_EXT_WINDOW ? lo - VOL_EXT_WINDOW : 0;
	snprintf(prefix, sizeof(prefix), "%s/", path);
	w->plen = strlen(prefix);
	if ((rc = util_block_key(after, sizeof(after), path, start)) < 0)
		goto out;
	rc = store_list(st, prefix, "/", after, 2 * VOL_EXT_WINDOW + 2, window_cb, w);
	if (rc < 0)
		goto out;

	uint32_t b = s0 > 0 ? (uint32_t)UTIL_MIN(s0, (uint64_t)UINT32_MAX) : default_bs;
	uint64_t k = start + 1, last_len = start == 0 ? s0 : b;
	size_t i = 0;
	if (s0 == 0 || s0 > UINT32_MAX) {
		k = 1; /* an empty or absurd block 0: nothing after it counts */
	} else {
		for (; i < w->n; i++) {
			if (w->blks[i] != k || w->sizes[i] == 0 || w->sizes[i] > b)
				break;
			last_len = w->sizes[i];
			k++;
			if (w->sizes[i] < b) {
				i++;
				break;
			}
		}
	}
	/* Blocks listed at or past k are debris of an interrupted write. */
	size_t ndebris = 0;
	for (size_t j = 0; j < w->n; j++)
		if (w->blks[j] >= k)
			ndebris++;
	if (ndebris) {
		s3bfs_log(LOG_NOTICE, "%s: %zu block(s) past the end at block %llu (left by an "
				      "interrupted write)%s", path, ndebris, (unsigned long long)k,
			  read_only ? "; read-only: left alone" : "; removing them");
		for (size_t j = w->n; j > 0 && !read_only; j--) {
			if (w->blks[j - 1] < k)
				continue;
			const char *kp = key;
			if ((rc = util_block_key(key, sizeof(key), path, w->blks[j - 1])) < 0 ||
			    (rc = store_del(st, &kp, 1)) < 0)
				goto out;
		}
	}
	if (w->strays)
		s3bfs_log(LOG_WARNING, "%s: %zu object(s) under the volume's prefix are not blocks",
			  path, w->strays);
	if (k == 1) {
		*bs = s0 > default_bs ? (uint32_t)s0 : default_bs;
		if (s0 > default_bs)
			s3bfs_log(LOG_WARNING, "%s: single block of %llu bytes, larger than the block "
					       "size %u: using %llu", path, (unsigned long long)s0,
				  default_bs, (unsigned long long)s0);
		*size = s0 > UINT32_MAX ? 0 : s0;
	} else {
		*bs = b;
		*size = (k - 1) * b + last_len;
	}
	*nblocks = k;
	rc = 0;
out:
	free(w);
	return rc;
}

/* ---------------------------------------------------------------- lookup */

static int remove_debris(struct ns *ns, const char *path);
static int deletion_busy(struct ns *ns, const char *path);

struct first_entry {
	size_t plen;
	int found, debris;
};

static int
first_cb(void *arg, const struct store_entry *e)
{
	struct first_entry *f = arg;
	uint64_t blk;

	f->found = 1;
	f->debris = !e->is_prefix && util_parse_block_name(e->key + f->plen, &blk) == 0;
	return 1;
}

/* What the store says of a path that is not a volume of ours. */
static int
probe_store(struct ns *ns, const char *path, enum ns_type *type, struct vol **vp)
{
	struct store *st = ns->x->st;
	char prefix[PATH_MAX];
	uint32_t bs;
	uint64_t size, nblocks;
	time_t mtime = ns->conf.mount_time;
	int rc;

	rc = ns_discover(st, path, ns->conf.default_block_size, ns->conf.read_only, &bs, &size,
			 &nblocks, &mtime);
	if (rc == 0) {
		struct vol *v = vol_new(ns, path, bs, size, nblocks, mtime);
		if (!v)
			return -ENOMEM;
		CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
		struct vol *other = vol_find(ns, path), *victims = NULL;
		if (other) {
			other->refs++;
		} else {
			table_insert(ns, v);
			v->refs++;
			ent_del(ns, path);
			victims = table_trim(ns);
		}
		CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
		if (other)
			vol_free(ns, v);
		while (victims) {
			struct vol *n = victims->ns_next;
			vol_free(ns, victims);
			victims = n;
		}
		*type = NS_VOL;
		if (vp)
			*vp = other ? other : v;
		else
			ns_vol_put(ns, other ? other : v);
		return 0;
	}
	if (rc != -ENOENT)
		return rc;
	if ((size_t)snprintf(prefix, sizeof(prefix), "%s/", path) >= sizeof(prefix))
		return -ENAMETOOLONG;
	struct first_entry f = {.plen = strlen(prefix)};
	if ((rc = store_list(st, prefix, "/", NULL, 1, first_cb, &f)) < 0)
		return rc;
	enum ns_ent_type et = !f.found ? ENT_NONE : f.debris ? ENT_DEBRIS : ENT_DIR;
	/* Blocks without a block 0 are what a crash during a delete leaves:
	 * remove them when first seen, so the layout is clean again. */
	if (et == ENT_DEBRIS && !ns->conf.read_only && !deletion_busy(ns, path) &&
	    remove_debris(ns, path) == 0)
		et = ENT_NONE;
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	struct nsent *e = ent_find(ns, path);
	if (e && e->pinned && et != ENT_DIR)
		et = ENT_DIR; /* mkdir'd here, nothing stored under it yet */
	else
		ent_set(ns, path, et, 0);
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	*type = et == ENT_DIR ? NS_DIR : NS_NONE;
	return 0;
}

int
ns_lookup(struct ns *ns, const char *path, enum ns_type *type, struct vol **vp)
{
	if (path[0] == '\0') {
		*type = NS_DIR;
		return 0;
	}
	if (ns_hidden(path)) {
		*type = NS_NONE;
		return 0;
	}
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	struct vol *v = vol_find(ns, path);
	if (v) {
		if (vp) {
			v->refs++;
			*vp = v;
		}
		CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
		*type = NS_VOL;
		return 0;
	}
	struct nsent *e = ent_find(ns, path);
	if (e && (e->pinned || e->sticky || e->expires_ms > util_now_ms())) {
		*type = e->type == ENT_DIR ? NS_DIR : NS_NONE;
		CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
		return 0;
	}
	/* Volumes created here and not stored yet make their parents exist. */
	for (size_t i = 0; i < NS_BUCKETS; i++) {
		for (v = ns->vols[i]; v; v = v->ns_next) {
			if (path_under(v->path, path)) {
				CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
				*type = NS_DIR;
				return 0;
			}
		}
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	return probe_store(ns, path, type, vp);
}

/* ---------------------------------------------------------------- deletions */

static int
deletion_pending(struct ns *ns, const char *path)
{
	if (ns->del_running && strcmp(ns->del_running->path, path) == 0)
		return 1;
	for (struct ns_deletion *d = ns->del_head; d; d = d->next)
		if (strcmp(d->path, path) == 0)
			return 1;
	return 0;
}

/* Is a deletion of path queued or running?  Its blocks are not debris. */
static int
deletion_busy(struct ns *ns, const char *path)
{
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	int busy = deletion_pending(ns, path);
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	return busy;
}

/* Waits until no deletion of path (NULL: of anything) is queued or running. */
static void
deletions_wait(struct ns *ns, const char *path)
{
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	while (path ? deletion_pending(ns, path) : (ns->del_head || ns->del_running))
		CHECK_PTHREAD(pthread_cond_wait(&ns->del_done, &ns->lock));
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
}

void
ns_drain(struct ns *ns)
{
	deletions_wait(ns, NULL);
}

/* Block 0 counts as covered too: the new volume appears (block 0) only
 * once no old block is left under its name. */
static int
deletion_covers(const struct ns_deletion *d, const char *path, uint64_t blk)
{
	return d && blk < d->end && strcmp(d->path, path) == 0;
}

/*
 * The cache's upload gate: a new volume under the name of one just deleted
 * may be created at once (SQLite's next journal), but none of its blocks
 * goes up while the old volume's deletion still covers it, so a deletion
 * never removes a block written later.
 */
static void
upload_gate(void *arg, const char *path, uint64_t blk)
{
	struct ns *ns = arg;

	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	for (;;) {
		int busy = deletion_covers(ns->del_running, path, blk);
		for (struct ns_deletion *d = ns->del_head; d && !busy; d = d->next)
			busy = deletion_covers(d, path, blk);
		if (!busy)
			break;
		CHECK_PTHREAD(pthread_cond_wait(&ns->del_done, &ns->lock));
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
}

static int
delete_range(struct store *st, const char *path, uint64_t from, uint64_t end)
{
	char(*keys)[PATH_MAX] = malloc(sizeof(*keys) * 1000);
	const char *ptrs[1000];
	int rc = 0;

	if (!keys)
		return -ENOMEM;
	while (rc == 0 && from < end) {
		size_t k = 0;
		for (; k < 1000 && from < end; k++, from++) {
			if ((rc = util_block_key(keys[k], PATH_MAX, path, from)) < 0)
				break;
			ptrs[k] = keys[k];
		}
		if (rc == 0)
			rc = store_del(st, ptrs, k);
	}
	free(keys);
	return rc;
}

static void *
deleter(void *arg)
{
	struct ns *ns = arg;

	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	for (;;) {
		struct ns_deletion *d = ns->del_head;
		if (!d) {
			if (ns->del_stop)
				break;
			CHECK_PTHREAD(pthread_cond_wait(&ns->del_work, &ns->lock));
			continue;
		}
		ns->del_head = d->next;
		if (!ns->del_head)
			ns->del_tail = NULL;
		ns->del_running = d;
		CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
		int rc = delete_range(ns->x->st, d->path, d->from, d->end);
		if (rc < 0) {
			char eb[128];
			s3bfs_log(LOG_ERR, "%s: removing blocks %llu..%llu of the deleted file: %s (they "
					   "are removed when the name is created again)",
				  d->path, (unsigned long long)d->from, (unsigned long long)d->end - 1,
				  util_strerror(-rc, eb, sizeof(eb)));
		}
		CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
		ns->del_running = NULL;
		free(d->path);
		free(d);
		CHECK_PTHREAD(pthread_cond_broadcast(&ns->del_done));
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	return NULL;
}

int
ns_start(struct ns *ns)
{
	int rc = pthread_create(&ns->del_thread, NULL, deleter, ns);

	if (rc == 0)
		ns->del_started = 1;
	return -rc;
}

void
ns_stop(struct ns *ns)
{
	if (!ns->del_started)
		return;
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	ns->del_stop = 1;
	CHECK_PTHREAD(pthread_cond_broadcast(&ns->del_work));
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	CHECK_PTHREAD(pthread_join(ns->del_thread, NULL));
	ns->del_started = 0;
}

/* Queues blocks [from, end) of path for deletion; 0, or -ENOMEM (then the
 * caller deletes them itself). */
static int
deletion_queue(struct ns *ns, const char *path, uint64_t from, uint64_t end)
{
	struct ns_deletion *d = calloc(1, sizeof(*d));

	if (!d || !(d->path = strdup(path))) {
		free(d);
		return -ENOMEM;
	}
	d->from = from;
	d->end = end;
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	if (ns->del_tail)
		ns->del_tail->next = d;
	else
		ns->del_head = d;
	ns->del_tail = d;
	CHECK_PTHREAD(pthread_cond_signal(&ns->del_work));
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	return 0;
}

/* ---------------------------------------------------------------- changes */

struct key_list {
	char **keys;
	size_t n, cap, max;
	size_t plen;
	int blocks_only; /* collect only direct children named as blocks */
};

static int
key_list_cb(void *arg, const struct store_entry *e)
{
	struct key_list *l = arg;
	uint64_t blk;

	if (e->is_prefix)
		return 0;
	if (l->blocks_only && util_parse_block_name(e->key + l->plen, &blk) < 0)
		return 0;
	if (l->n >= l->max)
		return -EFBIG;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 64;
		char **nk = realloc(l->keys, ncap * sizeof(*nk));
		if (!nk)
			return -ENOMEM;
		l->keys = nk;
		l->cap = ncap;
	}
	if (!(l->keys[l->n] = strdup(e->key)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static void
key_list_free(struct key_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->keys[i]);
	free(l->keys);
	memset(l, 0, sizeof(*l));
}

static int
del_keys(struct store *st, char **keys, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i += 1000)
		rc = store_del(st, (const char *const *)keys + i, UTIL_MIN((size_t)1000, n - i));
	return rc;
}

/* Removes leftover blocks of a volume whose block 0 is gone. */
static int
remove_debris(struct ns *ns, const char *path)
{
	char prefix[PATH_MAX];
	struct key_list l = {.max = 100000000, .blocks_only = 1};
	int rc;

	snprintf(prefix, sizeof(prefix), "%s/", path);
	l.plen = strlen(prefix);
	rc = store_list(ns->x->st, prefix, "/", NULL, 0, key_list_cb, &l);
	if (rc == 0 && l.n) {
		s3bfs_log(LOG_NOTICE, "%s: removing %zu block(s) left by an interrupted delete",
			  path, l.n);
		rc = del_keys(ns->x->st, l.keys, l.n);
	}
	key_list_free(&l);
	return rc;
}

static int
parent_exists(struct ns *ns, const char *path)
{
	const char *slash = strrchr(path, '/');
	char parent[PATH_MAX];
	enum ns_type t;
	int rc;

	if (!slash)
		return 0;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	if ((rc = ns_lookup(ns, parent, &t, NULL)) < 0)
		return rc;
	return t == NS_DIR ? 0 : t == NS_VOL ? -ENOTDIR : -ENOENT;
}

int
ns_create_vol(struct ns *ns, const char *path, struct vol **vp)
{
	enum ns_type t;
	int rc;

	if (ns_hidden(path))
		return -EPERM;
	if ((rc = parent_exists(ns, path)) < 0)
		return rc;
	if ((rc = ns_lookup(ns, path, &t, NULL)) < 0)
		return rc;
	if (t != NS_NONE)
		return t == NS_VOL ? -EEXIST : -EISDIR;
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	struct nsent *e = ent_find(ns, path);
	int debris = e && e->type == ENT_DEBRIS;
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	/* A deletion of an earlier volume of this name may still run: the
	 * upload gate keeps the new blocks back until it is done. */
	if (debris && !ns_local_only(path)) {
		deletions_wait(ns, path);
		if ((rc = remove_debris(ns, path)) < 0)
			return rc;
	}

	struct vol *v = vol_new(ns, path, ns->conf.default_block_size, 0, 0, 0);
	if (!v)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &v->mtime);
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	if (vol_find(ns, path)) {
		CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
		vol_free(ns, v);
		return -EEXIST;
	}
	table_insert(ns, v);
	v->refs++;
	ent_del(ns, path);
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	*vp = v;
	return 0;
}

/* Takes v out of the namespace and deletes its blocks; v->wmu held. */
static int
unlink_locked(struct ns *ns, struct vol *v)
{
	int rc = 0;

	cache_discard(ns->x->cache, v, 0);
	uint64_t end = v->local_only ? 0 : cache_stored_end(ns->x->cache, v);
	if (end > 1 && ns->del_started) {
		/* Block 0 now, on the caller's time: that is the commit point.
		 * The rest in the background. */
		char key[PATH_MAX];
		const char *kp = key;
		if ((rc = util_block_key(key, sizeof(key), v->path, 0)) < 0 ||
		    (rc = store_del(ns->x->st, &kp, 1)) < 0)
			return rc;
		cache_set_stored_end(ns->x->cache, v, 0);
		if (deletion_queue(ns, v->path, 1, end) < 0)
			delete_range(ns->x->st, v->path, 1, end);
	} else if (end > 0) {
		rc = vol_delete_blocks(ns->x, v, 0);
	}
	if (rc < 0)
		return rc;
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	if (v->in_table) {
		table_remove(ns, v);
		v->refs--; /* the table's; the caller holds another */
	}
	ent_set(ns, v->path, ENT_NONE, 0);
	ent_stick(ns, v->path);
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	CHECK_PTHREAD(pthread_mutex_lock(&v->mu));
	v->unlinked = 1;
	v->size = 0;
	CHECK_PTHREAD(pthread_mutex_unlock(&v->mu));
	return 0;
}

int
ns_unlink(struct ns *ns, const char *path)
{
	enum ns_type t;
	struct vol *v = NULL;
	int rc;

	if ((rc = ns_lookup(ns, path, &t, &v)) < 0)
		return rc;
	if (t != NS_VOL)
		return t == NS_DIR ? -EISDIR : -ENOENT;
	CHECK_PTHREAD(pthread_mutex_lock(&v->wmu));
	rc = v->in_table ? unlink_locked(ns, v) : -ENOENT;
	CHECK_PTHREAD(pthread_mutex_unlock(&v->wmu));
	ns_vol_put(ns, v);
	return rc;
}

int
ns_mkdir(struct ns *ns, const char *path)
{
	enum ns_type t;
	int rc;

	if (ns_hidden(path))
		return -EPERM;
	if ((rc = parent_exists(ns, path)) < 0)
		return rc;
	if ((rc = ns_lookup(ns, path, &t, NULL)) < 0)
		return rc;
	if (t != NS_NONE)
		return -EEXIST;
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	ent_set(ns, path, ENT_DIR, 1);
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	return 0;
}

/* Does anything live under dir: a volume or mkdir'd directory of ours, or
 * a key in the store? */
static int
dir_has_children(struct ns *ns, const char *dir)
{
	char prefix[PATH_MAX];
	int busy = 0, rc;

	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	for (size_t i = 0; i < NS_BUCKETS && !busy; i++) {
		for (struct vol *v = ns->vols[i]; v && !busy; v = v->ns_next)
			busy = path_under(v->path, dir);
		for (struct nsent *e = ns->ents[i]; e && !busy; e = e->next)
			busy = e->pinned && path_under(e->path, dir);
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	if (busy)
		return 1;
	snprintf(prefix, sizeof(prefix), "%s%s", dir, dir[0] ? "/" : "");
	struct first_entry f = {.plen = strlen(prefix)};
	if ((rc = store_list(ns->x->st, prefix, "/", NULL, 1, first_cb, &f)) < 0)
		return rc;
	return f.found;
}

int
ns_rmdir(struct ns *ns, const char *path)
{
	enum ns_type t;
	int rc;

	if (path[0] == '\0')
		return -EBUSY;
	if ((rc = ns_lookup(ns, path, &t, NULL)) < 0)
		return rc;
	if (t != NS_DIR)
		return t == NS_VOL ? -ENOTDIR : -ENOENT;
	/* Blocks of a file just deleted below may still be on their way out
	 * ("rm -rf" removes the directory right after its files). */
	ns_drain(ns);
	if ((rc = dir_has_children(ns, path)) != 0)
		return rc < 0 ? rc : -ENOTEMPTY;
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	ent_set(ns, path, ENT_NONE, 0);
	ent_stick(ns, path);
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	return 0;
}

/* Copies every key of `keys` from prefix `from` to prefix `to` (block 0
 * of each volume last, so a volume appears whole), then deletes the
 * originals (block 0 first, so it disappears at once). */
static int
move_keys(struct ns *ns, char **keys, size_t n, const char *from, const char *to)
{
	struct store *st = ns->x->st;
	size_t flen = strlen(from);
	char dst[PATH_MAX];
	int rc = 0;

	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			const char *base = strrchr(keys[i], '/');
			int is0 = base && strcmp(base + 1, "0000000000") == 0;
			if (is0 != (pass == 1))
				continue;
			if ((size_t)snprintf(dst, sizeof(dst), "%s%s", to, keys[i] + flen) >=
			    sizeof(dst))
				rc = -ENAMETOOLONG;
			else
				rc = store_copy(st, keys[i], dst);
		}
	}
	if (rc < 0)
		return rc; /* the originals are intact; copies may be left */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			const char *base = strrchr(keys[i], '/');
			int is0 = base && strcmp(base + 1, "0000000000") == 0;
			if (is0 != (pass == 0))
				continue;
			const char *k = keys[i];
			rc = store_del(st, &k, 1);
		}
	}
	return rc;
}

static int
rename_vol(struct ns *ns, struct vol *v, const char *to)
{
	int rc = 0;

	CHECK_PTHREAD(pthread_mutex_lock(&v->wmu));
	if (!v->in_table) {
		rc = -ENOENT;
		goto out;
	}
	if (!v->local_only && (rc = cache_flush(ns->x->cache, v)) < 0)
		goto out;
	uint64_t end = v->local_only ? 0 : cache_stored_end(ns->x->cache, v);
	if (end > 0) {
		struct key_list l = {.max = end};
		char from[PATH_MAX];
		l.keys = calloc(end, sizeof(char *));
		if (!l.keys) {
			rc = -ENOMEM;
			goto out;
		}
		l.cap = end;
		for (uint64_t b = 0; b < end && rc == 0; b++) {
			char key[PATH_MAX];
			if ((rc = util_block_key(key, sizeof(key), v->path, b)) == 0 &&
			    !(l.keys[l.n++] = strdup(key)))
				rc = -ENOMEM;
		}
		snprintf(from, sizeof(from), "%s", v->path);
		if (rc == 0)
			rc = move_keys(ns, l.keys, l.n, from, to);
		key_list_free(&l);
		if (rc < 0)
			goto out;
	}
	char *np = strdup(to);
	if (!np || (rc = cache_vol_set_path(ns->x->cache, v, to)) < 0) {
		free(np);
		rc = -ENOMEM;
		goto out;
	}
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	table_remove(ns, v);
	ent_set(ns, v->path, ENT_NONE, 0);
	ent_stick(ns, v->path);
	free(v->path);
	v->path = np;
	v->refs--; /* table_insert takes it again */
	table_insert(ns, v);
	ent_del(ns, to);
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
out:
	CHECK_PTHREAD(pthread_mutex_unlock(&v->wmu));
	return rc;
}

static int
rename_dir(struct ns *ns, const char *from, const char *to)
{
	char fprefix[PATH_MAX], tprefix[PATH_MAX];
	struct key_list l = {.max = 10000000};
	int rc;

	snprintf(fprefix, sizeof(fprefix), "%s/", from);
	snprintf(tprefix, sizeof(tprefix), "%s/", to);
	/* Flush what lives below, so the store holds it all. */
	if ((rc = cache_flush(ns->x->cache, NULL)) < 0)
		return rc;
	l.plen = strlen(fprefix);
	if ((rc = store_list(ns->x->st, fprefix, NULL, NULL, 0, key_list_cb, &l)) == 0)
		rc = move_keys(ns, l.keys, l.n, fprefix, tprefix);
	key_list_free(&l);
	if (rc < 0)
		return rc;
	size_t flen = strlen(from);
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	/* Re-key the volumes and pinned directories below. */
	struct vol *moved = NULL;
	for (size_t i = 0; i < NS_BUCKETS; i++) {
		struct vol **pp = &ns->vols[i];
		while (*pp) {
			struct vol *v = *pp;
			if (path_under(v->path, from)) {
				*pp = v->ns_next;
				ns->nvols--;
				v->ns_next = moved;
				moved = v;
			} else {
				pp = &v->ns_next;
			}
		}
	}
	while (moved) {
		struct vol *v = moved, *next = moved->ns_next;
		char np[PATH_MAX];
		snprintf(np, sizeof(np), "%s%s", to, v->path + flen);
		char *dup = strdup(np);
		if (dup && cache_vol_set_path(ns->x->cache, v, np) == 0) {
			free(v->path);
			v->path = dup;
		} else {
			free(dup);
		}
		v->refs--;
		table_insert(ns, v);
		moved = next;
	}
	for (size_t i = 0; i < NS_BUCKETS; i++) {
		for (struct nsent *e = ns->ents[i]; e; e = e->next) {
			if (e->pinned && (strcmp(e->path, from) == 0 || path_under(e->path, from))) {
				char np[PATH_MAX];
				snprintf(np, sizeof(np), "%s%s", to, e->path + flen);
				e->pinned = 0; /* re-pinned below under its new name */
				e->expires_ms = 0;
				struct nsent *ne = ent_find(ns, np);
				if (!ne)
					ent_set(ns, np, ENT_DIR, 1);
			}
		}
	}
	ent_forget_under(ns, from);
	ent_forget_under(ns, to);
	ent_set(ns, from, ENT_NONE, 0);
	ent_stick(ns, from);
	ent_set(ns, to, ENT_DIR, 1);
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	return 0;
}

int
ns_rename(struct ns *ns, const char *from, const char *to, unsigned flags)
{
	enum ns_type tf, tt;
	struct vol *v = NULL, *tv = NULL;
	int rc;

	if (from[0] == '\0' || to[0] == '\0' || ns_hidden(from) || ns_hidden(to))
		return -EBUSY;
	if (strcmp(from, to) == 0)
		return 0;
	if (path_under(to, from))
		return -EINVAL; /* into itself */
	if ((rc = ns_lookup(ns, from, &tf, &v)) < 0)
		return rc;
	if (tf == NS_NONE)
		return -ENOENT;
	if ((rc = parent_exists(ns, to)) < 0)
		goto out;
	if ((rc = ns_lookup(ns, to, &tt, &tv)) < 0)
		goto out;
	if (tt != NS_NONE && (flags & 1 /* RENAME_NOREPLACE */)) {
		rc = -EEXIST;
		goto out;
	}
	/* A deletion in the background must not hit what the rename writes. */
	if (tf == NS_VOL)
		deletions_wait(ns, to);
	else
		ns_drain(ns);
	if (tf == NS_VOL) {
		if (tt == NS_DIR) {
			rc = -EISDIR;
			goto out;
		}
		if (tt == NS_VOL) {
			CHECK_PTHREAD(pthread_mutex_lock(&tv->wmu));
			rc = tv->in_table ? unlink_locked(ns, tv) : 0;
			CHECK_PTHREAD(pthread_mutex_unlock(&tv->wmu));
			if (rc < 0)
				goto out;
			/* Its blocks 1.. may be queued for deletion: the copies
			 * below get the same names. */
			deletions_wait(ns, to);
		}
		rc = rename_vol(ns, v, to);
	} else {
		if (tt == NS_VOL) {
			rc = -ENOTDIR;
			goto out;
		}
		if (tt == NS_DIR && (rc = dir_has_children(ns, to)) != 0) {
			rc = rc < 0 ? rc : -ENOTEMPTY;
			goto out;
		}
		rc = rename_dir(ns, from, to);
	}
out:
	if (v)
		ns_vol_put(ns, v);
	if (tv)
		ns_vol_put(ns, tv);
	return rc;
}

/* ---------------------------------------------------------------- readdir */

struct names {
	char **v;
	size_t n, cap;
	size_t plen;
};

static int
names_add(struct names *l, const char *name, size_t len)
{
	if (l->n >= 10000000)
		return -EFBIG;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 64;
		char **nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	if (!(l->v[l->n] = strndup(name, len)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static int
names_cb(void *arg, const struct store_entry *e)
{
	struct names *l = arg;
	const char *name = e->key + l->plen;

	if (!e->is_prefix)
		return 0; /* an object directly under a directory is not a file here */
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '/')
		len--;
	if (len == 0)
		return 0;
	if (l->plen == 0 && len == 10 && strncmp(name, ".s3blockfs", 10) == 0)
		return 0;
	return names_add(l, name, len);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
ns_readdir(struct ns *ns, const char *path, ns_dir_cb cb, void *arg)
{
	char prefix[PATH_MAX];
	struct names l = {0};
	int rc;

	snprintf(prefix, sizeof(prefix), "%s%s", path, path[0] ? "/" : "");
	l.plen = strlen(prefix);
	rc = store_list(ns->x->st, prefix, "/", NULL, 0, names_cb, &l);
	if (rc < 0)
		goto out;
	/* Add what lives only here; drop what we know is gone. */
	CHECK_PTHREAD(pthread_mutex_lock(&ns->lock));
	for (size_t i = 0; i < NS_BUCKETS && rc == 0; i++) {
		for (struct vol *v = ns->vols[i]; v && rc == 0; v = v->ns_next) {
			if (!path_under(v->path, path))
				continue;
			const char *rest = v->path + l.plen;
			const char *slash = strchr(rest, '/');
			rc = names_add(&l, rest, slash ? (size_t)(slash - rest) : strlen(rest));
		}
		for (struct nsent *e = ns->ents[i]; e && rc == 0; e = e->next) {
			if (!e->pinned || !path_under(e->path, path))
				continue;
			const char *rest = e->path + l.plen;
			const char *slash = strchr(rest, '/');
			rc = names_add(&l, rest, slash ? (size_t)(slash - rest) : strlen(rest));
		}
	}
	uint64_t now = util_now_ms();
	for (size_t i = 0; i < l.n; i++) {
		char full[PATH_MAX];
		snprintf(full, sizeof(full), "%s%s", prefix, l.v[i]);
		struct nsent *e = ent_find(ns, full);
		if (e && !e->pinned && e->type != ENT_DIR && (e->sticky || e->expires_ms > now) &&
		    !vol_find(ns, full)) {
			free(l.v[i]);
			l.v[i] = NULL;
		}
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&ns->lock));
	if (rc < 0)
		goto out;
	size_t k = 0;
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i])
			l.v[k++] = l.v[i];
	l.n = k;
	if (l.n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(l.v, l.n, sizeof(l.v[0]), cmp_str);
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		if (i > 0 && strcmp(l.v[i], l.v[i - 1]) == 0)
			continue;
		rc = cb(arg, l.v[i], NS_NONE);
	}
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- life */

struct ns *
ns_create(const struct ns_conf *conf, struct volctx *x)
{
	struct ns *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return NULL;
	ns->conf = *conf;
	if (ns->conf.max_entries == 0)
		ns->conf.max_entries = 65536;
	if (ns->conf.max_vols == 0)
		ns->conf.max_vols = 4096;
	ns->x = x;
	pthread_mutex_init(&ns->lock, NULL);
	pthread_cond_init(&ns->del_work, NULL);
	pthread_cond_init(&ns->del_done, NULL);
	cache_set_upload_gate(x->cache, upload_gate, ns);
	return ns;
}

void
ns_destroy(struct ns **nsp)
{
	struct ns *ns = *nsp;

	if (!ns)
		return;
	ns_stop(ns);
	cache_set_upload_gate(ns->x->cache, NULL, NULL);
	for (struct ns_deletion *d = ns->del_head, *n; d; d = n) {
		n = d->next;
		delete_range(ns->x->st, d->path, d->from, d->end);
		free(d->path);
		free(d);
	}
	for (size_t i = 0; i < NS_BUCKETS; i++) {
		for (struct vol *v = ns->vols[i], *n; v; v = n) {
			n = v->ns_next;
			vol_free(ns, v);
		}
		for (struct nsent *e = ns->ents[i], *n; e; e = n) {
			n = e->next;
			free(e->path);
			free(e);
		}
	}
	pthread_cond_destroy(&ns->del_work);
	pthread_cond_destroy(&ns->del_done);
	pthread_mutex_destroy(&ns->lock);
	free(ns);
	*nsp = NULL;
}
