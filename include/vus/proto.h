/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user wire layouts.
 *
 * Every structure here is exactly what travels on the socket, in host byte
 * order (vfio-user spec, "Protocol Specification"). Offsets are pinned by
 * static asserts at the bottom of this file. Nothing here does I/O; the
 * codec (codec.h) turns bytes into these structures and back.
 *
 * Field names follow Linux's <linux/vfio.h> where the message mirrors an
 * ioctl, so a reader who knows VFIO recognises them.
 */
#ifndef VUS_PROTO_H
#define VUS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- header --------------------------------------------------------- */

#define VUS_HDR_SIZE 16u

struct vus_hdr {
	uint16_t id;      /* chosen by the sender of a command, echoed in its reply */
	uint16_t cmd;     /* enum vus_cmd; same value in the reply */
	uint32_t size;    /* whole message, header included */
	uint32_t flags;   /* VUS_F_* */
	uint32_t error;   /* errno when VUS_F_ERROR is set in a reply */
};

#define VUS_F_TYPE_MASK    0x0fu
#define VUS_F_TYPE_COMMAND 0x00u
#define VUS_F_TYPE_REPLY   0x01u
#define VUS_F_NO_REPLY     0x10u
#define VUS_F_ERROR        0x20u
/* Bits the spec defines; anything else in a command's flags is rejected. */
#define VUS_F_KNOWN        (VUS_F_TYPE_MASK | VUS_F_NO_REPLY | VUS_F_ERROR)

enum vus_cmd {
	VUS_CMD_VERSION = 1,
	VUS_CMD_DMA_MAP = 2,
	VUS_CMD_DMA_UNMAP = 3,
	VUS_CMD_DEVICE_GET_INFO = 4,
	VUS_CMD_DEVICE_GET_REGION_INFO = 5,
	VUS_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	VUS_CMD_DEVICE_GET_IRQ_INFO = 7,
	VUS_CMD_DEVICE_SET_IRQS = 8,
	VUS_CMD_REGION_READ = 9,
	VUS_CMD_REGION_WRITE = 10,
	VUS_CMD_DMA_READ = 11,
	VUS_CMD_DMA_WRITE = 12,
	VUS_CMD_DEVICE_RESET = 13,
	VUS_CMD_DIRTY_PAGES_RETIRED = 14, /* old spec only; answered ENOSYS */
	VUS_CMD_REGION_WRITE_MULTI = 15,
	VUS_CMD_DEVICE_FEATURE = 16,
	VUS_CMD_MIG_DATA_READ = 17,
	VUS_CMD_MIG_DATA_WRITE = 18,
	VUS_CMD_MAX = 18,
};

/* ---- limits and defaults (spec VERSION table) ----------------------- */

#define VUS_DEFAULT_MAX_MSG_FDS        1u        /* spec default when absent */
#define VUS_DEFAULT_MAX_DATA_XFER      1048576u  /* 1 MiB */
#define VUS_DEFAULT_MAX_DMA_MAPS       65535u
#define VUS_DEFAULT_PGSIZES            4096u
/* What vus advertises and accepts. QEMU refuses a server max_msg_fds > 16. */
#define VUS_SERVER_MAX_MSG_FDS         16u
/* Most fds any single message may carry into vus; with more, all are closed
 * and the message is answered EINVAL. */
#define VUS_MAX_FDS_PER_MSG            64u
/* QEMU refuses a server max_data_xfer_size above 64 MiB. */
#define VUS_MAX_DATA_XFER_LIMIT        (64u << 20)

/* ---- VERSION (1) ---------------------------------------------------- */

struct vus_version {
	uint16_t major;
	uint16_t minor;
	/* followed by an optional NUL-terminated JSON object */
};

/* ---- DMA_MAP (2) / DMA_UNMAP (3) ------------------------------------ */

#define VUS_DMA_MAP_FLAG_READ   (1u << 0)
#define VUS_DMA_MAP_FLAG_WRITE  (1u << 1)

struct vus_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset;  /* into the passed fd; 0 without fd */
	uint64_t addr;    /* IOVA */
	uint64_t size;
};

