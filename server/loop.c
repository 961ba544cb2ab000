/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The event loop: one thread runs every device's vus_dev_process(), from
 * a wait of its own (devloop.c), and a libevent base on that thread the
 * control socket and the signal handlers. Device worker threads reach it
 * through each device's poll fd (the library's wake eventfd is in that
 * epoll set), never by touching vusd's state.
 *
 * SIGTERM and SIGINT (spec "Backend Program Conventions": honour SIGTERM)
 * are libevent signal events, so the shutdown itself -- dropping clients,
 * unlinking sockets -- runs in main() after the loop, not in a handler.
 * SIGCHLD says a process-isolated device's child ended (isolate.c).
 */
#include <event2/event.h>
#include <signal.h>
#include <string.h>

#include "vusd.h"

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGCHLD) {
		/* A process-isolated device's child ended (isolate.c). */
		vusd_children_reap(arg);
		return;
	}
	vusd_log(VUS_LOG_INFO, "%s, shutting down", strsignal((int)sig));
	vusd_loop_stop(arg, VUSD_EXIT_OK);
}

/* SIGHUP: live update to the same binary path (docs/live-update.md). */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct vusd *d = arg;
	struct vusd_err err = { "" };

	vusd_log(VUS_LOG_INFO, "%s: live update", strsignal((int)sig));
	if (vusd_upgrade(d, NULL, &err) < 0)
		vusd_log(VUS_LOG_ERR, "%s", err.msg);
}

int vusd_loop_init(struct vusd *d)
{
	static const int signals[] = { SIGTERM, SIGINT, SIGCHLD, SIGHUP };
	size_t i;

	d->base = vusd_devloop_open(d);
	if (!d->base) {
		vusd_log(VUS_LOG_ERR, "cannot create the libevent event base");
		return -1;
	}
	for (i = 0; i < 4; i++) {
		d->sig[i] = evsignal_new(d->base, signals[i],
					 signals[i] == SIGHUP ? on_sighup : on_signal, d);
		if (!d->sig[i] || event_add(d->sig[i], NULL) < 0) {
			vusd_log(VUS_LOG_ERR, "cannot handle signal %s", strsignal(signals[i]));
			return -1;
		}
	}
	d->exit_code = VUSD_EXIT_OK;
	return 0;
}

int vusd_loop_run(struct vusd *d)
{
	if (vusd_devloop_run(d) < 0) {
		vusd_log(VUS_LOG_ERR, "event loop failed");
		return VUSD_EXIT_RUNTIME;
	}
	return d->exit_code;
}

void vusd_loop_stop(struct vusd *d, int exit_code)
{
	vusd_devloop_stop(d, exit_code);
}

void vusd_loop_free(struct vusd *d)
{
	size_t i;

	for (i = 0; i < 4; i++)
		if (d->sig[i])
			event_free(d->sig[i]);
	vusd_devloop_close(d);
	if (d->base)
		event_base_free(d->base);
	d->base = NULL;
}
