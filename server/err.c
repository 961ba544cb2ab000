/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Error messages for the user (devtypes.h struct vusd_err): the lowest
 * file of vusd, used by every other one.
 */
#include <stdarg.h>
#include <stdio.h>

#include "devtypes.h"

void vusd_errf(struct vusd_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}
