// SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-only
/*
 * vus_testdev: a Linux driver for vus's testdev (both variants), used by
 * test/guest_testdev.sh inside a guest. It does what a real driver does
 * and checks the device's answers: BAR mapping, one interrupt kind chosen
 * by irq_mode (msix, msi or intx), every vector raised and counted
 * exactly, a vector masked and unmasked, the DMA engine in both directions
 * with coherent and streaming DMA-API buffers and the data compared, a DMA
 * to unmapped memory (error status, Received Master Abort), D3hot -> D0,
 * and Function Level Reset on the PCI Express variant.
 *
 * The register map is samples/testdev/testdev.h (copied below: this file
 * is built against the guest kernel's headers, not vus's).
 *
 * Results: the kernel log ("vus_testdev ...: PASS" or "FAIL: <what>") and
 * the sysfs attribute "selftest" of the PCI device ("PASS ..." or
 * "FAIL: ..."); "irq_counts" lists the handled interrupts per vector;
 * "id" reads the ID register and "mark" a word of BAR2, for the fault
 * and hot-plug tests.
 * The self-test runs at probe; writing 1 to "selftest" runs it again.
 */
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/wait.h>

#define TD_VENDOR 0x1234
#define TD_DEVICE 0x7e57
#define TD_DEVICE_PCIE 0x7e58
#define TD_ID 0x7e570001u

enum {
	TD_REG_ID = 0x000,
	TD_REG_SCRATCH = 0x004,
	TD_REG_INVERT = 0x008,
	TD_REG_IRQ_STATUS = 0x010,
	TD_REG_IRQ_RAISE = 0x014,
	TD_REG_IRQ_ACK = 0x018,
	TD_REG_DMA_SRC_LO = 0x020,
	TD_REG_DMA_SRC_HI = 0x024,
	TD_REG_DMA_DST_LO = 0x028,
	TD_REG_DMA_DST_HI = 0x02c,
	TD_REG_DMA_LEN = 0x030,
	TD_REG_DMA_CMD = 0x034,
	TD_REG_DMA_STATUS = 0x038,
	TD_REG_DMA_COUNT = 0x03c,
	TD_REG_HOLE_HITS = 0x040,
	TD_REG_RESETS = 0x044,
};

#define TD_DMA_START 0x1u
#define TD_DMA_TO_HOST 0x2u
#define TD_DMA_IRQ 0x4u
#define TD_DMA_BUSY 0x1u
#define TD_DMA_ERROR 0x2u
#define TD_IRQ_DMA 0x100u
#define TD_NR_VECTORS 8
#define TD_BAR2_HOLE 0x4000u

/* Sizes for the DMA checks: SMALL is also compared through BAR1 (every
 * BAR1 access is a trapped REGION_READ, slow under TCG); BIG goes guest ->
 * BAR1 -> guest and spans several DMA_READ/WRITE messages when guest RAM
 * is not shared. */
#define TD_DMA_SMALL 0x4000u
#define TD_DMA_BIG 0x40000u
#define TD_BURST 100
#define TD_WAIT (5 * HZ)

static char *irq_mode = "msix";
module_param(irq_mode, charp, 0444);
MODULE_PARM_DESC(irq_mode, "interrupts to use: msix, msi or intx");

struct td;

struct td_vec {
	struct td *td;
	int v;
};

struct td {
	struct pci_dev *pdev;
	void __iomem *bar0, *bar1, *bar2;
	unsigned int mode;                  /* PCI_IRQ_MSIX / _MSI / _LEGACY */
	int nvec;
	struct td_vec vecs[TD_NR_VECTORS];
	atomic_t handled[TD_NR_VECTORS];    /* per delivering vector */
	atomic_t causes[TD_NR_VECTORS];     /* per IRQ_STATUS cause vector */
	atomic_t dma_irqs, total, spurious;
	wait_queue_head_t wq;
	char result[256];
};

static u32 rd(struct td *td, u32 reg)
{
	return ioread32(td->bar0 + reg);
}

static void wr(struct td *td, u32 reg, u32 v)
{
	iowrite32(v, td->bar0 + reg);
}

/* The IRQ_STATUS bits vector v carries: cause b goes to vector b % 8; with
 * MSI and fewer messages the last one carries the rest; INTx all. */
