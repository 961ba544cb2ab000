/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The capability builder and every capability's registers (lib/config_*.c):
 * placement (automatic, fixed, refused), the two linked lists, vendor-
 * specific capabilities with and without device callbacks, Device Serial
 * Number, Power Management, MSI, MSI-X (registers, table and PBA in a
 * BAR, BAR checks) and PCI Express (registers, RW1C, link, FLR).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev_priv.h"
#include "pci_regs.h"
#include "vus_test.h"

static struct vus_dev *new_dev(size_t cfg_size)
{
	struct vus_dev *dev = vus_dev_new("caps");

	assert_non_null(dev);
	vus_dev_set_log_level(dev, 0);
	ASSERT_OK(vus_dev_set_config_size(dev, cfg_size));
	return dev;
}

static uint32_t rd(struct vus_dev *dev, unsigned off, unsigned len)
{
	uint8_t b[4] = { 0 };

	ASSERT_OK(vus_region_access(dev, VUS_PCI_CONFIG_REGION, off, b, len, false));
	return vus_cfg_get(b, len);
}

static void wr(struct vus_dev *dev, unsigned off, unsigned len, uint32_t v)
{
	uint8_t b[4];

	vus_cfg_put(b, v, len);
	ASSERT_OK(vus_region_access(dev, VUS_PCI_CONFIG_REGION, off, b, len, true));
}

/* Walk the standard list as QEMU and lspci do; ids[] and offs[] out. */
static unsigned walk_std(struct vus_dev *dev, uint8_t *ids, unsigned *offs)
{
	unsigned n = 0, off;

	if (!(rd(dev, CFG_STATUS, 2) & STATUS_CAP_LIST))
		return 0;
	for (off = rd(dev, CFG_CAP_PTR, 1); off; off = rd(dev, off + 1, 1)) {
		assert_true(off >= 0x40 && off % 4 == 0 && n < 48);
		ids[n] = (uint8_t)rd(dev, off, 1);
		offs[n++] = off;
	}
	return n;
}

static unsigned walk_ext(struct vus_dev *dev, uint16_t *ids, unsigned *offs)
{
	unsigned n = 0, off = 0x100;
	uint32_t h;

	do {
		h = rd(dev, off, 4);
		if (!h)
			break;
		ids[n] = (uint16_t)h;
		offs[n++] = off;
		assert_true(n < 64);
		off = h >> 20;
	} while (off);
	return n;
}

/* ---- placement and lists --------------------------------------------- */

static void test_auto_placement_and_chain(void **state)
{
	static const struct vus_msix_layout lay = { .table_bar = 2, .pba_bar = 2,
						    .pba_offset = 0x1000 };
	struct vus_dev *dev = new_dev(256);
	uint8_t ids[48];
	unsigned offs[48], n;

	ASSERT_EQ(vus_dev_add_cap_pm(dev, VUS_CAP_OFFSET_AUTO, 0), 0x40);
	/* 32-bit MSI without masking is 10 bytes: the next is dword aligned. */
	ASSERT_EQ(vus_dev_add_cap_msi(dev, VUS_CAP_OFFSET_AUTO, 1, 0), 0x48);
	ASSERT_EQ(vus_dev_add_cap_msix(dev, VUS_CAP_OFFSET_AUTO, 3, &lay), 0x54);
	/* A fixed one below the others is linked first (ascending order). */
	ASSERT_EQ(vus_dev_add_cap_vendor(dev, 0xf0, 8, "abcde", NULL, NULL), 0xf0);
	ASSERT_EQ(vus_dev_add_cap_vendor(dev, VUS_CAP_OFFSET_AUTO, 3, NULL, NULL, NULL),
		  0x60);
	ASSERT_OK(vus_config_init(dev));

	n = walk_std(dev, ids, offs);
	ASSERT_EQ(n, 5);
	ASSERT_EQ(ids[0], 0x01);
	ASSERT_EQ(offs[0], 0x40);
	ASSERT_EQ(ids[1], 0x05);
	ASSERT_EQ(ids[2], 0x11);
	ASSERT_EQ(ids[3], 0x09);
	ASSERT_EQ(offs[3], 0x60);
	ASSERT_EQ(ids[4], 0x09);
	ASSERT_EQ(offs[4], 0xf0);
	/* Capabilities List bit, read-only like the pointers. */
	ASSERT_EQ(rd(dev, CFG_STATUS, 2), 0x0010);
	wr(dev, CFG_STATUS, 2, 0xffff);
	ASSERT_EQ(rd(dev, CFG_STATUS, 2), 0x0010);
	wr(dev, CFG_CAP_PTR, 1, 0x80);
	wr(dev, 0x41, 1, 0x00);
	ASSERT_EQ(walk_std(dev, ids, offs), 5);
	/* Vendor bytes: ID, next, length, data; read-only. */
	ASSERT_EQ(rd(dev, 0xf2, 1), 8);
	ASSERT_EQ(rd(dev, 0xf3, 4), 0x64636261);
	wr(dev, 0xf3, 4, 0);
	ASSERT_EQ(rd(dev, 0xf3, 4), 0x64636261);
	ASSERT_EQ(rd(dev, 0xf7, 1), 'e');
	/* A BAR the device did not set up appeared for the MSI-X table. */
	ASSERT_EQ(dev->regions[2].size, 8192);
	/* Setup is over. */
	ASSERT_ERR(vus_dev_add_cap_pm(dev, VUS_CAP_OFFSET_AUTO, 0), -EBUSY);
	vus_dev_free(dev);
}

