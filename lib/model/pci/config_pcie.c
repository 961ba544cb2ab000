/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI Express capability, version 2, of an endpoint (PCIe Base 4.0,
 * 7.5.3): Device Capabilities/Control/Status, the link registers and
 * their "2" counterparts, and Function Level Reset.
 *
 * The link is reported as trained at its maximum: Link Status matches
 * Link Capabilities and the Supported Link Speeds vector covers the
 * maximum speed (7.5.3.18: Max Link Speed indexes that vector). QEMU
 * accepts only the endpoint types (docs/protocol.md 3.9.1). Features the
 * function lacks (ASPM, extended tags, completion timeout ranges, ...)
 * are hardwired to 0 as the spec permits.
 */
#include <errno.h>

#include "dev_priv.h"

#define PCIE_CAP_ID 0x10
#define PCIE_LEN 0x3cu

/* Register offsets inside the capability. */
enum {
	PCIE_FLAGS = 0x02,
	PCIE_DEVCAP = 0x04,
	PCIE_DEVCTL = 0x08,
	PCIE_DEVSTA = 0x0a,
	PCIE_LNKCAP = 0x0c,
	PCIE_LNKCTL = 0x10,
	PCIE_LNKSTA = 0x12,
	PCIE_DEVCAP2 = 0x24,
	PCIE_DEVCTL2 = 0x28,
	PCIE_LNKCAP2 = 0x2c,
	PCIE_LNKCTL2 = 0x30,
	PCIE_LNKSTA2 = 0x32,
};

#define FLAGS_VERSION2 0x0002u
#define FLAGS_TYPE_SHIFT 4
#define DEVCAP_RBE 0x00008000u      /* Role-Based Error Reporting: 1 since 1.1 */
#define DEVCAP_FLR 0x10000000u
/* Device Control: error reporting enables (3:0), Relaxed Ordering (4),
 * Max_Payload_Size (7:5), No Snoop (11), Max_Read_Request_Size (14:12);
 * bit 15 is Initiate FLR, which always reads 0. */
#define DEVCTL_WRITABLE 0x78ffu
#define DEVCTL_DEFAULT  0x2810u     /* RO and No Snoop on, MRRS 512 B */
#define DEVCTL_MPS      0x00e0u
#define DEVCTL_FLR      0x8000u
/* Device Status: the four error-detected bits are RW1C. */
#define DEVSTA_RW1C 0x000fu
#define LNKCAP_ASPM_COMPLIANCE 0x00400000u
/* Link Control: ASPM Control (1:0), RCB (3), Common Clock (6), Extended
 * Synch (7). */
#define LNKCTL_WRITABLE 0x00cbu
#define LNKCTL_ASPM 0x0003u
/* Link Control 2: Target Link Speed (3:0), HW Autonomous Speed Disable (5). */
#define LNKCTL2_WRITABLE 0x002fu

static bool valid_width(uint8_t w)
{
	return w == 1 || w == 2 || w == 4 || w == 8 || w == 12 || w == 16 || w == 32;
}

int vus_dev_add_cap_pcie(struct vus_dev *dev, uint16_t offset, const struct vus_pcie_cfg *cfg)
{
	struct vus_pcie *e = &dev->cfg.pci.pcie;
	int off;

	if (!cfg || cfg->max_payload > 5)
		return -EINVAL;
	if (cfg->type != VUS_PCIE_ENDPOINT && cfg->type != VUS_PCIE_LEGACY_ENDPOINT &&
	    cfg->type != VUS_PCIE_RC_ENDPOINT)
		return -EINVAL;
	/* An RC-integrated endpoint has no link; the others must say what
	 * they have. */
	if (cfg->type == VUS_PCIE_RC_ENDPOINT ? cfg->link_speed || cfg->link_width
					       : cfg->link_speed < 1 || cfg->link_speed > 6 ||
						 !valid_width(cfg->link_width))
		return -EINVAL;
	/* A PCI Express function has a 4096-byte config space; with 256
	 * bytes QEMU drops PCIe-ness anyway (docs/protocol.md 3.9.1). */
	if (dev->cfg.size != 4096)
		return -EINVAL;
	off = vus_cap_add(dev, VUS_CAPK_PCIE, false, offset, PCIE_LEN, NULL);
	if (off < 0)
		return off;
	e->off = (uint16_t)off;
	e->cfg = *cfg;
	return off;
}

