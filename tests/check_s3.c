/*
 * check_s3.c - unit tests of the S3 backend (src/s3.c, src/http.c): the
 * status -> errno switch, Content-Range checks, option parsing, and every
 * store call against a scripted HTTP/1.1 server inside the test (a thread
 * on 127.0.0.1, an ephemeral port), which records each request (method,
 * path as sent, headers, body) and answers what the test's handler says.
 * No signature is verified here (tests/s3/s3tool does that against the
 * strict s3rver and Ceph RGW); the headers that carry integrity are.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "retry.h"
#include "s3.h"
#include "store.h"
#include "util.h"

/* ------------------------------------------------------------ fake server */

struct rec {
	char method[16];
	char path[8192]; /* request target as sent: path?query */
	char hdrs[16384];
	char *body;
	size_t blen;
};

struct srv;
/* Writes a reply for r on fd; returns 1 to close the connection after. */
typedef int (*handler_fn)(struct srv *s, const struct rec *r, int fd);

#define MAX_CONN 64
#define MAX_RECS 4096

struct srv {
	int lfd, port;
	pthread_t th;
	handler_fn handler;
	pthread_mutex_t lock; /* over everything below and handler calls */
	struct rec *recs[MAX_RECS];
	int nrecs;
	int conn_fds[MAX_CONN];
	pthread_t conn_th[MAX_CONN];
	int nconn;
	int state; /* for handlers */
};

static struct srv S;

static void
send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void
reply(int fd, int status, const char *extra, const void *body, size_t blen)
{
	char h[2048];
	int n =
	    snprintf(h, sizeof(h),
	             "HTTP/1.1 %d X\r\nx-amz-request-id: RID%d\r\nContent-Length: %zu\r\n%s\r\n",
	             status, status, blen, extra ? extra : "");
	send_all(fd, h, (size_t)n);
	if (blen)
		send_all(fd, body, blen);
}

static void
reply_str(int fd, int status, const char *extra, const char *body)
{
	reply(fd, status, extra, body, strlen(body));
}

static void
reply_err(int fd, int status, const char *code)
{
	char b[512];

	snprintf(b, sizeof(b),
	         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
	         "<Message>m</Message><RequestId>BODY%s</RequestId></Error>",
	         code, code);
	reply_str(fd, status, "Content-Type: application/xml\r\n", b);
}

/* Value of header name in r (case-insensitive), copied into out. */
static int
hdr(const struct rec *r, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name);

	for (const char *l = r->hdrs; *l;) {
		const char *e = strstr(l, "\r\n");
		size_t ll = e ? (size_t)(e - l) : strlen(l);
		if (ll > nl && l[nl] == ':' && strncasecmp(l, name, nl) == 0) {
			const char *v = l + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(out, outsz, "%.*s", (int)(ll - (size_t)(v - l)), v);
			return 1;
		}
		if (!e)
			break;
		l = e + 2;
	}
	return 0;
}

static void *
conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);

	for (;;) {
		char *end;
		while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
			if (len == cap)
				goto out;
			ssize_t r = recv(fd, buf + len, cap - len, 0);
			if (r <= 0)
				goto out;
			len += (size_t)r;
		}
		struct rec *rc = calloc(1, sizeof(*rc));
		size_t hl = (size_t)(end - buf) + 4;
		char *sp1 = memchr(buf, ' ', hl);
		char *sp2 = sp1 ? memchr(sp1 + 1, ' ', hl - (size_t)(sp1 + 1 - buf)) : NULL;
		char *eol = memmem(buf, hl, "\r\n", 2);
		if (!sp1 || !sp2 || !eol)
			goto out;
		snprintf(rc->method, sizeof(rc->method), "%.*s", (int)(sp1 - buf), buf);
		snprintf(rc->path, sizeof(rc->path), "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
		snprintf(rc->hdrs, sizeof(rc->hdrs), "%.*s", (int)(hl - (size_t)(eol + 2 - buf)),
		         eol + 2);
		char cl[32];
		uint64_t blen = 0;
		if (hdr(rc, "content-length", cl, sizeof(cl)))
			util_parse_u64(cl, &blen);
		memmove(buf, buf + hl, len - hl);
		len -= hl;
		rc->body = malloc(blen + 1);
		while (len < blen) {
			if (len == cap) {
				char *nb = realloc(buf, cap * 2);
				ck_assert_ptr_nonnull(nb);
				buf = nb;
				cap *= 2;
			}
			ssize_t r = recv(fd, buf + len, cap - len, 0);
			if (r <= 0) {
				free(rc->body);
				free(rc);
				goto out;
			}
			len += (size_t)r;
		}
		memcpy(rc->body, buf, blen);
		rc->body[blen] = '\0';
		rc->blen = blen;
		memmove(buf, buf + blen, len - blen);
		len -= blen;

		pthread_mutex_lock(&S.lock);
		if (S.nrecs < MAX_RECS) {
			S.recs[S.nrecs++] = rc;
		} else {
			free(rc->body);
			free(rc);
			rc = NULL;
		}
		int close_after = rc ? S.handler(&S, rc, fd) : 1;
		pthread_mutex_unlock(&S.lock);
		if (close_after)
			break;
	}
out:
	free(buf);
	shutdown(fd, SHUT_RDWR);
	return NULL;
}

