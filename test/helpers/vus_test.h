/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every cmocka program in test/ shares: skips that are reported as
 * skips, and assertions that say what failed.
 *
 * Skips (docs/testing.md, "Skips"): VUS_SKIP("why") prints
 * "skipped: <file>:<line>: why" and marks the running test skipped;
 * VUS_RUN_TESTS() then makes the program exit 77 (ctest's
 * SKIP_RETURN_CODE) if any test was skipped and none failed, so ctest
 * reports the program as skipped instead of passed. Never call cmocka's
 * bare skip(): it gives no reason and the program would exit 0
 * (test/skips_honest.sh checks both rules). VUS_TEST_FILTER=pattern in
 * the environment runs only the tests whose names match.
 *
 * Assertions: cmocka's assert_int_equal(rc, 0) prints
 * "0xfffffffffffffffe != 0" and a line. These print the expression, its
 * value and, for errno values, the errno name and strerror():
 *   ASSERT_OK(expr)        expr == 0
 *   ASSERT_NONNEG(expr)    expr >= 0 (a length, an fd, a count)
 *   ASSERT_ERR(expr, -E)   expr == -E (or E), both named: "-EINVAL"
 *   ASSERT_EQ(a, b)        a == b, both printed in decimal and hex
 * Each expression is evaluated once. ASSERT_EQ compares like
 * assert_int_equal (both converted to uintmax_t), so a converted assert
 * checks exactly what it did before.
 */
#ifndef VUS_TEST_H
#define VUS_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* Record and print a skip reason (printf format); use VUS_SKIP. */
void vus_test_skip_note(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The program's exit status from cmocka's count of failed tests: 1 if any
 * failed, else 77 if any test was skipped (reasons listed), else 0. */
int vus_test_exit(int failed);

#define VUS_SKIP(...)                                                  \
	do {                                                           \
		vus_test_skip_note(__FILE__, __LINE__, __VA_ARGS__);   \
		skip();                                                \
	} while (0)

/* VUS_TEST_FILTER=pattern (cmocka's wildcards * and ?) runs only the
 * matching tests of the program. */
void vus_test_filter_from_env(void);

#define VUS_RUN_TESTS(tests, setup, teardown) \
	(vus_test_filter_from_env(), vus_test_exit(cmocka_run_group_tests(tests, setup, teardown)))

/* "EINVAL" for 22 or -22; NULL if unknown. */
const char *vus_test_errname(intmax_t v);

void vus_assert_ok(intmax_t v, const char *expr, const char *file, int line);
void vus_assert_nonneg(intmax_t v, const char *expr, const char *file, int line);
void vus_assert_err(intmax_t v, intmax_t want, const char *expr, const char *want_expr,
		    const char *file, int line);
void vus_assert_eq(uintmax_t a, uintmax_t b, const char *a_expr, const char *b_expr,
		   const char *file, int line);

#define ASSERT_OK(expr) vus_assert_ok((intmax_t)(expr), #expr, __FILE__, __LINE__)
#define ASSERT_NONNEG(expr) vus_assert_nonneg((intmax_t)(expr), #expr, __FILE__, __LINE__)
#define ASSERT_ERR(expr, err) \
	vus_assert_err((intmax_t)(expr), (intmax_t)(err), #expr, #err, __FILE__, __LINE__)
#define ASSERT_EQ(a, b) \
	vus_assert_eq((uintmax_t)(a), (uintmax_t)(b), #a, #b, __FILE__, __LINE__)

#endif /* VUS_TEST_H */
