/*
 * main.c - s3blockfs: argv -> configuration -> store stack -> FUSE loop ->
 * ordered teardown.
 *
 * Everything that can fail for a reason the user can fix (options, SOURCE,
 * MOUNTPOINT, the backend being unreachable, refusing the credentials, ...)
 * is checked before the daemon detaches, so that it fails with one clear
 * line and a non-zero exit.  After the FUSE loop ends (unmount, SIGTERM,
 * SIGINT) every dirty block is flushed before the process exits; if that
 * fails the blocks are saved locally and the exit status is 1.
 *
 * Exit status: 0 success, 1 runtime or mount failure (the store refused,
 * unreachable, data saved for recovery), 2 usage error.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse.h>
#include <fuse_lowlevel.h>

#include "conf.h"
#include "fs.h"
#include "log.h"
#include "notify.h"
#include "s3.h"
#include "stack.h"
#include "tools.h"
#include "util.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

static int
check_mountpoint(const char *mp)
{
	struct stat sb;
	char eb[128];

	/* A FUSE mount whose daemon died answers ENOTCONN: detach it, so that
	 * a restart (systemd's Restart=on-failure) can mount again.  statfs,
	 * not stat: the kernel may still answer stat from its cache. */
	struct statfs sf;
	if (statfs(mp, &sf) < 0 && errno == ENOTCONN && umount2(mp, MNT_DETACH) == 0)
		fprintf(stderr, "s3blockfs: %s was a dead FUSE mount (its daemon had exited); "
				"detached it\n", mp);
	if (stat(mp, &sb) < 0) {
		fprintf(stderr, "s3blockfs: mountpoint %s: %s\n", mp,
			util_strerror(errno, eb, sizeof(eb)));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "s3blockfs: mountpoint %s is not a directory\n", mp);
		return -1;
	}
	return 0;
}

