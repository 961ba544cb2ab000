/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Server -> client DMA (lib/dma_rw.c) and the DMA_MAP/UNMAP handlers
 * (lib/dma.c), driven over a socketpair by a raw peer that plays the
 * client byte by byte: chunking, both layouts, the in-flight window,
 * error and mismatched replies, disconnects, loop-thread rules.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "fdcount.h"
#include "raw.h"
#include "rig.h"
#include "vus_test.h"

#define R  VUS_DMA_MAP_FLAG_READ
#define W  VUS_DMA_MAP_FLAG_WRITE
#define RW (R | W)

#define FD_IOVA     0x10000ull   /* 16 KiB backed by a memfd */
#define FDLESS_IOVA 0x14000ull   /* 16 KiB right after it, no fd */
#define WIN_SIZE    0x4000ull
#define RO_IOVA     0x100000ull  /* 4 KiB fd-less, read-only */
#define RO_FD_IOVA  0x200000ull  /* 4 KiB memfd, read-only */

static const char json_1k[] =
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1024}}";

static uint8_t pat(size_t i, unsigned seed)
{
	return (uint8_t)(i * 13 + seed);
}

static int memfd(size_t size)
{
	int fd = memfd_create("dma-engine", MFD_CLOEXEC);

	ASSERT_NONNEG(fd);
	ASSERT_OK(ftruncate(fd, (off_t)size));
	return fd;
}

/* The standard windows; returns the memfd behind FD_IOVA (still ours). */
static int map_windows(struct rig *r)
{
	int fd = memfd(WIN_SIZE), dup1 = dup(fd), ro = memfd(0x1000);

	ASSERT_OK(rig_dma_map(r, FD_IOVA, WIN_SIZE, RW, dup1, 0));
	close(dup1);
	ASSERT_OK(rig_dma_map(r, FDLESS_IOVA, WIN_SIZE, RW, -1, 0));
	ASSERT_OK(rig_dma_map(r, RO_IOVA, 0x1000, R, -1, 0));
	ASSERT_OK(rig_dma_map(r, RO_FD_IOVA, 0x1000, R, ro, 0));
	close(ro);
	return fd;
}

static uint64_t dma_msgs(struct vus_dev *dev)
{
	struct vus_dev_stats st;

	vus_dev_get_stats(dev, &st);
	return st.dma_msgs;
}

/* ---- a device thread doing synchronous DMA -------------------------- */

struct worker {
	pthread_t th;
	struct vus_dev *dev;
	bool is_write;
	uint64_t iova;
	uint8_t *buf;
	size_t len;
	int rc;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->rc = w->is_write ? vus_dma_write(w->dev, w->iova, w->buf, w->len)
			    : vus_dma_read(w->dev, w->iova, w->buf, w->len);
	return NULL;
}

static void *release_main(void *arg)
{
	struct worker *w = arg;

	w->rc = vus_dma_write_release(w->dev, w->iova, w->buf, w->len);
	return NULL;
}

static void worker_start(struct worker *w, struct vus_dev *dev, bool is_write, uint64_t iova,
			 uint8_t *buf, size_t len)
{
	*w = (struct worker){ .dev = dev, .is_write = is_write, .iova = iova, .buf = buf,
			      .len = len, .rc = 1 };
	ASSERT_OK(pthread_create(&w->th, NULL, worker_main, w));
}

static int worker_join(struct worker *w)
{
	pthread_join(w->th, NULL);
	return w->rc;
}

/* ---- the peer's side of DMA_READ / DMA_WRITE ------------------------ */

/* Receive one DMA request and check its bytes for the layout. */
static void recv_req(struct rig *r, bool qemu, unsigned cmd, uint64_t addr, uint32_t count,
		     struct raw_msg *m)
{
	size_t data = cmd == VUS_CMD_DMA_WRITE ? count : 0;

	ASSERT_OK(raw_recv(r->peer, m, 5000));
	ASSERT_EQ(m->hdr.cmd, cmd);
	/* A command wanting a reply: never NO_REPLY, never ERROR. */
	ASSERT_EQ(m->hdr.flags, VUS_F_TYPE_COMMAND);
	ASSERT_EQ(m->hdr.error, 0);
	ASSERT_EQ(m->nfds, 0);
	/* Both layouts: 16 fixed payload bytes plus the data. */
	ASSERT_EQ(m->len, 16 + data);
	ASSERT_EQ(raw_u64(m, 0), addr);
	if (qemu) {
		ASSERT_EQ(raw_u32(m, 8), count);
		/* QEMU's struct is padded: 4 zero bytes after the data. */
		ASSERT_EQ(raw_u32(m, 12 + data), 0);
	} else {
		ASSERT_EQ(raw_u64(m, 8), count);
	}
}

