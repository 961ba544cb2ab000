/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Power Management capability (PCI Bus Power Management Interface 1.2,
 * chapter 3): version 3, D0 and D3hot only, no PME.
 *
 * QEMU reads and, at machine reset, writes PowerState back to D0
 * (docs/protocol.md 8.1 "QEMU at machine reset"); Linux guests put idle devices in D3hot and
 * read No_Soft_Reset to decide whether config state survives the way back.
 */
#include <errno.h>

#include "dev_priv.h"

#define PM_CAP_ID 0x01
#define PM_LEN 8u
#define PM_PMC 2u
#define PM_PMCSR 4u
#define PMC_VERSION_1_2 0x0003u   /* bits 2:0 = 011b */
#define PMCSR_STATE 0x0003u
#define PMCSR_NO_SOFT_RESET 0x0008u
#define PM_D0 0u
#define PM_D3HOT 3u

int vus_dev_add_cap_pm(struct vus_dev *dev, uint16_t offset, uint32_t flags)
{
	int off;

	if (flags & ~VUS_PM_NO_SOFT_RESET)
		return -EINVAL;
	off = vus_cap_add(dev, VUS_CAPK_PM, false, offset, PM_LEN, NULL);
	if (off < 0)
		return off;
	dev->cfg.pci.pm.off = (uint16_t)off;
	dev->cfg.pci.pm.no_soft_reset = flags & VUS_PM_NO_SOFT_RESET;
	return off;
}

void vus_pm_build(struct vus_dev *dev)
{
	const struct vus_pm *pm = &dev->cfg.pci.pm;

	vus_cfg_reg(dev, pm->off, 1, PM_CAP_ID, 0, 0);
	/* No D1/D2, no PME from any state, no aux current, no DSI. */
	vus_cfg_reg(dev, pm->off + PM_PMC, 2, PMC_VERSION_1_2, 0, 0);
	/* Only PowerState is writable: without PME support PME_En and
	 * PME_Status are hardwired to 0, and there is no Data register. */
	vus_cfg_reg(dev, pm->off + PM_PMCSR, 2, pm->no_soft_reset ? PMCSR_NO_SOFT_RESET : 0,
		    PMCSR_STATE, 0);
}

unsigned vus_pm_written(struct vus_dev *dev, const struct vus_cfg_write *w)
{
	const struct vus_pm *pm = &dev->cfg.pci.pm;
	uint8_t *csr = dev->cfg.bytes + pm->off + PM_PMCSR;
	uint8_t old, val;
	unsigned from, to;

	if (!vus_cfg_written(w, pm->off + PM_PMCSR, &old, &val))
		return 0;
	from = old & PMCSR_STATE;
	to = val & PMCSR_STATE;
	/* "If software attempts to write an unsupported, optional state ...
	 * the data is discarded and no state change occurs" (PM 1.2 3.2.4). */
	if (to != PM_D0 && to != PM_D3HOT) {
		*csr = (uint8_t)((*csr & ~PMCSR_STATE) | from);
		return 0;
	}
	/* D3hot -> D0 without No_Soft_Reset: "an internal reset", the
	 * function returns to D0 uninitialised (PM 1.2 5.4.1). */
	if (from == PM_D3HOT && to == PM_D0 && !pm->no_soft_reset)
		return VUS_CFG_DO_FLR;
	return 0;
}
