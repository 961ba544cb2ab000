/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * GET_INFO, GET_REGION_INFO (request, reply encode with caps, reply
 * decode with chain walking), GET_REGION_IO_FDS, GET_IRQ_INFO, SET_IRQS.
 */
#include <errno.h>

#include "codec_test.h"
#include "vus_test.h"

#define RI_R VUS_REGION_INFO_FLAG_READ
#define RI_W VUS_REGION_INFO_FLAG_WRITE
#define RI_MMAP VUS_REGION_INFO_FLAG_MMAP
#define RI_CAPS VUS_REGION_INFO_FLAG_CAPS

/* ---- the 16-byte four-u32 messages ---------------------------------- */

/* GET_INFO and IRQ_INFO, request and reply: same layout, same checks. */
static int info_dev_req(const struct vus_msg_view *m, uint32_t f[4])
{
	struct vus_device_info o;
	int rc = vus_device_info_req_decode(m, &o);

	f[0] = o.argsz, f[1] = o.flags, f[2] = o.num_regions, f[3] = o.num_irqs;
	return rc;
}

static int info_dev_reply(const struct vus_msg_view *m, uint32_t f[4])
{
	struct vus_device_info o;
	int rc = vus_device_info_decode(m, &o);

	f[0] = o.argsz, f[1] = o.flags, f[2] = o.num_regions, f[3] = o.num_irqs;
	return rc;
}

static int info_irq_req(const struct vus_msg_view *m, uint32_t f[4])
{
	struct vus_irq_info o;
	int rc = vus_irq_info_req_decode(m, &o);

	f[0] = o.argsz, f[1] = o.flags, f[2] = o.index, f[3] = o.count;
	return rc;
}

static int info_irq_reply(const struct vus_msg_view *m, uint32_t f[4])
{
	struct vus_irq_info o;
	int rc = vus_irq_info_decode(m, &o);

	f[0] = o.argsz, f[1] = o.flags, f[2] = o.index, f[3] = o.count;
	return rc;
}

static void test_info_messages(void **state)
{
	static const struct {
		const char *name;
		int (*decode)(const struct vus_msg_view *, uint32_t[4]);
	} fns[] = {
		{ "GET_INFO req", info_dev_req }, { "GET_INFO reply", info_dev_reply },
		{ "IRQ_INFO req", info_irq_req }, { "IRQ_INFO reply", info_irq_reply },
	};
	static const struct {
		const char *name;
		uint32_t argsz;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "valid", 16, 16, 0, 0 },
		{ "argsz larger", 32, 16, 0, 0 },
		{ "kernel-sized payload (20)", 16, 20, 0, 0 },
		{ "truncated", 16, 15, 0, -EINVAL },
		{ "empty", 16, 0, 0, -EINVAL },
		{ "argsz 15", 15, 16, 0, -EINVAL },
		{ "fd attached", 16, 16, 1, -EINVAL },
	};

	for (size_t f = 0; f < ARRAY_LEN(fns); f++) {
		for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
			uint8_t b[32] = { 0 };
			uint32_t got[4];
			struct vus_msg_view m;
			char name[96];
			int rc;

			put_u32(b + 0, cases[i].argsz);
			put_u32(b + 4, 0x11111111);
			put_u32(b + 8, 0x22222222);
			put_u32(b + 12, 0x33333333);
			m = tview(b, cases[i].len, cases[i].nfds);
			rc = fns[f].decode(&m, got);
			tview_free(&m);
			snprintf(name, sizeof(name), "%s: %s", fns[f].name, cases[i].name);
			expect_rc(name, rc, cases[i].rc);
			if (rc == 0 && (got[0] != cases[i].argsz || got[1] != 0x11111111 ||
					got[2] != 0x22222222 || got[3] != 0x33333333))
				fail_msg("%s: fields wrong", name);
		}
	}
}

