/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dispatch: one handler per command, run strictly in arrival order (spec
 * "Command Concurrency"), then exactly one reply -- or none at all for a
 * NO_REPLY command, even on error (docs/protocol.md 2 "NO_REPLY":
 * QEMU breaks on a reply it did not wait for).
 *
 * Ownership: the message's fds are closed here after the handler, except
 * those it took (set to -1). Every fd a handler puts in the reply belongs
 * to the reply and is closed here once sent (REGION_INFO sends a dup of
 * the region fd, VERSION the client's end of the twin socketpair).
 * r->heap is freed here.
 *
 * Trace (VUS_LOG_TRACE): one line per message received and per reply,
 * with the command's key fields decoded by the codec. With tracing off
 * nothing is formatted or decoded.
 */
#define _GNU_SOURCE /* strerrorname_np */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "fault.h"

static const vus_handler_fn handlers[VUS_CMD_MAX + 1] = {
	[VUS_CMD_VERSION] = vus_h_version,
	[VUS_CMD_DMA_MAP] = vus_h_dma_map,
	[VUS_CMD_DMA_UNMAP] = vus_h_dma_unmap,
	[VUS_CMD_DEVICE_GET_INFO] = vus_h_device_info,
	[VUS_CMD_DEVICE_GET_REGION_INFO] = vus_h_region_info,
	[VUS_CMD_DEVICE_GET_REGION_IO_FDS] = vus_h_region_io_fds,
	[VUS_CMD_DEVICE_GET_IRQ_INFO] = vus_h_irq_info,
	[VUS_CMD_DEVICE_SET_IRQS] = vus_h_set_irqs,
	[VUS_CMD_REGION_READ] = vus_h_region_read,
	[VUS_CMD_REGION_WRITE] = vus_h_region_write,
	/* 11, 12: server -> client only; 14: retired. ENOSYS. */
	[VUS_CMD_DEVICE_RESET] = vus_h_device_reset,
	[VUS_CMD_REGION_WRITE_MULTI] = vus_h_write_multi,
	[VUS_CMD_DEVICE_FEATURE] = vus_h_device_feature,
	[VUS_CMD_MIG_DATA_READ] = vus_h_mig_data_read,
	[VUS_CMD_MIG_DATA_WRITE] = vus_h_mig_data_write,
};

static const char *errno_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "?";
}

/* ---- trace ---------------------------------------------------------- */

typedef int (*fmt_fn)(const struct vus_dev *dev, const struct vus_msg_view *v, char *b, size_t n);

static const char *prot_str(uint32_t flags)
{
	static const char *const s[] = { "none", "r", "w", "rw" };

	return s[flags & (VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE)];
}

static int fmt_version(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
		       size_t n)
{
	struct vus_version_msg vm;
	int err = vus_version_decode(v, &vm);

	if (err)
		return err;
	return snprintf(b, n, "v%u.%u max_msg_fds=%" PRIu32 " max_xfer=%" PRIu32 "%s%s%s",
			vm.major, vm.minor, vm.caps.max_msg_fds, vm.caps.max_data_xfer_size,
			vm.caps.twin_socket ? " twin" : "",
			vm.caps.write_multiple ? " write_multiple" : "",
			(vm.caps.present & VUS_CAP_MIGRATION) ? " migration" : "");
}

static int fmt_dma_map(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
		       size_t n)
{
	struct vus_dma_map d;
	int err = vus_dma_map_decode(v, &d);

	if (err)
		return err;
	return snprintf(b, n, "iova=0x%" PRIx64 " size=0x%" PRIx64 " prot=%s offset=0x%" PRIx64,
			d.addr, d.size, prot_str(d.flags), d.offset);
}

static int fmt_dma_unmap(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
			 size_t n)
{
	struct vus_dma_unmap d;
	int err = vus_dma_unmap_decode(v, &d);

	if (err)
		return err;
	return snprintf(b, n, "iova=0x%" PRIx64 " size=0x%" PRIx64 " flags=0x%" PRIx32, d.addr,
			d.size, d.flags);
}

static int fmt_region_info(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
			   size_t n)
{
	struct vus_region_info ri;
	int err = vus_region_info_req_decode(v, &ri);

	if (err)
		return err;
	return snprintf(b, n, "index=%" PRIu32 " argsz=%" PRIu32, ri.index, ri.argsz);
}

static int fmt_io_fds(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
		      size_t n)
{
	struct vus_region_io_fds io;
	int err = vus_region_io_fds_req_decode(v, &io);

	if (err)
		return err;
	return snprintf(b, n, "index=%" PRIu32 " argsz=%" PRIu32, io.index, io.argsz);
}

static int fmt_irq_info(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
			size_t n)
{
	struct vus_irq_info ii;
	int err = vus_irq_info_req_decode(v, &ii);

	if (err)
		return err;
	return snprintf(b, n, "index=%" PRIu32, ii.index);
}