static void test_placement_errors(void **state)
{
	struct vus_dev *dev = new_dev(256);
	const struct vus_pcie_cfg pcie = { .type = VUS_PCIE_ENDPOINT, .link_speed = 1,
					   .link_width = 1 };
	uint8_t ids[48];
	unsigned offs[48];
	int i, off;

	ASSERT_ERR(vus_dev_add_cap_pm(dev, 0x42, 0), -EINVAL);    /* not dword aligned */
	ASSERT_ERR(vus_dev_add_cap_pm(dev, 0x3c, 0), -EINVAL);    /* in the header */
	ASSERT_ERR(vus_dev_add_cap_pm(dev, 0xfc, 0), -EINVAL);    /* 8 bytes past 0xff */
	ASSERT_EQ(vus_dev_add_cap_pm(dev, 0x80, 0), 0x80);
	ASSERT_ERR(vus_dev_add_cap_pm(dev, VUS_CAP_OFFSET_AUTO, 0), -EEXIST);
	ASSERT_ERR(vus_dev_add_cap_vendor(dev, 0x84, 4, NULL, NULL, NULL), -EBUSY);
	ASSERT_ERR(vus_dev_add_cap_vendor(dev, 0x7c, 8, NULL, NULL, NULL), -EBUSY);
	ASSERT_EQ(vus_dev_add_cap_vendor(dev, 0x7c, 4, NULL, NULL, NULL), 0x7c);
	ASSERT_ERR(vus_dev_add_cap_vendor(dev, 0x40, 2, NULL, NULL, NULL), -EINVAL);
	ASSERT_ERR(vus_dev_add_cap_pm(dev, 0x40, 7), -EINVAL);   /* unknown flag */
	ASSERT_ERR(vus_dev_add_cap_msi(dev, 0, 3, 0), -EINVAL);  /* not a power of 2 */
	ASSERT_ERR(vus_dev_add_cap_msi(dev, 0, 64, 0), -EINVAL);
	ASSERT_ERR(vus_dev_add_cap_msi(dev, 0, 1, 0x10), -EINVAL);
	/* Extended capabilities and PCIe need 4096 bytes. */
	ASSERT_ERR(vus_dev_add_ext_cap_dsn(dev, VUS_CAP_OFFSET_AUTO, 1), -EINVAL);
	ASSERT_ERR(vus_dev_add_cap_pcie(dev, VUS_CAP_OFFSET_AUTO, &pcie), -EINVAL);
	/* Fill the rest, 0x40..0x7b and 0x88..0xff, in 12-byte pieces:
	 * 5 + 10 of them, lowest gap first. */
	for (i = 0;; i++) {
		off = vus_dev_add_cap_vendor(dev, VUS_CAP_OFFSET_AUTO, 12, NULL, NULL, NULL);
		if (off < 0)
			break;
		ASSERT_EQ(off, i < 5 ? 0x40 + 12 * i : 0x88 + 12 * (i - 5));
	}
	ASSERT_ERR(off, -ENOSPC);
	ASSERT_EQ(i, 15);
	ASSERT_ERR(vus_dev_add_cap_vendor(dev, VUS_CAP_OFFSET_AUTO, 4, NULL, NULL, NULL),
		   -ENOSPC);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(walk_std(dev, ids, offs), 2 + 15);
	vus_dev_free(dev);
}

