/*
 * check_creds.c - unit tests for src/creds.c: each source, their order,
 * file formats, the mode check, profile selection, malformed files, and that
 * no message ever contains a secret.
 *
 * Every test runs in a fresh temporary directory that is also $HOME, with
 * the AWS_* variables cleared (the fixture runs in the test's own process,
 * forked or not).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"

#define AK  "AKIAIOSFODNN7EXAMPLE"
#define SK  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define TOK "FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE+abc="
#define AK2 "AKIDENVEXAMPLE000002"
#define SK2 "envSecretEXAMPLEKEY+/0000000000000000002"
#define AK3 "AKIDSHAREDEXAMPLE003"
#define SK3 "sharedSecretEXAMPLEKEY/000000000000000003"

static char tmpdir[256];
static char msg[512];

static void
clear_env(void)
{
	static const char *const vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
	                                   "AWS_SESSION_TOKEN", "AWS_PROFILE",
	                                   "AWS_SHARED_CREDENTIALS_FILE"};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		ck_assert_int_eq(unsetenv(vars[i]), 0);
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_creds.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(setenv("HOME", tmpdir, 1), 0);
	clear_env();
	msg[0] = '\0';
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	clear_env();
}

/* Writes tmpdir/name with content and mode; returns the path (static). */
static const char *
put_file(const char *name, const char *content, mode_t mode)
{
	static char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (strchr(name, '/') != NULL) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = '\0';
		mkdir(dir, 0700);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* No secret or token may ever appear in a message. */
static void
assert_no_secret(void)
{
	static const char *const secrets[] = {SK, SK2, SK3, TOK, "s3cr3t"};

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		ck_assert_msg(strstr(msg, secrets[i]) == NULL, "secret in message: %s", msg);
}

static int
load(const char *file, const char *profile, struct creds *c)
{
	int rc = creds_load(file, profile, c, msg, sizeof(msg));

	assert_no_secret();
	if (rc != 0) {
		ck_assert_ptr_null(c->access_key);
		ck_assert_ptr_null(c->secret_key);
		ck_assert_ptr_null(c->session_token);
		ck_assert_msg(msg[0] != '\0', "error %d without a message", rc);
	}
	return rc;
}

/* ---------------------------------------------------------------- file formats */

START_TEST(test_file_ini_default)
{
	struct creds c;
	const char *f = put_file("c.ini",
	                         "# comment\n"
	                         "; another\n"
	                         "\n"
	                         "[other]\n"
	                         "aws_access_key_id = WRONG\n"
	                         "aws_secret_access_key = WRONG\n"
	                         "[default]\n"
	                         "  aws_access_key_id: " AK "  \n"
	                         "aws_secret_access_key=" SK "\r\n"
	                         "region = us-east-1\n",
	                         0600);

	ck_assert_int_eq(load(f, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK);
	ck_assert_str_eq(c.secret_key, SK);
	ck_assert_ptr_null(c.session_token);
	ck_assert_ptr_nonnull(strstr(c.source, "file "));
	ck_assert_ptr_nonnull(strstr(c.source, "c.ini [default]"));
	creds_clear(&c);
	ck_assert_ptr_null(c.access_key);
	ck_assert_str_eq(c.source, "");
}
END_TEST

START_TEST(test_file_env_style)
{
	struct creds c;
	const char *f = put_file("c.env",
	                         "# systemd EnvironmentFile style\n"
	                         "AWS_ACCESS_KEY_ID=" AK "\n"
	                         "export AWS_SECRET_ACCESS_KEY=\"" SK "\"\n"
	                         "AWS_SESSION_TOKEN='" TOK "'\n"
	                         "AWS_DEFAULT_REGION=eu-west-1\n",
	                         0400);

	ck_assert_int_eq(load(f, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK);
	ck_assert_str_eq(c.secret_key, SK);
	ck_assert_str_eq(c.session_token, TOK);
	ck_assert_str_eq(c.source + strlen(c.source) - 6, "/c.env");
	creds_clear(&c);
}
END_TEST

START_TEST(test_file_s3fs_style)
{
	struct creds c;
	const char *f = put_file("passwd-s3fs", "# s3fs\n" AK ":" SK "\n", 0600);

	ck_assert_int_eq(load(f, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK);
	ck_assert_str_eq(c.secret_key, SK);
	ck_assert_ptr_null(c.session_token);
	creds_clear(&c);
}
END_TEST

START_TEST(test_file_session_token_ini)
{
	struct creds c;
	const char *f = put_file("c",
	                         "[default]\naws_access_key_id=" AK "\naws_secret_access_key=" SK
	                         "\naws_session_token = " TOK "\n",
	                         0600);

	ck_assert_int_eq(load(f, NULL, &c), 0);
	ck_assert_str_eq(c.session_token, TOK);
	creds_clear(&c);
	/* An empty token means none. */
	f = put_file("c",
	             "[default]\naws_access_key_id=" AK "\naws_secret_access_key=" SK
	             "\naws_session_token =\n",
	             0600);
	ck_assert_int_eq(load(f, NULL, &c), 0);
	ck_assert_ptr_null(c.session_token);
	creds_clear(&c);
}
END_TEST

/* ---------------------------------------------------------------- mode check */

START_TEST(test_file_mode_refused)
{
	struct creds c;
	const char *f = put_file(
	    "c", "[default]\naws_access_key_id=" AK "\naws_secret_access_key=" SK "\n", 0644);
	char want[600];

	ck_assert_int_eq(load(f, NULL, &c), -EACCES);
	snprintf(want, sizeof(want),
	         "credentials file %s is readable by others (mode 0644); chmod 600 %s", f, f);
	ck_assert_str_eq(msg, want);

	f = put_file("c", "[default]\naws_access_key_id=" AK "\naws_secret_access_key=" SK "\n",
	             0620);
	ck_assert_int_eq(load(f, NULL, &c), -EACCES);
	ck_assert_ptr_nonnull(strstr(msg, "writable by others (mode 0620)"));

	f = put_file("c", "[default]\naws_access_key_id=" AK "\naws_secret_access_key=" SK "\n",
	             0640);
	ck_assert_int_eq(load(f, NULL, &c), -EACCES);

	/* Owner-only modes, including execute bits, are fine. */
	f = put_file("c", "[default]\naws_access_key_id=" AK "\naws_secret_access_key=" SK "\n",
	             0700);
	ck_assert_int_eq(load(f, NULL, &c), 0);
	creds_clear(&c);
}
END_TEST

START_TEST(test_file_missing_or_not_regular)
{
	struct creds c;
	char p[512];

	snprintf(p, sizeof(p), "%s/nope", tmpdir);
	ck_assert_int_eq(load(p, NULL, &c), -ENOENT);
	ck_assert_ptr_nonnull(strstr(msg, p));
	/* An explicit file that is missing does not fall through to the
	 * environment. */
	setenv("AWS_ACCESS_KEY_ID", AK2, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SK2, 1);
	ck_assert_int_eq(load(p, NULL, &c), -ENOENT);

	ck_assert_int_eq(load(tmpdir, NULL, &c), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "not a regular file"));
}
END_TEST

/* ---------------------------------------------------------------- malformed */

START_TEST(test_file_malformed)
{
	struct creds c;
	const char *f;
	char want[600];

	f = put_file("bad", "[default]\naws_access_key_id=" AK "\nthis line s3cr3t is junk\n",
	             0600);
	ck_assert_int_eq(load(f, NULL, &c), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: unrecognized line", f);
	ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "%s", msg);

	f = put_file("bad", "[default\naws_access_key_id=" AK "\n", 0600);
	ck_assert_int_eq(load(f, NULL, &c), -EINVAL);
	snprintf(want, sizeof(want), "%s:1:", f);
	ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "%s", msg);

	/* Half a pair. */
	f = put_file("bad", "[default]\naws_secret_access_key=" SK "\n", 0600);
	ck_assert_int_eq(load(f, NULL, &c), -EINVAL);
	snprintf(want, sizeof(want),
	         "%s:2: [default] has aws_secret_access_key but no "
	         "aws_access_key_id",
	         f);
	ck_assert_str_eq(msg, want);

	f = put_file("bad", "AWS_ACCESS_KEY_ID=" AK "\n", 0600);
	ck_assert_int_eq(load(f, NULL, &c), -EINVAL);

	/* A section with neither key. */
	f = put_file("bad", "[default]\nregion=us-east-1\n", 0600);
	ck_assert_int_eq(load(f, NULL, &c), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: [default] has no", f);
	ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "%s", msg);

	/* Spaces inside a secret. */
	f = put_file("bad", "aws_access_key_id=" AK "\naws_secret_access_key=s3cr3t s3cr3t\n",
	             0600);
	ck_assert_int_eq(load(f, NULL, &c), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: invalid value for aws_secret_access_key", f);
	ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "%s", msg);

	/* s3fs's per-bucket form is not supported; two pairs are ambiguous. */
	f = put_file("bad", "bucket:" AK ":" SK "\n", 0600);
	ck_assert_int_eq(load(f, NULL, &c), -EINVAL);
	f = put_file("bad", AK ":" SK "\n" AK2 ":" SK2 "\n", 0600);
	ck_assert_int_eq(load(f, NULL, &c), -EINVAL);
	snprintf(want, sizeof(want), "%s:2:", f);
	ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "%s", msg);

	/* Empty file, binary file. */
	f = put_file("bad", "# nothing\n", 0600);
	ck_assert_int_eq(load(f, NULL, &c), -ENOENT);
	ck_assert_ptr_nonnull(strstr(msg, "contains no credentials"));
	f = put_file("bad", "", 0600);
	ck_assert_int_eq(load(f, NULL, &c), -ENOENT);
}
END_TEST

START_TEST(test_file_too_large)
{
	struct creds c;
	size_t n = 70 * 1024;
	char *big = malloc(n + 1);
	const char *f;

	ck_assert_ptr_nonnull(big);
	memset(big, '#', n);
	big[n] = '\0';
	f = put_file("big", big, 0600);
	free(big);
	ck_assert_int_eq(load(f, NULL, &c), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "too large"));
}
END_TEST

