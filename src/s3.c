/*
 * s3.c - the S3 store layer and its mount options; see s3.h.
 *
 * Every store call becomes one or more requests built by s3_send(): the
 * object path (sigv4_uri_encode of root prefix + key, '/' kept), the query
 * (encoded the same way the signer encodes it), the headers to sign (host,
 * x-amz-date, x-amz-content-sha256, x-amz-security-token and the call's
 * own: range, content-md5, content-type, x-amz-copy-source), the
 * Authorization header, then http_perform() on a pooled handle.
 * s3_outcome() turns the reply into 0 or -errno through the one status
 * switch, s3_status_errno(), reading S3's <Error> body for the code and
 * the request id, and logs one line per failure.  Nothing here retries:
 * the retry layer above calls again, and every call signs afresh.
 *
 * Thread safety: everything in struct s3_priv is read-only after create
 * except the stats (under lock) and the curl handles (owned by the pool).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "creds.h"
#include "http.h"
#include "log.h"
#include "retry.h"
#include "s3.h"
#include "sigv4.h"
#include "util.h"
#include "xml.h"

#define S3_MAX_KEY        1024 /* S3's limit on a key, in bytes */
#define S3_DELETE_BATCH   1000 /* S3's limit on one DeleteObjects */
#define S3_LIST_PAGE      1000 /* S3's largest page */
#define S3_DEFAULT_REGION "us-east-1"
#define S3_NS             "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_SMALL_BODY     (64u << 10) /* ceiling of a 2xx body we ignore */

/* ------------------------------------------------------------------ options */

struct s3_conf {
	/* as parsed (fuse_opt owns and frees the strings it replaces) */
	char *endpoint, *region, *ca_file, *credentials, *profile;
	char *request_timeout, *connect_timeout, *retry_budget;
	int addressing; /* 0 auto, 1 path style, 2 virtual-hosted */
	int insecure, unsigned_payload;
	/* derived by s3_conf_parse() */
	uint64_t request_timeout_ms, connect_timeout_ms, retry_budget_ms;
	int https;
	char *host;      /* lower-case host[:port] as written in the endpoint */
	char *host_hdr;  /* the same without a default port: the Host header */
	char *base_path; /* "" or "/x/y", no trailing '/' */
	int is_aws;      /* *.amazonaws.com[.cn] */
	int parsed;
};

#define S3_OPT(t, f, v)                                                                            \
	{                                                                                          \
		t, offsetof(struct s3_conf, f), v                                                  \
	}
static const struct fuse_opt s3_opts[] = {
    S3_OPT("endpoint=%s", endpoint, 0),
    S3_OPT("region=%s", region, 0),
    S3_OPT("path_style", addressing, 1),
    S3_OPT("virtual_host", addressing, 2),
    S3_OPT("insecure", insecure, 1),
    S3_OPT("ca_file=%s", ca_file, 0),
    S3_OPT("credentials=%s", credentials, 0),
    S3_OPT("profile=%s", profile, 0),
    S3_OPT("unsigned_payload", unsigned_payload, 1),
    S3_OPT("request_timeout=%s", request_timeout, 0),
    S3_OPT("connect_timeout=%s", connect_timeout, 0),
    S3_OPT("retry_budget=%s", retry_budget, 0),
    FUSE_OPT_END,
};

struct s3_conf *
s3_conf_create(void)
{
	return calloc(1, sizeof(struct s3_conf));
}

void
s3_conf_destroy(struct s3_conf **cp)
{
	struct s3_conf *c = *cp;

	if (c == NULL)
		return;
	free(c->endpoint);
	free(c->region);
	free(c->ca_file);
	free(c->credentials);
	free(c->profile);
	free(c->request_timeout);
	free(c->connect_timeout);
	free(c->retry_budget);
	free(c->host);
	free(c->host_hdr);
	free(c->base_path);
	free(c);
	*cp = NULL;
}

void
s3_conf_help(FILE *out)
{
	fprintf(
	    out,
	    "    -o endpoint=URL        S3 endpoint (default: $AWS_ENDPOINT_URL, else\n"
	    "                           https://s3.REGION.amazonaws.com)\n"
	    "    -o region=R            signing region (default: $AWS_REGION,\n"
	    "                           $AWS_DEFAULT_REGION, else us-east-1)\n"
	    "    -o path_style          address the bucket as ENDPOINT/BUCKET (default for\n"
	    "                           non-AWS endpoints, IP addresses and localhost)\n"
	    "    -o virtual_host        address the bucket as BUCKET.ENDPOINT (default for AWS)\n"
	    "    -o insecure            do not verify the server's TLS certificate\n"
	    "    -o ca_file=FILE        CA certificates to verify the server with\n"
	    "    -o credentials=FILE    credentials file, mode 0600 (default: environment,\n"
	    "                           then ~/.aws/credentials)\n"
	    "    -o profile=NAME        profile in ~/.aws/credentials (default: $AWS_PROFILE,\n"
	    "                           else default)\n"
	    "    -o unsigned_payload    do not hash uploads for the signature (https only)\n"
	    "    -o request_timeout=S   seconds per request attempt (default: 30)\n"
	    "    -o connect_timeout=S   seconds to connect (default: 10)\n"
	    "    -o retry_budget=S      total seconds of pauses between retries (default: 30)\n");
}

static int conf_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the one line a bad option gets; -EINVAL. */
static int
conf_fail(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "s3blockfs: %s\n", line);
	return -EINVAL;
}

static int
parse_seconds(const char *s, const char *name, uint64_t def, uint64_t min, uint64_t max,
              uint64_t *ms)
{
	uint64_t v;

	if (s == NULL) {
		*ms = def * 1000;
		return 0;
	}
	if (util_parse_u64(s, &v) < 0 || v < min || v > max) {
		fprintf(stderr,
		        "s3blockfs: %s=%s: expected whole seconds from %" PRIu64 " to %" PRIu64
		        "\n",
		        name, s, min, max);
		return -EINVAL;
	}
	*ms = v * 1000;
	return 0;
}

