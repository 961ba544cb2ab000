/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End to end DMA: testdev's engine copying between BAR1 and guest memory
 * mapped with an fd (direct copies) and without (DMA_READ/DMA_WRITE
 * messages) in both layouts, on the main and the twin socket, chunked to
 * the client's max_data_xfer_size; plus raw checks of the message bytes
 * (docs/protocol.md 4.1).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>

#include "raw.h"
#include "test_server.h"
#include "vus_test.h"

#define IOVA     0x10000000ull
#define MAP_SIZE (256u * 1024u)

static void pattern(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 31 + (i >> 8));
}

/*
 * Guest -> BAR1 and BAR1 -> guest through a window mapped with or
 * without fd; every byte checked, bytes around the target untouched.
 */
static void dma_both_ways(struct test_server *s, struct vus_client *c, bool with_fd,
			  uint32_t len)
{
	uint8_t *host, *a = malloc(len), *b = malloc(len), *back = malloc(len);
	uint64_t req0 = vus_client_dma_requests(c);
	const uint32_t to_off = 0x10000;

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(back);
	assert_true(to_off + len + 1 <= MAP_SIZE && len < to_off);
	ASSERT_OK(vus_client_dma_map(c, IOVA, MAP_SIZE, VUS_DMA_MAP_FLAG_READ |
				     VUS_DMA_MAP_FLAG_WRITE, with_fd, (void **)&host));
	assert_true(test_server_wait_maps(s, 1, 1000));

	/* guest -> BAR1 */
	pattern(a, len, 0x11);
	memcpy(host, a, len);
	ASSERT_OK(test_dma_run(c, IOVA, 0x1000, len, false));
	ASSERT_OK(vus_client_region_read(c, 1, 0x1000, back, len));
	assert_memory_equal(back, a, len);

	/* BAR1 -> guest, unshifted: the byte before and after stay 0. */
	pattern(b, len, 0x77);
	ASSERT_OK(vus_client_region_write(c, 1, 0x40000, b, len));
	ASSERT_OK(test_dma_run(c, 0x40000, IOVA + to_off, len, true));
	assert_memory_equal(host + to_off, b, len);
	ASSERT_EQ(host[to_off - 1], 0);
	ASSERT_EQ(host[to_off + len], 0);

	/* fd-backed windows are copied by the server itself; the others
	 * need our answers. */
	if (with_fd)
		ASSERT_EQ(vus_client_dma_requests(c), req0);
	else
		assert_true(vus_client_dma_requests(c) >= req0 + 2);

	ASSERT_OK(vus_client_dma_unmap(c, IOVA, MAP_SIZE, 0));
	assert_true(test_server_wait_maps(s, 0, 1000));
	free(a);
	free(b);
	free(back);
}

/* Run dma_both_ways with a server in srv_layout and a client with o. */
static void run_layout(enum vus_dma_layout srv_layout, const struct vus_client_opts *o,
		       bool with_fd, uint32_t len)
{
	struct test_server s;
	struct vus_client *c;

	ASSERT_OK(test_server_start(&s, &(struct test_server_opts){
		.layout = srv_layout }));
	ASSERT_OK(test_connect(&s, o, &c));
	dma_both_ways(&s, c, with_fd, len);
	vus_client_close(c);
	test_server_stop(&s);
}

static void with_fd(void **state)
{
	run_layout(VUS_DMA_LAYOUT_AUTO, NULL, true, 4096);
	run_layout(VUS_DMA_LAYOUT_AUTO, NULL, true, 12345);
}

static void fdless_spec(void **state)
{
	struct vus_client_opts o = { .dma_layout = VUS_DMA_LAYOUT_SPEC };

	run_layout(VUS_DMA_LAYOUT_SPEC, &o, false, 4096);
	run_layout(VUS_DMA_LAYOUT_SPEC, &o, false, 999);
	/* AUTO with a spec client is the spec layout. */
	run_layout(VUS_DMA_LAYOUT_AUTO, NULL, false, 4096);
}

static void fdless_auto_qemu(void **state)
{
	struct vus_client_opts o = { .qemu_fingerprint = true };

	run_layout(VUS_DMA_LAYOUT_AUTO, &o, false, 4096);
	run_layout(VUS_DMA_LAYOUT_AUTO, &o, false, 777);
}

