/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A testdev served on its own thread, listening on a socket in a fresh
 * mkdtemp() directory, for end-to-end tests in one process.
 *
 * The device's loop runs on the server thread (vus_dev_run); the test
 * thread talks to it over the socket only, plus the calls device.h allows
 * from any thread (stats).
 */
#ifndef VUS_TEST_SERVER_H
#define VUS_TEST_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <vus/client.h>
#include <vus/device.h>

#include "testdev.h"

struct test_server_opts {
	enum vus_dma_layout layout;  /* server DMA layout (AUTO default) */
	uint32_t max_xfer;           /* 0 = library default (1 MiB) */
	enum vus_log_level log_level; /* 0 = VUS_LOG_ERR (quiet: raw tests
				       * provoke warnings on purpose) */
	const struct testdev_opts *testdev; /* NULL = testdev's defaults */
};

struct test_server {
	struct testdev *td;
	struct vus_dev *dev;
	char dir[64];
	char path[128];
	pthread_t thread;
	int run_rc;
	bool running;
};

/* Create, listen and start serving. Returns 0 or -errno. */
int test_server_start(struct test_server *s, const struct test_server_opts *opts);
/* Stop the loop, join, free the device, remove the socket directory. */
void test_server_stop(struct test_server *s);

/* Server statistics (vus_dev_get_stats). */
void test_server_stats(struct test_server *s, struct vus_dev_stats *st);
/* Wait up to ms for the server's cur_maps to become n (a client's maps
 * go away when the server notices its disconnect). */
bool test_server_wait_maps(struct test_server *s, uint32_t n, int ms);

/*
 * vus_client_connect() retried for up to 2 s while the server is still
 * tearing down the previous client (it refuses a second connection while
 * one is attached).
 */
int test_connect(struct test_server *s, const struct vus_client_opts *opts,
		 struct vus_client **out);

/* Connect a client to the socket at path, retrying for up to ms while the
 * server is not there yet (a program being started); fails the test with
 * the last error otherwise. */
struct vus_client *test_connect_path(const char *path, int ms);

/* 32-bit BAR0 register access through the client; fail the test on error. */
uint32_t test_reg_read(struct vus_client *c, uint32_t reg);
void test_reg_write(struct vus_client *c, uint32_t reg, uint32_t val);

/* Start a testdev DMA of len bytes and wait (up to 5 s, serving DMA
 * requests) for it to finish; returns 0 or the -errno testdev recorded. */
int test_dma_run(struct vus_client *c, uint64_t src, uint64_t dst, uint32_t len,
		 bool to_host);

/* Sleep ms milliseconds. */
void test_sleep_ms(int ms);

#endif /* VUS_TEST_SERVER_H */
