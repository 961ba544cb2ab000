/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interrupts from the device (device.h "interrupts from the device"): the
 * device names a vector, the guest's config space picks the index that
 * carries it, as a PCI function does (PCI 3.0 6.8: MSI-X if enabled, else
 * MSI if enabled, else the INTx pin), and the pending/mask rules of that
 * index apply.
 *
 * The INTx line is a level: high while set_level(true) holds it or any
 * vector raised onto it is not lowered (a bitmap, so one cause being
 * acknowledged does not drop another's). Everything here runs under
 * dev->irq_lock; delivery itself is irq.c's vus_irq_update_locked().
 */
#include <errno.h>
#include <string.h>

#include "dev_priv.h"

bool vus_intx_line(const struct vus_dev *dev)
{
	const struct vus_pci *pci = &dev->cfg.pci;
	size_t i;

	if (pci->intx_level)
		return true;
	for (i = 0; i < sizeof(pci->intx_src) / sizeof(pci->intx_src[0]); i++)
		if (pci->intx_src[i])
			return true;
	return false;
}

bool vus_irq_blocked_by_pci(const struct vus_dev *dev, uint32_t index, uint32_t vector)
{
	switch (index) {
	case VUS_PCI_INTX_IRQ:
		/* A function using MSI or MSI-X must not use INTx (PCI 3.0
		 * 6.8.1.3, 6.8.2.3); INTx Disable masks the pin (6.2.2). */
		return vus_cfg_intx_disabled(dev) || vus_msi_enabled(dev) ||
		       vus_msix_enabled(dev);
	case VUS_PCI_MSI_IRQ:
		return vus_msi_blocked(dev, vector);
	case VUS_PCI_MSIX_IRQ:
		return vus_msix_blocked(dev, vector);
	default:
		return false;
	}
}

void vus_irq_route_reset(struct vus_dev *dev)
{
	struct vus_pci *pci = &dev->cfg.pci;
	uint32_t index, i;

	pci->intx_level = false;
	memset(pci->intx_src, 0, sizeof(pci->intx_src));
	for (index = VUS_PCI_INTX_IRQ; index <= VUS_PCI_MSIX_IRQ; index++)
		for (i = 0; i < dev->irqs[index].count; i++)
			dev->irqs[index].vec[i].pending = false;
}

/* Vectors a device may name: the largest index it set up. */
static uint32_t max_vectors(const struct vus_dev *dev)
{
	uint32_t n = dev->irqs[VUS_PCI_INTX_IRQ].count;

	if (dev->irqs[VUS_PCI_MSI_IRQ].count > n)
		n = dev->irqs[VUS_PCI_MSI_IRQ].count;
	if (dev->irqs[VUS_PCI_MSIX_IRQ].count > n)
		n = dev->irqs[VUS_PCI_MSIX_IRQ].count;
	return n;
}

static void src_set(struct vus_pci *pci, uint32_t vector, bool on)
{
	uint64_t bit = 1ull << (vector % 64);

	if (on)
		pci->intx_src[vector / 64] |= bit;
	else
		pci->intx_src[vector / 64] &= ~bit;
}

/* Make (index, vector) pending and deliver it if nothing blocks it. */
static int raise_on(struct vus_dev *dev, uint32_t index, uint32_t vector)
{
	struct vus_irq_index *irq = &dev->irqs[index];

	/* The device handed this index's eventfds to itself. */
	if (irq->pt)
		return -ENOENT;
	if (vector >= irq->count)
		return -EINVAL;
	irq->vec[vector].pending = true;
	vus_irq_update_locked(dev, index, vector);
	return 0;
}

int vus_irq_raise(struct vus_dev *dev, uint32_t vector)
{
	uint32_t n;
	int rc;

	if (vector >= max_vectors(dev))
		return -EINVAL;
	pthread_mutex_lock(&dev->irq_lock);
	if (vus_msix_enabled(dev)) {
		rc = raise_on(dev, VUS_PCI_MSIX_IRQ, vector);
	} else if (vus_msi_enabled(dev)) {
		/* More vectors than messages enabled: share the last one. */
		n = vus_msi_enabled_vectors(dev);
		rc = raise_on(dev, VUS_PCI_MSI_IRQ, vector < n ? vector : n - 1);
	} else if (dev->irqs[VUS_PCI_INTX_IRQ].count) {
		src_set(&dev->cfg.pci, vector, true);
		vus_irq_update_locked(dev, VUS_PCI_INTX_IRQ, 0);
		rc = 0;
	} else {
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&dev->irq_lock);
	return rc;
}

int vus_irq_lower(struct vus_dev *dev, uint32_t vector)
{
	struct vus_irq_index *msix = &dev->irqs[VUS_PCI_MSIX_IRQ];
	struct vus_irq_index *msi = &dev->irqs[VUS_PCI_MSI_IRQ];

	if (vector >= max_vectors(dev))
		return -EINVAL;
	/* Wherever it went: the guest may have switched index since. */
	pthread_mutex_lock(&dev->irq_lock);
	src_set(&dev->cfg.pci, vector, false);
	if (vector < msix->count)
		msix->vec[vector].pending = false;
	/* A message shared by several vectors stays: another may own it. */
	if (vector < msi->count && vector < vus_msi_enabled_vectors(dev))
		msi->vec[vector].pending = false;
	pthread_mutex_unlock(&dev->irq_lock);
	return 0;
}

int vus_irq_intx_set_level(struct vus_dev *dev, bool asserted)
{
	struct vus_pci *pci = &dev->cfg.pci;

	if (!dev->irqs[VUS_PCI_INTX_IRQ].count)
		return -EINVAL;
	pthread_mutex_lock(&dev->irq_lock);
	pci->intx_level = asserted;
	if (asserted)
		vus_irq_update_locked(dev, VUS_PCI_INTX_IRQ, 0);
	else
		memset(pci->intx_src, 0, sizeof(pci->intx_src));
	pthread_mutex_unlock(&dev->irq_lock);
	return 0;
}
