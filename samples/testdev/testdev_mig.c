/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev migration (vfio-user migration v2, docs/protocol.md 5): STOP_COPY
 * and PRE_COPY.
 *
 * The saved stream is a sequence of records, each a full snapshot; the
 * destination applies the last complete one when RESUMING ends (the
 * spec's commit point, RESUMING -> STOP). PRE_COPY emits one snapshot
 * while the device runs; STOP_COPY emits the final one after whatever the
 * client has not yet read, so records are never cut.
 *
 * Record (little-endian):
 *   0  u32 magic    TESTDEV_MIG_MAGIC
 *   4  u16 version  TESTDEV_MIG_VERSION
 *   6  u16 hdr_len  16
 *   8  u32 length   payload bytes, exactly mig_payload() (BAR1's size
 *                   decides it: a device with another one rejects it)
 *  12  u32 reserved 0
 *  16  payload: struct testdev_regs as u32s (version 2: with dma_parked),
 *      BAR1, BAR2
 *
 * Anything else is rejected by load with -EINVAL as soon as the header
 * is complete; a record cut short is rejected at RESUMING -> STOP.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testdev_priv.h"

#define TESTDEV_MIG_MAGIC   0x47494d54u /* "TMIG" */
#define TESTDEV_MIG_VERSION 2u /* 2: dma_parked added */
#define TESTDEV_MIG_HDR     16u
#define TESTDEV_MIG_REGS    (TESTDEV_NR_REGS * 4u)

static uint32_t mig_payload(const struct testdev *td)
{
	return TESTDEV_MIG_REGS + td->bar1_size + TESTDEV_BAR2_SIZE;
}

static size_t mig_record(const struct testdev *td)
{
	return TESTDEV_MIG_HDR + (size_t)mig_payload(td);
}

_Static_assert(sizeof(struct testdev_regs) == TESTDEV_NR_REGS * sizeof(uint32_t),
	       "testdev_regs must be a plain array of u32");

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

/* ---- save ----------------------------------------------------------- */

static void record_write(const struct testdev *td, uint8_t *p)
{
	uint32_t regs[TESTDEV_NR_REGS];
	size_t i;

	put32(p, TESTDEV_MIG_MAGIC);
	put32(p + 4, TESTDEV_MIG_VERSION | TESTDEV_MIG_HDR << 16);
	put32(p + 8, mig_payload(td));
	put32(p + 12, 0);
	p += TESTDEV_MIG_HDR;
	memcpy(regs, &td->r, sizeof(regs));
	for (i = 0; i < TESTDEV_NR_REGS; i++)
		put32(p + 4 * i, regs[i]);
	p += TESTDEV_MIG_REGS;
	memcpy(p, td->bar1, td->bar1_size);
	memcpy(p + td->bar1_size, td->bar2, TESTDEV_BAR2_SIZE);
}

/* Queue a snapshot after the bytes the client has not read yet. */
static int save_snapshot(struct testdev *td)
{
	struct testdev_mig *m = &td->mig;
	size_t tail = m->save_len - m->save_pos;
	uint8_t *buf;

	buf = malloc(tail + mig_record(td));
	if (!buf)
		return -ENOMEM;
	if (tail)
		memcpy(buf, m->save + m->save_pos, tail);
	record_write(td, buf + tail);
	free(m->save);
	m->save = buf;
	m->save_len = tail + mig_record(td);
	m->save_pos = 0;
	return 0;
}

static void save_end(struct testdev *td)
{
	free(td->mig.save);
	td->mig.save = NULL;
	td->mig.save_len = td->mig.save_pos = 0;
}

static ssize_t mig_save(struct vus_dev *dev, void *opaque, void *buf, size_t len)
{
	struct testdev_mig *m = &((struct testdev *)opaque)->mig;
	size_t n = m->save_len - m->save_pos;

	if (n > len)
		n = len;
	if (n)
		memcpy(buf, m->save + m->save_pos, n);
	m->save_pos += n;
	return (ssize_t)n;
}

/* ---- load ----------------------------------------------------------- */

static void load_end(struct testdev *td)
{
	free(td->mig.load);
	free(td->mig.staged);
	td->mig.load = td->mig.staged = NULL;
	td->mig.load_len = 0;
	td->mig.load_complete = false;
}

static int load_begin(struct testdev *td)
{
	load_end(td);
	td->mig.load = malloc(mig_record(td));
	td->mig.staged = malloc(mig_record(td));
	if (!td->mig.load || !td->mig.staged) {
		load_end(td);
		return -ENOMEM;
	}
	return 0;
}

static int header_check(const struct testdev *td, const uint8_t *h)
{
	if (get32(h) != TESTDEV_MIG_MAGIC ||
	    get32(h + 4) != (TESTDEV_MIG_VERSION | TESTDEV_MIG_HDR << 16) ||
	    get32(h + 8) != mig_payload(td) || get32(h + 12) != 0)
		return -EINVAL;
	return 0;
}

static int mig_load(struct vus_dev *dev, void *opaque, const void *buf, size_t len)
{
	struct testdev *td = opaque;
	struct testdev_mig *m = &td->mig;
	size_t record = mig_record(td);
	const uint8_t *p = buf;
	uint8_t *swap;
	size_t n;

	if (!m->load)
		return -EINVAL;
	while (len) {
		n = record - m->load_len;
		if (m->load_len < TESTDEV_MIG_HDR)
			n = TESTDEV_MIG_HDR - m->load_len;
		if (n > len)
			n = len;
		memcpy(m->load + m->load_len, p, n);
		m->load_len += n;
		p += n;
		len -= n;
		if (m->load_len == TESTDEV_MIG_HDR && header_check(td, m->load) < 0) {
			m->load_len = 0;
			return -EINVAL;
		}
		if (m->load_len == record) {
			swap = m->staged;
			m->staged = m->load;
			m->load = swap;
			m->load_len = 0;
			m->load_complete = true;
		}
	}
	return 0;
}

static void record_apply(struct testdev *td, const uint8_t *rec)
{
	const uint8_t *p = rec + TESTDEV_MIG_HDR;
	uint32_t regs[TESTDEV_NR_REGS];
	size_t i;

	for (i = 0; i < TESTDEV_NR_REGS; i++)
		regs[i] = get32(p + 4 * i);
	/* Whatever ran here does not move with the state; a transfer the
	 * source parked does, and restarts on RUNNING. */
	testdev_dma_abandon(td);
	memcpy(&td->r, regs, sizeof(regs));
	if (!td->r.dma_parked)
		td->r.dma_status &= ~TESTDEV_DMA_BUSY;
	p += TESTDEV_MIG_REGS;
	memcpy(td->bar1, p, td->bar1_size);
	memcpy(td->bar2, p + td->bar1_size, TESTDEV_BAR2_SIZE);
	/* Causes that arrived pending hold their lines here too; with the
	 * framed stream the library then replaces the pending bits with the
	 * source's, so an interrupt the source delivered is not sent twice
	 * (docs/migration.md "Interrupts in the stream"). */
	testdev_sync_irqs(td);
}

/* RESUMING -> STOP: apply the last complete record. An empty stream
 * changes nothing (an aborted migration); a cut record fails the arc. */
static int load_commit(struct testdev *td)
{
	if (td->mig.load_len)
		return -EINVAL;
	if (td->mig.load_complete)
		record_apply(td, td->mig.staged);
	load_end(td);
	return 0;
}

/* ---- state machine -------------------------------------------------- */

static int mig_transition(struct vus_dev *dev, void *opaque, enum vus_mig_state from,
			  enum vus_mig_state to)
{
	struct testdev *td = opaque;

	switch (to) {
	case VUS_MIG_STATE_PRE_COPY:
	case VUS_MIG_STATE_STOP_COPY:
		return save_snapshot(td);
	case VUS_MIG_STATE_RESUMING:
		return load_begin(td);
	case VUS_MIG_STATE_STOP:
		if (from == VUS_MIG_STATE_RESUMING)
			return load_commit(td);
		save_end(td);
		return 0;
	case VUS_MIG_STATE_RUNNING:
		/* Also the library's reset arc (from any state, device.h):
		 * a save or load in progress is dropped. */
		save_end(td);
		load_end(td);
		testdev_dma_resume(td);
		return 0;
	default:
		return -EINVAL;
	}
}

int testdev_mig_setup(struct testdev *td)
{
	static const struct vus_migration_ops ops = {
		/* FRAMED: the library checks the stream (docs/migration.md). */
		.flags = VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY | VUS_MIGRATION_FRAMED,
		.transition = mig_transition,
		.save = mig_save,
		.load = mig_load,
	};

	return vus_dev_set_migration(td->dev, &ops, td);
}

void testdev_mig_clear(struct testdev *td)
{
	save_end(td);
	load_end(td);
}
