/*
 * check_tools.c - unit tests of the operations code: VOLUME parsing, the
 * -o config=FILE expansion, the sd_notify sender (path and abstract
 * sockets), the layout scan, import/export round trips and fsck repairs on
 * the in-memory store (with injected faults), and the statistics formats.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "mem.h"
#include "notify.h"
#include "s3.h"
#include "store.h"
#include "tools_int.h"
#include "util.h"

static char tmpdir[64];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_tools.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *
read_file(const char *path, size_t *len)
{
	struct stat sb;
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	char *buf = malloc((size_t)sb.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)sb.st_size), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

static void
put_obj(struct store *st, const char *key, size_t len, char fill)
{
	char *buf = malloc(len ? len : 1);
	memset(buf, fill, len);
	ck_assert_int_eq(store_put(st, key, buf, len), 0);
	free(buf);
}

static int
obj_exists(struct store *st, const char *key)
{
	uint64_t size;
	return store_head(st, key, &size, NULL) == 0;
}

/* ------------------------------------------------------------- VOLUME */

START_TEST(test_parse_volume)
{
	struct conf c;
	char *vol, msg[512];

	conf_init(&c);
	ck_assert_int_eq(tools_parse_volume(&c, "my-bucket:team/dbs/app.db", &vol, msg, sizeof(msg)), 0);
	ck_assert_int_eq(c.backend, CONF_S3);
	ck_assert_str_eq(c.bucket, "my-bucket");
	ck_assert_str_eq(c.prefix, "team/dbs");
	ck_assert_str_eq(vol, "app.db");
	free(vol);
	ck_assert_int_eq(tools_parse_volume(&c, "s3://my-bucket/app.db/", &vol, msg, sizeof(msg)), 0);
	ck_assert_str_eq(c.prefix, "");
	ck_assert_str_eq(vol, "app.db");
	free(vol);
	ck_assert_int_eq(tools_parse_volume(&c, "file:///srv/blocks:team/app.db", &vol, msg,
					    sizeof(msg)), 0);
	ck_assert_int_eq(c.backend, CONF_LOCAL);
	ck_assert_str_eq(c.local_dir, "/srv/blocks");
	ck_assert_str_eq(vol, "team/app.db");
	free(vol);
	ck_assert_int_eq(tools_parse_volume(&c, "file:///srv/blocks/app.db", &vol, msg, sizeof(msg)), 0);
	ck_assert_str_eq(c.local_dir, "/srv/blocks");
	ck_assert_str_eq(vol, "app.db");
	free(vol);

	ck_assert_int_eq(tools_parse_volume(&c, "my-bucket", &vol, msg, sizeof(msg)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "names a bucket"));
	ck_assert_int_eq(tools_parse_volume(&c, "b:x", &vol, msg, sizeof(msg)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "bad VOLUME"));
	ck_assert_int_eq(tools_parse_volume(&c, "file://rel:x", &vol, msg, sizeof(msg)), -EINVAL);
	ck_assert_int_eq(tools_parse_volume(&c, "file:///srv:a/../b", &vol, msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_int_eq(tools_parse_volume(&c, "bucket:.s3blockfs", &vol, msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_int_eq(tools_parse_volume(&c, "http://x/y", &vol, msg, sizeof(msg)), -EINVAL);
	conf_free(&c);
}
END_TEST

/* ------------------------------------------------------- config files */

static int
parse_with(const char *text, const char *const *argv_in, int argc_in, struct conf *c,
	   struct fuse_args *args)
{
	char path[128], opt[160];

	snprintf(path, sizeof(path), "%s/test.conf", tmpdir);
	write_file(path, text, strlen(text));
	snprintf(opt, sizeof(opt), "config=%s", path);
	conf_init(c);
	*args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	fuse_opt_add_arg(args, "s3blockfs");
	for (int i = 0; i < argc_in; i++)
		fuse_opt_add_arg(args, argv_in[i]);
	fuse_opt_add_arg(args, "-o");
	fuse_opt_add_arg(args, opt);
	return conf_parse(c, args);
}

static int
args_have(const struct fuse_args *a, const char *s)
{
	for (int i = 0; i < a->argc; i++)
		if (strstr(a->argv[i], s))
			return 1;
	return 0;
}

START_TEST(test_config_file)
{
	struct conf c;
	struct fuse_args a;
	const char *cl[] = {"-o", "cache_size=8M"};

	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x", 1), 0);
	ck_assert_int_eq(parse_with("# a comment\n"
				    "\n"
				    "  source = file:///srv/blocks  \n"
				    "mountpoint=/mnt/db\n"
				    "cache_size = 2M\n"
				    "block_size = \"8192\"\n"
				    "no_local_sync\n"
				    "x-systemd.automount\n"
				    "credentials = $CREDENTIALS_DIRECTORY/s3\n"
				    "allow_other\r\n",
				    cl, 2, &c, &a),
			 0);
	ck_assert_str_eq(c.source, "file:///srv/blocks");
	ck_assert_int_eq(c.backend, CONF_LOCAL);
	ck_assert_uint_eq(c.cache_size, 8u << 20); /* the command line wins */
	ck_assert_uint_eq(c.block_size, 8192);
	ck_assert_int_eq(c.local_sync, 0);
	ck_assert_ptr_nonnull(c.config);
	/* Left for the next parsers: the S3 option, FUSE's, the mountpoint. */
	ck_assert(args_have(&a, "credentials=/run/credentials/x/s3"));
	ck_assert(args_have(&a, "allow_other"));
	ck_assert(args_have(&a, "/mnt/db"));
	ck_assert(!args_have(&a, "automount"));
	struct s3_conf *s3 = s3_conf_create();
	ck_assert_int_eq(s3_conf_parse(s3, &a), 0);
	ck_assert(!args_have(&a, "credentials="));
	s3_conf_destroy(&s3);
	fuse_opt_free_args(&a);
	conf_free(&c);

	/* The command line's SOURCE wins over the file's. */
	const char *cl2[] = {"file:///other"};
	ck_assert_int_eq(parse_with("source = file:///srv/blocks\nmountpoint = /mnt/db\n", cl2, 1,
				    &c, &a), 0);
	ck_assert_str_eq(c.source, "file:///other");
	ck_assert(args_have(&a, "/mnt/db"));
	fuse_opt_free_args(&a);
	conf_free(&c);
}
END_TEST

START_TEST(test_config_file_errors)
{
	struct conf c;
	struct fuse_args a;
	static const char *const bad[] = {
		"source file:///x\n",       /* no '=' */
		"= 3\n",                     /* no name */
		"config = /etc/other.conf\n", /* nesting */
		"mountpoint =\n",            /* empty */
		"cache_size = 1M\n*junk\n",  /* a bad second line */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(parse_with(bad[i], NULL, 0, &c, &a), -EINVAL);
		fuse_opt_free_args(&a);
		conf_free(&c);
	}
	ck_assert_int_eq(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	ck_assert_int_eq(parse_with("credentials = ${CREDENTIALS_DIRECTORY}/s3\n", NULL, 0, &c, &a),
			 -EINVAL);
	fuse_opt_free_args(&a);
	conf_free(&c);

	/* A missing file. */
	conf_init(&c);
	a = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	fuse_opt_add_arg(&a, "s3blockfs");
	fuse_opt_add_arg(&a, "-oconfig=/nonexistent/x.conf");
	ck_assert_int_eq(conf_parse(&c, &a), -EINVAL);
	fuse_opt_free_args(&a);
	conf_free(&c);
}
END_TEST

/* ------------------------------------------------------------- notify */

static void
notify_roundtrip(int abstract)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char name[108], buf[256];
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	if (abstract) {
		snprintf(name, sizeof(name), "@s3bfs-check-%d", (int)getpid());
		memcpy(sa.sun_path + 1, name + 1, strlen(name) - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	} else {
		snprintf(name, sizeof(name), "%s/notify", tmpdir);
		memcpy(sa.sun_path, name, strlen(name) + 1);
		len = sizeof(sa);
	}
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	ck_assert_int_eq(notify_send("READY=1\nSTATUS=hello"), 1);
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "READY=1\nSTATUS=hello");
	ck_assert_int_eq(notify_sendf("STATUS=%d blocks", 42), 1);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "STATUS=42 blocks");
	close(fd);
}

START_TEST(test_notify)
{
	struct notify_ready *r = (struct notify_ready *)1;

	ck_assert_int_eq(unsetenv("NOTIFY_SOCKET"), 0);
	ck_assert_int_eq(notify_send("READY=1"), 0);
	ck_assert_int_eq(notify_ready_start(&r, "/", "x"), 0);
	ck_assert_ptr_null(r); /* nothing to tell: no thread */
	notify_roundtrip(0);
	notify_roundtrip(1);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "relative/path", 1), 0);
	ck_assert_int_eq(notify_send("READY=1"), -EAFNOSUPPORT);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_notify_ready_not_before_mount)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[64];
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct notify_ready *r = NULL;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ready", tmpdir);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", sa.sun_path, 1), 0);
	/* A plain directory never answers the attribute: no READY=1. */
	ck_assert_int_eq(notify_ready_start(&r, tmpdir, "src"), 0);
	ck_assert_ptr_nonnull(r);
	usleep(300 * 1000);
	ck_assert_int_eq(notify_ready_sent(r), 0);
	ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	notify_ready_stop(&r);
	ck_assert_ptr_null(r);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

