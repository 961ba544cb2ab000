/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The capability builder: placement (fixed or automatic), the two linked
 * lists, the vendor-specific and Device Serial Number capabilities, and
 * dispatch of writes, reads and resets to the capabilities with behaviour
 * (config_pm.c, config_msi.c, config_msix.c, config_pcie.c).
 *
 * Capabilities are recorded by setup calls and written into config space
 * by vus_caps_build() when config space is built (listen time), so the
 * final config size and BARs are known then.
 *
 * Layout rules: standard capabilities live in 0x40..0xff, dword aligned,
 * linked from 0x34 through each one's byte 1 (PCI 3.0 6.7); extended ones
 * live in 0x100..0xfff, dword aligned, linked through bits 31:20 of their
 * header, the list starting at 0x100 (PCIe 7.9.1). Both lists run in
 * ascending offset order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev_priv.h"

#define STATUS_CAP_LIST 0x0010u

#define STD_START 0x40u
#define EXT_START 0x100u

#define CAP_ID_VENDOR     0x09
#define EXT_ID_DSN        0x0003
#define EXT_ID_VENDOR     0x000b
#define EXT_HDR(id, ver, next) ((uint32_t)(id) | (uint32_t)(ver) << 16 | (uint32_t)(next) << 20)

#define VENDOR_HDR 3u     /* ID, next, length */
#define VENDOR_MAX 252u   /* fits 0x40..0xff dword-aligned (PCI 3.0 6.7) */
#define VSEC_HDR 8u       /* extended header, VSEC header */
#define VSEC_MAX (4096u - EXT_START - 64u)
#define DSN_LEN 12u

static bool dev_started(const struct vus_dev *dev)
{
	return dev->cfg.bytes != NULL;
}

static unsigned align4(unsigned v)
{
	return (v + 3u) & ~3u;
}

/* [off, off + len) clashes with a capability of the same space. */
static bool overlaps(const struct vus_pci *pci, unsigned off, unsigned len)
{
	unsigned i;

	for (i = 0; i < pci->nr_caps; i++) {
		const struct vus_cap *c = &pci->caps[i];

		if (off < c->offset + align4(c->len) && c->offset < off + align4(len))
			return true;
	}
	return false;
}

static bool singleton(enum vus_cap_kind kind)
{
	/* A function has one of each (PCIe 7.9.3: one Device Serial Number). */
	return kind == VUS_CAPK_PM || kind == VUS_CAPK_MSI || kind == VUS_CAPK_MSIX ||
	       kind == VUS_CAPK_PCIE || kind == VUS_CAPK_DSN || kind == VUS_CAPK_AER;
}

int vus_cap_add(struct vus_dev *dev, enum vus_cap_kind kind, bool extended, uint16_t offset,
		uint16_t len, struct vus_cap **out)
{
	struct vus_pci *pci = &dev->cfg.pci;
	unsigned start = extended ? EXT_START : STD_START;
	unsigned end = extended ? (unsigned)dev->cfg.size : EXT_START;
	unsigned off, i;
	struct vus_cap *caps;

	if (dev_started(dev))
		return -EBUSY;
	/* Extended space exists only in a 4096-byte config space. */
	if (extended && dev->cfg.size != 4096)
		return -EINVAL;
	for (i = 0; singleton(kind) && i < pci->nr_caps; i++)
		if (pci->caps[i].kind == kind)
			return -EEXIST;
	if (offset != VUS_CAP_OFFSET_AUTO) {
		if (offset % 4 || offset < start || offset >= end || len > end - offset)
			return -EINVAL;
		if (overlaps(pci, offset, len))
			return -EBUSY;
		off = offset;
	} else {
		for (off = start; off + len <= end; off += 4)
			if (!overlaps(pci, off, len))
				break;
		if (off + len > end)
			return -ENOSPC;
	}

	caps = realloc(pci->caps, (pci->nr_caps + 1) * sizeof(*caps));
	if (!caps)
		return -ENOMEM;
	pci->caps = caps;
	/* Keep them sorted by offset: the lists are linked in this order. */
	for (i = pci->nr_caps; i > 0 && caps[i - 1].offset > off; i--)
		caps[i] = caps[i - 1];
	memset(&caps[i], 0, sizeof(caps[i]));
	caps[i].kind = kind;
	caps[i].extended = extended;
	caps[i].offset = (uint16_t)off;
	caps[i].len = len;
	pci->nr_caps++;
	if (out)
		*out = &caps[i];
	return (int)off;
}

