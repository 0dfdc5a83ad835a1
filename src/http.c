/*
 * http.c - curl easy-handle pool and request runner; see http.h.
 *
 * The pool is a stack of idle handles under one mutex; `handle_free` is
 * signalled whenever one comes back.  A handle is curl_easy_reset() before
 * each use: that clears every option but keeps its live connection, DNS
 * cache and TLS session cache, so keep-alive works across requests.
 *
 * Per transfer, the header callback parses the status line (resetting the
 * captured headers at each one, so a "100 Continue" leaves nothing behind)
 * and the headers we need; the write callback routes the body by status
 * into the caller's buffer or a capped growable one.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "util.h"

struct http_pool {
	struct http_opts o; /* read-only after create; o.ca_file is ours */
	CURL **all;         /* every handle, for destroy */
	pthread_mutex_t lock;
	pthread_cond_t handle_free;
	CURL **idle; /* protected by lock */
	unsigned nidle;
};

/* State of one transfer, shared by the callbacks. */
struct xfer {
	const struct http_req *req;
	struct http_resp *resp;
	size_t body_cap;   /* ceiling of resp->body_len */
	size_t body_alloc; /* allocated size of resp->body */
	int overflow;      /* 2xx body beyond its ceiling */
	int err_cut;       /* error body beyond HTTP_ERR_BODY_MAX: rest dropped */
};

struct http_pool *
http_pool_create(const struct http_opts *o)
{
	struct http_pool *p;
	int rc;

	if (o->connections == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->o = *o;
	p->o.ca_file = NULL;
	if (o->ca_file && (p->o.ca_file = strdup(o->ca_file)) == NULL)
		goto fail1;
	p->all = calloc(o->connections, sizeof(*p->all));
	p->idle = calloc(o->connections, sizeof(*p->idle));
	if (p->all == NULL || p->idle == NULL)
		goto fail2;
	for (unsigned i = 0; i < o->connections; i++) {
		if ((p->all[i] = curl_easy_init()) == NULL) {
			errno = ENOMEM;
			goto fail3;
		}
		p->idle[i] = p->all[i];
	}
	p->nidle = o->connections;
	if ((rc = pthread_mutex_init(&p->lock, NULL)) != 0) {
		errno = rc;
		goto fail3;
	}
	if ((rc = pthread_cond_init(&p->handle_free, NULL)) != 0) {
		errno = rc;
		goto fail4;
	}
	return p;

fail4:
	pthread_mutex_destroy(&p->lock);
fail3:
	for (unsigned i = 0; i < o->connections; i++)
		if (p->all[i])
			curl_easy_cleanup(p->all[i]);
fail2:
	free(p->all);
	free(p->idle);
	free((char *)(uintptr_t)p->o.ca_file);
fail1:
	free(p);
	return NULL;
}

void
http_pool_destroy(struct http_pool **pp)
{
	struct http_pool *p = *pp;

	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->o.connections; i++)
		curl_easy_cleanup(p->all[i]);
	pthread_cond_destroy(&p->handle_free);
	pthread_mutex_destroy(&p->lock);
	free(p->all);
	free(p->idle);
	free((char *)(uintptr_t)p->o.ca_file);
	free(p);
	*pp = NULL;
}

static CURL *
pool_acquire(struct http_pool *p)
{
	CURL *h;

	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	while (p->nidle == 0)
		CHECK_PTHREAD(pthread_cond_wait(&p->handle_free, &p->lock));
	h = p->idle[--p->nidle];
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
	return h;
}

static void
pool_release(struct http_pool *p, CURL *h)
{
	CHECK_PTHREAD(pthread_mutex_lock(&p->lock));
	p->idle[p->nidle++] = h;
	CHECK_PTHREAD(pthread_cond_signal(&p->handle_free));
	CHECK_PTHREAD(pthread_mutex_unlock(&p->lock));
}

void
http_resp_free(struct http_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

/* Copies a header value (trimmed) into a fixed field, cutting it. */
static void
hdr_value(char *dst, size_t dstsz, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 &&
	       (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int
hdr_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
	size_t l = strlen(name);

	if (n <= l || line[l] != ':' || strncasecmp(line, name, l) != 0)
		return 0;
	*val = line + l + 1;
	*vlen = n - l - 1;
	return 1;
}

static void
resp_reset_headers(struct http_resp *r)
{
	r->content_length = -1;
	r->content_range[0] = r->last_modified[0] = r->etag[0] = '\0';
	r->request_id[0] = r->bucket_region[0] = '\0';
}

static size_t
on_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	struct http_resp *r = x->resp;
	size_t n = size * nitems;
	const char *v;
	size_t vl;
	char num[32];

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* "HTTP/1.1 200 OK": a new reply starts */
		const char *sp = memchr(line, ' ', n);
		long st = 0;
		resp_reset_headers(r);
		if (sp != NULL) {
			for (const char *q = sp + 1; q < line + n && *q >= '0' && *q <= '9'; q++)
				st = st * 10 + (*q - '0');
		}
		r->status = st;
	} else if (hdr_is(line, n, "content-length", &v, &vl)) {
		uint64_t cl;
		hdr_value(num, sizeof(num), v, vl);
		if (util_parse_u64(num, &cl) == 0 && cl <= INT64_MAX)
			r->content_length = (int64_t)cl;
	} else if (hdr_is(line, n, "content-range", &v, &vl)) {
		hdr_value(r->content_range, sizeof(r->content_range), v, vl);
	} else if (hdr_is(line, n, "last-modified", &v, &vl)) {
		hdr_value(r->last_modified, sizeof(r->last_modified), v, vl);
	} else if (hdr_is(line, n, "etag", &v, &vl)) {
		hdr_value(r->etag, sizeof(r->etag), v, vl);
	} else if (hdr_is(line, n, "x-amz-request-id", &v, &vl)) {
		hdr_value(r->request_id, sizeof(r->request_id), v, vl);
	} else if (hdr_is(line, n, "x-amz-bucket-region", &v, &vl)) {
		hdr_value(r->bucket_region, sizeof(r->bucket_region), v, vl);
	}
	return n;
}