/* ------------------------------------------------- layout and import */

static void
fill_pattern(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)((i * 7 + seed + i / 4096) & 0xff);
}

static void
roundtrip(size_t size, uint32_t bs)
{
	struct store *st = mem_store_create();
	char in[128], out[128];
	char *data = malloc(size ? size : 1);
	struct tools_import_opts io = {.block_size = bs, .verify = 2, .quiet = 1, .connections = 4};
	struct tools_export_opts eo = {.default_bs = bs, .check = 1, .quiet = 1, .connections = 4,
				       .empty_ok = 1};
	struct tools_layout lo;

	fill_pattern(data, size, (unsigned)size);
	snprintf(in, sizeof(in), "%s/in", tmpdir);
	snprintf(out, sizeof(out), "%s/out", tmpdir);
	write_file(in, data, size);
	int fd = open(in, O_RDONLY);
	ck_assert_int_eq(tools_import(st, "d/app.db", in, fd, &io), TOOLS_EXIT_OK);
	close(fd);
	ck_assert_int_eq(tools_layout_scan(st, "d/app.db", bs, &lo), 0);
	ck_assert_uint_eq(lo.size, size);
	ck_assert_uint_eq(lo.nblocks, (size + bs - 1) / bs);
	ck_assert_int_eq(lo.end_why, TL_END_NONE);
	tools_layout_free(&lo);
	unlink(out);
	ck_assert_int_eq(tools_export(st, "d/app.db", out, &eo), TOOLS_EXIT_OK);
	size_t got;
	char *back = read_file(out, &got);
	ck_assert_uint_eq(got, size);
	ck_assert(memcmp(back, data, size) == 0);
	free(back);
	free(data);
	store_destroy(&st);
}

