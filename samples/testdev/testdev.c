/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev: device setup, BAR0 registers, BAR1/BAR2 memory and reset.
 * The register map is specified in testdev.h.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testdev_priv.h"

/* ---- BAR0: 32-bit registers ----------------------------------------- */

static uint32_t bar0_get(const struct testdev *td, uint64_t offset)
{
	const struct testdev_regs *r = &td->r;

	switch (offset) {
	case TESTDEV_REG_ID:         return TESTDEV_ID;
	case TESTDEV_REG_SCRATCH:    return r->scratch;
	case TESTDEV_REG_INVERT:     return ~r->invert;
	case TESTDEV_REG_IRQ_STATUS: return r->irq_status;
	case TESTDEV_REG_DMA_SRC_LO: return r->dma_src_lo;
	case TESTDEV_REG_DMA_SRC_HI: return r->dma_src_hi;
	case TESTDEV_REG_DMA_DST_LO: return r->dma_dst_lo;
	case TESTDEV_REG_DMA_DST_HI: return r->dma_dst_hi;
	case TESTDEV_REG_DMA_LEN:    return r->dma_len;
	case TESTDEV_REG_DMA_STATUS: return r->dma_status;
	case TESTDEV_REG_DMA_COUNT:  return r->dma_count;
	case TESTDEV_REG_HOLE_HITS:  return r->hole_hits;
	case TESTDEV_REG_RESETS:     return r->resets;
	default:                     return 0; /* write-only and unused offsets */
	}
}

static void bar0_set(struct testdev *td, uint64_t offset, uint32_t v)
{
	struct testdev_regs *r = &td->r;

	switch (offset) {
	case TESTDEV_REG_SCRATCH:    r->scratch = v; break;
	case TESTDEV_REG_INVERT:     r->invert = v; break;
	case TESTDEV_REG_IRQ_RAISE:  testdev_raise_irq(td, v); break;
	case TESTDEV_REG_IRQ_ACK:    testdev_ack_irq(td, v); break;
	case TESTDEV_REG_DMA_SRC_LO: r->dma_src_lo = v; break;
	case TESTDEV_REG_DMA_SRC_HI: r->dma_src_hi = v; break;
	case TESTDEV_REG_DMA_DST_LO: r->dma_dst_lo = v; break;
	case TESTDEV_REG_DMA_DST_HI: r->dma_dst_hi = v; break;
	case TESTDEV_REG_DMA_LEN:    r->dma_len = v; break;
	case TESTDEV_REG_DMA_CMD:    testdev_dma_cmd(td, v); break;
	default:                     break; /* read-only and unused: ignored */
	}
}

/* Register data is little-endian on the wire: QEMU converts BAR data with
 * cpu_to_le before REGION_WRITE (docs/qemu.md "Config space and BARs"). */
static int bar0_read(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf,
		     uint32_t count)
{
	uint32_t v;

	if (count != 4 || offset % 4)
		return -EINVAL;
	v = htole32(bar0_get(opaque, offset));
	memcpy(buf, &v, 4);
	return 0;
}

static int bar0_write(struct vus_dev *dev, void *opaque, uint64_t offset, const void *buf,
		      uint32_t count)
{
	uint32_t v;

	if (count != 4 || offset % 4)
		return -EINVAL;
	memcpy(&v, buf, 4);
	bar0_set(opaque, offset, le32toh(v));
	return 0;
}

static const struct vus_region_ops bar0_ops = {
	.read = bar0_read,
	.write = bar0_write,
};

/* ---- BAR1: plain RAM the library reads and writes itself ------------ */

/* No callbacks: vus_dev_region_set_mem() lets REGION_READ/WRITE go
 * straight between the socket and td->bar1 (docs/performance.md
 * "Zero-copy bulk transfers"). Not mmap-able by the client. */

/* ---- BAR2: memfd RAM, hole trapped ---------------------------------- */

static const struct vus_sparse_area bar2_areas[] = {
	{ .offset = 0, .size = TESTDEV_BAR2_HOLE_OFF },
	{ .offset = TESTDEV_BAR2_HOLE_END, .size = TESTDEV_BAR2_SIZE - TESTDEV_BAR2_HOLE_END },
};

/* Every access that reaches these callbacks is served from the same memory
 * the client may have mapped; only those touching the hole are counted
 * (REGION_READ/WRITE must work on mmap-able parts too: spec "Read and
 * Write Operations"). */
static void bar2_count_hole(struct testdev *td, uint64_t offset, uint32_t count)
{
	if (offset < TESTDEV_BAR2_HOLE_END && offset + count > TESTDEV_BAR2_HOLE_OFF)
		td->r.hole_hits++;
}

static int bar2_read(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf,
		     uint32_t count)
{
	struct testdev *td = opaque;

	bar2_count_hole(td, offset, count);
	memcpy(buf, td->bar2 + offset, count);
	return 0;
}