/* Appends to resp->body, keeping it NUL-terminated; -1 beyond the cap or
 * out of memory. */
static int
body_append(struct xfer *x, const char *data, size_t n)
{
	struct http_resp *r = x->resp;

	if (n > x->body_cap - r->body_len)
		return -1;
	if (r->body_len + n + 1 > x->body_alloc) {
		size_t na = x->body_alloc ? x->body_alloc : 4096;
		while (na < r->body_len + n + 1)
			na *= 2;
		char *nb = realloc(r->body, na);
		if (nb == NULL)
			return -1;
		r->body = nb;
		x->body_alloc = na;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

static size_t
on_body(char *data, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	const struct http_req *q = x->req;
	struct http_resp *r = x->resp;
	size_t n = size * nitems;
	uint64_t pos = r->body_total;

	r->body_total += n;
	if (r->status >= 200 && r->status < 300 && q->dst != NULL) {
		uint64_t start = r->status == 206 ? 0 : q->dst_skip_200;
		uint64_t end = start + q->dst_len; /* window [start, end) */
		uint64_t limit = r->status == 206 ? end : end + HTTP_GET_SLACK;
		if (r->body_total > limit) {
			x->overflow = 1;
			return 0;
		}
		uint64_t a = UTIL_MAX(pos, start), b = UTIL_MIN(pos + n, end);
		if (a < b) {
			memcpy((char *)q->dst + (a - start), data + (a - pos), (size_t)(b - a));
			r->dst_got += (size_t)(b - a);
		}
		return n;
	}
	if (r->status >= 200 && r->status < 300) {
		x->body_cap = q->body_cap;
		if (body_append(x, data, n) < 0) {
			x->overflow = 1;
			return 0;
		}
		return n;
	}
	x->body_cap = HTTP_ERR_BODY_MAX;
	if (body_append(x, data, n) < 0) {
		/* The status is what matters; the rest of the text is not. */
		x->err_cut = 1;
		return 0;
	}
	return n;
}

static int
curl_to_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -ENXIO;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
		return -EKEYREJECTED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* Sets every option of one transfer on a freshly reset handle. */
static CURLcode
setup(struct http_pool *p, CURL *h, const struct http_req *q, struct xfer *x, char *errbuf)
{
	const struct http_opts *o = &p->o;
	uint64_t low = o->low_speed_time_ms ? o->low_speed_time_ms : o->request_timeout_ms / 2;
	CURLcode c = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (c == CURLE_OK)                                                                 \
			c = curl_easy_setopt(h, opt, val);                                         \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_URL, q->url);
	/* Keys may hold "/./" or "/../": send the path as signed. */
	SET(CURLOPT_PATH_AS_IS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_VERBOSE, 0L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, (long)o->request_timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, (long)UTIL_MAX(1, low / 1000));
	SET(CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
	if (o->ca_file)
		SET(CURLOPT_CAINFO, o->ca_file);
	SET(CURLOPT_HTTPHEADER, (struct curl_slist *)(uintptr_t)q->headers);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	if (strcmp(q->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(q->method, "PUT") == 0 || strcmp(q->method, "POST") == 0) {
		/* POSTFIELDS sends Content-Length (never chunked) and lets curl
		 * resend the body itself on a stale keep-alive connection. */
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
		SET(CURLOPT_POSTFIELDS, q->body_len ? (const char *)q->body : "");
		SET(CURLOPT_CUSTOMREQUEST, q->method);
	} else if (strcmp(q->method, "GET") != 0) {
		SET(CURLOPT_CUSTOMREQUEST, q->method);
	}
#undef SET
	return c;
}

int
http_perform(struct http_pool *p, const struct http_req *q, struct http_resp *resp)
{
	struct xfer x = {.req = q, .resp = resp};
	uint64_t t0 = util_now_ms();
	CURL *h;
	CURLcode c;
	int rc;

	memset(resp, 0, sizeof(*resp));
	resp_reset_headers(resp);
	h = pool_acquire(p);
	curl_easy_reset(h);
	c = setup(p, h, q, &x, resp->curl_err);
	if (c == CURLE_OK)
		c = curl_easy_perform(h);
	if (c == CURLE_OK || (c == CURLE_WRITE_ERROR && x.err_cut)) {
		long st = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
		if (st != 0)
			resp->status = st;
		rc = resp->status > 0 ? 0 : -EIO;
	} else if (c == CURLE_WRITE_ERROR && x.overflow) {
		rc = -EMSGSIZE;
		snprintf(resp->curl_err, sizeof(resp->curl_err),
		         "HTTP %ld reply longer than expected (transfer stopped at %" PRIu64
		         " bytes)",
		         resp->status, resp->body_total);
	} else {
		rc = curl_to_errno(c);
		if (resp->curl_err[0] == '\0')
			snprintf(resp->curl_err, sizeof(resp->curl_err), "%s",
			         curl_easy_strerror(c));
	}
	/* The error buffer belongs to resp, which may outlive this call. */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	pool_release(p, h);
	resp->ms = util_now_ms() - t0;
	return rc;
}