static void test_extended_list(void **state)
{
	struct vus_dev *dev = new_dev(4096);
	static const uint8_t vdata[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint16_t ids[64];
	unsigned offs[64];

	/* Nothing at 0x100: an ID-0 header there leads to the list. */
	ASSERT_EQ(vus_dev_add_ext_cap_dsn(dev, 0x200, 0x0123456789abcdefull), 0x200);
	ASSERT_EQ(vus_dev_add_ext_cap_vendor(dev, 0x180, 0x1234, 2, 16, vdata, NULL,
					     NULL), 0x180);
	ASSERT_ERR(vus_dev_add_ext_cap_vendor(dev, 0, 1, 16, 16, NULL, NULL, NULL),
		   -EINVAL);                             /* rev is 4 bits */
	ASSERT_ERR(vus_dev_add_ext_cap_vendor(dev, 0, 1, 0, 14, NULL, NULL, NULL),
		   -EINVAL);                             /* not dwords */
	ASSERT_ERR(vus_dev_add_ext_cap_dsn(dev, 0x300, 1), -EEXIST);
	ASSERT_ERR(vus_dev_add_ext_cap_vendor(dev, 0x0fc, 1, 0, 8, NULL, NULL, NULL),
		   -EINVAL);
	ASSERT_ERR(vus_dev_add_ext_cap_vendor(dev, 0xffc, 1, 0, 8, NULL, NULL, NULL),
		   -EINVAL);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(walk_ext(dev, ids, offs), 3);
	ASSERT_EQ(ids[0], 0);
	ASSERT_EQ(offs[1], 0x180);
	ASSERT_EQ(ids[1], 0x000b);
	ASSERT_EQ(rd(dev, 0x180, 4) & 0xfffff, 0x1000b);   /* version 1 */
	/* VSEC header: ID, rev, length. */
	ASSERT_EQ(rd(dev, 0x184, 4), 0x1234 | 2 << 16 | 16 << 20);
	ASSERT_EQ(rd(dev, 0x188, 4), 0x04030201);
	ASSERT_EQ(offs[2], 0x200);
	ASSERT_EQ(rd(dev, 0x200, 4), 0x00010003);            /* last: next 0 */
	ASSERT_EQ(rd(dev, 0x204, 4), 0x89abcdef);
	ASSERT_EQ(rd(dev, 0x208, 4), 0x01234567);
	wr(dev, 0x204, 4, 0);
	ASSERT_EQ(rd(dev, 0x204, 4), 0x89abcdef);
	/* No standard capabilities: the bit stays clear. */
	ASSERT_EQ(rd(dev, CFG_STATUS, 2) & STATUS_CAP_LIST, 0);
	vus_dev_free(dev);

	/* Automatic placement starts at 0x100. */
	dev = new_dev(4096);
	ASSERT_EQ(vus_dev_add_ext_cap_dsn(dev, VUS_CAP_OFFSET_AUTO, 7), 0x100);
	ASSERT_ERR(vus_dev_add_ext_cap_dsn(dev, VUS_CAP_OFFSET_AUTO, 8), -EEXIST);
	ASSERT_EQ(vus_dev_add_ext_cap_vendor(dev, VUS_CAP_OFFSET_AUTO, 1, 0, 16, NULL,
					     NULL, NULL), 0x10c);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(walk_ext(dev, ids, offs), 2);
	ASSERT_EQ(offs[0], 0x100);
	vus_dev_free(dev);

	/* The size shrank after the capability was added: refused at listen. */
	dev = new_dev(4096);
	ASSERT_EQ(vus_dev_add_ext_cap_dsn(dev, VUS_CAP_OFFSET_AUTO, 7), 0x100);
	ASSERT_OK(vus_dev_set_config_size(dev, 256));
	ASSERT_ERR(vus_config_init(dev), -EINVAL);
	vus_dev_free(dev);
}

/* ---- vendor capability with device registers ------------------------- */

struct vregs {
	uint8_t mem[64];
	unsigned reads, writes;
	uint64_t last_off;
	int fail;
};

static int v_read(struct vus_dev *dev, void *opaque, uint64_t off, void *buf, uint32_t count)
{
	struct vregs *v = opaque;

	v->reads++;
	v->last_off = off;
	if (v->fail)
		return v->fail;
	memcpy(buf, v->mem + off, count);
	return 0;
}

static int v_write(struct vus_dev *dev, void *opaque, uint64_t off, const void *buf,
		   uint32_t count)
{
	struct vregs *v = opaque;

	v->writes++;
	v->last_off = off;
	memcpy(v->mem + off, buf, count);
	return 0;
}

static void test_vendor_ops(void **state)
{
	static const struct vus_region_ops ops = { .read = v_read, .write = v_write };
	static const struct vus_region_ops ro = { .read = v_read };
	struct vus_dev *dev = new_dev(4096);
	struct vregs v = { .mem = { [3] = 0x11, [4] = 0x22 } }, w = { 0 };
	uint8_t buf[0x20];

	ASSERT_EQ(vus_dev_add_cap_vendor(dev, 0x50, 16, NULL, &ops, &v), 0x50);
	ASSERT_EQ(vus_dev_add_ext_cap_vendor(dev, 0x100, 0x42, 1, 16, NULL, &ro, &w),
		  0x100);
	ASSERT_OK(vus_config_init(dev));
	/* Header bytes are the library's; device bytes are the callbacks'. */
	ASSERT_EQ(rd(dev, 0x50, 4), 0x11100009);
	ASSERT_EQ(v.reads, 1);
	ASSERT_EQ(v.last_off, 3);
	wr(dev, 0x54, 4, 0xdeadbeef);
	ASSERT_EQ(v.writes, 1);
	ASSERT_EQ(v.last_off, 4);
	ASSERT_EQ(rd(dev, 0x54, 4), 0xdeadbeef);
	/* A read across the header, the data and past the end. */
	ASSERT_OK(vus_region_access(dev, 7, 0x4e, buf, 0x20, false));
	ASSERT_EQ(buf[2], 0x09);
	ASSERT_EQ(buf[5], 0x11);
	ASSERT_EQ(buf[6], 0xef);
	ASSERT_EQ(buf[0x12], 0);
	/* Writing the header goes nowhere. */
	wr(dev, 0x50, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, 0x50, 3), 0x100009);
	/* The device's error is the access's. */
	v.fail = -EIO;
	ASSERT_ERR(vus_region_access(dev, 7, 0x50, buf, 8, false), -EIO);
	v.fail = 0;
	/* Read-only device bytes: writes ignored, the callback not called. */
	wr(dev, 0x108, 4, 0x12345678);
	ASSERT_EQ(w.writes, 0);
	ASSERT_EQ(rd(dev, 0x108, 4), 0);
	ASSERT_EQ(w.last_off, 8);
	vus_dev_free(dev);
}

