/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vus device model: a PCI device served over one vfio-user socket.
 *
 * Life cycle
 *   dev = vus_dev_new("name");
 *   vus_dev_set_pci_id(), vus_dev_setup_region(), vus_dev_setup_irq(), ...
 *   vus_dev_listen(dev, "/run/x.sock") or vus_dev_listen_fd(dev, fd);
 *   vus_dev_run(dev)  -- or poll vus_dev_poll_fd() in your own loop and
 *                        call vus_dev_process() when it is readable;
 *   vus_dev_free(dev);
 *
 * Threads
 *   Setup calls (set_*, setup_*) are made before vus_dev_listen*() from
 *   one thread. The "loop thread" is whichever thread calls
 *   vus_dev_process()/vus_dev_run(); every device callback runs there, one
 *   at a time, in the order the client's commands arrived.
 *   vus_irq_trigger(), vus_dma_read()/write() (see their notes),
 *   vus_dma_*_async() and vus_dev_stop() may be called from any thread.
 *
 * Errors
 *   Every int-returning call returns 0 (or a count) on success and a
 *   negative errno on failure. Callbacks follow the same convention; the
 *   errno a callback returns is the one the client receives.
 *
 * Client sessions (spec "Socket Disconnection Behavior")
 *   One client at a time; a second connection is refused (closed) while
 *   one is attached. When the client goes away the library unmaps every
 *   DMA region (calling the dma unmap callback for each), closes every
 *   IRQ eventfd, calls the reset callback with VUS_RESET_LOST_CONN, and
 *   waits for the next client. Device state is the device's: keep it.
 */
#ifndef VUS_DEVICE_H
#define VUS_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <vus/api.h>
#include <vus/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vus_dev;

/* ---- creation ------------------------------------------------------- */

/* name is copied; used in logs. NULL with errno set: ENOMEM, or EMFILE/ENFILE
 * when the process is out of fds (an idle device holds 3). */
VUS_API struct vus_dev *vus_dev_new(const char *name);
/* Stops serving, closes the client, sockets and every fd the library holds.
 * Unlinks the socket path if vus_dev_listen() created it. */
VUS_API void vus_dev_free(struct vus_dev *dev);
VUS_API const char *vus_dev_name(const struct vus_dev *dev);
VUS_API void vus_dev_set_private(struct vus_dev *dev, void *priv);
VUS_API void *vus_dev_private(const struct vus_dev *dev);

/* ---- logging -------------------------------------------------------- */

enum vus_log_level {
	VUS_LOG_ERR = 3,
	VUS_LOG_WARN = 4,
	VUS_LOG_INFO = 6,
	VUS_LOG_DEBUG = 7,
	VUS_LOG_TRACE = 8, /* one decoded line per message in both directions */
};
typedef void (*vus_log_fn)(void *opaque, enum vus_log_level level, const char *msg);
/* Default: stderr, level WARN. The level is checked before any formatting,
 * so an untraced device pays one compare per message. */
VUS_API void vus_dev_set_log(struct vus_dev *dev, vus_log_fn fn, void *opaque,
		enum vus_log_level level);
/* Change the level while serving: any thread (vusd's "log-level"). */
VUS_API void vus_dev_set_log_level(struct vus_dev *dev, enum vus_log_level level);

/* ---- PCI identity and config space ---------------------------------- */

struct vus_pci_id {
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys;
	uint32_t class_code; /* 24 bits: base class, sub class, prog-if */
	uint8_t revision;
};
VUS_API int vus_dev_set_pci_id(struct vus_dev *dev, const struct vus_pci_id *id);

/* Config space size: 256 (conventional, the default) or 4096 (PCIe). */
VUS_API int vus_dev_set_config_size(struct vus_dev *dev, size_t size);
/* INTx pin: 0 none (default), 1..4 = INTA..INTD. A pin brings its one
 * INTx vector (QEMU enables INTx whenever the pin is set). */
VUS_API int vus_dev_set_intx_pin(struct vus_dev *dev, uint8_t pin);

/* ---- regions -------------------------------------------------------- */

/* Access flags */
#define VUS_REGION_READ        (1u << 0)
#define VUS_REGION_WRITE       (1u << 1)
#define VUS_REGION_RW          (VUS_REGION_READ | VUS_REGION_WRITE)
/* BAR kind (regions 0-5); a 64-bit BAR makes the next index its upper half */
#define VUS_REGION_BAR_IO       (1u << 8)
#define VUS_REGION_BAR_MEM64    (1u << 9)
#define VUS_REGION_BAR_PREFETCH (1u << 10)

/*
 * Region access callbacks. offset + count lie inside the region (checked
 * by the library). Must handle every byte; return 0 or -errno.
 */
struct vus_region_ops {
	int (*read)(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf, uint32_t count);
	int (*write)(struct vus_dev *dev, void *opaque, uint64_t offset, const void *buf,
		     uint32_t count);
};

/*
 * Define region index (0-5 BARs, 6 ROM, 8 VGA, >= 9 device-specific;
 * 7 is the library's config space and is refused with -EINVAL).
 * BAR and ROM sizes must be powers of two (-EINVAL). ops may be NULL if
 * the region is backed by memory (vus_dev_region_set_mem) or an fd
 * (vus_dev_region_set_fd), in which case accesses go to that memory, or
 * are pread/pwrite on that fd.
 */