static const uint8_t *req_data(const struct raw_msg *m, bool qemu)
{
	return m->payload + (qemu ? 12 : 16);
}

static void reply_write(struct rig *r, const struct raw_msg *req, bool qemu)
{
	/* Spec: the 16-byte echo; QEMU: a bare header. */
	ASSERT_OK(raw_send(r->peer, req->hdr.id, VUS_CMD_DMA_WRITE, VUS_F_TYPE_REPLY,
			   req->payload, qemu ? 0 : 16, NULL, 0));
}

static void reply_read(struct rig *r, const struct raw_msg *req, bool qemu, const uint8_t *data)
{
	uint32_t count = qemu ? raw_u32(req, 8) : (uint32_t)raw_u64(req, 8);
	size_t off = qemu ? 12 : 16;
	uint8_t *p = calloc(1, 16 + count);

	assert_non_null(p);
	memcpy(p, req->payload, off);
	memcpy(p + off, data, count);
	ASSERT_OK(raw_send(r->peer, req->hdr.id, VUS_CMD_DMA_READ, VUS_F_TYPE_REPLY, p,
			   16 + count, NULL, 0));
	free(p);
}

static void reply_error(struct rig *r, const struct raw_msg *req, uint32_t err)
{
	uint8_t h[16];
	struct vus_hdr hdr = {
		.id = req->hdr.id, .cmd = req->hdr.cmd, .size = 16,
		.flags = VUS_F_TYPE_REPLY | VUS_F_ERROR, .error = err,
	};

	vus_hdr_encode(h, &hdr);
	ASSERT_OK(raw_send_bytes(r->peer, h, sizeof(h), NULL, 0));
}

/* ---- transfers over messages ---------------------------------------- */

static void sync_roundtrip(bool qemu)
{
	struct vus_dev *dev = rig_dev_new();
	uint8_t out[3000], in[3000], host[3000];
	struct raw_msg m[3];
	struct worker w;
	struct rig r;
	size_t i;
	int fd;

	if (qemu)
		ASSERT_OK(vus_dev_set_dma_layout(dev, VUS_DMA_LAYOUT_QEMU));
	rig_start(&r, dev, json_1k);
	ASSERT_EQ(vus_dev_dma_layout(dev), qemu ? VUS_DMA_LAYOUT_QEMU : VUS_DMA_LAYOUT_SPEC);
	fd = map_windows(&r);
	for (i = 0; i < sizeof(out); i++)
		out[i] = pat(i, 1);

	/* 3000 bytes to a client taking 1024 at a time: 1024, 1024, 952. */
	worker_start(&w, dev, true, FDLESS_IOVA + 100, out, sizeof(out));
	for (i = 0; i < 3; i++) {
		uint32_t count = i < 2 ? 1024 : 952;

		recv_req(&r, qemu, VUS_CMD_DMA_WRITE, FDLESS_IOVA + 100 + i * 1024, count, &m[i]);
		memcpy(host + i * 1024, req_data(&m[i], qemu), count);
	}
	for (i = 0; i < 3; i++) {
		reply_write(&r, &m[i], qemu);
		raw_msg_free(&m[i]);
	}
	ASSERT_OK(worker_join(&w));
	assert_memory_equal(host, out, sizeof(out));

	worker_start(&w, dev, false, FDLESS_IOVA + 100, in, sizeof(in));
	for (i = 0; i < 3; i++)
		recv_req(&r, qemu, VUS_CMD_DMA_READ, FDLESS_IOVA + 100 + i * 1024,
			 i < 2 ? 1024 : 952, &m[i]);
	/* Answered out of order: matched by id. */
	for (i = 3; i-- > 0;) {
		reply_read(&r, &m[i], qemu, host + i * 1024);
		raw_msg_free(&m[i]);
	}
	ASSERT_OK(worker_join(&w));
	assert_memory_equal(in, out, sizeof(in));
	ASSERT_EQ(dma_msgs(dev), 6);

	close(fd);
	rig_stop(&r);
}

static void test_sync_spec_layout(void **state)
{
	sync_roundtrip(false);
}

static void test_sync_qemu_layout(void **state)
{
	sync_roundtrip(true);
}

