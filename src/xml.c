/*
 * xml.c - expat parsers for S3 replies; see xml.h.
 *
 * One small engine serves every document kind: the start handler checks the
 * root element and keeps a stack of element names (without namespace), the
 * character-data handler collects the text of the current element (with a
 * ceiling), and the end handler hands (depth, parent, name, text) to the
 * kind's handler, which fills the output.  Containers (<Contents>,
 * <CommonPrefixes>, a DeleteResult's <Error>) are built in a "current"
 * slot and appended when they close, after checking their required fields.
 * The first error stops the parser; everything built so far is freed, so a
 * failed parse leaves no partial result.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "util.h"
#include "xml.h"

#define XML_MAX_DEPTH 8  /* deeper elements are counted, not named */
#define XML_NAME_MAX  48 /* longer names are cut; none we look for is */
#define XML_NS_SEP    '|'

enum xml_kind { XK_ERROR, XK_LIST, XK_DELETE, XK_COPY };

struct xml_ctx {
	XML_Parser parser;
	enum xml_kind kind;
	int rc; /* first error, 0 while all is well */
	unsigned depth;
	char names[XML_MAX_DEPTH][XML_NAME_MAX];
	char *text; /* text of the current element, NUL-terminated */
	size_t tlen, tcap;
	int is_error; /* the root is <Error> */

	struct xml_error *err;
	struct xml_list *list;
	struct xml_delete *del;
	int copy_etag;

	/* the container being built */
	struct xml_list_obj obj;
	int obj_has_key, obj_has_size;
	char *prefix;
	struct xml_delete_err derr;
};

static void
ctx_fail(struct xml_ctx *x, int rc)
{
	if (x->rc == 0)
		x->rc = rc;
	XML_StopParser(x->parser, XML_FALSE);
}

static const char *
local_name(const XML_Char *name)
{
	const char *p = strrchr(name, XML_NS_SEP);

	return p ? p + 1 : name;
}

/* Copies text into a fixed field, cutting it if needed. */
static void
set_field(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int
root_ok(enum xml_kind kind, const char *name)
{
	switch (kind) {
	case XK_ERROR:
		return strcmp(name, "Error") == 0;
	case XK_LIST:
		return strcmp(name, "ListBucketResult") == 0 || strcmp(name, "Error") == 0;
	case XK_DELETE:
		return strcmp(name, "DeleteResult") == 0 || strcmp(name, "Error") == 0;
	case XK_COPY:
		return strcmp(name, "CopyObjectResult") == 0 || strcmp(name, "Error") == 0;
	}
	return 0;
}

static void XMLCALL
on_start(void *arg, const XML_Char *qname, const XML_Char **attrs)
{
	struct xml_ctx *x = arg;
	const char *name = local_name(qname);

	if (x->rc)
		return;
	x->depth++;
	if (x->depth == 1) {
		if (!root_ok(x->kind, name)) {
			ctx_fail(x, -EPROTO);
			return;
		}
		x->is_error = strcmp(name, "Error") == 0;
	}
	if (x->depth <= XML_MAX_DEPTH)
		set_field(x->names[x->depth - 1], XML_NAME_MAX, name);
	x->tlen = 0;
	x->text[0] = '\0';
}

static void XMLCALL
on_text(void *arg, const XML_Char *s, int len)
{
	struct xml_ctx *x = arg;

	if (x->rc || x->depth < 2 || len <= 0)
		return;
	if (x->tlen + (size_t)len >= XML_MAX_TEXT) {
		ctx_fail(x, -EPROTO);
		return;
	}
	if (x->tlen + (size_t)len >= x->tcap) {
		size_t ncap = x->tcap;
		while (ncap <= x->tlen + (size_t)len)
			ncap *= 2;
		char *n = realloc(x->text, ncap);
		if (n == NULL) {
			ctx_fail(x, -ENOMEM);
			return;
		}
		x->text = n;
		x->tcap = ncap;
	}
	memcpy(x->text + x->tlen, s, (size_t)len);
	x->tlen += (size_t)len;
	x->text[x->tlen] = '\0';
}

static void XMLCALL
on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
           int has_internal)
{
	/* S3 never sends a DTD; refusing one rules out entity tricks. */
	ctx_fail(arg, -EPROTO);
}

