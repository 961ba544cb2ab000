/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cmocka fixture most wire-level tests share: a testdev served on its
 * own thread (test_server.h) and one connection to it, either through
 * libvus's client or as a raw socket (raw.h) for tests that write the
 * bytes themselves.
 */
#ifndef VUS_TEST_FIXTURE_H
#define VUS_TEST_FIXTURE_H

#include "test_server.h"

struct test_fx {
	struct test_server srv;
	struct vus_client *c; /* test_fx_client(); else NULL */
	int fd;               /* test_fx_raw(); else -1 */
};

/* setup: a testdev and a libvus client that negotiated VERSION. */
int test_fx_client(void **state);
/* setup: a testdev and a raw connection, nothing sent yet. */
int test_fx_raw(void **state);
/* setup: test_fx_raw() after a VERSION exchange. */
int test_fx_raw_version(void **state);
/* teardown for all three. */
int test_fx_teardown(void **state);

#endif /* VUS_TEST_FIXTURE_H */
