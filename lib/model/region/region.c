/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Regions (device.h "regions"): the table of region indices, their setup
 * rules (BAR sizes and kinds, sparse mmap areas, backing fds, device-
 * specific types), and the device's part of an access: its callbacks,
 * else its fd. The lowest part of the device model: config space
 * (model/pci/) adds the MSI-X BAR through vus_region_add(); the routing
 * of an access to config space or the MSI-X table is model/access.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vus/passthrough.h>

#include "bits.h"
#include "dev_priv.h"

/* QEMU refuses a device with num_regions > 100 (docs/protocol.md 6). */
#define VUS_MAX_REGIONS 100u
/* Sanity bound on sparse areas per region: each costs 16 reply bytes. */
#define VUS_MAX_SPARSE_AREAS 1024u
/* PCI Local Bus 3.0, 6.2.5.1: an I/O BAR must not claim more than 256 bytes. */
#define VUS_MAX_IO_BAR 256u
/* A 32-bit BAR or the ROM BAR cannot describe more than 2 GiB. */
#define VUS_MAX_BAR32 (1ull << 31)

#define REGION_BAR_KIND (VUS_REGION_BAR_IO | VUS_REGION_BAR_MEM64 | VUS_REGION_BAR_PREFETCH)


static void region_init(struct vus_region *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static void region_release(struct vus_region *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->areas);
	region_init(r);
}

int vus_regions_init(struct vus_dev *dev)
{
	uint32_t i;

	dev->regions = calloc(VUS_PCI_NUM_REGIONS, sizeof(*dev->regions));
	if (!dev->regions)
		return -ENOMEM;
	dev->nr_regions = VUS_PCI_NUM_REGIONS;
	for (i = 0; i < dev->nr_regions; i++)
		region_init(&dev->regions[i]);
	/* Region 7 is the library's config space (model/pci/config.c). */
	dev->cfg.size = 256;
	dev->regions[VUS_PCI_CONFIG_REGION].size = dev->cfg.size;
	dev->regions[VUS_PCI_CONFIG_REGION].flags = VUS_REGION_RW;
	return 0;
}

void vus_regions_free(struct vus_dev *dev)
{
	uint32_t i;

	for (i = 0; i < dev->nr_regions; i++)
		region_release(&dev->regions[i]);
	free(dev->regions);
	dev->regions = NULL;
	dev->nr_regions = 0;
}

/* ---- setup -------------------------------------------------------- */

static int check_bar(struct vus_dev *dev, uint32_t index, uint64_t size, uint32_t flags)
{
	if (index == VUS_PCI_ROM_REGION)
		return vus_is_pow2(size) && size <= VUS_MAX_BAR32 ? 0 : -EINVAL;
	if ((flags & VUS_REGION_BAR_IO) &&
	    (flags & (VUS_REGION_BAR_MEM64 | VUS_REGION_BAR_PREFETCH)))
		return -EINVAL;
	if (!vus_is_pow2(size))
		return -EINVAL;
	if ((flags & VUS_REGION_BAR_IO) && size > VUS_MAX_IO_BAR)
		return -EINVAL;
	if (!(flags & VUS_REGION_BAR_MEM64) && size > VUS_MAX_BAR32)
		return -EINVAL;
	if (flags & VUS_REGION_BAR_MEM64) {
		/* The next BAR register holds the upper half. */
		if (index >= VUS_PCI_BAR5_REGION)
			return -EINVAL;
		if (dev->regions[index + 1].size)
			return -EBUSY;
	}
	if (index > VUS_PCI_BAR0_REGION && (dev->regions[index - 1].flags & VUS_REGION_BAR_MEM64))
		return -EBUSY;
	return 0;
}

static int grow_regions(struct vus_dev *dev, uint32_t nr)
{
	struct vus_region *r;
	uint32_t i;

	if (nr <= dev->nr_regions)
		return 0;
	r = realloc(dev->regions, nr * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = dev->nr_regions; i < nr; i++)
		region_init(&r[i]);
	dev->regions = r;
	dev->nr_regions = nr;
	return 0;
}

int vus_region_add(struct vus_dev *dev, uint32_t index, uint64_t size, uint32_t flags,
		   const struct vus_region_ops *ops, void *opaque)
{
	struct vus_region *r;
	int err;

	if (index == VUS_PCI_CONFIG_REGION || index >= VUS_MAX_REGIONS || size == 0)
		return -EINVAL;
	if (flags & ~(VUS_REGION_RW | REGION_BAR_KIND))
		return -EINVAL;
	if ((flags & REGION_BAR_KIND) && index > VUS_PCI_BAR5_REGION)
		return -EINVAL;
	if (index < dev->nr_regions && dev->regions[index].size)
		return -EEXIST;
	if (index <= VUS_PCI_ROM_REGION) {
		err = check_bar(dev, index, size, flags);
		if (err)
			return err;
	}
	err = grow_regions(dev, index + 1);
	if (err)
		return err;
	r = &dev->regions[index];
	r->size = size;
	r->flags = flags;
	if (ops)
		r->ops = *ops;
	r->opaque = opaque;
	return 0;
}

int vus_dev_setup_region(struct vus_dev *dev, uint32_t index, uint64_t size, uint32_t flags,
			 const struct vus_region_ops *ops, void *opaque)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	return vus_region_add(dev, index, size, flags, ops, opaque);
}