static void
end_error_doc(struct xml_ctx *x, const char *name)
{
	struct xml_error *e = x->err;

	if (x->depth != 2 || e == NULL)
		return;
	if (strcmp(name, "Code") == 0)
		set_field(e->code, sizeof(e->code), x->text);
	else if (strcmp(name, "Message") == 0)
		set_field(e->message, sizeof(e->message), x->text);
	else if (strcmp(name, "RequestId") == 0)
		set_field(e->request_id, sizeof(e->request_id), x->text);
	else if (strcmp(name, "Region") == 0 || strcmp(name, "BucketRegion") == 0)
		set_field(e->region, sizeof(e->region), x->text);
	else if (strcmp(name, "Endpoint") == 0)
		set_field(e->endpoint, sizeof(e->endpoint), x->text);
}

static int
grow(void **arr, size_t n, size_t elsz)
{
	/* Doubling at powers of two keeps appends amortised O(1). */
	if (n != 0 && (n & (n - 1)) != 0)
		return 0;
	size_t ncap = n == 0 ? 16 : n * 2;
	void *p = realloc(*arr, ncap * elsz);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	return 0;
}

static void
end_list(struct xml_ctx *x, const char *parent, const char *name)
{
	struct xml_list *l = x->list;

	if (x->depth == 2) {
		if (strcmp(name, "IsTruncated") == 0) {
			if (strcmp(x->text, "true") == 0)
				l->truncated = 1;
			else if (strcmp(x->text, "false") == 0)
				l->truncated = 0;
			else
				ctx_fail(x, -EPROTO);
		} else if (strcmp(name, "NextContinuationToken") == 0) {
			free(l->next_token);
			if ((l->next_token = strdup(x->text)) == NULL)
				ctx_fail(x, -ENOMEM);
		} else if (strcmp(name, "EncodingType") == 0) {
			l->url_encoded = strcmp(x->text, "url") == 0;
		} else if (strcmp(name, "Contents") == 0) {
			if (!x->obj_has_key || !x->obj_has_size) {
				ctx_fail(x, -EPROTO);
				return;
			}
			if (grow((void **)&l->objs, l->nobjs, sizeof(*l->objs)) < 0) {
				ctx_fail(x, -ENOMEM);
				return;
			}
			l->objs[l->nobjs++] = x->obj;
			memset(&x->obj, 0, sizeof(x->obj));
			x->obj_has_key = x->obj_has_size = 0;
		} else if (strcmp(name, "CommonPrefixes") == 0) {
			if (x->prefix == NULL) {
				ctx_fail(x, -EPROTO);
				return;
			}
			if (grow((void **)&l->prefixes, l->nprefixes, sizeof(*l->prefixes)) < 0) {
				ctx_fail(x, -ENOMEM);
				return;
			}
			l->prefixes[l->nprefixes++] = x->prefix;
			x->prefix = NULL;
		}
		return;
	}
	if (x->depth != 3)
		return;
	if (strcmp(parent, "Contents") == 0) {
		if (strcmp(name, "Key") == 0) {
			free(x->obj.key);
			if ((x->obj.key = strdup(x->text)) == NULL) {
				ctx_fail(x, -ENOMEM);
				return;
			}
			x->obj_has_key = 1;
		} else if (strcmp(name, "Size") == 0) {
			if (util_parse_u64(x->text, &x->obj.size) < 0) {
				ctx_fail(x, -EPROTO);
				return;
			}
			x->obj_has_size = 1;
		} else if (strcmp(name, "LastModified") == 0) {
			if (xml_parse_time(x->text, &x->obj.mtime) < 0)
				ctx_fail(x, -EPROTO);
		}
	} else if (strcmp(parent, "CommonPrefixes") == 0 && strcmp(name, "Prefix") == 0) {
		free(x->prefix);
		if ((x->prefix = strdup(x->text)) == NULL)
			ctx_fail(x, -ENOMEM);
	}
}