static int fmt_set_irqs(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
			size_t n)
{
	static const char *const data[] = { "?", "none", "bool", "?", "eventfd" };
	static const char *const action[] = { "?", "mask", "unmask", "?", "trigger" };
	struct vus_irq_set s;
	const uint8_t *bools;
	int err = vus_irq_set_decode(v, &s, &bools);

	if (err)
		return err;
	return snprintf(b, n, "index=%" PRIu32 " start=%" PRIu32 " count=%" PRIu32 " %s %s",
			s.index, s.start, s.count, data[s.flags & VUS_IRQ_SET_DATA_MASK],
			action[(s.flags & VUS_IRQ_SET_ACTION_MASK_ALL) >> 3]);
}

static int fmt_region_rw(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
			 size_t n)
{
	struct vus_region_access ra;
	const uint8_t *data;
	int err = vus_region_access_decode(v, v->hdr.cmd == VUS_CMD_REGION_WRITE, dev->max_xfer,
					   &ra, &data);

	if (err)
		return err;
	return snprintf(b, n, "region=%" PRIu32 " offset=0x%" PRIx64 " count=%" PRIu32, ra.region,
			ra.offset, ra.count);
}

static int fmt_write_multi(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
			   size_t n)
{
	uint64_t cnt;
	int err = vus_write_multi_decode(v, VUS_WRITE_MULTI_MAX, &cnt);

	if (err)
		return err;
	return snprintf(b, n, "entries=%" PRIu64, cnt);
}

static int fmt_feature(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
		       size_t n)
{
	struct vus_device_feature f;
	const uint8_t *data;
	size_t len;
	int err = vus_device_feature_decode(v, &f, &data, &len);

	if (err)
		return err;
	return snprintf(b, n, "feature=%" PRIu32 "%s%s%s data=%zu",
			f.flags & VUS_DEVICE_FEATURE_MASK,
			(f.flags & VUS_DEVICE_FEATURE_GET) ? " get" : "",
			(f.flags & VUS_DEVICE_FEATURE_SET) ? " set" : "",
			(f.flags & VUS_DEVICE_FEATURE_PROBE) ? " probe" : "", len);
}

static int fmt_mig_data(const struct vus_dev *dev, const struct vus_msg_view *v, char *b,
			size_t n)
{
	struct vus_mig_data md;
	const uint8_t *data;
	int err = v->hdr.cmd == VUS_CMD_MIG_DATA_READ
		  ? vus_mig_data_read_decode(v, dev->max_xfer, &md)
		  : vus_mig_data_write_decode(v, dev->max_xfer, &md, &data);

	if (err)
		return err;
	return snprintf(b, n, "size=%" PRIu32, md.size);
}

static const fmt_fn formatters[VUS_CMD_MAX + 1] = {
	[VUS_CMD_VERSION] = fmt_version,
	[VUS_CMD_DMA_MAP] = fmt_dma_map,
	[VUS_CMD_DMA_UNMAP] = fmt_dma_unmap,
	[VUS_CMD_DEVICE_GET_REGION_INFO] = fmt_region_info,
	[VUS_CMD_DEVICE_GET_REGION_IO_FDS] = fmt_io_fds,
	[VUS_CMD_DEVICE_GET_IRQ_INFO] = fmt_irq_info,
	[VUS_CMD_DEVICE_SET_IRQS] = fmt_set_irqs,
	[VUS_CMD_REGION_READ] = fmt_region_rw,
	[VUS_CMD_REGION_WRITE] = fmt_region_rw,
	[VUS_CMD_REGION_WRITE_MULTI] = fmt_write_multi,
	[VUS_CMD_DEVICE_FEATURE] = fmt_feature,
	[VUS_CMD_MIG_DATA_READ] = fmt_mig_data,
	[VUS_CMD_MIG_DATA_WRITE] = fmt_mig_data,
};

static void trace_rx(const struct vus_dev *dev, const struct vus_rx_msg *m)
{
	const struct vus_hdr *h = &m->v.hdr;
	char fields[256] = "";
	fmt_fn fmt = h->cmd <= VUS_CMD_MAX ? formatters[h->cmd] : NULL;
	int rc;

	if (m->status)
		snprintf(fields, sizeof(fields), " | body dropped (%s)", errno_name(-m->status));
	else if (m->bulk)
		snprintf(fields, sizeof(fields), " | %u bytes straight into region memory",
			 m->bulk);
	else if (fmt && (rc = fmt(dev, &m->v, fields + 3, sizeof(fields) - 3)) < 0)
		snprintf(fields, sizeof(fields), " | malformed (%s)", errno_name(-rc));
	else if (fmt)
		memcpy(fields, " | ", 3);
	vus_logf(dev, VUS_LOG_TRACE, "rx %s id=%u size=%" PRIu32 " flags=0x%" PRIx32 " fds=%u%s",
		 vus_cmd_name(h->cmd), h->id, h->size, h->flags, m->v.nfds, fields);
}

