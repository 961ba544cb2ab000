/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio migration (docs/migration.md): the 16-byte gpio_save() record
 * (gpio.h "Saved state") through migration v2, STOP_COPY only, in the
 * library's checked stream (VUS_MIGRATION_FRAMED).
 *
 * The record is taken when saving starts (the device is stopped then: the
 * guest's writes are held back with its vCPUs) and applied with
 * gpio_restore() at RESUMING -> STOP, the commit point.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpio.h"
#include "gpio_mig.h"

struct gpio_mig {
	struct gpio *g;
	uint8_t save[GPIO_SAVE_SIZE];
	size_t save_len, save_pos;
	uint8_t load[GPIO_SAVE_SIZE];
	size_t load_len;
	bool load_bad;        /* more than one record came */
};

static ssize_t mig_save(struct vus_dev *dev, void *opaque, void *buf, size_t len)
{
	struct gpio_mig *m = opaque;
	size_t n = m->save_len - m->save_pos;

	if (n > len)
		n = len;
	memcpy(buf, m->save + m->save_pos, n);
	m->save_pos += n;
	return (ssize_t)n;
}

static int mig_load(struct vus_dev *dev, void *opaque, const void *buf, size_t len)
{
	struct gpio_mig *m = opaque;

	if (len > sizeof(m->load) - m->load_len) {
		m->load_bad = true;
		return -EINVAL;
	}
	memcpy(m->load + m->load_len, buf, len);
	m->load_len += len;
	return 0;
}

static int mig_transition(struct vus_dev *dev, void *opaque, enum vus_mig_state from,
			  enum vus_mig_state to)
{
	struct gpio_mig *m = opaque;
	ssize_t n;
	int rc = 0;

	switch (to) {
	case VUS_MIG_STATE_STOP_COPY:
		n = gpio_save(m->g, m->save, sizeof(m->save));
		if (n < 0)
			return (int)n;
		m->save_len = (size_t)n;
		m->save_pos = 0;
		return 0;
	case VUS_MIG_STATE_RESUMING:
		m->load_len = 0;
		m->load_bad = false;
		return 0;
	case VUS_MIG_STATE_STOP:
		if (from == VUS_MIG_STATE_RESUMING && (m->load_len || m->load_bad))
			rc = m->load_bad ? -EINVAL : gpio_restore(m->g, m->load, m->load_len);
		m->save_len = m->save_pos = m->load_len = 0;
		return rc;
	case VUS_MIG_STATE_RUNNING:
		/* Also the library's reset arc, from any state (device.h). */
		m->save_len = m->save_pos = m->load_len = 0;
		return 0;
	default:
		return -EINVAL;
	}
}

int gpio_mig_setup(struct gpio *g, struct gpio_mig **out)
{
	static const struct vus_migration_ops ops = {
		.flags = VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_FRAMED,
		.transition = mig_transition,
		.save = mig_save,
		.load = mig_load,
	};
	struct gpio_mig *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->g = g;
	rc = vus_dev_set_migration(gpio_dev(g), &ops, m);
	if (rc < 0) {
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void gpio_mig_free(struct gpio_mig *m)
{
	free(m);
}
