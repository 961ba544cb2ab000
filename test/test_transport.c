/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/transport.c over real socketpairs: framing, batching (one recvmsg
 * per request), fd attribution, oversized-message skipping, EOF, bad
 * headers, sending with partial writes and timeouts. Every test that
 * passes fds checks /proc/self/fd for leaks.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "efd.h"
#include "fdcount.h"
#include "transport.h"
#include "vus_test.h"

#define BIG_PAYLOAD (1u << 20)
#define BIG_MAX_MSG (VUS_HDR_SIZE + BIG_PAYLOAD + 65536u)
#define WAIT_MS 5000

/* ---- helpers -------------------------------------------------------- */

static int count_fds(void)
{
	int n = fdcount();

	ASSERT_NONNEG(n);
	return n;
}

struct pair {
	struct vus_conn c; /* the side under test */
	int peer;          /* raw, blocking */
};

static void pair_open(struct pair *p, uint32_t max_msg)
{
	int sv[2];

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_conn_init(&p->c, sv[0], max_msg));
	p->peer = sv[1];
}

static void pair_close(struct pair *p)
{
	vus_conn_close(&p->c);
	if (p->peer >= 0)
		close(p->peer);
	p->peer = -1;
}

static uint8_t pattern(uint64_t seed, size_t i)
{
	return (uint8_t)((i * 131u + seed * 7u + (i >> 8)) & 0xff);
}

/* Build header + payload_len pattern bytes at buf; returns the length. */
static size_t make_msg(uint8_t *buf, uint16_t id, uint16_t cmd, uint32_t flags,
		       size_t payload_len, uint64_t seed)
{
	struct vus_hdr h = {
		.id = id,
		.cmd = cmd,
		.size = (uint32_t)(VUS_HDR_SIZE + payload_len),
		.flags = flags,
	};
	size_t i;

	vus_hdr_encode(buf, &h);
	for (i = 0; i < payload_len; i++)
		buf[VUS_HDR_SIZE + i] = pattern(seed, i);
	return VUS_HDR_SIZE + payload_len;
}

static void check_payload(const struct vus_rx_msg *m, size_t len, uint64_t seed)
{
	size_t i;

	ASSERT_EQ(m->v.len, len);
	for (i = 0; i < len; i++)
		if (m->v.payload[i] != pattern(seed, i))
			fail_msg("payload byte %zu of %zu: %u != %u", i, len, m->v.payload[i],
				 pattern(seed, i));
}

/* Blocking write of all bytes, fds on the first sendmsg. */
static void send_raw(int fd, const void *data, size_t len, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(128 * sizeof(int))];
	} ctrl;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(nfds <= 128);
	if (nfds) {
		struct cmsghdr *cm;

		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	while (iov.iov_len > 0) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		iov.iov_base = (uint8_t *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
	}
}

/* vus_conn_recv until it returns non-zero, waiting for readability. */
static int recv_wait(struct vus_conn *c, struct vus_rx_msg *m)
{
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int r = vus_conn_recv(c, m);

		if (r != 0)
			return r;
		if (poll(&pfd, 1, WAIT_MS) != 1)
			fail_msg("no message within %d ms", WAIT_MS);
	}
}

