/* SPDX-License-Identifier: BSD-3-Clause */
/* DEVICE_FEATURE and its data, MIG_DATA_READ/WRITE (requests and reply). */
#include <errno.h>

#include "codec_test.h"
#include "vus_test.h"

#define GET VUS_DEVICE_FEATURE_GET
#define SET VUS_DEVICE_FEATURE_SET
#define PROBE VUS_DEVICE_FEATURE_PROBE

static void test_device_feature(void **state)
{
	static const struct {
		const char *name;
		uint32_t argsz, flags;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "GET migration", 16, GET | VUS_FEATURE_MIGRATION, 8, 0, 0 },
		{ "SET state", 16, SET | VUS_FEATURE_MIG_DEVICE_STATE, 16, 0, 0 },
		{ "GET state", 16, GET | VUS_FEATURE_MIG_DEVICE_STATE, 8, 0, 0 },
		{ "PROBE alone", 8, PROBE | VUS_FEATURE_DMA_LOGGING_STOP, 8, 0, 0 },
		{ "PROBE GET|SET", 8, PROBE | GET | SET | VUS_FEATURE_MIG_DEVICE_STATE, 8, 0, 0 },
		{ "feature 0xffff", 8, GET | 0xffff, 8, 0, 0 },
		{ "PROBE with data", 16, PROBE | SET | VUS_FEATURE_MIG_DEVICE_STATE, 16, 0,
		  -EINVAL },
		{ "GET|SET", 16, GET | SET | VUS_FEATURE_MIG_DEVICE_STATE, 16, 0, -EINVAL },
		{ "no op", 16, VUS_FEATURE_MIGRATION, 8, 0, -EINVAL },
		{ "unknown bit 19", 16, GET | 1u << 19 | VUS_FEATURE_MIGRATION, 8, 0, -EINVAL },
		{ "unknown bit 31", 16, GET | 1u << 31 | VUS_FEATURE_MIGRATION, 8, 0, -EINVAL },
		{ "truncated", 16, GET | VUS_FEATURE_MIGRATION, 7, 0, -EINVAL },
		{ "argsz 7", 7, GET | VUS_FEATURE_MIGRATION, 8, 0, -EINVAL },
		{ "fd", 16, GET | VUS_FEATURE_MIGRATION, 8, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[16] = { 0 };
		struct vus_device_feature out;
		const uint8_t *data = NULL;
		size_t dlen = 99;
		struct vus_msg_view m;
		int rc;

		put_u32(b + 0, cases[i].argsz);
		put_u32(b + 4, cases[i].flags);
		put_u32(b + 8, 0xcafe);
		m = tview(b, cases[i].len, cases[i].nfds);
		rc = vus_device_feature_decode(&m, &out, &data, &dlen);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			assert_true(out.argsz == cases[i].argsz && out.flags == cases[i].flags);
			assert_ptr_equal(data, m.payload + 8);
			ASSERT_EQ(dlen, cases[i].len - 8);
			if (dlen)
				ASSERT_EQ(get_u32(data), 0xcafe);
		}
		tview_free(&m);
	}
}

static void test_device_feature_reply(void **state)
{
	uint8_t b[24] = { 0 };
	struct vus_device_feature out;
	const uint8_t *data;
	size_t dlen;
	struct vus_msg_view m;

	put_u32(b + 0, 16);
	put_u32(b + 4, GET | VUS_FEATURE_MIGRATION);
	put_u64(b + 8, VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY);
	m = tview(b, 16, 0);
	ASSERT_OK(vus_device_feature_reply_decode(&m, &out, &data, &dlen));
	assert_true(out.argsz == 16 && out.flags == (GET | VUS_FEATURE_MIGRATION));
	ASSERT_EQ(dlen, 8);
	ASSERT_EQ(get_u64(data), VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY);
	tview_free(&m);

	m = tview(b, 8, 0);
	ASSERT_OK(vus_device_feature_reply_decode(&m, &out, &data, &dlen));
	ASSERT_EQ(dlen, 0);
	tview_free(&m);

	m = tview(b, 7, 0);
	ASSERT_ERR(vus_device_feature_reply_decode(&m, &out, &data, &dlen), -EINVAL);
	tview_free(&m);
	m = tview(b, 16, 1);
	ASSERT_ERR(vus_device_feature_reply_decode(&m, &out, &data, &dlen), -EINVAL);
	tview_free(&m);
}

