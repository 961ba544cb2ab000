/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device path of vusd's loop: requests to devices do not go through
 * libevent.
 *
 * A 4-byte region access is one wake-up, one recvmsg() and one send() on
 * the server; when libevent reported the device's poll fd, its activation
 * and active-queue bookkeeping cost about 465 instructions per request, a
 * third of vusd's user-space work, and the client socket sat two epoll
 * sets deep (libevent's, the device's), each level a wake-up callback and
 * a nested poll in the kernel per request (docs/performance.md "vusd's
 * device path"). So vusd blocks in an epoll set of its own (d->dev_ep)
 * that holds every device's poll fd and its client's socket
 * (vus_dev_set_client_epoll(); data: the device) and, nested, libevent's
 * own epoll set (data: NULL). A wake-up for devices runs their
 * vus_dev_process() directly; one for libevent (control socket, signals,
 * a process-isolated device's channel) runs one non-blocking pass of
 * libevent's loop. The system calls per request stay three (this wait,
 * recvmsg, send).
 *
 * Fairness is libevent's: every ready device gets one vus_dev_process()
 * per wake-up, which the library bounds (256 messages or 5 ms,
 * docs/security.md section 2), and epoll hands out ready fds round-robin
 * (a reported level-triggered fd goes to the back of the ready list), so
 * a busy client cannot starve the other devices; libevent gets its turn
 * in every wake-up that reports it, after the devices: a control request
 * may remove a device, which must not happen while this batch still
 * holds a pointer to it.
 *
 * libevent has no call that returns its epoll fd; vusd_devloop_open()
 * finds it as the one epoll fd that creating the base opened (a probe
 * with epoll_wait(fd, 0), which consumes nothing: level-triggered). When
 * it is not found (another backend, say EVENT_NOEPOLL set), libevent
 * stays the loop and watches d->dev_ep as one event: devices are served
 * the same way, at one epoll_wait() more per wake-up.
 *
 * libevent timers: vusd arms one, the control socket's accept backoff
 * (control.c), and while it is armed d->lev_timeout_ms bounds the wait
 * and every wake-up runs libevent, so that it fires.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vusd.h"

/* Ready fds taken per wait; more stay ready for the next (epoll keeps
 * the rest, in order). */
#define VUSD_DEVLOOP_BATCH 16
/* fds above the lowest free one searched for libevent's epoll set: it
 * opens that, a socketpair for signals and, with some flags, a timerfd. */
#define VUSD_DEVLOOP_PROBE 16

/*
 * An event base for a vusd loop (vusd's, a device child's). In the
 * fallback every request to a device costs one pass of libevent's loop,
 * so the base skips bookkeeping vusd does not use (docs/performance.md
 * "Instructions per request"): no locks (one thread owns the base), and
 * no cached time, which libevent refreshes with a clock read after every
 * wait; the only timeout vusd sets (control.c's accept backoff) reads the
 * clock itself.
 */
static struct event_base *base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (!cfg)
		return NULL;
	if (event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK) < 0 ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_NO_CACHE_TIME) < 0) {
		event_config_free(cfg);
		return NULL;
	}
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

void vusd_devloop_stop(struct vusd *d, int exit_code)
{
	d->exit_code = exit_code;
	d->loop_done = true;
	event_base_loopbreak(d->base);
}

/* One device's turn. */
static void dev_ready(struct vusd *d, struct vusd_dev *vd)
{
	int rc = vus_dev_process(vd->inst.dev);

	if (rc < 0) {
		vusd_log(VUS_LOG_ERR, "device %s: listening socket failed: %s", vd->spec.name,
			 strerror(-rc));
		vusd_devloop_stop(d, VUSD_EXIT_RUNTIME);
	}
}

/* A device reports twice when its client socket and its poll fd are
 * both ready: one turn serves both. */
static bool seen(const struct epoll_event *ev, int i)
{
	for (int j = 0; j < i; j++)
		if (ev[j].data.ptr == ev[i].data.ptr)
			return true;
	return false;
}

/* One wait of up to timeout_ms and what it reports; true if libevent's
 * set was among it. */
static int batch(struct vusd *d, int timeout_ms, bool *lev)
{
	struct epoll_event ev[VUSD_DEVLOOP_BATCH];
	int i, n;

	n = epoll_wait(d->dev_ep, ev, VUSD_DEVLOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n && !d->loop_done; i++) {
		if (!ev[i].data.ptr)
			*lev = true;
		else if (!seen(ev, i))
			dev_ready(d, ev[i].data.ptr);
	}
	return n;
}

/* libevent as the loop (fallback): dev_ep is one of its events. */
static void on_devices(evutil_socket_t fd, short what, void *arg)
{
	struct vusd *d = arg;
	bool lev = false;
	int rc = batch(d, 0, &lev);

	if (rc < 0) {
		vusd_log(VUS_LOG_ERR, "device loop: %s", strerror(-rc));
		vusd_devloop_stop(d, VUSD_EXIT_RUNTIME);
	}
}

/* The new fd in [lo, lo + VUSD_DEVLOOP_PROBE) that is an epoll set, given
 * which of them were open before (open_before); -1 if none or several. */
