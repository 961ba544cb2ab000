/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile clients against several devices sharing one loop thread, as in
 * vusd: the test's own epoll loop waits on every device's poll fd and
 * calls vus_dev_process() for the ready ones, timing each call.
 *
 * Device A (a testdev) meets the hostile client; device B (another
 * testdev) has a well-behaved client (the client library, 2 s reply
 * timeout) that must be answered promptly all along, and no
 * vus_dev_process() call may take long: one stalled peer must never hold
 * the loop. After each attack A serves a fresh client and no fd leaked.
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "clock.h"
#include "fdcount.h"
#include "raw.h"
#include "testdev.h"
#include "vus_test.h"

#define NDEV        3
/* Both bounds stretch for slow runs (valgrind): VUS_TEST_TIME_SCALE. */
#define TIMEOUT_MS  (3000 * test_time_scale())
/* Longest vus_dev_process() call tolerated: nothing in it may wait for
 * a peer. Generous for sanitizer builds on a loaded machine. */
#define MAX_TURN_MS (500 * test_time_scale())
#define CONNECTIONS 10000

struct loop {
	int ep;                        /* the loop's epoll set */
	struct testdev *td[NDEV];
	struct vus_dev *dev[NDEV];
	char dir[64], path[NDEV][128];
	pthread_t thread;
	int stop_fd;
	pthread_mutex_t lock;
	int64_t max_turn_us;           /* longest vus_dev_process() */
	uint64_t turns;
	char warn[32][256];            /* device A's WARN/ERR lines */
	unsigned nwarn;
};

static struct loop L;

static void on_log(void *opaque, enum vus_log_level level, const char *msg)
{
	(void)opaque;
	if (level > VUS_LOG_WARN)
		return;
	pthread_mutex_lock(&L.lock);
	if (L.nwarn < 32)
		snprintf(L.warn[L.nwarn++], sizeof(L.warn[0]), "%s", msg);
	pthread_mutex_unlock(&L.lock);
}

static bool logged(const char *s, int ms)
{
	int64_t deadline = test_now_us() + (int64_t)ms * 1000;

	for (;;) {
		bool found = false;
		unsigned i;

		pthread_mutex_lock(&L.lock);
		for (i = 0; i < L.nwarn && !found; i++)
			found = strstr(L.warn[i], s) != NULL;
		pthread_mutex_unlock(&L.lock);
		if (found || test_now_us() >= deadline)
			return found;
		test_sleep_ms(5);
	}
}

/* The one loop thread (L.ep holds every device's poll fd and stop_fd). */
static void *loop_main(void *arg)
{
	struct epoll_event ev[NDEV + 1];
	int i;

	(void)arg;
	for (;;) {
		int n = epoll_wait(L.ep, ev, NDEV + 1, -1);

		for (i = 0; i < n; i++) {
			uint32_t k = ev[i].data.u32;
			int64_t t0, dt;

			if (k == NDEV)
				return NULL;
			t0 = test_now_us();
			vus_dev_process(L.dev[k]);
			dt = test_now_us() - t0;
			pthread_mutex_lock(&L.lock);
			if (dt > L.max_turn_us)
				L.max_turn_us = dt;
			L.turns++;
			pthread_mutex_unlock(&L.lock);
		}
	}
}

static int setup(void **state)
{
	int i;

	memset(&L, 0, sizeof(L));
	pthread_mutex_init(&L.lock, NULL);
	snprintf(L.dir, sizeof(L.dir), "/tmp/vus-hostile-XXXXXX");
	assert_non_null(mkdtemp(L.dir));
	for (i = 0; i < NDEV; i++) {
		char name[16];

		snprintf(name, sizeof(name), "dev%d", i);
		snprintf(L.path[i], sizeof(L.path[i]), "%s/%s", L.dir, name);
		ASSERT_OK(testdev_create(name, &L.td[i]));
		L.dev[i] = testdev_dev(L.td[i]);
		if (i == 0) {
			vus_dev_set_log(L.dev[i], on_log, NULL, VUS_LOG_WARN);
			/* Small, so the never-reading client hits it quickly. */
			ASSERT_OK(vus_dev_set_output_limit(L.dev[i], 256 * 1024));
		} else {
			vus_dev_set_log_level(L.dev[i], VUS_LOG_ERR);
		}
		ASSERT_OK(vus_dev_listen(L.dev[i], L.path[i]));
	}
	L.stop_fd = eventfd(0, EFD_CLOEXEC);
	ASSERT_NONNEG(L.stop_fd);
	L.ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_NONNEG(L.ep);
	for (i = 0; i <= NDEV; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		int fd = i < NDEV ? vus_dev_poll_fd(L.dev[i]) : L.stop_fd;

		ASSERT_OK(epoll_ctl(L.ep, EPOLL_CTL_ADD, fd, &e));
	}
	ASSERT_OK(pthread_create(&L.thread, NULL, loop_main, NULL));
	return 0;
}

