/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A growable byte buffer and a bounds-checked reader over one
 * (library-internal): the live-update state (docs/live-update.md
 * "State format") is written and read field by field with these. Values
 * are little-endian; a reader past the end fails every later read, so a
 * caller checks blob_rd_ok() once at the end instead of after each field.
 */
#ifndef VUS_BLOB_H
#define VUS_BLOB_H

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct vus_blob {
	uint8_t *p;
	size_t len, cap;
	int err;                  /* -ENOMEM once a put failed */
};

static inline void blob_put(struct vus_blob *b, const void *data, size_t len)
{
	if (b->err)
		return;
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2) {
				b->err = -ENOMEM;
				return;
			}
			cap *= 2;
		}
		np = realloc(b->p, cap);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static inline void blob_u32(struct vus_blob *b, uint32_t v)
{
	v = htole32(v);
	blob_put(b, &v, sizeof(v));
}

static inline void blob_u64(struct vus_blob *b, uint64_t v)
{
	v = htole64(v);
	blob_put(b, &v, sizeof(v));
}

/* A length-prefixed byte string. */
static inline void blob_bytes(struct vus_blob *b, const void *data, size_t len)
{
	blob_u64(b, len);
	blob_put(b, data, len);
}

struct vus_blob_rd {
	const uint8_t *p;
	size_t len, pos;
	bool bad;                 /* a read went past the end */
};

static inline const void *blob_get(struct vus_blob_rd *r, size_t len)
{
	const void *p;

	if (r->bad || len > r->len - r->pos) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += len;
	return p;
}

static inline uint32_t blob_rd_u32(struct vus_blob_rd *r)
{
	const void *p = blob_get(r, 4);
	uint32_t v = 0;

	if (p)
		memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t blob_rd_u64(struct vus_blob_rd *r)
{
	const void *p = blob_get(r, 8);
	uint64_t v = 0;

	if (p)
		memcpy(&v, p, 8);
	return le64toh(v);
}

/* A length-prefixed byte string: its bytes (NULL if truncated), *len. */
static inline const void *blob_rd_bytes(struct vus_blob_rd *r, size_t *len)
{
	uint64_t n = blob_rd_u64(r);

	if (r->bad || n > r->len - r->pos) {
		r->bad = true;
		*len = 0;
		return NULL;
	}
	*len = (size_t)n;
	return blob_get(r, (size_t)n);
}

static inline bool blob_rd_ok(const struct vus_blob_rd *r)
{
	return !r->bad;
}

#endif /* VUS_BLOB_H */