static void test_region_io_fds_req(void **state)
{
	static const struct {
		const char *name;
		uint32_t argsz, flags, index, count;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "valid", 16, 0, 3, 0, 16, 0, 0 },
		{ "room for entries", 16 + 40 * 4, 0, 1, 0, 16, 0, 0 },
		{ "truncated", 16, 0, 3, 0, 15, 0, -EINVAL },
		{ "argsz 15", 15, 0, 3, 0, 16, 0, -EINVAL },
		{ "flags", 16, 1, 3, 0, 16, 0, -EINVAL },
		{ "count", 16, 0, 3, 1, 16, 0, -EINVAL },
		{ "fd attached", 16, 0, 3, 0, 16, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[16];
		struct vus_region_io_fds out;
		struct vus_msg_view m;
		int rc;

		put_u32(b + 0, cases[i].argsz);
		put_u32(b + 4, cases[i].flags);
		put_u32(b + 8, cases[i].index);
		put_u32(b + 12, cases[i].count);
		m = tview(b, cases[i].len, cases[i].nfds);
		rc = vus_region_io_fds_req_decode(&m, &out);
		tview_free(&m);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0)
			assert_true(out.argsz == cases[i].argsz && out.index == cases[i].index);
	}
}

static void test_region_info_req(void **state)
{
	static const struct {
		const char *name;
		uint32_t argsz;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "QEMU first ask", 32, 32, 0, 0 },
		{ "QEMU re-ask", 104, 32, 0, 0 },
		{ "truncated", 32, 31, 0, -EINVAL },
		{ "argsz 31", 31, 32, 0, -EINVAL },
		{ "argsz 16", 16, 32, 0, -EINVAL },
		{ "fd attached", 32, 32, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[32] = { 0 };
		struct vus_region_info out;
		struct vus_msg_view m;
		int rc;

		put_u32(b + 0, cases[i].argsz);
		put_u32(b + 8, 7);
		m = tview(b, cases[i].len, cases[i].nfds);
		rc = vus_region_info_req_decode(&m, &out);
		tview_free(&m);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0)
			assert_true(out.argsz == cases[i].argsz && out.index == 7);
	}
}

/* ---- GET_REGION_INFO reply encode ----------------------------------- */

static const struct vus_sparse_area two_areas[] = {
	{ .offset = 0, .size = 0x1000 },
	{ .offset = 0x3000, .size = 0x1000 },
};

static const struct vus_region_info bar0 = {
	.flags = RI_R | RI_W | RI_MMAP, .index = 0, .size = 0x4000, .offset = 0x10000,
};

static void expect_cap_hdr(const uint8_t *b, uint32_t off, uint16_t id, uint32_t next)
{
	if (get_u16(b + off) != id || get_u16(b + off + 2) != 1 || get_u32(b + off + 4) != next)
		fail_msg("cap @%u: id %u ver %u next %u, want id %u ver 1 next %u", off,
			 get_u16(b + off), get_u16(b + off + 2), get_u32(b + off + 4), id, next);
}

static void expect_ri_head(const uint8_t *b, uint32_t argsz, uint32_t flags,
			   uint32_t cap_offset, const struct vus_region_info *ri)
{
	ASSERT_EQ(get_u32(b + 0), argsz);
	ASSERT_EQ(get_u32(b + 4), flags);
	ASSERT_EQ(get_u32(b + 8), ri->index);
	ASSERT_EQ(get_u32(b + 12), cap_offset);
	ASSERT_EQ(get_u64(b + 16), ri->size);
	ASSERT_EQ(get_u64(b + 24), ri->offset);
}

