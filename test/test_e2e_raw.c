/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Wire-level edge cases against a live server with raw bytes
 * (docs/protocol.md 1.2, 2 and the errno tables of 3).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/codec.h>

#include "fdcount.h"
#include "fixture.h"
#include "raw.h"
#include "test_server.h"
#include "vus_test.h"

/* Expect an error reply to (id, cmd): header only, REPLY|ERROR, errno. */
static void expect_error(int fd, uint16_t id, uint16_t cmd, int err)
{
	struct raw_msg m;

	ASSERT_OK(raw_recv(fd, &m, 2000));
	ASSERT_EQ(m.hdr.id, id);
	ASSERT_EQ(m.hdr.cmd, cmd);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
	ASSERT_EQ(m.hdr.error, err);
	ASSERT_EQ(m.hdr.size, 16);
	ASSERT_EQ(m.nfds, 0);
	raw_msg_free(&m);
}

/* GET_INFO works: the stream is in sync. */
static void expect_in_sync(int fd, uint16_t id)
{
	struct vus_device_info di = { .argsz = 16 };
	struct raw_msg m;

	ASSERT_OK(raw_call(fd, id, VUS_CMD_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0, &m));
	ASSERT_EQ(m.hdr.id, id);
	ASSERT_EQ(m.hdr.cmd, VUS_CMD_DEVICE_GET_INFO);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, 16);
	ASSERT_EQ(raw_u32(&m, 8), 9);
	raw_msg_free(&m);
}

static void before_version(void **state)
{
	struct test_fx *f = *state;
	struct vus_device_info di = { .argsz = 16 };

	ASSERT_OK(raw_send(f->fd, 3, VUS_CMD_DEVICE_GET_INFO, 0, &di, sizeof(di), NULL, 0));
	expect_error(f->fd, 3, VUS_CMD_DEVICE_GET_INFO, EINVAL);
	/* Connection kept; VERSION then works, once. */
	ASSERT_OK(raw_version(f->fd, 0, NULL, NULL));
	expect_in_sync(f->fd, 4);
	{
		uint8_t v[4] = { 0 };

		ASSERT_OK(raw_send(f->fd, 5, VUS_CMD_VERSION, 0, v, sizeof(v), NULL, 0));
		expect_error(f->fd, 5, VUS_CMD_VERSION, EINVAL);
	}
	expect_in_sync(f->fd, 6);
}

static void bad_version(void **state)
{
	struct test_fx *f = *state;
	uint8_t v[64] = { 0 };

	/* Major 1. */
	v[0] = 1;
	ASSERT_OK(raw_send(f->fd, 1, VUS_CMD_VERSION, 0, v, 4, NULL, 0));
	expect_error(f->fd, 1, VUS_CMD_VERSION, EINVAL);
	/* JSON without its NUL. */
	v[0] = 0;
	memcpy(v + 4, "{}", 2);
	ASSERT_OK(raw_send(f->fd, 2, VUS_CMD_VERSION, 0, v, 6, NULL, 0));
	expect_error(f->fd, 2, VUS_CMD_VERSION, EINVAL);
	/* Wrong JSON type. */
	strcpy((char *)v + 4, "{\"capabilities\":{\"max_msg_fds\":\"x\"}}");
	ASSERT_OK(raw_send(f->fd, 3, VUS_CMD_VERSION, 0, v, 4 + strlen((char *)v + 4) + 1,
			   NULL, 0));
	expect_error(f->fd, 3, VUS_CMD_VERSION, EINVAL);
	/* Still negotiable. */
	ASSERT_OK(raw_version(f->fd, 0, NULL, NULL));
	expect_in_sync(f->fd, 4);
}

