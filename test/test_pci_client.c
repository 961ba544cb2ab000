/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Config space and interrupts through the client library, the way QEMU's
 * vfio-user-pci drives them (docs/qemu.md): one read of
 * the whole config space, ROM sizing at 0x30, BAR sizing (read, write
 * all-ones, read, restore), the capability walk, RW1C status bits, MSI-X
 * mask/pending/unmask seen on eventfds, INTx auto-mask and unmask (also
 * through a resample eventfd), FLR and DEVICE_RESET reaching the reset
 * callback; then testdev's own MSI and MSI-X.
 *
 * The device under test is served on a thread over a socketpair; its
 * BAR0 registers let the test act as the device (raise, lower, level,
 * report errors) from the server's side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "efd.h"
#include "pci_regs.h"
#include "test_server.h"
#include "vus_test.h"

/* BAR0 of the device under test: writes act on the server side. */
enum {
	REG_RAISE = 0x00,    /* vus_irq_raise(value) */
	REG_LOWER = 0x04,    /* vus_irq_lower(value) */
	REG_LEVEL = 0x08,    /* vus_irq_intx_set_level(value != 0) */
	REG_ERROR = 0x0c,    /* vus_dev_config_set_status(0x06, 2, value) */
	REG_FLRS = 0x10,     /* RO: VUS_RESET_FLR seen */
	REG_RESETS = 0x14,   /* RO: VUS_RESET_CLIENT seen */
	REG_LAST_RC = 0x18,  /* RO: result of the last action */
};

#define ROM_SIZE  0x10000u
#define NVEC_MSI  4u
#define NVEC_MSIX 16u
#define MSIX_BAR  4u
#define PBA_OFF   0x800u
#define DSN       0x0011223344556677ull


struct pdev {
	struct vus_dev *dev;
	pthread_t thread;
	struct vus_client *c;
	atomic_uint flrs, resets;
	atomic_int last_rc;
	/* capability offsets, from the add calls */
	int pm, msi, msix, pcie, vendor, dsn, vsec;
};

static int bar0_read(struct vus_dev *dev, void *opaque, uint64_t off, void *buf, uint32_t n)
{
	struct pdev *p = opaque;
	uint32_t v = 0;

	if (n != 4 || off % 4)
		return -EINVAL;
	if (off == REG_FLRS)
		v = atomic_load(&p->flrs);
	else if (off == REG_RESETS)
		v = atomic_load(&p->resets);
	else if (off == REG_LAST_RC)
		v = (uint32_t)atomic_load(&p->last_rc);
	memcpy(buf, &v, 4);
	return 0;
}

static int bar0_write(struct vus_dev *dev, void *opaque, uint64_t off, const void *buf,
		      uint32_t n)
{
	struct pdev *p = opaque;
	uint32_t v;
	int rc = 0;

	if (n != 4 || off % 4)
		return -EINVAL;
	memcpy(&v, buf, 4);
	switch (off) {
	case REG_RAISE: rc = vus_irq_raise(dev, v); break;
	case REG_LOWER: rc = vus_irq_lower(dev, v); break;
	case REG_LEVEL: rc = vus_irq_intx_set_level(dev, v != 0); break;
	case REG_ERROR: rc = vus_dev_config_set_status(dev, CFG_STATUS, 2, v); break;
	default: break;
	}
	atomic_store(&p->last_rc, rc);
	return 0;
}

static const struct vus_region_ops bar0_ops = { .read = bar0_read, .write = bar0_write };

static int rom_read(struct vus_dev *dev, void *opaque, uint64_t off, void *buf, uint32_t n)
{
	memset(buf, 0xa5, n);
	return 0;
}

static const struct vus_region_ops rom_ops = { .read = rom_read };

static int on_reset(struct vus_dev *dev, void *opaque, enum vus_reset_reason why)
{
	struct pdev *p = opaque;

	if (why == VUS_RESET_FLR)
		atomic_fetch_add(&p->flrs, 1);
	else if (why == VUS_RESET_CLIENT)
		atomic_fetch_add(&p->resets, 1);
	return 0;
}

