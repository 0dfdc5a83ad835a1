/*
 * util.h - small helpers shared by every module: checked number parsing,
 * monotonic time, hex, errno text, key building.
 */
#ifndef S3BFS_UTIL_H
#define S3BFS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Parses a whole unsigned decimal number; -EINVAL on anything else
 * (empty, sign, junk after the digits), -ERANGE on overflow. */
int util_parse_u64(const char *s, uint64_t *out);
/* Like util_parse_u64 but accepts a binary suffix: K, M, G, T (x1024^n),
 * optionally followed by "i" and/or "B" ("64M", "64MiB", "1g"). */
int util_parse_size(const char *s, uint64_t *out);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t util_now_ms(void);
/* An absolute CLOCK_MONOTONIC deadline ms from now, for pthread_cond_timedwait
 * on condition variables created with util_cond_init(). */
void util_deadline(struct timespec *ts, uint64_t ms);
int util_cond_init(void *cond); /* pthread_cond_t *, with CLOCK_MONOTONIC */

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);

/* strerror_r that always returns the text (thread-safe). */
const char *util_strerror(int errnum, char *buf, size_t bufsz);

/* Block key of block blk of volume prefix: "<prefix>/%010llu" into buf;
 * returns -ENAMETOOLONG if it does not fit. */
int util_block_key(char *buf, size_t bufsz, const char *prefix, uint64_t blk);
/* Parses the last path element of a block key ("0000000012" -> 12);
 * -EINVAL unless it is exactly 10 or more decimal digits. */
int util_parse_block_name(const char *name, uint64_t *blk);

/* Random 64-bit number for jitter (not for secrets). */
uint64_t util_rand64(void);

#define UTIL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define UTIL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Checks a pthread call's return even with NDEBUG (never inside assert). */
#define CHECK_PTHREAD(call)                                                                        \
	do {                                                                                       \
		int check_rc_ = (call);                                                            \
		if (check_rc_ != 0)                                                                \
			util_pthread_fail(#call, check_rc_, __FILE__, __LINE__);                   \
	} while (0)
void util_pthread_fail(const char *what, int rc, const char *file, int line)
	__attribute__((noreturn));

#endif
