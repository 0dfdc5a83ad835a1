/*
 * check_conf.c - unit tests of the command line (src/conf.c): defaults,
 * each -o option, bad numbers (-EINVAL and one line on stderr), fstab words
 * discarded, what is left for libfuse, the SOURCE forms, and -o config=FILE.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

/* ---------------------------------------------------------------- helpers */

struct run {
	struct conf c;
	struct fuse_args args;
	int rc;
	char err[2048]; /* what conf_parse wrote to stderr */
};

/* Runs conf_parse on "s3blockfs" + the NULL-terminated words, capturing
 * stderr. */
static void
parse_words(struct run *r, const char *const *words)
{
	FILE *tmp = tmpfile();
	int saved = dup(2);

	ck_assert_ptr_nonnull(tmp);
	memset(r, 0, sizeof(*r));
	r->args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	ck_assert_int_eq(fuse_opt_add_arg(&r->args, "s3blockfs"), 0);
	for (size_t i = 0; words[i]; i++)
		ck_assert_int_eq(fuse_opt_add_arg(&r->args, words[i]), 0);
	conf_init(&r->c);
	fflush(stderr);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fileno(tmp), 2), 2);
	r->rc = conf_parse(&r->c, &r->args);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(r->err, 1, sizeof(r->err) - 1, tmp);
	r->err[n] = '\0';
	fclose(tmp);
}

#define PARSE(r, ...)                                                                              \
	do {                                                                                       \
		const char *const words_[] = {__VA_ARGS__, NULL};                                  \
		parse_words((r), words_);                                                          \
	} while (0)

static void
run_free(struct run *r)
{
	conf_free(&r->c);
	fuse_opt_free_args(&r->args);
}

/* Is word in what is left for libfuse, as an argument or inside a -o list? */
static int
left_has(const struct run *r, const char *word)
{
	size_t wl = strlen(word);

	for (int i = 1; i < r->args.argc; i++) {
		const char *a = r->args.argv[i];
		if (strcmp(a, word) == 0)
			return 1;
		if (i > 1 && strcmp(r->args.argv[i - 1], "-o") == 0) {
			for (const char *s = a; *s;) {
				const char *e = strchr(s, ',');
				size_t l = e ? (size_t)(e - s) : strlen(s);
				if (l == wl && strncmp(s, word, l) == 0)
					return 1;
				s += l + (e != NULL);
			}
		} else if (strncmp(a, "-o", 2) == 0 && strcmp(a + 2, word) == 0) {
			return 1;
		}
	}
	return 0;
}

/* One error line "s3blockfs: ..." that mentions what. */
static void
expect_error(const struct run *r, const char *what)
{
	ck_assert_msg(r->rc == -EINVAL, "rc %d, expected -EINVAL (stderr: %s)", r->rc, r->err);
	ck_assert_msg(strncmp(r->err, "s3blockfs: ", 11) == 0, "stderr: '%s'", r->err);
	size_t len = strlen(r->err);
	ck_assert_msg(len > 0 && r->err[len - 1] == '\n' && strchr(r->err, '\n') == r->err + len - 1,
		      "not one line: '%s'", r->err);
	if (what)
		ck_assert_msg(strstr(r->err, what) != NULL, "'%s' not in '%s'", what, r->err);
}

/* ---------------------------------------------------------------- tests */

