/*
 * sigv4.c - AWS Signature Version 4 (see sigv4.h for the contract).
 *
 * Everything is built in a small growable string with a ceiling
 * (SIGV4_MAX_TEXT): the canonical request, then the string to sign
 *   "AWS4-HMAC-SHA256\n" amz_date "\n" date/region/service/aws4_request "\n"
 *   hex(sha256(canonical request))
 * then the signature HMAC(kSigning, string to sign), where
 *   kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service), "aws4_request").
 * Intermediate keys live on the stack and are wiped with OPENSSL_cleanse().
 *
 * S3 specifics: the path is signed exactly as it goes on the wire (S3 does
 * not normalize "//" or "/../" and does not double-encode), and the query is
 * re-encoded here from decoded parameters so the caller cannot get the
 * encoding subtly different from what was signed if it builds the URL from
 * the same sigv4_uri_encode().
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sigv4.h"

/* Ceiling on any string we build (canonical request, query); real S3
 * requests are a few hundred bytes. */
#define SIGV4_MAX_TEXT   ((size_t)256 * 1024)
/* Ceiling on headers and query parameters per request. */
#define SIGV4_MAX_ITEMS  1024
/* Ceiling on a secret key (AWS's are 40 characters). */
#define SIGV4_MAX_SECRET 512

#define SIGV4_ALGO "AWS4-HMAC-SHA256"

/* A growable string with a ceiling; err sticks at the first failure so
 * callers can append unconditionally and check once. */
struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	int err; /* 0, -ENOMEM, -EINVAL (ceiling) */
};

static void
sb_add(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->err != 0)
		return;
	if (n > SIGV4_MAX_TEXT || sb->len + n + 1 > SIGV4_MAX_TEXT) {
		sb->err = -EINVAL;
		return;
	}
	if (sb->len + n + 1 > sb->cap) {
		size_t ncap = sb->cap ? sb->cap : 256;
		while (ncap < sb->len + n + 1)
			ncap *= 2;
		char *np = realloc(sb->p, ncap);
		if (np == NULL) {
			sb->err = -ENOMEM;
			return;
		}
		sb->p = np;
		sb->cap = ncap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static void
sb_adds(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

static void
sb_addc(struct sbuf *sb, char c)
{
	sb_add(sb, &c, 1);
}

/* Hands the string to the caller (or frees it on error); returns 0 or err. */
static int
sb_detach(struct sbuf *sb, char **out)
{
	if (sb->err == 0 && sb->p == NULL)
		sb_add(sb, "", 0);
	if (sb->err != 0) {
		free(sb->p);
		*out = NULL;
		return sb->err;
	}
	*out = sb->p;
	return 0;
}

static int
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Printable ASCII without space: what may appear in a credential scope
 * component, method, access key or payload hash. */
static int
is_token(const char *s, const char *forbid)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr(forbid, *p) != NULL)
			return 0;
	}
	return 1;
}

/* "YYYYMMDDTHHMMSSZ" */
static int
valid_amz_date(const char *d)
{
	if (d == NULL || strlen(d) != SIGV4_AMZ_DATE_SIZE - 1)
		return 0;
	for (int i = 0; i < 16; i++) {
		if (i == 8) {
			if (d[i] != 'T')
				return 0;
		} else if (i == 15) {
			if (d[i] != 'Z')
				return 0;
		} else if (d[i] < '0' || d[i] > '9') {
			return 0;
		}
	}
	return 1;
}

static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

char *
sigv4_uri_encode(const char *s, int keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t n = strlen(s);

	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(3 * n + 1);
	if (out == NULL)
		return NULL;
	char *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (is_unreserved(*p) || (keep_slash && *p == '/')) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = digits[*p >> 4];
			*o++ = digits[*p & 0xf];
		}
	}
	*o = '\0';
	return out;
}

void
sigv4_sha256_hex(const void *buf, size_t len, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(buf, len, md);
	hex_encode(md, sizeof(md), hex);
}

void
sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;

	/* strftime returns 0 when the result (a year past 9999) does not fit;
	 * the empty string then fails valid_amz_date() in the signer. */
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, SIGV4_AMZ_DATE_SIZE, "%Y%m%dT%H%M%SZ", &tm) != SIGV4_AMZ_DATE_SIZE - 1)
		out[0] = '\0';
}

/* ------------------------------------------------------------ canonical request */

struct enc_param {
	char *name;
	char *value;
};

static int
cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

