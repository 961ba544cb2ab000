/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_drv's transport over the vus client library (nvme_drv.h): BAR0 and
 * config space as REGION_READ/WRITE, doorbells as posted REGION_WRITEs (as
 * QEMU sends a guest's MMIO write to a region it cannot map,
 * docs/nvme-testing.md), the DMA arena as one DMA_MAP of client memory
 * (with its fd, or without: then the server DMAs by messages, which wait()
 * serves), MSI-X as SET_IRQS eventfds.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "nvme_drv.h"

struct client_tr {
	struct vus_client *c;
	uint64_t iova;
	size_t size;
	bool waited_doorbells;
	bool no_fd;
};

static int bar_read(void *ctx, uint32_t off, void *buf, size_t len)
{
	struct client_tr *t = ctx;

	return vus_client_region_read(t->c, VUS_PCI_BAR0_REGION, off, buf, len);
}

static int bar_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
	struct client_tr *t = ctx;

	return vus_client_region_write(t->c, VUS_PCI_BAR0_REGION, off, buf, len);
}

static int doorbell(void *ctx, uint32_t off, uint32_t val)
{
	struct client_tr *t = ctx;
	uint8_t b[4] = { val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24 };

	if (t->waited_doorbells)
		return vus_client_region_write(t->c, VUS_PCI_BAR0_REGION, off, b, 4);
	return vus_client_region_write_posted(t->c, VUS_PCI_BAR0_REGION, off, b, 4);
}

static int cfg_read(void *ctx, uint32_t off, void *buf, size_t len)
{
	struct client_tr *t = ctx;

	return vus_client_region_read(t->c, VUS_PCI_CONFIG_REGION, off, buf, len);
}

static int cfg_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
	struct client_tr *t = ctx;

	return vus_client_region_write(t->c, VUS_PCI_CONFIG_REGION, off, buf, len);
}

static int set_msix(void *ctx, uint32_t n, const int *efds)
{
	struct client_tr *t = ctx;

	return vus_client_set_irqs(t->c, VUS_PCI_MSIX_IRQ,
				   VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, n,
				   efds, NULL);
}

/* Sleep on the eventfds and on the socket: without DMA fds the server's
 * DMA_READ/WRITE requests (the completions themselves) arrive there. */
static int wait_ev(void *ctx, const int *efds, unsigned n, int timeout_ms)
{
	struct client_tr *t = ctx;
	struct pollfd p[8];
	unsigned i, np = 0;
	uint64_t v;
	int r;

	p[np++] = (struct pollfd){ .fd = vus_client_fd(t->c), .events = POLLIN };
	for (i = 0; i < n && np < 8; i++)
		p[np++] = (struct pollfd){ .fd = efds[i], .events = POLLIN };
	/* Without fds, a request may already sit in the client's buffer:
	 * never sleep long before serving it. */
	if (t->no_fd && timeout_ms > 2)
		timeout_ms = 2;
	r = poll(p, np, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 1; i < np; i++)
		if (p[i].revents & POLLIN)
			(void)!read(p[i].fd, &v, sizeof(v));
	if (t->no_fd || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
		r = vus_client_process(t->c, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static void destroy(void *ctx)
{
	struct client_tr *t = ctx;

	vus_client_dma_unmap(t->c, t->iova, t->size, 0);
	free(t);
}

static const struct nvme_drv_transport_ops client_ops = {
	.bar_read = bar_read,
	.bar_write = bar_write,
	.doorbell = doorbell,
	.cfg_read = cfg_read,
	.cfg_write = cfg_write,
	.set_msix = set_msix,
	.wait = wait_ev,
	.destroy = destroy,
};

int nvme_drv_client_transport(struct vus_client *c, const struct nvme_drv_client_opts *opts,
			      struct nvme_drv_transport *out)
{
	static const struct nvme_drv_client_opts defaults;
	struct client_tr *t;
	void *host;
	int r;

	if (!opts)
		opts = &defaults;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->c = c;
	t->size = opts->mem_size ? (opts->mem_size + NVD_PAGE - 1) / NVD_PAGE * NVD_PAGE
				 : 16u << 20;
	t->iova = opts->mem_iova ? opts->mem_iova : 1ull << 30;
	t->waited_doorbells = opts->waited_doorbells;
	t->no_fd = opts->no_fd;
	r = vus_client_dma_map(c, t->iova, t->size, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
			       !opts->no_fd, &host);
	if (r < 0) {
		free(t);
		return r;
	}
	*out = (struct nvme_drv_transport){
		.ops = &client_ops, .ctx = t, .mem = host, .mem_iova = t->iova, .mem_size = t->size,
		.serve_dma = opts->no_fd
	};
	return 0;
}