static void fdless_forced_qemu(void **state)
{
	struct vus_client_opts o = { .dma_layout = VUS_DMA_LAYOUT_QEMU };

	run_layout(VUS_DMA_LAYOUT_QEMU, &o, false, 4096);
	run_layout(VUS_DMA_LAYOUT_QEMU, &o, false, 3);
}

static void twin_socket(void **state)
{
	struct vus_client_opts o = { .twin_socket = true, .minor = 2 };
	struct test_server s;
	struct vus_client *c;

	ASSERT_OK(test_server_start(&s, NULL));
	ASSERT_OK(test_connect(&s, &o, &c));
	assert_true(vus_client_twin_active(c));
	dma_both_ways(&s, c, false, 8192);
	dma_both_ways(&s, c, true, 8192);
	vus_client_close(c);
	test_server_stop(&s);
}

static void chunked(void **state)
{
	struct vus_client_opts o = { .max_data_xfer_size = 1024 };
	struct vus_dev_stats st0, st1;
	struct test_server s;
	struct vus_client *c;
	uint64_t req0;

	ASSERT_OK(test_server_start(&s, NULL));
	ASSERT_OK(test_connect(&s, &o, &c));
	test_server_stats(&s, &st0);
	req0 = vus_client_dma_requests(c);
	dma_both_ways(&s, c, false, 32 * 1024);
	test_server_stats(&s, &st1);
	/* 32 KiB each way in chunks of at most 1 KiB. */
	assert_true(vus_client_dma_requests(c) - req0 >= 64);
	assert_true(st1.dma_msgs - st0.dma_msgs >= 64);
	vus_client_close(c);
	test_server_stop(&s);
}

/* A window the server may only read: its DMA_WRITE fails, data stays. */
static void prot_read_only(void **state)
{
	struct test_server s;
	struct vus_client *c;
	uint8_t *host;
	int r;

	ASSERT_OK(test_server_start(&s, NULL));
	ASSERT_OK(test_connect(&s, NULL, &c));
	ASSERT_OK(vus_client_dma_map(c, IOVA, MAP_SIZE, VUS_DMA_MAP_FLAG_READ, false,
				     (void **)&host));
	memset(host, 0x5a, 64);
	ASSERT_OK(test_dma_run(c, IOVA, 0, 64, false));
	r = test_dma_run(c, 0, IOVA, 64, true);
	/* The server checks prot itself (device.h vus_dma_write). */
	ASSERT_ERR(r, -EACCES);
	ASSERT_EQ(host[0], 0x5a);
	/* Unmapped IOVA. */
	ASSERT_ERR(test_dma_run(c, IOVA + MAP_SIZE, 0, 64, false), -EFAULT);
	vus_client_close(c);
	test_server_stop(&s);
}

/* DMA_UNMAP: exact match only; ALL, which QEMU sends (docs/qemu.md,
 * "Guest memory and DMA maps"). */
static void unmap_rules(void **state)
{
	const uint32_t rw = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE;
	struct test_server s;
	struct vus_client *c;
	void *h1, *h2, *h3;

	ASSERT_OK(test_server_start(&s, NULL));
	ASSERT_OK(test_connect(&s, NULL, &c));
	ASSERT_OK(vus_client_dma_map(c, IOVA, MAP_SIZE, rw, true, &h1));
	ASSERT_OK(vus_client_dma_map(c, IOVA + MAP_SIZE, MAP_SIZE, rw, false, &h2));
	/* Overlap refused; the client keeps no memory for it. */
	ASSERT_ERR(vus_client_dma_map(c, IOVA + 4096, 4096, rw, false, &h3), -EEXIST);
	ASSERT_ERR(vus_client_dma_unmap(c, IOVA, 4096, 0), -ENOENT);
	assert_true(test_server_wait_maps(&s, 2, 1000));
	ASSERT_OK(test_dma_run(c, IOVA + MAP_SIZE, 0, 4096, false));
	ASSERT_OK(vus_client_dma_unmap(c, 0, 0, VUS_DMA_UNMAP_FLAG_ALL));
	assert_true(test_server_wait_maps(&s, 0, 1000));
	ASSERT_ERR(test_dma_run(c, IOVA + MAP_SIZE, 0, 4096, false), -EFAULT);
	/* The same range can be mapped again. */
	ASSERT_OK(vus_client_dma_map(c, IOVA, MAP_SIZE, rw, false, &h1));
	ASSERT_OK(test_dma_run(c, IOVA, 0, 4096, false));
	vus_client_close(c);
	test_server_stop(&s);
}