START_TEST(test_import_export_roundtrip)
{
	roundtrip(0, 4096);
	roundtrip(1, 4096);
	roundtrip(4096, 4096);
	roundtrip(3 * 4096 + 100, 4096);
	roundtrip(100000, 4097);
	roundtrip(65536, 4095);
}
END_TEST

START_TEST(test_import_refuses_and_forces)
{
	struct store *st = mem_store_create();
	char in[128];
	char *data = malloc(10 * 1000);
	struct tools_import_opts io = {.block_size = 1000, .verify = 2, .quiet = 1, .connections = 3};
	struct tools_layout lo;

	fill_pattern(data, 10 * 1000, 1);
	snprintf(in, sizeof(in), "%s/in", tmpdir);
	write_file(in, data, 10 * 1000);
	int fd = open(in, O_RDONLY);
	ck_assert_int_eq(tools_import(st, "v", in, fd, &io), TOOLS_EXIT_OK);
	ck_assert_int_eq(tools_import(st, "v", in, fd, &io), TOOLS_EXIT_REFUSED);
	close(fd);

	/* A smaller file over it: no stale tail; journal and wal deleted. */
	put_obj(st, "v-journal/0000000000", 512, 1);
	put_obj(st, "v-wal/0000000000", 100, 1);
	put_obj(st, "v/junk", 3, 'j');
	write_file(in, data, 2500);
	fd = open(in, O_RDONLY);
	io.force = 1;
	ck_assert_int_eq(tools_import(st, "v", in, fd, &io), TOOLS_EXIT_OK);
	close(fd);
	ck_assert_int_eq(tools_layout_scan(st, "v", 1000, &lo), 0);
	ck_assert_uint_eq(lo.nobjects, 3);
	ck_assert_uint_eq(lo.size, 2500);
	ck_assert_uint_eq(lo.nstray, 0);
	tools_layout_free(&lo);
	ck_assert(!obj_exists(st, "v-journal/0000000000"));
	ck_assert(!obj_exists(st, "v-wal/0000000000"));
	ck_assert(!obj_exists(st, "v/0000000003"));
	free(data);
	store_destroy(&st);
}
END_TEST

