/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Server -> client DMA_READ/DMA_WRITE in the spec's and QEMU's layouts,
 * checked byte by byte (docs/protocol.md 4.1).
 */
#include <errno.h>

#include "codec_test.h"
#include "vus_test.h"

#define SPEC VUS_DMA_LAYOUT_SPEC
#define QEMU VUS_DMA_LAYOUT_QEMU
#define MAX_XFER 64u

static const uint64_t ADDR = 0x1122334455667788ull;

static void test_sizes(void **state)
{
	ASSERT_EQ(vus_dma_rw_data_off(SPEC), 16);
	ASSERT_EQ(vus_dma_rw_data_off(QEMU), 12);
	ASSERT_EQ(vus_dma_rw_data_off(VUS_DMA_LAYOUT_AUTO), 16);
	ASSERT_EQ(vus_dma_rw_payload_len(SPEC, 0), 16);
	ASSERT_EQ(vus_dma_rw_payload_len(QEMU, 0), 16);
	ASSERT_EQ(vus_dma_rw_payload_len(SPEC, 100), 116);
	/* QEMU: message = 32 + count (12 fixed + data + 4 pad after the header). */
	ASSERT_EQ(VUS_HDR_SIZE + vus_dma_rw_payload_len(QEMU, 100), 32 + 100);
	ASSERT_EQ(vus_dma_rw_payload_len(SPEC, UINT64_MAX), SIZE_MAX);
	ASSERT_EQ(vus_dma_rw_payload_len(QEMU, UINT64_MAX - 15), SIZE_MAX);
}

/* A DMA_WRITE request with data "ABCDEFGH", built as the engine would. */
static size_t build_write(uint8_t *p, enum vus_dma_layout l, uint64_t addr)
{
	size_t len = vus_dma_rw_payload_len(l, 8);

	memset(p, 0, len);
	vus_dma_rw_encode(p, l, addr, 8);
	memcpy(p + vus_dma_rw_data_off(l), "ABCDEFGH", 8);
	return len;
}

static void test_encode_bytes(void **state)
{
	static const uint8_t spec_write[24] = {
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* addr */
		8, 0, 0, 0, 0, 0, 0, 0,                         /* count u64 */
		'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H',         /* data @16 */
	};
	static const uint8_t qemu_write[24] = {
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* addr */
		8, 0, 0, 0,                                     /* count u32 */
		'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H',         /* data @12 */
		0, 0, 0, 0,                                     /* pad */
	};
	uint8_t p[40];

	ASSERT_EQ(build_write(p, SPEC, ADDR), 24);
	assert_memory_equal(p, spec_write, 24);
	ASSERT_EQ(build_write(p, QEMU, ADDR), 24);
	assert_memory_equal(p, qemu_write, 24);
	/* QEMU's message: data at message byte 28, size 32 + count. */
	ASSERT_EQ(memcmp(p + 28 - VUS_HDR_SIZE, "ABCDEFGH", 8), 0);

	/* encode touches only the fixed part: 16 bytes (spec), 12 (QEMU). */
	memset(p, 0xee, sizeof(p));
	vus_dma_rw_encode(p, SPEC, ADDR, 0x0102030405060708ull);
	ASSERT_EQ(get_u64(p), ADDR);
	ASSERT_EQ(get_u64(p + 8), 0x0102030405060708ull);
	ASSERT_EQ(p[16], 0xee);
	memset(p, 0xee, sizeof(p));
	vus_dma_rw_encode(p + 1, QEMU, ADDR, 0x0102030405060708ull);
	ASSERT_EQ(p[0], 0xee);
	ASSERT_EQ(get_u64(p + 1), ADDR);
	ASSERT_EQ(get_u32(p + 9), 0x05060708);
	ASSERT_EQ(p[13], 0xee);
}

/* The two READ requests are the same 16 bytes on a little-endian host. */
static void test_read_requests_compatible(void **state)
{
	uint8_t spec[16], qemu[16];

	memset(spec, 0, sizeof(spec));
	memset(qemu, 0, sizeof(qemu));
	vus_dma_rw_encode(spec, SPEC, ADDR, 4096);
	vus_dma_rw_encode(qemu, QEMU, ADDR, 4096);
	ASSERT_EQ(vus_dma_rw_payload_len(SPEC, 0), vus_dma_rw_payload_len(QEMU, 0));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	assert_memory_equal(spec, qemu, 16);
#else
	VUS_SKIP("big-endian host: the layouts' counts differ, nothing to compare");
#endif
}