static void *
accept_main(void *arg)
{
	for (;;) {
		int fd = accept(S.lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_mutex_lock(&S.lock);
		if (S.nconn == MAX_CONN) {
			pthread_mutex_unlock(&S.lock);
			close(fd);
			continue;
		}
		S.conn_fds[S.nconn] = fd;
		pthread_create(&S.conn_th[S.nconn], NULL, conn_main, (void *)(intptr_t)fd);
		S.nconn++;
		pthread_mutex_unlock(&S.lock);
	}
}

static void
srv_start(handler_fn h)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	memset(&S, 0, sizeof(S));
	pthread_mutex_init(&S.lock, NULL);
	S.handler = h;
	S.lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(S.lfd, 0);
	ck_assert_int_eq(bind(S.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(S.lfd, 64), 0);
	ck_assert_int_eq(getsockname(S.lfd, (struct sockaddr *)&a, &al), 0);
	S.port = ntohs(a.sin_port);
	pthread_create(&S.th, NULL, accept_main, NULL);
}

static void
srv_stop(void)
{
	shutdown(S.lfd, SHUT_RDWR);
	close(S.lfd);
	pthread_join(S.th, NULL);
	for (int i = 0; i < S.nconn; i++) {
		shutdown(S.conn_fds[i], SHUT_RDWR);
		pthread_join(S.conn_th[i], NULL);
		close(S.conn_fds[i]);
	}
	for (int i = 0; i < S.nrecs; i++) {
		free(S.recs[i]->body);
		free(S.recs[i]);
	}
	pthread_mutex_destroy(&S.lock);
}

/* ------------------------------------------------------------ fixtures */

static struct s3_conf *conf;
static struct store *st;
static char msg[512];

static void
unset_aws_env(void)
{
	static const char *const vars[] = {"AWS_ACCESS_KEY_ID",           "AWS_SECRET_ACCESS_KEY",
	                                   "AWS_SESSION_TOKEN",           "AWS_PROFILE",
	                                   "AWS_SHARED_CREDENTIALS_FILE", "AWS_REGION",
	                                   "AWS_DEFAULT_REGION",          "AWS_ENDPOINT_URL"};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

/* Parses the options given as one -o string; returns s3_conf_parse's rc. */
static int
parse(struct s3_conf *c, const char *opts, struct fuse_args *out_left)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	int rc;

	fuse_opt_add_arg(&args, "prog");
	if (opts) {
		fuse_opt_add_arg(&args, "-o");
		fuse_opt_add_arg(&args, opts);
	}
	rc = s3_conf_parse(c, &args);
	if (out_left)
		*out_left = args;
	else
		fuse_opt_free_args(&args);
	return rc;
}

/* A store on the fake server, with extra options. */
static void
open_store(handler_fn h, const char *extra, const char *root)
{
	char opts[512];

	srv_start(h);
	unset_aws_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretTEST", 1);
	setenv("AWS_SESSION_TOKEN", "tokenTEST", 1);
	setenv("HOME", "/nonexistent", 1);
	snprintf(opts, sizeof(opts), "endpoint=http://127.0.0.1:%d%s%s", S.port, extra ? "," : "",
	         extra ? extra : "");
	conf = s3_conf_create();
	ck_assert_ptr_nonnull(conf);
	ck_assert_int_eq(parse(conf, opts, NULL), 0);
	st = s3_store_create(conf, "bkt", root, 4, msg, sizeof(msg));
	ck_assert_msg(st != NULL, "%s", msg);
}

static void
close_store(void)
{
	store_destroy(&st);
	s3_conf_destroy(&conf);
	srv_stop();
}

static void
md5_b64(const void *b, size_t n, char out[25])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int ml;

	EVP_Digest(b, n, md, &ml, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, (int)ml);
}

static void
sha256_hex(const void *b, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int ml;

	EVP_Digest(b, n, md, &ml, EVP_sha256(), NULL);
	util_hex(md, ml, out);
}

/* ------------------------------------------------------------ pure parts */

