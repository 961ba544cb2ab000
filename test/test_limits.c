/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every limit of docs/protocol.md section 6 that a client can run into,
 * hit on purpose: each gets a clean error (or, for the two that end a
 * session, a logged end), and the device keeps serving -- the same
 * connection where the limit only fails one command, the next client
 * where it ends the session.
 *
 * The device listens on a socket in a fresh directory and runs on its own
 * thread; the test speaks raw vfio-user (raw.h) as the client.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
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
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/device.h>

#include "clock.h"
#include "fdcount.h"
#include "le.h"
#include "raw.h"
#include "transport.h"
#include "vus_test.h"

#define TIMEOUT_MS 3000
#define BAR0_SIZE  0x10000u
#define MSIX_VECS  80u
#define IOVA       0x100000u

struct lim;
typedef void (*setup_fn)(struct lim *l);

struct lim {
	struct vus_dev *dev;
	char dir[64], path[128];
	pthread_t thread;
	uint8_t bar0[BAR0_SIZE];
	pthread_mutex_t lock;          /* guards what the loop thread records */
	char warn[16][256];            /* WARN and ERR log lines */
	unsigned nwarn;
	int dma_done, dma_result[8];   /* vus_dma_*_async completions */
	uint16_t next_id;
};

static void on_log(void *opaque, enum vus_log_level level, const char *msg)
{
	struct lim *l = opaque;

	if (level > VUS_LOG_WARN)
		return;
	pthread_mutex_lock(&l->lock);
	if (l->nwarn < 16)
		snprintf(l->warn[l->nwarn++], sizeof(l->warn[0]), "%s", msg);
	pthread_mutex_unlock(&l->lock);
}

/* True once a WARN/ERR line containing s was logged (waits up to ms). */
static bool logged(struct lim *l, const char *s, int ms)
{
	int64_t deadline = test_now_ms() + ms;

	for (;;) {
		bool found = false;
		unsigned i;

		pthread_mutex_lock(&l->lock);
		for (i = 0; i < l->nwarn && !found; i++)
			found = strstr(l->warn[i], s) != NULL;
		pthread_mutex_unlock(&l->lock);
		if (found)
			return true;
		if (test_now_ms() >= deadline) {
			for (i = 0; i < l->nwarn; i++)
				fprintf(stderr, "logged: %s\n", l->warn[i]);
			return false;
		}
		test_sleep_ms(5);
	}
}

static int bar_read(struct vus_dev *dev, void *opaque, uint64_t off, void *buf, uint32_t n)
{
	struct lim *l = opaque;

	memcpy(buf, l->bar0 + off, n);
	return 0;
}

static int bar_write(struct vus_dev *dev, void *opaque, uint64_t off, const void *buf,
		     uint32_t n)
{
	struct lim *l = opaque;

	memcpy(l->bar0 + off, buf, n);
	return 0;
}

static const struct vus_region_ops bar_ops = { .read = bar_read, .write = bar_write };

static void *loop_main(void *arg)
{
	struct lim *l = arg;

	vus_dev_run(l->dev);
	return NULL;
}

/* BAR0 64 KiB of RAM through callbacks, MSI-X with 80 vectors, 64 KiB
 * max transfer; setup (may be NULL) sets the limits under test. */
