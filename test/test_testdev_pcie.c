/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev's PCI Express variant through the wire (samples/testdev/
 * testdev.h): 4096-byte config space with the PCI Express, AER and DSN
 * capabilities, the ERR and REQ interrupt counts kernel vfio-pci reports,
 * AER errors reaching the client's ERR eventfd, Function Level Reset.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "vus_test.h"

#include <vus/client.h>
#include <vus/device.h>

#include "testdev.h"
#include "testdev_fx.h"


static int setup(void **state)
{
	*state = testdev_fx_start_pcie(true);
	return 0;
}

static int teardown(void **state)
{
	testdev_fx_stop(*state);
	return 0;
}

static uint32_t cfg_rd(struct testdev_fx *f, unsigned off, unsigned len)
{
	uint8_t b[4] = { 0 };

	ASSERT_OK(vus_client_region_read(f->c, VUS_PCI_CONFIG_REGION, off, b, len));
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void cfg_wr(struct testdev_fx *f, unsigned off, unsigned len, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	ASSERT_OK(vus_client_region_write(f->c, VUS_PCI_CONFIG_REGION, off, b, len));
}

/* A standard capability's offset by ID (0 if absent). */
static unsigned find_cap(struct testdev_fx *f, uint8_t id)
{
	unsigned off = cfg_rd(f, 0x34, 1), n;

	for (n = 0; off && n < 48; n++) {
		if (cfg_rd(f, off, 1) == id)
			return off;
		off = cfg_rd(f, off + 1, 1);
	}
	return 0;
}

/* An extended capability's offset by ID (0 if absent). */
static unsigned find_ext_cap(struct testdev_fx *f, uint16_t id)
{
	unsigned off = 0x100, n;

	for (n = 0; off && n < 64; n++) {
		uint32_t h = cfg_rd(f, off, 4);

		if ((h & 0xffff) == id)
			return off;
		off = h >> 20;
	}
	return 0;
}

static uint32_t bar0_rd(struct testdev_fx *f, uint32_t reg)
{
	uint32_t v = 0;

	ASSERT_OK(vus_client_region_read(f->c, 0, reg, &v, 4));
	return v;
}

static void bar0_wr(struct testdev_fx *f, uint32_t reg, uint32_t v)
{
	ASSERT_OK(vus_client_region_write(f->c, 0, reg, &v, 4));
}

static bool efd_fired(int efd, int timeout_ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	return read(efd, &n, sizeof(n)) == sizeof(n) && n > 0;
}

/* ---- config space --------------------------------------------------- */

static void test_config_layout(void **state)
{
	struct testdev_fx *f = *state;
	struct vus_client_region r;
	unsigned e, aer, dsn;

	ASSERT_OK(vus_client_region_info(f->c, VUS_PCI_CONFIG_REGION, &r));
	ASSERT_EQ(r.info.size, 4096);
	ASSERT_EQ(cfg_rd(f, 0, 2), TESTDEV_VENDOR);
	ASSERT_EQ(cfg_rd(f, 2, 2), TESTDEV_DEVICE_PCIE);
	/* Standard list: PM, MSI, MSI-X and PCI Express (ID 10h). */
	assert_int_not_equal(find_cap(f, 0x01), 0);
	assert_int_not_equal(find_cap(f, 0x05), 0);
	assert_int_not_equal(find_cap(f, 0x11), 0);
	e = find_cap(f, 0x10);
	assert_int_not_equal(e, 0);
	ASSERT_OK((cfg_rd(f, e + 2, 2) >> 4) & 0xf);          /* endpoint */
	assert_true(cfg_rd(f, e + 4, 4) & (1u << 28));                  /* FLR capable */
	/* Extended list: AER (v2) and DSN with testdev's serial. */
	aer = find_ext_cap(f, 0x0001);
	dsn = find_ext_cap(f, 0x0003);
	ASSERT_EQ(aer, 0x100);
	ASSERT_EQ((cfg_rd(f, aer, 4) >> 16) & 0xf, 2);
	assert_int_not_equal(dsn, 0);
	ASSERT_EQ(cfg_rd(f, dsn + 4, 4), (uint32_t)TESTDEV_DSN);
	ASSERT_EQ(cfg_rd(f, dsn + 8, 4), (uint32_t)(TESTDEV_DSN >> 32));
}

/* Kernel vfio-pci: ERR count 1 on PCI Express functions, REQ 1 on all. */
static void test_err_req_counts(void **state)
{
	struct testdev_fx *f = *state, *conv;
	struct vus_irq_info ii;

	ASSERT_OK(vus_client_irq_info(f->c, VUS_PCI_ERR_IRQ, &ii));
	ASSERT_EQ(ii.count, 1);
	ASSERT_OK(vus_client_irq_info(f->c, VUS_PCI_REQ_IRQ, &ii));
	ASSERT_EQ(ii.count, 1);

	conv = testdev_fx_start_pcie(false);
	ASSERT_OK(vus_client_irq_info(conv->c, VUS_PCI_ERR_IRQ, &ii));
	ASSERT_OK(ii.count);
	ASSERT_OK(vus_client_irq_info(conv->c, VUS_PCI_REQ_IRQ, &ii));
	ASSERT_EQ(ii.count, 1);
	testdev_fx_stop(conv);
}

/* ---- AER ------------------------------------------------------------ */

static void test_aer_report(void **state)
{
	struct testdev_fx *f = *state;
	struct vus_dev *dev = testdev_dev(f->td);
	unsigned aer = find_ext_cap(f, 0x0001), e = find_cap(f, 0x10);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_true(efd >= 0);
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_ERR_IRQ,
					     VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
					     0, 1, &efd, NULL));

	/* Correctable: status bits, Device Status, no ERR signal. */
	ASSERT_OK(vus_dev_report_aer(dev, 0, VUS_AER_COR_BAD_TLP));
	assert_false(efd_fired(efd, 100));
	ASSERT_EQ(cfg_rd(f, aer + 0x10, 4), VUS_AER_COR_BAD_TLP);
	ASSERT_EQ(cfg_rd(f, e + 0x0a, 2) & 0xf, 0x1);

	/* Uncorrectable, non-fatal by default severity: ERR fires, the
	 * First Error Pointer names it. */
	ASSERT_OK(vus_dev_report_aer(dev, VUS_AER_UNCOR_COMP_ABORT, 0));
	assert_true(efd_fired(efd, 2000));
	ASSERT_EQ(cfg_rd(f, aer + 0x04, 4), VUS_AER_UNCOR_COMP_ABORT);
	ASSERT_EQ(cfg_rd(f, aer + 0x18, 4) & 0x1f, 15);
	ASSERT_EQ(cfg_rd(f, e + 0x0a, 2) & 0xf, 0x3);

	/* The guest clears what it handled (RW1C), status and Device Status. */
	cfg_wr(f, aer + 0x04, 4, VUS_AER_UNCOR_COMP_ABORT);
	cfg_wr(f, aer + 0x10, 4, VUS_AER_COR_BAD_TLP);
	cfg_wr(f, e + 0x0a, 2, 0xf);
	ASSERT_OK(cfg_rd(f, aer + 0x04, 4));
	ASSERT_OK(cfg_rd(f, aer + 0x10, 4));
	ASSERT_OK(cfg_rd(f, e + 0x0a, 2) & 0xf);

	/* Masked uncorrectable: recorded, not signalled. Malformed TLP is
	 * fatal by default. */
	cfg_wr(f, aer + 0x08, 4, VUS_AER_UNCOR_MALFORMED);
	ASSERT_OK(vus_dev_report_aer(dev, VUS_AER_UNCOR_MALFORMED, 0));
	assert_false(efd_fired(efd, 100));
	ASSERT_EQ(cfg_rd(f, aer + 0x04, 4), VUS_AER_UNCOR_MALFORMED);
	ASSERT_EQ(cfg_rd(f, e + 0x0a, 2) & 0xf, 0x4);

	/* Bits the capability does not implement are refused. */
	ASSERT_ERR(vus_dev_report_aer(dev, 1u << 5, 0), -EINVAL);
	ASSERT_ERR(vus_dev_report_aer(dev, 0, 0), -EINVAL);
	close(efd);
}