static void test_mig_state(void **state)
{
	for (uint32_t s = 0; s <= VUS_MIG_STATE_NR; s++) {
		uint8_t b[8], *d;
		struct vus_feature_mig_state out;
		int rc;

		put_u32(b, s);
		put_u32(b + 4, 0x77);
		d = tdata(b, 8);
		rc = vus_feature_mig_state_decode(d, 8, &out);
		tdata_free(d);
		ASSERT_EQ(rc, s < VUS_MIG_STATE_NR ? 0 : -EINVAL);
		if (rc == 0)
			assert_true(out.device_state == s && out.data_fd == 0x77);
	}
	for (size_t len = 0; len < 16; len++) {
		uint8_t b[16] = { VUS_MIG_STATE_STOP }, *d = tdata(b, len);
		struct vus_feature_mig_state out;

		if (len != 8)
			ASSERT_ERR(vus_feature_mig_state_decode(d, len, &out), -EINVAL);
		tdata_free(d);
	}
}

static void test_logging_start(void **state)
{
	static const struct {
		const char *name;
		uint64_t page_size;
		uint32_t num_ranges;
		uint64_t iova, length; /* the last range */
		size_t len;
		int rc;
	} cases[] = {
		{ "log everything", 4096, 0, 0, 0, 16, 0 },
		{ "three ranges", 4096, 3, 0x100000, 0x1000, 64, 0 },
		{ "2 MiB pages", 2u << 20, 1, 0, 1ull << 40, 32, 0 },
		{ "range ends below 2^64", 4096, 1, UINT64_MAX - 0x1000, 0x1000, 32, 0 },
		{ "zero-length range", 4096, 1, 0x1000, 0, 32, 0 },
		{ "page 2048 (a hint: the device picks)", 2048, 0, 0, 0, 16, 0 },
		{ "page 0", 0, 0, 0, 0, 16, -EINVAL },
		{ "page 4097", 4097, 0, 0, 0, 16, -EINVAL },
		{ "page 12288", 3 << 12, 0, 0, 0, 16, -EINVAL },
		{ "truncated head", 4096, 0, 0, 0, 15, -EINVAL },
		{ "range missing", 4096, 3, 0, 0x1000, 48, -EINVAL },
		{ "range partial", 4096, 3, 0, 0x1000, 63, -EINVAL },
		{ "extra bytes", 4096, 3, 0, 0x1000, 65, -EINVAL },
		{ "extra range", 4096, 2, 0, 0x1000, 64, -EINVAL },
		{ "num_ranges u32 max", 4096, UINT32_MAX, 0, 0x1000, 64, -EINVAL },
		{ "range wraps", 4096, 3, UINT64_MAX - 0xfff, 0x1000, 64, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[80] = { 0 }, *d;
		struct vus_feature_dma_logging_control out;
		int rc;

		put_u64(b, cases[i].page_size);
		put_u32(b + 8, cases[i].num_ranges);
		for (unsigned r = 0; r < 4; r++) {
			put_u64(b + 16 + 16 * r, 0x1000000 * r);
			put_u64(b + 24 + 16 * r, 0x2000);
		}
		if (cases[i].num_ranges && cases[i].num_ranges <= 4) {
			put_u64(b + 16 * cases[i].num_ranges, cases[i].iova);
			put_u64(b + 16 * cases[i].num_ranges + 8, cases[i].length);
		} else if (cases[i].num_ranges) {
			put_u64(b + 48, cases[i].iova);
			put_u64(b + 56, cases[i].length);
		}
		d = tdata(b, cases[i].len);
		rc = vus_feature_logging_start_decode(d, cases[i].len, &out);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			ASSERT_EQ(out.page_size, cases[i].page_size);
			ASSERT_EQ(out.num_ranges, cases[i].num_ranges);
			for (uint32_t r = 0; r < out.num_ranges; r++) {
				struct vus_dma_logging_range got;
				bool last = r + 1 == out.num_ranges;

				vus_dma_logging_range(d, r, &got);
				ASSERT_EQ(got.iova, last ? cases[i].iova : 0x1000000 * r);
				ASSERT_EQ(got.length, last ? cases[i].length : 0x2000);
			}
		}
		tdata_free(d);
	}
}

static void test_logging_report(void **state)
{
	static const struct {
		const char *name;
		uint64_t iova, length, page_size;
		size_t len;
		int rc;
	} cases[] = {
		{ "valid", 0x100000, 0x200000, 4096, 24, 0 },
		{ "page 1", 0, 64, 1, 24, 0 },
		{ "ends below 2^64", UINT64_MAX - 4096, 4096, 4096, 24, 0 },
		{ "short", 0x100000, 0x200000, 4096, 23, -EINVAL },
		{ "long", 0x100000, 0x200000, 4096, 25, -EINVAL },
		{ "page 0", 0x100000, 0x200000, 0, 24, -EINVAL },
		{ "page 3", 0x100000, 0x200000, 3, 24, -EINVAL },
		{ "length 0", 0x100000, 0, 4096, 24, -EINVAL },
		{ "wraps", UINT64_MAX - 4095, 4096, 4096, 24, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[32] = { 0 }, *d;
		struct vus_feature_dma_logging_report out;
		int rc;

		put_u64(b, cases[i].iova);
		put_u64(b + 8, cases[i].length);
		put_u64(b + 16, cases[i].page_size);
		d = tdata(b, cases[i].len);
		rc = vus_feature_logging_report_decode(d, cases[i].len, &out);
		tdata_free(d);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0)
			assert_true(out.iova == cases[i].iova && out.length == cases[i].length &&
				    out.page_size == cases[i].page_size);
	}
}

