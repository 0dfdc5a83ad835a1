/*
 * notify.c - sd_notify(3) over $NOTIFY_SOCKET, and the readiness thread.
 *
 * The protocol is small enough to speak directly (no libsystemd): connect
 * nothing, send one SOCK_DGRAM datagram with newline-separated assignments
 * to the socket whose address is in $NOTIFY_SOCKET.  An address starting
 * with '@' is in the abstract namespace (sun_path[0] = '\0', no trailing
 * NUL counted in the length).  systemd authenticates the sender by its
 * credentials, so with NotifyAccess=main (the default) the datagram must
 * come from the main process: the daemon runs in the foreground (-f).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "notify.h"
#include "util.h"

#define NOTIFY_MAX_MSG 4096

int
notify_send(const char *state)
{
	const char *addr = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t alen;
	int fd, rc = 1;

	if (!addr || !addr[0])
		return 0;
	alen = strlen(addr);
	if ((addr[0] != '/' && addr[0] != '@') || alen < 2 || alen >= sizeof(sa.sun_path))
		return -EAFNOSUPPORT; /* vsock: and other forms are for VMs */
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, addr, alen);
	if (addr[0] == '@') {
		sa.sun_path[0] = '\0';
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen);
	} else {
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen + 1);
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
notify_sendf(const char *fmt, ...)
{
	char buf[NOTIFY_MAX_MSG];
	va_list ap;

	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return notify_send(buf);
}

struct notify_ready {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC (util_cond_init) */
	int stop;
	int sent;
	char *mountpoint;
	char *source;
};

/* Does the mount answer?  Only a served s3blockfs mount has this attribute
 * on its root: before the mount exists, or after it is gone, the path is
 * the plain directory beneath, which has not. */
static int
mount_answers(const char *mp)
{
	char buf[64];

	return lgetxattr(mp, FS_XATTR_BLOCK_SIZE, buf, sizeof(buf)) >= 0;
}

static void *
ready_thread(void *arg)
{
	struct notify_ready *r = arg;
	uint64_t pause_ms = 10, t0 = util_now_ms();
	int answered;

	for (;;) {
		/* "/dev/fd/N": mount.fuse3 passed an opened /dev/fuse and there is
		 * no path to ask; the loop is about to run, which is all we know. */
		answered = strncmp(r->mountpoint, "/dev/fd/", 8) == 0 || mount_answers(r->mountpoint);
		CHECK_PTHREAD(pthread_mutex_lock(&r->mu));
		if (answered && !r->stop) {
			int rc = notify_sendf("READY=1\nSTATUS=mounted %s on %s", r->source,
					      r->mountpoint);
			if (rc < 0) {
				char eb[128];
				s3bfs_log(LOG_WARNING, "cannot tell systemd the mount is ready: %s",
					  util_strerror(-rc, eb, sizeof(eb)));
			} else {
				s3bfs_log(LOG_DEBUG, "ready after %llu ms: told systemd",
					  (unsigned long long)(util_now_ms() - t0));
			}
			r->sent = 1;
		}
		if (answered || r->stop) {
			CHECK_PTHREAD(pthread_mutex_unlock(&r->mu));
			break;
		}
		struct timespec ts;
		util_deadline(&ts, pause_ms);
		int wrc = pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		if (wrc != 0 && wrc != ETIMEDOUT)
			util_pthread_fail("pthread_cond_timedwait", wrc, __FILE__, __LINE__);
		CHECK_PTHREAD(pthread_mutex_unlock(&r->mu));
		pause_ms = UTIL_MIN(pause_ms * 2, 200);
	}
	return NULL;
}

static void
ready_free(struct notify_ready *r)
{
	CHECK_PTHREAD(pthread_cond_destroy(&r->cv));
	CHECK_PTHREAD(pthread_mutex_destroy(&r->mu));
	free(r->mountpoint);
	free(r->source);
	free(r);
}

int
notify_ready_start(struct notify_ready **rp, const char *mountpoint, const char *source)
{
	struct notify_ready *r;
	int rc;

	*rp = NULL;
	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	CHECK_PTHREAD(pthread_mutex_init(&r->mu, NULL));
	if ((rc = util_cond_init(&r->cv)) < 0) {
		CHECK_PTHREAD(pthread_mutex_destroy(&r->mu));
		free(r);
		return rc;
	}
	r->mountpoint = strdup(mountpoint);
	r->source = strdup(source ? source : "");
	if (!r->mountpoint || !r->source) {
		ready_free(r);
		return -ENOMEM;
	}
	if ((rc = pthread_create(&r->tid, NULL, ready_thread, r)) != 0) {
		ready_free(r);
		return -rc;
	}
	*rp = r;
	return 0;
}

void
notify_ready_stop(struct notify_ready **rp)
{
	struct notify_ready *r = *rp;

	if (!r)
		return;
	CHECK_PTHREAD(pthread_mutex_lock(&r->mu));
	r->stop = 1;
	CHECK_PTHREAD(pthread_cond_signal(&r->cv));
	CHECK_PTHREAD(pthread_mutex_unlock(&r->mu));
	CHECK_PTHREAD(pthread_join(r->tid, NULL));
	ready_free(r);
	*rp = NULL;
}

int
notify_ready_sent(struct notify_ready *r)
{
	int sent;

	if (!r)
		return 0;
	CHECK_PTHREAD(pthread_mutex_lock(&r->mu));
	sent = r->sent;
	CHECK_PTHREAD(pthread_mutex_unlock(&r->mu));
	return sent;
}
