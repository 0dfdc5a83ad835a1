/*
 * store.c - helpers shared by every store layer.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "store.h"

/* Copy through the client when the backend has no server-side copy.  Blocks
 * are small (block_size bytes), so one buffer of the object's size does. */
int
store_copy(struct store *st, const char *src_key, const char *dst_key)
{
	uint64_t size;
	size_t got;
	int rc;

	if (st->ops->copy)
		return st->ops->copy(st, src_key, dst_key);
	if ((rc = store_head(st, src_key, &size, NULL)) < 0)
		return rc;
	if (size > (1ULL << 30))
		return -EFBIG;
	void *buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	rc = store_get(st, src_key, 0, size, buf, &got);
	if (rc == 0 && got != size)
		rc = -EIO; /* changed under us: never copy a torn object */
	if (rc == 0)
		rc = store_put(st, dst_key, buf, size);
	free(buf);
	return rc;
}

void
store_stats_add(struct store_stats *out, const struct store_stats *in)
{
	out->gets += in->gets;
	out->puts += in->puts;
	out->heads += in->heads;
	out->deletes += in->deletes;
	out->lists += in->lists;
	out->copies += in->copies;
	out->bytes_down += in->bytes_down;
	out->bytes_up += in->bytes_up;
	out->retries += in->retries;
	out->errors += in->errors;
}
