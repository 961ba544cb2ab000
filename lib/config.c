/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI config space (region 7): a byte array and a per-byte write mask.
 *
 * A write changes only the bits its byte's mask allows, whatever the
 * offset, size or alignment of the access: read-only fields ignore
 * writes, a config write never fails (PCI: writes to read-only bits are
 * dropped silently), and BAR sizing needs no special case because a BAR's
 * mask is ~(size - 1) without the type bits, so writing all-ones and
 * reading back yields the size mask with the type bits intact
 * (protocol-facts 4.6).
 *
 * QEMU emulates the BAR addresses, the ROM BAR, header-type bit 7 and the
 * capability pointers itself and forwards every write to us first
 * (protocol-facts 4.3), so this is the device's view, kept minimal:
 * type-0 header, IDs, command, status, BARs, ROM BAR, interrupt line/pin.
 *
 * Extension point (capabilities): a capability adds its bytes and their
 * write masks in vus_config_init, links itself from 0x34 and sets the
 * Capabilities List bit in Status; registers whose writes have side
 * effects get a hook after the masked store in vus_config_access.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev_priv.h"

/* Type 0 header offsets (PCI Local Bus 3.0, 6.1). */
enum {
	CFG_VENDOR_ID = 0x00,
	CFG_DEVICE_ID = 0x02,
	CFG_COMMAND = 0x04,
	CFG_STATUS = 0x06,
	CFG_REVISION = 0x08,
	CFG_CLASS = 0x09,       /* prog-if, sub class, base class */
	CFG_CACHE_LINE = 0x0c,
	CFG_HEADER_TYPE = 0x0e,
	CFG_BAR0 = 0x10,
	CFG_SUBSYS_VENDOR = 0x2c,
	CFG_SUBSYS_ID = 0x2e,
	CFG_ROM = 0x30,
	CFG_CAP_PTR = 0x34,
	CFG_INT_LINE = 0x3c,
	CFG_INT_PIN = 0x3d,
};

/* Command bits software may set: I/O, memory, bus master, parity error
 * response, SERR#, INTx disable. The rest are hardwired to 0 here. */
#define CMD_WRITABLE 0x0547u

#define BAR_IO          0x1u
#define BAR_MEM_TYPE_64 0x4u
#define BAR_MEM_PREFETCH 0x8u
#define BAR_IO_ADDR_MASK  (~(uint64_t)0x3)
#define BAR_MEM_ADDR_MASK (~(uint64_t)0xf)
#define ROM_ENABLE      0x1u
#define ROM_ADDR_MASK   0xfffff800u

