/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A testdev with chosen options served by test_server.h, and a libvus
 * client connected to it: for tests that need a testdev variant, or two
 * devices at once (test_testdev_pcie, test_testdev_vfio). fixture.h is
 * the cmocka setup for the default testdev.
 */
#ifndef VUS_TEST_TESTDEV_FX_H
#define VUS_TEST_TESTDEV_FX_H

#include <stdbool.h>

#include <vus/client.h>

#include "test_server.h"
#include "testdev.h"

struct testdev_fx {
	struct test_server srv;
	struct testdev *td; /* srv.td */
	struct vus_client *c;
};

/* Served and connected (opts NULL: defaults); fails the test on error. */
struct testdev_fx *testdev_fx_start(const struct testdev_opts *opts);
/* The default testdev, or (pcie) its PCI Express variant. */
struct testdev_fx *testdev_fx_start_pcie(bool pcie);
/* Client closed, server stopped, everything freed. */
void testdev_fx_stop(struct testdev_fx *f);

#endif /* VUS_TEST_TESTDEV_FX_H */
