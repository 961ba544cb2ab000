/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user wire codec: bytes in, validated structures out, and back.
 *
 * Pure: no I/O, no global state, no allocation (VERSION's JSON is parsed
 * with json-c, whose objects are freed before return). Safe to call from
 * any thread. Every function returns 0 (or a length) on success and a
 * negative errno on failure; the errno is the one vus puts in the error
 * reply, listed per command in docs/protocol.md.
 *
 * Payload pointers handed in may be unaligned: the codec copies fields
 * out with memcpy and never casts the payload to a structure.
 */
#ifndef VUS_CODEC_H
#define VUS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <vus/api.h>
#include <vus/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A received message as the codec sees it: header, payload, fd count. */
struct vus_msg_view {
	struct vus_hdr hdr;
	const uint8_t *payload; /* hdr.size - 16 bytes */
	size_t len;
	unsigned nfds;
};

/* ---- header --------------------------------------------------------- */

VUS_API void vus_hdr_decode(const void *bytes16, struct vus_hdr *out);
VUS_API void vus_hdr_encode(void *bytes16, const struct vus_hdr *h);

/*
 * Header checks any message must pass before its body is read:
 * size >= 16 (-EINVAL), type bits 0 or 1 (-EINVAL), no unknown flag bits
 * (-EINVAL), size <= max_size (-E2BIG: the caller may still skip the
 * body to stay in sync). Unknown command numbers pass: they are answered
 * after the body has been consumed.
 */
VUS_API int vus_hdr_check(const struct vus_hdr *h, uint32_t max_size);

static inline bool vus_hdr_is_reply(const struct vus_hdr *h)
{
	return (h->flags & VUS_F_TYPE_MASK) == VUS_F_TYPE_REPLY;
}

/* "DMA_MAP", ... ; "UNKNOWN" for anything else. Never NULL. */
VUS_API const char *vus_cmd_name(unsigned cmd);

/*
 * Most fds a message of this command may carry in this direction
 * (is_reply false = the command itself). 0 for unknown commands.
 * For DMA_MAP: 1. SET_IRQS: VUS_MAX_FDS_PER_MSG (the exact count is
 * checked by vus_irq_set_decode). VERSION reply: 1. REGION_INFO reply: 1.
 * REGION_IO_FDS reply: VUS_MAX_FDS_PER_MSG.
 */
VUS_API unsigned vus_cmd_max_fds(unsigned cmd, bool is_reply);

/* ---- VERSION (1) ---------------------------------------------------- */

#define VUS_CAP_MAX_MSG_FDS    (1u << 0)
#define VUS_CAP_MAX_XFER       (1u << 1)
#define VUS_CAP_MAX_DMA_MAPS   (1u << 2)
#define VUS_CAP_PGSIZES        (1u << 3)
#define VUS_CAP_TWIN_SOCKET    (1u << 4)
#define VUS_CAP_WRITE_MULTIPLE (1u << 5)
#define VUS_CAP_MIGRATION      (1u << 6)

struct vus_caps {
	uint32_t present;             /* VUS_CAP_* for keys that were there */
	uint32_t max_msg_fds;         /* defaults filled in when absent */
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	bool twin_socket;             /* twin_socket.supported */
	int32_t twin_fd_index;        /* twin_socket.fd_index, -1 if absent */
	bool write_multiple;
	uint64_t mig_pgsize;          /* migration.pgsize, 0 if absent */
	uint64_t mig_max_bitmap_size; /* migration.max_bitmap_size, 0 if absent */
};

struct vus_version_msg {
	uint16_t major;
	uint16_t minor;
	bool has_json;
	struct vus_caps caps;
};

/* Fill caps with the spec defaults and present = 0. */
VUS_API void vus_caps_defaults(struct vus_caps *caps);

