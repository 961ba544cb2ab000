/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A cmocka program that exercises test/helpers/vus_test.h itself: run by
 * test/skips_honest.sh, which checks its exit status and what it prints.
 *   vus_test_selftest pass        every assertion holds: exit 0
 *   vus_test_selftest skip        one test skips: exit 77, reason printed
 *   vus_test_selftest fail-ok     ASSERT_OK(-ENOENT) fails: exit 1
 *   vus_test_selftest fail-err    ASSERT_ERR(-ENOENT, -EINVAL) fails
 *   vus_test_selftest fail-eq     ASSERT_EQ(-2, 0) fails
 *   vus_test_selftest fail-nonneg ASSERT_NONNEG(-EBADF) fails
 *   vus_test_selftest fail-pos    ASSERT_OK(EAGAIN) fails (a positive errno)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vus_test.h"

static const char *mode = "";

static int minus(int e)
{
	return -e;
}

static void test_holds(void **state)
{
	(void)state;
	ASSERT_OK(minus(0));
	ASSERT_NONNEG(minus(0) + 3);
	ASSERT_ERR(minus(EINVAL), -EINVAL);
	ASSERT_ERR(EPROTO, EPROTO);
	ASSERT_EQ((uint64_t)-2, -2);
	ASSERT_EQ(0x5a, 90);
}

static void test_mode(void **state)
{
	(void)state;
	if (!strcmp(mode, "skip"))
		VUS_SKIP("selftest skip, %s", "with a reason");
	else if (!strcmp(mode, "fail-ok"))
		ASSERT_OK(minus(ENOENT));
	else if (!strcmp(mode, "fail-err"))
		ASSERT_ERR(minus(ENOENT), -EINVAL);
	else if (!strcmp(mode, "fail-eq"))
		ASSERT_EQ(minus(2), 0);
	else if (!strcmp(mode, "fail-nonneg"))
		ASSERT_NONNEG(minus(EBADF));
	else if (!strcmp(mode, "fail-pos"))
		ASSERT_OK(minus(-EAGAIN));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holds),
		cmocka_unit_test(test_mode),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s pass|skip|fail-ok|fail-err|fail-eq|fail-nonneg|fail-pos\n",
			argv[0]);
		return 2;
	}
	mode = argv[1];
	return VUS_RUN_TESTS(tests, NULL, NULL);
}