/* Encodes and sorts the query into "a=1&b=2" appended to sb. */
static int
add_canonical_query(struct sbuf *sb, const struct sigv4_kv *q, size_t nq)
{
	struct enc_param *ps;
	int rc = 0;

	if (nq == 0)
		return 0;
	if (q == NULL || nq > SIGV4_MAX_ITEMS)
		return -EINVAL;
	ps = calloc(nq, sizeof(*ps));
	if (ps == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < nq; i++) {
		if (q[i].name == NULL) {
			rc = -EINVAL;
			goto out;
		}
		ps[i].name = sigv4_uri_encode(q[i].name, 0);
		ps[i].value = sigv4_uri_encode(q[i].value ? q[i].value : "", 0);
		if (ps[i].name == NULL || ps[i].value == NULL) {
			rc = -ENOMEM;
			goto out;
		}
	}
	qsort(ps, nq, sizeof(*ps), cmp_param);
	for (size_t i = 0; i < nq; i++) {
		if (i > 0)
			sb_addc(sb, '&');
		sb_adds(sb, ps[i].name);
		sb_addc(sb, '=');
		sb_adds(sb, ps[i].value);
	}
out:
	for (size_t i = 0; i < nq; i++) {
		free(ps[i].name);
		free(ps[i].value);
	}
	free(ps);
	return rc;
}

struct canon_hdr {
	char *name; /* lower case */
	const char *value;
	size_t idx; /* position given, so equal names keep their order */
};

static int
cmp_hdr(const void *a, const void *b)
{
	const struct canon_hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Appends value trimmed, with each inner whitespace run (including the
 * line breaks of an obsolete folded header) collapsed to one space. */
static void
add_trimmed(struct sbuf *sb, const char *v)
{
	int pending_space = 0;

	while (is_ws(*v))
		v++;
	for (; *v; v++) {
		if (is_ws(*v)) {
			pending_space = 1;
			continue;
		}
		if (pending_space)
			sb_addc(sb, ' ');
		pending_space = 0;
		sb_addc(sb, *v);
	}
}

static void
free_hdrs(struct canon_hdr *hs, size_t n)
{
	if (hs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(hs[i].name);
	free(hs);
}

/* Lower-cases, validates and sorts the headers into *out (free_hdrs). */
static int
sorted_headers(const struct sigv4_req *r, struct canon_hdr **out)
{
	struct canon_hdr *hs;
	size_t n = r->nheaders;

	*out = NULL;
	if (n == 0 || r->headers == NULL || n > SIGV4_MAX_ITEMS)
		return -EINVAL;
	hs = calloc(n, sizeof(*hs));
	if (hs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *name = r->headers[i].name;
		/* An HTTP token: no separators that would corrupt the
		 * canonical form ("name:value\n", "a;b"). */
		if (!is_token(name, ":;,\"()<>@[]{}/\\?=") || r->headers[i].value == NULL) {
			free_hdrs(hs, n);
			return -EINVAL;
		}
		hs[i].name = strdup(name);
		if (hs[i].name == NULL) {
			free_hdrs(hs, n);
			return -ENOMEM;
		}
		for (char *p = hs[i].name; *p; p++) {
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		}
		hs[i].value = r->headers[i].value;
		hs[i].idx = i;
	}
	qsort(hs, n, sizeof(*hs), cmp_hdr);
	*out = hs;
	return 0;
}

static void
add_signed_headers(struct sbuf *sb, const struct canon_hdr *hs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0)
			continue;
		if (i > 0)
			sb_addc(sb, ';');
		sb_adds(sb, hs[i].name);
	}
}

/* A path as sent on the wire: printable ASCII, no space, no query or
 * fragment (those would mean the caller did not encode the key). */
static int
valid_path(const char *p)
{
	return p != NULL && p[0] == '/' && is_token(p, "?#");
}