static void *serve(void *arg)
{
	struct pdev *p = arg;

	vus_dev_run(p->dev);
	return NULL;
}

/*
 * 4 KiB PCIe endpoint: BAR0 registers, BAR1 I/O 256, BAR2/3 64-bit
 * prefetchable 1 MiB, BAR4 MSI-X (created by the library), 64 KiB ROM,
 * INTA; PM, MSI, MSI-X, PCIe with FLR, vendor; DSN and VSEC.
 */
static int setup(void **state)
{
	static const struct vus_pci_id id = { .vendor = 0x1b36, .device = 0x00f0,
					      .subsys_vendor = 0x1af4, .subsys = 0x1100,
					      .class_code = 0x058000, .revision = 2 };
	static const struct vus_msix_layout lay = { .table_bar = MSIX_BAR, .pba_bar = MSIX_BAR,
						    .pba_offset = PBA_OFF };
	static const struct vus_pcie_cfg pcie = { .type = VUS_PCIE_ENDPOINT, .max_payload = 1,
						  .link_speed = 2, .link_width = 1, .flr = true };
	struct pdev *p = calloc(1, sizeof(*p));
	struct vus_dev *dev;
	int sv[2];

	assert_non_null(p);
	dev = p->dev = vus_dev_new("pci");
	assert_non_null(dev);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	ASSERT_OK(vus_dev_set_pci_id(dev, &id));
	ASSERT_OK(vus_dev_set_config_size(dev, 4096));
	ASSERT_OK(vus_dev_set_intx_pin(dev, 1));
	ASSERT_OK(vus_dev_setup_region(dev, 0, 4096, VUS_REGION_RW, &bar0_ops, p));
	ASSERT_OK(vus_dev_setup_region(dev, 1, 256, VUS_REGION_RW | VUS_REGION_BAR_IO,
				       &bar0_ops, p));
	ASSERT_OK(vus_dev_setup_region(dev, 2, 1 << 20, VUS_REGION_RW |
				       VUS_REGION_BAR_MEM64 | VUS_REGION_BAR_PREFETCH,
				       &bar0_ops, p));
	ASSERT_OK(vus_dev_setup_region(dev, VUS_PCI_ROM_REGION, ROM_SIZE, VUS_REGION_READ,
				       &rom_ops, p));
	ASSERT_OK(vus_dev_set_reset(dev, on_reset, p));
	p->pm = vus_dev_add_cap_pm(dev, VUS_CAP_OFFSET_AUTO, 0);
	p->msi = vus_dev_add_cap_msi(dev, VUS_CAP_OFFSET_AUTO, NVEC_MSI,
				     VUS_MSI_64BIT | VUS_MSI_PER_VECTOR_MASK);
	p->msix = vus_dev_add_cap_msix(dev, VUS_CAP_OFFSET_AUTO, NVEC_MSIX, &lay);
	p->pcie = vus_dev_add_cap_pcie(dev, VUS_CAP_OFFSET_AUTO, &pcie);
	p->vendor = vus_dev_add_cap_vendor(dev, VUS_CAP_OFFSET_AUTO, 8, "vus!", NULL, NULL);
	p->dsn = vus_dev_add_ext_cap_dsn(dev, VUS_CAP_OFFSET_AUTO, DSN);
	p->vsec = vus_dev_add_ext_cap_vendor(dev, VUS_CAP_OFFSET_AUTO, 0x7e57, 1, 12, "abcd", NULL,
					     NULL);
	assert_true(p->pm > 0 && p->msi > 0 && p->msix > 0 && p->pcie > 0 && p->vendor > 0 &&
		    p->dsn > 0 && p->vsec > 0);

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(dev, sv[0]));
	ASSERT_OK(pthread_create(&p->thread, NULL, serve, p));
	ASSERT_OK(vus_client_connect_fd(sv[1], NULL, &p->c));
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pdev *p = *state;

	vus_client_close(p->c);
	vus_dev_stop(p->dev);
	pthread_join(p->thread, NULL);
	vus_dev_free(p->dev);
	free(p);
	return 0;
}