static void test_aer_needs_capability(void **state)
{
	struct testdev_fx *conv = testdev_fx_start_pcie(false);
	struct vus_dev *d = vus_dev_new("x");

	(void)state;
	ASSERT_ERR(vus_dev_report_aer(testdev_dev(conv->td), VUS_AER_UNCOR_POISONED, 0),
			 -ENOENT);
	testdev_fx_stop(conv);
	/* Not before listening; not without PCI Express. */
	ASSERT_ERR(vus_dev_report_aer(d, VUS_AER_UNCOR_POISONED, 0), -ENODEV);
	ASSERT_OK(vus_dev_set_config_size(d, 4096));
	ASSERT_ERR(vus_dev_add_ext_cap_aer(d, VUS_CAP_OFFSET_AUTO), -EINVAL);
	vus_dev_free(d);
}

/* msix=off (for QEMU's unplug bug): no MSI-X capability; causes map onto
 * the 4 MSI vectors, so INTx still sees every one. */
static void test_no_msix(void **state)
{
	struct testdev_opts opts = { .pcie = true, .no_msix = true };
	struct testdev_fx *f = testdev_fx_start(&opts);
	struct vus_irq_info ii;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	(void)state;

	ASSERT_OK(find_cap(f, 0x11));
	assert_int_not_equal(find_cap(f, 0x05), 0);
	ASSERT_OK(vus_client_irq_info(f->c, VUS_PCI_MSIX_IRQ, &ii));
	ASSERT_OK(ii.count);
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
					     VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
					     0, 1, &efd, NULL));
	bar0_wr(f, TESTDEV_REG_IRQ_RAISE, 1u << 7);    /* vector 7 % 4 = 3 */
	assert_true(efd_fired(efd, 2000));
	ASSERT_EQ(bar0_rd(f, TESTDEV_REG_IRQ_STATUS), 1u << 7);
	bar0_wr(f, TESTDEV_REG_IRQ_ACK, 1u << 7);
	ASSERT_OK(bar0_rd(f, TESTDEV_REG_IRQ_STATUS));
	close(efd);
	testdev_fx_stop(f);
}

