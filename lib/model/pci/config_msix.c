/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MSI-X (PCI Local Bus 3.0, 6.8.2): the capability registers in config
 * space, and the vector table and Pending Bit Array, which live in memory
 * BARs and are served here instead of by the device's region callbacks.
 *
 * Who drives what (docs/protocol.md 8.1 "QEMU's MSI and MSI-X"): QEMU emulates the capability and
 * the table for the guest, forwards config writes here first (so Enable
 * and Function Mask are the guest's), never forwards table accesses, masks
 * vectors by re-wiring their eventfds (or, with a pending patch, by
 * SET_IRQS MASK), and forwards the guest's PBA reads. Another client may
 * forward everything. So the table's per-vector Mask bits gate delivery
 * only once the client has written the table in this session; the PBA
 * shows the MSI-X index's pending vectors (irq.c), whatever held them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_priv.h"

#define MSIX_CAP_ID 0x11
#define MSIX_LEN 12u
#define MSIX_CTL 2u
#define MSIX_TABLE 4u
#define MSIX_PBA 8u
#define MSIX_CTL_ENABLE 0x8000u
#define MSIX_CTL_FMASK  0x4000u
#define MSIX_BIR_MASK 0x7u

#define ENTRY_SIZE 16u
#define ENTRY_CTL 12u           /* Vector Control; bit 0 Mask */
#define ENTRY_MASKED 0x1u
#define MIN_BAR 4096u

/* Writable bits of each byte of a table entry: Message Address (dword
 * aligned), Upper Address, Data, Vector Control's Mask bit. */
static const uint8_t entry_wmask[ENTRY_SIZE] = {
	0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, ENTRY_MASKED, 0, 0, 0,
};

static uint32_t table_size(const struct vus_msix *x)
{
	return x->nvec * ENTRY_SIZE;
}

/* The PBA is whole qwords (PCI 3.0 6.8.2.10). */
static uint32_t pba_size(const struct vus_msix *x)
{
	return (x->nvec + 63) / 64 * 8;
}

int vus_dev_add_cap_msix(struct vus_dev *dev, uint16_t offset, uint32_t nvec,
			 const struct vus_msix_layout *layout)
{
	struct vus_msix *x = &dev->cfg.pci.msix;
	struct vus_msix probe = { .nvec = nvec };
	uint64_t tend, pend;
	int off, err;

	if (!layout || !nvec || nvec > VUS_MSIX_MAX_VECTORS)
		return -EINVAL;
	if (layout->table_bar > VUS_PCI_BAR5_REGION || layout->pba_bar > VUS_PCI_BAR5_REGION)
		return -EINVAL;
	/* The low 3 bits of the offset registers hold the BIR. */
	if (layout->table_offset % 8 || layout->pba_offset % 8)
		return -EINVAL;
	tend = (uint64_t)layout->table_offset + table_size(&probe);
	pend = (uint64_t)layout->pba_offset + pba_size(&probe);
	if (tend > UINT32_MAX || pend > UINT32_MAX)
		return -EINVAL;
	if (layout->table_bar == layout->pba_bar && layout->table_offset < pend &&
	    layout->pba_offset < tend)
		return -EINVAL;
	off = vus_cap_add(dev, VUS_CAPK_MSIX, false, offset, MSIX_LEN, NULL);
	if (off < 0)
		return off;
	err = vus_irq_setup_index(dev, VUS_PCI_MSIX_IRQ, nvec);
	if (err) {
		vus_cap_del(dev, (uint16_t)off);
		return err;
	}
	x->off = (uint16_t)off;
	x->nvec = nvec;
	x->table_bar = layout->table_bar;
	x->table_off = layout->table_offset;
	x->pba_bar = layout->pba_bar;
	x->pba_off = layout->pba_offset;
	return off;
}

/* Bytes of bar the MSI-X structures need. */
static uint64_t bar_need(const struct vus_msix *x, uint8_t bar)
{
	uint64_t need = 0;

	if (bar == x->table_bar)
		need = (uint64_t)x->table_off + table_size(x);
	if (bar == x->pba_bar && (uint64_t)x->pba_off + pba_size(x) > need)
		need = (uint64_t)x->pba_off + pba_size(x);
	return need;
}

/* [off, off + len) rounded out to pages meets an mmap-able part. */
static bool in_mmap_page(const struct vus_region *r, uint64_t off, uint64_t len)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t lo = off / page * page, hi = (off + len + page - 1) / page * page;
	uint32_t i;

	if (!r->mmap || r->fd < 0)
		return false;
	if (!r->nr_areas)
		return true;
	for (i = 0; i < r->nr_areas; i++)
		if (r->areas[i].offset < hi && lo < r->areas[i].offset + r->areas[i].size)
			return true;
	return false;
}