static uint32_t cfg_rd(struct pdev *p, uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	ASSERT_OK(vus_client_region_read(p->c, VUS_PCI_CONFIG_REGION, off, &v, len));
	return v;
}

static void cfg_wr(struct pdev *p, uint32_t off, uint32_t len, uint32_t v)
{
	ASSERT_OK(vus_client_region_write(p->c, VUS_PCI_CONFIG_REGION, off, &v, len));
}

static void dev_do(struct pdev *p, uint32_t reg, uint32_t v)
{
	uint32_t rc;

	ASSERT_OK(vus_client_region_write(p->c, 0, reg, &v, 4));
	ASSERT_OK(vus_client_region_read(p->c, 0, REG_LAST_RC, &rc, 4));
	ASSERT_EQ((int32_t)rc, 0);
}

static uint32_t dev_reg(struct pdev *p, uint32_t reg)
{
	uint32_t v;

	ASSERT_OK(vus_client_region_read(p->c, 0, reg, &v, 4));
	return v;
}

static void set_irqs(struct pdev *p, uint32_t index, uint32_t flags, uint32_t start,
		     uint32_t count, const int *fds)
{
	ASSERT_OK(vus_client_set_irqs(p->c, index, flags, start, count, fds, NULL));
}

/* ---- realize: config read, ROM and BAR sizing -------------------------- */

/* vfio_bar_prepare() and the PCI core's sizing: read, all-ones, read,
 * restore. Returns the mask read back. */
static uint32_t size_bar(struct pdev *p, uint32_t off)
{
	uint32_t orig = cfg_rd(p, off, 4), mask;

	cfg_wr(p, off, 4, 0xffffffff);
	mask = cfg_rd(p, off, 4);
	cfg_wr(p, off, 4, orig);
	ASSERT_EQ(cfg_rd(p, off, 4), orig);
	return mask;
}

static void test_realize_probe(void **state)
{
	struct pdev *p = *state;
	struct vus_client_region r;
	uint8_t *cfg = malloc(4096);
	uint32_t orig, rom;

	assert_non_null(cfg);
	/* QEMU reads min(4096, size) in one REGION_READ. */
	ASSERT_OK(vus_client_region_info(p->c, VUS_PCI_CONFIG_REGION, &r));
	ASSERT_EQ(r.info.size, 4096);
	ASSERT_OK(vus_client_region_read(p->c, VUS_PCI_CONFIG_REGION, 0, cfg, 4096));
	ASSERT_EQ(cfg[0] | cfg[1] << 8, 0x1b36);
	ASSERT_EQ(cfg[0x0e], 0);
	ASSERT_EQ(cfg[0x3d], 1);
	ASSERT_EQ(cfg[0x06] & 0x10, 0x10);
	free(cfg);

	/* vfio_pci_size_rom(): read, write the address mask, read, restore. */
	orig = cfg_rd(p, CFG_ROM, 4);
	cfg_wr(p, CFG_ROM, 4, ROM_ADDR_MASK);
	rom = cfg_rd(p, CFG_ROM, 4);
	cfg_wr(p, CFG_ROM, 4, orig);
	ASSERT_EQ(orig, 0);
	ASSERT_EQ(rom, (uint32_t)~(ROM_SIZE - 1));
	ASSERT_EQ(cfg_rd(p, CFG_ROM, 4), 0);

	ASSERT_EQ(size_bar(p, 0x10), 0xfffff000);          /* 4 KiB */
	ASSERT_EQ(size_bar(p, 0x14), 0xffffff01);          /* I/O 256 */
	ASSERT_EQ(size_bar(p, 0x18), 0xfff0000c);          /* 64-bit prefetch 1 MiB */
	ASSERT_EQ(size_bar(p, 0x1c), 0xffffffff);          /* its upper half */
	ASSERT_EQ(size_bar(p, 0x20), 0xfffff000);          /* the MSI-X BAR, 4 KiB */
	ASSERT_EQ(size_bar(p, 0x24), 0);                   /* none */
	ASSERT_OK(vus_client_region_info(p->c, MSIX_BAR, &r));
	ASSERT_EQ(r.info.size, 4096);
	/* Post-reset: 0 into every BAR register. */
	cfg_wr(p, 0x10, 4, 0);
	ASSERT_EQ(cfg_rd(p, 0x10, 4), 0);
}