/* ---- Power Management ------------------------------------------------ */

struct resets {
	int flr, client;
};

static int on_reset(struct vus_dev *dev, void *opaque, enum vus_reset_reason why)
{
	struct resets *r = opaque;

	if (why == VUS_RESET_FLR)
		r->flr++;
	else if (why == VUS_RESET_CLIENT)
		r->client++;
	return 0;
}

static void test_pm(void **state)
{
	struct resets r = { 0 };
	struct vus_dev *dev = new_dev(256);
	int pm;

	ASSERT_OK(vus_dev_set_reset(dev, on_reset, &r));
	pm = vus_dev_add_cap_pm(dev, VUS_CAP_OFFSET_AUTO, 0);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(rd(dev, pm, 2), 0x0001);
	ASSERT_EQ(rd(dev, pm + 2, 2), 0x0003);         /* version 3, nothing else */
	ASSERT_EQ(rd(dev, pm + 4, 2), 0x0000);         /* D0, No_Soft_Reset clear */
	wr(dev, pm + 2, 2, 0xffff);
	ASSERT_EQ(rd(dev, pm + 2, 2), 0x0003);
	/* D1 and D2 are not supported: the write is discarded. */
	wr(dev, pm + 4, 2, 0x0001);
	ASSERT_EQ(rd(dev, pm + 4, 2), 0);
	wr(dev, CFG_COMMAND, 2, 0x0006);
	wr(dev, pm + 4, 2, 0xffff);                            /* D3hot; nothing else sticks */
	ASSERT_EQ(rd(dev, pm + 4, 2), 0x0003);
	wr(dev, pm + 4, 2, 0x0002);
	ASSERT_EQ(rd(dev, pm + 4, 2), 0x0003);
	/* D3hot -> D0 without No_Soft_Reset: a function reset. */
	wr(dev, pm + 4, 2, 0x0000);
	ASSERT_EQ(r.flr, 1);
	ASSERT_EQ(rd(dev, pm + 4, 2), 0);
	ASSERT_EQ(rd(dev, CFG_COMMAND, 2), 0);
	/* D0 -> D0 is no transition. */
	wr(dev, pm + 4, 2, 0x0000);
	ASSERT_EQ(r.flr, 1);
	vus_dev_free(dev);

	dev = new_dev(256);
	r.flr = 0;
	ASSERT_OK(vus_dev_set_reset(dev, on_reset, &r));
	pm = vus_dev_add_cap_pm(dev, 0x80, VUS_PM_NO_SOFT_RESET);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(rd(dev, pm + 4, 2), 0x0008);
	wr(dev, CFG_COMMAND, 2, 0x0006);
	wr(dev, pm + 4, 2, 0x0003);
	wr(dev, pm + 4, 2, 0x0000);
	ASSERT_EQ(r.flr, 0);
	ASSERT_EQ(rd(dev, CFG_COMMAND, 2), 0x0006);
	ASSERT_EQ(rd(dev, pm + 4, 2), 0x0008);
	vus_dev_free(dev);
}

/* ---- MSI -------------------------------------------------------------- */

