/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interrupts: SET_IRQS and GET_IRQ_INFO semantics (docs/protocol.md 3.7,
 * 3.8; 8.1 "QEMU's MSI and MSI-X", "QEMU's INTx"), vus_irq_trigger(),
 * and delivery of what is owed once nothing blocks it.
 *
 * State per vector: the client's trigger eventfd, the client's mask bit
 * (SET_IRQS MASK/UNMASK, and INTx's auto-mask) and a pending bit (an
 * interrupt that could not be delivered yet: MSI-X's PBA bit, MSI's
 * Pending bit). dev->irq_lock guards all three, because the device may
 * raise from any thread while the loop thread applies SET_IRQS and config
 * writes. The vector tables are sized at setup time and never change
 * while serving. The INTx resample fd is touched by the loop thread only.
 *
 * Delivery (vus_irq_update_locked) happens when a vector is owed (pending,
 * or INTx's line is high) and neither the client's mask nor the guest's
 * config (irq_route.c) blocks it, and an eventfd is there: on the event
 * that owes it, on UNMASK, on a config write that unmasks, and when the
 * client assigns the eventfd.
 *
 * INTx is level-triggered in PCI; like Linux vfio-pci, vus masks it after
 * each signal ("AUTOMASKED") until the client unmasks it: QEMU sends
 * SET_IRQS UNMASK on the guest's EOI, or KVM signals the resample eventfd
 * the client gave with UNMASK+EVENTFD (docs/protocol.md 3.8); a line still
 * high then signals again.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dev_priv.h"

uint32_t vus_irq_info_flags(const struct vus_dev *dev, uint32_t index)
{
	if (index < VUS_PCI_NUM_IRQS && dev->irqs[index].info_flags_set)
		return dev->irqs[index].info_flags; /* the backend's (passthrough.h) */
	switch (index) {
	case VUS_PCI_INTX_IRQ:
		return VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE | VUS_IRQ_INFO_AUTOMASKED;
	case VUS_PCI_MSI_IRQ:
		/* PCI MSI vectors are enabled as one block. */
		return VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_NORESIZE;
	case VUS_PCI_MSIX_IRQ:
		return VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE;
	default:
		return VUS_IRQ_INFO_EVENTFD;
	}
}

/*
 * Signal a vector's eventfd. The fd is the client's and shared with it:
 * a client that fills the eventfd counter to its maximum would make a
 * blocking write(2) wait forever (while irq_lock is held), so check that
 * it can take a write first. A full counter already says "interrupt", as
 * the kernel's eventfd_signal() saturates too.
 */
static int vec_signal_locked(struct vus_dev *dev, uint32_t index, struct vus_irq_vec *v)
{
	struct pollfd pfd = { .fd = v->efd, .events = POLLOUT };
	uint64_t one = 1;
	ssize_t n;

	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT)) {
		do {
			n = write(v->efd, &one, sizeof(one));
		} while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof(one))
			return n < 0 ? -errno : -EIO;
	}
	v->pending = false;
	if (index == VUS_PCI_INTX_IRQ)
		v->masked = true;
	vus_counters_add(&dev->stats, &dev->stats.irqs, 1);
	return 0;
}

static int vec_trigger_locked(struct vus_dev *dev, uint32_t index, struct vus_irq_vec *v)
{
	/* A stopped device generates no interrupt (UAPI "STOP"): held as
	 * pending, delivered when migration releases it (vus_irq_hold()). */
	if (v->masked || dev->irqs_held) {
		v->pending = true;
		return 0;
	}
	if (v->efd < 0)
		return -ENOENT;
	return vec_signal_locked(dev, index, v);
}

void vus_irq_update_locked(struct vus_dev *dev, uint32_t index, uint32_t vector)
{
	struct vus_irq_index *irq = &dev->irqs[index];
	struct vus_irq_vec *v;
	bool owed;
	int err;

	if (vector >= irq->count)
		return;
	v = &irq->vec[vector];
	owed = v->pending || (index == VUS_PCI_INTX_IRQ && vus_intx_line(dev));
	if (!owed || v->masked || dev->irqs_held || v->efd < 0 ||
	    vus_irq_blocked_by_pci(dev, index, vector))
		return;
	err = vec_signal_locked(dev, index, v);
	if (err)
		vus_log(dev, VUS_LOG_WARN, "irq %u.%u: signalling: %s", index, vector,
			strerror(-err));
}