static void test_auto_layout_follows_qemu_fingerprint(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	uint8_t out[64] = { 1, 2, 3 };
	struct raw_msg m;
	struct worker w;
	struct rig r;

	rig_start(&r, dev, raw_qemu_version_json);
	ASSERT_EQ(vus_dev_dma_layout(dev), VUS_DMA_LAYOUT_QEMU);
	close(map_windows(&r));
	worker_start(&w, dev, true, FDLESS_IOVA, out, sizeof(out));
	recv_req(&r, true, VUS_CMD_DMA_WRITE, FDLESS_IOVA, sizeof(out), &m);
	assert_memory_equal(req_data(&m, true), out, sizeof(out));
	reply_write(&r, &m, true);
	raw_msg_free(&m);
	ASSERT_OK(worker_join(&w));
	rig_stop(&r);
}

static void test_window_of_four_in_flight(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	static uint8_t out[10 * 1024];
	struct raw_msg m[10];
	struct worker w;
	struct rig r;
	unsigned got, done;

	rig_start(&r, dev, json_1k);
	close(map_windows(&r));
	worker_start(&w, dev, true, FDLESS_IOVA, out, sizeof(out));
	/* Four chunks, then nothing until one is answered. */
	for (got = 0; got < 4; got++)
		recv_req(&r, false, VUS_CMD_DMA_WRITE, FDLESS_IOVA + got * 1024, 1024, &m[got]);
	assert_true(raw_nothing_within(r.peer, 100));
	for (done = 0; done < 10; done++) {
		reply_write(&r, &m[done], false);
		raw_msg_free(&m[done]);
		if (got < 10) {
			recv_req(&r, false, VUS_CMD_DMA_WRITE, FDLESS_IOVA + got * 1024, 1024,
				 &m[got]);
			got++;
		}
	}
	ASSERT_OK(worker_join(&w));
	ASSERT_EQ(dma_msgs(dev), 10);
	rig_stop(&r);
}

static void test_error_reply_stops_transfer(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	static uint8_t in[8 * 1024], zero[1024];
	struct raw_msg m[4];
	struct worker w;
	struct rig r;
	unsigned i;

	rig_start(&r, dev, json_1k);
	close(map_windows(&r));
	worker_start(&w, dev, false, FDLESS_IOVA, in, sizeof(in));
	for (i = 0; i < 4; i++)
		recv_req(&r, false, VUS_CMD_DMA_READ, FDLESS_IOVA + i * 1024, 1024, &m[i]);
	/* The first chunk fails: no further chunk is sent, and the call
	 * returns once the outstanding ones are answered. */
	reply_error(&r, &m[0], EFAULT);
	assert_true(raw_nothing_within(r.peer, 100));
	for (i = 1; i < 4; i++)
		reply_read(&r, &m[i], false, zero);
	for (i = 0; i < 4; i++)
		raw_msg_free(&m[i]);
	ASSERT_ERR(worker_join(&w), -EFAULT);
	assert_true(raw_nothing_within(r.peer, 50));
	ASSERT_EQ(dma_msgs(dev), 4);
	rig_stop(&r);
}

static void test_mismatched_replies(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	uint8_t in[100], data[100] = { 7 }, bad[32] = { 0 };
	struct raw_msg m;
	struct worker w;
	struct rig r;

	rig_start(&r, dev, NULL);
	close(map_windows(&r));

	/* A reply nobody asked for is dropped; the real one still counts. */
	worker_start(&w, dev, false, FDLESS_IOVA, in, sizeof(in));
	recv_req(&r, false, VUS_CMD_DMA_READ, FDLESS_IOVA, sizeof(in), &m);
	ASSERT_OK(raw_send(r.peer, (uint16_t)(m.hdr.id + 1000), VUS_CMD_DMA_READ,
			   VUS_F_TYPE_REPLY, bad, sizeof(bad), NULL, 0));
	reply_read(&r, &m, false, data);
	raw_msg_free(&m);
	ASSERT_OK(worker_join(&w));
	assert_memory_equal(in, data, sizeof(in));

	/* Echo of another address: EPROTO (docs/protocol.md 4). */
	worker_start(&w, dev, false, FDLESS_IOVA, in, sizeof(in));
	recv_req(&r, false, VUS_CMD_DMA_READ, FDLESS_IOVA, sizeof(in), &m);
	rig_put_u64(m.payload, FDLESS_IOVA + 8);
	reply_read(&r, &m, false, data);
	raw_msg_free(&m);
	ASSERT_ERR(worker_join(&w), -EPROTO);

	/* The right id under the wrong command. */
	worker_start(&w, dev, true, FDLESS_IOVA, data, sizeof(data));
	recv_req(&r, false, VUS_CMD_DMA_WRITE, FDLESS_IOVA, sizeof(data), &m);
	ASSERT_OK(raw_send(r.peer, m.hdr.id, VUS_CMD_DMA_READ, VUS_F_TYPE_REPLY,
			   m.payload, 16, NULL, 0));
	raw_msg_free(&m);
	ASSERT_ERR(worker_join(&w), -EPROTO);

	/* A spec-layout DMA_WRITE answered QEMU-style (bare header). */
	worker_start(&w, dev, true, FDLESS_IOVA, data, sizeof(data));
	recv_req(&r, false, VUS_CMD_DMA_WRITE, FDLESS_IOVA, sizeof(data), &m);
	reply_write(&r, &m, true);
	raw_msg_free(&m);
	ASSERT_ERR(worker_join(&w), -EPROTO);

	/* The session survives all of it. */
	ASSERT_OK(rig_dma_map(&r, 0x900000, 0x1000, RW, -1, 0));
	rig_stop(&r);
}

