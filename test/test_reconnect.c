/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Issue 16 item 10: a client that connects right after the previous one
 * closed is served, never reset. The server may not yet have seen the old
 * connection end when the new one arrives; it must end the old session
 * (its peer has hung up) and take the new client, not refuse it as a
 * "second client" (docs/protocol.md "Sessions"). QEMU never retries, so a
 * refusal there is a failed VM start.
 *
 * Every connect here is a single attempt (vus_client_connect, not the
 * retrying test_connect), repeated many times to hit the window.
 */
#define _GNU_SOURCE
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

#define ROUNDS 200

static int setup(void **state)
{
	struct test_server *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	ASSERT_OK(test_server_start(s, NULL));
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct test_server *s = *state;

	test_server_stop(s);
	free(s);
	return 0;
}

/* A session that did some work, closed, and at once the next one. */
static void connect_close_connect(void **state)
{
	struct test_server *s = *state;
	struct vus_client *c;
	int i, r;

	for (i = 0; i < ROUNDS; i++) {
		r = vus_client_connect(s->path, NULL, &c);
		if (r < 0)
			fail_msg("round %d: connect right after a close: %s", i, strerror(-r));
		test_reg_write(c, TESTDEV_REG_SCRATCH, (uint32_t)i);
		ASSERT_EQ(test_reg_read(c, TESTDEV_REG_SCRATCH), (uint32_t)i);
		vus_client_close(c);
	}
}

/*
 * The previous client's last messages are still handled: a posted write
 * sent just before the close (no reply to wait for) must land, although
 * the server only reads it when the next client arrives.
 */
static void last_posted_write_kept(void **state)
{
	struct test_server *s = *state;
	struct vus_client *c;
	uint32_t v;
	int i, r;

	for (i = 0; i < ROUNDS / 4; i++) {
		r = vus_client_connect(s->path, NULL, &c);
		if (r < 0)
			fail_msg("round %d: connect: %s", i, strerror(-r));
		if (i > 0)
			ASSERT_EQ(test_reg_read(c, TESTDEV_REG_SCRATCH), (uint32_t)(i - 1));
		v = (uint32_t)i;
		ASSERT_OK(vus_client_region_write_posted(c, 0, TESTDEV_REG_SCRATCH, &v,
							 sizeof(v)));
		vus_client_close(c);
	}
}

/* A client that connects and leaves without a word, then a real one. */
static void silent_client_then_real_one(void **state)
{
	struct test_server *s = *state;
	struct vus_client *c;
	int i, fd, r;

	for (i = 0; i < ROUNDS; i++) {
		fd = raw_connect(s->path);
		ASSERT_NONNEG(fd);
		close(fd);
		r = vus_client_connect(s->path, NULL, &c);
		if (r < 0)
			fail_msg("round %d: connect after a silent client: %s", i, strerror(-r));
		ASSERT_EQ(test_reg_read(c, TESTDEV_REG_ID), TESTDEV_ID);
		vus_client_close(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(connect_close_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(last_posted_write_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(silent_client_then_real_one, setup, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
