/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client DMA_MAP/DMA_UNMAP: guest memory windows in memfds, added to and
 * removed from the window table (client_dma.c).
 */
#define _GNU_SOURCE /* memfd_create, reallocarray */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vus/client.h>

#include "client_priv.h"

/* ---- DMA_MAP / DMA_UNMAP -------------------------------------------- */

int vus_client_dma_map(struct vus_client *c, uint64_t iova, uint64_t size, uint32_t prot,
		       bool with_fd, void **host)
{
	struct vus_dma_map req = {
		.argsz = sizeof(req),
		.flags = prot,
		.addr = iova,
		.size = size,
	};
	struct iovec iov = { &req, sizeof(req) };
	struct vus_client_map mp = { .iova = iova, .size = size, .prot = prot };
	void *p;
	int fd, r;

	if (!c || !host || size == 0 || size > SIZE_MAX || size > (uint64_t)INT64_MAX ||
	    __builtin_add_overflow(iova, size, &(uint64_t){ 0 }))
		return -EINVAL;
	fd = memfd_create("vus-client-dma", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		goto close_fd;
	}
	/* The VMM's own view of guest memory is always read-write; prot is
	 * what the server may do. */
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto close_fd;
	}
	mp.host = p;
	/* In the table before the request goes out: the server may DMA into
	 * it as soon as it has processed the map. */
	r = vus_client_map_add(c, &mp);
	if (r < 0)
		goto unmap;
	r = vus_client_call_empty(c, VUS_CMD_DMA_MAP, &iov, 1, with_fd ? &fd : NULL,
				  with_fd ? 1 : 0);
	if (r < 0)
		goto del;
	/* The server holds its own copy of the fd; our mapping stays. */
	close(fd);
	*host = p;
	return 0;
del:
	/* Entries may have moved while requests were served; find ours. */
	for (uint32_t i = 0; i < c->nmaps; i++) {
		if (c->maps[i].host == p) {
			c->maps[i] = c->maps[--c->nmaps];
			break;
		}
	}
unmap:
	munmap(p, (size_t)size);
close_fd:
	close(fd);
	return r;
}

int vus_client_dma_unmap(struct vus_client *c, uint64_t iova, uint64_t size, uint32_t flags)
{
	struct vus_dma_unmap req = {
		.argsz = sizeof(req),
		.flags = flags,
		.addr = iova,
		.size = size,
	};
	struct iovec iov = { &req, sizeof(req) };
	struct vus_dma_unmap echo;
	struct vus_rx_msg *m;
	uint32_t i;
	int r;

	if (!c)
		return -EINVAL;
	r = vus_client_call(c, VUS_CMD_DMA_UNMAP, &iov, 1, NULL, 0, 0, &m);
	if (r < 0)
		return r;
	/* Reply: the 24-byte request struct echoed (spec DMA_UNMAP); the
	 * request decoder checks the same fields. */
	if (m->v.len != sizeof(echo) || vus_dma_unmap_decode(&m->v, &echo) < 0 ||
	    echo.addr != iova || echo.size != size || echo.flags != flags)
		return -EPROTO;
	/* The server dropped every reference before replying: free now. */
	if (flags & VUS_DMA_UNMAP_FLAG_ALL) {
		vus_client_maps_free_all(c);
		return 0;
	}
	for (i = 0; i < c->nmaps; i++) {
		if (c->maps[i].iova == iova && c->maps[i].size == size) {
			vus_client_map_del(c, i);
			break;
		}
	}
	return 0;
}