VUS_API int vus_dev_setup_region(struct vus_dev *dev, uint32_t index, uint64_t size, uint32_t flags,
			 const struct vus_region_ops *ops, void *opaque);

/*
 * Back a region by fd at fd_offset: region byte x is fd byte fd_offset + x.
 * The library dup()s fd (the caller keeps its own). mmap: advertise the
 * region as mmap-able (GET_REGION_INFO passes the fd to the client); areas
 * (nr_areas > 0) restrict the mmap-able parts, the rest is trapped and
 * goes through ops (or pread/pwrite). Offsets and sizes of areas must be
 * page aligned and inside the region.
 */
VUS_API int vus_dev_region_set_fd(struct vus_dev *dev, uint32_t index, int fd, uint64_t fd_offset,
			  bool mmap, const struct vus_sparse_area *areas, uint32_t nr_areas);

/*
 * Back a region by memory: region byte x is mem[x] (mem holds the region's
 * whole size and outlives the device). REGION_READ replies are sent
 * straight from it and large REGION_WRITE payloads received straight into
 * it, with no copy in between (docs/performance.md "Zero-copy bulk
 * transfers"); a write whose client vanishes mid-payload leaves the bytes
 * that arrived written, as an interrupted write to a mapped BAR would.
 * A direction with a callback in ops still goes through the callback;
 * the device must not free or move mem while it serves.
 */
VUS_API int vus_dev_region_set_mem(struct vus_dev *dev, uint32_t index, void *mem);

/* Mark a device-specific region (index >= 9) with a TYPE capability. */
VUS_API int vus_dev_region_set_type(struct vus_dev *dev, uint32_t index, uint32_t type,
			    uint32_t subtype);

/* ---- interrupts ----------------------------------------------------- */

/*
 * Number of vectors for an IRQ index: INTx 0/1 (1 also sets pin INTA unless
 * vus_dev_set_intx_pin() chose one; 0 clears the pin), MSI 0..32,
 * MSI-X 0..2048, ERR and REQ 0/1. Left at 0, ERR becomes 1 on a device
 * with a PCI Express capability and REQ 1 on every device when it starts
 * listening, as kernel vfio-pci reports them (lib/irq_notify.c).
 */
VUS_API int vus_dev_setup_irq(struct vus_dev *dev, uint32_t index, uint32_t count);

/*
 * Raise vector of index: signals the client's eventfd. A masked vector is
 * remembered as pending and delivered on unmask. Returns 0 when signalled
 * or made pending, -ENOENT if the client assigned no eventfd, -EINVAL for
 * a bad index/vector. Any thread.
 */
VUS_API int vus_irq_trigger(struct vus_dev *dev, uint32_t index, uint32_t vector);

/*
 * Take the client's eventfds for an index instead of having the library
 * signal them (for a kernel-VFIO bridge: hand them to the kernel).
 * cb runs on the loop thread for every SET_IRQS on the index; fds[i] is
 * the fd for vector start + i or -1 (de-assign); the callback dup()s what
 * it keeps. Its return value is the SET_IRQS result.
 */
typedef int (*vus_irq_passthrough_fn)(struct vus_dev *dev, void *opaque,
				      const struct vus_irq_set *set, const int *fds,
				      const uint8_t *bools);
VUS_API int vus_dev_set_irq_passthrough(struct vus_dev *dev, uint32_t index,
		vus_irq_passthrough_fn cb,
				void *opaque);

/* ---- PCI capabilities ---- */

/*
 * The capability lists of config space, built by the library when the
 * device starts listening. All of these are setup calls (-EBUSY once
 * listening).
 *
 * offset: VUS_CAP_OFFSET_AUTO places the capability in the lowest free
 * dword-aligned gap (standard: 0x40..0xff; extended: 0x100..0xfff), or
 * give a dword-aligned fixed offset, which must not overlap another
 * capability (-EBUSY) and must lie in that range (-EINVAL). Each returns
 * the offset used (> 0) or -errno.
 *
 * The library links each list in ascending offset order (0x34 points at
 * the lowest standard one; extended ones start at 0x100, behind an ID-0
 * header if none was placed there), sets the Status register's
 * Capabilities List bit, and keeps every capability's registers: a read-
 * only field ignores writes. Extended capabilities and PCI Express need a
 * 4096-byte config space: call vus_dev_set_config_size(dev, 4096) first
 * (-EINVAL). PM, MSI, MSI-X, PCI Express, AER and the Device Serial Number
 * exist at most once (-EEXIST).
 *
 * QEMU emulates the MSI and MSI-X capabilities and the capability
 * pointers itself but forwards every config write here first
 * (docs/protocol.md 8.1 "QEMU's config space"), so the library's copy stays the truth that
 * interrupt routing (vus_irq_raise()) and other clients rely on.
 */
#define VUS_CAP_OFFSET_AUTO 0

/*
 * Power Management (PCI PM 1.2, version 3): D0 and D3hot (writes of D1/D2
 * are ignored, as the spec requires for unsupported states), no PME.
 * Without VUS_PM_NO_SOFT_RESET a D3hot -> D0 transition resets the
 * function: config space back to power-on values and the reset callback
 * with VUS_RESET_FLR.
 */
#define VUS_PM_NO_SOFT_RESET (1u << 0)
VUS_API int vus_dev_add_cap_pm(struct vus_dev *dev, uint16_t offset, uint32_t flags);

