/*
 * util.c - see util.h.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "util.h"

int
util_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
util_parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = 0;
	unsigned shift = 0;

	if (s == NULL)
		return -EINVAL;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0 || n >= sizeof(num))
		return n == 0 ? -EINVAL : -ERANGE;
	memcpy(num, s, n);
	num[n] = '\0';
	const char *suf = s + n;
	switch (*suf) {
	case '\0':
		break;
	case 'k': case 'K': shift = 10; suf++; break;
	case 'm': case 'M': shift = 20; suf++; break;
	case 'g': case 'G': shift = 30; suf++; break;
	case 't': case 'T': shift = 40; suf++; break;
	case 'b': case 'B': break;
	default: return -EINVAL;
	}
	if (shift && (*suf == 'i' || *suf == 'I'))
		suf++;
	if (*suf == 'b' || *suf == 'B')
		suf++;
	if (*suf != '\0')
		return -EINVAL;
	uint64_t v;
	int rc = util_parse_u64(num, &v);
	if (rc < 0)
		return rc;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

uint64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
util_deadline(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int
util_cond_init(void *cond)
{
	pthread_condattr_t attr;
	int rc;

	if ((rc = pthread_condattr_init(&attr)) != 0)
		return -rc;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init((pthread_cond_t *)cond, &attr);
	pthread_condattr_destroy(&attr);
	return -rc;
}

void
util_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

const char *
util_strerror(int errnum, char *buf, size_t bufsz)
{
	/* GNU strerror_r may return a static string instead of filling buf. */
	return strerror_r(errnum, buf, bufsz);
}

int
util_block_key(char *buf, size_t bufsz, const char *prefix, uint64_t blk)
{
	int n = snprintf(buf, bufsz, "%s/%010" PRIu64, prefix, blk);

	if (n < 0 || (size_t)n >= bufsz)
		return -ENAMETOOLONG;
	return 0;
}

int
util_parse_block_name(const char *name, uint64_t *blk)
{
	size_t l = strlen(name);

	/* Canonical names only: exactly 10 digits, or more without a leading
	 * zero (block numbers of 10^10 and up). */
	if (l < 10 || (l > 10 && name[0] == '0'))
		return -EINVAL;
	return util_parse_u64(name, blk);
}

uint64_t
util_rand64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = util_now_ms() * 6364136223846793005ULL + 1442695040888963407ULL;
	return v;
}

void
util_pthread_fail(const char *what, int rc, const char *file, int line)
{
	char eb[128];

	s3bfs_log(LOG_CRIT, "%s:%d: %s failed: %s", file, line, what,
		  util_strerror(rc, eb, sizeof(eb)));
	abort();
}