static void test_req_decode(void **state)
{
	static const struct {
		const char *name;
		enum vus_dma_layout l;
		bool write;
		uint64_t addr, count; /* count written as u64 (spec) or u32 (QEMU) */
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "spec read", SPEC, false, ADDR, 32, 16, 0, 0 },
		{ "spec read max", SPEC, false, 0, MAX_XFER, 16, 0, 0 },
		{ "spec read count 0", SPEC, false, 0, 0, 16, 0, 0 },
		{ "spec read long", SPEC, false, ADDR, 32, 17, 0, -EINVAL },
		{ "spec read short", SPEC, false, ADDR, 32, 15, 0, -EINVAL },
		{ "spec read over max", SPEC, false, 0, MAX_XFER + 1, 16, 0, -E2BIG },
		{ "spec read count 2^32+4", SPEC, false, 0, (1ull << 32) | 4, 16, 0, -E2BIG },
		{ "spec read wraps", SPEC, false, UINT64_MAX - 3, 4, 16, 0, -EINVAL },
		{ "spec read fd", SPEC, false, ADDR, 32, 16, 1, -EINVAL },
		{ "spec write", SPEC, true, ADDR, 8, 24, 0, 0 },
		{ "spec write data short", SPEC, true, ADDR, 8, 23, 0, -EINVAL },
		{ "spec write data long", SPEC, true, ADDR, 8, 25, 0, -EINVAL },
		{ "spec write over max", SPEC, true, ADDR, MAX_XFER + 1, 17 + MAX_XFER, 0, -E2BIG },
		{ "qemu read", QEMU, false, ADDR, 32, 16, 0, 0 },
		{ "qemu read short", QEMU, false, ADDR, 32, 12, 0, -EINVAL },
		{ "qemu read long", QEMU, false, ADDR, 32, 20, 0, -EINVAL },
		{ "qemu read over max", QEMU, false, ADDR, MAX_XFER + 1, 16, 0, -E2BIG },
		{ "qemu read wraps", QEMU, false, UINT64_MAX, 1, 16, 0, -EINVAL },
		{ "qemu write", QEMU, true, ADDR, 8, 24, 0, 0 },
		{ "qemu write no pad", QEMU, true, ADDR, 8, 20, 0, -EINVAL },
		{ "qemu write long", QEMU, true, ADDR, 8, 25, 0, -EINVAL },
		{ "qemu write fd", QEMU, true, ADDR, 8, 24, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t p[32 + MAX_XFER];
		struct vus_dma_rw out;
		const uint8_t *data = (const uint8_t *)1;
		struct vus_msg_view m;
		int rc;

		for (size_t k = 0; k < sizeof(p); k++)
			p[k] = (uint8_t)(0x30 + k);
		put_u64(p, cases[i].addr);
		if (cases[i].l == QEMU)
			put_u32(p + 8, (uint32_t)cases[i].count);
		else
			put_u64(p + 8, cases[i].count);
		m = tview(p, cases[i].len, cases[i].nfds);
		rc = vus_dma_rw_req_decode(&m, cases[i].l, cases[i].write, MAX_XFER, &out, &data);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			ASSERT_EQ(out.addr, cases[i].addr);
			ASSERT_EQ(out.count, cases[i].count);
			if (cases[i].write) {
				size_t off = cases[i].l == QEMU ? 12 : 16;

				assert_ptr_equal(data, m.payload + off);
				ASSERT_EQ(data[0], 0x30 + off);
			} else {
				assert_null(data);
			}
		}
		tview_free(&m);
	}
}