START_TEST(test_defaults)
{
	struct run r;

	PARSE(&r, "my-bucket", "/mnt/db");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.err, "");
	ck_assert_int_eq(r.c.backend, CONF_S3);
	ck_assert_str_eq(r.c.source, "my-bucket");
	ck_assert_str_eq(r.c.bucket, "my-bucket");
	ck_assert_str_eq(r.c.prefix, "");
	ck_assert_uint_eq(r.c.block_size, 4096);
	ck_assert_uint_eq(r.c.cache_size, 64ULL << 20);
	ck_assert_uint_eq(r.c.dirty_limit, 32ULL << 20);
	ck_assert_uint_eq(r.c.connections, 16);
	ck_assert_uint_eq(r.c.writeback_delay_ms, 2000);
	ck_assert_uint_eq(r.c.ttl_ms, 10000);
	ck_assert_uint_eq(r.c.local_max, 256ULL << 20);
	ck_assert_int_eq(r.c.log_level, LOG_INFO);
	ck_assert_int_eq(r.c.read_only, 0);
	ck_assert_int_eq(r.c.local_sync, 1);
	ck_assert_int_eq(r.c.writeback_cache, 0);
	ck_assert_int_eq(r.c.test_refuse_locks, 0);
	ck_assert_ptr_null(r.c.recovery_dir);
	ck_assert_int_eq(r.c.nonopt, 2);
	/* SOURCE is ours; MOUNTPOINT stays for fuse_parse_cmdline. */
	ck_assert_int_eq(r.args.argc, 2);
	ck_assert_str_eq(r.args.argv[1], "/mnt/db");
	run_free(&r);
}
END_TEST

START_TEST(test_each_option)
{
	struct run r;

	PARSE(&r, "-o",
	      "block_size=8K,cache_size=128MiB,dirty_limit=16M,connections=64,writeback_delay=5,"
	      "ttl=0,log_level=debug,shm_max=1G,recovery_dir=/var/rec,no_local_sync,"
	      "writeback_cache,test_refuse_locks",
	      "bucket:pfx", "/mnt");
	ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
	ck_assert_uint_eq(r.c.block_size, 8192);
	ck_assert_uint_eq(r.c.cache_size, 128ULL << 20);
	ck_assert_uint_eq(r.c.dirty_limit, 16ULL << 20);
	ck_assert_uint_eq(r.c.connections, 64);
	ck_assert_uint_eq(r.c.writeback_delay_ms, 5000);
	ck_assert_uint_eq(r.c.ttl_ms, 0);
	ck_assert_int_eq(r.c.log_level, LOG_DEBUG);
	ck_assert_uint_eq(r.c.local_max, 1ULL << 30);
	ck_assert_str_eq(r.c.recovery_dir, "/var/rec");
	ck_assert_int_eq(r.c.local_sync, 0);
	ck_assert_int_eq(r.c.writeback_cache, 1);
	ck_assert_int_eq(r.c.test_refuse_locks, 1);
	/* None of ours is left for libfuse. */
	ck_assert(!left_has(&r, "writeback_cache"));
	ck_assert(!left_has(&r, "block_size=8K"));
	run_free(&r);

	/* Separate -o words, the -oX form, and the last value wins. */
	PARSE(&r, "-o", "block_size=1000", "-oblock_size=4097", "-o", "local_sync", "-o", "ro",
	      "-o", "log_level=warning", "b-1", "/mnt");
	ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
	ck_assert_uint_eq(r.c.block_size, 4097);
	ck_assert_int_eq(r.c.local_sync, 1);
	ck_assert_int_eq(r.c.read_only, 1);
	ck_assert_int_eq(r.c.log_level, LOG_WARNING);
	/* ro is libfuse's too: it stays. */
	ck_assert(left_has(&r, "ro"));
	run_free(&r);

	/* The default dirty limit follows a small cache. */
	PARSE(&r, "-o", "cache_size=4M", "bucket", "/mnt");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.c.dirty_limit, 2ULL << 20);
	run_free(&r);
}
END_TEST

