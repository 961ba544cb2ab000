/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVM command set I/O commands (NVMe 1.4 6): Flush, Write, Read, Compare,
 * Write Zeroes, Dataset Management (deallocate). Namespace id, LBA range
 * and transfer size (MDTS) are checked before any data moves; the RAM
 * backend's data is copied straight between guest memory and the
 * namespace mapping; a file's goes through io_uring (nvme_uring.c).
 * docs/nvme.md "I/O commands".
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_priv.h"

static struct nvme_res res(uint16_t status)
{
	return (struct nvme_res){ .status = status };
}

static struct nvme_res bad(uint16_t sc)
{
	return res(nvme_sc(sc, true));
}

/* LBA range [slba, slba + nlb) inside the namespace, without overflow. */
static bool range_ok(const struct nvme_ns *ns, uint64_t slba, uint64_t nlb)
{
	return slba < ns->nlb && nlb <= ns->nlb - slba;
}

static struct nvme_res flush(struct nvme_emu *n, const struct nvme_sqe *c)
{
	struct nvme_ns *ns = nvme_ns_get(n, c->nsid);
	uint16_t s;

	/* FFFFFFFFh: every namespace (6.8). */
	if (c->nsid == 0xffffffff) {
		if (nvme_ns_flush_all(n) < 0)
			return res(NVME_SC_WRITE_FAULT);
		return res(0);
	}
	if (!ns)
		return bad(NVME_SC_INVALID_NSID);
	/* A file's fdatasync goes through the ring: the command stays in
	 * flight and the queues go on. */
	s = nvme_uring_submit(n, ns, c, 0, 0, false);
	if (s != NVME_URING_SYNC)
		return res(s);
	if (nvme_ns_flush(ns) < 0)
		return res(NVME_SC_WRITE_FAULT);
	return res(0);
}

/* Only the processor writes these, under proc_lock: a plain add, not a
 * locked read-modify-write per command (readers load them atomically). */
static void stat_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static void count(struct nvme_emu *n, bool write, uint64_t bytes)
{
	struct nvme_smart *s = &n->smart;

	if (write) {
		stat_add(&s->host_writes, 1);
		stat_add(&s->units_written, bytes >> 9);
	} else {
		stat_add(&s->host_reads, 1);
		stat_add(&s->units_read, bytes >> 9);
	}
}

static uint16_t media_error(struct nvme_emu *n, bool write)
{
	atomic_fetch_add_explicit(&n->smart.media_errors, 1, memory_order_relaxed);
	return write ? NVME_SC_WRITE_FAULT : NVME_SC_UNRECOVERED_READ;
}

/* Read, Write, Compare: CDW10-11 SLBA, CDW12 bits 15:0 NLB (0-based),
 * bit 30 FUA. */
static struct nvme_res rw(struct nvme_emu *n, const struct nvme_sqe *c)
{
	struct nvme_ns *ns = nvme_ns_get(n, c->nsid);
	uint64_t slba = (uint64_t)c->cdw10 | ((uint64_t)c->cdw11 << 32);
	uint64_t nlb = (c->cdw12 & 0xffff) + 1ull;
	uint64_t len, off;
	bool fua = c->cdw12 & (1u << 30);
	uint16_t s;
	uint8_t *cmp;

	if (!ns)
		return bad(NVME_SC_INVALID_NSID);
	len = nlb << ns->lba_shift;
	off = slba << ns->lba_shift;
	if (!range_ok(ns, slba, nlb))
		return bad(NVME_SC_LBA_RANGE);
	if (len > n->bounce_len) /* MDTS */
		return bad(NVME_SC_INVALID_FIELD);
	s = nvme_dptr_map(n, c, len, false);
	if (s)
		return res(s);
	/* A file or block device: asynchronous through io_uring, straight
	 * between the file and guest memory (nvme_uring.c); completed by a
	 * later pass. Without a ring, or out of room: synchronous below. */
	if (!ns->ram && c->opc != NVME_IO_COMPARE) {
		s = nvme_uring_submit(n, ns, c, off, len, fua);
		if (s != NVME_URING_SYNC)
			return res(s);
	}

	switch (c->opc) {
	case NVME_IO_READ:
		if (ns->ram) {
			s = nvme_dptr_copy(n, ns->ram + off, len, true);
		} else {
			if (nvme_ns_read(ns, off, n->bounce, len) < 0)
				return res(media_error(n, false));
			s = nvme_dptr_copy(n, n->bounce, len, true);
		}
		if (!s)
			count(n, false, len);
		return res(s);
	case NVME_IO_WRITE:
		if (ns->ram) {
			s = nvme_dptr_copy(n, ns->ram + off, len, false);
		} else {
			s = nvme_dptr_copy(n, n->bounce, len, false);
			if (!s && nvme_ns_write(ns, off, n->bounce, len) < 0)
				return res(media_error(n, true));
			/* Force Unit Access, or the cache turned off: durable
			 * before completion. */
			if (!s && (fua || !n->feat.vwc) && nvme_ns_flush(ns) < 0)
				return res(media_error(n, true));
		}
		if (!s)
			count(n, true, len);
		return res(s);
	default: /* Compare (6.3) */
		s = nvme_dptr_copy(n, n->bounce, len, false);
		if (s)
			return res(s);
		if (ns->ram)
			return res(memcmp(ns->ram + off, n->bounce, len) ?
				   nvme_sc(NVME_SC_COMPARE_FAILED, true) : 0);
		cmp = aligned_alloc(4096, (len + 4095) & ~4095ull); /* O_DIRECT */
		if (!cmp)
			return res(NVME_SC_INTERNAL);
		if (nvme_ns_read(ns, off, cmp, len) < 0)
			s = media_error(n, false);
		else if (memcmp(cmp, n->bounce, len))
			s = nvme_sc(NVME_SC_COMPARE_FAILED, true);
		free(cmp);
		return res(s);
	}
}

