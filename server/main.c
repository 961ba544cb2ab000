/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd: serve vus devices on vfio-user sockets.
 *
 * Configuration (command line, config file) -> the spawner of isolated
 * devices (spawner.c) -> the event loop with its
 * signal handlers -> every configured device created and listening -> the
 * control socket -> privileges dropped, seccomp filter on -> serve until SIGTERM/SIGINT -> tear down in reverse:
 * control socket, devices (clients dropped, sockets unlinked), loop.
 * Any setup failure undoes what was done and exits 3, so a half-started
 * vusd never leaves socket files behind.
 */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>

#include "vusd.h"

static int start(struct vusd *d, struct vusd_config *cfg)
{
	struct vusd_err err;
	size_t i;

	for (i = 0; i < cfg->nr_devices; i++) {
		if (vusd_dev_add(d, &cfg->devices[i], NULL, &err) < 0) {
			vusd_log(VUS_LOG_ERR, "%s", err.msg);
			return -1;
		}
	}
	if (cfg->control &&
	    vusd_control_open(d, cfg->control, cfg->policy.control_mode, &err) < 0) {
		vusd_log(VUS_LOG_ERR, "%s", err.msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vusd_config cfg;
	struct vusd d = { 0 };
	bool live = vusd_live_started();
	int rc;

	vusd_config_init(&cfg);
	rc = vusd_cmdline(argc, argv, &cfg);
	if (rc >= 0)
		goto out_cfg;
	/* The dry run of a live update: load every state, report, exit. */
	if (live && getenv("VUSD_LIVE_CHECK")) {
		vusd_log_set_level(cfg.log_level);
		vusd_log_open(cfg.log_target);
		rc = vusd_live_check_main();
		vusd_log_close();
		goto out_cfg;
	}
	d.argv = argv;
	d.exe = realpath("/proc/self/exe", NULL);
	d.req_fd = -1;
	d.ctl_fd = -1;
	d.live_update = cfg.live_update;

	/* A client vanishing mid-send must end that client, not vusd. */
	signal(SIGPIPE, SIG_IGN);
	vusd_log_set_level(cfg.log_level);
	vusd_log_open(cfg.log_target);
	d.socket_mode = cfg.socket_mode;
	d.budget = cfg.budget;
	d.policy = cfg.policy; /* strings stay cfg's, freed after the loop */
	d.user = cfg.user;
	d.group = cfg.group;
	d.seccomp = cfg.seccomp;
	d.child_main = vusd_child_main;
	vusd_raise_nofile();
	/* Before any device or client exists: isolated devices are forked
	 * from this process, which has none of them (spawner.c). */
	{
		struct vusd_err err;

		if (vusd_spawner_start(&d, &err) < 0) {
			vusd_log(VUS_LOG_ERR, "%s", err.msg);
			rc = VUSD_EXIT_SETUP;
			vusd_log_close();
			goto out_d;
		}
	}

	rc = VUSD_EXIT_SETUP;
	if (live) {
		/* Started by a live update: the devices, clients and sockets are
		 * the previous image's; its privileges and seccomp filter hold
		 * already (both survive execve). */
		if (vusd_loop_init(&d) == 0) {
			/* The previous image's spawner ends when its socket
			 * closes at execve; its SIGCHLD may have come before
			 * the loop's handler: reap it now if so. */
			vusd_children_reap(&d);
			vusd_live_take_over(&d);
			rc = vusd_loop_run(&d);
		}
	} else if (vusd_loop_init(&d) == 0 && start(&d, &cfg) == 0) {
		struct vusd_err err;

		/* Sockets bound: what is left to do needs no privilege. */
		if (vusd_drop_privileges(cfg.user, cfg.group, &err) < 0 ||
		    (cfg.seccomp && vusd_sandbox_enter(NULL, cfg.live_update, &err) < 0) ||
		    vusd_spawner_sandbox(&d, &err) < 0)
			vusd_log(VUS_LOG_ERR, "%s", err.msg);
		else
			rc = vusd_loop_run(&d);
	}
	vusd_control_close(&d);
	vusd_dev_remove_all(&d);
	vusd_spawner_stop(&d);
	vusd_loop_free(&d);
	vusd_log_close();
out_d:
	free(d.exe);
out_cfg:
	vusd_config_free(&cfg);
	return rc;
}
