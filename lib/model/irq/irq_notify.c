/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ERR and REQ notification indices, sized as kernel vfio-pci sizes
 * them: ERR has one vector on a PCI Express function, REQ one on every
 * function (drivers/vfio/pci/vfio_pci_core.c, vfio_pci_get_irq_count).
 * QEMU asks for ERR at every start and, with count 1, wires an eventfd
 * for AER; with any other count it prints "Could not enable error
 * recovery for the device" (docs/protocol.md 3.7).
 *
 * A device that set a count itself (vus_dev_setup_irq) keeps it only if
 * it is non-zero: 0 means "not chosen" here, since both indices are
 * notifications the device raises with vus_irq_trigger() when it has
 * something to say and are harmless when it never does.
 */
#include "dev_priv.h"

int vus_irq_notify_defaults(struct vus_dev *dev)
{
	int err;

	if (dev->cfg.pci.pcie.off && !dev->irqs[VUS_PCI_ERR_IRQ].count) {
		err = vus_dev_setup_irq(dev, VUS_PCI_ERR_IRQ, 1);
		if (err)
			return err;
	}
	if (!dev->irqs[VUS_PCI_REQ_IRQ].count)
		return vus_dev_setup_irq(dev, VUS_PCI_REQ_IRQ, 1);
	return 0;
}