static void put_le(uint8_t *p, uint64_t v, unsigned len)
{
	unsigned i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A register: initial value and writable bits, little-endian (PCI). */
static void cfg_reg(struct vus_config *cfg, unsigned off, unsigned len, uint64_t val,
		    uint64_t wmask)
{
	put_le(cfg->bytes + off, val, len);
	put_le(cfg->wmask + off, wmask, len);
}

static void init_bars(struct vus_dev *dev)
{
	struct vus_config *cfg = &dev->cfg;
	unsigned i;

	for (i = VUS_PCI_BAR0_REGION; i <= VUS_PCI_BAR5_REGION; i++) {
		const struct vus_region *r = &dev->regions[i];
		unsigned off = CFG_BAR0 + 4 * i;
		/* Sizes are powers of two (device.c), so this keeps the
		 * address bits a BAR of that size can decode. */
		uint64_t addr = ~(r->size - 1);

		if (!r->size)
			continue;
		if (r->flags & VUS_REGION_BAR_IO) {
			cfg_reg(cfg, off, 4, BAR_IO, addr & BAR_IO_ADDR_MASK);
			continue;
		}
		if (r->flags & VUS_REGION_BAR_MEM64) {
			/* Lower register plus the next one as the upper half. */
			cfg_reg(cfg, off, 8,
				BAR_MEM_TYPE_64 |
				(r->flags & VUS_REGION_BAR_PREFETCH ? BAR_MEM_PREFETCH : 0),
				addr & BAR_MEM_ADDR_MASK);
			i++;
			continue;
		}
		cfg_reg(cfg, off, 4, r->flags & VUS_REGION_BAR_PREFETCH ? BAR_MEM_PREFETCH : 0,
			(uint32_t)(addr & BAR_MEM_ADDR_MASK));
	}
}

int vus_config_init(struct vus_dev *dev)
{
	struct vus_config *cfg = &dev->cfg;
	const struct vus_region *rom = &dev->regions[VUS_PCI_ROM_REGION];

	/* Built once: a listener that is re-created keeps the state. */
	if (cfg->bytes)
		return 0;
	cfg->bytes = calloc(1, cfg->size);
	cfg->wmask = calloc(1, cfg->size);
	if (!cfg->bytes || !cfg->wmask) {
		vus_config_free(dev);
		return -ENOMEM;
	}

	cfg_reg(cfg, CFG_VENDOR_ID, 2, dev->id.vendor, 0);
	cfg_reg(cfg, CFG_DEVICE_ID, 2, dev->id.device, 0);
	cfg_reg(cfg, CFG_COMMAND, 2, 0, CMD_WRITABLE);
	/* Status: no capabilities yet, so bit 4 stays clear and QEMU does
	 * not walk a list (protocol-facts 4.6). The error bits are RW1C in
	 * hardware; this device never sets them, so read-only zero. */
	cfg_reg(cfg, CFG_STATUS, 2, 0, 0);
	cfg_reg(cfg, CFG_REVISION, 1, dev->id.revision, 0);
	cfg_reg(cfg, CFG_CLASS, 3, dev->id.class_code, 0);
	/* Cache line size is read/write in every PCI function. */
	cfg_reg(cfg, CFG_CACHE_LINE, 1, 0, 0xff);
	/* Endpoint layout; QEMU owns the multifunction bit. */
	cfg_reg(cfg, CFG_HEADER_TYPE, 1, 0, 0);
	init_bars(dev);
	cfg_reg(cfg, CFG_SUBSYS_VENDOR, 2, dev->id.subsys_vendor, 0);
	cfg_reg(cfg, CFG_SUBSYS_ID, 2, dev->id.subsys, 0);
	/* No ROM: the register reads 0 forever, which QEMU's sizing reads as
	 * "no ROM" (protocol-facts 4.6). The ROM BAR decodes at least 2 KiB. */
	if (rom->size)
		cfg_reg(cfg, CFG_ROM, 4, 0,
			((uint32_t)~(rom->size - 1) & ROM_ADDR_MASK) | ROM_ENABLE);
	cfg_reg(cfg, CFG_CAP_PTR, 1, 0, 0);
	cfg_reg(cfg, CFG_INT_LINE, 1, 0, 0xff);
	cfg_reg(cfg, CFG_INT_PIN, 1, dev->intx_pin, 0);
	return 0;
}

int vus_config_access(struct vus_dev *dev, uint64_t offset, void *buf, uint32_t count,
		      bool is_write)
{
	struct vus_config *cfg = &dev->cfg;
	uint8_t *p = buf;
	uint32_t i;

	if (!cfg->bytes)
		return -EIO;
	if (offset > cfg->size || count > cfg->size - offset)
		return -EINVAL;
	if (!is_write) {
		memcpy(p, cfg->bytes + offset, count);
		return 0;
	}
	for (i = 0; i < count; i++) {
		uint8_t m = cfg->wmask[offset + i];
		uint8_t *b = &cfg->bytes[offset + i];

		*b = (uint8_t)((*b & ~m) | (p[i] & m));
	}
	return 0;
}

void vus_config_free(struct vus_dev *dev)
{
	free(dev->cfg.bytes);
	free(dev->cfg.wmask);
	dev->cfg.bytes = NULL;
	dev->cfg.wmask = NULL;
}