/* vus_conn_recv must find nothing more (after the peer is quiet). */
static void expect_nothing(struct vus_conn *c)
{
	struct vus_rx_msg m;

	assert_false(vus_conn_has_buffered(c));
	ASSERT_OK(vus_conn_recv(c, &m));
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	ASSERT_OK(fstat(a, &sa));
	ASSERT_OK(fstat(b, &sb));
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A peer thread writing a byte stream in random pieces. */
struct writer {
	pthread_t th;
	int fd;
	const uint8_t *data;
	size_t len;
	unsigned max_piece;
	unsigned seed;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	size_t off = 0;
	unsigned n = 0;

	while (off < w->len) {
		size_t piece = 1 + (size_t)rand_r(&w->seed) % w->max_piece;
		ssize_t r;

		if (piece > w->len - off)
			piece = w->len - off;
		r = send(w->fd, w->data + off, piece, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return (void *)(intptr_t)-1;
		off += (size_t)r;
		if (++n % 64 == 0)
			usleep((useconds_t)(rand_r(&w->seed) % 100));
		else
			sched_yield();
	}
	return NULL;
}

static void writer_start(struct writer *w, int fd, const uint8_t *data, size_t len,
			 unsigned max_piece, unsigned seed)
{
	w->fd = fd;
	w->data = data;
	w->len = len;
	w->max_piece = max_piece;
	w->seed = seed;
	ASSERT_OK(pthread_create(&w->th, NULL, writer_main, w));
}

static void writer_join(struct writer *w)
{
	void *ret;

	ASSERT_OK(pthread_join(w->th, &ret));
	assert_null(ret);
}

/* ---- receive: batching ------------------------------------------------ */

/* A lone request costs exactly one recvmsg (the benchmark's fast path). */
static void test_one_request_one_syscall(void **state)
{
	struct pair p;
	struct vus_rx_msg m;
	uint8_t buf[64];
	size_t len = make_msg(buf, 1, VUS_CMD_REGION_READ, 0, 16, 1);

	pair_open(&p, 4096);
	send_raw(p.peer, buf, len, NULL, 0);
	ASSERT_EQ(vus_conn_recv(&p.c, &m), 1);
	ASSERT_EQ(p.c.rx_syscalls, 1);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_EQ(m.v.hdr.cmd, VUS_CMD_REGION_READ);
	ASSERT_EQ(m.v.nfds, 0);
	ASSERT_EQ(m.status, 0);
	check_payload(&m, 16, 1);
	pair_close(&p);
}

/* Many small messages in one write: one recvmsg, then none per message. */
static void test_small_batch(void **state)
{
	enum { N = 100 };
	static uint8_t buf[N * (VUS_HDR_SIZE + N)];
	struct pair p;
	struct vus_rx_msg m;
	size_t len = 0;
	unsigned i;

	for (i = 0; i < N; i++)
		len += make_msg(buf + len, (uint16_t)i, VUS_CMD_REGION_WRITE, 0, i, i);
	pair_open(&p, 4096);
	send_raw(p.peer, buf, len, NULL, 0);

	assert_false(vus_conn_has_buffered(&p.c));
	for (i = 0; i < N; i++) {
		if (i > 0)
			assert_true(vus_conn_has_buffered(&p.c));
		ASSERT_EQ(vus_conn_recv(&p.c, &m), 1);
		ASSERT_EQ(p.c.rx_syscalls, 1);
		ASSERT_EQ(p.c.rx_bytes, len);
		ASSERT_EQ(m.v.hdr.id, i);
		ASSERT_EQ(m.v.hdr.size, VUS_HDR_SIZE + i);
		check_payload(&m, i, i);
	}
	ASSERT_EQ(p.c.rx_msgs, N);
	expect_nothing(&p.c);
	ASSERT_EQ(p.c.rx_syscalls, 2);
	pair_close(&p);
}

/* A message split across reads, header included, and a zero-length body. */
static void test_split_header(void **state)
{
	uint8_t buf[128];
	struct pair p;
	struct vus_rx_msg m;
	size_t len = make_msg(buf, 5, VUS_CMD_DEVICE_RESET, 0, 0, 0);

	len += make_msg(buf + len, 6, VUS_CMD_REGION_WRITE, 0, 40, 6);
	pair_open(&p, 4096);
	send_raw(p.peer, buf, 7, NULL, 0);
	ASSERT_OK(vus_conn_recv(&p.c, &m));
	send_raw(p.peer, buf + 7, 30, NULL, 0);
	ASSERT_EQ(vus_conn_recv(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 5);
	ASSERT_EQ(m.v.len, 0);
	ASSERT_OK(vus_conn_recv(&p.c, &m));
	send_raw(p.peer, buf + 37, len - 37, NULL, 0);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 6);
	check_payload(&m, 40, 6);
	expect_nothing(&p.c);
	pair_close(&p);
}

/*
 * 100 rounds of a small message and a 1 MiB + 16 message, written by a
 * thread in random 1..4096-byte pieces that cut across message
 * boundaries: every message arrives whole and in order.
 */
static void test_big_pieces(void **state)
{
	enum { ROUNDS = 100, SMALL = 24 };
	size_t round_len = 2 * VUS_HDR_SIZE + SMALL + BIG_PAYLOAD;
	uint8_t *stream = malloc(round_len);
	struct pair p;
	unsigned r;

	assert_non_null(stream);
	pair_open(&p, BIG_MAX_MSG);
	for (r = 0; r < ROUNDS; r++) {
		struct writer w;
		struct vus_rx_msg m;
		size_t off;

		off = make_msg(stream, (uint16_t)(2 * r), VUS_CMD_REGION_READ, 0, SMALL, r);
		make_msg(stream + off, (uint16_t)(2 * r + 1), VUS_CMD_REGION_WRITE, 0, BIG_PAYLOAD,
			 r + 1000);
		writer_start(&w, p.peer, stream, round_len, 4096, r + 1);

		ASSERT_EQ(recv_wait(&p.c, &m), 1);
		ASSERT_EQ(m.status, 0);
		ASSERT_EQ(m.v.hdr.id, 2 * r);
		check_payload(&m, SMALL, r);
		ASSERT_EQ(recv_wait(&p.c, &m), 1);
		ASSERT_EQ(m.status, 0);
		ASSERT_EQ(m.v.hdr.id, 2 * r + 1);
		ASSERT_EQ(m.v.hdr.size, VUS_HDR_SIZE + BIG_PAYLOAD);
		assert_memory_equal(m.v.payload, stream + off + VUS_HDR_SIZE, BIG_PAYLOAD);
		writer_join(&w);
	}
	expect_nothing(&p.c);
	/* The buffer grew to the message, not beyond. */
	ASSERT_EQ(p.c.cap, VUS_HDR_SIZE + BIG_PAYLOAD);
	ASSERT_EQ(p.c.rx_msgs, 2 * ROUNDS);
	ASSERT_EQ(p.c.rx_bytes, (uint64_t)ROUNDS * round_len);
	pair_close(&p);
	free(stream);
}

/* ---- receive: fds ----------------------------------------------------- */

static void test_fd_one_and_three(void **state)
{
	int base = count_fds();
	struct pair p;
	struct vus_conn tx;
	struct vus_rx_msg m;
	struct vus_hdr h = { .id = 9, .cmd = VUS_CMD_DEVICE_SET_IRQS };
	uint8_t payload[20] = { 1, 2, 3 };
	struct iovec iov = { payload, sizeof(payload) };
	int fds[3] = { memfd_new(0), memfd_new(0), memfd_new(0) };
	unsigned i;

	pair_open(&p, 4096);
	ASSERT_OK(vus_conn_init(&tx, p.peer, 4096));
	p.peer = -1;

	ASSERT_OK(vus_conn_send(&tx, &h, &iov, 1, fds, 1));
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 9);
	ASSERT_EQ(m.v.nfds, 1);
	ASSERT_EQ(m.status, 0);
	assert_true(same_file(m.fds[0], fds[0]));
	ASSERT_EQ(m.fds[1], -1);
	assert_memory_equal(m.v.payload, payload, sizeof(payload));
	vus_rx_msg_close_fds(&m);
	ASSERT_EQ(m.fds[0], -1);

	h.id = 10;
	ASSERT_OK(vus_conn_send(&tx, &h, &iov, 1, fds, 3));
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 10);
	ASSERT_EQ(m.v.nfds, 3);
	for (i = 0; i < 3; i++)
		assert_true(same_file(m.fds[i], fds[i]));
	ASSERT_EQ(m.fds[3], -1);
	vus_rx_msg_close_fds(&m);
	ASSERT_EQ(p.c.stray_fds, 0);

	for (i = 0; i < 3; i++)
		close(fds[i]);
	vus_conn_close(&tx);
	pair_close(&p);
	ASSERT_EQ(count_fds(), base);
}