/*
 * MSI with nvec messages (1, 2, 4, 8, 16 or 32; sets the MSI index's
 * vector count as vus_dev_setup_irq() would). Flags: 64-bit message
 * address, per-vector masking (Mask and Pending bits registers).
 */
#define VUS_MSI_64BIT           (1u << 0)
#define VUS_MSI_PER_VECTOR_MASK (1u << 1)
VUS_API int vus_dev_add_cap_msi(struct vus_dev *dev, uint16_t offset, uint32_t nvec,
		uint32_t flags);

/*
 * MSI-X with nvec vectors (1..2048; sets the MSI-X index's vector count).
 * The table (16 bytes per vector) and the PBA (one bit per vector, in
 * qwords) live in memory BARs at 8-byte aligned offsets; the library
 * serves those bytes itself (the device's region callbacks never see
 * them) and hands the rest of the BAR to the device. A BAR the device did
 * not set up is created: 32-bit memory, the smallest power of two >= 4 KiB
 * holding them, reading 0 elsewhere. They must not overlap each other nor
 * lie in an mmap-able page of the BAR (checked at listen time, -EINVAL).
 * Table entries reset masked (PCI 3.0 6.8.2.9). QEMU emulates the table
 * itself and never forwards table accesses (docs/protocol.md 3.9.1), masking
 * vectors by re-wiring their eventfds instead: so the entries' Mask bits
 * gate vus_irq_raise() only once the client has written the table in the
 * current session; the Enable and Function Mask bits always do. The PBA
 * shows every pending vector (QEMU forwards the guest's PBA reads).
 */
struct vus_msix_layout {
	uint8_t table_bar;       /* 0-5 */
	uint32_t table_offset;   /* 8-byte aligned */
	uint8_t pba_bar;         /* 0-5 */
	uint32_t pba_offset;     /* 8-byte aligned */
};
VUS_API int vus_dev_add_cap_msix(struct vus_dev *dev, uint16_t offset, uint32_t nvec,
			 const struct vus_msix_layout *layout);

/*
 * PCI Express capability (version 2) of an endpoint. QEMU accepts only the
 * endpoint types (docs/protocol.md 3.9.1). Link registers are consistent: the
 * link trained at its maximum (Link Status = Link Capabilities, Supported
 * Link Speeds covers the maximum speed); an RC-integrated endpoint has no
 * link. With flr, Device Capabilities advertises FLR and writing Initiate
 * FLR resets the function: config space to power-on values (Max Payload
 * Size and ASPM Control kept, PCIe 6.6.2), the INTx line lowered, pending
 * interrupts dropped, then the reset callback with VUS_RESET_FLR.
 */
enum vus_pcie_type {
	VUS_PCIE_ENDPOINT = 0x0,
	VUS_PCIE_LEGACY_ENDPOINT = 0x1,
	VUS_PCIE_RC_ENDPOINT = 0x9,
};
struct vus_pcie_cfg {
	enum vus_pcie_type type;
	uint8_t max_payload;     /* Max_Payload_Size Supported: 0 = 128 B .. 5 = 4096 B */
	uint8_t link_speed;      /* 1 = 2.5 GT/s, 2 = 5, 3 = 8, 4 = 16, 5 = 32, 6 = 64 */
	uint8_t link_width;      /* lanes: 1, 2, 4, 8, 12, 16 or 32 */
	bool flr;
};
VUS_API int vus_dev_add_cap_pcie(struct vus_dev *dev, uint16_t offset,
		const struct vus_pcie_cfg *cfg);

/*
 * Vendor-specific capability (ID 09h): len bytes in all (3..252, the
 * 3-byte header included), then len - 3 device bytes initialised from
 * data (NULL: zeros). Without ops those bytes are read-only; with ops
 * every access to them goes to the callbacks instead (offset relative to
 * the capability's start, 3 and up; loop thread, no library lock held).
 */
VUS_API int vus_dev_add_cap_vendor(struct vus_dev *dev, uint16_t offset, uint8_t len,
		const void *data,
			   const struct vus_region_ops *ops, void *opaque);

/* Extended: Device Serial Number (ID 0003h), 64 bits. */
VUS_API int vus_dev_add_ext_cap_dsn(struct vus_dev *dev, uint16_t offset, uint64_t serial);

/*
 * Extended: Vendor-Specific (VSEC, ID 000Bh) with VSEC ID and revision:
 * len bytes in all (12..4032, a multiple of 4, the 8 header bytes
 * included); the device bytes behave as for vus_dev_add_cap_vendor()
 * (offsets relative to the capability, 8 and up).
 */
VUS_API int vus_dev_add_ext_cap_vendor(struct vus_dev *dev, uint16_t offset, uint16_t vsec_id,
			       uint8_t vsec_rev, uint16_t len, const void *data,
			       const struct vus_region_ops *ops, void *opaque);

/*
 * Extended: Advanced Error Reporting (ID 0001h, version 2) of an endpoint;
 * needs the PCI Express capability first (-EINVAL). The device reports
 * errors with vus_dev_report_aer(): the status bits are set (RW1C, the
 * guest's AER driver clears them), the First Error Pointer, the PCI
 * Express Device Status error bits by severity, and for an unmasked
 * uncorrectable error the client is told through the ERR interrupt index
 * (as kernel vfio-pci does; QEMU then stops the VM, docs/testdev.md).
 * Supported bits are the VUS_AER_* ones (lib/config_aer.c); -EINVAL for
 * others or none, -ENOENT without the capability, -ENODEV before
 * listening. Any thread.
 */