static void lim_start(struct lim *l, setup_fn setup)
{
	size_t i;

	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->next_id = 0x100;
	for (i = 0; i < BAR0_SIZE; i++)
		l->bar0[i] = (uint8_t)(i * 7);
	snprintf(l->dir, sizeof(l->dir), "/tmp/vus-limits-XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->path, sizeof(l->path), "%s/sock", l->dir);
	l->dev = vus_dev_new("limits");
	assert_non_null(l->dev);
	vus_dev_set_log(l->dev, on_log, l, VUS_LOG_WARN);
	ASSERT_OK(vus_dev_setup_region(l->dev, 0, BAR0_SIZE, VUS_REGION_RW, &bar_ops, l));
	ASSERT_OK(vus_dev_setup_irq(l->dev, VUS_PCI_MSIX_IRQ, MSIX_VECS));
	ASSERT_OK(vus_dev_set_max_data_xfer(l->dev, 0x10000));
	if (setup)
		setup(l);
	ASSERT_OK(vus_dev_listen(l->dev, l->path));
	ASSERT_OK(pthread_create(&l->thread, NULL, loop_main, l));
}

static void lim_stop(struct lim *l)
{
	vus_dev_stop(l->dev);
	pthread_join(l->thread, NULL);
	vus_dev_free(l->dev);
	rmdir(l->dir);
	pthread_mutex_destroy(&l->lock);
}

/* Connect and negotiate VERSION, retrying while the previous client is
 * still being torn down (a second connection is closed at once). */
static int lim_client(struct lim *l)
{
	int64_t deadline = test_now_ms() + TIMEOUT_MS;

	for (;;) {
		int fd = raw_connect(l->path);

		ASSERT_NONNEG(fd);
		if (raw_version(fd, 0, NULL, NULL) == 0)
			return fd;
		close(fd);
		assert_true(test_now_ms() < deadline);
		test_sleep_ms(5);
	}
}

/* A command and its reply; returns the reply's errno (0: success). */
static int call(struct lim *l, int fd, uint16_t cmd, const void *p, size_t len, const int *fds,
		unsigned nfds, struct raw_msg *out)
{
	uint16_t id = l->next_id++;
	struct raw_msg m;
	int err;

	ASSERT_OK(raw_send(fd, id, cmd, 0, p, len, fds, nfds));
	ASSERT_OK(raw_recv(fd, &m, TIMEOUT_MS));
	ASSERT_EQ(m.hdr.id, id);
	ASSERT_EQ(m.hdr.cmd, cmd);
	err = (m.hdr.flags & VUS_F_ERROR) ? (int)m.hdr.error : 0;
	if (out)
		*out = m;
	else
		raw_msg_free(&m);
	return err;
}

/* The device still answers: GET_INFO succeeds. */
static void still_serving(struct lim *l, int fd)
{
	uint8_t info[16] = { 16 };

	ASSERT_OK(call(l, fd, VUS_CMD_DEVICE_GET_INFO, info, sizeof(info), NULL, 0, NULL));
}

static int region_read(struct lim *l, int fd, uint32_t region, uint64_t off, uint32_t count)
{
	uint8_t p[16];

	le_put64(p, off);
	le_put32(p + 8, region);
	le_put32(p + 12, count);
	return call(l, fd, VUS_CMD_REGION_READ, p, sizeof(p), NULL, 0, NULL);
}

/* ---- message size --------------------------------------------------- */

static void test_message_size(void **state)
{
	const uint32_t max_msg = 16 + 0x10000 + 0x10000; /* serve.c: max_xfer + 64 KiB */
	uint8_t *big = calloc(1, max_msg);
	struct lim l;
	int fd;

	assert_non_null(big);
	lim_start(&l, NULL);
	fd = lim_client(&l);
	/* A transfer above max_data_xfer_size: E2BIG. */
	ASSERT_ERR(region_read(&l, fd, 0, 0, 0x10001), E2BIG);
	ASSERT_OK(region_read(&l, fd, 0, 0, 0x10000));
	/* A message above the maximum: body drained, E2BIG, stream in sync. */
	ASSERT_ERR(call(&l, fd, VUS_CMD_REGION_WRITE, big, max_msg - 16 + 1, NULL, 0, NULL),
		   E2BIG);
	ASSERT_ERR(call(&l, fd, VUS_CMD_REGION_WRITE, big, max_msg - 16, NULL, 0, NULL),
		   EINVAL); /* in size, but count 0 with a body: the codec's EINVAL */
	still_serving(&l, fd);
	close(fd);
	lim_stop(&l);
	free(big);
}

/* ---- fds per message -------------------------------------------------- */

/* Send bytes with n fds (any n: raw.h stops at 16). */
static void send_fds(int sock, const void *bytes, size_t len, const int *fds, unsigned n)
{
	size_t ctl = CMSG_SPACE(n * sizeof(int));
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(128 * sizeof(int))];
	} c;
	struct iovec iov = { (void *)bytes, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			      .msg_controllen = ctl };
	struct cmsghdr *cm;

	assert_true(n <= 128);
	memset(&c, 0, sizeof(c));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	ASSERT_EQ(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/* SET_IRQS MSI-X EVENTFD|TRIGGER for vectors [0, n) with n eventfds:
 * returns the reply's errno. Our eventfds are closed before return. */
static int set_irqs_fds(struct lim *l, int fd, unsigned n)
{
	uint8_t msg[16 + 20];
	struct vus_hdr h = { .id = l->next_id++, .cmd = VUS_CMD_DEVICE_SET_IRQS,
			     .size = sizeof(msg) };
	int efd[128];
	struct raw_msg m;
	unsigned i;
	int err;

	for (i = 0; i < n; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC);
		ASSERT_NONNEG(efd[i]);
	}
	vus_hdr_encode(msg, &h);
	le_put32(msg + 16, 20);
	le_put32(msg + 20, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER);
	le_put32(msg + 24, VUS_PCI_MSIX_IRQ);
	le_put32(msg + 28, 0);
	le_put32(msg + 32, n);
	send_fds(fd, msg, sizeof(msg), efd, n);
	for (i = 0; i < n; i++)
		close(efd[i]);
	ASSERT_OK(raw_recv(fd, &m, TIMEOUT_MS));
	ASSERT_EQ(m.hdr.id, h.id);
	err = (m.hdr.flags & VUS_F_ERROR) ? (int)m.hdr.error : 0;
	raw_msg_free(&m);
	return err;
}