static u32 owned_bits(struct td *td, int v)
{
	u32 bits = 0;
	int b;

	for (b = 0; b < 32; b++) {
		int cv = b % TD_NR_VECTORS;

		if (td->mode == PCI_IRQ_LEGACY || cv == v || (v == td->nvec - 1 && cv > v))
			bits |= 1u << b;
	}
	return bits;
}

static irqreturn_t td_irq(int irq, void *arg)
{
	struct td_vec *tv = arg;
	struct td *td = tv->td;
	u32 st = rd(td, TD_REG_IRQ_STATUS) & owned_bits(td, tv->v);
	int b;

	if (!st) {
		atomic_inc(&td->spurious);
		return IRQ_NONE;
	}
	wr(td, TD_REG_IRQ_ACK, st);
	if (st & TD_IRQ_DMA)
		atomic_inc(&td->dma_irqs);
	for (b = 0; b < 32; b++)
		if ((st & (1u << b)) && (1u << b) != TD_IRQ_DMA)
			atomic_inc(&td->causes[b % TD_NR_VECTORS]);
	atomic_inc(&td->handled[tv->v]);
	atomic_inc(&td->total);
	wake_up(&td->wq);
	return IRQ_HANDLED;
}

#define CHECK(cond, ...)                                                                 \
	do {                                                                             \
		if (!(cond)) {                                                           \
			snprintf(td->result, sizeof(td->result), "FAIL: " __VA_ARGS__);  \
			return -EIO;                                                     \
		}                                                                        \
	} while (0)

static int test_registers(struct td *td)
{
	u32 hits;

	CHECK(rd(td, TD_REG_ID) == TD_ID, "ID reads %#x", rd(td, TD_REG_ID));
	wr(td, TD_REG_SCRATCH, 0xa5a55a5a);
	CHECK(rd(td, TD_REG_SCRATCH) == 0xa5a55a5a, "SCRATCH reads %#x", rd(td, TD_REG_SCRATCH));
	wr(td, TD_REG_INVERT, 0x12345678);
	CHECK(rd(td, TD_REG_INVERT) == ~0x12345678u, "INVERT reads %#x", rd(td, TD_REG_INVERT));
	/* BAR2: mmap-able parts are guest RAM in the VMM, the hole traps. */
	hits = rd(td, TD_REG_HOLE_HITS);
	iowrite32(0xcafef00d, td->bar2);
	CHECK(ioread32(td->bar2) == 0xcafef00d, "BAR2[0] reads %#x", ioread32(td->bar2));
	CHECK(rd(td, TD_REG_HOLE_HITS) == hits, "BAR2[0] counted as a hole access");
	iowrite32(0x600df00d, td->bar2 + TD_BAR2_HOLE);
	CHECK(ioread32(td->bar2 + TD_BAR2_HOLE) == 0x600df00d, "BAR2 hole reads back wrong");
	CHECK(rd(td, TD_REG_HOLE_HITS) == hits + 2, "HOLE_HITS %u, want %u",
	      rd(td, TD_REG_HOLE_HITS), hits + 2);
	return 0;
}

/* Raise cause v; wait for the interrupt it must bring. */
static int raise_and_wait(struct td *td, int v)
{
	int before = atomic_read(&td->total);

	wr(td, TD_REG_IRQ_RAISE, 1u << v);
	if (!wait_event_timeout(td->wq, atomic_read(&td->total) > before, TD_WAIT))
		return -ETIMEDOUT;
	return 0;
}