static int prepare_bar(struct vus_dev *dev, uint8_t bar)
{
	const struct vus_msix *x = &dev->cfg.pci.msix;
	const struct vus_region *r = &dev->regions[bar];
	uint64_t need = bar_need(x, bar), size = MIN_BAR;

	if (bar > VUS_PCI_BAR0_REGION && (dev->regions[bar - 1].flags & VUS_REGION_BAR_MEM64)) {
		vus_log(dev, VUS_LOG_ERR, "MSI-X: BAR%u is the upper half of BAR%u", bar, bar - 1);
		return -EINVAL;
	}
	if (!r->size) {
		while (size < need)
			size <<= 1;
		return vus_region_add(dev, bar, size, VUS_REGION_RW, NULL, NULL);
	}
	if ((r->flags & VUS_REGION_BAR_IO) || (r->flags & VUS_REGION_RW) != VUS_REGION_RW ||
	    need > r->size) {
		vus_log(dev, VUS_LOG_ERR, "MSI-X: BAR%u must be read/write memory of >= %llu bytes",
			bar, (unsigned long long)need);
		return -EINVAL;
	}
	/* A client mapping those pages would bypass the emulation. */
	if ((bar == x->table_bar && in_mmap_page(r, x->table_off, table_size(x))) ||
	    (bar == x->pba_bar && in_mmap_page(r, x->pba_off, pba_size(x)))) {
		vus_log(dev, VUS_LOG_ERR, "MSI-X: table or PBA in an mmap-able page of BAR%u", bar);
		return -EINVAL;
	}
	return 0;
}

int vus_msix_prepare(struct vus_dev *dev)
{
	const struct vus_msix *x = &dev->cfg.pci.msix;
	int err;

	if (!x->off)
		return 0;
	err = prepare_bar(dev, x->table_bar);
	if (!err && x->pba_bar != x->table_bar)
		err = prepare_bar(dev, x->pba_bar);
	return err;
}

int vus_msix_build(struct vus_dev *dev)
{
	struct vus_msix *x = &dev->cfg.pci.msix;

	if (dev->irqs[VUS_PCI_MSIX_IRQ].count != x->nvec) {
		vus_log(dev, VUS_LOG_ERR, "MSI-X capability has %u vectors, the MSI-X index %u",
			x->nvec, dev->irqs[VUS_PCI_MSIX_IRQ].count);
		return -EINVAL;
	}
	x->table = malloc(table_size(x));
	if (!x->table)
		return -ENOMEM;
	vus_msix_reset(dev);
	vus_cfg_reg(dev, x->off, 1, MSIX_CAP_ID, 0, 0);
	/* Table Size is N - 1; Enable and Function Mask are the guest's. */
	vus_cfg_reg(dev, x->off + MSIX_CTL, 2, x->nvec - 1, MSIX_CTL_ENABLE | MSIX_CTL_FMASK, 0);
	vus_cfg_reg(dev, x->off + MSIX_TABLE, 4, x->table_off | x->table_bar, 0, 0);
	vus_cfg_reg(dev, x->off + MSIX_PBA, 4, x->pba_off | x->pba_bar, 0, 0);
	return 0;
}

static uint16_t ctl(const struct vus_dev *dev)
{
	return (uint16_t)vus_cfg_get(dev->cfg.bytes + dev->cfg.pci.msix.off + MSIX_CTL, 2);
}

bool vus_msix_enabled(const struct vus_dev *dev)
{
	return dev->cfg.pci.msix.off && dev->cfg.bytes && (ctl(dev) & MSIX_CTL_ENABLE);
}

bool vus_msix_blocked(const struct vus_dev *dev, uint32_t v)
{
	const struct vus_msix *x = &dev->cfg.pci.msix;

	/* Without a capability the index is the client's alone. */
	if (!x->off)
		return false;
	if (!vus_msix_enabled(dev) || (ctl(dev) & MSIX_CTL_FMASK))
		return true;
	return x->table_live && v < x->nvec &&
	       (x->table[v * ENTRY_SIZE + ENTRY_CTL] & ENTRY_MASKED);
}

void vus_msix_reset(struct vus_dev *dev)
{
	struct vus_msix *x = &dev->cfg.pci.msix;
	uint32_t v;

	if (!x->table)
		return;
	/* Entries reset with Mask set (PCI 3.0 6.8.2.9), the rest 0. */
	memset(x->table, 0, table_size(x));
	for (v = 0; v < x->nvec; v++)
		x->table[v * ENTRY_SIZE + ENTRY_CTL] = ENTRY_MASKED;
}

void vus_msix_session_end(struct vus_dev *dev)
{
	pthread_mutex_lock(&dev->irq_lock);
	dev->cfg.pci.msix.table_live = false;
	pthread_mutex_unlock(&dev->irq_lock);
}

void vus_msix_free(struct vus_dev *dev)
{
	free(dev->cfg.pci.msix.table);
	dev->cfg.pci.msix.table = NULL;
}

bool vus_msix_in_bar(const struct vus_dev *dev, uint32_t index)
{
	const struct vus_msix *x = &dev->cfg.pci.msix;

	return x->off && x->table && (index == x->table_bar || index == x->pba_bar);
}