/*
 * Decode a VERSION payload (request or reply). JSON, when present, must be
 * NUL-terminated within the payload, parse to an object, and any
 * "capabilities" member must be an object; known keys must have the right
 * JSON type and range (max_msg_fds 0..1024, max_data_xfer_size > 0, ...):
 * -EINVAL otherwise. Unknown keys are ignored. No fds allowed.
 */
VUS_API int vus_version_decode(const struct vus_msg_view *m, struct vus_version_msg *out);

/*
 * Encode a VERSION payload: major, minor and compact NUL-terminated JSON
 * holding only the capabilities in v->caps.present. Returns the payload
 * length or -ENOSPC.
 */
VUS_API ssize_t vus_version_encode(uint8_t *buf, size_t cap, const struct vus_version_msg *v);

/*
 * QEMU's client fingerprint: minor 0 and a "migration" capability object
 * (dropped from the spec in 2023, still sent by QEMU 10.x) and no
 * twin_socket offer. Used to pick QEMU's DMA_READ/WRITE layout in AUTO.
 */
VUS_API bool vus_version_looks_like_qemu(const struct vus_version_msg *v);

/* ---- requests, decoded by the server -------------------------------- */

/*
 * DMA_MAP: payload >= 32, argsz >= 32, flags only READ|WRITE, size > 0,
 * addr + size and offset + size do not overflow, nfds <= 1, no offset
 * without an fd. -EINVAL otherwise.
 */
VUS_API int vus_dma_map_decode(const struct vus_msg_view *m, struct vus_dma_map *out);

/*
 * DMA_UNMAP: payload >= 24, argsz >= 24 (the echoed reply), flags 0 or
 * ALL (then addr = size = 0); GET_DIRTY_BITMAP is the retired migration v1
 * path: -ENOTSUP. size > 0 and addr + size no overflow unless ALL. No fds.
 */
VUS_API int vus_dma_unmap_decode(const struct vus_msg_view *m, struct vus_dma_unmap *out);

/* DEVICE_GET_INFO: payload >= 16, argsz >= 16, no fds. */
VUS_API int vus_device_info_req_decode(const struct vus_msg_view *m, struct vus_device_info *out);

/* DEVICE_GET_REGION_INFO: payload >= 32, argsz >= 32, no fds. */
VUS_API int vus_region_info_req_decode(const struct vus_msg_view *m, struct vus_region_info *out);

/* DEVICE_GET_REGION_IO_FDS: payload >= 16, argsz >= 16, flags 0, count 0. */
VUS_API int vus_region_io_fds_req_decode(const struct vus_msg_view *m,
		struct vus_region_io_fds *out);

/* DEVICE_GET_IRQ_INFO: payload >= 16, argsz >= 16, no fds. */
VUS_API int vus_irq_info_req_decode(const struct vus_msg_view *m, struct vus_irq_info *out);

/*
 * DEVICE_SET_IRQS: payload >= 20, argsz >= 20; exactly one DATA and one
 * ACTION bit and no others; start + count no overflow; DATA_BOOL needs
 * count bytes after the struct (*bools points at them); DATA_EVENTFD takes
 * nfds == count or nfds == 0 (de-assign); other DATA types take no fds;
 * count == 0 only with start == 0 and DATA_NONE|ACTION_TRIGGER (disable
 * all). Index and range against the device are the caller's to check.
 */
VUS_API int vus_irq_set_decode(const struct vus_msg_view *m, struct vus_irq_set *out,
		       const uint8_t **bools);

/*
 * REGION_READ (is_write false): payload == 16 (extra bytes -EINVAL).
 * REGION_WRITE: payload == 16 + count, *data points at the bytes.
 * count <= max_xfer (-E2BIG), offset + count no overflow, no fds.
 * Region index and bounds are the caller's to check.
 */
VUS_API int vus_region_access_decode(const struct vus_msg_view *m, bool is_write,
			     uint32_t max_xfer, struct vus_region_access *out,
			     const uint8_t **data);