static int test_irqs(struct td *td)
{
	int causes = TD_NR_VECTORS;
	int v, i, want_total, masked_vec, irq;

	atomic_set(&td->total, 0);
	for (v = 0; v < TD_NR_VECTORS; v++) {
		atomic_set(&td->handled[v], 0);
		atomic_set(&td->causes[v], 0);
	}
	atomic_set(&td->spurious, 0);

	/* Every cause once, on its own vector (MSI-X), its message or the
	 * last one granted (MSI), or the line (INTx). */
	for (v = 0; v < causes; v++) {
		CHECK(!raise_and_wait(td, v), "%s: no interrupt for cause %d", irq_mode, v);
		CHECK(atomic_read(&td->causes[v]) == 1, "%s: cause %d handled %d times",
		      irq_mode, v, atomic_read(&td->causes[v]));
	}
	/* A burst on one cause, each waited for. */
	for (i = 0; i < TD_BURST; i++)
		CHECK(!raise_and_wait(td, 1), "%s: burst interrupt %d lost", irq_mode, i);
	/* A masked vector holds its interrupt until unmasked. */
	masked_vec = td->mode == PCI_IRQ_LEGACY ? 0 : td->nvec - 1;
	irq = pci_irq_vector(td->pdev, masked_vec);
	disable_irq(irq);
	want_total = atomic_read(&td->total);
	wr(td, TD_REG_IRQ_RAISE, 1u << masked_vec);
	msleep(50);
	CHECK(atomic_read(&td->total) == want_total, "%s: interrupt while vector %d disabled",
	      irq_mode, masked_vec);
	enable_irq(irq);
	CHECK(wait_event_timeout(td->wq, atomic_read(&td->total) > want_total, TD_WAIT),
	      "%s: masked interrupt not delivered on unmask", irq_mode);

	/* Nothing more may arrive: the counts are exact. */
	msleep(50);
	want_total = causes + TD_BURST + 1;
	CHECK(atomic_read(&td->total) == want_total, "%s: %d interrupts handled, want %d",
	      irq_mode, atomic_read(&td->total), want_total);
	CHECK(atomic_read(&td->causes[1]) == 1 + TD_BURST + (masked_vec == 1),
	      "%s: cause 1 handled %d times", irq_mode, atomic_read(&td->causes[1]));
	CHECK(rd(td, TD_REG_IRQ_STATUS) == 0, "%s: IRQ_STATUS %#x after acks", irq_mode,
	      rd(td, TD_REG_IRQ_STATUS));
	/* MSI and MSI-X are never shared: an empty call is a device bug. */
	CHECK(td->mode == PCI_IRQ_LEGACY || atomic_read(&td->spurious) == 0,
	      "%s: %d interrupts without a cause", irq_mode, atomic_read(&td->spurious));
	return 0;
}

/* One transfer, with its completion interrupt; 0 or the errno the device
 * reports in DMA_STATUS. */
static int dma_run(struct td *td, u64 src, u64 dst, u32 len, bool to_host)
{
	int before = atomic_read(&td->dma_irqs);
	u32 count = rd(td, TD_REG_DMA_COUNT), st;

	wr(td, TD_REG_DMA_SRC_LO, lower_32_bits(src));
	wr(td, TD_REG_DMA_SRC_HI, upper_32_bits(src));
	wr(td, TD_REG_DMA_DST_LO, lower_32_bits(dst));
	wr(td, TD_REG_DMA_DST_HI, upper_32_bits(dst));
	wr(td, TD_REG_DMA_LEN, len);
	wr(td, TD_REG_DMA_CMD, TD_DMA_START | TD_DMA_IRQ | (to_host ? TD_DMA_TO_HOST : 0));
	if (!wait_event_timeout(td->wq, atomic_read(&td->dma_irqs) > before, TD_WAIT))
		return -ETIMEDOUT;
	st = rd(td, TD_REG_DMA_STATUS);
	if (st & TD_DMA_BUSY)
		return -EBUSY;
	if (st & TD_DMA_ERROR)
		return (int)(st >> 16);
	if (rd(td, TD_REG_DMA_COUNT) != count + 1)
		return -EPROTO;
	return 0;
}

static void fill(u8 *p, size_t len, u8 seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (u8)(i * 7 + seed + (i >> 8));
}