static void test_capability_walk(void **state)
{
	static const uint8_t want_std[] = { 0x01, 0x05, 0x11, 0x10, 0x09 };
	static const uint16_t want_ext[] = { 0x0003, 0x000b };
	struct pdev *p = *state;
	unsigned n = 0, off;
	uint32_t h;

	/* vfio_add_capabilities(): only with the Capabilities List bit. */
	assert_true(cfg_rd(p, CFG_STATUS, 2) & 0x10);
	for (off = cfg_rd(p, 0x34, 1); off; off = cfg_rd(p, off + 1, 1)) {
		assert_true(n < sizeof(want_std));
		assert_true(off >= 0x40 && off < 0x100 && off % 4 == 0);
		ASSERT_EQ(cfg_rd(p, off, 1), want_std[n]);
		n++;
	}
	ASSERT_EQ(n, sizeof(want_std));
	/* The PCIe capability QEMU accepts: an endpoint, version 2. */
	ASSERT_EQ(cfg_rd(p, p->pcie + 2, 2) & 0xf0, 0);
	/* MSI-X as vfio_msix_early_setup() reads it. */
	ASSERT_EQ(cfg_rd(p, p->msix + 2, 2), NVEC_MSIX - 1);
	ASSERT_EQ(cfg_rd(p, p->msix + 4, 4), MSIX_BAR);
	ASSERT_EQ(cfg_rd(p, p->msix + 8, 4), PBA_OFF | MSIX_BAR);
	/* Extended capabilities from 0x100. */
	for (n = 0, off = 0x100; off; off = h >> 20, n++) {
		h = cfg_rd(p, off, 4);
		assert_true(n < 2);
		ASSERT_EQ(h & 0xffff, want_ext[n]);
	}
	ASSERT_EQ(n, 2);
	ASSERT_EQ(cfg_rd(p, p->dsn + 4, 4), (uint32_t)DSN);
	ASSERT_EQ(cfg_rd(p, p->dsn + 8, 4), (uint32_t)(DSN >> 32));
}

static void test_rw1c_status(void **state)
{
	struct pdev *p = *state;

	dev_do(p, REG_ERROR, 0x2000 | 0x0800);
	ASSERT_EQ(cfg_rd(p, CFG_STATUS, 2), 0x2800 | 0x10);
	/* A guest's Command write as a dword carries Status zeros: kept. */
	cfg_wr(p, CFG_COMMAND, 4, 0x00000006);
	ASSERT_EQ(cfg_rd(p, CFG_STATUS, 2), 0x2810);
	cfg_wr(p, CFG_STATUS, 2, 0x2000);
	ASSERT_EQ(cfg_rd(p, CFG_STATUS, 2), 0x0810);
	cfg_wr(p, CFG_STATUS, 2, 0xffff);
	ASSERT_EQ(cfg_rd(p, CFG_STATUS, 2), 0x0010);
	/* Only RW1C bits can be reported. */
	ASSERT_OK(vus_client_region_write(p->c, 0, REG_ERROR, &(uint32_t){ 0x10 }, 4));
	ASSERT_ERR((int32_t)dev_reg(p, REG_LAST_RC), -EINVAL);
}

/* ---- interrupts --------------------------------------------------------- */