static int bar2_write(struct vus_dev *dev, void *opaque, uint64_t offset, const void *buf,
		      uint32_t count)
{
	struct testdev *td = opaque;

	bar2_count_hole(td, offset, count);
	memcpy(td->bar2 + offset, buf, count);
	return 0;
}

static const struct vus_region_ops bar2_ops = {
	.read = bar2_read,
	.write = bar2_write,
};

/* ---- interrupts and reset ------------------------------------------- */

/* The IRQ_STATUS bits a vector carries: bit b on vector b % 8. */
static uint32_t vector_bits(const struct testdev *td, uint32_t vector)
{
	uint32_t bits = 0, b;

	for (b = vector; b < 32; b += td->nr_vectors)
		bits |= 1u << b;
	return bits;
}

void testdev_raise_irq(struct testdev *td, uint32_t bits)
{
	uint32_t v;

	td->r.irq_status |= bits;
	/* The library sends it as the guest chose: MSI-X, MSI or INTx. A
	 * vector nobody can receive yet (-ENOENT) is not an error for the
	 * device: the cause stays visible in IRQ_STATUS. */
	for (v = 0; v < td->nr_vectors; v++)
		if (bits & vector_bits(td, v))
			(void)vus_irq_raise(td->dev, v);
}

void testdev_ack_irq(struct testdev *td, uint32_t bits)
{
	uint32_t v;

	td->r.irq_status &= ~bits;
	/* A vector whose causes are all acknowledged lets go of the INTx
	 * line (or withdraws a message still pending). */
	for (v = 0; v < td->nr_vectors; v++)
		if ((bits & vector_bits(td, v)) && !(td->r.irq_status & vector_bits(td, v)))
			(void)vus_irq_lower(td->dev, v);
}

void testdev_sync_irqs(struct testdev *td)
{
	uint32_t v;

	for (v = 0; v < td->nr_vectors; v++) {
		if (td->r.irq_status & vector_bits(td, v))
			(void)vus_irq_raise(td->dev, v);
		else
			(void)vus_irq_lower(td->dev, v);
	}
}

/* Registers to power-on values; RAM and the RESETS count are kept. */
static void testdev_regs_reset(struct testdev *td)
{
	uint32_t resets = td->r.resets;

	memset(&td->r, 0, sizeof(td->r));
	td->r.resets = resets;
	testdev_sync_irqs(td);
}

static int testdev_reset(struct vus_dev *dev, void *opaque, enum vus_reset_reason reason)
{
	struct testdev *td = opaque;

	switch (reason) {
	case VUS_RESET_CLIENT:
		td->r.resets++;
		/* fall through */
	case VUS_RESET_FLR:
		testdev_dma_abandon(td);
		testdev_regs_reset(td);
		testdev_mig_clear(td);
		return 0;
	case VUS_RESET_LOST_CONN:
		/* State kept (spec "Socket Disconnection Behavior"); the library
		 * fails in-flight DMA with -ENOTCONN and the completion records
		 * it in DMA_STATUS. */
		return 0;
	}
	return -EINVAL;
}

/* ---- life cycle ----------------------------------------------------- */

static int testdev_alloc_ram(struct testdev *td)
{
	td->bar1 = calloc(1, td->bar1_size);
	if (!td->bar1)
		return -ENOMEM;
	td->bar2_fd = memfd_create("testdev-bar2", MFD_CLOEXEC);
	if (td->bar2_fd < 0)
		return -errno;
	if (ftruncate(td->bar2_fd, TESTDEV_BAR2_SIZE) < 0)
		return -errno;
	td->bar2 = mmap(NULL, TESTDEV_BAR2_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			td->bar2_fd, 0);
	if (td->bar2 == MAP_FAILED) {
		td->bar2 = NULL;
		return -errno;
	}
	return 0;
}

/* Power management, then MSI and MSI-X, placed automatically; the PCI
 * Express variant adds its capability and the extended ones. */
static int testdev_caps(struct vus_dev *dev, const struct testdev_opts *o)
{
	static const struct vus_msix_layout msix = {
		.table_bar = 0, .table_offset = TESTDEV_MSIX_TABLE,
		.pba_bar = 0, .pba_offset = TESTDEV_MSIX_PBA,
	};
	static const struct vus_pcie_cfg pcie_cfg = {
		.type = VUS_PCIE_ENDPOINT, .max_payload = 1, .link_speed = 1, .link_width = 1,
		.flr = true,
	};
	int rc;

	if ((rc = vus_dev_add_cap_pm(dev, VUS_CAP_OFFSET_AUTO, VUS_PM_NO_SOFT_RESET)) < 0 ||
	    (rc = vus_dev_add_cap_msi(dev, VUS_CAP_OFFSET_AUTO, TESTDEV_MSI_VECTORS,
				      VUS_MSI_64BIT | VUS_MSI_PER_VECTOR_MASK)) < 0 ||
	    (!o->no_msix &&
	     (rc = vus_dev_add_cap_msix(dev, VUS_CAP_OFFSET_AUTO, TESTDEV_NR_VECTORS, &msix)) < 0))
		return rc;
	if (!o->pcie)
		return 0;
	if ((rc = vus_dev_add_cap_pcie(dev, VUS_CAP_OFFSET_AUTO, &pcie_cfg)) < 0 ||
	    (rc = vus_dev_add_ext_cap_aer(dev, VUS_CAP_OFFSET_AUTO)) < 0 ||
	    (rc = vus_dev_add_ext_cap_dsn(dev, VUS_CAP_OFFSET_AUTO, TESTDEV_DSN)) < 0)
		return rc;
	return 0;
}

