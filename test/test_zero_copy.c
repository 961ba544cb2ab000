/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Zero-copy bulk transfers (docs/performance.md "Zero-copy bulk
 * transfers"): a large REGION_WRITE's data received straight into the
 * memory backing the region, a REGION_READ reply sent straight from it.
 *
 * First the transport's sink over a socketpair (the mechanism: no buffer
 * growth, stream kept in sync, fds on the header refuse the offer, fds on
 * body bytes closed, a peer gone mid-body), then testdev's BAR1 (memory
 * backed) over a raw socket (the semantics and the hostile cases: data
 * past the region, a count that does not match the size, fds attached,
 * a client gone mid-payload, a reply queued while the socket is full).
 */
#define _GNU_SOURCE
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

#include <vus/codec.h>

#include "client_priv.h"
#include "dev_priv.h"
#include "fdcount.h"
#include "fixture.h"
#include "raw.h"
#include "test_server.h"
#include "transport.h"
#include "vus_test.h"

#define MIB (1u << 20)
#define HEAD 16u /* struct vus_region_access */
#define WAIT_MS 5000

static uint8_t pat(uint32_t seed, size_t i)
{
	return (uint8_t)((i * 131u + seed * 7u + (i >> 9)) & 0xff);
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = pat(seed, i);
}

/* The first index where p differs from pattern seed, or n. */
static size_t same_upto(const uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != pat(seed, i))
			return i;
	return n;
}

/* A REGION_WRITE of count bytes of pattern seed to region at offset. */
static uint8_t *make_write(uint16_t id, uint32_t region, uint64_t offset, uint32_t count,
			   uint32_t seed, size_t *len)
{
	struct vus_region_access ra = { .offset = offset, .region = region, .count = count };
	struct vus_hdr h = { .id = id, .cmd = VUS_CMD_REGION_WRITE,
			     .size = VUS_HDR_SIZE + HEAD + count };
	uint8_t *b = malloc(h.size);

	assert_non_null(b);
	vus_hdr_encode(b, &h);
	memcpy(b + VUS_HDR_SIZE, &ra, HEAD);
	fill(b + VUS_HDR_SIZE + HEAD, count, seed);
	*len = h.size;
	return b;
}

/* A peer thread sending bytes (blocking), then optionally closing. */
struct sender {
	pthread_t th;
	int fd;
	const uint8_t *p;
	size_t len;
	const int *fds;
	unsigned nfds;
	bool close_after;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	intptr_t rc = raw_send_bytes(s->fd, s->p, s->len, s->fds, s->nfds);

	if (s->close_after)
		close(s->fd);
	return (void *)rc;
}

static void sender_start(struct sender *s, int fd, const uint8_t *p, size_t len)
{
	s->fd = fd;
	s->p = p;
	s->len = len;
	ASSERT_OK(pthread_create(&s->th, NULL, sender_main, s));
}

static void sender_join(struct sender *s)
{
	void *ret;

	ASSERT_OK(pthread_join(s->th, &ret));
	ASSERT_OK((intptr_t)ret);
}

/* ---- the transport's sink ---------------------------------------------- */

struct sink_state {
	uint8_t *mem;
	size_t size;
	unsigned offers;
	bool decline;
	bool wrong_len;
};

/* Take REGION_WRITEs whose access fits mem (a stand-in for bulk.c). */
static int test_sink(void *opaque, const struct vus_hdr *h, const uint8_t *head,
		     struct vus_sink_dst *d)
{
	struct sink_state *s = opaque;
	struct vus_region_access ra;

	s->offers++;
	memcpy(&ra, head, sizeof(ra));
	if (s->decline || h->cmd != VUS_CMD_REGION_WRITE || ra.offset > s->size ||
	    ra.count > s->size - ra.offset || ra.count != h->size - VUS_HDR_SIZE - HEAD)
		return 0;
	*d = (struct vus_sink_dst){ .base = s->mem + ra.offset, .skip = HEAD,
				    .len = ra.count + (s->wrong_len ? 1 : 0) };
	return 1;
}

struct pair {
	struct vus_conn c;
	int peer;
	struct sink_state s;
};

static void pair_open(struct pair *p)
{
	int sv[2];
	struct vus_conn_sink sink = { .fn = test_sink, .opaque = &p->s, .head = HEAD };

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_conn_init(&p->c, sv[0], VUS_HDR_SIZE + 2 * MIB));
	vus_conn_set_sink(&p->c, &sink);
	p->peer = sv[1];
	memset(&p->s, 0, sizeof(p->s));
	p->s.size = 2 * MIB;
	p->s.mem = calloc(1, p->s.size);
	assert_non_null(p->s.mem);
}

static void pair_close(struct pair *p)
{
	vus_conn_close(&p->c);
	if (p->peer >= 0)
		close(p->peer);
	free(p->s.mem);
}

/* vus_conn_recv until non-zero, waiting for readability. */
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