static int test_dma(struct td *td)
{
	struct device *dev = &td->pdev->dev;
	dma_addr_t coh_dma, st_dma;
	u8 *coh, *st, *want;
	u16 status;
	int rc = -ENOMEM;

	coh = dma_alloc_coherent(dev, TD_DMA_BIG, &coh_dma, GFP_KERNEL);
	st = kzalloc(TD_DMA_BIG, GFP_KERNEL);
	want = kmalloc(TD_DMA_BIG, GFP_KERNEL);
	if (!coh || !st || !want) {
		snprintf(td->result, sizeof(td->result), "FAIL: dma: out of memory");
		goto out;
	}
	rc = -EIO;

	/* Guest -> BAR1 from a coherent buffer, checked through BAR1. */
	fill(coh, TD_DMA_SMALL, 0x11);
	rc = dma_run(td, coh_dma, 0, TD_DMA_SMALL, false);
	if (rc) {
		snprintf(td->result, sizeof(td->result), "FAIL: dma to device: %d", rc);
		goto out;
	}
	memcpy_fromio(want, td->bar1, TD_DMA_SMALL);
	if (memcmp(want, coh, TD_DMA_SMALL)) {
		snprintf(td->result, sizeof(td->result), "FAIL: dma to device: BAR1 differs");
		rc = -EIO;
		goto out;
	}

	/* BAR1 -> guest into a streaming mapping. */
	fill(want, TD_DMA_SMALL, 0x5a);
	memcpy_toio(td->bar1 + TD_DMA_SMALL, want, TD_DMA_SMALL);
	st_dma = dma_map_single(dev, st, TD_DMA_SMALL, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, st_dma)) {
		snprintf(td->result, sizeof(td->result), "FAIL: dma_map_single");
		goto out;
	}
	rc = dma_run(td, TD_DMA_SMALL, st_dma, TD_DMA_SMALL, true);
	dma_unmap_single(dev, st_dma, TD_DMA_SMALL, DMA_FROM_DEVICE);
	if (rc || memcmp(st, want, TD_DMA_SMALL)) {
		snprintf(td->result, sizeof(td->result), "FAIL: dma to guest: %s",
			 rc ? "error" : "data differs");
		rc = -EIO;
		goto out;
	}

	/* A big round trip: guest -> BAR1 -> another guest buffer. */
	fill(coh, TD_DMA_BIG, 0xc3);
	memset(st, 0, TD_DMA_BIG);
	st_dma = dma_map_single(dev, st, TD_DMA_BIG, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, st_dma)) {
		snprintf(td->result, sizeof(td->result), "FAIL: dma_map_single big");
		rc = -EIO;
		goto out;
	}
	rc = dma_run(td, coh_dma, 0, TD_DMA_BIG, false);
	if (!rc)
		rc = dma_run(td, 0, st_dma, TD_DMA_BIG, true);
	dma_unmap_single(dev, st_dma, TD_DMA_BIG, DMA_FROM_DEVICE);
	if (rc || memcmp(st, coh, TD_DMA_BIG)) {
		snprintf(td->result, sizeof(td->result), "FAIL: dma round trip %u bytes: %s",
			 TD_DMA_BIG, rc ? "error" : "data differs");
		rc = -EIO;
		goto out;
	}

	/* Nothing mapped at this address: the device reports EFAULT and a
	 * Received Master Abort, which the driver clears (RW1C). */
	rc = dma_run(td, 0xfff00000000ull, 0, 64, false);
	pci_read_config_word(td->pdev, PCI_STATUS, &status);
	if (rc != EFAULT || !(status & PCI_STATUS_REC_MASTER_ABORT)) {
		snprintf(td->result, sizeof(td->result),
			 "FAIL: dma from unmapped memory: status %d, PCI status %#x", rc, status);
		rc = -EIO;
		goto out;
	}
	pci_write_config_word(td->pdev, PCI_STATUS, PCI_STATUS_REC_MASTER_ABORT);
	pci_read_config_word(td->pdev, PCI_STATUS, &status);
	if (status & PCI_STATUS_REC_MASTER_ABORT) {
		snprintf(td->result, sizeof(td->result), "FAIL: Received Master Abort not cleared");
		rc = -EIO;
		goto out;
	}
	rc = 0;
out:
	kfree(want);
	kfree(st);
	if (coh)
		dma_free_coherent(dev, TD_DMA_BIG, coh, coh_dma);
	return rc;
}

static int test_power(struct td *td)
{
	struct pci_dev *pdev = td->pdev;
	u16 pmcsr;

	CHECK(pdev->pm_cap, "no Power Management capability");
	wr(td, TD_REG_SCRATCH, 0x5a5a0001);
	CHECK(!pci_set_power_state(pdev, PCI_D3hot), "cannot enter D3hot");
	pci_read_config_word(pdev, pdev->pm_cap + PCI_PM_CTRL, &pmcsr);
	CHECK((pmcsr & PCI_PM_CTRL_STATE_MASK) == 3, "PMCSR %#x in D3hot", pmcsr);
	CHECK(!pci_set_power_state(pdev, PCI_D0), "cannot return to D0");
	pci_read_config_word(pdev, pdev->pm_cap + PCI_PM_CTRL, &pmcsr);
	CHECK((pmcsr & PCI_PM_CTRL_STATE_MASK) == 0, "PMCSR %#x in D0", pmcsr);
	/* No_Soft_Reset: D3hot -> D0 keeps the registers. */
	CHECK(rd(td, TD_REG_SCRATCH) == 0x5a5a0001, "SCRATCH %#x after D3hot -> D0",
	      rd(td, TD_REG_SCRATCH));
	return 0;
}