START_TEST(test_import_failure_leaves_no_block0)
{
	struct store *st = mem_store_create();
	char in[128];
	char *data = malloc(50 * 512);
	struct tools_import_opts io = {.block_size = 512, .verify = 2, .quiet = 1, .connections = 4};

	fill_pattern(data, 50 * 512, 2);
	snprintf(in, sizeof(in), "%s/in", tmpdir);
	write_file(in, data, 50 * 512);
	int fd = open(in, O_RDONLY);
	mem_store_fail(st, MEM_PUT, -EIO, 0);
	ck_assert_int_eq(tools_import(st, "v", in, fd, &io), TOOLS_EXIT_FAIL);
	ck_assert(!obj_exists(st, "v/0000000000"));
	mem_store_fail(st, 0, 0, 0);

	/* Debris of it: fsck says so, --repair removes it. */
	put_obj(st, "v/0000000007", 512, 1);
	struct tools_fsck_opts fo = {.default_bs = 512, .out = stdout};
	ck_assert_int_eq(tools_fsck(st, "v", &fo), TOOLS_EXIT_DAMAGED);
	fo.repair = 1;
	ck_assert_int_eq(tools_fsck(st, "v", &fo), TOOLS_EXIT_OK);
	ck_assert_uint_eq(mem_store_count(st), 0);

	/* Then it works. */
	ck_assert_int_eq(tools_import(st, "v", in, fd, &io), TOOLS_EXIT_OK);
	close(fd);
	free(data);
	store_destroy(&st);
}
END_TEST

START_TEST(test_layout_scan_faults)
{
	struct store *st = mem_store_create();
	struct tools_layout lo;
	char why[512];

	/* 0..5 with 2 missing: hole. */
	for (int i = 0; i < 6; i++) {
		char key[64];
		snprintf(key, sizeof(key), "v/%010d", i);
		if (i != 2)
			put_obj(st, key, 100, 'a');
	}
	put_obj(st, "v/00000000001", 5, 'x'); /* 11 digits: not canonical */
	put_obj(st, "v/sub/0000000000", 5, 'x');
	ck_assert_int_eq(tools_layout_scan(st, "v", 4096, &lo), 0);
	ck_assert_uint_eq(lo.nblocks, 2);
	ck_assert_uint_eq(lo.size, 200);
	ck_assert_int_eq(lo.end_why, TL_END_HOLE);
	ck_assert_uint_eq(lo.end_blk, 2);
	ck_assert_uint_eq(lo.npast, 3);
	ck_assert_uint_eq(lo.nstray, 2);
	tools_layout_why(&lo, why, sizeof(why));
	ck_assert_ptr_nonnull(strstr(why, "block 0000000002 is missing"));
	tools_layout_free(&lo);

	/* A short middle block. */
	put_obj(st, "v/0000000002", 100, 'a');
	put_obj(st, "v/0000000003", 40, 'a');
	ck_assert_int_eq(tools_layout_scan(st, "v", 4096, &lo), 0);
	ck_assert_int_eq(lo.end_why, TL_END_SHORT);
	ck_assert_uint_eq(lo.nblocks, 4);
	ck_assert_uint_eq(lo.size, 340);
	ck_assert_uint_eq(lo.npast, 2);
	tools_layout_free(&lo);

	/* fsck --repair: truncates there; strays only with --delete-stray. */
	struct tools_fsck_opts fo = {.default_bs = 4096, .out = stdout, .repair = 1};
	ck_assert_int_eq(tools_fsck(st, "v", &fo), TOOLS_EXIT_DAMAGED);
	ck_assert(!obj_exists(st, "v/0000000005"));
	ck_assert(obj_exists(st, "v/sub/0000000000"));
	fo.delete_stray = 1;
	ck_assert_int_eq(tools_fsck(st, "v", &fo), TOOLS_EXIT_OK);
	ck_assert(!obj_exists(st, "v/sub/0000000000"));
	fo.repair = 0;
	ck_assert_int_eq(tools_fsck(st, "v", &fo), TOOLS_EXIT_OK);

	/* Journals: a hot one stays, a zeroed one goes. */
	put_obj(st, "v-journal/0000000000", 512, 0x7);
	ck_assert_int_eq(tools_fsck(st, "v", &fo), TOOLS_EXIT_DAMAGED);
	fo.repair = 1;
	ck_assert_int_eq(tools_fsck(st, "v", &fo), TOOLS_EXIT_DAMAGED);
	ck_assert(obj_exists(st, "v-journal/0000000000"));
	put_obj(st, "v-journal/0000000000", 512, 0);
	ck_assert_int_eq(tools_fsck(st, "v", &fo), TOOLS_EXIT_OK);
	ck_assert(!obj_exists(st, "v-journal/0000000000"));
	store_destroy(&st);
}
END_TEST

