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
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_log.h>

#include "log.h"
#include "util.h"

static int use_syslog;
static int journal_prefix;
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
log_detect_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;
	char tail;

	/* systemd sets JOURNAL_STREAM=DEV:INODE of the stream it gave us. */
	if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2 ||
	    fstat(STDERR_FILENO, &sb) < 0)
		return;
	journal_prefix = (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino;
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
	char level[8] = "";
	if (journal_prefix)
		snprintf(level, sizeof(level), "<%d>", prio & 7);
	int len = snprintf(line, sizeof(line), "%ss3blockfs: %s%s%s\n", level,
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

/* libfuse builds some messages from several calls ("unknown option(s): `",
 * "-o ", "bogus", "'\n"): collect them up to the newline, per thread, so
 * that they make one line. */
static void
fuse_log_sink(enum fuse_log_level level, const char *fmt, va_list ap)
{
	static __thread char pending[1024];
	static __thread size_t used;

	int n = vsnprintf(pending + used, sizeof(pending) - used, fmt, ap);
	if (n > 0)
		used = UTIL_MIN(used + (size_t)n, sizeof(pending) - 1);
	if (used > 0 && pending[used - 1] != '\n' && used < sizeof(pending) - 1)
		return;
	while (used > 0 && pending[used - 1] == '\n')
		pending[--used] = '\0';
	s3bfs_log((int)level, "%s", pending);
	used = 0;
	pending[0] = '\0';
}

void
log_hook_fuse(void)
{
	fuse_set_log_func(fuse_log_sink);
}
