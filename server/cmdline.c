/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd's command line. The spec's "Backend Program Conventions"
 * (docs/control.md "Command line") for one device: --device TYPE with
 * --socket-path PATH or an inherited listening socket --fd N (mutually
 * exclusive). --device may be repeated: --socket-path, --fd and
 * --dma-layout belong to the --device before them (those given before the
 * first --device belong to it), and giving one twice for the same device
 * is an error rather than a silent replacement. More devices come from
 * --config FILE; --control PATH opens the control socket. Command-line
 * settings override the file's.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vusd.h"

#ifndef VUS_VERSION
#error "VUS_VERSION must come from the build (server/CMakeLists.txt)"
#endif

/* One --device and the options that belong to it. */
struct cmdline_dev {
	const char *device;
	const char *socket_path;
	int fd;         /* -1: not given */
	int layout;     /* -1: not given */
};

/* More than anyone types; a config file serves any number. */
#define CMDLINE_MAX_DEVICES 64

struct cmdline {
	const char *config;
	const char *control;
	struct cmdline_dev devs[CMDLINE_MAX_DEVICES];
	size_t nr_devs; /* devs[nr_devs - 1] is the one options go to */
	int level;      /* -1: not given */
	bool syslog;
	bool no_seccomp;
	bool live_update;
	/* Access options: config keys given on the command line, applied
	 * over the file's (control_auth.c). */
	struct { const char *key, *value; } access[8];
	unsigned nr_access;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vusd --device TYPE[,key=value...] (--socket-path PATH | --fd N) [options]\n"
		"  or:  vusd --device SPEC --socket-path PATH --device SPEC --socket-path PATH ...\n"
		"  or:  vusd --config FILE [options]\n"
		"  or:  vusd --control PATH [options]   (devices added at run time)\n"
		"Serve emulated PCI devices over vfio-user (QEMU vfio-user-pci is the client).\n"
		"\n"
		"  -d, --device SPEC       serve a device: TYPE, then key=value options; repeat\n"
		"                          for more devices (each with name= if of one type)\n"
		"  -s, --socket-path PATH  its socket, created mode 0600 (or its socket_mode) and\n"
		"                          removed again when vusd exits\n"
		"  -f, --fd N              serve the inherited listening socket N instead\n"
		"      --dma-layout L      that device's DMA_READ/WRITE layout: auto (default;\n"
		"                          QEMU's layout when the client looks like QEMU), spec, qemu\n"
		"                          (--socket-path, --fd, --dma-layout: the --device before)\n"
		"  -c, --config FILE       devices and settings from a JSON file\n"
		"                          (docs/control.md; contrib/vusd.example.json); per-device\n"
		"                          budgets are its \"budget\" object (docs/control.md)\n"
		"  -C, --control PATH      control socket for vusctl (JSON requests, docs/control.md)\n"
		"      --control-mode M    the control socket's permission bits (default 0600)\n"
		"      --admin-uid N       a user allowed to change state through it (and root)\n"
		"      --admin-gid N       a group allowed to change state through it\n"
		"      --add-socket-dir D  where its add may create sockets (default: none, so\n"
		"                          only root may add)\n"
		"      --add-socket-mode M the most open socket_mode an add may ask (default 0660)\n"
		"      --user U, --group G run as U:G once the sockets are bound (and always\n"
		"                          with no_new_privs)\n"
		"      --no-seccomp        serve without the seccomp filter (for debugging; it\n"
		"                          allows only the calls serving needs, others fail with\n"
		"                          EPERM, docs/security.md)\n"
		"      --live-update       allow vusctl upgrade and SIGHUP to replace vusd's code\n"
		"                          under attached clients (keeps DMA fds open; allows\n"
		"                          execve in the seccomp filter; docs/live-update.md)\n"
		"  -l, --log-level L       err, warn, info (default), debug, trace\n"
		"  -t, --trace             same as --log-level trace: one line per message\n"
		"      --syslog            log to syslog instead of stderr\n"
		"  -h, --help              this text\n"
		"  -V, --version           print the version\n"
		"\n"
		"Keys every device takes (key=value in --device, JSON keys in --config):\n");
	for (const struct vusd_opt *o = vusd_common_opts; o->key; o++)
		fprintf(f, "  %-14s %s\n", o->key, o->help);
	fprintf(f, "  %-14s %s\n", "budget.KEY=N",
		"this device's budget KEY over the global one (JSON: \"budget\": {...})");
	fprintf(f, "\nDevice types and their own keys:\n");
	vusd_types_print(f);
	fprintf(f,
		"\n"
		"SIGTERM or SIGINT: stop, drop clients, remove the sockets vusd created.\n"
		"SIGHUP: a live update to the binary vusd was started from (with --live-update;\n"
		"without it, refused and logged).\n"
		"Exit status: %d stopped by a signal, %d a listening socket failed while serving,\n"
		"%d bad command line or configuration, %d device, socket or event loop setup failed.\n",
		VUSD_EXIT_OK, VUSD_EXIT_RUNTIME, VUSD_EXIT_USAGE, VUSD_EXIT_SETUP);
}