#define VUS_AER_UNCOR_DLP           (1u << 4)
#define VUS_AER_UNCOR_POISONED      (1u << 12)
#define VUS_AER_UNCOR_COMP_TIMEOUT  (1u << 14)
#define VUS_AER_UNCOR_COMP_ABORT    (1u << 15)
#define VUS_AER_UNCOR_UNEXP_COMP    (1u << 16)
#define VUS_AER_UNCOR_MALFORMED     (1u << 18)
#define VUS_AER_UNCOR_UNSUP_REQ     (1u << 20)
#define VUS_AER_COR_RECEIVER        (1u << 0)
#define VUS_AER_COR_BAD_TLP         (1u << 6)
#define VUS_AER_COR_BAD_DLLP        (1u << 7)
#define VUS_AER_COR_REPLAY_ROLLOVER (1u << 8)
#define VUS_AER_COR_REPLAY_TIMER    (1u << 12)
#define VUS_AER_COR_ADVISORY        (1u << 13)
VUS_API int vus_dev_add_ext_cap_aer(struct vus_dev *dev, uint16_t offset);
VUS_API int vus_dev_report_aer(struct vus_dev *dev, uint32_t uncor, uint32_t cor);

/*
 * Set hardware-reported, software-cleared (RW1C) bits of config space
 * from the device: the Status register's error bits (offset 0x06:
 * 0x0100 Master Data Parity Error, 0x0800 Signaled Target Abort, 0x1000
 * Received Target Abort, 0x2000 Received Master Abort, 0x4000 Signaled
 * System Error, 0x8000 Detected Parity Error) or the PCI Express Device
 * Status error bits (capability + 0x0a: 0x1 Correctable, 0x2 Non-Fatal,
 * 0x4 Fatal, 0x8 Unsupported Request Detected). The guest clears them by
 * writing 1. size 1, 2 or 4 at an offset aligned to it. -EINVAL if a bit
 * is not RW1C there, -ENODEV before listening. Any thread.
 */
VUS_API int vus_dev_config_set_status(struct vus_dev *dev, uint16_t offset, uint8_t size,
			      uint32_t bits);

/* ---- interrupts from the device ---- */

/*
 * The device's side of PCI interrupts: the device says "interrupt for
 * vector N" and never needs to know whether the guest chose INTx, MSI or
 * MSI-X; the library routes it by the guest's config space (the MSI-X
 * and MSI enable bits, written by the client: QEMU forwards every config
 * write, docs/protocol.md 3.9.1). All three may be called from any thread,
 * also from inside device callbacks; they never call device code.
 */

/*
 * The level-triggered INTx line (PCI INTx is a level): asserted stays
 * asserted until deasserted. While asserted, the library signals the INTx
 * eventfd once and auto-masks it (GET_IRQ_INFO AUTOMASKED); the client's
 * UNMASK (SET_IRQS or the resample eventfd) signals again if the line is
 * still asserted. Nothing is signalled while the Command register's
 * INTx Disable bit is set or MSI/MSI-X is enabled (PCI 3.0 6.8: a function
 * using MSI must not use INTx); clearing them delivers a line still high.
 * Assigning the INTx eventfd while the line is high signals it too. The
 * Status register's Interrupt Status bit (0x08) shows the line whatever
 * the masks. Deasserting also withdraws every vus_irq_raise() that went to
 * INTx. 0, or -EINVAL if the device has no INTx pin.
 */
VUS_API int vus_irq_intx_set_level(struct vus_dev *dev, bool asserted);

/*
 * Message-style interrupt for vector N, routed to what the guest enabled:
 *  - MSI-X (vector < its table size, else -EINVAL): delivered unless the
 *    function is masked, the vector's table entry is masked (see
 *    vus_dev_add_cap_msix()) or the client masked it (SET_IRQS MASK); a
 *    masked vector's PBA bit is set and the interrupt is delivered when
 *    the last mask goes away;
 *  - else MSI: vector N of the messages the guest enabled (Multiple
 *    Message Enable); a device with more vectors than were enabled shares
 *    the last enabled one (PCI 3.0 6.8.3.4 lets a function with fewer
 *    messages allocated than requested do so). With per-vector masking a
 *    masked vector sets its Pending bit and is delivered on unmask;
 *  - else INTx: asserts the line (vus_irq_intx_set_level()); the device
 *    lowers it with vus_irq_lower() (or vus_irq_intx_set_level(false))
 *    when its cause is acknowledged. The line stays high while any vector
 *    raised onto it is not lowered.
 * A vector whose eventfd the client has not assigned (yet) stays pending
 * and is delivered when the client assigns one (QEMU wires MSI-X vectors
 * only as the guest unmasks them, docs/protocol.md 3.7).
 * 0 when delivered, made pending or asserted; -EINVAL for a vector beyond
 * every index (max(MSI-X, MSI vectors, 1 with INTx)); -ENOENT when the
 * guest enabled nothing that can carry it (MSI and MSI-X off, no INTx
 * pin) or the chosen index is a passthrough one.
 */
VUS_API int vus_irq_raise(struct vus_dev *dev, uint32_t vector);

/*
 * The cause of vector N went away: on INTx, drop this vector's hold on the
 * line (deasserted once no raised vector and no set_level(true) holds it);
 * on MSI/MSI-X, withdraw the interrupt if it is still pending (PCI lets a
 * function clear a Pending bit whose cause is gone). 0 or -EINVAL.
 */