int
sigv4_canonical_request(const struct sigv4_req *r, char **out)
{
	struct sbuf sb = {0};
	struct canon_hdr *hs = NULL;
	int rc;

	*out = NULL;
	if (r == NULL || !is_token(r->method, "") || !valid_path(r->path) ||
	    !is_token(r->payload_hash, ""))
		return -EINVAL;
	rc = sorted_headers(r, &hs);
	if (rc != 0)
		return rc;

	sb_adds(&sb, r->method);
	sb_addc(&sb, '\n');
	sb_adds(&sb, r->path);
	sb_addc(&sb, '\n');
	rc = add_canonical_query(&sb, r->query, r->nquery);
	if (rc != 0)
		goto fail;
	sb_addc(&sb, '\n');
	for (size_t i = 0; i < r->nheaders; i++) {
		int same = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
		if (same) {
			sb_addc(&sb, ',');
		} else {
			if (i > 0)
				sb_addc(&sb, '\n');
			sb_adds(&sb, hs[i].name);
			sb_addc(&sb, ':');
		}
		add_trimmed(&sb, hs[i].value);
	}
	sb_adds(&sb, "\n\n");
	add_signed_headers(&sb, hs, r->nheaders);
	sb_addc(&sb, '\n');
	sb_adds(&sb, r->payload_hash);
	free_hdrs(hs, r->nheaders);
	return sb_detach(&sb, out);
fail:
	free_hdrs(hs, r->nheaders);
	free(sb.p);
	return rc;
}

int
sigv4_signed_headers(const struct sigv4_req *r, char **out)
{
	struct sbuf sb = {0};
	struct canon_hdr *hs = NULL;
	int rc;

	*out = NULL;
	if (r == NULL)
		return -EINVAL;
	rc = sorted_headers(r, &hs);
	if (rc != 0)
		return rc;
	add_signed_headers(&sb, hs, r->nheaders);
	free_hdrs(hs, r->nheaders);
	return sb_detach(&sb, out);
}

/* ------------------------------------------------------------ string to sign */

static int
valid_scope(const char *region, const char *service, const char *amz_date)
{
	return is_token(region, "/") && is_token(service, "/") && valid_amz_date(amz_date);
}

int
sigv4_string_to_sign(const struct sigv4_req *r, const char *region, const char *service,
                     const char *amz_date, char **out)
{
	struct sbuf sb = {0};
	char *creq = NULL;
	char hash[65];
	int rc;

	*out = NULL;
	if (!valid_scope(region, service, amz_date))
		return -EINVAL;
	rc = sigv4_canonical_request(r, &creq);
	if (rc != 0)
		return rc;
	sigv4_sha256_hex(creq, strlen(creq), hash);
	free(creq);

	sb_adds(&sb, SIGV4_ALGO "\n");
	sb_adds(&sb, amz_date);
	sb_addc(&sb, '\n');
	sb_add(&sb, amz_date, 8);
	sb_addc(&sb, '/');
	sb_adds(&sb, region);
	sb_addc(&sb, '/');
	sb_adds(&sb, service);
	sb_adds(&sb, "/aws4_request\n");
	sb_adds(&sb, hash);
	return sb_detach(&sb, out);
}

/* ------------------------------------------------------------ signing */

static int
hmac256(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
	unsigned int outlen = 0;

	if (keylen > INT32_MAX)
		return -EINVAL;
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out,
	         &outlen) == NULL ||
	    outlen != 32)
		return -EIO;
	return 0;
}

int
sigv4_signing_key(const char *secret_key, const char *date, const char *region, const char *service,
                  unsigned char key[32])
{
	/* "AWS4" + secret; sized by the ceiling rather than a VLA. */
	unsigned char k0[4 + SIGV4_MAX_SECRET];
	unsigned char k1[32], k2[32], k3[32];
	size_t slen;
	int rc;

	if (secret_key == NULL || date == NULL || strlen(date) != 8 || !is_token(region, "/") ||
	    !is_token(service, "/"))
		return -EINVAL;
	slen = strlen(secret_key);
	if (slen == 0 || slen > SIGV4_MAX_SECRET)
		return -EINVAL;
	memcpy(k0, "AWS4", 4); // NOLINT(bugprone-not-null-terminated-result): key bytes
	memcpy(k0 + 4, secret_key, slen);
	rc = hmac256(k0, 4 + slen, date, k1);
	if (rc == 0)
		rc = hmac256(k1, sizeof(k1), region, k2);
	if (rc == 0)
		rc = hmac256(k2, sizeof(k2), service, k3);
	if (rc == 0)
		rc = hmac256(k3, sizeof(k3), "aws4_request", key);
	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	OPENSSL_cleanse(k3, sizeof(k3));
	if (rc != 0)
		OPENSSL_cleanse(key, 32);
	return rc;
}

int
sigv4_signature(const char *secret_key, const char *date, const char *region, const char *service,
                const char *string_to_sign, char hex[65])
{
	unsigned char key[32], sig[32];
	int rc;

	hex[0] = '\0';
	if (string_to_sign == NULL)
		return -EINVAL;
	rc = sigv4_signing_key(secret_key, date, region, service, key);
	if (rc != 0)
		return rc;
	rc = hmac256(key, sizeof(key), string_to_sign, sig);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc != 0)
		return rc;
	hex_encode(sig, sizeof(sig), hex);
	return 0;
}