/* ---- raw: the bytes of a DMA_WRITE / DMA_READ request ---------------- */

static uint16_t raw_id = 100;

static void raw_region_write32(int fd, uint32_t reg, uint32_t val)
{
	struct {
		struct vus_region_access a;
		uint32_t v;
	} __attribute__((packed)) w = { { reg, 0, 4 }, val };
	struct raw_msg m;

	ASSERT_OK(raw_call(fd, raw_id++, VUS_CMD_REGION_WRITE, &w, sizeof(w), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	raw_msg_free(&m);
}

static uint32_t raw_region_read32(int fd, uint32_t reg)
{
	struct vus_region_access a = { reg, 0, 4 };
	struct raw_msg m;
	uint32_t v;

	ASSERT_OK(raw_call(fd, raw_id++, VUS_CMD_REGION_READ, &a, sizeof(a), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, 20);
	v = raw_u32(&m, 16);
	raw_msg_free(&m);
	return v;
}

/*
 * Write DMA_CMD and collect both the register write's reply and the
 * server's request (cmd), in whichever order they come.
 */
static void kick_and_get_request(int fd, uint32_t cmd_bits, uint16_t want_cmd,
				 struct raw_msg *req)
{
	struct {
		struct vus_region_access a;
		uint32_t v;
	} __attribute__((packed)) w = { { TESTDEV_REG_DMA_CMD, 0, 4 }, cmd_bits };
	uint16_t id = raw_id++;
	bool got_reply = false, got_req = false;
	struct raw_msg m;

	ASSERT_OK(raw_send(fd, id, VUS_CMD_REGION_WRITE, 0, &w, sizeof(w), NULL, 0));
	while (!got_reply || !got_req) {
		ASSERT_OK(raw_recv(fd, &m, 2000));
		if ((m.hdr.flags & VUS_F_TYPE_MASK) == VUS_F_TYPE_REPLY) {
			assert_false(got_reply);
			ASSERT_EQ(m.hdr.id, id);
			ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
			got_reply = true;
			raw_msg_free(&m);
		} else {
			assert_false(got_req);
			ASSERT_EQ(m.hdr.cmd, want_cmd);
			ASSERT_EQ(m.nfds, 0);
			got_req = true;
			*req = m;
		}
	}
}

static void raw_wait_dma_done(int fd)
{
	uint32_t st;
	int i;

	for (i = 0; i < 1000; i++) {
		st = raw_region_read32(fd, TESTDEV_REG_DMA_STATUS);
		if (!(st & TESTDEV_DMA_BUSY)) {
			ASSERT_EQ(st & TESTDEV_DMA_ERROR, 0);
			return;
		}
		test_sleep_ms(1);
	}
	fail_msg("DMA still busy");
}

/*
 * Play a client in one layout: QEMU's VERSION bytes (qemu) or a spec
 * client's, map without fd, make testdev DMA 64 bytes to the guest and
 * 48 bytes from it, and check the requests byte for byte.
 */
static void raw_layout(bool qemu)
{
	const uint64_t iova = 0x200000;
	const uint32_t n_out = 64, n_in = 48;
	/* QEMU: data at message byte 28, 4 pad bytes; spec: byte 32. */
	const size_t data_at = qemu ? 28 : 32;
	struct vus_dma_map map = {
		.argsz = 32, .flags = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
		.addr = iova, .size = 0x10000,
	};
	uint8_t data[64], in[48], back[48], reply[16 + 48 + 4];
	struct test_server s;
	struct raw_msg m, req;
	size_t i;
	int fd;

	ASSERT_OK(test_server_start(&s, NULL));
	fd = raw_connect(s.path);
	ASSERT_NONNEG(fd);
	ASSERT_OK(raw_version(fd, 0, qemu ? raw_qemu_version_json : NULL, &m));
	/* QEMU reads the reply into its request's buffer (docs/qemu.md,
	 * "Messages and replies"). */
	if (qemu)
		assert_true(m.hdr.size <= 16 + 4 + strlen(raw_qemu_version_json) + 1);
	raw_msg_free(&m);
	ASSERT_OK(raw_call(fd, raw_id++, VUS_CMD_DMA_MAP, &map, sizeof(map), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.hdr.size, 16);
	raw_msg_free(&m);

	/* BAR1 -> guest: a DMA_WRITE request. */
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0xc0 + i);
	{
		struct {
			struct vus_region_access a;
			uint8_t d[64];
		} __attribute__((packed)) w = { { 0x100, 1, sizeof(data) }, { 0 } };

		memcpy(w.d, data, sizeof(data));
		ASSERT_OK(raw_call(fd, raw_id++, VUS_CMD_REGION_WRITE, &w, sizeof(w), NULL,
				   0, &m));
		ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
		raw_msg_free(&m);
	}
	raw_region_write32(fd, TESTDEV_REG_DMA_SRC_LO, 0x100);
	raw_region_write32(fd, TESTDEV_REG_DMA_SRC_HI, 0);
	raw_region_write32(fd, TESTDEV_REG_DMA_DST_LO, (uint32_t)iova);
	raw_region_write32(fd, TESTDEV_REG_DMA_DST_HI, 0);
	raw_region_write32(fd, TESTDEV_REG_DMA_LEN, n_out);
	kick_and_get_request(fd, TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST, VUS_CMD_DMA_WRITE, &req);
	ASSERT_EQ(req.hdr.flags, VUS_F_TYPE_COMMAND);
	ASSERT_EQ(req.hdr.size, 32 + n_out);
	ASSERT_EQ(raw_u64(&req, 0), iova);
	if (qemu) {
		ASSERT_EQ(raw_u32(&req, 8), n_out);
		/* 4 pad bytes after the data */
		ASSERT_EQ(raw_u32(&req, 12 + n_out), 0);
	} else {
		ASSERT_EQ(raw_u64(&req, 8), n_out);
	}
	assert_memory_equal(req.payload + (data_at - 16), data, n_out);
	/* Answer: QEMU's is a bare header; the spec's echoes addr, count. */
	{
		struct vus_dma_rw echo = { iova, n_out };

		ASSERT_OK(raw_send(fd, req.hdr.id, VUS_CMD_DMA_WRITE, VUS_F_TYPE_REPLY,
				   &echo, qemu ? 0 : sizeof(echo), NULL, 0));
	}
	raw_msg_free(&req);
	raw_wait_dma_done(fd);

	/* guest -> BAR1: a DMA_READ request; we answer with the data. */
	raw_region_write32(fd, TESTDEV_REG_DMA_SRC_LO, (uint32_t)iova + 0x40);
	raw_region_write32(fd, TESTDEV_REG_DMA_DST_LO, 0x800);
	raw_region_write32(fd, TESTDEV_REG_DMA_DST_HI, 0);
	raw_region_write32(fd, TESTDEV_REG_DMA_LEN, n_in);
	kick_and_get_request(fd, TESTDEV_DMA_START, VUS_CMD_DMA_READ, &req);
	/* Both layouts: a 32-byte request, count in the low 32 bits. */
	ASSERT_EQ(req.hdr.size, 32);
	ASSERT_EQ(raw_u64(&req, 0), iova + 0x40);
	ASSERT_EQ(raw_u32(&req, 8), n_in);
	if (!qemu)
		ASSERT_EQ(raw_u64(&req, 8), n_in);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0x31 * i + 5);
	memset(reply, 0, sizeof(reply));
	memcpy(reply, &(uint64_t){ iova + 0x40 }, 8);
	if (qemu)
		memcpy(reply + 8, &(uint32_t){ n_in }, 4);
	else
		memcpy(reply + 8, &(uint64_t){ n_in }, 8);
	memcpy(reply + (data_at - 16), in, n_in);
	/* Both come to 16 + count payload bytes. */
	ASSERT_OK(raw_send(fd, req.hdr.id, VUS_CMD_DMA_READ, VUS_F_TYPE_REPLY, reply,
			   16 + n_in, NULL, 0));
	raw_msg_free(&req);
	raw_wait_dma_done(fd);
	{
		struct vus_region_access a = { 0x800, 1, n_in };

		ASSERT_OK(raw_call(fd, raw_id++, VUS_CMD_REGION_READ, &a, sizeof(a), NULL, 0,
				   &m));
		ASSERT_EQ(m.len, 16 + n_in);
		memcpy(back, m.payload + 16, n_in);
		raw_msg_free(&m);
		assert_memory_equal(back, in, n_in);
	}
	/* Nothing else pending. */
	assert_true(raw_nothing_within(fd, 100));
	close(fd);
	test_server_stop(&s);
}

/* With twin_socket negotiated, DMA requests use the twin socket only. */
static void raw_twin(void **state)
{
	static const char json[] =
		"{\"capabilities\":{\"max_msg_fds\":16,\"twin_socket\":{\"supported\":true}}}";
	const uint64_t iova = 0x300000;
	struct vus_dma_map map = {
		.argsz = 32, .flags = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
		.addr = iova, .size = 0x10000,
	};
	struct {
		struct vus_region_access a;
		uint32_t v;
	} __attribute__((packed)) kick = {
		{ TESTDEV_REG_DMA_CMD, 0, 4 }, TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST,
	};
	struct vus_dma_rw echo = { iova, 8 };
	struct test_server s;
	struct raw_msg m;
	int fd, twin;

	ASSERT_OK(test_server_start(&s, NULL));
	fd = raw_connect(s.path);
	ASSERT_NONNEG(fd);
	ASSERT_OK(raw_version(fd, 2, json, &m));
	ASSERT_EQ(m.nfds, 1);
	assert_non_null(strstr((const char *)m.payload + 4, "\"fd_index\":0"));
	twin = m.fds[0];
	m.nfds = 0;
	raw_msg_free(&m);

	ASSERT_OK(raw_call(fd, raw_id++, VUS_CMD_DMA_MAP, &map, sizeof(map), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	raw_msg_free(&m);
	raw_region_write32(fd, TESTDEV_REG_DMA_SRC_LO, 0);
	raw_region_write32(fd, TESTDEV_REG_DMA_SRC_HI, 0);
	raw_region_write32(fd, TESTDEV_REG_DMA_DST_LO, (uint32_t)iova);
	raw_region_write32(fd, TESTDEV_REG_DMA_DST_HI, 0);
	raw_region_write32(fd, TESTDEV_REG_DMA_LEN, 8);
	ASSERT_OK(raw_call(fd, raw_id++, VUS_CMD_REGION_WRITE, &kick, sizeof(kick), NULL, 0,
			   &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	raw_msg_free(&m);
	ASSERT_OK(raw_recv(twin, &m, 2000));
	ASSERT_EQ(m.hdr.cmd, VUS_CMD_DMA_WRITE);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_COMMAND);
	ASSERT_EQ(m.hdr.size, 32 + 8);
	ASSERT_EQ(raw_u64(&m, 0), iova);
	ASSERT_EQ(raw_u64(&m, 8), 8);
	ASSERT_OK(raw_send(twin, m.hdr.id, VUS_CMD_DMA_WRITE, VUS_F_TYPE_REPLY, &echo,
			   sizeof(echo), NULL, 0));
	raw_msg_free(&m);
	raw_wait_dma_done(fd);
	/* Nothing came on the main socket. */
	assert_true(raw_nothing_within(fd, 50));
	assert_true(raw_nothing_within(twin, 50));
	close(twin);
	close(fd);
	test_server_stop(&s);
}

static void raw_qemu_layout(void **state)
{
	raw_layout(true);
}

static void raw_spec_layout(void **state)
{
	raw_layout(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(with_fd),
		cmocka_unit_test(fdless_spec),
		cmocka_unit_test(fdless_auto_qemu),
		cmocka_unit_test(fdless_forced_qemu),
		cmocka_unit_test(twin_socket),
		cmocka_unit_test(chunked),
		cmocka_unit_test(prot_read_only),
		cmocka_unit_test(unmap_rules),
		cmocka_unit_test(raw_qemu_layout),
		cmocka_unit_test(raw_spec_layout),
		cmocka_unit_test(raw_twin),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
