/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Region data path: REGION_READ (9) / REGION_WRITE (10) requests and
 * replies, REGION_WRITE_MULTI (15), and the body-less DEVICE_RESET (13)
 * (docs/protocol.md 3.9 - 3.11).
 */
#include <errno.h>

#include <vus/codec.h>

#include "codec_bulk.h"
#include "codec_priv.h"

static void region_access_get(const uint8_t *p, struct vus_region_access *out)
{
	out->offset = get_u64(p + offsetof(struct vus_region_access, offset));
	out->region = get_u32(p + offsetof(struct vus_region_access, region));
	out->count = get_u32(p + offsetof(struct vus_region_access, count));
}

/*
 * Sizes are exact: a READ carries no data and a WRITE exactly count bytes,
 * as libvfio-user requires of a WRITE. count is checked against max_xfer
 * before the payload length so an oversized access reads E2BIG.
 */
int vus_region_access_decode(const struct vus_msg_view *m, bool is_write,
			     uint32_t max_xfer, struct vus_region_access *out,
			     const uint8_t **data)
{
	size_t want = sizeof(*out);

	*data = NULL;
	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	region_access_get(m->payload, out);
	if (out->count > max_xfer)
		return -E2BIG;
	if (!range_ok(out->offset, out->count))
		return -EINVAL;
	if (is_write)
		want += out->count;
	if (m->len != want)
		return -EINVAL;
	if (is_write)
		*data = m->payload + sizeof(*out);
	return 0;
}

int vus_region_write_head_decode(const struct vus_msg_view *m, uint64_t bulk,
				 uint32_t max_xfer, struct vus_region_access *out)
{
	if (m->len != sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	region_access_get(m->payload, out);
	if (out->count > max_xfer)
		return -E2BIG;
	if (!range_ok(out->offset, out->count) || out->count != bulk)
		return -EINVAL;
	return 0;
}

/*
 * A READ reply may be short (count < asked, QEMU accepts that too) but
 * never longer; a WRITE reply echoes the request exactly.
 */
int vus_region_access_reply_decode(const struct vus_msg_view *m, bool is_write,
				   const struct vus_region_access *asked,
				   const uint8_t **data, uint32_t *count)
{
	struct vus_region_access r;
	size_t want = sizeof(r);

	*data = NULL;
	if (m->len < sizeof(r) || m->nfds != 0)
		return -EINVAL;
	region_access_get(m->payload, &r);
	if (r.offset != asked->offset || r.region != asked->region)
		return -EINVAL;
	if (is_write ? r.count != asked->count : r.count > asked->count)
		return -EINVAL;
	if (!is_write)
		want += r.count;
	if (m->len != want)
		return -EINVAL;
	if (!is_write)
		*data = m->payload + sizeof(r);
	*count = r.count;
	return 0;
}

int vus_region_read_reply_head_decode(const struct vus_msg_view *m, uint64_t bulk,
				      const struct vus_region_access *asked, uint32_t *count)
{
	struct vus_region_access r;

	if (m->len != sizeof(r) || m->nfds != 0)
		return -EINVAL;
	region_access_get(m->payload, &r);
	if (r.offset != asked->offset || r.region != asked->region || r.count > asked->count ||
	    r.count != bulk)
		return -EINVAL;
	*count = r.count;
	return 0;
}

/* ---- REGION_WRITE_MULTI --------------------------------------------- */

#define WRITE_MULTI_HEAD sizeof(uint64_t) /* wr_cnt */

/*
 * QEMU batches posted writes of <= 8 bytes, at most 200 per message
 * (docs/protocol.md 3.11). The whole message is validated up front so the
 * handler can apply entries without re-checking their shape.
 */
int vus_write_multi_decode(const struct vus_msg_view *m, uint32_t max_entries,
			   uint64_t *wr_cnt)
{
	const size_t esz = sizeof(struct vus_write_multi_entry);
	uint64_t n, i;

	if (m->len < WRITE_MULTI_HEAD || m->nfds != 0)
		return -EINVAL;
	n = get_u64(m->payload);
	if (n == 0 || n > max_entries)
		return -EINVAL;
	/* Division instead of 8 + 24 * n: n is untrusted until this holds. */
	if ((m->len - WRITE_MULTI_HEAD) % esz != 0 || (m->len - WRITE_MULTI_HEAD) / esz != n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		struct vus_write_multi_entry e;

		vus_write_multi_entry(m, i, &e);
		if (e.count == 0 || e.count > VUS_WRITE_MULTI_DATA_MAX ||
		    !range_ok(e.offset, e.count))
			return -EINVAL;
	}
	*wr_cnt = n;
	return 0;
}

/* Only for i < the wr_cnt vus_write_multi_decode() accepted. */
void vus_write_multi_entry(const struct vus_msg_view *m, uint64_t i,
			   struct vus_write_multi_entry *out)
{
	const uint8_t *e = m->payload + WRITE_MULTI_HEAD + i * sizeof(struct vus_write_multi_entry);

	out->offset = get_u64(e + offsetof(struct vus_write_multi_entry, offset));
	out->region = get_u32(e + offsetof(struct vus_write_multi_entry, region));
	out->count = get_u32(e + offsetof(struct vus_write_multi_entry, count));
	memcpy(out->data, e + offsetof(struct vus_write_multi_entry, data), sizeof(out->data));
}

/* ---- DEVICE_RESET --------------------------------------------------- */

/* No payload either way; QEMU's reply buffer is exactly the header. */
int vus_device_reset_decode(const struct vus_msg_view *m)
{
	return m->len == 0 && m->nfds == 0 ? 0 : -EINVAL;
}
