/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection (include/vus/fault.h): commands failed with a chosen
 * errno, replies held back without blocking the loop, the client dropped
 * now or after N commands.
 *
 * Hooks: vus_dispatch() asks vus_fault_command() before running a
 * command and vus_fault_hold() before sending its reply, then calls
 * vus_fault_replied(); the serve loop stops reading the client while
 * vus_fault_holding() and calls vus_fault_on_timer() when the fault
 * timerfd fires; the session's end drops what belongs to it. Everything
 * runs on the loop thread.
 *
 * A held reply is flattened into one buffer (the handler's iovs may point
 * into the reply struct or the handler's own memory) and keeps its fds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <vus/fault.h>

#include "dev_priv.h"
#include "fault.h"

struct vus_fault {
	struct vus_fault_rule rules[VUS_FAULT_MAX_RULES];
	unsigned nr_rules;
	int timer_fd;              /* -1 until the first delay */
	/* The held reply. */
	bool holding;
	struct vus_hdr hdr;
	int err;
	uint8_t *body;
	size_t body_len;
	int fds[2];
	unsigned nfds;
	/* Disconnect after this many more replies (0: none pending). */
	uint32_t disconnect_after;
	/* The current command's delay (vus_fault_command -> vus_fault_hold),
	 * and a used-up rule's copy. */
	uint32_t pending_delay;
	struct vus_fault_rule used;
};

static struct vus_fault *state(struct vus_dev *dev)
{
	if (!dev->fault) {
		dev->fault = calloc(1, sizeof(*dev->fault));
		if (dev->fault)
			dev->fault->timer_fd = -1;
	}
	return dev->fault;
}

int vus_dev_fault_add(struct vus_dev *dev, const struct vus_fault_rule *rule)
{
	struct vus_fault *f;

	if (!rule || rule->cmd < VUS_CMD_VERSION || rule->cmd > VUS_CMD_MAX ||
	    rule->error < 0 || rule->error > 4095 || (!rule->error && !rule->delay_ms))
		return -EINVAL;
	f = state(dev);
	if (!f)
		return -ENOMEM;
	if (f->nr_rules == VUS_FAULT_MAX_RULES)
		return -ENOSPC;
	if (rule->delay_ms && f->timer_fd < 0) {
		struct epoll_event ev = { .events = EPOLLIN };
		int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

		if (fd < 0)
			return -errno;
		ev.data.fd = fd;
		if (epoll_ctl(dev->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		f->timer_fd = fd;
	}
	f->rules[f->nr_rules++] = *rule;
	return 0;
}

void vus_dev_fault_clear(struct vus_dev *dev)
{
	if (dev->fault)
		dev->fault->nr_rules = 0;
}

int vus_dev_fault_disconnect(struct vus_dev *dev, uint32_t after)
{
	struct vus_fault *f;

	if (!after) {
		if (!dev->sess.attached)
			return -ENOTCONN;
		vus_log(dev, VUS_LOG_INFO, "fault injection: dropping the client");
		vus_session_end(&dev->sess, "fault injection: disconnect");
		return 0;
	}
	f = state(dev);
	if (!f)
		return -ENOMEM;
	f->disconnect_after = after;
	return 0;
}

/* The rule acting on cmd now, its count taken; NULL if none. */
static const struct vus_fault_rule *take_rule(struct vus_fault *f, unsigned cmd)
{
	unsigned i;

	for (i = 0; i < f->nr_rules; i++) {
		struct vus_fault_rule *r = &f->rules[i];

		if (r->cmd != cmd)
			continue;
		if (r->count == 1) {
			/* Used up: keep a copy to return, drop it from the list. */
			f->used = *r;
			memmove(r, r + 1, (f->nr_rules - i - 1) * sizeof(*r));
			f->nr_rules--;
			return &f->used;
		}
		if (r->count)
			r->count--;
		return r;
	}
	return NULL;
}

bool vus_fault_armed(const struct vus_dev *dev)
{
	return dev->fault && dev->fault->nr_rules > 0;
}

bool vus_fault_command(struct vus_dev *dev, const struct vus_hdr *h, int *err)
{
	const struct vus_fault_rule *r;

	if (!dev->fault)
		return false;
	dev->fault->pending_delay = 0;
	if (!dev->fault->nr_rules)
		return false;
	r = take_rule(dev->fault, h->cmd);
	if (!r)
		return false;
	dev->fault->pending_delay = r->delay_ms;
	if (!r->error)
		return false;
	vus_log(dev, VUS_LOG_INFO, "fault injection: %s id=%u fails with errno %d%s",
		vus_cmd_name(h->cmd), h->id, r->error, r->delay_ms ? ", reply held" : "");
	*err = r->error;
	return true;
}

static void arm(struct vus_fault *f, uint32_t ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L },
	};

	timerfd_settime(f->timer_fd, 0, &its, NULL);
}

static void drop_held(struct vus_fault *f)
{
	unsigned i;

	for (i = 0; i < f->nfds; i++)
		close(f->fds[i]);
	f->nfds = 0;
	free(f->body);
	f->body = NULL;
	f->holding = false;
}

bool vus_fault_hold(struct vus_dev *dev, const struct vus_hdr *h, struct vus_reply *r, int err)
{
	struct vus_fault *f = dev->fault;
	size_t len = 0, off = 0;
	uint32_t ms;
	int i;

	if (!f)
		return false;
	ms = f->pending_delay;
	f->pending_delay = 0;
	/* A handler may have ended the session: nothing to hold for. */
	if (!ms || f->timer_fd < 0 || f->holding || !dev->sess.attached)
		return false;
	if (!err)
		for (i = 0; i < r->iovcnt; i++)
			len += r->iov[i].iov_len;
	f->body = malloc(len ? len : 1);
	if (!f->body)
		return false;     /* not held: sent now */
	for (i = 0; !err && i < r->iovcnt; i++) {
		memcpy(f->body + off, r->iov[i].iov_base, r->iov[i].iov_len);
		off += r->iov[i].iov_len;
	}
	f->body_len = len;
	f->hdr = *h;
	f->err = err;
	/* The fds ride with the held reply; r forgets them. */
	f->nfds = r->nfds;
	memcpy(f->fds, r->fds, r->nfds * sizeof(int));
	r->nfds = 0;
	free(r->heap);
	r->heap = NULL;
	f->holding = true;
	vus_log(dev, VUS_LOG_INFO, "fault injection: reply to %s id=%u held %u ms",
		vus_cmd_name(h->cmd), h->id, ms);
	arm(f, ms);
	return true;
}

void vus_fault_replied(struct vus_dev *dev)
{
	struct vus_fault *f = dev->fault;

	if (!f || !f->disconnect_after || !dev->sess.attached)
		return;
	if (--f->disconnect_after == 0) {
		vus_log(dev, VUS_LOG_INFO, "fault injection: dropping the client");
		vus_session_end(&dev->sess, "fault injection: disconnect");
	}
}

bool vus_fault_holding(const struct vus_dev *dev)
{
	return dev->fault && dev->fault->holding;
}

int vus_fault_timer_fd(const struct vus_dev *dev)
{
	return dev->fault ? dev->fault->timer_fd : -1;
}

void vus_fault_on_timer(struct vus_dev *dev)
{
	struct vus_fault *f = dev->fault;
	struct vus_reply r;
	uint64_t n;
	uint64_t one = 1;

	if (read(f->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		vus_log(dev, VUS_LOG_WARN, "fault timer: %s", strerror(errno));
	if (!f->holding)
		return;
	vus_reply_init(&r);
	if (f->body_len)
		vus_reply_add(&r, f->body, f->body_len);
	r.heap = f->body;         /* freed once sent */
	memcpy(r.fds, f->fds, f->nfds * sizeof(int));
	r.nfds = f->nfds;
	f->body = NULL;
	f->nfds = 0;
	f->holding = false;
	vus_session_reply(&dev->sess, &f->hdr, &r, f->err);
	vus_fault_replied(dev);
	/* Messages read before the hold may wait in our buffer: look again. */
	if (write(dev->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vus_log(dev, VUS_LOG_WARN, "wake fd: %s", strerror(errno));
}

void vus_fault_session_end(struct vus_dev *dev)
{
	struct vus_fault *f = dev->fault;

	if (!f)
		return;
	drop_held(f);
	f->disconnect_after = 0;
}

void vus_fault_free(struct vus_dev *dev)
{
	struct vus_fault *f = dev->fault;

	if (!f)
		return;
	drop_held(f);
	if (f->timer_fd >= 0)
		close(f->timer_fd);
	free(f);
	dev->fault = NULL;
}
