/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev's DMA engine: one transfer at a time between guest memory
 * (IOVA) and BAR1, started by DMA_CMD (register map in testdev.h).
 *
 * Transfers go through vus_dma_read_async()/vus_dma_write_async(), so they
 * work whether the client mapped guest memory with an fd (direct copy) or
 * without (DMA_READ/DMA_WRITE messages) — and never block the loop
 * thread, which may be answering the very REGION_WRITE that started the
 * transfer: QEMU waits for that reply holding the lock it needs to serve
 * our DMA messages (docs/qemu.md, "Server requests while a vCPU waits").
 *
 * Each transfer copies through its own bounce buffer: BAR1 is only touched
 * on the loop thread (at start for dir 1, at completion for dir 0), never
 * by a copy running elsewhere, so a reset, a migration load or a guest
 * access to BAR1 cannot race with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testdev_priv.h"

struct testdev_xfer {
	struct testdev_xfer *next;
	struct testdev *td;
	uint32_t gen;      /* td->dma_gen at start */
	uint32_t cmd;      /* DMA_CMD value that started it */
	uint32_t bar1_off;
	uint32_t len;
	uint8_t data[];    /* bounce buffer, len bytes */
};

/* A transfer ended (result 0 or -errno): status, count, optional IRQ. */
static void dma_finish(struct testdev *td, uint32_t cmd, int result)
{
	struct testdev_regs *r = &td->r;

	r->dma_status &= ~TESTDEV_DMA_BUSY;
	if (result < 0) {
		r->dma_status = (r->dma_status & 0xffffu) | TESTDEV_DMA_ERROR |
				((uint32_t)(-result & 0xffff) << 16);
		/* Nothing mapped there: on a bus, the transaction would end
		 * in a master abort, which the Status register records
		 * (RW1C, the driver clears it). */
		if (result == -EFAULT)
			(void)vus_dev_config_set_status(td->dev, TESTDEV_CFG_STATUS, 2,
							TESTDEV_STATUS_MASTER_ABORT);
	} else {
		r->dma_status &= ~TESTDEV_DMA_ERROR;
		r->dma_count++;
	}
	/* A failed transfer has completed too: interrupting lets the driver
	 * see the error without polling. */
	if (cmd & TESTDEV_DMA_IRQ)
		testdev_raise_irq(td, TESTDEV_IRQ_DMA);
}

static void xfer_unlink(struct testdev *td, struct testdev_xfer *x)
{
	struct testdev_xfer **pp;

	for (pp = &td->xfers; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			return;
		}
	}
}

static void dma_done(struct vus_dev *dev, void *arg, int result)
{
	struct testdev_xfer *x = arg;
	struct testdev *td = x->td;

	xfer_unlink(td, x);
	if (x->gen == td->dma_gen && result == -ECANCELED) {
		/* Migration stopped the device with the transfer waiting on
		 * the client: not done, not failed. It stays busy, travels in
		 * the saved state and runs again on RUNNING (docs/migration.md). */
		td->r.dma_parked = x->cmd;
	} else if (x->gen == td->dma_gen) {
		if (result == 0 && !(x->cmd & TESTDEV_DMA_TO_HOST))
			memcpy(td->bar1 + x->bar1_off, x->data, x->len);
		dma_finish(td, x->cmd, result);
	}
	free(x);
}

void testdev_dma_cmd(struct testdev *td, uint32_t cmd)
{
	struct testdev_regs *r = &td->r;
	bool to_host = cmd & TESTDEV_DMA_TO_HOST;
	uint64_t src = (uint64_t)r->dma_src_hi << 32 | r->dma_src_lo;
	uint64_t dst = (uint64_t)r->dma_dst_hi << 32 | r->dma_dst_lo;
	uint64_t bar1_off = to_host ? src : dst;
	uint64_t iova = to_host ? dst : src;
	uint32_t len = r->dma_len;
	struct testdev_xfer *x;
	int rc;

	/* Like edu, a start while a transfer runs is ignored. */
	if (!(cmd & TESTDEV_DMA_START) || (r->dma_status & TESTDEV_DMA_BUSY))
		return;
	rc = testdev_fault_dma_take(td);
	if (rc) {
		dma_finish(td, cmd, -rc);
		return;
	}
	if (len > td->bar1_size || bar1_off > td->bar1_size - len) {
		dma_finish(td, cmd, -EINVAL);
		return;
	}
	if (len == 0) {
		dma_finish(td, cmd, 0);
		return;
	}
	x = malloc(sizeof(*x) + len);
	if (!x) {
		dma_finish(td, cmd, -ENOMEM);
		return;
	}
	*x = (struct testdev_xfer){
		.next = td->xfers, .td = td, .gen = td->dma_gen, .cmd = cmd,
		.bar1_off = (uint32_t)bar1_off, .len = len,
	};
	td->xfers = x;
	r->dma_status |= TESTDEV_DMA_BUSY;

	if (to_host) {
		memcpy(x->data, td->bar1 + bar1_off, len);
		rc = vus_dma_write_async(td->dev, iova, x->data, len, dma_done, x);
	} else {
		rc = vus_dma_read_async(td->dev, iova, x->data, len, dma_done, x);
	}
	if (rc < 0) {
		/* Not started: done will not be called. */
		xfer_unlink(td, x);
		free(x);
		dma_finish(td, cmd, rc);
	}
}

void testdev_dma_resume(struct testdev *td)
{
	uint32_t cmd = td->r.dma_parked;

	if (!cmd)
		return;
	td->r.dma_parked = 0;
	td->r.dma_status &= ~TESTDEV_DMA_BUSY;
	testdev_dma_cmd(td, cmd);
}

void testdev_dma_abandon(struct testdev *td)
{
	td->dma_gen++;
	td->r.dma_parked = 0;
}

void testdev_dma_free(struct testdev *td)
{
	struct testdev_xfer *x, *next;

	for (x = td->xfers; x; x = next) {
		next = x->next;
		free(x);
	}
	td->xfers = NULL;
}
