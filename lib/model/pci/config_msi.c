/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MSI capability (PCI Local Bus 3.0, 6.8.1): 32- or 64-bit address,
 * Multiple Message Capable/Enable, optional per-vector Mask and Pending
 * bits.
 *
 * QEMU emulates this capability for the guest and forwards the writes
 * here first (docs/protocol.md 8.1 "QEMU's config space"), so the Enable, Multiple Message
 * Enable and Mask bits stored here are the guest's: vus_irq_raise() reads
 * them. The Pending bits are the MSI index's pending vectors (irq.c), laid
 * over the register on every read.
 */
#include <errno.h>

#include "dev_priv.h"

#define MSI_CAP_ID 0x05
#define MSI_CTL 2u
#define MSI_ADDR 4u
#define MSI_CTL_ENABLE   0x0001u
#define MSI_CTL_MMC_SHIFT 1
#define MSI_CTL_MME_SHIFT 4
#define MSI_CTL_MME      0x0070u
#define MSI_CTL_64BIT    0x0080u
#define MSI_CTL_PVM      0x0100u

static unsigned data_off(const struct vus_msi *m)
{
	return m->off + (m->is64 ? 0x0cu : 0x08u);
}

static unsigned mask_off(const struct vus_msi *m)
{
	return m->off + (m->is64 ? 0x10u : 0x0cu);
}

static unsigned pending_off(const struct vus_msi *m)
{
	return mask_off(m) + 4;
}

static uint32_t vector_bits(uint32_t nvec)
{
	return nvec >= 32 ? 0xffffffffu : (1u << nvec) - 1;
}

static unsigned log2u(uint32_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

int vus_dev_add_cap_msi(struct vus_dev *dev, uint16_t offset, uint32_t nvec, uint32_t flags)
{
	struct vus_msi *m = &dev->cfg.pci.msi;
	bool is64 = flags & VUS_MSI_64BIT, pvm = flags & VUS_MSI_PER_VECTOR_MASK;
	/* Register layouts of PCI 3.0 figure 6-9. */
	uint16_t len = (uint16_t)((is64 ? 0x0e : 0x0a) + (pvm ? 0x0a : 0));
	int off, err;

	if (flags & ~(VUS_MSI_64BIT | VUS_MSI_PER_VECTOR_MASK))
		return -EINVAL;
	if (!nvec || nvec > VUS_MSI_MAX_VECTORS || (nvec & (nvec - 1)))
		return -EINVAL;
	off = vus_cap_add(dev, VUS_CAPK_MSI, false, offset, len, NULL);
	if (off < 0)
		return off;
	err = vus_irq_setup_index(dev, VUS_PCI_MSI_IRQ, nvec);
	if (err) {
		vus_cap_del(dev, (uint16_t)off);
		return err;
	}
	m->off = (uint16_t)off;
	m->nvec = nvec;
	m->is64 = is64;
	m->pvm = pvm;
	return off;
}

int vus_msi_build(struct vus_dev *dev)
{
	const struct vus_msi *m = &dev->cfg.pci.msi;

	/* vus_dev_setup_irq() after the capability would desynchronise them. */
	if (dev->irqs[VUS_PCI_MSI_IRQ].count != m->nvec) {
		vus_log(dev, VUS_LOG_ERR, "MSI capability has %u vectors, the MSI index %u",
			m->nvec, dev->irqs[VUS_PCI_MSI_IRQ].count);
		return -EINVAL;
	}
	vus_cfg_reg(dev, m->off, 1, MSI_CAP_ID, 0, 0);
	/* Enable and Multiple Message Enable are the guest's. */
	vus_cfg_reg(dev, m->off + MSI_CTL, 2,
		    log2u(m->nvec) << MSI_CTL_MMC_SHIFT | (m->is64 ? MSI_CTL_64BIT : 0) |
		    (m->pvm ? MSI_CTL_PVM : 0),
		    MSI_CTL_ENABLE | MSI_CTL_MME, 0);
	/* Message Address is dword aligned: bits 1:0 read 0. */
	vus_cfg_reg(dev, m->off + MSI_ADDR, 4, 0, 0xfffffffcu, 0);
	if (m->is64)
		vus_cfg_reg(dev, m->off + MSI_ADDR + 4, 4, 0, 0xffffffffu, 0);
	/* 16-bit Message Data; no Extended Message Data. */
	vus_cfg_reg(dev, data_off(m), 2, 0, 0xffff, 0);
	if (m->pvm) {
		/* Mask bits exist for the vectors the function has;
		 * Pending is read-only (overlay below). */
		vus_cfg_reg(dev, mask_off(m), 4, 0, vector_bits(m->nvec), 0);
		vus_cfg_reg(dev, pending_off(m), 4, 0, 0, 0);
	}
	return 0;
}

static uint16_t ctl(const struct vus_dev *dev)
{
	return (uint16_t)vus_cfg_get(dev->cfg.bytes + dev->cfg.pci.msi.off + MSI_CTL, 2);
}

bool vus_msi_enabled(const struct vus_dev *dev)
{
	return dev->cfg.pci.msi.off && dev->cfg.bytes && (ctl(dev) & MSI_CTL_ENABLE);
}

uint32_t vus_msi_enabled_vectors(const struct vus_dev *dev)
{
	const struct vus_msi *m = &dev->cfg.pci.msi;
	unsigned mme;

	if (!m->off || !dev->cfg.bytes)
		return 0;
	mme = (ctl(dev) & MSI_CTL_MME) >> MSI_CTL_MME_SHIFT;
	/* Software must not enable more than capable; if it does, the
	 * function still has only nvec. */
	return mme > 5 || (1u << mme) > m->nvec ? m->nvec : 1u << mme;
}

bool vus_msi_blocked(const struct vus_dev *dev, uint32_t v)
{
	const struct vus_msi *m = &dev->cfg.pci.msi;

	/* Without a capability the index is the client's alone. */
	if (!m->off)
		return false;
	if (!vus_msi_enabled(dev) || v >= vus_msi_enabled_vectors(dev))
		return true;
	return m->pvm && (vus_cfg_get(dev->cfg.bytes + mask_off(m), 4) >> v & 1);
}

void vus_msi_overlay(const struct vus_dev *dev, unsigned off, uint8_t *buf, unsigned len)
{
	const struct vus_msi *m = &dev->cfg.pci.msi;
	const struct vus_irq_index *irq = &dev->irqs[VUS_PCI_MSI_IRQ];
	unsigned p, i;
	uint8_t reg[4];
	uint32_t bits = 0;

	if (!m->off || !m->pvm)
		return;
	p = pending_off(m);
	if (off >= p + 4 || off + len <= p)
		return;
	for (i = 0; i < irq->count && i < m->nvec; i++)
		if (irq->vec[i].pending)
			bits |= 1u << i;
	vus_cfg_put(reg, bits, 4);
	for (i = 0; i < 4; i++)
		if (p + i >= off && p + i < off + len)
			buf[p + i - off] = reg[i];
}