/* PCI Express variant: Function Level Reset clears the registers without
 * counting as a client reset; interrupts work again after restore. */
static int test_flr(struct td *td)
{
	struct pci_dev *pdev = td->pdev;
	u32 resets = rd(td, TD_REG_RESETS), cap;
	int rc;

	pcie_capability_read_dword(pdev, PCI_EXP_DEVCAP, &cap);
	CHECK(cap & PCI_EXP_DEVCAP_FLR, "FLR not advertised (DevCap %#x)", cap);
	wr(td, TD_REG_SCRATCH, 0xf1f1f1f1);
	pci_save_state(pdev);
	rc = pcie_flr(pdev);
	pci_restore_state(pdev);
	CHECK(!rc, "pcie_flr: %d", rc);
	CHECK(rd(td, TD_REG_SCRATCH) == 0, "SCRATCH %#x after FLR", rd(td, TD_REG_SCRATCH));
	CHECK(rd(td, TD_REG_RESETS) == resets, "RESETS changed by FLR");
	CHECK(rd(td, TD_REG_ID) == TD_ID, "ID after FLR");
	CHECK(!raise_and_wait(td, 0), "%s: no interrupt after FLR", irq_mode);
	return 0;
}

static int td_selftest(struct td *td)
{
	bool pcie = td->pdev->device == TD_DEVICE_PCIE;
	int rc;

	if ((rc = test_registers(td)) || (rc = test_irqs(td)) || (rc = test_dma(td)) ||
	    (rc = test_power(td)) || (pcie && (rc = test_flr(td)))) {
		dev_err(&td->pdev->dev, "%s\n", td->result);
		return rc;
	}
	snprintf(td->result, sizeof(td->result),
		 "PASS %s vectors=%d interrupts=%d spurious=%d dma=%u%s\n", irq_mode, td->nvec,
		 atomic_read(&td->total), atomic_read(&td->spurious), rd(td, TD_REG_DMA_COUNT),
		 pcie ? " flr" : "");
	dev_info(&td->pdev->dev, "%s", td->result);
	return 0;
}

static ssize_t selftest_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct td *td = pci_get_drvdata(to_pci_dev(dev));

	return sysfs_emit(buf, "%s\n", strim(td->result));
}

static ssize_t selftest_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct td *td = pci_get_drvdata(to_pci_dev(dev));

	td_selftest(td);
	return count;
}
static DEVICE_ATTR_RW(selftest);

static ssize_t irq_counts_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct td *td = pci_get_drvdata(to_pci_dev(dev));
	int v, n = 0;

	for (v = 0; v < td->nvec; v++)
		n += sysfs_emit_at(buf, n, "%s%d", v ? " " : "", atomic_read(&td->handled[v]));
	n += sysfs_emit_at(buf, n, "\n");
	return n;
}
static DEVICE_ATTR_RO(irq_counts);

/* A word in BAR2 (offset 0x100, which the self-test leaves alone) for
 * tests of state kept across unplug and re-plug. */
static ssize_t mark_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct td *td = pci_get_drvdata(to_pci_dev(dev));

	return sysfs_emit(buf, "%#x\n", ioread32(td->bar2 + 0x100));
}

static ssize_t mark_store(struct device *dev, struct device_attribute *attr, const char *buf,
			  size_t count)
{
	struct td *td = pci_get_drvdata(to_pci_dev(dev));
	u32 v;
	int rc = kstrtou32(buf, 0, &v);

	if (rc)
		return rc;
	iowrite32(v, td->bar2 + 0x100);
	return count;
}
static DEVICE_ATTR_RW(mark);

/* The ID register: one trapped BAR0 read (a REGION_READ in the VMM). */
static ssize_t id_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct td *td = pci_get_drvdata(to_pci_dev(dev));

	return sysfs_emit(buf, "%#x\n", rd(td, TD_REG_ID));
}
static DEVICE_ATTR_RO(id);