START_TEST(test_status_errno)
{
	static const struct {
		long status;
		const char *code, *region;
		int rc;
	} t[] = {
	    {404, "NoSuchKey", NULL, -ENOENT},
	    {404, "NoSuchBucket", NULL, -ENOENT},
	    {404, "", NULL, -ENOENT},
	    {403, "AccessDenied", NULL, -EACCES},
	    {403, "SignatureDoesNotMatch", NULL, -EACCES},
	    {403, "RequestTimeTooSkewed", NULL, -EACCES},
	    {401, NULL, NULL, -EACCES},
	    {400, "InvalidArgument", NULL, -EINVAL},
	    {400, "RequestTimeout", NULL, -ETIMEDOUT},
	    {400, "IncompleteBody", NULL, -EIO},
	    {400, "BadDigest", NULL, -EIO},
	    {400, "AuthorizationHeaderMalformed", "eu-west-1", -ELOOP},
	    {400, "AuthorizationHeaderMalformed", "", -EINVAL},
	    {301, "PermanentRedirect", NULL, -ELOOP},
	    {307, "TemporaryRedirect", NULL, -ELOOP},
	    {304, NULL, NULL, -ELOOP},
	    {405, "MethodNotAllowed", NULL, -EINVAL},
	    {409, "OperationAborted", NULL, -EBUSY},
	    {411, "MissingContentLength", NULL, -EINVAL},
	    {412, "PreconditionFailed", NULL, -ESTALE},
	    {416, "InvalidRange", NULL, -ERANGE},
	    {429, NULL, NULL, -EAGAIN},
	    {500, "InternalError", NULL, -EIO},
	    {501, "NotImplemented", NULL, -EOPNOTSUPP},
	    {502, NULL, NULL, -EIO},
	    {503, "SlowDown", NULL, -EAGAIN},
	    {503, "ServiceUnavailable", NULL, -EIO},
	    {504, NULL, NULL, -EIO},
	    {507, NULL, NULL, -ENOSPC},
	    {599, NULL, NULL, -EIO},
	    {100, NULL, NULL, -EPROTO},
	    {0, NULL, NULL, -EPROTO},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(s3_status_errno(t[i].status, t[i].code, t[i].region) == t[i].rc,
		              "%ld %s: %d, want %d", t[i].status, t[i].code ? t[i].code : "",
		              s3_status_errno(t[i].status, t[i].code, t[i].region), t[i].rc);
	/* what the retry layer makes of them */
	ck_assert(retry_is_transient(s3_status_errno(503, "SlowDown", NULL)));
	ck_assert(retry_is_transient(s3_status_errno(500, NULL, NULL)));
	ck_assert(retry_is_transient(s3_status_errno(400, "RequestTimeout", NULL)));
	ck_assert(!retry_is_transient(s3_status_errno(403, "AccessDenied", NULL)));
	ck_assert(!retry_is_transient(s3_status_errno(404, NULL, NULL)));
	ck_assert(!retry_is_transient(s3_status_errno(400, NULL, NULL)));
	ck_assert(!retry_is_transient(s3_status_errno(412, NULL, NULL)));
}
END_TEST

START_TEST(test_transport_errno)
{
	ck_assert_int_eq(s3_transport_errno(0, 0), 0);
	ck_assert_int_eq(s3_transport_errno(-ETIMEDOUT, 0), -ETIMEDOUT);
	ck_assert_int_eq(s3_transport_errno(-ECONNREFUSED, 0), -EIO);
	ck_assert_int_eq(s3_transport_errno(-ENXIO, 0), -EIO);
	ck_assert_int_eq(s3_transport_errno(-ECONNRESET, 0), -EIO);
	ck_assert_int_eq(s3_transport_errno(-EMSGSIZE, 0), -EIO);
	ck_assert_int_eq(s3_transport_errno(-EKEYREJECTED, 0), -ENXIO);
	ck_assert_int_eq(s3_transport_errno(-ENOMEM, 0), -ENOMEM);
	/* at mount time, unreachable is said at once */
	ck_assert_int_eq(s3_transport_errno(-ETIMEDOUT, 1), -ENXIO);
	ck_assert_int_eq(s3_transport_errno(-ECONNREFUSED, 1), -ENXIO);
	ck_assert_int_eq(s3_transport_errno(-ECONNRESET, 1), -ENXIO);
	ck_assert_int_eq(s3_transport_errno(-EKEYREJECTED, 1), -ENXIO);
}
END_TEST

START_TEST(test_content_range)
{
	size_t n = 0;

	ck_assert_int_eq(s3_check_content_range("bytes 0-4095/10000", 0, 4096, &n), 0);
	ck_assert_uint_eq(n, 4096);
	ck_assert_int_eq(s3_check_content_range("bytes 8192-9999/10000", 8192, 4096, &n), 0);
	ck_assert_uint_eq(n, 1808);
	ck_assert_int_eq(s3_check_content_range("bytes 5-5/6", 5, 1, &n), 0);
	ck_assert_int_eq(s3_check_content_range("bytes 0-99/*", 0, 100, &n), 0);
	/* short, not at the end: truncated */
	ck_assert_int_eq(s3_check_content_range("bytes 0-49/1000", 0, 100, &n), -EIO);
	ck_assert_int_eq(s3_check_content_range("bytes 0-49/*", 0, 100, &n), -EIO);
	/* not what was asked */
	ck_assert_int_eq(s3_check_content_range("bytes 1-100/1000", 0, 100, &n), -EPROTO);
	ck_assert_int_eq(s3_check_content_range("bytes 0-100/1000", 0, 100, &n), -EPROTO);
	ck_assert_int_eq(s3_check_content_range("bytes 0-99/50", 0, 100, &n), -EPROTO);
	ck_assert_int_eq(s3_check_content_range("bytes 9-3/50", 9, 100, &n), -EPROTO);
	ck_assert_int_eq(s3_check_content_range("", 0, 100, &n), -EPROTO);
	ck_assert_int_eq(s3_check_content_range("bytes */1000", 0, 100, &n), -EPROTO);
	ck_assert_int_eq(s3_check_content_range("bytes 0-x/1000", 0, 100, &n), -EPROTO);
	ck_assert_int_eq(s3_check_content_range("items 0-9/10", 0, 10, &n), -EPROTO);
	ck_assert_int_eq(s3_check_content_range("bytes -1-9/10", 0, 10, &n), -EPROTO);
}
END_TEST

START_TEST(test_conf)
{
	struct s3_conf *c;
	struct fuse_args left;

	unset_aws_env();
	/* defaults; foreign options stay in args */
	c = s3_conf_create();
	ck_assert_int_eq(parse(c, "allow_other,region=eu-west-3,cache=64M", &left), 0);
	ck_assert_int_eq(left.argc, 3);
	ck_assert_str_eq(left.argv[2], "allow_other,cache=64M");
	fuse_opt_free_args(&left);
	st = s3_store_create(c, "my-bucket", "team/dbs", 2, msg, sizeof(msg));
	ck_assert_ptr_null(st); /* no credentials anywhere */
	ck_assert_msg(strstr(msg, "credentials") != NULL, "%s", msg);
	s3_conf_destroy(&c);
	ck_assert_ptr_null(c);

	/* environment */
	setenv("AWS_REGION", "ap-south-1", 1);
	setenv("AWS_ENDPOINT_URL", "http://localhost:9000/", 1);
	c = s3_conf_create();
	ck_assert_int_eq(parse(c, NULL, NULL), 0);
	s3_conf_destroy(&c);
	unset_aws_env();

	/* every option at once */
	c = s3_conf_create();
	ck_assert_int_eq(parse(c,
	                       "endpoint=https://[::1]:8443/s3/,region=r1,virtual_host,insecure,"
	                       "ca_file=/x/ca.pem,credentials=/x/c,profile=p,unsigned_payload,"
	                       "request_timeout=5,connect_timeout=2,retry_budget=0",
	                       NULL),
	                 0);
	s3_conf_destroy(&c);

	/* each bad value: -EINVAL */
	static const char *const bad[] = {
	    "endpoint=ftp://x",
	    "endpoint=http://",
	    "endpoint=http://a:0",
	    "endpoint=http://a:65536",
	    "endpoint=http://a:x",
	    "endpoint=http://u@a",
	    "endpoint=http://a?x=1",
	    "endpoint=http://a/b c",
	    "endpoint=http://a/%2F",
	    "endpoint=http://[::1",
	    "endpoint=http://a_b",
	    "endpoint=http://127.0.0.1:9000,unsigned_payload",
	    "region=a/b",
	    "region=",
	    "request_timeout=0",
	    "request_timeout=3601",
	    "request_timeout=1.5",
	    "connect_timeout=-1",
	    "retry_budget=x",
	    "ca_file=",
	    "credentials=",
	    "profile=",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = s3_conf_create();
		ck_assert_msg(parse(c, bad[i], NULL) == -EINVAL, "%s accepted", bad[i]);
		s3_conf_destroy(&c);
	}

	/* bucket names */
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretTEST", 1);
	c = s3_conf_create();
	ck_assert_int_eq(parse(c, "endpoint=http://127.0.0.1:1", NULL), 0);
	ck_assert_ptr_null(s3_store_create(c, "", "", 1, msg, sizeof(msg)));
	ck_assert_ptr_null(s3_store_create(c, "a/b", "", 1, msg, sizeof(msg)));
	ck_assert_ptr_null(s3_store_create(c, "a b", "", 1, msg, sizeof(msg)));
	st = s3_store_create(c, "Legacy_Bucket", "", 1, msg, sizeof(msg));
	ck_assert_ptr_nonnull(st);
	store_destroy(&st);
	s3_conf_destroy(&c);
	c = s3_conf_create();
	ck_assert_int_eq(parse(c, "endpoint=http://127.0.0.1:1,virtual_host", NULL), 0);
	ck_assert_ptr_null(s3_store_create(c, "Legacy_Bucket", "", 1, msg, sizeof(msg)));
	ck_assert_msg(strstr(msg, "path_style") != NULL, "%s", msg);
	s3_conf_destroy(&c);
	unset_aws_env();
}
END_TEST

/* ------------------------------------------------------------ requests */

/* An in-memory bucket behind the fake server, for the round-trip test. */
#define NOBJ 16
static struct {
	char key[8192]; /* as it arrived, still encoded */
	unsigned char data[8192];
	size_t len;
	int used;
} objs[NOBJ];

static int
find_obj(const char *path)
{
	for (int i = 0; i < NOBJ; i++)
		if (objs[i].used && strcmp(objs[i].key, path) == 0)
			return i;
	return -1;
}

static int
h_bucket(struct srv *s, const struct rec *r, int fd)
{
	int i = find_obj(r->path);
	char range[64], extra[256];

	if (strcmp(r->method, "PUT") == 0) {
		if (i < 0) {
			for (i = 0; i < NOBJ && objs[i].used; i++)
				;
			ck_assert_int_lt(i, NOBJ);
		}
		objs[i].used = 1;
		snprintf(objs[i].key, sizeof(objs[i].key), "%s", r->path);
		ck_assert_uint_le(r->blen, sizeof(objs[i].data));
		memcpy(objs[i].data, r->body, r->blen);
		objs[i].len = r->blen;
		reply(fd, 200, "ETag: \"x\"\r\n", NULL, 0);
		return 0;
	}
	if (strcmp(r->method, "DELETE") == 0) {
		if (i >= 0)
			objs[i].used = 0;
		reply(fd, 204, NULL, NULL, 0);
		return 0;
	}
	if (i < 0) {
		if (strcmp(r->method, "HEAD") == 0)
			reply(fd, 404, NULL, NULL, 0);
		else
			reply_err(fd, 404, "NoSuchKey");
		return 0;
	}
	if (strcmp(r->method, "HEAD") == 0) {
		snprintf(extra, sizeof(extra), "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n");
		char h[512];
		int n = snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n",
		                 objs[i].len, extra);
		send_all(fd, h, (size_t)n);
		return 0;
	}
	if (hdr(r, "range", range, sizeof(range))) {
		unsigned long long a, b;
		ck_assert_int_eq(sscanf(range, "bytes=%llu-%llu", &a, &b), 2);
		if (a >= objs[i].len) {
			reply_err(fd, 416, "InvalidRange");
			return 0;
		}
		if (b >= objs[i].len)
			b = objs[i].len - 1;
		snprintf(extra, sizeof(extra), "Content-Range: bytes %llu-%llu/%zu\r\n", a, b,
		         objs[i].len);
		reply(fd, 206, extra, objs[i].data + a, (size_t)(b - a + 1));
		return 0;
	}
	reply(fd, 200, NULL, objs[i].data, objs[i].len);
	return 0;
}

