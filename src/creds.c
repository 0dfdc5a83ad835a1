/*
 * creds.c - credential resolution (see creds.h for the order and formats).
 *
 * A credentials file is read whole (at most CREDS_MAX_FILE bytes) into one
 * buffer that is wiped before it is freed, then parsed line by line. Each
 * line is one of:
 *   blank, "# ..." or "; ..."      comment
 *   "[name]" or "[profile name]"   starts an INI section
 *   "key = value" ("key: value")   aws_access_key_id, aws_secret_access_key,
 *                                  aws_session_token (any case, so the
 *                                  AWS_ACCESS_KEY_ID=... form is the same
 *                                  rule), optional "export " and quotes
 *   "ACCESSKEY:SECRET"             s3fs passwd style, outside sections only
 * Keys before any section are "top level" and win over sections; otherwise
 * the selected profile's section is used. Unknown keys (region, ...) are
 * ignored; any other line is an error reported as file:line, never with the
 * line's text, which may hold a secret.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "creds.h"
#include "util.h"

/* Ceiling on a credentials file; real ones are a few hundred bytes. */
#define CREDS_MAX_FILE  ((size_t)64 * 1024)
/* Ceiling on a value: session tokens are usually 1-2 KB, but AWS gives no
 * maximum, so leave plenty of room. */
#define CREDS_MAX_VALUE 16384

enum { K_ACCESS, K_SECRET, K_TOKEN, K_COUNT };

/* Values found in one scope (top level or the selected section). */
struct cred_set {
	char *v[K_COUNT];
	int line[K_COUNT]; /* where each was set, for messages */
};

struct parse_state {
	const char *path;
	const char *profile;
	struct cred_set top;
	struct cred_set sel;
	int has_sections;
	int sel_line;   /* line of the selected [profile], 0 if absent */
	int colon_line; /* line of an ACCESSKEY:SECRET line, 0 if none */
	char *msg;
	size_t msgsz;
};

