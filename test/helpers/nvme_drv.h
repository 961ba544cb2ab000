/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_drv: a small userspace NVMe 1.4 host driver, for the tests and
 * benchmarks of an NVMe controller served over vfio-user
 * (docs/nvme-testing.md).
 *
 * It does what a host driver does (controller enable, admin queue,
 * Identify, Number of Queues, I/O queue pairs, Read/Write/Flush/Write
 * Zeroes/DSM/Compare with PRPs or SGLs, completion by phase tag, with
 * MSI-X eventfds or by polling, reset and shutdown) and lets a test build
 * any command by hand, legal or not.
 *
 * The transport (how BAR0 and config space are reached, how the device
 * gets DMA memory, how interrupts arrive) is a small ops table, so the
 * same driver runs over the vus client library (nvme_drv_client_transport,
 * below) or over another path to a controller (a kernel VFIO device, for
 * the bridge). The driver owns one arena of DMA memory the transport
 * provides (host pointer + device address) and allocates queues, PRP and
 * SGL lists and data buffers from it in 4 KiB pages.
 *
 * Not thread-safe: one thread per driver. Functions return 0 (or a count,
 * or an NVMe status >= 0 where said) or -errno.
 */
#ifndef VUS_TEST_NVME_DRV_H
#define VUS_TEST_NVME_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vus/client.h>

/* ---- NVMe 1.4 definitions (NVM Express Base Specification 1.4c) ---- */

#define NVD_PAGE 4096u

/* Controller registers (3.1) */
#define NVD_REG_CAP   0x00u
#define NVD_REG_VS    0x08u
#define NVD_REG_INTMS 0x0cu
#define NVD_REG_INTMC 0x10u
#define NVD_REG_CC    0x14u
#define NVD_REG_CSTS  0x1cu
#define NVD_REG_NSSR  0x20u
#define NVD_REG_AQA   0x24u
#define NVD_REG_ASQ   0x28u
#define NVD_REG_ACQ   0x30u
#define NVD_REG_DBS   0x1000u

#define NVD_CAP_MQES(c)   ((uint32_t)((c) & 0xffff))
#define NVD_CAP_CQR(c)    ((uint32_t)(((c) >> 16) & 1))
#define NVD_CAP_TO(c)     ((uint32_t)(((c) >> 24) & 0xff))
#define NVD_CAP_DSTRD(c)  ((uint32_t)(((c) >> 32) & 0xf))
#define NVD_CAP_NSSRS(c)  ((uint32_t)(((c) >> 36) & 1))
#define NVD_CAP_CSS(c)    ((uint32_t)(((c) >> 37) & 0xff))
#define NVD_CAP_MPSMIN(c) ((uint32_t)(((c) >> 48) & 0xf))
#define NVD_CAP_MPSMAX(c) ((uint32_t)(((c) >> 52) & 0xf))

#define NVD_CC_EN          (1u << 0)
#define NVD_CC_SHN_NORMAL  (1u << 14)
#define NVD_CC_SHN_MASK    (3u << 14)
#define NVD_CC_IOSQES(n)   ((uint32_t)(n) << 16)
#define NVD_CC_IOCQES(n)   ((uint32_t)(n) << 20)

#define NVD_CSTS_RDY       (1u << 0)
#define NVD_CSTS_CFS       (1u << 1)
#define NVD_CSTS_SHST_MASK (3u << 2)
#define NVD_CSTS_SHST_DONE (2u << 2)
#define NVD_CSTS_NSSRO     (1u << 4)

/* Admin opcodes (5) */
enum {
	NVD_ADM_DELETE_SQ = 0x00,
	NVD_ADM_CREATE_SQ = 0x01,
	NVD_ADM_GET_LOG = 0x02,
	NVD_ADM_DELETE_CQ = 0x04,
	NVD_ADM_CREATE_CQ = 0x05,
	NVD_ADM_IDENTIFY = 0x06,
	NVD_ADM_ABORT = 0x08,
	NVD_ADM_SET_FEATURES = 0x09,
	NVD_ADM_GET_FEATURES = 0x0a,
	NVD_ADM_ASYNC_EVENT = 0x0c,
	NVD_ADM_DBBUF_CONFIG = 0x7c,
};

