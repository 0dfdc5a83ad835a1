/*
 * notify.h - the systemd service notification protocol (sd_notify(3))
 * without libsystemd: one datagram of "VAR=value" lines to the AF_UNIX
 * socket named by $NOTIFY_SOCKET (a path, or "@name" for an abstract
 * socket).  With no $NOTIFY_SOCKET every call does nothing, so the daemon
 * behaves the same outside systemd.
 *
 * Readiness: the unit is Type=notify, and READY=1 must mean "the mount
 * answers", not "the daemon started".  notify_ready_start() runs a thread
 * that asks the kernel for the mountpoint's user.s3blockfs.block_size
 * attribute, which only a served s3blockfs mount has, and sends READY=1
 * when that first succeeds: the request went through the kernel, libfuse
 * and our getxattr handler, so the mount is usable.
 */
#ifndef S3BFS_NOTIFY_H
#define S3BFS_NOTIFY_H

/* Sends state (e.g. "STOPPING=1\nSTATUS=flushing") to $NOTIFY_SOCKET.
 * Returns 1 if sent, 0 if there is no $NOTIFY_SOCKET, -errno on failure. */
int notify_send(const char *state);
/* The same with printf formatting (the result is cut at 4 KiB). */
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct notify_ready;

/* Starts the readiness thread for mountpoint (absolute, as from
 * fuse_parse_cmdline) if $NOTIFY_SOCKET is set; *rp stays NULL otherwise.
 * source goes into the STATUS= line.  Start it after fuse_mount() (and
 * after fuse_daemonize(): threads do not survive a fork).  0 or -errno. */
int notify_ready_start(struct notify_ready **rp, const char *mountpoint, const char *source);
/* Tells the thread to give up and joins it.  Call after fuse_unmount(): a
 * getxattr the thread sent while nobody serves the mount any more returns
 * only once the connection is gone.  Safe with *rp == NULL. */
void notify_ready_stop(struct notify_ready **rp);
/* Whether READY=1 was sent (for tests and the log). */
int notify_ready_sent(struct notify_ready *r);

#endif