/* Two fd-carrying messages sent back to back, both before any receive. */
static void test_fd_back_to_back(void **state)
{
	int base = count_fds();
	struct pair p;
	struct vus_rx_msg m;
	uint8_t a[64], b[64];
	size_t alen = make_msg(a, 1, VUS_CMD_DMA_MAP, 0, 32, 1);
	size_t blen = make_msg(b, 2, VUS_CMD_DMA_MAP, 0, 32, 2);
	int fa = memfd_new(0), fb = memfd_new(0);

	pair_open(&p, 4096);
	send_raw(p.peer, a, alen, &fa, 1);
	send_raw(p.peer, b, blen, &fb, 1);

	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_EQ(m.v.nfds, 1);
	assert_true(same_file(m.fds[0], fa));
	vus_rx_msg_close_fds(&m);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 2);
	ASSERT_EQ(m.v.nfds, 1);
	assert_true(same_file(m.fds[0], fb));
	vus_rx_msg_close_fds(&m);
	expect_nothing(&p.c);

	close(fa);
	close(fb);
	pair_close(&p);
	ASSERT_EQ(count_fds(), base);
}

/*
 * An fd-carrying message whose header arrives in the same recvmsg that
 * completes a previous, partially received message without fds.
 */
static void test_fd_after_partial(void **state)
{
	int base = count_fds();
	struct pair p;
	struct vus_rx_msg m;
	uint8_t a[256], b[64];
	size_t alen = make_msg(a, 1, VUS_CMD_REGION_WRITE, 0, 200, 1);
	size_t blen = make_msg(b, 2, VUS_CMD_DMA_MAP, 0, 32, 2);
	int fb = memfd_new(0);

	pair_open(&p, 4096);
	send_raw(p.peer, a, 20, NULL, 0);
	ASSERT_OK(vus_conn_recv(&p.c, &m));
	send_raw(p.peer, a + 20, alen - 20, NULL, 0);
	send_raw(p.peer, b, blen, &fb, 1);

	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_EQ(m.v.nfds, 0);
	check_payload(&m, 200, 1);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 2);
	ASSERT_EQ(m.v.nfds, 1);
	assert_true(same_file(m.fds[0], fb));
	vus_rx_msg_close_fds(&m);
	ASSERT_EQ(p.c.stray_fds, 0);
	expect_nothing(&p.c);

	close(fb);
	pair_close(&p);
	ASSERT_EQ(count_fds(), base);
}

/*
 * Message A's fds are pending (its body incomplete) when one recvmsg
 * brings the rest of A and message B with its own fds: each keeps its own.
 */
static void test_fd_pending_and_next(void **state)
{
	int base = count_fds();
	struct pair p;
	struct vus_rx_msg m;
	uint8_t a[1100], b[64];
	size_t alen = make_msg(a, 1, VUS_CMD_DEVICE_SET_IRQS, 0, 1000, 1);
	size_t blen = make_msg(b, 2, VUS_CMD_DMA_MAP, 0, 32, 2);
	int fa[2] = { memfd_new(0), memfd_new(0) }, fb = memfd_new(0);

	pair_open(&p, 4096);
	send_raw(p.peer, a, 116, fa, 2);
	ASSERT_OK(vus_conn_recv(&p.c, &m));
	send_raw(p.peer, a + 116, alen - 116, NULL, 0);
	send_raw(p.peer, b, blen, &fb, 1);

	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_EQ(m.v.nfds, 2);
	assert_true(same_file(m.fds[0], fa[0]));
	assert_true(same_file(m.fds[1], fa[1]));
	check_payload(&m, 1000, 1);
	vus_rx_msg_close_fds(&m);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 2);
	ASSERT_EQ(m.v.nfds, 1);
	assert_true(same_file(m.fds[0], fb));
	vus_rx_msg_close_fds(&m);
	ASSERT_EQ(p.c.stray_fds, 0);
	expect_nothing(&p.c);

	close(fa[0]);
	close(fa[1]);
	close(fb);
	pair_close(&p);
	ASSERT_EQ(count_fds(), base);
}