/* A 1 MiB write lands in the sink's memory; the receive buffer never grows
 * to hold it, and the message after it is framed where it should be. */
static void sink_takes_body(void **state)
{
	struct pair p;
	struct sender snd = { 0 };
	struct vus_rx_msg m;
	size_t len, len2;
	uint8_t *w = make_write(1, 1, 4096, MIB, 3, &len);
	uint8_t *w2 = make_write(2, 1, 0, 100, 4, &len2); /* not a write: buffered */
	uint8_t *both = malloc(len + len2);

	(void)state;
	assert_non_null(both);
	memcpy(both, w, len);
	((struct vus_hdr *)(void *)w2)->cmd = VUS_CMD_DEVICE_GET_INFO;
	memcpy(both + len, w2, len2);
	pair_open(&p);
	sender_start(&snd, p.peer, both, len + len2);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 1);
	ASSERT_EQ(m.v.hdr.size, len);
	ASSERT_EQ(m.v.len, HEAD);
	ASSERT_EQ(m.bulk, MIB);
	assert_memory_equal(m.v.payload, w + VUS_HDR_SIZE, HEAD);
	ASSERT_EQ(same_upto(p.s.mem + 4096, MIB, 3), MIB);
	ASSERT_EQ(p.c.rx_bulk_bytes, MIB);
	/* The buffer stayed at its initial size: the body never passed it. */
	ASSERT_EQ(p.c.cap, VUS_RX_BUF_MIN);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 2);
	ASSERT_EQ(m.bulk, 0);
	ASSERT_EQ(m.v.len, HEAD + 100);
	ASSERT_EQ(same_upto(m.v.payload + HEAD, 100, 4), 100);
	sender_join(&snd);
	pair_close(&p);
	free(w);
	free(w2);
	free(both);
}

/* Large writes back to back: after the first (whose first read brought
 * part of its data with the header: copied once), each next header is read
 * alone, so no data byte passes the buffer. A small message ends that. */
static void sink_header_first(void **state)
{
	struct pair p;
	struct sender snd = { 0 };
	struct vus_rx_msg m;
	size_t len, lens = 0;
	uint8_t *w[3], *all;
	uint64_t copied;
	int i;

	(void)state;
	w[0] = make_write(1, 1, 0, MIB / 2, 5, &len);
	w[1] = make_write(2, 1, MIB / 2, MIB / 2, 6, &len);
	w[2] = make_write(3, 1, 0, 64, 7, &lens);
	((struct vus_hdr *)(void *)w[2])->cmd = VUS_CMD_DEVICE_GET_INFO;
	all = malloc(2 * len + lens);
	assert_non_null(all);
	memcpy(all, w[0], len);
	memcpy(all + len, w[1], len);
	memcpy(all + 2 * len, w[2], lens);
	pair_open(&p);
	sender_start(&snd, p.peer, all, 2 * len + lens);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.bulk, MIB / 2);
	copied = p.c.rx_bulk_copied;
	assert_true(p.c.bulk_recent);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 2);
	ASSERT_EQ(m.bulk, MIB / 2);
	ASSERT_EQ(p.c.rx_bulk_copied, copied);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 3);
	ASSERT_EQ(m.bulk, 0);
	ASSERT_EQ(m.v.len, HEAD + 64);
	assert_false(p.c.bulk_recent);
	ASSERT_EQ(same_upto(p.s.mem, MIB / 2, 5), MIB / 2);
	ASSERT_EQ(same_upto(p.s.mem + MIB / 2, MIB / 2, 6), MIB / 2);
	sender_join(&snd);
	pair_close(&p);
	for (i = 0; i < 3; i++)
		free(w[i]);
	free(all);
}

/* A sink that declines, or names memory of the wrong length: the message
 * comes whole through the buffer, as before. */
static void sink_declines(void **state)
{
	int round;

	(void)state;
	for (round = 0; round < 2; round++) {
		struct pair p;
		struct sender snd = { 0 };
		struct vus_rx_msg m;
		size_t len;
		uint8_t *w = make_write(5, 1, 0, MIB / 2, 9, &len);

		pair_open(&p);
		p.s.decline = round == 0;
		p.s.wrong_len = round == 1;
		sender_start(&snd, p.peer, w, len);
		ASSERT_EQ(recv_wait(&p.c, &m), 1);
		assert_true(p.s.offers > 0);
		ASSERT_EQ(m.bulk, 0);
		ASSERT_EQ(m.v.len, HEAD + MIB / 2);
		ASSERT_EQ(same_upto(m.v.payload + HEAD, MIB / 2, 9), MIB / 2);
		for (size_t i = 0; i < MIB / 2; i++) /* the sink's memory untouched */
			if (p.s.mem[i])
				fail_msg("byte %zu written by a declined sink", i);
		ASSERT_EQ(p.c.rx_bulk_bytes, 0);
		sender_join(&snd);
		pair_close(&p);
		free(w);
	}
}

