/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme-emu internals, shared by its files (one concern each):
 *   nvme_emu.c       creation, PCI identity and capabilities, reset
 *   nvme_regs.c      BAR0: controller registers and doorbells
 *   nvme_ctrl.c      controller state changes (enable, disable, shutdown)
 *   nvme_proc.c      the queue processor: inline or on the worker thread
 *   nvme_queue.c     SQ fetch, CQ post, shadow doorbells, interrupts
 *   nvme_admin.c     admin commands: queues, abort, AER, doorbell buffer
 *   nvme_identify.c  Identify data structures
 *   nvme_features.c  Get/Set Features
 *   nvme_log.c       log pages, SMART counters, error log
 *   nvme_io.c        I/O commands
 *   nvme_dptr.c      PRP and SGL walkers: data pointer -> segment list
 *   nvme_ns.c        namespace backends (memfd RAM, file, block device)
 *   nvme_uring.c     asynchronous file/block I/O through io_uring
 *   nvme_mig.c       migration: quiesce at STOP, save/load of all state
 *
 * Threads. Region and reset callbacks run on the vus loop thread; they
 * change registers under regs_lock (never held across DMA) and "kick" the
 * processor. The processor (everything that touches queues, guest memory
 * and the backend) runs under proc_lock, either inline in the kick (loop
 * thread; the default, no thread hop) or on the worker thread while the
 * client has mapped guest memory without fds: then DMA is a message
 * exchange the loop thread must be free to serve, so the loop thread
 * never waits for proc_lock (it only try-locks it).
 */
#ifndef VUS_NVME_PRIV_H
#define VUS_NVME_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "nvme_emu.h"
#include "nvme_spec.h"

#define NVME_NR_QUEUES   (NVME_EMU_MAX_QUEUES + 1) /* admin included */
#define NVME_BAR0_SIZE   0x4000
#define NVME_MSIX_TABLE  0x2000
#define NVME_MSIX_PBA    0x3000
#define NVME_AQ_MAX      4096     /* admin queue entries (AQA: 12 bits) */
#define NVME_AERL        3        /* 4 AERs outstanding */
#define NVME_ACL         3        /* 4 Aborts outstanding */
#define NVME_ERRLOG      16       /* error log entries kept (ELPE + 1) */
#define NVME_MAX_SEGS    1040     /* data segments per command */
#define NVME_SGL_MAX_DESC 4096    /* SGL descriptors walked per command */
#define NVME_REDO_MAX    256      /* backend requests in flight (nvme_uring.c) */

struct nvme_emu;

/* A run of guest memory the command's data lives in. A segment with
 * iova UINT64_MAX is an SGL bit bucket (read data discarded). */
struct nvme_seg {
	uint64_t iova;
	uint32_t len;
};
#define NVME_SEG_BITBUCKET UINT64_MAX

struct nvme_sglist {
	struct nvme_seg seg[NVME_MAX_SEGS];
	uint32_t nseg;
	uint64_t len;
};

struct nvme_cq {
	bool live;
	bool ien;
	uint16_t vector;
	uint32_t size;
	uint64_t base;
	uint32_t tail;
	uint32_t head;       /* last head the host reported */
	uint8_t phase;
	uint32_t nsq;        /* SQs posting here */
	uint32_t resv;       /* entries kept for commands in flight (nvme_uring.c) */
	bool notify;         /* entries posted since the last interrupt */
	uint32_t held;       /* how many (Interrupt Coalescing's threshold) */
	uint64_t held_since_ns; /* CLOCK_MONOTONIC of the first one held, 0 none */
	/* Adaptive holdoff (nvme_holdoff.c): of the entries held, how many
	 * an earlier pass held back; when the last pass added one; "deep"
	 * credit, > 0 while holds keep being joined by later passes (the
	 * host has several commands in flight, one doorbell each). */
	uint32_t held_before;
	uint64_t held_last_ns;
	uint8_t deep;
	uint64_t post_last_ns;  /* the last pass that posted entries here */
	uint64_t gap_avg_ns;    /* mean time between such passes (1/8 EWMA) */
	uint32_t joins;         /* passes that joined the running hold */
	bool probing;           /* the running hold began as a probe */
	uint32_t probe_in;      /* lone passes until the next probe hold */
	uint32_t probe_every;   /* and between probes (doubles per miss) */
	bool big_xfer;          /* this pass completed a read/write of more
				 * than NVME_HOLDOFF_MAX_XFER: no hold */
	uint64_t irqs;
	uint64_t holds;      /* interrupts the holdoff held back */
};