/* NVM command set opcodes (NVM 6) */
enum {
	NVD_CMD_FLUSH = 0x00,
	NVD_CMD_WRITE = 0x01,
	NVD_CMD_READ = 0x02,
	NVD_CMD_COMPARE = 0x05,
	NVD_CMD_WRITE_ZEROES = 0x08,
	NVD_CMD_DSM = 0x09,
};

/* Feature identifiers (5.21.1) */
enum {
	NVD_FEAT_ARBITRATION = 0x01,
	NVD_FEAT_POWER_MGMT = 0x02,
	NVD_FEAT_TEMP_THRESH = 0x04,
	NVD_FEAT_ERR_RECOVERY = 0x05,
	NVD_FEAT_VOLATILE_WC = 0x06,
	NVD_FEAT_NUM_QUEUES = 0x07,
	NVD_FEAT_IRQ_COALESCE = 0x08,
	NVD_FEAT_IRQ_CONFIG = 0x09,
	NVD_FEAT_WRITE_ATOMIC = 0x0a,
	NVD_FEAT_ASYNC_EVENT = 0x0b,
	NVD_FEAT_TIMESTAMP = 0x0e,
};

/*
 * Status: the CQE's Status Field without the phase tag, as the driver
 * returns it: SC bits 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14 (4.6.1).
 */
#define NVD_SC(s)   ((s) & 0xffu)
#define NVD_SCT(s)  (((s) >> 8) & 0x7u)
#define NVD_DNR(s)  (((s) >> 14) & 1u)
#define NVD_STATUS(sct, sc) ((uint16_t)(((sct) << 8) | (sc)))
#define NVD_STATUS_CODE(s) ((s) & 0x7ffu) /* SCT and SC, no CRD/M/DNR */

/* Generic command status (SCT 0) */
enum {
	NVD_SC_SUCCESS = 0x00,
	NVD_SC_INVALID_OPCODE = 0x01,
	NVD_SC_INVALID_FIELD = 0x02,
	NVD_SC_CID_CONFLICT = 0x03,
	NVD_SC_DATA_XFER_ERROR = 0x04,
	NVD_SC_ABORTED_POWER_LOSS = 0x05,
	NVD_SC_INTERNAL = 0x06,
	NVD_SC_ABORT_REQ = 0x07,
	NVD_SC_ABORT_SQ_DELETED = 0x08,
	NVD_SC_INVALID_NS = 0x0b,
	NVD_SC_CMD_SEQ_ERROR = 0x0c,
	NVD_SC_SGL_INVALID_SEGMENT = 0x0d,
	NVD_SC_SGL_INVALID_COUNT = 0x0e,
	NVD_SC_SGL_INVALID_DATA_LEN = 0x0f,
	NVD_SC_SGL_INVALID_TYPE = 0x11,
	NVD_SC_INVALID_PRP_OFFSET = 0x13,
	NVD_SC_SGL_INVALID_OFFSET = 0x16,
	NVD_SC_LBA_RANGE = 0x80,
	NVD_SC_CAP_EXCEEDED = 0x81,
	NVD_SC_NS_NOT_READY = 0x82,
};

/* Command specific status (SCT 1) */
enum {
	NVD_SC_CQ_INVALID = 0x00,
	NVD_SC_QID_INVALID = 0x01,
	NVD_SC_QUEUE_SIZE = 0x02,
	NVD_SC_ABORT_LIMIT = 0x03,
	NVD_SC_ASYNC_LIMIT = 0x05,
	NVD_SC_INVALID_LOG_PAGE = 0x09,
	NVD_SC_INVALID_VECTOR = 0x08,
	NVD_SC_FEATURE_NOT_SAVEABLE = 0x0d,
	NVD_SC_INVALID_QUEUE_DELETION = 0x0c,
	NVD_SC_FEATURE_NOT_CHANGEABLE = 0x0e,
};

/* Media and data integrity errors (SCT 2) */
enum {
	NVD_SC_COMPARE_FAILED = 0x85,
};