static int teardown(void **state)
{
	uint64_t one = 1;
	int i;

	ASSERT_EQ(write(L.stop_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	pthread_join(L.thread, NULL);
	close(L.stop_fd);
	close(L.ep);
	for (i = 0; i < NDEV; i++)
		testdev_free(L.td[i]);
	rmdir(L.dir);
	pthread_mutex_destroy(&L.lock);
	return 0;
}

/* ---- the well-behaved side ---------------------------------------------- */

static struct vus_client *good_client(int dev)
{
	const struct vus_client_opts opts = { .timeout_ms = 2000 };
	int64_t deadline = test_now_us() + TIMEOUT_MS * 1000;
	struct vus_client *c;

	for (;;) {
		int r = vus_client_connect(L.path[dev], &opts, &c);

		if (r == 0)
			return c;
		/* Refused while the previous client is torn down. */
		assert_true(r == -ECONNRESET || r == -EPIPE || r == -ETIMEDOUT);
		assert_true(test_now_us() < deadline);
		test_sleep_ms(5);
	}
}

/* A register round trip on c, answered within the client's 2 s (a send
 * that waited for a stalled peer, as before output queues, took 5 s). */
static void good_io(struct vus_client *c, uint32_t v)
{
	uint32_t got = 0;

	ASSERT_OK(vus_client_region_write(c, 0, TESTDEV_REG_SCRATCH, &v, 4));
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_SCRATCH, &got, 4));
	ASSERT_EQ(got, v);
}

/* Device A serves a new client, and the loop never took long. */
static void after_attack(int fd_base)
{
	struct vus_client *a = good_client(0);
	int64_t max_turn_us;

	good_io(a, 0xa11ce);
	vus_client_close(a);
	if (fd_base >= 0)
		assert_true(fdcount_wait(fd_base, TIMEOUT_MS));
	pthread_mutex_lock(&L.lock);
	max_turn_us = L.max_turn_us;
	pthread_mutex_unlock(&L.lock);
	/* Asserted unlocked: a failure must not leave the loop's lock held
	 * for the next test (it did, and every later test timed out). */
	if (max_turn_us > MAX_TURN_MS * 1000)
		fprintf(stderr, "longest loop turn: %lld us\n", (long long)max_turn_us);
	assert_true(max_turn_us <= MAX_TURN_MS * 1000);
}

static int connect_a(void)
{
	int64_t deadline = test_now_us() + TIMEOUT_MS * 1000;

	for (;;) {
		int fd = raw_connect(L.path[0]);

		ASSERT_NONNEG(fd);
		if (raw_version(fd, 0, NULL, NULL) == 0)
			return fd;
		close(fd);
		assert_true(test_now_us() < deadline);
		test_sleep_ms(5);
	}
}

/* ---- attacks ------------------------------------------------------------ */

static void half_header(void **state)
{
	struct vus_client *b = good_client(1);
	uint8_t half[8] = { 1, 0, 4, 0 };
	int base = fdcount();
	int fd = connect_a(), i;

	ASSERT_OK(raw_send_bytes(fd, half, sizeof(half), NULL, 0));
	for (i = 0; i < 20; i++)
		good_io(b, (uint32_t)i);
	test_sleep_ms(50);
	good_io(b, 77);
	/* Still attached (nothing to answer yet); the device waits. */
	assert_true(raw_nothing_within(fd, 50));
	close(fd);
	vus_client_close(b);
	after_attack(base);
}