static void test_irq_info(void **state)
{
	static const struct { uint32_t flags, count; } want[VUS_PCI_NUM_IRQS] = {
		{ VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE | VUS_IRQ_INFO_AUTOMASKED, 1 },
		{ VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_NORESIZE, NVEC_MSI },
		{ VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE, NVEC_MSIX },
		/* ERR: one vector on a PCI Express device, as kernel vfio-pci. */
		{ VUS_IRQ_INFO_EVENTFD, 1 },
		/* REQ: one vector on every device, as kernel vfio-pci. */
		{ VUS_IRQ_INFO_EVENTFD, 1 },
	};
	struct pdev *p = *state;
	struct vus_irq_info ii;
	uint32_t i;

	for (i = 0; i < VUS_PCI_NUM_IRQS; i++) {
		ASSERT_OK(vus_client_irq_info(p->c, i, &ii));
		ASSERT_EQ(ii.flags, want[i].flags);
		ASSERT_EQ(ii.count, want[i].count);
	}
}

static uint64_t pba(struct pdev *p)
{
	uint64_t v;

	ASSERT_OK(vus_client_region_read(p->c, MSIX_BAR, PBA_OFF, &v, 8));
	return v;
}

static void msix_ctl(struct pdev *p, uint16_t v)
{
	cfg_wr(p, p->msix + 2, 2, v);
}

static void test_msix_mask_pending_unmask(void **state)
{
	const uint32_t trig = VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER;
	struct pdev *p = *state;
	int efd[4], intx = efd_new(), i;
	uint32_t v;

	for (i = 0; i < 4; i++)
		efd[i] = efd_new();
	set_irqs(p, VUS_PCI_INTX_IRQ, trig, 0, 1, &intx);
	/* vfio_msix_enable(): INTx off, MSI-X on with the function masked
	 * while the guest programs it, then vector 0 with no fd. */
	set_irqs(p, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER, 0, 0,
		 NULL);
	msix_ctl(p, 0xc000);
	set_irqs(p, VUS_PCI_MSIX_IRQ, trig, 0, 1, NULL);
	/* The device raises vector 2 before anything is wired: pending. */
	dev_do(p, REG_RAISE, 2);
	ASSERT_EQ(pba(p), 1u << 2);
	set_irqs(p, VUS_PCI_MSIX_IRQ, trig, 0, 4, efd);
	ASSERT_EQ(efd_wait(efd[2], 0), 0);               /* function still masked */
	msix_ctl(p, 0x8000);
	ASSERT_EQ(efd_wait(efd[2], 1000), 1);
	ASSERT_EQ(pba(p), 0);
	ASSERT_EQ(efd_wait(intx, 0), 0);

	/* The client masks vector 1 (SET_IRQS MASK): pending, PBA, UNMASK. */
	set_irqs(p, VUS_PCI_MSIX_IRQ, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_MASK, 1, 1,
		 NULL);
	dev_do(p, REG_RAISE, 1);
	dev_do(p, REG_RAISE, 1);
	ASSERT_EQ(efd_wait(efd[1], 0), 0);
	ASSERT_EQ(pba(p), 1u << 1);
	set_irqs(p, VUS_PCI_MSIX_IRQ, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 1, 1,
		 NULL);
	ASSERT_EQ(efd_wait(efd[1], 1000), 1);            /* once: coalesced */
	ASSERT_EQ(pba(p), 0);

	/* A client that drives the table: entry 3's Mask bit counts. */
	v = 0xfee00000;
	ASSERT_OK(vus_client_region_write(p->c, MSIX_BAR, 3 * 16, &v, 4));
	dev_do(p, REG_RAISE, 3);
	ASSERT_EQ(efd_wait(efd[3], 0), 0);
	ASSERT_EQ(pba(p), 1u << 3);
	v = 0;
	ASSERT_OK(vus_client_region_write(p->c, MSIX_BAR, 3 * 16 + 12, &v, 4));
	ASSERT_EQ(efd_wait(efd[3], 1000), 1);
	ASSERT_OK(vus_client_region_read(p->c, MSIX_BAR, 3 * 16, &v, 4));
	ASSERT_EQ(v, 0xfee00000);
	/* The guest's PBA writes are dropped. */
	v = 0xffffffff;
	ASSERT_OK(vus_client_region_write(p->c, MSIX_BAR, PBA_OFF, &v, 4));
	ASSERT_EQ(pba(p), 0);
	/* A vector past the table. */
	ASSERT_OK(vus_client_region_write(p->c, 0, REG_RAISE, &(uint32_t){ NVEC_MSIX }, 4));
	ASSERT_ERR((int32_t)dev_reg(p, REG_LAST_RC), -EINVAL);
	for (i = 0; i < 4; i++)
		close(efd[i]);
	close(intx);
}