VUS_API int vus_irq_lower(struct vus_dev *dev, uint32_t vector);

/* ---- DMA ------------------------------------------------------------ */

struct vus_dma_region {
	uint64_t iova;
	uint64_t size;
	uint32_t prot;      /* VUS_DMA_MAP_FLAG_READ | _WRITE */
	void *vaddr;        /* host mapping of the client's fd, NULL if none */
	int fd;             /* the client's fd (owned by the library), -1 if none */
	uint64_t fd_offset;
};

/*
 * Told of every map and unmap (e.g. to program an IOMMU). map runs after
 * the region is in the table; returning -errno fails the DMA_MAP and
 * removes it again. unmap runs before the mapping goes away and before
 * the reply: the device must drop every pointer into it by then.
 */
struct vus_dma_ops {
	int (*map)(struct vus_dev *dev, void *opaque, const struct vus_dma_region *r);
	void (*unmap)(struct vus_dev *dev, void *opaque, const struct vus_dma_region *r);
};
VUS_API int vus_dev_set_dma_ops(struct vus_dev *dev, const struct vus_dma_ops *ops, void *opaque);

/* Limits: most simultaneous maps (default 65535, advertised to the
 * client as max_dma_maps, capped at 65535) and most total mapped bytes
 * (default 0 = no limit). Exceeding either fails DMA_MAP with -ENOSPC. */
VUS_API int vus_dev_set_dma_limits(struct vus_dev *dev, uint32_t max_maps, uint64_t max_bytes);

/*
 * Close a DMA window's fd as soon as it is mapped (the mapping keeps the
 * file alive): struct vus_dma_region's fd is then -1 in the map and unmap
 * callbacks. Default false (the fd is kept until the unmap). A process
 * serving many clients sets it so that a client's windows hold no fds
 * (docs/security.md section 2). Always 0.
 */
VUS_API int vus_dev_set_dma_close_fds(struct vus_dev *dev, bool close_fds);

/*
 * Most bytes of dirty-log bitmaps (one bit per logged page of every
 * fd-backed window while DMA_LOGGING is on; 0 = no limit; default
 * 256 MiB, QEMU's max_bitmap_size). A DMA_LOGGING_START, or a DMA_MAP
 * while logging, that would exceed it fails with -ENOMEM; a
 * DMA_LOGGING_REPORT whose bitmap would exceed it with -E2BIG. It bounds
 * the work of one REPORT too (docs/security.md section 2).
 */
VUS_API int vus_dev_set_dirty_log_limit(struct vus_dev *dev, uint64_t bytes);

/*
 * A DMA_MAP's fd is refused with -EMFILE (and closed) when keeping it
 * would leave the process fewer than VUS_FD_RESERVE free fds below its
 * RLIMIT_NOFILE (at least 1/16 of the limit): one client cannot take the
 * fds every other device needs to accept and serve its clients.
 */
#define VUS_FD_RESERVE 64

/*
 * Host pointer for [iova, iova + len) if it lies inside one fd-backed map
 * allowing prot; NULL with errno EFAULT (not mapped), ENOTSUP (mapped
 * without fd: use vus_dma_read/write), EACCES (prot) or EBUSY (migration
 * stopped the device). The pointer stays valid until the dma unmap
 * callback for that region returns. Loop thread.
 * Dirty tracking rule (docs/migration.md): a range obtained with
 * VUS_DMA_MAP_FLAG_WRITE is marked dirty when handed out AND again at
 * every DMA_LOGGING_REPORT until its map is unmapped, so a write through
 * a kept pointer is in the first report after it, never lost. Ask for
 * WRITE only for ranges you may write: each is re-reported every round.
 * The memory is the client's file: a client that truncates it makes an
 * access through this pointer raise SIGBUS, which the library does not
 * catch here (it does in vus_dma_read/write: the copy fails with -EFAULT
 * and the session ends; docs/security.md section 3).
 */
VUS_API void *vus_dma_translate(struct vus_dev *dev, uint64_t iova, uint64_t len, uint32_t prot);

/*
 * Record a device write to [iova, iova + len) for migration's dirty-page
 * log (DMA_LOGGING_*). vus_dma_write() and vus_dma_translate() with
 * VUS_DMA_MAP_FLAG_WRITE do this themselves (see the rule above); call it
 * after writing through a pointer obtained another way (READ-only
 * translate, say), after the write. Any thread; no-op unless logging.
 */
VUS_API void vus_dma_mark_dirty(struct vus_dev *dev, uint64_t iova, uint64_t len);

/*
 * Copy between guest memory and buf. fd-backed ranges are copied directly
 * (any thread; a concurrent unmap waits for the copy). Ranges mapped
 * without an fd go through DMA_READ/DMA_WRITE messages, chunked to the
 * smaller of the client's and our max_data_xfer_size: from a non-loop
 * thread the call waits for the replies (the loop must be running); from
 * the loop thread it returns -EDEADLK (a VMM waiting for our reply to its
 * register access would never answer; use the async form). -EFAULT: not
 * mapped (with no client nothing is); -EACCES: prot; -ENOTCONN: the client
 * went away before the copy finished; -EPROTO: a reply did not match its
 * request; an error reply from the client: its errno.
 */
VUS_API int vus_dma_read(struct vus_dev *dev, uint64_t iova, void *buf, size_t len);
VUS_API int vus_dma_write(struct vus_dev *dev, uint64_t iova, const void *buf, size_t len);