/*
 * The buffer's edge cuts the fd-carrying header: its first 6 bytes come
 * with the fds at the end of a full read, the rest after compaction.
 */
static void test_fd_header_at_buffer_edge(void **state)
{
	int base = count_fds();
	size_t alen_want = VUS_RX_BUF_MIN - 6;
	uint8_t *a = malloc(alen_want), b[64];
	struct pair p;
	struct vus_rx_msg m;
	size_t alen, blen;
	int fb = memfd_new(0);

	assert_non_null(a);
	alen = make_msg(a, 1, VUS_CMD_REGION_WRITE, 0, alen_want - VUS_HDR_SIZE, 1);
	blen = make_msg(b, 2, VUS_CMD_DMA_MAP, 0, 32, 2);
	pair_open(&p, 4096 + VUS_RX_BUF_MIN);
	send_raw(p.peer, a, alen, NULL, 0);
	send_raw(p.peer, b, blen, &fb, 1);

	ASSERT_EQ(vus_conn_recv(&p.c, &m), 1);
	ASSERT_EQ(p.c.rx_bytes, VUS_RX_BUF_MIN);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_EQ(m.v.nfds, 0);
	check_payload(&m, alen - VUS_HDR_SIZE, 1);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 2);
	ASSERT_EQ(m.v.nfds, 1);
	assert_true(same_file(m.fds[0], fb));
	check_payload(&m, 32, 2);
	vus_rx_msg_close_fds(&m);
	ASSERT_EQ(p.c.stray_fds, 0);
	expect_nothing(&p.c);

	close(fb);
	free(a);
	pair_close(&p);
	ASSERT_EQ(count_fds(), base);
}

/* fds attached to body bytes belong to no header: closed and counted. */
static void test_fd_on_body_is_stray(void **state)
{
	int base = count_fds();
	struct pair p;
	struct vus_rx_msg m;
	uint8_t a[256];
	size_t alen = make_msg(a, 1, VUS_CMD_REGION_WRITE, 0, 200, 1);
	int fa = memfd_new(0), fx = memfd_new(0), fy = memfd_new(0);

	pair_open(&p, 4096);
	/* Header alone, then body bytes with an fd. */
	send_raw(p.peer, a, VUS_HDR_SIZE, NULL, 0);
	ASSERT_OK(vus_conn_recv(&p.c, &m));
	send_raw(p.peer, a + VUS_HDR_SIZE, alen - VUS_HDR_SIZE, &fx, 1);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.nfds, 0);
	check_payload(&m, 200, 1);
	ASSERT_EQ(p.c.stray_fds, 1);

	/* The header's own fds stay with it; later fds on its body do not. */
	send_raw(p.peer, a, 50, &fa, 1);
	ASSERT_OK(vus_conn_recv(&p.c, &m));
	send_raw(p.peer, a + 50, alen - 50, &fy, 1);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.nfds, 1);
	assert_true(same_file(m.fds[0], fa));
	check_payload(&m, 200, 1);
	vus_rx_msg_close_fds(&m);
	ASSERT_EQ(p.c.stray_fds, 2);
	expect_nothing(&p.c);

	close(fa);
	close(fx);
	close(fy);
	pair_close(&p);
	ASSERT_EQ(count_fds(), base);
}

/* More fds than the control buffer holds: MSG_CTRUNC, all closed. */
static void test_fd_ctrunc(void **state)
{
	enum { NFDS = VUS_MAX_FDS_PER_MSG + 6 };
	int base = count_fds();
	struct pair p;
	struct vus_rx_msg m;
	uint8_t a[64], b[64];
	size_t alen = make_msg(a, 1, VUS_CMD_DEVICE_SET_IRQS, 0, 20, 1);
	size_t blen = make_msg(b, 2, VUS_CMD_DEVICE_SET_IRQS, 0, 20, 2);
	int fds[NFDS];
	unsigned i;

	fds[0] = memfd_new(0);
	for (i = 1; i < NFDS; i++) {
		fds[i] = dup(fds[0]);
		ASSERT_NONNEG(fds[i]);
	}
	pair_open(&p, 4096);
	send_raw(p.peer, a, alen, fds, NFDS);
	send_raw(p.peer, b, blen, fds, 2);

	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_ERR(m.status, -EMSGSIZE);
	ASSERT_EQ(m.v.nfds, 0);
	ASSERT_EQ(m.fds[0], -1);
	check_payload(&m, 20, 1);
	/* The stream is intact after it. */
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 2);
	ASSERT_EQ(m.status, 0);
	ASSERT_EQ(m.v.nfds, 2);
	vus_rx_msg_close_fds(&m);

	for (i = 0; i < NFDS; i++)
		close(fds[i]);
	pair_close(&p);
	ASSERT_EQ(count_fds(), base);
}

/* fds in two SCM_RIGHTS cmsgs of one sendmsg all reach the message. */
static void test_fd_two_cmsgs(void **state)
{
	int base = count_fds();
	struct pair p;
	struct vus_rx_msg m;
	uint8_t a[64];
	size_t alen = make_msg(a, 3, VUS_CMD_DEVICE_SET_IRQS, 0, 20, 3);
	int fds[3] = { memfd_new(0), memfd_new(0), memfd_new(0) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int)) + CMSG_SPACE(sizeof(int))];
	} ctrl;
	struct iovec iov = { a, alen };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf),
	};
	struct cmsghdr *cm;
	unsigned i;

	memset(&ctrl, 0, sizeof(ctrl));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, 2 * sizeof(int));
	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fds[2], sizeof(int));

	pair_open(&p, 4096);
	ASSERT_EQ(sendmsg(p.peer, &msg, 0), (ssize_t)alen);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.nfds, 3);
	for (i = 0; i < 3; i++)
		assert_true(same_file(m.fds[i], fds[i]));
	vus_rx_msg_close_fds(&m);

	for (i = 0; i < 3; i++)
		close(fds[i]);
	pair_close(&p);
	ASSERT_EQ(count_fds(), base);
}

