/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Serving, the top of the library: the listener, the epoll loop that
 * feeds a session's messages to dispatch and its DMA replies to the DMA
 * engine, the loop's wake-up and timer (given to the DMA engine as
 * struct vus_dma_loop), and what a session end drops (session_ended).
 *
 * dev->epfd holds every fd the loop waits on, each registered with its own
 * number as epoll data: the listener, the client socket, the twin socket,
 * the wake eventfd, the timerfd (reply deadlines of our DMA requests,
 * dma_rw.c; made at the first deadline, so a device that never sends DMA
 * requests holds none), the INTx resample fd (irq.c adds that one) and the
 * fds the device asked us to watch (vus_dev_watch_fd: its callback runs).
 * An idle device holds three fds: its listener, the epoll set and the
 * wake eventfd (docs/performance.md "fds per device"). An event
 * is matched against the fds the device holds *now*, so a report for an
 * fd that was closed earlier in the same batch matches nothing, and a
 * stale report for a reused number is harmless: every handler copes with
 * "nothing to read".
 *
 * Sends never wait; the session (session/session.c) queues and watches
 * for EPOLLOUT.
 *
 * Session end (docs/protocol.md 1.4): in-flight DMA fails with
 * ENOTCONN and every map goes (dma.c), IRQ eventfds close (irq.c), the
 * device hears VUS_RESET_LOST_CONN, then the sockets close. Device and
 * migration state stay for the next client.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "dev_priv.h"
#include "codec_bulk.h"
#include "dispatch.h"
#include "fault.h"
#include "fd_reserve.h"
#include "serve.h"

/* Messages handled per readiness report before other fds get a turn. */
#define VUS_MSGS_PER_CALL 256
/*
 * And the time they may take: a client that pipelines expensive commands
 * (dirty-log REPORTs, large reads of slow regions) yields the loop after
 * this much, plus the first message and the one under way, so the other
 * devices on the loop keep their latency (docs/security.md section 2).
 */
#define VUS_TURN_NS (5u * 1000000u)
/* Connections accepted per readiness report (a flood must not starve). */
#define VUS_ACCEPTS_PER_CALL 16
#define VUS_EPOLL_BATCH 8
/*
 * vus_dev_process() calls in a row that may read the client socket
 * without asking epoll first (see there); then one epoll_wait() gives
 * every other fd its turn.
 */
#define VUS_SHORTCUTS 16
/* docs/protocol.md 6 (message size): headroom for the fixed parts of a message. */
#define VUS_MSG_HEADROOM (64u * 1024u)

/*
 * Defaults of device.h "limits" (docs/protocol.md section 6 says why).
 * Output queue: 16 default-size messages; memory a client that stops
 * reading can pin, not a rate. DMA: the pending bound is backpressure for
 * device threads when the client is slow; the reply timeout reclaims a
 * dead client, so it is generous: ending a session is worse than waiting.
 */
#define VUS_DEF_OUT_QUEUE (16u << 20)
#define VUS_MIN_OUT_QUEUE 4096u
#define VUS_DEF_DMA_PENDING 1024u
#define VUS_DEF_DMA_TIMEOUT_MS 30000u

static uint64_t turn_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t max_msg(const struct vus_dev *dev)
{
	return VUS_HDR_SIZE + dev->max_xfer + VUS_MSG_HEADROOM;
}

