/* SPDX-License-Identifier: BSD-3-Clause */
/* Header encode/decode/check, command names and the fd table. */
#include <errno.h>

#include "codec_test.h"
#include "vus_test.h"

static void test_hdr_byte_layout(void **state)
{
	const struct vus_hdr h = {
		.id = 0x1234, .cmd = VUS_CMD_DEVICE_SET_IRQS, .size = 0x89abcdef,
		.flags = VUS_F_TYPE_REPLY | VUS_F_ERROR, .error = EINVAL,
	};
	uint8_t b[VUS_HDR_SIZE + 1], want[VUS_HDR_SIZE];
	struct vus_hdr back;

	memset(b, 0xee, sizeof(b));
	/* Encode at an odd address: the codec must not assume alignment. */
	vus_hdr_encode(b + 1, &h);
	put_u16(want + 0, 0x1234);
	put_u16(want + 2, 8);
	put_u32(want + 4, 0x89abcdef);
	put_u32(want + 8, 0x21);
	put_u32(want + 12, EINVAL);
	assert_memory_equal(b + 1, want, sizeof(want));
	ASSERT_EQ(b[0], 0xee);

	vus_hdr_decode(b + 1, &back);
	ASSERT_EQ(back.id, h.id);
	ASSERT_EQ(back.cmd, h.cmd);
	ASSERT_EQ(back.size, h.size);
	ASSERT_EQ(back.flags, h.flags);
	ASSERT_EQ(back.error, h.error);
	assert_true(vus_hdr_is_reply(&back));
}

static void test_hdr_check(void **state)
{
	static const struct {
		const char *name;
		uint32_t size, flags, max;
		int rc;
	} cases[] = {
		{ "minimal command", 16, 0, 64, 0 },
		{ "reply with error", 16, VUS_F_TYPE_REPLY | VUS_F_ERROR, 64, 0 },
		{ "no-reply command", 48, VUS_F_NO_REPLY, 64, 0 },
		{ "size == max", 64, 0, 64, 0 },
		{ "size 15", 15, 0, 64, -EINVAL },
		{ "size 0", 0, 0, 64, -EINVAL },
		{ "type 2", 16, 2, 64, -EINVAL },
		{ "type 15", 16, 0xf, 64, -EINVAL },
		{ "unknown flag bit 6", 16, 1u << 6, 64, -EINVAL },
		{ "unknown flag bit 31", 16, 1u << 31, 64, -EINVAL },
		{ "oversized", 65, 0, 64, -E2BIG },
		{ "oversized max u32", UINT32_MAX, 0, 64, -E2BIG },
		/* Malformed beats oversized: such a stream cannot be skipped. */
		{ "oversized and bad type", 100, 3, 64, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct vus_hdr h = { .cmd = VUS_CMD_VERSION, .size = cases[i].size,
				     .flags = cases[i].flags };

		expect_rc(cases[i].name, vus_hdr_check(&h, cases[i].max), cases[i].rc);
	}
}

static void test_hdr_unknown_cmd_passes(void **state)
{
	static const uint16_t cmds[] = { 0, 14, 19, 0xffff };

	for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
		struct vus_hdr h = { .cmd = cmds[i], .size = 16 };

		ASSERT_OK(vus_hdr_check(&h, 16));
	}
}

static void test_cmd_names(void **state)
{
	static const char *const names[] = {
		"UNKNOWN", "VERSION", "DMA_MAP", "DMA_UNMAP", "DEVICE_GET_INFO",
		"DEVICE_GET_REGION_INFO", "DEVICE_GET_REGION_IO_FDS", "DEVICE_GET_IRQ_INFO",
		"DEVICE_SET_IRQS", "REGION_READ", "REGION_WRITE", "DMA_READ", "DMA_WRITE",
		"DEVICE_RESET", "DIRTY_PAGES", "REGION_WRITE_MULTI", "DEVICE_FEATURE",
		"MIG_DATA_READ", "MIG_DATA_WRITE",
	};

	for (unsigned i = 0; i < ARRAY_LEN(names); i++)
		assert_string_equal(vus_cmd_name(i), names[i]);
	assert_string_equal(vus_cmd_name(19), "UNKNOWN");
	assert_string_equal(vus_cmd_name(0xffff), "UNKNOWN");
	assert_string_equal(vus_cmd_name(~0u), "UNKNOWN");
}

static void test_cmd_max_fds(void **state)
{
	/* codec.h: who may carry fds, per direction; everything else 0. */
	for (unsigned cmd = 0; cmd < 64; cmd++) {
		unsigned want_cmd = 0, want_reply = 0;

		switch (cmd) {
		case VUS_CMD_DMA_MAP:
			want_cmd = 1;
			break;
		case VUS_CMD_DEVICE_SET_IRQS:
			want_cmd = VUS_MAX_FDS_PER_MSG;
			break;
		case VUS_CMD_VERSION:
		case VUS_CMD_DEVICE_GET_REGION_INFO:
			want_reply = 1;
			break;
		case VUS_CMD_DEVICE_GET_REGION_IO_FDS:
			want_reply = VUS_MAX_FDS_PER_MSG;
			break;
		default:
			break;
		}
		if (vus_cmd_max_fds(cmd, false) != want_cmd ||
		    vus_cmd_max_fds(cmd, true) != want_reply)
			fail_msg("cmd %u: %u/%u, want %u/%u", cmd, vus_cmd_max_fds(cmd, false),
				 vus_cmd_max_fds(cmd, true), want_cmd, want_reply);
	}
	ASSERT_EQ(vus_cmd_max_fds(~0u, false), 0);
	ASSERT_EQ(vus_cmd_max_fds(~0u, true), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_byte_layout),
		cmocka_unit_test(test_hdr_check),
		cmocka_unit_test(test_hdr_unknown_cmd_passes),
		cmocka_unit_test(test_cmd_names),
		cmocka_unit_test(test_cmd_max_fds),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