static void test_msi_through_client(void **state)
{
	const uint32_t trig = VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER;
	struct pdev *p = *state;
	int efd[NVEC_MSI], i;

	for (i = 0; i < (int)NVEC_MSI; i++)
		efd[i] = efd_new();
	/* vfio_msi_enable(): the guest enabled 4 messages; all at once
	 * (NORESIZE). */
	cfg_wr(p, p->msi + 4, 4, 0xfee00000);
	cfg_wr(p, p->msi + 0xc, 2, 0x4021);
	cfg_wr(p, p->msi + 2, 2, 0x0021);
	set_irqs(p, VUS_PCI_MSI_IRQ, trig, 0, NVEC_MSI, efd);
	dev_do(p, REG_RAISE, 1);
	ASSERT_EQ(efd_wait(efd[1], 1000), 1);
	/* The guest masks message 1 in the capability: Pending, unmask. */
	cfg_wr(p, p->msi + 0x10, 4, 0x2);
	dev_do(p, REG_RAISE, 1);
	ASSERT_EQ(cfg_rd(p, p->msi + 0x14, 4), 0x2);
	ASSERT_EQ(efd_wait(efd[1], 0), 0);
	cfg_wr(p, p->msi + 0x10, 4, 0);
	ASSERT_EQ(efd_wait(efd[1], 1000), 1);
	ASSERT_EQ(cfg_rd(p, p->msi + 0x14, 4), 0);
	for (i = 0; i < (int)NVEC_MSI; i++)
		close(efd[i]);
}

static void test_intx_automask_unmask(void **state)
{
	const uint32_t unmask = VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK;
	struct pdev *p = *state;
	int efd = efd_new(), rfd = efd_new();
	uint64_t one = 1;

	set_irqs(p, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1,
		 &efd);
	dev_do(p, REG_LEVEL, 1);
	ASSERT_EQ(efd_wait(efd, 1000), 1);
	ASSERT_EQ(cfg_rd(p, CFG_STATUS, 2) & STATUS_INTX, STATUS_INTX);
	/* Auto-masked until the guest's EOI. */
	dev_do(p, REG_LEVEL, 1);
	ASSERT_EQ(efd_wait(efd, 50), 0);
	/* vfio_intx_eoi(): UNMASK; the line is still high, so it fires. */
	set_irqs(p, VUS_PCI_INTX_IRQ, unmask, 0, 1, NULL);
	ASSERT_EQ(efd_wait(efd, 1000), 1);
	/* The cause is acknowledged: the next EOI finds nothing. */
	dev_do(p, REG_LEVEL, 0);
	ASSERT_EQ(cfg_rd(p, CFG_STATUS, 2) & STATUS_INTX, 0);
	set_irqs(p, VUS_PCI_INTX_IRQ, unmask, 0, 1, NULL);
	ASSERT_EQ(efd_wait(efd, 50), 0);

	/* With KVM: the resample eventfd is the unmask (vfio_intx_enable_kvm). */
	set_irqs(p, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_UNMASK, 0,
		 1, &rfd);
	dev_do(p, REG_RAISE, 0);
	ASSERT_EQ(efd_wait(efd, 1000), 1);
	ASSERT_EQ(write(rfd, &one, sizeof(one)), (ssize_t)sizeof(one));
	ASSERT_EQ(efd_wait(efd, 2000), 1);
	dev_do(p, REG_LOWER, 0);
	ASSERT_EQ(write(rfd, &one, sizeof(one)), (ssize_t)sizeof(one));
	ASSERT_EQ(efd_wait(efd, 100), 0);
	/* INTx Disable set by the guest: asserting signals nothing. */
	cfg_wr(p, CFG_COMMAND, 2, 0x0400);
	dev_do(p, REG_LEVEL, 1);
	ASSERT_EQ(efd_wait(efd, 50), 0);
	ASSERT_EQ(cfg_rd(p, CFG_STATUS, 2) & STATUS_INTX, STATUS_INTX);
	cfg_wr(p, CFG_COMMAND, 2, 0);
	ASSERT_EQ(efd_wait(efd, 1000), 1);
	dev_do(p, REG_LEVEL, 0);
	close(efd);
	close(rfd);
}

