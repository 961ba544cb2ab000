/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging (log.h): one formatted line to the log function.
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

/* Longer lines are cut; a trace line is well under this. */
#define VUS_LOG_LINE_MAX 1024

static const char *level_name(enum vus_log_level level)
{
	switch (level) {
	case VUS_LOG_ERR:
		return "error";
	case VUS_LOG_WARN:
		return "warning";
	case VUS_LOG_INFO:
		return "info";
	case VUS_LOG_DEBUG:
		return "debug";
	case VUS_LOG_TRACE:
		return "trace";
	}
	return "log";
}

/* opaque: the device name (vus_dev_new installs this with dev->name). */
void vus_log_default(void *opaque, enum vus_log_level level, const char *msg)
{
	const char *name = opaque ? opaque : "?";

	/* One stdio call per line: stdio's lock keeps lines from different
	 * threads whole. */
	fprintf(stderr, "vus[%s] %s: %s\n", name, level_name(level), msg);
}

void vus_log_emit(const struct vus_log *log, enum vus_log_level level, const char *fmt, ...)
{
	char line[VUS_LOG_LINE_MAX];
	va_list ap;

	if (!VUS_LOG_TO_ON(log, level) || !log->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log->fn(log->opaque, level, line);
}