int
sigv4_authorization(const struct sigv4_req *r, const char *access_key, const char *secret_key,
                    const char *region, const char *service, const char *amz_date, char *out,
                    size_t outsz)
{
	char *sts = NULL, *signed_hdrs = NULL;
	char sig[65], date[9];
	int rc, n;

	if (out == NULL || outsz == 0)
		return -ENOSPC;
	out[0] = '\0';
	/* Credential=AK/date/region/service/aws4_request: a '/' or ',' in
	 * the access key would make the header ambiguous. */
	if (!is_token(access_key, "/,=") || !valid_scope(region, service, amz_date))
		return -EINVAL;
	rc = sigv4_string_to_sign(r, region, service, amz_date, &sts);
	if (rc != 0)
		return rc;
	rc = sigv4_signed_headers(r, &signed_hdrs);
	if (rc != 0)
		goto out;
	memcpy(date, amz_date, 8);
	date[8] = '\0';
	rc = sigv4_signature(secret_key, date, region, service, sts, sig);
	if (rc != 0)
		goto out;
	n = snprintf(out, outsz,
	             SIGV4_ALGO
	             " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
	             access_key, date, region, service, signed_hdrs, sig);
	if (n < 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		rc = n < 0 ? -EINVAL : -ENOSPC;
	}
out:
	free(signed_hdrs);
	free(sts);
	return rc;
}

/* ------------------------------------------------------------ presigned URLs */

int
sigv4_presign_query(const struct sigv4_req *r, const char *access_key, const char *secret_key,
                    const char *session_token, const char *region, const char *service,
                    const char *amz_date, unsigned int expires_s, char **out)
{
	struct sigv4_req pr;
	struct sigv4_kv *q = NULL;
	struct sbuf sb = {0}, cred = {0};
	char *signed_hdrs = NULL, *sts = NULL;
	char expires[16], sig[65], date[9];
	size_t nq = 0;
	int rc;

	*out = NULL;
	if (r == NULL || !is_token(access_key, "/,=") || !valid_scope(region, service, amz_date) ||
	    r->nquery > SIGV4_MAX_ITEMS || (r->nquery > 0 && r->query == NULL) ||
	    (session_token != NULL && *session_token == '\0'))
		return -EINVAL;
	rc = sigv4_signed_headers(r, &signed_hdrs);
	if (rc != 0)
		return rc;
	memcpy(date, amz_date, 8);
	date[8] = '\0';
	sb_adds(&cred, access_key);
	sb_addc(&cred, '/');
	sb_adds(&cred, date);
	sb_addc(&cred, '/');
	sb_adds(&cred, region);
	sb_addc(&cred, '/');
	sb_adds(&cred, service);
	sb_adds(&cred, "/aws4_request");
	if (cred.err != 0) {
		rc = cred.err;
		goto out;
	}
	(void)snprintf(expires, sizeof(expires), "%u", expires_s);

	q = calloc(r->nquery + 6, sizeof(*q));
	if (q == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->nquery; i++)
		q[nq++] = r->query[i];
	q[nq++] = (struct sigv4_kv){"X-Amz-Algorithm", SIGV4_ALGO};
	q[nq++] = (struct sigv4_kv){"X-Amz-Credential", cred.p};
	q[nq++] = (struct sigv4_kv){"X-Amz-Date", amz_date};
	q[nq++] = (struct sigv4_kv){"X-Amz-Expires", expires};
	if (session_token != NULL)
		q[nq++] = (struct sigv4_kv){"X-Amz-Security-Token", session_token};
	q[nq++] = (struct sigv4_kv){"X-Amz-SignedHeaders", signed_hdrs};

	pr = *r;
	pr.query = q;
	pr.nquery = nq;
	rc = sigv4_string_to_sign(&pr, region, service, amz_date, &sts);
	if (rc != 0)
		goto out;
	rc = sigv4_signature(secret_key, date, region, service, sts, sig);
	if (rc != 0)
		goto out;
	rc = add_canonical_query(&sb, q, nq);
	if (rc != 0)
		goto out;
	sb_adds(&sb, "&X-Amz-Signature=");
	sb_adds(&sb, sig);
	rc = sb_detach(&sb, out);
	sb.p = NULL;
out:
	free(sb.p);
	free(sts);
	free(q);
	free(cred.p);
	free(signed_hdrs);
	return rc;
}
