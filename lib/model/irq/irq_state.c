/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The interrupt state that travels in the framed migration stream
 * (docs/migration.md "Interrupts in the stream"): what the library owes
 * the guest and the device cannot know -- each vector's pending bit
 * (held while stopped, or masked: MSI-X's PBA) and the INTx line's
 * sources. Eventfds and masks are the client's and stay with it.
 *
 * Without this, an interrupt held at STOP_COPY was lost, and a device
 * re-raising its pending causes on load sent a second message for an
 * interrupt the source had delivered already.
 *
 * Payload (little-endian):
 *   0  u32 count[3]     vectors of INTx, MSI, MSI-X (must match here)
 *  12  u32 intx_level   vus_irq_intx_set_level()'s line
 *  16  u32 nsrc         u64 words of INTx sources that follow
 *  20  u64 intx_src[nsrc]
 *      u8  pending[ceil(count[i] / 8)] for i = 0, 1, 2 (bit v: vector v)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dev_priv.h"
#include "le.h"

#define NIDX 3u /* INTx, MSI, MSI-X */

static uint32_t nsrc_words(const struct vus_dev *dev)
{
	uint32_t i, n = 0;

	for (i = 0; i < NIDX; i++)
		if (dev->irqs[i].count > n)
			n = dev->irqs[i].count;
	n = (n + 63) / 64;
	return n < VUS_MAX_VECTORS / 64 ? n : VUS_MAX_VECTORS / 64;
}

size_t vus_irq_state_size(const struct vus_dev *dev)
{
	size_t n = 20 + 8 * (size_t)nsrc_words(dev);
	uint32_t i;

	for (i = 0; i < NIDX; i++)
		n += (dev->irqs[i].count + 7) / 8;
	return n;
}

void vus_irq_state_save(struct vus_dev *dev, uint8_t *out)
{
	uint32_t i, v, nsrc = nsrc_words(dev);
	uint8_t *p;

	memset(out, 0, vus_irq_state_size(dev));
	pthread_mutex_lock(&dev->irq_lock);
	for (i = 0; i < NIDX; i++)
		le_put32(out + 4 * i, dev->irqs[i].count);
	le_put32(out + 12, dev->cfg.pci.intx_level);
	le_put32(out + 16, nsrc);
	for (i = 0; i < nsrc; i++)
		le_put64(out + 20 + 8 * i, dev->cfg.pci.intx_src[i]);
	p = out + 20 + 8 * nsrc;
	for (i = 0; i < NIDX; i++) {
		for (v = 0; v < dev->irqs[i].count; v++)
			if (dev->irqs[i].vec[v].pending)
				p[v / 8] |= (uint8_t)(1u << (v % 8));
		p += (dev->irqs[i].count + 7) / 8;
	}
	pthread_mutex_unlock(&dev->irq_lock);
}

int vus_irq_state_check(const struct vus_dev *dev, const uint8_t *p, size_t len, char *why,
			size_t why_len)
{
	uint32_t i;

	if (len != vus_irq_state_size(dev)) {
		snprintf(why, why_len, "interrupt state of %zu bytes, this device's is %zu", len,
			 vus_irq_state_size(dev));
		return -EINVAL;
	}
	for (i = 0; i < NIDX; i++) {
		if (le_get32(p + 4 * i) != dev->irqs[i].count) {
			snprintf(why, why_len, "interrupt index %u has %u vectors there, %u here",
				 i, le_get32(p + 4 * i), dev->irqs[i].count);
			return -EINVAL;
		}
	}
	if (le_get32(p + 16) != nsrc_words(dev) || le_get32(p + 12) > 1) {
		snprintf(why, why_len, "INTx state malformed");
		return -EINVAL;
	}
	return 0;
}

/*
 * Replace the pending bits and INTx sources with the stream's (checked by
 * vus_irq_state_check). Runs after the device's load(): whatever load()
 * raised again for causes in its registers is replaced, so an interrupt
 * the source delivered is not delivered twice, and one it held is
 * delivered once, when the device leaves the stopped states.
 */
void vus_irq_state_load(struct vus_dev *dev, const uint8_t *in)
{
	uint32_t i, v, nsrc = nsrc_words(dev);
	const uint8_t *p;

	pthread_mutex_lock(&dev->irq_lock);
	dev->cfg.pci.intx_level = le_get32(in + 12) != 0;
	memset(dev->cfg.pci.intx_src, 0, sizeof(dev->cfg.pci.intx_src));
	for (i = 0; i < nsrc; i++)
		dev->cfg.pci.intx_src[i] = le_get64(in + 20 + 8 * i);
	p = in + 20 + 8 * nsrc;
	for (i = 0; i < NIDX; i++) {
		for (v = 0; v < dev->irqs[i].count; v++)
			dev->irqs[i].vec[v].pending = p[v / 8] >> (v % 8) & 1;
		p += (dev->irqs[i].count + 7) / 8;
	}
	/* Delivered on the way out of the stopped states (vus_irq_hold()). */
	for (i = 0; i < NIDX; i++)
		vus_irq_update_index_locked(dev, i);
	pthread_mutex_unlock(&dev->irq_lock);
}
