/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Serving: the listener, the epoll loop and client sessions.
 *
 * dev->epfd holds every fd the loop waits on, each registered with its own
 * number as epoll data: the listener, the client socket, the twin socket,
 * the wake eventfd, the timerfd (reply deadlines of our DMA requests,
 * dma_rw.c) and the INTx resample fd (irq.c adds that one). An event
 * is matched against the fds the device holds *now*, so a report for an
 * fd that was closed earlier in the same batch matches nothing, and a
 * stale report for a reused number is harmless: every handler copes with
 * "nothing to read".
 *
 * Sends never wait (one client that does not read must not stall
 * the other devices of a loop): both sockets queue what the peer does not
 * take at once (transport.h, queued mode) and are watched for EPOLLOUT
 * while bytes wait. A queue over its limit ends the session.
 *
 * Session end (decisions.md "Sessions"): in-flight DMA fails with
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
#include <unistd.h>

#include "dev_priv.h"
#include "fd_reserve.h"

/* Messages handled per readiness report before other fds get a turn. */
#define VUS_MSGS_PER_CALL 256
/* Connections accepted per readiness report (a flood must not starve). */
#define VUS_ACCEPTS_PER_CALL 16
#define VUS_EPOLL_BATCH 8
/* decisions.md "Framing": headroom for the fixed parts of a message. */
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