/* UAPI values; the current spec calls the field unused, QEMU sends ALL. */
#define VUS_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1u << 0)
#define VUS_DMA_UNMAP_FLAG_ALL              (1u << 1)

struct vus_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t addr;
	uint64_t size;
};

/* ---- DEVICE_GET_INFO (4) -------------------------------------------- */

#define VUS_DEVICE_FLAGS_RESET (1u << 0)
#define VUS_DEVICE_FLAGS_PCI   (1u << 1)

struct vus_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
};

/* ---- DEVICE_GET_REGION_INFO (5) ------------------------------------- */

#define VUS_REGION_INFO_FLAG_READ  (1u << 0)
#define VUS_REGION_INFO_FLAG_WRITE (1u << 1)
#define VUS_REGION_INFO_FLAG_MMAP  (1u << 2)
#define VUS_REGION_INFO_FLAG_CAPS  (1u << 3)

struct vus_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset; /* from the start of this struct; 0 = none */
	uint64_t size;
	uint64_t offset;     /* fd offset to mmap at */
};

struct vus_cap_hdr {
	uint16_t id;
	uint16_t version;
	uint32_t next;       /* offset from the start of vus_region_info; 0 ends */
};

#define VUS_REGION_INFO_CAP_SPARSE_MMAP  1u
#define VUS_REGION_INFO_CAP_TYPE         2u
#define VUS_REGION_INFO_CAP_MSIX_MAPPABLE 3u

struct vus_sparse_area {
	uint64_t offset;
	uint64_t size;
};

struct vus_cap_sparse_mmap {
	struct vus_cap_hdr hdr;
	uint32_t nr_areas;
	uint32_t reserved;
	/* followed by nr_areas x struct vus_sparse_area */
};

struct vus_cap_type {
	struct vus_cap_hdr hdr;
	uint32_t type;
	uint32_t subtype;
};

/* PCI region and IRQ indices (UAPI VFIO_PCI_*_INDEX) */
enum {
	VUS_PCI_BAR0_REGION = 0,
	VUS_PCI_BAR5_REGION = 5,
	VUS_PCI_ROM_REGION = 6,
	VUS_PCI_CONFIG_REGION = 7,
	VUS_PCI_VGA_REGION = 8,
	VUS_PCI_NUM_REGIONS = 9,
};

enum {
	VUS_PCI_INTX_IRQ = 0,
	VUS_PCI_MSI_IRQ = 1,
	VUS_PCI_MSIX_IRQ = 2,
	VUS_PCI_ERR_IRQ = 3,
	VUS_PCI_REQ_IRQ = 4,
	VUS_PCI_NUM_IRQS = 5,
};

/* ---- DEVICE_GET_REGION_IO_FDS (6) ----------------------------------- */

struct vus_region_io_fds {
	uint32_t argsz;
	uint32_t flags;   /* must be 0 */
	uint32_t index;
	uint32_t count;   /* 0 in the request; number of entries in the reply */
	/* reply: followed by count x struct vus_io_fd_entry */
};

#define VUS_IO_FD_TYPE_IOEVENTFD  0u
#define VUS_IO_FD_TYPE_IOREGIONFD 1u

/* Spec layout (40 bytes). libvfio-user uses a 48-byte variant; see docs. */
struct vus_io_fd_entry {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t padding;
	uint64_t datamatch;
};

/* ---- DEVICE_GET_IRQ_INFO (7) / DEVICE_SET_IRQS (8) ------------------ */

#define VUS_IRQ_INFO_EVENTFD    (1u << 0)
#define VUS_IRQ_INFO_MASKABLE   (1u << 1)
#define VUS_IRQ_INFO_AUTOMASKED (1u << 2)
#define VUS_IRQ_INFO_NORESIZE   (1u << 3)

struct vus_irq_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
};

