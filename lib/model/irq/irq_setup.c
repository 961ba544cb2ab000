/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IRQ setup (device.h "interrupts"): the vector tables of the IRQ
 * indices, the INTx pin, passthrough callbacks. The MSI and MSI-X
 * capabilities (model/pci/) size their index through vus_irq_setup_index().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <vus/passthrough.h>

#include "dev_priv.h"

/* Vectors per IRQ index (device.h): INTx 0/1, MSI and MSI-X as their
 * capabilities allow (pci_priv.h), ERR/REQ 1. */
static const uint32_t irq_max_vectors[VUS_PCI_NUM_IRQS] = {
	[VUS_PCI_INTX_IRQ] = 1,
	[VUS_PCI_MSI_IRQ] = VUS_MSI_MAX_VECTORS,
	[VUS_PCI_MSIX_IRQ] = VUS_MSIX_MAX_VECTORS,
	[VUS_PCI_ERR_IRQ] = 1,
	[VUS_PCI_REQ_IRQ] = 1,
};

/* Replace the vector table of an index; the client is not attached yet. */
static int irq_resize(struct vus_dev *dev, uint32_t index, uint32_t count)
{
	struct vus_irq_index *irq = &dev->irqs[index];
	struct vus_irq_vec *vec = NULL;
	uint32_t i;

	if (count) {
		vec = calloc(count, sizeof(*vec));
		if (!vec)
			return -ENOMEM;
		for (i = 0; i < count; i++)
			vec[i].efd = -1;
	}
	free(irq->vec);
	irq->vec = vec;
	irq->count = count;
	return 0;
}

/*
 * An interrupt pin and one INTx vector are one property: QEMU enables INTx
 * (SET_IRQS index 0, count 1) whenever config byte 0x3d is non-zero and
 * fails realize if that is refused (docs/protocol.md 8.1 "QEMU's INTx"). So a pin brings
 * its vector and a vector brings a pin (INTA unless one was chosen).
 */
int vus_dev_set_intx_pin(struct vus_dev *dev, uint8_t pin)
{
	int err;

	if (vus_dev_started(dev))
		return -EBUSY;
	if (pin > 4)
		return -EINVAL;
	err = irq_resize(dev, VUS_PCI_INTX_IRQ, pin ? 1 : 0);
	if (err)
		return err;
	dev->intx_pin = pin;
	return 0;
}

int vus_irq_setup_index(struct vus_dev *dev, uint32_t index, uint32_t count)
{
	int err;

	if (index >= VUS_PCI_NUM_IRQS || count > irq_max_vectors[index])
		return -EINVAL;
	err = irq_resize(dev, index, count);
	if (err)
		return err;
	if (index == VUS_PCI_INTX_IRQ)
		dev->intx_pin = count ? (dev->intx_pin ? dev->intx_pin : 1) : 0;
	return 0;
}

int vus_dev_setup_irq(struct vus_dev *dev, uint32_t index, uint32_t count)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	return vus_irq_setup_index(dev, index, count);
}

int vus_dev_set_irq_info_flags(struct vus_dev *dev, uint32_t index, uint32_t flags)
{
	const uint32_t known = VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE |
			       VUS_IRQ_INFO_AUTOMASKED | VUS_IRQ_INFO_NORESIZE;

	if (vus_dev_started(dev))
		return -EBUSY;
	if (index >= VUS_PCI_NUM_IRQS || (flags & ~known))
		return -EINVAL;
	dev->irqs[index].info_flags = flags;
	dev->irqs[index].info_flags_set = true;
	return 0;
}

int vus_dev_set_irq_passthrough(struct vus_dev *dev, uint32_t index, vus_irq_passthrough_fn cb,
				void *opaque)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	if (index >= VUS_PCI_NUM_IRQS)
		return -EINVAL;
	dev->irqs[index].pt = cb;
	dev->irqs[index].pt_opaque = cb ? opaque : NULL;
	return 0;
}

