/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev: an edu-like PCI device over vfio-user, for testing VMM device
 * paths (config space, BARs, mmap, interrupts, DMA, migration) without
 * hardware.
 *
 * PCI 1234:7e57, class ff0000 (unassigned), conventional (256-byte)
 * config space with capabilities: Power Management (D0/D3hot,
 * No_Soft_Reset), MSI (4 messages, 64-bit, per-vector masking) and MSI-X
 * (8 vectors, table and PBA in BAR0), plus INTx pin A.
 *
 * PCI Express variant (testdev_opts.pcie; vusd: testdev,pcie=on): device
 * 1234:7e58, 4096-byte config space, the same capabilities plus a PCI
 * Express endpoint capability (v2, 256-byte max payload, 2.5 GT/s x1,
 * Function Level Reset) and the extended capabilities Advanced Error
 * Reporting and Device Serial Number TESTDEV_DSN. Registers, BARs and
 * interrupts are the same; an FLR resets the registers as a client reset
 * does (RESETS counts only the latter). The ERR interrupt index has one
 * vector (REQ has one on both variants).
 *
 * BAR0  4 KiB memory, 32-bit registers (4-byte aligned accesses; other
 *       sizes: EINVAL)
 *   0x000 ID          RO  TESTDEV_ID
 *   0x004 SCRATCH     RW
 *   0x008 INVERT      RW  reads the bitwise inverse of the last write
 *   0x010 IRQ_STATUS  RO  pending interrupt causes
 *   0x014 IRQ_RAISE   WO  ORs the value into IRQ_STATUS and interrupts
 *   0x018 IRQ_ACK     WO  clears the value's bits from IRQ_STATUS
 *   0x020 DMA_SRC_LO / 0x024 DMA_SRC_HI
 *   0x028 DMA_DST_LO / 0x02c DMA_DST_HI
 *   0x030 DMA_LEN     bytes (<= BAR1's size)
 *   0x034 DMA_CMD     WO  bit0 start, bit1 direction, bit2 interrupt on
 *                         completion (IRQ_STATUS |= TESTDEV_IRQ_DMA)
 *                         dir 0: guest IOVA SRC -> BAR1 offset DST
 *                         dir 1: BAR1 offset SRC -> guest IOVA DST
 *   0x038 DMA_STATUS  RO  bit0 busy, bit1 error; bits 16-31: errno of the
 *                         last failed transfer
 *   0x03c DMA_COUNT   RO  transfers completed
 *   0x040 HOLE_HITS   RO  trapped accesses to BAR2's hole
 *   0x044 RESETS      RO  client resets seen (VUS_RESET_CLIENT)
 *   0x800 MSI-X table (8 x 16 bytes) and 0xc00 PBA: served by the
 *         library; the rest of BAR0 reads 0
 * BAR1  1 MiB memory (testdev_opts.bar1_size: less), RAM the library
 *       serves itself (vus_dev_region_set_mem: no callbacks, no copy in
 *       between; no mmap)
 * BAR2  64 KiB memory, RAM in a memfd: mmap-able areas [0, 16 KiB) and
 *       [32 KiB, 64 KiB); the hole [16 KiB, 32 KiB) is trapped (served by
 *       callbacks from the same memory, counted in HOLE_HITS)
 *
 * Interrupts: IRQ_STATUS bit b is a cause signalled on vector b % 8 (the
 * DMA completion bit 8 on vector 0), raised when IRQ_RAISE (or a DMA)
 * sets it and lowered when IRQ_ACK has cleared every bit of that vector.
 * The library carries a vector as the guest enabled: MSI-X vector v, MSI
 * message v (vectors beyond the enabled messages share the last one), or
 * the INTx line, which stays asserted while any cause is set (level).
 * DMA runs through vus_dma_read/write_async, so guest memory mapped with
 * or without fd both work. A DMA that fails with EFAULT (nothing mapped)
 * sets the config Status register's Received Master Abort bit (RW1C).
 * Reset (client): registers to power-on values (causes dropped), RAM
 * kept. Lost connection: in-flight DMA is abandoned, state kept.
 * Migration: STOP_COPY and PRE_COPY; the saved state is the registers,
 * BAR1 and BAR2, in the library's checked stream; a transfer the library
 * cancelled on STOP travels with it and restarts on RUNNING
 * (docs/migration.md).
 */
#ifndef VUS_TESTDEV_H
#define VUS_TESTDEV_H

#include <stdbool.h>
#include <stdint.h>

#include <vus/device.h>

#define TESTDEV_VENDOR 0x1234
#define TESTDEV_DEVICE 0x7e57
#define TESTDEV_DEVICE_PCIE 0x7e58
#define TESTDEV_DSN    0x7e57000000000001ull
#define TESTDEV_CLASS  0xff0000
#define TESTDEV_ID     0x7e570001u

#define TESTDEV_BAR0_SIZE 0x1000u
#define TESTDEV_BAR1_SIZE 0x100000u
#define TESTDEV_BAR2_SIZE 0x10000u
#define TESTDEV_BAR2_HOLE_OFF 0x4000u
#define TESTDEV_BAR2_HOLE_END 0x8000u

#define TESTDEV_NR_VECTORS   8u      /* MSI-X vectors; IRQ_STATUS bit b -> b % 8 */
#define TESTDEV_MSI_VECTORS  4u
#define TESTDEV_MSIX_TABLE   0x800u  /* in BAR0 */
#define TESTDEV_MSIX_PBA     0xc00u  /* in BAR0 */
#define TESTDEV_CFG_STATUS   0x06u
#define TESTDEV_STATUS_MASTER_ABORT 0x2000u

enum testdev_reg {
	TESTDEV_REG_ID = 0x000,
	TESTDEV_REG_SCRATCH = 0x004,
	TESTDEV_REG_INVERT = 0x008,
	TESTDEV_REG_IRQ_STATUS = 0x010,
	TESTDEV_REG_IRQ_RAISE = 0x014,
	TESTDEV_REG_IRQ_ACK = 0x018,
	TESTDEV_REG_DMA_SRC_LO = 0x020,
	TESTDEV_REG_DMA_SRC_HI = 0x024,
	TESTDEV_REG_DMA_DST_LO = 0x028,
	TESTDEV_REG_DMA_DST_HI = 0x02c,
	TESTDEV_REG_DMA_LEN = 0x030,
	TESTDEV_REG_DMA_CMD = 0x034,
	TESTDEV_REG_DMA_STATUS = 0x038,
	TESTDEV_REG_DMA_COUNT = 0x03c,
	TESTDEV_REG_HOLE_HITS = 0x040,
	TESTDEV_REG_RESETS = 0x044,
};

#define TESTDEV_DMA_START   (1u << 0)
#define TESTDEV_DMA_TO_HOST (1u << 1)
#define TESTDEV_DMA_IRQ     (1u << 2)
#define TESTDEV_DMA_BUSY    (1u << 0)
#define TESTDEV_DMA_ERROR   (1u << 1)
#define TESTDEV_IRQ_DMA     0x100u

struct testdev;

struct testdev_opts {
	bool pcie;             /* the PCI Express variant (above) */
	bool no_msix;          /* leave out the MSI-X capability (MSI and INTx
				* remain; IRQ_STATUS bit b then goes to
				* vector b % 4): QEMU 10.2 aborts when a
				* vfio-user-pci with MSI-X is unplugged
				* (docs/testdev.md, "Hot plug") */
	uint32_t bar1_size;    /* BAR1's size: a power of two from 4 KiB to
				* TESTDEV_BAR1_SIZE, 0 for TESTDEV_BAR1_SIZE.
				* The fuzzers' smaller one keeps a migration
				* snapshot cheap (fuzz/README.md "Speed");
				* it travels in the snapshot's length, so
				* both ends of a migration need the same. */
};

/* Create a testdev named name: device set up, not yet listening. */
int testdev_create(const char *name, struct testdev **out);
/* The same with options (NULL: the defaults, all zero). */
int testdev_create_opts(const char *name, const struct testdev_opts *opts,
			struct testdev **out);
/*
 * Faults for testing a VMM (docs/testdev.md "Fault injection"; loop
 * thread). DMA: the next count transfers (0: all until cleared with
 * error 0) end with errno error in DMA_STATUS, moving nothing. Storm: a
 * thread signals vector rate_hz times a second for ms milliseconds with
 * no cause in IRQ_STATUS (-EBUSY while one runs).
 */
int testdev_fault_dma(struct testdev *td, int error, uint32_t count);
int testdev_storm(struct testdev *td, uint32_t vector, uint32_t rate_hz, uint32_t ms);
uint64_t testdev_storm_sent(const struct testdev *td);
bool testdev_storm_running(const struct testdev *td);

/* The vus device, to listen on and run. */
struct vus_dev *testdev_dev(struct testdev *td);
/* Free the device (vus_dev_free) and the testdev's memory. */
void testdev_free(struct testdev *td);

#endif /* VUS_TESTDEV_H */
