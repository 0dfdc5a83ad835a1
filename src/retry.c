/*
 * retry.c - the retry layer; see retry.h.
 *
 * Every operation is packed into a struct retry_call so that one loop,
 * run(), serves all of them: call the lower layer, stop on success or a
 * permanent error, else pause (full jitter, clipped to what is left of the
 * budget) and go again.  Listings wrap the caller's callback to remember
 * the last entry delivered and how many were, so a retried listing starts
 * after it and skips anything not greater.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "retry.h"
#include "util.h"

struct retry_priv {
	uint64_t budget_ms, base_ms, cap_ms; /* read-only after create */
	pthread_mutex_t lock;
	uint64_t retries; /* protected by lock */
};

enum retry_op { OP_GET, OP_PUT, OP_HEAD, OP_DEL, OP_LIST, OP_COPY, OP_PROBE };

static const char *const op_names[] = {"GET", "PUT", "HEAD", "DELETE", "LIST", "COPY", "PROBE"};

/* Callback wrapper state of a listing. */
struct list_wrap {
	store_list_cb cb;
	void *arg;
	size_t max_keys;  /* 0: no limit */
	size_t delivered; /* entries handed to cb */
	char *last;       /* key of the last one, NULL before the first */
	size_t last_cap;
	int stopped; /* cb returned non-zero (or we did): no retry */
};

struct retry_call {
	enum retry_op op;
	const char *key; /* for logs; src key of a copy, prefix of a list */
	/* get */
	uint64_t off;
	size_t len;
	void *buf;
	size_t *got;
	/* put */
	const void *cbuf;
	/* head */
	uint64_t *size;
	time_t *mtime;
	/* del */
	const char *const *keys;
	size_t n;
	/* list */
	const char *delimiter;
	const char *start_after;
	struct list_wrap *wrap;
	/* copy */
	const char *dst_key;
	/* probe */
	char *msg;
	size_t msgsz;
};

int
retry_is_transient(int rc)
{
	switch (rc) {
	case -EIO:
	case -ETIMEDOUT:
	case -EAGAIN:
		return 1;
	default:
		return 0;
	}
}

uint64_t
retry_backoff_ms(unsigned n, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd)
{
	uint64_t ceil = base_ms;

	/* Double without overflow, stopping at the cap. */
	for (unsigned i = 0; i < n && ceil < cap_ms; i++)
		ceil = ceil > UINT64_MAX / 2 ? UINT64_MAX : ceil * 2;
	if (ceil > cap_ms)
		ceil = cap_ms;
	if (ceil == UINT64_MAX)
		return rnd;
	return rnd % (ceil + 1);
}

static int
wrap_cb(void *arg, const struct store_entry *e)
{
	struct list_wrap *w = arg;
	int rc;

	if (w->last != NULL && strcmp(e->key, w->last) <= 0)
		return 0; /* delivered by an earlier attempt */
	/* Remember the key before calling out: a retry must skip it even if
	 * the callback keeps nothing. */
	size_t n = strlen(e->key) + 1;
	if (n > w->last_cap) {
		char *p = realloc(w->last, n);
		if (p == NULL) {
			w->stopped = 1;
			return -ENOMEM;
		}
		w->last = p;
		w->last_cap = n;
	}
	memcpy(w->last, e->key, n);
	w->delivered++;
	rc = w->cb(w->arg, e);
	if (rc != 0) {
		w->stopped = 1;
		return rc;
	}
	if (w->max_keys != 0 && w->delivered >= w->max_keys) {
		w->stopped = 1;
		return 1;
	}
	return 0;
}

static int
call_lower(struct store *lower, struct retry_call *c)
{
	switch (c->op) {
	case OP_GET:
		return lower->ops->get(lower, c->key, c->off, c->len, c->buf, c->got);
	case OP_PUT:
		return lower->ops->put(lower, c->key, c->cbuf, c->len);
	case OP_HEAD:
		return lower->ops->head(lower, c->key, c->size, c->mtime);
	case OP_DEL:
		return lower->ops->del(lower, c->keys, c->n);
	case OP_LIST: {
		struct list_wrap *w = c->wrap;
		const char *after = c->start_after;
		if (w->last != NULL && (after == NULL || strcmp(w->last, after) > 0))
			after = w->last;
		return lower->ops->list(lower, c->key, c->delimiter, after, w->max_keys, wrap_cb,
		                        w);
	}
	case OP_COPY:
		return lower->ops->copy(lower, c->key, c->dst_key);
	case OP_PROBE:
		return lower->ops->probe(lower, c->msg, c->msgsz);
	}
	return -EINVAL;
}

static void
pause_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
	                      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static int
