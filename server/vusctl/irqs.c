/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusctl irqs TARGET [--watch [--count N]]
 *
 * Without --watch: the IRQ indices (from the device, or from vusd with
 * the client's eventfd and mask state). With --watch on a device socket:
 * vusctl becomes the client that receives interrupts -- one eventfd per
 * vector assigned with SET_IRQS (EVENTFD|TRIGGER), each signal printed as
 * it arrives. INTx is auto-masked after every signal (docs/protocol.md
 * 3.8), so vusctl unmasks it again as a VMM does on the guest's EOI.
 *
 * INTx is a level: unmasked while still asserted it signals again at
 * once, and unmasking at every signal printed thousands of lines a second
 * for one asserted line (issue 16). So INTx prints state changes only:
 * the line asserted (a signal while it was low), and deasserted (an
 * unmask that brought no signal back). It is unmasked again
 * INTX_RECHECK_MS after each signal, which is also how soon a
 * deassertion is seen.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vus/client.h>

#include "vusctl.h"

/* Vectors watched per index: MSI-X may have 2048, fds are finite. */
#define WATCH_MAX_VECTORS 256
/* INTx: how long after a signal it is unmasked, and how long an unmask
 * may stay unanswered before the line counts as deasserted. */
#define INTX_RECHECK_MS 50

enum intx_state {
	INTX_LOW,       /* deasserted (or never seen): unmasked */
	INTX_MASKED,    /* signalled; unmask at intx_at */
	INTX_UNMASKED,  /* unmasked at intx_at - INTX_RECHECK_MS; no signal yet */
};

struct watched {
	uint32_t index, vector;
	uint64_t seen;
};

struct watch {
	struct pollfd *pfd;     /* [0] the client socket, then one per vector */
	struct watched *w;      /* w[i] describes pfd[i + 1] */
	size_t n;
	uint64_t total;
	enum intx_state intx;
	int64_t intx_at;        /* ms, CLOCK_MONOTONIC: the next INTx step */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void watch_free(struct watch *wt)
{
	size_t i;

	for (i = 0; i < wt->n; i++)
		close(wt->pfd[i + 1].fd);
	free(wt->pfd);
	free(wt->w);
}

/* Eventfds for every vector of every index, assigned to the device. */
static int watch_setup(struct vus_client *c, const char *path, struct watch *wt)
{
	struct vus_device_info di;
	struct vus_irq_info qi;
	uint32_t i, v, count;
	int fds[WATCH_MAX_VECTORS], rc;

	memset(wt, 0, sizeof(*wt));
	rc = vus_client_device_info(c, &di);
	if (rc < 0)
		goto fail;
	wt->pfd = calloc((size_t)di.num_irqs * WATCH_MAX_VECTORS + 1, sizeof(*wt->pfd));
	wt->w = calloc((size_t)di.num_irqs * WATCH_MAX_VECTORS, sizeof(*wt->w));
	if (!wt->pfd || !wt->w) {
		rc = -ENOMEM;
		goto fail;
	}
	wt->pfd[0].fd = vus_client_fd(c);
	wt->pfd[0].events = POLLIN;
	for (i = 0; i < di.num_irqs; i++) {
		rc = vus_client_irq_info(c, i, &qi);
		if (rc < 0)
			goto fail;
		if (!qi.count || !(qi.flags & VUS_IRQ_INFO_EVENTFD))
			continue;
		count = qi.count < WATCH_MAX_VECTORS ? qi.count : WATCH_MAX_VECTORS;
		for (v = 0; v < count; v++) {
			fds[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (fds[v] < 0) {
				rc = -errno;
				goto fail;
			}
			wt->pfd[wt->n + 1].fd = fds[v];
			wt->pfd[wt->n + 1].events = POLLIN;
			wt->w[wt->n].index = i;
			wt->w[wt->n].vector = v;
			wt->n++;
		}
		rc = vus_client_set_irqs(c, i, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
					 0, count, fds, NULL);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "vusctl: %s: cannot watch interrupts: %s\n", path, strerror(-rc));
	watch_free(wt);
	return VUSCTL_FAILED;
}

static void announce(const struct vusctl *v, const struct watch *wt)
{
	size_t i;

	if (v->json) {
		printf("{\"event\":\"watching\",\"vectors\":%zu}\n", wt->n);
		return;
	}
	printf("watching %zu vector%s:", wt->n, wt->n == 1 ? "" : "s");
	for (i = 0; i < wt->n && i < 8; i++)
		printf(" %s[%u]", vusctl_irq_name(wt->w[i].index), wt->w[i].vector);
	printf("%s\n", wt->n > 8 ? " ..." : "");
}

static void print_event(const struct vusctl *v, const struct watched *w, uint64_t n,
			bool deasserted)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (v->json)
		printf("{\"event\":\"%s\",\"index\":%u,\"name\":\"%s\",\"vector\":%u,"
		       "\"signals\":%llu,\"time\":%lld.%06ld}\n", deasserted ? "deasserted" : "irq",
		       w->index, vusctl_irq_name(w->index), w->vector, (unsigned long long)n,
		       (long long)ts.tv_sec, ts.tv_nsec / 1000);
	else
		printf("%lld.%06ld %s[%u]%s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000,
		       vusctl_irq_name(w->index), w->vector,
		       deasserted ? " deasserted" : n > 1 ? " (coalesced signals)" : "");
}

/* One vector's eventfd polled readable. */
static void deliver(const struct vusctl *v, struct watch *wt, size_t i)
{
	struct watched *w = &wt->w[i];
	uint64_t n;

	if (read(wt->pfd[i + 1].fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	w->seen += n;
	if (w->index == VUS_PCI_INTX_IRQ) {
		bool was_low = wt->intx == INTX_LOW;

		/* Masked now (auto-mask); look again a little later. */
		wt->intx = INTX_MASKED;
		wt->intx_at = mono_ms() + INTX_RECHECK_MS;
		if (!was_low)
			return; /* still asserted: no change to print */
	}
	wt->total++;
	print_event(v, w, n, false);
}

/* The INTx step due now, if any: unmask, or note the deassertion. */
static int intx_step(const struct vusctl *v, struct vus_client *c, struct watch *wt)
{
	size_t i;

	if (wt->intx == INTX_LOW || mono_ms() < wt->intx_at)
		return 0;
	if (wt->intx == INTX_MASKED) {
		wt->intx = INTX_UNMASKED;
		wt->intx_at = mono_ms() + INTX_RECHECK_MS;
		return vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
					   VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1,
					   NULL, NULL);
	}
	/* Unmasked and quiet: the line is low. */
	wt->intx = INTX_LOW;
	for (i = 0; i < wt->n; i++)
		if (wt->w[i].index == VUS_PCI_INTX_IRQ)
			print_event(v, &wt->w[i], 0, true);
	return 0;
}

static int watch_loop(const struct vusctl *v, struct vus_client *c, const char *path,
		      struct watch *wt, uint64_t count)
{
	size_t i;
	int rc;

	while (!stop_signal && (!count || wt->total < count)) {
		int64_t wait = -1;

		if (wt->intx != INTX_LOW) {
			wait = wt->intx_at - mono_ms();
			if (wait < 0)
				wait = 0;
		}
		rc = poll(wt->pfd, wt->n + 1, (int)wait);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			fprintf(stderr, "vusctl: poll: %s\n", strerror(errno));
			return VUSCTL_FAILED;
		}
		/* The server talks only to end the session (or to DMA, which
		 * this client has no maps for): serve that, notice the end. */
		if (wt->pfd[0].revents) {
			rc = vus_client_process(c, 0);
			if (rc < 0) {
				fprintf(stderr, "vusctl: %s: the server ended the session: %s\n",
					path, strerror(-rc));
				return VUSCTL_FAILED;
			}
		}
		for (i = 0; i < wt->n; i++)
			if (rc > 0 && (wt->pfd[i + 1].revents & POLLIN))
				deliver(v, wt, i);
		rc = intx_step(v, c, wt);
		if (rc < 0) {
			fprintf(stderr, "vusctl: %s: unmasking INTx: %s\n", path, strerror(-rc));
			return VUSCTL_FAILED;
		}
	}
	return VUSCTL_OK;
}

static int watch(const struct vusctl *v, const char *path, uint64_t count)
{
	struct sigaction sa = { .sa_handler = on_stop };
	struct vus_client *c;
	struct watch wt;
	int rc;

	if ((rc = vusctl_open(v, path, &c)) != VUSCTL_OK)
		return rc;
	rc = watch_setup(c, path, &wt);
	if (rc != 0) {
		vus_client_close(c);
		return rc;
	}
	/* No SA_RESTART: poll() returns EINTR and the loop ends cleanly. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	announce(v, &wt);
	rc = watch_loop(v, c, path, &wt, count);
	/* Closing the session makes the server drop the eventfds. */
	vus_client_close(c);
	watch_free(&wt);
	return rc;
}

static int show(const struct vusctl *v, const char *path)
{
	struct json_object *info = json_object_new_object(), *irqs = json_object_new_array();
	struct vus_device_info di;
	struct vus_irq_info qi;
	struct vus_client *c;
	uint32_t i;
	int rc;

	if (!info || !irqs) {
		json_object_put(info);
		json_object_put(irqs);
		return VUSCTL_FAILED;
	}
	json_object_object_add(info, "irqs", irqs);
	if ((rc = vusctl_open(v, path, &c)) != VUSCTL_OK)
		goto out;
	rc = vus_client_device_info(c, &di);
	for (i = 0; rc == 0 && i < di.num_irqs; i++) {
		rc = vus_client_irq_info(c, i, &qi);
		if (rc == 0 && qi.count)
			json_object_array_add(irqs, vusctl_irq_json(&qi));
	}
	vus_client_close(c);
	if (rc < 0) {
		fprintf(stderr, "vusctl: %s: IRQ info: %s\n", path, strerror(-rc));
		rc = VUSCTL_FAILED;
		goto out;
	}
	if (v->json)
		vusctl_print_json(info);
	else
		vusctl_print_irqs(info);
	rc = VUSCTL_OK;
out:
	json_object_put(info);
	return rc;
}

int vusctl_irqs(const struct vusctl *v, int argc, char **argv)
{
	struct vusctl_args a;
	int rc;

	if ((rc = vusctl_args(argc, argv, "irqs", "Wn", 1, 1, &a)) >= 0)
		return rc;
	if (a.count && !a.watch)
		return vusctl_usage_error("irqs", "--count goes with --watch");
	/* Output is read by scripts while vusctl runs: one line at a time. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return a.watch ? watch(v, a.pos[0], a.count) : show(v, a.pos[0]);
}
