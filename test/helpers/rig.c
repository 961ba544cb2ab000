/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device on a thread with a raw peer (rig.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rig.h"
#include "vus_test.h"

#define RIG_TIMEOUT_MS 5000

static void *loop_main(void *arg)
{
	struct rig *r = arg;

	vus_dev_run(r->dev);
	return NULL;
}

struct vus_dev *rig_dev_new(void)
{
	struct vus_dev *dev = vus_dev_new("rig");

	assert_non_null(dev);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	return dev;
}

void rig_start(struct rig *r, struct vus_dev *dev, const char *json)
{
	int sv[2];

	memset(r, 0, sizeof(*r));
	r->dev = dev;
	r->next_id = 0x100;
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(dev, sv[0]));
	r->peer = sv[1];
	ASSERT_OK(pthread_create(&r->thread, NULL, loop_main, r));
	ASSERT_OK(raw_version(r->peer, 0, json, NULL));
}

void rig_stop(struct rig *r)
{
	vus_dev_stop(r->dev);
	pthread_join(r->thread, NULL);
	vus_dev_free(r->dev);
	if (r->peer >= 0)
		close(r->peer);
	r->peer = -1;
}

void rig_call(struct rig *r, uint16_t cmd, const void *payload, size_t len, const int *fds,
	      unsigned nfds, struct raw_msg *reply)
{
	uint16_t id = r->next_id++;

	ASSERT_OK(raw_send(r->peer, id, cmd, VUS_F_TYPE_COMMAND, payload, len, fds, nfds));
	ASSERT_OK(raw_recv(r->peer, reply, RIG_TIMEOUT_MS));
	ASSERT_EQ(reply->hdr.id, id);
	ASSERT_EQ(reply->hdr.cmd, cmd);
	ASSERT_EQ(reply->hdr.flags & VUS_F_TYPE_MASK, VUS_F_TYPE_REPLY);
}

void rig_expect(struct rig *r, uint16_t cmd, const void *payload, size_t len, const int *fds,
		unsigned nfds, int err)
{
	struct raw_msg m;
	int got;

	rig_call(r, cmd, payload, len, fds, nfds, &m);
	got = (m.hdr.flags & VUS_F_ERROR) ? (int)m.hdr.error : 0;
	if (got != err)
		fprintf(stderr, "%s: got errno %d, want %d\n", vus_cmd_name(cmd), got, err);
	raw_msg_free(&m);
	ASSERT_EQ(got, err);
}

void rig_put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

void rig_put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

int rig_dma_map(struct rig *r, uint64_t iova, uint64_t size, uint32_t prot, int fd,
		uint64_t offset)
{
	uint8_t p[32] = { 0 };
	struct raw_msg m;
	int err;

	rig_put_u32(p + 0, sizeof(p));
	rig_put_u32(p + 4, prot);
	rig_put_u64(p + 8, offset);
	rig_put_u64(p + 16, iova);
	rig_put_u64(p + 24, size);
	rig_call(r, VUS_CMD_DMA_MAP, p, sizeof(p), fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, &m);
	err = (m.hdr.flags & VUS_F_ERROR) ? -(int)m.hdr.error : 0;
	raw_msg_free(&m);
	return err;
}
