/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI config space (region 7): a byte array with per-byte write masks and
 * RW1C masks, the type-0 header and BARs, and the access path every
 * capability shares (pci_priv.h lists the files).
 *
 * A write changes only the bits its byte's mask allows, whatever the
 * offset, size or alignment of the access: read-only fields ignore
 * writes, a config write never fails (PCI: writes to read-only bits are
 * dropped silently), and BAR sizing needs no special case because a BAR's
 * mask is ~(size - 1) without the type bits, so writing all-ones and
 * reading back yields the size mask with the type bits intact
 * (docs/protocol.md 3.9.1). RW1C bits (error status) clear where a 1 is
 * written. After the store, registers with side effects get their hook
 * (Command: INTx Disable; capabilities: config_caps.c); a function reset
 * one of them asks for (FLR) runs after the lock is dropped, because it
 * calls the device.
 *
 * QEMU emulates the BAR addresses, the ROM BAR, header-type bit 7, the
 * capability pointers and the MSI/MSI-X capabilities itself, and forwards
 * every write to us first (docs/protocol.md 8.1 "QEMU's config
 * space"), so the state here stays
 * what routing and other clients see.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev_priv.h"

/* Command bits software may set: I/O, memory, bus master, parity error
 * response, SERR#, INTx disable. The rest are hardwired to 0 here. */
#define CMD_WRITABLE 0x0547u
#define CMD_INTX_DISABLE 0x0400u
/* Status: Interrupt Status (reflects the INTx line) and the error bits,
 * RW1C (PCI 3.0 6.2.3): master data parity error, signaled/received
 * target abort, received master abort, signaled system error, detected
 * parity error. */
#define STATUS_INTX 0x0008u
#define STATUS_RW1C 0xf900u

#define BAR_IO          0x1u
#define BAR_MEM_TYPE_64 0x4u
#define BAR_MEM_PREFETCH 0x8u
#define BAR_IO_ADDR_MASK  (~(uint64_t)0x3)
#define BAR_MEM_ADDR_MASK (~(uint64_t)0xf)
#define ROM_ENABLE      0x1u
#define ROM_ADDR_MASK   0xfffff800u

uint32_t vus_cfg_get(const uint8_t *p, unsigned len)
{
	uint32_t v = 0;
	unsigned i;

	for (i = 0; i < len; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

void vus_cfg_put(uint8_t *p, uint32_t v, unsigned len)
{
	unsigned i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void vus_cfg_reg(struct vus_dev *dev, unsigned off, unsigned len, uint32_t val, uint32_t wmask,
		 uint32_t w1c)
{
	struct vus_config *cfg = &dev->cfg;

	vus_cfg_put(cfg->bytes + off, val, len);
	vus_cfg_put(cfg->wmask + off, wmask, len);
	vus_cfg_put(cfg->pci.w1c + off, w1c, len);
}

bool vus_cfg_written(const struct vus_cfg_write *w, unsigned at, uint8_t *old, uint8_t *val)
{
	if (at < w->off || at >= w->off + w->len)
		return false;
	*old = w->old[at - w->off];
	*val = w->val[at - w->off];
	return true;
}

bool vus_cfg_intx_disabled(const struct vus_dev *dev)
{
	const uint8_t *b = dev->cfg.bytes;

	return b && (vus_cfg_get(b + CFG_COMMAND, 2) & CMD_INTX_DISABLE);
}

/* 64-bit registers (BARs) span two dwords: put_le over 8 bytes. */
static void cfg_reg64(struct vus_dev *dev, unsigned off, uint64_t val, uint64_t wmask)
{
	vus_cfg_reg(dev, off, 4, (uint32_t)val, (uint32_t)wmask, 0);
	vus_cfg_reg(dev, off + 4, 4, (uint32_t)(val >> 32), (uint32_t)(wmask >> 32), 0);
}

static void init_bars(struct vus_dev *dev)
{
	unsigned i;

	for (i = VUS_PCI_BAR0_REGION; i <= VUS_PCI_BAR5_REGION; i++) {
		const struct vus_region *r = &dev->regions[i];
		unsigned off = CFG_BAR0 + 4 * i;
		/* Sizes are powers of two (region.c), so this keeps the
		 * address bits a BAR of that size can decode. */
		uint64_t addr = ~(r->size - 1);

		if (!r->size)
			continue;
		if (r->flags & VUS_REGION_BAR_IO) {
			vus_cfg_reg(dev, off, 4, BAR_IO, (uint32_t)(addr & BAR_IO_ADDR_MASK), 0);
			continue;
		}
		if (r->flags & VUS_REGION_BAR_MEM64) {
			/* Lower register plus the next one as the upper half. */
			cfg_reg64(dev, off,
				  BAR_MEM_TYPE_64 |
				  (r->flags & VUS_REGION_BAR_PREFETCH ? BAR_MEM_PREFETCH : 0),
				  addr & BAR_MEM_ADDR_MASK);
			i++;
			continue;
		}
		vus_cfg_reg(dev, off, 4, r->flags & VUS_REGION_BAR_PREFETCH ? BAR_MEM_PREFETCH : 0,
			    (uint32_t)(addr & BAR_MEM_ADDR_MASK), 0);
	}
}

static void init_header(struct vus_dev *dev)
{
	const struct vus_region *rom = &dev->regions[VUS_PCI_ROM_REGION];

	vus_cfg_reg(dev, CFG_VENDOR_ID, 2, dev->id.vendor, 0, 0);
	vus_cfg_reg(dev, CFG_DEVICE_ID, 2, dev->id.device, 0, 0);
	vus_cfg_reg(dev, CFG_COMMAND, 2, 0, CMD_WRITABLE, 0);
	/* The Capabilities List bit is set by vus_caps_build() if there
	 * are any; QEMU walks a list only with it (docs/protocol.md 8.1
	 * "QEMU's config space"). */
	vus_cfg_reg(dev, CFG_STATUS, 2, 0, 0, STATUS_RW1C);
	vus_cfg_reg(dev, CFG_REVISION, 1, dev->id.revision, 0, 0);
	vus_cfg_reg(dev, CFG_CLASS, 3, dev->id.class_code, 0, 0);
	/* Cache line size is read/write in every PCI function. */
	vus_cfg_reg(dev, CFG_CACHE_LINE, 1, 0, 0xff, 0);
	/* Endpoint layout; QEMU owns the multifunction bit. */
	vus_cfg_reg(dev, CFG_HEADER_TYPE, 1, 0, 0, 0);
	init_bars(dev);
	vus_cfg_reg(dev, CFG_SUBSYS_VENDOR, 2, dev->id.subsys_vendor, 0, 0);
	vus_cfg_reg(dev, CFG_SUBSYS_ID, 2, dev->id.subsys, 0, 0);
	/* No ROM: the register reads 0 forever, which QEMU's sizing reads as
	 * "no ROM" (docs/protocol.md 8.1 "QEMU's config space"). The ROM BAR
	 * decodes at least 2 KiB. */
	if (rom->size)
		vus_cfg_reg(dev, CFG_ROM, 4, 0,
			    ((uint32_t)~(rom->size - 1) & ROM_ADDR_MASK) | ROM_ENABLE, 0);
	vus_cfg_reg(dev, CFG_CAP_PTR, 1, 0, 0, 0);
	vus_cfg_reg(dev, CFG_INT_LINE, 1, 0, 0xff, 0);
	vus_cfg_reg(dev, CFG_INT_PIN, 1, dev->intx_pin, 0, 0);
}

/* What vus_config_init() allocates; the capability definitions stay. */
static void config_bytes_free(struct vus_dev *dev)
{
	struct vus_config *cfg = &dev->cfg;

	vus_msix_free(dev);
	free(cfg->bytes);
	free(cfg->wmask);
	free(cfg->pci.w1c);
	free(cfg->pci.power_on);
	cfg->bytes = NULL;
	cfg->wmask = NULL;
	cfg->pci.w1c = NULL;
	cfg->pci.power_on = NULL;
}

int vus_config_init(struct vus_dev *dev)
{
	struct vus_config *cfg = &dev->cfg;
	int err;

	/* Built once: a listener that is re-created keeps the state. */
	if (cfg->bytes)
		return 0;
	/* May define the MSI-X BAR: before the layout freezes. */
	err = vus_msix_prepare(dev);
	if (!err)
		err = vus_irq_notify_defaults(dev);
	if (err)
		return err;
	cfg->bytes = calloc(1, cfg->size);
	cfg->wmask = calloc(1, cfg->size);
	cfg->pci.w1c = calloc(1, cfg->size);
	cfg->pci.power_on = calloc(1, cfg->size);
	if (!cfg->bytes || !cfg->wmask || !cfg->pci.w1c || !cfg->pci.power_on) {
		err = -ENOMEM;
		goto fail;
	}
	init_header(dev);
	err = vus_caps_build(dev);
	if (err)
		goto fail;
	memcpy(cfg->pci.power_on, cfg->bytes, cfg->size);
	return 0;
fail:
	config_bytes_free(dev);
	return err;
}

/* Bytes kept outside the array: the Interrupt Status bit, MSI Pending. */
static void overlay(const struct vus_dev *dev, unsigned off, uint8_t *buf, unsigned len)
{
	if (off <= CFG_STATUS && off + len > CFG_STATUS && vus_intx_line(dev))
		buf[CFG_STATUS - off] |= STATUS_INTX;
	vus_caps_overlay(dev, off, buf, len);
}

/* A library-owned run of a write; returns VUS_CFG_DO_* for afterwards. */
static unsigned store(struct vus_dev *dev, unsigned off, const uint8_t *val, unsigned len)
{
	struct vus_config *cfg = &dev->cfg;
	uint8_t old[4096];
	struct vus_cfg_write w = { .off = off, .len = len, .old = old, .val = val };
	unsigned i;

	memcpy(old, cfg->bytes + off, len);
	for (i = 0; i < len; i++) {
		uint8_t m = cfg->wmask[off + i], c = cfg->pci.w1c[off + i];
		uint8_t *b = &cfg->bytes[off + i];

		*b = (uint8_t)(((*b & ~m) | (val[i] & m)) & ~(val[i] & c));
	}
	/* INTx Disable cleared with the line high: deliver now. */
	if (off < CFG_COMMAND + 2 && off + len > CFG_COMMAND)
		vus_irq_update_locked(dev, VUS_PCI_INTX_IRQ, 0);
	return vus_caps_written(dev, &w);
}

static int device_run(struct vus_dev *dev, const struct vus_cap *cap, unsigned off, uint8_t *p,
		      unsigned len, bool is_write)
{
	uint64_t rel = off - cap->offset;
	int rc = is_write ? cap->ops.write(dev, cap->opaque, rel, p, len)
			  : cap->ops.read(dev, cap->opaque, rel, p, len);

	/* The region convention: 0 or -errno; anything else is the
	 * device's bug, not a success (region.c callback_result). */
	return rc > 0 ? -EIO : rc;
}

/* Function reset asked for by a config write (FLR, PM soft reset). */
static void function_reset(struct vus_dev *dev)
{
	int err;

	vus_config_reset(dev);
	if (dev->mig_reset)
		dev->mig_reset(dev); /* migration state back to RUNNING */
	if (!dev->reset_cb)
		return;
	err = dev->reset_cb(dev, dev->reset_opaque, VUS_RESET_FLR);
	if (err)
		vus_log(dev, VUS_LOG_WARN, "function reset: reset callback: %s", strerror(-err));
}

/* A vendor capability whose data bytes the device serves. */
static bool device_owned(const struct vus_cap *c)
{
	return c && c->data_off && (c->ops.read || c->ops.write);
}

/*
 * Length of the run starting at off that one owner serves: the device (a
 * vendor capability's data bytes with ops: *cap set) or the library.
 */
static unsigned run_len(const struct vus_dev *dev, unsigned off, unsigned end,
			const struct vus_cap **cap)
{
	const struct vus_pci *pci = &dev->cfg.pci;
	const struct vus_cap *c = vus_cap_at(dev, off);
	unsigned stop = end, i;

	*cap = NULL;
	if (device_owned(c) && off >= c->offset + c->data_off) {
		*cap = c;
		stop = c->offset + c->len;
		return (stop < end ? stop : end) - off;
	}
	/*
	 * Library bytes up to the next device-owned byte: the first data byte
	 * in (off, end) of a capability that owns it (vus_cap_at: the first
	 * capability holding a byte owns it). One walk of the list, not one
	 * per byte of the access.
	 */
	for (i = 0; i < pci->nr_caps; i++) {
		const struct vus_cap *d = &pci->caps[i];
		unsigned first = (unsigned)d->offset + d->data_off;

		if (device_owned(d) && first > off && first < stop && vus_cap_at(dev, first) == d)
			stop = first;
	}
	return stop - off;
}

int vus_config_access(struct vus_dev *dev, uint64_t offset, void *buf, uint32_t count,
		      bool is_write)
{
	struct vus_config *cfg = &dev->cfg;
	unsigned off, end, len, todo = 0;
	const struct vus_cap *cap;
	uint8_t *p = buf;
	int rc = 0;

	if (!cfg->bytes)
		return -EIO;
	if (offset > cfg->size || count > cfg->size - offset)
		return -EINVAL;
	end = (unsigned)(offset + count);
	for (off = (unsigned)offset; off < end && !rc; off += len, p += len) {
		len = run_len(dev, off, end, &cap);
		if (cap) {
			/* A vendor register without the callback for this
			 * direction: reads 0, ignores writes. */
			if (is_write ? !!cap->ops.write : !!cap->ops.read)
				rc = device_run(dev, cap, off, p, len, is_write);
			else if (!is_write)
				memset(p, 0, len);
			continue;
		}
		pthread_mutex_lock(&dev->irq_lock);
		if (is_write) {
			todo |= store(dev, off, p, len);
		} else {
			memcpy(p, cfg->bytes + off, len);
			overlay(dev, off, p, len);
		}
		pthread_mutex_unlock(&dev->irq_lock);
	}
	if (todo & VUS_CFG_DO_FLR)
		function_reset(dev);
	return rc;
}

int vus_dev_config_set_status(struct vus_dev *dev, uint16_t offset, uint8_t size, uint32_t bits)
{
	struct vus_config *cfg = &dev->cfg;

	if (!cfg->bytes)
		return -ENODEV;
	if ((size != 1 && size != 2 && size != 4) || offset % size || offset + size > cfg->size)
		return -EINVAL;
	/* Only hardware-set, software-cleared bits: anything else would let
	 * the device change what the guest owns. */
	if (bits & ~vus_cfg_get(cfg->pci.w1c + offset, size))
		return -EINVAL;
	pthread_mutex_lock(&dev->irq_lock);
	vus_cfg_put(cfg->bytes + offset, vus_cfg_get(cfg->bytes + offset, size) | bits, size);
	pthread_mutex_unlock(&dev->irq_lock);
	return 0;
}

void vus_config_reset(struct vus_dev *dev)
{
	struct vus_config *cfg = &dev->cfg;
	uint8_t before[4096];

	if (!cfg->bytes)
		return;
	pthread_mutex_lock(&dev->irq_lock);
	memcpy(before, cfg->bytes, cfg->size);
	memcpy(cfg->bytes, cfg->pci.power_on, cfg->size);
	vus_caps_reset(dev, before);
	vus_irq_route_reset(dev);
	pthread_mutex_unlock(&dev->irq_lock);
}

void vus_config_free(struct vus_dev *dev)
{
	config_bytes_free(dev);
	vus_caps_free(dev);
}