/* ---- receive: oversized, EOF, bad headers ----------------------------- */

/* A 1 MiB message against max_msg 4096, arriving in pieces, is skipped. */
static void test_oversized_skipped(void **state)
{
	size_t big = VUS_HDR_SIZE + BIG_PAYLOAD;
	uint8_t *stream = malloc(big + 64);
	struct pair p;
	struct vus_rx_msg m;
	struct writer w;
	size_t len;

	assert_non_null(stream);
	len = make_msg(stream, 1, VUS_CMD_REGION_WRITE, 0, BIG_PAYLOAD, 1);
	len += make_msg(stream + len, 2, VUS_CMD_REGION_READ, 0, 16, 2);
	pair_open(&p, 4096);
	writer_start(&w, p.peer, stream, len, 4096, 7);

	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_ERR(m.status, -E2BIG);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_EQ(m.v.hdr.size, big);
	assert_null(m.v.payload);
	ASSERT_EQ(m.v.len, 0);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.status, 0);
	ASSERT_EQ(m.v.hdr.id, 2);
	check_payload(&m, 16, 2);
	writer_join(&w);
	expect_nothing(&p.c);
	/* Skipped bytes were never buffered. */
	ASSERT_EQ(p.c.cap, VUS_RX_BUF_MIN);
	ASSERT_EQ(p.c.rx_bytes, len);
	pair_close(&p);
	free(stream);
}

/*
 * Oversized but wholly buffered (max_msg below the buffer size): skipped
 * within the buffer, and the next message needs no syscall. With fds, the
 * oversized header still hands them to the caller.
 */
static void test_oversized_buffered(void **state)
{
	int base = count_fds();
	uint8_t buf[2048];
	struct pair p;
	struct vus_rx_msg m;
	size_t len = make_msg(buf, 1, VUS_CMD_REGION_WRITE, 0, 1000, 1);
	int fd = memfd_new(0);

	len += make_msg(buf + len, 2, VUS_CMD_REGION_READ, 0, 16, 2);
	pair_open(&p, 100);
	send_raw(p.peer, buf, len, NULL, 0);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_ERR(m.status, -E2BIG);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_EQ(m.v.nfds, 0);
	assert_true(vus_conn_has_buffered(&p.c));
	ASSERT_EQ(vus_conn_recv(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 2);
	check_payload(&m, 16, 2);
	ASSERT_EQ(p.c.rx_syscalls, 1);

	/* One sendmsg per message, the first with an fd. */
	send_raw(p.peer, buf, 1016, &fd, 1);
	send_raw(p.peer, buf + 1016, len - 1016, NULL, 0);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_ERR(m.status, -E2BIG);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_EQ(m.v.nfds, 1);
	assert_true(same_file(m.fds[0], fd));
	vus_rx_msg_close_fds(&m);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 2);
	ASSERT_EQ(m.v.nfds, 0);
	check_payload(&m, 16, 2);
	expect_nothing(&p.c);

	close(fd);
	pair_close(&p);
	ASSERT_EQ(count_fds(), base);
}

static void expect_reset_after(const uint8_t *bytes, size_t len, uint32_t max_msg,
			       int first)
{
	struct pair p;
	struct vus_rx_msg m;

	pair_open(&p, max_msg);
	if (len)
		send_raw(p.peer, bytes, len, NULL, 0);
	shutdown(p.peer, SHUT_WR);
	if (first)
		ASSERT_EQ(recv_wait(&p.c, &m), first);
	ASSERT_ERR(recv_wait(&p.c, &m), -ECONNRESET);
	/* And it stays that way. */
	ASSERT_ERR(vus_conn_recv(&p.c, &m), -ECONNRESET);
	pair_close(&p);
}

static void test_eof(void **state)
{
	uint8_t buf[256];
	size_t len = make_msg(buf, 1, VUS_CMD_REGION_WRITE, 0, 200, 1);

	expect_reset_after(buf, 0, 4096, 0);          /* clean EOF */
	expect_reset_after(buf, 10, 4096, 0);         /* mid-header */
	expect_reset_after(buf, 100, 4096, 0);        /* mid-body */
	expect_reset_after(buf, len, 4096, 1);        /* after a whole message */
	expect_reset_after(buf, 100, 64, 1);          /* mid-skip (-E2BIG first) */
}

static void expect_proto(uint32_t size, uint32_t flags)
{
	uint8_t buf[64];
	struct vus_hdr h = { .id = 1, .cmd = 1, .size = size, .flags = flags };
	struct pair p;
	struct vus_rx_msg m;
	size_t good = make_msg(buf, 9, VUS_CMD_REGION_READ, 0, 16, 9);

	vus_hdr_encode(buf + good, &h);
	pair_open(&p, 4096);
	send_raw(p.peer, buf, good + VUS_HDR_SIZE, NULL, 0);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 9);
	assert_true(vus_conn_has_buffered(&p.c));
	ASSERT_ERR(vus_conn_recv(&p.c, &m), -EPROTO);
	ASSERT_ERR(vus_conn_recv(&p.c, &m), -EPROTO);
	pair_close(&p);
}

