/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kernel VFIO semantics that VMMs rely on, pinned against testdev over
 * the wire (docs/protocol.md "Differences from kernel VFIO" lists what is
 * deliberately different):
 *  - GET_REGION_INFO with argsz 32 on a region with capabilities returns
 *    the full reply's flags (MMAP included) with only CAPS cleared and
 *    cap_offset 0, argsz the size needed (QEMU 10.2 rejects CAPS with a
 *    cap_offset below 32);
 *  - SET_IRQS INTx DATA_BOOL|ACTION_TRIGGER with a true value signals the
 *    eventfd even while INTx is auto-masked (loopback), and leaves the
 *    mask alone;
 *  - GET_IRQ_INFO: ERR 1 on PCI Express, 0 otherwise; REQ 1 on both;
 *  - SET_IRQS for an action an index lacks: ENOTTY; a bad range: EINVAL.
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
	*state = testdev_fx_start_pcie(false);
	return 0;
}

static int teardown(void **state)
{
	testdev_fx_stop(*state);
	return 0;
}

/* GET_REGION_INFO of index with argsz; the reply struct in *out. */
static void region_info(struct testdev_fx *f, uint32_t index, uint32_t argsz, struct vus_region_info *out)
{
	struct vus_region_info req = { .argsz = argsz, .index = index };
	uint8_t reply[512];
	struct vus_hdr rh;
	size_t len = 0;

	ASSERT_OK(vus_client_raw(f->c, VUS_CMD_DEVICE_GET_REGION_INFO, 0, &req, sizeof(req),
				 NULL, 0, &rh, reply, sizeof(reply), &len));
	ASSERT_EQ(rh.flags & VUS_F_ERROR, 0);
	assert_true(len >= sizeof(*out));
	memcpy(out, reply, sizeof(*out));
}

static void test_region_info_short(void **state)
{
	struct testdev_fx *f = *state;
	struct vus_region_info full, shrt;

	/* BAR2 is mmap-able with a hole: it has a sparse-mmap capability. */
	region_info(f, 2, 32, &shrt);
	assert_true(shrt.argsz > 32);
	region_info(f, 2, shrt.argsz, &full);
	ASSERT_EQ(full.argsz, shrt.argsz);
	assert_true(full.flags & VUS_REGION_INFO_FLAG_CAPS);
	assert_true(full.flags & VUS_REGION_INFO_FLAG_MMAP);
	ASSERT_EQ(full.cap_offset, 32);
	/* Same flags but CAPS, cap_offset 0. */
	ASSERT_EQ(shrt.flags, full.flags & ~VUS_REGION_INFO_FLAG_CAPS);
	ASSERT_EQ(shrt.cap_offset, 0);
	ASSERT_EQ(shrt.size, full.size);
	ASSERT_EQ(shrt.offset, full.offset);
	/* A region without caps: one answer whatever the argsz. */
	region_info(f, 0, 32, &shrt);
	ASSERT_EQ(shrt.argsz, 32);
	ASSERT_EQ(shrt.flags, VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE);
}

static bool fired(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, ms) != 1)
		return false;
	return read(efd, &n, sizeof(n)) == sizeof(n);
}

static void test_intx_loopback_while_masked(void **state)
{
	struct testdev_fx *f = *state;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	const uint8_t yes = 1, no = 0;
	uint32_t raise = 1, ack = 1;

	assert_true(efd >= 0);
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1,
				      &efd, NULL));
	/* The device interrupts: INTx fires and auto-masks. */
	ASSERT_OK(vus_client_region_write(f->c, 0, TESTDEV_REG_IRQ_RAISE, &raise, 4));
	assert_true(fired(efd, 2000));
	ASSERT_OK(vus_client_region_write(f->c, 0, TESTDEV_REG_IRQ_ACK, &ack, 4));
	/* Loopback with true: signalled although masked; false: not. */
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_BOOL | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1,
				      NULL, &yes));
	assert_true(fired(efd, 2000));
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_BOOL | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1,
				      NULL, &no));
	assert_false(fired(efd, 100));
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1,
				      NULL, NULL));
	assert_true(fired(efd, 2000));
	/* The mask stayed: a device interrupt waits for the UNMASK. */
	ASSERT_OK(vus_client_region_write(f->c, 0, TESTDEV_REG_IRQ_RAISE, &raise, 4));
	assert_false(fired(efd, 100));
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1,
				      NULL, NULL));
	assert_true(fired(efd, 2000));
	close(efd);
}

static void test_irq_counts(void **state)
{
	struct testdev_fx *conv = *state, *pcie = testdev_fx_start_pcie(true);
	struct vus_irq_info ii;

	ASSERT_OK(vus_client_irq_info(conv->c, VUS_PCI_ERR_IRQ, &ii));
	ASSERT_EQ(ii.count, 0);
	ASSERT_OK(vus_client_irq_info(conv->c, VUS_PCI_REQ_IRQ, &ii));
	ASSERT_EQ(ii.count, 1);
	ASSERT_OK(vus_client_irq_info(pcie->c, VUS_PCI_ERR_IRQ, &ii));
	ASSERT_EQ(ii.count, 1);
	ASSERT_EQ(ii.flags, VUS_IRQ_INFO_EVENTFD);
	ASSERT_OK(vus_client_irq_info(pcie->c, VUS_PCI_REQ_IRQ, &ii));
	ASSERT_EQ(ii.count, 1);
	testdev_fx_stop(pcie);
}

static void test_set_irqs_errnos(void **state)
{
	struct testdev_fx *f = *state;
	const uint8_t yes = 1;

	/* Actions an index lacks: ENOTTY. */
	ASSERT_ERR(vus_client_set_irqs(f->c, VUS_PCI_MSI_IRQ,
				       VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_MASK, 0, 1, NULL,
				       NULL), -ENOTTY);
	ASSERT_ERR(vus_client_set_irqs(f->c, VUS_PCI_REQ_IRQ,
				       VUS_IRQ_SET_DATA_BOOL | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, NULL,
				       &yes), -ENOTTY);
	/* A range beyond the index: EINVAL (ERR has no vector here). */
	ASSERT_ERR(vus_client_set_irqs(f->c, VUS_PCI_ERR_IRQ,
				       VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL,
				       NULL), -EINVAL);
	ASSERT_ERR(vus_client_set_irqs(f->c, VUS_PCI_MSIX_IRQ,
				       VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_MASK, 7, 2, NULL,
				       NULL), -EINVAL);
	/* REQ takes its one vector. */
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_REQ_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL,
				      NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_region_info_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_loopback_while_masked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_irqs_errnos, setup, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
