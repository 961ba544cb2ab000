/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside struct vus_dev (library-internal). Shared by the device model
 * and the layers above it (dispatch/, serve/); each module owns the
 * fields and functions listed under it. docs/architecture.md gives the
 * layers and who may call whom.
 *
 *   model/device.c     settings: name, log, PCI id, reset, limits, stats
 *   model/access.c     region access: bounds, then config/MSI-X/device
 *   model/introspect.c descriptions and access for local tools
 *   model/region/      the region table and the device's part of access
 *   model/pci/         config space (region 7), capabilities, the MSI-X
 *                      table/PBA in a BAR                     (pci_priv.h)
 *   model/irq/         IRQ setup, SET_IRQS, trigger, routing  (pci_priv.h)
 *   model/dma/         DMA_MAP/UNMAP handlers, the map table (dma_map.h),
 *                      dirty bitmaps (dma_dirty.h), server->client DMA
 *   model/migration/   DEVICE_FEATURE, MIG_DATA_*, state machine
 *   dispatch/          per-command handler table, trace, counters;
 *                      handlers.c: the non-DMA, non-migration commands
 *   serve/             the loop, listening, limits, new/free
 *   session/ (below)   the client's sockets, replies, session end
 */
#ifndef VUS_DEV_PRIV_H
#define VUS_DEV_PRIV_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vus/device.h>

#include "dma_map.h"
#include "log.h"
#include "ratelimit.h"
#include "pci_priv.h"
#include "session.h"
#include "stats.h"
#include "transport.h"

/* ---- region/region.c, access.c -------------------------------------- */

struct vus_region {
	uint64_t size;            /* 0 = not implemented */
	uint32_t flags;           /* VUS_REGION_* */
	struct vus_region_ops ops;
	void *opaque;
	uint8_t *mem;             /* backing memory (the device's) or NULL */
	int fd;                   /* backing fd (library's dup) or -1 */
	uint64_t fd_offset;
	bool mmap;
	struct vus_sparse_area *areas;
	uint32_t nr_areas;
	bool has_type;
	uint32_t type, subtype;
	bool msix_mappable;      /* MSIX_MAPPABLE cap (passthrough.h) */
};

/* region.c: the table (vus_dev_new/free), and vus_dev_setup_region()
 * without the "not listening yet" check, for the MSI-X capability. */
int vus_regions_init(struct vus_dev *dev);
void vus_regions_free(struct vus_dev *dev);
int vus_region_add(struct vus_dev *dev, uint32_t index, uint64_t size, uint32_t flags,
		   const struct vus_region_ops *ops, void *opaque);

/* access.c: access region index at [offset, offset+count): bounds are checked here,
 * then ops or pread/pwrite on the fd; config space goes to config.c, the
 * MSI-X table and PBA to config_msix.c. */
int vus_region_access(struct vus_dev *dev, uint32_t index, uint64_t offset, void *buf,
		      uint32_t count, bool is_write);
/*
 * The same checks as vus_region_access(); then, when the access would go
 * to memory the device backs the region with (no callback, not config
 * space, not the MSI-X BAR), *p points at its first byte, else *p is NULL
 * and the access takes the copying path. 0 or the -errno that
 * vus_region_access() would return. For zero-copy REGION_READ/WRITE.
 */
int vus_region_access_direct(struct vus_dev *dev, uint32_t index, uint64_t offset,
			     uint32_t count, bool is_write, void **p);
/* region.c: the device's part of the above, past the checks. */
void *vus_region_dev_mem(struct vus_dev *dev, uint32_t index, uint64_t offset, bool is_write);
/* The device's part of a region: its ops, else its memory, else its fd
 * (the caller checked the bounds). */
int vus_region_dev_access(struct vus_dev *dev, uint32_t index, uint64_t offset, void *buf,
			  uint32_t count, bool is_write);

/* ---- config.c ------------------------------------------------------- */