void vus_irq_update_index_locked(struct vus_dev *dev, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < dev->irqs[index].count; i++)
		vus_irq_update_locked(dev, index, i);
}

/* Unmasking delivers what is owed. */
static void vec_unmask_locked(struct vus_dev *dev, uint32_t index, uint32_t vector)
{
	dev->irqs[index].vec[vector].masked = false;
	vus_irq_update_locked(dev, index, vector);
}

void vus_irq_hold(struct vus_dev *dev, bool hold)
{
	uint32_t i;

	pthread_mutex_lock(&dev->irq_lock);
	dev->irqs_held = hold;
	if (!hold)
		for (i = 0; i < VUS_PCI_NUM_IRQS; i++)
			vus_irq_update_index_locked(dev, i);
	pthread_mutex_unlock(&dev->irq_lock);
}

int vus_irq_trigger(struct vus_dev *dev, uint32_t index, uint32_t vector)
{
	int err;

	if (index >= VUS_PCI_NUM_IRQS || vector >= dev->irqs[index].count)
		return -EINVAL;
	pthread_mutex_lock(&dev->irq_lock);
	err = vec_trigger_locked(dev, index, &dev->irqs[index].vec[vector]);
	pthread_mutex_unlock(&dev->irq_lock);
	return err;
}

/*
 * Only eventfds are accepted as trigger or resample fds: they are written
 * from any thread and read by the loop, and a pipe or socket could block
 * either. Checked through /proc; without /proc the fd is trusted.
 */
static bool is_eventfd(int fd)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[40], link[sizeof(want) + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return true;
	link[n] = '\0';
	return strcmp(link, want) == 0;
}

static void resample_drop(struct vus_dev *dev)
{
	struct vus_irq_index *irq = &dev->irqs[VUS_PCI_INTX_IRQ];

	if (irq->resample_fd < 0)
		return;
	/* Remove before close: the client holds the same open file, so
	 * close(2) alone would leave it in the epoll set. */
	epoll_ctl(dev->epfd, EPOLL_CTL_DEL, irq->resample_fd, NULL);
	close(irq->resample_fd);
	irq->resample_fd = -1;
}

/* INTx UNMASK+EVENTFD: fds[0] becomes the resample fd; none = drop it. */
static int resample_set(struct vus_dev *dev, int *fds, unsigned nfds)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (!nfds) {
		resample_drop(dev);
		return 0;
	}
	if (!is_eventfd(fds[0]))
		return -EINVAL;
	ev.data.fd = fds[0];
	if (epoll_ctl(dev->epfd, EPOLL_CTL_ADD, fds[0], &ev) < 0)
		return -errno;
	resample_drop(dev);
	dev->irqs[VUS_PCI_INTX_IRQ].resample_fd = fds[0];
	fds[0] = -1;
	return 0;
}