/* Disable every MSI-X vector: the device closes the eventfds it kept. */
static void irqs_off(struct lim *l, int fd)
{
	uint8_t p[20];

	le_put32(p, 20);
	le_put32(p + 4, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER);
	le_put32(p + 8, VUS_PCI_MSIX_IRQ);
	le_put32(p + 12, 0);
	le_put32(p + 16, 0);
	ASSERT_OK(call(l, fd, VUS_CMD_DEVICE_SET_IRQS, p, sizeof(p), NULL, 0, NULL));
}

static void fds16(struct lim *l)
{
	ASSERT_ERR(vus_dev_set_max_msg_fds(l->dev, 15), -EINVAL);
	ASSERT_ERR(vus_dev_set_max_msg_fds(l->dev, 65), -EINVAL);
	ASSERT_OK(vus_dev_set_max_msg_fds(l->dev, 16));
}

static void test_fds_per_message(void **state)
{
	struct lim l;
	int fd, base;

	/* Default 64: more than the advertised 16 still fits, 65 does not. */
	lim_start(&l, NULL);
	ASSERT_ERR(vus_dev_set_max_msg_fds(l.dev, 32), -EBUSY);
	fd = lim_client(&l);
	base = fdcount();
	ASSERT_OK(set_irqs_fds(&l, fd, 64));
	irqs_off(&l, fd);
	ASSERT_ERR(set_irqs_fds(&l, fd, 65), EINVAL);
	assert_true(fdcount_wait(base, TIMEOUT_MS));
	still_serving(&l, fd);
	close(fd);
	lim_stop(&l);

	/* Limit 16: 17 fds are all closed and refused; 16 work. */
	lim_start(&l, fds16);
	fd = lim_client(&l);
	base = fdcount();
	ASSERT_ERR(set_irqs_fds(&l, fd, 17), EINVAL);
	assert_true(fdcount_wait(base, TIMEOUT_MS));
	ASSERT_OK(set_irqs_fds(&l, fd, 16));
	irqs_off(&l, fd);
	assert_true(fdcount_wait(base, TIMEOUT_MS));
	still_serving(&l, fd);
	close(fd);
	lim_stop(&l);
}

/* ---- DMA maps and mapped bytes ---------------------------------------- */

static int dma_map(struct lim *l, int fd, uint64_t iova, uint64_t size)
{
	uint8_t p[32] = { 0 };

	le_put32(p, 32);
	le_put32(p + 4, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE);
	le_put64(p + 16, iova);
	le_put64(p + 24, size);
	return call(l, fd, VUS_CMD_DMA_MAP, p, sizeof(p), NULL, 0, NULL);
}