static void test_region_info_encode_all_caps(void **state)
{
	const struct vus_region_caps caps = {
		.sparse = true, .nr_areas = 2, .areas = two_areas,
		.has_type = true, .type = 0x8086, .subtype = 5, .msix_mappable = true,
	};
	uint8_t buf[128 + 1];
	bool fd = false;
	/* 32 struct + 16 + 2 * 16 sparse + 16 type + 8 msix = 104 */
	ssize_t n = vus_region_info_reply_encode(buf + 1, sizeof(buf) - 1, 104, &bar0, &caps, &fd);
	const uint8_t *b = buf + 1;

	ASSERT_EQ(n, 104);
	assert_true(fd);
	expect_ri_head(b, 104, RI_R | RI_W | RI_MMAP | RI_CAPS, 32, &bar0);
	expect_cap_hdr(b, 32, VUS_REGION_INFO_CAP_SPARSE_MMAP, 80);
	ASSERT_EQ(get_u32(b + 40), 2);
	ASSERT_EQ(get_u32(b + 44), 0);
	ASSERT_EQ(get_u64(b + 48), 0);
	ASSERT_EQ(get_u64(b + 56), 0x1000);
	ASSERT_EQ(get_u64(b + 64), 0x3000);
	ASSERT_EQ(get_u64(b + 72), 0x1000);
	expect_cap_hdr(b, 80, VUS_REGION_INFO_CAP_TYPE, 96);
	ASSERT_EQ(get_u32(b + 88), 0x8086);
	ASSERT_EQ(get_u32(b + 92), 5);
	expect_cap_hdr(b, 96, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
}

static void test_region_info_encode_single_caps(void **state)
{
	static const struct {
		const char *name;
		struct vus_region_caps caps;
		uint16_t id;
		uint32_t len;
	} cases[] = {
		{ "sparse, no areas", { .sparse = true }, VUS_REGION_INFO_CAP_SPARSE_MMAP, 48 },
		{ "type", { .has_type = true, .type = 1, .subtype = 2 }, VUS_REGION_INFO_CAP_TYPE,
		  48 },
		{ "msix", { .msix_mappable = true }, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 40 },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[64];
		bool fd;
		ssize_t n = vus_region_info_reply_encode(b, sizeof(b), 1024, &bar0,
							 &cases[i].caps, &fd);

		expect_rc(cases[i].name, n, cases[i].len);
		expect_ri_head(b, cases[i].len, bar0.flags | RI_CAPS, 32, &bar0);
		expect_cap_hdr(b, 32, cases[i].id, 0);
	}
}

static void test_region_info_encode_no_caps(void **state)
{
	/* CAPS in the input is not trusted: no cap, no flag. */
	const struct vus_region_info cfg = { .flags = RI_R | RI_W | RI_CAPS, .index = 7,
					     .size = 4096, .cap_offset = 99, .argsz = 7 };
	const struct vus_region_caps none = { 0 };
	uint8_t b[32];
	bool fd = true;

	ASSERT_EQ(vus_region_info_reply_encode(b, sizeof(b), 32, &cfg, NULL, &fd), 32);
	expect_ri_head(b, 32, RI_R | RI_W, 0, &cfg);
	assert_false(fd);
	ASSERT_EQ(vus_region_info_reply_encode(b, sizeof(b), 32, &cfg, &none, &fd), 32);
	expect_ri_head(b, 32, RI_R | RI_W, 0, &cfg);
	/* MMAP without caps: the fd goes along. */
	ASSERT_EQ(vus_region_info_reply_encode(b, sizeof(b), 32, &bar0, NULL, &fd), 32);
	expect_ri_head(b, 32, bar0.flags, 0, &bar0);
	assert_true(fd);
	ASSERT_ERR(vus_region_info_reply_encode(b, 31, 32, &bar0, NULL, &fd), -ENOSPC);
}

static void test_region_info_encode_truncated(void **state)
{
	const struct vus_region_caps caps = { .sparse = true, .nr_areas = 2, .areas = two_areas };
	uint8_t b[80];
	bool fd = true;

	/* QEMU's first ask is argsz 32; anything short of 80 gets the bare struct. */
	for (uint32_t argsz = 32; argsz < 80; argsz++) {
		fd = true;
		memset(b, 0xaa, sizeof(b));
		ASSERT_EQ(vus_region_info_reply_encode(b, sizeof(b), argsz, &bar0, &caps,
						       &fd), 32);
		/* Kernel VFIO's flags (MMAP kept), only CAPS and cap_offset
		 * tell it is short; no fd without the sparse areas. */
		expect_ri_head(b, 80, RI_R | RI_W | RI_MMAP, 0, &bar0);
		assert_false(fd);
		ASSERT_EQ(b[32], 0xaa); /* nothing past the struct */
	}
	ASSERT_EQ(vus_region_info_reply_encode(b, 32, 79, &bar0, &caps, &fd), 32);
	ASSERT_ERR(vus_region_info_reply_encode(b, 31, 79, &bar0, &caps, &fd), -ENOSPC);
	/* Full size: needs the whole buffer. */
	ASSERT_ERR(vus_region_info_reply_encode(b, 79, 80, &bar0, &caps, &fd), -ENOSPC);
	ASSERT_EQ(vus_region_info_reply_encode(b, 80, 80, &bar0, &caps, &fd), 80);
	assert_true(fd);
}

static void test_region_info_encode_too_many_areas(void **state)
{
	/* More areas than a 32-bit argsz can describe: never sent. */
	const struct vus_region_caps caps = { .sparse = true, .nr_areas = UINT32_MAX,
					      .areas = two_areas };
	uint8_t b[64];
	bool fd;

	ASSERT_ERR(vus_region_info_reply_encode(b, sizeof(b), UINT32_MAX, &bar0, &caps, &fd),
		   -ENOSPC);
}

/* ---- GET_REGION_INFO reply decode ----------------------------------- */

static int decode_ri(const uint8_t *b, size_t len, unsigned nfds, struct vus_region_info *ri,
		     struct vus_region_caps *caps, struct vus_sparse_area *areas, uint32_t cap)
{
	struct vus_msg_view m = tview(b, len, nfds);
	int rc = vus_region_info_decode(&m, ri, caps, areas, cap);

	tview_free(&m);
	return rc;
}

static void test_region_info_round_trip(void **state)
{
	static const struct vus_sparse_area many[5] = {
		{ 0, 0x1000 }, { 0x2000, 0x1000 }, { 0x4000, 0x2000 }, { 0x8000, 0x8000 },
		{ 0x10000, 0 },
	};
	static const struct {
		const char *name;
		struct vus_region_caps caps;
	} cases[] = {
		{ "none", { 0 } },
		{ "sparse 5", { .sparse = true, .nr_areas = 5, .areas = many } },
		{ "sparse 0 + msix", { .sparse = true, .msix_mappable = true } },
		{ "type", { .has_type = true, .type = 3, .subtype = 1 } },
		{ "all", { .sparse = true, .nr_areas = 2, .areas = many, .has_type = true,
			   .type = 0xffffffff, .subtype = 0x12345678, .msix_mappable = true } },
	};
	const struct vus_region_info ri = { .flags = RI_R | RI_W | RI_MMAP, .index = 9,
					    .size = 0x20000, .offset = 0x90000000 };

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct vus_region_caps *in = &cases[i].caps;
		uint8_t b[256];
		struct vus_sparse_area areas[8];
		struct vus_region_caps out;
		struct vus_region_info got;
		bool fd;
		ssize_t n = vus_region_info_reply_encode(b, sizeof(b), sizeof(b), &ri, in, &fd);

		assert_true(n >= 32);
		expect_rc(cases[i].name, decode_ri(b, (size_t)n, fd, &got, &out, areas, 8), 0);
		ASSERT_EQ(got.argsz, n);
		ASSERT_EQ(got.index, ri.index);
		ASSERT_EQ(got.size, ri.size);
		ASSERT_EQ(got.offset, ri.offset);
		ASSERT_EQ(got.flags & ~RI_CAPS, ri.flags);
		ASSERT_EQ(out.sparse, in->sparse);
		ASSERT_EQ(out.nr_areas, in->nr_areas);
		assert_ptr_equal(out.areas, areas);
		for (uint32_t a = 0; a < in->nr_areas; a++) {
			ASSERT_EQ(areas[a].offset, in->areas[a].offset);
			ASSERT_EQ(areas[a].size, in->areas[a].size);
		}
		ASSERT_EQ(out.has_type, in->has_type);
		if (in->has_type)
			assert_true(out.type == in->type && out.subtype == in->subtype);
		ASSERT_EQ(out.msix_mappable, in->msix_mappable);
	}
}