/* ---- FLR ------------------------------------------------------------ */

static void test_flr(void **state)
{
	struct testdev_fx *f = *state;
	unsigned e = find_cap(f, 0x10), aer = find_ext_cap(f, 0x0001);
	uint32_t resets = bar0_rd(f, TESTDEV_REG_RESETS);

	bar0_wr(f, TESTDEV_REG_SCRATCH, 0x12345678);
	bar0_wr(f, TESTDEV_REG_IRQ_RAISE, 0x3);
	ASSERT_OK(vus_dev_report_aer(testdev_dev(f->td), VUS_AER_UNCOR_POISONED, 0));
	cfg_wr(f, 0x04, 2, 0x0006);                       /* Memory, Bus Master */
	cfg_wr(f, e + 0x08, 2, cfg_rd(f, e + 0x08, 2) | 0x8000); /* Initiate FLR */

	ASSERT_OK(bar0_rd(f, TESTDEV_REG_SCRATCH));
	ASSERT_OK(bar0_rd(f, TESTDEV_REG_IRQ_STATUS));
	ASSERT_EQ(bar0_rd(f, TESTDEV_REG_RESETS), resets);  /* client resets only */
	ASSERT_OK(cfg_rd(f, 0x04, 2));
	ASSERT_OK(cfg_rd(f, aer + 0x04, 4));
	ASSERT_OK(cfg_rd(f, e + 0x08, 2) & 0x8000);   /* reads 0 */
	ASSERT_EQ(bar0_rd(f, TESTDEV_REG_ID), TESTDEV_ID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_req_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aer_report, setup, teardown),
		cmocka_unit_test(test_aer_needs_capability),
		cmocka_unit_test_setup_teardown(test_flr, setup, teardown),
		cmocka_unit_test(test_no_msix),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