/*
 * vus_dma_write() of a structure whose last 4 bytes tell the guest it is
 * complete (an NVMe completion entry's phase tag, a ring's index): the
 * first len - 4 bytes land first, then the last 4 as one 4-byte store
 * with release order, so a guest that reads those 4 bytes and then the
 * rest sees the rest written. One call, one window lookup, where the
 * range lies in one fd-backed window (the usual case; else two copies in
 * that order); in a window without fd, one DMA_WRITE message, which the
 * client applies as one copy. len >= 4, else -EINVAL; errors as
 * vus_dma_write().
 */
VUS_API int vus_dma_write_release(struct vus_dev *dev, uint64_t iova, const void *buf,
				  size_t len);

/*
 * Asynchronous copy: done(dev, arg, result) runs on the loop thread once
 * the copy finished (result 0 or -errno). buf must stay valid until then.
 * May be called from any thread; returns -errno if it could not start
 * (done is then not called). A range lying wholly in fd-backed maps is
 * copied before the call returns, but done still runs later from the
 * loop, never from inside the call, so device code is not re-entered.
 */
typedef void (*vus_dma_done_fn)(struct vus_dev *dev, void *arg, int result);
VUS_API int vus_dma_read_async(struct vus_dev *dev, uint64_t iova, void *buf, size_t len,
		       vus_dma_done_fn done, void *arg);
VUS_API int vus_dma_write_async(struct vus_dev *dev, uint64_t iova, const void *buf, size_t len,
			vus_dma_done_fn done, void *arg);

/* Layout of server->client DMA_READ/WRITE messages (codec.h). Default AUTO. */
VUS_API int vus_dev_set_dma_layout(struct vus_dev *dev, enum vus_dma_layout layout);
/* The layout in use with the attached client (AUTO resolved), SPEC if none. */
VUS_API enum vus_dma_layout vus_dev_dma_layout(const struct vus_dev *dev);

/* ---- reset ---------------------------------------------------------- */

enum vus_reset_reason {
	VUS_RESET_CLIENT = 1,    /* DEVICE_RESET command */
	VUS_RESET_LOST_CONN = 2, /* client went away: quiesce, keep state */
	VUS_RESET_FLR = 3,       /* function-level reset: Initiate FLR in the PCI
				  * Express capability, or D3hot -> D0 without
				  * No_Soft_Reset; config space is already back
				  * to power-on values */
};
typedef int (*vus_reset_fn)(struct vus_dev *dev, void *opaque, enum vus_reset_reason reason);
/* Also sets VUS_DEVICE_FLAGS_RESET in DEVICE_GET_INFO. */
VUS_API int vus_dev_set_reset(struct vus_dev *dev, vus_reset_fn cb, void *opaque);

/* ---- migration (v2: DEVICE_FEATURE, MIG_DATA_READ/WRITE) ------------ */

/*
 * What the library does around the callbacks (docs/migration.md):
 *  - Entering STOP_COPY or RESUMING, before transition() runs, and
 *    entering STOP from RUNNING or RUNNING_P2P right after it (park your
 *    workers there; their DMA still works until you return): new
 *    DMA is refused (vus_dma_*() return -EBUSY, translate NULL/EBUSY),
 *    copies in progress are waited for, transfers already copied complete
 *    (their done() runs now), those still waiting on the client are
 *    settled now: a DMA_WRITE sent whole is done (done(0): the client
 *    applies it), anything else is cancelled (done(-ECANCELED); treat the
 *    transfer as not done and keep it in your saved state). vus_irq_trigger() holds interrupts as
 *    pending. Leaving for RUNNING/PRE_COPY/RUNNING_P2P/PRE_COPY_P2P: DMA
 *    is allowed before transition() runs, held interrupts go out after.
 *    The framed stream carries the interrupts held or pending at the end
 *    of STOP_COPY and replaces the destination's after its transition
 *    out of RESUMING (docs/migration.md "Interrupts in the stream").
 *  - A failed transition() puts the device in ERROR (only a reset leaves it).
 *  - DEVICE_RESET, FLR, vus_dev_reset() and the client's disconnect bring
 *    a device not in RUNNING back to it by calling transition(state,
 *    RUNNING) once -- not necessarily a direct arc: drop any save or load
 *    in progress and run again. Its result is logged; RUNNING either way.
 */
/*
 * Library flag (never on the wire): wrap the device's save() output in the
 * framed stream of docs/migration.md (magic, version, PCI identity,
 * sections with lengths and CRC32C, end marker). load() then sees only the
 * data, and only at RESUMING -> STOP, after the whole stream was checked;
 * a wrong or damaged stream fails that arc with EINVAL and is never loaded.
 */
#define VUS_MIGRATION_FRAMED (1ull << 32)

struct vus_migration_ops {
	/* VUS_MIGRATION_STOP_COPY [| PRE_COPY] [| P2P] [| VUS_MIGRATION_FRAMED] */
	uint64_t flags;
	/* One direct arc of the kernel's state machine; the library walks
	 * longer requests arc by arc. -errno: the device is in ERROR. */
	int (*transition)(struct vus_dev *dev, void *opaque, enum vus_mig_state from,
			  enum vus_mig_state to);
	/* Fill up to len bytes of saved state; return the count; fewer than
	 * len means no more for now (the end, in STOP_COPY). */
	ssize_t (*save)(struct vus_dev *dev, void *opaque, void *buf, size_t len);
	/* Consume all len bytes of saved state in RESUMING. */
	int (*load)(struct vus_dev *dev, void *opaque, const void *buf, size_t len);
};
VUS_API int vus_dev_set_migration(struct vus_dev *dev, const struct vus_migration_ops *ops,
		void *opaque);
