/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replies (session.h): built by the command handlers, sent here, exactly
 * one per command -- or none at all for a NO_REPLY command, even on
 * error (docs/protocol.md "No_reply").
 *
 * Ownership: every fd a handler puts in the reply belongs to the reply
 * and is closed here once sent (REGION_INFO sends a dup of the region fd,
 * VERSION the client's end of the twin socketpair). r->heap is freed here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session.h"

int vus_session_reply(struct vus_session *s, const struct vus_hdr *h, struct vus_reply *r,
		      int err)
{
	int sent = 0;
	unsigned f;

	if (h->flags & VUS_F_NO_REPLY)
		sent = 0;
	else if (err)
		sent = vus_conn_send_error(&s->conn, h, err);
	else
		sent = vus_conn_send_reply_owned(&s->conn, h, r->iov, r->iovcnt, r->fds, r->nfds,
						 &r->heap);
	for (f = 0; f < r->nfds; f++)
		close(r->fds[f]);
	r->nfds = 0;
	if (r->heap) {
		free(r->heap);
		r->heap = NULL;
	}
	if (sent == -ENOBUFS) {
		/* Sends never wait: the queue limit is the bound. */
		vus_log_to(s->log, VUS_LOG_WARN,
			   "reply to %s id=%u: output queue over its limit (%llu bytes): "
			   "the client does not read its replies", vus_cmd_name(h->cmd), h->id,
			   (unsigned long long)s->lim.out_queue);
		vus_session_end(s, "output queue full");
	} else if (sent < 0) {
		vus_log_to(s->log, VUS_LOG_WARN, "reply to %s id=%u: %s", vus_cmd_name(h->cmd),
			   h->id, strerror(-sent));
		vus_session_end(s, "reply failed");
	}
	return sent < 0 ? sent : 0;
}