/* The peer goes mid-body: the receive fails with ECONNRESET; the bytes
 * that arrived are in memory (a prefix of the data), nothing past them. */
static void sink_peer_gone(void **state)
{
	struct pair p;
	struct sender snd = { .close_after = true };
	struct vus_rx_msg m;
	size_t len, part = VUS_HDR_SIZE + HEAD + 300 * 1024, got;
	uint8_t *w = make_write(7, 1, 0, MIB, 11, &len);
	int r;

	(void)state;
	pair_open(&p);
	sender_start(&snd, p.peer, w, part);
	r = recv_wait(&p.c, &m);
	ASSERT_EQ(r, -ECONNRESET);
	sender_join(&snd);
	p.peer = -1; /* closed by the sender */
	got = same_upto(p.s.mem, MIB, 11);
	assert_true(got >= 300 * 1024);
	ASSERT_EQ(p.c.rx_bulk_bytes, 300 * 1024);
	for (size_t i = 300 * 1024; i < MIB; i++)
		if (p.s.mem[i])
			fail_msg("byte %zu written past what arrived", i);
	pair_close(&p);
	free(w);
}

/* fds on the header: never offered (the buffered path answers such a
 * message); fds riding on body bytes: closed as stray, none leak. */
static void sink_fds(void **state)
{
	int base = fdcount();
	struct pair p;
	struct sender snd = { 0 };
	struct vus_rx_msg m;
	size_t len;
	uint8_t *w = make_write(9, 1, 0, MIB / 2, 13, &len);
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	assert_true(efd >= 0);
	pair_open(&p);
	snd.fds = &efd;
	snd.nfds = 1;
	sender_start(&snd, p.peer, w, len);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	sender_join(&snd);
	ASSERT_EQ(m.bulk, 0);
	ASSERT_EQ(m.v.nfds, 1);
	ASSERT_EQ(m.v.len, HEAD + MIB / 2);
	ASSERT_EQ(p.s.offers, 0);
	vus_rx_msg_close_fds(&m);

	/* Header and head first, then the body with an fd on it. */
	ASSERT_OK(raw_send_bytes(p.peer, w, VUS_HDR_SIZE + HEAD, NULL, 0));
	ASSERT_OK(vus_conn_recv(&p.c, &m));
	snd = (struct sender){ .fds = &efd, .nfds = 1 };
	sender_start(&snd, p.peer, w + VUS_HDR_SIZE + HEAD, len - VUS_HDR_SIZE - HEAD);
	ASSERT_EQ(recv_wait(&p.c, &m), 1);
	sender_join(&snd);
	ASSERT_EQ(m.bulk, MIB / 2);
	ASSERT_EQ(m.v.nfds, 0);
	ASSERT_EQ(p.c.stray_fds, 1);
	ASSERT_EQ(same_upto(p.s.mem, MIB / 2, 13), MIB / 2);
	close(efd);
	pair_close(&p);
	free(w);
	ASSERT_EQ(fdcount(), base);
}

/* ---- testdev's BAR1 (memory backed) over the wire ------------------------ */

static void expect_echo(int fd, uint16_t id, uint32_t count)
{
	struct raw_msg m;

	ASSERT_OK(raw_recv(fd, &m, WAIT_MS));
	ASSERT_EQ(m.hdr.id, id);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, HEAD);
	ASSERT_EQ(raw_u32(&m, 12), count);
	raw_msg_free(&m);
}

static void expect_error(int fd, uint16_t id, int err)
{
	struct raw_msg m;

	ASSERT_OK(raw_recv(fd, &m, WAIT_MS));
	ASSERT_EQ(m.hdr.id, id);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
	ASSERT_EQ(m.hdr.error, err);
	raw_msg_free(&m);
}

static void send_read(int fd, uint16_t id, uint64_t offset, uint32_t count)
{
	struct vus_region_access ra = { .offset = offset, .region = 1, .count = count };

	ASSERT_OK(raw_send(fd, id, VUS_CMD_REGION_READ, 0, &ra, sizeof(ra), NULL, 0));
}

/* Read the reply to send_read(): the data must be pattern seed from
 * pattern index first (returns how many bytes matched). */
static size_t read_reply(int fd, uint16_t id, uint32_t count, uint32_t seed, size_t first)
{
	struct raw_msg m;
	size_t i;

	ASSERT_OK(raw_recv(fd, &m, WAIT_MS));
	ASSERT_EQ(m.hdr.id, id);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, HEAD + count);
	for (i = 0; i < count; i++)
		if (m.payload[HEAD + i] != pat(seed, first + i))
			break;
	raw_msg_free(&m);
	return i;
}

static void write_bar1(int fd, uint16_t id, uint64_t offset, uint32_t count, uint32_t seed)
{
	size_t len;
	uint8_t *w = make_write(id, 1, offset, count, seed, &len);

	ASSERT_OK(raw_send_bytes(fd, w, len, NULL, 0));
	free(w);
	expect_echo(fd, id, count);
}

