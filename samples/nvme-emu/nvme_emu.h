/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme-emu: an NVMe 1.4 controller served over vfio-user, for a guest's
 * stock nvme driver (Linux binds it under QEMU's vfio-user-pci).
 *
 * One controller with one namespace (NSID 1) backed by RAM (a memfd, the
 * default) or a file / block device, or several RAM namespaces. BAR0 holds the controller registers
 * and doorbells (0x1000, stride 4) and the MSI-X table and PBA; nothing
 * is mmap-able, so QEMU posts every BAR write (doorbells cost the guest
 * one posted message). docs/nvme.md is the full description: register
 * map, commands, features, log pages, limits and deviations.
 *
 * Threads: nvme_emu_create()/nvme_emu_free() from the thread that owns
 * the vus device (free: once nothing else serves it). The controller
 * serves queues on the vus loop thread; when the client maps guest memory
 * without fds it moves queue work to a thread of its own (DMA then goes
 * through messages, which the loop thread must be free to answer). That
 * thread also re-pulses an unconsumed INTx level, raises interrupts that
 * Interrupt Coalescing or the holdoff held when they fall due and, with
 * opts.poll, polls the queues.
 */
#ifndef VUS_NVME_EMU_H
#define VUS_NVME_EMU_H

#include <stdbool.h>
#include <stdint.h>

#include <vus/device.h>

#ifdef __cplusplus
extern "C" {
#endif

/* PCI identity: our own IDs (Linux keys quirks on QEMU's 1b36:0010 and
 * 8086:5845, so an emulator must not borrow them). */
#define NVME_EMU_VENDOR  0x1234 /* the vus samples' vendor (testdev is 1234:7e57) */
#define NVME_EMU_DEVICE  0x7e59
#define NVME_EMU_CLASS   0x010802 /* mass storage, NVM, NVMe */

struct nvme_emu;

struct nvme_emu_opts {
	const char *file;      /* backing file or block device, NULL = RAM (memfd) */
	uint64_t size;         /* bytes, for RAM (rounded down to lba_size); a
				* file's size is its own (0) or this (> 0, the
				* file is then grown to it) */
	uint32_t lba_size;     /* 512 or 4096 */
	uint32_t max_queues;   /* I/O queue pairs offered, 1..NVME_EMU_MAX_QUEUES */
	const char *serial;    /* Serial Number, <= 20 ASCII chars; NULL: "VUS" + name */
	/* Added fields (zero means the default). */
	const char *model;     /* Model Number, <= 40 chars; NULL: "vus nvme-emu" */
	uint32_t max_qsize;    /* entries per I/O queue (CAP.MQES + 1), 2..65536 */
	uint32_t mdts;         /* Maximum Data Transfer Size, 2^mdts pages, 1..10 */
	bool odirect;          /* open file with O_DIRECT; an LBA size below the
				* file's O_DIRECT block size, or a file system
				* without O_DIRECT (tmpfs), fails with -EINVAL */
	bool no_shadow;        /* do not offer Doorbell Buffer Config (OACS bit 8) */
	bool poll;             /* a thread polls the queues while commands come;
				* after 50 us idle it arms EventIdx and sleeps
				* until a doorbell (README "Design") */
	uint32_t namespaces;   /* RAM namespaces of size bytes each, NSID 1..n,
				* 1..NVME_EMU_MAX_NS (0: 1); a file gives one */
	bool sync_io;          /* file: pread/pwrite on the processor thread,
				* not io_uring (also the fallback when
				* io_uring cannot be set up) */
	bool thp;              /* RAM: madvise(MADV_HUGEPAGE) on the namespace
				* mapping (fewer TLB misses on random I/O;
				* huge only where the kernel's shmem_enabled
				* allows "advise"; a 4 KiB write then allocates
				* 2 MiB) */
	uint32_t holdoff_us;   /* adaptive interrupt holdoff: while the host
				* has several commands in flight, an I/O CQ's
				* interrupt waits for its next completion up
				* to twice the mean gap between completions,
				* at most this long (4x from the first held);
				* 0: 500 us, at most 10000 (docs/nvme.md 5) */
	bool no_holdoff;       /* no adaptive holdoff: an interrupt per pass */
};

#define NVME_EMU_MAX_NS 16

#define NVME_EMU_MAX_QUEUES 64

/* size 64 MiB RAM, lba 512, 4 queues, qsize 1024, mdts 8 (1 MiB). */
void nvme_emu_opts_default(struct nvme_emu_opts *o);

/* Build the controller and its vus device (set up, not listening: the
 * caller listens and serves it). 0 or -errno (-EINVAL for bad options). */
int nvme_emu_create(const char *name, const struct nvme_emu_opts *o, struct nvme_emu **out);
struct vus_dev *nvme_emu_dev(struct nvme_emu *n);
/* Frees the vus device too. */
void nvme_emu_free(struct nvme_emu *n);

/* Per-queue statistics (vusctl). */
struct nvme_emu_qstats {
	uint16_t qid;
	uint16_t cqid;
	uint32_t size;
	uint64_t cmds;       /* commands fetched */
	uint64_t errors;     /* completed with a non-zero status */
	uint64_t irqs;       /* interrupts raised for its CQ */
	uint64_t holds;      /* interrupts the holdoff held back (each then
			      * covers one pass or more, or is dropped) */
};
/* Fill up to max entries for the live SQs (admin first); returns the
 * count, or -EAGAIN while the processor is busy (try again). */
int nvme_emu_queue_stats(struct nvme_emu *n, struct nvme_emu_qstats *out, int max);

/* The file backend's I/O path (vusctl, tests). Any thread. */
struct nvme_emu_io_stats {
	bool uring;          /* io_uring in use (else pread/pwrite, or RAM) */
	uint64_t submitted;  /* SQEs handed to the kernel */
	uint64_t completed;  /* CQEs reaped */
	uint64_t inline_writes; /* buffered writes made inline, ring idle */
	uint64_t inline_reads;  /* reads served from the page cache inline */
	uint64_t drained;       /* requests a drain waited for (reset, unmap, ...) */
};
void nvme_emu_io_stats(struct nvme_emu *n, struct nvme_emu_io_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* VUS_NVME_EMU_H */
