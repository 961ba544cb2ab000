/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The serving path (lib/serve.c, dispatch.c, handlers.c) driven with raw
 * bytes: a device loop on its own thread, attached to one end of a
 * socketpair (or listening, for the second-client rule); the test speaks
 * vfio-user byte by byte on the other end and checks the raw replies.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "dev_priv.h"
#include "efd.h"
#include "fdcount.h"
#include "raw.h"
#include "vus_test.h"

#define TIMEOUT_MS 2000
/* What raw_version() sends when given no JSON (raw.h). */
#define SPEC_JSON "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}"

struct srv {
	struct vus_dev *dev;
	pthread_t thread;
	int fd;                 /* the client's end */
	int memfd;              /* backs BAR1 */
	pthread_mutex_t lock;   /* guards what callbacks record */
	int resets[4];          /* by enum vus_reset_reason */
	char trace[16][160];
	int ntrace;
};

/* Log level of the next device; test_trace_lines raises it. */
static enum vus_log_level trace_level = VUS_LOG_ERR;

static int on_reset(struct vus_dev *dev, void *opaque, enum vus_reset_reason why)
{
	struct srv *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->resets[why]++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void on_log(void *opaque, enum vus_log_level level, const char *msg)
{
	struct srv *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (level == VUS_LOG_TRACE && s->ntrace < 16)
		snprintf(s->trace[s->ntrace++], sizeof(s->trace[0]), "%s", msg);
	pthread_mutex_unlock(&s->lock);
}

static void *loop(void *p)
{
	struct srv *s = p;

	return (void *)(intptr_t)vus_dev_run(s->dev);
}

/* BAR0: 4 KiB memfd, mmap-able with two sparse areas; BAR1: I/O 16;
 * MSI-X 4; INTx; reset callback; 64 KiB max transfer. */
/* Region 2 breaks the callback contract: it returns byte counts. */
static int count_read(struct vus_dev *dev, void *opaque, uint64_t off, void *buf, uint32_t n)
{
	memset(buf, 0xab, n);
	return (int)n;
}

static int count_write(struct vus_dev *dev, void *opaque, uint64_t off, const void *buf,
		       uint32_t n)
{
	return (int)n;
}

static const struct vus_region_ops count_ops = { .read = count_read, .write = count_write };

static struct vus_dev *make_dev(struct srv *s, bool with_reset)
{
	const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	struct vus_sparse_area areas[2] = { { 0, pg }, { 3 * pg, pg } };
	struct vus_dev *dev = vus_dev_new("serve");

	assert_non_null(dev);
	vus_dev_set_log(dev, on_log, s, trace_level);
	s->memfd = memfd_create("bar0", MFD_CLOEXEC);
	assert_true(s->memfd >= 0);
	ASSERT_OK(ftruncate(s->memfd, (off_t)(4 * pg)));
	ASSERT_OK(vus_dev_setup_region(dev, 0, 4 * pg, VUS_REGION_RW, NULL, NULL));
	ASSERT_OK(vus_dev_region_set_fd(dev, 0, s->memfd, 0, true, areas, 2));
	ASSERT_OK(vus_dev_setup_region(dev, 1, 16, VUS_REGION_RW | VUS_REGION_BAR_IO,
				       NULL, NULL));
	ASSERT_OK(vus_dev_region_set_fd(dev, 1, s->memfd, 0, false, NULL, 0));
	ASSERT_OK(vus_dev_setup_region(dev, 2, 32, VUS_REGION_RW, &count_ops, NULL));
	ASSERT_OK(vus_dev_setup_irq(dev, VUS_PCI_MSIX_IRQ, 4));
	ASSERT_OK(vus_dev_setup_irq(dev, VUS_PCI_INTX_IRQ, 1));
	ASSERT_OK(vus_dev_set_max_data_xfer(dev, 65536));
	if (with_reset)
		ASSERT_OK(vus_dev_set_reset(dev, on_reset, s));
	return dev;
}

static void srv_start(struct srv *s, bool with_reset)
{
	int sv[2];

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->dev = make_dev(s, with_reset);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(s->dev, sv[0]));
	s->fd = sv[1];
	ASSERT_OK(pthread_create(&s->thread, NULL, loop, s));
}

static void srv_stop(struct srv *s)
{
	void *ret;

	vus_dev_stop(s->dev);
	ASSERT_OK(pthread_join(s->thread, &ret));
	assert_null(ret);
	vus_dev_free(s->dev);
	if (s->fd >= 0)
		close(s->fd);
	close(s->memfd);
	pthread_mutex_destroy(&s->lock);
}