static void disconnect_mid_body(void **state)
{
	struct vus_client *b = good_client(1);
	static uint8_t body[64 * 1024];
	struct vus_hdr h = { .id = 9, .cmd = VUS_CMD_REGION_WRITE, .flags = 0 };
	uint8_t hb[VUS_HDR_SIZE];
	int base = fdcount();
	int fd, round;

	/* A message in size and one above it (its body is being drained). */
	for (round = 0; round < 2; round++) {
		h.size = round ? (64u << 20) : (uint32_t)(VUS_HDR_SIZE + sizeof(body) * 2);
		fd = connect_a();
		vus_hdr_encode(hb, &h);
		ASSERT_OK(raw_send_bytes(fd, hb, sizeof(hb), NULL, 0));
		ASSERT_OK(raw_send_bytes(fd, body, sizeof(body), NULL, 0));
		good_io(b, 1);
		close(fd);
		good_io(b, 2);
	}
	vus_client_close(b);
	after_attack(base);
}

static void never_reads(void **state)
{
	struct vus_client *b = good_client(1);
	uint8_t req[16];
	uint32_t count = 64 * 1024;
	int base = fdcount();
	int fd = connect_a(), i, sent = 0;
	bool closed = false;

	/* REGION_READs of BAR1 (64 KiB each), never reading a reply. */
	memset(req, 0, sizeof(req));
	req[8] = 1;
	memcpy(req + 12, &count, 4);
	for (i = 0; i < 400 && !closed; i++) {
		struct vus_hdr h = { .id = (uint16_t)i, .cmd = VUS_CMD_REGION_READ,
				     .size = VUS_HDR_SIZE + sizeof(req) };
		uint8_t msg[VUS_HDR_SIZE + sizeof(req)];
		ssize_t n;

		vus_hdr_encode(msg, &h);
		memcpy(msg + VUS_HDR_SIZE, req, sizeof(req));
		n = send(fd, msg, sizeof(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			closed = true;
		else if (n < 0)
			test_sleep_ms(2); /* our send buffer is full: the server is behind */
		else
			sent++;
		if (i % 20 == 0)
			good_io(b, (uint32_t)i);
	}
	assert_true(sent > 0);
	assert_true(logged("output queue over its limit", TIMEOUT_MS));
	assert_true(raw_closed_within(fd, TIMEOUT_MS));
	good_io(b, 3);
	close(fd);
	vus_client_close(b);
	after_attack(base);
}

/* xorshift64*: reproducible "random" bytes. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

struct flood {
	unsigned done;
	unsigned refused;  /* closed at once: another session was attached */
	int err;
};

/*
 * CONNECTIONS connections to device A, each sending up to 600 random
 * bytes (some led by a valid VERSION, some with an eventfd attached),
 * then half-closing and reading until the device closes.
 */
static void *flood_main(void *arg)
{
	struct flood *f = arg;
	uint64_t s = 0x9e3779b97f4a7c15ull;
	uint8_t buf[1024];
	unsigned i;

	for (i = 0; i < CONNECTIONS; i++) {
		int fd = raw_connect(L.path[0]);
		size_t len = (size_t)(rnd(&s) % 600), k, at = 0;
		uint64_t kind = rnd(&s);
		int efd = -1;

		if (fd < 0) {
			__atomic_store_n(&f->err, fd, __ATOMIC_RELAXED);
			return NULL;
		}
		if (kind % 4 == 0) {
			/* A real VERSION first, so commands get dispatched. */
			static const char json[] = "{\"capabilities\":{\"max_msg_fds\":16}}";
			struct vus_hdr h = { .id = 1, .cmd = VUS_CMD_VERSION,
					     .size = (uint32_t)(VUS_HDR_SIZE + 4 + sizeof(json)) };

			vus_hdr_encode(buf, &h);
			memset(buf + VUS_HDR_SIZE, 0, 4);
			memcpy(buf + VUS_HDR_SIZE + 4, json, sizeof(json));
			at = h.size;
		}
		for (k = 0; k < len; k++)
			buf[at + k] = (uint8_t)rnd(&s);
		if (kind % 8 == 1 && len >= VUS_HDR_SIZE) {
			/* A plausible header: small size, known command. */
			struct vus_hdr h = { .id = 2, .cmd = (uint16_t)(rnd(&s) % 20),
					     .size = (uint32_t)(VUS_HDR_SIZE + rnd(&s) % 64) };

			vus_hdr_encode(buf + at, &h);
		}
		if (kind % 16 == 3)
			efd = eventfd(0, EFD_CLOEXEC);
		if (at + len > 0 &&
		    raw_send_bytes(fd, buf, at + len, efd >= 0 ? &efd : NULL, efd >= 0) < 0)
			f->refused++; /* only this thread touches it before the join */
		if (efd >= 0)
			close(efd);
		shutdown(fd, SHUT_WR);
		if (!raw_closed_within(fd, TIMEOUT_MS)) {
			__atomic_store_n(&f->err, -ETIMEDOUT, __ATOMIC_RELAXED);
			close(fd);
			return NULL;
		}
		close(fd);
		__atomic_add_fetch(&f->done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void random_connections(void **state)
{
	struct vus_client *b = good_client(1);
	struct flood f = { 0 };
	pthread_t th;
	int64_t t0 = test_now_us();
	int base = fdcount(), ios = 0;
	bool running = true;
	struct vus_dev_stats st;
	uint64_t clients0;

	vus_dev_get_stats(L.dev[0], &st);
	clients0 = st.clients;

	ASSERT_OK(pthread_create(&th, NULL, flood_main, &f));
	/* B is served all along: one round trip per 10 ms until done. */
	while (running) {
		good_io(b, (uint32_t)ios++);
		test_sleep_ms(10);
		running = __atomic_load_n(&f.done, __ATOMIC_RELAXED) < CONNECTIONS &&
			  __atomic_load_n(&f.err, __ATOMIC_RELAXED) == 0;
	}
	pthread_join(th, NULL);
	ASSERT_EQ(f.err, 0);
	ASSERT_EQ(f.done, CONNECTIONS);
	/* Most connections became sessions (the rest met one attached). */
	vus_dev_get_stats(L.dev[0], &st);
	fprintf(stderr, "sessions %llu, commands %llu, errors %llu in %lld ms\n",
		(unsigned long long)(st.clients - clients0), (unsigned long long)vus_dev_stat_cmd(L.dev[0], 0),
		(unsigned long long)st.errors, (long long)(test_now_us() - t0) / 1000);
	assert_true(st.clients - clients0 >= CONNECTIONS / 2);
	assert_true(ios > 0);
	/* Bounded: the whole flood is well under the suite's budget. */
	assert_true(test_now_us() - t0 < 45 * 1000000ll);
	vus_client_close(b);
	after_attack(base);
}

/* fds on messages that take none, and too many on one that takes some:
 * all closed, EINVAL, the connection kept, the fd count back to before. */
static void stray_fds(void **state)
{
	struct vus_client *b = good_client(1);
	struct vus_device_info info = { .argsz = 16 };
	uint8_t rr[16] = { 0 };
	int base = fdcount();
	int fd = connect_a(), i, efd[3];
	struct raw_msg m;

	for (i = 0; i < 3; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC);
		ASSERT_NONNEG(efd[i]);
	}
	rr[12] = 4;
	for (i = 0; i < 50; i++) {
		uint16_t cmd = i % 2 ? VUS_CMD_DEVICE_GET_INFO : VUS_CMD_REGION_READ;
		const void *p = i % 2 ? (const void *)&info : rr;
		size_t len = i % 2 ? sizeof(info) : sizeof(rr);

		ASSERT_OK(raw_call(fd, (uint16_t)i, cmd, p, len, efd, 1 + i % 3, &m));
		ASSERT_EQ(m.hdr.id, i);
		ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
		ASSERT_ERR(m.hdr.error, EINVAL);
		raw_msg_free(&m);
		if (i % 10 == 0)
			good_io(b, (uint32_t)i);
	}
	/* DMA_MAP takes one fd: with two, both are closed. */
	{
		uint8_t map[32] = { 0 };
		uint32_t argsz = 32, prot = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE;
		uint64_t iova = 0x10000, size = 0x1000;

		memcpy(map, &argsz, 4);
		memcpy(map + 4, &prot, 4);
		memcpy(map + 16, &iova, 8);
		memcpy(map + 24, &size, 8);
		ASSERT_OK(raw_call(fd, 99, VUS_CMD_DMA_MAP, map, sizeof(map), efd, 2, &m));
		ASSERT_ERR(m.hdr.error, EINVAL);
		raw_msg_free(&m);
	}
	/* The connection is still good. */
	ASSERT_OK(raw_call(fd, 100, VUS_CMD_DEVICE_GET_INFO, &info, sizeof(info), NULL, 0,
			   &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	raw_msg_free(&m);
	for (i = 0; i < 3; i++)
		close(efd[i]);
	close(fd);
	vus_client_close(b);
	after_attack(base);
}

/* DMA_MAP is one sendmsg with the fd on its header. */
static int map_fd(int fd, int mfd, uint64_t offset, uint64_t iova, uint64_t size)
{
	uint8_t map[32] = { 0 };
	uint32_t argsz = 32, prot = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE;
	struct raw_msg m;
	int err;

	memcpy(map, &argsz, 4);
	memcpy(map + 4, &prot, 4);
	memcpy(map + 8, &offset, 8);
	memcpy(map + 16, &iova, 8);
	memcpy(map + 24, &size, 8);
	ASSERT_OK(raw_call(fd, 7, VUS_CMD_DMA_MAP, map, sizeof(map), &mfd, 1, &m));
	err = (m.hdr.flags & VUS_F_ERROR) ? (int)m.hdr.error : 0;
	raw_msg_free(&m);
	return err;
}

static void reg_write(int fd, uint32_t reg, uint32_t v)
{
	uint8_t p[20] = { 0 };
	struct raw_msg m;

	memcpy(p, &reg, 4);
	p[12] = 4;
	memcpy(p + 16, &v, 4);
	ASSERT_OK(raw_call(fd, 8, VUS_CMD_REGION_WRITE, p, sizeof(p), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	raw_msg_free(&m);
}

/*
 * A map reaching past the end of its file would kill the server with
 * SIGBUS at the device's first access there (found by fuzz_dispatch):
 * refused with EINVAL. A map inside the file is DMA'd from normally.
 */
static void map_past_file_end(void **state)
{
	int base = fdcount();
	int fd = connect_a();
	int mfd = memfd_create("guest", MFD_CLOEXEC);
	uint8_t rr[16] = { 0 };
	uint32_t status = 0;
	struct raw_msg m;
	int i;

	ASSERT_NONNEG(mfd);
	ASSERT_OK(ftruncate(mfd, 8192));
	ASSERT_ERR(map_fd(fd, mfd, 0, 0x10000, 16384), EINVAL);
	ASSERT_ERR(map_fd(fd, mfd, 4096, 0x10000, 8192), EINVAL);
	ASSERT_ERR(map_fd(fd, mfd, 8192, 0x10000, 1), EINVAL);
	ASSERT_OK(map_fd(fd, mfd, 4096, 0x10000, 4096));
	close(mfd);

	/* testdev copies the whole mapped page into BAR1 and back out. */
	reg_write(fd, TESTDEV_REG_DMA_SRC_LO, 0x10000);
	reg_write(fd, TESTDEV_REG_DMA_DST_LO, 0);
	reg_write(fd, TESTDEV_REG_DMA_LEN, 4096);
	reg_write(fd, TESTDEV_REG_DMA_CMD, TESTDEV_DMA_START);
	rr[12] = 4;
	for (i = 0; i < 100; i++) {
		memcpy(rr, &(uint32_t){ TESTDEV_REG_DMA_STATUS }, 4);
		ASSERT_OK(raw_call(fd, 9, VUS_CMD_REGION_READ, rr, sizeof(rr), NULL, 0, &m));
		status = raw_u32(&m, 16);
		raw_msg_free(&m);
		if (!(status & TESTDEV_DMA_BUSY))
			break;
		test_sleep_ms(2);
	}
	ASSERT_EQ(status, 0);
	memcpy(rr, &(uint32_t){ TESTDEV_REG_DMA_COUNT }, 4);
	ASSERT_OK(raw_call(fd, 9, VUS_CMD_REGION_READ, rr, sizeof(rr), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(raw_u32(&m, 16), 1);
	raw_msg_free(&m);
	close(fd);
	after_attack(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(half_header),
		cmocka_unit_test(disconnect_mid_body),
		cmocka_unit_test(never_reads),
		cmocka_unit_test(random_connections),
		cmocka_unit_test(stray_fds),
		cmocka_unit_test(map_past_file_end),
	};

	return VUS_RUN_TESTS(tests, setup, teardown);
}
