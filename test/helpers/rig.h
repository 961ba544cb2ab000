/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A bare vus_dev served on its own thread over one end of a socketpair,
 * with a raw peer (raw.h) on the other end: for tests that script the
 * client's side of DMA_READ/WRITE and migration byte by byte.
 */
#ifndef VUS_TEST_RIG_H
#define VUS_TEST_RIG_H

#include <pthread.h>
#include <stdint.h>

#include <vus/codec.h>
#include <vus/device.h>

#include "raw.h"

struct rig {
	struct vus_dev *dev;
	int peer;            /* the raw client's socket */
	pthread_t thread;    /* runs vus_dev_run() */
	uint16_t next_id;    /* for rig_call() */
};

/* A new device (log level ERR) for the caller to set up before rig_start(). */
struct vus_dev *rig_dev_new(void);

/*
 * Attach dev (taken over) to a socketpair, serve it on a thread and
 * negotiate VERSION with json (NULL: a spec client, 1 MiB max_xfer).
 * Fails the test on error.
 */
void rig_start(struct rig *r, struct vus_dev *dev, const char *json);
/* Stop the loop, join it, free the device, close the peer (if open). */
void rig_stop(struct rig *r);

/* A command and its reply (the reply must carry the same id). */
void rig_call(struct rig *r, uint16_t cmd, const void *payload, size_t len, const int *fds,
	      unsigned nfds, struct raw_msg *reply);
/* The same, expecting an error reply with errno err (0: success). */
void rig_expect(struct rig *r, uint16_t cmd, const void *payload, size_t len, const int *fds,
		unsigned nfds, int err);

/* DMA_MAP of [iova, iova + size) with prot, backed by fd (or -1). */
int rig_dma_map(struct rig *r, uint64_t iova, uint64_t size, uint32_t prot, int fd,
		uint64_t offset);

/* Little-endian field writers for building payloads. */
void rig_put_u32(uint8_t *p, uint32_t v);
void rig_put_u64(uint8_t *p, uint64_t v);

#endif /* VUS_TEST_RIG_H */