static void test_msi_registers(void **state)
{
	struct vus_dev *dev = new_dev(256);
	int a, b;

	a = vus_dev_add_cap_msi(dev, VUS_CAP_OFFSET_AUTO, 8,
				VUS_MSI_64BIT | VUS_MSI_PER_VECTOR_MASK);
	ASSERT_EQ(dev->irqs[VUS_PCI_MSI_IRQ].count, 8);
	ASSERT_OK(vus_config_init(dev));
	/* 64-bit, per-vector masking, MMC 8 (3), disabled. */
	ASSERT_EQ(rd(dev, a + 2, 2), 0x0186);
	wr(dev, a + 2, 2, 0xffff);
	/* Enable and MME 7 stick (MME is the guest's; vus caps its use). */
	ASSERT_EQ(rd(dev, a + 2, 2), 0x01f7);
	ASSERT_EQ(vus_msi_enabled_vectors(dev), 8);
	wr(dev, a + 2, 2, 0x0021);
	ASSERT_EQ(vus_msi_enabled_vectors(dev), 4);
	assert_true(vus_msi_enabled(dev));
	wr(dev, a + 4, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, a + 4, 4), 0xfffffffc);
	wr(dev, a + 8, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, a + 8, 4), 0xffffffff);
	wr(dev, a + 0xc, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, a + 0xc, 4), 0x0000ffff);   /* no extended data */
	wr(dev, a + 0x10, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, a + 0x10, 4), 0xff);
	wr(dev, a + 0x14, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, a + 0x14, 4), 0);
	vus_dev_free(dev);

	/* 32-bit, no masking: 10 bytes, data right after the address. */
	dev = new_dev(256);
	b = vus_dev_add_cap_msi(dev, 0x60, 1, 0);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(rd(dev, b + 2, 2), 0x0000);
	wr(dev, b + 2, 2, 0xffff);
	ASSERT_EQ(rd(dev, b + 2, 2), 0x0071);
	ASSERT_EQ(vus_msi_enabled_vectors(dev), 1);
	wr(dev, b + 8, 2, 0xabcd);
	ASSERT_EQ(rd(dev, b + 8, 2), 0xabcd);
	wr(dev, b + 0xa, 2, 0xffff);
	ASSERT_EQ(rd(dev, b + 0xa, 2), 0);
	vus_dev_free(dev);

	/* The vector count changed behind the capability: refused. */
	dev = new_dev(256);
	ASSERT_EQ(vus_dev_add_cap_msi(dev, VUS_CAP_OFFSET_AUTO, 2, 0), 0x40);
	ASSERT_OK(vus_dev_setup_irq(dev, VUS_PCI_MSI_IRQ, 4));
	ASSERT_ERR(vus_config_init(dev), -EINVAL);
	vus_dev_free(dev);
}

/* ---- MSI-X ------------------------------------------------------------ */

struct bar {
	uint8_t mem[0x4000];
	unsigned hits;
	uint64_t lo, hi;     /* range of offsets the device saw */
};

static int bar_read(struct vus_dev *dev, void *opaque, uint64_t off, void *buf, uint32_t count)
{
	struct bar *b = opaque;

	b->hits++;
	if (off < b->lo)
		b->lo = off;
	if (off + count > b->hi)
		b->hi = off + count;
	memcpy(buf, b->mem + off, count);
	return 0;
}

static int bar_write(struct vus_dev *dev, void *opaque, uint64_t off, const void *buf,
		     uint32_t count)
{
	struct bar *b = opaque;

	b->hits++;
	memcpy(b->mem + off, buf, count);
	return 0;
}

static void test_msix_registers_and_bar(void **state)
{
	static const struct vus_region_ops ops = { .read = bar_read, .write = bar_write };
	static const struct vus_msix_layout lay = { .table_bar = 4, .table_offset = 0x1000,
						    .pba_bar = 4, .pba_offset = 0x3000 };
	struct bar *b = calloc(1, sizeof(*b));
	struct vus_dev *dev = new_dev(256);
	uint8_t buf[0x40];
	int x, i;

	assert_non_null(b);
	memset(b->mem, 0x5a, sizeof(b->mem));
	b->lo = UINT64_MAX;
	ASSERT_OK(vus_dev_setup_region(dev, 4, 0x4000, VUS_REGION_RW, &ops, b));
	x = vus_dev_add_cap_msix(dev, VUS_CAP_OFFSET_AUTO, 100, &lay);
	ASSERT_EQ(dev->irqs[VUS_PCI_MSIX_IRQ].count, 100);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(rd(dev, x, 1), 0x11);
	ASSERT_EQ(rd(dev, x + 2, 2), 99);              /* N - 1 */
	ASSERT_EQ(rd(dev, x + 4, 4), 0x1004);          /* offset | BIR 4 */
	ASSERT_EQ(rd(dev, x + 8, 4), 0x3004);
	wr(dev, x + 2, 2, 0xffff);
	ASSERT_EQ(rd(dev, x + 2, 2), 0xc000 | 99);
	wr(dev, x + 4, 4, 0);
	ASSERT_EQ(rd(dev, x + 4, 4), 0x1004);
	wr(dev, x + 2, 2, 0);

	/* A read spanning device bytes, the table's first entry and back. */
	ASSERT_OK(vus_region_access(dev, 4, 0xff0, buf, 0x20, false));
	ASSERT_EQ(buf[0], 0x5a);
	ASSERT_EQ(buf[0x10], 0);
	ASSERT_EQ(buf[0x1c], 1);                        /* Mask set at reset */
	ASSERT_EQ(b->hi, 0x1000);
	/* Last table entry, then device bytes after it. */
	ASSERT_OK(vus_region_access(dev, 4, 0x1000 + 99 * 16 + 8, buf, 0x10, false));
	ASSERT_EQ(buf[4], 1);
	ASSERT_EQ(buf[8], 0x5a);
	/* PBA: 100 vectors = 2 qwords; then device bytes. */
	dev->irqs[VUS_PCI_MSIX_IRQ].vec[64].pending = true;
	dev->irqs[VUS_PCI_MSIX_IRQ].vec[99].pending = true;
	ASSERT_OK(vus_region_access(dev, 4, 0x3000, buf, 0x18, false));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(buf[i], 0);
	ASSERT_EQ(buf[8], 0x01);
	ASSERT_EQ(buf[12], 0x08);
	ASSERT_EQ(buf[16], 0x5a);
	/* A write over the table never reaches the device. */
	b->hits = 0;
	memset(buf, 0xff, 0x20);
	ASSERT_OK(vus_region_access(dev, 4, 0x1000, buf, 0x20, true));
	ASSERT_EQ(b->hits, 0);
	ASSERT_OK(vus_region_access(dev, 4, 0x1000, buf, 0x10, false));
	ASSERT_EQ(vus_cfg_get(buf, 4), 0xfffffffc);
	ASSERT_EQ(vus_cfg_get(buf + 12, 4), 1);
	/* A device reset puts entries back to masked and zero. */
	vus_config_reset(dev);
	ASSERT_OK(vus_region_access(dev, 4, 0x1000, buf, 0x10, false));
	ASSERT_EQ(vus_cfg_get(buf, 4), 0);
	ASSERT_EQ(vus_cfg_get(buf + 12, 4), 1);
	assert_false(dev->irqs[VUS_PCI_MSIX_IRQ].vec[64].pending);
	vus_dev_free(dev);
	free(b);
}