/* Submission queue entry (4.2) */
struct nvd_sqe {
	uint8_t opc;
	uint8_t flags;     /* FUSE 1:0, PSDT 7:6 */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1;     /* or the SGL1 descriptor, bytes 24..39 */
	uint64_t prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

#define NVD_PSDT_PRP     0x00u
#define NVD_PSDT_SGL     0x40u /* SGL, MPTR an address */

/* Completion queue entry (4.6) */
struct nvd_cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status; /* bit 0 phase, 15:1 status field */
};

/* SGL descriptor (4.4) */
struct nvd_sgl_desc {
	uint64_t addr;
	uint32_t len;
	uint8_t rsvd[3];
	uint8_t id; /* type 7:4, subtype 3:0 */
};

#define NVD_SGL_DATA_BLOCK   0x00u
#define NVD_SGL_BIT_BUCKET   0x10u
#define NVD_SGL_SEGMENT      0x20u
#define NVD_SGL_LAST_SEGMENT 0x30u

/* Identify Controller fields used by the tests (5.15.2.2), by offset. */
#define NVD_IDC_VID     0
#define NVD_IDC_SSVID   2
#define NVD_IDC_SN      4   /* 20 bytes */
#define NVD_IDC_MN      24  /* 40 bytes */
#define NVD_IDC_FR      64  /* 8 bytes */
#define NVD_IDC_MDTS    77
#define NVD_IDC_CNTLID  78
#define NVD_IDC_VER     80
#define NVD_IDC_OAES    92
#define NVD_IDC_OACS    256
#define NVD_IDC_ACL     258
#define NVD_IDC_AERL    259
#define NVD_IDC_LPA     261
#define NVD_IDC_SQES    512
#define NVD_IDC_CQES    513
#define NVD_IDC_NN      516
#define NVD_IDC_ONCS    520
#define NVD_IDC_VWC     525
#define NVD_IDC_SGLS    536
#define NVD_IDC_SUBNQN  768

/* Identify Namespace fields (NVM 4.1.5.1) */
#define NVD_IDN_NSZE    0
#define NVD_IDN_NCAP    8
#define NVD_IDN_NUSE    16
#define NVD_IDN_NSFEAT  24
#define NVD_IDN_NLBAF   25
#define NVD_IDN_FLBAS   26
#define NVD_IDN_DLFEAT  33
#define NVD_IDN_LBAF0   128 /* 4 bytes each: MS 15:0, LBADS 23:16 */

