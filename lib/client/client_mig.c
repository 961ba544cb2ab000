/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client migration commands: DEVICE_FEATURE (16), MIG_DATA_READ (17),
 * MIG_DATA_WRITE (18) (docs/protocol.md 3.12, 3.13, 5).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <vus/client.h>

#include "client_priv.h"

int vus_client_device_feature(struct vus_client *c, uint32_t flags, const void *data,
			      size_t len, void *out, size_t out_cap, size_t *out_len)
{
	struct vus_device_feature req = { .flags = flags };
	struct iovec iov[2] = { { &req, sizeof(req) }, { (void *)data, len } };
	struct vus_device_feature head;
	const uint8_t *rdata;
	struct vus_rx_msg *m;
	size_t rlen;
	int r;

	if (!c || (!data && len) || (!out && out_cap))
		return -EINVAL;
	/* argsz: the largest reply payload we accept (docs/protocol.md 3);
	 * SET and PROBE replies echo the request, so make room for it. */
	if (len > UINT32_MAX - sizeof(req) || out_cap > UINT32_MAX - sizeof(req))
		return -EINVAL;
	req.argsz = (uint32_t)(sizeof(req) + (out_cap > len ? out_cap : len));
	r = vus_client_call(c, VUS_CMD_DEVICE_FEATURE, iov, 2, NULL, 0, 0, &m);
	if (r < 0)
		return r;
	r = vus_device_feature_reply_decode(&m->v, &head, &rdata, &rlen);
	if (r < 0 || rlen > req.argsz - sizeof(req))
		return -EPROTO;
	if (out_len)
		*out_len = rlen;
	if (rlen > out_cap)
		rlen = out_cap;
	if (rlen)
		memcpy(out, rdata, rlen);
	return 0;
}

int vus_client_mig_set_state(struct vus_client *c, enum vus_mig_state state)
{
	struct vus_feature_mig_state st = { .device_state = state };

	return vus_client_device_feature(c, VUS_FEATURE_MIG_DEVICE_STATE | VUS_DEVICE_FEATURE_SET,
					 &st, sizeof(st), NULL, 0, NULL);
}

int vus_client_mig_get_state(struct vus_client *c, enum vus_mig_state *state)
{
	struct vus_feature_mig_state st;
	size_t len = 0;
	int r;

	if (!state)
		return -EINVAL;
	r = vus_client_device_feature(c, VUS_FEATURE_MIG_DEVICE_STATE | VUS_DEVICE_FEATURE_GET,
				      NULL, 0, &st, sizeof(st), &len);
	if (r < 0)
		return r;
	if (len != sizeof(st) || st.device_state >= VUS_MIG_STATE_NR)
		return -EPROTO;
	*state = (enum vus_mig_state)st.device_state;
	return 0;
}

int vus_client_mig_data_read(struct vus_client *c, void *buf, uint32_t size, uint32_t *got)
{
	struct vus_mig_data req = { .size = size };
	struct iovec iov = { &req, sizeof(req) };
	struct vus_mig_data head;
	const uint8_t *data;
	struct vus_rx_msg *m;
	int r;

	if (!c || !got || (!buf && size) || size > UINT32_MAX - sizeof(req))
		return -EINVAL;
	req.argsz = (uint32_t)sizeof(req) + size;
	r = vus_client_call(c, VUS_CMD_MIG_DATA_READ, &iov, 1, NULL, 0, 0, &m);
	if (r < 0)
		return r;
	r = vus_mig_data_read_reply_decode(&m->v, size, &head, &data);
	if (r < 0)
		return -EPROTO;
	if (head.size)
		memcpy(buf, data, head.size);
	*got = head.size;
	return 0;
}

int vus_client_mig_data_write(struct vus_client *c, const void *buf, uint32_t size)
{
	struct vus_mig_data req = { .size = size };
	struct iovec iov[2] = { { &req, sizeof(req) }, { (void *)buf, size } };

	if (!c || (!buf && size) || size > UINT32_MAX - sizeof(req))
		return -EINVAL;
	req.argsz = (uint32_t)sizeof(req) + size;
	return vus_client_call_empty(c, VUS_CMD_MIG_DATA_WRITE, iov, 2, NULL, 0);
}