static void test_msix_bar_checks(void **state)
{
	struct vus_msix_layout lay = { .table_bar = 0, .table_offset = 0, .pba_bar = 0,
				       .pba_offset = 0x80 };
	struct vus_sparse_area area = { .offset = 0x1000, .size = 0x1000 };
	struct vus_dev *dev;
	int fd;

	/* Layout errors at add time. */
	dev = new_dev(256);
	ASSERT_ERR(vus_dev_add_cap_msix(dev, 0, 0, &lay), -EINVAL);
	ASSERT_ERR(vus_dev_add_cap_msix(dev, 0, 2049, &lay), -EINVAL);
	ASSERT_ERR(vus_dev_add_cap_msix(dev, 0, 8, NULL), -EINVAL);
	lay.table_offset = 4;
	ASSERT_ERR(vus_dev_add_cap_msix(dev, 0, 8, &lay), -EINVAL);   /* BIR bits */
	lay.table_offset = 0x40;
	ASSERT_ERR(vus_dev_add_cap_msix(dev, 0, 8, &lay), -EINVAL);   /* overlap */
	lay.table_offset = 0;
	lay.pba_bar = 6;
	ASSERT_ERR(vus_dev_add_cap_msix(dev, 0, 8, &lay), -EINVAL);
	lay.pba_bar = 0;
	lay.table_offset = 0xfffffff8;
	ASSERT_ERR(vus_dev_add_cap_msix(dev, 0, 8, &lay), -EINVAL);   /* wraps */
	lay.table_offset = 0;
	vus_dev_free(dev);

	/* BAR too small, I/O, upper half of a 64-bit BAR. */
	dev = new_dev(256);
	ASSERT_OK(vus_dev_setup_region(dev, 0, 128, VUS_REGION_RW, NULL, NULL));
	ASSERT_EQ(vus_dev_add_cap_msix(dev, 0, 8, &lay), 0x40);
	ASSERT_ERR(vus_config_init(dev), -EINVAL);
	vus_dev_free(dev);
	dev = new_dev(256);
	ASSERT_OK(vus_dev_setup_region(dev, 0, 256, VUS_REGION_RW | VUS_REGION_BAR_IO,
				       NULL, NULL));
	ASSERT_EQ(vus_dev_add_cap_msix(dev, 0, 8, &lay), 0x40);
	ASSERT_ERR(vus_config_init(dev), -EINVAL);
	vus_dev_free(dev);
	dev = new_dev(256);
	ASSERT_OK(vus_dev_setup_region(dev, 0, 0x10000, VUS_REGION_RW |
				       VUS_REGION_BAR_MEM64, NULL, NULL));
	lay.table_bar = lay.pba_bar = 1;
	ASSERT_EQ(vus_dev_add_cap_msix(dev, 0, 8, &lay), 0x40);
	ASSERT_ERR(vus_config_init(dev), -EINVAL);
	vus_dev_free(dev);
	lay.table_bar = lay.pba_bar = 0;

	/* mmap-able pages may not hold the table or PBA. */
	fd = memfd_create("msix", MFD_CLOEXEC);
	ASSERT_NONNEG(fd);
	ASSERT_OK(ftruncate(fd, 0x2000));
	dev = new_dev(256);
	ASSERT_OK(vus_dev_setup_region(dev, 0, 0x2000, VUS_REGION_RW, NULL, NULL));
	ASSERT_OK(vus_dev_region_set_fd(dev, 0, fd, 0, true, NULL, 0));
	ASSERT_EQ(vus_dev_add_cap_msix(dev, 0, 8, &lay), 0x40);
	ASSERT_ERR(vus_config_init(dev), -EINVAL);
	vus_dev_free(dev);
	/* ... but the pages after them may be mapped. */
	dev = new_dev(256);
	ASSERT_OK(vus_dev_setup_region(dev, 0, 0x2000, VUS_REGION_RW, NULL, NULL));
	ASSERT_OK(vus_dev_region_set_fd(dev, 0, fd, 0, true, &area, 1));
	ASSERT_EQ(vus_dev_add_cap_msix(dev, 0, 8, &lay), 0x40);
	ASSERT_OK(vus_config_init(dev));
	vus_dev_free(dev);
	close(fd);

	/* Table and PBA in two BARs, both created, sized to hold them. */
	dev = new_dev(256);
	lay = (struct vus_msix_layout){ .table_bar = 3, .table_offset = 0x2000,
					.pba_bar = 5, .pba_offset = 0 };
	ASSERT_EQ(vus_dev_add_cap_msix(dev, 0, 512, &lay), 0x40);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(dev->regions[3].size, 0x4000);
	ASSERT_EQ(dev->regions[5].size, 0x1000);
	ASSERT_EQ(rd(dev, 0x10 + 3 * 4, 4), 0);         /* 32-bit memory */
	vus_dev_free(dev);
}

