/*
 * xml.h - expat parsers for the S3 replies s3blockfs reads.
 *
 * Every parser takes a whole reply body (the HTTP layer buffers it with a
 * ceiling of XML_MAX_BYTES) and tracks the element path, so a key that
 * contains "<Key>" or an entity (&amp;) can never be mistaken for markup.
 * Element names are compared without their namespace.  A document that is
 * malformed, truncated, has the wrong root element or lacks a required
 * field is an error: a caller never sees a partial listing.
 *
 * Returns, for every xml_parse_*():
 *   0           parsed; *out filled (free it with the matching _free())
 *   -EREMOTEIO  the body is an S3 <Error> document; *err filled (a 200
 *               reply to CopyObject or DeleteObjects may carry one)
 *   -EPROTO     malformed, truncated, unexpected root, missing or invalid
 *               field, bad %-escape in a url-encoded name
 *   -EFBIG      longer than XML_MAX_BYTES
 *   -ENOMEM
 */
#ifndef S3BFS_XML_H
#define S3BFS_XML_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Ceiling of any XML reply body; a ListObjectsV2 page of 1000 url-encoded
 * 1024-byte keys stays well below it. */
#define XML_MAX_BYTES (16u << 20)
/* Ceiling of one element's text (keys are at most 1024 bytes, 3x that
 * when url-encoded; tokens are short). */
#define XML_MAX_TEXT  (64u << 10)

/* The fields of an S3 <Error> document worth logging or acting on.  Text
 * longer than a field is cut (these are for messages, not for lookups). */
struct xml_error {
	char code[64];       /* <Code>: NoSuchKey, SlowDown, ... */
	char message[256];   /* <Message> */
	char request_id[80]; /* <RequestId> */
	char region[64];     /* <Region> or <BucketRegion> (wrong-region replies) */
	char endpoint[256];  /* <Endpoint> (301 PermanentRedirect) */
};

/* One page of ListObjectsV2 (ListBucketResult). */
struct xml_list_obj {
	char *key;     /* decoded (entities, and %-escapes with EncodingType url) */
	uint64_t size; /* <Size> */
	time_t mtime;  /* <LastModified>, 0 if absent */
};

struct xml_list {
	struct xml_list_obj *objs; /* <Contents>, in reply order */
	size_t nobjs;
	char **prefixes; /* <CommonPrefixes><Prefix>, in reply order */
	size_t nprefixes;
	int truncated;    /* <IsTruncated>true */
	char *next_token; /* <NextContinuationToken> or NULL (never decoded) */
	int url_encoded;  /* <EncodingType>url</EncodingType> was present */
};

/* Parses an <Error> document (any other root is -EPROTO). */
int xml_parse_error(const char *buf, size_t len, struct xml_error *out);

/* Parses a ListBucketResult.  Names are url-decoded ('+' is a space) when
 * the reply says EncodingType url.  A truncated page without a
 * NextContinuationToken is -EPROTO. */
int xml_parse_list(const char *buf, size_t len, struct xml_list *out, struct xml_error *err);
void xml_list_free(struct xml_list *l);

/* One <Error> entry of a DeleteResult. */
struct xml_delete_err {
	char *key; /* as sent, decoded from entities */
	char code[64];
	char message[256];
};

struct xml_delete {
	size_t ndeleted; /* <Deleted> entries (none with Quiet) */
	struct xml_delete_err *errs;
	size_t nerrs;
};

/* Parses a DeleteResult (reply to POST ?delete). */
int xml_parse_delete(const char *buf, size_t len, struct xml_delete *out, struct xml_error *err);
void xml_delete_free(struct xml_delete *d);

/* Parses the body of a 200 reply to CopyObject: 0 for a CopyObjectResult
 * (with an ETag), -EREMOTEIO for an <Error>, -EPROTO for anything else
 * (including an empty body). */
int xml_parse_copy(const char *buf, size_t len, struct xml_error *err);

/* Parses an ISO 8601 UTC time as S3 writes it: 2009-10-12T17:50:30.000Z
 * (fraction optional, "Z" or "+00:00").  0 or -EINVAL. */
int xml_parse_time(const char *s, time_t *out);

/* Decodes %XX escapes and '+' (a space, as S3's encoding-type=url writes
 * it) of s into a new string.  NULL and errno EINVAL on a bad escape or an
 * escaped NUL, ENOMEM. */
char *xml_url_decode(const char *s);

#endif