static void no_reply_errors(void **state)
{
	struct test_fx *f = *state;
	struct vus_region_access a = { .offset = 0, .region = 99, .count = 4 };
	uint8_t w[20] = { 0 };

	memcpy(w, &a, sizeof(a));
	/* Bad region, unknown command, bad read: all No_reply, all silent. */
	ASSERT_OK(raw_send(f->fd, 1, VUS_CMD_REGION_WRITE, VUS_F_NO_REPLY, w, sizeof(w),
			   NULL, 0));
	ASSERT_OK(raw_send(f->fd, 2, 99, VUS_F_NO_REPLY, w, sizeof(w), NULL, 0));
	ASSERT_OK(raw_send(f->fd, 3, VUS_CMD_REGION_READ, VUS_F_NO_REPLY, &a, sizeof(a),
			   NULL, 0));
	assert_true(raw_nothing_within(f->fd, 200));
	/* The next reply is the next command's. */
	expect_in_sync(f->fd, 4);
	assert_true(raw_nothing_within(f->fd, 50));
}

static void unknown_commands(void **state)
{
	static const uint16_t cmds[] = { 0, VUS_CMD_DMA_READ, VUS_CMD_DMA_WRITE, 14, 19, 99 };
	struct test_fx *f = *state;
	uint8_t body[40];
	size_t i;

	memset(body, 0xee, sizeof(body));
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		uint16_t id = (uint16_t)(10 + 2 * i);

		ASSERT_OK(raw_send(f->fd, id, cmds[i], 0, body, sizeof(body), NULL, 0));
		expect_error(f->fd, id, cmds[i], ENOSYS);
		/* The body was consumed: the next command parses. */
		expect_in_sync(f->fd, (uint16_t)(id + 1));
	}
}