void vus_cap_del(struct vus_dev *dev, uint16_t offset)
{
	struct vus_pci *pci = &dev->cfg.pci;
	unsigned i;

	for (i = 0; i < pci->nr_caps; i++) {
		if (pci->caps[i].offset != offset)
			continue;
		free(pci->caps[i].data);
		memmove(&pci->caps[i], &pci->caps[i + 1],
			(pci->nr_caps - i - 1) * sizeof(pci->caps[0]));
		pci->nr_caps--;
		return;
	}
}

const struct vus_cap *vus_cap_at(const struct vus_dev *dev, unsigned off)
{
	const struct vus_pci *pci = &dev->cfg.pci;
	unsigned i;

	for (i = 0; i < pci->nr_caps; i++) {
		const struct vus_cap *c = &pci->caps[i];

		if (off >= c->offset && off < (unsigned)c->offset + c->len)
			return c;
	}
	return NULL;
}

/* ---- vendor-specific and serial number ------------------------------ */

/* Record a vendor capability: its device bytes, ops, VSEC header. */
static int vendor_add(struct vus_dev *dev, enum vus_cap_kind kind, uint16_t offset,
		      uint16_t len, uint16_t hdr, uint32_t vsec, const void *data,
		      const struct vus_region_ops *ops, void *opaque)
{
	struct vus_cap *cap;
	uint8_t *copy;
	int off;

	copy = calloc(1, len - hdr > 0 ? len - hdr : 1);
	if (!copy)
		return -ENOMEM;
	if (data)
		memcpy(copy, data, len - hdr);
	off = vus_cap_add(dev, kind, kind == VUS_CAPK_EXT_VENDOR, offset, len, &cap);
	if (off < 0) {
		free(copy);
		return off;
	}
	cap->data = copy;
	cap->data_off = hdr;
	cap->vsec = vsec;
	if (ops) {
		cap->ops = *ops;
		cap->opaque = opaque;
	}
	return off;
}

int vus_dev_add_cap_vendor(struct vus_dev *dev, uint16_t offset, uint8_t len, const void *data,
			   const struct vus_region_ops *ops, void *opaque)
{
	if (len < VENDOR_HDR || len > VENDOR_MAX)
		return -EINVAL;
	return vendor_add(dev, VUS_CAPK_VENDOR, offset, len, VENDOR_HDR, 0, data, ops, opaque);
}

int vus_dev_add_ext_cap_vendor(struct vus_dev *dev, uint16_t offset, uint16_t vsec_id,
			       uint8_t vsec_rev, uint16_t len, const void *data,
			       const struct vus_region_ops *ops, void *opaque)
{
	/* VSEC Rev is 4 bits, VSEC Length 12 (PCIe 7.9.5). */
	if (len < VSEC_HDR || len > VSEC_MAX || len % 4 || vsec_rev > 0xf)
		return -EINVAL;
	return vendor_add(dev, VUS_CAPK_EXT_VENDOR, offset, len, VSEC_HDR,
			  (uint32_t)vsec_id | (uint32_t)vsec_rev << 16 | (uint32_t)len << 20, data,
			  ops, opaque);
}

int vus_dev_add_ext_cap_dsn(struct vus_dev *dev, uint16_t offset, uint64_t serial)
{
	struct vus_cap *cap;
	int off;

	off = vus_cap_add(dev, VUS_CAPK_DSN, true, offset, DSN_LEN, &cap);
	if (off < 0)
		return off;
	cap->serial = serial;
	return off;
}

/* Header bytes are the library's and read-only; data bytes read-only
 * unless the device serves them (config.c routes those accesses). */
static void vendor_build(struct vus_dev *dev, const struct vus_cap *c)
{
	uint8_t *b = dev->cfg.bytes + c->offset;

	if (c->kind == VUS_CAPK_VENDOR) {
		b[0] = CAP_ID_VENDOR;
		b[2] = (uint8_t)c->len;
	} else {
		vus_cfg_put(b, EXT_HDR(EXT_ID_VENDOR, 1, 0), 4);
		vus_cfg_put(b + 4, c->vsec, 4);
	}
	memcpy(b + c->data_off, c->data, c->len - c->data_off);
}

static void dsn_build(struct vus_dev *dev, const struct vus_cap *c)
{
	uint8_t *b = dev->cfg.bytes + c->offset;

	vus_cfg_put(b, EXT_HDR(EXT_ID_DSN, 1, 0), 4);
	vus_cfg_put(b + 4, (uint32_t)c->serial, 4);
	vus_cfg_put(b + 8, (uint32_t)(c->serial >> 32), 4);
}

/* ---- building the lists --------------------------------------------- */