#define VUS_IRQ_SET_DATA_NONE      (1u << 0)
#define VUS_IRQ_SET_DATA_BOOL      (1u << 1)
#define VUS_IRQ_SET_DATA_EVENTFD   (1u << 2)
#define VUS_IRQ_SET_ACTION_MASK    (1u << 3)
#define VUS_IRQ_SET_ACTION_UNMASK  (1u << 4)
#define VUS_IRQ_SET_ACTION_TRIGGER (1u << 5)
#define VUS_IRQ_SET_DATA_MASK   (VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_DATA_BOOL | VUS_IRQ_SET_DATA_EVENTFD)
#define VUS_IRQ_SET_ACTION_MASK_ALL (VUS_IRQ_SET_ACTION_MASK | VUS_IRQ_SET_ACTION_UNMASK | VUS_IRQ_SET_ACTION_TRIGGER)

struct vus_irq_set {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t start;
	uint32_t count;
	/* DATA_BOOL: followed by count bytes */
};

/* ---- REGION_READ (9) / REGION_WRITE (10) ---------------------------- */

struct vus_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	/* WRITE request and READ reply: followed by count bytes */
};

/* ---- DMA_READ (11) / DMA_WRITE (12), server -> client ---------------- */

/* Spec layout: data at payload byte 16. */
struct vus_dma_rw {
	uint64_t addr;
	uint64_t count;
};

/*
 * QEMU's layout (hw/vfio-user/protocol.h VFIOUserDMARW): a 32-bit count
 * and data at payload byte 12; the C struct is padded to 16 payload
 * bytes, so QEMU's messages are 32 + count bytes long with the data at
 * message byte 28 and 4 trailing pad bytes. Its DMA_WRITE reply is a bare
 * header. See docs/protocol.md "DMA_READ/DMA_WRITE layouts".
 */
struct vus_dma_rw_qemu {
	uint64_t addr;
	uint32_t count;
	/* data follows at payload byte 12 */
};
#define VUS_DMA_RW_QEMU_DATA_OFF 12u
#define VUS_DMA_RW_QEMU_FIXED    16u /* sizeof(VFIOUserDMARW) - header */

/* Which of the two layouts a server sends (device.h vus_dev_set_dma_layout,
 * codec.h vus_dma_rw_*). */
enum vus_dma_layout {
	VUS_DMA_LAYOUT_AUTO = 0, /* QEMU's if the VERSION fingerprint says QEMU */
	VUS_DMA_LAYOUT_SPEC,     /* addr u64, count u64, data at payload 16 */
	VUS_DMA_LAYOUT_QEMU,     /* addr u64, count u32, data at payload 12, 4 pad bytes */
};

/* ---- REGION_WRITE_MULTI (15) ---------------------------------------- */

#define VUS_WRITE_MULTI_DATA_MAX 8u
#define VUS_WRITE_MULTI_MAX      200u /* QEMU's VFIO_USER_MULTI_MAX */

struct vus_write_multi_entry {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[VUS_WRITE_MULTI_DATA_MAX];
};

/* ---- DEVICE_FEATURE (16) -------------------------------------------- */

#define VUS_DEVICE_FEATURE_MASK  0xffffu
#define VUS_DEVICE_FEATURE_GET   (1u << 16)
#define VUS_DEVICE_FEATURE_SET   (1u << 17)
#define VUS_DEVICE_FEATURE_PROBE (1u << 18)

enum {
	VUS_FEATURE_MIGRATION = 1,
	VUS_FEATURE_MIG_DEVICE_STATE = 2,
	VUS_FEATURE_DMA_LOGGING_START = 6,
	VUS_FEATURE_DMA_LOGGING_STOP = 7,
	VUS_FEATURE_DMA_LOGGING_REPORT = 8,
};

struct vus_device_feature {
	uint32_t argsz;
	uint32_t flags;
	/* followed by feature data */
};

#define VUS_MIGRATION_STOP_COPY (1ull << 0)
#define VUS_MIGRATION_P2P       (1ull << 1)
#define VUS_MIGRATION_PRE_COPY  (1ull << 2)

struct vus_feature_migration {
	uint64_t flags;
};