static void test_reply_decode(void **state)
{
	static const struct {
		const char *name;
		enum vus_dma_layout l;
		bool write;
		uint64_t addr, count; /* echoed */
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		/* asked: ADDR, count 8 */
		{ "spec read", SPEC, false, ADDR, 8, 24, 0, 0 },
		{ "spec read long", SPEC, false, ADDR, 8, 25, 0, -EPROTO },
		{ "spec read short", SPEC, false, ADDR, 8, 23, 0, -EPROTO },
		{ "spec read as qemu sends it", SPEC, false, ADDR, 8, 20, 0, -EPROTO },
		{ "spec read other addr", SPEC, false, ADDR + 8, 8, 24, 0, -EPROTO },
		{ "spec read other count", SPEC, false, ADDR, 4, 24, 0, -EPROTO },
		{ "spec read count high bits", SPEC, false, ADDR, (1ull << 32) | 8, 24, 0, -EPROTO },
		{ "spec read fd", SPEC, false, ADDR, 8, 24, 1, -EINVAL },
		{ "spec write echo", SPEC, true, ADDR, 8, 16, 0, 0 },
		{ "spec write bare header", SPEC, true, ADDR, 8, 0, 0, -EPROTO },
		{ "spec write with data", SPEC, true, ADDR, 8, 24, 0, -EPROTO },
		{ "spec write other addr", SPEC, true, 0, 8, 16, 0, -EPROTO },
		{ "spec write other count", SPEC, true, ADDR, 7, 16, 0, -EPROTO },
		{ "qemu read", QEMU, false, ADDR, 8, 24, 0, 0 },
		{ "qemu read longer", QEMU, false, ADDR, 8, 40, 0, 0 },
		{ "qemu read no pad", QEMU, false, ADDR, 8, 23, 0, -EPROTO },
		{ "qemu read header only", QEMU, false, ADDR, 8, 0, 0, -EPROTO },
		{ "qemu read other addr", QEMU, false, 0, 8, 24, 0, -EPROTO },
		{ "qemu read other count", QEMU, false, ADDR, 9, 24, 0, -EPROTO },
		{ "qemu read fd", QEMU, false, ADDR, 8, 24, 1, -EINVAL },
		{ "qemu write bare header", QEMU, true, ADDR, 8, 0, 0, 0 },
		{ "qemu write spec echo", QEMU, true, ADDR, 8, 16, 0, -EPROTO },
		{ "qemu write fd", QEMU, true, ADDR, 8, 0, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t p[48];
		const uint8_t *data = (const uint8_t *)1;
		struct vus_msg_view m;
		int rc;

		for (size_t k = 0; k < sizeof(p); k++)
			p[k] = (uint8_t)(0x60 + k);
		put_u64(p, cases[i].addr);
		if (cases[i].l == QEMU)
			put_u32(p + 8, (uint32_t)cases[i].count);
		else
			put_u64(p + 8, cases[i].count);
		m = tview(p, cases[i].len, cases[i].nfds);
		rc = vus_dma_rw_reply_decode(&m, cases[i].l, cases[i].write, ADDR, 8, &data);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0 && cases[i].write) {
			assert_null(data);
		} else if (rc == 0) {
			size_t off = cases[i].l == QEMU ? 12 : 16;

			assert_ptr_equal(data, m.payload + off);
			ASSERT_EQ(data[0], 0x60 + off);
		}
		tview_free(&m);
	}
}

/* Server request -> client decode -> client reply -> server decode. */
static void test_round_trip(void **state)
{
	static const enum vus_dma_layout layouts[] = { SPEC, QEMU };

	for (size_t i = 0; i < ARRAY_LEN(layouts); i++) {
		enum vus_dma_layout l = layouts[i];
		size_t off = vus_dma_rw_data_off(l);
		uint8_t req[16], reply[16 + 40];
		struct vus_msg_view m;
		struct vus_dma_rw got;
		const uint8_t *data;
		size_t len;

		/* DMA_READ of 40 bytes */
		memset(req, 0, sizeof(req));
		vus_dma_rw_encode(req, l, 0x7000, 40);
		m = tview(req, vus_dma_rw_payload_len(l, 0), 0);
		ASSERT_OK(vus_dma_rw_req_decode(&m, l, false, MAX_XFER, &got, &data));
		tview_free(&m);
		assert_true(got.addr == 0x7000 && got.count == 40);

		len = vus_dma_rw_payload_len(l, got.count);
		ASSERT_EQ(len, sizeof(reply));
		memset(reply, 0, sizeof(reply));
		vus_dma_rw_encode(reply, l, got.addr, got.count);
		for (size_t k = 0; k < 40; k++)
			reply[off + k] = (uint8_t)(200 + k);
		m = tview(reply, len, 0);
		ASSERT_OK(vus_dma_rw_reply_decode(&m, l, false, 0x7000, 40, &data));
		for (size_t k = 0; k < 40; k++)
			ASSERT_EQ(data[k], (uint8_t)(200 + k));
		tview_free(&m);

		/* DMA_WRITE of "ABCDEFGH" */
		len = build_write(reply, l, 0x9000);
		m = tview(reply, len, 0);
		ASSERT_OK(vus_dma_rw_req_decode(&m, l, true, MAX_XFER, &got, &data));
		assert_true(got.addr == 0x9000 && got.count == 8);
		assert_memory_equal(data, "ABCDEFGH", 8);
		tview_free(&m);
		/* The client's answer: echo (spec) or nothing (QEMU). */
		len = l == QEMU ? 0 : 16;
		vus_dma_rw_encode(req, l, 0x9000, 8);
		m = tview(req, len, 0);
		ASSERT_OK(vus_dma_rw_reply_decode(&m, l, true, 0x9000, 8, &data));
		tview_free(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_encode_bytes),
		cmocka_unit_test(test_read_requests_compatible),
		cmocka_unit_test(test_req_decode),
		cmocka_unit_test(test_reply_decode),
		cmocka_unit_test(test_round_trip),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