static int find_new_epoll(int lo, const bool *open_before)
{
	struct epoll_event ev;
	int fd, found = -1;

	for (fd = lo; fd < lo + VUSD_DEVLOOP_PROBE; fd++) {
		if (open_before[fd - lo] || fcntl(fd, F_GETFD) < 0)
			continue;
		/* EINVAL: not an epoll fd. Timeout 0, level-triggered: what
		 * is ready stays ready for libevent. */
		if (epoll_wait(fd, &ev, 1, 0) < 0)
			continue;
		if (found >= 0)
			return -1;
		found = fd;
	}
	return found;
}

struct event_base *vusd_devloop_open(struct vusd *d)
{
	bool open_before[VUSD_DEVLOOP_PROBE];
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct event_base *base;
	const char *method;
	int lo, i;

	d->lev_fd = -1;
	d->lev_timeout_ms = -1;
	d->loop_done = false;
	d->dev_ep = epoll_create1(EPOLL_CLOEXEC);
	if (d->dev_ep < 0)
		return NULL;
	/* The lowest free fd: libevent's first one lands there or above. */
	lo = eventfd(0, EFD_CLOEXEC);
	if (lo >= 0)
		close(lo);
	for (i = 0; lo >= 0 && i < VUSD_DEVLOOP_PROBE; i++)
		open_before[i] = fcntl(lo + i, F_GETFD) >= 0;
	base = base_new();
	if (!base)
		goto err;
	method = event_base_get_method(base);
	if (lo >= 0 && method && strcmp(method, "epoll") == 0)
		d->lev_fd = find_new_epoll(lo, open_before);
	if (d->lev_fd >= 0 && epoll_ctl(d->dev_ep, EPOLL_CTL_ADD, d->lev_fd, &ev) < 0)
		d->lev_fd = -1;
	if (d->lev_fd >= 0)
		vusd_log(VUS_LOG_DEBUG, "device loop: an epoll set of its own, libevent's "
			 "nested in it");
	else
		vusd_log(VUS_LOG_DEBUG, "device loop: libevent's (its %s backend), "
			 "watching the devices' epoll set", method ? method : "unknown");
	if (d->lev_fd < 0) {
		/* Fallback: libevent waits, dev_ep is one of its fds. */
		d->dev_ev = event_new(base, d->dev_ep, EV_READ | EV_PERSIST, on_devices, d);
		if (!d->dev_ev || event_add(d->dev_ev, NULL) < 0) {
			if (d->dev_ev)
				event_free(d->dev_ev);
			d->dev_ev = NULL;
			event_base_free(base);
			goto err;
		}
	}
	return base;

err:
	close(d->dev_ep);
	d->dev_ep = -1;
	return NULL;
}

void vusd_devloop_close(struct vusd *d)
{
	if (d->dev_ev)
		event_free(d->dev_ev);
	d->dev_ev = NULL;
	if (d->dev_ep >= 0)
		close(d->dev_ep);
	d->dev_ep = -1;
	d->lev_fd = -1;
}

int vusd_devloop_watch(struct vusd *d, struct vusd_dev *vd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = vd };
	int rc;

	if (epoll_ctl(d->dev_ep, EPOLL_CTL_ADD, vus_dev_poll_fd(vd->inst.dev), &ev) < 0)
		return -errno;
	/* Its client's socket right here too, not nested in the poll fd. */
	rc = vus_dev_set_client_epoll(vd->inst.dev, d->dev_ep, (uint64_t)(uintptr_t)vd);
	if (rc < 0)
		vusd_log(VUS_LOG_WARN, "device %s: client socket stays behind its poll fd: %s",
			 vd->spec.name, strerror(-rc));
	vd->watched = true;
	return 0;
}

void vusd_devloop_unwatch(struct vusd *d, struct vusd_dev *vd)
{
	if (!vd->watched)
		return;
	vus_dev_set_client_epoll(vd->inst.dev, -1, 0);
	epoll_ctl(d->dev_ep, EPOLL_CTL_DEL, vus_dev_poll_fd(vd->inst.dev), NULL);
	vd->watched = false;
}

/* One non-blocking pass of libevent: what its fds reported, and its
 * expired timers. */
static int lev_pass(struct vusd *d)
{
	return event_base_loop(d->base, EVLOOP_NONBLOCK) < 0 ? -EIO : 0;
}

int vusd_devloop_run(struct vusd *d)
{
	int rc, timeout;
	bool lev;

	if (d->lev_fd < 0)
		return event_base_dispatch(d->base) < 0 ? -EIO : 0;
	/* What libevent was handed before the loop started (signals
	 * caught, events activated) runs first. */
	rc = lev_pass(d);
	while (rc >= 0 && !d->loop_done) {
		/* Events a callback activated wait for no fd: go round
		 * again without blocking. */
		timeout = event_base_get_num_events(d->base, EVENT_BASE_COUNT_ACTIVE) > 0
				  ? 0 : d->lev_timeout_ms;
		lev = false;
		rc = batch(d, timeout, &lev);
		/* While a libevent timer is armed, every wake-up may be
		 * when it is due (devices may keep the wait from timing
		 * out); that is a control socket out of fds only. */
		if (rc >= 0 && !d->loop_done && (lev || rc == 0 || d->lev_timeout_ms >= 0))
			rc = lev_pass(d);
	}
	return rc < 0 ? rc : 0;
}