static inline uint16_t nvd_le16(const void *p, size_t off)
{
	const uint8_t *b = (const uint8_t *)p + off;

	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t nvd_le32(const void *p, size_t off)
{
	const uint8_t *b = (const uint8_t *)p + off;

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t nvd_le64(const void *p, size_t off)
{
	return nvd_le32(p, off) | (uint64_t)nvd_le32(p, off + 4) << 32;
}

/* ---- transport ------------------------------------------------------ */

struct nvme_drv_transport_ops {
	/* BAR0 access of 4 or 8 bytes, waited for. */
	int (*bar_read)(void *ctx, uint32_t off, void *buf, size_t len);
	int (*bar_write)(void *ctx, uint32_t off, const void *buf, size_t len);
	/* A doorbell write (4 bytes); posted where the transport can. */
	int (*doorbell)(void *ctx, uint32_t off, uint32_t val);
	/* PCI configuration space. */
	int (*cfg_read)(void *ctx, uint32_t off, void *buf, size_t len);
	int (*cfg_write)(void *ctx, uint32_t off, const void *buf, size_t len);
	/* MSI-X vectors 0..n-1 to these eventfds (n = 0: none). */
	int (*set_msix)(void *ctx, uint32_t n, const int *efds);
	/* Wait up to timeout_ms for an eventfd in efds[] or transport work
	 * (served here: DMA messages), whichever first. 0 or -errno. */
	int (*wait)(void *ctx, const int *efds, unsigned n, int timeout_ms);
	void (*destroy)(void *ctx);
};

struct nvme_drv_transport {
	const struct nvme_drv_transport_ops *ops;
	void *ctx;
	void *mem;         /* DMA arena: host mapping */
	uint64_t mem_iova; /* its device address */
	size_t mem_size;   /* multiple of NVD_PAGE */
	/* The device's DMA needs wait() to run (it is served by messages):
	 * a polling driver then calls wait() on every spin instead of
	 * spinning on memory alone. */
	bool serve_dma;
};

struct nvme_drv_client_opts {
	size_t mem_size;     /* DMA arena; 0 = 16 MiB */
	uint64_t mem_iova;   /* 0 = 1 GiB */
	bool no_fd;          /* DMA_MAP without an fd: DMA by messages */
	bool waited_doorbells; /* doorbells as waited writes, not posted */
};

/* A transport over a connected vus client: maps the arena (DMA_MAP). The
 * client stays the caller's; destroy() unmaps the arena. */
int nvme_drv_client_transport(struct vus_client *c, const struct nvme_drv_client_opts *opts,
			      struct nvme_drv_transport *out);

/* ---- driver --------------------------------------------------------- */

struct nvme_drv;

struct nvme_drv_opts {
	uint16_t admin_depth;   /* 0 = 32, as Linux */
	bool irq;               /* MSI-X eventfds (else completions are polled) */
	/* With irq: I/O CQs of nvme_drv_create_qpair() without interrupts
	 * (IEN = 0), the driver polls them, as Linux's poll queues; the
	 * admin queue keeps its vector. */
	bool poll_queues;
	int timeout_ms;         /* per command; 0 = 5000 */
};

/*
 * Bus master + memory on, MSI-X set up (opts->irq), controller disabled,
 * admin queue programmed, enabled, Identify Controller read. Takes the
 * transport (destroyed with the driver, also on failure).
 */
int nvme_drv_open(const struct nvme_drv_transport *tr, const struct nvme_drv_opts *opts,
		  struct nvme_drv **out);
/* Shut down (CC.SHN) if enabled, free everything, destroy the transport. */
void nvme_drv_close(struct nvme_drv *d);

uint64_t nvme_drv_cap(const struct nvme_drv *d);
const uint8_t *nvme_drv_id_ctrl(const struct nvme_drv *d); /* 4 KiB */
uint32_t nvme_drv_mdts_bytes(const struct nvme_drv *d);     /* 0 = no limit */
unsigned nvme_drv_nvec(const struct nvme_drv *d);           /* MSI-X eventfds */
int nvme_drv_vector_efd(const struct nvme_drv *d, unsigned v);

/* Registers (waited). */
int nvme_drv_reg32(struct nvme_drv *d, uint32_t off, uint32_t *val);
int nvme_drv_reg32_write(struct nvme_drv *d, uint32_t off, uint32_t val);
int nvme_drv_reg64(struct nvme_drv *d, uint32_t off, uint64_t *val);
/* A raw doorbell write: SQ y tail (cq = false) or CQ y head. */
int nvme_drv_ring(struct nvme_drv *d, uint16_t qid, bool cq, uint32_t val);

/* ---- DMA memory ----------------------------------------------------- */

/* size bytes (rounded up to pages) from the arena, zeroed; *iova its
 * device address. NULL when full. */
void *nvme_drv_alloc(struct nvme_drv *d, size_t size, uint64_t *iova);
void nvme_drv_free(struct nvme_drv *d, void *p, size_t size);
/* Host pointer of a device address inside the arena (NULL outside). */
void *nvme_drv_host(struct nvme_drv *d, uint64_t iova);

/* ---- commands ------------------------------------------------------- */

/* A command under construction: the SQE and the list pages it owns. */
#define NVME_DRV_MAX_LISTS 8
struct nvme_drv_cmd {
	struct nvd_sqe sqe;
	uint64_t list[NVME_DRV_MAX_LISTS]; /* device addresses of list pages */
	unsigned nlists;
};

/* PRP1/PRP2 from explicit entries: n == 1 PRP1, n == 2 PRP1+PRP2, else a
 * PRP list (chained over pages when longer than one page). */
int nvme_drv_prp_entries(struct nvme_drv *d, struct nvme_drv_cmd *cmd, const uint64_t *e,
			 unsigned n);
/* PRPs describing len contiguous bytes at iova (any offset in a page). */
int nvme_drv_prp(struct nvme_drv *d, struct nvme_drv_cmd *cmd, uint64_t iova, size_t len);
/* SGL: one Data Block descriptor in the SQE (n == 1), or a Last Segment
 * descriptor pointing at n Data Block descriptors. */
struct nvme_drv_seg {
	uint64_t iova;
	uint32_t len;
};
int nvme_drv_sgl(struct nvme_drv *d, struct nvme_drv_cmd *cmd, const struct nvme_drv_seg *s,
		 unsigned n);
/* Free a command's list pages (a command never submitted). */
void nvme_drv_cmd_release(struct nvme_drv *d, struct nvme_drv_cmd *cmd);

/*
 * Submit on queue qid (0 = admin): cid assigned (returned through *cid),
 * doorbell rung. The command's list pages are freed at its completion.
 * -EBUSY when the queue is full.
 */
int nvme_drv_submit(struct nvme_drv *d, uint16_t qid, struct nvme_drv_cmd *cmd, uint16_t *cid);
/*
 * Batched submission, as a driver with a queue depth does it: queue any
 * number of commands (no doorbell), then publish the tail once, by one
 * doorbell write or, with shadow doorbells, a shadow store and a doorbell
 * only when EventIdx asks for it. nvme_drv_submit() is the two in one.
 */
int nvme_drv_queue(struct nvme_drv *d, uint16_t qid, struct nvme_drv_cmd *cmd, uint16_t *cid);
int nvme_drv_sq_ring(struct nvme_drv *d, uint16_t qid);
/* Completed commands on qid, in no particular order, handed back (their
 * cids free again): up to max, waiting for at least one when wait is set
 * and commands are in flight. The count, or -ETIMEDOUT / -errno. */
struct nvme_drv_done {
	uint16_t cid;
	uint16_t status; /* as nvme_drv_wait() returns it */
	uint32_t dw0;
};
int nvme_drv_reap(struct nvme_drv *d, uint16_t qid, struct nvme_drv_done *out, unsigned max,
		  bool wait);
/*
 * nvme_drv_reap() with wait, but when nothing is there yet the driver
 * first spins on the CQ's phase tag for up to spin_ns (no system call)
 * and sleeps on the interrupt only after that: hybrid polling, for a
 * driver that keeps a controller fed while completions flow (it picks
 * each up as it is posted, not at the end of the controller's pass).
 * spin_ns 0, or a transport that serves DMA messages (its wait() must
 * run): nvme_drv_reap(wait = true).
 */
int nvme_drv_reap_spin(struct nvme_drv *d, uint16_t qid, struct nvme_drv_done *out,
		       unsigned max, unsigned spin_ns);
/* Wait for cid's completion on qid: the NVMe status (>= 0, see NVD_SC)
 * and *cqe (may be NULL), or -ETIMEDOUT / -errno. */
int nvme_drv_wait(struct nvme_drv *d, uint16_t qid, uint16_t cid, struct nvd_cqe *cqe);
/* Reap what is there on qid without waiting; the count reaped. */
int nvme_drv_poll(struct nvme_drv *d, uint16_t qid);
/* Is cid on qid complete (reaped)? */
bool nvme_drv_done(struct nvme_drv *d, uint16_t qid, uint16_t cid);
/* Submit and wait. */
int nvme_drv_exec(struct nvme_drv *d, uint16_t qid, struct nvme_drv_cmd *cmd, struct nvd_cqe *cqe);
/* Completion entries taken off a CQ that matched no outstanding command
 * (unknown SQ or cid, or a cid completed twice): dropped, and counted. */
unsigned long nvme_drv_stray(const struct nvme_drv *d);
/* Outstanding commands on qid. */
unsigned nvme_drv_inflight(const struct nvme_drv *d, uint16_t qid);

/* ---- admin helpers (each returns the NVMe status or -errno) ---------- */

/* Identify with CNS/NSID into buf (4 KiB). */
int nvme_drv_identify(struct nvme_drv *d, uint8_t cns, uint32_t nsid, void *buf);
int nvme_drv_get_features(struct nvme_drv *d, uint8_t fid, uint32_t cdw11, uint32_t *dw0);
int nvme_drv_set_features(struct nvme_drv *d, uint8_t fid, uint32_t cdw11, uint32_t *dw0);
/* Get Log Page lid for NSID nsid, len bytes (a multiple of 4) into buf. */
int nvme_drv_get_log(struct nvme_drv *d, uint8_t lid, uint32_t nsid, void *buf, uint32_t len);
/* Number of Queues: ask nsq/ncq (1-based counts), *got_sq and *got_cq what
 * the controller allocated (1-based). */
int nvme_drv_set_num_queues(struct nvme_drv *d, uint16_t nsq, uint16_t ncq, uint16_t *got_sq,
			    uint16_t *got_cq);
/* Raw Create I/O CQ/SQ with exactly these fields (for error tests): the
 * queue memory is allocated here for qsize entries; the driver tracks the
 * queue only when the command succeeds. vector < 0: IEN = 0. */
int nvme_drv_create_cq(struct nvme_drv *d, uint16_t qid, uint16_t qsize, int vector, bool pc);
int nvme_drv_create_sq(struct nvme_drv *d, uint16_t qid, uint16_t qsize, uint16_t cqid, bool pc);
int nvme_drv_delete_sq(struct nvme_drv *d, uint16_t qid);
int nvme_drv_delete_cq(struct nvme_drv *d, uint16_t qid);
/* CQ then SQ with id qid, depth entries, MSI-X vector qid (or 0 when
 * there are fewer vectors; none without irq or with poll_queues). */
int nvme_drv_create_qpair(struct nvme_drv *d, uint16_t qid, uint16_t depth);
int nvme_drv_delete_qpair(struct nvme_drv *d, uint16_t qid);
/* Doorbell Buffer Config with fresh shadow and EventIdx pages; after
 * success the driver writes shadow doorbells and rings only when the
 * EventIdx says so (as Linux). */
int nvme_drv_dbbuf_enable(struct nvme_drv *d);

/* ---- I/O helpers ------------------------------------------------------ */

enum nvme_drv_shape {
	NVME_DRV_PRP,      /* PRPs as nvme_drv_prp() builds them */
	NVME_DRV_SGL,      /* one Data Block descriptor */
	NVME_DRV_SGL_LIST, /* a Last Segment of per-page Data Blocks */
};

/* Read/Write/Compare of nlb blocks at slba to/from len bytes at iova.
 * Returns the NVMe status or -errno. */
int nvme_drv_rw(struct nvme_drv *d, uint16_t qid, uint8_t opc, uint32_t nsid, uint64_t slba,
		uint32_t nlb, uint64_t iova, size_t len, enum nvme_drv_shape shape);
/* Build (not submit) a Read/Write/Compare command. */
int nvme_drv_rw_cmd(struct nvme_drv *d, struct nvme_drv_cmd *cmd, uint8_t opc, uint32_t nsid,
		    uint64_t slba, uint32_t nlb, uint64_t iova, size_t len,
		    enum nvme_drv_shape shape);

/* ---- reset ------------------------------------------------------------ */

/* CC.EN 1 -> 0, wait CSTS.RDY = 0: every I/O queue is gone, commands in
 * flight are forgotten (their list pages freed). Returns the number of
 * commands that were in flight, or -errno. */
int nvme_drv_disable(struct nvme_drv *d);
/* Admin queue re-programmed, CC.EN = 1, wait CSTS.RDY = 1. */
int nvme_drv_enable(struct nvme_drv *d);
/* PCI command register (memory, bus master) and MSI-X enable set again,
 * after a reset that cleared them (vfio-user DEVICE_RESET, FLR). */
int nvme_drv_pci_restore(struct nvme_drv *d);
/* CC.SHN = normal, wait CSTS.SHST = complete. */
int nvme_drv_shutdown(struct nvme_drv *d);

#endif /* VUS_TEST_NVME_DRV_H */