static int parse_fd(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int choice(const struct vusd_choice *c, const char *opt, const char *arg, int *out)
{
	const struct vusd_choice *i;

	for (i = c; i->name; i++) {
		if (strcmp(i->name, arg) == 0) {
			*out = i->value;
			return 0;
		}
	}
	fprintf(stderr, "vusd: %s: unknown value '%s' (", opt, arg);
	for (i = c; i->name; i++)
		fprintf(stderr, "%s%s", i == c ? "" : ", ", i->name);
	fprintf(stderr, ")\n");
	return -EINVAL;
}

static const struct vusd_choice layouts[] = {
	{ "auto", VUS_DMA_LAYOUT_AUTO },
	{ "spec", VUS_DMA_LAYOUT_SPEC },
	{ "qemu", VUS_DMA_LAYOUT_QEMU },
	{ NULL, 0 },
};

/* A second --socket-path (or --fd, --dma-layout) for one device used to
 * replace the first without a word; now it is refused, naming the device. */
static int twice(const struct cmdline_dev *cur, const char *opt)
{
	bool sock = strcmp(opt, "--dma-layout") != 0;

	fprintf(stderr, "vusd: --device %s: %s; to serve another device, give another "
		"--device before its %s\n", cur->device ? cur->device : "(none yet)",
		sock ? "give exactly one of --socket-path, --fd and the device's socket= key"
		     : "--dma-layout given twice", opt);
	return VUSD_EXIT_USAGE;
}

/* Returns -1 to go on, else the exit code. */
static int parse(int argc, char **argv, struct cmdline *cl)
{
	enum { OPT_DMA_LAYOUT = 256, OPT_SYSLOG, OPT_ACCESS, OPT_NO_SECCOMP, OPT_LIVE_UPDATE };
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "socket-path", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "dma-layout", required_argument, NULL, OPT_DMA_LAYOUT },
		{ "config", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "trace", no_argument, NULL, 't' },
		{ "syslog", no_argument, NULL, OPT_SYSLOG },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "live-update", no_argument, NULL, OPT_LIVE_UPDATE },
		{ "control-mode", required_argument, NULL, OPT_ACCESS },
		{ "admin-uid", required_argument, NULL, OPT_ACCESS },
		{ "admin-gid", required_argument, NULL, OPT_ACCESS },
		{ "add-socket-dir", required_argument, NULL, OPT_ACCESS },
		{ "add-socket-mode", required_argument, NULL, OPT_ACCESS },
		{ "user", required_argument, NULL, OPT_ACCESS },
		{ "group", required_argument, NULL, OPT_ACCESS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmdline_dev *cur = &cl->devs[0];
	int c, v, idx = 0;

	while ((c = getopt_long(argc, argv, "d:s:f:c:C:l:thV", longopts, &idx)) != -1) {
		switch (c) {
		case OPT_ACCESS:
			if (cl->nr_access == sizeof(cl->access) / sizeof(cl->access[0])) {
				fprintf(stderr, "vusd: too many access options\n");
				return VUSD_EXIT_USAGE;
			}
			/* "control-mode" -> config key "control_mode" */
			cl->access[cl->nr_access].key = longopts[idx].name;
			cl->access[cl->nr_access++].value = optarg;
			break;
		case 'd':
			if (cur->device) {
				if (cl->nr_devs == CMDLINE_MAX_DEVICES) {
					fprintf(stderr, "vusd: more than %d --device options; "
						"list the devices in a --config file\n",
						CMDLINE_MAX_DEVICES);
					return VUSD_EXIT_USAGE;
				}
				cur = &cl->devs[cl->nr_devs++];
			}
			cur->device = optarg;
			break;
		case 's':
			if (cur->socket_path || cur->fd >= 0)
				return twice(cur, "--socket-path");
			cur->socket_path = optarg;
			break;
		case 'f':
			if (cur->socket_path || cur->fd >= 0)
				return twice(cur, "--fd");
			if (parse_fd(optarg, &cur->fd) < 0) {
				fprintf(stderr, "vusd: --fd: '%s' is not a file descriptor number\n",
					optarg);
				return VUSD_EXIT_USAGE;
			}
			break;
		case OPT_DMA_LAYOUT:
			if (cur->layout >= 0)
				return twice(cur, "--dma-layout");
			if (choice(layouts, "--dma-layout", optarg, &v) < 0)
				return VUSD_EXIT_USAGE;
			cur->layout = v;
			break;
		case 'c':
			cl->config = optarg;
			break;
		case 'C':
			cl->control = optarg;
			break;
		case 'l':
			if (choice(vusd_log_levels, "--log-level", optarg, &cl->level) < 0)
				return VUSD_EXIT_USAGE;
			break;
		case 't':
			cl->level = VUS_LOG_TRACE;
			break;
		case OPT_SYSLOG:
			cl->syslog = true;
			break;
		case OPT_NO_SECCOMP:
			cl->no_seccomp = true;
			break;
		case OPT_LIVE_UPDATE:
			cl->live_update = true;
			break;
		case 'h':
			usage(stdout);
			return VUSD_EXIT_OK;
		case 'V':
			printf("vusd (vus) %s\n", VUS_VERSION);
			return VUSD_EXIT_OK;
		default:
			fprintf(stderr, "Try 'vusd --help'.\n");
			return VUSD_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vusd: unexpected argument '%s'\n", argv[optind]);
		return VUSD_EXIT_USAGE;
	}
	return -1;
}

/* --device SPEC with --socket-path / --fd / --dma-layout. */
static int add_cmdline_device(const struct cmdline_dev *cl, size_t nth, size_t count,
			      struct vusd_config *cfg)
{
	struct vusd_spec spec;
	struct vusd_err err;
	char where[80]; /* "--device #N (32 chars)" with any N */
	int given;

	/* Errors say "--device: ..." for the usual one device, and which one
	 * when there are several. */
	if (count == 1)
		snprintf(where, sizeof(where), "--device");
	else
		snprintf(where, sizeof(where), "--device #%u (%.32s)", (unsigned)nth + 1,
			 cl->device);
	if (vusd_spec_parse_kv(cl->device, cfg->socket_mode, where, &spec, &err) < 0) {
		fprintf(stderr, "vusd: %s\n", err.msg);
		return VUSD_EXIT_USAGE;
	}
	given = !!spec.socket + !!cl->socket_path + (cl->fd >= 0);
	if (given != 1) {
		fprintf(stderr, "vusd: %s: give exactly one of --socket-path, --fd and the "
			"device's socket= key\n", where);
		goto bad;
	}
	if (cl->socket_path && !(spec.socket = strdup(cl->socket_path))) {
		fprintf(stderr, "vusd: out of memory\n");
		goto bad;
	}
	spec.fd = cl->fd;
	if (cl->layout >= 0)
		spec.dma_layout = cl->layout;
	if (vusd_config_add_device(cfg, &spec, where, &err) < 0) {
		fprintf(stderr, "vusd: %s\n", err.msg);
		goto bad;
	}
	return -1;
bad:
	vusd_spec_free(&spec);
	return VUSD_EXIT_USAGE;
}

int vusd_cmdline(int argc, char **argv, struct vusd_config *cfg)
{
	struct cmdline cl;
	struct vusd_err err;
	size_t i;
	int rc;

	memset(&cl, 0, sizeof(cl));
	cl.level = -1;
	cl.nr_devs = 1;
	for (i = 0; i < CMDLINE_MAX_DEVICES; i++)
		cl.devs[i] = (struct cmdline_dev){ .fd = -1, .layout = -1 };
	rc = parse(argc, argv, &cl);
	if (rc >= 0)
		return rc;
	if (!cl.devs[0].device) {
		if (cl.devs[0].socket_path || cl.devs[0].fd >= 0 || cl.devs[0].layout >= 0) {
			fprintf(stderr, "vusd: --socket-path, --fd and --dma-layout belong to "
				"--device\n");
			return VUSD_EXIT_USAGE;
		}
		cl.nr_devs = 0;
	}
	if (cl.config && vusd_config_load(cl.config, cfg, &err) < 0) {
		fprintf(stderr, "vusd: %s\n", err.msg);
		return VUSD_EXIT_USAGE;
	}
	for (i = 0; i < cl.nr_devs; i++) {
		rc = add_cmdline_device(&cl.devs[i], i, cl.nr_devs, cfg);
		if (rc >= 0)
			return rc;
	}
	if (cl.control) {
		free(cfg->control);
		cfg->control = strdup(cl.control);
		if (!cfg->control) {
			fprintf(stderr, "vusd: out of memory\n");
			return VUSD_EXIT_SETUP;
		}
	}
	for (i = 0; i < cl.nr_access; i++) {
		char key[32], where[48];
		size_t k;

		snprintf(key, sizeof(key), "%s", cl.access[i].key);
		for (k = 0; key[k]; k++)
			key[k] = key[k] == '-' ? '_' : key[k];
		snprintf(where, sizeof(where), "--%s", cl.access[i].key);
		if (vusd_config_set(cfg, key, cl.access[i].value, where, &err) < 0) {
			fprintf(stderr, "vusd: %s\n", err.msg);
			return VUSD_EXIT_USAGE;
		}
	}
	if (cl.level >= 0)
		cfg->log_level = cl.level;
	if (cl.syslog)
		cfg->log_target = VUSD_LOG_SYSLOG;
	if (cl.no_seccomp)
		cfg->seccomp = false;
	if (cl.live_update)
		cfg->live_update = true;
	if (!cfg->nr_devices && !cfg->control) {
		fprintf(stderr, "vusd: nothing to serve: give --device, a --config file with "
			"devices, or a --control socket to add them at run time\n");
		return VUSD_EXIT_USAGE;
	}
	return -1;
}