enum vus_mig_state {
	VUS_MIG_STATE_ERROR = 0,
	VUS_MIG_STATE_STOP = 1,
	VUS_MIG_STATE_RUNNING = 2,
	VUS_MIG_STATE_STOP_COPY = 3,
	VUS_MIG_STATE_RESUMING = 4,
	VUS_MIG_STATE_RUNNING_P2P = 5,
	VUS_MIG_STATE_PRE_COPY = 6,
	VUS_MIG_STATE_PRE_COPY_P2P = 7,
	VUS_MIG_STATE_NR = 8,
};

struct vus_feature_mig_state {
	uint32_t device_state;
	uint32_t data_fd; /* unused in vfio-user */
};

struct vus_dma_logging_range {
	uint64_t iova;
	uint64_t length;
};

struct vus_feature_dma_logging_control {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
	/* followed by num_ranges x struct vus_dma_logging_range */
};

struct vus_feature_dma_logging_report {
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
	/* GET reply: followed by the bitmap, one bit per page_size unit */
};

/* ---- MIG_DATA_READ (17) / MIG_DATA_WRITE (18) ----------------------- */

struct vus_mig_data {
	uint32_t argsz;
	uint32_t size;
	/* READ reply / WRITE request: followed by size bytes */
};

/* ---- layout pins ---------------------------------------------------- */

#define VUS_PIN(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), #type "." #field)
#define VUS_PIN_SIZE(type, sz) \
	_Static_assert(sizeof(struct type) == (sz), "sizeof " #type)

VUS_PIN_SIZE(vus_hdr, 16);
VUS_PIN(vus_hdr, cmd, 2); VUS_PIN(vus_hdr, size, 4);
VUS_PIN(vus_hdr, flags, 8); VUS_PIN(vus_hdr, error, 12);
VUS_PIN_SIZE(vus_version, 4);
VUS_PIN_SIZE(vus_dma_map, 32);
VUS_PIN(vus_dma_map, offset, 8); VUS_PIN(vus_dma_map, addr, 16); VUS_PIN(vus_dma_map, size, 24);
VUS_PIN_SIZE(vus_dma_unmap, 24);
VUS_PIN(vus_dma_unmap, addr, 8); VUS_PIN(vus_dma_unmap, size, 16);
VUS_PIN_SIZE(vus_device_info, 16);
VUS_PIN_SIZE(vus_region_info, 32);
VUS_PIN(vus_region_info, cap_offset, 12); VUS_PIN(vus_region_info, size, 16);
VUS_PIN(vus_region_info, offset, 24);
VUS_PIN_SIZE(vus_cap_hdr, 8);
VUS_PIN_SIZE(vus_sparse_area, 16);
VUS_PIN_SIZE(vus_cap_sparse_mmap, 16);
VUS_PIN_SIZE(vus_cap_type, 16);
VUS_PIN_SIZE(vus_region_io_fds, 16);
VUS_PIN_SIZE(vus_io_fd_entry, 40);
VUS_PIN(vus_io_fd_entry, fd_index, 16); VUS_PIN(vus_io_fd_entry, datamatch, 32);
VUS_PIN_SIZE(vus_irq_info, 16);
VUS_PIN_SIZE(vus_irq_set, 20);
VUS_PIN(vus_irq_set, count, 16);
VUS_PIN_SIZE(vus_region_access, 16);
VUS_PIN(vus_region_access, region, 8); VUS_PIN(vus_region_access, count, 12);
VUS_PIN_SIZE(vus_dma_rw, 16);
VUS_PIN(vus_dma_rw_qemu, count, 8);
VUS_PIN_SIZE(vus_write_multi_entry, 24);
VUS_PIN(vus_write_multi_entry, data, 16);
VUS_PIN_SIZE(vus_device_feature, 8);
VUS_PIN_SIZE(vus_feature_migration, 8);
VUS_PIN_SIZE(vus_feature_mig_state, 8);
VUS_PIN_SIZE(vus_dma_logging_range, 16);
VUS_PIN_SIZE(vus_feature_dma_logging_control, 16);
VUS_PIN_SIZE(vus_feature_dma_logging_report, 24);
VUS_PIN_SIZE(vus_mig_data, 8);

#ifdef __cplusplus
}
#endif
#endif /* VUS_PROTO_H */