run(struct store *st, struct retry_call *c)
{
	struct retry_priv *p = st->priv;
	uint64_t slept = 0;
	unsigned attempt;
	int rc = 0;
	char eb[128];

	for (attempt = 0; attempt < RETRY_MAX_ATTEMPTS; attempt++) {
		rc = call_lower(st->lower, c);
		if (rc == 0 || !retry_is_transient(rc))
			return rc;
		if (c->op == OP_LIST && c->wrap->stopped)
			return rc; /* the callback's own error */
		if (slept >= p->budget_ms)
			break;
		uint64_t ms = retry_backoff_ms(attempt, p->base_ms, p->cap_ms, util_rand64());
		if (ms > p->budget_ms - slept)
			ms = p->budget_ms - slept;
		s3bfs_log(LOG_INFO, "retry: %s%s%s%s: %s; attempt %u in %" PRIu64 " ms",
		          op_names[c->op], c->key && c->key[0] ? " " : "", c->key ? c->key : "",
		          c->op == OP_DEL && c->n > 1 ? " ..." : "",
		          util_strerror(-rc, eb, sizeof(eb)), attempt + 2, ms);
		CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
		p->retries++;
		CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
		pause_ms(ms);
		slept += ms;
	}
	s3bfs_log(LOG_ERR,
	          "retry: %s%s%s%s: giving up after %u attempts (%" PRIu64 " ms of pauses): %s",
	          op_names[c->op], c->key && c->key[0] ? " " : "", c->key ? c->key : "",
	          c->op == OP_DEL && c->n > 1 ? " ..." : "",
	          attempt < RETRY_MAX_ATTEMPTS ? attempt + 1 : attempt, slept,
	          util_strerror(-rc, eb, sizeof(eb)));
	return rc;
}

static int
retry_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got)
{
	struct retry_call c = {
	    .op = OP_GET, .key = key, .off = off, .len = len, .buf = buf, .got = got};

	return run(st, &c);
}

static int
retry_put(struct store *st, const char *key, const void *buf, size_t len)
{
	struct retry_call c = {.op = OP_PUT, .key = key, .cbuf = buf, .len = len};

	return run(st, &c);
}

static int
retry_head(struct store *st, const char *key, uint64_t *size, time_t *mtime)
{
	struct retry_call c = {.op = OP_HEAD, .key = key, .size = size, .mtime = mtime};

	return run(st, &c);
}

static int
retry_del(struct store *st, const char *const *keys, size_t n)
{
	struct retry_call c = {.op = OP_DEL, .key = n ? keys[0] : "", .keys = keys, .n = n};

	/* Deleting is idempotent: a retry may repeat a batch that was done. */
	return run(st, &c);
}

static int
retry_list(struct store *st, const char *prefix, const char *delimiter, const char *start_after,
           size_t max_keys, store_list_cb cb, void *arg)
{
	struct list_wrap w = {.cb = cb, .arg = arg, .max_keys = max_keys};
	struct retry_call c = {.op = OP_LIST,
	                       .key = prefix,
	                       .delimiter = delimiter,
	                       .start_after = start_after,
	                       .wrap = &w};
	int rc = run(st, &c);

	free(w.last);
	return rc;
}

static int
retry_copy(struct store *st, const char *src_key, const char *dst_key)
{
	struct retry_call c = {.op = OP_COPY, .key = src_key, .dst_key = dst_key};

	return run(st, &c);
}

static int
retry_probe(struct store *st, char *msg, size_t msgsz)
{
	struct retry_call c = {.op = OP_PROBE, .key = "", .msg = msg, .msgsz = msgsz};

	return run(st, &c);
}

static void
retry_get_stats(struct store *st, struct store_stats *out)
{
	struct retry_priv *p = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	out->retries += p->retries;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	store_get_stats(st->lower, out);
}

static void
retry_destroy(struct store *st)
{
	struct retry_priv *p = st->priv;

	store_destroy(&st->lower);
	pthread_mutex_destroy(&p->lock);
	free(p);
	free(st);
}

static const struct store_ops retry_ops = {
    .name = "retry",
    .get = retry_get,
    .put = retry_put,
    .head = retry_head,
    .del = retry_del,
    .list = retry_list,
    .copy = retry_copy,
    .probe = retry_probe,
    .get_stats = retry_get_stats,
    .destroy = retry_destroy,
};

/* For a lower layer without server-side copy: callers fall back to
 * get + put themselves. */
static const struct store_ops retry_ops_nocopy = {
    .name = "retry",
    .get = retry_get,
    .put = retry_put,
    .head = retry_head,
    .del = retry_del,
    .list = retry_list,
    .copy = NULL,
    .probe = retry_probe,
    .get_stats = retry_get_stats,
    .destroy = retry_destroy,
};

struct store *
retry_store_create(struct store *lower, uint64_t budget_ms, uint64_t base_ms, uint64_t cap_ms)
{
	struct store *st;
	struct retry_priv *p;
	int rc;

	if (lower == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		goto fail0;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto fail1;
	if ((rc = pthread_mutex_init(&p->lock, NULL)) != 0) {
		errno = rc;
		goto fail2;
	}
	p->budget_ms = budget_ms;
	p->base_ms = base_ms ? base_ms : RETRY_BASE_MS;
	p->cap_ms = cap_ms ? cap_ms : RETRY_CAP_MS;
	st->ops = lower->ops->copy ? &retry_ops : &retry_ops_nocopy;
	st->lower = lower;
	st->priv = p;
	return st;

fail2:
	free(p);
fail1:
	free(st);
fail0:
	return NULL;
}
