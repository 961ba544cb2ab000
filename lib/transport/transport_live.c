/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A connection handed to another owner without losing a byte (live
 * update, docs/live-update.md): what was received but not yet returned as
 * a message travels with the socket, and what waits to be sent is written
 * first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transport.h"

int vus_conn_input_peek(struct vus_conn *c, const uint8_t **bytes, size_t *len)
{
	/* The message last returned was handled: release it, as the next
	 * receive would. */
	if (c->msg_out) {
		c->start += c->msg_len;
		c->msg_out = false;
	}
	/* fds waiting for their header, an oversized body half drained, or a
	 * large payload half received straight into device memory (the sink,
	 * docs/performance.md): rare, and a moment later they are gone. */
	if (c->npending || c->pending_trunc || c->skip || c->bulk_on)
		return -EAGAIN;
	*bytes = c->buf ? c->buf + c->start : NULL;
	*len = c->end - c->start;
	return 0;
}

int vus_conn_input_put(struct vus_conn *c, const uint8_t *bytes, size_t len)
{
	if (!len)
		return 0;
	if (len > c->max_msg * 2ull + VUS_RX_BUF_MIN || c->end != c->start)
		return -EINVAL;
	if (c->cap < len) {
		uint8_t *nb = realloc(c->buf, len);

		if (!nb)
			return -ENOMEM;
		c->buf = nb;
		c->cap = len;
	}
	memcpy(c->buf, bytes, len);
	c->start = c->scan = 0;
	c->end = len;
	c->drained = false;
	return 0;
}

int vus_conn_flush_wait(struct vus_conn *c, int timeout_ms)
{
	struct timespec t0, now;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (vus_conn_out_pending(c)) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		long spent;

		err = vus_conn_flush(c);
		if (err < 0)
			return err;
		if (!vus_conn_out_pending(c))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		spent = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= timeout_ms)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)(timeout_ms - spent)) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}
