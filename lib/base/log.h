/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging (library-internal, the lowest layer): a level check before any
 * formatting (device.h: "an untraced device pays one compare per
 * message"), then one line to the log function. Layers that know no
 * device (session/) log through a struct vus_log pointer; the device
 * model logs through its device (vus_log(dev, ...)).
 */
#ifndef VUS_LOG_H
#define VUS_LOG_H

#include <vus/device.h>

struct vus_log {
	vus_log_fn fn;
	void *opaque;
	enum vus_log_level level;
};

void vus_log_default(void *opaque, enum vus_log_level level, const char *msg);
void vus_log_emit(const struct vus_log *log, enum vus_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The cheap check callers make before building a trace line. Atomic:
 * the level may change (vusd's "log-level") while device worker threads
 * log; relaxed, since a line more or less around the change is fine. */
#define VUS_LOG_TO_ON(logp, lvl) ((lvl) <= __atomic_load_n(&(logp)->level, __ATOMIC_RELAXED))
#define vus_log_to(logp, lvl, ...) \
	do { if (VUS_LOG_TO_ON(logp, lvl)) vus_log_emit(logp, lvl, __VA_ARGS__); } while (0)

/* The same on anything with a struct vus_log member named log (the device). */
#define VUS_LOG_ON(dev, lvl) VUS_LOG_TO_ON(&(dev)->log, lvl)
#define vus_logf(dev, lvl, ...) vus_log_emit(&(dev)->log, lvl, __VA_ARGS__)
#define vus_log(dev, lvl, ...) vus_log_to(&(dev)->log, lvl, __VA_ARGS__)

#endif /* VUS_LOG_H */
