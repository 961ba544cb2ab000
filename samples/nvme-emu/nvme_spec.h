/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe 1.4 constants and data layouts the controller uses (NVM Express
 * Base Specification 1.4c; section numbers in comments). Little-endian
 * host assumed for the structures (x86-64, aarch64): every structure is
 * the wire layout and is checked with static asserts.
 */
#ifndef VUS_NVME_SPEC_H
#define VUS_NVME_SPEC_H

#include <assert.h>
#include <stdint.h>

/* ---- controller registers (3.1) ---------------------------------- */
#define NVME_REG_CAP     0x00 /* 64 */
#define NVME_REG_VS      0x08
#define NVME_REG_INTMS   0x0c
#define NVME_REG_INTMC   0x10
#define NVME_REG_CC      0x14
#define NVME_REG_CSTS    0x1c
#define NVME_REG_NSSR    0x20
#define NVME_REG_AQA     0x24
#define NVME_REG_ASQ     0x28 /* 64 */
#define NVME_REG_ACQ     0x30 /* 64 */
#define NVME_REG_CMBLOC  0x38
#define NVME_REG_CMBSZ   0x3c
#define NVME_REG_DBS     0x1000 /* doorbells */

#define NVME_CC_EN           (1u << 0)
#define NVME_CC_CSS(cc)      (((cc) >> 4) & 7)
#define NVME_CC_MPS(cc)      (((cc) >> 7) & 0xf)
#define NVME_CC_AMS(cc)      (((cc) >> 11) & 7)
#define NVME_CC_SHN(cc)      (((cc) >> 14) & 3)
#define NVME_CC_IOSQES(cc)   (((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES(cc)   (((cc) >> 20) & 0xf)
#define NVME_CC_WRITABLE     0x00fffff1u

#define NVME_CSTS_RDY        (1u << 0)
#define NVME_CSTS_CFS        (1u << 1)
#define NVME_CSTS_SHST_MASK  (3u << 2)
#define NVME_CSTS_SHST_DONE  (2u << 2)
#define NVME_CSTS_NSSRO      (1u << 4)

#define NVME_NSSR_MAGIC      0x4e564d65u /* "NVMe" */

/* ---- commands ---------------------------------------------------- */
enum nvme_admin_opc {
	NVME_ADM_DELETE_SQ = 0x00,
	NVME_ADM_CREATE_SQ = 0x01,
	NVME_ADM_GET_LOG = 0x02,
	NVME_ADM_DELETE_CQ = 0x04,
	NVME_ADM_CREATE_CQ = 0x05,
	NVME_ADM_IDENTIFY = 0x06,
	NVME_ADM_ABORT = 0x08,
	NVME_ADM_SET_FEATURES = 0x09,
	NVME_ADM_GET_FEATURES = 0x0a,
	NVME_ADM_AER = 0x0c,
	NVME_ADM_DBBUF = 0x7c,
};

enum nvme_io_opc {
	NVME_IO_FLUSH = 0x00,
	NVME_IO_WRITE = 0x01,
	NVME_IO_READ = 0x02,
	NVME_IO_COMPARE = 0x05,
	NVME_IO_WRITE_ZEROES = 0x08,
	NVME_IO_DSM = 0x09,
};

/* Status: SCT in bits 10:8, SC in 7:0, DNR bit 14 (of the 15-bit Status
 * Field; the CQE's DW3 holds it shifted left by one above the phase). */
#define NVME_SCT_GENERIC  0x000
#define NVME_SCT_SPECIFIC 0x100
#define NVME_SCT_MEDIA    0x200
#define NVME_DNR          0x4000

enum nvme_status {
	NVME_SC_SUCCESS = 0x00,
	NVME_SC_INVALID_OPCODE = 0x01,
	NVME_SC_INVALID_FIELD = 0x02,
	NVME_SC_CID_CONFLICT = 0x03,
	NVME_SC_DATA_XFER_ERROR = 0x04,
	NVME_SC_ABORTED_POWER_LOSS = 0x05,
	NVME_SC_INTERNAL = 0x06,
	NVME_SC_ABORT_REQ = 0x07,
	NVME_SC_ABORT_SQ_DELETED = 0x08,
	NVME_SC_INVALID_NSID = 0x0b,
	NVME_SC_CMD_SEQ_ERROR = 0x0c,
	NVME_SC_INVALID_SGL_SEG_DESC = 0x0d,
	NVME_SC_INVALID_NUM_SGL_DESC = 0x0e,
	NVME_SC_DATA_SGL_LEN_INVALID = 0x0f,
	NVME_SC_METADATA_SGL_LEN_INVALID = 0x10,
	NVME_SC_SGL_DESC_TYPE_INVALID = 0x11,
	NVME_SC_PRP_OFFSET_INVALID = 0x13,
	NVME_SC_SGL_OFFSET_INVALID = 0x16,
	NVME_SC_LBA_RANGE = 0x80,
	NVME_SC_CAP_EXCEEDED = 0x81,
	NVME_SC_NS_NOT_READY = 0x82,