START_TEST(test_roundtrip)
{
	static const char key[] = "odd key+%&~\xc3\xa9/./x//y";
	static const char want_path[] = "/bkt/root/odd%20key%2B%25%26~%C3%A9/./x//y";
	unsigned char data[5000], back[6000];
	char v[256], md5[25], sha[65];
	size_t got;
	uint64_t size;
	time_t mt;

	memset(objs, 0, sizeof(objs));
	open_store(h_bucket, NULL, "root");
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7);
	ck_assert_int_eq(store_put(st, key, data, sizeof(data)), 0);

	/* the request as sent */
	struct rec *r = S.recs[0];
	ck_assert_str_eq(r->method, "PUT");
	ck_assert_str_eq(r->path, want_path);
	md5_b64(data, sizeof(data), md5);
	sha256_hex(data, sizeof(data), sha);
	ck_assert(hdr(r, "content-md5", v, sizeof(v)));
	ck_assert_str_eq(v, md5);
	ck_assert(hdr(r, "x-amz-content-sha256", v, sizeof(v)));
	ck_assert_str_eq(v, sha);
	ck_assert(hdr(r, "content-length", v, sizeof(v)));
	ck_assert_str_eq(v, "5000");
	ck_assert(hdr(r, "x-amz-security-token", v, sizeof(v)));
	ck_assert_str_eq(v, "tokenTEST");
	ck_assert(hdr(r, "host", v, sizeof(v)));
	char hostport[64];
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", S.port);
	ck_assert_str_eq(v, hostport);
	ck_assert(hdr(r, "authorization", v, sizeof(v)));
	ck_assert_msg(strncmp(v, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37) == 0, "%s", v);
	ck_assert_msg(strstr(v, "/us-east-1/s3/aws4_request") != NULL, "%s", v);
	ck_assert_msg(strstr(v, "content-md5;content-type;host;x-amz-content-sha256;x-amz-date;"
	                        "x-amz-security-token") != NULL,
	              "%s", v);
	ck_assert(!hdr(r, "expect", v, sizeof(v)));
	ck_assert(!hdr(r, "transfer-encoding", v, sizeof(v)));

	/* reads: whole, ranges, at and past the end */
	ck_assert_int_eq(store_get(st, key, 0, sizeof(back), back, &got), 0);
	ck_assert_uint_eq(got, sizeof(data));
	ck_assert(memcmp(back, data, got) == 0);
	ck_assert(hdr(S.recs[1], "range", v, sizeof(v)));
	ck_assert_str_eq(v, "bytes=0-5999");
	ck_assert(hdr(S.recs[1], "x-amz-content-sha256", v, sizeof(v)));
	ck_assert_str_eq(v, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_int_eq(store_get(st, key, 4096, 4096, back, &got), 0);
	ck_assert_uint_eq(got, 5000 - 4096);
	ck_assert(memcmp(back, data + 4096, got) == 0);
	ck_assert_int_eq(store_get(st, key, 100, 10, back, &got), 0);
	ck_assert_uint_eq(got, 10);
	ck_assert(memcmp(back, data + 100, 10) == 0);
	ck_assert_int_eq(store_get(st, key, 5000, 10, back, &got), 0);
	ck_assert_uint_eq(got, 0);
	ck_assert_int_eq(store_get(st, key, 0, 0, back, &got), 0);
	ck_assert_uint_eq(got, 0);
	ck_assert_int_eq(store_head(st, key, &size, &mt), 0);
	ck_assert_uint_eq(size, 5000);
	ck_assert_int_eq((long)mt, 1445412480L);
	ck_assert_int_eq(store_get(st, "missing", 0, 10, back, &got), -ENOENT);
	ck_assert_int_eq(store_head(st, "missing", &size, NULL), -ENOENT);
	/* a key that is too long, or empty, never leaves */
	char longkey[1100];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	int n = S.nrecs;
	ck_assert_int_eq(store_put(st, longkey, "x", 1), -ENAMETOOLONG);
	ck_assert_int_eq(store_put(st, "", "x", 1), -EINVAL);
	ck_assert_int_eq(S.nrecs, n);
	/* one key: a plain DELETE */
	const char *one[] = {key};
	ck_assert_int_eq(store_del(st, one, 1), 0);
	ck_assert_str_eq(S.recs[S.nrecs - 1]->method, "DELETE");
	ck_assert_str_eq(S.recs[S.nrecs - 1]->path, want_path);
	ck_assert_int_eq(store_get(st, key, 0, 10, back, &got), -ENOENT);

	struct store_stats ss = {0};
	store_get_stats(st, &ss);
	ck_assert_uint_eq(ss.puts, 1);
	ck_assert_uint_eq(ss.gets, 6);
	ck_assert_uint_eq(ss.heads, 3);
	ck_assert_uint_eq(ss.deletes, 1);
	ck_assert_uint_eq(ss.bytes_up, 5000);
	ck_assert_uint_eq(ss.retries, 0);
	close_store();
}
END_TEST

