/*
 * log.h - the one logging entry point.
 *
 * Messages go to stderr while the daemon runs in the foreground (-f, or under
 * systemd, where stderr is the journal) and to syslog once it has detached.
 * Never log a secret: no Authorization header, key, secret or token.
 */
#ifndef S3BFS_LOG_H
#define S3BFS_LOG_H

#include <syslog.h>

void s3bfs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends later messages to syslog (ident "s3blockfs") instead of stderr. */
void log_to_syslog(void);
/* If stderr is systemd's journal stream ($JOURNAL_STREAM), prefixes each
 * stderr line with "<N>" so that the journal records its priority. */
void log_detect_journal(void);
/* Messages above this priority (LOG_DEBUG > LOG_INFO ...) are dropped. */
void log_set_level(int prio);
int log_get_level(void);
/* Parses "err", "warning", "notice", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);
/* Routes libfuse's own messages through s3bfs_log(). */
void log_hook_fuse(void);

#endif
