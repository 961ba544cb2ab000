/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd's log: its own messages and every device's, to stderr or syslog,
 * filtered by one level.
 *
 * Devices log from the loop thread and may log from their worker threads
 * (the library's any-thread calls), so everything here is thread-safe:
 * the level is an atomic, a line is one stdio call (stdio's lock keeps it
 * whole) or one syslog(3) call. The target is chosen once at startup.
 * The library checks each device's own level before formatting anything
 * (device.h), and vusd keeps those levels equal to this one, so an
 * untraced message costs no formatting here either.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "vusd.h"

#define VUSD_LOG_LINE_MAX 1024

static int log_level = VUS_LOG_INFO;
static enum vusd_log_target log_target = VUSD_LOG_STDERR;

const struct vusd_choice vusd_log_levels[] = {
	{ "err", VUS_LOG_ERR },
	{ "warn", VUS_LOG_WARN },
	{ "info", VUS_LOG_INFO },
	{ "debug", VUS_LOG_DEBUG },
	{ "trace", VUS_LOG_TRACE },
	{ NULL, 0 },
};

const char *vusd_log_level_name(enum vus_log_level level)
{
	const struct vusd_choice *c;

	for (c = vusd_log_levels; c->name; c++)
		if (c->value == (int)level)
			return c->name;
	return "?";
}

void vusd_log_open(enum vusd_log_target target)
{
	log_target = target;
	if (target == VUSD_LOG_SYSLOG)
		openlog("vusd", LOG_PID, LOG_DAEMON);
}

void vusd_log_reopen(void)
{
	if (log_target == VUSD_LOG_SYSLOG) {
		closelog();
		openlog("vusd", LOG_PID, LOG_DAEMON); /* connects on first use */
	}
}

void vusd_log_close(void)
{
	if (log_target == VUSD_LOG_SYSLOG)
		closelog();
	log_target = VUSD_LOG_STDERR;
}

void vusd_log_set_level(enum vus_log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

enum vus_log_level vusd_log_level(void)
{
	return (enum vus_log_level)__atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

static bool enabled(enum vus_log_level level)
{
	return (int)level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

/* vus levels are syslog priorities, except TRACE (below DEBUG). */
static int priority(enum vus_log_level level)
{
	return level > VUS_LOG_DEBUG ? LOG_DEBUG : (int)level;
}

static const char *severity(enum vus_log_level level)
{
	switch (level) {
	case VUS_LOG_ERR:
		return "error: ";
	case VUS_LOG_WARN:
		return "warning: ";
	default:
		return "";
	}
}

static void emit(enum vus_log_level level, const char *who, const char *msg)
{
	if (log_target == VUSD_LOG_SYSLOG) {
		if (who)
			syslog(priority(level), "[%s] %s%s", who, severity(level), msg);
		else
			syslog(priority(level), "%s%s", severity(level), msg);
	} else if (who) {
		fprintf(stderr, "vusd[%s]: %s%s\n", who, severity(level), msg);
	} else {
		fprintf(stderr, "vusd: %s%s\n", severity(level), msg);
	}
}

void vusd_log(enum vus_log_level level, const char *fmt, ...)
{
	char line[VUSD_LOG_LINE_MAX];
	va_list ap;

	if (!enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(level, NULL, line);
}

void vusd_log_device(void *opaque, enum vus_log_level level, const char *msg)
{
	if (enabled(level))
		emit(level, opaque, msg);
}