/* ---- PCI Express ------------------------------------------------------ */

static void test_pcie_registers(void **state)
{
	const struct vus_pcie_cfg cfg = { .type = VUS_PCIE_ENDPOINT, .max_payload = 1,
					  .link_speed = 3, .link_width = 4, .flr = true };
	struct vus_dev *dev = new_dev(4096);
	int e;

	e = vus_dev_add_cap_pcie(dev, VUS_CAP_OFFSET_AUTO, &cfg);
	ASSERT_EQ(e, 0x40);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(rd(dev, e, 1), 0x10);
	ASSERT_EQ(rd(dev, e + 2, 2), 0x0002);                 /* v2 endpoint */
	ASSERT_EQ(rd(dev, e + 4, 4), 0x10008001);             /* FLR, RBE, 256 B */
	ASSERT_EQ(rd(dev, e + 8, 2), 0x2810);
	wr(dev, e + 8, 2, 0x7fff);
	ASSERT_EQ(rd(dev, e + 8, 2), 0x78ff);
	wr(dev, e + 8, 2, 0x2810);
	/* Link: trained at its maximum, 8 GT/s x4; speeds up to 8 GT/s. */
	ASSERT_EQ(rd(dev, e + 0x0c, 4), 0x00400043);
	ASSERT_EQ(rd(dev, e + 0x12, 2), 0x0043);
	ASSERT_EQ(rd(dev, e + 0x2c, 4), 0x0000000e);
	ASSERT_EQ(rd(dev, e + 0x30, 2), 0x0003);
	wr(dev, e + 0x12, 2, 0xffff);
	ASSERT_EQ(rd(dev, e + 0x12, 2), 0x0043);
	wr(dev, e + 0x10, 2, 0xffff);
	ASSERT_EQ(rd(dev, e + 0x10, 2), 0x00cb);
	/* Device Status error bits: set by the device, RW1C. */
	ASSERT_OK(vus_dev_config_set_status(dev, (uint16_t)(e + 0x0a), 2, 0x9));
	ASSERT_ERR(vus_dev_config_set_status(dev, (uint16_t)(e + 0x0a), 2, 0x10),
		   -EINVAL);
	ASSERT_EQ(rd(dev, e + 0x0a, 2), 0x9);
	wr(dev, e + 0x0a, 2, 0x1);
	ASSERT_EQ(rd(dev, e + 0x0a, 2), 0x8);
	wr(dev, e + 0x0a, 2, 0x0);
	ASSERT_EQ(rd(dev, e + 0x0a, 2), 0x8);
	wr(dev, e + 0x0a, 2, 0xffff);
	ASSERT_EQ(rd(dev, e + 0x0a, 2), 0x0);
	/* No optional features: Device Capabilities/Control 2 read 0. */
	wr(dev, e + 0x28, 2, 0xffff);
	ASSERT_EQ(rd(dev, e + 0x24, 4), 0);
	ASSERT_EQ(rd(dev, e + 0x28, 2), 0);
	vus_dev_free(dev);

	/* RC-integrated endpoint: no link registers. */
	dev = new_dev(4096);
	{
		const struct vus_pcie_cfg rc = { .type = VUS_PCIE_RC_ENDPOINT };
		const struct vus_pcie_cfg bad = { .type = VUS_PCIE_RC_ENDPOINT, .link_speed = 1,
						  .link_width = 1 };
		const struct vus_pcie_cfg port = { .type = 4, .link_speed = 1, .link_width = 1 };
		const struct vus_pcie_cfg wide = { .type = VUS_PCIE_ENDPOINT, .link_speed = 1,
						   .link_width = 3 };

		ASSERT_ERR(vus_dev_add_cap_pcie(dev, 0, &bad), -EINVAL);
		ASSERT_ERR(vus_dev_add_cap_pcie(dev, 0, &port), -EINVAL);
		ASSERT_ERR(vus_dev_add_cap_pcie(dev, 0, &wide), -EINVAL);
		ASSERT_ERR(vus_dev_add_cap_pcie(dev, 0, NULL), -EINVAL);
		e = vus_dev_add_cap_pcie(dev, 0x80, &rc);
	}
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(rd(dev, e + 2, 2), 0x0092);
	ASSERT_EQ(rd(dev, e + 0x0c, 4), 0);
	wr(dev, e + 0x10, 2, 0xffff);
	ASSERT_EQ(rd(dev, e + 0x10, 2), 0);
	vus_dev_free(dev);
}