static int testdev_setup(struct testdev *td, const struct testdev_opts *o)
{
	bool pcie = o->pcie;
	struct vus_pci_id id = {
		.vendor = TESTDEV_VENDOR,
		.device = pcie ? TESTDEV_DEVICE_PCIE : TESTDEV_DEVICE,
		.subsys_vendor = TESTDEV_VENDOR,
		.subsys = pcie ? TESTDEV_DEVICE_PCIE : TESTDEV_DEVICE,
		.class_code = TESTDEV_CLASS,
		.revision = TESTDEV_ID & 0xff,
	};
	struct vus_dev *dev = td->dev;
	int rc;

	td->nr_vectors = o->no_msix ? TESTDEV_MSI_VECTORS : TESTDEV_NR_VECTORS;
	if ((rc = vus_dev_set_pci_id(dev, &id)) < 0 ||
	    (pcie && (rc = vus_dev_set_config_size(dev, 4096)) < 0) ||
	    (rc = vus_dev_set_intx_pin(dev, 1)) < 0 ||
	    (rc = vus_dev_setup_irq(dev, VUS_PCI_INTX_IRQ, 1)) < 0 ||
	    (rc = vus_dev_setup_region(dev, 0, TESTDEV_BAR0_SIZE, VUS_REGION_RW, &bar0_ops,
				       td)) < 0 ||
	    (rc = vus_dev_setup_region(dev, 1, td->bar1_size, VUS_REGION_RW, NULL, td)) < 0 ||
	    (rc = vus_dev_region_set_mem(dev, 1, td->bar1)) < 0 ||
	    (rc = vus_dev_setup_region(dev, 2, TESTDEV_BAR2_SIZE, VUS_REGION_RW, &bar2_ops,
				       td)) < 0 ||
	    (rc = vus_dev_region_set_fd(dev, 2, td->bar2_fd, 0, true, bar2_areas,
					sizeof(bar2_areas) / sizeof(bar2_areas[0]))) < 0 ||
	    (rc = testdev_caps(dev, o)) < 0 ||
	    (rc = vus_dev_set_reset(dev, testdev_reset, td)) < 0 ||
	    (rc = testdev_mig_setup(td)) < 0)
		return rc;
	/* The library holds its own copy and the mapping keeps the memory:
	 * ours would be one more fd per device (docs/performance.md "fds
	 * per device"). */
	close(td->bar2_fd);
	td->bar2_fd = -1;
	return 0;
}

int testdev_create(const char *name, struct testdev **out)
{
	return testdev_create_opts(name, NULL, out);
}

int testdev_create_opts(const char *name, const struct testdev_opts *opts,
			struct testdev **out)
{
	static const struct testdev_opts defaults;
	struct testdev *td;
	uint32_t bar1 = opts && opts->bar1_size ? opts->bar1_size : TESTDEV_BAR1_SIZE;
	int rc;

	/* A BAR's size is a power of two (PCI), a page at least; at most
	 * the default, the size the rest of testdev is tested with. */
	if (bar1 < 0x1000u || bar1 > TESTDEV_BAR1_SIZE || (bar1 & (bar1 - 1)))
		return -EINVAL;
	td = calloc(1, sizeof(*td));
	if (!td)
		return -ENOMEM;
	td->bar1_size = bar1;
	td->bar2_fd = -1;
	rc = testdev_alloc_ram(td);
	if (rc < 0)
		goto fail;
	td->dev = vus_dev_new(name);
	if (!td->dev) {
		rc = errno ? -errno : -ENOMEM; /* EMFILE: out of fds */
		goto fail;
	}
	vus_dev_set_private(td->dev, td);
	rc = testdev_setup(td, opts ? opts : &defaults);
	if (rc < 0)
		goto fail;
	*out = td;
	return 0;
fail:
	testdev_free(td);
	return rc;
}

struct vus_dev *testdev_dev(struct testdev *td)
{
	return td->dev;
}

void testdev_free(struct testdev *td)
{
	if (!td)
		return;
	testdev_storm_stop(td);
	if (td->dev) {
		/* Completions that vus_dev_free() may still deliver must not
		 * touch registers or raise interrupts on a device going away. */
		testdev_dma_abandon(td);
		vus_dev_free(td->dev);
	}
	testdev_dma_free(td);
	testdev_mig_clear(td);
	if (td->bar2)
		munmap(td->bar2, TESTDEV_BAR2_SIZE);
	if (td->bar2_fd >= 0)
		close(td->bar2_fd);
	free(td->bar1);
	free(td);
}