VUS_API enum vus_mig_state vus_dev_mig_state(const struct vus_dev *dev);

/* ---- serving -------------------------------------------------------- */

/* Largest REGION/DMA/MIG data transfer accepted and advertised
 * (max_data_xfer_size). Default 1 MiB; at most 64 MiB (QEMU's bound). */
VUS_API int vus_dev_set_max_data_xfer(struct vus_dev *dev, uint32_t bytes);

/* Listen on a new AF_UNIX socket at path (mode 0600; see transport). */
VUS_API int vus_dev_listen(struct vus_dev *dev, const char *path);
/* Serve an inherited listening socket (the spec's --fd). Takes ownership. */
VUS_API int vus_dev_listen_fd(struct vus_dev *dev, int fd);
/* Serve one already-connected socket (e.g. one end of a socketpair). */
VUS_API int vus_dev_attach_fd(struct vus_dev *dev, int fd);

/* An fd that polls readable whenever vus_dev_process() has work. */
VUS_API int vus_dev_poll_fd(const struct vus_dev *dev);
/* Do work that is ready without blocking; call it when the poll fd is
 * readable. It may serve only the client's requests in one call (see
 * docs/performance.md); the poll fd then stays readable while other work
 * waits, so a loop calling it on readability misses nothing. 0, or
 * -errno on a fatal error of the listener (a client's errors only end
 * that client). */
VUS_API int vus_dev_process(struct vus_dev *dev);
/*
 * For a loop that waits in an epoll set of its own (vusd's): the client's
 * socket is watched in epfd, with `data` as its epoll data, instead of in
 * the set behind vus_dev_poll_fd() -- now if a client is attached, and
 * for every later one. The loop keeps the poll fd in epfd too and calls
 * vus_dev_process() when either reports (level-triggered, EPOLLIN and
 * EPOLLOUT: the library arms EPOLLOUT there while replies wait). A request
 * then wakes the loop through one epoll set instead of two nested
 * (docs/performance.md "vusd's device path"). epfd -1 goes back. Loop thread, or before
 * serving; epfd must stay open while the device serves (or go back
 * first). vus_dev_run() returns -EINVAL while it is set. 0, or
 * epoll_ctl's -errno (the socket then stays where it was).
 */
VUS_API int vus_dev_set_client_epoll(struct vus_dev *dev, int epfd, uint64_t data);
/* Block in a loop until vus_dev_stop(). */
VUS_API int vus_dev_run(struct vus_dev *dev);
/* Make vus_dev_run() return. Any thread; async-signal-safe. */
VUS_API void vus_dev_stop(struct vus_dev *dev);

VUS_API bool vus_dev_client_attached(const struct vus_dev *dev);

/*
 * A device's own fd on the loop that serves it: cb(dev, opaque, fd) runs
 * on the loop thread whenever fd polls readable, like the library's own
 * fds. The fd joins the set behind vus_dev_poll_fd(), so it is served by
 * vus_dev_run() and by any loop that polls vus_dev_poll_fd() and calls
 * vus_dev_process() (vusd's, an application's) with no change to that
 * loop. Level-triggered: cb must consume what made the fd readable (read
 * an eventfd), or it runs again on the next pass. Meant for completions
 * a device waits for: an io_uring's eventfd, a timerfd
 * (docs/architecture.md "Device fds on the loop").
 * The fd stays the caller's: unwatch it before closing it. At most
 * VUS_DEV_MAX_WATCHES per device. Call from the setup thread before
 * serving or from the loop thread. -EBADF (fd < 0), -EINVAL (no cb),
 * -EEXIST (already watched), -ENOSPC (table full), or epoll_ctl's errno.
 */
#define VUS_DEV_MAX_WATCHES 8
typedef void (*vus_fd_ready_fn)(struct vus_dev *dev, void *opaque, int fd);
VUS_API int vus_dev_watch_fd(struct vus_dev *dev, int fd, vus_fd_ready_fn cb, void *opaque);
/* Stop watching fd (a report already taken for it is dropped). 0 or
 * -ENOENT. Same threads as vus_dev_watch_fd(). */
VUS_API int vus_dev_unwatch_fd(struct vus_dev *dev, int fd);

/* ---- statistics ----------------------------------------------------- */

/*
 * Counters since vus_dev_new(); any thread. The struct holds one value
 * per counter and nothing sized by the library's tables: counts by
 * command and by errno are read one at a time below, so the library may
 * count more commands or errnos without changing this layout.
 */
struct vus_dev_stats {
	uint64_t errors;                /* error replies sent */
	uint64_t bytes_in, bytes_out;   /* socket bytes */
	uint64_t irqs;                  /* eventfd signals */
	uint64_t dma_maps, dma_unmaps;
	uint64_t dma_msgs;              /* DMA_READ/WRITE messages sent */
	uint64_t clients;               /* clients served so far */
	uint32_t cur_maps;
	uint64_t cur_mapped_bytes;
	uint64_t cur_dirty_bytes;       /* dirty-log bitmaps held (while logging) */
};
VUS_API void vus_dev_get_stats(const struct vus_dev *dev, struct vus_dev_stats *out);
/* Commands received with number cmd; cmd 0 counts those with a number
 * the library does not know. 0 for any other cmd. */