static void test_bad_header(void **state)
{
	struct pair p;
	struct vus_rx_msg m;
	uint8_t buf[64];
	struct vus_hdr h = {
		.id = 4, .cmd = VUS_CMD_REGION_READ, .size = VUS_HDR_SIZE,
		.flags = VUS_F_TYPE_REPLY | VUS_F_ERROR, .error = EIO,
	};

	expect_proto(0, 0);
	expect_proto(15, 0);
	expect_proto(VUS_HDR_SIZE, 2);                  /* type 2 */
	expect_proto(VUS_HDR_SIZE, 0x40);               /* unknown flag */
	expect_proto(VUS_HDR_SIZE, VUS_F_ERROR);        /* command with ERROR */
	expect_proto(0xffffffffu, 0x80000000u);         /* bad flags beat E2BIG */

	/* A reply with ERROR is fine. */
	vus_hdr_encode(buf, &h);
	pair_open(&p, 4096);
	send_raw(p.peer, buf, VUS_HDR_SIZE, NULL, 0);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
	ASSERT_ERR(m.v.hdr.error, EIO);
	pair_close(&p);
}

/* ---- send -------------------------------------------------------------- */

struct slow_reader {
	pthread_t th;
	int fd;
	uint8_t *got;
	size_t want;
	int fd_reads;   /* reads that carried fds */
	int first_fds;  /* fds on the first read */
	int fd_rx[4];
};

static void *slow_reader_main(void *arg)
{
	struct slow_reader *s = arg;
	size_t off = 0;
	unsigned n = 0;

	while (off < s->want) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} ctrl;
		size_t chunk = s->want - off < 512 ? s->want - off : 512;
		struct iovec iov = { s->got + off, chunk };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf),
		};
		ssize_t r = recvmsg(s->fd, &msg, MSG_CMSG_CLOEXEC);
		struct cmsghdr *cm;

		if (r <= 0)
			return (void *)(intptr_t)-1;
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			if (cm->cmsg_type != SCM_RIGHTS)
				continue;
			s->fd_reads++;
			if (off == 0)
				s->first_fds = k;
			if (k > 4)
				k = 4;
			memcpy(s->fd_rx, CMSG_DATA(cm), (size_t)k * sizeof(int));
		}
		off += (size_t)r;
		if (++n % 16 == 0)
			usleep(200);
	}
	return NULL;
}

/* 1 MiB (two iovecs, one fd) to a peer reading 512 bytes at a time. */
static void test_send_slow_reader(void **state)
{
	int base = count_fds();
	size_t total = VUS_HDR_SIZE + 100 + BIG_PAYLOAD;
	uint8_t *data = malloc(BIG_PAYLOAD), head[100];
	struct slow_reader s = { .want = total, .fd_rx = { -1, -1, -1, -1 } };
	struct vus_hdr h = { .id = 77, .cmd = VUS_CMD_MIG_DATA_WRITE, .flags = VUS_F_NO_REPLY };
	struct vus_hdr got;
	struct iovec iov[2];
	struct pair p;
	int fd = memfd_new(0);
	size_t i;
	void *ret;

	assert_non_null(data);
	s.got = malloc(total);
	assert_non_null(s.got);
	for (i = 0; i < sizeof(head); i++)
		head[i] = (uint8_t)i;
	for (i = 0; i < BIG_PAYLOAD; i++)
		data[i] = pattern(5, i);
	iov[0] = (struct iovec){ head, sizeof(head) };
	iov[1] = (struct iovec){ data, BIG_PAYLOAD };

	pair_open(&p, 4096);
	s.fd = p.peer;
	ASSERT_OK(pthread_create(&s.th, NULL, slow_reader_main, &s));
	ASSERT_OK(vus_conn_send(&p.c, &h, iov, 2, &fd, 1));
	ASSERT_OK(pthread_join(s.th, &ret));
	assert_null(ret);

	ASSERT_EQ(h.size, total);
	vus_hdr_decode(s.got, &got);
	ASSERT_EQ(got.id, 77);
	ASSERT_EQ(got.cmd, VUS_CMD_MIG_DATA_WRITE);
	ASSERT_EQ(got.size, total);
	ASSERT_EQ(got.flags, VUS_F_NO_REPLY);
	assert_memory_equal(s.got + VUS_HDR_SIZE, head, sizeof(head));
	assert_memory_equal(s.got + VUS_HDR_SIZE + sizeof(head), data, BIG_PAYLOAD);
	/* The fd came once, with the header. */
	ASSERT_EQ(s.fd_reads, 1);
	ASSERT_EQ(s.first_fds, 1);
	assert_true(same_file(s.fd_rx[0], fd));
	close(s.fd_rx[0]);
	ASSERT_EQ(p.c.tx_bytes, total);
	ASSERT_EQ(p.c.tx_msgs, 1);

	close(fd);
	pair_close(&p);
	free(s.got);
	free(data);
	ASSERT_EQ(count_fds(), base);
}

/* Read exactly len bytes from a blocking fd. */
static void read_exact(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
}

