/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Arbitrary messages on a negotiated client connection, for spec
 * edge-case tests: the header fields are the caller's, only the size is
 * computed, and the reply is handed back as it came.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <vus/client.h>

#include "client_priv.h"

int vus_client_raw(struct vus_client *c, uint16_t cmd, uint32_t flags, const void *payload,
		   size_t len, const int *fds, unsigned nfds, struct vus_hdr *rh, void *reply,
		   size_t reply_cap, size_t *reply_len)
{
	struct iovec iov = { (void *)payload, len };
	struct vus_rx_msg *m;
	uint16_t id;
	size_t n;
	int r;

	if (!c || (!payload && len) || (!fds && nfds) || (!reply && reply_cap) ||
	    len > UINT32_MAX - VUS_HDR_SIZE)
		return -EINVAL;
	r = vus_client_send_cmd(c, cmd, flags, &iov, 1, fds, nfds, &id);
	if (r < 0 || (flags & VUS_F_NO_REPLY))
		return r;
	r = vus_client_wait(c, id, &m);
	if (r < 0)
		return r;
	vus_rx_msg_close_fds(m);
	if (rh)
		*rh = m->v.hdr;
	n = m->v.len < reply_cap ? m->v.len : reply_cap;
	if (n)
		memcpy(reply, m->v.payload, n);
	if (reply_len)
		*reply_len = m->v.len;
	if (m->v.hdr.flags & VUS_F_ERROR)
		return vus_client_reply_errno(&m->v.hdr);
	return 0;
}
