/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End to end, volume: 1 MiB region transfers checked byte for byte, and
 * posted writes that must leave no stray reply behind.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vus/client.h>

#include "fixture.h"
#include "test_server.h"
#include "vus_test.h"

/* Distinct data per round: a word pattern seeded by the round number. */
static void pattern(uint8_t *p, size_t n, uint32_t round)
{
	uint32_t x = round * 2654435761u + 1;
	size_t i;

	for (i = 0; i + 4 <= n; i += 4) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		memcpy(p + i, &x, 4);
	}
}

static void mib_round_trips(void **state)
{
	struct test_fx *f = *state;
	uint8_t *out = malloc(TESTDEV_BAR1_SIZE), *in = malloc(TESTDEV_BAR1_SIZE);
	uint32_t round;

	assert_non_null(out);
	assert_non_null(in);
	for (round = 0; round < 100; round++) {
		pattern(out, TESTDEV_BAR1_SIZE, round);
		memset(in, 0, TESTDEV_BAR1_SIZE);
		ASSERT_OK(vus_client_region_write(f->c, 1, 0, out, TESTDEV_BAR1_SIZE));
		ASSERT_OK(vus_client_region_read(f->c, 1, 0, in, TESTDEV_BAR1_SIZE));
		if (memcmp(in, out, TESTDEV_BAR1_SIZE) != 0)
			fail_msg("round %u: BAR1 read back differs", round);
	}
	free(out);
	free(in);
}

/* A 1 MiB access split by the client when the server allows less. */
static void split_transfers(void **state)
{
	struct test_fx *f = *state;
	struct test_server small;
	struct vus_client *c;
	uint64_t w0, r0;
	struct vus_device_info di;
	uint8_t *out = malloc(TESTDEV_BAR1_SIZE), *in = malloc(TESTDEV_BAR1_SIZE);

	(void)f;
	assert_non_null(out);
	assert_non_null(in);
	ASSERT_OK(test_server_start(&small, &(struct test_server_opts){
		.max_xfer = 64 * 1024 }));
	ASSERT_OK(test_connect(&small, NULL, &c));
	ASSERT_EQ(vus_client_server_version(c)->caps.max_data_xfer_size, 64 * 1024);
	pattern(out, TESTDEV_BAR1_SIZE, 777);
	w0 = vus_dev_stat_cmd(small.dev, VUS_CMD_REGION_WRITE);
	r0 = vus_dev_stat_cmd(small.dev, VUS_CMD_REGION_READ);
	ASSERT_OK(vus_client_region_write(c, 1, 0, out, TESTDEV_BAR1_SIZE));
	ASSERT_OK(vus_client_region_read(c, 1, 0, in, TESTDEV_BAR1_SIZE));
	/* The server handles commands in order: once this is answered, the
	 * accesses before it are counted. */
	ASSERT_OK(vus_client_device_info(c, &di));
	assert_memory_equal(in, out, TESTDEV_BAR1_SIZE);
	/* 16 chunks each way. */
	ASSERT_EQ(vus_dev_stat_cmd(small.dev, VUS_CMD_REGION_WRITE) - w0, 16);
	ASSERT_EQ(vus_dev_stat_cmd(small.dev, VUS_CMD_REGION_READ) - r0, 16);
	vus_client_close(c);
	test_server_stop(&small);
	free(out);
	free(in);
}

static void posted_writes(void **state)
{
	struct test_fx *f = *state;
	struct pollfd pfd = { .fd = vus_client_fd(f->c), .events = POLLIN };
	uint32_t v;

	for (v = 1; v <= 1000; v++)
		ASSERT_OK(vus_client_region_write_posted(f->c, 0, TESTDEV_REG_SCRATCH, &v,
							 sizeof(v)));
	/* In order: the read sees the last posted write. */
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_SCRATCH), 1000);
	assert_true(vus_dev_stat_cmd(f->srv.dev, VUS_CMD_REGION_WRITE) >= 1000);
	/* No reply to any posted write: nothing buffered in the client (it
	 * would fail with -EPROTO on a reply nobody waits for) and nothing
	 * left on the socket. */
	ASSERT_OK(vus_client_process(f->c, 100));
	ASSERT_OK(poll(&pfd, 1, 100));
	/* A posted write with an error gets no reply either. */
	v = 5;
	ASSERT_OK(vus_client_region_write_posted(f->c, 0, 2, &v, 2));
	ASSERT_OK(vus_client_region_write_posted(f->c, 7, 1u << 20, &v, 4));
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_SCRATCH), 1000);
	ASSERT_OK(vus_client_process(f->c, 100));
	ASSERT_OK(poll(&pfd, 1, 100));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mib_round_trips, test_fx_client, test_fx_teardown),
		cmocka_unit_test_setup_teardown(split_transfers, test_fx_client, test_fx_teardown),
		cmocka_unit_test_setup_teardown(posted_writes, test_fx_client, test_fx_teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
