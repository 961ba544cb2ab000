/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device object: creation, the setup API of device.h, and region
 * access for REGION_READ/WRITE.
 *
 * Setup calls run on one thread before vus_dev_listen*(). Listening builds
 * config space (vus_config_init) from the layout; from then on the loop
 * thread reads regions and IRQ tables without locks, so calls that change
 * the layout the client sees return -EBUSY.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_priv.h"

/* QEMU refuses a device with num_regions > 100 (protocol-facts 4.6). */
#define VUS_MAX_REGIONS 100u
/* Sanity bound on sparse areas per region: each costs 16 reply bytes. */
#define VUS_MAX_SPARSE_AREAS 1024u
/* PCI Local Bus 3.0, 6.2.5.1: an I/O BAR must not claim more than 256 bytes. */
#define VUS_MAX_IO_BAR 256u
/* A 32-bit BAR or the ROM BAR cannot describe more than 2 GiB. */
#define VUS_MAX_BAR32 (1ull << 31)

#define REGION_BAR_KIND (VUS_REGION_BAR_IO | VUS_REGION_BAR_MEM64 | VUS_REGION_BAR_PREFETCH)

/* Vectors per IRQ index (device.h): INTx 0/1, MSI 32, MSI-X 2048, ERR/REQ 1. */
static const uint32_t irq_max_vectors[VUS_PCI_NUM_IRQS] = {
	[VUS_PCI_INTX_IRQ] = 1,
	[VUS_PCI_MSI_IRQ] = 32,
	[VUS_PCI_MSIX_IRQ] = 2048,
	[VUS_PCI_ERR_IRQ] = 1,
	[VUS_PCI_REQ_IRQ] = 1,
};

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static bool dev_started(const struct vus_dev *dev)
{
	return dev->cfg.bytes != NULL;
}

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

/* ---- creation ------------------------------------------------------- */

struct vus_dev *vus_dev_new(const char *name)
{
	struct vus_dev *dev;
	int err = -ENOMEM;
	uint32_t i;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->listen_fd = -1;
	dev->epfd = -1;
	dev->wake_fd = -1;
	dev->sess.conn.fd = -1;
	dev->sess.twin.fd = -1;
	dev->sess.layout = VUS_DMA_LAYOUT_SPEC;
	dev->max_xfer = VUS_DEFAULT_MAX_DATA_XFER;
	dev->mig.state = VUS_MIG_STATE_RUNNING;
	for (i = 0; i < VUS_PCI_NUM_IRQS; i++)
		dev->irqs[i].resample_fd = -1;

	dev->name = strdup(name ? name : "vus");
	if (!dev->name)
		goto err_dev;
	dev->log.fn = vus_log_default;
	dev->log.opaque = dev->name;
	dev->log.level = VUS_LOG_WARN;

	dev->regions = calloc(VUS_PCI_NUM_REGIONS, sizeof(*dev->regions));
	if (!dev->regions)
		goto err_name;
	dev->nr_regions = VUS_PCI_NUM_REGIONS;
	for (i = 0; i < dev->nr_regions; i++)
		region_init(&dev->regions[i]);
	/* Region 7 is the library's config space (config.c). */
	dev->cfg.size = 256;
	dev->regions[VUS_PCI_CONFIG_REGION].size = dev->cfg.size;
	dev->regions[VUS_PCI_CONFIG_REGION].flags = VUS_REGION_RW;

	err = -pthread_mutex_init(&dev->irq_lock, NULL);
	if (err)
		goto err_regions;
	err = -pthread_mutex_init(&dev->stats_lock, NULL);
	if (err)
		goto err_irq_lock;
	err = vus_serve_init(dev);
	if (err)
		goto err_stats_lock;
	err = vus_dma_init(dev);
	if (err)
		goto err_serve;
	return dev;

err_serve:
	vus_serve_free(dev);
err_stats_lock:
	pthread_mutex_destroy(&dev->stats_lock);
err_irq_lock:
	pthread_mutex_destroy(&dev->irq_lock);
err_regions:
	free(dev->regions);
err_name:
	free(dev->name);
err_dev:
	free(dev);
	errno = -err;
	return NULL;
}