/* 1 MiB and 64 KiB writes and reads round trip byte for byte. */
static void bar1_round_trip(void **state)
{
	struct test_fx *f = *state;

	write_bar1(f->fd, 1, 0, MIB, 21);
	send_read(f->fd, 2, 0, MIB);
	ASSERT_EQ(read_reply(f->fd, 2, MIB, 21, 0), MIB);
	write_bar1(f->fd, 3, 65536, 65536, 22);
	send_read(f->fd, 4, 65536, 65536);
	ASSERT_EQ(read_reply(f->fd, 4, 65536, 22, 0), 65536);
	send_read(f->fd, 5, 0, 65536); /* the first 64 KiB kept the 1 MiB write */
	ASSERT_EQ(read_reply(f->fd, 5, 65536, 21, 0), 65536);
}

/* Data past the region's end, and a count that does not match the
 * message's size: EINVAL, nothing written, the stream in sync. */
static void bar1_hostile_sizes(void **state)
{
	struct test_fx *f = *state;
	size_t len;
	uint8_t *w;

	write_bar1(f->fd, 1, 0, MIB, 31);
	/* 512 KiB at offset 768 KiB: 256 KiB past the end. */
	w = make_write(2, 1, 768 * 1024, MIB / 2, 32, &len);
	ASSERT_OK(raw_send_bytes(f->fd, w, len, NULL, 0));
	free(w);
	expect_error(f->fd, 2, EINVAL);
	/* count says 256 KiB, the size carries 512 KiB. */
	w = make_write(3, 1, 0, MIB / 2, 33, &len);
	((struct vus_region_access *)(void *)(w + VUS_HDR_SIZE))->count = MIB / 4;
	ASSERT_OK(raw_send_bytes(f->fd, w, len, NULL, 0));
	free(w);
	expect_error(f->fd, 3, EINVAL);
	send_read(f->fd, 4, 0, MIB);
	ASSERT_EQ(read_reply(f->fd, 4, MIB, 31, 0), MIB);
}

/* fds attached to a bulk write: EINVAL (REGION_WRITE takes none), the fds
 * closed, nothing written. */
static void bar1_fds_attached(void **state)
{
	struct test_fx *f = *state;
	int efd = eventfd(0, EFD_CLOEXEC), base;
	size_t len;
	uint8_t *w;

	assert_true(efd >= 0);
	write_bar1(f->fd, 1, 0, MIB, 41);
	base = fdcount();
	w = make_write(2, 1, 0, MIB, 42, &len);
	ASSERT_OK(raw_send_bytes(f->fd, w, len, &efd, 1));
	free(w);
	expect_error(f->fd, 2, EINVAL);
	if (!fdcount_wait(base, 1000))
		fail_msg("%d fds open, %d before", fdcount(), base);
	send_read(f->fd, 3, 0, MIB);
	ASSERT_EQ(read_reply(f->fd, 3, MIB, 41, 0), MIB);
	close(efd);
}

/* The client goes mid-payload: the server ends that session and serves the
 * next client; what arrived is a prefix of the data, the rest is as it was
 * (docs/performance.md: like an interrupted write to a mapped BAR). */
static void bar1_client_gone(void **state)
{
	struct test_fx *f = *state;
	const size_t part = 256 * 1024;
	size_t len, got;
	uint8_t *w;
	int fd;

	write_bar1(f->fd, 1, 0, MIB, 51);
	w = make_write(2, 1, 0, MIB, 52, &len);
	ASSERT_OK(raw_send_bytes(f->fd, w, VUS_HDR_SIZE + HEAD + part, NULL, 0));
	free(w);
	close(f->fd);
	f->fd = -1;
	/* The server refuses a second client until it has seen the EOF. */
	for (int t = 0;; t++) {
		fd = raw_connect(f->srv.path);
		ASSERT_NONNEG(fd);
		if (raw_version(fd, 0, NULL, NULL) == 0)
			break;
		close(fd);
		if (t == 100)
			fail_msg("no second client within 2 s");
		test_sleep_ms(20);
	}
	f->fd = fd;
	send_read(fd, 3, 0, MIB);
	{
		struct raw_msg m;

		ASSERT_OK(raw_recv(fd, &m, WAIT_MS));
		ASSERT_EQ(m.len, HEAD + MIB);
		got = same_upto(m.payload + HEAD, MIB, 52);
		assert_true(got <= part);
		for (size_t i = got; i < MIB; i++)
			if (m.payload[HEAD + i] != pat(51, i))
				fail_msg("byte %zu: neither the new data nor the old", i);
		raw_msg_free(&m);
	}
}

/* A 1 MiB read reply the socket cannot take at once is queued; a write
 * that follows changes the memory before the client reads the reply. The
 * reply still holds what the memory held when it was answered: the queue
 * copies what it keeps (copy on EAGAIN only). */