static void test_disconnect_fails_with_enotconn(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	struct vus_dev_stats st;
	uint8_t in[64];
	struct raw_msg m;
	struct worker w;
	struct rig r;
	int i;

	rig_start(&r, dev, NULL);
	close(map_windows(&r));
	worker_start(&w, dev, false, FDLESS_IOVA, in, sizeof(in));
	recv_req(&r, false, VUS_CMD_DMA_READ, FDLESS_IOVA, sizeof(in), &m);
	raw_msg_free(&m);
	close(r.peer);
	r.peer = -1;
	ASSERT_ERR(worker_join(&w), -ENOTCONN);
	/* Every map went with the client. */
	for (i = 0; i < 200; i++) {
		vus_dev_get_stats(dev, &st);
		if (st.cur_maps == 0)
			break;
		test_sleep_ms(10);
	}
	ASSERT_EQ(st.cur_maps, 0);
	ASSERT_EQ(st.cur_mapped_bytes, 0);
	/* With nothing mapped any more, a copy finds no window. */
	ASSERT_ERR(vus_dma_read(dev, FDLESS_IOVA, in, sizeof(in)), -EFAULT);
	rig_stop(&r);
}

static void test_split_fd_and_fdless(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	uint8_t out[0x2000], in[0x2000], file[0x1000];
	struct raw_msg m;
	struct worker w;
	struct rig r;
	size_t i;
	int fd;

	rig_start(&r, dev, NULL);
	fd = map_windows(&r);
	for (i = 0; i < sizeof(out); i++)
		out[i] = pat(i, 5);
	/* [FD_IOVA + 0x3000, +0x2000): the first half lies in the memfd
	 * window and is copied; only the second half becomes a message. */
	worker_start(&w, dev, true, FD_IOVA + 0x3000, out, sizeof(out));
	recv_req(&r, false, VUS_CMD_DMA_WRITE, FDLESS_IOVA, 0x1000, &m);
	assert_memory_equal(req_data(&m, false), out + 0x1000, 0x1000);
	reply_write(&r, &m, false);
	raw_msg_free(&m);
	ASSERT_OK(worker_join(&w));
	ASSERT_EQ(pread(fd, file, sizeof(file), 0x3000), (ssize_t)sizeof(file));
	assert_memory_equal(file, out, sizeof(file));

	worker_start(&w, dev, false, FD_IOVA + 0x3000, in, sizeof(in));
	recv_req(&r, false, VUS_CMD_DMA_READ, FDLESS_IOVA, 0x1000, &m);
	reply_read(&r, &m, false, out + 0x1000);
	raw_msg_free(&m);
	ASSERT_OK(worker_join(&w));
	assert_memory_equal(in, out, sizeof(in));
	ASSERT_EQ(dma_msgs(dev), 2);

	/* Wholly fd-backed: no message at all. */
	ASSERT_OK(vus_dma_read(dev, FD_IOVA + 0x3000, in, 0x1000));
	assert_memory_equal(in, out, 0x1000);
	ASSERT_EQ(dma_msgs(dev), 2);
	close(fd);
	rig_stop(&r);
}