static void unexpected_fds(void **state)
{
	struct test_fx *f = *state;
	struct vus_device_info di = { .argsz = 16 };
	int efd[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	int base;

	assert_true(efd[0] >= 0 && efd[1] >= 0);
	base = fdcount();
	ASSERT_OK(raw_send(f->fd, 7, VUS_CMD_DEVICE_GET_INFO, 0, &di, sizeof(di), efd, 2));
	expect_error(f->fd, 7, VUS_CMD_DEVICE_GET_INFO, EINVAL);
	/* The server (same process) closed the copies it received. */
	if (!fdcount_wait(base, 1000))
		fail_msg("%d fds open, %d before", fdcount(), base);
	/* One fd too many on DMA_MAP. */
	{
		struct vus_dma_map m = { .argsz = 32, .flags = 3, .addr = 0x1000, .size = 0x1000 };

		ASSERT_OK(raw_send(f->fd, 8, VUS_CMD_DMA_MAP, 0, &m, sizeof(m), efd, 2));
		expect_error(f->fd, 8, VUS_CMD_DMA_MAP, EINVAL);
		assert_true(fdcount_wait(base, 1000));
	}
	expect_in_sync(f->fd, 9);
	close(efd[0]);
	close(efd[1]);
}

static void short_size_closes(void **state)
{
	struct test_fx *f = *state;
	struct vus_hdr h = { .id = 1, .cmd = VUS_CMD_DEVICE_GET_INFO, .size = 8 };
	uint8_t b[16];

	vus_hdr_encode(b, &h);
	ASSERT_OK(raw_send_bytes(f->fd, b, sizeof(b), NULL, 0));
	assert_true(raw_closed_within(f->fd, 2000));
}

static void bad_type_closes(void **state)
{
	struct test_fx *f = *state;
	struct vus_hdr h = { .id = 1, .cmd = VUS_CMD_DEVICE_RESET, .size = 16, .flags = 2 };
	uint8_t b[16];

	vus_hdr_encode(b, &h);
	ASSERT_OK(raw_send_bytes(f->fd, b, sizeof(b), NULL, 0));
	assert_true(raw_closed_within(f->fd, 2000));
}

static void error_bit_command_closes(void **state)
{
	struct test_fx *f = *state;
	struct vus_hdr h = { .id = 1, .cmd = VUS_CMD_DEVICE_RESET, .size = 16,
			     .flags = VUS_F_ERROR };
	uint8_t b[16];

	vus_hdr_encode(b, &h);
	ASSERT_OK(raw_send_bytes(f->fd, b, sizeof(b), NULL, 0));
	assert_true(raw_closed_within(f->fd, 2000));
}

static void oversized(void **state)
{
	struct test_fx *f = *state;
	const size_t n = 2u << 20;
	uint8_t *p = calloc(1, n);
	struct vus_region_access a = { .offset = 0, .region = 1, .count = (uint32_t)(n - 16) };

	assert_non_null(p);
	memcpy(p, &a, sizeof(a));
	ASSERT_OK(raw_send(f->fd, 21, VUS_CMD_REGION_WRITE, 0, p, n, NULL, 0));
	expect_error(f->fd, 21, VUS_CMD_REGION_WRITE, E2BIG);
	expect_in_sync(f->fd, 22);
	/* Within the message limit but above max_data_xfer_size: E2BIG too. */
	a.count = (1u << 20) + 4;
	memcpy(p, &a, sizeof(a));
	ASSERT_OK(raw_send(f->fd, 23, VUS_CMD_REGION_WRITE, 0, p, 16 + a.count, NULL, 0));
	expect_error(f->fd, 23, VUS_CMD_REGION_WRITE, E2BIG);
	expect_in_sync(f->fd, 24);
	free(p);
}

static void short_write_payload(void **state)
{
	struct test_fx *f = *state;
	struct vus_region_access a = { .offset = TESTDEV_REG_SCRATCH, .region = 0, .count = 8 };
	uint8_t w[20];
	struct raw_msg m;

	memcpy(w, &a, sizeof(a));
	memset(w + 16, 0x77, 4);
	ASSERT_OK(raw_send(f->fd, 31, VUS_CMD_REGION_WRITE, 0, w, sizeof(w), NULL, 0));
	expect_error(f->fd, 31, VUS_CMD_REGION_WRITE, EINVAL);
	/* Nothing was written. */
	a.count = 4;
	ASSERT_OK(raw_call(f->fd, 32, VUS_CMD_REGION_READ, &a, sizeof(a), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, 20);
	ASSERT_EQ(raw_u32(&m, 16), 0);
	raw_msg_free(&m);
	/* A READ with a payload beyond its 16 bytes. */
	ASSERT_OK(raw_send(f->fd, 33, VUS_CMD_REGION_READ, 0, w, sizeof(w), NULL, 0));
	expect_error(f->fd, 33, VUS_CMD_REGION_READ, EINVAL);
	expect_in_sync(f->fd, 34);
}

static void dma_map_errors(void **state)
{
	struct test_fx *f = *state;
	struct vus_dma_map m = { .argsz = 32, .flags = 3, .addr = 0x1000, .size = 0x2000 };
	struct vus_dma_unmap u = { .argsz = 24, .addr = 0x8000, .size = 0x1000 };
	struct raw_msg r;

	/* Unmap of a range never mapped. */
	ASSERT_OK(raw_send(f->fd, 40, VUS_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0));
	expect_error(f->fd, 40, VUS_CMD_DMA_UNMAP, ENOENT);

	ASSERT_OK(raw_call(f->fd, 41, VUS_CMD_DMA_MAP, &m, sizeof(m), NULL, 0, &r));
	ASSERT_EQ(r.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(r.hdr.size, 16);
	raw_msg_free(&r);
	/* Overlapping, and identical: both EEXIST (spec DMA_MAP). */
	m.addr = 0x2000;
	ASSERT_OK(raw_send(f->fd, 42, VUS_CMD_DMA_MAP, 0, &m, sizeof(m), NULL, 0));
	expect_error(f->fd, 42, VUS_CMD_DMA_MAP, EEXIST);
	m.addr = 0x1000;
	ASSERT_OK(raw_send(f->fd, 43, VUS_CMD_DMA_MAP, 0, &m, sizeof(m), NULL, 0));
	expect_error(f->fd, 43, VUS_CMD_DMA_MAP, EEXIST);
	/* Partial unmap of the window: no exact match. */
	u.addr = 0x1000;
	u.size = 0x1000;
	ASSERT_OK(raw_send(f->fd, 44, VUS_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0));
	expect_error(f->fd, 44, VUS_CMD_DMA_UNMAP, ENOENT);
	/* Exact: the 24-byte struct echoed. */
	u.size = 0x2000;
	ASSERT_OK(raw_call(f->fd, 45, VUS_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0, &r));
	ASSERT_EQ(r.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(r.len, 24);
	ASSERT_EQ(raw_u32(&r, 0), 24);
	ASSERT_EQ(raw_u64(&r, 8), 0x1000);
	ASSERT_EQ(raw_u64(&r, 16), 0x2000);
	raw_msg_free(&r);
	/* Unknown map flag bits. */
	m.flags = 0x10;
	ASSERT_OK(raw_send(f->fd, 46, VUS_CMD_DMA_MAP, 0, &m, sizeof(m), NULL, 0));
	expect_error(f->fd, 46, VUS_CMD_DMA_MAP, EINVAL);
	expect_in_sync(f->fd, 47);
}

static void region_info_short_argsz(void **state)
{
	struct test_fx *f = *state;
	struct vus_region_info ri = { .argsz = 32, .index = 2 };
	struct raw_msg r;
	uint32_t full;

	ASSERT_OK(raw_call(f->fd, 50, VUS_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL,
			   0, &r));
	ASSERT_EQ(r.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(r.len, 32);
	full = raw_u32(&r, 0);
	assert_true(full > 32);
	/* Kernel VFIO's flags (MMAP kept), no CAPS, cap_offset 0, and no
	 * fd without the sparse areas (docs/protocol.md 3.5). */
	ASSERT_EQ(raw_u32(&r, 4), VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE |
				  VUS_REGION_INFO_FLAG_MMAP);
	ASSERT_EQ(raw_u32(&r, 8), 2);
	ASSERT_EQ(raw_u32(&r, 12), 0);
	ASSERT_EQ(raw_u64(&r, 16), TESTDEV_BAR2_SIZE);
	ASSERT_EQ(r.nfds, 0);
	raw_msg_free(&r);

	/* Asked again with the full size: caps, MMAP and exactly one fd. */
	ri.argsz = full;
	ASSERT_OK(raw_call(f->fd, 51, VUS_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL,
			   0, &r));
	ASSERT_EQ(r.len, full);
	ASSERT_EQ(raw_u32(&r, 4), VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE |
				  VUS_REGION_INFO_FLAG_MMAP | VUS_REGION_INFO_FLAG_CAPS);
	ASSERT_EQ(raw_u32(&r, 12), 32);
	ASSERT_EQ(r.nfds, 1);
	raw_msg_free(&r);

	/* argsz below 32 and a bad index. */
	ri.argsz = 16;
	ASSERT_OK(raw_send(f->fd, 52, VUS_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri),
			   NULL, 0));
	expect_error(f->fd, 52, VUS_CMD_DEVICE_GET_REGION_INFO, EINVAL);
	ri.argsz = 32;
	ri.index = 9;
	ASSERT_OK(raw_send(f->fd, 53, VUS_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri),
			   NULL, 0));
	expect_error(f->fd, 53, VUS_CMD_DEVICE_GET_REGION_INFO, EINVAL);
	expect_in_sync(f->fd, 54);
}

static void reset_with_payload(void **state)
{
	struct test_fx *f = *state;
	uint32_t junk = 0;
	struct raw_msg r;

	ASSERT_OK(raw_send(f->fd, 60, VUS_CMD_DEVICE_RESET, 0, &junk, sizeof(junk), NULL,
			   0));
	expect_error(f->fd, 60, VUS_CMD_DEVICE_RESET, EINVAL);
	/* Header only both ways (QEMU's reply buffer is exactly 16 bytes). */
	ASSERT_OK(raw_call(f->fd, 61, VUS_CMD_DEVICE_RESET, NULL, 0, NULL, 0, &r));
	ASSERT_EQ(r.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(r.hdr.size, 16);
	raw_msg_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(before_version, test_fx_raw, test_fx_teardown),
		cmocka_unit_test_setup_teardown(bad_version, test_fx_raw, test_fx_teardown),
		cmocka_unit_test_setup_teardown(no_reply_errors, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(unknown_commands, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(unexpected_fds, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(short_size_closes, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(bad_type_closes, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(error_bit_command_closes, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(oversized, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(short_write_payload, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(dma_map_errors, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(region_info_short_argsz, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(reset_with_payload, test_fx_raw_version, test_fx_teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