struct nvme_sq {
	bool live;
	uint16_t cqid;
	uint32_t size;
	uint64_t base;
	uint32_t head;
	uint32_t tail;       /* last tail the processor read */
	_Atomic uint64_t cmds, errors;
};

/* Held Async Event Requests. */
struct nvme_aer {
	uint16_t cid[NVME_AERL + 1];
	int n;
	uint32_t pending_event;  /* dw0 of an event waiting for an AER, 0 none */
	bool masked_error;       /* error events masked until log 01h read */
};

struct nvme_feat {
	uint32_t arbitration;
	uint32_t power_mgmt;
	uint16_t temp_over, temp_under;
	uint32_t err_recovery;
	bool vwc;
	uint32_t nq;             /* Number of Queues as granted (NCQA << 16 | NSQA) */
	bool nq_set;
	uint32_t irq_coalesce;
	bool irq_cd[NVME_NR_QUEUES]; /* Interrupt Vector Config: coalescing disabled */
	uint32_t write_atomic;
	uint32_t async_event;
	uint64_t timestamp;      /* ms, as set by the host */
	uint64_t timestamp_set_ms; /* CLOCK_MONOTONIC ms when set, 0 never */
};

struct nvme_smart {
	_Atomic uint64_t units_read, units_written;   /* 512-byte units */
	_Atomic uint64_t host_reads, host_writes;
	_Atomic uint64_t busy_ns;
	uint64_t power_cycles;
	uint64_t created_ns;
	_Atomic uint64_t media_errors;
	_Atomic uint64_t err_count;
};

struct nvme_ns {
	int fd;                  /* memfd or file */
	uint8_t *ram;            /* mapping of the memfd, NULL for files */
	uint64_t bytes;
	uint64_t nlb;
	uint32_t lba_shift;
	bool is_file;
	bool is_blkdev;
	bool odirect;            /* opened with O_DIRECT */
	uint32_t dio_mem_align;  /* O_DIRECT buffer alignment (bytes) */
	uint8_t nguid[16];
};

/* Register file (what BAR0 reads). */
struct nvme_regs {
	uint64_t cap;
	uint32_t vs;
	uint32_t intms;
	uint32_t cc;
	uint32_t csts;
	uint32_t aqa;
	uint64_t asq, acq;
};

struct nvme_emu {
	struct vus_dev *dev;
	char name[64];
	pthread_mutex_t log_lock;
	long log_sec;            /* warning rate limit (nvme_log) */
	unsigned log_count;
	char serial[21];
	char model[41];
	uint32_t max_queues;
	uint32_t max_qsize;
	uint32_t mdts;
	uint32_t nvec;           /* MSI-X vectors */
	bool shadow;             /* Doorbell Buffer Config offered */
	bool poll;               /* polling mode: the worker never sleeps */

	/* Registers: loop thread writes, processor reads (regs_lock). */
	pthread_mutex_t regs_lock;
	struct nvme_regs r;
	uint32_t cc_applied;     /* CC as the processor last applied it */
	bool reset_pending;      /* a function reset waits for the processor */
	bool nssr_pending;
	_Atomic uint32_t sq_db[NVME_NR_QUEUES]; /* doorbell registers */
	_Atomic uint32_t cq_db[NVME_NR_QUEUES];
	_Atomic bool work;       /* something to process */

