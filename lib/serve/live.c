/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live update, the public side (include/vus/live.h; docs/live-update.md):
 * the order of the hand-over and the state's envelope.
 *
 * State: "VUSL", version, then the listener's fd, the region layout and
 * config space (live_state.c), the device's migration stream (the framed
 * stream of docs/migration.md, checked again by the device's loader), the
 * session (session_live.c) and the client's fds (live_state.c), and a
 * CRC32C of everything before it. A reader refuses a wrong magic,
 * version or checksum before it looks at anything else.
 *
 * Export: device stopped first (no interrupt or DMA after that point, and
 * transfers waiting on the client cancelled into the device's state, as
 * for a migration), then the output queues written out, then the state
 * read. Adopt: layout and config space, then the device's state (STOP),
 * then the client's sockets and fds, then RUNNING: interrupts held while
 * stopped go out now.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <vus/live.h>

#include "blob.h"
#include "dev_priv.h"
#include "fault.h"
#include "fd_cloexec.h"
#include "mig_stream.h"
#include "serve.h"

#define LIVE_MAGIC   0x4c535556u /* "VUSL" */
#define LIVE_VERSION 1u

static void all_cloexec(struct vus_dev *dev, bool on)
{
	vus_fd_cloexec(dev->listen_fd, on);
	vus_session_live_cloexec(&dev->sess, on);
	vus_live_fds_cloexec(dev, on);
}

int vus_dev_live_export(struct vus_dev *dev, void **state, size_t *len)
{
	struct vus_blob b = { 0 };
	uint8_t *mig = NULL;
	size_t mig_len = 0;
	int err;

	if (dev->live_out || vus_fault_holding(dev) || dev->sess.closing)
		return -EBUSY;
	if (!vus_dev_started(dev))
		return -EINVAL;
	err = dev->mig.enabled ? vus_mig_local_save(dev, &mig, &mig_len) : -EOPNOTSUPP;
	if (err) {
		vus_log(dev, VUS_LOG_WARN, "live update: cannot save the device: %s",
			strerror(-err));
		return err;
	}
	err = vus_session_live_flush(&dev->sess);
	if (err == 0) {
		blob_u32(&b, LIVE_MAGIC);
		blob_u32(&b, LIVE_VERSION);
		blob_u32(&b, dev->listen_fd < 0 ? UINT32_MAX : (uint32_t)dev->listen_fd);
		err = vus_live_save_config(dev, &b);
	}
	if (err == 0) {
		blob_bytes(&b, mig, mig_len);
		err = vus_session_live_save(&dev->sess, &b);
	}
	if (err == 0 && dev->sess.attached)
		err = vus_live_save_fds(dev, &b);
	if (err == 0) {
		blob_u32(&b, vus_crc32c(0, b.p, b.len));
		err = b.err;
	}
	free(mig);
	if (err) {
		vus_log(dev, VUS_LOG_WARN, "live update: cannot describe the device: %s",
			strerror(-err));
		free(b.p);
		vus_mig_local_run(dev);
		vus_loop_wake(dev);
		return err;
	}
	all_cloexec(dev, false);
	dev->live_out = true;
	*state = b.p;
	*len = b.len;
	return 0;
}

int vus_dev_live_resume(struct vus_dev *dev)
{
	int err;

	if (!dev->live_out)
		return -EINVAL;
	all_cloexec(dev, true);
	dev->live_out = false;
	err = vus_mig_local_run(dev);
	/* Input that waited in our buffer is served at the next turn. */
	vus_loop_wake(dev);
	return err;
}

void vus_dev_live_release(struct vus_dev *dev)
{
	struct epoll_event ev;

	if (!dev->live_out)
		return;
	/* The windows' mappings go (the device's unmap callback hears each),
	 * their fds and the IRQ eventfds stay open for the new owner. */
	vus_live_forget_fds(dev);
	vus_dma_session_end(dev);
	vus_session_live_release(&dev->sess);
	if (dev->listen_fd >= 0) {
		epoll_ctl(dev->epfd, EPOLL_CTL_DEL, dev->listen_fd, &ev);
		dev->listen_fd = -1;
	}
	/* The socket file is the new owner's too: not unlinked. */
	free(dev->listen_path);
	dev->listen_path = NULL;
}