static bool wait_detached(struct srv *s, int ms)
{
	int i;

	for (i = 0; i < ms; i++) {
		if (!vus_dev_client_attached(s->dev))
			return true;
		test_sleep_ms(1);
	}
	return false;
}

/* The reply must be an error reply to (id, cmd) carrying errno e. */
static void expect_error(const struct raw_msg *m, uint16_t id, uint16_t cmd, uint32_t e)
{
	ASSERT_EQ(m->hdr.id, id);
	ASSERT_EQ(m->hdr.cmd, cmd);
	ASSERT_EQ(m->hdr.size, VUS_HDR_SIZE);
	ASSERT_EQ(m->hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
	ASSERT_EQ(m->hdr.error, e);
}

static void expect_ok(const struct raw_msg *m, uint16_t id, uint16_t cmd)
{
	ASSERT_EQ(m->hdr.id, id);
	ASSERT_EQ(m->hdr.cmd, cmd);
	ASSERT_EQ(m->hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m->hdr.error, 0);
}

static void call(struct srv *s, uint16_t id, uint16_t cmd, const void *p, size_t len,
		 struct raw_msg *reply)
{
	ASSERT_OK(raw_send(s->fd, id, cmd, 0, p, len, NULL, 0));
	ASSERT_OK(raw_recv(s->fd, reply, TIMEOUT_MS));
}

static void negotiate(struct srv *s)
{
	ASSERT_OK(raw_version(s->fd, 0, NULL, NULL));
}

static uint32_t cfg_read32(struct srv *s, uint64_t off)
{
	struct vus_region_access ra = { .offset = off, .region = 7, .count = 4 };
	struct raw_msg m;
	uint32_t v;

	call(s, 900, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	expect_ok(&m, 900, VUS_CMD_REGION_READ);
	ASSERT_EQ(m.len, 20);
	v = raw_u32(&m, 16);
	raw_msg_free(&m);
	return v;
}

static void cfg_write(struct srv *s, uint64_t off, uint32_t v, uint32_t flags)
{
	uint8_t buf[20];
	struct vus_region_access ra = { .offset = off, .region = 7, .count = 4 };

	memcpy(buf, &ra, sizeof(ra));
	memcpy(buf + 16, &v, 4);
	ASSERT_OK(raw_send(s->fd, 901, VUS_CMD_REGION_WRITE, flags, buf, sizeof(buf),
			   NULL, 0));
}

static void test_version_and_info(void **state)
{
	struct vus_device_info info = { .argsz = 16 };
	struct raw_msg m;
	struct srv s;
	const char *json;

	srv_start(&s, true);
	ASSERT_OK(raw_version(s.fd, 5, NULL, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(raw_u32(&m, 0) & 0xffff, 0);      /* major */
	ASSERT_EQ(raw_u32(&m, 0) >> 16, 2);         /* min(5, 2) */
	ASSERT_EQ(m.payload[m.len - 1], '\0');
	json = (const char *)m.payload + 4;
	assert_non_null(strstr(json, "\"max_msg_fds\":16"));
	assert_non_null(strstr(json, "\"max_data_xfer_size\":65536"));
	/* Longer than this short request with everything: the optional
	 * pgsizes and max_dma_maps went (docs/protocol.md 3.1). */
	assert_true(m.hdr.size <= VUS_HDR_SIZE + 4 + sizeof(SPEC_JSON));
	assert_null(strstr(json, "pgsizes"));
	assert_null(strstr(json, "twin_socket"));
	assert_null(strstr(json, "write_multiple"));
	assert_null(strstr(json, "migration"));
	ASSERT_EQ(m.nfds, 0);
	raw_msg_free(&m);

	call(&s, 7, VUS_CMD_DEVICE_GET_INFO, &info, sizeof(info), &m);
	expect_ok(&m, 7, VUS_CMD_DEVICE_GET_INFO);
	ASSERT_EQ(m.len, 16);
	ASSERT_EQ(raw_u32(&m, 0), 16);
	ASSERT_EQ(raw_u32(&m, 4), VUS_DEVICE_FLAGS_PCI | VUS_DEVICE_FLAGS_RESET);
	ASSERT_EQ(raw_u32(&m, 8), 9);
	ASSERT_EQ(raw_u32(&m, 12), 5);
	raw_msg_free(&m);

	/* A second VERSION is refused; the session goes on. */
	call(&s, 6, VUS_CMD_VERSION, "\0\0\0\0" SPEC_JSON, 4 + sizeof(SPEC_JSON), &m);
	expect_error(&m, 6, VUS_CMD_VERSION, EINVAL);
	raw_msg_free(&m);
	call(&s, 8, VUS_CMD_DEVICE_GET_INFO, &info, sizeof(info), &m);
	expect_ok(&m, 8, VUS_CMD_DEVICE_GET_INFO);
	raw_msg_free(&m);
	srv_stop(&s);
}

/* QEMU reads our reply into its request's buffer (docs/qemu.md "VERSION"). */
static void test_qemu_version(void **state)
{
	size_t req = VUS_HDR_SIZE + 4 + strlen(raw_qemu_version_json) + 1;
	struct raw_msg m;
	struct srv s;

	srv_start(&s, false);
	ASSERT_OK(raw_version(s.fd, 0, raw_qemu_version_json, &m));
	assert_true(m.hdr.size <= req);
	ASSERT_EQ(raw_u32(&m, 0), 0); /* 0.0 */
	assert_non_null(strstr((const char *)m.payload + 4, "\"write_multiple\":true"));
	assert_non_null(strstr((const char *)m.payload + 4, "\"max_dma_maps\":65535"));
	assert_non_null(strstr((const char *)m.payload + 4, "\"pgsizes\":4096"));
	raw_msg_free(&m);
	ASSERT_EQ(vus_dev_dma_layout(s.dev), VUS_DMA_LAYOUT_QEMU);
	srv_stop(&s);
}

static void test_before_version(void **state)
{
	struct vus_device_info info = { .argsz = 16 };
	struct raw_msg m;
	struct srv s;

	srv_start(&s, false);
	call(&s, 1, VUS_CMD_DEVICE_GET_INFO, &info, sizeof(info), &m);
	expect_error(&m, 1, VUS_CMD_DEVICE_GET_INFO, EINVAL);
	raw_msg_free(&m);
	/* Kept: negotiation still works afterwards. */
	negotiate(&s);
	call(&s, 2, VUS_CMD_DEVICE_GET_INFO, &info, sizeof(info), &m);
	expect_ok(&m, 2, VUS_CMD_DEVICE_GET_INFO);
	raw_msg_free(&m);
	srv_stop(&s);
}

static void test_unknown_commands(void **state)
{
	static const uint16_t cmds[] = { 0, VUS_CMD_DMA_READ, VUS_CMD_DMA_WRITE,
					 VUS_CMD_DIRTY_PAGES_RETIRED, 19, 0xffff };
	const uint8_t body[24] = { 1, 2, 3 };
	struct vus_dev_stats st;
	struct raw_msg m;
	struct srv s;
	int before, efd;
	size_t i;

	srv_start(&s, false);
	negotiate(&s);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		call(&s, (uint16_t)(10 + i), cmds[i], body, sizeof(body), &m);
		expect_error(&m, (uint16_t)(10 + i), cmds[i], ENOSYS);
		raw_msg_free(&m);
	}
	/* With an fd: the body is consumed, the fd closed. */
	efd = eventfd(0, EFD_CLOEXEC);
	before = fdcount();
	ASSERT_OK(raw_send(s.fd, 20, 19, 0, body, sizeof(body), &efd, 1));
	close(efd);
	ASSERT_OK(raw_recv(s.fd, &m, TIMEOUT_MS));
	expect_error(&m, 20, 19, ENOSYS);
	raw_msg_free(&m);
	assert_true(fdcount_wait(before - 1, TIMEOUT_MS));
	vus_dev_get_stats(s.dev, &st);
	ASSERT_EQ(vus_dev_stat_cmd(s.dev, 0), 4);          /* 0, 19 twice, 0xffff */
	ASSERT_EQ(vus_dev_stat_cmd(s.dev, VUS_CMD_DMA_READ), 1);
	ASSERT_EQ(vus_dev_stat_errno(s.dev, ENOSYS), 7);
	srv_stop(&s);
}

static void test_no_reply(void **state)
{
	struct vus_region_access bad = { .offset = 0, .region = 30, .count = 4 };
	struct vus_device_info info = { .argsz = 16 };
	struct raw_msg m;
	struct srv s;

	srv_start(&s, false);
	negotiate(&s);
	/* A posted config write, then a failing posted read: neither is
	 * answered; the next reply is the GET_INFO's. */
	cfg_write(&s, 0x3c, 0x0b, VUS_F_NO_REPLY);
	ASSERT_OK(raw_send(s.fd, 31, VUS_CMD_REGION_READ, VUS_F_NO_REPLY, &bad,
			   sizeof(bad), NULL, 0));
	ASSERT_OK(raw_send(s.fd, 32, 77, VUS_F_NO_REPLY, NULL, 0, NULL, 0));
	call(&s, 33, VUS_CMD_DEVICE_GET_INFO, &info, sizeof(info), &m);
	expect_ok(&m, 33, VUS_CMD_DEVICE_GET_INFO);
	raw_msg_free(&m);
	assert_true(raw_nothing_within(s.fd, 50));
	ASSERT_EQ(cfg_read32(&s, 0x3c) & 0xff, 0x0b);
	srv_stop(&s);
}

static void test_fds_where_none_taken(void **state)
{
	struct vus_device_info info = { .argsz = 16 };
	struct raw_msg m;
	struct srv s;
	int efd = eventfd(0, EFD_CLOEXEC), before;

	srv_start(&s, false);
	negotiate(&s);
	before = fdcount();
	ASSERT_OK(raw_send(s.fd, 40, VUS_CMD_DEVICE_GET_INFO, 0, &info, sizeof(info),
			   &efd, 1));
	close(efd);
	ASSERT_OK(raw_recv(s.fd, &m, TIMEOUT_MS));
	expect_error(&m, 40, VUS_CMD_DEVICE_GET_INFO, EINVAL);
	raw_msg_free(&m);
	assert_true(fdcount_wait(before - 1, TIMEOUT_MS));
	srv_stop(&s);
}

static void test_region_io(void **state)
{
	struct vus_region_access ra = { .offset = 0, .region = 7, .count = 256 };
	uint8_t wbuf[16 + 8];
	struct raw_msg m;
	struct srv s;

	srv_start(&s, false);
	negotiate(&s);
	/* All of config space in one read, as QEMU does at realize. */
	call(&s, 50, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	expect_ok(&m, 50, VUS_CMD_REGION_READ);
	ASSERT_EQ(m.len, 16 + 256);
	ASSERT_EQ(raw_u64(&m, 0), 0);
	ASSERT_EQ(raw_u32(&m, 8), 7);
	ASSERT_EQ(raw_u32(&m, 12), 256);
	ASSERT_EQ(raw_u32(&m, 16 + 0x14), 0x1); /* BAR1: I/O */
	raw_msg_free(&m);

	/* BAR1 (I/O, fd-backed) write then read back. */
	ra = (struct vus_region_access){ .offset = 8, .region = 1, .count = 8 };
	memcpy(wbuf, &ra, sizeof(ra));
	memcpy(wbuf + 16, "abcdefgh", 8);
	call(&s, 51, VUS_CMD_REGION_WRITE, wbuf, sizeof(wbuf), &m);
	expect_ok(&m, 51, VUS_CMD_REGION_WRITE);
	ASSERT_EQ(m.len, 16);
	assert_memory_equal(m.payload, wbuf, 16);
	raw_msg_free(&m);
	call(&s, 52, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	expect_ok(&m, 52, VUS_CMD_REGION_READ);
	assert_memory_equal(m.payload + 16, "abcdefgh", 8);
	raw_msg_free(&m);

	/* Beyond the region, an absent region, too big, count 0. */
	ra = (struct vus_region_access){ .offset = 12, .region = 1, .count = 8 };
	call(&s, 53, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	expect_error(&m, 53, VUS_CMD_REGION_READ, EINVAL);
	raw_msg_free(&m);
	ra = (struct vus_region_access){ .offset = 0, .region = 9, .count = 4 };
	call(&s, 54, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	expect_error(&m, 54, VUS_CMD_REGION_READ, EINVAL);
	raw_msg_free(&m);
	ra = (struct vus_region_access){ .offset = 0, .region = 0, .count = 65537 };
	call(&s, 55, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	expect_error(&m, 55, VUS_CMD_REGION_READ, E2BIG);
	raw_msg_free(&m);
	ra = (struct vus_region_access){ .offset = 0, .region = 0, .count = 0 };
	call(&s, 56, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	expect_ok(&m, 56, VUS_CMD_REGION_READ);
	ASSERT_EQ(m.len, 16);
	raw_msg_free(&m);
	/* A large read goes out of the heap buffer. */
	ra = (struct vus_region_access){ .offset = 0, .region = 0, .count = 4096 };
	call(&s, 57, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	expect_ok(&m, 57, VUS_CMD_REGION_READ);
	ASSERT_EQ(m.len, 16 + 4096);
	assert_memory_equal(m.payload + 16 + 8, "abcdefgh", 8);
	raw_msg_free(&m);
	srv_stop(&s);
}

/* A callback returning a positive count is a device bug: EIO, never a
 * "success" reply that lacks its data. */
static void test_callback_positive_return(void **state)
{
	struct vus_region_access ra = { .offset = 0, .region = 2, .count = 4 };
	uint8_t wbuf[16 + 4] = { 0 };
	struct raw_msg m;
	struct srv s;

	srv_start(&s, false);
	negotiate(&s);
	call(&s, 60, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	expect_error(&m, 60, VUS_CMD_REGION_READ, EIO);
	raw_msg_free(&m);
	memcpy(wbuf, &ra, sizeof(ra));
	call(&s, 61, VUS_CMD_REGION_WRITE, wbuf, sizeof(wbuf), &m);
	expect_error(&m, 61, VUS_CMD_REGION_WRITE, EIO);
	raw_msg_free(&m);
	srv_stop(&s);
}

/* VERSION marked No_reply negotiates nothing (its result, and a twin
 * socket's fd, could never reach the client) and is not answered. */
static void test_version_no_reply(void **state)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8,"
				   "\"twin_socket\":{\"supported\":true}}}";
	struct vus_device_info info = { .argsz = 16 };
	uint8_t body[4 + sizeof(json)] = { 0 };
	struct raw_msg m;
	struct srv s;

	srv_start(&s, false);
	memcpy(body + 4, json, sizeof(json));
	ASSERT_OK(raw_send(s.fd, 70, VUS_CMD_VERSION, VUS_F_NO_REPLY, body, sizeof(body),
			   NULL, 0));
	assert_true(raw_nothing_within(s.fd, 50));
	call(&s, 71, VUS_CMD_DEVICE_GET_INFO, &info, sizeof(info), &m);
	expect_error(&m, 71, VUS_CMD_DEVICE_GET_INFO, EINVAL); /* still not negotiated */
	raw_msg_free(&m);
	negotiate(&s);
	call(&s, 72, VUS_CMD_DEVICE_GET_INFO, &info, sizeof(info), &m);
	expect_ok(&m, 72, VUS_CMD_DEVICE_GET_INFO);
	raw_msg_free(&m);
	srv_stop(&s);
}

/* A message bigger than the device's limit: body drained, E2BIG, in sync. */
static void test_oversized_message(void **state)
{
	size_t big = 65536 + 64 * 1024 + 4096;
	struct vus_region_access *ra;
	uint8_t *buf = calloc(1, big);
	struct raw_msg m;
	struct srv s;

	srv_start(&s, false);
	negotiate(&s);
	ra = (struct vus_region_access *)buf;
	ra->region = 0;
	ra->count = (uint32_t)(big - sizeof(*ra));
	ASSERT_OK(raw_send(s.fd, 60, VUS_CMD_REGION_WRITE, 0, buf, big, NULL, 0));
	ASSERT_OK(raw_recv(s.fd, &m, TIMEOUT_MS));
	expect_error(&m, 60, VUS_CMD_REGION_WRITE, E2BIG);
	raw_msg_free(&m);
	ASSERT_EQ(cfg_read32(&s, 0) & 0xffff, 0);
	free(buf);
	srv_stop(&s);
}

static void test_region_info(void **state)
{
	const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	struct vus_region_info ri = { .argsz = 32, .index = 0 };
	struct raw_msg m;
	struct srv s;

	srv_start(&s, false);
	negotiate(&s);
	/* Too small for the caps: bare struct with the full reply's flags
	 * but CAPS, no fd; argsz says how much to ask for (32 + 16 + 2 * 16). */
	call(&s, 70, VUS_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), &m);
	expect_ok(&m, 70, VUS_CMD_DEVICE_GET_REGION_INFO);
	ASSERT_EQ(m.len, 32);
	ASSERT_EQ(raw_u32(&m, 0), 80);
	ASSERT_EQ(raw_u32(&m, 4), VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE |
				  VUS_REGION_INFO_FLAG_MMAP);
	ASSERT_EQ(raw_u64(&m, 16), 4 * pg);
	ASSERT_EQ(m.nfds, 0);
	raw_msg_free(&m);

	ri.argsz = 80;
	call(&s, 71, VUS_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), &m);
	expect_ok(&m, 71, VUS_CMD_DEVICE_GET_REGION_INFO);
	ASSERT_EQ(m.len, 80);
	ASSERT_EQ(raw_u32(&m, 4), VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE |
				  VUS_REGION_INFO_FLAG_MMAP | VUS_REGION_INFO_FLAG_CAPS);
	ASSERT_EQ(raw_u32(&m, 12), 32);                /* cap_offset */
	ASSERT_EQ(raw_u32(&m, 32) & 0xffff, VUS_REGION_INFO_CAP_SPARSE_MMAP);
	ASSERT_EQ(raw_u32(&m, 40), 2);                 /* nr_areas */
	ASSERT_EQ(raw_u64(&m, 64), 3 * pg);            /* second area */
	ASSERT_EQ(m.nfds, 1);
	raw_msg_free(&m);

	/* Config space, an unimplemented region, out of range. */
	ri = (struct vus_region_info){ .argsz = 32, .index = 7 };
	call(&s, 72, VUS_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), &m);
	expect_ok(&m, 72, VUS_CMD_DEVICE_GET_REGION_INFO);
	ASSERT_EQ(raw_u64(&m, 16), 256);
	ASSERT_EQ(raw_u32(&m, 4), VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE);
	raw_msg_free(&m);
	ri.index = 5;
	call(&s, 73, VUS_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), &m);
	expect_ok(&m, 73, VUS_CMD_DEVICE_GET_REGION_INFO);
	ASSERT_EQ(raw_u64(&m, 16), 0);
	ASSERT_EQ(raw_u32(&m, 4), 0);
	raw_msg_free(&m);
	ri.index = 9;
	call(&s, 74, VUS_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), &m);
	expect_error(&m, 74, VUS_CMD_DEVICE_GET_REGION_INFO, EINVAL);
	raw_msg_free(&m);
	srv_stop(&s);
}

static void test_irqs_over_the_wire(void **state)
{
	struct vus_irq_info ii = { .argsz = 16, .index = VUS_PCI_MSIX_IRQ };
	uint8_t set[20];
	struct vus_irq_set is = {
		.argsz = 20, .index = VUS_PCI_MSIX_IRQ, .start = 1, .count = 1,
		.flags = VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
	};
	struct pollfd pfd;
	struct raw_msg m;
	struct srv s;
	int efd = efd_new();
	uint64_t v;

	srv_start(&s, false);
	negotiate(&s);
	call(&s, 80, VUS_CMD_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), &m);
	expect_ok(&m, 80, VUS_CMD_DEVICE_GET_IRQ_INFO);
	ASSERT_EQ(raw_u32(&m, 4), VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE);
	ASSERT_EQ(raw_u32(&m, 12), 4);
	raw_msg_free(&m);
	ii.index = 5;
	call(&s, 81, VUS_CMD_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), &m);
	expect_error(&m, 81, VUS_CMD_DEVICE_GET_IRQ_INFO, EINVAL);
	raw_msg_free(&m);

	memcpy(set, &is, sizeof(set));
	ASSERT_OK(raw_send(s.fd, 82, VUS_CMD_DEVICE_SET_IRQS, 0, set, sizeof(set), &efd,
			   1));
	ASSERT_OK(raw_recv(s.fd, &m, TIMEOUT_MS));
	expect_ok(&m, 82, VUS_CMD_DEVICE_SET_IRQS);
	ASSERT_EQ(m.len, 0);
	raw_msg_free(&m);
	/* The device raises vector 1 from this (non-loop) thread. */
	ASSERT_OK(vus_irq_trigger(s.dev, VUS_PCI_MSIX_IRQ, 1));
	pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
	ASSERT_EQ(poll(&pfd, 1, TIMEOUT_MS), 1);
	ASSERT_EQ(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ASSERT_EQ(v, 1);

	/* Out of range start. */
	is.start = 4;
	memcpy(set, &is, sizeof(set));
	ASSERT_OK(raw_send(s.fd, 83, VUS_CMD_DEVICE_SET_IRQS, 0, set, sizeof(set), &efd,
			   1));
	ASSERT_OK(raw_recv(s.fd, &m, TIMEOUT_MS));
	expect_error(&m, 83, VUS_CMD_DEVICE_SET_IRQS, EINVAL);
	raw_msg_free(&m);
	/* Client gone: the eventfd is released, the device is told. */
	close(s.fd);
	s.fd = -1;
	assert_true(wait_detached(&s, TIMEOUT_MS));
	ASSERT_ERR(vus_irq_trigger(s.dev, VUS_PCI_MSIX_IRQ, 1), -ENOENT);
	srv_stop(&s);
	close(efd);
}

static void test_device_reset(void **state)
{
	struct raw_msg m;
	struct srv s;
	uint8_t junk = 0;

	srv_start(&s, true);
	negotiate(&s);
	cfg_write(&s, 0x04, 0x0507, 0);
	ASSERT_OK(raw_recv(s.fd, &m, TIMEOUT_MS));
	raw_msg_free(&m);
	ASSERT_EQ(cfg_read32(&s, 0x04) & 0xffff, 0x0507);
	call(&s, 90, VUS_CMD_DEVICE_RESET, NULL, 0, &m);
	expect_ok(&m, 90, VUS_CMD_DEVICE_RESET);
	ASSERT_EQ(m.hdr.size, VUS_HDR_SIZE); /* QEMU's buffer is exactly 16 */
	raw_msg_free(&m);
	ASSERT_EQ(cfg_read32(&s, 0x04) & 0xffff, 0);
	pthread_mutex_lock(&s.lock);
	ASSERT_EQ(s.resets[VUS_RESET_CLIENT], 1);
	pthread_mutex_unlock(&s.lock);
	call(&s, 91, VUS_CMD_DEVICE_RESET, &junk, 1, &m);
	expect_error(&m, 91, VUS_CMD_DEVICE_RESET, EINVAL);
	raw_msg_free(&m);
	/* The client leaves: the device hears of it once. */
	close(s.fd);
	s.fd = -1;
	assert_true(wait_detached(&s, TIMEOUT_MS));
	pthread_mutex_lock(&s.lock);
	ASSERT_EQ(s.resets[VUS_RESET_LOST_CONN], 1);
	pthread_mutex_unlock(&s.lock);
	srv_stop(&s);

	/* No reset callback: no RESET flag, and DEVICE_RESET is EINVAL. */
	srv_start(&s, false);
	negotiate(&s);
	call(&s, 92, VUS_CMD_DEVICE_RESET, NULL, 0, &m);
	expect_error(&m, 92, VUS_CMD_DEVICE_RESET, EINVAL);
	raw_msg_free(&m);
	srv_stop(&s);
}

static void test_write_multi(void **state)
{
	uint8_t buf[8 + 2 * 24] = { 0 };
	struct vus_write_multi_entry e[2] = {
		{ .offset = 0x3c, .region = 7, .count = 1, .data = { 0x0e } },
		{ .offset = 0, .region = 1, .count = 4, .data = { 'w', 'x', 'y', 'z' } },
	};
	uint64_t n = 2;
	struct raw_msg m;
	struct srv s;

	srv_start(&s, false);
	ASSERT_OK(raw_version(s.fd, 0, raw_qemu_version_json, NULL));
	memcpy(buf, &n, 8);
	memcpy(buf + 8, e, sizeof(e));
	call(&s, 100, VUS_CMD_REGION_WRITE_MULTI, buf, sizeof(buf), &m);
	expect_ok(&m, 100, VUS_CMD_REGION_WRITE_MULTI);
	ASSERT_EQ(m.len, 8);
	ASSERT_EQ(raw_u64(&m, 0), 2);
	raw_msg_free(&m);
	ASSERT_EQ(cfg_read32(&s, 0x3c) & 0xff, 0x0e);
	/* The first failing entry stops the batch with its errno. */
	e[0].region = 40;
	memcpy(buf + 8, e, sizeof(e));
	call(&s, 101, VUS_CMD_REGION_WRITE_MULTI, buf, sizeof(buf), &m);
	expect_error(&m, 101, VUS_CMD_REGION_WRITE_MULTI, EINVAL);
	raw_msg_free(&m);
	srv_stop(&s);
}

static void test_twin_socket(void **state)
{
	static const char json[] =
		"{\"capabilities\":{\"max_msg_fds\":4,\"twin_socket\":{\"supported\":true}}}";
	struct vus_device_info info = { .argsz = 16 };
	struct raw_msg m;
	struct srv s;
	int twin;

	srv_start(&s, false);
	ASSERT_OK(raw_version(s.fd, 2, json, &m));
	assert_non_null(strstr((const char *)m.payload + 4,
			       "\"twin_socket\":{\"supported\":true,\"fd_index\":0}"));
	ASSERT_EQ(m.nfds, 1);
	twin = m.fds[0];
	m.fds[0] = -1;
	m.nfds = 0;
	raw_msg_free(&m);
	/* The twin socket is for our requests: a command there ends it all. */
	ASSERT_OK(raw_send(twin, 1, VUS_CMD_DEVICE_GET_INFO, 0, &info, sizeof(info),
			   NULL, 0));
	assert_true(raw_closed_within(s.fd, TIMEOUT_MS));
	assert_true(raw_closed_within(twin, TIMEOUT_MS));
	close(twin);
	srv_stop(&s);
}

static void test_second_client(void **state)
{
	struct vus_device_info info = { .argsz = 16 };
	char dir[] = "/tmp/vus-serve-XXXXXX", path[64];
	struct vus_dev_stats st;
	struct raw_msg m;
	struct srv s;
	void *ret;
	int a, b, c;

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	s.dev = make_dev(&s, false);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	ASSERT_OK(vus_dev_listen(s.dev, path));
	ASSERT_ERR(vus_dev_listen(s.dev, path), -EBUSY);
	ASSERT_OK(pthread_create(&s.thread, NULL, loop, &s));

	a = raw_connect(path);
	ASSERT_NONNEG(a);
	s.fd = a;
	negotiate(&s);
	b = raw_connect(path);
	ASSERT_NONNEG(b);
	assert_true(raw_closed_within(b, TIMEOUT_MS));
	close(b);
	call(&s, 110, VUS_CMD_DEVICE_GET_INFO, &info, sizeof(info), &m);
	expect_ok(&m, 110, VUS_CMD_DEVICE_GET_INFO);
	raw_msg_free(&m);
	/* After the first leaves, the next is served. */
	close(a);
	assert_true(wait_detached(&s, TIMEOUT_MS));
	c = raw_connect(path);
	ASSERT_NONNEG(c);
	s.fd = c;
	negotiate(&s);
	vus_dev_get_stats(s.dev, &st);
	ASSERT_EQ(st.clients, 2);

	vus_dev_stop(s.dev);
	ASSERT_OK(pthread_join(s.thread, &ret));
	vus_dev_free(s.dev);
	/* The socket file we created is gone. */
	ASSERT_EQ(access(path, F_OK), -1);
	close(c);
	close(s.memfd);
	rmdir(dir);
	pthread_mutex_destroy(&s.lock);
}

static void test_malformed_header_closes(void **state)
{
	struct vus_hdr h = { .id = 1, .cmd = VUS_CMD_DEVICE_GET_INFO, .size = 8 };
	uint8_t bytes[16];
	struct srv s;

	srv_start(&s, false);
	negotiate(&s);
	vus_hdr_encode(bytes, &h);
	ASSERT_OK(raw_send_bytes(s.fd, bytes, sizeof(bytes), NULL, 0));
	assert_true(raw_closed_within(s.fd, TIMEOUT_MS));
	assert_true(wait_detached(&s, TIMEOUT_MS));
	srv_stop(&s);
}

static void test_trace_lines(void **state)
{
	struct vus_region_access ra = { .offset = 0, .region = 7, .count = 4 };
	struct raw_msg m;
	struct srv s;
	bool rx = false, tx = false;
	int i;

	trace_level = VUS_LOG_TRACE;
	srv_start(&s, false);
	trace_level = VUS_LOG_ERR;
	negotiate(&s);
	call(&s, 120, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	raw_msg_free(&m);
	ra.region = 44;
	call(&s, 121, VUS_CMD_REGION_READ, &ra, sizeof(ra), &m);
	raw_msg_free(&m);
	pthread_mutex_lock(&s.lock);
	for (i = 0; i < s.ntrace; i++) {
		if (!strcmp(s.trace[i], "rx REGION_READ id=120 size=32 flags=0x0 fds=0 | "
					"region=7 offset=0x0 count=4"))
			rx = true;
		if (!strcmp(s.trace[i], "tx REGION_READ id=121 reply size=16 err=EINVAL"))
			tx = true;
	}
	if (!rx || !tx)
		for (i = 0; i < s.ntrace; i++)
			print_message("trace: %s\n", s.trace[i]);
	pthread_mutex_unlock(&s.lock);
	assert_true(rx);
	assert_true(tx);
	srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_and_info),
		cmocka_unit_test(test_qemu_version),
		cmocka_unit_test(test_before_version),
		cmocka_unit_test(test_unknown_commands),
		cmocka_unit_test(test_no_reply),
		cmocka_unit_test(test_fds_where_none_taken),
		cmocka_unit_test(test_region_io),
		cmocka_unit_test(test_callback_positive_return),
		cmocka_unit_test(test_version_no_reply),
		cmocka_unit_test(test_oversized_message),
		cmocka_unit_test(test_region_info),
		cmocka_unit_test(test_irqs_over_the_wire),
		cmocka_unit_test(test_device_reset),
		cmocka_unit_test(test_write_multi),
		cmocka_unit_test(test_twin_socket),
		cmocka_unit_test(test_second_client),
		cmocka_unit_test(test_malformed_header_closes),
		cmocka_unit_test(test_trace_lines),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