static int dma_unmap(struct lim *l, int fd, uint64_t iova, uint64_t size)
{
	uint8_t p[24] = { 0 };

	le_put32(p, 24);
	le_put64(p + 8, iova);
	le_put64(p + 16, size);
	return call(l, fd, VUS_CMD_DMA_UNMAP, p, sizeof(p), NULL, 0, NULL);
}

#define LONG_JSON                                                                  \
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576},"     \
	"\"padding\":\"................................................................\"}"

static void maps2(struct lim *l)
{
	ASSERT_OK(vus_dev_set_dma_limits(l->dev, 2, 3 * 4096));
}

static void test_dma_maps(void **state)
{
	struct raw_msg v;
	struct lim l;
	int fd;

	lim_start(&l, maps2);
	fd = raw_connect(l.path);
	ASSERT_NONNEG(fd);
	/* The map limit is what VERSION advertises (a request long enough
	 * that the reply keeps max_dma_maps, protocol.md 3.1). */
	ASSERT_OK(raw_version(fd, 0, LONG_JSON, &v));
	assert_non_null(memmem(v.payload, v.len, "\"max_dma_maps\":2", 16));
	raw_msg_free(&v);

	ASSERT_OK(dma_map(&l, fd, 0x10000, 4096));
	ASSERT_OK(dma_map(&l, fd, 0x20000, 4096));
	ASSERT_ERR(dma_map(&l, fd, 0x30000, 4096), ENOSPC); /* maps */
	ASSERT_OK(dma_unmap(&l, fd, 0x10000, 4096));
	ASSERT_ERR(dma_map(&l, fd, 0x30000, 3 * 4096), ENOSPC); /* bytes */
	ASSERT_OK(dma_map(&l, fd, 0x30000, 2 * 4096));
	ASSERT_ERR(dma_map(&l, fd, 0x40000, 1), ENOSPC);
	still_serving(&l, fd);
	close(fd);
	lim_stop(&l);
}

/* ---- regions ----------------------------------------------------------- */

static int region_info(struct lim *l, int fd, uint32_t index)
{
	uint8_t p[32] = { 0 };

	le_put32(p, 32);
	le_put32(p + 8, index);
	return call(l, fd, VUS_CMD_DEVICE_GET_REGION_INFO, p, sizeof(p), NULL, 0, NULL);
}

static void regions(struct lim *l)
{
	/* QEMU refuses num_regions > 100 (docs/qemu.md "Device requirements"). */
	ASSERT_ERR(vus_dev_setup_region(l->dev, 100, 4096, VUS_REGION_RW, &bar_ops, l),
		   -EINVAL);
	ASSERT_OK(vus_dev_setup_region(l->dev, 99, 4096, VUS_REGION_RW, &bar_ops, l));
}

static void test_regions(void **state)
{
	struct lim l;
	int fd;

	lim_start(&l, NULL);
	fd = lim_client(&l);
	ASSERT_ERR(region_info(&l, fd, 9), EINVAL);
	ASSERT_ERR(region_info(&l, fd, UINT32_MAX), EINVAL);
	ASSERT_OK(region_info(&l, fd, 0));
	close(fd);
	lim_stop(&l);

	lim_start(&l, regions);
	fd = lim_client(&l);
	ASSERT_OK(region_info(&l, fd, 99));
	ASSERT_ERR(region_info(&l, fd, 100), EINVAL);
	still_serving(&l, fd);
	close(fd);
	lim_stop(&l);
}

/* ---- output queue ------------------------------------------------------ */

static void outq64k(struct lim *l)
{
	ASSERT_ERR(vus_dev_set_output_limit(l->dev, 4095), -EINVAL);
	ASSERT_OK(vus_dev_set_output_limit(l->dev, 0x10000));
}

