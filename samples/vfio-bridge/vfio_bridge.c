/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Serving a vfio-pci device over vfio-user (docs/vfio-bridge.md):
 *   regions    every region the kernel reports; each backed by the VFIO
 *              device fd at the region's offset, so the library passes
 *              that fd on with GET_REGION_INFO (mmap-able BARs, sparse
 *              areas as the kernel gives them) and forwards the rest
 *              with pread/pwrite on it;
 *   config     through the kernel's config virtualisation (pread/pwrite
 *              on the config region), include/vus/passthrough.h;
 *   interrupts the client's SET_IRQS handed to VFIO_DEVICE_SET_IRQS as
 *              they are (vfio-user's SET_IRQS is VFIO's, docs/protocol.md),
 *              eventfds included: no interrupt passes through vusd;
 *   DMA        each DMA_MAP's mapping of the client's fd mapped into the
 *              type1 IOMMU (or the iommufd IOAS) at the client's IOVA
 *              with its protection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <vus/passthrough.h>

#include "vfio_priv.h"

#define PCI_COMMAND        0x04
#define PCI_COMMAND_MASTER 0x4
#define MAX_AREAS          64

/* ---- config space --------------------------------------------------- */

static int cfg_rw(struct vfio_bridge *b, uint64_t offset, void *buf, uint32_t count,
		  bool is_write)
{
	ssize_t n;

	if (is_write)
		n = pwrite(b->device, buf, count, (off_t)(b->cfg_offset + offset));
	else
		n = pread(b->device, buf, count, (off_t)(b->cfg_offset + offset));
	if (n < 0)
		return -errno;
	return (uint32_t)n == count ? 0 : -EIO;
}

static int cfg_read(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf,
		    uint32_t count)
{
	(void)dev;
	return cfg_rw(opaque, offset, buf, count, false);
}

static int cfg_write(struct vus_dev *dev, void *opaque, uint64_t offset, const void *buf,
		     uint32_t count)
{
	(void)dev;
	return cfg_rw(opaque, offset, (void *)buf, count, true);
}

static const struct vus_region_ops cfg_ops = { .read = cfg_read, .write = cfg_write };

/* ---- regions -------------------------------------------------------- */

/* GET_REGION_INFO with its capability chain; *out malloc'ed. */
static int region_info(struct vfio_bridge *b, uint32_t index, struct vfio_region_info **out)
{
	struct vfio_region_info *ri = calloc(1, sizeof(*ri)), *bigger;
	uint32_t argsz;

	if (!ri)
		return -ENOMEM;
	ri->argsz = sizeof(*ri);
	ri->index = index;
	if (ioctl(b->device, VFIO_DEVICE_GET_REGION_INFO, ri) < 0)
		goto err;
	if (ri->argsz > sizeof(*ri)) {
		argsz = ri->argsz;
		bigger = realloc(ri, argsz);
		if (!bigger) {
			free(ri);
			return -ENOMEM;
		}
		ri = bigger;
		memset(ri, 0, argsz);
		ri->argsz = argsz;
		ri->index = index;
		if (ioctl(b->device, VFIO_DEVICE_GET_REGION_INFO, ri) < 0)
			goto err;
	}
	*out = ri;
	return 0;
err:
	free(ri);
	return -errno;
}

static const struct vfio_info_cap_header *region_cap(const struct vfio_region_info *ri,
						     uint16_t id)
{
	const struct vfio_info_cap_header *h;
	uint32_t off;

	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return NULL;
	for (off = ri->cap_offset; off && off + sizeof(*h) <= ri->argsz; off = h->next) {
		h = (const void *)((const char *)ri + off);
		if (h->id == id)
			return h;
		if (h->next && h->next <= off)
			break;
	}
	return NULL;
}

/* A BAR's kind from its register in config space (the library's region
 * flags describe it to introspection; config space itself is the
 * kernel's). */
static uint32_t bar_kind(struct vfio_bridge *b, uint32_t index)
{
	uint32_t bar = 0;

	if (index > 5 || cfg_rw(b, 0x10 + 4 * index, &bar, 4, false) < 0)
		return 0;
	if (bar & 1)
		return VUS_REGION_BAR_IO;
	return ((bar & 6) == 4 ? VUS_REGION_BAR_MEM64 : 0) |
	       (bar & 8 ? VUS_REGION_BAR_PREFETCH : 0);
}

