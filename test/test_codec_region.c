/* SPDX-License-Identifier: BSD-3-Clause */
/* REGION_READ/WRITE requests and replies, REGION_WRITE_MULTI, DEVICE_RESET. */
#include <errno.h>

#include "codec_test.h"
#include "vus_test.h"

#define MAX_XFER 4096u

static void put_access(uint8_t *b, uint64_t offset, uint32_t region, uint32_t count)
{
	put_u64(b + 0, offset);
	put_u32(b + 8, region);
	put_u32(b + 12, count);
}

static void test_region_access_decode(void **state)
{
	static const struct {
		const char *name;
		bool write;
		uint64_t offset;
		uint32_t count;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "read 4", false, 0x10, 4, 16, 0, 0 },
		{ "read max_xfer", false, 0, MAX_XFER, 16, 0, 0 },
		{ "read count 0", false, 0, 0, 16, 0, 0 },
		{ "read ends below 2^64", false, UINT64_MAX - 4, 4, 16, 0, 0 },
		{ "read truncated", false, 0x10, 4, 15, 0, -EINVAL },
		{ "read extra byte", false, 0x10, 4, 17, 0, -EINVAL },
		{ "read with data", false, 0x10, 4, 20, 0, -EINVAL },
		{ "read over max_xfer", false, 0, MAX_XFER + 1, 16, 0, -E2BIG },
		{ "read count u32 max", false, 0, UINT32_MAX, 16, 0, -E2BIG },
		{ "read offset+count wraps", false, UINT64_MAX - 3, 4, 16, 0, -EINVAL },
		{ "read fd", false, 0x10, 4, 16, 1, -EINVAL },
		{ "write 4", true, 0x10, 4, 20, 0, 0 },
		{ "write count 0", true, 0x10, 0, 16, 0, 0 },
		{ "write max_xfer", true, 0, MAX_XFER, 16 + MAX_XFER, 0, 0 },
		{ "write data short", true, 0x10, 4, 19, 0, -EINVAL },
		{ "write data long", true, 0x10, 4, 21, 0, -EINVAL },
		{ "write no data", true, 0x10, 4, 16, 0, -EINVAL },
		{ "write truncated head", true, 0x10, 0, 15, 0, -EINVAL },
		{ "write over max_xfer", true, 0, MAX_XFER + 1, 17 + MAX_XFER, 0, -E2BIG },
		{ "write offset+count wraps", true, UINT64_MAX, 1, 17, 0, -EINVAL },
		{ "write fd", true, 0x10, 4, 20, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		static uint8_t b[32 + MAX_XFER];
		struct vus_region_access out;
		const uint8_t *data = (const uint8_t *)1;
		struct vus_msg_view m;
		int rc;

		for (size_t k = 0; k < sizeof(b); k++)
			b[k] = (uint8_t)(k * 7);
		put_access(b, cases[i].offset, 7, cases[i].count);
		m = tview(b, cases[i].len, cases[i].nfds);
		rc = vus_region_access_decode(&m, cases[i].write, MAX_XFER, &out, &data);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			assert_true(out.offset == cases[i].offset && out.region == 7 &&
				    out.count == cases[i].count);
			if (cases[i].write) {
				assert_ptr_equal(data, m.payload + 16);
				if (cases[i].count)
					ASSERT_EQ(data[0], (uint8_t)(16 * 7));
			} else {
				assert_null(data);
			}
		}
		tview_free(&m);
	}
}

static void test_region_access_reply(void **state)
{
	static const struct {
		const char *name;
		bool write;
		uint64_t offset;
		uint32_t region, count;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		/* asked: offset 0x100, region 2, count 8 */
		{ "read full", false, 0x100, 2, 8, 24, 0, 0 },
		{ "read short", false, 0x100, 2, 3, 19, 0, 0 },
		{ "read empty", false, 0x100, 2, 0, 16, 0, 0 },
		{ "read longer than asked", false, 0x100, 2, 9, 25, 0, -EINVAL },
		{ "read payload != count", false, 0x100, 2, 8, 23, 0, -EINVAL },
		{ "read extra bytes", false, 0x100, 2, 8, 25, 0, -EINVAL },
		{ "read other offset", false, 0x108, 2, 8, 24, 0, -EINVAL },
		{ "read other region", false, 0x100, 3, 8, 24, 0, -EINVAL },
		{ "read truncated", false, 0x100, 2, 0, 15, 0, -EINVAL },
		{ "read fd", false, 0x100, 2, 8, 24, 1, -EINVAL },
		{ "write echo", true, 0x100, 2, 8, 16, 0, 0 },
		{ "write other count", true, 0x100, 2, 4, 16, 0, -EINVAL },
		{ "write with data", true, 0x100, 2, 8, 24, 0, -EINVAL },
		{ "write other offset", true, 0, 2, 8, 16, 0, -EINVAL },
		{ "write truncated", true, 0x100, 2, 8, 12, 0, -EINVAL },
		{ "write fd", true, 0x100, 2, 8, 16, 1, -EINVAL },
	};
	const struct vus_region_access asked = { .offset = 0x100, .region = 2, .count = 8 };

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[32];
		const uint8_t *data = (const uint8_t *)1;
		uint32_t count = 0xdead;
		struct vus_msg_view m;
		int rc;

		for (size_t k = 0; k < sizeof(b); k++)
			b[k] = (uint8_t)(0xa0 + k);
		put_access(b, cases[i].offset, cases[i].region, cases[i].count);
		m = tview(b, cases[i].len, cases[i].nfds);
		rc = vus_region_access_reply_decode(&m, cases[i].write, &asked, &data, &count);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			ASSERT_EQ(count, cases[i].count);
			if (cases[i].write) {
				assert_null(data);
			} else {
				assert_ptr_equal(data, m.payload + 16);
				if (cases[i].count)
					ASSERT_EQ(data[0], 0xa0 + 16);
			}
		}
		tview_free(&m);
	}
}

