/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus client library: the VMM side of vfio-user, for tests, vusctl,
 * benchmarks and VMM-less CI of a device.
 *
 * Calls are synchronous: each sends its command and waits for the reply.
 * While waiting, server->client DMA_READ/DMA_WRITE requests (on the main
 * socket, or on the twin socket when negotiated) are served from the
 * client's DMA maps, so a server that DMAs while handling a command does
 * not deadlock against it. Outside calls, vus_client_process() serves
 * them.
 *
 * One thread at a time per client. Returns 0 (or a count) or -errno; a
 * server error reply returns -(its errno).
 */
#ifndef VUS_CLIENT_H
#define VUS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vus/codec.h>
#include <vus/api.h>
#include <vus/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vus_client;

struct vus_client_opts {
	uint16_t minor;                 /* VERSION minor proposed (default 0) */
	uint32_t max_msg_fds;           /* advertised; 0 = 16 */
	uint32_t max_data_xfer_size;    /* advertised; 0 = 1 MiB */
	bool twin_socket;               /* offer twin_socket */
	bool write_multiple;            /* offer write_multiple */
	bool qemu_fingerprint;          /* send QEMU's capability set (minor 0,
					 * "migration" object): a server in AUTO
					 * then speaks QEMU's DMA layout */
	enum vus_dma_layout dma_layout; /* layout to serve DMA_READ/WRITE in;
					 * AUTO = QEMU if qemu_fingerprint */
	int timeout_ms;                 /* per reply; 0 = 5000 (QEMU's default) */
};

/* Connect to a socket path and negotiate VERSION. opts may be NULL. */
VUS_API int vus_client_connect(const char *path, const struct vus_client_opts *opts,
		       struct vus_client **out);
/* Same on an already-connected stream socket (taken over). */
VUS_API int vus_client_connect_fd(int fd, const struct vus_client_opts *opts,
		struct vus_client **out);
/* Close sockets, unmap and free DMA memory, close region fds. */
VUS_API void vus_client_close(struct vus_client *c);

VUS_API const struct vus_version_msg *vus_client_server_version(const struct vus_client *c);
VUS_API bool vus_client_twin_active(const struct vus_client *c);
VUS_API int vus_client_fd(const struct vus_client *c); /* main socket, for raw tests */

/* ---- device, regions, irqs ------------------------------------------ */

VUS_API int vus_client_device_info(struct vus_client *c, struct vus_device_info *out);

#define VUS_CLIENT_MAX_AREAS 64
struct vus_client_region {
	struct vus_region_info info;
	struct vus_region_caps caps;    /* caps.areas points into areas[] */
	struct vus_sparse_area areas[VUS_CLIENT_MAX_AREAS];
	int fd;                         /* the region fd if MMAP, else -1; owned
					 * by the caller (close it) */
};
/* GET_REGION_INFO, asking again with the argsz the server reports. */
VUS_API int vus_client_region_info(struct vus_client *c, uint32_t index,
		struct vus_client_region *out);
/* mmap a sparse area (area < caps.nr_areas) or, with no sparse cap, the
 * whole region (area 0). munmap(*addr, *len) when done. */
VUS_API int vus_client_region_mmap(const struct vus_client_region *r, uint32_t area, void **addr,
			   size_t *len);

VUS_API int vus_client_irq_info(struct vus_client *c, uint32_t index, struct vus_irq_info *out);

/*
 * SET_IRQS. flags: one DATA and one ACTION bit. DATA_EVENTFD: fds[count]
 * (fds == NULL de-assigns), sent in chunks of the server's max_msg_fds.
 * DATA_BOOL: bools[count].
 */
VUS_API int vus_client_set_irqs(struct vus_client *c, uint32_t index, uint32_t flags,
		uint32_t start,
			uint32_t count, const int *fds, const uint8_t *bools);

/* REGION_READ/WRITE of any length: split at the server's max_data_xfer. */
VUS_API int vus_client_region_read(struct vus_client *c, uint32_t index, uint64_t offset, void *buf,
			   size_t count);
VUS_API int vus_client_region_write(struct vus_client *c, uint32_t index, uint64_t offset,
			    const void *buf, size_t count);
/* Posted REGION_WRITE (No_reply): returns once sent. */
VUS_API int vus_client_region_write_posted(struct vus_client *c, uint32_t index, uint64_t offset,
				   const void *buf, size_t count);
/* Posted REGION_WRITE_MULTI of n entries (needs the server's write_multiple). */
VUS_API int vus_client_region_write_multi(struct vus_client *c,
		const struct vus_write_multi_entry *e,
				  uint32_t n);

VUS_API int vus_client_reset(struct vus_client *c);

/* ---- DMA ------------------------------------------------------------ */

/*
 * Allocate size bytes of "guest memory" (a memfd, mapped here) at iova and
 * DMA_MAP it, with the fd (with_fd) or without (the server must then use
 * DMA_READ/WRITE, served by this client). *host: the client's mapping.
 */
VUS_API int vus_client_dma_map(struct vus_client *c, uint64_t iova, uint64_t size, uint32_t prot,
		       bool with_fd, void **host);
/* DMA_UNMAP (flags 0 or VUS_DMA_UNMAP_FLAG_ALL) and free the memory. */
VUS_API int vus_client_dma_unmap(struct vus_client *c, uint64_t iova, uint64_t size,
		uint32_t flags);

/* Serve pending server DMA requests without blocking (0 or -errno), or
 * wait up to timeout_ms for one (returns 1 if one was served). */
VUS_API int vus_client_process(struct vus_client *c, int timeout_ms);
/* DMA_READ/WRITE requests served so far. */
VUS_API uint64_t vus_client_dma_requests(const struct vus_client *c);

/* ---- migration ------------------------------------------------------ */

/*
 * DEVICE_FEATURE: flags = feature | GET/SET/PROBE; data/len sent after
 * the head; reply data (for GET) copied to out[0..out_cap), *out_len its
 * length.
 */
VUS_API int vus_client_device_feature(struct vus_client *c, uint32_t flags, const void *data,
			      size_t len, void *out, size_t out_cap, size_t *out_len);
VUS_API int vus_client_mig_set_state(struct vus_client *c, enum vus_mig_state state);
VUS_API int vus_client_mig_get_state(struct vus_client *c, enum vus_mig_state *state);
/* MIG_DATA_READ up to size bytes; *got < size means no more for now. */
VUS_API int vus_client_mig_data_read(struct vus_client *c, void *buf, uint32_t size, uint32_t *got);
VUS_API int vus_client_mig_data_write(struct vus_client *c, const void *buf, uint32_t size);

/* ---- raw ------------------------------------------------------------ */

/*
 * Send any message (header fields as given, size computed) and, unless
 * flags has NO_REPLY, wait for the reply with the same id: its header in
 * *rh, its payload copied to reply[0..reply_cap) (*reply_len = full
 * payload length), fds received closed. For spec edge-case tests.
 */
VUS_API int vus_client_raw(struct vus_client *c, uint16_t cmd, uint32_t flags, const void *payload,
		   size_t len, const int *fds, unsigned nfds, struct vus_hdr *rh, void *reply,
		   size_t reply_cap, size_t *reply_len);

#ifdef __cplusplus
}
#endif
#endif /* VUS_CLIENT_H */