/* Replies that do not add up: never a short or wrong block. */
static int
h_bad_get(struct srv *s, const struct rec *r, int fd)
{
	const char *p = strrchr(r->path, '/') + 1;
	static char big[70000];

	memset(big, 'b', sizeof(big));
	if (strcmp(p, "truncated") == 0) {
		const char *h = "HTTP/1.1 206 X\r\nContent-Length: 100\r\n"
		                "Content-Range: bytes 0-99/1000\r\n\r\n";
		send_all(fd, h, strlen(h));
		send_all(fd, "0123456789", 10);
		return 1;
	}
	if (strcmp(p, "short") == 0) {
		reply(fd, 206, "Content-Range: bytes 0-49/1000\r\n", big, 50);
		return 0;
	}
	if (strcmp(p, "wide") == 0) {
		reply(fd, 206, "Content-Range: bytes 0-199/1000\r\n", big, 200);
		return 0;
	}
	if (strcmp(p, "liar") == 0) { /* Content-Range says 100, body 100, header lies */
		reply(fd, 206, "Content-Range: bytes 1-100/1000\r\n", big, 100);
		return 0;
	}
	if (strcmp(p, "norange") == 0) {
		for (int i = 0; i < 1000; i++)
			big[i] = (char)(i % 251);
		reply(fd, 200, NULL, big, 1000);
		return 0;
	}
	if (strcmp(p, "huge") == 0) {
		memset(big, 'h', sizeof(big));
		reply(fd, 200, NULL, big, sizeof(big));
		return 0;
	}
	if (strcmp(p, "nolength") == 0) { /* 200, no length, closes: body up to close */
		const char *h = "HTTP/1.1 200 X\r\nConnection: close\r\n\r\n";
		send_all(fd, h, strlen(h));
		send_all(fd, "abc", 3);
		return 1;
	}
	if (strcmp(p, "weird") == 0) {
		reply(fd, 204, NULL, NULL, 0);
		return 0;
	}
	reply_err(fd, 500, "InternalError");
	return 0;
}