void vus_dev_free(struct vus_dev *dev)
{
	uint32_t i;

	if (!dev)
		return;
	/* Ends the session first: the device hears about every unmap and
	 * the lost connection while its regions still exist. */
	vus_serve_free(dev);
	vus_dma_free(dev);
	vus_irq_free(dev);
	vus_config_free(dev);
	for (i = 0; i < dev->nr_regions; i++)
		region_release(&dev->regions[i]);
	free(dev->regions);
	pthread_mutex_destroy(&dev->stats_lock);
	pthread_mutex_destroy(&dev->irq_lock);
	free(dev->name);
	free(dev);
}

const char *vus_dev_name(const struct vus_dev *dev)
{
	return dev->name;
}

void vus_dev_set_private(struct vus_dev *dev, void *priv)
{
	dev->priv = priv;
}

void *vus_dev_private(const struct vus_dev *dev)
{
	return dev->priv;
}

/* ---- logging -------------------------------------------------------- */

void vus_dev_set_log(struct vus_dev *dev, vus_log_fn fn, void *opaque, enum vus_log_level level)
{
	if (fn) {
		dev->log.fn = fn;
		dev->log.opaque = opaque;
	} else {
		dev->log.fn = vus_log_default;
		dev->log.opaque = dev->name;
	}
	dev->log.level = level;
}

void vus_dev_set_log_level(struct vus_dev *dev, enum vus_log_level level)
{
	__atomic_store_n(&dev->log.level, level, __ATOMIC_RELAXED);
}

/* ---- PCI identity --------------------------------------------------- */

int vus_dev_set_pci_id(struct vus_dev *dev, const struct vus_pci_id *id)
{
	if (dev_started(dev))
		return -EBUSY;
	if (!id || id->class_code > 0xffffff)
		return -EINVAL;
	dev->id = *id;
	return 0;
}

int vus_dev_set_config_size(struct vus_dev *dev, size_t size)
{
	if (dev_started(dev))
		return -EBUSY;
	if (size != 256 && size != 4096)
		return -EINVAL;
	dev->cfg.size = size;
	dev->regions[VUS_PCI_CONFIG_REGION].size = size;
	return 0;
}

/* ---- interrupts ----------------------------------------------------- */

/* Replace the vector table of an index; the client is not attached yet. */
static int irq_resize(struct vus_dev *dev, uint32_t index, uint32_t count)
{
	struct vus_irq_index *irq = &dev->irqs[index];
	struct vus_irq_vec *vec = NULL;
	uint32_t i;

	if (count) {
		vec = calloc(count, sizeof(*vec));
		if (!vec)
			return -ENOMEM;
		for (i = 0; i < count; i++)
			vec[i].efd = -1;
	}
	free(irq->vec);
	irq->vec = vec;
	irq->count = count;
	return 0;
}

/*
 * An interrupt pin and one INTx vector are one property: QEMU enables INTx
 * (SET_IRQS index 0, count 1) whenever config byte 0x3d is non-zero and
 * fails realize if that is refused (protocol-facts 4.5). So a pin brings
 * its vector and a vector brings a pin (INTA unless one was chosen).
 */
int vus_dev_set_intx_pin(struct vus_dev *dev, uint8_t pin)
{
	int err;

	if (dev_started(dev))
		return -EBUSY;
	if (pin > 4)
		return -EINVAL;
	err = irq_resize(dev, VUS_PCI_INTX_IRQ, pin ? 1 : 0);
	if (err)
		return err;
	dev->intx_pin = pin;
	return 0;
}

int vus_dev_setup_irq(struct vus_dev *dev, uint32_t index, uint32_t count)
{
	int err;

	if (dev_started(dev))
		return -EBUSY;
	if (index >= VUS_PCI_NUM_IRQS || count > irq_max_vectors[index])
		return -EINVAL;
	err = irq_resize(dev, index, count);
	if (err)
		return err;
	if (index == VUS_PCI_INTX_IRQ)
		dev->intx_pin = count ? (dev->intx_pin ? dev->intx_pin : 1) : 0;
	return 0;
}