/* vus_dma_write_release: fd-backed, one copy; by message, one message. */
static void test_write_release(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	uint8_t out[16], file[16];
	struct raw_msg m;
	struct worker w;
	struct rig r;
	size_t i;
	int fd;

	rig_start(&r, dev, NULL);
	fd = map_windows(&r);
	for (i = 0; i < sizeof(out); i++)
		out[i] = pat(i, 9);
	ASSERT_OK(vus_dma_write_release(dev, FD_IOVA + 0x100, out, sizeof(out)));
	ASSERT_EQ(pread(fd, file, sizeof(file), 0x100), (ssize_t)sizeof(file));
	assert_memory_equal(file, out, sizeof(file));
	/* Last 4 bytes not 4-byte aligned: two copies, the same bytes. */
	out[0] ^= 0xff;
	ASSERT_OK(vus_dma_write_release(dev, FD_IOVA + 0x201, out, sizeof(out)));
	ASSERT_EQ(pread(fd, file, sizeof(file), 0x201), (ssize_t)sizeof(file));
	assert_memory_equal(file, out, sizeof(file));
	ASSERT_EQ(dma_msgs(dev), 0);

	/* Without fd: one DMA_WRITE carrying all 16 bytes. */
	w = (struct worker){ .dev = dev, .iova = FDLESS_IOVA + 0x10, .buf = out, .len = 16 };
	ASSERT_OK(pthread_create(&w.th, NULL, release_main, &w));
	recv_req(&r, false, VUS_CMD_DMA_WRITE, FDLESS_IOVA + 0x10, 16, &m);
	assert_memory_equal(req_data(&m, false), out, 16);
	reply_write(&r, &m, false);
	raw_msg_free(&m);
	ASSERT_OK(worker_join(&w));
	ASSERT_EQ(dma_msgs(dev), 1);

	ASSERT_ERR(vus_dma_write_release(dev, FD_IOVA, out, 3), -EINVAL);
	ASSERT_ERR(vus_dma_write_release(dev, RO_FD_IOVA, out, 16), -EACCES);
	ASSERT_ERR(vus_dma_write_release(dev, 0x50000, out, 16), -EFAULT);
	ASSERT_ERR(vus_dma_write_release(dev, UINT64_MAX - 4, out, 16), -EFAULT);
	close(fd);
	rig_stop(&r);
}

static int done_calls;

static void never_done(struct vus_dev *dev, void *arg, int result)
{
	done_calls++;
}

static void test_refusals(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	uint8_t buf[0x100] = { 0 };
	struct rig r;

	rig_start(&r, dev, NULL);
	close(map_windows(&r));
	done_calls = 0;
	ASSERT_ERR(vus_dma_read(dev, 0x50000, buf, 16), -EFAULT);
	/* Mapped up to a point, then a gap. */
	ASSERT_ERR(vus_dma_read(dev, FDLESS_IOVA + WIN_SIZE - 8, buf, 16), -EFAULT);
	ASSERT_ERR(vus_dma_write(dev, RO_IOVA, buf, 16), -EACCES);
	ASSERT_ERR(vus_dma_write(dev, RO_FD_IOVA, buf, 16), -EACCES);
	ASSERT_ERR(vus_dma_read(dev, UINT64_MAX - 4, buf, 16), -EFAULT);
	ASSERT_OK(vus_dma_read(dev, 0x50000, buf, 0));
	ASSERT_ERR(vus_dma_read_async(dev, 0x50000, buf, 16, never_done, NULL), -EFAULT);
	ASSERT_ERR(vus_dma_write_async(dev, RO_FD_IOVA, buf, 16, never_done, NULL), -EACCES);
	ASSERT_ERR(vus_dma_read_async(dev, FD_IOVA, buf, 16, NULL, NULL), -EINVAL);
	assert_true(raw_nothing_within(r.peer, 50));
	rig_stop(&r);
	ASSERT_EQ(done_calls, 0);
}

static void test_translate(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	uint8_t byte = 0x5a, got;
	struct rig r;
	uint8_t *p;
	int fd;

	rig_start(&r, dev, NULL);
	fd = map_windows(&r);
	p = vus_dma_translate(dev, FD_IOVA + 0x10, 0x100, RW);
	assert_non_null(p);
	*p = byte;
	ASSERT_EQ(pread(fd, &got, 1, 0x10), 1);
	ASSERT_EQ(got, byte);
	errno = 0;
	assert_null(vus_dma_translate(dev, FDLESS_IOVA, 16, R));
	ASSERT_ERR(errno, ENOTSUP);
	assert_null(vus_dma_translate(dev, RO_FD_IOVA, 16, W));
	ASSERT_ERR(errno, EACCES);
	assert_non_null(vus_dma_translate(dev, RO_FD_IOVA, 16, R));
	assert_null(vus_dma_translate(dev, FD_IOVA + WIN_SIZE - 8, 16, R));
	ASSERT_ERR(errno, EFAULT);
	assert_null(vus_dma_translate(dev, FD_IOVA, 16, 4));
	ASSERT_ERR(errno, EINVAL);
	close(fd);
	rig_stop(&r);
}

