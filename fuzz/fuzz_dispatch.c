/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the whole server: transport, dispatch, handlers,
 * the DMA engine, migration and the testdev device behind them, fed one
 * client's byte stream with real fds attached (input format:
 * fuzz_stream.h; the client: fuzz_client.c). The bytes go through memory
 * (fuzz_memq.h: no system call per record in the common case);
 * FUZZ_SOCKETS=1 sends them over the kernel's socketpair.
 *
 * One device serves every input, as vusd's devices serve client after
 * client: it is made once, and each input is one client session (in
 * memory, on a new dup of one socketpair's end; with FUZZ_SOCKETS=1 on
 * a new socketpair). Either way the path toward the client is small (a
 * 32 KiB queue, or a 16 KiB send buffer), so partial sends and the
 * output queue are exercised. When the client leaves, the
 * session ends as on any disconnect and vus_dev_reset() brings the
 * device back to power-on state (config space, registers, migration
 * RUNNING); the device's RAM (testdev BAR1/BAR2) keeps what earlier
 * inputs wrote, as it does across a real client's resets.
 *
 * Checked beyond the sanitizers, on every input:
 *  - the session ends when its client hangs up;
 *  - the device resets (vus_dev_reset() succeeds) afterwards;
 *  - the process's fd table is the same after the input as before it:
 *    every fd the server received, dup'ed or created for the session is
 *    released when the session goes (fuzz_fd_* in fuzz_client.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_client.h"
#include "fuzz_memq.h"
#include "fuzz_stream.h"

/* Server-side socket buffer: small, so replies often do not fit. */
#define SNDBUF 16384

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_loop loop;
static struct vus_dev *dev;
/* The client's bytes go through memory (fuzz_memq.h) unless
 * FUZZ_SOCKETS=1 asks for the kernel's socketpair. */
static bool mem;

static void quiet(void *opaque, enum vus_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct testdev *td;

	(void)argc;
	(void)argv;
	fuzz_fd_init();
	mem = fuzz_memq_setup();
	/* Never freed: the device lives as long as the process. */
	dev = fuzz_dev_new(&td);
	if (!dev)
		abort();
	/* TRACE: every message also goes through the trace formatters. */
	vus_dev_set_log(dev, quiet, NULL, VUS_LOG_TRACE);
	loop.devs[0] = dev;
	loop.n = 1;
	/* The fd table every input must leave as it found it. */
	fuzz_fd_check("fuzz_dispatch");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_client c = { .loop = &loop, .dev = dev, .sndbuf = SNDBUF, .mem = mem };
	int err;

	err = fuzz_client_open(&c);
	if (err) {
		fprintf(stderr, "fuzz_dispatch: attach: %s\n", strerror(-err));
		abort();
	}
	fuzz_client_feed(&c, data, size);
	if (!fuzz_client_close(&c)) {
		fprintf(stderr, "fuzz_dispatch: the session outlived its client\n");
		abort();
	}
	err = vus_dev_reset(dev);
	if (err) {
		fprintf(stderr, "fuzz_dispatch: reset: %s\n", strerror(-err));
		abort();
	}
	fuzz_fd_check("fuzz_dispatch");
	return 0;
}
