/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <unistd.h>

#include "fixture.h"
#include "raw.h"
#include "vus_test.h"

static struct test_fx *fx_new(void)
{
	struct test_fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fd = -1;
	ASSERT_OK(test_server_start(&f->srv, NULL));
	return f;
}

int test_fx_client(void **state)
{
	struct test_fx *f = fx_new();

	*state = f;
	ASSERT_OK(test_connect(&f->srv, NULL, &f->c));
	return 0;
}

int test_fx_raw(void **state)
{
	struct test_fx *f = fx_new();

	*state = f;
	f->fd = raw_connect(f->srv.path);
	ASSERT_NONNEG(f->fd);
	return 0;
}

int test_fx_raw_version(void **state)
{
	struct test_fx *f;

	test_fx_raw(state);
	f = *state;
	ASSERT_OK(raw_version(f->fd, 0, NULL, NULL));
	return 0;
}

int test_fx_teardown(void **state)
{
	struct test_fx *f = *state;

	if (f->c)
		vus_client_close(f->c);
	if (f->fd >= 0)
		close(f->fd);
	test_server_stop(&f->srv);
	free(f);
	return 0;
}