static void
secure_free(char **s)
{
	if (*s != NULL) {
		OPENSSL_cleanse(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static void
set_clear(struct cred_set *s)
{
	for (int i = 0; i < K_COUNT; i++)
		secure_free(&s->v[i]);
	memset(s, 0, sizeof(*s));
}

static void set_msg(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* msg may be NULL; truncation is fine (messages are for people). */
static void
set_msg(char *msg, size_t msgsz, const char *fmt, ...)
{
	va_list ap;

	if (msg == NULL || msgsz == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Trims s in place; returns the new start. */
static char *
trim(char *s)
{
	char *e;

	while (is_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_space(e[-1]))
		*--e = '\0';
	return s;
}

/* A credential is printable ASCII without spaces; the access key also goes
 * into "Credential=AK/date/..." and so may not hold '/', ',' or '='. */
static int
valid_value(const char *v, int kind)
{
	if (*v == '\0' || strlen(v) > CREDS_MAX_VALUE)
		return 0;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return 0;
		if (kind == K_ACCESS && (*p == '/' || *p == ',' || *p == '='))
			return 0;
	}
	return 1;
}

static const char *const key_names[K_COUNT] = {"aws_access_key_id", "aws_secret_access_key",
                                               "aws_session_token"};

static int
key_kind(const char *k)
{
	for (int i = 0; i < K_COUNT; i++) {
		if (strcasecmp(k, key_names[i]) == 0)
			return i;
	}
	/* The name older SDKs and boto wrote for the session token. */
	if (strcasecmp(k, "aws_security_token") == 0)
		return K_TOKEN;
	return -1;
}

static int
set_value(struct parse_state *ps, struct cred_set *s, int kind, const char *v, int lineno)
{
	if (!valid_value(v, kind)) {
		set_msg(ps->msg, ps->msgsz,
		        "%s:%d: invalid value for %s (empty, too long, or has "
		        "spaces or control characters)",
		        ps->path, lineno, key_names[kind]);
		return -EINVAL;
	}
	char *dup = strdup(v);
	if (dup == NULL)
		return -ENOMEM;
	/* Last assignment wins, as in the AWS CLI. */
	secure_free(&s->v[kind]);
	s->v[kind] = dup;
	s->line[kind] = lineno;
	return 0;
}

/* Removes one pair of matching surrounding quotes (shell/EnvironmentFile). */
static char *
unquote(char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		return v + 1;
	}
	return v;
}

static int
parse_line(struct parse_state *ps, char *line, int lineno, int *in_sel, int *in_section)
{
	char *s = trim(line), *eq, *colon;

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		size_t n = strlen(s);
		if (s[n - 1] != ']') {
			set_msg(ps->msg, ps->msgsz, "%s:%d: section header without ']'", ps->path,
			        lineno);
			return -EINVAL;
		}
		s[n - 1] = '\0';
		char *name = trim(s + 1);
		/* ~/.aws/config spells sections "[profile name]". */
		if (strncmp(name, "profile", 7) == 0 && is_space(name[7]))
			name = trim(name + 8);
		*in_section = 1;
		ps->has_sections = 1;
		*in_sel = strcmp(name, ps->profile) == 0;
		if (*in_sel && ps->sel_line == 0)
			ps->sel_line = lineno;
		return 0;
	}
	eq = strchr(s, '=');
	/* Inside a section "key: value" is an assignment too (Python's
	 * configparser, which the AWS CLI uses, accepts both). */
	if (eq == NULL && *in_section)
		eq = strchr(s, ':');
	if (eq != NULL) {
		*eq = '\0';
		char *key = trim(s);
		char *val = unquote(trim(eq + 1));
		if (!*in_section && strncmp(key, "export", 6) == 0 && is_space(key[6]))
			key = trim(key + 7);
		int kind = key_kind(key);
		if (kind < 0)
			return 0; /* region, output, AWS_DEFAULT_REGION, ... */
		if (kind == K_TOKEN && *val == '\0')
			return 0; /* "aws_session_token =" means none */
		if (*in_section)
			return *in_sel ? set_value(ps, &ps->sel, kind, val, lineno) : 0;
		return set_value(ps, &ps->top, kind, val, lineno);
	}
	colon = strchr(s, ':');
	if (colon != NULL && !*in_section) {
		*colon = '\0';
		if (strchr(colon + 1, ':') != NULL) {
			set_msg(ps->msg, ps->msgsz,
			        "%s:%d: BUCKET:ACCESSKEY:SECRET lines are not "
			        "supported; use ACCESSKEY:SECRET",
			        ps->path, lineno);
			return -EINVAL;
		}
		if (ps->colon_line != 0) {
			set_msg(ps->msg, ps->msgsz,
			        "%s:%d: a second ACCESSKEY:SECRET line (first "
			        "at line %d)",
			        ps->path, lineno, ps->colon_line);
			return -EINVAL;
		}
		ps->colon_line = lineno;
		int rc = set_value(ps, &ps->top, K_ACCESS, trim(s), lineno);
		if (rc == 0)
			rc = set_value(ps, &ps->top, K_SECRET, trim(colon + 1), lineno);
		return rc;
	}
	set_msg(ps->msg, ps->msgsz,
	        "%s:%d: unrecognized line (expected [profile], "
	        "key = value, or ACCESSKEY:SECRET)",
	        ps->path, lineno);
	return -EINVAL;
}

static int
parse_buffer(struct parse_state *ps, char *buf, size_t len)
{
	int lineno = 0, in_sel = 0, in_section = 0;
	char *p = buf, *end = buf + len;

	if (memchr(buf, '\0', len) != NULL) {
		set_msg(ps->msg, ps->msgsz, "%s: contains NUL bytes; not a text file", ps->path);
		return -EINVAL;
	}
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		*nl = '\0'; /* buf has one spare byte past len */
		lineno++;
		int rc = parse_line(ps, p, lineno, &in_sel, &in_section);
		if (rc != 0)
			return rc;
		p = nl + 1;
	}
	return 0;
}

/* Moves a complete set into out; -EINVAL (with msg) if it is partial.
 * what names the scope ("file", "[default]"), line is where it starts. */
static int
take_set(struct parse_state *ps, struct cred_set *s, struct creds *out, const char *what, int line)
{
	if (s->v[K_ACCESS] == NULL && s->v[K_SECRET] == NULL) {
		set_msg(ps->msg, ps->msgsz, "%s:%d: %s has no %s and no %s", ps->path, line, what,
		        key_names[K_ACCESS], key_names[K_SECRET]);
		return -EINVAL;
	}
	if (s->v[K_ACCESS] == NULL || s->v[K_SECRET] == NULL) {
		int have = s->v[K_ACCESS] != NULL ? K_ACCESS : K_SECRET;
		int miss = have == K_ACCESS ? K_SECRET : K_ACCESS;
		set_msg(ps->msg, ps->msgsz, "%s:%d: %s has %s but no %s", ps->path, s->line[have],
		        what, key_names[have], key_names[miss]);
		return -EINVAL;
	}
	out->access_key = s->v[K_ACCESS];
	out->secret_key = s->v[K_SECRET];
	out->session_token = s->v[K_TOKEN];
	memset(s, 0, sizeof(*s));
	return 0;
}

/*
 * Reads path and picks its credentials. check_mode: refuse a file group or
 * others may read or write. Returns 0, -ENOENT (file absent, or no
 * credentials / no such profile in it; msg set), or another -errno with msg.
 */
static int
load_file(const char *path, const char *profile, int check_mode, struct creds *out,
          const char *src_prefix, char *msg, size_t msgsz)
{
	struct parse_state ps = {.path = path, .profile = profile, .msg = msg, .msgsz = msgsz};
	char ebuf[128];
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			set_msg(msg, msgsz, "credentials file %s does not exist", path);
		else
			set_msg(msg, msgsz, "cannot open credentials file %s: %s", path,
			        util_strerror(-rc, ebuf, sizeof(ebuf)));
		return rc;
	}
	/* fstat the open file, not the name, so the checked file is the read one. */
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		set_msg(msg, msgsz, "cannot stat credentials file %s: %s", path,
		        util_strerror(-rc, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_msg(msg, msgsz, "credentials file %s is not a regular file", path);
		rc = -EINVAL;
		goto out;
	}
	if (check_mode && (st.st_mode & 066) != 0) {
		set_msg(msg, msgsz, "credentials file %s is %s by others (mode %04o); chmod 600 %s",
		        path, (st.st_mode & 044) ? "readable" : "writable",
		        (unsigned)(st.st_mode & 07777), path);
		rc = -EACCES;
		goto out;
	}
	if (st.st_size < 0 || (size_t)st.st_size > CREDS_MAX_FILE) {
		set_msg(msg, msgsz, "credentials file %s is too large (over %zu bytes)", path,
		        CREDS_MAX_FILE);
		rc = -EINVAL;
		goto out;
	}
	/* One spare byte to notice growth past the ceiling, one for the NUL. */
	buf = malloc(CREDS_MAX_FILE + 2);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, CREDS_MAX_FILE + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			set_msg(msg, msgsz, "cannot read credentials file %s: %s", path,
			        util_strerror(-rc, ebuf, sizeof(ebuf)));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CREDS_MAX_FILE) {
			set_msg(msg, msgsz, "credentials file %s is too large (over %zu bytes)",
			        path, CREDS_MAX_FILE);
			rc = -EINVAL;
			goto out;
		}
	}
	buf[len] = '\0';

	rc = parse_buffer(&ps, buf, len);
	if (rc != 0)
		goto out;
	if (ps.top.v[K_ACCESS] != NULL || ps.top.v[K_SECRET] != NULL) {
		rc = take_set(&ps, &ps.top, out, "file", 1);
		if (rc == 0)
			(void)snprintf(out->source, sizeof(out->source), "%s%s", src_prefix, path);
	} else if (ps.sel_line != 0) {
		char what[96];
		(void)snprintf(what, sizeof(what), "[%s]", profile);
		rc = take_set(&ps, &ps.sel, out, what, ps.sel_line);
		if (rc == 0)
			(void)snprintf(out->source, sizeof(out->source), "%s%s [%s]", src_prefix,
			               path, profile);
	} else if (ps.has_sections) {
		set_msg(msg, msgsz, "credentials file %s has no [%s] profile", path, profile);
		rc = -ENOENT;
	} else {
		set_msg(msg, msgsz, "credentials file %s contains no credentials", path);
		rc = -ENOENT;
	}
out:
	set_clear(&ps.top);
	set_clear(&ps.sel);
	if (buf != NULL) {
		OPENSSL_cleanse(buf, CREDS_MAX_FILE + 2);
		free(buf);
	}
	close(fd);
	return rc;
}

