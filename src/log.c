/*
 * log.c - stderr or syslog sink behind s3bfs_log().
 *
 * The sink and the level are the only process-wide mutable state besides
 * curl_global_init(): every thread logs, and a log call must not need a
 * handle.  They are set before any thread starts and read-only after.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_log.h>

#include "log.h"

static int use_syslog;
static int max_prio = LOG_INFO;

static const char *const prio_names[] = {"emerg", "alert", "crit",   "err",
					 "warning", "notice", "info", "debug"};

void
log_to_syslog(void)
{
	openlog("s3blockfs", LOG_PID, LOG_DAEMON);
	use_syslog = 1;
}

void
log_set_level(int prio)
{
	max_prio = prio;
}

int
log_get_level(void)
{
	return max_prio;
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i < (int)(sizeof(prio_names) / sizeof(prio_names[0])); i++)
		if (strcasecmp(s, prio_names[i]) == 0)
			return i;
	if (strcasecmp(s, "error") == 0)
		return LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_WARNING;
	return -1;
}

static void
vlog(int prio, const char *fmt, va_list ap)
{
	if (prio > max_prio)
		return;
	if (use_syslog) {
		vsyslog(prio, fmt, ap);
		return;
	}
	char buf[2048];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	/* One write(2) per line keeps lines from different threads whole. */
	char line[2200];
	int len = snprintf(line, sizeof(line), "s3blockfs: %s%s%s\n",
			   prio <= LOG_WARNING ? prio_names[prio] : "",
			   prio <= LOG_WARNING ? ": " : "", buf);
	if (len > 0) {
		size_t l = (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1;
		ssize_t w = write(STDERR_FILENO, line, l);
		(void)w;
	}
}

void
s3bfs_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(prio, fmt, ap);
	va_end(ap);
}

static void
fuse_log_sink(enum fuse_log_level level, const char *fmt, va_list ap)
{
	vlog((int)level, fmt, ap);
}

void
log_hook_fuse(void)
{
	fuse_set_log_func(fuse_log_sink);
}