/* Interrupts that came without a cause (storms, QEMU's INTx re-assert). */
static ssize_t spurious_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct td *td = pci_get_drvdata(to_pci_dev(dev));

	return sysfs_emit(buf, "%d\n", atomic_read(&td->spurious));
}
static DEVICE_ATTR_RO(spurious);

static struct attribute *td_attrs[] = {
	&dev_attr_selftest.attr,
	&dev_attr_id.attr,
	&dev_attr_spurious.attr,
	&dev_attr_mark.attr,
	&dev_attr_irq_counts.attr,
	NULL,
};
ATTRIBUTE_GROUPS(td);

static int td_setup_irqs(struct td *td)
{
	struct pci_dev *pdev = td->pdev;
	int want = TD_NR_VECTORS, v, rc;

	if (!strcmp(irq_mode, "msix")) {
		td->mode = PCI_IRQ_MSIX;
	} else if (!strcmp(irq_mode, "msi")) {
		td->mode = PCI_IRQ_MSI;
		want = 4;
	} else if (!strcmp(irq_mode, "intx")) {
		td->mode = PCI_IRQ_LEGACY;
		want = 1;
	} else {
		dev_err(&pdev->dev, "irq_mode=%s: expected msix, msi or intx\n", irq_mode);
		return -EINVAL;
	}
	/* MSI: x86 without interrupt remapping grants one message only. */
	td->nvec = pci_alloc_irq_vectors(pdev, 1, want, td->mode);
	if (td->nvec < 0)
		return td->nvec;
	for (v = 0; v < td->nvec; v++) {
		td->vecs[v].td = td;
		td->vecs[v].v = v;
		rc = devm_request_irq(&pdev->dev, pci_irq_vector(pdev, v), td_irq,
				      td->mode == PCI_IRQ_LEGACY ? IRQF_SHARED : 0, "vus_testdev",
				      &td->vecs[v]);
		if (rc)
			return rc;
	}
	return 0;
}

static int td_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct td *td;
	int rc;

	td = devm_kzalloc(&pdev->dev, sizeof(*td), GFP_KERNEL);
	if (!td)
		return -ENOMEM;
	td->pdev = pdev;
	init_waitqueue_head(&td->wq);
	pci_set_drvdata(pdev, td);
	rc = pcim_enable_device(pdev);
	if (rc)
		return rc;
	rc = pcim_iomap_regions(pdev, BIT(0) | BIT(1) | BIT(2), "vus_testdev");
	if (rc)
		return rc;
	td->bar0 = pcim_iomap_table(pdev)[0];
	td->bar1 = pcim_iomap_table(pdev)[1];
	td->bar2 = pcim_iomap_table(pdev)[2];
	pci_set_master(pdev);
	rc = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (rc)
		return rc;
	rc = td_setup_irqs(td);
	if (rc) {
		dev_err(&pdev->dev, "interrupts (%s): %d\n", irq_mode, rc);
		pci_free_irq_vectors(pdev);
		return rc;
	}
	/* A failed self-test leaves the driver bound: the result is the
	 * report (sysfs selftest). */
	td_selftest(td);
	return 0;
}

static void td_remove(struct pci_dev *pdev)
{
	struct td *td = pci_get_drvdata(pdev);
	int v;

	for (v = 0; v < td->nvec; v++)
		devm_free_irq(&pdev->dev, pci_irq_vector(pdev, v), &td->vecs[v]);
	pci_free_irq_vectors(pdev);
}

static const struct pci_device_id td_ids[] = {
	{ PCI_DEVICE(TD_VENDOR, TD_DEVICE) },
	{ PCI_DEVICE(TD_VENDOR, TD_DEVICE_PCIE) },
	{ 0 }
};
MODULE_DEVICE_TABLE(pci, td_ids);

static struct pci_driver td_driver = {
	.name = "vus_testdev",
	.id_table = td_ids,
	.probe = td_probe,
	.remove = td_remove,
	.dev_groups = td_groups,
};
module_pci_driver(td_driver);

MODULE_DESCRIPTION("Driver and self-test for vus's testdev");
MODULE_LICENSE("Dual BSD/GPL");