static void bar1_reply_queued(void **state)
{
	struct test_fx *f = *state;
	size_t len;
	uint8_t *w;

	write_bar1(f->fd, 1, 0, MIB, 61);
	/* Four, so the socket is full whatever its send buffer (the library
	 * asks for a whole largest message, the kernel doubles that). */
	for (int i = 0; i < 4; i++)
		send_read(f->fd, (uint16_t)(10 + i), 0, MIB);
	w = make_write(3, 1, 0, MIB, 62, &len);
	ASSERT_OK(raw_send_bytes(f->fd, w, len, NULL, 0));
	free(w);
	send_read(f->fd, 4, 0, MIB);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(read_reply(f->fd, (uint16_t)(10 + i), MIB, 61, 0), MIB);
	expect_echo(f->fd, 3, MIB);
	ASSERT_EQ(read_reply(f->fd, 4, MIB, 62, 0), MIB);
}

/* The client's side: a 1 MiB read reply lands in the caller's buffer (no
 * pass through the receive buffer); a small one comes the buffered way. */
static void client_read_into_buffer(void **state)
{
	struct test_fx *f = *state;
	uint8_t *out = malloc(MIB), *in = malloc(MIB);
	uint64_t before;

	assert_non_null(out);
	assert_non_null(in);
	fill(out, MIB, 71);
	ASSERT_OK(vus_client_region_write(f->c, 1, 0, out, MIB));
	before = f->c->conn.rx_bulk_bytes;
	ASSERT_OK(vus_client_region_read(f->c, 1, 0, in, MIB));
	ASSERT_EQ(same_upto(in, MIB, 71), MIB);
	ASSERT_EQ(f->c->conn.rx_bulk_bytes - before, MIB);
	ASSERT_EQ(f->c->conn.cap, VUS_RX_BUF_MIN);
	before = f->c->conn.rx_bulk_bytes;
	memset(in, 0, 64);
	ASSERT_OK(vus_client_region_read(f->c, 1, 0, in, 64));
	ASSERT_EQ(same_upto(in, 64, 71), 64);
	ASSERT_EQ(f->c->conn.rx_bulk_bytes, before);
	free(out);
	free(in);
}

/* ---- DMA_READ replies into the device's buffer ---------------------------- */

#define DMA_IOVA 0x10000000ull

/* Stop the server's loop (joined: its state is ours to read), count the
 * bytes its sockets received straight into memory, then free it as
 * test_server_stop() does. */
static uint64_t stop_and_count(struct test_server *s)
{
	uint64_t n;

	vus_dev_stop(s->dev);
	ASSERT_OK(pthread_join(s->thread, NULL));
	s->running = false;
	n = s->dev->sess.conn.rx_bulk_bytes + s->dev->sess.twin.rx_bulk_bytes;
	testdev_free(s->td);
	unlink(s->path);
	rmdir(s->dir);
	return n;
}

/* testdev copies 1 MiB of guest memory (a window without fd: DMA_READ
 * messages) into BAR1: right in both layouts, on the main socket and on
 * the twin; in the spec layout (1 MiB chunks) the replies' data lands in
 * testdev's buffer without passing the receive buffer. */
static void dma_read_replies(void **state)
{
	const struct {
		enum vus_dma_layout layout;
		bool twin;
	} cases[] = {
		{ VUS_DMA_LAYOUT_SPEC, false },
		{ VUS_DMA_LAYOUT_QEMU, false },
		{ VUS_DMA_LAYOUT_SPEC, true },
		{ VUS_DMA_LAYOUT_QEMU, true },
	};
	uint8_t *back = malloc(MIB);
	unsigned i;

	(void)state;
	assert_non_null(back);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vus_client_opts o = { .dma_layout = cases[i].layout,
					     .twin_socket = cases[i].twin,
					     .minor = cases[i].twin ? 2 : 0 };
		struct test_server s;
		struct vus_client *c;
		uint8_t *host;

		ASSERT_OK(test_server_start(&s, &(struct test_server_opts){
			.layout = cases[i].layout }));
		ASSERT_OK(test_connect(&s, &o, &c));
		ASSERT_EQ(vus_client_twin_active(c), cases[i].twin);
		ASSERT_OK(vus_client_dma_map(c, DMA_IOVA, MIB, VUS_DMA_MAP_FLAG_READ |
					     VUS_DMA_MAP_FLAG_WRITE, false, (void **)&host));
		assert_true(test_server_wait_maps(&s, 1, 1000));
		fill(host, MIB, 80 + i);
		ASSERT_OK(test_dma_run(c, DMA_IOVA, 0, MIB, false));
		ASSERT_OK(vus_client_region_read(c, 1, 0, back, MIB));
		ASSERT_EQ(same_upto(back, MIB, 80 + i), MIB);
		/* Most of the MiB went straight in (what the first read of
		 * each reply brought was copied). */
		{
			uint64_t n = stop_and_count(&s);

			/* QEMU's layout reads in 32 KiB chunks (docs/protocol.md
			 * 4.1): a reply that arrives whole in one read is
			 * copied once, so there only correctness is asserted. */
			printf("dma_read_replies: case %u: %llu of %u bytes straight in\n", i,
			       (unsigned long long)n, MIB);
			if (cases[i].layout == VUS_DMA_LAYOUT_SPEC && n < MIB / 2)
				fail_msg("case %u: only %llu bytes of DMA_READ data went straight "
					 "to the buffer", i, (unsigned long long)n);
		}
		vus_client_close(c);
	}
	free(back);
}