START_TEST(test_bad_replies)
{
	char buf[100];
	size_t got = 77;

	open_store(h_bad_get, "retry_budget=0", "");
	ck_assert_int_eq(store_get(st, "truncated", 0, 100, buf, &got), -EIO);
	ck_assert_int_eq(store_get(st, "short", 0, 100, buf, &got), -EIO);
	ck_assert_int_eq(store_get(st, "wide", 0, 100, buf, &got), -EIO);
	ck_assert_int_eq(store_get(st, "liar", 0, 100, buf, &got), -EPROTO);
	ck_assert_int_eq(store_get(st, "huge", 0, 100, buf, &got), -EIO);
	ck_assert_int_eq(store_get(st, "weird", 0, 100, buf, &got), -EPROTO);
	ck_assert_int_eq(store_get(st, "other", 0, 100, buf, &got), -EIO);
	/* a server that ignores Range: the window of the whole object */
	ck_assert_int_eq(store_get(st, "norange", 990, 20, buf, &got), 0);
	ck_assert_uint_eq(got, 10);
	ck_assert_int_eq((unsigned char)buf[0], 990 % 251);
	ck_assert_int_eq(store_get(st, "norange", 10, 5, buf, &got), 0);
	ck_assert_uint_eq(got, 5);
	ck_assert_int_eq(buf[4], 14);
	ck_assert_int_eq(store_get(st, "nolength", 0, 100, buf, &got), 0);
	ck_assert_uint_eq(got, 3);
	struct store_stats ss = {0};
	store_get_stats(st, &ss);
	ck_assert_uint_eq(ss.errors, 7);
	close_store();
}
END_TEST

/* 503 SlowDown twice, then fine: retried by the layer on top, re-signed. */
static int
h_slowdown(struct srv *s, const struct rec *r, int fd)
{
	if (s->state++ < 2)
		reply_err(fd, 503, "SlowDown");
	else
		reply(fd, 200, NULL, NULL, 0);
	return 0;
}

START_TEST(test_retry_slowdown)
{
	open_store(h_slowdown, "retry_budget=5", "");
	ck_assert_int_eq(store_put(st, "k", "abc", 3), 0);
	ck_assert_int_eq(S.nrecs, 3);
	struct store_stats ss = {0};
	store_get_stats(st, &ss);
	ck_assert_uint_eq(ss.retries, 2);
	ck_assert_uint_eq(ss.puts, 3);
	ck_assert_uint_eq(ss.errors, 2);
	close_store();
}
END_TEST

/* Listing: pages, tokens, url-encoded names, prefixes merged in order,
 * root prefix stripped, max_keys. */
static int
h_list(struct srv *s, const struct rec *r, int fd)
{
	if (strstr(r->path, "continuation-token=") == NULL) {
		reply_str(
		    fd, 200, NULL,
		    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		    "<Name>bkt</Name><Prefix>r%2Fd%2F</Prefix><EncodingType>url</EncodingType>"
		    "<IsTruncated>true</IsTruncated>"
		    "<Contents><Key>r/d/a+b</Key><Size>1</Size>"
		    "<LastModified>2024-01-01T00:00:00.000Z</LastModified></Contents>"
		    "<Contents><Key>r/d/c%2Bd</Key><Size>2</Size></Contents>"
		    "<CommonPrefixes><Prefix>r/d/b/</Prefix></CommonPrefixes>"
		    "<NextContinuationToken>t/1+=</NextContinuationToken>"
		    "</ListBucketResult>");
	} else {
		reply_str(fd, 200, NULL,
		          "<ListBucketResult><EncodingType>url</EncodingType>"
		          "<IsTruncated>false</IsTruncated>"
		          "<Contents><Key>r/d/z%26%C3%A9</Key><Size>3</Size></Contents>"
		          "<CommonPrefixes><Prefix>r/d/e/</Prefix></CommonPrefixes>"
		          "</ListBucketResult>");
	}
	return 0;
}

struct got_list {
	char keys[16][64];
	int pre[16];
	uint64_t size[16];
	int n;
};

static int
list_cb(void *arg, const struct store_entry *e)
{
	struct got_list *g = arg;

	ck_assert_int_lt(g->n, 16);
	snprintf(g->keys[g->n], sizeof(g->keys[0]), "%s", e->key);
	g->pre[g->n] = e->is_prefix;
	g->size[g->n] = e->size;
	g->n++;
	return 0;
}

