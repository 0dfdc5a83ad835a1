/*
 * s3.h - the S3 backend: the store interface (store.h) over libcurl with
 * SigV4 signing, path-style or virtual-hosted addressing, and the mount
 * options that configure it.
 *
 * The store that s3_store_create() returns is the retry layer (retry.h)
 * wrapped around the S3 layer; every S3-layer call is one signed request
 * (or one per page / batch), signed afresh (a new x-amz-date) each time the
 * retry layer repeats it.
 *
 * Requests: get = GET with "Range: bytes=a-b" (a 416 reply is the end of
 * the object: *got = 0); put = PUT with Content-Length, Content-MD5 and
 * x-amz-content-sha256 = SHA-256 of the body (or UNSIGNED-PAYLOAD with the
 * unsigned_payload option, https only); head = HEAD; del = DELETE for one
 * key, else DeleteObjects (POST ?delete, Quiet, Content-MD5) in batches of
 * up to 1000 in the order given; list = ListObjectsV2 (list-type=2,
 * encoding-type=url, continuation tokens); copy = PUT with
 * x-amz-copy-source (a 200 reply carrying <Error> is an error); probe =
 * ListObjectsV2 with max-keys=0 on the root prefix.  Object paths are
 * sigv4_uri_encode(root_prefix + key, keep_slash=1), sent as is (curl's
 * dot-segment squashing is off), so any UTF-8 key round-trips.
 *
 * Errors (what callers and the retry layer see):
 *   -ENOENT     404 (NoSuchKey, NoSuchBucket)
 *   -EACCES     401, 403 (AccessDenied, SignatureDoesNotMatch,
 *               InvalidAccessKeyId, RequestTimeTooSkewed, ...)
 *   -EINVAL     other 400s, 405, 411, other 4xx; a key that is empty or
 *               longer than 1024 bytes
 *   -ETIMEDOUT  400 RequestTimeout, curl connect/transfer timeout or low
 *               speed limit (transient)
 *   -ESTALE     412 precondition failed
 *   -ELOOP      3xx redirect, or 400 AuthorizationHeaderMalformed naming
 *               a region: wrong region or endpoint (the log says which)
 *   -EBUSY      409 conflict
 *   -EAGAIN     503 SlowDown, 429 (transient)
 *   -EIO        other 5xx, connection refused/reset, DNS failure, reply
 *               truncated (shorter than Content-Length, a range shorter
 *               than asked for without reaching the object's end) or
 *               longer than asked for, 400 IncompleteBody/BadDigest
 *               (transient: only such failures are -EIO)
 *   -EPROTO     a complete reply that makes no sense: malformed XML, a
 *               Content-Range other than asked for, a listing out of order
 *               or outside the prefix, an unexpected status (not retried)
 *   -ENXIO      TLS certificate or CA failure (not retried); from probe:
 *               endpoint unreachable (refused, DNS, TLS, timeout)
 *   -EOPNOTSUPP 501;  -ENOSPC 507;  -ENOMEM
 * get_stats counts requests sent by kind (probe counts as a list), body
 * bytes up and down, and failed requests (404 and 416 excluded: they are
 * answers); the retry layer adds its retries.
 * Each failed request logs one line, "s3: PUT key: HTTP 503 SlowDown
 * (request id XYZ)" or "s3: GET key: <curl error>": transient failures at
 * NOTICE, 404 and 416 at DEBUG, the rest at ERR; never a header value.
 */
#ifndef S3BFS_S3_H
#define S3BFS_S3_H

#include <stdio.h>

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_opt.h>

#include "store.h"

struct s3_conf; /* opaque */

struct s3_conf *s3_conf_create(void);
void s3_conf_destroy(struct s3_conf **c);

/*
 * Consumes the S3 mount options from args with fuse_opt_parse() (other
 * options stay in args) and validates them; on bad input prints ONE line
 * "s3blockfs: ..." to stderr and returns -EINVAL (-ENOMEM).
 *   endpoint=URL      default $AWS_ENDPOINT_URL, else https://s3.<region>.amazonaws.com
 *   region=R          default $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1
 *   path_style / virtual_host   default: virtual-hosted for *.amazonaws.com
 *                     (path style anyway for a bucket name with dots over
 *                     https or one that is not a DNS label), path style
 *                     for every other endpoint, IP addresses and localhost
 *   insecure          skip TLS certificate verification (explicit only)
 *   ca_file=F         CA bundle for TLS verification
 *   credentials=FILE  credentials file (mode 0600, see creds.h)
 *   profile=NAME      profile of the shared credentials file
 *   unsigned_payload  do not hash PUT bodies (https endpoints only)
 *   request_timeout=S per attempt, default 30
 *   connect_timeout=S default 10
 *   retry_budget=S    total pauses between retries of one call, default 30
 */
int s3_conf_parse(struct s3_conf *c, struct fuse_args *args);

/* Option help lines for --help. */
void s3_conf_help(FILE *out);

/*
 * Creates the S3 store for bucket + root prefix (prefix may be "" or NULL;
 * keys given to the store are relative to it; a missing trailing '/' is
 * added), wrapped in the retry layer (which is what is returned).
 * connections bounds parallel requests and connections (0 means 1).
 * Loads the credentials with creds_load().  No request is sent: call the
 * store's probe() for that.  NULL and one line in msg on error.
 */
struct store *s3_store_create(const struct s3_conf *c, const char *bucket, const char *root_prefix,
                              unsigned connections, char *msg, size_t msgsz);

/* Exported for unit tests. */

/* The one HTTP status -> errno switch (see above); code is the S3 <Code>
 * ("" or NULL if none), region non-empty if the reply named one. */
int s3_status_errno(long status, const char *code, const char *region);

/* Map of http_perform() failures (http.h) -> store errno, for requests
 * (probing 0) and for probe() (probing 1: unreachable is -ENXIO). */
int s3_transport_errno(int http_rc, int probing);

/* Checks a Content-Range reply header against the range asked for:
 * "bytes a-b/total" (total may be '*').  0 and *len = b-a+1 if a == off
 * and b-a+1 <= want, and a short range ends at total-1; -EPROTO otherwise
 * (-EIO if the range is short without reaching a known end). */
int s3_check_content_range(const char *hdr, uint64_t off, size_t want, size_t *len);

#endif