static const char *
env(const char *name)
{
	const char *v = secure_getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static int
load_env(struct creds *out, char *msg, size_t msgsz)
{
	const char *ak = env("AWS_ACCESS_KEY_ID");
	const char *sk = env("AWS_SECRET_ACCESS_KEY");
	const char *tok = env("AWS_SESSION_TOKEN");

	if (ak == NULL && sk == NULL)
		return -ENOENT;
	if (ak == NULL || sk == NULL) {
		set_msg(msg, msgsz, "%s is set in the environment but %s is not",
		        ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		        ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -EINVAL;
	}
	if (!valid_value(ak, K_ACCESS) || !valid_value(sk, K_SECRET) ||
	    (tok != NULL && !valid_value(tok, K_TOKEN))) {
		set_msg(msg, msgsz,
		        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN "
		        "in the environment is malformed (spaces or control characters)");
		return -EINVAL;
	}
	out->access_key = strdup(ak);
	out->secret_key = strdup(sk);
	out->session_token = tok ? strdup(tok) : NULL;
	if (out->access_key == NULL || out->secret_key == NULL ||
	    (tok != NULL && out->session_token == NULL)) {
		creds_clear(out);
		return -ENOMEM;
	}
	(void)snprintf(out->source, sizeof(out->source), "environment");
	return 0;
}

/* $HOME, else the password database's home directory, into buf. */
static int
home_dir(char *buf, size_t bufsz)
{
	const char *h = env("HOME");
	struct passwd pw, *res = NULL;
	char *pwbuf;
	int rc = -ENOENT;

	if (h != NULL) {
		int n = snprintf(buf, bufsz, "%s", h);
		return n > 0 && (size_t)n < bufsz ? 0 : -ENAMETOOLONG;
	}
	pwbuf = malloc(16384);
	if (pwbuf == NULL)
		return -ENOMEM;
	if (getpwuid_r(getuid(), &pw, pwbuf, 16384, &res) == 0 && res != NULL &&
	    pw.pw_dir != NULL && *pw.pw_dir != '\0') {
		int n = snprintf(buf, bufsz, "%s", pw.pw_dir);
		rc = n > 0 && (size_t)n < bufsz ? 0 : -ENAMETOOLONG;
	}
	free(pwbuf);
	return rc;
}

/* $AWS_SHARED_CREDENTIALS_FILE (leading "~/" expanded, as the AWS CLI
 * does) or ~/.aws/credentials. */
static int
shared_path(char *buf, size_t bufsz)
{
	const char *f = env("AWS_SHARED_CREDENTIALS_FILE");
	char home[1024];
	int n, rc;

	if (f != NULL && strncmp(f, "~/", 2) != 0) {
		n = snprintf(buf, bufsz, "%s", f);
		return n > 0 && (size_t)n < bufsz ? 0 : -ENAMETOOLONG;
	}
	rc = home_dir(home, sizeof(home));
	if (rc != 0)
		return rc;
	if (f != NULL)
		n = snprintf(buf, bufsz, "%s/%s", home, f + 2);
	else
		n = snprintf(buf, bufsz, "%s/.aws/credentials", home);
	return n > 0 && (size_t)n < bufsz ? 0 : -ENAMETOOLONG;
}

int
creds_load(const char *file, const char *profile, struct creds *out, char *msg, size_t msgsz)
{
	char path[1200];
	int rc;

	memset(out, 0, sizeof(*out));
	set_msg(msg, msgsz, "%s", "");
	if (profile == NULL || *profile == '\0')
		profile = env("AWS_PROFILE");
	if (profile == NULL)
		profile = "default";

	/* 1. The file the administrator named: anything wrong with it is an
	 * error, never a silent fall-through to other sources. */
	if (file != NULL && *file != '\0')
		return load_file(file, profile, 1, out, "file ", msg, msgsz);

	/* 2. Environment. */
	rc = load_env(out, msg, msgsz);
	if (rc != -ENOENT)
		return rc;

	/* 3. The user's shared credentials file. */
	rc = shared_path(path, sizeof(path));
	if (rc != 0) {
		set_msg(msg, msgsz,
		        "no AWS credentials found: no credentials= file given, "
		        "AWS_ACCESS_KEY_ID not set, and no home directory for ~/.aws/credentials");
		return -ENOENT;
	}
	rc = load_file(path, profile, 0, out, "", msg, msgsz);
	if (rc == -ENOENT) {
		char detail[1400];
		(void)snprintf(detail, sizeof(detail), "%s", msg ? msg : "");
		set_msg(msg, msgsz,
		        "no AWS credentials found: no credentials= file given, "
		        "AWS_ACCESS_KEY_ID not set, and %s",
		        detail);
	}
	return rc;
}

void
creds_clear(struct creds *c)
{
	if (c == NULL)
		return;
	secure_free(&c->access_key);
	secure_free(&c->secret_key);
	secure_free(&c->session_token);
	memset(c, 0, sizeof(*c));
}
