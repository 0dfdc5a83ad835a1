/*
 * retry.h - a store layer that repeats calls which failed for a transient
 * reason, with exponential backoff and full jitter, within a total budget
 * of pauses (the model is the retry loop of s3backer's http_io.c).
 *
 * Transient (retried): -EIO (5xx, connection reset or refused, truncated
 * reply: the S3 layer returns -EIO only for those), -ETIMEDOUT, -EAGAIN
 * (503 SlowDown).  Everything else is returned at once: -ENOENT, -EACCES,
 * -EPERM, -EINVAL, -ESTALE, -ELOOP, -ENXIO, -EPROTO, ...
 *
 * Pause n (n = 0 for the first retry) is uniform in [0, min(cap, base*2^n)]
 * ms; the pauses of one call add up to at most budget_ms (the time spent
 * inside the attempts themselves is bounded by the lower layer's
 * per-request timeout, not by this budget).  A listing that fails half-way
 * resumes after the last entry already handed to the callback, so the
 * callback never sees an entry twice; a callback that stops or fails is
 * never retried.  Retries are counted in the stats (retries), to which the
 * lower layer's counters are added.
 */
#ifndef S3BFS_RETRY_H
#define S3BFS_RETRY_H

#include <stdint.h>

#include "store.h"

#define RETRY_BASE_MS      200
#define RETRY_CAP_MS       5000
#define RETRY_BUDGET_MS    30000
/* A hard stop besides the budget, should every jittered pause be ~0. */
#define RETRY_MAX_ATTEMPTS 64

/* Wraps lower; the new layer owns it (its destroy destroys lower).  NULL
 * and errno ENOMEM on failure, lower then still belongs to the caller.
 * base_ms 0 or cap_ms 0 mean the defaults above. */
struct store *retry_store_create(struct store *lower, uint64_t budget_ms, uint64_t base_ms,
                                 uint64_t cap_ms);

/* The retry decision: 1 if a call that returned rc may succeed if
 * repeated, 0 if not (rc 0 included).  Pure. */
int retry_is_transient(int rc);

/* Pause before retry n (0-based): rnd scaled into [0, min(cap_ms,
 * base_ms * 2^n)].  Pure (rnd is the caller's random number). */
uint64_t retry_backoff_ms(unsigned n, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd);

#endif