START_TEST(test_list)
{
	struct got_list g = {0};

	open_store(h_list, NULL, "r");
	ck_assert_int_eq(store_list(st, "d/", "/", "d/0", 0, list_cb, &g), 0);
	ck_assert_int_eq(g.n, 5);
	ck_assert_str_eq(g.keys[0], "d/a b");
	ck_assert_str_eq(g.keys[1], "d/b/");
	ck_assert_int_eq(g.pre[1], 1);
	ck_assert_str_eq(g.keys[2], "d/c+d");
	ck_assert_uint_eq(g.size[2], 2);
	ck_assert_str_eq(g.keys[3], "d/e/");
	ck_assert_str_eq(g.keys[4], "d/z&\xc3\xa9");
	ck_assert_int_eq(S.nrecs, 2);
	const char *p1 = S.recs[0]->path, *p2 = S.recs[1]->path;
	ck_assert_msg(strncmp(p1, "/bkt?", 5) == 0, "%s", p1);
	ck_assert_msg(strstr(p1, "list-type=2") && strstr(p1, "encoding-type=url") &&
	                  strstr(p1, "prefix=r%2Fd%2F") && strstr(p1, "delimiter=%2F") &&
	                  strstr(p1, "start-after=r%2Fd%2F0") && strstr(p1, "max-keys=1000"),
	              "%s", p1);
	ck_assert_msg(strstr(p2, "continuation-token=t%2F1%2B%3D") && !strstr(p2, "start-after"),
	              "%s", p2);
	/* max_keys stops the listing and sizes the pages */
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(store_list(st, "d/", NULL, NULL, 2, list_cb, &g), 0);
	ck_assert_int_eq(g.n, 2);
	ck_assert_int_eq(S.nrecs, 3);
	ck_assert_msg(strstr(S.recs[2]->path, "max-keys=2"), "%s", S.recs[2]->path);
	close_store();
}
END_TEST

/* DeleteObjects: batches of 1000 in order, Content-MD5, Quiet, escapes. */
static int
h_delete(struct srv *s, const struct rec *r, int fd)
{
	if (strcmp(r->method, "POST") == 0 && strstr(r->body, "gone&amp;1"))
		reply_str(fd, 200, NULL,
		          "<DeleteResult><Error><Key>gone&amp;1</Key><Code>AccessDenied</Code>"
		          "<Message>no</Message></Error></DeleteResult>");
	else if (strcmp(r->method, "POST") == 0)
		reply_str(fd, 200, NULL,
		          "<DeleteResult><Error><Key>x</Key><Code>NoSuchKey</Code></Error>"
		          "</DeleteResult>");
	else
		reply(fd, 204, NULL, NULL, 0);
	return 0;
}

START_TEST(test_delete)
{
	enum { N = 2500 };
	static char names[N][32];
	static const char *keys[N];
	char v[64], md5[25];

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), i == 7 ? "v/<&\t%d>" : "v/%010d", i);
		keys[i] = names[i];
	}
	snprintf(names[1500], sizeof(names[1500]), "v/ctrl\x01");
	open_store(h_delete, NULL, "");
	ck_assert_int_eq(store_del(st, keys, N), 0);
	/* 0..1499 in batches of 1000 and 500, the control-char key alone,
	 * then 1501..2499 */
	ck_assert_int_eq(S.nrecs, 4);
	ck_assert_str_eq(S.recs[0]->method, "POST");
	ck_assert_str_eq(S.recs[0]->path, "/bkt?delete=");
	ck_assert_str_eq(S.recs[2]->method, "DELETE");
	ck_assert_str_eq(S.recs[2]->path, "/bkt/v/ctrl%01");
	int counts[] = {1000, 500, 0, 999};
	for (int i = 0; i < 4; i++) {
		if (i == 2)
			continue;
		struct rec *r = S.recs[i];
		int n = 0;
		for (const char *q = r->body; (q = strstr(q, "<Object>")); q++)
			n++;
		ck_assert_int_eq(n, counts[i]);
		md5_b64(r->body, r->blen, md5);
		ck_assert(hdr(r, "content-md5", v, sizeof(v)));
		ck_assert_str_eq(v, md5);
		ck_assert(strstr(r->body, "<Quiet>true</Quiet>"));
	}
	ck_assert(strstr(S.recs[0]->body, "<Key>v/0000000000</Key>"));
	ck_assert(strstr(S.recs[0]->body, "<Key>v/&lt;&amp;&#9;7&gt;</Key>"));
	ck_assert(strstr(S.recs[3]->body, "<Key>v/0000002499</Key>"));
	/* a per-key error */
	const char *two[] = {"ok", "gone&1"};
	ck_assert_int_eq(store_del(st, two, 2), -EACCES);
	close_store();
}
END_TEST

/* CopyObject: the source header, and a 200 that carries an <Error>. */
static int
h_copy(struct srv *s, const struct rec *r, int fd)
{
	if (strstr(r->path, "bad"))
		reply_str(fd, 200, NULL,
		          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError"
		          "</Code><Message>m</Message></Error>");
	else if (strstr(r->path, "trunc"))
		reply_str(fd, 200, NULL, "<CopyObjectResult><ETag>x</ETag>");
	else if (strstr(r->path, "nosrc"))
		reply_err(fd, 404, "NoSuchKey");
	else
		reply_str(fd, 200, NULL,
		          "<CopyObjectResult><LastModified>2024-01-01T00:00:00Z</LastModified>"
		          "<ETag>&quot;x&quot;</ETag></CopyObjectResult>");
	return 0;
}

