/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "testdev_fx.h"
#include "vus_test.h"

struct testdev_fx *testdev_fx_start(const struct testdev_opts *opts)
{
	struct test_server_opts so = { .testdev = opts };
	struct testdev_fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	ASSERT_OK(test_server_start(&f->srv, &so));
	f->td = f->srv.td;
	ASSERT_OK(test_connect(&f->srv, NULL, &f->c));
	return f;
}

struct testdev_fx *testdev_fx_start_pcie(bool pcie)
{
	struct testdev_opts opts = { .pcie = pcie };

	return testdev_fx_start(&opts);
}

void testdev_fx_stop(struct testdev_fx *f)
{
	vus_client_close(f->c);
	test_server_stop(&f->srv);
	free(f);
}