/* Send n REGION_READs of count bytes, ids from id0, without reading. */
static int send_reads(int fd, uint16_t id0, unsigned n, uint32_t count)
{
	uint8_t p[16];
	unsigned i;

	le_put64(p, 0);
	le_put32(p + 8, 0);
	le_put32(p + 12, count);
	for (i = 0; i < n; i++) {
		int r = raw_send(fd, (uint16_t)(id0 + i), VUS_CMD_REGION_READ, 0, p, sizeof(p),
				 NULL, 0);

		if (r < 0)
			return r;
	}
	return 0;
}

/* A client that never reads: its session ends at the limit, logged; the
 * next client is served. */
static void test_output_queue_limit(void **state)
{
	struct lim l;
	int fd, r;

	lim_start(&l, outq64k);
	fd = lim_client(&l);
	/* 64 x 64 KiB replies: far more than socket buffers and queue hold.
	 * The session may end before all requests are sent. */
	r = send_reads(fd, 1, 64, 0x10000);
	assert_true(r == 0 || r == -EPIPE || r == -ECONNRESET);
	assert_true(logged(&l, "output queue over its limit", TIMEOUT_MS));
	assert_true(raw_closed_within(fd, TIMEOUT_MS));
	close(fd);

	fd = lim_client(&l);
	ASSERT_OK(region_read(&l, fd, 0, 0, 0x10000));
	close(fd);
	lim_stop(&l);
}

/* A client that reads late but within the limit gets every reply, in
 * order, intact. */
static void test_output_queue_order(void **state)
{
	enum { N = 48, COUNT = 0xf000 };
	struct lim l;
	unsigned i;
	int fd;

	lim_start(&l, NULL);
	fd = lim_client(&l);
	ASSERT_OK(send_reads(fd, 1000, N, COUNT));
	test_sleep_ms(100); /* let the server queue what the socket does not take */
	for (i = 0; i < N; i++) {
		struct raw_msg m;

		ASSERT_OK(raw_recv(fd, &m, TIMEOUT_MS));
		ASSERT_EQ(m.hdr.id, 1000 + i);
		ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
		ASSERT_EQ(m.len, 16 + COUNT);
		assert_memory_equal(m.payload + 16, l.bar0, COUNT);
		raw_msg_free(&m);
	}
	still_serving(&l, fd);
	close(fd);
	lim_stop(&l);
}

/*
 * The queue itself (transport.h, queued mode), on a socketpair with a
 * small buffer: sends never wait; a message with an fd is queued whole
 * with a dup of the fd, which arrives with that message's header; past
 * the limit a send fails ENOBUFS without sending a byte of it; a message
 * larger than the limit still enters an empty queue.
 */
struct reader {
	int fd, n, got, bad;
	const uint8_t *body;
	size_t len;
};