static void
end_delete(struct xml_ctx *x, const char *parent, const char *name)
{
	struct xml_delete *d = x->del;

	if (x->depth == 2) {
		if (strcmp(name, "Deleted") == 0) {
			d->ndeleted++;
		} else if (strcmp(name, "Error") == 0) {
			if (x->derr.key == NULL) {
				ctx_fail(x, -EPROTO);
				return;
			}
			if (grow((void **)&d->errs, d->nerrs, sizeof(*d->errs)) < 0) {
				ctx_fail(x, -ENOMEM);
				return;
			}
			d->errs[d->nerrs++] = x->derr;
			memset(&x->derr, 0, sizeof(x->derr));
		}
		return;
	}
	if (x->depth != 3 || strcmp(parent, "Error") != 0)
		return;
	if (strcmp(name, "Key") == 0) {
		free(x->derr.key);
		if ((x->derr.key = strdup(x->text)) == NULL)
			ctx_fail(x, -ENOMEM);
	} else if (strcmp(name, "Code") == 0) {
		set_field(x->derr.code, sizeof(x->derr.code), x->text);
	} else if (strcmp(name, "Message") == 0) {
		set_field(x->derr.message, sizeof(x->derr.message), x->text);
	}
}

static void XMLCALL
on_end(void *arg, const XML_Char *qname)
{
	struct xml_ctx *x = arg;
	const char *name = local_name(qname);
	const char *parent = "";

	if (x->rc)
		return;
	if (x->depth >= 2 && x->depth - 2 < XML_MAX_DEPTH)
		parent = x->names[x->depth - 2];
	if (x->depth <= XML_MAX_DEPTH && x->depth >= 2) {
		if (x->is_error)
			end_error_doc(x, name);
		else if (x->kind == XK_LIST)
			end_list(x, parent, name);
		else if (x->kind == XK_DELETE)
			end_delete(x, parent, name);
		else if (x->kind == XK_COPY && x->depth == 2 && strcmp(name, "ETag") == 0)
			x->copy_etag = 1;
	}
	x->depth--;
	x->tlen = 0;
	x->text[0] = '\0';
}

/* Runs the parser over the whole body; 0, -EREMOTEIO for an <Error>
 * document, or an error.  The caller frees its output on error. */
static int
run(struct xml_ctx *x, const char *buf, size_t len)
{
	if (len > XML_MAX_BYTES)
		return -EFBIG;
	if (len == 0)
		return -EPROTO;
	x->tcap = 256;
	if ((x->text = malloc(x->tcap)) == NULL)
		return -ENOMEM;
	x->text[0] = '\0';
	x->parser = XML_ParserCreateNS(NULL, XML_NS_SEP);
	if (x->parser == NULL) {
		free(x->text);
		return -ENOMEM;
	}
	XML_SetUserData(x->parser, x);
	XML_SetElementHandler(x->parser, on_start, on_end);
	XML_SetCharacterDataHandler(x->parser, on_text);
	XML_SetStartDoctypeDeclHandler(x->parser, on_doctype);

	enum XML_Status st = XML_Parse(x->parser, buf, (int)len, XML_TRUE);
	int rc = x->rc;
	if (rc == 0 && st != XML_STATUS_OK)
		rc = XML_GetErrorCode(x->parser) == XML_ERROR_NO_MEMORY ? -ENOMEM : -EPROTO;
	if (rc == 0 && x->depth != 0)
		rc = -EPROTO;
	if (rc == 0 && x->is_error)
		rc = x->kind == XK_ERROR ? 0 : -EREMOTEIO;
	else if (rc == 0 && x->kind == XK_ERROR)
		rc = -EPROTO;
	XML_ParserFree(x->parser);
	free(x->text);
	free(x->obj.key);
	free(x->prefix);
	free(x->derr.key);
	return rc;
}

