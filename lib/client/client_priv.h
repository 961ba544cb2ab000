/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside struct vus_client (library-internal). The client is split by
 * concern:
 *
 *   client_conn.c  connect, VERSION, message ids, the reply wait loop
 *   client_dev.c   device/region/irq info, region access, reset, SET_IRQS
 *   client_dma.c   the window table, serving DMA_READ/DMA_WRITE
 *   client_dma_map.c  DMA_MAP/DMA_UNMAP of windows in memfds
 *   client_mig.c   DEVICE_FEATURE, MIG_DATA_READ/WRITE
 *   client_raw.c   arbitrary messages for wire-level tests
 *
 * Every byte comes through the transport (framing, fds) and the codec
 * (field checks); nothing here parses a reply by hand beyond checking that
 * a header-only reply is header-only.
 */
#ifndef VUS_CLIENT_PRIV_H
#define VUS_CLIENT_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vus/client.h>

#include "transport.h"

/* Defaults for what the client advertises (VERSION). */
#define VUS_CLIENT_DEF_MAX_MSG_FDS 16u
#define VUS_CLIENT_DEF_TIMEOUT_MS  5000  /* QEMU's x-msg-timeout default */
/* Room for fixed parts and JSON on top of the largest data transfer, as
 * the server allows (docs/protocol.md 6, message size). */
#define VUS_CLIENT_MSG_HEADROOM    (64u * 1024u)
/* GET_REGION_INFO re-ask bound: 32 + sparse cap with every area we can
 * hold + type cap + MSI-X cap, rounded up generously. */
#define VUS_CLIENT_REGION_ARGSZ_MAX 4096u

/* One DMA window of "guest memory" created by vus_client_dma_map(). */
struct vus_client_map {
	uint64_t iova;
	uint64_t size;
	uint32_t prot;          /* VUS_DMA_MAP_FLAG_*: what the server may do */
	uint8_t *host;          /* our MAP_SHARED mapping of the memfd */
};

struct vus_client {
	struct vus_conn conn;
	struct vus_rx_msg rx;           /* last message from the main socket */
	bool twin_active;
	struct vus_conn twin;           /* valid only if twin_active */
	struct vus_rx_msg twin_rx;

	/* what we advertised, defaults resolved */
	uint16_t minor;
	uint32_t max_msg_fds;
	uint32_t max_xfer;
	bool offered_twin;
	bool offered_write_multiple;
	enum vus_dma_layout layout;     /* AUTO resolved */
	int timeout_ms;

	/* what the server said (spec defaults when absent) */
	struct vus_version_msg server;
	uint32_t srv_max_fds;
	uint32_t srv_max_xfer;
	bool srv_write_multiple;

	uint16_t next_id;

	struct vus_client_map *maps;
	uint32_t nmaps, maps_cap;
	uint64_t dma_requests;
};

/* ---- client_conn.c -------------------------------------------------- */

/* Send a command (flags: VUS_F_NO_REPLY or 0) with a fresh id in *id. */
int vus_client_send_cmd(struct vus_client *c, uint16_t cmd, uint32_t flags,
			const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds,
			uint16_t *id);
/*
 * Wait up to the client's timeout for the reply with this id on the main
 * socket, serving server requests meanwhile. On 0, *out is the reply (its
 * fds owned by the caller, payload valid until the next receive). A reply
 * with another id, or any reply on the twin socket: -EPROTO.
 */
int vus_client_wait(struct vus_client *c, uint16_t id, struct vus_rx_msg **out);
/*
 * Send cmd and wait for its reply: the reply must carry the same command,
 * be whole (no skipped body, no truncated fds) and bring at most
 * max_reply_fds fds, else -EPROTO. An error reply returns -(its errno).
 * On 0, *out is the reply as for vus_client_wait().
 */
int vus_client_call(struct vus_client *c, uint16_t cmd, const struct iovec *iov, int iovcnt,
		    const int *fds, unsigned nfds, unsigned max_reply_fds,
		    struct vus_rx_msg **out);
/* vus_client_call() for a reply that must be header-only with no fds. */
int vus_client_call_empty(struct vus_client *c, uint16_t cmd, const struct iovec *iov,
			  int iovcnt, const int *fds, unsigned nfds);
/* errno of an error reply as a negative return: EINVAL for a missing or
 * absurd errno (docs/protocol.md 8.1 "Error numbers":
 * libvfio-user clients do the same). */
int vus_client_reply_errno(const struct vus_hdr *h);

/* ---- client_dma.c --------------------------------------------------- */

/* A command from the server arrived on conn: serve it (DMA_READ/WRITE),
 * answer it and close its fds. Returns 0, or -errno if conn failed. */
int vus_client_serve(struct vus_client *c, struct vus_conn *conn, struct vus_rx_msg *m);
/* Unmap and forget every DMA window (close, or after UNMAP ALL). */
void vus_client_maps_free_all(struct vus_client *c);
/* The window table (client_dma.c): add a copy of mp, or drop window i
 * (munmap). */
int vus_client_map_add(struct vus_client *c, const struct vus_client_map *mp);
void vus_client_map_del(struct vus_client *c, uint32_t i);

#endif /* VUS_CLIENT_PRIV_H */
