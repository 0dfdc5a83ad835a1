/*
 * sigv4.h - AWS Signature Version 4, header signing, as a pure function of
 * its inputs: OpenSSL libcrypto only, no curl, no clock, no I/O.
 *
 * The caller (s3.c) builds one struct sigv4_req per attempt with every header
 * it will send and sign (at least host, x-amz-date and x-amz-content-sha256),
 * calls sigv4_authorization() and adds the result as "Authorization: <value>".
 *
 * Canonical request (the S3 flavour of SigV4):
 *   METHOD \n PATH \n QUERY \n HEADERS \n \n SIGNED_HEADERS \n PAYLOAD_HASH
 * PATH is used verbatim (S3 neither normalizes nor double-encodes it), QUERY
 * is the encoded parameters sorted by encoded name then encoded value,
 * HEADERS are "name:value\n" with lower-case names sorted, values trimmed and
 * inner whitespace runs collapsed to one space, duplicate names joined by ','
 * in the order given.
 *
 * All functions are thread-safe and keep no state. Derived signing keys are
 * wiped with OPENSSL_cleanse() before returning.
 */
#ifndef S3BFS_SIGV4_H
#define S3BFS_SIGV4_H

#include <stddef.h>
#include <time.h>

struct sigv4_kv {
	const char *name;
	const char *value;
};

struct sigv4_req {
	const char *method; /* "GET", "PUT", ... */
	/* The path exactly as sent on the wire, already URI-encoded (S3 style:
	 * each byte outside unreserved A-Za-z0-9-._~ as %XX, '/' kept); the
	 * signer uses it verbatim: S3 neither normalizes nor double-encodes. */
	const char *path;
	/* Decoded query parameters; the signer encodes them (RFC 3986, '/' as
	 * %2F, space as %20) and sorts; value "" for a key without value. */
	const struct sigv4_kv *query;
	size_t nquery;
	/* Every header to sign, incl. host and x-amz-date; names any case,
	 * values trimmed and inner whitespace runs collapsed by the signer. */
	const struct sigv4_kv *headers;
	size_t nheaders;
	const char *payload_hash; /* lower hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
};

/* Length of an amz_date "YYYYMMDDTHHMMSSZ" plus its NUL. */
#define SIGV4_AMZ_DATE_SIZE 17
/* Empty body's SHA-256, the payload hash of every GET/HEAD/DELETE. */
#define SIGV4_EMPTY_SHA256  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/*
 * Builds the Authorization header VALUE ("AWS4-HMAC-SHA256
 * Credential=AK/20130524/us-east-1/s3/aws4_request,
 * SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=<hex>")
 * into out. amz_date is "YYYYMMDDTHHMMSSZ".
 * Returns 0, -ENOSPC if out is too small, -EINVAL on bad input (NULL or empty
 * required field, malformed amz_date, no headers, header name with ':' or
 * control characters), -ENOMEM.
 */
int sigv4_authorization(const struct sigv4_req *r, const char *access_key, const char *secret_key,
                        const char *region, const char *service, const char *amz_date, char *out,
                        size_t outsz);

/* The intermediate strings, malloc'd into *out (caller frees), for tests and
 * for debug logs (neither contains a secret). 0, -EINVAL or -ENOMEM. */
int sigv4_canonical_request(const struct sigv4_req *r, char **out);
int sigv4_string_to_sign(const struct sigv4_req *r, const char *region, const char *service,
                         const char *amz_date, char **out);

/* The SignedHeaders value ("host;range;x-amz-date"), malloc'd into *out. */
int sigv4_signed_headers(const struct sigv4_req *r, char **out);

/* The derived signing key kSigning for date (YYYYMMDD), region, service;
 * the caller must OPENSSL_cleanse() it. 0 or -EINVAL. */
int sigv4_signing_key(const char *secret_key, const char *date, const char *region,
                      const char *service, unsigned char key[32]);

/* Lower-hex HMAC-SHA256 signature of a string to sign (hex: 65 bytes);
 * derives the signing key from secret, date (YYYYMMDD), region, service.
 * Also signs strings built elsewhere (aws-chunked "AWS4-HMAC-SHA256-PAYLOAD"
 * chunk strings). 0 or -EINVAL. */
int sigv4_signature(const char *secret_key, const char *date, const char *region,
                    const char *service, const char *string_to_sign, char hex[65]);

/*
 * Presigned URL (query signing), for tools and tests; the daemon uses header
 * signing. r->query holds the request's own parameters, r->headers the
 * headers to sign (at least host, never x-amz-date), r->payload_hash
 * usually "UNSIGNED-PAYLOAD". Adds X-Amz-Algorithm, -Credential, -Date,
 * -Expires, -Security-Token (if session_token is not NULL), -SignedHeaders
 * and returns in *out (malloc'd) the complete encoded query string to put
 * after '?', ending in "&X-Amz-Signature=<hex>". 0, -EINVAL or -ENOMEM.
 */
int sigv4_presign_query(const struct sigv4_req *r, const char *access_key, const char *secret_key,
                        const char *session_token, const char *region, const char *service,
                        const char *amz_date, unsigned int expires_s, char **out);

/* URI-encodes s (RFC 3986 unreserved kept; keep_slash keeps '/') into a
 * malloc'd string; NULL on allocation failure. */
char *sigv4_uri_encode(const char *s, int keep_slash);

/* Lower-hex SHA-256 of buf into hex (65 bytes). */
void sigv4_sha256_hex(const void *buf, size_t len, char hex[65]);

/* Formats time t (UTC) as amz_date (17 bytes incl. NUL). */
void sigv4_amz_date(time_t t, char out[17]);

#endif