START_TEST(test_export_refusals)
{
	struct store *st = mem_store_create();
	struct tools_export_opts eo = {.default_bs = 4096, .check = 1, .quiet = 1, .connections = 2};
	char out[128];

	snprintf(out, sizeof(out), "%s/out", tmpdir);
	ck_assert_int_eq(tools_export(st, "nothing", out, &eo), TOOLS_EXIT_FAIL);
	ck_assert_int_ne(access(out, F_OK), 0);
	put_obj(st, "v/0000000000", 4096, 'a');
	put_obj(st, "v/0000000001", 10, 'b');
	put_obj(st, "v-journal/0000000000", 512, 0x7);
	ck_assert_int_eq(tools_export(st, "v", out, &eo), TOOLS_EXIT_REFUSED);
	put_obj(st, "v-journal/0000000000", 512, 0);
	ck_assert_int_eq(tools_export(st, "v", out, &eo), TOOLS_EXIT_OK);
	ck_assert_int_eq(tools_export(st, "v", out, &eo), TOOLS_EXIT_REFUSED); /* exists */
	eo.force = 1;
	put_obj(st, "v/0000000003", 10, 'b'); /* a hole */
	ck_assert_int_eq(tools_export(st, "v", out, &eo), TOOLS_EXIT_FAIL);
	store_destroy(&st);
}
END_TEST

/* ------------------------------------------------------------- stats */

START_TEST(test_stats_formats)
{
	const char *json = "{\"requests\":{\"get\":12,\"put\":3},\"bytes_down\":2048,"
			   "\"errors\":0,\"cache\":{\"hits\":5,\"dirty_blocks\":1,"
			   "\"new_thing\":7},\"name\":\"x\",\"list\":[1,2]}";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_int_eq(tools_stats_format(json, "/mnt/\"db\"", TOOLS_STATS_PROMETHEUS, f), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "# TYPE s3blockfs_requests_total counter\n"));
	ck_assert_ptr_nonnull(
		strstr(buf, "s3blockfs_requests_total{mountpoint=\"/mnt/\\\"db\\\"\",kind=\"get\"} 12\n"));
	ck_assert_ptr_nonnull(strstr(buf, "s3blockfs_downloaded_bytes_total{"));
	ck_assert_ptr_nonnull(strstr(buf, "# TYPE s3blockfs_cache_dirty_blocks gauge"));
	ck_assert_ptr_nonnull(strstr(buf, "s3blockfs_cache_new_thing{"));
	ck_assert_ptr_nonnull(strstr(buf, "s3blockfs_list_1{"));
	free(buf);

	f = open_memstream(&buf, &len);
	ck_assert_int_eq(tools_stats_format(json, "/mnt/db", TOOLS_STATS_TABLE, f), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "requests\n  get"));
	ck_assert_ptr_nonnull(strstr(buf, "(2.0 KiB)"));
	free(buf);

	f = open_memstream(&buf, &len);
	ck_assert_int_eq(tools_stats_format("{\"a\":", "/m", TOOLS_STATS_TABLE, f), -EINVAL);
	ck_assert_int_eq(tools_stats_format("{\"a\":1} x", "/m", TOOLS_STATS_TABLE, f), -EINVAL);
	fclose(f);
	free(buf);
}
END_TEST

static Suite *
tools_suite(void)
{
	Suite *s = suite_create("tools");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parse_volume);
	tcase_add_test(tc, test_config_file);
	tcase_add_test(tc, test_config_file_errors);
	tcase_add_test(tc, test_notify);
	tcase_add_test(tc, test_notify_ready_not_before_mount);
	tcase_add_test(tc, test_import_export_roundtrip);
	tcase_add_test(tc, test_import_refuses_and_forces);
	tcase_add_test(tc, test_import_failure_leaves_no_block0);
	tcase_add_test(tc, test_layout_scan_faults);
	tcase_add_test(tc, test_export_refusals);
	tcase_add_test(tc, test_stats_formats);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tools_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