VUS_API uint64_t vus_dev_stat_cmd(const struct vus_dev *dev, unsigned cmd);
/* Error replies sent with errno err (> 0). */
VUS_API uint64_t vus_dev_stat_errno(const struct vus_dev *dev, int err);

/* ---- introspection (vusd, vusctl) ---- */

/*
 * What a local tool (vusd's control socket) may see and do without being
 * the device's vfio-user client. All of it needs a device that listens
 * (vus_dev_listen*() built config space); before that: -ENODEV.
 * Descriptions may be read from any thread (the layout is fixed once
 * listening; IRQ state is read under the library's lock). Access and
 * reset run device callbacks, so they belong to the loop thread (the one
 * calling vus_dev_process()), which serializes them with the client's
 * commands; from another thread while a loop thread is known: -EPERM.
 */

/* One region as set up by the device (not as a client would be told:
 * MMAP here does not depend on the client taking fds). */
struct vus_dev_region_desc {
	uint64_t size;                       /* 0: not implemented */
	uint32_t flags;                      /* VUS_REGION_* */
	bool callbacks;                      /* has read or write callbacks */
	bool fd_backed;                      /* backed by an fd */
	bool mmap;                           /* offered to the client for mmap */
	uint32_t nr_areas;                   /* sparse mmap areas; 0 with mmap: all */
	const struct vus_sparse_area *areas; /* valid until vus_dev_free() */
	bool has_type;
	uint32_t type, subtype;
};
/* Number of region indices (>= 9). */
VUS_API uint32_t vus_dev_num_regions(const struct vus_dev *dev);
/* -EINVAL for index >= vus_dev_num_regions(). */
VUS_API int vus_dev_region_desc(const struct vus_dev *dev, uint32_t index,
			struct vus_dev_region_desc *out);

/* One IRQ index: vectors, GET_IRQ_INFO flags, and the client's state. */
struct vus_dev_irq_desc {
	uint32_t count;     /* vectors (0: not implemented) */
	uint32_t flags;     /* VUS_IRQ_INFO_* as GET_IRQ_INFO reports them */
	uint32_t assigned;  /* vectors with a client eventfd */
	uint32_t masked;    /* vectors masked */
	uint32_t pending;   /* masked vectors with an interrupt waiting */
	bool passthrough;   /* vus_dev_set_irq_passthrough() owns the fds */
};
/* -EINVAL for index >= VUS_PCI_NUM_IRQS. */
VUS_API int vus_dev_irq_desc(struct vus_dev *dev, uint32_t index, struct vus_dev_irq_desc *out);

/*
 * Read or write a region as a client's REGION_READ/WRITE would (same
 * checks and errnos, config space included, -E2BIG above the device's
 * max_data_xfer_size), but locally. The client, if
 * one is attached, is not told: a write behind a VMM's back is the
 * caller's responsibility.
 */
VUS_API int vus_dev_access_region(struct vus_dev *dev, uint32_t index, uint64_t offset, void *buf,
			  uint32_t count, bool is_write);

/* DEVICE_RESET done locally: config space back to its power-on values
 * (Command cleared: no decoding, no DMA; MSI/MSI-X off; the INTx line and
 * pending interrupts dropped), migration state back to RUNNING, reset
 * callback with VUS_RESET_CLIENT. Also with no client attached, e.g.
 * between two clients. -EINVAL if the device has no reset callback. */
VUS_API int vus_dev_reset(struct vus_dev *dev);

/* ---- limits ---- */

/*
 * What one client can make the library hold or do, each with a clean
 * error and the loop (and every other device on it) serving on. Set
 * before vus_dev_listen*() / vus_dev_attach_fd(); -EBUSY after.
 * docs/protocol.md section 6 lists every limit with its default.
 * Elsewhere in this header: message size (vus_dev_set_max_data_xfer()),
 * DMA maps and mapped bytes (vus_dev_set_dma_limits()); regions are the
 * device's own setup (indices 0..99).
 */

/*
 * Most fds one message may carry: with more, every fd is closed and the
 * message answered EINVAL. 16 (what VERSION advertises as max_msg_fds)
 * .. 64; default 64.
 */
VUS_API int vus_dev_set_max_msg_fds(struct vus_dev *dev, unsigned max_fds);

/*
 * Most bytes held for a client that does not read what vus sends
 * (replies, DMA requests; queue bookkeeping included), per socket.
 * Sending never waits: what the socket does not take is queued and
 * written as the client reads. A message that would take the queue past
 * the limit ends the session (logged); one message is always accepted
 * into an empty queue. >= 4096; default 16 MiB.
 */
VUS_API int vus_dev_set_output_limit(struct vus_dev *dev, uint64_t bytes);

/*
 * Server->client DMA (vus_dma_read/write and their async forms) through
 * maps without an fd: at most max_pending transfers (>= 1, default 1024)
 * submitted and not yet finished; beyond that the calls return -EAGAIN.
 * A DMA_READ/WRITE request the client leaves unanswered for timeout_ms
 * (default 30000; 0 = wait forever) ends the session: transfers in
 * flight fail with -ETIMEDOUT.
 */
VUS_API int vus_dev_set_dma_request_limits(struct vus_dev *dev, uint32_t max_pending,
				   uint32_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* VUS_DEVICE_H */