void vus_irq_resample(struct vus_dev *dev)
{
	struct vus_irq_index *irq = &dev->irqs[VUS_PCI_INTX_IRQ];
	struct pollfd pfd = { .fd = irq->resample_fd, .events = POLLIN };
	uint64_t val;

	/* The fd is the client's and may be blocking: read only what poll
	 * promises, so a stale epoll report cannot stall the loop. */
	if (irq->resample_fd < 0 || poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
		return;
	if (read(irq->resample_fd, &val, sizeof(val)) != (ssize_t)sizeof(val))
		return;
	pthread_mutex_lock(&dev->irq_lock);
	vec_unmask_locked(dev, VUS_PCI_INTX_IRQ, 0);
	pthread_mutex_unlock(&dev->irq_lock);
}

/* Close every vector's eventfd and forget masks and pending bits. */
static void index_clear(struct vus_dev *dev, uint32_t index)
{
	struct vus_irq_index *irq = &dev->irqs[index];
	uint32_t i;

	pthread_mutex_lock(&dev->irq_lock);
	for (i = 0; i < irq->count; i++) {
		if (irq->vec[i].efd >= 0)
			close(irq->vec[i].efd);
		irq->vec[i].efd = -1;
		irq->vec[i].masked = false;
		irq->vec[i].pending = false;
	}
	pthread_mutex_unlock(&dev->irq_lock);
	if (index == VUS_PCI_INTX_IRQ)
		resample_drop(dev);
}

/* EVENTFD+TRIGGER: assign fds[i] to vector start + i, or de-assign. */
static int assign(struct vus_dev *dev, const struct vus_irq_set *set, int *fds, unsigned nfds)
{
	struct vus_irq_index *irq = &dev->irqs[set->index];
	uint32_t i;

	for (i = 0; i < nfds; i++)
		if (!is_eventfd(fds[i]))
			return -EINVAL;
	pthread_mutex_lock(&dev->irq_lock);
	for (i = 0; i < set->count; i++) {
		struct vus_irq_vec *v = &irq->vec[set->start + i];

		if (v->efd >= 0)
			close(v->efd);
		v->efd = -1;
		if (nfds) {
			v->efd = fds[i];
			fds[i] = -1;
			/* Owed before it was wired: deliver now (QEMU wires
			 * an MSI-X vector when the guest unmasks it). */
			vus_irq_update_locked(dev, set->index, set->start + i);
		}
	}
	pthread_mutex_unlock(&dev->irq_lock);
	return 0;
}

/* The INTx eventfd, signalled for a loopback trigger: no mask, pending
 * or auto-mask state involved. */
static void intx_loopback_locked(struct vus_dev *dev, struct vus_irq_vec *v)
{
	uint64_t one = 1;
	struct pollfd pfd = { .fd = v->efd, .events = POLLOUT };

	if (v->efd < 0)
		return;
	/* A full counter already says "interrupt" (vec_signal_locked). */
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT) &&
	    write(v->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		vus_log(dev, VUS_LOG_WARN, "irq INTx loopback: %s", strerror(errno));
}

/* NONE/BOOL with TRIGGER (loopback), MASK or UNMASK, vector by vector. */
static int apply(struct vus_dev *dev, const struct vus_irq_set *set, const uint8_t *bools)
{
	struct vus_irq_index *irq = &dev->irqs[set->index];
	uint32_t action = set->flags & VUS_IRQ_SET_ACTION_MASK_ALL;
	uint32_t i;

	/* MSI is not maskable per vector here (GET_IRQ_INFO says so); the
	 * kernel has no MSI mask handler either: ENOTTY. */
	if (action != VUS_IRQ_SET_ACTION_TRIGGER && set->index == VUS_PCI_MSI_IRQ)
		return -ENOTTY;
	pthread_mutex_lock(&dev->irq_lock);
	for (i = 0; i < set->count; i++) {
		struct vus_irq_vec *v = &irq->vec[set->start + i];

		if ((set->flags & VUS_IRQ_SET_DATA_BOOL) && !bools[i])
			continue;
		switch (action) {
		case VUS_IRQ_SET_ACTION_TRIGGER:
			/* A vector without an eventfd has nobody to tell:
			 * like the kernel, that is not an error. INTx's
			 * loopback signals whatever the mask, and leaves the
			 * mask alone, as kernel vfio-pci does
			 * (vfio_send_intx_eventfd). */
			if (set->index == VUS_PCI_INTX_IRQ)
				intx_loopback_locked(dev, v);
			else
				vec_trigger_locked(dev, set->index, v);
			break;
		case VUS_IRQ_SET_ACTION_MASK:
			v->masked = true;
			break;
		default:
			vec_unmask_locked(dev, set->index, set->start + i);
			break;
		}
	}
	pthread_mutex_unlock(&dev->irq_lock);
	return 0;
}

/*
 * Hand the validated set to the device. It sees one fd (or -1) per
 * vector for DATA_EVENTFD, dup()s what it keeps; the fds stay the
 * caller's, who closes them afterwards.
 */
static int passthrough(struct vus_dev *dev, const struct vus_irq_set *set, int *fds,
		       unsigned nfds, const uint8_t *bools)
{
	struct vus_irq_index *irq = &dev->irqs[set->index];
	int *none = NULL;
	const int *pt_fds = NULL;
	uint32_t i;
	int rc;

	if (set->flags & VUS_IRQ_SET_DATA_EVENTFD) {
		pt_fds = fds;
		if (!nfds && set->count) {
			none = malloc(set->count * sizeof(*none));
			if (!none)
				return -ENOMEM;
			for (i = 0; i < set->count; i++)
				none[i] = -1;
			pt_fds = none;
		}
	}
	rc = irq->pt(dev, irq->pt_opaque, set, pt_fds, bools);
	free(none);
	return rc < 0 ? rc : 0;
}

int vus_irq_set(struct vus_dev *dev, const struct vus_irq_set *set, int *fds, unsigned nfds,
		const uint8_t *bools)
{
	uint32_t data = set->flags & VUS_IRQ_SET_DATA_MASK;
	uint32_t action = set->flags & VUS_IRQ_SET_ACTION_MASK_ALL;
	struct vus_irq_index *irq;

	if (set->index >= VUS_PCI_NUM_IRQS)
		return -EINVAL;
	irq = &dev->irqs[set->index];
	if (set->count && (set->start > irq->count || set->count > irq->count - set->start))
		return -EINVAL;
	/* The codec's rules again, for callers that did not decode. */
	if (!set->count && (set->start || data != VUS_IRQ_SET_DATA_NONE ||
			    action != VUS_IRQ_SET_ACTION_TRIGGER))
		return -EINVAL;
	if (nfds && (data != VUS_IRQ_SET_DATA_EVENTFD || nfds != set->count))
		return -EINVAL;
	if (data == VUS_IRQ_SET_DATA_BOOL && !bools)
		return -EINVAL;
	/*
	 * A valid request for an action the index does not have: ENOTTY, as
	 * kernel vfio-pci answers when it has no handler for the index and
	 * action (vfio_pci_set_irqs_ioctl), after the same range checks.
	 * ERR and REQ are notifications: TRIGGER only.
	 */
	if ((set->index == VUS_PCI_ERR_IRQ || set->index == VUS_PCI_REQ_IRQ) &&
	    action != VUS_IRQ_SET_ACTION_TRIGGER)
		return -ENOTTY;

	if (irq->pt)
		return passthrough(dev, set, fds, nfds, bools);
	/* count 0: disable the whole index, allowed even with no vectors. */
	if (!set->count) {
		index_clear(dev, set->index);
		return 0;
	}
	if (data != VUS_IRQ_SET_DATA_EVENTFD)
		return apply(dev, set, bools);
	if (action == VUS_IRQ_SET_ACTION_TRIGGER)
		return assign(dev, set, fds, nfds);
	if (action == VUS_IRQ_SET_ACTION_UNMASK && set->index == VUS_PCI_INTX_IRQ)
		return resample_set(dev, fds, nfds);
	/* EVENTFD with MASK, or UNMASK beyond INTx's resample fd. */
	return -ENOTTY;
}

void vus_irq_session_end(struct vus_dev *dev)
{
	const struct vus_irq_set off = {
		.argsz = sizeof(off),
		.flags = VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER,
	};
	uint32_t i;

	/* The next client may emulate the MSI-X table itself (QEMU). */
	vus_msix_session_end(dev);
	for (i = 0; i < VUS_PCI_NUM_IRQS; i++) {
		struct vus_irq_index *irq = &dev->irqs[i];
		struct vus_irq_set set = off;
		int err;

		if (!irq->pt) {
			index_clear(dev, i);
			continue;
		}
		/* The device holds the fds: tell it to let go, as a client
		 * disabling the index would. */
		set.index = i;
		err = irq->pt(dev, irq->pt_opaque, &set, NULL, NULL);
		if (err)
			vus_log(dev, VUS_LOG_WARN, "irq %u: passthrough disable: %s", i,
				strerror(-err));
	}
}

void vus_irq_free(struct vus_dev *dev)
{
	uint32_t i;

	for (i = 0; i < VUS_PCI_NUM_IRQS; i++) {
		index_clear(dev, i);
		free(dev->irqs[i].vec);
		dev->irqs[i].vec = NULL;
		dev->irqs[i].count = 0;
	}
}