/* Adds "-o name=value" with value escaped for fuse_opt's comma splitting. */
static int
add_opt(struct fuse_args *args, const char *name, const char *value)
{
	char *opts = NULL;
	char buf[4200];
	int rc;

	snprintf(buf, sizeof(buf), "%s=", name);
	if (fuse_opt_add_opt(&opts, "") < 0)
		return -1;
	free(opts);
	opts = NULL;
	rc = fuse_opt_add_opt_escaped(&opts, value);
	if (rc == 0) {
		char full[8400];
		snprintf(full, sizeof(full), "-o%s%s", buf, opts);
		rc = fuse_opt_add_arg(args, full);
	}
	free(opts);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = {0};
	struct fuse_operations ops;
	struct conf conf;
	struct s3_conf *s3conf = NULL;
	struct s3bfs fs;
	struct fuse *fuse = NULL;
	struct notify_ready *ready = NULL;
	char msg[1024];
	int status = 1, rc;

	if (argc > 1 && tools_is_command(argv[1]))
		return tools_main(argc - 1, argv + 1);
	conf_init(&conf);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "s3blockfs: cannot initialise libcurl\n");
		return 1;
	}
	if (!(s3conf = s3_conf_create())) {
		fprintf(stderr, "s3blockfs: out of memory\n");
		goto out_conf;
	}
	if (conf_parse(&conf, &args) < 0 || s3_conf_parse(s3conf, &args) < 0) {
		status = 2;
		goto out_conf;
	}
	if (fuse_parse_cmdline(&args, &opts) != 0) {
		status = 2;
		goto out_conf;
	}
	if (opts.show_help) {
		conf_help(stdout);
		printf("\nS3 options:\n");
		s3_conf_help(stdout);
		printf("\nFUSE options:\n"
		       "    -f                     stay in the foreground (log to stderr)\n"
		       "    -d                     debug: foreground, every FUSE request logged\n"
		       "    -s                     one thread\n"
		       "    -o allow_other         let other users in (needs user_allow_other)\n");
		fuse_lib_help(&args);
		status = 0;
		goto out_conf;
	}
	if (opts.show_version) {
		printf("s3blockfs %s\nlibfuse %s\n%s\n", PACKAGE_VERSION, fuse_pkgversion(),
		       curl_version());
		status = 0;
		goto out_conf;
	}
	if (!conf.source || !opts.mountpoint) {
		fprintf(stderr, "s3blockfs: missing %s (usage: s3blockfs [options] SOURCE "
				"MOUNTPOINT; see --help)\n",
			conf.source ? "MOUNTPOINT" : "SOURCE and MOUNTPOINT");
		status = 2;
		goto out_conf;
	}
	if (check_mountpoint(opts.mountpoint) < 0) {
		status = 2;
		goto out_conf;
	}
	log_set_level(opts.debug ? LOG_DEBUG : conf.log_level);
	log_hook_fuse();
	log_detect_journal();

	/* Options first: libfuse rejects unknown ones in fuse_new(), and that
	 * is a usage error to report before touching the network. */
	if (add_opt(&args, "subtype", "s3blockfs") < 0 || add_opt(&args, "fsname", conf.source) < 0 ||
	    fuse_opt_add_arg(&args, "-odefault_permissions") < 0) {
		fprintf(stderr, "s3blockfs: out of memory\n");
		goto out_conf;
	}
	fs_operations(&ops, conf.test_refuse_locks);
	memset(&fs, 0, sizeof(fs));
	fuse = fuse_new(&args, &ops, sizeof(ops), &fs);
	if (!fuse) {
		status = 2; /* libfuse said why: an unknown option, mostly */
		goto out_conf;
	}

	notify_sendf("STATUS=checking %s", conf.source);
	/* While checking, only problems are worth a line on the terminal. */
	if (!opts.debug)
		log_set_level(UTIL_MIN(conf.log_level, LOG_NOTICE));
	rc = stack_create(&fs, &conf, s3conf, msg, sizeof(msg));
	log_set_level(opts.debug ? LOG_DEBUG : conf.log_level);
	if (rc < 0) {
		fprintf(stderr, "s3blockfs: %s\n", msg);
		goto out_fuse;
	}
	if (fuse_mount(fuse, opts.mountpoint) != 0)
		goto out_fuse;
	struct fuse_session *se = fuse_get_session(fuse);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_unmount;
	/* The daemon writes back dirty pages for the kernel: let it allocate
	 * under memory pressure without recursing into itself. */
	(void)prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0);
	if (!opts.foreground)
		log_to_syslog();
	if (fuse_daemonize(opts.foreground) != 0)
		goto out_signals;
	/* READY=1 once the mount answers through the kernel (notify.h). */
	if ((rc = notify_ready_start(&ready, opts.mountpoint, conf.source)) < 0)
		s3bfs_log(LOG_WARNING, "cannot start the readiness notification: %s",
			  util_strerror(-rc, msg, sizeof(msg)));

	if (opts.singlethread) {
		rc = fuse_loop(fuse);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		if (!lc) {
			rc = -ENOMEM;
		} else {
			fuse_loop_cfg_set_clone_fd(lc, opts.clone_fd);
			fuse_loop_cfg_set_max_threads(lc, opts.max_threads && opts.max_threads <= 1000 ? opts.max_threads : 16);
			if (opts.max_idle_threads != UINT_MAX)
				fuse_loop_cfg_set_idle_threads(lc, opts.max_idle_threads);
			rc = fuse_loop_mt(fuse, lc);
			fuse_loop_cfg_destroy(lc);
		}
	}
	if (rc < 0)
		s3bfs_log(LOG_ERR, "the FUSE loop failed: %d", rc);

	/* Nothing is served any more: make every byte written so far durable. */
	notify_send("STOPPING=1\nSTATUS=stopping: storing every written block");
	if (stack_flush_all(&fs, msg, sizeof(msg)) < 0) {
		s3bfs_log(LOG_ERR, "%s", msg);
		notify_sendf("STATUS=%s", msg);
		status = 1;
	} else {
		s3bfs_log(LOG_INFO, "unmounted %s: all data stored", conf.source);
		notify_send("STATUS=stopped: all data stored");
		status = rc < 0 ? 1 : 0;
	}
out_signals:
	fuse_remove_signal_handlers(se);
out_unmount:
	fuse_unmount(fuse);
	notify_ready_stop(&ready);
out_fuse:
	fuse_destroy(fuse);
	if (fs.ns)
		fs_release_all(&fs);
	stack_destroy(&fs);
out_conf:
	s3_conf_destroy(&s3conf);
	conf_free(&conf);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	curl_global_cleanup();
	return status;
}