struct vus_config {
	size_t size;              /* 256 or 4096 */
	uint8_t *bytes;           /* current values */
	uint8_t *wmask;           /* per byte: the bits a config write may change
				   * (BAR sizing falls out of the BAR masks) */
	struct vus_pci pci;       /* capabilities, RW1C, interrupt routing */
};
/* Build the header from the PCI id and regions (at listen time). */
int vus_config_init(struct vus_dev *dev);
int vus_config_access(struct vus_dev *dev, uint64_t offset, void *buf, uint32_t count,
		      bool is_write);
/* DEVICE_RESET / FLR: config space back to power-on values (PCIe link
 * settings kept), INTx line and pending interrupts dropped. No callback. */
void vus_config_reset(struct vus_dev *dev);
void vus_config_free(struct vus_dev *dev);
/* model/config_passthrough.c: region 7 through the device's ops (dev->cfg_pt). */
int vus_config_pt_access(struct vus_dev *dev, uint64_t offset, void *buf, uint32_t count,
			 bool is_write);

/* ---- irq.c ---------------------------------------------------------- */

struct vus_irq_vec {
	int efd;                  /* client's eventfd or -1 */
	bool masked;
	bool pending;
};
struct vus_irq_index {
	uint32_t count;
	struct vus_irq_vec *vec;
	vus_irq_passthrough_fn pt;
	void *pt_opaque;
	int resample_fd;          /* INTx only: UNMASK eventfd (in dev->epfd) or -1 */
	uint32_t info_flags;      /* GET_IRQ_INFO flags set by the device, if info_flags_set */
	bool info_flags_set;
};
/* irq_setup.c: vus_dev_setup_irq() without the "not listening yet"
 * check, for the MSI and MSI-X capabilities. */
int vus_irq_setup_index(struct vus_dev *dev, uint32_t index, uint32_t count);
/* SET_IRQS after the codec's checks: index/range against the device.
 * fds it keeps are set to -1 in fds[]; the caller closes the rest. */
int vus_irq_set(struct vus_dev *dev, const struct vus_irq_set *set, int *fds, unsigned nfds,
		const uint8_t *bools);
/* GET_IRQ_INFO flags for an index. */
uint32_t vus_irq_info_flags(const struct vus_dev *dev, uint32_t index);
/* The INTx resample fd polled readable (serve.c): consume it, unmask. */
void vus_irq_resample(struct vus_dev *dev);
/* Close every eventfd (client gone), clear masks and pending. */
void vus_irq_session_end(struct vus_dev *dev);
/* Migration: hold (true) every interrupt as pending while the device is
 * stopped; release (false) delivers what is owed. */
void vus_irq_hold(struct vus_dev *dev, bool hold);
/* irq_state.c: pending bits and INTx sources for the migration stream
 * (docs/migration.md "Interrupts in the stream"). check: 0, or -EINVAL
 * with why filled; load replaces this device's state with the checked one. */
size_t vus_irq_state_size(const struct vus_dev *dev);
void vus_irq_state_save(struct vus_dev *dev, uint8_t *out);
int vus_irq_state_check(const struct vus_dev *dev, const uint8_t *p, size_t len, char *why,
			size_t why_len);
void vus_irq_state_load(struct vus_dev *dev, const uint8_t *p);
void vus_irq_free(struct vus_dev *dev);

/* ---- dma.c / dma_map.c ---------------------------------------------- */

struct vus_dma_req;               /* one queued or in-flight DMA transfer */

/* What the DMA engine needs from the loop that runs it, given by serve/
 * at vus_dma_init(): the engine never calls up into the loop itself. */
struct vus_dma_loop {
	/* Any thread: have the loop thread call vus_dma_kick() soon. */
	void (*wake)(void *opaque);
	/* Loop thread: call vus_dma_on_timer() at CLOCK_MONOTONIC time
	 * deadline_ns (0 disarms). 0, or -errno if no timer could be made
	 * (the engine tries again at its next request). */
	int (*timer_arm)(void *opaque, uint64_t deadline_ns);
	void *opaque;
};