/*
 * Queued mode, a 1 MiB reply whose data is an owned heap buffer: the
 * socket takes part, the queue keeps the buffer for the rest instead of
 * copying it (*owned cleared), and the peer still gets every byte in
 * order, followed by a later small reply. A second owned reply queued
 * behind it and dropped by close is freed (ASan/valgrind check that).
 */
static void test_send_reply_owned(void **state)
{
	struct vus_hdr req = { .id = 9, .cmd = VUS_CMD_REGION_READ };
	uint8_t echo[16] = { 1, 2, 3 }, *got, *data = malloc(BIG_PAYLOAD);
	void *owned = data;
	struct iovec iov[2] = { { echo, sizeof(echo) }, { data, BIG_PAYLOAD } };
	size_t total = VUS_HDR_SIZE + sizeof(echo) + BIG_PAYLOAD, i;
	struct vus_hdr h;
	struct pair p;

	assert_non_null(data);
	for (i = 0; i < BIG_PAYLOAD; i++)
		data[i] = pattern(11, i);
	pair_open(&p, 4096);
	vus_conn_set_out_limit(&p.c, 4u << 20);
	ASSERT_OK(vus_conn_send_reply_owned(&p.c, &req, iov, 2, NULL, 0, &owned));
	/* A socket buffer is far below 1 MiB: the tail was queued, uncopied. */
	assert_true(vus_conn_out_pending(&p.c));
	assert_null(owned);
	req.id = 10;
	ASSERT_OK(vus_conn_send_reply(&p.c, &req, iov, 1, NULL, 0));

	got = malloc(total);
	assert_non_null(got);
	/* Read the first message, flushing the queue from this thread as the
	 * socket drains (the loop's EPOLLOUT path does the same). */
	for (i = 0; i < total;) {
		ssize_t n;

		ASSERT_OK(vus_conn_flush(&p.c));
		n = recv(p.peer, got + i, total - i, MSG_DONTWAIT);
		if (n < 0) {
			ASSERT_ERR(errno, EAGAIN);
			continue;
		}
		assert_true(n > 0);
		i += (size_t)n;
	}
	vus_hdr_decode(got, &h);
	ASSERT_EQ(h.id, 9);
	ASSERT_EQ(h.size, total);
	assert_memory_equal(got + VUS_HDR_SIZE, echo, sizeof(echo));
	/* data belongs to the queue now (freed once sent): compare with the
	 * pattern, not with it. */
	for (i = 0; i < BIG_PAYLOAD; i++)
		if (got[VUS_HDR_SIZE + sizeof(echo) + i] != pattern(11, i))
			fail_msg("payload byte %zu differs", i);
	ASSERT_OK(vus_conn_flush(&p.c));
	read_exact(p.peer, got, VUS_HDR_SIZE + sizeof(echo));
	vus_hdr_decode(got, &h);
	ASSERT_EQ(h.id, 10);
	assert_false(vus_conn_out_pending(&p.c));

	/* Queued owned buffers are freed by close, unsent. */
	data = malloc(BIG_PAYLOAD);
	assert_non_null(data);
	memset(data, 0x5a, BIG_PAYLOAD);
	owned = data;
	iov[1].iov_base = data;
	ASSERT_OK(vus_conn_send_reply_owned(&p.c, &req, iov, 2, NULL, 0, &owned));
	assert_null(owned);
	pair_close(&p);
	free(got);
}

/* A peer that never reads: -ETIMEDOUT after send_timeout_ms. */
static void test_send_timeout(void **state)
{
	size_t len = 8u << 20;
	uint8_t *data = calloc(1, len);
	struct iovec iov = { data, len };
	struct vus_hdr h = { .cmd = VUS_CMD_DMA_WRITE };
	struct pair p;
	double t0, dt;

	assert_non_null(data);
	pair_open(&p, 4096);
	p.c.send_timeout_ms = 100;
	t0 = ((double)test_now_us() / 1000.0);
	ASSERT_ERR(vus_conn_send(&p.c, &h, &iov, 1, NULL, 0), -ETIMEDOUT);
	dt = ((double)test_now_us() / 1000.0) - t0;
	assert_true(dt >= 90.0);
	assert_true(dt < 3000.0);
	ASSERT_EQ(p.c.tx_msgs, 0);
	pair_close(&p);
	free(data);
}

static void test_send_errors(void **state)
{
	struct pair p;
	struct vus_hdr h = { .cmd = VUS_CMD_REGION_WRITE };
	uint8_t byte = 0;
	struct iovec huge[2] = { { &byte, UINT32_MAX - VUS_HDR_SIZE }, { &byte, 1 } };
	int fd = 0;

	pair_open(&p, 4096);
	/* The header's 32-bit size cannot describe it; nothing is sent. */
	ASSERT_ERR(vus_conn_send(&p.c, &h, huge, 2, NULL, 0), -EMSGSIZE);
	ASSERT_ERR(vus_conn_send(&p.c, &h, NULL, -1, NULL, 0), -EINVAL);
	ASSERT_ERR(vus_conn_send(&p.c, &h, NULL, 0, &fd, VUS_MAX_FDS_PER_MSG + 1),
		   -EINVAL);
	ASSERT_EQ(p.c.tx_bytes, 0);

	/* Peer gone: EPIPE, and no SIGPIPE kills us. */
	close(p.peer);
	p.peer = -1;
	ASSERT_ERR(vus_conn_send(&p.c, &h, NULL, 0, NULL, 0), -EPIPE);
	pair_close(&p);

	/* Closed conn: idempotent close, -EBADF afterwards. */
	{
		struct vus_rx_msg m;

		vus_conn_close(&p.c);
		ASSERT_ERR(vus_conn_recv(&p.c, &m), -EBADF);
		ASSERT_ERR(vus_conn_send(&p.c, &h, NULL, 0, NULL, 0), -EBADF);
		assert_false(vus_conn_has_buffered(&p.c));
	}
}