/* ---- MIG_DATA_READ / MIG_DATA_WRITE --------------------------------- */

enum mig_op { MIG_READ, MIG_WRITE, MIG_READ_REPLY };

static void test_mig_data(void **state)
{
	static const struct {
		const char *name;
		enum mig_op op;
		uint32_t max; /* max_xfer, or asked for the reply */
		uint32_t argsz, size;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "read", MIG_READ, 4096, 8 + 4096, 4096, 8, 0, 0 },
		{ "read size 0", MIG_READ, 4096, 8, 0, 8, 0, 0 },
		{ "read argsz larger", MIG_READ, 4096, 1 << 20, 100, 8, 0, 0 },
		{ "read argsz short", MIG_READ, 4096, 8 + 99, 100, 8, 0, -EINVAL },
		{ "read over max", MIG_READ, 4096, 8 + 4097, 4097, 8, 0, -E2BIG },
		{ "read argsz wraps", MIG_READ, UINT32_MAX, 7, UINT32_MAX, 8, 0, -EINVAL },
		{ "read with data", MIG_READ, 4096, 16, 8, 16, 0, -EINVAL },
		{ "read truncated", MIG_READ, 4096, 16, 8, 7, 0, -EINVAL },
		{ "read fd", MIG_READ, 4096, 16, 8, 8, 1, -EINVAL },
		{ "write", MIG_WRITE, 4096, 16, 8, 16, 0, 0 },
		{ "write size 0", MIG_WRITE, 4096, 8, 0, 8, 0, 0 },
		{ "write short", MIG_WRITE, 4096, 16, 8, 15, 0, -EINVAL },
		{ "write long", MIG_WRITE, 4096, 16, 8, 17, 0, -EINVAL },
		{ "write argsz short", MIG_WRITE, 4096, 15, 8, 16, 0, -EINVAL },
		{ "write over max", MIG_WRITE, 4, 16, 8, 16, 0, -E2BIG },
		{ "write argsz wraps", MIG_WRITE, UINT32_MAX, 7, UINT32_MAX, 8, 0, -EINVAL },
		{ "write truncated", MIG_WRITE, 4096, 8, 0, 7, 0, -EINVAL },
		{ "write fd", MIG_WRITE, 4096, 16, 8, 16, 1, -EINVAL },
		{ "reply full", MIG_READ_REPLY, 8, 16, 8, 16, 0, 0 },
		{ "reply short read", MIG_READ_REPLY, 8, 11, 3, 11, 0, 0 },
		{ "reply end of stream", MIG_READ_REPLY, 8, 8, 0, 8, 0, 0 },
		{ "reply longer message", MIG_READ_REPLY, 8, 11, 3, 16, 0, 0 },
		{ "reply over asked", MIG_READ_REPLY, 8, 17, 9, 17, 0, -EINVAL },
		{ "reply data missing", MIG_READ_REPLY, 8, 16, 8, 15, 0, -EINVAL },
		{ "reply truncated", MIG_READ_REPLY, 8, 8, 0, 7, 0, -EINVAL },
		{ "reply fd", MIG_READ_REPLY, 8, 16, 8, 16, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[32];
		struct vus_mig_data out;
		const uint8_t *data = (const uint8_t *)1;
		struct vus_msg_view m;
		int rc;

		for (size_t k = 0; k < sizeof(b); k++)
			b[k] = (uint8_t)(0x40 + k);
		put_u32(b, cases[i].argsz);
		put_u32(b + 4, cases[i].size);
		m = tview(b, cases[i].len, cases[i].nfds);
		switch (cases[i].op) {
		case MIG_READ:
			rc = vus_mig_data_read_decode(&m, cases[i].max, &out);
			data = NULL;
			break;
		case MIG_WRITE:
			rc = vus_mig_data_write_decode(&m, cases[i].max, &out, &data);
			break;
		default:
			rc = vus_mig_data_read_reply_decode(&m, cases[i].max, &out, &data);
			break;
		}
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			assert_true(out.argsz == cases[i].argsz && out.size == cases[i].size);
			if (cases[i].op != MIG_READ)
				assert_ptr_equal(data, m.payload + 8);
			if (cases[i].op != MIG_READ && out.size)
				ASSERT_EQ(data[0], 0x48);
		}
		tview_free(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_feature),
		cmocka_unit_test(test_device_feature_reply),
		cmocka_unit_test(test_mig_state),
		cmocka_unit_test(test_logging_start),
		cmocka_unit_test(test_logging_report),
		cmocka_unit_test(test_mig_data),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