/* BAR0 register write over the raw socket; replies (and nothing else)
 * are expected until its echo. */
static void raw_reg_write(int fd, uint16_t id, uint32_t reg, uint32_t val)
{
	uint8_t b[HEAD + 4];
	struct vus_region_access ra = { .offset = reg, .region = 0, .count = 4 };

	memcpy(b, &ra, HEAD);
	memcpy(b + HEAD, &val, 4);
	ASSERT_OK(raw_send(fd, id, VUS_CMD_REGION_WRITE, 0, b, sizeof(b), NULL, 0));
}

/* Read messages until the reply with id (returned in *m) arrives; a
 * DMA_READ request met on the way is kept in *dma (if dma is not NULL and
 * holds none yet). */
static void raw_until_reply(int fd, uint16_t id, struct raw_msg *m, struct raw_msg *dma)
{
	for (;;) {
		ASSERT_OK(raw_recv(fd, m, WAIT_MS));
		if (m->hdr.cmd == VUS_CMD_DMA_READ && !(m->hdr.flags & VUS_F_TYPE_REPLY)) {
			assert_non_null(dma);
			*dma = *m;
			continue;
		}
		if (m->hdr.id == id && (m->hdr.flags & VUS_F_TYPE_REPLY))
			return;
		raw_msg_free(m);
	}
}

static uint32_t raw_dma_status(int fd, uint16_t id)
{
	struct vus_region_access ra = { .offset = TESTDEV_REG_DMA_STATUS, .region = 0,
					.count = 4 };
	struct raw_msg m;
	uint32_t v;

	ASSERT_OK(raw_send(fd, id, VUS_CMD_REGION_READ, 0, &ra, sizeof(ra), NULL, 0));
	raw_until_reply(fd, id, &m, NULL);
	ASSERT_EQ(m.len, HEAD + 4);
	v = raw_u32(&m, HEAD);
	raw_msg_free(&m);
	return v;
}

/* A hostile client answers testdev's 1 MiB DMA_READ (window without fd)
 * with the right size but a wrong address: the reply is never offered to
 * the sink (its fixed part is checked first), so nothing lands in BAR1;
 * the DMA fails with EPROTO and the stream stays in sync. The right
 * answer then lands. */