static int area_cmp(const void *a, const void *b)
{
	const struct vus_sparse_area *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Copy, sort and check sparse areas: page aligned, inside, disjoint. */
static int copy_areas(const struct vus_sparse_area *areas, uint32_t nr, uint64_t size,
		      struct vus_sparse_area **out)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct vus_sparse_area *a;
	uint32_t i;

	*out = NULL;
	if (!nr)
		return 0;
	if (!areas || nr > VUS_MAX_SPARSE_AREAS)
		return -EINVAL;
	a = malloc(nr * sizeof(*a));
	if (!a)
		return -ENOMEM;
	memcpy(a, areas, nr * sizeof(*a));
	qsort(a, nr, sizeof(*a), area_cmp);
	for (i = 0; i < nr; i++) {
		if (!a[i].size || a[i].offset % page || a[i].size % page ||
		    a[i].offset > size || a[i].size > size - a[i].offset)
			goto bad;
		if (i && a[i].offset < a[i - 1].offset + a[i - 1].size)
			goto bad;
	}
	*out = a;
	return 0;
bad:
	free(a);
	return -EINVAL;
}

int vus_dev_region_set_fd(struct vus_dev *dev, uint32_t index, int fd, uint64_t fd_offset,
			  bool mmap, const struct vus_sparse_area *areas, uint32_t nr_areas)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct vus_sparse_area *copy;
	struct vus_region *r;
	int err, dup_fd;

	if (vus_dev_started(dev))
		return -EBUSY;
	if (index == VUS_PCI_CONFIG_REGION || index >= dev->nr_regions || fd < 0)
		return -EINVAL;
	r = &dev->regions[index];
	/* pread/pwrite take an off_t: the whole window must fit in one. */
	if (!r->size || fd_offset > (uint64_t)INT64_MAX - r->size)
		return -EINVAL;
	if ((nr_areas && !mmap) || (mmap && fd_offset % page))
		return -EINVAL;
	err = copy_areas(areas, nr_areas, r->size, &copy);
	if (err)
		return err;
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		err = -errno;
		free(copy);
		return err;
	}
	if (r->fd >= 0)
		close(r->fd);
	free(r->areas);
	r->fd = dup_fd;
	r->fd_offset = fd_offset;
	r->mmap = mmap;
	r->areas = copy;
	r->nr_areas = nr_areas;
	return 0;
}

int vus_dev_region_set_mem(struct vus_dev *dev, uint32_t index, void *mem)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	if (index == VUS_PCI_CONFIG_REGION || index >= dev->nr_regions || !mem ||
	    !dev->regions[index].size)
		return -EINVAL;
	dev->regions[index].mem = mem;
	return 0;
}

int vus_dev_region_set_msix_mappable(struct vus_dev *dev, uint32_t index)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	if (index >= dev->nr_regions || index == VUS_PCI_CONFIG_REGION || !dev->regions[index].size)
		return -EINVAL;
	dev->regions[index].msix_mappable = true;
	return 0;
}

int vus_dev_region_set_type(struct vus_dev *dev, uint32_t index, uint32_t type,
			    uint32_t subtype)
{
	struct vus_region *r;

	if (vus_dev_started(dev))
		return -EBUSY;
	/* spec "Device-Specific Regions": only indices past the PCI ones. */
	if (index < VUS_PCI_NUM_REGIONS || index >= dev->nr_regions || !dev->regions[index].size)
		return -EINVAL;
	r = &dev->regions[index];
	r->has_type = true;
	r->type = type;
	r->subtype = subtype;
	return 0;
}

/* pread/pwrite until done: a short transfer is not an error, EOF is. */
static int fd_io(int fd, uint64_t pos, uint8_t *p, uint32_t count, bool is_write)
{
	while (count) {
		ssize_t n = is_write ? pwrite(fd, p, count, (off_t)pos)
				     : pread(fd, p, count, (off_t)pos);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* The backing file is shorter than the region. */
		if (n == 0)
			return -EIO;
		p += n;
		pos += (uint64_t)n;
		count -= (uint32_t)n;
	}
	return 0;
}

/*
 * Callbacks return 0 or -errno. A positive value (say, a byte count, as
 * libvfio-user's callbacks return) must not pass for success: the handler
 * would send a reply without its data. Answer EIO and say why.
 */
static int callback_result(const struct vus_dev *dev, uint32_t index, int rc)
{
	if (rc <= 0)
		return rc;
	vus_log(dev, VUS_LOG_WARN, "region %u callback returned %d, not 0 or -errno", index, rc);
	return -EIO;
}

int vus_region_dev_access(struct vus_dev *dev, uint32_t index, uint64_t offset, void *buf,
			  uint32_t count, bool is_write)
{
	const struct vus_region *r = &dev->regions[index];
	int (*rd)(struct vus_dev *, void *, uint64_t, void *, uint32_t);
	int (*wr)(struct vus_dev *, void *, uint64_t, const void *, uint32_t);

	rd = r->ops.read;
	wr = r->ops.write;
	if ((is_write && wr) || (!is_write && rd))
		return callback_result(dev, index, is_write ? wr(dev, r->opaque, offset, buf, count) :
							    rd(dev, r->opaque, offset, buf, count));
	if (r->mem) {
		if (is_write)
			memcpy(r->mem + offset, buf, count);
		else
			memcpy(buf, r->mem + offset, count);
		return 0;
	}
	if (r->fd >= 0)
		return fd_io(r->fd, r->fd_offset + offset, buf, count, is_write);
	/* Readable or writable by its flags, yet nothing backs it. */
	return -EIO;
}

/* Memory serves the access only where no callback of its direction does:
 * callback regions keep their one copy. */
void *vus_region_dev_mem(struct vus_dev *dev, uint32_t index, uint64_t offset, bool is_write)
{
	const struct vus_region *r = &dev->regions[index];

	if (!r->mem || (is_write ? r->ops.write != NULL : r->ops.read != NULL))
		return NULL;
	return r->mem + offset;
}