static void test_pcie_flr(void **state)
{
	const struct vus_pcie_cfg cfg = { .type = VUS_PCIE_LEGACY_ENDPOINT, .link_speed = 1,
					  .link_width = 1, .flr = true };
	struct resets r = { 0 };
	struct vus_dev *dev = new_dev(4096);
	int e, m;

	ASSERT_OK(vus_dev_set_reset(dev, on_reset, &r));
	ASSERT_OK(vus_dev_set_intx_pin(dev, 1));
	e = vus_dev_add_cap_pcie(dev, VUS_CAP_OFFSET_AUTO, &cfg);
	m = vus_dev_add_cap_msi(dev, VUS_CAP_OFFSET_AUTO, 1, 0);
	assert_true(e > 0 && m > 0);
	ASSERT_OK(vus_config_init(dev));
	wr(dev, CFG_COMMAND, 2, 0x0406);
	wr(dev, 0x3c, 1, 0x0b);
	wr(dev, m + 2, 2, 0x0001);
	wr(dev, e + 8, 2, 0x2830);                    /* MPS 256 B */
	wr(dev, e + 0x10, 2, 0x0042);                 /* ASPM L1, common clock */
	ASSERT_OK(vus_irq_intx_set_level(dev, true));
	ASSERT_EQ(rd(dev, CFG_STATUS, 2) & STATUS_INTX, STATUS_INTX);
	/* Initiate FLR reads 0 and resets the function. */
	wr(dev, e + 8, 2, 0xa830);
	ASSERT_EQ(r.flr, 1);
	ASSERT_EQ(rd(dev, CFG_COMMAND, 2), 0);
	ASSERT_EQ(rd(dev, 0x3c, 1), 0);
	ASSERT_EQ(rd(dev, m + 2, 2), 0);
	ASSERT_EQ(rd(dev, CFG_STATUS, 2) & STATUS_INTX, 0);  /* the INTx line dropped */
	/* Link settings survive an FLR; the rest of Device Control not. */
	ASSERT_EQ(rd(dev, e + 8, 2), 0x2830);
	ASSERT_EQ(rd(dev, e + 0x10, 2), 0x0002);
	/* A byte write of the high half does it too. */
	wr(dev, e + 9, 1, 0x80);
	ASSERT_EQ(r.flr, 2);
	ASSERT_EQ(r.client, 0);
	vus_dev_free(dev);

	/* Without FLR capability the bit is ignored. */
	dev = new_dev(4096);
	r.flr = 0;
	ASSERT_OK(vus_dev_set_reset(dev, on_reset, &r));
	{
		const struct vus_pcie_cfg noflr = { .type = VUS_PCIE_ENDPOINT, .link_speed = 2,
						    .link_width = 16 };

		e = vus_dev_add_cap_pcie(dev, VUS_CAP_OFFSET_AUTO, &noflr);
	}
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(rd(dev, e + 4, 4) & 0x10000000, 0);
	wr(dev, CFG_COMMAND, 2, 0x0002);
	wr(dev, e + 8, 2, 0x8000);
	ASSERT_EQ(r.flr, 0);
	ASSERT_EQ(rd(dev, CFG_COMMAND, 2), 0x0002);
	vus_dev_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto_placement_and_chain),
		cmocka_unit_test(test_placement_errors),
		cmocka_unit_test(test_extended_list),
		cmocka_unit_test(test_vendor_ops),
		cmocka_unit_test(test_pm),
		cmocka_unit_test(test_msi_registers),
		cmocka_unit_test(test_msix_registers_and_bar),
		cmocka_unit_test(test_msix_bar_checks),
		cmocka_unit_test(test_pcie_registers),
		cmocka_unit_test(test_pcie_flr),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
