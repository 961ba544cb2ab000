/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What fuzz_dispatch, fuzz_tenants and the seed recorder (record.c) agree
 * on: the device they serve and the input format of fuzz_dispatch (also
 * fuzz_tenants' after its setup byte).
 *
 * fuzz_dispatch input: one client's byte stream as a list of records,
 *
 *   [ctl: u8][len: u16 little-endian][len bytes]
 *
 * each sent with one sendmsg(). ctl:
 *   bits 0-1  fds attached to the record's first byte (0..3)
 *   bit  2    their kind: 0 eventfd, 1 memfd of FUZZ_MEMFD_SIZE bytes
 *   bit  3    do not read the server's output after this record (lets
 *             the output queue fill)
 *   bit  4    send on the twin socket, if the server gave one
 *   bit  5    signal the record's eventfds once the server has had its
 *             turn on the record (an INTx resample fd then polls
 *             readable in the server)
 *   bit  6    shrink the record's memfds to 0 bytes once the server has
 *             had its turn on the record: the client's memory goes away
 *             under the server's maps, whose copies then fault (SIGBUS;
 *             docs/security.md)
 * A truncated last record sends what is there. Messages longer than a
 * record are split over several; the recorder puts a message's fds on
 * the record holding its header, as a real client does (docs/protocol.md
 * 1.3), and so does the kernel for the server.
 */
#ifndef VUS_FUZZ_STREAM_H
#define VUS_FUZZ_STREAM_H

#include <stdint.h>

#include <vus/device.h>

#include "testdev.h"

#define FUZZ_CTL_NFDS     0x03u
#define FUZZ_CTL_MEMFD    0x04u
#define FUZZ_CTL_NO_READ  0x08u
#define FUZZ_CTL_TWIN     0x10u
#define FUZZ_CTL_SIGNAL   0x20u
#define FUZZ_CTL_SHRINK   0x40u
#define FUZZ_REC_HDR      3u
#define FUZZ_REC_MAX      0xffffu
/* Guest memory the recorder's client maps with an fd stays inside this. */
#define FUZZ_MEMFD_SIZE   (1u << 20)

/* BAR1 of the fuzzers' testdev (1 MiB elsewhere): a migration snapshot
 * copies all of it, and at 1 MiB one cost more than the rest of its
 * input (fuzz/README.md "Speed"). */
#define FUZZ_BAR1_SIZE    0x4000u

/*
 * The device both sides serve: a testdev with small limits, so inputs
 * reach them (64 KiB transfers, a 256 KiB output queue, 8 pending DMA
 * transfers, a 16 KiB BAR1) and no timer (a DMA reply timeout would make
 * a run depend on the clock). Its snapshot (BAR1, BAR2's 64 KiB and the
 * registers) is still more than one 64 KiB transfer.
 */
static inline struct vus_dev *fuzz_dev_new(struct testdev **td)
{
	static const struct testdev_opts opts = { .bar1_size = FUZZ_BAR1_SIZE };
	struct vus_dev *dev;

	if (testdev_create_opts("fuzz", &opts, td) < 0)
		return NULL;
	dev = testdev_dev(*td);
	if (vus_dev_set_max_data_xfer(dev, 0x10000) < 0 ||
	    vus_dev_set_output_limit(dev, 256u << 10) < 0 ||
	    vus_dev_set_dma_request_limits(dev, 8, 0) < 0) {
		testdev_free(*td);
		return NULL;
	}
	return dev;
}

#endif /* VUS_FUZZ_STREAM_H */