/* ---- on the loop thread --------------------------------------------- */

struct done_rec {
	int called;          /* atomic */
	int result;
	pthread_t thread;
	bool during_call;
};

struct loop_ctx {
	pthread_t loop;
	int sync_fdless, sync_fd;
	int async_fd, async_fdless;
	bool in_call;
	uint8_t sync_buf[16], async_buf[64], wdata[16];
	struct done_rec fd_done, fdless_done;
};

static struct loop_ctx lc;

static void rec_done(struct vus_dev *dev, void *arg, int result)
{
	struct done_rec *d = arg;

	d->result = result;
	d->thread = pthread_self();
	d->during_call = lc.in_call;
	__atomic_store_n(&d->called, d->called + 1, __ATOMIC_RELEASE);
}

/* A BAR write runs on the loop thread: try every kind of DMA from there. */
static int bar_write(struct vus_dev *dev, void *opaque, uint64_t offset, const void *buf,
		     uint32_t count)
{
	lc.loop = pthread_self();
	lc.sync_fdless = vus_dma_read(dev, FDLESS_IOVA, lc.sync_buf, sizeof(lc.sync_buf));
	lc.sync_fd = vus_dma_read(dev, FD_IOVA, lc.sync_buf, sizeof(lc.sync_buf));
	memset(lc.wdata, 0xee, sizeof(lc.wdata));
	lc.in_call = true;
	lc.async_fd = vus_dma_write_async(dev, FD_IOVA + 0x100, lc.wdata, sizeof(lc.wdata),
					  rec_done, &lc.fd_done);
	lc.in_call = false;
	lc.async_fdless = vus_dma_read_async(dev, FDLESS_IOVA, lc.async_buf,
					     sizeof(lc.async_buf), rec_done, &lc.fdless_done);
	return 0;
}

static int bar_read(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf,
		    uint32_t count)
{
	memset(buf, 0, count);
	return 0;
}

static bool wait_called(struct done_rec *d)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (__atomic_load_n(&d->called, __ATOMIC_ACQUIRE))
			return true;
		test_sleep_ms(10);
	}
	return false;
}

static void test_loop_thread_rules(void **state)
{
	static const struct vus_region_ops ops = { .read = bar_read, .write = bar_write };
	struct vus_dev *dev = rig_dev_new();
	uint8_t wr[16 + 4] = { 0 }, data[64], file[16];
	struct raw_msg m, reply;
	bool replied = false, requested = false;
	struct rig r;
	int fd, i;

	memset(&lc, 0, sizeof(lc));
	ASSERT_OK(vus_dev_setup_region(dev, 0, 0x1000, VUS_REGION_RW, &ops, NULL));
	rig_start(&r, dev, NULL);
	fd = map_windows(&r);
	for (i = 0; i < 64; i++)
		data[i] = pat((size_t)i, 9);

	/* REGION_WRITE of 4 bytes to BAR0: its reply and our DMA_READ may
	 * come in either order. */
	rig_put_u64(wr, 0);
	rig_put_u32(wr + 8, 0);
	rig_put_u32(wr + 12, 4);
	ASSERT_OK(raw_send(r.peer, 0x77, VUS_CMD_REGION_WRITE, VUS_F_TYPE_COMMAND, wr,
			   sizeof(wr), NULL, 0));
	while (!replied || !requested) {
		ASSERT_OK(raw_recv(r.peer, &m, 5000));
		if ((m.hdr.flags & VUS_F_TYPE_MASK) == VUS_F_TYPE_REPLY) {
			ASSERT_EQ(m.hdr.id, 0x77);
			ASSERT_EQ(m.hdr.flags & VUS_F_ERROR, 0);
			replied = true;
		} else {
			ASSERT_EQ(m.hdr.cmd, VUS_CMD_DMA_READ);
			ASSERT_EQ(raw_u64(&m, 0), FDLESS_IOVA);
			reply = m;
			m.payload = NULL;
			requested = true;
		}
		raw_msg_free(&m);
	}
	/* A synchronous copy needing messages would wait for a reply the
	 * loop itself must read: refused. fd-backed copies just happen. */
	ASSERT_EQ(lc.sync_fdless, -EDEADLK);
	ASSERT_EQ(lc.sync_fd, 0);
	ASSERT_EQ(lc.async_fd, 0);
	ASSERT_EQ(lc.async_fdless, 0);

	/* The fd-backed async copy completes on the loop, never inside the call. */
	assert_true(wait_called(&lc.fd_done));
	assert_false(lc.fd_done.during_call);
	ASSERT_EQ(lc.fd_done.result, 0);
	assert_true(pthread_equal(lc.fd_done.thread, lc.loop));
	ASSERT_EQ(pread(fd, file, sizeof(file), 0x100), (ssize_t)sizeof(file));
	assert_memory_equal(file, lc.wdata, sizeof(file));

	ASSERT_EQ(__atomic_load_n(&lc.fdless_done.called, __ATOMIC_ACQUIRE), 0);
	reply_read(&r, &reply, false, data);
	free(reply.payload);
	assert_true(wait_called(&lc.fdless_done));
	ASSERT_EQ(lc.fdless_done.result, 0);
	assert_true(pthread_equal(lc.fdless_done.thread, lc.loop));
	assert_memory_equal(lc.async_buf, data, sizeof(data));
	ASSERT_EQ(lc.fdless_done.called, 1);
	ASSERT_EQ(lc.fd_done.called, 1);
	close(fd);
	rig_stop(&r);
}