/* Watch fd for EPOLLOUT too while its output queue holds bytes. */
static void watch_out(struct vus_dev *dev, const struct vus_conn *c, bool *armed)
{
	bool want = vus_conn_out_pending(c);
	struct epoll_event ev = {
		.events = EPOLLIN | (want ? EPOLLOUT : 0),
		.data.fd = c->fd,
	};

	if (c->fd < 0 || want == *armed)
		return;
	if (epoll_ctl(dev->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		vus_log(dev, VUS_LOG_ERR, "epoll (output): %s", strerror(errno));
		return;
	}
	*armed = want;
}

static void sync_out(struct vus_dev *dev)
{
	watch_out(dev, &dev->sess.conn, &dev->sess.conn_out);
	watch_out(dev, &dev->sess.twin, &dev->sess.twin_out);
}

int vus_serve_init(struct vus_dev *dev)
{
	int err;

	dev->timer_fd = -1;
	dev->spare_fd = -1;
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
	dev->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (dev->timer_fd < 0) {
		err = -errno;
		goto err_wake;
	}
	err = watch(dev, dev->timer_fd);
	if (err)
		goto err_timer;
	return 0;

err_timer:
	close(dev->timer_fd);
	dev->timer_fd = -1;
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
	vus_session_close(dev, "device freed");
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
	vus_fd_spare_close(&dev->spare_fd);
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

/* ---- sessions ------------------------------------------------------- */

static int session_start(struct vus_dev *dev, int fd)
{
	struct vus_session *s = &dev->sess;
	int err;

	err = vus_conn_init(&s->conn, fd, max_msg(dev));
	if (err)
		return err;
	s->conn.max_fds = dev->limits.max_fds;
	vus_conn_set_out_limit(&s->conn, dev->limits.out_queue);
	s->conn_out = false;
	err = watch(dev, fd);
	if (err) {
		/* fd stays the caller's: detach it from the conn first. */
		s->conn.fd = -1;
		vus_conn_close(&s->conn);
		return err;
	}
	s->negotiated = false;
	__atomic_store_n(&s->attached, true, __ATOMIC_RELEASE);
	pthread_mutex_lock(&dev->stats_lock);
	dev->stats.clients++;
	pthread_mutex_unlock(&dev->stats_lock);
	vus_log(dev, VUS_LOG_INFO, "client attached");
	return 0;
}

int vus_session_twin_open(struct vus_dev *dev, int *peer)
{
	struct vus_session *s = &dev->sess;
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	err = vus_conn_init(&s->twin, sv[0], max_msg(dev));
	if (err)
		goto err_pair;
	s->twin.max_fds = dev->limits.max_fds;
	vus_conn_set_out_limit(&s->twin, dev->limits.out_queue);
	s->twin_out = false;
	err = watch(dev, sv[0]);
	if (err)
		goto err_conn;
	*peer = sv[1];
	return 0;

err_conn:
	s->twin.fd = -1;
	vus_conn_close(&s->twin);
err_pair:
	close(sv[0]);
	close(sv[1]);
	return err;
}

void vus_session_close(struct vus_dev *dev, const char *why)
{
	struct vus_session *s = &dev->sess;
	int err;

	if (!s->attached || s->closing)
		return;
	vus_log(dev, VUS_LOG_INFO, "client session ends: %s", why);
	/* First, so nothing below (a DMA completion starting another
	 * transfer, say) sends to this client again or re-enters. */
	s->closing = true;
	s->negotiated = false;
	vus_dma_session_end(dev);
	vus_irq_session_end(dev);
	if (dev->reset_cb) {
		err = dev->reset_cb(dev, dev->reset_opaque, VUS_RESET_LOST_CONN);
		if (err)
			vus_log(dev, VUS_LOG_WARN, "reset (lost connection): %s", strerror(-err));
	}
	unwatch(dev, s->twin.fd);
	vus_conn_close(&s->twin);
	unwatch(dev, s->conn.fd);
	vus_conn_close(&s->conn);
	s->conn_out = s->twin_out = false;
	s->negotiated = false;
	memset(&s->client, 0, sizeof(s->client));
	s->layout = VUS_DMA_LAYOUT_SPEC;
	s->client_max_xfer = 0;
	s->client_max_fds = 0;
	s->closing = false;
	/* Last: whoever sees "detached" sees the whole teardown done. */
	__atomic_store_n(&s->attached, false, __ATOMIC_RELEASE);
}

int vus_session_send_request(struct vus_dev *dev, struct vus_hdr *h, const struct iovec *iov,
			     int iovcnt)
{
	struct vus_session *s = &dev->sess;
	struct vus_conn *c;
	int err;

	/* Before VERSION there is no agreed format, while closing no peer. */
	if (!s->attached || s->closing || !s->negotiated)
		return -ENOTCONN;
	c = s->twin.fd >= 0 ? &s->twin : &s->conn;
	err = vus_conn_send(c, h, iov, iovcnt, NULL, 0);
	if (err == -ENOBUFS)
		vus_log(dev, VUS_LOG_WARN,
			"output queue over its limit (%llu bytes): the client does not read",
			(unsigned long long)dev->limits.out_queue);
	if (err) {
		/* A half-sent message leaves the stream unusable. Closing the
		 * session here would pull it from under the caller (dma.c is
		 * mid-queue); shutdown makes the loop see EOF and end it at
		 * its next turn. */
		shutdown(c->fd, SHUT_RDWR);
		return err;
	}
	pthread_mutex_lock(&dev->stats_lock);
	dev->stats.bytes_out += h->size;
	pthread_mutex_unlock(&dev->stats_lock);
	return 0;
}

bool vus_dev_client_attached(const struct vus_dev *dev)
{
	return __atomic_load_n(&dev->sess.attached, __ATOMIC_ACQUIRE);
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
	vus_fd_spare_open(&dev->spare_fd);
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
	vus_fd_spare_open(&dev->spare_fd);
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

/* Accept what is pending; a second client is closed at once. */
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
			err = vus_accept_shed(dev->listen_fd, &dev->spare_fd);
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

static void recv_failed(struct vus_dev *dev, const char *sock, int err)
{
	if (err == -ECONNRESET) {
		vus_session_close(dev, "client disconnected");
		return;
	}
	vus_log(dev, VUS_LOG_WARN, "%s socket: %s", sock,
		err == -EPROTO ? "malformed header, stream lost" : strerror(-err));
	vus_session_close(dev, err == -EPROTO ? "protocol error" : "socket error");
}

static void serve_client(struct vus_dev *dev)
{
	struct vus_rx_msg m;
	int i, rc;

	for (i = 0; i < VUS_MSGS_PER_CALL; i++) {
		/* One recvmsg() per wake-up: once the socket queue was seen
		 * empty, the level-triggered epoll reports new bytes, so an
		 * extra read here would only cost an EAGAIN round trip into
		 * the kernel on every request (see bench/). */
		if (i > 0 && !vus_conn_may_have_more(&dev->sess.conn))
			return;
		rc = vus_conn_recv(&dev->sess.conn, &m);
		if (rc == 0)
			return;
		if (rc < 0) {
			recv_failed(dev, "client", rc);
			return;
		}
		vus_dispatch(dev, &m);
		if (!dev->sess.attached)
			return;
	}
	/* Whole messages may wait in our buffer with the socket drained, so
	 * epoll would not report them: keep the poll fd readable instead of
	 * stalling them, after giving the other fds their turn. */
	if (vus_conn_has_buffered(&dev->sess.conn))
		vus_dev_wake(dev);
}

/*
 * The twin socket carries our DMA requests and the client's replies
 * (spec VERSION "twin_socket"). A command arriving there is a client that
 * does not follow the protocol: like other violations the session ends,
 * rather than answering on a channel the client does not read replies on.
 */
static void serve_twin(struct vus_dev *dev)
{
	struct vus_session *s = &dev->sess;
	struct vus_rx_msg m;
	int i, rc;

	for (i = 0; i < VUS_MSGS_PER_CALL; i++) {
		if (i > 0 && !vus_conn_may_have_more(&s->twin))
			return;
		rc = vus_conn_recv(&s->twin, &m);
		if (rc == 0)
			return;
		if (rc < 0) {
			recv_failed(dev, "twin", rc);
			return;
		}
		pthread_mutex_lock(&dev->stats_lock);
		dev->stats.bytes_in += m.v.hdr.size;
		pthread_mutex_unlock(&dev->stats_lock);
		if (!vus_hdr_is_reply(&m.v.hdr)) {
			vus_rx_msg_close_fds(&m);
			vus_log(dev, VUS_LOG_WARN, "command %s on the twin socket",
				vus_cmd_name(m.v.hdr.cmd));
			vus_session_close(dev, "protocol error");
			return;
		}
		vus_log(dev, VUS_LOG_TRACE, "rx %s id=%u reply size=%u (twin)",
			vus_cmd_name(m.v.hdr.cmd), m.v.hdr.id, m.v.hdr.size);
		vus_dma_on_reply(dev, &m);
		if (!s->attached)
			return;
	}
	if (vus_conn_has_buffered(&s->twin))
		vus_dev_wake(dev);
}

/*
 * A socket of the session reported events: EPOLLOUT writes queued bytes
 * (an error there ends the session), anything else is input (or the
 * EOF/error that recv reports).
 */
static void on_session_fd(struct vus_dev *dev, struct vus_conn *c, uint32_t events,
			  void (*serve)(struct vus_dev *dev))
{
	if (events & EPOLLOUT) {
		int err = vus_conn_flush(c);

		if (err < 0) {
			vus_log(dev, VUS_LOG_WARN, "%s socket: %s",
				c == &dev->sess.conn ? "client" : "twin", strerror(-err));
			vus_session_close(dev, "socket error");
			return;
		}
	}
	if (events & ~(uint32_t)EPOLLOUT)
		serve(dev);
}

static void on_timer(struct vus_dev *dev)
{
	uint64_t n;

	/* Non-blocking timerfd: EAGAIN when a re-arm raced the report. */
	if (read(dev->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		vus_log(dev, VUS_LOG_WARN, "timer fd: %s", strerror(errno));
	vus_dma_on_timer(dev);
}

void vus_loop_timer_arm(struct vus_dev *dev, uint64_t deadline_ns)
{
	struct itimerspec its = {
		.it_value = {
			.tv_sec = (time_t)(deadline_ns / 1000000000u),
			.tv_nsec = (long)(deadline_ns % 1000000000u),
		},
	};

	if (timerfd_settime(dev->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		vus_log(dev, VUS_LOG_ERR, "timer fd: %s", strerror(errno));
}

static void on_wake(struct vus_dev *dev)
{
	uint64_t v;

	/* Non-blocking eventfd: one read resets it. */
	if (read(dev->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		vus_log(dev, VUS_LOG_WARN, "wake fd: %s", strerror(errno));
	/* A copy met SIGBUS in the client's memory (dma_guard.h). */
	if (__atomic_exchange_n(&dev->dma.faulted, 0, __ATOMIC_ACQ_REL))
		vus_session_close(dev, "client memory faulted (SIGBUS)");
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
	for (i = 0; i < n && !err; i++) {
		int fd = ev[i].data.fd;

		if (fd == dev->wake_fd)
			on_wake(dev);
		else if (fd == dev->timer_fd)
			on_timer(dev);
		else if (fd == dev->listen_fd)
			err = on_listen(dev);
		else if (fd == dev->sess.conn.fd)
			on_session_fd(dev, &dev->sess.conn, ev[i].events, serve_client);
		else if (fd == dev->sess.twin.fd)
			on_session_fd(dev, &dev->sess.twin, ev[i].events, serve_twin);
		else if (fd == dev->irqs[VUS_PCI_INTX_IRQ].resample_fd)
			vus_irq_resample(dev);
		/* Whatever ran may have queued output. */
		sync_out(dev);
	}
	return err;
}

int vus_dev_process(struct vus_dev *dev)
{
	return process(dev, 0);
}

int vus_dev_run(struct vus_dev *dev)
{
	int err = 0;

	/* Blocking in epoll_wait itself saves a poll() per wake-up. */
	while (!err && !__atomic_load_n(&dev->stop, __ATOMIC_ACQUIRE))
		err = process(dev, -1);
	/* Consumed: a later vus_dev_run() serves again. */
	__atomic_store_n(&dev->stop, 0, __ATOMIC_RELEASE);
	return err;
}

void vus_dev_wake(struct vus_dev *dev)
{
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
	vus_dev_wake(dev);
	errno = saved;
}