static void dma_reply_hostile(void **state)
{
	struct test_fx *f = *state;
	struct vus_dma_map map = { .argsz = sizeof(map), .flags = VUS_DMA_MAP_FLAG_READ |
				   VUS_DMA_MAP_FLAG_WRITE, .addr = DMA_IOVA, .size = MIB };
	uint8_t *rep = malloc(VUS_HDR_SIZE + HEAD + MIB);
	struct raw_msg m, req;
	uint16_t id = 100;
	int round;

	assert_non_null(rep);
	write_bar1(f->fd, 1, 0, MIB, 91);
	ASSERT_OK(raw_call(f->fd, 2, VUS_CMD_DMA_MAP, &map, sizeof(map), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	raw_msg_free(&m);
	for (round = 0; round < 2; round++) {
		struct vus_hdr h;
		uint64_t addr, count = MIB;
		uint32_t st;

		memset(&req, 0, sizeof(req));
		raw_reg_write(f->fd, id, TESTDEV_REG_DMA_SRC_LO, (uint32_t)DMA_IOVA);
		raw_until_reply(f->fd, id++, &m, NULL);
		raw_msg_free(&m);
		raw_reg_write(f->fd, id, TESTDEV_REG_DMA_SRC_HI, (uint32_t)(DMA_IOVA >> 32));
		raw_until_reply(f->fd, id++, &m, NULL);
		raw_msg_free(&m);
		raw_reg_write(f->fd, id, TESTDEV_REG_DMA_DST_LO, 0);
		raw_until_reply(f->fd, id++, &m, NULL);
		raw_msg_free(&m);
		raw_reg_write(f->fd, id, TESTDEV_REG_DMA_DST_HI, 0);
		raw_until_reply(f->fd, id++, &m, NULL);
		raw_msg_free(&m);
		raw_reg_write(f->fd, id, TESTDEV_REG_DMA_LEN, MIB);
		raw_until_reply(f->fd, id++, &m, NULL);
		raw_msg_free(&m);
		raw_reg_write(f->fd, id, TESTDEV_REG_DMA_CMD, TESTDEV_DMA_START);
		raw_until_reply(f->fd, id++, &m, &req);
		raw_msg_free(&m);
		if (!req.payload)
			ASSERT_OK(raw_recv(f->fd, &req, WAIT_MS));
		ASSERT_EQ(req.hdr.cmd, VUS_CMD_DMA_READ);
		ASSERT_EQ(raw_u64(&req, 8), MIB); /* one chunk: spec layout, 1 MiB */
		/* Round 0: the address echoed wrong; round 1: right. */
		addr = DMA_IOVA + (round == 0 ? 4096 : 0);
		h = (struct vus_hdr){ .id = req.hdr.id, .cmd = VUS_CMD_DMA_READ,
				      .flags = VUS_F_TYPE_REPLY, .size = VUS_HDR_SIZE + HEAD + MIB };
		vus_hdr_encode(rep, &h);
		memcpy(rep + VUS_HDR_SIZE, &addr, 8);
		memcpy(rep + VUS_HDR_SIZE + 8, &count, 8);
		fill(rep + VUS_HDR_SIZE + HEAD, MIB, 92 + round);
		raw_msg_free(&req);
		ASSERT_OK(raw_send_bytes(f->fd, rep, h.size, NULL, 0));
		for (int t = 0;; t++) {
			st = raw_dma_status(f->fd, id++);
			if (!(st & TESTDEV_DMA_BUSY))
				break;
			if (t == 200)
				fail_msg("DMA still busy");
			test_sleep_ms(10);
		}
		if (round == 0) {
			assert_true(st & TESTDEV_DMA_ERROR);
			ASSERT_EQ(st >> 16, EPROTO);
			send_read(f->fd, id, 0, MIB);
			ASSERT_EQ(read_reply(f->fd, id++, MIB, 91, 0), MIB);
		} else {
			assert_false(st & TESTDEV_DMA_ERROR);
			send_read(f->fd, id, 0, MIB);
			ASSERT_EQ(read_reply(f->fd, id++, MIB, 93, 0), MIB);
		}
	}
	free(rep);
}

/* testdev's state (registers, BAR1, BAR2: over 1 MiB) moves to a second
 * testdev in 1 MiB MIG_DATA_WRITEs: the data goes straight into the
 * destination library's stream buffer (framed stream), the device comes
 * out the same. */
static void mig_data_write_direct(void **state)
{
	struct test_server src, dst;
	struct vus_client *cs, *cd;
	uint8_t *stream = NULL, *back = malloc(MIB);
	size_t len = 0, off;
	uint32_t got;
	uint64_t n;

	(void)state;
	assert_non_null(back);
	ASSERT_OK(test_server_start(&src, NULL));
	ASSERT_OK(test_server_start(&dst, NULL));
	ASSERT_OK(test_connect(&src, NULL, &cs));
	ASSERT_OK(test_connect(&dst, NULL, &cd));
	fill(back, MIB, 101);
	ASSERT_OK(vus_client_region_write(cs, 1, 0, back, MIB));
	ASSERT_OK(vus_client_mig_set_state(cs, VUS_MIG_STATE_STOP_COPY));
	do {
		stream = realloc(stream, len + MIB);
		assert_non_null(stream);
		ASSERT_OK(vus_client_mig_data_read(cs, stream + len, MIB, &got));
		len += got;
	} while (got == MIB);
	assert_true(len > MIB);
	ASSERT_OK(vus_client_mig_set_state(cd, VUS_MIG_STATE_RESUMING));
	for (off = 0; off < len; off += MIB)
		ASSERT_OK(vus_client_mig_data_write(cd, stream + off,
						    (uint32_t)(len - off < MIB ? len - off : MIB)));
	ASSERT_OK(vus_client_mig_set_state(cd, VUS_MIG_STATE_STOP));
	ASSERT_OK(vus_client_mig_set_state(cd, VUS_MIG_STATE_RUNNING));
	memset(back, 0, MIB);
	ASSERT_OK(vus_client_region_read(cd, 1, 0, back, MIB));
	ASSERT_EQ(same_upto(back, MIB, 101), MIB);
	vus_client_close(cs);
	test_server_stop(&src);
	n = stop_and_count(&dst);
	printf("mig_data_write_direct: %llu of %zu stream bytes straight in\n",
	       (unsigned long long)n, len);
	assert_true(n >= len / 2);
	vus_client_close(cd);
	free(stream);
	free(back);
}

/* The sink takes DMA tails (QEMU's 4 pad bytes) and a discarded body:
 * over a socketpair, a message whose data is taken away mid-body still
 * arrives whole (bulk_discarded), the memory untouched after that, the
 * next message in sync. */
struct tail_sink {
	uint8_t *mem;
};

static int tail_sink_fn(void *opaque, const struct vus_hdr *h, const uint8_t *head,
			struct vus_sink_dst *d)
{
	struct tail_sink *t = opaque;

	(void)head;
	if (h->cmd != VUS_CMD_DMA_READ)
		return 0;
	*d = (struct vus_sink_dst){ .base = t->mem, .skip = 12,
				    .len = h->size - VUS_HDR_SIZE - 16, .tail = 4 };
	return 1;
}

static void sink_tail_and_discard(void **state)
{
	struct tail_sink t = { .mem = calloc(1, MIB) };
	struct vus_conn_sink sink = { .fn = tail_sink_fn, .opaque = &t, .head = 16 };
	struct vus_hdr h = { .id = 3, .cmd = VUS_CMD_DMA_READ, .flags = VUS_F_TYPE_REPLY,
			     .size = VUS_HDR_SIZE + 16 + MIB / 2 };
	size_t len = h.size;
	uint8_t *msg = malloc(2 * len);
	struct sender snd = { 0 };
	struct vus_rx_msg m;
	struct vus_conn c;
	int sv[2], round;

	(void)state;
	assert_non_null(t.mem);
	assert_non_null(msg);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_conn_init(&c, sv[0], VUS_HDR_SIZE + 2 * MIB));
	vus_conn_set_sink(&c, &sink);
	for (round = 0; round < 2; round++) {
		uint8_t *p = msg + round * len;

		vus_hdr_encode(p, &h);
		memset(p + VUS_HDR_SIZE, 0xa0 + round, 12);        /* fixed part */
		fill(p + VUS_HDR_SIZE + 12, MIB / 2, 90 + round);  /* data */
		memset(p + VUS_HDR_SIZE + 12 + MIB / 2, 0xee, 4);  /* pad */
	}
	/* Round 0: whole. */
	sender_start(&snd, sv[1], msg, len);
	ASSERT_EQ(recv_wait(&c, &m), 1);
	sender_join(&snd);
	ASSERT_EQ(m.bulk, MIB / 2);
	assert_false(m.bulk_discarded);
	ASSERT_EQ(m.v.len, 16);
	ASSERT_EQ(m.v.payload[0], 0xa0);
	ASSERT_EQ(m.v.payload[12], 0xee);
	ASSERT_EQ(m.v.payload[15], 0xee);
	ASSERT_EQ(same_upto(t.mem, MIB / 2, 90), MIB / 2);
	/* Round 1: the memory is taken away after the first bytes. */
	memset(t.mem, 0, MIB);
	ASSERT_OK(raw_send_bytes(sv[1], msg + len, 4096, NULL, 0));
	ASSERT_OK(vus_conn_recv(&c, &m));
	assert_true(c.bulk_on);
	assert_true(vus_conn_bulk_discard(&c, t.mem, MIB));
	sender_start(&snd, sv[1], msg + len + 4096, len - 4096);
	ASSERT_EQ(recv_wait(&c, &m), 1);
	sender_join(&snd);
	assert_true(m.bulk_discarded);
	ASSERT_EQ(m.v.len, 16);
	ASSERT_EQ(m.v.payload[0], 0xa1);
	ASSERT_EQ(m.v.payload[12], 0xee);
	for (size_t i = 4096 - VUS_HDR_SIZE - 12; i < MIB; i++)
		if (t.mem[i])
			fail_msg("byte %zu written after the discard", i);
	/* In sync: a small message next. */
	ASSERT_OK(raw_send(sv[1], 4, VUS_CMD_DEVICE_GET_INFO, 0, "0123456789abcdef", 16, NULL,
			   0));
	ASSERT_EQ(recv_wait(&c, &m), 1);
	ASSERT_EQ(m.v.hdr.id, 4);
	ASSERT_EQ(m.v.len, 16);
	vus_conn_close(&c);
	close(sv[1]);
	free(msg);
	free(t.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sink_takes_body),
		cmocka_unit_test(sink_header_first),
		cmocka_unit_test(sink_declines),
		cmocka_unit_test(sink_peer_gone),
		cmocka_unit_test(sink_fds),
		cmocka_unit_test_setup_teardown(bar1_round_trip, test_fx_raw_version, test_fx_teardown),
		cmocka_unit_test_setup_teardown(bar1_hostile_sizes, test_fx_raw_version,
						test_fx_teardown),
		cmocka_unit_test_setup_teardown(bar1_fds_attached, test_fx_raw_version,
						test_fx_teardown),
		cmocka_unit_test_setup_teardown(bar1_client_gone, test_fx_raw_version,
						test_fx_teardown),
		cmocka_unit_test_setup_teardown(bar1_reply_queued, test_fx_raw_version,
						test_fx_teardown),
		cmocka_unit_test_setup_teardown(client_read_into_buffer, test_fx_client,
						test_fx_teardown),
		cmocka_unit_test(dma_read_replies),
		cmocka_unit_test_setup_teardown(dma_reply_hostile, test_fx_raw_version,
						test_fx_teardown),
		cmocka_unit_test(sink_tail_and_discard),
		cmocka_unit_test(mig_data_write_direct),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