static int watch(struct vus_dev *dev, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(dev->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void unwatch(struct vus_dev *dev, int fd)
{
	if (fd >= 0)
		epoll_ctl(dev->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/*
 * The session's on_end hook: what the layers above the session hold for
 * this client goes (docs/architecture.md "Session end"): in-flight DMA
 * fails with ENOTCONN and every map goes, dirty logging stops, IRQ
 * eventfds close, the device hears VUS_RESET_LOST_CONN. Device and
 * migration state stay for the next client.
 */
static void session_ended(void *opaque)
{
	struct vus_dev *dev = opaque;
	int err;

	vus_fault_session_end(dev);
	vus_dma_session_end(dev);
	vus_mig_session_end(dev);
	vus_irq_session_end(dev);
	if (dev->reset_cb) {
		err = dev->reset_cb(dev, dev->reset_opaque, VUS_RESET_LOST_CONN);
		if (err)
			vus_log(dev, VUS_LOG_WARN, "reset (lost connection): %s", strerror(-err));
	}
}

int vus_serve_init(struct vus_dev *dev)
{
	int err;

	dev->timer_fd = -1;
	dev->spare_held = false;
	for (int i = 0; i < VUS_DEV_MAX_WATCHES; i++)
		dev->watches[i].fd = -1;
	dev->limits = (struct vus_limits){
		.max_fds = VUS_MAX_FDS_PER_MSG,
		.out_queue = VUS_DEF_OUT_QUEUE,
		.dma_pending = VUS_DEF_DMA_PENDING,
		.dma_timeout_ms = VUS_DEF_DMA_TIMEOUT_MS,
	};
	dev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (dev->epfd < 0)
		return -errno;
	dev->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->wake_fd < 0) {
		err = -errno;
		goto err_ep;
	}
	err = watch(dev, dev->wake_fd);
	if (err)
		goto err_wake;
	vus_session_init(&dev->sess, dev->epfd, &dev->log, &dev->stats, session_ended, dev);
	return 0;

err_wake:
	close(dev->wake_fd);
	dev->wake_fd = -1;
err_ep:
	close(dev->epfd);
	dev->epfd = -1;
	return err;
}

void vus_serve_free(struct vus_dev *dev)
{
	vus_session_end(&dev->sess, "device freed");
	vus_fault_free(dev);
	if (dev->listen_fd >= 0) {
		unwatch(dev, dev->listen_fd);
		close(dev->listen_fd);
		dev->listen_fd = -1;
	}
	if (dev->listen_path) {
		unlink(dev->listen_path);
		free(dev->listen_path);
		dev->listen_path = NULL;
	}
	if (dev->spare_held)
		vus_fd_spare_put();
	dev->spare_held = false;
	if (dev->wake_fd >= 0)
		close(dev->wake_fd);
	if (dev->timer_fd >= 0)
		close(dev->timer_fd);
	if (dev->epfd >= 0)
		close(dev->epfd);
	dev->wake_fd = -1;
	dev->timer_fd = -1;
	dev->epfd = -1;
}

/* ---- limits (device.h) ---------------------------------------------- */

static bool serving(const struct vus_dev *dev)
{
	return dev->listen_fd >= 0 || dev->sess.attached;
}

int vus_dev_set_max_msg_fds(struct vus_dev *dev, unsigned max_fds)
{
	if (serving(dev))
		return -EBUSY;
	/* Below what VERSION advertises, a client keeping to it would fail. */
	if (max_fds < VUS_SERVER_MAX_MSG_FDS || max_fds > VUS_MAX_FDS_PER_MSG)
		return -EINVAL;
	dev->limits.max_fds = max_fds;
	return 0;
}

int vus_dev_set_output_limit(struct vus_dev *dev, uint64_t bytes)
{
	if (serving(dev))
		return -EBUSY;
	if (bytes < VUS_MIN_OUT_QUEUE)
		return -EINVAL;
	dev->limits.out_queue = bytes;
	return 0;
}

int vus_dev_set_dma_request_limits(struct vus_dev *dev, uint32_t max_pending,
				   uint32_t timeout_ms)
{
	if (serving(dev))
		return -EBUSY;
	if (max_pending == 0)
		return -EINVAL;
	dev->limits.dma_pending = max_pending;
	dev->limits.dma_timeout_ms = timeout_ms;
	return 0;
}

bool vus_dev_client_attached(const struct vus_dev *dev)
{
	return vus_session_attached(&dev->sess);
}

void vus_serve_session_limits(const struct vus_dev *dev, struct vus_session_limits *lim)
{
	*lim = (struct vus_session_limits){
		.max_msg = max_msg(dev),
		.max_fds = dev->limits.max_fds,
		.out_queue = dev->limits.out_queue,
	};
}

void vus_serve_set_sink(struct vus_dev *dev)
{
	const struct vus_conn_sink sink = {
		.fn = vus_dispatch_sink, .opaque = dev, .head = VUS_REGION_WRITE_HEAD,
	};

	vus_conn_set_sink(&dev->sess.conn, &sink);
}

static int session_start(struct vus_dev *dev, int fd)
{
	struct vus_session_limits lim;
	int err;

	vus_serve_session_limits(dev, &lim);
	err = vus_session_start(&dev->sess, fd, &lim);
	/* Large REGION_WRITEs to memory-backed regions skip the buffer. */
	if (err == 0)
		vus_serve_set_sink(dev);
	return err;
}

/* ---- listening ------------------------------------------------------ */

int vus_dev_listen(struct vus_dev *dev, const char *path)
{
	char *copy;
	int fd, err;

	if (!path)
		return -EINVAL;
	if (dev->listen_fd >= 0)
		return -EBUSY;
	err = vus_config_init(dev);
	if (err)
		return err;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	/* Owner only: the socket file is the access control (spec
	 * "Authentication"). */
	err = vus_listen_path(path, 0600, &fd);
	if (err)
		goto err_copy;
	err = watch(dev, fd);
	if (err)
		goto err_fd;
	dev->listen_fd = fd;
	vus_fd_spare_get();
	dev->spare_held = true;
	dev->listen_path = copy;
	return 0;

err_fd:
	close(fd);
	unlink(path);
err_copy:
	free(copy);
	return err;
}

int vus_dev_listen_fd(struct vus_dev *dev, int fd)
{
	int fl, err;

	if (dev->listen_fd >= 0)
		return -EBUSY;
	err = vus_listen_fd_check(fd);
	if (err)
		return err;
	err = vus_config_init(dev);
	if (err)
		return err;
	/* accept() after a readiness report must not block if the peer
	 * gave up in between. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	err = watch(dev, fd);
	if (err)
		return err;
	dev->listen_fd = fd;
	vus_fd_spare_get();
	dev->spare_held = true;
	return 0;
}

int vus_dev_attach_fd(struct vus_dev *dev, int fd)
{
	int err;

	if (fd < 0)
		return -EBADF;
	if (dev->sess.attached)
		return -EBUSY;
	err = vus_config_init(dev);
	if (err)
		return err;
	return session_start(dev, fd);
}

static bool serve_client(struct vus_dev *dev);

/*
 * Has the attached client gone, although its EOF is not handled yet? A
 * client that closes and at once connects again (QEMU after `vusctl
 * info`) can be accepted before its old socket's hang-up is read; the
 * kernel marks the old socket hung up inside the peer's close(), before
 * its connect() returns, so poll() here sees it.
 */
static bool client_hung_up(const struct vus_dev *dev)
{
	struct pollfd p = { .fd = dev->sess.conn.fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

/* End a session whose client has hung up: what it sent before leaving is
 * handled first, in order (its replies go nowhere), then its EOF ends it.
 * A hung-up peer sends nothing more, so this ends. */
static void finish_hung_up(struct vus_dev *dev)
{
	while (dev->sess.attached && !dev->sess.closing) {
		serve_client(dev);
		if (dev->sess.attached && !vus_conn_has_buffered(&dev->sess.conn) &&
		    !client_hung_up(dev))
			return; /* not gone after all: keep it */
	}
}

/* Accept what is pending; a second client is closed at once, unless the
 * first has hung up: then its session ends and the new one is served
 * (docs/protocol.md section 1.1). */
static int on_listen(struct vus_dev *dev)
{
	uint64_t quiet;
	int i, fd, err;

	for (i = 0; i < VUS_ACCEPTS_PER_CALL; i++) {
		err = vus_accept(dev->listen_fd, &fd);
		switch (err) {
		case 0:
			break;
		case -EAGAIN:
			return 0;
		case -EBADF:
		case -EINVAL:
		case -ENOTSOCK:
		case -EFAULT:
			vus_log(dev, VUS_LOG_ERR, "accept: %s", strerror(-err));
			return err;
		case -EMFILE:
		case -ENFILE:
			/* Out of fds: the connection would stay queued and the
			 * listener report ready again at once. Turn it away
			 * (fd_reserve.h) instead of spinning. */
			err = vus_accept_shed(dev->listen_fd);
			if (vus_ratelimit_pass(&dev->accept_log, &quiet))
				vus_log(dev, VUS_LOG_WARN, "accept: out of fds: connection "
					"closed (%llu so far)",
					(unsigned long long)dev->accept_log.events);
			if (err == 0)
				continue;
			return 0;
		default:
			/* Aborted connections and other resource shortages
			 * (ENOBUFS) pass; the listener is fine. */
			vus_log(dev, VUS_LOG_WARN, "accept: %s", strerror(-err));
			return 0;
		}
		if (dev->sess.attached && client_hung_up(dev))
			finish_hung_up(dev);
		if (dev->sess.attached) {
			vus_log(dev, VUS_LOG_INFO, "refused a second client: one at a time");
			close(fd);
			continue;
		}
		err = session_start(dev, fd);
		if (err) {
			vus_log(dev, VUS_LOG_WARN, "new client: %s", strerror(-err));
			close(fd);
		}
	}
	return 0;
}

/* ---- the loop ------------------------------------------------------- */

/* Serve the client's messages; false if the socket had nothing for us
 * (no message, no EOF, no error). */
static bool serve_client(struct vus_dev *dev)
{
	struct vus_session *s = &dev->sess;
	struct vus_rx_msg m;
	uint64_t start = 0;
	int i, rc;

	for (i = 0; i < VUS_MSGS_PER_CALL; i++) {
		/* A held reply (fault injection) pauses the client. */
		if (dev->fault && vus_fault_holding(dev))
			return true;
		/* One recvmsg() per wake-up: once the socket queue was seen
		 * empty, the level-triggered epoll reports new bytes, so an
		 * extra read here would only cost an EAGAIN round trip into
		 * the kernel on every request (docs/performance.md). */
		if (i > 0 && !vus_conn_may_have_more(&s->conn))
			return true;
		rc = vus_session_recv(s, &s->conn, &m);
		if (rc <= 0)
			return rc < 0 || i > 0;
		/* The turn's clock starts at its second message: a wake-up
		 * for one request (the common case) reads no clock. So a turn
		 * is VUS_TURN_NS plus up to two messages under way. */
		if (i == 1)
			start = turn_now_ns();
		vus_dispatch(dev, &m);
		if (!s->attached)
			return true;
		if (i > 0 && turn_now_ns() - start > VUS_TURN_NS)
			break;
	}
	/* Whole messages may wait in our buffer with the socket drained, so
	 * epoll would not report them: keep the poll fd readable instead of
	 * stalling them, after giving the other fds their turn. */
	if (vus_conn_has_buffered(&s->conn))
		vus_loop_wake(dev);
	return true;
}

/* The twin socket carries our DMA requests and the client's replies
 * (spec VERSION "twin_socket"); the session lets only replies through. */
static void serve_twin(struct vus_dev *dev)
{
	struct vus_session *s = &dev->sess;
	struct vus_rx_msg m;
	int i;

	for (i = 0; i < VUS_MSGS_PER_CALL; i++) {
		if (i > 0 && !vus_conn_may_have_more(&s->twin))
			return;
		if (vus_session_recv(s, &s->twin, &m) <= 0)
			return;
		vus_dma_on_reply(dev, &m);
		if (!s->attached)
			return;
	}
	if (vus_conn_has_buffered(&s->twin))
		vus_loop_wake(dev);
}

/*
 * A socket of the session reported events: EPOLLOUT writes queued bytes
 * (an error there ends the session), anything else is input (or the
 * EOF/error that recv reports).
 */
static void on_session_fd(struct vus_dev *dev, struct vus_conn *c, uint32_t events,
			  void (*serve)(struct vus_dev *dev))
{
	if ((events & EPOLLOUT) && vus_session_flush(&dev->sess, c) < 0)
		return;
	if (events & ~(uint32_t)EPOLLOUT)
		serve(dev);
}

static void serve_client_fd(struct vus_dev *dev)
{
	serve_client(dev);
}

static void on_timer(struct vus_dev *dev)
{
	uint64_t n;

	/* Non-blocking timerfd: EAGAIN when a re-arm raced the report. */
	if (read(dev->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		vus_log(dev, VUS_LOG_WARN, "timer fd: %s", strerror(errno));
	vus_dma_on_timer(dev);
}

/* The timerfd is made at the first deadline: most devices never send a
 * DMA request, and an fd per idle device is what limits a vusd's device
 * count (docs/performance.md "fds per device"). Loop thread only. */
static int timer_open(struct vus_dev *dev)
{
	int fd, err;

	if (dev->timer_fd >= 0)
		return 0;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = watch(dev, fd);
	if (err) {
		close(fd);
		return err;
	}
	dev->timer_fd = fd;
	return 0;
}

int vus_loop_timer_arm(void *opaque, uint64_t deadline_ns)
{
	struct vus_dev *dev = opaque;
	struct itimerspec its = {
		.it_value = {
			.tv_sec = (time_t)(deadline_ns / 1000000000u),
			.tv_nsec = (long)(deadline_ns % 1000000000u),
		},
	};
	int err = deadline_ns ? timer_open(dev) : 0;

	if (err) {
		/* Without a timer a dead client's DMA replies are not reclaimed
		 * until it goes; the engine tries again at its next request. */
		vus_log(dev, VUS_LOG_ERR, "DMA reply timer: %s", strerror(-err));
		return err;
	}
	if (dev->timer_fd < 0)
		return 0;
	if (timerfd_settime(dev->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		err = -errno;
		vus_log(dev, VUS_LOG_ERR, "timer fd: %s", strerror(-err));
		return err;
	}
	return 0;
}

static void on_wake(struct vus_dev *dev)
{
	uint64_t v;

	/* Non-blocking eventfd: one read resets it. */
	if (read(dev->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		vus_log(dev, VUS_LOG_WARN, "wake fd: %s", strerror(errno));
	/* A copy met SIGBUS in the client's memory (dma_guard.h). */
	if (__atomic_exchange_n(&dev->dma.faulted, 0, __ATOMIC_ACQ_REL))
		vus_session_end(&dev->sess, "client memory faulted (SIGBUS)");
	vus_dma_kick(dev);
	if (dev->sess.attached && vus_conn_has_buffered(&dev->sess.conn))
		serve_client(dev);
	if (dev->sess.attached && dev->sess.twin.fd >= 0 && vus_conn_has_buffered(&dev->sess.twin))
		serve_twin(dev);
}

static void note_loop_thread(struct vus_dev *dev)
{
	pthread_t self = pthread_self();

	if (!dev->loop_thread_known || !pthread_equal(dev->loop_thread, self)) {
		dev->loop_thread = self;
		dev->loop_thread_known = true;
	}
}

/* ---- the device's own fds (device.h vus_dev_watch_fd) ---------------- */

static struct vus_watch *watch_find(struct vus_dev *dev, int fd)
{
	for (int i = 0; i < VUS_DEV_MAX_WATCHES; i++)
		if (dev->watches[i].fd == fd)
			return &dev->watches[i];
	return NULL;
}

int vus_dev_watch_fd(struct vus_dev *dev, int fd, vus_fd_ready_fn cb, void *opaque)
{
	struct vus_watch *w;
	int err;

	if (fd < 0)
		return -EBADF;
	if (!cb)
		return -EINVAL;
	if (watch_find(dev, fd))
		return -EEXIST;
	w = watch_find(dev, -1);
	if (!w)
		return -ENOSPC;
	/* Same epoll data as the library's fds: the number itself. */
	err = watch(dev, fd);
	if (err)
		return err;
	*w = (struct vus_watch){ .fd = fd, .cb = cb, .opaque = opaque };
	return 0;
}

int vus_dev_unwatch_fd(struct vus_dev *dev, int fd)
{
	struct vus_watch *w = fd >= 0 ? watch_find(dev, fd) : NULL;

	if (!w)
		return -ENOENT;
	unwatch(dev, fd);
	w->fd = -1;
	w->cb = NULL;
	w->opaque = NULL;
	return 0;
}

/* A report for none of the library's fds: a watched one, or a stale
 * report for an fd unwatched earlier in this batch (matches nothing). */
static void on_watched(struct vus_dev *dev, int fd)
{
	struct vus_watch *w = watch_find(dev, fd);

	if (w)
		w->cb(dev, w->opaque, fd);
}

int vus_dev_poll_fd(const struct vus_dev *dev)
{
	return dev->epfd;
}

/* Handle what epoll reports within timeout_ms (0: only what is ready). */
static int process(struct vus_dev *dev, int timeout_ms)
{
	struct epoll_event ev[VUS_EPOLL_BATCH];
	int i, n, err = 0;

	note_loop_thread(dev);
	n = epoll_wait(dev->epfd, ev, VUS_EPOLL_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	dev->shortcuts = VUS_SHORTCUTS;
	for (i = 0; i < n && !err; i++) {
		int fd = ev[i].data.fd;

		if (fd == dev->wake_fd)
			on_wake(dev);
		else if (fd == dev->timer_fd)
			on_timer(dev);
		else if (fd == dev->listen_fd)
			err = on_listen(dev);
		else if (fd == dev->sess.conn.fd)
			on_session_fd(dev, &dev->sess.conn, ev[i].events, serve_client_fd);
		else if (fd == dev->sess.twin.fd)
			on_session_fd(dev, &dev->sess.twin, ev[i].events, serve_twin);
		else if (fd == dev->irqs[VUS_PCI_INTX_IRQ].resample_fd)
			vus_irq_resample(dev);
		else if (fd == vus_fault_timer_fd(dev))
			vus_fault_on_timer(dev);
		else
			on_watched(dev, fd);
		/* Whatever ran may have queued output. */
		vus_session_sync_out(&dev->sess);
	}
	return err;
}

/*
 * May vus_dev_process() read the client socket before asking epoll? Not
 * while output waits (EPOLLOUT may be why we were called), while a held
 * reply pauses the client, or after VUS_SHORTCUTS reads in a row.
 */
static bool may_shortcut(const struct vus_dev *dev)
{
	const struct vus_session *s = &dev->sess;

	return dev->shortcuts > 0 && s->attached && !s->closing && s->conn.fd >= 0 &&
	       !s->conn_out && !s->twin_out && !(dev->fault && vus_fault_holding(dev));
}

/*
 * The client socket in the caller's own epoll set (vus_dev_set_client_epoll):
 * its readiness never shows in the poll fd, so every call serves it --
 * queued output first (the caller may have been woken for EPOLLOUT), then
 * what it sent. True if it had something for us.
 */
static bool serve_outer_client(struct vus_dev *dev)
{
	struct vus_session *s = &dev->sess;

	if (!s->attached || s->closing || s->conn.fd < 0)
		return false;
	if (s->conn_out && vus_session_flush(s, &s->conn) < 0)
		return true; /* the session ended */
	if (dev->fault && vus_fault_holding(dev))
		return false;
	return serve_client(dev);
}

/*
 * The caller's loop (vusd's, an application's poll()) has just seen the
 * poll fd readable, and in the common case that is one request on the
 * client socket. Reading it straight away saves the nested
 * epoll_wait(): a request costs the caller's wait, one recvmsg() and one
 * sendmsg() (docs/performance.md). When the read finds nothing, the
 * wake-up was for another fd and epoll_wait() finds which: one EAGAIN
 * more, on wake-ups that are not requests only. Replies queued by the
 * batch still go out together (vus_session_sync_out).
 */
int vus_dev_process(struct vus_dev *dev)
{
	bool served;

	/* Handed over (live update): the client is paused, not ours to read. */
	if (dev->live_out)
		return 0;
	if (dev->sess.conn_epfd >= 0) {
		note_loop_thread(dev);
		served = serve_outer_client(dev);
		vus_session_sync_out(&dev->sess);
		/* The same bound as below: then the other fds get a turn. */
		if (served && dev->shortcuts > 0) {
			dev->shortcuts--;
			return 0;
		}
		return process(dev, 0);
	}
	if (may_shortcut(dev)) {
		note_loop_thread(dev);
		dev->shortcuts--;
		if (serve_client(dev)) {
			vus_session_sync_out(&dev->sess);
			return 0;
		}
	}
	return process(dev, 0);
}

int vus_dev_set_client_epoll(struct vus_dev *dev, int epfd, uint64_t data)
{
	return vus_session_set_conn_epoll(&dev->sess, epfd, data);
}

int vus_dev_run(struct vus_dev *dev)
{
	int err = 0;

	/* It waits in the poll fd's set alone: the client is not there. */
	if (dev->sess.conn_epfd >= 0)
		return -EINVAL;
	/* Blocking in epoll_wait itself saves a poll() per wake-up. */
	while (!err && !__atomic_load_n(&dev->stop, __ATOMIC_ACQUIRE) && !dev->live_out)
		err = process(dev, -1);
	/* Consumed: a later vus_dev_run() serves again. */
	__atomic_store_n(&dev->stop, 0, __ATOMIC_RELEASE);
	return err;
}

void vus_loop_wake(void *opaque)
{
	struct vus_dev *dev = opaque;
	uint64_t one = 1;
	ssize_t n;

	/* EAGAIN: the counter is saturated, a wake-up is pending anyway. */
	n = write(dev->wake_fd, &one, sizeof(one));
	(void)n;
}

void vus_dev_stop(struct vus_dev *dev)
{
	int saved = errno; /* may run in a signal handler */

	__atomic_store_n(&dev->stop, 1, __ATOMIC_RELEASE);
	vus_loop_wake(dev);
	errno = saved;
}