/* Many iovecs (beyond the on-stack array) and empty ones. */
static void test_send_many_iovecs(void **state)
{
	enum { N = 40 };
	uint8_t bytes[N];
	struct iovec iov[N];
	struct vus_hdr h = { .id = 3, .cmd = VUS_CMD_REGION_WRITE };
	struct vus_conn rx;
	struct vus_rx_msg m;
	struct pair p;
	unsigned i;

	for (i = 0; i < N; i++) {
		bytes[i] = (uint8_t)i;
		iov[i] = (struct iovec){ &bytes[i], i % 3 == 0 ? 0 : 1 };
	}
	pair_open(&p, 4096);
	ASSERT_OK(vus_conn_init(&rx, p.peer, 4096));
	p.peer = -1;
	ASSERT_OK(vus_conn_send(&p.c, &h, iov, N, NULL, 0));
	ASSERT_EQ(recv_wait(&rx, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 3);
	ASSERT_EQ(m.v.len, N - (N + 2) / 3);
	for (i = 0; i < m.v.len; i++)
		ASSERT_EQ(m.v.payload[i], (i / 2) * 3 + 1 + i % 2);
	vus_conn_close(&rx);
	pair_close(&p);
}

static void test_send_reply_and_error(void **state)
{
	struct pair p;
	struct vus_conn rx;
	struct vus_rx_msg m;
	struct vus_hdr req = { .id = 0xbeef, .cmd = VUS_CMD_REGION_READ, .size = 32,
			       .flags = 0, .error = 0 };
	uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct iovec iov = { data, sizeof(data) };

	pair_open(&p, 4096);
	ASSERT_OK(vus_conn_init(&rx, p.peer, 4096));
	p.peer = -1;

	ASSERT_OK(vus_conn_send_reply(&p.c, &req, &iov, 1, NULL, 0));
	ASSERT_EQ(recv_wait(&rx, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 0xbeef);
	ASSERT_EQ(m.v.hdr.cmd, VUS_CMD_REGION_READ);
	ASSERT_EQ(m.v.hdr.size, VUS_HDR_SIZE + sizeof(data));
	ASSERT_EQ(m.v.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.v.hdr.error, 0);
	assert_memory_equal(m.v.payload, data, sizeof(data));

	ASSERT_OK(vus_conn_send_error(&p.c, &req, ENOENT));
	ASSERT_EQ(recv_wait(&rx, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 0xbeef);
	ASSERT_EQ(m.v.hdr.size, VUS_HDR_SIZE);
	ASSERT_EQ(m.v.hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
	ASSERT_ERR(m.v.hdr.error, ENOENT);

	/* errno 0 would read as success in QEMU: sent as EINVAL. */
	ASSERT_OK(vus_conn_send_error(&p.c, &req, 0));
	ASSERT_EQ(recv_wait(&rx, &m), 1);
	ASSERT_ERR(m.v.hdr.error, EINVAL);
	ASSERT_OK(vus_conn_send_error(&p.c, &req, -5));
	ASSERT_EQ(recv_wait(&rx, &m), 1);
	ASSERT_ERR(m.v.hdr.error, EINVAL);

	ASSERT_EQ(p.c.tx_msgs, 4);
	ASSERT_EQ(rx.rx_msgs, 4);
	vus_conn_close(&rx);
	pair_close(&p);
}

/* init makes the socket non-blocking and leaves a failed fd to the caller. */
static void test_init(void **state)
{
	struct pair p;
	struct vus_conn c;

	pair_open(&p, 4096);
	assert_true(fcntl(p.c.fd, F_GETFL) & O_NONBLOCK);
	ASSERT_EQ(p.c.send_timeout_ms, 5000);
	ASSERT_EQ(p.c.cap, VUS_RX_BUF_MIN);
	pair_close(&p);

	ASSERT_ERR(vus_conn_init(&c, -1, 4096), -EBADF);
	vus_conn_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_one_request_one_syscall),
		cmocka_unit_test(test_small_batch),
		cmocka_unit_test(test_split_header),
		cmocka_unit_test(test_big_pieces),
		cmocka_unit_test(test_fd_one_and_three),
		cmocka_unit_test(test_fd_back_to_back),
		cmocka_unit_test(test_fd_after_partial),
		cmocka_unit_test(test_fd_pending_and_next),
		cmocka_unit_test(test_fd_header_at_buffer_edge),
		cmocka_unit_test(test_fd_on_body_is_stray),
		cmocka_unit_test(test_fd_ctrunc),
		cmocka_unit_test(test_fd_two_cmsgs),
		cmocka_unit_test(test_oversized_skipped),
		cmocka_unit_test(test_oversized_buffered),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_send_slow_reader),
		cmocka_unit_test(test_send_reply_owned),
		cmocka_unit_test(test_send_timeout),
		cmocka_unit_test(test_send_errors),
		cmocka_unit_test(test_send_many_iovecs),
		cmocka_unit_test(test_send_reply_and_error),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