/* ---- DMA_MAP / DMA_UNMAP handlers ----------------------------------- */

struct map_log {
	int maps, unmaps;
	int fail_map;             /* -errno for the next map */
	uint64_t last_unmap_iova;
	bool unmap_saw_mapping;   /* vaddr still readable in the callback */
};

static int log_map(struct vus_dev *dev, void *opaque, const struct vus_dma_region *r)
{
	struct map_log *l = opaque;
	int rc = l->fail_map;

	l->fail_map = 0;
	if (!rc)
		l->maps++;
	return rc;
}

static void log_unmap(struct vus_dev *dev, void *opaque, const struct vus_dma_region *r)
{
	struct map_log *l = opaque;

	l->unmaps++;
	l->last_unmap_iova = r->iova;
	if (r->vaddr)
		l->unmap_saw_mapping = ((volatile uint8_t *)r->vaddr)[0] == 0;
}

static void unmap_payload(uint8_t p[24], uint32_t argsz, uint32_t flags, uint64_t iova,
			  uint64_t size)
{
	rig_put_u32(p, argsz);
	rig_put_u32(p + 4, flags);
	rig_put_u64(p + 8, iova);
	rig_put_u64(p + 16, size);
}

static void test_map_unmap_handlers(void **state)
{
	static const struct vus_dma_ops ops = { .map = log_map, .unmap = log_unmap };
	struct vus_dev *dev = rig_dev_new();
	struct map_log l = { 0 };
	struct vus_dev_stats st;
	struct raw_msg m;
	uint8_t p[32];
	struct rig r;
	int base, fd;

	ASSERT_OK(vus_dev_set_dma_ops(dev, &ops, &l));
	ASSERT_OK(vus_dev_set_dma_limits(dev, 3, 0x10000));
	ASSERT_ERR(vus_dev_set_dma_limits(dev, 0, 0), -EINVAL);
	rig_start(&r, dev, NULL);
	base = fdcount();

	/* The device refuses a map: its errno, the fd closed, nothing kept. */
	fd = memfd(0x1000);
	l.fail_map = -EPERM;
	ASSERT_ERR(rig_dma_map(&r, 0x1000, 0x1000, RW, fd, 0), -EPERM);
	ASSERT_EQ(l.unmaps, 0);
	close(fd);
	assert_true(fdcount_wait(base, 1000));
	ASSERT_OK(rig_dma_map(&r, 0x1000, 0x1000, RW, -1, 0));

	/* Errnos of the table (docs/protocol.md 3.2). */
	ASSERT_ERR(rig_dma_map(&r, 0x1800, 0x1000, RW, -1, 0), -EEXIST);
	ASSERT_ERR(rig_dma_map(&r, 0x8000, 0x1000, 0, -1, 0), -EINVAL);
	ASSERT_ERR(rig_dma_map(&r, 0x100000, 0x10000, RW, -1, 0), -ENOSPC);
	fd = memfd(0x1000);
	ASSERT_OK(rig_dma_map(&r, 0x2000, 0x1000, RW, fd, 0));
	ASSERT_OK(rig_dma_map(&r, 0x3000, 0x1000, RW, -1, 0));
	ASSERT_ERR(rig_dma_map(&r, 0x4000, 0x1000, RW, -1, 0), -ENOSPC);
	ASSERT_EQ(l.maps, 3);
	vus_dev_get_stats(dev, &st);
	ASSERT_EQ(st.dma_maps, 3);
	ASSERT_EQ(st.cur_maps, 3);
	ASSERT_EQ(st.cur_mapped_bytes, 0x3000);

	/* Exact match only; the reply echoes 24 bytes with argsz 24. */
	unmap_payload(p, 64, 0, 0x2000, 0x800);
	rig_expect(&r, VUS_CMD_DMA_UNMAP, p, 24, NULL, 0, ENOENT);
	unmap_payload(p, 64, 0, 0x2000, 0x1000);
	rig_call(&r, VUS_CMD_DMA_UNMAP, p, 24, NULL, 0, &m);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, 24);
	ASSERT_EQ(raw_u32(&m, 0), 24);
	ASSERT_EQ(raw_u32(&m, 4), 0);
	ASSERT_EQ(raw_u64(&m, 8), 0x2000);
	ASSERT_EQ(raw_u64(&m, 16), 0x1000);
	raw_msg_free(&m);
	ASSERT_EQ(l.unmaps, 1);
	ASSERT_EQ(l.last_unmap_iova, 0x2000);
	assert_true(l.unmap_saw_mapping);
	/* The fd went with the window, before the reply. */
	close(fd);
	ASSERT_EQ(fdcount(), base);

	/* ALL (QEMU's whole-space unmap); GET_DIRTY_BITMAP is retired. */
	unmap_payload(p, 24, VUS_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 0x1000, 0x1000);
	rig_expect(&r, VUS_CMD_DMA_UNMAP, p, 24, NULL, 0, ENOTSUP);
	unmap_payload(p, 24, VUS_DMA_UNMAP_FLAG_ALL, 0, 0);
	rig_expect(&r, VUS_CMD_DMA_UNMAP, p, 24, NULL, 0, 0);
	ASSERT_EQ(l.unmaps, 3);
	vus_dev_get_stats(dev, &st);
	ASSERT_EQ(st.dma_unmaps, 3);
	ASSERT_EQ(st.cur_maps, 0);
	ASSERT_EQ(st.cur_mapped_bytes, 0);
	rig_stop(&r);
}

