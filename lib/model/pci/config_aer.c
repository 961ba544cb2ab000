/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Advanced Error Reporting extended capability (ID 0001h, version 2) of an
 * endpoint (PCIe Base 4.0, 7.8.4), and vus_dev_report_aer(): the device
 * records an error the way a function does in hardware and the library
 * tells the client through the ERR interrupt index, as kernel vfio-pci
 * does from its AER error_detected handler.
 *
 * Supported error bits (the others are hardwired to 0, as 7.8.4 permits
 * for errors a function cannot detect):
 *   uncorrectable: 4 Data Link Protocol, 12 Poisoned TLP, 14 Completion
 *     Timeout, 15 Completer Abort, 16 Unexpected Completion, 18 Malformed
 *     TLP, 20 Unsupported Request;
 *   correctable: 0 Receiver Error, 6 Bad TLP, 7 Bad DLLP, 8 REPLAY_NUM
 *     Rollover, 12 Replay Timer Timeout, 13 Advisory Non-Fatal.
 * Status registers are RW1C, Mask and Severity registers RW with the
 * spec's defaults (Severity: DLP and Malformed TLP fatal; Correctable
 * Mask: Advisory Non-Fatal masked). No ECRC, no multiple header
 * recording, no TLP prefix log; the Header Log reads 0.
 *
 * A reset (DEVICE_RESET, FLR) returns the registers to these defaults:
 * hardware keeps the sticky status bits across an FLR, vus does not.
 */
#include <errno.h>

#include "dev_priv.h"

#define EXT_ID_AER 0x0001
#define AER_VERSION 2
/* Endpoint layout up to the TLP Prefix Log, as QEMU's own emulated AER
 * (PCI_ERR_SIZEOF): Linux reads nothing past 0x2c on an endpoint. */
#define AER_LEN 0x48u

enum {
	AER_UNCOR_STATUS = 0x04,
	AER_UNCOR_MASK = 0x08,
	AER_UNCOR_SEVER = 0x0c,
	AER_COR_STATUS = 0x10,
	AER_COR_MASK = 0x14,
	AER_CAP_CTL = 0x18,
};

#define PCIE_DEVSTA 0x0a
#define DEVSTA_COR 0x1u
#define DEVSTA_NONFATAL 0x2u
#define DEVSTA_FATAL 0x4u
#define DEVSTA_UR 0x8u

#define UNCOR_SUPPORTED (VUS_AER_UNCOR_DLP | VUS_AER_UNCOR_POISONED | VUS_AER_UNCOR_COMP_TIMEOUT | \
			 VUS_AER_UNCOR_COMP_ABORT | VUS_AER_UNCOR_UNEXP_COMP |               \
			 VUS_AER_UNCOR_MALFORMED | VUS_AER_UNCOR_UNSUP_REQ)
#define COR_SUPPORTED (VUS_AER_COR_RECEIVER | VUS_AER_COR_BAD_TLP | VUS_AER_COR_BAD_DLLP |      \
		       VUS_AER_COR_REPLAY_ROLLOVER | VUS_AER_COR_REPLAY_TIMER |                  \
		       VUS_AER_COR_ADVISORY)
/* 7.8.4.4 defaults, restricted to the supported bits. */
#define UNCOR_SEVER_DEFAULT (VUS_AER_UNCOR_DLP | VUS_AER_UNCOR_MALFORMED)
#define COR_MASK_DEFAULT VUS_AER_COR_ADVISORY

int vus_dev_add_ext_cap_aer(struct vus_dev *dev, uint16_t offset)
{
	int off;

	/* AER belongs to PCI Express functions. */
	if (!dev->cfg.pci.pcie.off)
		return -EINVAL;
	off = vus_cap_add(dev, VUS_CAPK_AER, true, offset, AER_LEN, NULL);
	if (off < 0)
		return off;
	dev->cfg.pci.aer_off = (uint16_t)off;
	return off;
}