/* dma_pin.c: WRITE pointers handed out by vus_dma_translate(), re-marked
 * dirty at every DMA_LOGGING_REPORT until their window is unmapped. */
struct vus_dma_pin {
	uint64_t iova, len;
};
struct vus_dma_pins {
	pthread_mutex_t lock;
	struct vus_dma_pin *r;
	uint32_t n, cap;
	bool overflow;                /* too many: reports mark whole ranges */
};

struct vus_dma {
	struct vus_dma_table table;   /* dma_map.h; rwlock inside */
	struct vus_dma_ops ops;
	void *ops_opaque;
	enum vus_dma_layout layout;   /* configured */
	/* server->client message engine (loop thread unless noted) */
	pthread_mutex_t qlock;        /* guards queue (any thread) */
	struct vus_dma_req *queue_head, *queue_tail; /* submitted, not yet sent */
	struct vus_dma_req *inflight; /* sent, awaiting replies */
	uint16_t next_id;
	unsigned pending;             /* transfers needing messages, not finished (qlock) */
	bool timer_armed;             /* the loop timer holds a reply deadline */
	struct vus_dma_loop loop;
	struct vus_ratelimit stray;   /* replies to no request of ours (loop thread) */
	struct vus_ratelimit fd_log;  /* DMA_MAP fds refused for the fd reserve */
	int faulted;                  /* atomic: a copy met SIGBUS (dma_guard.h) */
	int stopped;                  /* atomic: migration stopped the device: new
				       * DMA is refused with EBUSY (vus_dma_quiesce) */
	struct vus_dma_pins pins;
};
int vus_dma_init(struct vus_dev *dev, const struct vus_dma_loop *loop);
void vus_dma_free(struct vus_dev *dev);
/* Loop thread, on wake-up: send what other threads queued. */
void vus_dma_kick(struct vus_dev *dev);
/* A Reply-type message arrived (main or twin socket). Consumes m. */
void vus_dma_on_reply(struct vus_dev *dev, struct vus_rx_msg *m);
/* The sockets' sink (transport.h vus_conn_sink) for replies: the data of
 * the exact answer to one of our DMA_READs goes straight into the
 * device's buffer (docs/performance.md "Zero-copy bulk transfers"). */
int vus_dma_reply_sink(struct vus_dev *dev, const struct vus_hdr *h, const uint8_t *head,
		       struct vus_sink_dst *d);
/* The loop timer fired: end a session whose client left a request
 * unanswered past the reply timeout (dma_rw.c). Loop thread. */
void vus_dma_on_timer(struct vus_dev *dev);
/* Client gone (session end): fail every transfer with -ENOTCONN, unmap
 * everything. Migration's part is vus_mig_session_end(). */
void vus_dma_session_end(struct vus_dev *dev);
/* Live update: a window the previous owner of the client had; on
 * success its fd (or -1) was taken (a copy kept, w->fd closed) and the
 * device's map callback heard it; on failure w->fd stays the caller's. */
int vus_dma_adopt_window(struct vus_dev *dev, const struct vus_dma_region *w);
/* Migration, loop thread (dma_rw.c): on entering a stopped state, refuse
 * new DMA (EBUSY), wait for copies in progress, complete transfers already
 * copied and settle those waiting on the client (a DMA_WRITE sent whole:
 * done(0) now; the rest: -ECANCELED, done() now); unquiesce on leaving it. docs/migration.md "Stopped means stopped". */
void vus_dma_quiesce(struct vus_dev *dev);
void vus_dma_unquiesce(struct vus_dev *dev);
/* dma_pin.c (struct vus_dma_pins above). remark marks every pin, or all of
 * [iova, iova + len) once the list overflowed. */
