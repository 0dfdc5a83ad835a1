/*
 * http.h - a bounded pool of libcurl easy handles and one call that runs a
 * request on one of them with every deadline and buffer ceiling set.
 *
 * The pool holds `n` easy handles; each keeps its own keep-alive
 * connection, so at most n requests (and n connections) are in flight.
 * http_perform() takes a handle (waiting while all are busy), resets it,
 * sets the method, URL, headers and body, connect timeout, per-attempt
 * timeout and low-speed limit, TLS options, runs the transfer and gives
 * the handle back.  It knows nothing of S3 beyond capturing the headers
 * S3 replies carry (x-amz-request-id, x-amz-bucket-region).
 *
 * Reply bodies never grow without bound:
 *   - 2xx with req->dst (a GET into a caller buffer): the bytes land in
 *     dst; a 206 reply starts at dst[0] and may not be longer than dst_len;
 *     a 200 reply (a server that ignored Range) is the whole object, whose
 *     bytes [dst_skip_200, dst_skip_200 + dst_len) are kept, and which may
 *     not run more than HTTP_GET_SLACK bytes past that window;
 *   - other 2xx bodies are kept in resp->body up to req->body_cap;
 *   - error bodies (non-2xx) are kept up to HTTP_ERR_BODY_MAX, the rest is
 *     dropped (the status still counts).
 * Too long a 2xx body aborts the transfer: -EMSGSIZE.
 *
 * Never logs, never turns on CURLOPT_VERBOSE: the Authorization header
 * passes through here.  curl_global_init() is the caller's (main's).
 */
#ifndef S3BFS_HTTP_H
#define S3BFS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#define HTTP_ERR_BODY_MAX (64u << 10)
#define HTTP_GET_SLACK    (64u << 10)

struct http_pool;

struct http_opts {
	unsigned connections;        /* handles in the pool, >= 1 */
	uint64_t connect_timeout_ms; /* CURLOPT_CONNECTTIMEOUT_MS */
	uint64_t request_timeout_ms; /* CURLOPT_TIMEOUT_MS, per attempt */
	/* A transfer slower than 1 byte/s for this long is aborted
	 * (CURLOPT_LOW_SPEED_*); 0: request_timeout_ms / 2. */
	uint64_t low_speed_time_ms;
	int insecure;        /* skip TLS certificate and host checks */
	const char *ca_file; /* CURLOPT_CAINFO or NULL; copied */
};

struct http_req {
	const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *url;
	/* Sent as is, after curl's own; must include "Host:" if signed and
	 * "Expect:" to keep curl from waiting for 100-continue. */
	const struct curl_slist *headers;
	const void *body; /* PUT/POST body (may be NULL with body_len 0) */
	size_t body_len;
	void *dst; /* 2xx body of a GET goes here, see above */
	size_t dst_len;
	uint64_t dst_skip_200;
	size_t body_cap; /* ceiling of resp->body for 2xx without dst */
};

struct http_resp {
	long status; /* HTTP status of the final reply; 0 if none */
	char *body;  /* NUL-terminated (malloc'd) or NULL */
	size_t body_len;
	size_t dst_got;         /* bytes stored into req->dst */
	uint64_t body_total;    /* body bytes received */
	int64_t content_length; /* -1 if the reply had none */
	char content_range[96];
	char last_modified[64];
	char etag[96];
	char request_id[80];            /* x-amz-request-id */
	char bucket_region[64];         /* x-amz-bucket-region */
	char curl_err[CURL_ERROR_SIZE]; /* curl's message on failure */
	uint64_t ms;                    /* duration */
};

/* NULL and errno on failure. */
struct http_pool *http_pool_create(const struct http_opts *o);
/* Every handle must be back in the pool. */
void http_pool_destroy(struct http_pool **pp);

/*
 * Runs one request.  Returns 0 when a complete reply came back, whatever
 * its status (resp->status), or a transport failure:
 *   -ETIMEDOUT     connect timeout, per-attempt timeout or low-speed limit
 *   -ECONNREFUSED  could not connect (refused, unreachable)
 *   -ENXIO         host name could not be resolved
 *   -EKEYREJECTED  TLS certificate or CA problem (not transient)
 *   -ECONNRESET    connection reset, reply truncated or empty, TLS
 *                  handshake failed (transient)
 *   -EMSGSIZE      2xx body beyond its ceiling (transfer aborted)
 *   -EINVAL        bad URL or option; -ENOMEM; -EIO anything else
 * resp->curl_err then says what curl saw.  Free resp with http_resp_free()
 * in every case.
 */
int http_perform(struct http_pool *p, const struct http_req *req, struct http_resp *resp);
void http_resp_free(struct http_resp *resp);

#endif