/* ---- REGION_WRITE_MULTI --------------------------------------------- */

static void put_entry(uint8_t *b, uint64_t i, uint64_t offset, uint32_t region, uint32_t count)
{
	uint8_t *e = b + 8 + 24 * i;

	put_u64(e + 0, offset);
	put_u32(e + 8, region);
	put_u32(e + 12, count);
	for (unsigned k = 0; k < 8; k++)
		e[16 + k] = (uint8_t)(i + k);
}

enum wm_fault {
	WM_NONE,
	WM_COUNT_0,
	WM_COUNT_9,
	WM_OFFSET_WRAP,
};

static void test_write_multi(void **state)
{
	static const struct {
		const char *name;
		uint64_t wr_cnt;
		uint64_t entries; /* really in the payload */
		int extra;        /* bytes added (or removed) after them */
		enum wm_fault fault;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "one", 1, 1, 0, WM_NONE, 0, 0 },
		{ "QEMU's 200", 200, 200, 0, WM_NONE, 0, 0 },
		{ "201 > max", 201, 201, 0, WM_NONE, 0, -EINVAL },
		{ "wr_cnt 0", 0, 0, 0, WM_NONE, 0, -EINVAL },
		{ "one byte more", 2, 2, 1, WM_NONE, 0, -EINVAL },
		{ "one byte less", 2, 2, -1, WM_NONE, 0, -EINVAL },
		{ "claims more entries", 3, 2, 0, WM_NONE, 0, -EINVAL },
		{ "claims fewer entries", 1, 2, 0, WM_NONE, 0, -EINVAL },
		{ "wr_cnt 2^63", 1ull << 63, 1, 0, WM_NONE, 0, -EINVAL },
		{ "wr_cnt wraps 24*n", 0x0aaaaaaaaaaaaaabull, 0, 0, WM_NONE, 0, -EINVAL },
		{ "entry count 0", 3, 3, 0, WM_COUNT_0, 0, -EINVAL },
		{ "entry count 9", 3, 3, 0, WM_COUNT_9, 0, -EINVAL },
		{ "entry offset wraps", 3, 3, 0, WM_OFFSET_WRAP, 0, -EINVAL },
		{ "fd", 1, 1, 0, WM_NONE, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		static uint8_t b[8 + 24 * 202];
		size_t len = 8 + 24 * cases[i].entries;
		uint64_t n = 0;
		struct vus_msg_view m;
		int rc;

		if (cases[i].extra < 0)
			len -= (size_t)-cases[i].extra;
		else
			len += (size_t)cases[i].extra;
		memset(b, 0, sizeof(b));
		put_u64(b, cases[i].wr_cnt);
		for (uint64_t e = 0; e < cases[i].entries; e++)
			put_entry(b, e, 0x1000 + 4 * e, (uint32_t)e % 6, 1 + (uint32_t)e % 8);
		/* Faults go into the last entry: every one is checked. */
		if (cases[i].fault != WM_NONE) {
			uint64_t e = cases[i].entries - 1;

			put_entry(b, e, cases[i].fault == WM_OFFSET_WRAP ? UINT64_MAX - 3 : 0, 0,
				  cases[i].fault == WM_COUNT_0 ? 0 :
				  cases[i].fault == WM_COUNT_9 ? 9 : 4);
		}
		m = tview(b, len, cases[i].nfds);
		rc = vus_write_multi_decode(&m, VUS_WRITE_MULTI_MAX, &n);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			ASSERT_EQ(n, cases[i].wr_cnt);
			for (uint64_t e = 0; e < n; e++) {
				struct vus_write_multi_entry out;

				vus_write_multi_entry(&m, e, &out);
				ASSERT_EQ(out.offset, 0x1000 + 4 * e);
				ASSERT_EQ(out.region, e % 6);
				ASSERT_EQ(out.count, 1 + e % 8);
				for (unsigned k = 0; k < 8; k++)
					ASSERT_EQ(out.data[k], (uint8_t)(e + k));
			}
		}
		tview_free(&m);
	}
}

static void test_write_multi_short(void **state)
{
	uint8_t b[8] = { 1 };
	uint64_t n;

	for (size_t len = 0; len < 8; len++) {
		struct vus_msg_view m = tview(b, len, 0);

		ASSERT_ERR(vus_write_multi_decode(&m, VUS_WRITE_MULTI_MAX, &n), -EINVAL);
		tview_free(&m);
	}
}

/* ---- DEVICE_RESET --------------------------------------------------- */

static void test_device_reset(void **state)
{
	static const struct {
		const char *name;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "empty", 0, 0, 0 },
		{ "one byte", 1, 0, -EINVAL },
		{ "a struct", 16, 0, -EINVAL },
		{ "fd", 0, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[16] = { 0 };
		struct vus_msg_view m = tview(b, cases[i].len, cases[i].nfds);

		expect_rc(cases[i].name, vus_device_reset_decode(&m), cases[i].rc);
		tview_free(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_access_decode),
		cmocka_unit_test(test_region_access_reply),
		cmocka_unit_test(test_write_multi),
		cmocka_unit_test(test_write_multi_short),
		cmocka_unit_test(test_device_reset),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