/* Table bytes [pos, pos + len) relative to the table. (L) */
static void table_rw(struct vus_dev *dev, uint32_t pos, uint8_t *buf, uint32_t len,
		     bool is_write)
{
	struct vus_msix *x = &dev->cfg.pci.msix;
	uint32_t i;

	if (!is_write) {
		memcpy(buf, x->table + pos, len);
		return;
	}
	for (i = 0; i < len; i++) {
		uint8_t m = entry_wmask[(pos + i) % ENTRY_SIZE];
		uint8_t *b = &x->table[pos + i];

		*b = (uint8_t)((*b & ~m) | (buf[i] & m));
	}
	/* This client drives the table: its Mask bits count from now. */
	x->table_live = true;
	for (i = pos / ENTRY_SIZE; i <= (pos + len - 1) / ENTRY_SIZE; i++)
		vus_irq_update_locked(dev, VUS_PCI_MSIX_IRQ, i);
}

/* PBA bytes [pos, pos + len): one bit per pending vector. (L) */
static void pba_read(const struct vus_dev *dev, uint32_t pos, uint8_t *buf, uint32_t len)
{
	const struct vus_irq_index *irq = &dev->irqs[VUS_PCI_MSIX_IRQ];
	uint32_t i, b, v;

	for (i = 0; i < len; i++) {
		buf[i] = 0;
		for (b = 0; b < 8; b++) {
			v = (pos + i) * 8 + b;
			if (v < irq->count && irq->vec[v].pending)
				buf[i] |= (uint8_t)(1u << b);
		}
	}
}

/* The device's part of the BAR; a BAR the library created reads 0. */
static int device_part(struct vus_dev *dev, uint32_t index, uint64_t off, uint8_t *buf,
		       uint32_t len, bool is_write)
{
	const struct vus_region *r = &dev->regions[index];

	if (r->ops.read || r->ops.write || r->fd >= 0)
		return vus_region_dev_access(dev, index, off, buf, len, is_write);
	if (!is_write)
		memset(buf, 0, len);
	return 0;
}

/* An access that touches the table or the PBA: its parts in turn. Apart
 * from vus_msix_bar_access() so that the common case's call stays light
 * (docs/performance.md "Instructions per request"). */
static __attribute__((noinline)) int mixed_access(struct vus_dev *dev, uint32_t index,
						   uint64_t offset, uint8_t *buf, uint32_t count,
						   bool is_write)
{
	const struct vus_msix *x = &dev->cfg.pci.msix;
	uint64_t pos = offset, end = offset + count;
	uint64_t t0 = x->table_off, t1 = t0 + table_size(x);
	uint64_t p0 = x->pba_off, p1 = p0 + pba_size(x);
	bool has_t = index == x->table_bar, has_p = index == x->pba_bar;
	uint32_t n;
	int rc = 0;

	while (pos < end && !rc) {
		uint8_t *p = buf + (pos - offset);

		if (has_t && pos >= t0 && pos < t1) {
			n = (uint32_t)((end < t1 ? end : t1) - pos);
			pthread_mutex_lock(&dev->irq_lock);
			table_rw(dev, (uint32_t)(pos - t0), p, n, is_write);
			pthread_mutex_unlock(&dev->irq_lock);
		} else if (has_p && pos >= p0 && pos < p1) {
			n = (uint32_t)((end < p1 ? end : p1) - pos);
			/* The PBA is read-only; QEMU drops guest writes to it
			 * too (docs/protocol.md 8.1 "QEMU's MSI and MSI-X"). */
			if (!is_write) {
				pthread_mutex_lock(&dev->irq_lock);
				pba_read(dev, (uint32_t)(pos - p0), p, n);
				pthread_mutex_unlock(&dev->irq_lock);
			}
		} else {
			uint64_t stop = end;

			if (has_t && t0 > pos && t0 < stop)
				stop = t0;
			if (has_p && p0 > pos && p0 < stop)
				stop = p0;
			n = (uint32_t)(stop - pos);
			rc = device_part(dev, index, pos, p, n, is_write);
		}
		pos += n;
	}
	return rc;
}

int vus_msix_bar_access(struct vus_dev *dev, uint32_t index, uint64_t offset, uint8_t *buf,
			uint32_t count, bool is_write)
{
	const struct vus_msix *x = &dev->cfg.pci.msix;
	uint64_t end = offset + count;
	uint64_t t0 = x->table_off, p0 = x->pba_off; /* 64-bit sums below */

	/* Most accesses touch neither the table nor the PBA (the device's
	 * own registers beside them): one test, then the device. */
	if ((index != x->table_bar || end <= t0 || offset >= t0 + table_size(x)) &&
	    (index != x->pba_bar || end <= p0 || offset >= p0 + pba_size(x)))
		return device_part(dev, index, offset, buf, count, is_write);
	return mixed_access(dev, index, offset, buf, count, is_write);
}