	/* Processor state (proc_lock). */
	pthread_mutex_t proc_lock;
	struct nvme_sq sq[NVME_NR_QUEUES];
	struct nvme_cq cq[NVME_NR_QUEUES];
	bool ready;              /* CSTS.RDY as the processor sees it */
	bool fatal;
	uint32_t gen;            /* bumped by every controller reset */
	uint64_t dbbuf_sh, dbbuf_ei; /* shadow doorbell and EventIdx pages, 0 off */
	struct nvme_aer aer;
	struct nvme_feat feat;
	struct nvme_error_log errlog[NVME_ERRLOG];
	uint32_t errlog_n;
	struct nvme_sglist sgl;
	uint8_t *bounce;         /* MDTS bytes, for file backends and Compare */
	uint64_t bounce_len;
	bool on_worker;          /* the processor runs on the worker thread */
	uint64_t executed;       /* commands fetched and run (the poller's idle test) */
	_Atomic bool intx_busy;  /* INTx: some CQ held unconsumed entries */
	_Atomic bool poller_asleep; /* polling mode, idle: waits on worker_cv */
	/* Loop-thread callbacks waiting for proc_lock (nvme_mig.c): the
	 * poller and the worker step aside between passes while it is not
	 * 0, so a busy thread cannot keep the lock (nvme_proc.c). */
	_Atomic uint32_t proc_wanted;
	/* Interrupt Coalescing: when the earliest held interrupt is due
	 * (CLOCK_MONOTONIC ns), 0 none; the worker (or poller) wakes then. */
	_Atomic uint64_t coalesce_due_ns;
	/* Adaptive interrupt holdoff (nvme_holdoff.c): the longest gap
	 * between completions that one interrupt covers, 0 off. */
	uint64_t holdoff_ns;

	/* Worker thread (started when the first fd-less map arrives). */
	pthread_t worker;
	bool worker_started;
	bool worker_stop;
	_Atomic bool stopping;   /* the controller is being freed: end passes */
	_Atomic bool ctrl_change; /* CC, NSSR or a reset waits: end the pass */
	pthread_cond_t worker_cv;
	/* DMA windows without fd: all of them, and the writable ones. QEMU
	 * maps its ROMs (BIOS, option ROMs) read-only and without fd even
	 * when guest RAM is a shared memfd: those alone keep the processor
	 * inline (nvme_proc.c), since a device only reads them. */
	_Atomic uint32_t nofd_maps;
	_Atomic uint32_t nofd_rw_maps;
	/* An inline pass met a command it could not run on the loop thread
	 * (a DMA from a window without fd, -EDEADLK): the worker runs the
	 * passes until the queues are idle again (nvme_queue.c execute). */
	_Atomic bool handoff;

	struct nvme_smart smart;
	struct nvme_ns ns[NVME_EMU_MAX_NS];
	struct nvme_uring *ur;   /* file backends' io_uring, NULL: pread/pwrite */
	/* Commands in flight in the backend when the source stopped, to run
	 * again here after a migration (nvme_mig.c; proc_lock). */
	struct nvme_redo {
		uint16_t sqid;
		uint16_t pad;
		struct nvme_sqe sqe;
	} redo[NVME_REDO_MAX];
	uint32_t nredo;
	uint16_t cur_sqid;       /* SQ of the command being executed */
	uint32_t nn;             /* namespaces: NSID 1..nn */

	/* Migration (nvme_mig.c): loop thread. */
	_Atomic bool mig_stopped; /* STOP and beyond: no command is fetched */
	struct {
		uint8_t *save;
		size_t save_len, save_pos;
		uint8_t *load;
		size_t load_len;
	} mig;
};