/* ---- resets ------------------------------------------------------------- */

static void test_flr_and_reset(void **state)
{
	struct pdev *p = *state;
	uint32_t devctl = p->pcie + 8;

	assert_true(cfg_rd(p, p->pcie + 4, 4) & 0x10000000);     /* FLR capable */
	cfg_wr(p, CFG_COMMAND, 2, 0x0006);
	msix_ctl(p, 0x8000);
	dev_do(p, REG_LEVEL, 1);
	/* pcie_flr(): set Initiate FLR in Device Control. */
	cfg_wr(p, devctl, 2, cfg_rd(p, devctl, 2) | 0x8000);
	ASSERT_EQ(dev_reg(p, REG_FLRS), 1);
	ASSERT_EQ(cfg_rd(p, devctl, 2) & 0x8000, 0);
	ASSERT_EQ(cfg_rd(p, CFG_COMMAND, 2), 0);
	ASSERT_EQ(cfg_rd(p, p->msix + 2, 2), NVEC_MSIX - 1);  /* MSI-X off */
	ASSERT_EQ(cfg_rd(p, CFG_STATUS, 2) & STATUS_INTX, 0);

	/* DEVICE_RESET: the client reason, config back to power-on too. */
	cfg_wr(p, CFG_COMMAND, 2, 0x0006);
	cfg_wr(p, p->msi + 2, 2, 0x0001);
	ASSERT_OK(vus_client_reset(p->c));
	ASSERT_EQ(dev_reg(p, REG_RESETS), 1);
	ASSERT_EQ(dev_reg(p, REG_FLRS), 1);
	ASSERT_EQ(cfg_rd(p, CFG_COMMAND, 2), 0);
	ASSERT_EQ(cfg_rd(p, p->msi + 2, 2) & 1, 0);
	/* PM D3hot -> D0 without No_Soft_Reset: another function reset. */
	cfg_wr(p, p->pm + 4, 2, 3);
	cfg_wr(p, p->pm + 4, 2, 0);
	ASSERT_EQ(dev_reg(p, REG_FLRS), 2);
}

/* ---- testdev ------------------------------------------------------------ */

static unsigned find_cap(struct vus_client *c, uint8_t id)
{
	uint8_t v = 0, off;

	ASSERT_OK(vus_client_region_read(c, VUS_PCI_CONFIG_REGION, 0x34, &off, 1));
	while (off) {
		ASSERT_OK(vus_client_region_read(c, VUS_PCI_CONFIG_REGION, off, &v, 1));
		if (v == id)
			return off;
		ASSERT_OK(vus_client_region_read(c, VUS_PCI_CONFIG_REGION, off + 1, &off, 1));
	}
	fail_msg("no capability %#x", id);
	return 0;
}

