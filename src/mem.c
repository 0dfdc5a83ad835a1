/*
 * mem.c - in-memory store for tests: a sorted array of objects under one
 * mutex, optional per-call delay, and a fault script (the next N calls of
 * some kinds fail with a given errno).  It follows S3's semantics where the
 * interface leaves room (listing order, common prefixes, start_after).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "util.h"

struct mem_obj {
	char *key;
	void *data;
	size_t len;
	time_t mtime;
};

struct mem_private {
	pthread_mutex_t lock;
	struct mem_obj *objs; /* sorted by key; protected by lock */
	size_t n, cap;
	unsigned fail_mask, fail_count; /* fault script; protected by lock */
	int fail_err;
	unsigned delay_ms;
	unsigned inflight, inflight_max;
	struct store_stats stats;
};

/* Binary search: index of key, or of where it would go (*found = 0). */
static size_t
mem_find(struct mem_private *p, const char *key, int *found)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(p->objs[mid].key, key);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/* Entered at the start of each call: counts, delays, and applies faults. */
static int
mem_enter(struct mem_private *p, unsigned op)
{
	int rc = 0;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	if (++p->inflight > p->inflight_max)
		p->inflight_max = p->inflight;
	unsigned delay = p->delay_ms;
	if (p->fail_mask & op) {
		rc = p->fail_err;
		if (p->fail_count > 0 && --p->fail_count == 0)
			p->fail_mask = 0;
		p->stats.errors++;
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	if (delay)
		usleep(delay * 1000);
	return rc;
}

static void
mem_leave(struct mem_private *p)
{
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->inflight--;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

static int
mem_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got)
{
	struct mem_private *p = st->priv;
	int found, rc;

	if ((rc = mem_enter(p, MEM_GET)) < 0)
		goto out;
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->stats.gets++;
	size_t i = mem_find(p, key, &found);
	if (!found) {
		rc = -ENOENT;
	} else {
		struct mem_obj *o = &p->objs[i];
		size_t n = off >= o->len ? 0 : UTIL_MIN(len, o->len - (size_t)off);
		if (n)
			memcpy(buf, (char *)o->data + off, n);
		*got = n;
		p->stats.bytes_down += n;
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
out:
	mem_leave(p);
	return rc;
}

static int
mem_put(struct store *st, const char *key, const void *buf, size_t len)
{
	struct mem_private *p = st->priv;
	int found, rc;

	if ((rc = mem_enter(p, MEM_PUT)) < 0)
		goto out;
	void *copy = malloc(len ? len : 1);
	if (!copy) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(copy, buf, len);
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->stats.puts++;
	p->stats.bytes_up += len;
	size_t i = mem_find(p, key, &found);
	if (found) {
		free(p->objs[i].data);
	} else {
		if (p->n == p->cap) {
			size_t ncap = p->cap ? 2 * p->cap : 64;
			struct mem_obj *no = realloc(p->objs, ncap * sizeof(*no));
			if (!no) {
				CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
				free(copy);
				rc = -ENOMEM;
				goto out;
			}
			p->objs = no;
			p->cap = ncap;
		}
		char *k = strdup(key);
		if (!k) {
			CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
			free(copy);
			rc = -ENOMEM;
			goto out;
		}
		memmove(&p->objs[i + 1], &p->objs[i], (p->n - i) * sizeof(p->objs[0]));
		p->n++;
		p->objs[i].key = k;
	}
	p->objs[i].data = copy;
	p->objs[i].len = len;
	p->objs[i].mtime = time(NULL);
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
out:
	mem_leave(p);
	return rc;
}

static int
mem_head(struct store *st, const char *key, uint64_t *size, time_t *mtime)
{
	struct mem_private *p = st->priv;
	int found, rc;

	if ((rc = mem_enter(p, MEM_HEAD)) < 0)
		goto out;
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->stats.heads++;
	size_t i = mem_find(p, key, &found);
	if (!found) {
		rc = -ENOENT;
	} else {
		*size = p->objs[i].len;
		if (mtime)
			*mtime = p->objs[i].mtime;
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
out:
	mem_leave(p);
	return rc;
}

static int
mem_del(struct store *st, const char *const *keys, size_t n)
{
	struct mem_private *p = st->priv;
	int found, rc;

	if ((rc = mem_enter(p, MEM_DEL)) < 0)
		goto out;
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->stats.deletes++;
	for (size_t k = 0; k < n; k++) {
		size_t i = mem_find(p, keys[k], &found);
		if (!found)
			continue;
		free(p->objs[i].key);
		free(p->objs[i].data);
		memmove(&p->objs[i], &p->objs[i + 1], (p->n - i - 1) * sizeof(p->objs[0]));
		p->n--;
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
out:
	mem_leave(p);
	return rc;
}

static int
mem_list(struct store *st, const char *prefix, const char *delimiter, const char *start_after,
	 size_t max_keys, store_list_cb cb, void *arg)
{
	struct mem_private *p = st->priv;
	size_t plen = strlen(prefix), count = 0;
	int found, rc;
	char *last_prefix = NULL;

	if ((rc = mem_enter(p, MEM_LIST)) < 0)
		goto out;
	/* Calls back without the lock: copy what is listed first. */
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->stats.lists++;
	size_t i = mem_find(p, start_after && strcmp(start_after, prefix) > 0 ? start_after : prefix,
			    &found);
	size_t nent = 0, cap = 0;
	struct mem_ent {
		struct store_entry e;
		char *owned;
	} *ents = NULL;
	for (; i < p->n && (max_keys == 0 || nent < max_keys); i++) {
		const char *k = p->objs[i].key;
		if (strncmp(k, prefix, plen) != 0)
			break;
		if (start_after && strcmp(k, start_after) <= 0)
			continue;
		const char *d = delimiter ? strstr(k + plen, delimiter) : NULL;
		char *name;
		if (d) {
			size_t l = (size_t)(d - k) + strlen(delimiter);
			if (last_prefix && strlen(last_prefix) == l && strncmp(last_prefix, k, l) == 0)
				continue;
			if (start_after && strncmp(start_after, k, l) == 0 && strlen(start_after) >= l)
				continue; /* S3 skips a prefix that start_after is inside */
			name = strndup(k, l);
		} else {
			name = strdup(k);
		}
		if (!name) {
			rc = -ENOMEM;
			break;
		}
		if (nent == cap) {
			cap = cap ? 2 * cap : 16;
			struct mem_ent *ne = realloc(ents, cap * sizeof(*ne));
			if (!ne) {
				free(name);
				rc = -ENOMEM;
				break;
			}
			ents = ne;
		}
		ents[nent].e.key = ents[nent].owned = name;
		ents[nent].e.is_prefix = d != NULL;
		ents[nent].e.size = d ? 0 : p->objs[i].len;
		ents[nent].e.mtime = d ? 0 : p->objs[i].mtime;
		if (d)
			last_prefix = name;
		nent++;
	}
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	for (size_t j = 0; rc == 0 && j < nent; j++) {
		int r = cb(arg, &ents[j].e);
		if (r < 0)
			rc = r;
		if (r != 0)
			break;
		count++;
	}
	for (size_t j = 0; j < nent; j++)
		free(ents[j].owned);
	free(ents);
out:
	mem_leave(p);
	return rc;
}

static void
mem_get_stats(struct store *st, struct store_stats *out)
{
	struct mem_private *p = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	store_stats_add(out, &p->stats);
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

static int
mem_probe(struct store *st, char *msg, size_t msgsz)
{
	return 0;
}

static void
mem_destroy(struct store *st)
{
	struct mem_private *p = st->priv;

	for (size_t i = 0; i < p->n; i++) {
		free(p->objs[i].key);
		free(p->objs[i].data);
	}
	free(p->objs);
	pthread_mutex_destroy(&p->lock);
	free(p);
	free(st);
}

static const struct store_ops mem_ops = {
	.name = "mem",
	.get = mem_get,
	.put = mem_put,
	.head = mem_head,
	.del = mem_del,
	.list = mem_list,
	.probe = mem_probe,
	.get_stats = mem_get_stats,
	.destroy = mem_destroy,
};

struct store *
mem_store_create(void)
{
	struct store *st = calloc(1, sizeof(*st));
	struct mem_private *p = calloc(1, sizeof(*p));

	if (!st || !p) {
		free(st);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	st->ops = &mem_ops;
	st->priv = p;
	return st;
}

void
mem_store_fail(struct store *st, unsigned mask, int err, unsigned count)
{
	struct mem_private *p = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->fail_mask = mask;
	p->fail_err = err;
	p->fail_count = count;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

void
mem_store_set_delay(struct store *st, unsigned delay_ms)
{
	struct mem_private *p = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->delay_ms = delay_ms;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

void
mem_store_inflight(struct store *st, unsigned *now, unsigned *max)
{
	struct mem_private *p = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	*now = p->inflight;
	*max = p->inflight_max;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

size_t
mem_store_count(struct store *st)
{
	struct mem_private *p = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	size_t n = p->n;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	return n;
}
