/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-rtt: the two ends of a round-trip loop, for counting what one
 * request costs in system calls (bench/syscalls.sh runs it under strace).
 *
 *   vus-rtt --serve PATH --loop run|poll   serve a testdev on PATH, either
 *       with vus_dev_run() (the library's own loop) or with an
 *       application-owned poll() loop on vus_dev_poll_fd() calling
 *       vus_dev_process() (as samples/gpio/example.c does)
 *   vus-rtt --connect PATH -n N            N 4-byte config-space reads
 *       [--region R --offset O] [--write]    or reads (writes) of 4 bytes
 *                                          at offset O of region R
 *                                          (testdev's BAR0 scratch
 *                                          register: --region 0 --offset 4)
 *
 * It prints no timings: bench/vus-bench.c measures time, as ratios.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vus/client.h>
#include <vus/device.h>

#include "testdev.h"

static volatile sig_atomic_t quit;
static struct vus_dev *served;

static void on_term(int sig)
{
	(void)sig;
	quit = 1;
	vus_dev_stop(served); /* async-signal-safe (device.h) */
}

static int serve(const char *path, bool own_poll)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct testdev *td;
	struct vus_dev *dev;
	int rc;

	rc = testdev_create("rtt", &td);
	if (rc < 0)
		goto fail;
	dev = testdev_dev(td);
	served = dev;
	rc = vus_dev_listen(dev, path);
	if (rc < 0)
		goto fail;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("ready\n");
	fflush(stdout);
	if (!own_poll) {
		while (!quit && rc >= 0)
			rc = vus_dev_run(dev);
	} else {
		struct pollfd p = { .fd = vus_dev_poll_fd(dev), .events = POLLIN };

		while (!quit) {
			if (poll(&p, 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				rc = -errno;
				break;
			}
			rc = vus_dev_process(dev);
			if (rc < 0)
				break;
		}
	}
	testdev_free(td);
	return rc < 0 && rc != -EINTR ? 1 : 0;
fail:
	fprintf(stderr, "vus-rtt: %s\n", strerror(-rc));
	return 1;
}

static int connect_and_read(const char *path, unsigned long n, uint32_t region,
			    uint64_t offset, bool write)
{
	struct vus_client *c;
	unsigned long i;
	uint32_t v = 0;
	int rc;

	rc = vus_client_connect(path, NULL, &c);
	if (rc < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		rc = write ? vus_client_region_write(c, region, offset, &v, 4)
			   : vus_client_region_read(c, region, offset, &v, 4);
		if (rc < 0)
			goto fail;
	}
	vus_client_close(c);
	printf("%lu %s of region %u offset %#llx, last value %08x\n", n,
	       write ? "writes" : "reads", region, (unsigned long long)offset, v);
	return 0;
fail:
	fprintf(stderr, "vus-rtt: %s\n", strerror(-rc));
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "serve", required_argument, NULL, 's' },
		{ "connect", required_argument, NULL, 'c' },
		{ "loop", required_argument, NULL, 'l' },
		{ "region", required_argument, NULL, 'r' },
		{ "offset", required_argument, NULL, 'o' },
		{ "write", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *srv = NULL, *cli = NULL;
	unsigned long n = 10000;
	bool own_poll = false, write = false;
	uint32_t region = VUS_PCI_CONFIG_REGION;
	uint64_t offset = 0;
	int c;

	while ((c = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': srv = optarg; break;
		case 'c': cli = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'r': region = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'o': offset = strtoull(optarg, NULL, 0); break;
		case 'w': write = true; break;
		case 'l':
			if (strcmp(optarg, "poll") && strcmp(optarg, "run"))
				goto usage;
			own_poll = strcmp(optarg, "poll") == 0;
			break;
		case 'h':
			printf("usage: vus-rtt --serve PATH [--loop run|poll] | --connect PATH [-n N] "
		       "[--region R --offset O] [--write]\n");
			return 0;
		default:
			goto usage;
		}
	}
	if (srv && !cli)
		return serve(srv, own_poll);
	if (cli && !srv && n > 0)
		return connect_and_read(cli, n, region, offset, write);
usage:
	fprintf(stderr, "usage: vus-rtt --serve PATH [--loop run|poll] | --connect PATH [-n N] "
		       "[--region R --offset O] [--write]\n");
	return 2;
}