static void test_disconnect_unmaps_with_callbacks(void **state)
{
	static const struct vus_dma_ops ops = { .map = log_map, .unmap = log_unmap };
	int base = fdcount(), i;
	struct vus_dev *dev = rig_dev_new();
	struct map_log l = { 0 };
	struct vus_dev_stats st;
	struct rig r;

	ASSERT_OK(vus_dev_set_dma_ops(dev, &ops, &l));
	rig_start(&r, dev, NULL);
	close(map_windows(&r));
	close(r.peer);
	r.peer = -1;
	/* The loop notices the EOF on its own and drops every window. */
	for (i = 0; i < 200; i++) {
		vus_dev_get_stats(dev, &st);
		if (st.cur_maps == 0)
			break;
		test_sleep_ms(10);
	}
	ASSERT_EQ(st.cur_maps, 0);
	rig_stop(&r);
	ASSERT_EQ(l.maps, 4);
	ASSERT_EQ(l.unmaps, 4);
	ASSERT_EQ(fdcount(), base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_spec_layout),
		cmocka_unit_test(test_sync_qemu_layout),
		cmocka_unit_test(test_auto_layout_follows_qemu_fingerprint),
		cmocka_unit_test(test_window_of_four_in_flight),
		cmocka_unit_test(test_error_reply_stops_transfer),
		cmocka_unit_test(test_mismatched_replies),
		cmocka_unit_test(test_disconnect_fails_with_enotconn),
		cmocka_unit_test(test_split_fd_and_fdless),
		cmocka_unit_test(test_write_release),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_translate),
		cmocka_unit_test(test_loop_thread_rules),
		cmocka_unit_test(test_map_unmap_handlers),
		cmocka_unit_test(test_disconnect_unmaps_with_callbacks),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