	/* command specific (SCT 1) */
	NVME_SC_CQ_INVALID = NVME_SCT_SPECIFIC | 0x00,
	NVME_SC_QID_INVALID = NVME_SCT_SPECIFIC | 0x01,
	NVME_SC_QUEUE_SIZE = NVME_SCT_SPECIFIC | 0x02,
	NVME_SC_ABORT_LIMIT = NVME_SCT_SPECIFIC | 0x03,
	NVME_SC_AER_LIMIT = NVME_SCT_SPECIFIC | 0x05,
	NVME_SC_INVALID_LOG_PAGE = NVME_SCT_SPECIFIC | 0x09,
	NVME_SC_INVALID_VECTOR = NVME_SCT_SPECIFIC | 0x08,
	NVME_SC_FEATURE_NOT_SAVEABLE = NVME_SCT_SPECIFIC | 0x0d,
	NVME_SC_FEATURE_NOT_CHANGEABLE = NVME_SCT_SPECIFIC | 0x0e,
	NVME_SC_INVALID_QUEUE_DELETION = NVME_SCT_SPECIFIC | 0x0c,
	NVME_SC_ATTEMPTED_WRITE_RO = NVME_SCT_SPECIFIC | 0x82,

	/* media (SCT 2) */
	NVME_SC_WRITE_FAULT = NVME_SCT_MEDIA | 0x80,
	NVME_SC_UNRECOVERED_READ = NVME_SCT_MEDIA | 0x81,
	NVME_SC_COMPARE_FAILED = NVME_SCT_MEDIA | 0x85,
};

/* Submission queue entry (4.2). */
struct nvme_sqe {
	uint8_t opc;
	uint8_t flags;   /* FUSE 1:0, PSDT 7:6 */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1;   /* or the SGL descriptor's first half */
	uint64_t prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
static_assert(sizeof(struct nvme_sqe) == 64, "SQE is 64 bytes");
#define NVME_SQE_PSDT(flags)  (((flags) >> 6) & 3)
#define NVME_SQE_FUSE(flags)  ((flags) & 3)

/* Completion queue entry (4.6). */
struct nvme_cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status; /* phase bit 0, status field 15:1 */
};
static_assert(sizeof(struct nvme_cqe) == 16, "CQE is 16 bytes");

/* SGL descriptor (4.4). */
struct nvme_sgl_desc {
	uint64_t addr;
	uint32_t len;
	uint8_t rsvd[3];
	uint8_t type;    /* type 7:4, subtype 3:0 */
};
static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");
#define NVME_SGL_DATA_BLOCK   0x0
#define NVME_SGL_BIT_BUCKET   0x1
#define NVME_SGL_SEGMENT      0x2
#define NVME_SGL_LAST_SEGMENT 0x3

/* Features (5.21.1). */
enum nvme_fid {
	NVME_FEAT_ARBITRATION = 0x01,
	NVME_FEAT_POWER_MGMT = 0x02,
	NVME_FEAT_TEMP_THRESH = 0x04,
	NVME_FEAT_ERR_RECOVERY = 0x05,
	NVME_FEAT_VWC = 0x06,
	NVME_FEAT_NUM_QUEUES = 0x07,
	NVME_FEAT_IRQ_COALESCE = 0x08,
	NVME_FEAT_IRQ_CONFIG = 0x09,
	NVME_FEAT_WRITE_ATOMIC = 0x0a,
	NVME_FEAT_ASYNC_EVENT = 0x0b,
	NVME_FEAT_TIMESTAMP = 0x0e,
};

/* Log pages (5.14.1). */
#define NVME_LOG_ERROR  0x01
#define NVME_LOG_SMART  0x02
#define NVME_LOG_FW     0x03

struct nvme_smart_log {
	uint8_t critical_warning;
	uint16_t temperature;
	uint8_t avail_spare;
	uint8_t avail_spare_thresh;
	uint8_t percent_used;
	uint8_t endu_grp_crit;
	uint8_t rsvd7[25];
	uint64_t data_units_read[2];
	uint64_t data_units_written[2];
	uint64_t host_reads[2];
	uint64_t host_writes[2];
	uint64_t ctrl_busy_time[2];
	uint64_t power_cycles[2];
	uint64_t power_on_hours[2];
	uint64_t unsafe_shutdowns[2];
	uint64_t media_errors[2];
	uint64_t num_err_log_entries[2];
	uint32_t warning_temp_time;
	uint32_t critical_comp_time;
	uint16_t temp_sensor[8];
	uint8_t rsvd216[296];
} __attribute__((packed));
static_assert(sizeof(struct nvme_smart_log) == 512, "SMART log is 512 bytes");

struct nvme_error_log {
	uint64_t error_count;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;
	uint16_t param_loc;
	uint64_t lba;
	uint32_t nsid;
	uint8_t vs;
	uint8_t trtype;
	uint8_t rsvd30[2];
	uint64_t cs;
	uint16_t trtype_spec;
	uint8_t rsvd42[22];
};
static_assert(sizeof(struct nvme_error_log) == 64, "error log entry is 64 bytes");

/* Identify CNS values (5.15.1). */
#define NVME_CNS_NS           0x00
#define NVME_CNS_CTRL         0x01
#define NVME_CNS_ACTIVE_NS    0x02
#define NVME_CNS_NS_DESC      0x03

#define NVME_PAGE_SIZE 4096u
#define NVME_PAGE_SHIFT 12

#endif /* VUS_NVME_SPEC_H */
