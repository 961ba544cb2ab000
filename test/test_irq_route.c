/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interrupts from the device (lib/irq_route.c, device.h "interrupts from
 * the device"): the INTx level line with auto-mask, INTx Disable and the
 * Interrupt Status bit; vus_irq_raise()/lower() routed by the guest's
 * config space to MSI-X (function mask, table mask, PBA, SET_IRQS masks,
 * unwired vectors), MSI (Multiple Message Enable, per-vector mask and
 * Pending) or INTx; raising from many threads.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev_priv.h"
#include "efd.h"
#include "vus_test.h"

#define NVEC_MSI  4
#define NVEC_MSIX 8
#define MSIX_BAR  1
#define PBA_OFF   0x800

#define CMD 0x04
#define STATUS 0x06
#define CMD_INTX_DISABLE 0x0400
#define STATUS_INTX 0x0008

struct fx {
	struct vus_dev *dev;
	int pm, msi, msix;          /* capability offsets */
	int intx;                   /* eventfds, the test's ends */
	int msi_efd[NVEC_MSI];
	int msix_efd[NVEC_MSIX];
};

static uint32_t cfg_rd(struct fx *f, unsigned off, unsigned len)
{
	uint8_t b[4] = { 0 };

	ASSERT_OK(vus_region_access(f->dev, VUS_PCI_CONFIG_REGION, off, b, len, false));
	return vus_cfg_get(b, len);
}

static void cfg_wr(struct fx *f, unsigned off, unsigned len, uint32_t v)
{
	uint8_t b[4];

	vus_cfg_put(b, v, len);
	ASSERT_OK(vus_region_access(f->dev, VUS_PCI_CONFIG_REGION, off, b, len, true));
}

static uint32_t bar_rd(struct fx *f, uint64_t off)
{
	uint8_t b[4];

	ASSERT_OK(vus_region_access(f->dev, MSIX_BAR, off, b, 4, false));
	return vus_cfg_get(b, 4);
}

static void bar_wr(struct fx *f, uint64_t off, uint32_t v)
{
	uint8_t b[4];

	vus_cfg_put(b, v, 4);
	ASSERT_OK(vus_region_access(f->dev, MSIX_BAR, off, b, 4, true));
}

static int set_irqs(struct vus_dev *dev, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count, int *fds, unsigned nfds)
{
	struct vus_irq_set s = {
		.argsz = sizeof(s), .flags = flags, .index = index, .start = start, .count = count,
	};

	return vus_irq_set(dev, &s, fds, nfds, NULL);
}

/* Give the library a dup of each of efds[0..n) for vectors start.. . */
static void wire(struct vus_dev *dev, uint32_t index, uint32_t start, uint32_t n, const int *efds)
{
	int fds[NVEC_MSIX];
	uint32_t i;

	for (i = 0; i < n; i++)
		fds[i] = dup(efds[i]);
	ASSERT_OK(set_irqs(dev, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
			   index, start, n, fds, n));
}

static void unmask(struct vus_dev *dev, uint32_t index, uint32_t vector)
{
	ASSERT_OK(set_irqs(dev, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, index,
			   vector, 1, NULL, 0));
}

static int setup(void **state)
{
	static const struct vus_msix_layout layout = {
		.table_bar = MSIX_BAR, .table_offset = 0, .pba_bar = MSIX_BAR,
		.pba_offset = PBA_OFF,
	};
	struct fx *f = calloc(1, sizeof(*f));
	int i;

	assert_non_null(f);
	f->dev = vus_dev_new("route");
	assert_non_null(f->dev);
	vus_dev_set_log_level(f->dev, VUS_LOG_ERR);
	ASSERT_OK(vus_dev_set_intx_pin(f->dev, 1));
	f->pm = vus_dev_add_cap_pm(f->dev, VUS_CAP_OFFSET_AUTO, 0);
	f->msi = vus_dev_add_cap_msi(f->dev, VUS_CAP_OFFSET_AUTO, NVEC_MSI,
				     VUS_MSI_64BIT | VUS_MSI_PER_VECTOR_MASK);
	f->msix = vus_dev_add_cap_msix(f->dev, VUS_CAP_OFFSET_AUTO, NVEC_MSIX, &layout);
	ASSERT_EQ(f->pm, 0x40);
	ASSERT_EQ(f->msi, 0x48);
	ASSERT_EQ(f->msix, 0x60);
	ASSERT_OK(vus_config_init(f->dev));
	f->intx = efd_new();
	for (i = 0; i < NVEC_MSI; i++)
		f->msi_efd[i] = efd_new();
	for (i = 0; i < NVEC_MSIX; i++)
		f->msix_efd[i] = efd_new();
	wire(f->dev, VUS_PCI_INTX_IRQ, 0, 1, &f->intx);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int i;

	vus_dev_free(f->dev);
	close(f->intx);
	for (i = 0; i < NVEC_MSI; i++)
		close(f->msi_efd[i]);
	for (i = 0; i < NVEC_MSIX; i++)
		close(f->msix_efd[i]);
	free(f);
	return 0;
}

/* MSI: enable with 2^mme messages (64-bit layout: mask at +0x10). */
static void msi_enable(struct fx *f, unsigned mme, bool on)
{
	cfg_wr(f, f->msi + 2, 2, (on ? 1u : 0u) | mme << 4);
}

static void msix_ctl(struct fx *f, bool enable, bool fmask)
{
	cfg_wr(f, f->msix + 2, 2, (enable ? 0x8000u : 0) | (fmask ? 0x4000u : 0));
}

/* ---- INTx as a level ------------------------------------------------- */

static void test_intx_level(void **state)
{
	struct fx *f = *state;

	ASSERT_EQ(cfg_rd(f, STATUS, 2) & STATUS_INTX, 0);
	ASSERT_OK(vus_irq_intx_set_level(f->dev, true));
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	ASSERT_EQ(cfg_rd(f, STATUS, 2) & STATUS_INTX, STATUS_INTX);
	/* Auto-masked: asserting again sends nothing. */
	ASSERT_OK(vus_irq_intx_set_level(f->dev, true));
	ASSERT_EQ(efd_wait(f->intx, 0), 0);
	/* The guest's EOI unmasks; the line is still high: again. */
	unmask(f->dev, VUS_PCI_INTX_IRQ, 0);
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	/* Lowered: the next unmask has nothing to deliver. */
	ASSERT_OK(vus_irq_intx_set_level(f->dev, false));
	ASSERT_EQ(cfg_rd(f, STATUS, 2) & STATUS_INTX, 0);
	unmask(f->dev, VUS_PCI_INTX_IRQ, 0);
	ASSERT_EQ(efd_wait(f->intx, 0), 0);
	/* Raised after the unmask: delivered at once. */
	ASSERT_OK(vus_irq_intx_set_level(f->dev, true));
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	ASSERT_OK(vus_irq_intx_set_level(f->dev, false));
}

static void test_intx_disable_bit(void **state)
{
	struct fx *f = *state;

	cfg_wr(f, CMD, 2, CMD_INTX_DISABLE);
	ASSERT_OK(vus_irq_intx_set_level(f->dev, true));
	ASSERT_EQ(efd_wait(f->intx, 0), 0);
	/* Interrupt Status shows the line whatever the disable bit. */
	ASSERT_EQ(cfg_rd(f, STATUS, 2) & STATUS_INTX, STATUS_INTX);
	/* Clearing INTx Disable with the line high delivers it. */
	cfg_wr(f, CMD, 2, 0);
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	/* Dropped before it is enabled again: nothing on enabling. */
	cfg_wr(f, CMD, 2, CMD_INTX_DISABLE);
	unmask(f->dev, VUS_PCI_INTX_IRQ, 0);
	ASSERT_OK(vus_irq_intx_set_level(f->dev, false));
	cfg_wr(f, CMD, 2, 0);
	ASSERT_EQ(efd_wait(f->intx, 0), 0);
}

static void test_intx_wired_late(void **state)
{
	struct fx *f = *state;

	/* QEMU disables INTx (count 0) around a reset, then re-enables
	 * it: a line still high is delivered on the new eventfd. */
	ASSERT_OK(set_irqs(f->dev, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER,
			   VUS_PCI_INTX_IRQ, 0, 0, NULL, 0));
	ASSERT_OK(vus_irq_intx_set_level(f->dev, true));
	ASSERT_EQ(efd_wait(f->intx, 0), 0);
	wire(f->dev, VUS_PCI_INTX_IRQ, 0, 1, &f->intx);
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	ASSERT_OK(vus_irq_intx_set_level(f->dev, false));
}

static void test_intx_vectors_share_line(void **state)
{
	struct fx *f = *state;

	/* Neither MSI nor MSI-X enabled: vectors go to INTx. */
	ASSERT_OK(vus_irq_raise(f->dev, 0));
	ASSERT_OK(vus_irq_raise(f->dev, 5));
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	/* One cause acknowledged, the other still holds the line. */
	ASSERT_OK(vus_irq_lower(f->dev, 0));
	ASSERT_EQ(cfg_rd(f, STATUS, 2) & STATUS_INTX, STATUS_INTX);
	unmask(f->dev, VUS_PCI_INTX_IRQ, 0);
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	ASSERT_OK(vus_irq_lower(f->dev, 5));
	ASSERT_EQ(cfg_rd(f, STATUS, 2) & STATUS_INTX, 0);
	unmask(f->dev, VUS_PCI_INTX_IRQ, 0);
	ASSERT_EQ(efd_wait(f->intx, 0), 0);
	/* set_level(false) drops every vector's hold too. */
	ASSERT_OK(vus_irq_raise(f->dev, 7));
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	ASSERT_OK(vus_irq_intx_set_level(f->dev, false));
	ASSERT_EQ(cfg_rd(f, STATUS, 2) & STATUS_INTX, 0);
	/* Vectors beyond every index. */
	ASSERT_ERR(vus_irq_raise(f->dev, NVEC_MSIX), -EINVAL);
	ASSERT_ERR(vus_irq_lower(f->dev, NVEC_MSIX), -EINVAL);
}

/* ---- MSI-X ------------------------------------------------------------ */

static void test_msix_function_mask_pba(void **state)
{
	struct fx *f = *state;

	wire(f->dev, VUS_PCI_MSIX_IRQ, 0, NVEC_MSIX, f->msix_efd);
	msix_ctl(f, true, true);
	/* MSI-X on: INTx is not used, the vector goes to MSI-X. */
	ASSERT_OK(vus_irq_raise(f->dev, 3));
	ASSERT_EQ(efd_wait(f->msix_efd[3], 0), 0);
	ASSERT_EQ(efd_wait(f->intx, 0), 0);
	ASSERT_EQ(bar_rd(f, PBA_OFF), 1u << 3);
	/* Function mask off: delivered, PBA bit cleared. */
	msix_ctl(f, true, false);
	ASSERT_EQ(efd_wait(f->msix_efd[3], 0), 1);
	ASSERT_EQ(bar_rd(f, PBA_OFF), 0);
	/* Unmasked: straight through, repeatedly. */
	ASSERT_OK(vus_irq_raise(f->dev, 3));
	ASSERT_OK(vus_irq_raise(f->dev, 3));
	ASSERT_EQ(efd_wait(f->msix_efd[3], 0), 2);
	/* PBA writes are ignored (read-only). */
	msix_ctl(f, true, true);
	ASSERT_OK(vus_irq_raise(f->dev, 1));
	bar_wr(f, PBA_OFF, 0);
	ASSERT_EQ(bar_rd(f, PBA_OFF), 1u << 1);
	/* The cause went away while masked: withdrawn. */
	ASSERT_OK(vus_irq_lower(f->dev, 1));
	ASSERT_EQ(bar_rd(f, PBA_OFF), 0);
	msix_ctl(f, true, false);
	ASSERT_EQ(efd_wait(f->msix_efd[1], 0), 0);
}

static void test_msix_table_mask(void **state)
{
	struct fx *f = *state;
	unsigned v;

	wire(f->dev, VUS_PCI_MSIX_IRQ, 0, NVEC_MSIX, f->msix_efd);
	msix_ctl(f, true, false);
	/* Entries reset masked, but until the client writes the table (QEMU
	 * never does) those bits do not gate delivery. */
	for (v = 0; v < NVEC_MSIX; v++)
		ASSERT_EQ(bar_rd(f, v * 16 + 12), 1);
	ASSERT_OK(vus_irq_raise(f->dev, 2));
	ASSERT_EQ(efd_wait(f->msix_efd[2], 0), 1);
	/* A client that programs the table: address, data, unmask 2. */
	bar_wr(f, 2 * 16 + 0, 0xfee00003);
	bar_wr(f, 2 * 16 + 4, 0x1);
	bar_wr(f, 2 * 16 + 8, 0x4041);
	ASSERT_EQ(bar_rd(f, 2 * 16 + 0), 0xfee00000); /* dword aligned */
	ASSERT_EQ(bar_rd(f, 2 * 16 + 4), 0x1);
	ASSERT_EQ(bar_rd(f, 2 * 16 + 8), 0x4041);
	/* Table masks now count: vector 5 is still masked. */
	ASSERT_OK(vus_irq_raise(f->dev, 5));
	ASSERT_EQ(efd_wait(f->msix_efd[5], 0), 0);
	ASSERT_EQ(bar_rd(f, PBA_OFF), 1u << 5);
	bar_wr(f, 5 * 16 + 12, 0xfffffffe);
	ASSERT_EQ(bar_rd(f, 5 * 16 + 12), 0);  /* reserved bits read 0 */
	ASSERT_EQ(efd_wait(f->msix_efd[5], 0), 1);
	ASSERT_EQ(bar_rd(f, PBA_OFF), 0);
	/* Vector 2 was never unmasked in the table. */
	ASSERT_OK(vus_irq_raise(f->dev, 2));
	ASSERT_EQ(efd_wait(f->msix_efd[2], 0), 0);
	bar_wr(f, 2 * 16 + 12, 0);
	ASSERT_EQ(efd_wait(f->msix_efd[2], 0), 1);
	/* A new client starts over (it may emulate the table itself). */
	vus_irq_session_end(f->dev);
	wire(f->dev, VUS_PCI_MSIX_IRQ, 0, NVEC_MSIX, f->msix_efd);
	bar_wr(f, 6 * 16 + 12, 1);
	vus_msix_session_end(f->dev);
	ASSERT_OK(vus_irq_raise(f->dev, 6));
	ASSERT_EQ(efd_wait(f->msix_efd[6], 0), 1);
}

static void test_msix_client_mask_and_unwired(void **state)
{
	struct fx *f = *state;

	msix_ctl(f, true, false);
	/* QEMU's lazy enable: vector 0 "assigned" with no fd. Raising an
	 * unwired vector leaves it pending until the client wires it. */
	ASSERT_OK(set_irqs(f->dev, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
			   VUS_PCI_MSIX_IRQ, 0, 1, NULL, 0));
	ASSERT_OK(vus_irq_raise(f->dev, 4));
	ASSERT_EQ(bar_rd(f, PBA_OFF), 1u << 4);
	wire(f->dev, VUS_PCI_MSIX_IRQ, 4, 1, &f->msix_efd[4]);
	ASSERT_EQ(efd_wait(f->msix_efd[4], 0), 1);
	ASSERT_EQ(bar_rd(f, PBA_OFF), 0);
	/* SET_IRQS MASK (QEMU's "individually mask MSI-X" patch): pending
	 * shows in the PBA, UNMASK delivers. */
	ASSERT_OK(set_irqs(f->dev, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_MASK,
			   VUS_PCI_MSIX_IRQ, 4, 1, NULL, 0));
	ASSERT_OK(vus_irq_raise(f->dev, 4));
	ASSERT_EQ(efd_wait(f->msix_efd[4], 0), 0);
	ASSERT_EQ(bar_rd(f, PBA_OFF), 1u << 4);
	/* Unmasking in the client while the function is masked: still
	 * pending until the guest's mask goes too. */
	msix_ctl(f, true, true);
	unmask(f->dev, VUS_PCI_MSIX_IRQ, 4);
	ASSERT_EQ(efd_wait(f->msix_efd[4], 0), 0);
	msix_ctl(f, true, false);
	ASSERT_EQ(efd_wait(f->msix_efd[4], 0), 1);
	/* MSI-X off again: the same vector now drives the INTx line. */
	msix_ctl(f, false, false);
	ASSERT_EQ(cfg_rd(f, f->msix + 2, 2), NVEC_MSIX - 1);
	ASSERT_OK(vus_irq_raise(f->dev, 4));
	ASSERT_EQ(efd_wait(f->msix_efd[4], 0), 0);
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	ASSERT_OK(vus_irq_lower(f->dev, 4));
	ASSERT_EQ(cfg_rd(f, STATUS, 2) & STATUS_INTX, 0);
}

/* ---- MSI -------------------------------------------------------------- */

static void test_msi_route(void **state)
{
	struct fx *f = *state;
	unsigned mask = f->msi + 0x10, pend = f->msi + 0x14;

	wire(f->dev, VUS_PCI_MSI_IRQ, 0, 2, f->msi_efd);
	msi_enable(f, 1, true);                  /* 2 of 4 messages */
	ASSERT_OK(vus_irq_raise(f->dev, 0));
	ASSERT_EQ(efd_wait(f->msi_efd[0], 0), 1);
	ASSERT_EQ(efd_wait(f->intx, 0), 0);
	/* Vectors 2 and 3 share the last enabled message. */
	ASSERT_OK(vus_irq_raise(f->dev, 3));
	ASSERT_EQ(efd_wait(f->msi_efd[1], 0), 1);
	/* Per-vector mask: Pending bit set, delivered on unmask. */
	cfg_wr(f, mask, 4, 0x1);
	ASSERT_OK(vus_irq_raise(f->dev, 0));
	ASSERT_EQ(efd_wait(f->msi_efd[0], 0), 0);
	ASSERT_EQ(cfg_rd(f, pend, 4), 0x1);
	cfg_wr(f, pend, 4, 0);                   /* read-only */
	ASSERT_EQ(cfg_rd(f, pend, 4), 0x1);
	cfg_wr(f, mask, 4, 0);
	ASSERT_EQ(efd_wait(f->msi_efd[0], 0), 1);
	ASSERT_EQ(cfg_rd(f, pend, 4), 0);
	/* Mask bits exist only for the function's 4 vectors. */
	cfg_wr(f, mask, 4, 0xffffffff);
	ASSERT_EQ(cfg_rd(f, mask, 4), 0xf);
	cfg_wr(f, mask, 4, 0);
	/* MSI and INTx: the pin is not used while MSI is on; turning MSI
	 * off with the line high delivers INTx. */
	ASSERT_OK(vus_irq_intx_set_level(f->dev, true));
	ASSERT_EQ(efd_wait(f->intx, 0), 0);
	msi_enable(f, 1, false);
	ASSERT_EQ(efd_wait(f->intx, 0), 1);
	ASSERT_OK(vus_irq_intx_set_level(f->dev, false));
	/* The client cannot MASK MSI (GET_IRQ_INFO: not MASKABLE). */
	ASSERT_ERR(set_irqs(f->dev, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_MASK,
			    VUS_PCI_MSI_IRQ, 0, 1, NULL, 0), -ENOTTY);
}

/* ---- no route, passthrough -------------------------------------------- */

static int pt_cb(struct vus_dev *dev, void *opaque, const struct vus_irq_set *set,
		 const int *fds, const uint8_t *bools)
{
	return 0;
}

static void test_no_route(void **state)
{
	static const struct vus_msix_layout layout = { .table_bar = 0, .pba_bar = 0,
						       .pba_offset = 0x100 };
	struct vus_dev *dev = vus_dev_new("noroute");

	assert_non_null(dev);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	ASSERT_EQ(vus_dev_add_cap_msix(dev, VUS_CAP_OFFSET_AUTO, 4, &layout), 0x40);
	ASSERT_OK(vus_dev_set_irq_passthrough(dev, VUS_PCI_MSIX_IRQ, pt_cb, NULL));
	ASSERT_OK(vus_config_init(dev));
	/* No pin: no INTx line to drive, nothing to carry a vector while
	 * MSI-X is off. */
	ASSERT_ERR(vus_irq_intx_set_level(dev, true), -EINVAL);
	ASSERT_ERR(vus_irq_raise(dev, 0), -ENOENT);
	/* MSI-X on, but the device owns that index's eventfds. */
	ASSERT_OK(vus_region_access(dev, VUS_PCI_CONFIG_REGION, 0x42,
				    (uint8_t[]){ 0x00, 0x80 }, 2, true));
	ASSERT_ERR(vus_irq_raise(dev, 0), -ENOENT);
	vus_dev_free(dev);
}

/* ---- threads ---------------------------------------------------------- */

#define RAISERS 4
#define RAISES 3000

struct raiser {
	struct vus_dev *dev;
	uint32_t vector;
	int bad;
};

static void *raise_thread(void *p)
{
	struct raiser *r = p;
	int i;

	for (i = 0; i < RAISES; i++)
		if (vus_irq_raise(r->dev, r->vector))
			r->bad++;
	return NULL;
}

static void test_raise_from_threads(void **state)
{
	struct fx *f = *state;
	struct raiser r[RAISERS];
	pthread_t t[RAISERS];
	uint64_t got = 0;
	int i, round;

	wire(f->dev, VUS_PCI_MSIX_IRQ, 0, NVEC_MSIX, f->msix_efd);
	msix_ctl(f, true, false);
	for (i = 0; i < RAISERS; i++) {
		r[i] = (struct raiser){ .dev = f->dev, .vector = (uint32_t)i };
		ASSERT_OK(pthread_create(&t[i], NULL, raise_thread, &r[i]));
	}
	/* The loop thread toggles the function mask meanwhile. */
	for (round = 0; round < 200; round++) {
		msix_ctl(f, true, round % 2 == 0);
		(void)bar_rd(f, PBA_OFF);
	}
	msix_ctl(f, true, false);
	for (i = 0; i < RAISERS; i++) {
		ASSERT_OK(pthread_join(t[i], NULL));
		ASSERT_EQ(r[i].bad, 0);
		got = efd_wait(f->msix_efd[i], 0);
		/* Masked raises coalesce into one pending delivery. */
		assert_true(got >= 1 && got <= RAISES);
	}
	ASSERT_EQ(bar_rd(f, PBA_OFF), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intx_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_disable_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_wired_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_vectors_share_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_function_mask_pba, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_table_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_client_mask_and_unwired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_route, setup, teardown),
		cmocka_unit_test(test_no_route),
		cmocka_unit_test_setup_teardown(test_raise_from_threads, setup, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