/* The envelope: magic, version, checksum. r then reads the body. */
static int open_state(struct vus_dev *dev, const void *state, size_t len,
		      struct vus_blob_rd *r)
{
	uint32_t crc;

	if (!state || len < 12)
		return -EINVAL;
	memcpy(&crc, (const uint8_t *)state + len - 4, 4);
	*r = (struct vus_blob_rd){ .p = state, .len = len - 4 };
	if (blob_rd_u32(r) != LIVE_MAGIC) {
		vus_log(dev, VUS_LOG_ERR, "live update: not a live-update state (magic)");
		return -EINVAL;
	}
	if (blob_rd_u32(r) != LIVE_VERSION) {
		vus_log(dev, VUS_LOG_ERR, "live update: state version %u, this library reads %u",
			le32toh(((const uint32_t *)state)[1]), LIVE_VERSION);
		return -EINVAL;
	}
	if (le32toh(crc) != vus_crc32c(0, state, len - 4)) {
		vus_log(dev, VUS_LOG_ERR, "live update: state checksum wrong");
		return -EINVAL;
	}
	return 0;
}

/* Layout, config space (if apply), the device's state into STOP. */
static int load_device(struct vus_dev *dev, struct vus_blob_rd *r, bool apply, int *listen_fd)
{
	const void *mig;
	size_t mig_len;
	uint32_t lfd;
	int err;

	err = vus_config_init(dev);
	if (err)
		return err;
	lfd = blob_rd_u32(r);
	*listen_fd = lfd > (uint32_t)INT32_MAX ? -1 : (int)lfd;
	err = vus_live_load_config(dev, r, apply);
	if (err)
		return err;
	mig = blob_rd_bytes(r, &mig_len);
	if (!blob_rd_ok(r))
		return -EINVAL;
	if (!dev->mig.enabled)
		return -EOPNOTSUPP;
	err = vus_mig_local_load(dev, mig, mig_len);
	if (err)
		vus_log(dev, VUS_LOG_ERR, "live update: the device refused its state: %s",
			strerror(-err));
	return err;
}

int vus_dev_live_check(struct vus_dev *dev, const void *state, size_t len)
{
	struct vus_blob_rd r;
	int lfd, err;

	if (dev->listen_fd >= 0 || dev->sess.attached)
		return -EBUSY;
	err = open_state(dev, state, len, &r);
	if (err == 0)
		err = load_device(dev, &r, false, &lfd);
	return err;
}

int vus_dev_live_adopt(struct vus_dev *dev, const void *state, size_t len)
{
	struct vus_session_limits lim;
	struct vus_blob_rd r;
	int lfd = -1, err;

	if (dev->listen_fd >= 0 || dev->sess.attached)
		return -EBUSY;
	vus_serve_session_limits(dev, &lim);
	err = open_state(dev, state, len, &r);
	if (err == 0)
		err = load_device(dev, &r, true, &lfd);
	if (err == 0 && lfd >= 0)
		err = vus_dev_listen_fd(dev, lfd);
	if (err == 0)
		err = vus_session_live_adopt(&dev->sess, &r, &lim);
	if (err == 0 && dev->sess.attached)
		vus_serve_set_sink(dev);
	if (err == 0 && dev->sess.attached)
		err = vus_live_adopt_fds(dev, &r);
	if (err)
		vus_log(dev, VUS_LOG_ERR, "live update: cannot take the device over: %s",
			strerror(-err));
	/* Running again in any case: a device left stopped would hold its
	 * client forever; a session that could not be taken over ended. */
	if (vus_mig_local_run(dev) < 0 && err == 0)
		err = -EIO;
	vus_loop_wake(dev);
	return err;
}
