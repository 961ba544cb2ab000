/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev on a thread, for end-to-end tests (test_server.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "test_server.h"
#include "vus_test.h"

static void *server_main(void *arg)
{
	struct test_server *s = arg;

	s->run_rc = vus_dev_run(s->dev);
	return NULL;
}

int test_server_start(struct test_server *s, const struct test_server_opts *opts)
{
	static const struct test_server_opts none;
	int r;

	if (!opts)
		opts = &none;
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/vus-test-XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	r = opts->testdev ? testdev_create_opts("testdev", opts->testdev, &s->td)
			  : testdev_create("testdev", &s->td);
	if (r < 0)
		goto rmdir;
	s->dev = testdev_dev(s->td);
	vus_dev_set_log_level(s->dev, opts->log_level ? opts->log_level : VUS_LOG_ERR);
	r = vus_dev_set_dma_layout(s->dev, opts->layout);
	if (r == 0 && opts->max_xfer)
		r = vus_dev_set_max_data_xfer(s->dev, opts->max_xfer);
	if (r == 0)
		r = vus_dev_listen(s->dev, s->path);
	if (r < 0)
		goto free;
	r = -pthread_create(&s->thread, NULL, server_main, s);
	if (r < 0)
		goto free;
	s->running = true;
	return 0;
free:
	testdev_free(s->td);
	s->td = NULL;
rmdir:
	rmdir(s->dir);
	return r;
}

void test_server_stop(struct test_server *s)
{
	if (!s->running)
		return;
	vus_dev_stop(s->dev);
	pthread_join(s->thread, NULL);
	s->running = false;
	/* vus_dev_free (inside) unlinks the socket it created. */
	testdev_free(s->td);
	s->td = NULL;
	s->dev = NULL;
	unlink(s->path);
	rmdir(s->dir);
}

void test_server_stats(struct test_server *s, struct vus_dev_stats *st)
{
	vus_dev_get_stats(s->dev, st);
}

bool test_server_wait_maps(struct test_server *s, uint32_t n, int ms)
{
	int64_t deadline = test_now_ms() + ms;
	struct vus_dev_stats st;

	for (;;) {
		vus_dev_get_stats(s->dev, &st);
		if (st.cur_maps == n)
			return true;
		if (test_now_ms() >= deadline)
			return false;
		test_sleep_ms(5);
	}
}

int test_connect(struct test_server *s, const struct vus_client_opts *opts,
		 struct vus_client **out)
{
	int64_t deadline = test_now_ms() + 2000;
	int r;

	for (;;) {
		r = vus_client_connect(s->path, opts, out);
		/* Refused while the previous client is being torn down: the
		 * server accepts and closes at once (device.h). */
		if (r == 0 || (r != -ECONNRESET && r != -EPIPE && r != -ETIMEDOUT) ||
		    test_now_ms() >= deadline)
			return r;
		test_sleep_ms(5);
	}
}

uint32_t test_reg_read(struct vus_client *c, uint32_t reg)
{
	uint32_t v = 0;

	ASSERT_OK(vus_client_region_read(c, 0, reg, &v, sizeof(v)));
	return v;
}

void test_reg_write(struct vus_client *c, uint32_t reg, uint32_t val)
{
	ASSERT_OK(vus_client_region_write(c, 0, reg, &val, sizeof(val)));
}

int test_dma_run(struct vus_client *c, uint64_t src, uint64_t dst, uint32_t len,
		 bool to_host)
{
	int64_t deadline = test_now_ms() + 5000;
	uint32_t count0 = test_reg_read(c, TESTDEV_REG_DMA_COUNT);
	uint32_t st;

	test_reg_write(c, TESTDEV_REG_DMA_SRC_LO, (uint32_t)src);
	test_reg_write(c, TESTDEV_REG_DMA_SRC_HI, (uint32_t)(src >> 32));
	test_reg_write(c, TESTDEV_REG_DMA_DST_LO, (uint32_t)dst);
	test_reg_write(c, TESTDEV_REG_DMA_DST_HI, (uint32_t)(dst >> 32));
	test_reg_write(c, TESTDEV_REG_DMA_LEN, len);
	test_reg_write(c, TESTDEV_REG_DMA_CMD,
		       TESTDEV_DMA_START | (to_host ? TESTDEV_DMA_TO_HOST : 0));
	/* The engine sets BUSY before the DMA_CMD write is answered; the
	 * status reads below serve the server's DMA requests meanwhile. */
	for (;;) {
		st = test_reg_read(c, TESTDEV_REG_DMA_STATUS);
		if (!(st & TESTDEV_DMA_BUSY))
			break;
		if (test_now_ms() >= deadline)
			return -ETIMEDOUT;
		ASSERT_NONNEG(vus_client_process(c, 1));
	}
	if (st & TESTDEV_DMA_ERROR)
		return -(int)(st >> 16);
	ASSERT_EQ(test_reg_read(c, TESTDEV_REG_DMA_COUNT), count0 + 1);
	return 0;
}

struct vus_client *test_connect_path(const char *path, int ms)
{
	/* Both bounds stretch for slow runs (vusd under valgrind starts and
	 * answers VERSION in seconds): VUS_TEST_TIME_SCALE. */
	struct vus_client_opts o = { .timeout_ms = 5000 * test_time_scale() };
	int64_t deadline = test_now_ms() + (int64_t)ms * test_time_scale();
	struct vus_client *c = NULL;
	int rc;

	for (;;) {
		rc = vus_client_connect(path, &o, &c);
		if (rc == 0)
			return c;
		if (test_now_ms() >= deadline)
			break;
		test_sleep_ms(10);
	}
	fail_msg("cannot connect to %s within %d ms: %s", path, ms, strerror(-rc));
	return NULL;
}