int
xml_parse_error(const char *buf, size_t len, struct xml_error *out)
{
	struct xml_ctx x = {.kind = XK_ERROR, .err = out};

	memset(out, 0, sizeof(*out));
	return run(&x, buf, len);
}

void
xml_list_free(struct xml_list *l)
{
	for (size_t i = 0; i < l->nobjs; i++)
		free(l->objs[i].key);
	free(l->objs);
	for (size_t i = 0; i < l->nprefixes; i++)
		free(l->prefixes[i]);
	free(l->prefixes);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

/* Replaces *s by its url-decoded form. */
static int
decode_in_place(char **s)
{
	char *d = xml_url_decode(*s);

	if (d == NULL)
		return errno == ENOMEM ? -ENOMEM : -EPROTO;
	free(*s);
	*s = d;
	return 0;
}

int
xml_parse_list(const char *buf, size_t len, struct xml_list *out, struct xml_error *err)
{
	struct xml_error dummy = {0};
	struct xml_ctx x = {.kind = XK_LIST, .list = out, .err = err ? err : &dummy};
	int rc;

	memset(out, 0, sizeof(*out));
	memset(x.err, 0, sizeof(*x.err));
	rc = run(&x, buf, len);
	if (rc == 0 && out->truncated && (out->next_token == NULL || out->next_token[0] == '\0'))
		rc = -EPROTO;
	for (size_t i = 0; rc == 0 && out->url_encoded && i < out->nobjs; i++)
		rc = decode_in_place(&out->objs[i].key);
	for (size_t i = 0; rc == 0 && out->url_encoded && i < out->nprefixes; i++)
		rc = decode_in_place(&out->prefixes[i]);
	if (rc < 0)
		xml_list_free(out);
	return rc;
}

void
xml_delete_free(struct xml_delete *d)
{
	for (size_t i = 0; i < d->nerrs; i++)
		free(d->errs[i].key);
	free(d->errs);
	memset(d, 0, sizeof(*d));
}

int
xml_parse_delete(const char *buf, size_t len, struct xml_delete *out, struct xml_error *err)
{
	struct xml_error dummy = {0};
	struct xml_ctx x = {.kind = XK_DELETE, .del = out, .err = err ? err : &dummy};
	int rc;

	memset(out, 0, sizeof(*out));
	memset(x.err, 0, sizeof(*x.err));
	rc = run(&x, buf, len);
	if (rc < 0)
		xml_delete_free(out);
	return rc;
}

int
xml_parse_copy(const char *buf, size_t len, struct xml_error *err)
{
	struct xml_error dummy = {0};
	struct xml_ctx x = {.kind = XK_COPY, .err = err ? err : &dummy};
	int rc;

	memset(x.err, 0, sizeof(*x.err));
	rc = run(&x, buf, len);
	if (rc == 0 && !x.copy_etag)
		rc = -EPROTO;
	return rc;
}

/* Reads exactly n decimal digits. */
static int
digits(const char **s, unsigned n, int *out)
{
	int v = 0;

	for (unsigned i = 0; i < n; i++) {
		char c = (*s)[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		v = v * 10 + (c - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

static int
expect(const char **s, char c)
{
	if (**s != c)
		return -EINVAL;
	(*s)++;
	return 0;
}

int
xml_parse_time(const char *s, time_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec;

	memset(&tm, 0, sizeof(tm));
	if (digits(&s, 4, &y) || expect(&s, '-') || digits(&s, 2, &mo) || expect(&s, '-') ||
	    digits(&s, 2, &d) || expect(&s, 'T') || digits(&s, 2, &h) || expect(&s, ':') ||
	    digits(&s, 2, &mi) || expect(&s, ':') || digits(&s, 2, &sec))
		return -EINVAL;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (strcmp(s, "Z") != 0 && strcmp(s, "+00:00") != 0)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
xml_url_decode(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 1);
	size_t j = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[j++] = ' ';
		} else if (s[i] == '%') {
			/* s[n] is the NUL, which hexval() refuses: no overrun. */
			int hi = hexval(s[i + 1]);
			int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				errno = EINVAL;
				return NULL;
			}
			out[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	return out;
}