/* Read n messages: ids 0.., the body, an fd on message 1 only. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;

	for (r->got = 0; r->got < r->n; r->got++) {
		struct raw_msg m;

		if (raw_recv(r->fd, &m, TIMEOUT_MS) < 0) {
			r->bad++;
			break;
		}
		if (m.hdr.id != r->got || m.len != r->len || memcmp(m.payload, r->body, r->len) ||
		    m.nfds != (r->got == 1 ? 1u : 0u))
			r->bad++;
		raw_msg_free(&m);
	}
	return NULL;
}

static void test_output_queue_transport(void **state)
{
	static uint8_t body[20000];
	struct vus_hdr h = { .cmd = VUS_CMD_REGION_READ, .flags = VUS_F_TYPE_REPLY };
	struct iovec iov = { body, sizeof(body) };
	int sv[2], buf = 4096, efd, base, i, queued;
	struct vus_conn c;
	struct reader rd;
	pthread_t th;

	base = fdcount();
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)));
	ASSERT_OK(vus_conn_init(&c, sv[0], 1u << 20));
	vus_conn_set_out_limit(&c, 65536);
	for (i = 0; i < (int)sizeof(body); i++)
		body[i] = (uint8_t)i;

	/* Larger than the socket takes: the rest is queued, no waiting. */
	h.id = 0;
	ASSERT_OK(vus_conn_send(&c, &h, &iov, 1, NULL, 0));
	assert_true(vus_conn_out_pending(&c));
	/* An fd-carrying message behind it: queued with a dup. */
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_NONNEG(efd);
	h.id = 1;
	ASSERT_OK(vus_conn_send(&c, &h, &iov, 1, &efd, 1));
	close(efd);
	/* More until the limit: then ENOBUFS, and the queue is unchanged. */
	for (queued = 2; queued < 100; queued++) {
		uint64_t held = c.out_bytes;

		h.id = (uint16_t)queued;
		if (vus_conn_send(&c, &h, &iov, 1, NULL, 0) == -ENOBUFS) {
			ASSERT_EQ(c.out_bytes, held);
			break;
		}
	}
	assert_true(queued > 2 && queued < 100);
	assert_true(c.out_bytes <= 65536);

	/* The peer reads everything, in order, the fd with message 1, while
	 * we flush whenever the socket has room. */
	rd = (struct reader){ .fd = sv[1], .n = queued, .body = body, .len = sizeof(body) };
	ASSERT_OK(pthread_create(&th, NULL, reader_main, &rd));
	while (vus_conn_out_pending(&c)) {
		struct pollfd p = { .fd = sv[0], .events = POLLOUT };

		assert_true(poll(&p, 1, TIMEOUT_MS) == 1);
		ASSERT_OK(vus_conn_flush(&c));
	}
	pthread_join(th, NULL);
	ASSERT_EQ(rd.bad, 0);
	ASSERT_EQ(rd.got, queued);
	ASSERT_EQ(c.out_bytes, 0);
	ASSERT_EQ(c.out_fds, 0);

	/* Empty queue: one message above the limit is still accepted. */
	vus_conn_set_out_limit(&c, 4096);
	h.id = 500;
	ASSERT_OK(vus_conn_send(&c, &h, &iov, 1, NULL, 0));
	h.id = 501;
	ASSERT_ERR(vus_conn_send(&c, &h, &iov, 1, NULL, 0), -ENOBUFS);
	vus_conn_close(&c); /* frees what is queued */
	close(sv[1]);
	ASSERT_EQ(fdcount(), base);
}

/* ---- server -> client DMA requests ------------------------------------- */

static void dma_done(struct vus_dev *dev, void *arg, int result)
{
	struct lim *l = vus_dev_private(dev);

	(void)arg;
	pthread_mutex_lock(&l->lock);
	if (l->dma_done < 8)
		l->dma_result[l->dma_done] = result;
	l->dma_done++;
	pthread_mutex_unlock(&l->lock);
}

static bool dma_done_wait(struct lim *l, int n, int ms)
{
	int64_t deadline = test_now_ms() + ms;

	for (;;) {
		int got;

		pthread_mutex_lock(&l->lock);
		got = l->dma_done;
		pthread_mutex_unlock(&l->lock);
		if (got >= n)
			return true;
		if (test_now_ms() >= deadline)
			return false;
		test_sleep_ms(2);
	}
}

static void pending2(struct lim *l)
{
	vus_dev_set_private(l->dev, l);
	ASSERT_ERR(vus_dev_set_dma_request_limits(l->dev, 0, 0), -EINVAL);
	ASSERT_OK(vus_dev_set_dma_request_limits(l->dev, 2, 0));
}

/* Answer one spec-layout DMA_READ request with bytes of value fill. */
static void answer_dma_read(int fd, uint8_t fill)
{
	struct raw_msg req;
	uint8_t reply[16 + 64];
	uint64_t count;

	ASSERT_OK(raw_recv(fd, &req, TIMEOUT_MS));
	ASSERT_EQ(req.hdr.cmd, VUS_CMD_DMA_READ);
	count = raw_u64(&req, 8);
	assert_true(count <= 64);
	memcpy(reply, req.payload, 16);
	memset(reply + 16, fill, (size_t)count);
	ASSERT_OK(raw_send(fd, req.hdr.id, VUS_CMD_DMA_READ, VUS_F_TYPE_REPLY, reply,
			   16 + (size_t)count, NULL, 0));
	raw_msg_free(&req);
}