START_TEST(test_bad_numbers)
{
	static const struct {
		const char *opt, *what;
	} bad[] = {
		{"block_size=0", "block_size"},
		{"block_size=abc", "block_size"},
		{"block_size=-1", "block_size"},
		{"block_size=67108865", "block_size"}, /* 64 MiB + 1 */
		{"block_size=4096x", "block_size"},
		{"block_size=", "block_size"},
		{"cache_size=lots", "cache_size"},
		{"cache_size=99999999999999999999999", "cache_size"},
		{"cache_size=512K", "cache_size"}, /* too small */
		{"dirty_limit=0", "dirty_limit"},
		{"dirty_limit=2G", "dirty_limit"}, /* above the cache */
		{"dirty_limit=100", "dirty_limit"}, /* below a block */
		{"connections=0", "connections"},
		{"connections=257", "connections"},
		{"connections=4K", "connections"},
		{"connections=1.5", "connections"},
		{"writeback_delay=86401", "writeback_delay"},
		{"writeback_delay=5s", "writeback_delay"},
		{"ttl=-3", "ttl"},
		{"ttl=1e3", "ttl"},
		{"shm_max=0", "shm_max"},
		{"shm_max=5G", "shm_max"},
		{"log_level=loud", "log_level"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run r;
		PARSE(&r, "-o", bad[i].opt, "bucket", "/mnt");
		expect_error(&r, bad[i].what);
		run_free(&r);
	}
	/* The limits themselves are accepted. */
	struct run r;
	PARSE(&r, "-o", "block_size=64M,cache_size=1G,connections=256,writeback_delay=86400,"
	      "ttl=86400,shm_max=4G,dirty_limit=64M", "bucket", "/mnt");
	ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
	ck_assert_uint_eq(r.c.block_size, 64u << 20);
	ck_assert_uint_eq(r.c.connections, 256);
	run_free(&r);
	PARSE(&r, "-o", "block_size=1,cache_size=1M,dirty_limit=1", "bucket", "/mnt");
	ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
	ck_assert_uint_eq(r.c.block_size, 1);
	run_free(&r);
}
END_TEST

START_TEST(test_fstab_words)
{
	struct run r;

	PARSE(&r, "-o",
	      "_netdev,noauto,nofail,auto,user,users,nouser,defaults,x-systemd.automount,"
	      "x-systemd.requires=network-online.target,x-mount.mkdir,comment=hello,"
	      "allow_other,block_size=4096",
	      "bucket", "/mnt");
	ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
	static const char *const gone[] = {
		"_netdev", "noauto", "nofail", "auto", "user", "users", "nouser", "defaults",
		"x-systemd.automount", "x-systemd.requires=network-online.target",
		"x-mount.mkdir", "comment=hello", "block_size=4096",
	};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		ck_assert_msg(!left_has(&r, gone[i]), "'%s' left for libfuse", gone[i]);
	/* libfuse's own options stay. */
	ck_assert(left_has(&r, "allow_other"));
	ck_assert(left_has(&r, "/mnt"));
	run_free(&r);
}
END_TEST

START_TEST(test_positional)
{
	struct run r;

	PARSE(&r, "bucket", "/mnt", "extra");
	expect_error(&r, "extra");
	run_free(&r);

	PARSE(&r, "-f", "bucket", "-d", "/mnt");
	ck_assert_int_eq(r.rc, 0);
	ck_assert(left_has(&r, "-f"));
	ck_assert(left_has(&r, "-d"));
	ck_assert(left_has(&r, "/mnt"));
	ck_assert(!left_has(&r, "bucket"));
	run_free(&r);

	/* A bad SOURCE is one error line. */
	PARSE(&r, "http://bucket/x", "/mnt");
	expect_error(&r, "SOURCE");
	run_free(&r);
}
END_TEST

struct src_case {
	const char *src;
	int rc;
	enum conf_backend backend;
	const char *bucket, *prefix, *dir;
};

START_TEST(test_sources)
{
	static const struct src_case cases[] = {
		{"my-bucket", 0, CONF_S3, "my-bucket", "", NULL},
		{"my-bucket:team/dbs", 0, CONF_S3, "my-bucket", "team/dbs", NULL},
		{"my-bucket:/team/dbs/", 0, CONF_S3, "my-bucket", "team/dbs", NULL},
		{"my-bucket:team//", 0, CONF_S3, "my-bucket", "team", NULL},
		{"my-bucket://team", -EINVAL, 0, NULL, NULL, NULL}, /* looks like a URL */
		{"my-bucket:", 0, CONF_S3, "my-bucket", "", NULL},
		{"my-bucket:/", 0, CONF_S3, "my-bucket", "", NULL},
		{"s3://my.bucket", 0, CONF_S3, "my.bucket", "", NULL},
		{"s3://my.bucket/", 0, CONF_S3, "my.bucket", "", NULL},
		{"s3://my.bucket/a/b", 0, CONF_S3, "my.bucket", "a/b", NULL},
		{"s3://my.bucket//a/b//", 0, CONF_S3, "my.bucket", "a/b", NULL},
		{"s3://Legacy_Bucket/x", 0, CONF_S3, "Legacy_Bucket", "x", NULL},
		{"abc", 0, CONF_S3, "abc", "", NULL},
		{"file:///var/lib/blocks", 0, CONF_LOCAL, NULL, "", "/var/lib/blocks"},
		{"file:///", 0, CONF_LOCAL, NULL, "", "/"},
		/* Bad ones. */
		{"file://relative/dir", -EINVAL, 0, NULL, NULL, NULL},
		{"file://", -EINVAL, 0, NULL, NULL, NULL},
		{"http://bucket/x", -EINVAL, 0, NULL, NULL, NULL},
		{"gs://bucket", -EINVAL, 0, NULL, NULL, NULL},
		{"s3://", -EINVAL, 0, NULL, NULL, NULL},
		{"s3:///prefix", -EINVAL, 0, NULL, NULL, NULL},
		{"ab", -EINVAL, 0, NULL, NULL, NULL},
		{"", -EINVAL, 0, NULL, NULL, NULL},
		{":prefix", -EINVAL, 0, NULL, NULL, NULL},
		{"bad bucket", -EINVAL, 0, NULL, NULL, NULL},
		{"bad/bucket", -EINVAL, 0, NULL, NULL, NULL},
		{"bucket!", -EINVAL, 0, NULL, NULL, NULL},
		{"a234567890123456789012345678901234567890123456789012345678901234", -EINVAL, 0,
		 NULL, NULL, NULL}, /* 64 characters */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct src_case *t = &cases[i];
		struct conf c;
		char msg[512] = "";
		conf_init(&c);
		int rc = conf_parse_source(&c, t->src, msg, sizeof(msg));
		ck_assert_msg(rc == t->rc, "'%s': rc %d, expected %d (%s)", t->src, rc, t->rc, msg);
		if (rc == 0) {
			ck_assert_msg(c.backend == t->backend, "'%s': backend %d", t->src, c.backend);
			if (t->bucket)
				ck_assert_str_eq(c.bucket, t->bucket);
			else
				ck_assert_ptr_null(c.bucket);
			ck_assert_str_eq(c.prefix, t->prefix);
			if (t->dir)
				ck_assert_str_eq(c.local_dir, t->dir);
			else
				ck_assert_ptr_null(c.local_dir);
		} else {
			ck_assert_msg(msg[0] != '\0' && strchr(msg, '\n') == NULL, "'%s': message '%s'",
				      t->src, msg);
		}
		conf_free(&c);
	}

	/* 63 characters is the longest name. */
	struct conf c;
	char msg[256];
	conf_init(&c);
	ck_assert_int_eq(conf_parse_source(&c, "a23456789012345678901234567890123456789012345678901"
					       "234567890123:p", msg, sizeof(msg)), 0);
	/* Parsing again replaces the earlier answer. */
	ck_assert_int_eq(conf_parse_source(&c, "file:///srv", msg, sizeof(msg)), 0);
	ck_assert_int_eq(c.backend, CONF_LOCAL);
	ck_assert_ptr_null(c.bucket);
	ck_assert_str_eq(c.local_dir, "/srv");
	conf_free(&c);
}
END_TEST

/* Writes text to a temporary file; its path goes into path. */
static void
write_file(char *path, size_t pathsz, const char *text)
{
	snprintf(path, pathsz, "/tmp/check_conf.XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

START_TEST(test_config_file)
{
	char path[64], opt[96];
	struct run r;

	write_file(path, sizeof(path),
		   "# s3blockfs settings\n"
		   "\n"
		   "  block_size = 8192\n"
		   "cache_size=\"32M\"\n"
		   "no_local_sync\n"
		   "allow_other\n"
		   "source = file:///srv/blocks\n"
		   "mountpoint = /mnt/from-file\r\n");
	snprintf(opt, sizeof(opt), "config=%s", path);

	/* The file fills in SOURCE and MOUNTPOINT. */
	PARSE(&r, "-o", opt);
	ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
	ck_assert_int_eq(r.c.backend, CONF_LOCAL);
	ck_assert_str_eq(r.c.local_dir, "/srv/blocks");
	ck_assert_uint_eq(r.c.block_size, 8192);
	ck_assert_uint_eq(r.c.cache_size, 32ULL << 20);
	ck_assert_int_eq(r.c.local_sync, 0);
	ck_assert(left_has(&r, "/mnt/from-file"));
	ck_assert(left_has(&r, "allow_other"));
	ck_assert_str_eq(r.c.config, path);
	run_free(&r);

	/* The command line wins. */
	PARSE(&r, "-o", opt, "-o", "block_size=4096", "bucket:p", "/mnt/cli");
	ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
	ck_assert_uint_eq(r.c.block_size, 4096);
	ck_assert_int_eq(r.c.backend, CONF_S3);
	ck_assert_str_eq(r.c.bucket, "bucket");
	ck_assert(left_has(&r, "/mnt/cli"));
	ck_assert(!left_has(&r, "/mnt/from-file"));
	run_free(&r);
	unlink(path);

	/* A bad line: FILE:LINE in one error line. */
	write_file(path, sizeof(path), "block_size = 4096\n= oops\n");
	snprintf(opt, sizeof(opt), "config=%s", path);
	PARSE(&r, "-o", opt, "bucket", "/mnt");
	expect_error(&r, ":2:");
	run_free(&r);
	unlink(path);

	/* A bad value in the file is reported like one on the command line. */
	write_file(path, sizeof(path), "connections = many\n");
	snprintf(opt, sizeof(opt), "config=%s", path);
	PARSE(&r, "-o", opt, "bucket", "/mnt");
	expect_error(&r, "connections");
	run_free(&r);
	unlink(path);

	/* No such file. */
	PARSE(&r, "-o", "config=/nonexistent/s3blockfs.conf", "bucket", "/mnt");
	expect_error(&r, "/nonexistent/s3blockfs.conf");
	run_free(&r);

	/* $CREDENTIALS_DIRECTORY. */
	write_file(path, sizeof(path), "recovery_dir = $CREDENTIALS_DIRECTORY/rec\n");
	snprintf(opt, sizeof(opt), "config=%s", path);
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x", 1);
	PARSE(&r, "-o", opt, "bucket", "/mnt");
	ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
	ck_assert_str_eq(r.c.recovery_dir, "/run/credentials/x/rec");
	run_free(&r);
	unsetenv("CREDENTIALS_DIRECTORY");
	PARSE(&r, "-o", opt, "bucket", "/mnt");
	expect_error(&r, "CREDENTIALS_DIRECTORY");
	run_free(&r);
	unlink(path);
}
END_TEST

START_TEST(test_help)
{
	FILE *f = tmpfile();
	char buf[8192];

	conf_help(f);
	rewind(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	static const char *const opts[] = {"block_size", "cache_size", "dirty_limit", "connections",
					   "writeback_delay", "ttl", "shm_max", "recovery_dir",
					   "no_local_sync", "log_level", "file:///DIR"};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		ck_assert_msg(strstr(buf, opts[i]) != NULL, "help lacks %s", opts[i]);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_each_option);
	tcase_add_test(tc, test_bad_numbers);
	tcase_add_test(tc, test_fstab_words);
	tcase_add_test(tc, test_positional);
	tcase_add_test(tc, test_sources);
	tcase_add_test(tc, test_config_file);
	tcase_add_test(tc, test_help);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(conf_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
