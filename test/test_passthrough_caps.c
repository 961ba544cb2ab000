/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a forwarding device reports as its backend does (include/vus/
 * passthrough.h; the kernel-VFIO bridge copies the kernel's,
 * docs/vfio-bridge.md): the MSIX_MAPPABLE region capability reaches the
 * client in GET_REGION_INFO's capability chain, only for that region;
 * GET_IRQ_INFO flags set by the device replace the library's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <vus/passthrough.h>

#include "rig.h"
#include "vus_test.h"

static void region_info(struct rig *r, uint32_t index, struct vus_region_caps *caps)
{
	struct vus_sparse_area areas[4];
	struct vus_region_info ri;
	struct vus_msg_view v;
	struct raw_msg m;
	uint8_t p[32] = { 0 };

	rig_put_u32(p, 256); /* argsz: room for every cap */
	rig_put_u32(p + 8, index);
	rig_call(r, VUS_CMD_DEVICE_GET_REGION_INFO, p, sizeof(p), NULL, 0, &m);
	ASSERT_EQ(m.hdr.flags & VUS_F_ERROR, 0);
	v = (struct vus_msg_view){ .hdr = m.hdr, .payload = m.payload, .len = m.len };
	memset(caps, 0, sizeof(*caps));
	ASSERT_OK(vus_region_info_decode(&v, &ri, caps, areas, 4));
	ASSERT_EQ(ri.index, index);
	raw_msg_free(&m);
}

static void test_msix_mappable(void **state)
{
	struct vus_region_caps caps;
	struct vus_dev *dev = rig_dev_new();
	struct rig r;

	(void)state;
	ASSERT_OK(vus_dev_setup_region(dev, 0, 4096, VUS_REGION_READ | VUS_REGION_WRITE, NULL,
				       NULL));
	ASSERT_OK(vus_dev_setup_region(dev, 2, 4096, VUS_REGION_READ, NULL, NULL));
	/* Config space, a region without a size, an index past the table. */
	ASSERT_ERR(vus_dev_region_set_msix_mappable(dev, VUS_PCI_CONFIG_REGION), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_msix_mappable(dev, 1), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_msix_mappable(dev, 1000), -EINVAL);
	ASSERT_OK(vus_dev_region_set_msix_mappable(dev, 2));
	rig_start(&r, dev, NULL);
	region_info(&r, 2, &caps);
	ASSERT_EQ(caps.msix_mappable, true);
	region_info(&r, 0, &caps);
	ASSERT_EQ(caps.msix_mappable, false);
	rig_stop(&r);
}

static uint32_t irq_flags(struct rig *r, uint32_t index)
{
	struct raw_msg m;
	uint8_t p[16] = { 0 };
	uint32_t flags;

	rig_put_u32(p, 16);
	rig_put_u32(p + 8, index);
	rig_call(r, VUS_CMD_DEVICE_GET_IRQ_INFO, p, sizeof(p), NULL, 0, &m);
	ASSERT_EQ(m.hdr.flags & VUS_F_ERROR, 0);
	ASSERT_EQ(m.len, 16);
	flags = raw_u32(&m, 4);
	raw_msg_free(&m);
	return flags;
}

static void test_irq_info_flags(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	struct rig r;

	(void)state;
	ASSERT_OK(vus_dev_setup_irq(dev, VUS_PCI_MSIX_IRQ, 8));
	ASSERT_OK(vus_dev_setup_irq(dev, VUS_PCI_MSI_IRQ, 1));
	ASSERT_ERR(vus_dev_set_irq_info_flags(dev, VUS_PCI_MSIX_IRQ, 1u << 4), -EINVAL);
	ASSERT_ERR(vus_dev_set_irq_info_flags(dev, VUS_PCI_NUM_IRQS, VUS_IRQ_INFO_EVENTFD),
		   -EINVAL);
	/* vfio-pci's MSI-X before Linux 6.5: eventfd, no resize, no mask. */
	ASSERT_OK(vus_dev_set_irq_info_flags(dev, VUS_PCI_MSIX_IRQ,
					     VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_NORESIZE));
	rig_start(&r, dev, NULL);
	ASSERT_EQ(irq_flags(&r, VUS_PCI_MSIX_IRQ), VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_NORESIZE);
	/* An index the device left alone keeps the library's flags. */
	ASSERT_EQ(irq_flags(&r, VUS_PCI_MSI_IRQ), VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_NORESIZE);
	ASSERT_EQ(irq_flags(&r, VUS_PCI_INTX_IRQ),
		  VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE | VUS_IRQ_INFO_AUTOMASKED);
	rig_stop(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msix_mappable),
		cmocka_unit_test(test_irq_info_flags),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