static void test_testdev_vectors(void **state)
{
	const uint32_t trig = VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER;
	struct test_server s;
	struct vus_client *c;
	int efd[TESTDEV_NR_VECTORS], i;
	unsigned msix, msi;
	uint16_t ctl;
	uint64_t pending;

	ASSERT_OK(test_server_start(&s, NULL));
	ASSERT_OK(test_connect(&s, NULL, &c));
	for (i = 0; i < (int)TESTDEV_NR_VECTORS; i++)
		efd[i] = efd_new();
	msix = find_cap(c, 0x11);
	msi = find_cap(c, 0x05);
	assert_true(find_cap(c, 0x01) > 0);

	/* MSI-X: each IRQ_STATUS bit on its vector (bit b -> b % 8). */
	ctl = 0x8000;
	ASSERT_OK(vus_client_region_write(c, VUS_PCI_CONFIG_REGION, msix + 2, &ctl, 2));
	ASSERT_OK(vus_client_set_irqs(c, VUS_PCI_MSIX_IRQ, trig, 0, TESTDEV_NR_VECTORS,
				      efd, NULL));
	test_reg_write(c, TESTDEV_REG_IRQ_RAISE, 0x24);
	ASSERT_EQ(efd_wait(efd[2], 1000), 1);
	ASSERT_EQ(efd_wait(efd[5], 1000), 1);
	ASSERT_EQ(efd_wait(efd[0], 0), 0);
	/* Function masked: pending in the PBA (BAR0 0xc00) until unmasked;
	 * the DMA completion bit (8) rides on vector 0. */
	ctl = 0xc000;
	ASSERT_OK(vus_client_region_write(c, VUS_PCI_CONFIG_REGION, msix + 2, &ctl, 2));
	test_reg_write(c, TESTDEV_REG_IRQ_RAISE, TESTDEV_IRQ_DMA | 0x80);
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_MSIX_PBA, &pending, 8));
	ASSERT_EQ(pending, 0x81);
	/* Acknowledging vector 7's only cause withdraws it. */
	test_reg_write(c, TESTDEV_REG_IRQ_ACK, 0x80);
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_MSIX_PBA, &pending, 8));
	ASSERT_EQ(pending, 0x01);
	ctl = 0x8000;
	ASSERT_OK(vus_client_region_write(c, VUS_PCI_CONFIG_REGION, msix + 2, &ctl, 2));
	ASSERT_EQ(efd_wait(efd[0], 1000), 1);
	ASSERT_EQ(efd_wait(efd[7], 0), 0);
	test_reg_write(c, TESTDEV_REG_IRQ_ACK, ~0u);

	/* MSI with 4 messages: bit 6 -> vector 6, beyond the enabled
	 * messages: shares the last (3). */
	ctl = 0;
	ASSERT_OK(vus_client_region_write(c, VUS_PCI_CONFIG_REGION, msix + 2, &ctl, 2));
	ctl = 0x0021;
	ASSERT_OK(vus_client_region_write(c, VUS_PCI_CONFIG_REGION, msi + 2, &ctl, 2));
	ASSERT_OK(vus_client_set_irqs(c, VUS_PCI_MSI_IRQ, trig, 0, TESTDEV_MSI_VECTORS,
				      efd, NULL));
	test_reg_write(c, TESTDEV_REG_IRQ_RAISE, 0x42);
	ASSERT_EQ(efd_wait(efd[1], 1000), 1);
	ASSERT_EQ(efd_wait(efd[3], 1000), 1);
	test_reg_write(c, TESTDEV_REG_IRQ_ACK, ~0u);
	vus_client_close(c);
	test_server_stop(&s);
	for (i = 0; i < (int)TESTDEV_NR_VECTORS; i++)
		close(efd[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_realize_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw1c_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_mask_pending_unmask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_through_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_automask_unmask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flr_and_reset, setup, teardown),
		cmocka_unit_test(test_testdev_vectors),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