void vus_aer_build(struct vus_dev *dev)
{
	unsigned o = dev->cfg.pci.aer_off;

	vus_cfg_reg(dev, o, 4, EXT_ID_AER | (uint32_t)AER_VERSION << 16, 0, 0);
	vus_cfg_reg(dev, o + AER_UNCOR_STATUS, 4, 0, 0, UNCOR_SUPPORTED);
	vus_cfg_reg(dev, o + AER_UNCOR_MASK, 4, 0, UNCOR_SUPPORTED, 0);
	vus_cfg_reg(dev, o + AER_UNCOR_SEVER, 4, UNCOR_SEVER_DEFAULT, UNCOR_SUPPORTED, 0);
	vus_cfg_reg(dev, o + AER_COR_STATUS, 4, 0, 0, COR_SUPPORTED);
	vus_cfg_reg(dev, o + AER_COR_MASK, 4, COR_MASK_DEFAULT, COR_SUPPORTED, 0);
	/* First Error Pointer (4:0) is the hardware's; no ECRC. */
	vus_cfg_reg(dev, o + AER_CAP_CTL, 4, 0, 0, 0);
}

static unsigned lowest_bit(uint32_t v)
{
	unsigned b = 0;

	while (!(v & 1u)) {
		v >>= 1;
		b++;
	}
	return b;
}

int vus_dev_report_aer(struct vus_dev *dev, uint32_t uncor, uint32_t cor)
{
	struct vus_pci *pci = &dev->cfg.pci;
	uint8_t *b = dev->cfg.bytes;
	unsigned o = pci->aer_off, ds;
	uint32_t st, mask, sever, devsta = 0;
	bool notify;
	int err;

	if (!b)
		return -ENODEV;
	if (!o)
		return -ENOENT;
	if ((uncor & ~UNCOR_SUPPORTED) || (cor & ~COR_SUPPORTED) || !(uncor | cor))
		return -EINVAL;

	pthread_mutex_lock(&dev->irq_lock);
	st = vus_cfg_get(b + o + AER_UNCOR_STATUS, 4);
	mask = vus_cfg_get(b + o + AER_UNCOR_MASK, 4);
	sever = vus_cfg_get(b + o + AER_UNCOR_SEVER, 4);
	/* The First Error Pointer names the first unmasked uncorrectable
	 * error while its status bit is set (7.8.4.7). */
	if ((uncor & ~mask) && !(st & ~mask))
		vus_cfg_put(b + o + AER_CAP_CTL,
			    (vus_cfg_get(b + o + AER_CAP_CTL, 4) & ~0x1fu) | lowest_bit(uncor & ~mask), 4);
	vus_cfg_put(b + o + AER_UNCOR_STATUS, st | uncor, 4);
	vus_cfg_put(b + o + AER_COR_STATUS, vus_cfg_get(b + o + AER_COR_STATUS, 4) | cor, 4);
	/* Device Status records detected errors whatever the masks
	 * (PCIe 7.5.3.5). */
	if (cor)
		devsta |= DEVSTA_COR;
	if (uncor & sever)
		devsta |= DEVSTA_FATAL;
	if (uncor & ~sever)
		devsta |= DEVSTA_NONFATAL;
	if (uncor & VUS_AER_UNCOR_UNSUP_REQ)
		devsta |= DEVSTA_UR;
	ds = pci->pcie.off + PCIE_DEVSTA;
	vus_cfg_put(b + ds, vus_cfg_get(b + ds, 2) | devsta, 2);
	notify = (uncor & ~mask) != 0;
	pthread_mutex_unlock(&dev->irq_lock);

	/* Kernel vfio-pci signals the ERR eventfd for uncorrectable errors
	 * (its error_detected handler); correctable ones are only logged. A
	 * client that did not wire ERR is not an error for the device. */
	if (!notify)
		return 0;
	err = vus_irq_trigger(dev, VUS_PCI_ERR_IRQ, 0);
	return err == -ENOENT ? 0 : err;
}