/* ---------------------------------------------------------------- profiles */

static const char profiles_ini[] = "[default]\n"
                                   "aws_access_key_id=" AK "\n"
                                   "aws_secret_access_key=" SK "\n"
                                   "[work]\n"
                                   "aws_access_key_id=" AK2 "\n"
                                   "aws_secret_access_key=" SK2 "\n"
                                   "[profile ci]\n"
                                   "aws_access_key_id=" AK3 "\n"
                                   "aws_secret_access_key=" SK3 "\n";

START_TEST(test_profile_selection)
{
	struct creds c;
	const char *f = put_file("p", profiles_ini, 0600);
	char file[512];

	snprintf(file, sizeof(file), "%s", f);
	ck_assert_int_eq(load(file, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK);
	creds_clear(&c);

	ck_assert_int_eq(load(file, "work", &c), 0);
	ck_assert_str_eq(c.access_key, AK2);
	ck_assert_str_eq(c.secret_key, SK2);
	ck_assert_ptr_nonnull(strstr(c.source, "[work]"));
	creds_clear(&c);

	ck_assert_int_eq(load(file, "ci", &c), 0); /* "[profile ci]" */
	ck_assert_str_eq(c.access_key, AK3);
	creds_clear(&c);

	/* $AWS_PROFILE when no profile argument; the argument wins. */
	setenv("AWS_PROFILE", "work", 1);
	ck_assert_int_eq(load(file, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK2);
	creds_clear(&c);
	ck_assert_int_eq(load(file, "default", &c), 0);
	ck_assert_str_eq(c.access_key, AK);
	creds_clear(&c);

	ck_assert_int_eq(load(file, "missing", &c), -ENOENT);
	ck_assert_ptr_nonnull(strstr(msg, "has no [missing] profile"));
}
END_TEST

/* ---------------------------------------------------------------- order */

START_TEST(test_environment)
{
	struct creds c;

	setenv("AWS_ACCESS_KEY_ID", AK2, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SK2, 1);
	ck_assert_int_eq(load(NULL, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK2);
	ck_assert_str_eq(c.secret_key, SK2);
	ck_assert_ptr_null(c.session_token);
	ck_assert_str_eq(c.source, "environment");
	creds_clear(&c);

	setenv("AWS_SESSION_TOKEN", TOK, 1);
	ck_assert_int_eq(load("", NULL, &c), 0); /* "" = no file option */
	ck_assert_str_eq(c.session_token, TOK);
	creds_clear(&c);

	/* Half set is an error, not a silent fall-through. */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ck_assert_int_eq(load(NULL, NULL, &c), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "AWS_SECRET_ACCESS_KEY is not"));
	setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t s3cr3t", 1);
	ck_assert_int_eq(load(NULL, NULL, &c), -EINVAL);
}
END_TEST

START_TEST(test_order)
{
	struct creds c;
	const char *f;
	char file[512];

	put_file(".aws/credentials",
	         "[default]\naws_access_key_id=" AK3 "\naws_secret_access_key=" SK3 "\n",
	         0644); /* the user's own file: no mode check */
	f = put_file("opt", AK ":" SK "\n", 0600);
	snprintf(file, sizeof(file), "%s", f);
	setenv("AWS_ACCESS_KEY_ID", AK2, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SK2, 1);

	/* 1. the file option beats everything */
	ck_assert_int_eq(load(file, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK);
	creds_clear(&c);
	/* 2. then the environment */
	ck_assert_int_eq(load(NULL, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK2);
	creds_clear(&c);
	/* 3. then ~/.aws/credentials */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ck_assert_int_eq(load(NULL, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK3);
	ck_assert_str_eq(c.secret_key, SK3);
	char want[600];
	snprintf(want, sizeof(want), "%s/.aws/credentials [default]", tmpdir);
	ck_assert_str_eq(c.source, want);
	creds_clear(&c);
}
END_TEST

START_TEST(test_shared_file_override)
{
	struct creds c;
	char want[600];

	put_file("alt/creds",
	         "[x]\naws_access_key_id=" AK2 "\naws_secret_access_key=" SK2
	         "\naws_security_token=" TOK "\n",
	         0600);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/alt/creds", 1);
	ck_assert_int_eq(load(NULL, "x", &c), 0);
	ck_assert_str_eq(c.access_key, AK2);
	ck_assert_str_eq(c.session_token, TOK);
	snprintf(want, sizeof(want), "%s/alt/creds [x]", tmpdir);
	ck_assert_str_eq(c.source, want);
	creds_clear(&c);

	snprintf(want, sizeof(want), "%s/alt/creds", tmpdir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", want, 1);
	setenv("AWS_PROFILE", "x", 1);
	ck_assert_int_eq(load(NULL, NULL, &c), 0);
	ck_assert_str_eq(c.access_key, AK2);
	creds_clear(&c);

	/* Malformed shared file: an error with file:line. */
	put_file("alt/creds", "[x]\ngarbage\n", 0600);
	ck_assert_int_eq(load(NULL, NULL, &c), -EINVAL);
	snprintf(want, sizeof(want), "%s/alt/creds:2:", tmpdir);
	ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "%s", msg);
}
END_TEST

START_TEST(test_nothing_found)
{
	struct creds c;
	char want[600];

	ck_assert_int_eq(load(NULL, NULL, &c), -ENOENT);
	snprintf(want, sizeof(want), "%s/.aws/credentials", tmpdir);
	ck_assert_ptr_nonnull(strstr(msg, "no AWS credentials found"));
	ck_assert_ptr_nonnull(strstr(msg, "AWS_ACCESS_KEY_ID"));
	ck_assert_ptr_nonnull(strstr(msg, want));

	/* The file exists but lacks the profile. */
	put_file(".aws/credentials", profiles_ini, 0600);
	ck_assert_int_eq(load(NULL, "nope", &c), -ENOENT);
	ck_assert_ptr_nonnull(strstr(msg, "no [nope] profile"));
}
END_TEST

START_TEST(test_clear_null_safe)
{
	struct creds c;

	creds_clear(NULL);
	memset(&c, 0, sizeof(c));
	creds_clear(&c);
	/* msg may be NULL. */
	ck_assert_int_eq(creds_load(NULL, NULL, &c, NULL, 0), -ENOENT);
}
END_TEST

static Suite *
creds_suite(void)
{
	Suite *s = suite_create("creds");
	TCase *tc = tcase_create("creds");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_file_ini_default);
	tcase_add_test(tc, test_file_env_style);
	tcase_add_test(tc, test_file_s3fs_style);
	tcase_add_test(tc, test_file_session_token_ini);
	tcase_add_test(tc, test_file_mode_refused);
	tcase_add_test(tc, test_file_missing_or_not_regular);
	tcase_add_test(tc, test_file_malformed);
	tcase_add_test(tc, test_file_too_large);
	tcase_add_test(tc, test_profile_selection);
	tcase_add_test(tc, test_environment);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_shared_file_override);
	tcase_add_test(tc, test_nothing_found);
	tcase_add_test(tc, test_clear_null_safe);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(creds_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