int vus_dma_pins_init(struct vus_dev *dev);
void vus_dma_pins_free(struct vus_dev *dev);
void vus_dma_pin_add(struct vus_dev *dev, uint64_t iova, uint64_t len);
void vus_dma_pin_drop(struct vus_dev *dev, uint64_t iova, uint64_t size);
void vus_dma_pin_remark(struct vus_dev *dev, uint64_t iova, uint64_t len);

/* ---- migration.c ---------------------------------------------------- */

struct vus_mig {
	bool enabled;
	struct vus_migration_ops ops;
	void *opaque;
	enum vus_mig_state state;
	bool logging;
	uint64_t log_pgsize;
	bool quiesced;                /* DMA and interrupts held (stopped state) */
	struct vus_mig_stream *stream; /* VUS_MIGRATION_FRAMED: mig_stream.c */
};
/* vus_dev_free(): drop a stream being saved or loaded. */
void vus_mig_free(struct vus_dev *dev);
/* DEVICE_RESET, FLR, vus_dev_reset(): back to RUNNING (spec: reset
 * recovers ERROR) through the device's transition callback, stop logging. */
void vus_mig_reset(struct vus_dev *dev);
/* Client gone (session end, after vus_dma_session_end()): stop dirty
 * logging; the migration state stays for the next client. */
void vus_mig_session_end(struct vus_dev *dev);

/* The state machine walked from inside (migration.c), as a client's SET
 * would: each arc through the device's callback and the library's
 * quiescing; a failed arc leaves ERROR. -EINVAL: no path. */
int vus_mig_walk_local(struct vus_dev *dev, enum vus_mig_state to);
/* mig_local.c: the device's state through its migration callbacks without
 * a client, for live update (docs/live-update.md). save: RUNNING ->
 * STOP_COPY, the whole stream into *buf (malloc'ed), the device stays
 * stopped; load: RUNNING -> RESUMING, the stream, -> STOP; run: -> RUNNING
 * (also after a failed save or load, through a reset if the walk fails). */
int vus_mig_local_save(struct vus_dev *dev, uint8_t **buf, size_t *len);
int vus_mig_local_load(struct vus_dev *dev, const uint8_t *buf, size_t len);
int vus_mig_local_run(struct vus_dev *dev);

/* ---- live_state.c: live update (docs/live-update.md) ---------------- */

struct vus_blob;
struct vus_blob_rd;
/* Region layout, config space, MSI-X table, INTx line. load checks the
 * layout against this device (-EINVAL, logged) and applies the rest only
 * if apply (a dry run checks). */
int vus_live_save_config(struct vus_dev *dev, struct vus_blob *b);
int vus_live_load_config(struct vus_dev *dev, struct vus_blob_rd *r, bool apply);
/* IRQ eventfds, masks, pending bits; DMA windows with their fds; the next
 * request id. -EOPNOTSUPP for what cannot be handed on (passed-through
 * IRQs, windows whose fd was closed). */
int vus_live_save_fds(struct vus_dev *dev, struct vus_blob *b);
/* Take over what save_fds named: every fd named is this device's or
 * closed afterwards, whatever is returned. */
int vus_live_adopt_fds(struct vus_dev *dev, struct vus_blob_rd *r);
/* Those fds kept across execve (on false) or not (on true). */
void vus_live_fds_cloexec(struct vus_dev *dev, bool on);
/* Drop those fds without closing them: another owner has them. */
void vus_live_forget_fds(struct vus_dev *dev);

/* ---- serve/ -------------------------------------------------------- */

/* device.h "limits"; defaults set by vus_serve_init(). */
struct vus_limits {
	unsigned max_fds;             /* fds accepted per message */
	uint64_t out_queue;           /* bytes queued for a client that does not read */
	uint32_t dma_pending;         /* server->client transfers not finished */
	uint32_t dma_timeout_ms;      /* reply deadline; 0 = none */
};
static inline bool vus_on_loop_thread(const struct vus_dev *dev);