void vus_pcie_build(struct vus_dev *dev)
{
	const struct vus_pcie *e = &dev->cfg.pci.pcie;
	const struct vus_pcie_cfg *c = &e->cfg;
	unsigned o = e->off;
	uint32_t link = 0;

	vus_cfg_reg(dev, o, 1, PCIE_CAP_ID, 0, 0);
	vus_cfg_reg(dev, o + PCIE_FLAGS, 2, FLAGS_VERSION2 | (uint32_t)c->type << FLAGS_TYPE_SHIFT,
		    0, 0);
	vus_cfg_reg(dev, o + PCIE_DEVCAP, 4, c->max_payload | DEVCAP_RBE | (c->flr ? DEVCAP_FLR : 0),
		    0, 0);
	vus_cfg_reg(dev, o + PCIE_DEVCTL, 2, DEVCTL_DEFAULT, DEVCTL_WRITABLE, 0);
	vus_cfg_reg(dev, o + PCIE_DEVSTA, 2, 0, 0, DEVSTA_RW1C);
	if (c->type != VUS_PCIE_RC_ENDPOINT) {
		link = c->link_speed | (uint32_t)c->link_width << 4;
		vus_cfg_reg(dev, o + PCIE_LNKCAP, 4, link | LNKCAP_ASPM_COMPLIANCE, 0, 0);
		vus_cfg_reg(dev, o + PCIE_LNKCTL, 2, 0, LNKCTL_WRITABLE, 0);
		vus_cfg_reg(dev, o + PCIE_LNKSTA, 2, link, 0, 0);
		/* Speeds 2.5 GT/s up to the maximum, bits 1.. (7.5.3.18). */
		vus_cfg_reg(dev, o + PCIE_LNKCAP2, 4, ((1u << c->link_speed) - 1) << 1, 0, 0);
		vus_cfg_reg(dev, o + PCIE_LNKCTL2, 2, c->link_speed, LNKCTL2_WRITABLE, 0);
		vus_cfg_reg(dev, o + PCIE_LNKSTA2, 2, 0, 0, 0);
	}
	/* No completion timeout ranges, ARI, atomics, LTR, OBFF: all 0. */
	vus_cfg_reg(dev, o + PCIE_DEVCAP2, 4, 0, 0, 0);
	vus_cfg_reg(dev, o + PCIE_DEVCTL2, 2, 0, 0, 0);
}

unsigned vus_pcie_written(struct vus_dev *dev, const struct vus_cfg_write *w)
{
	const struct vus_pcie *e = &dev->cfg.pci.pcie;
	uint8_t old, val;

	/* Initiate FLR: bit 15 of Device Control, its high byte's bit 7. */
	if (e->cfg.flr && vus_cfg_written(w, e->off + PCIE_DEVCTL + 1, &old, &val) &&
	    (val & (DEVCTL_FLR >> 8)))
		return VUS_CFG_DO_FLR;
	return 0;
}

void vus_pcie_reset(struct vus_dev *dev, const uint8_t *before)
{
	const struct vus_pcie *e = &dev->cfg.pci.pcie;
	uint8_t *b = dev->cfg.bytes;
	unsigned ctl = e->off + PCIE_DEVCTL, lnk = e->off + PCIE_LNKCTL;

	if (!e->off)
		return;
	/* An FLR leaves link-related settings alone: Max_Payload_Size and
	 * ASPM Control among them (PCIe 4.0 6.6.2). */
	vus_cfg_put(b + ctl, (vus_cfg_get(b + ctl, 2) & ~DEVCTL_MPS) |
			     (vus_cfg_get(before + ctl, 2) & DEVCTL_MPS), 2);
	if (e->cfg.type != VUS_PCIE_RC_ENDPOINT)
		vus_cfg_put(b + lnk, (vus_cfg_get(b + lnk, 2) & ~LNKCTL_ASPM) |
				     (vus_cfg_get(before + lnk, 2) & LNKCTL_ASPM), 2);
}