/* A reply under construction: region-info head + caps by hand. */
struct ri_buf {
	uint8_t b[512];
	size_t len;
};

static void ri_head(struct ri_buf *r, uint32_t argsz, uint32_t flags, uint32_t cap_offset,
		    size_t len)
{
	memset(r->b, 0, sizeof(r->b));
	put_u32(r->b + 0, argsz);
	put_u32(r->b + 4, flags);
	put_u32(r->b + 12, cap_offset);
	put_u64(r->b + 16, 0x10000); /* region size */
	r->len = len;
}

static void ri_cap(struct ri_buf *r, size_t off, uint16_t id, uint32_t next)
{
	put_u16(r->b + off, id);
	put_u16(r->b + off + 2, 1);
	put_u32(r->b + off + 4, next);
}

static void ri_sparse(struct ri_buf *r, size_t off, uint32_t next, uint32_t nr,
		      uint64_t area_off, uint64_t area_size)
{
	ri_cap(r, off, VUS_REGION_INFO_CAP_SPARSE_MMAP, next);
	put_u32(r->b + off + 8, nr);
	/* Fill as many areas as fit the buffer, all alike. */
	for (size_t a = 0; a < nr && off + 16 + 16 * a + 16 <= sizeof(r->b); a++) {
		put_u64(r->b + off + 16 + 16 * a, area_off);
		put_u64(r->b + off + 24 + 16 * a, area_size);
	}
}