/*
 * REGION_WRITE_MULTI: payload == 8 + 24 * wr_cnt, 1 <= wr_cnt <= max_entries,
 * every entry count 1..8 and offset + count no overflow. No fds.
 * Entries are fetched with vus_write_multi_entry().
 */
VUS_API int vus_write_multi_decode(const struct vus_msg_view *m, uint32_t max_entries,
			   uint64_t *wr_cnt);
VUS_API void vus_write_multi_entry(const struct vus_msg_view *m, uint64_t i,
			   struct vus_write_multi_entry *out);

/* DEVICE_RESET: empty payload, no fds. */
VUS_API int vus_device_reset_decode(const struct vus_msg_view *m);

/*
 * DEVICE_FEATURE request: payload >= 8, argsz >= 8; flags: only the
 * feature index and GET/SET/PROBE bits; exactly one of GET and SET unless
 * PROBE is set; PROBE carries no data. *data and *data_len: bytes after the
 * 8-byte head. Feature-specific data is checked by the decoders below.
 */
VUS_API int vus_device_feature_decode(const struct vus_msg_view *m, struct vus_device_feature *out,
			      const uint8_t **data, size_t *data_len);
/* MIG_DEVICE_STATE SET data: exactly 8 bytes, state < VUS_MIG_STATE_NR. */
VUS_API int vus_feature_mig_state_decode(const uint8_t *data, size_t len,
				 struct vus_feature_mig_state *out);
/*
 * DMA_LOGGING_START data: 16 + 16 * num_ranges bytes, page_size a power
 * of two (the device may log at a larger one), ranges without overflow.
 * Ranges fetched with vus_dma_logging_range().
 */
VUS_API int vus_feature_logging_start_decode(const uint8_t *data, size_t len,
				     struct vus_feature_dma_logging_control *out);
VUS_API void vus_dma_logging_range(const uint8_t *data, uint32_t i,
		struct vus_dma_logging_range *out);
/* DMA_LOGGING_REPORT GET data: 24 bytes, page_size a power of two, length > 0. */
VUS_API int vus_feature_logging_report_decode(const uint8_t *data, size_t len,
				      struct vus_feature_dma_logging_report *out);

/* MIG_DATA_READ: payload == 8, size <= max_xfer (-E2BIG), argsz >= 8 + size. */
VUS_API int vus_mig_data_read_decode(const struct vus_msg_view *m, uint32_t max_xfer,
			     struct vus_mig_data *out);
/* MIG_DATA_WRITE: payload == 8 + size, size <= max_xfer, argsz >= 8 + size. */
VUS_API int vus_mig_data_write_decode(const struct vus_msg_view *m, uint32_t max_xfer,
			      struct vus_mig_data *out, const uint8_t **data);

/* ---- replies, encoded by the server --------------------------------- */

struct vus_region_caps {
	bool sparse;                        /* emit a sparse-mmap cap */
	uint32_t nr_areas;
	const struct vus_sparse_area *areas;
	bool has_type;                      /* emit a type cap */
	uint32_t type, subtype;
	bool msix_mappable;                 /* emit the header-only MSIX cap */
};

/*
 * GET_REGION_INFO reply payload for a client that accepts client_argsz
 * bytes. ri supplies flags, index, size, offset (CAPS is set here).
 * argsz in the reply is always the full size needed; when that exceeds
 * client_argsz only the 32-byte struct is written and CAPS and MMAP are
 * cleared (*fd_allowed false: send no fd), so a client never mmaps a
 * region whose holes it could not see. Returns the payload length or
 * -ENOSPC if buf is too small.
 */
VUS_API ssize_t vus_region_info_reply_encode(uint8_t *buf, size_t cap, uint32_t client_argsz,
				     const struct vus_region_info *ri,
				     const struct vus_region_caps *caps, bool *fd_allowed);

/* ---- replies, decoded by the client --------------------------------- */

