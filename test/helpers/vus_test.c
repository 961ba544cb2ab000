/* SPDX-License-Identifier: BSD-3-Clause */
/* Skips reported as skips and assertions that say what failed: vus_test.h. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vus_test.h"

#define SKIP_NOTES 32

static char skip_notes[SKIP_NOTES][200];
static unsigned skips;

void vus_test_skip_note(const char *file, int line, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	const char *base = strrchr(file, '/');

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	base = base ? base + 1 : file;
	if (skips < SKIP_NOTES)
		snprintf(skip_notes[skips], sizeof(skip_notes[0]), "%s:%d: %s", base, line, why);
	skips++;
	printf("skipped: %s:%d: %s\n", base, line, why);
	fflush(stdout);
}

void vus_test_filter_from_env(void)
{
	const char *pattern = getenv("VUS_TEST_FILTER");

	if (pattern && *pattern)
		cmocka_set_test_filter(pattern);
}

int vus_test_exit(int failed)
{
	unsigned i;

	if (failed)
		return 1;
	if (!skips)
		return 0;
	printf("skipped: %u test(s) of this program; exit 77 so ctest reports a skip:\n", skips);
	for (i = 0; i < skips && i < SKIP_NOTES; i++)
		printf("skipped:   %s\n", skip_notes[i]);
	fflush(stdout);
	return 77;
}

const char *vus_test_errname(intmax_t v)
{
	if (v < 0)
		v = -v;
	if (v == 0 || v > 4095)
		return NULL;
	return strerrorname_np((int)v);
}

/* " (-EINVAL: Invalid argument)" for an errno-like negative value; for a
 * positive one, what it would be as a positive errno (pthread_create()
 * and friends return those): " (as an errno: EAGAIN)". */
static void errno_text(char *buf, size_t len, intmax_t v)
{
	const char *name = vus_test_errname(v);

	if (name && v < 0)
		snprintf(buf, len, " (-%s: %s)", name, strerror((int)-v));
	else if (name && v < 200)
		snprintf(buf, len, " (as an errno: %s)", name);
	else
		buf[0] = '\0';
}

void vus_assert_ok(intmax_t v, const char *expr, const char *file, int line)
{
	char e[120];

	if (v == 0)
		return;
	errno_text(e, sizeof(e), v);
	print_error("%s is %" PRIdMAX "%s, expected 0\n", expr, v, e);
	_fail(file, line);
}

void vus_assert_nonneg(intmax_t v, const char *expr, const char *file, int line)
{
	char e[120];

	if (v >= 0)
		return;
	errno_text(e, sizeof(e), v);
	print_error("%s is %" PRIdMAX "%s, expected >= 0\n", expr, v, e);
	_fail(file, line);
}

/* "-EINVAL (Invalid argument)", "0", "7" */
static void err_text(char *buf, size_t len, intmax_t v)
{
	const char *name = vus_test_errname(v);

	if (name)
		snprintf(buf, len, "%s%s (%s)", v < 0 ? "-" : "", name,
			 strerror((int)(v < 0 ? -v : v)));
	else
		snprintf(buf, len, "%" PRIdMAX, v);
}

void vus_assert_err(intmax_t v, intmax_t want, const char *expr, const char *want_expr,
		    const char *file, int line)
{
	char got[120], exp[120];

	if (v == want)
		return;
	err_text(got, sizeof(got), v);
	err_text(exp, sizeof(exp), want);
	/* "expected -EINVAL (Invalid argument)"; a name that is not the
	 * errno's own (an alias, a variable) is shown too. */
	if (!strncmp(exp, want_expr, strlen(want_expr)) && !strchr(want_expr, ' '))
		print_error("%s is %s, expected %s\n", expr, got, exp);
	else
		print_error("%s is %s, expected %s = %s\n", expr, got, want_expr, exp);
	_fail(file, line);
}

void vus_assert_eq(uintmax_t a, uintmax_t b, const char *a_expr, const char *b_expr,
		   const char *file, int line)
{
	if (a == b)
		return;
	print_error("%s == %s failed: %" PRIdMAX " (%#" PRIxMAX ") != %" PRIdMAX
		    " (%#" PRIxMAX ")\n", a_expr, b_expr, (intmax_t)a, a, (intmax_t)b, b);
	_fail(file, line);
}