static int
is_unreserved(int ch)
{
	return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* Splits the endpoint URL into scheme, host[:port] and base path. */
static int
parse_endpoint(struct s3_conf *c)
{
	const char *u = c->endpoint, *auth, *end, *hend, *port = NULL;
	size_t hlen;

	for (const char *q = u; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == '?' || *q == '#' || *q == '@' ||
		    (unsigned char)*q >= 0x7f)
			return conf_fail("endpoint=%s: expected http[s]://HOST[:PORT][/PATH]", u);
	if (strncasecmp(u, "https://", 8) == 0) {
		c->https = 1;
		auth = u + 8;
	} else if (strncasecmp(u, "http://", 7) == 0) {
		c->https = 0;
		auth = u + 7;
	} else {
		return conf_fail("endpoint=%s: must start with http:// or https://", u);
	}
	end = strchr(auth, '/');
	if (end == NULL)
		end = auth + strlen(auth);
	if (auth[0] == '[') {
		hend = memchr(auth, ']', (size_t)(end - auth));
		if (hend == NULL)
			return conf_fail("endpoint=%s: unterminated IPv6 address", u);
		for (const char *q = auth + 1; q < hend; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return conf_fail("endpoint=%s: bad IPv6 address", u);
		hend++;
		if (hend < end && *hend != ':')
			return conf_fail("endpoint=%s: bad host", u);
	} else {
		hend = memchr(auth, ':', (size_t)(end - auth));
		if (hend == NULL)
			hend = end;
		for (const char *q = auth; q < hend; q++)
			if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.')
				return conf_fail("endpoint=%s: bad host name", u);
	}
	hlen = (size_t)(hend - auth);
	if (hlen == 0)
		return conf_fail("endpoint=%s: no host", u);
	unsigned long portnum = c->https ? 443 : 80;
	if (hend < end) { /* ":port" */
		char num[8];
		uint64_t v;
		port = hend + 1;
		size_t pl = (size_t)(end - port);
		if (pl == 0 || pl >= sizeof(num))
			return conf_fail("endpoint=%s: bad port", u);
		memcpy(num, port, pl);
		num[pl] = '\0';
		if (util_parse_u64(num, &v) < 0 || v == 0 || v > 65535)
			return conf_fail("endpoint=%s: bad port", u);
		portnum = (unsigned long)v;
	}
	for (const char *q = end; *q; q++)
		if (!is_unreserved((unsigned char)*q) && *q != '/')
			return conf_fail(
			    "endpoint=%s: the path may only hold A-Z a-z 0-9 - . _ ~ /", u);
	size_t plen = strlen(end);
	while (plen > 0 && end[plen - 1] == '/')
		plen--;

	free(c->host);
	free(c->host_hdr);
	free(c->base_path);
	c->host = strndup(auth, (size_t)(end - auth));
	c->base_path = strndup(end, plen);
	int default_port = portnum == (c->https ? 443ul : 80ul);
	c->host_hdr = default_port ? strndup(auth, hlen) : strdup(c->host);
	if (c->host == NULL || c->base_path == NULL || c->host_hdr == NULL)
		return -ENOMEM;
	for (char *q = c->host; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	for (char *q = c->host_hdr; *q; q++)
		*q = (char)tolower((unsigned char)*q);

	char hostname[256];
	snprintf(hostname, sizeof(hostname), "%.*s", (int)UTIL_MIN(hlen, 255), c->host);
	size_t hn = strlen(hostname);
	c->is_aws = (hn > 14 && strcmp(hostname + hn - 14, ".amazonaws.com") == 0) ||
	            (hn > 17 && strcmp(hostname + hn - 17, ".amazonaws.com.cn") == 0);
	return 0;
}

static int
valid_region(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n > 63)
		return 0;
	for (const char *q = r; *q; q++)
		if (!isalnum((unsigned char)*q) && *q != '-' && *q != '_')
			return 0;
	return 1;
}

int
s3_conf_parse(struct s3_conf *c, struct fuse_args *args)
{
	int rc;

	if (fuse_opt_parse(args, c, s3_opts, NULL) == -1)
		return -EINVAL;

	if (c->region == NULL) {
		const char *r = getenv("AWS_REGION");
		if (r == NULL || *r == '\0')
			r = getenv("AWS_DEFAULT_REGION");
		if (r == NULL || *r == '\0')
			r = S3_DEFAULT_REGION;
		if ((c->region = strdup(r)) == NULL)
			return -ENOMEM;
	}
	if (!valid_region(c->region))
		return conf_fail("region=%s: expected letters, digits, '-' and '_'", c->region);
	if (c->endpoint == NULL) {
		const char *e = getenv("AWS_ENDPOINT_URL");
		if (e != NULL && *e != '\0') {
			c->endpoint = strdup(e);
		} else {
			size_t n = strlen(c->region) + 32;
			if ((c->endpoint = malloc(n)) != NULL)
				snprintf(c->endpoint, n, "https://s3.%s.amazonaws.com", c->region);
		}
		if (c->endpoint == NULL)
			return -ENOMEM;
	}
	if ((rc = parse_endpoint(c)) < 0)
		return rc;
	if (c->unsigned_payload && !c->https)
		return conf_fail("unsigned_payload needs an https endpoint, not %s", c->endpoint);
	if (c->ca_file && c->ca_file[0] == '\0')
		return conf_fail("ca_file=: empty file name");
	if (c->credentials && c->credentials[0] == '\0')
		return conf_fail("credentials=: empty file name");
	if (c->profile && c->profile[0] == '\0')
		return conf_fail("profile=: empty profile name");
	if ((rc = parse_seconds(c->request_timeout, "request_timeout", 30, 1, 3600,
	                        &c->request_timeout_ms)) < 0 ||
	    (rc = parse_seconds(c->connect_timeout, "connect_timeout", 10, 1, 600,
	                        &c->connect_timeout_ms)) < 0 ||
	    (rc = parse_seconds(c->retry_budget, "retry_budget", 30, 0, 86400,
	                        &c->retry_budget_ms)) < 0)
		return rc;
	c->parsed = 1;
	return 0;
}

/* ------------------------------------------------------------------ errors */

static int
code_is(const char *code, const char *want)
{
	return code != NULL && strcmp(code, want) == 0;
}

int
s3_status_errno(long status, const char *code, const char *region)
{
	switch (status) {
	case 301:
	case 302:
	case 307:
	case 308:
		return -ELOOP;
	case 400:
		/* S3 documents RequestTimeout as retryable; IncompleteBody and
		 * the digest mismatches mean the body was damaged on the way. */
		if (code_is(code, "RequestTimeout"))
			return -ETIMEDOUT;
		if (code_is(code, "IncompleteBody") || code_is(code, "BadDigest") ||
		    code_is(code, "XAmzContentSHA256Mismatch"))
			return -EIO;
		if (code_is(code, "AuthorizationHeaderMalformed") && region != NULL &&
		    region[0] != '\0')
			return -ELOOP;
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EBUSY;
	case 412:
		return -ESTALE;
	case 416:
		return -ERANGE;
	case 429:
		return -EAGAIN;
	case 501:
		return -EOPNOTSUPP;
	case 503:
		return code_is(code, "SlowDown") ? -EAGAIN : -EIO;
	case 507:
		return -ENOSPC;
	default:
		if (status >= 300 && status < 400)
			return -ELOOP;
		if (status >= 400 && status < 500)
			return -EINVAL;
		if (status >= 500 && status < 600)
			return -EIO;
		return -EPROTO;
	}
}

int
s3_transport_errno(int http_rc, int probing)
{
	switch (http_rc) {
	case 0:
		return 0;
	case -ENOMEM:
		return -ENOMEM;
	case -EINVAL:
		return -EINVAL;
	case -EKEYREJECTED:
		return -ENXIO;
	default:
		break;
	}
	/* At mount time the user wants to know at once; later, down or
	 * unresolvable now may be up in a moment: transient. */
	if (probing)
		return -ENXIO;
	return http_rc == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
}

int
s3_check_content_range(const char *hdr, uint64_t off, size_t want, size_t *len)
{
	uint64_t a, b, total = UINT64_MAX;
	char num[24];
	const char *p = hdr, *q;

	if (strncasecmp(p, "bytes ", 6) != 0)
		return -EPROTO;
	p += 6;
	for (int i = 0; i < 3; i++) {
		char stop = i == 0 ? '-' : i == 1 ? '/' : '\0';
		if (i == 2 && strcmp(p, "*") == 0)
			break;
		q = strchr(p, stop);
		if (q == NULL || q == p || (size_t)(q - p) >= sizeof(num))
			return -EPROTO;
		memcpy(num, p, (size_t)(q - p));
		num[q - p] = '\0';
		uint64_t *v = i == 0 ? &a : i == 1 ? &b : &total;
		if (util_parse_u64(num, v) < 0)
			return -EPROTO;
		p = q + 1;
	}
	if (a != off || b < a || (total != UINT64_MAX && b >= total))
		return -EPROTO;
	if (b - a >= want)
		return -EPROTO; /* more than asked for */
	*len = (size_t)(b - a + 1);
	if (*len < want && (total == UINT64_MAX || b != total - 1))
		return -EIO; /* short, yet not at the end */
	return 0;
}

/* ------------------------------------------------------------------ store */

struct s3_priv {
	/* read-only after create */
	char *bucket;
	char *root;        /* "" or "prefix/" */
	char *url_base;    /* "https://host[:port]" ("https://bucket.host" virtual) */
	char *host_hdr;    /* Host header value, signed */
	char *key_path;    /* "/base/bucket/" or "/base/": + encoded key */
	char *bucket_path; /* "/base/bucket" or "/base/" */
	char *endpoint;    /* as configured, for messages */
	char *region;
	int unsigned_payload;
	struct creds creds;
	struct http_pool *pool;

	pthread_mutex_t lock;
	struct store_stats stats; /* protected by lock */
};

enum s3_kind { K_GET, K_PUT, K_HEAD, K_DEL, K_LIST, K_COPY, K_PROBE };

/* One request to send. */
struct s3_rq {
	enum s3_kind kind;
	const char *method;
	const char *key;      /* for logs: the relative key, prefix, ... */
	const char *full_key; /* root + key; NULL for a bucket request */
	struct sigv4_kv query[8];
	size_t nquery;
	struct sigv4_kv hdrs[6];
	size_t nhdrs;
	const void *body;
	size_t body_len;
	int unsigned_payload;
	void *dst;
	size_t dst_len;
	uint64_t dst_skip_200;
	size_t body_cap;
};

static void
count(struct s3_priv *p, enum s3_kind k, uint64_t up, uint64_t down, int failed)
{
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	switch (k) {
	case K_GET:
		p->stats.gets++;
		break;
	case K_PUT:
		p->stats.puts++;
		break;
	case K_HEAD:
		p->stats.heads++;
		break;
	case K_DEL:
		p->stats.deletes++;
		break;
	case K_LIST:
	case K_PROBE:
		p->stats.lists++;
		break;
	case K_COPY:
		p->stats.copies++;
		break;
	}
	p->stats.bytes_up += up;
	p->stats.bytes_down += down;
	if (failed)
		p->stats.errors++;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

/* A key for a log line: control characters shown as '?', cut at 200. */
static const char *
log_key(const char *key, char *buf, size_t bufsz)
{
	size_t i;

	if (key == NULL)
		return "";
	for (i = 0; key[i] && i + 4 < bufsz && i < 200; i++)
		buf[i] = (unsigned char)key[i] < 0x20 || key[i] == 0x7f ? '?' : key[i];
	if (key[i] && i + 4 < bufsz) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static const char *const kind_names[] = {"GET", "PUT", "HEAD", "DELETE", "LIST", "COPY", "PROBE"};

/* malloc'd concatenation of up to 4 strings (NULLs skipped). */
static char *
cat4(const char *a, const char *b, const char *c, const char *d)
{
	const char *v[4] = {a, b, c, d};
	size_t n = 1;
	char *out, *o;

	for (int i = 0; i < 4; i++)
		if (v[i])
			n += strlen(v[i]);
	if ((out = malloc(n)) == NULL)
		return NULL;
	o = out;
	for (int i = 0; i < 4; i++) {
		if (v[i]) {
			size_t l = strlen(v[i]);
			memcpy(o, v[i], l);
			o += l;
		}
	}
	*o = '\0';
	return out;
}

static int
add_header(struct curl_slist **l, const char *name, const char *value)
{
	char *line = cat4(name, ": ", value, NULL);
	struct curl_slist *n;

	if (line == NULL)
		return -ENOMEM;
	n = curl_slist_append(*l, line);
	OPENSSL_cleanse(line, strlen(line));
	free(line);
	if (n == NULL)
		return -ENOMEM;
	*l = n;
	return 0;
}

static void
free_headers(struct curl_slist *l)
{
	/* The list holds the session token and the signature. */
	for (struct curl_slist *i = l; i; i = i->next)
		OPENSSL_cleanse(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

/* Builds, signs and sends one request.  Returns http_perform()'s result;
 * a local failure (-ENOMEM, -EINVAL) says so in resp->curl_err. */
static int
s3_send(struct s3_priv *p, const struct s3_rq *rq, struct http_resp *resp)
{
	char *path = NULL, *url = NULL, *qs = NULL;
	struct curl_slist *hl = NULL;
	struct sigv4_kv hv[12];
	size_t nh = 0;
	char amz_date[SIGV4_AMZ_DATE_SIZE], hash[65], auth[2048];
	int rc = -ENOMEM;

	auth[0] = '\0';
	memset(resp, 0, sizeof(*resp));
	if (rq->full_key) {
		char *enc = sigv4_uri_encode(rq->full_key, 1);
		if (enc == NULL)
			goto out;
		path = cat4(p->key_path, enc, NULL, NULL);
		free(enc);
	} else {
		path = strdup(p->bucket_path);
	}
	if (path == NULL)
		goto out;

	/* Query: encoded exactly as the signer encodes it. */
	size_t qlen = 0;
	char **parts = calloc(rq->nquery * 2 + 1, sizeof(*parts));
	if (parts == NULL)
		goto out;
	for (size_t i = 0; i < rq->nquery; i++) {
		parts[2 * i] = sigv4_uri_encode(rq->query[i].name, 0);
		parts[2 * i + 1] = sigv4_uri_encode(rq->query[i].value, 0);
		if (parts[2 * i] == NULL || parts[2 * i + 1] == NULL)
			break;
		qlen += strlen(parts[2 * i]) + strlen(parts[2 * i + 1]) + 2;
	}
	qs = malloc(qlen + 1);
	if (qs != NULL) {
		char *o = qs;
		for (size_t i = 0; i < rq->nquery; i++) {
			if (parts[2 * i] == NULL || parts[2 * i + 1] == NULL) {
				free(qs);
				qs = NULL;
				break;
			}
			o += snprintf(o, qlen + 1 - (size_t)(o - qs), "%s%s=%s", i ? "&" : "",
			              parts[2 * i], parts[2 * i + 1]);
		}
		if (qs)
			*o = '\0';
	}
	for (size_t i = 0; i < rq->nquery * 2; i++)
		free(parts[i]);
	free(parts);
	if (qs == NULL)
		goto out;
	url = cat4(p->url_base, path, rq->nquery ? "?" : NULL, rq->nquery ? qs : NULL);
	if (url == NULL)
		goto out;

	sigv4_amz_date(time(NULL), amz_date);
	if (rq->unsigned_payload)
		snprintf(hash, sizeof(hash), "UNSIGNED-PAYLOAD");
	else if (rq->body_len == 0)
		snprintf(hash, sizeof(hash), "%s", SIGV4_EMPTY_SHA256);
	else
		sigv4_sha256_hex(rq->body, rq->body_len, hash);
	hv[nh++] = (struct sigv4_kv){"host", p->host_hdr};
	hv[nh++] = (struct sigv4_kv){"x-amz-date", amz_date};
	hv[nh++] = (struct sigv4_kv){"x-amz-content-sha256", hash};
	if (p->creds.session_token)
		hv[nh++] = (struct sigv4_kv){"x-amz-security-token", p->creds.session_token};
	for (size_t i = 0; i < rq->nhdrs; i++)
		hv[nh++] = rq->hdrs[i];

	struct sigv4_req sr = {
	    .method = rq->method,
	    .path = path,
	    .query = rq->query,
	    .nquery = rq->nquery,
	    .headers = hv,
	    .nheaders = nh,
	    .payload_hash = hash,
	};
	rc = sigv4_authorization(&sr, p->creds.access_key, p->creds.secret_key, p->region, "s3",
	                         amz_date, auth, sizeof(auth));
	if (rc < 0) {
		snprintf(resp->curl_err, sizeof(resp->curl_err), "cannot sign the request (%d)",
		         rc);
		goto out;
	}
	rc = -ENOMEM;
	for (size_t i = 0; i < nh; i++) {
		/* curl would send "Host" by itself, but maybe with a port we
		 * did not sign: send the signed one. */
		const char *name = i == 0 ? "Host" : hv[i].name;
		if (add_header(&hl, name, hv[i].value) < 0)
			goto out;
	}
	if (add_header(&hl, "Authorization", auth) < 0)
		goto out;
	/* No "Expect: 100-continue" round trip; curl's default Accept is
	 * harmless and unsigned. */
	struct curl_slist *n = curl_slist_append(hl, "Expect:");
	if (n == NULL)
		goto out;
	hl = n;

	struct http_req hr = {
	    .method = rq->method,
	    .url = url,
	    .headers = hl,
	    .body = rq->body,
	    .body_len = rq->body_len,
	    .dst = rq->dst,
	    .dst_len = rq->dst_len,
	    .dst_skip_200 = rq->dst_skip_200,
	    .body_cap = rq->body_cap ? rq->body_cap : S3_SMALL_BODY,
	};
	rc = http_perform(p->pool, &hr, resp);
out:
	OPENSSL_cleanse(auth, sizeof(auth));
	if (rc == -ENOMEM && resp->curl_err[0] == '\0')
		snprintf(resp->curl_err, sizeof(resp->curl_err), "out of memory");
	free_headers(hl);
	free(url);
	free(qs);
	free(path);
	return rc;
}

/*
 * Turns a reply into 0 (2xx) or -errno, logs a failure in one line and
 * counts the request.  xe receives the <Error> fields (zeroed if none).
 * probing: transport failures are -ENXIO and nothing is logged above DEBUG
 * (probe() writes its own message).
 */
static int
s3_outcome(struct s3_priv *p, const struct s3_rq *rq, int hrc, const struct http_resp *resp,
           struct xml_error *xe, int probing)
{
	char kb[256];
	const char *k = log_key(rq->key, kb, sizeof(kb));
	const char *what = kind_names[rq->kind];
	int rc, prio;

	memset(xe, 0, sizeof(*xe));
	if (hrc < 0) {
		rc = s3_transport_errno(hrc, probing);
		prio = probing ? LOG_DEBUG : retry_is_transient(rc) ? LOG_NOTICE : LOG_ERR;
		s3bfs_log(prio, "s3: %s %s: %s", what, k,
		          resp->curl_err[0] ? resp->curl_err : "transfer failed");
		count(p, rq->kind, rq->body_len, resp->body_total, 1);
		return rc;
	}
	if (resp->status >= 200 && resp->status < 300) {
		s3bfs_log(LOG_DEBUG,
		          "s3: %s %s: HTTP %ld in %" PRIu64 " ms, %zu B up, %" PRIu64
		          " B down%s%s (request id %s)",
		          what, k, resp->status, resp->ms, rq->body_len, resp->body_total,
		          resp->content_range[0] ? ", " : "", resp->content_range,
		          resp->request_id[0] ? resp->request_id : "-");
		count(p, rq->kind, rq->body_len, resp->body_total, 0);
		return 0;
	}
	if (resp->body_len > 0)
		(void)xml_parse_error(resp->body, resp->body_len, xe);
	if (xe->request_id[0] == '\0')
		snprintf(xe->request_id, sizeof(xe->request_id), "%s", resp->request_id);
	if (xe->region[0] == '\0')
		snprintf(xe->region, sizeof(xe->region), "%s", resp->bucket_region);
	rc = s3_status_errno(resp->status, xe->code, xe->region);

	if (probing || rc == -ENOENT || rc == -ERANGE)
		prio = LOG_DEBUG;
	else if (retry_is_transient(rc))
		prio = LOG_NOTICE;
	else
		prio = LOG_ERR;
	if (rc == -ELOOP && xe->region[0] && strcmp(xe->region, p->region) != 0)
		s3bfs_log(prio,
		          "s3: %s %s: HTTP %ld %s (request id %s): bucket %s is in region %s, "
		          "not %s: use -o region=%s",
		          what, k, resp->status, xe->code[0] ? xe->code : "-",
		          xe->request_id[0] ? xe->request_id : "-", p->bucket, xe->region,
		          p->region, xe->region);
	else if (rc == -ELOOP)
		s3bfs_log(prio,
		          "s3: %s %s: HTTP %ld %s (request id %s): wrong endpoint or region "
		          "for bucket %s%s%s",
		          what, k, resp->status, xe->code[0] ? xe->code : "-",
		          xe->request_id[0] ? xe->request_id : "-", p->bucket,
		          xe->endpoint[0] ? "; S3 says use " : "", xe->endpoint);
	else
		s3bfs_log(prio, "s3: %s %s: HTTP %ld %s (request id %s)", what, k, resp->status,
		          xe->code[0] ? xe->code : "-", xe->request_id[0] ? xe->request_id : "-");
	count(p, rq->kind, rq->body_len, resp->body_total, rc != -ENOENT && rc != -ERANGE);
	return rc;
}

/* A reply that came back 2xx but does not add up: logged, counted. */
static int
s3_bad_reply(struct s3_priv *p, const struct s3_rq *rq, const struct http_resp *resp, int rc,
             const char *why)
{
	char kb[256];

	s3bfs_log(rc == -EIO ? LOG_NOTICE : LOG_ERR, "s3: %s %s: HTTP %ld: %s (request id %s)",
	          kind_names[rq->kind], log_key(rq->key, kb, sizeof(kb)), resp->status, why,
	          resp->request_id[0] ? resp->request_id : "-");
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->stats.errors++;
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	return rc;
}

/* root + key into a new string; -EINVAL for "", -ENAMETOOLONG past S3's
 * limit. */
static int
full_key(struct s3_priv *p, const char *key, char **out)
{
	if (key == NULL || key[0] == '\0')
		return -EINVAL;
	if (strlen(p->root) + strlen(key) > S3_MAX_KEY)
		return -ENAMETOOLONG;
	if ((*out = cat4(p->root, key, NULL, NULL)) == NULL)
		return -ENOMEM;
	return 0;
}

static int
s3_head(struct store *st, const char *key, uint64_t *size, time_t *mtime)
{
	struct s3_priv *p = st->priv;
	struct s3_rq rq = {.kind = K_HEAD, .method = "HEAD", .key = key};
	struct http_resp resp;
	struct xml_error xe;
	char *fk = NULL;
	int rc;

	if ((rc = full_key(p, key, &fk)) < 0)
		return rc;
	rq.full_key = fk;
	rc = s3_outcome(p, &rq, s3_send(p, &rq, &resp), &resp, &xe, 0);
	if (rc == 0 && resp.status != 200)
		rc = s3_bad_reply(p, &rq, &resp, -EPROTO, "unexpected status");
	if (rc == 0 && resp.content_length < 0)
		rc = s3_bad_reply(p, &rq, &resp, -EPROTO, "no Content-Length");
	if (rc == 0) {
		*size = (uint64_t)resp.content_length;
		if (mtime) {
			time_t t =
			    resp.last_modified[0] ? curl_getdate(resp.last_modified, NULL) : 0;
			*mtime = t < 0 ? 0 : t;
		}
	}
	http_resp_free(&resp);
	free(fk);
	return rc;
}

static int
s3_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got)
{
	struct s3_priv *p = st->priv;
	struct s3_rq rq = {.kind = K_GET, .method = "GET", .key = key};
	struct http_resp resp;
	struct xml_error xe;
	char range[64];
	char *fk = NULL;
	int rc;

	*got = 0;
	if (len == 0) {
		/* Nothing to read, but the object must exist. */
		uint64_t size;
		return s3_head(st, key, &size, NULL);
	}
	if (off > UINT64_MAX - len)
		return -EINVAL;
	if ((rc = full_key(p, key, &fk)) < 0)
		return rc;
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
	rq.full_key = fk;
	rq.hdrs[rq.nhdrs++] = (struct sigv4_kv){"range", range};
	rq.dst = buf;
	rq.dst_len = len;
	rq.dst_skip_200 = off;
	rc = s3_outcome(p, &rq, s3_send(p, &rq, &resp), &resp, &xe, 0);
	if (rc == -ERANGE) {
		/* 416: the range starts at or past the end of the object. */
		rc = 0;
	} else if (rc == 0 && resp.status == 206) {
		size_t n = 0;
		rc = s3_check_content_range(resp.content_range, off, len, &n);
		if (rc < 0)
			rc =
			    s3_bad_reply(p, &rq, &resp, rc,
			                 rc == -EIO ? "range shorter than asked for, not at the end"
			                            : "Content-Range other than asked for");
		else if (resp.dst_got != n || resp.body_total != n)
			rc = s3_bad_reply(p, &rq, &resp, -EIO,
			                  "body length differs from Content-Range");
		else
			*got = n;
	} else if (rc == 0 && resp.status == 200) {
		/* The server ignored Range and sent the whole object. */
		uint64_t total = resp.body_total;
		size_t want = total > off ? (size_t)UTIL_MIN((uint64_t)len, total - off) : 0;
		if (resp.content_length >= 0 && (uint64_t)resp.content_length != total)
			rc = s3_bad_reply(p, &rq, &resp, -EIO,
			                  "body length differs from Content-Length");
		else if (resp.dst_got != want)
			rc = s3_bad_reply(p, &rq, &resp, -EIO, "short body");
		else
			*got = want;
	} else if (rc == 0) {
		rc = s3_bad_reply(p, &rq, &resp, -EPROTO, "unexpected status");
	}
	http_resp_free(&resp);
	free(fk);
	return rc;
}

static void
md5_base64(const void *buf, size_t len, char out[25])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16) {
		/* Leaves an empty header, which S3 refuses: an error, not a
		 * silent upload without integrity check. */
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, md, 16);
}

static int
s3_put(struct store *st, const char *key, const void *buf, size_t len)
{
	struct s3_priv *p = st->priv;
	struct s3_rq rq = {.kind = K_PUT,
	                   .method = "PUT",
	                   .key = key,
	                   .body = buf,
	                   .body_len = len,
	                   .unsigned_payload = p->unsigned_payload};
	struct http_resp resp;
	struct xml_error xe;
	char md5[25];
	char *fk = NULL;
	int rc;

	if ((rc = full_key(p, key, &fk)) < 0)
		return rc;
	md5_base64(buf, len, md5);
	rq.full_key = fk;
	rq.hdrs[rq.nhdrs++] = (struct sigv4_kv){"content-md5", md5};
	rq.hdrs[rq.nhdrs++] = (struct sigv4_kv){"content-type", "application/octet-stream"};
	rc = s3_outcome(p, &rq, s3_send(p, &rq, &resp), &resp, &xe, 0);
	http_resp_free(&resp);
	free(fk);
	return rc;
}

/* The S3 <Code> of an error that came without its own status: a
 * DeleteResult entry, or an <Error> body in a 200 reply (CopyObject and
 * DeleteObjects may fail after the 200 is sent).  0 for NoSuchKey, which a
 * delete does not mind.  Unknown codes count as transient server errors. */
static int
code_errno(const char *code)
{
	if (code_is(code, "NoSuchKey"))
		return 0;
	if (code_is(code, "AccessDenied") || code_is(code, "AllAccessDisabled"))
		return -EACCES;
	if (code_is(code, "SlowDown"))
		return -EAGAIN;
	if (code_is(code, "NoSuchBucket"))
		return -ENOENT;
	return -EIO;
}

static int
delete_one(struct s3_priv *p, const char *key)
{
	struct s3_rq rq = {.kind = K_DEL, .method = "DELETE", .key = key};
	struct http_resp resp;
	struct xml_error xe;
	char *fk = NULL;
	int rc;

	if ((rc = full_key(p, key, &fk)) < 0)
		return rc;
	rq.full_key = fk;
	rc = s3_outcome(p, &rq, s3_send(p, &rq, &resp), &resp, &xe, 0);
	if (rc == -ENOENT)
		rc = 0; /* gone already (S3 says 204, some servers 404) */
	http_resp_free(&resp);
	free(fk);
	return rc;
}

/* A growable string with a ceiling. */
struct sbuf {
	char *s;
	size_t len, cap, max;
	int err;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (n > b->max - b->len) {
		b->err = -E2BIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *ns = realloc(b->s, nc);
		if (ns == NULL) {
			b->err = -ENOMEM;
			return;
		}
		b->s = ns;
		b->cap = nc;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Appends s with XML escapes (\t \n \r as character references, so that
 * the parser keeps them as they are). */
static void
sb_add_xml(struct sbuf *b, const char *s)
{
	for (const char *q = s; *q; q++) {
		switch (*q) {
		case '&':
			sb_adds(b, "&amp;");
			break;
		case '<':
			sb_adds(b, "&lt;");
			break;
		case '>':
			sb_adds(b, "&gt;");
			break;
		case '"':
			sb_adds(b, "&quot;");
			break;
		case '\'':
			sb_adds(b, "&apos;");
			break;
		case '\t':
			sb_adds(b, "&#9;");
			break;
		case '\n':
			sb_adds(b, "&#10;");
			break;
		case '\r':
			sb_adds(b, "&#13;");
			break;
		default:
			sb_add(b, q, 1);
			break;
		}
	}
}

/* XML 1.0 cannot carry other control characters, even escaped. */
static int
xml_safe_key(const char *k)
{
	for (const unsigned char *q = (const unsigned char *)k; *q; q++)
		if (*q < 0x20 && *q != '\t' && *q != '\n' && *q != '\r')
			return 0;
	return 1;
}

/* One DeleteObjects request for keys[0..n). */
static int
delete_batch(struct s3_priv *p, const char *const *keys, size_t n)
{
	struct s3_rq rq = {.kind = K_DEL, .method = "POST", .key = keys[0]};
	struct http_resp resp;
	struct xml_error xe;
	struct xml_delete dr;
	struct sbuf b = {.max = 16u << 20};
	char md5[25], kb[256], what[300];
	int rc;

	sb_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns=\"" S3_NS "\">"
	            "<Quiet>true</Quiet>");
	for (size_t i = 0; i < n; i++) {
		if (keys[i][0] == '\0' || strlen(p->root) + strlen(keys[i]) > S3_MAX_KEY) {
			free(b.s);
			return keys[i][0] == '\0' ? -EINVAL : -ENAMETOOLONG;
		}
		sb_adds(&b, "<Object><Key>");
		sb_add_xml(&b, p->root);
		sb_add_xml(&b, keys[i]);
		sb_adds(&b, "</Key></Object>");
	}
	sb_adds(&b, "</Delete>");
	if (b.err) {
		free(b.s);
		return b.err == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	snprintf(what, sizeof(what), "%s (+%zu keys)", log_key(keys[0], kb, sizeof(kb)), n - 1);
	rq.key = what;
	md5_base64(b.s, b.len, md5);
	rq.query[rq.nquery++] = (struct sigv4_kv){"delete", ""};
	rq.hdrs[rq.nhdrs++] = (struct sigv4_kv){"content-md5", md5};
	rq.hdrs[rq.nhdrs++] = (struct sigv4_kv){"content-type", "application/xml"};
	rq.body = b.s;
	rq.body_len = b.len;
	rq.body_cap = XML_MAX_BYTES;
	rc = s3_outcome(p, &rq, s3_send(p, &rq, &resp), &resp, &xe, 0);
	if (rc == 0) {
		rc = xml_parse_delete(resp.body ? resp.body : "", resp.body_len, &dr, &xe);
		if (rc == -EREMOTEIO) {
			int r = code_errno(xe.code);
			rc = s3_bad_reply(p, &rq, &resp, r ? r : -EIO,
			                  xe.code[0] ? xe.code : "<Error> in a 200 reply");
		} else if (rc < 0) {
			rc = s3_bad_reply(p, &rq, &resp, -EPROTO, "malformed DeleteResult");
		} else {
			for (size_t i = 0; i < dr.nerrs; i++) {
				int r = code_errno(dr.errs[i].code);
				if (r == 0)
					continue;
				s3bfs_log(retry_is_transient(r) ? LOG_NOTICE : LOG_ERR,
				          "s3: DELETE %s: %s %s (request id %s)",
				          log_key(dr.errs[i].key, kb, sizeof(kb)), dr.errs[i].code,
				          dr.errs[i].message,
				          resp.request_id[0] ? resp.request_id : "-");
				if (rc == 0)
					rc = r;
			}
			if (rc < 0) {
				CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
				p->stats.errors++;
				CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
			}
			xml_delete_free(&dr);
		}
	}
	http_resp_free(&resp);
	free(b.s);
	return rc;
}

static int
s3_del(struct store *st, const char *const *keys, size_t n)
{
	struct s3_priv *p = st->priv;
	size_t i = 0;
	int rc = 0;

	if (n == 1)
		return delete_one(p, keys[0]);
	/* Batches in the order given; a key XML cannot carry goes alone, in
	 * its place. */
	while (i < n && rc == 0) {
		if (!xml_safe_key(keys[i])) {
			rc = delete_one(p, keys[i]);
			i++;
			continue;
		}
		size_t j = i;
		while (j < n && j - i < S3_DELETE_BATCH && xml_safe_key(keys[j]))
			j++;
		rc = j - i == 1 ? delete_one(p, keys[i]) : delete_batch(p, keys + i, j - i);
		i = j;
	}
	return rc;
}

/* Hands a page's entries to the callback in byte order, merging the keys
 * and the common prefixes.  1: the callback stopped (or max reached). */
static int
deliver_page(struct s3_priv *p, const struct s3_rq *rq, const struct http_resp *resp,
             const struct xml_list *l, const char *full_prefix, char **last, size_t *delivered,
             size_t max_keys, store_list_cb cb, void *arg)
{
	size_t io = 0, ip = 0, rl = strlen(p->root), pl = strlen(full_prefix);

	while (io < l->nobjs || ip < l->nprefixes) {
		int take_obj = ip == l->nprefixes ||
		               (io < l->nobjs && strcmp(l->objs[io].key, l->prefixes[ip]) < 0);
		const char *k = take_obj ? l->objs[io].key : l->prefixes[ip];
		struct store_entry e = {.is_prefix = !take_obj};

		if (strncmp(k, full_prefix, pl) != 0 || strlen(k) <= rl)
			return s3_bad_reply(p, rq, resp, -EPROTO, "key outside the listed prefix");
		if (*last != NULL && strcmp(k, *last) <= 0)
			return s3_bad_reply(p, rq, resp, -EPROTO, "listing out of order");
		e.key = k + rl;
		if (take_obj) {
			e.size = l->objs[io].size;
			e.mtime = l->objs[io].mtime;
			io++;
		} else {
			ip++;
		}
		free(*last);
		if ((*last = strdup(k)) == NULL)
			return -ENOMEM;
		(*delivered)++;
		int rc = cb(arg, &e);
		if (rc != 0)
			return rc < 0 ? rc : 1;
		if (max_keys != 0 && *delivered >= max_keys)
			return 1;
	}
	return 0;
}

static int
s3_list(struct store *st, const char *prefix, const char *delimiter, const char *start_after,
        size_t max_keys, store_list_cb cb, void *arg)
{
	struct s3_priv *p = st->priv;
	char *full_prefix = NULL, *full_after = NULL, *token = NULL, *last = NULL;
	size_t delivered = 0;
	char page[24];
	int rc = -ENOMEM;

	if (prefix == NULL)
		prefix = "";
	if (strlen(p->root) + strlen(prefix) > S3_MAX_KEY ||
	    (start_after && strlen(p->root) + strlen(start_after) > S3_MAX_KEY))
		return -ENAMETOOLONG;
	if ((full_prefix = cat4(p->root, prefix, NULL, NULL)) == NULL)
		goto out;
	if (start_after && start_after[0] &&
	    (full_after = cat4(p->root, start_after, NULL, NULL)) == NULL)
		goto out;
	for (;;) {
		struct s3_rq rq = {.kind = K_LIST, .method = "GET", .key = prefix};
		struct http_resp resp;
		struct xml_error xe;
		struct xml_list l;
		size_t want = S3_LIST_PAGE;

		if (max_keys != 0 && max_keys - delivered < want)
			want = max_keys - delivered;
		snprintf(page, sizeof(page), "%zu", want);
		rq.query[rq.nquery++] = (struct sigv4_kv){"list-type", "2"};
		rq.query[rq.nquery++] = (struct sigv4_kv){"encoding-type", "url"};
		rq.query[rq.nquery++] = (struct sigv4_kv){"max-keys", page};
		if (full_prefix[0])
			rq.query[rq.nquery++] = (struct sigv4_kv){"prefix", full_prefix};
		if (delimiter && delimiter[0])
			rq.query[rq.nquery++] = (struct sigv4_kv){"delimiter", delimiter};
		if (token)
			rq.query[rq.nquery++] = (struct sigv4_kv){"continuation-token", token};
		else if (full_after)
			rq.query[rq.nquery++] = (struct sigv4_kv){"start-after", full_after};
		rq.body_cap = XML_MAX_BYTES;

		rc = s3_outcome(p, &rq, s3_send(p, &rq, &resp), &resp, &xe, 0);
		if (rc == 0) {
			rc = xml_parse_list(resp.body ? resp.body : "", resp.body_len, &l, &xe);
			if (rc == -EREMOTEIO)
				rc = s3_bad_reply(p, &rq, &resp, -EIO, "error in a 200 reply");
			else if (rc < 0)
				rc = s3_bad_reply(p, &rq, &resp, -EPROTO,
				                  "malformed ListBucketResult");
		}
		int more = 0;
		if (rc == 0) {
			rc = deliver_page(p, &rq, &resp, &l, full_prefix, &last, &delivered,
			                  max_keys, cb, arg);
			if (rc == 0 && l.truncated) {
				if (token && strcmp(token, l.next_token) == 0) {
					rc = s3_bad_reply(p, &rq, &resp, -EPROTO,
					                  "same continuation token twice");
				} else {
					free(token);
					token = l.next_token;
					l.next_token = NULL;
					more = 1;
				}
			}
			xml_list_free(&l);
		}
		http_resp_free(&resp);
		if (rc != 0 || !more)
			break;
	}
	if (rc == 1)
		rc = 0;
out:
	free(last);
	free(token);
	free(full_after);
	free(full_prefix);
	return rc;
}

static int
s3_copy(struct store *st, const char *src_key, const char *dst_key)
{
	struct s3_priv *p = st->priv;
	struct s3_rq rq = {.kind = K_COPY, .method = "PUT", .key = dst_key};
	struct http_resp resp;
	struct xml_error xe;
	char *fsrc = NULL, *fdst = NULL, *enc = NULL, *source = NULL;
	int rc;

	if ((rc = full_key(p, src_key, &fsrc)) < 0 || (rc = full_key(p, dst_key, &fdst)) < 0)
		goto out;
	rc = -ENOMEM;
	if ((enc = sigv4_uri_encode(fsrc, 1)) == NULL ||
	    (source = cat4("/", p->bucket, "/", enc)) == NULL)
		goto out;
	rq.full_key = fdst;
	rq.hdrs[rq.nhdrs++] = (struct sigv4_kv){"x-amz-copy-source", source};
	rq.hdrs[rq.nhdrs++] = (struct sigv4_kv){"content-type", "application/octet-stream"};
	rq.body_cap = XML_MAX_BYTES;
	rc = s3_outcome(p, &rq, s3_send(p, &rq, &resp), &resp, &xe, 0);
	if (rc == 0) {
		/* A copy can fail after the 200 is sent: then the body is an
		 * <Error> (S3 docs, CopyObject). */
		rc = xml_parse_copy(resp.body ? resp.body : "", resp.body_len, &xe);
		if (rc == -EREMOTEIO) {
			int r = code_errno(xe.code);
			char why[400];
			snprintf(why, sizeof(why), "%s in a 200 reply: %s", xe.code, xe.message);
			rc = s3_bad_reply(p, &rq, &resp, r ? r : -EIO, why);
		} else if (rc < 0) {
			rc = s3_bad_reply(p, &rq, &resp, -EPROTO, "malformed CopyObjectResult");
		}
	}
	http_resp_free(&resp);
out:
	free(source);
	free(enc);
	free(fdst);
	free(fsrc);
	return rc;
}

static int
s3_probe(struct store *st, char *msg, size_t msgsz)
{
	struct s3_priv *p = st->priv;
	struct s3_rq rq = {.kind = K_PROBE, .method = "GET", .key = p->bucket};
	struct http_resp resp;
	struct xml_error xe;
	int hrc, rc;

	rq.query[rq.nquery++] = (struct sigv4_kv){"list-type", "2"};
	rq.query[rq.nquery++] = (struct sigv4_kv){"max-keys", "0"};
	if (p->root[0])
		rq.query[rq.nquery++] = (struct sigv4_kv){"prefix", p->root};
	rq.body_cap = XML_MAX_BYTES;
	hrc = s3_send(p, &rq, &resp);
	rc = s3_outcome(p, &rq, hrc, &resp, &xe, 1);
	if (hrc < 0) {
		snprintf(msg, msgsz, "cannot reach endpoint %s: %s", p->endpoint,
		         resp.curl_err[0] ? resp.curl_err : "transfer failed");
	} else if (rc == 0) {
		struct xml_list l;
		int r = xml_parse_list(resp.body ? resp.body : "", resp.body_len, &l, &xe);
		if (r == 0) {
			xml_list_free(&l);
		} else {
			rc = -EPROTO;
			snprintf(msg, msgsz,
			         "endpoint %s answered HTTP %ld with %s: is it an S3 server?",
			         p->endpoint, resp.status,
			         r == -EREMOTEIO ? xe.code : "no ListBucketResult");
		}
	} else if (rc == -ENOENT) {
		snprintf(msg, msgsz, "bucket %s does not exist (HTTP 404 %s at %s)", p->bucket,
		         xe.code[0] ? xe.code : "-", p->endpoint);
	} else if (rc == -EACCES && code_is(xe.code, "RequestTimeTooSkewed")) {
		snprintf(msg, msgsz, "access denied to bucket %s: this machine's clock is off (%s)",
		         p->bucket, xe.code);
	} else if (rc == -EACCES) {
		snprintf(msg, msgsz,
		         "access denied to bucket %s: check the access key and secret (%s)",
		         p->bucket, xe.code[0] ? xe.code : "HTTP 403");
	} else if (rc == -ELOOP && xe.region[0] && strcmp(xe.region, p->region) != 0) {
		snprintf(msg, msgsz, "bucket %s is in region %s, not %s: use -o region=%s",
		         p->bucket, xe.region, p->region, xe.region);
	} else if (rc == -ELOOP) {
		snprintf(msg, msgsz,
		         "bucket %s is not served by endpoint %s (HTTP %ld %s%s%s): check the "
		         "region and endpoint",
		         p->bucket, p->endpoint, resp.status, xe.code[0] ? xe.code : "-",
		         xe.endpoint[0] ? ", S3 says use " : "", xe.endpoint);
	} else {
		snprintf(msg, msgsz, "endpoint %s refused to list bucket %s: HTTP %ld %s%s%s",
		         p->endpoint, p->bucket, resp.status, xe.code[0] ? xe.code : "-",
		         xe.message[0] ? ": " : "", xe.message);
	}
	http_resp_free(&resp);
	return rc;
}

static void
s3_get_stats(struct store *st, struct store_stats *out)
{
	struct s3_priv *p = st->priv;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	store_stats_add(out, &p->stats);
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

static void
s3_priv_free(struct s3_priv *p)
{
	http_pool_destroy(&p->pool);
	creds_clear(&p->creds);
	free(p->bucket);
	free(p->root);
	free(p->url_base);
	free(p->host_hdr);
	free(p->key_path);
	free(p->bucket_path);
	free(p->endpoint);
	free(p->region);
	free(p);
}

static void
s3_destroy(struct store *st)
{
	struct s3_priv *p = st->priv;

	pthread_mutex_destroy(&p->lock);
	s3_priv_free(p);
	free(st);
}

static const struct store_ops s3_ops = {
    .name = "s3",
    .get = s3_get,
    .put = s3_put,
    .head = s3_head,
    .del = s3_del,
    .list = s3_list,
    .copy = s3_copy,
    .probe = s3_probe,
    .get_stats = s3_get_stats,
    .destroy = s3_destroy,
};

/* A bucket name usable as a DNS label (virtual-hosted addressing). */
static int
dns_bucket(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
		return 0;
	for (const char *q = b; *q; q++)
		if (!(islower((unsigned char)*q) || isdigit((unsigned char)*q) || *q == '-' ||
		      *q == '.'))
			return 0;
	return 1;
}

struct store *
s3_store_create(const struct s3_conf *c, const char *bucket, const char *root_prefix,
                unsigned connections, char *msg, size_t msgsz)
{
	struct s3_priv *p;
	struct store *st = NULL, *top;
	int path_style, rc;

	if (!c->parsed) {
		snprintf(msg, msgsz, "S3 options not parsed");
		return NULL;
	}
	size_t bl = bucket ? strlen(bucket) : 0;
	if (bl == 0 || bl > 255 ||
	    strspn(bucket, "abcdefghijklmnopqrstuvwxyz"
	                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != bl) {
		snprintf(msg, msgsz, "invalid bucket name '%.64s'", bucket ? bucket : "");
		return NULL;
	}
	if (root_prefix == NULL)
		root_prefix = "";
	while (root_prefix[0] == '/')
		root_prefix++;
	if (strlen(root_prefix) >= S3_MAX_KEY) {
		snprintf(msg, msgsz, "root prefix too long (S3 keys are at most %d bytes)",
		         S3_MAX_KEY);
		return NULL;
	}
	if (c->addressing == 1)
		path_style = 1;
	else if (c->addressing == 2)
		path_style = 0;
	else
		path_style = !c->is_aws || !dns_bucket(bucket) || (c->https && strchr(bucket, '.'));
	if (!path_style && !dns_bucket(bucket)) {
		snprintf(msg, msgsz, "bucket name %s cannot be a host name: use -o path_style",
		         bucket);
		return NULL;
	}

	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto nomem;
	const char *scheme = c->https ? "https://" : "http://";
	size_t rl = strlen(root_prefix);
	int slash = rl > 0 && root_prefix[rl - 1] != '/';
	p->bucket = strdup(bucket);
	p->root = cat4(root_prefix, slash ? "/" : NULL, NULL, NULL);
	p->endpoint = strdup(c->endpoint);
	p->region = strdup(c->region);
	p->unsigned_payload = c->unsigned_payload;
	if (path_style) {
		p->url_base = cat4(scheme, c->host, NULL, NULL);
		p->host_hdr = strdup(c->host_hdr);
		p->bucket_path = cat4(c->base_path, "/", bucket, NULL);
		p->key_path = cat4(c->base_path, "/", bucket, "/");
	} else {
		p->url_base = cat4(scheme, bucket, ".", c->host);
		p->host_hdr = cat4(bucket, ".", c->host_hdr, NULL);
		p->bucket_path = cat4(c->base_path, "/", NULL, NULL);
		p->key_path = cat4(c->base_path, "/", NULL, NULL);
	}
	if (!p->bucket || !p->root || !p->endpoint || !p->region || !p->url_base || !p->host_hdr ||
	    !p->bucket_path || !p->key_path)
		goto nomem_p;

	if ((rc = creds_load(c->credentials, c->profile, &p->creds, msg, msgsz)) < 0) {
		if (msg[0] == '\0')
			snprintf(msg, msgsz, "cannot load the S3 credentials (error %d)", rc);
		s3_priv_free(p);
		return NULL;
	}
	struct http_opts ho = {
	    .connections = connections ? connections : 1,
	    .connect_timeout_ms = c->connect_timeout_ms,
	    .request_timeout_ms = c->request_timeout_ms,
	    .insecure = c->insecure,
	    .ca_file = c->ca_file,
	};
	if ((p->pool = http_pool_create(&ho)) == NULL)
		goto nomem_p;
	if ((rc = pthread_mutex_init(&p->lock, NULL)) != 0)
		goto nomem_p;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		goto nomem_lock;
	st->ops = &s3_ops;
	st->priv = p;
	if ((top = retry_store_create(st, c->retry_budget_ms, RETRY_BASE_MS, RETRY_CAP_MS)) ==
	    NULL) {
		free(st);
		goto nomem_lock;
	}
	if (c->insecure && c->https)
		s3bfs_log(LOG_WARNING, "s3: TLS certificate verification is off (insecure)");
	s3bfs_log(LOG_INFO,
	          "s3: bucket %s, prefix '%s', endpoint %s, %s addressing, region %s, "
	          "%u connections, credentials from %s",
	          p->bucket, p->root, p->endpoint, path_style ? "path-style" : "virtual-hosted",
	          p->region, ho.connections, p->creds.source);
	return top;

nomem_lock:
	pthread_mutex_destroy(&p->lock);
nomem_p:
	s3_priv_free(p);
nomem:
	snprintf(msg, msgsz, "out of memory creating the S3 store");
	return NULL;
}