int vus_dev_set_irq_passthrough(struct vus_dev *dev, uint32_t index, vus_irq_passthrough_fn cb,
				void *opaque)
{
	if (dev_started(dev))
		return -EBUSY;
	if (index >= VUS_PCI_NUM_IRQS)
		return -EINVAL;
	dev->irqs[index].pt = cb;
	dev->irqs[index].pt_opaque = cb ? opaque : NULL;
	return 0;
}

/* ---- regions -------------------------------------------------------- */

static int check_bar(struct vus_dev *dev, uint32_t index, uint64_t size, uint32_t flags)
{
	if (index == VUS_PCI_ROM_REGION)
		return is_pow2(size) && size <= VUS_MAX_BAR32 ? 0 : -EINVAL;
	if ((flags & VUS_REGION_BAR_IO) &&
	    (flags & (VUS_REGION_BAR_MEM64 | VUS_REGION_BAR_PREFETCH)))
		return -EINVAL;
	if (!is_pow2(size))
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

int vus_dev_setup_region(struct vus_dev *dev, uint32_t index, uint64_t size, uint32_t flags,
			 const struct vus_region_ops *ops, void *opaque)
{
	struct vus_region *r;
	int err;

	if (dev_started(dev))
		return -EBUSY;
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

	if (dev_started(dev))
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

int vus_dev_region_set_type(struct vus_dev *dev, uint32_t index, uint32_t type,
			    uint32_t subtype)
{
	struct vus_region *r;

	if (dev_started(dev))
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

int vus_region_access(struct vus_dev *dev, uint32_t index, uint64_t offset, void *buf,
		      uint32_t count, bool is_write)
{
	const struct vus_region *r;

	/* decisions.md REGION_READ/WRITE: all of these are EINVAL. */
	if (index >= dev->nr_regions)
		return -EINVAL;
	r = &dev->regions[index];
	if (!r->size || offset > r->size || count > r->size - offset)
		return -EINVAL;
	if (!(r->flags & (is_write ? VUS_REGION_WRITE : VUS_REGION_READ)))
		return -EINVAL;
	if (!count)
		return 0;
	if (index == VUS_PCI_CONFIG_REGION)
		return vus_config_access(dev, offset, buf, count, is_write);
	/* The MSI-X table and PBA are the library's (config_msix.c). */
	if (vus_msix_in_bar(dev, index))
		return vus_msix_bar_access(dev, index, offset, buf, count, is_write);
	return vus_region_dev_access(dev, index, offset, buf, count, is_write);
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
	if (r->fd >= 0)
		return fd_io(r->fd, r->fd_offset + offset, buf, count, is_write);
	/* Readable or writable by its flags, yet nothing backs it. */
	return -EIO;
}

/* ---- reset, limits, statistics -------------------------------------- */

int vus_dev_set_reset(struct vus_dev *dev, vus_reset_fn cb, void *opaque)
{
	/* GET_INFO's RESET flag is part of what the client caches. */
	if (dev_started(dev))
		return -EBUSY;
	dev->reset_cb = cb;
	dev->reset_opaque = cb ? opaque : NULL;
	return 0;
}

int vus_dev_set_max_data_xfer(struct vus_dev *dev, uint32_t bytes)
{
	if (dev_started(dev))
		return -EBUSY;
	if (!bytes || bytes > VUS_MAX_DATA_XFER_LIMIT)
		return -EINVAL;
	dev->max_xfer = bytes;
	return 0;
}

void vus_dev_get_stats(const struct vus_dev *dev, struct vus_dev_stats *out)
{
	/* The locks are logically not part of the device's value. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&dev->stats_lock;
	pthread_rwlock_t *tlock = (pthread_rwlock_t *)&dev->dma.table.lock;

	pthread_mutex_lock(lock);
	*out = dev->stats;
	pthread_mutex_unlock(lock);
	pthread_rwlock_rdlock(tlock);
	out->cur_dirty_bytes = dev->dma.table.dirty_bytes;
	pthread_rwlock_unlock(tlock);
}