enum chain {
	CH_SPARSE_OK,
	CH_NO_CAPS_FLAG,
	CH_CAPS_OFFSET_0,
	CH_OFFSET_4_ALIGNED,
	CH_UNKNOWN_SKIPPED,
	CH_LONG_CHAIN,
	CH_ARGSZ_BEYOND_PAYLOAD,
	CH_OFFSET_BELOW_32,
	CH_OFFSET_MISALIGNED,
	CH_OFFSET_BEYOND_PAYLOAD,
	CH_HEADER_STRADDLES,
	CH_BEYOND_ARGSZ,
	CH_SELF_LOOP,
	CH_BACKWARDS,
	CH_NEXT_INSIDE_CAP,
	CH_NEXT_BEYOND_PAYLOAD,
	CH_DUP_SPARSE,
	CH_DUP_TYPE,
	CH_DUP_MSIX,
	CH_SPARSE_TOO_MANY,
	CH_SPARSE_NR_MAX,
	CH_AREA_BEYOND_REGION,
	CH_AREA_WRAPS,
	CH_TYPE_TRUNCATED,
	CH_SPARSE_HEAD_TRUNCATED,
	CH_ARGSZ_SMALL,
	CH_PAYLOAD_SHORT,
	CH_TWO_FDS,
};

static void build_chain(struct ri_buf *r, enum chain c)
{
	switch (c) {
	case CH_SPARSE_OK:
	case CH_TWO_FDS:
		ri_head(r, 80, RI_CAPS | RI_MMAP, 32, 80);
		ri_sparse(r, 32, 0, 2, 0x1000, 0x1000);
		break;
	case CH_NO_CAPS_FLAG:
		ri_head(r, 32, RI_R, 999, 32);
		break;
	case CH_CAPS_OFFSET_0:
		ri_head(r, 80, RI_CAPS, 0, 32); /* the kernel's "argsz too small" */
		break;
	case CH_OFFSET_4_ALIGNED:
		ri_head(r, 44, RI_CAPS, 36, 44);
		ri_cap(r, 36, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
		break;
	case CH_UNKNOWN_SKIPPED:
		ri_head(r, 48, RI_CAPS, 32, 48);
		ri_cap(r, 32, 99, 40);
		ri_cap(r, 40, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
		break;
	case CH_LONG_CHAIN:
		/* 59 unknown headers back to back, then MSIX at 504. */
		ri_head(r, 512, RI_CAPS, 32, 512);
		for (size_t off = 32; off < 504; off += 8)
			ri_cap(r, off, 0x7777, (uint32_t)off + 8);
		ri_cap(r, 504, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
		break;
	case CH_ARGSZ_BEYOND_PAYLOAD:
		/* The walk stays inside the payload even if argsz claims more. */
		ri_head(r, 4096, RI_CAPS, 32, 40);
		ri_cap(r, 32, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
		break;
	case CH_OFFSET_BELOW_32:
		ri_head(r, 48, RI_CAPS, 16, 48);
		break;
	case CH_OFFSET_MISALIGNED:
		ri_head(r, 48, RI_CAPS, 34, 48);
		ri_cap(r, 34, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
		break;
	case CH_OFFSET_BEYOND_PAYLOAD:
		ri_head(r, 48, RI_CAPS, 64, 48);
		break;
	case CH_HEADER_STRADDLES:
		ri_head(r, 44, RI_CAPS, 40, 44);
		break;
	case CH_BEYOND_ARGSZ:
		/* A whole type cap in the payload, but argsz ends inside it. */
		ri_head(r, 40, RI_CAPS, 32, 48);
		ri_cap(r, 32, VUS_REGION_INFO_CAP_TYPE, 0);
		break;
	case CH_SELF_LOOP:
		ri_head(r, 48, RI_CAPS, 32, 48);
		ri_cap(r, 32, 99, 32);
		break;
	case CH_BACKWARDS:
		ri_head(r, 56, RI_CAPS, 40, 56);
		ri_cap(r, 32, 99, 40);
		ri_cap(r, 40, 98, 32);
		break;
	case CH_NEXT_INSIDE_CAP:
		/* next = 40 lands on nr_areas (2 = TYPE) and reserved (0 = end). */
		ri_head(r, 96, RI_CAPS, 32, 96);
		ri_sparse(r, 32, 40, 2, 0, 0x1000); /* sparse ends at 80 */
		break;
	case CH_NEXT_BEYOND_PAYLOAD:
		ri_head(r, 48, RI_CAPS, 32, 48);
		ri_cap(r, 32, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 4096);
		break;
	case CH_DUP_SPARSE:
		ri_head(r, 64, RI_CAPS, 32, 64);
		ri_sparse(r, 32, 48, 0, 0, 0);
		ri_sparse(r, 48, 0, 0, 0, 0);
		break;
	case CH_DUP_TYPE:
		ri_head(r, 64, RI_CAPS, 32, 64);
		ri_cap(r, 32, VUS_REGION_INFO_CAP_TYPE, 48);
		ri_cap(r, 48, VUS_REGION_INFO_CAP_TYPE, 0);
		break;
	case CH_DUP_MSIX:
		ri_head(r, 48, RI_CAPS, 32, 48);
		ri_cap(r, 32, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 40);
		ri_cap(r, 40, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
		break;
	case CH_SPARSE_TOO_MANY:
		ri_head(r, 64, RI_CAPS, 32, 64);
		ri_sparse(r, 32, 0, 2, 0, 0x1000); /* needs 80 */
		put_u32(r->b + 40, 3);
		break;
	case CH_SPARSE_NR_MAX:
		ri_head(r, 64, RI_CAPS, 32, 64);
		ri_sparse(r, 32, 0, 0, 0, 0);
		put_u32(r->b + 40, UINT32_MAX); /* 16 * nr wraps 32 bits */
		break;
	case CH_AREA_BEYOND_REGION:
		ri_head(r, 48 + 16, RI_CAPS, 32, 64);
		ri_sparse(r, 32, 0, 1, 0xf000, 0x1001);
		break;
	case CH_AREA_WRAPS:
		ri_head(r, 64, RI_CAPS, 32, 64);
		ri_sparse(r, 32, 0, 1, UINT64_MAX, 2);
		break;
	case CH_TYPE_TRUNCATED:
		ri_head(r, 44, RI_CAPS, 32, 44);
		ri_cap(r, 32, VUS_REGION_INFO_CAP_TYPE, 0);
		break;
	case CH_SPARSE_HEAD_TRUNCATED:
		ri_head(r, 44, RI_CAPS, 32, 44);
		ri_cap(r, 32, VUS_REGION_INFO_CAP_SPARSE_MMAP, 0);
		break;
	case CH_ARGSZ_SMALL:
		ri_head(r, 31, 0, 0, 32);
		break;
	case CH_PAYLOAD_SHORT:
		ri_head(r, 32, 0, 0, 31);
		break;
	}
}

static void test_region_info_decode_chains(void **state)
{
	static const struct {
		const char *name;
		enum chain c;
		int rc;
		bool sparse, msix;
	} cases[] = {
		{ "sparse ok", CH_SPARSE_OK, 0, true, false },
		{ "no CAPS flag", CH_NO_CAPS_FLAG, 0, false, false },
		{ "CAPS with cap_offset 0", CH_CAPS_OFFSET_0, 0, false, false },
		{ "4-aligned header", CH_OFFSET_4_ALIGNED, 0, false, true },
		{ "unknown id skipped", CH_UNKNOWN_SKIPPED, 0, false, true },
		{ "long chain", CH_LONG_CHAIN, 0, false, true },
		{ "argsz beyond payload", CH_ARGSZ_BEYOND_PAYLOAD, 0, false, true },
		{ "cap_offset < 32", CH_OFFSET_BELOW_32, -EINVAL, false, false },
		{ "misaligned", CH_OFFSET_MISALIGNED, -EINVAL, false, false },
		{ "cap_offset beyond payload", CH_OFFSET_BEYOND_PAYLOAD, -EINVAL, false, false },
		{ "header straddles end", CH_HEADER_STRADDLES, -EINVAL, false, false },
		{ "cap beyond argsz", CH_BEYOND_ARGSZ, -EINVAL, false, false },
		{ "self loop", CH_SELF_LOOP, -EINVAL, false, false },
		{ "backwards", CH_BACKWARDS, -EINVAL, false, false },
		{ "next inside cap", CH_NEXT_INSIDE_CAP, -EINVAL, false, false },
		{ "next beyond payload", CH_NEXT_BEYOND_PAYLOAD, -EINVAL, false, false },
		{ "duplicate sparse", CH_DUP_SPARSE, -EINVAL, false, false },
		{ "duplicate type", CH_DUP_TYPE, -EINVAL, false, false },
		{ "duplicate msix", CH_DUP_MSIX, -EINVAL, false, false },
		{ "areas beyond payload", CH_SPARSE_TOO_MANY, -EINVAL, false, false },
		{ "nr_areas u32 max", CH_SPARSE_NR_MAX, -EINVAL, false, false },
		{ "area beyond region", CH_AREA_BEYOND_REGION, -EINVAL, false, false },
		{ "area offset+size wraps", CH_AREA_WRAPS, -EINVAL, false, false },
		{ "type cap truncated", CH_TYPE_TRUNCATED, -EINVAL, false, false },
		{ "sparse head truncated", CH_SPARSE_HEAD_TRUNCATED, -EINVAL, false, false },
		{ "argsz 31", CH_ARGSZ_SMALL, -EINVAL, false, false },
		{ "payload 31", CH_PAYLOAD_SHORT, -EINVAL, false, false },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct ri_buf r;
		struct vus_sparse_area areas[4];
		struct vus_region_caps caps;
		struct vus_region_info ri;
		int rc;

		build_chain(&r, cases[i].c);
		rc = decode_ri(r.b, r.len, 1, &ri, &caps, areas, 4);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0 && (caps.sparse != cases[i].sparse || caps.msix_mappable != cases[i].msix))
			fail_msg("%s: sparse %d msix %d", cases[i].name, caps.sparse,
				 caps.msix_mappable);
	}
}

static void test_region_info_decode_areas_and_fds(void **state)
{
	struct ri_buf r;
	struct vus_sparse_area areas[2] = { { 1, 1 }, { 1, 1 } };
	struct vus_region_caps caps;
	struct vus_region_info ri;

	build_chain(&r, CH_SPARSE_OK);
	ASSERT_OK(decode_ri(r.b, r.len, 0, &ri, &caps, areas, 2));
	ASSERT_EQ(caps.nr_areas, 2);
	assert_true(areas[1].offset == 0x1000 && areas[1].size == 0x1000);
	/* Too small an array: -ENOSPC, the total, and what fitted. */
	memset(areas, 0, sizeof(areas));
	ASSERT_ERR(decode_ri(r.b, r.len, 0, &ri, &caps, areas, 1), -ENOSPC);
	ASSERT_EQ(caps.nr_areas, 2);
	assert_true(areas[0].offset == 0x1000 && areas[0].size == 0x1000);
	assert_true(areas[1].offset == 0 && areas[1].size == 0);
	ASSERT_ERR(decode_ri(r.b, r.len, 0, &ri, &caps, NULL, 0), -ENOSPC);
	/* Malformed wins over -ENOSPC. */
	build_chain(&r, CH_AREA_BEYOND_REGION);
	ASSERT_ERR(decode_ri(r.b, r.len, 0, &ri, &caps, NULL, 0), -EINVAL);
	/* At most one fd. */
	build_chain(&r, CH_TWO_FDS);
	ASSERT_ERR(decode_ri(r.b, r.len, 2, &ri, &caps, areas, 2), -EINVAL);
}

/* ---- SET_IRQS ------------------------------------------------------- */

#define NONE VUS_IRQ_SET_DATA_NONE
#define BOOL VUS_IRQ_SET_DATA_BOOL
#define EFD VUS_IRQ_SET_DATA_EVENTFD
#define MASK VUS_IRQ_SET_ACTION_MASK
#define UNMASK VUS_IRQ_SET_ACTION_UNMASK
#define TRIG VUS_IRQ_SET_ACTION_TRIGGER

static void test_set_irqs(void **state)
{
	static const struct {
		const char *name;
		uint32_t argsz, flags, start, count;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "disable all", 20, NONE | TRIG, 0, 0, 20, 0, 0 },
		{ "assign 3 eventfds", 20, EFD | TRIG, 0, 3, 20, 3, 0 },
		{ "de-assign 3", 20, EFD | TRIG, 5, 3, 20, 0, 0 },
		{ "INTx resample fd", 20, EFD | UNMASK, 0, 1, 20, 1, 0 },
		{ "mask vector", 20, NONE | MASK, 7, 1, 20, 0, 0 },
		{ "unmask vector", 20, NONE | UNMASK, 0, 1, 20, 0, 0 },
		{ "bool trigger", 24, BOOL | TRIG, 0, 4, 24, 0, 0 },
		{ "64 eventfds", 20, EFD | TRIG, 0, 64, 20, 64, 0 },
		{ "extra payload", 20, EFD | TRIG, 0, 1, 24, 1, 0 },
		{ "end at u32 max", 20, NONE | TRIG, UINT32_MAX - 1, 1, 20, 0, 0 },
		{ "truncated", 20, NONE | TRIG, 0, 0, 19, 0, -EINVAL },
		{ "argsz 19", 19, NONE | TRIG, 0, 0, 20, 0, -EINVAL },
		{ "no data bit", 20, TRIG, 0, 1, 20, 0, -EINVAL },
		{ "no action bit", 20, NONE, 0, 1, 20, 0, -EINVAL },
		{ "two data bits", 20, NONE | BOOL | TRIG, 0, 1, 21, 0, -EINVAL },
		{ "two action bits", 20, NONE | MASK | UNMASK, 0, 1, 20, 0, -EINVAL },
		{ "unknown bit", 20, NONE | TRIG | 1u << 6, 0, 1, 20, 0, -EINVAL },
		{ "start+count wraps", 20, NONE | TRIG, UINT32_MAX, 1, 20, 0, -EINVAL },
		{ "start+count wraps big", 20, EFD | TRIG, 0x80000000, 0x80000000, 20, 0,
		  -EINVAL },
		{ "count 0 start 1", 20, NONE | TRIG, 1, 0, 20, 0, -EINVAL },
		{ "count 0 eventfd", 20, EFD | TRIG, 0, 0, 20, 0, -EINVAL },
		{ "count 0 mask", 20, NONE | MASK, 0, 0, 20, 0, -EINVAL },
		{ "fd count mismatch", 20, EFD | TRIG, 0, 3, 20, 2, -EINVAL },
		{ "fds on DATA_NONE", 20, NONE | TRIG, 0, 1, 20, 1, -EINVAL },
		{ "fds on DATA_BOOL", 21, BOOL | TRIG, 0, 1, 21, 1, -EINVAL },
		{ "bool bytes missing", 24, BOOL | TRIG, 0, 4, 23, 0, -EINVAL },
		{ "bool argsz short", 23, BOOL | TRIG, 0, 4, 24, 0, -EINVAL },
		{ "bool huge count", 24, BOOL | TRIG, 0, UINT32_MAX, 24, 0, -EINVAL },
		{ "65 fds", 20, EFD | TRIG, 0, 65, 20, 65, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[32];
		struct vus_irq_set out;
		const uint8_t *bools = (const uint8_t *)1;
		struct vus_msg_view m;
		int rc;

		for (size_t k = 0; k < sizeof(b); k++)
			b[k] = (uint8_t)k;
		put_u32(b + 0, cases[i].argsz);
		put_u32(b + 4, cases[i].flags);
		put_u32(b + 8, 2);
		put_u32(b + 12, cases[i].start);
		put_u32(b + 16, cases[i].count);
		m = tview(b, cases[i].len, cases[i].nfds);
		rc = vus_irq_set_decode(&m, &out, &bools);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			assert_true(out.argsz == cases[i].argsz && out.flags == cases[i].flags &&
				    out.index == 2 && out.start == cases[i].start &&
				    out.count == cases[i].count);
			if (cases[i].flags & BOOL) {
				assert_ptr_equal(bools, m.payload + 20);
				ASSERT_EQ(bools[0], 20);
				ASSERT_EQ(bools[3], 23);
			} else {
				assert_null(bools);
			}
		}
		tview_free(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_messages),
		cmocka_unit_test(test_region_io_fds_req),
		cmocka_unit_test(test_region_info_req),
		cmocka_unit_test(test_region_info_encode_all_caps),
		cmocka_unit_test(test_region_info_encode_single_caps),
		cmocka_unit_test(test_region_info_encode_no_caps),
		cmocka_unit_test(test_region_info_encode_truncated),
		cmocka_unit_test(test_region_info_encode_too_many_areas),
		cmocka_unit_test(test_region_info_round_trip),
		cmocka_unit_test(test_region_info_decode_chains),
		cmocka_unit_test(test_region_info_decode_areas_and_fds),
		cmocka_unit_test(test_set_irqs),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