/* Write Zeroes (6.16): no data, so no MDTS limit; the range reads back
 * as zeroes (DLFEAT). */
static struct nvme_res write_zeroes(struct nvme_emu *n, const struct nvme_sqe *c)
{
	struct nvme_ns *ns = nvme_ns_get(n, c->nsid);
	uint64_t slba = (uint64_t)c->cdw10 | ((uint64_t)c->cdw11 << 32);
	uint64_t nlb = (c->cdw12 & 0xffff) + 1ull;

	if (!ns)
		return bad(NVME_SC_INVALID_NSID);
	if (!range_ok(ns, slba, nlb))
		return bad(NVME_SC_LBA_RANGE);
	if (nvme_ns_zero(ns, slba << ns->lba_shift, nlb << ns->lba_shift) < 0)
		return res(media_error(n, true));
	return res(0);
}

/* Dataset Management (6.7): CDW10 bits 7:0 ranges - 1, CDW11 bit 2
 * Attribute Deallocate. Each range is 16 bytes: context attributes, NLB
 * (not 0-based), SLBA. Every range is checked before any is deallocated. */
static struct nvme_res dsm(struct nvme_emu *n, const struct nvme_sqe *c)
{
	struct nvme_ns *ns = nvme_ns_get(n, c->nsid);
	uint32_t nr = (c->cdw10 & 0xff) + 1, i;
	uint8_t *r = n->bounce;
	uint16_t s;

	if (!ns)
		return bad(NVME_SC_INVALID_NSID);
	s = nvme_dptr_map(n, c, nr * 16ull, false);
	if (!s)
		s = nvme_dptr_copy(n, r, nr * 16ull, false);
	if (s)
		return res(s);
	if (!(c->cdw11 & (1u << 2)))
		return res(0); /* attributes are hints: nothing to do */
	for (i = 0; i < nr; i++) {
		uint32_t nlb;
		uint64_t slba;

		memcpy(&nlb, r + i * 16 + 4, 4);
		memcpy(&slba, r + i * 16 + 8, 8);
		nlb = le32toh(nlb);
		slba = le64toh(slba);
		if (nlb && !range_ok(ns, slba, nlb))
			return bad(NVME_SC_LBA_RANGE);
	}
	for (i = 0; i < nr; i++) {
		uint32_t nlb;
		uint64_t slba;

		memcpy(&nlb, r + i * 16 + 4, 4);
		memcpy(&slba, r + i * 16 + 8, 8);
		nlb = le32toh(nlb);
		slba = le64toh(slba);
		if (nlb && nvme_ns_zero(ns, slba << ns->lba_shift,
					(uint64_t)nlb << ns->lba_shift) < 0)
			return res(media_error(n, true));
	}
	return res(0);
}

/*
 * Start loading the first lines of a RAM namespace's data for command c,
 * the next Read of a fetched batch, while the current command copies:
 * the page's translation and first cache lines then arrive in parallel
 * instead of stalling c's copy (measured: bench/vus-nvme-bench's floor,
 * "+prefetch", a third less CPU per random 4 KiB copy out of 256 MiB).
 * Not for Writes: their namespace lines are overwritten whole, and the
 * same floor shows no gain. Only what rw() will accept, a range inside
 * the namespace; anything else is left to rw() to refuse. A prefetch
 * never faults and changes no state.
 */
void nvme_io_prefetch(struct nvme_emu *n, const struct nvme_sqe *c)
{
	uint64_t slba = (uint64_t)c->cdw10 | ((uint64_t)c->cdw11 << 32);
	uint64_t nlb = (c->cdw12 & 0xffff) + 1ull;
	const struct nvme_ns *ns;
	const uint8_t *p;

	if (c->opc != NVME_IO_READ)
		return;
	ns = nvme_ns_get(n, c->nsid);
	if (!ns || !ns->ram || !range_ok(ns, slba, nlb))
		return;
	p = ns->ram + (slba << ns->lba_shift);
	for (int k = 0; k < 4; k++)
		__builtin_prefetch(p + 64 * k, 0);
}

struct nvme_res nvme_io_exec(struct nvme_emu *n, const struct nvme_sqe *c)
{
	/* No fused operations (FUSES = 0). */
	if (NVME_SQE_FUSE(c->flags))
		return bad(NVME_SC_INVALID_FIELD);
	switch (c->opc) {
	case NVME_IO_FLUSH:        return flush(n, c);
	case NVME_IO_WRITE:
	case NVME_IO_READ:
	case NVME_IO_COMPARE:      return rw(n, c);
	case NVME_IO_WRITE_ZEROES: return write_zeroes(n, c);
	case NVME_IO_DSM:          return dsm(n, c);
	default:                   return bad(NVME_SC_INVALID_OPCODE);
	}
}