START_TEST(test_copy)
{
	char v[256];

	open_store(h_copy, "retry_budget=0", "top/");
	ck_assert_int_eq(store_copy(st, "a b+c", "d/e"), 0);
	ck_assert_str_eq(S.recs[0]->method, "PUT");
	ck_assert_str_eq(S.recs[0]->path, "/bkt/top/d/e");
	ck_assert(hdr(S.recs[0], "x-amz-copy-source", v, sizeof(v)));
	ck_assert_str_eq(v, "/bkt/top/a%20b%2Bc");
	ck_assert(hdr(S.recs[0], "authorization", v, sizeof(v)));
	ck_assert(strstr(v, "x-amz-copy-source"));
	ck_assert_int_eq(store_copy(st, "a", "bad"), -EIO);
	ck_assert_int_eq(store_copy(st, "a", "trunc"), -EPROTO);
	ck_assert_int_eq(store_copy(st, "a", "nosrc"), -ENOENT);
	close_store();
}
END_TEST

/* probe(): one clear line per failure. */
static int
h_probe(struct srv *s, const struct rec *r, int fd)
{
	switch (s->state) {
	case 0:
		reply_str(fd, 200, NULL,
		          "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
		break;
	case 1:
		reply_err(fd, 404, "NoSuchBucket");
		break;
	case 2:
		reply_err(fd, 403, "SignatureDoesNotMatch");
		break;
	case 3:
		reply_err(fd, 301, "PermanentRedirect");
		break;
	case 4:
		reply(fd, 301, "x-amz-bucket-region: eu-west-1\r\n", NULL, 0);
		break;
	case 5:
		reply_str(fd, 400, NULL,
		          "<Error><Code>AuthorizationHeaderMalformed</Code><Region>ap-east-1"
		          "</Region></Error>");
		break;
	case 6:
		reply_str(fd, 200, NULL, "<html>hello</html>");
		break;
	default:
		reply_err(fd, 403, "RequestTimeTooSkewed");
		break;
	}
	return 0;
}

START_TEST(test_probe)
{
	static const struct {
		int rc;
		const char *msg;
	} t[] = {
	    {0, ""},
	    {-ENOENT, "bucket bkt does not exist"},
	    {-EACCES, "access denied to bucket bkt: check the access key and secret "
	              "(SignatureDoesNotMatch)"},
	    {-ELOOP, "bucket bkt is not served by endpoint"},
	    {-ELOOP, "bucket bkt is in region eu-west-1, not us-east-1: use -o region=eu-west-1"},
	    {-ELOOP, "bucket bkt is in region ap-east-1, not us-east-1: use -o region=ap-east-1"},
	    {-EPROTO, "is it an S3 server?"},
	    {-EACCES, "clock"},
	};

	open_store(h_probe, NULL, "pre");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		msg[0] = '\0';
		S.state = (int)i;
		int rc = st->ops->probe(st, msg, sizeof(msg));
		ck_assert_msg(rc == t[i].rc, "case %zu: %d (%s)", i, rc, msg);
		ck_assert_msg(strstr(msg, t[i].msg) != NULL, "case %zu: %s", i, msg);
		ck_assert(strchr(msg, '\n') == NULL);
	}
	ck_assert_msg(strstr(S.recs[0]->path, "max-keys=0") &&
	                  strstr(S.recs[0]->path, "prefix=pre%2F"),
	              "%s", S.recs[0]->path);
	close_store();

	/* nothing listening */
	open_store(h_probe, NULL, "");
	int port = S.port;
	close_store();
	unset_aws_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretTEST", 1);
	char opts[128];
	snprintf(opts, sizeof(opts), "endpoint=http://127.0.0.1:%d", port);
	conf = s3_conf_create();
	ck_assert_int_eq(parse(conf, opts, NULL), 0);
	st = s3_store_create(conf, "bkt", "", 1, msg, sizeof(msg));
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(st->ops->probe(st, msg, sizeof(msg)), -ENXIO);
	ck_assert_msg(strstr(msg, "cannot reach endpoint http://127.0.0.1:") != NULL, "%s", msg);
	store_destroy(&st);
	s3_conf_destroy(&conf);
}
END_TEST

/* A server that never answers: the per-attempt timeout ends it. */
static int
h_silent(struct srv *s, const struct rec *r, int fd)
{
	return 0; /* no reply, connection kept */
}

START_TEST(test_timeout)
{
	char buf[10];
	size_t got;

	open_store(h_silent, "request_timeout=1,retry_budget=0", "");
	uint64_t t0 = util_now_ms();
	ck_assert_int_eq(store_get(st, "k", 0, 10, buf, &got), -ETIMEDOUT);
	uint64_t took = util_now_ms() - t0;
	ck_assert_uint_ge(took, 400);
	ck_assert_uint_lt(took, 3000);
	close_store();
}
END_TEST

static Suite *
s3_suite(void)
{
	Suite *s = suite_create("s3");
	TCase *tc = tcase_create("pure");
	TCase *tn = tcase_create("fake server");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_status_errno);
	tcase_add_test(tc, test_transport_errno);
	tcase_add_test(tc, test_content_range);
	tcase_add_test(tc, test_conf);
	suite_add_tcase(s, tc);
	tcase_set_timeout(tn, 60);
	tcase_add_test(tn, test_roundtrip);
	tcase_add_test(tn, test_bad_replies);
	tcase_add_test(tn, test_retry_slowdown);
	tcase_add_test(tn, test_list);
	tcase_add_test(tn, test_delete);
	tcase_add_test(tn, test_copy);
	tcase_add_test(tn, test_probe);
	tcase_add_test(tn, test_timeout);
	suite_add_tcase(s, tn);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	sr = srunner_create(s3_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
