/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusctl: inspect and drive vfio-user devices, on their own sockets (as
 * their one client) or by name through vusd's control socket.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vusctl.h"

#ifndef VUS_VERSION
#error "VUS_VERSION must come from the build (server/CMakeLists.txt)"
#endif

#define DEFAULT_TIMEOUT_MS 5000

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vusctl [--json] [--timeout MS] COMMAND SOCKET ...\n"
		"  or:  vusctl --control CTL [--json] [--timeout MS] COMMAND [NAME] ...\n"
		"Inspect and drive vfio-user devices.\n"
		"\n"
		"On a device socket (vusctl is then its client; fails while a VMM is attached):\n"
		"  info SOCKET                      device, regions, IRQs\n"
		"  config SOCKET [--header]         config space in `lspci -x` format\n"
		"                                   (`lspci -F FILE -vvv` decodes it)\n"
		"  read SOCKET REGION OFFSET [--len N]          (default 4 bytes)\n"
		"  write SOCKET REGION OFFSET VALUE [--width 1|2|4|8 | --hex]\n"
		"  reset SOCKET\n"
		"  irqs SOCKET [--watch [--count N]]  IRQs; --watch prints interrupts as they come\n"
		"  save SOCKET FILE                 the device's migration state into FILE\n"
		"  load SOCKET FILE                 ... and back (refused if wrong or damaged)\n"
		"  migrate SRC DST                  move the state of device SRC to device DST:\n"
		"                                   pre-copy rounds, stop-copy, resume; prints\n"
		"                                   progress and the downtime\n"
		"\n"
		"Through vusd's control socket (devices by name; works while a VMM is attached):\n"
		"  list | types | stats [NAME] | log-level [LEVEL]\n"
		"  add TYPE,name=NAME,socket=PATH[,key=value...]\n"
		"  remove NAME [--force]\n"
		"  info NAME | config NAME [--header] | irqs NAME\n"
		"  read NAME REGION OFFSET [--len N] [--force]\n"
		"  write NAME REGION OFFSET VALUE [--width N | --hex] [--force]\n"
		"  reset NAME [--force]\n"
		"  upgrade [BINARY]                 live update: vusd execs BINARY (default: its\n"
		"                                   own) keeping every client; prints the pause\n"
		"                                   (vusd --live-update; docs/live-update.md);\n"
		"                                   waits up to 60 s unless --timeout says\n"
		"  TYPE NAME ARG...                 the device type's own commands\n"
		"  migrate NAME --to CTL2 --socket PATH [--name NEW] [--remove-source]\n"
		"          [--create-only] [--max-rounds N] [--max-time MS] [--downtime MS]\n"
		"                                   make the same device in the vusd of CTL2\n"
		"                                   (type, options) and move NAME's state there\n"
		"                                   (NAME without a client; --create-only only\n"
		"                                   makes it, for a VMM that migrates it)\n"
		"  (write, reset, remove and a read served by device callbacks need --force\n"
		"   while a client is attached; on a device socket --force is refused)\n"
		"\n"
		"REGION: 0-99 or bar0-bar5, rom, config, vga. VALUE: a number written\n"
		"little-endian in --width bytes (default 4), or with --hex the bytes in hex.\n"
		"\n"
		"  -C, --control CTL   vusd's control socket\n"
		"  -j, --json          print JSON (one object per line) for scripts\n"
		"  -t, --timeout MS    wait at most MS for each reply (default %d)\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n"
		"\n"
		"Exit status: %d ok, %d the request failed, %d bad usage, %d no server there,\n"
		"%d busy (the device has a client already; through vusd: a client is attached\n"
		"and the request needs --force), %d not vfio-user (or not vusd).\n",
		DEFAULT_TIMEOUT_MS, VUSCTL_OK, VUSCTL_FAILED, VUSCTL_USAGE, VUSCTL_NO_SERVER,
		VUSCTL_BUSY, VUSCTL_NOT_VUS);
}

struct direct_cmd {
	const char *name;
	int (*fn)(const struct vusctl *v, int argc, char **argv);
};

static const struct direct_cmd direct_cmds[] = {
	{ "info", vusctl_direct_info },
	{ "config", vusctl_direct_config },
	{ "read", vusctl_direct_read },
	{ "write", vusctl_direct_write },
	{ "reset", vusctl_direct_reset },
	{ "irqs", vusctl_irqs },
	{ "save", vusctl_save },
	{ "load", vusctl_load },
	{ "migrate", vusctl_migrate },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "control", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct vusctl v = { .timeout_ms = DEFAULT_TIMEOUT_MS };
	uint64_t ms;
	size_t i;
	int c;

	/* '+': options after the command word belong to the command. */
	while ((c = getopt_long(argc, argv, "+C:jt:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'C':
			v.control = optarg;
			break;
		case 'j':
			v.json = true;
			break;
		case 't':
			if (!vusctl_parse_u64(optarg, &ms) || ms == 0 || ms > 3600000) {
				fprintf(stderr, "vusctl: --timeout: expected 1 to 3600000 ms\n");
				return VUSCTL_USAGE;
			}
			v.timeout_ms = (int)ms;
			v.timeout_set = true;
			break;
		case 'h':
			usage(stdout);
			return VUSCTL_OK;
		case 'V':
			printf("vusctl (vus) %s\n", VUS_VERSION);
			return VUSCTL_OK;
		default:
			fprintf(stderr, "Try 'vusctl --help'.\n");
			return VUSCTL_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vusctl: a command is needed\nTry 'vusctl --help'.\n");
		return VUSCTL_USAGE;
	}
	argc -= optind;
	argv += optind;
	/* migrate by name: its own file, above ctl.c (which it calls). */
	if (v.control && strcmp(argv[0], "migrate") == 0)
		return vusctl_migrate_ctl(&v, argc, argv);
	if (v.control)
		return vusctl_ctl(&v, argc, argv);
	for (i = 0; i < sizeof(direct_cmds) / sizeof(direct_cmds[0]); i++)
		if (strcmp(direct_cmds[i].name, argv[0]) == 0)
			return direct_cmds[i].fn(&v, argc, argv);
	fprintf(stderr, "vusctl: unknown command '%s'%s\nTry 'vusctl --help'.\n", argv[0],
		strcmp(argv[0], "list") == 0 || strcmp(argv[0], "add") == 0 ||
		strcmp(argv[0], "remove") == 0 || strcmp(argv[0], "stats") == 0 ?
		" (it goes through vusd: --control CTL)" : "");
	return VUSCTL_USAGE;
}