/* ---- command handlers in the model (dispatch/dispatch.h calls them) -- */

/* Handlers: fill r (session.h) and return 0, or return -errno for an
 * error reply. fds in m they keep must be set to -1 in m->fds. */
typedef int (*vus_handler_fn)(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r);
/* dma.c */
int vus_h_dma_map(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_dma_unmap(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
/* migration.c */
int vus_h_device_feature(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_mig_data_read(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_mig_data_write(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
/* The sink (transport.h vus_conn_sink) for MIG_DATA_WRITE in a framed
 * stream: the data straight into the stream's buffer (migration.c). */
int vus_mig_data_sink(struct vus_dev *dev, const struct vus_hdr *h, const uint8_t *head,
		      struct vus_sink_dst *d);
/* migration/feature_passthrough.c: the same three when dev->feat_pt is set. */
int vus_feat_pt_feature(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_feat_pt_mig_read(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_feat_pt_mig_write(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);

/* ---- the device ----------------------------------------------------- */

struct vus_dev {
	char *name;
	void *priv;
	struct vus_log log;

	struct vus_pci_id id;
	uint8_t intx_pin;
	struct vus_config cfg;
	/* config_passthrough.c: config space forwarded to the device */
	const struct vus_region_ops *cfg_pt;
	void *cfg_pt_opaque;
	/* migration/feature_passthrough.c: DEVICE_FEATURE, MIG_DATA_* forwarded */
	const struct vus_feature_passthrough_ops *feat_pt;
	void *feat_pt_opaque;
	struct vus_region *regions;   /* nr_regions entries, >= 9 */
	uint32_t nr_regions;
	struct vus_irq_index irqs[VUS_PCI_NUM_IRQS];
	pthread_mutex_t irq_lock;     /* guards irqs[].vec state (trigger: any thread) */
	bool irqs_held;               /* stopped by migration (irq_lock) */

	struct vus_dma dma;
	struct vus_mig mig;
	vus_reset_fn reset_cb;
	void *reset_opaque;
	/* Set by vus_dev_set_migration(): how a function reset (model/pci,
	 * below migration) takes the migration state back to RUNNING. */
	void (*mig_reset)(struct vus_dev *dev);
	uint32_t max_xfer;            /* our max_data_xfer_size */

	/* serve/ */
	int listen_fd;                /* -1 if none */
	char *listen_path;            /* set if we created the socket file */
	int epfd;
	int wake_fd;                  /* eventfd */
	int timer_fd;                 /* timerfd: DMA reply deadlines; -1 until the first */
	struct vus_limits limits;
	struct vus_ratelimit accept_log; /* accept() out of fds (loop thread) */
	bool spare_held;              /* counted in fd_reserve.h's spare (listening) */
	volatile int stop;
	pthread_t loop_thread;
	bool loop_thread_known;
	unsigned shortcuts;           /* serve.c vus_dev_process(): reads left before an epoll_wait */
	struct vus_session sess;
	bool live_out;                /* serve/live.c: exported, serving nothing */

	struct vus_counters stats;
	struct vus_fault *fault;      /* dispatch/fault.c; NULL until used */
	/* serve.c: the device's own fds on the loop (vus_dev_watch_fd). */
	struct vus_watch {
		int fd;               /* -1: free slot */
		vus_fd_ready_fn cb;
		void *opaque;
	} watches[VUS_DEV_MAX_WATCHES];
};

/* Listening built config space: the layout the client sees is fixed. */
static inline bool vus_dev_started(const struct vus_dev *dev)
{
	return dev->cfg.bytes != NULL;
}

static inline bool vus_on_loop_thread(const struct vus_dev *dev)
{
	return dev->loop_thread_known && pthread_equal(dev->loop_thread, pthread_self());
}

#endif /* VUS_DEV_PRIV_H */