static void trace_tx(const struct vus_dev *dev, const struct vus_hdr *h, uint64_t size,
		     int err)
{
	if (h->flags & VUS_F_NO_REPLY)
		vus_logf(dev, VUS_LOG_TRACE, "done %s id=%u no reply %s%s", vus_cmd_name(h->cmd),
			 h->id, err ? "err=" : "ok", err ? errno_name(err) : "");
	else
		vus_logf(dev, VUS_LOG_TRACE, "tx %s id=%u reply size=%" PRIu64 " %s%s",
			 vus_cmd_name(h->cmd), h->id, size, err ? "err=" : "ok",
			 err ? errno_name(err) : "");
}

/* ---- dispatch ------------------------------------------------------- */

static int run(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	unsigned cmd = m->v.hdr.cmd;

	/* Bodies the transport could not deliver (docs/protocol.md 1.2, 1.3). */
	if (m->status == -E2BIG)
		return -E2BIG;
	if (m->status)
		return -EINVAL;
	if (!dev->sess.negotiated && cmd != VUS_CMD_VERSION)
		return -EINVAL;
	if (cmd > VUS_CMD_MAX || !handlers[cmd])
		return -ENOSYS;
	/* Generic fd rule; the decoders check exact counts. */
	if (m->v.nfds > vus_cmd_max_fds(cmd, false))
		return -EINVAL;
	return handlers[cmd](dev, m, r);
}

/*
 * The errno to put on the wire: a real positive errno, since QEMU reads
 * error 0 as success and libvfio-user clients turn values above 4096 into
 * EINVAL (docs/protocol.md 8.1 "Error numbers"). Device callbacks are the likely offenders.
 */
static int wire_errno(const struct vus_dev *dev, int rc)
{
	if (rc < 0 && rc > -4096)
		return -rc;
	vus_log(dev, VUS_LOG_WARN, "handler returned %d, not a -errno: answering EIO", rc);
	return EIO;
}

static void count(struct vus_dev *dev, const struct vus_hdr *h, uint64_t out, int err)
{
	struct vus_counters *c = &dev->stats;

	/* Loop thread only: no lock (base/stats.h). */
	vus_counters_add_loop(&c->msgs[h->cmd <= VUS_CMD_MAX ? h->cmd : 0], 1);
	vus_counters_add_loop(&c->bytes_in, h->size);
	vus_counters_add_loop(&c->bytes_out, out);
	if (out && err) {
		vus_counters_add_loop(&c->errors, 1);
		if (err < VUS_STATS_ERRNO_MAX)
			vus_counters_add_loop(&c->errnos[err], 1);
	}
}

void vus_dispatch(struct vus_dev *dev, struct vus_rx_msg *m)
{
	const struct vus_hdr h = m->v.hdr;
	struct vus_reply r;
	uint64_t out;
	int rc, err = 0;

	/* An answer to one of our DMA_READ/WRITE requests
	 * (docs/protocol.md 1.4, 4). */
	if (vus_hdr_is_reply(&h)) {
		vus_log(dev, VUS_LOG_TRACE, "rx %s id=%u reply size=%" PRIu32,
			vus_cmd_name(h.cmd), h.id, h.size);
		vus_counters_add_loop(&dev->stats.bytes_in, h.size);
		vus_dma_on_reply(dev, m);
		return;
	}
	if (VUS_LOG_ON(dev, VUS_LOG_TRACE))
		trace_rx(dev, m);

	vus_reply_init(&r);
	/* dev->fault is NULL until fault injection is first used: the hooks
	 * cost a test per message, not a call. */
	if (dev->fault && vus_fault_command(dev, &h, &err))
		rc = -err;
	else
		rc = run(dev, m, &r);
	if (m->v.nfds) /* most commands carry none: no call */
		vus_rx_msg_close_fds(m);
	if (rc < 0)
		err = wire_errno(dev, rc);

	out = vus_reply_size(&h, &r, err);
	/* Before sending: once the client has the reply, its trace line and
	 * statistics exist (a failed send ends the session anyway). */
	if (VUS_LOG_ON(dev, VUS_LOG_TRACE))
		trace_tx(dev, &h, out, err);
	count(dev, &h, out, err);
	if ((h.flags & VUS_F_NO_REPLY) && err)
		vus_log(dev, VUS_LOG_DEBUG, "%s id=%u failed, no reply wanted: %s",
			vus_cmd_name(h.cmd), h.id, errno_name(err));
	/* A held reply is sent by the fault timer (fault.c). */
	if (dev->fault && vus_fault_hold(dev, &h, &r, err))
		return;
	/* The session sends, owns r's fds and buffer, and ends itself if the
	 * reply cannot go out. */
	vus_session_reply(&dev->sess, &h, &r, err);
	if (dev->fault)
		vus_fault_replied(dev);
}