static void link_lists(struct vus_dev *dev)
{
	struct vus_pci *pci = &dev->cfg.pci;
	uint8_t *b = dev->cfg.bytes;
	unsigned i, prev_std = CFG_CAP_PTR, prev_ext = 0;
	bool any_std = false;

	for (i = 0; i < pci->nr_caps; i++) {
		const struct vus_cap *c = &pci->caps[i];

		if (!c->extended) {
			/* 0x34 or the previous one's next byte. */
			b[prev_std == CFG_CAP_PTR ? CFG_CAP_PTR : prev_std + 1] = (uint8_t)c->offset;
			prev_std = c->offset;
			any_std = true;
			continue;
		}
		if (!prev_ext && c->offset != EXT_START) {
			/* The list starts at 0x100 (PCIe 7.9.1): an ID-0
			 * header there leads to the first one. */
			vus_cfg_put(b + EXT_START, EXT_HDR(0, 0, 0), 4);
			prev_ext = EXT_START;
		}
		if (prev_ext)
			vus_cfg_put(b + prev_ext, (vus_cfg_get(b + prev_ext, 4) & 0xfffffu) |
					 (uint32_t)c->offset << 20, 4);
		prev_ext = c->offset;
	}
	if (any_std)
		vus_cfg_reg(dev, CFG_STATUS, 1, b[CFG_STATUS] | STATUS_CAP_LIST,
			    dev->cfg.wmask[CFG_STATUS], dev->cfg.pci.w1c[CFG_STATUS]);
}

int vus_caps_build(struct vus_dev *dev)
{
	struct vus_pci *pci = &dev->cfg.pci;
	unsigned i;
	int err;

	for (i = 0; i < pci->nr_caps; i++) {
		const struct vus_cap *c = &pci->caps[i];

		/* The size may have changed since the capability was added. */
		if ((c->extended || c->kind == VUS_CAPK_PCIE) && dev->cfg.size != 4096) {
			vus_log(dev, VUS_LOG_ERR, "capability at 0x%x needs a 4096-byte config space",
				c->offset);
			return -EINVAL;
		}
		switch (c->kind) {
		case VUS_CAPK_PM:
			vus_pm_build(dev);
			break;
		case VUS_CAPK_MSI:
			err = vus_msi_build(dev);
			if (err)
				return err;
			break;
		case VUS_CAPK_MSIX:
			err = vus_msix_build(dev);
			if (err)
				return err;
			break;
		case VUS_CAPK_PCIE:
			vus_pcie_build(dev);
			break;
		case VUS_CAPK_VENDOR:
		case VUS_CAPK_EXT_VENDOR:
			vendor_build(dev, c);
			break;
		case VUS_CAPK_DSN:
			dsn_build(dev, c);
			break;
		case VUS_CAPK_AER:
			vus_aer_build(dev);
			break;
		}
	}
	link_lists(dev);
	return 0;
}

/* ---- behaviour ------------------------------------------------------ */

unsigned vus_caps_written(struct vus_dev *dev, const struct vus_cfg_write *w)
{
	struct vus_pci *pci = &dev->cfg.pci;
	unsigned i, todo = 0;
	bool routing = false;

	for (i = 0; i < pci->nr_caps; i++) {
		const struct vus_cap *c = &pci->caps[i];

		if (w->off >= (unsigned)c->offset + c->len || c->offset >= w->off + w->len)
			continue;
		switch (c->kind) {
		case VUS_CAPK_PM:
			todo |= vus_pm_written(dev, w);
			break;
		case VUS_CAPK_PCIE:
			todo |= vus_pcie_written(dev, w);
			break;
		case VUS_CAPK_MSI:
		case VUS_CAPK_MSIX:
			routing = true;
			break;
		default:
			break;
		}
	}
	if (routing) {
		/* Enable, function mask or vector masks changed: deliver what
		 * became deliverable, INTx included (MSI off frees the pin). */
		vus_irq_update_index_locked(dev, VUS_PCI_MSIX_IRQ);
		vus_irq_update_index_locked(dev, VUS_PCI_MSI_IRQ);
		vus_irq_update_locked(dev, VUS_PCI_INTX_IRQ, 0);
	}
	return todo;
}

void vus_caps_overlay(const struct vus_dev *dev, unsigned off, uint8_t *buf, unsigned len)
{
	vus_msi_overlay(dev, off, buf, len);
}

void vus_caps_reset(struct vus_dev *dev, const uint8_t *before)
{
	vus_msix_reset(dev);
	vus_pcie_reset(dev, before);
}

void vus_caps_free(struct vus_dev *dev)
{
	struct vus_pci *pci = &dev->cfg.pci;
	unsigned i;

	for (i = 0; i < pci->nr_caps; i++)
		free(pci->caps[i].data);
	free(pci->caps);
	pci->caps = NULL;
	pci->nr_caps = 0;
	vus_msix_free(dev);
}