static int region_add(struct vfio_bridge *b, const struct vfio_region_info *ri)
{
	const struct vfio_region_info_cap_sparse_mmap *sp;
	const struct vfio_region_info_cap_type *ty;
	struct vus_sparse_area areas[MAX_AREAS];
	uint32_t flags = 0, nr = 0, i;
	bool mmap = false;
	int rc;

	if (ri->flags & VFIO_REGION_INFO_FLAG_READ)
		flags |= VUS_REGION_READ;
	if (ri->flags & VFIO_REGION_INFO_FLAG_WRITE)
		flags |= VUS_REGION_WRITE;
	flags |= bar_kind(b, ri->index);
	rc = vus_dev_setup_region(b->dev, ri->index, ri->size, flags, NULL, NULL);
	if (rc < 0)
		return rc;
	if (ri->flags & VFIO_REGION_INFO_FLAG_MMAP) {
		mmap = true;
		sp = (const void *)region_cap(ri, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
		if (sp) {
			for (i = 0; i < sp->nr_areas && nr < MAX_AREAS; i++) {
				if (!sp->areas[i].size)
					continue;
				areas[nr].offset = sp->areas[i].offset;
				areas[nr].size = sp->areas[i].size;
				nr++;
			}
			/* A sparse cap with no area: nothing may be mapped. */
			mmap = nr > 0;
		}
	}
	rc = vus_dev_region_set_fd(b->dev, ri->index, b->device, ri->offset, mmap,
				   nr ? areas : NULL, nr);
	if (rc < 0)
		return rc;
	ty = (const void *)region_cap(ri, VFIO_REGION_INFO_CAP_TYPE);
	if (ty && ri->index >= 9)
		rc = vus_dev_region_set_type(b->dev, ri->index, ty->type, ty->subtype);
	/* The kernel lets the MSI-X table's BAR be mapped whole (interrupt
	 * remapping isolates it): say so, as it does. */
	if (rc == 0 && region_cap(ri, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE))
		rc = vus_dev_region_set_msix_mappable(b->dev, ri->index);
	return rc;
}

static int regions_setup(struct vfio_bridge *b, char *err, size_t errlen)
{
	struct vfio_region_info *ri;
	uint32_t i;
	int rc;

	/* Config space first: BAR kinds are read from it. */
	rc = region_info(b, VFIO_PCI_CONFIG_REGION_INDEX, &ri);
	if (rc < 0) {
		snprintf(err, errlen, "vfio: %s: config region: %s", b->bdf, strerror(-rc));
		return rc;
	}
	b->cfg_offset = ri->offset;
	b->cfg_size = ri->size;
	free(ri);
	rc = vus_dev_set_config_passthrough(b->dev, b->cfg_size > 256 ? 4096 : 256, &cfg_ops, b);
	if (rc < 0) {
		snprintf(err, errlen, "vfio: %s: config space of %llu bytes: %s", b->bdf,
			 (unsigned long long)b->cfg_size, strerror(-rc));
		return rc;
	}
	for (i = 0; i < b->info.num_regions; i++) {
		if (i == VFIO_PCI_CONFIG_REGION_INDEX)
			continue;
		rc = region_info(b, i, &ri);
		if (rc == -EINVAL)
			continue; /* an index the kernel does not implement */
		if (rc < 0) {
			snprintf(err, errlen, "vfio: %s: region %u: %s", b->bdf, i, strerror(-rc));
			return rc;
		}
		rc = ri->size ? region_add(b, ri) : 0;
		if (rc < 0)
			snprintf(err, errlen, "vfio: %s: region %u (size %llu, flags %#x): %s",
				 b->bdf, i, (unsigned long long)ri->size, ri->flags,
				 strerror(-rc));
		free(ri);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- interrupts ----------------------------------------------------- */

/* vfio-user's SET_IRQS is VFIO_DEVICE_SET_IRQS (same flags, same data):
 * hand it over whole; the kernel signals the client's eventfds itself. */
static int irq_pt(struct vus_dev *dev, void *opaque, const struct vus_irq_set *set,
		  const int *fds, const uint8_t *bools)
{
	struct vfio_bridge *b = opaque;
	struct vfio_irq_set *s;
	size_t data = 0;
	uint32_t i;
	int rc = 0;

	(void)dev;
	if (!set->count && set->index >= VFIO_PCI_ERR_IRQ_INDEX) {
		/* VFIO has no "disable" for ERR and REQ: de-assign the eventfd. */
		const int none = -1;
		struct vus_irq_set one = *set;

		one.flags = VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER;
		one.count = 1;
		return irq_pt(dev, opaque, &one, &none, NULL);
	}
	if (set->flags & VUS_IRQ_SET_DATA_EVENTFD)
		data = (size_t)set->count * sizeof(int32_t);
	else if (set->flags & VUS_IRQ_SET_DATA_BOOL)
		data = set->count;
	s = calloc(1, sizeof(*s) + data);
	if (!s)
		return -ENOMEM;
	s->argsz = (uint32_t)(sizeof(*s) + data);
	s->flags = set->flags;
	s->index = set->index;
	s->start = set->start;
	s->count = set->count;
	for (i = 0; i < set->count && data; i++) {
		if (set->flags & VUS_IRQ_SET_DATA_EVENTFD)
			((int32_t *)s->data)[i] = fds ? fds[i] : -1;
		else
			s->data[i] = bools[i];
	}
	if (ioctl(b->device, VFIO_DEVICE_SET_IRQS, s) < 0)
		rc = -errno;
	free(s);
	/* Disabling an index that is not enabled: vfio-pci says EINVAL,
	 * vfio-user (and the library at a disconnect) mean "make sure it is
	 * off", which it is. */
	if (rc == -EINVAL && !set->count)
		rc = 0;
	return rc;
}

static bool is_msi(uint32_t index)
{
	return index == VFIO_PCI_MSI_IRQ_INDEX || index == VFIO_PCI_MSIX_IRQ_INDEX;
}

static int set_irqs_raw(struct vfio_bridge *b, uint32_t flags, uint32_t index, uint32_t start,
			uint32_t count, const int *fds)
{
	struct vus_irq_set s = { .argsz = sizeof(s), .flags = flags, .index = index,
				 .start = start, .count = count };

	return irq_pt(b->dev, b, &s, fds, NULL);
}

/*
 * MSI/MSI-X eventfds. A client sends them in chunks of max_msg_fds (16),
 * each a SET_IRQS of its own, but vfio-pci before Linux 6.5 fixes the
 * number of vectors when it enables the index: a chunk beyond it is
 * EINVAL. So the bridge keeps the client's fds (dups) and, when a
 * chunk reaches past the enabled block, disables the index and enables
 * it again with every vector known so far.
 */
static int msi_trigger(struct vfio_bridge *b, const struct vus_irq_set *set, const int *fds)
{
	typeof(b->msi[0]) *m = &b->msi[set->index - VFIO_PCI_MSI_IRQ_INDEX];
	uint32_t i, need = set->start + set->count;
	int rc;

	if (!m->fds || need > m->count)
		return -EINVAL;
	for (i = 0; i < set->count; i++) {
		int *slot = &m->fds[set->start + i];

		if (*slot >= 0)
			close(*slot);
		*slot = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 0) : -1;
		if (fds[i] >= 0 && *slot < 0)
			return -errno;
	}
	if (need <= m->enabled)
		return irq_pt(b->dev, b, set, fds, NULL);
	if (m->enabled) {
		rc = set_irqs_raw(b, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER,
				  set->index, 0, 0, NULL);
		m->enabled = 0;
		if (rc < 0)
			return rc;
	}
	rc = set_irqs_raw(b, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, set->index,
			  0, need, m->fds);
	if (rc == 0)
		m->enabled = need;
	return rc;
}

static void msi_forget(struct vfio_bridge *b, uint32_t index)
{
	typeof(b->msi[0]) *m = &b->msi[index - VFIO_PCI_MSI_IRQ_INDEX];
	uint32_t i;

	for (i = 0; m->fds && i < m->count; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->enabled = 0;
}

static int irq_set(struct vus_dev *dev, void *opaque, const struct vus_irq_set *set,
		   const int *fds, const uint8_t *bools)
{
	struct vfio_bridge *b = opaque;
	uint32_t action = set->flags & VUS_IRQ_SET_ACTION_MASK_ALL;

	if (is_msi(set->index) && action == VUS_IRQ_SET_ACTION_TRIGGER) {
		if (set->flags & VUS_IRQ_SET_DATA_EVENTFD)
			return msi_trigger(b, set, fds);
		if (!set->count) {
			msi_forget(b, set->index);
			return irq_pt(dev, opaque, set, fds, bools);
		}
	}
	return irq_pt(dev, opaque, set, fds, bools);
}

static int irqs_setup(struct vfio_bridge *b, char *err, size_t errlen)
{
	uint32_t i;
	int rc;

	for (i = 0; i < b->info.num_irqs && i < VUS_PCI_NUM_IRQS; i++) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = i };

		if (ioctl(b->device, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0)
			continue;
		rc = vus_dev_setup_irq(b->dev, i, ii.count);
		if (rc == 0)
			rc = vus_dev_set_irq_passthrough(b->dev, i, irq_set, b);
		/* The kernel's flags, as they are (VFIO_IRQ_INFO_* = VUS_IRQ_INFO_*). */
		if (rc == 0)
			rc = vus_dev_set_irq_info_flags(b->dev, i, ii.flags & 0xf);
		if (rc == 0 && is_msi(i) && ii.count) {
			typeof(b->msi[0]) *m = &b->msi[i - VFIO_PCI_MSI_IRQ_INDEX];

			m->fds = malloc(ii.count * sizeof(int));
			if (!m->fds)
				rc = -ENOMEM;
			m->count = m->fds ? ii.count : 0;
			for (uint32_t v = 0; v < m->count; v++)
				m->fds[v] = -1;
		}
		if (rc < 0) {
			snprintf(err, errlen, "vfio: %s: irq index %u (%u vectors): %s", b->bdf, i,
				 ii.count, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* ---- DMA ------------------------------------------------------------ */

/* iommufd: the same window into the group's IOAS at the client's IOVA. */
static int ioas_map(struct vfio_bridge *b, const struct vus_dma_region *r)
{
	struct iommu_ioas_map m = { .size = sizeof(m), .flags = IOMMU_IOAS_MAP_FIXED_IOVA,
				    .ioas_id = vfio_bridge_ioas(b) };

	m.user_va = (uintptr_t)r->vaddr;
	m.length = r->size;
	m.iova = r->iova;
	if (r->prot & VUS_DMA_MAP_FLAG_READ)
		m.flags |= IOMMU_IOAS_MAP_READABLE;
	if (r->prot & VUS_DMA_MAP_FLAG_WRITE)
		m.flags |= IOMMU_IOAS_MAP_WRITEABLE;
	if (ioctl(b->iommufd, IOMMU_IOAS_MAP, &m) < 0) {
		int rc = -errno;

		vfio_bridge_log(b, "IOMMU_IOAS_MAP [%#llx, +%#llx): %s",
				(unsigned long long)r->iova, (unsigned long long)r->size,
				strerror(-rc));
		return rc;
	}
	return 0;
}

static int dma_map(struct vus_dev *dev, void *opaque, const struct vus_dma_region *r)
{
	struct vfio_bridge *b = opaque;
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };

	(void)dev;
	if (!r->vaddr) {
		/* A real device reaches memory only through the IOMMU: there is
		 * nothing to map a message-only window to. (vaddr, not fd: vusd
		 * closes a window's fd once the library mapped it.) */
		vfio_bridge_log(b, "DMA_MAP [%#llx, +%#llx) without an fd refused (ENOTSUP): "
				"the device can only DMA into mapped memory",
				(unsigned long long)r->iova, (unsigned long long)r->size);
		return -ENOTSUP;
	}
	m.vaddr = (uintptr_t)r->vaddr;
	m.iova = r->iova;
	m.size = r->size;
	if (r->prot & VUS_DMA_MAP_FLAG_READ)
		m.flags |= VFIO_DMA_MAP_FLAG_READ;
	if (r->prot & VUS_DMA_MAP_FLAG_WRITE)
		m.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	if (b->iommufd >= 0)
		return ioas_map(b, r);
	if (ioctl(b->container, VFIO_IOMMU_MAP_DMA, &m) < 0) {
		int rc = -errno;

		vfio_bridge_log(b, "VFIO_IOMMU_MAP_DMA [%#llx, +%#llx): %s",
				(unsigned long long)r->iova, (unsigned long long)r->size,
				strerror(-rc));
		return rc;
	}
	return 0;
}

static void dma_unmap(struct vus_dev *dev, void *opaque, const struct vus_dma_region *r)
{
	struct vfio_bridge *b = opaque;
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u) };

	(void)dev;
	if (!r->vaddr)
		return; /* never mapped (refused above) */
	if (b->iommufd >= 0) {
		struct iommu_ioas_unmap iu = { .size = sizeof(iu), .ioas_id = vfio_bridge_ioas(b),
					       .iova = r->iova, .length = r->size };

		if (ioctl(b->iommufd, IOMMU_IOAS_UNMAP, &iu) < 0)
			vfio_bridge_log(b, "IOMMU_IOAS_UNMAP [%#llx, +%#llx): %s",
					(unsigned long long)r->iova, (unsigned long long)r->size,
					strerror(errno));
		return;
	}
	u.iova = r->iova;
	u.size = r->size;
	if (ioctl(b->container, VFIO_IOMMU_UNMAP_DMA, &u) < 0)
		vfio_bridge_log(b, "VFIO_IOMMU_UNMAP_DMA [%#llx, +%#llx): %s",
				(unsigned long long)r->iova, (unsigned long long)r->size,
				strerror(errno));
}

static const struct vus_dma_ops dma_ops = { .map = dma_map, .unmap = dma_unmap };

/* ---- reset and disconnect ------------------------------------------- */

static int reset(struct vus_dev *dev, void *opaque, enum vus_reset_reason why)
{
	struct vfio_bridge *b = opaque;
	uint16_t cmd;
	int rc;

	(void)dev;
	if (why == VUS_RESET_LOST_CONN) {
		/* The library already unmapped every DMA window and disabled
		 * every IRQ index (through irq_pt); stop the function mastering
		 * the bus so the next client starts from a quiet device. */
		rc = cfg_rw(b, PCI_COMMAND, &cmd, 2, false);
		if (rc == 0) {
			cmd &= (uint16_t)~PCI_COMMAND_MASTER;
			rc = cfg_rw(b, PCI_COMMAND, &cmd, 2, true);
		}
		if (rc < 0)
			vfio_bridge_log(b, "bus master off: %s", strerror(-rc));
		vfio_bridge_features_end(b);
		return 0;
	}
	return vfio_bridge_reset(b);
}

/* ---- life cycle ----------------------------------------------------- */

int vfio_bridge_open(const char *name, const char *host, enum vfio_bridge_iommu iommu,
		     struct vfio_bridge **out, char *err, size_t errlen)
{
	struct vfio_bridge *b = calloc(1, sizeof(*b));
	struct vus_pci_id id = { 0 };
	uint8_t hdr[0x30];
	int rc;

	if (!b)
		return -ENOMEM;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->mig_fd = -1;
	b->iommu_mode = iommu;
	rc = vfio_bridge_open_fds(b, host, err, errlen);
	if (rc < 0)
		goto fail;
	b->dev = vus_dev_new(name);
	if (!b->dev) {
		rc = -ENOMEM;
		snprintf(err, errlen, "vfio: out of memory");
		goto fail;
	}
	rc = regions_setup(b, err, errlen);
	if (rc < 0)
		goto fail;
	/* The identity for introspection (config reads go to the kernel). */
	if (cfg_rw(b, 0, hdr, sizeof(hdr), false) == 0) {
		id.vendor = (uint16_t)(hdr[0] | hdr[1] << 8);
		id.device = (uint16_t)(hdr[2] | hdr[3] << 8);
		id.revision = hdr[8];
		id.class_code = (uint32_t)(hdr[9] | hdr[10] << 8 | hdr[11] << 16);
		id.subsys_vendor = (uint16_t)(hdr[0x2c] | hdr[0x2d] << 8);
		id.subsys = (uint16_t)(hdr[0x2e] | hdr[0x2f] << 8);
		vus_dev_set_pci_id(b->dev, &id);
	}
	rc = irqs_setup(b, err, errlen);
	if (rc < 0)
		goto fail;
	rc = vus_dev_set_dma_ops(b->dev, &dma_ops, b);
	if (rc == 0)
		rc = vus_dev_set_reset(b->dev, reset, b);
	if (rc == 0)
		rc = vfio_bridge_features_setup(b);
	if (rc < 0) {
		snprintf(err, errlen, "vfio: %s: %s", b->bdf, strerror(-rc));
		goto fail;
	}
	vus_dev_set_private(b->dev, b);
	if (b->iommufd >= 0)
		vfio_bridge_log(b, "opened through its VFIO cdev, bound to iommufd (device id %u, "
				"IOAS %u)", b->devid, vfio_bridge_ioas(b));
	else
		vfio_bridge_log(b, "opened through IOMMU group %d, legacy container (type1)",
				b->group_id);
	vfio_bridge_describe_reset(b);
	*out = b;
	return 0;
fail:
	vfio_bridge_free(b);
	return rc;
}

struct vus_dev *vfio_bridge_dev(struct vfio_bridge *b)
{
	return b->dev;
}

void vfio_bridge_free(struct vfio_bridge *b)
{
	if (!b)
		return;
	/* The library ends the session first: DMA unmapped, IRQs off. */
	vus_dev_free(b->dev);
	for (int i = 0; i < 2; i++) {
		if (b->msi[i].fds)
			msi_forget(b, VFIO_PCI_MSI_IRQ_INDEX + (uint32_t)i);
		free(b->msi[i].fds);
	}
	if (b->mig_fd >= 0)
		close(b->mig_fd);
	vfio_bridge_close_fds(b);
	free(b);
}