/* nvme_emu.c */
void nvme_log(struct nvme_emu *n, enum vus_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* nvme_regs.c */
extern const struct vus_region_ops nvme_bar0_ops;
void nvme_regs_power_on(struct nvme_emu *n);

/* nvme_proc.c */
void nvme_kick(struct nvme_emu *n);
int nvme_worker_start(struct nvme_emu *n);
void nvme_worker_stop(struct nvme_emu *n);

/* nvme_ctrl.c: processor side of register changes (proc_lock held). */
void nvme_ctrl_apply(struct nvme_emu *n);
void nvme_ctrl_reset_queues(struct nvme_emu *n);
void nvme_ctrl_fatal(struct nvme_emu *n, const char *why);
void nvme_ctrl_fatal_err(struct nvme_emu *n, const char *why, int err);
void nvme_features_default(struct nvme_emu *n);

/* nvme_queue.c (proc_lock held) */
bool nvme_queues_run(struct nvme_emu *n);
void nvme_redo_run(struct nvme_emu *n);
/* Before the poller sleeps: EventIdx of every shadowed SQ set to its tail
 * (the host rings on its next submission), tails read again; true when
 * one moved (work: do not sleep). */
bool nvme_queues_arm(struct nvme_emu *n);
int nvme_cq_post(struct nvme_emu *n, uint16_t sqid, uint16_t cid, uint16_t status,
		 uint32_t dw0);
void nvme_irqs_flush(struct nvme_emu *n);
/* Raise every interrupt coalescing holds back (before a STOP). */
void nvme_irqs_release(struct nvme_emu *n);
void nvme_dbbuf_init_queue(struct nvme_emu *n, uint16_t qid);
bool nvme_on_intx(struct nvme_emu *n);
bool nvme_cq_refresh(struct nvme_emu *n, uint16_t qid);
uint32_t nvme_cq_free(const struct nvme_cq *cq);

/* nvme_holdoff.c (proc_lock held): whether to hold I/O CQ qid's
 * interrupt after this pass (*now: 0 or the time, read once per pass;
 * *due: the earliest deadline so far, updated); and the bookkeeping when
 * its interrupt is raised (false: drop it, the host consumed every
 * entry while it was held). */
/* Reads and writes larger than this end a hold (nvme_holdoff.c). */
#define NVME_HOLDOFF_MAX_XFER (16u << 10)
bool nvme_holdoff_hold(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq, uint64_t *now,
		       uint64_t *due);
bool nvme_holdoff_raised(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq);

/* Command result: status (SCT|SC|DNR) and DW0. NVME_DEFER: no completion
 * now (held AER). */
#define NVME_DEFER 0xffffu
struct nvme_res {
	uint16_t status;
	uint32_t dw0;
};

/* nvme_admin.c */
struct nvme_res nvme_admin_exec(struct nvme_emu *n, const struct nvme_sqe *c);
void nvme_aer_event(struct nvme_emu *n, uint32_t dw0);
void nvme_aer_flush(struct nvme_emu *n);

/* nvme_identify.c */
struct nvme_res nvme_identify(struct nvme_emu *n, const struct nvme_sqe *c);

/* nvme_features.c */
struct nvme_res nvme_get_features(struct nvme_emu *n, const struct nvme_sqe *c);
struct nvme_res nvme_set_features(struct nvme_emu *n, const struct nvme_sqe *c);

/* nvme_log.c */
struct nvme_res nvme_get_log(struct nvme_emu *n, const struct nvme_sqe *c);
void nvme_errlog_add(struct nvme_emu *n, uint16_t sqid, const struct nvme_sqe *c,
		     uint16_t status);

/* nvme_io.c */
struct nvme_res nvme_io_exec(struct nvme_emu *n, const struct nvme_sqe *c);
/* A hint before c runs (the next command of a fetched batch): a Read's RAM
 * namespace data starts loading into the cache. */
void nvme_io_prefetch(struct nvme_emu *n, const struct nvme_sqe *c);

/* nvme_dptr.c: build n->sgl for len bytes from the command's data
 * pointer (PRP or SGL). 0 or an NVMe status. */
uint16_t nvme_dptr_map(struct nvme_emu *n, const struct nvme_sqe *c, uint64_t len,
		       bool admin);
/* Copy between buf and the segments (dir_to_guest: buf -> guest). */
uint16_t nvme_dptr_copy(struct nvme_emu *n, void *buf, uint64_t len, bool to_guest);
/* The walkers alone, for the fuzzer: read_list fetches list memory. */
typedef int (*nvme_mem_read_fn)(void *opaque, uint64_t iova, void *buf, size_t len);
uint16_t nvme_prp_walk(const struct nvme_sqe *c, uint64_t len, nvme_mem_read_fn rd, void *opaque,
		       struct nvme_sglist *out);
uint16_t nvme_sgl_walk(const struct nvme_sqe *c, uint64_t len, nvme_mem_read_fn rd, void *opaque,
		       struct nvme_sglist *out);

/* nvme_mig.c */
int nvme_mig_setup(struct nvme_emu *n);
void nvme_mig_clear(struct nvme_emu *n);
/* Has migration stopped the device's DMA (the library refuses or cancels
 * every transfer, docs/migration.md "Stopped means stopped")? A command
 * caught by it is not done: it goes back into its SQ (nvme_queue.c) and
 * runs again on RUNNING, here or on the destination. */
bool nvme_mig_dma_stopped(struct nvme_emu *n);

/* nvme_uring.c (proc_lock held unless said otherwise). Submit: NVME_DEFER
 * (in flight, completed by a later pass), an NVMe status, or
 * NVME_URING_SYNC: run the command synchronously instead. */
#define NVME_URING_SYNC 0xfffeu
enum nvme_drain {
	NVME_DRAIN_POST,  /* wait, then post the completions */
	NVME_DRAIN_WAIT,  /* wait; completions posted by a later pass */
	NVME_DRAIN_DROP,  /* wait, post nothing (the queues are going) */
	NVME_DRAIN_STOP,  /* migration STOP: wait and post, though mig_stopped
			   * is set (the library still allows DMA then) */
};
int nvme_uring_init(struct nvme_emu *n, bool want);
int nvme_uring_watch(struct nvme_emu *n);
void nvme_uring_free(struct nvme_emu *n);
bool nvme_uring_active(const struct nvme_emu *n);
uint32_t nvme_uring_room(const struct nvme_emu *n);
bool nvme_uring_zc_busy(const struct nvme_emu *n);
uint16_t nvme_uring_submit(struct nvme_emu *n, struct nvme_ns *ns, const struct nvme_sqe *c,
			   uint64_t off, uint64_t len, bool fua);
void nvme_uring_complete(struct nvme_emu *n);
bool nvme_uring_flush(struct nvme_emu *n);
bool nvme_uring_idle(struct nvme_emu *n);
void nvme_uring_drain(struct nvme_emu *n, enum nvme_drain how);
/* The SQ and SQE of every command in flight in the backend (held ones
 * included), at most max; for the migration record. */
uint32_t nvme_uring_inflight_cmds(const struct nvme_emu *n, struct nvme_redo *out, uint32_t max);

/* nvme_ns.c */
/* The namespace of an NSID, NULL for 0, FFFFFFFFh and inactive ids. */
struct nvme_ns *nvme_ns_get(struct nvme_emu *n, uint32_t nsid);
int nvme_ns_flush_all(struct nvme_emu *n);
int nvme_ns_open(struct nvme_ns *ns, const struct nvme_emu_opts *o, const char *name);
void nvme_ns_close(struct nvme_ns *ns);
int nvme_ns_read(struct nvme_ns *ns, uint64_t off, void *buf, uint64_t len);
int nvme_ns_write(struct nvme_ns *ns, uint64_t off, const void *buf, uint64_t len);
int nvme_ns_zero(struct nvme_ns *ns, uint64_t off, uint64_t len);
int nvme_ns_flush(struct nvme_ns *ns);

static inline uint64_t nvme_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint16_t nvme_sc(uint16_t sc, bool dnr)
{
	return sc | (dnr ? NVME_DNR : 0);
}

#endif /* VUS_NVME_PRIV_H */
