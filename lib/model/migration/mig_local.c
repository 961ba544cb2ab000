/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device's state saved and loaded by the library itself, with no client
 * driving MIG_DATA_READ/WRITE: live update (docs/live-update.md) moves
 * each device to a new vusd image through the same callbacks and the same
 * checked stream as a migration (docs/migration.md "Stream format"), so a
 * device that migrates can be live-updated and nothing else is needed
 * from it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev_priv.h"
#include "mig_stream.h"

#define CHUNK (1u << 20)

static bool framed(const struct vus_dev *dev)
{
	return dev->mig.ops.flags & VUS_MIGRATION_FRAMED;
}

/* Everything save() or the framed stream gives in STOP_COPY, to the end. */
static int read_all(struct vus_dev *dev, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (cap - len < CHUNK) {
			nb = realloc(buf, cap + CHUNK);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap += CHUNK;
		}
		if (framed(dev))
			n = vus_mig_stream_read(dev, buf + len, CHUNK, 1);
		else
			n = dev->mig.ops.save(dev, dev->mig.opaque, buf + len, CHUNK);
		if (n < 0 || (size_t)n > CHUNK) {
			free(buf);
			return n < 0 ? (int)n : -EIO;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int vus_mig_local_save(struct vus_dev *dev, uint8_t **buf, size_t *len)
{
	int rc;

	if (!dev->mig.enabled)
		return -EOPNOTSUPP;
	/* A client's own migration or dirty logging is under way: the
	 * stream belongs to it. */
	if (dev->mig.state != VUS_MIG_STATE_RUNNING || dev->mig.logging)
		return -EBUSY;
	/* STOP first: DMA is quiesced and the device parked, and what still
	 * waited on the client is settled into the device's state
	 * (vus_dma_quiesce(): the session's next owner could not finish it)
	 * before STOP_COPY takes it. */
	rc = vus_mig_walk_local(dev, VUS_MIG_STATE_STOP);
	if (rc == 0)
		rc = vus_mig_walk_local(dev, VUS_MIG_STATE_STOP_COPY);
	if (rc == 0)
		rc = read_all(dev, buf, len);
	if (rc)
		vus_mig_local_run(dev);
	return rc;
}

int vus_mig_local_load(struct vus_dev *dev, const uint8_t *buf, size_t len)
{
	size_t off, n;
	int rc;

	if (!dev->mig.enabled)
		return -EOPNOTSUPP;
	if (dev->mig.state != VUS_MIG_STATE_RUNNING)
		return -EBUSY;
	rc = vus_mig_walk_local(dev, VUS_MIG_STATE_RESUMING);
	for (off = 0; rc == 0 && off < len; off += n) {
		n = len - off < CHUNK ? len - off : CHUNK;
		if (framed(dev))
			rc = vus_mig_stream_write(dev, buf + off, n);
		else
			rc = dev->mig.ops.load(dev, dev->mig.opaque, buf + off, n);
	}
	/* RESUMING -> STOP is the commit: the stream is checked and loaded. */
	if (rc == 0)
		rc = vus_mig_walk_local(dev, VUS_MIG_STATE_STOP);
	if (rc)
		vus_mig_local_run(dev);
	return rc;
}

int vus_mig_local_run(struct vus_dev *dev)
{
	int rc;

	if (!dev->mig.enabled || dev->mig.state == VUS_MIG_STATE_RUNNING)
		return 0;
	rc = dev->mig.state == VUS_MIG_STATE_ERROR ? -EIO
						   : vus_mig_walk_local(dev, VUS_MIG_STATE_RUNNING);
	if (rc)
		vus_mig_reset(dev); /* back to RUNNING whatever the callback says */
	return rc;
}