VUS_API int vus_device_info_decode(const struct vus_msg_view *m, struct vus_device_info *out);
VUS_API int vus_irq_info_decode(const struct vus_msg_view *m, struct vus_irq_info *out);

/*
 * GET_REGION_INFO reply: payload >= 32; when CAPS is set the chain is
 * walked within min(argsz, payload): each header 4-byte aligned, inside
 * the payload, strictly increasing offsets (no loops), known caps of the
 * right size. Sparse areas are copied into areas[0..areas_cap) and
 * caps->nr_areas gives the total (caps->areas = areas). -EINVAL on a bad
 * chain, -ENOSPC if areas_cap is too small. nfds <= 1.
 */
VUS_API int vus_region_info_decode(const struct vus_msg_view *m, struct vus_region_info *out,
			   struct vus_region_caps *caps, struct vus_sparse_area *areas,
			   uint32_t areas_cap);

/*
 * REGION_READ reply: payload == 16 + count, count <= want, same offset and
 * region as asked. REGION_WRITE reply: payload 16, same fields.
 */
VUS_API int vus_region_access_reply_decode(const struct vus_msg_view *m, bool is_write,
				   const struct vus_region_access *asked,
				   const uint8_t **data, uint32_t *count);

/* DEVICE_FEATURE reply: payload >= 8; *data and *data_len after the head. */
VUS_API int vus_device_feature_reply_decode(const struct vus_msg_view *m,
		struct vus_device_feature *out,
				    const uint8_t **data, size_t *data_len);

/* MIG_DATA_READ reply: payload >= 8 + size, size <= asked. */
VUS_API int vus_mig_data_read_reply_decode(const struct vus_msg_view *m, uint32_t asked,
				   struct vus_mig_data *out, const uint8_t **data);

/* ---- server -> client DMA_READ / DMA_WRITE --------------------------- */

/* enum vus_dma_layout: proto.h. */

/* Length of the fixed part before the data: 16 (spec) or 12 (QEMU). */
VUS_API size_t vus_dma_rw_data_off(enum vus_dma_layout layout);
/*
 * Payload bytes of a DMA_READ/DMA_WRITE message carrying count data bytes
 * (count 0 for a DMA_READ request or, in QEMU's layout, a DMA_WRITE
 * reply, which is a bare header there): spec 16 + count; QEMU 16 + count
 * (12 fixed + data + 4 pad).
 */
VUS_API size_t vus_dma_rw_payload_len(enum vus_dma_layout layout, uint64_t count);
/* Write the fixed part (addr, count) of a DMA_READ/WRITE payload. */
VUS_API void vus_dma_rw_encode(uint8_t *buf, enum vus_dma_layout layout, uint64_t addr,
		uint64_t count);

/*
 * Decode a DMA_READ/DMA_WRITE *request* (client side): fixed part present,
 * count <= max_xfer (-E2BIG), addr + count no overflow; for DMA_WRITE the
 * payload holds the count data bytes (*data). No fds.
 */
VUS_API int vus_dma_rw_req_decode(const struct vus_msg_view *m, enum vus_dma_layout layout,
			  bool is_write, uint32_t max_xfer, struct vus_dma_rw *out,
			  const uint8_t **data);

/*
 * Decode a DMA_READ/DMA_WRITE *reply* (server side) to a request for
 * (addr, count): DMA_READ reply carries the count bytes at the layout's
 * data offset and echoes addr/count; spec DMA_WRITE reply is the 16-byte
 * echo; QEMU's DMA_WRITE reply is empty. Mismatch: -EPROTO.
 */
VUS_API int vus_dma_rw_reply_decode(const struct vus_msg_view *m, enum vus_dma_layout layout,
			    bool is_write, uint64_t addr, uint64_t count,
			    const uint8_t **data);

#ifdef __cplusplus
}
#endif
#endif /* VUS_CODEC_H */