static void test_dma_pending(void **state)
{
	uint8_t buf[4][16], sync_buf[16];
	struct lim l;
	int fd;

	lim_start(&l, pending2);
	fd = lim_client(&l);
	ASSERT_OK(dma_map(&l, fd, IOVA, 4096));

	/* Two transfers the client has not answered fill the bound. */
	ASSERT_OK(vus_dma_read_async(l.dev, IOVA, buf[0], 16, dma_done, NULL));
	ASSERT_OK(vus_dma_read_async(l.dev, IOVA + 16, buf[1], 16, dma_done, NULL));
	ASSERT_ERR(vus_dma_read_async(l.dev, IOVA + 32, buf[2], 16, dma_done, NULL),
		   -EAGAIN);
	ASSERT_ERR(vus_dma_read(l.dev, IOVA, sync_buf, sizeof(sync_buf)), -EAGAIN);

	answer_dma_read(fd, 0x11);
	answer_dma_read(fd, 0x22);
	assert_true(dma_done_wait(&l, 2, TIMEOUT_MS));
	ASSERT_EQ(l.dma_result[0], 0);
	ASSERT_EQ(l.dma_result[1], 0);
	ASSERT_EQ(buf[0][0], 0x11);
	ASSERT_EQ(buf[1][15], 0x22);

	/* Finished transfers gave their slots back. */
	ASSERT_OK(vus_dma_read_async(l.dev, IOVA + 48, buf[3], 16, dma_done, NULL));
	answer_dma_read(fd, 0x33);
	assert_true(dma_done_wait(&l, 3, TIMEOUT_MS));
	ASSERT_EQ(l.dma_result[2], 0);
	ASSERT_EQ(buf[3][7], 0x33);
	still_serving(&l, fd);
	close(fd);
	lim_stop(&l);
}

static void timeout200(struct lim *l)
{
	vus_dev_set_private(l->dev, l);
	ASSERT_OK(vus_dev_set_dma_request_limits(l->dev, 8, 200));
}

/* A client that leaves a DMA_READ unanswered: after the timeout the
 * transfer fails ETIMEDOUT and the session ends; the next client works. */
static void test_dma_timeout(void **state)
{
	uint8_t buf[16];
	struct raw_msg req;
	int64_t t0;
	struct lim l;
	int fd;

	lim_start(&l, timeout200);
	fd = lim_client(&l);
	ASSERT_OK(dma_map(&l, fd, IOVA, 4096));
	t0 = test_now_ms();
	ASSERT_OK(vus_dma_read_async(l.dev, IOVA, buf, sizeof(buf), dma_done, NULL));
	ASSERT_OK(raw_recv(fd, &req, TIMEOUT_MS));
	ASSERT_EQ(req.hdr.cmd, VUS_CMD_DMA_READ);
	raw_msg_free(&req);
	assert_true(dma_done_wait(&l, 1, TIMEOUT_MS));
	assert_true(test_now_ms() - t0 >= 190);
	ASSERT_ERR(l.dma_result[0], -ETIMEDOUT);
	assert_true(logged(&l, "unanswered for 200 ms", TIMEOUT_MS));
	assert_true(raw_closed_within(fd, TIMEOUT_MS));
	close(fd);

	/* The next client, answering in time, gets its DMA done. */
	fd = lim_client(&l);
	ASSERT_OK(dma_map(&l, fd, IOVA, 4096));
	ASSERT_OK(vus_dma_read_async(l.dev, IOVA, buf, sizeof(buf), dma_done, NULL));
	answer_dma_read(fd, 0x44);
	assert_true(dma_done_wait(&l, 2, TIMEOUT_MS));
	ASSERT_EQ(l.dma_result[1], 0);
	ASSERT_EQ(buf[0], 0x44);
	/* Well past the first deadline: the old timer did not end this one. */
	test_sleep_ms(300);
	still_serving(&l, fd);
	close(fd);
	lim_stop(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_size),
		cmocka_unit_test(test_fds_per_message),
		cmocka_unit_test(test_dma_maps),
		cmocka_unit_test(test_regions),
		cmocka_unit_test(test_output_queue_limit),
		cmocka_unit_test(test_output_queue_order),
		cmocka_unit_test(test_output_queue_transport),
		cmocka_unit_test(test_dma_pending),
		cmocka_unit_test(test_dma_timeout),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
