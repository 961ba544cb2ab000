/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd: serve one vus device on a vfio-user socket.
 *
 * Follows the spec's "Backend Program Conventions" (protocol-facts 1.1):
 * no daemonizing, stdio kept, SIGTERM honoured, --socket-path=PATH or an
 * inherited listening socket with --fd=FDNUM (mutually exclusive).
 *
 * The loop is libevent's: one persistent read event on the device's poll
 * fd runs vus_dev_process(); SIGTERM/SIGINT leave the loop, and freeing
 * the device closes the client and unlinks the socket vusd created.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vus/device.h>

#include "testdev.h"

#ifndef VUS_VERSION
#error "VUS_VERSION must come from the build (server/CMakeLists.txt)"
#endif

/* Exit codes, also listed in --help. */
enum {
	VUSD_EXIT_OK = 0,      /* stopped by SIGTERM/SIGINT */
	VUSD_EXIT_RUNTIME = 1, /* the listener failed while serving */
	VUSD_EXIT_USAGE = 2,   /* bad command line */
	VUSD_EXIT_SETUP = 3,   /* device creation, socket or event loop setup failed */
};

/* ---- device types --------------------------------------------------- */

struct vusd_device {
	struct vus_dev *dev;
	void *handle;
	void (*destroy)(void *handle);
};

struct vusd_device_type {
	const char *name;
	const char *summary;
	int (*create)(const char *name, struct vusd_device *out);
};

static void testdev_destroy(void *handle)
{
	testdev_free(handle);
}

static int testdev_make(const char *name, struct vusd_device *out)
{
	struct testdev *td;
	int rc;

	rc = testdev_create(name, &td);
	if (rc < 0)
		return rc;
	out->dev = testdev_dev(td);
	out->handle = td;
	out->destroy = testdev_destroy;
	return 0;
}

static const struct vusd_device_type device_types[] = {
	{ "testdev", "edu-like test device 1234:7e57 (samples/testdev/testdev.h)", testdev_make },
};
#define NR_DEVICE_TYPES (sizeof(device_types) / sizeof(device_types[0]))

static const struct vusd_device_type *device_type_find(const char *name)
{
	size_t i;

	for (i = 0; i < NR_DEVICE_TYPES; i++)
		if (strcmp(device_types[i].name, name) == 0)
			return &device_types[i];
	return NULL;
}

static void device_types_print(FILE *f)
{
	size_t i;

	for (i = 0; i < NR_DEVICE_TYPES; i++)
		fprintf(f, "  %-10s %s\n", device_types[i].name, device_types[i].summary);
}

/* ---- command line --------------------------------------------------- */

struct vusd_opts {
	const char *device;
	const char *socket_path;
	int fd;                         /* -1 unless --fd */
	enum vus_dma_layout layout;
	enum vus_log_level level;
};

struct name_value {
	const char *name;
	int value;
};

static const struct name_value layouts[] = {
	{ "auto", VUS_DMA_LAYOUT_AUTO },
	{ "spec", VUS_DMA_LAYOUT_SPEC },
	{ "qemu", VUS_DMA_LAYOUT_QEMU },
	{ NULL, 0 },
};

static const struct name_value levels[] = {
	{ "err", VUS_LOG_ERR },
	{ "warn", VUS_LOG_WARN },
	{ "info", VUS_LOG_INFO },
	{ "debug", VUS_LOG_DEBUG },
	{ "trace", VUS_LOG_TRACE },
	{ NULL, 0 },
};

static int lookup(const struct name_value *t, const char *name, int *out)
{
	for (; t->name; t++) {
		if (strcmp(t->name, name) == 0) {
			*out = t->value;
			return 0;
		}
	}
	return -EINVAL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vusd --device TYPE (--socket-path PATH | --fd N) [options]\n"
		"Serve one emulated PCI device over vfio-user (QEMU vfio-user-pci is the client).\n"
		"\n"
		"  -d, --device TYPE       device to serve (see below)\n"
		"  -s, --socket-path PATH  create a listening AF_UNIX socket at PATH (mode 0600);\n"
		"                          it is removed again when vusd exits\n"
		"  -f, --fd N              serve the inherited listening socket N instead\n"
		"      --dma-layout L      server->client DMA_READ/WRITE layout: auto (default;\n"
		"                          QEMU's layout when the client looks like QEMU), spec, qemu\n"
		"  -l, --log-level L       err, warn, info (default), debug, trace\n"
		"  -t, --trace             same as --log-level trace: one line per message\n"
		"  -h, --help              this text\n"
		"  -V, --version           print the version\n"
		"\n"
		"Device types:\n");
	device_types_print(f);
	fprintf(f,
		"\n"
		"Exit status: %d stopped by SIGTERM/SIGINT, %d the listening socket failed while\n"
		"serving, %d bad command line, %d device, socket or event loop setup failed.\n",
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

/* Returns -1 to continue, else the exit code. */
static int parse_args(int argc, char **argv, struct vusd_opts *o)
{
	enum { OPT_DMA_LAYOUT = 256 };
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "socket-path", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "dma-layout", required_argument, NULL, OPT_DMA_LAYOUT },
		{ "log-level", required_argument, NULL, 'l' },
		{ "trace", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, v;

	while ((c = getopt_long(argc, argv, "d:s:f:l:thV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->device = optarg;
			break;
		case 's':
			o->socket_path = optarg;
			break;
		case 'f':
			if (parse_fd(optarg, &o->fd) < 0) {
				fprintf(stderr, "vusd: --fd: '%s' is not a file descriptor number\n",
					optarg);
				return VUSD_EXIT_USAGE;
			}
			break;
		case OPT_DMA_LAYOUT:
			if (lookup(layouts, optarg, &v) < 0) {
				fprintf(stderr, "vusd: --dma-layout: unknown layout '%s' "
					"(auto, spec, qemu)\n", optarg);
				return VUSD_EXIT_USAGE;
			}
			o->layout = v;
			break;
		case 'l':
			if (lookup(levels, optarg, &v) < 0) {
				fprintf(stderr, "vusd: --log-level: unknown level '%s' "
					"(err, warn, info, debug, trace)\n", optarg);
				return VUSD_EXIT_USAGE;
			}
			o->level = v;
			break;
		case 't':
			o->level = VUS_LOG_TRACE;
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
	if (!o->device) {
		fprintf(stderr, "vusd: --device is required; known types:\n");
		device_types_print(stderr);
		return VUSD_EXIT_USAGE;
	}
	if (!device_type_find(o->device)) {
		fprintf(stderr, "vusd: unknown device type '%s'; known types:\n", o->device);
		device_types_print(stderr);
		return VUSD_EXIT_USAGE;
	}
	if (!o->socket_path == (o->fd < 0)) {
		fprintf(stderr, "vusd: give exactly one of --socket-path and --fd\n");
		return VUSD_EXIT_USAGE;
	}
	return -1;
}

/* ---- event loop ----------------------------------------------------- */

struct vusd {
	struct event_base *base;
	struct vus_dev *dev;
	int exit_code;
};

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct vusd *d = arg;
	int rc;

	rc = vus_dev_process(d->dev);
	if (rc < 0) {
		fprintf(stderr, "vusd: serving failed: %s\n", strerror(-rc));
		d->exit_code = VUSD_EXIT_RUNTIME;
		event_base_loopbreak(d->base);
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct vusd *d = arg;

	fprintf(stderr, "vusd: %s, shutting down\n", strsignal((int)sig));
	event_base_loopbreak(d->base);
}

static int serve(struct vusd *d)
{
	static const int signals[] = { SIGTERM, SIGINT };
	struct event *ev_sig[2] = { NULL, NULL };
	struct event *ev_io = NULL;
	size_t i;
	int rc = VUSD_EXIT_SETUP;

	d->base = event_base_new();
	if (!d->base) {
		fprintf(stderr, "vusd: cannot create the libevent event base\n");
		return VUSD_EXIT_SETUP;
	}
	ev_io = event_new(d->base, vus_dev_poll_fd(d->dev), EV_READ | EV_PERSIST, on_readable, d);
	if (!ev_io || event_add(ev_io, NULL) < 0) {
		fprintf(stderr, "vusd: cannot watch the device's poll fd\n");
		goto out;
	}
	for (i = 0; i < 2; i++) {
		ev_sig[i] = evsignal_new(d->base, signals[i], on_signal, d);
		if (!ev_sig[i] || event_add(ev_sig[i], NULL) < 0) {
			fprintf(stderr, "vusd: cannot handle signal %s\n", strsignal(signals[i]));
			goto out;
		}
	}
	d->exit_code = VUSD_EXIT_OK;
	if (event_base_dispatch(d->base) < 0) {
		fprintf(stderr, "vusd: event loop failed\n");
		d->exit_code = VUSD_EXIT_RUNTIME;
	}
	rc = d->exit_code;
out:
	for (i = 0; i < 2; i++)
		if (ev_sig[i])
			event_free(ev_sig[i]);
	if (ev_io)
		event_free(ev_io);
	event_base_free(d->base);
	return rc;
}

int main(int argc, char **argv)
{
	struct vusd_opts o = {
		.fd = -1, .layout = VUS_DMA_LAYOUT_AUTO, .level = VUS_LOG_INFO,
	};
	struct vusd_device vd = { 0 };
	struct vusd d = { 0 };
	int rc;

	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;

	/* A client vanishing mid-send must end that client, not vusd. */
	signal(SIGPIPE, SIG_IGN);

	rc = device_type_find(o.device)->create(o.device, &vd);
	if (rc < 0) {
		fprintf(stderr, "vusd: cannot create device '%s': %s\n", o.device, strerror(-rc));
		return VUSD_EXIT_SETUP;
	}
	d.dev = vd.dev;
	vus_dev_set_log_level(d.dev, o.level);
	rc = vus_dev_set_dma_layout(d.dev, o.layout);
	if (rc < 0) {
		fprintf(stderr, "vusd: cannot set the DMA layout: %s\n", strerror(-rc));
		rc = VUSD_EXIT_SETUP;
		goto out;
	}
	if (o.socket_path) {
		rc = vus_dev_listen(d.dev, o.socket_path);
		if (rc < 0)
			fprintf(stderr, "vusd: cannot listen on %s: %s\n", o.socket_path,
				strerror(-rc));
	} else {
		rc = vus_dev_listen_fd(d.dev, o.fd);
		if (rc < 0)
			fprintf(stderr, "vusd: --fd %d is not a usable listening socket: %s\n",
				o.fd, strerror(-rc));
	}
	if (rc < 0) {
		rc = VUSD_EXIT_SETUP;
		goto out;
	}
	if (o.level >= VUS_LOG_INFO) {
		if (o.socket_path)
			fprintf(stderr, "vusd: serving %s on %s\n", o.device, o.socket_path);
		else
			fprintf(stderr, "vusd: serving %s on fd %d\n", o.device, o.fd);
	}
	rc = serve(&d);
out:
	vd.destroy(vd.handle);
	return rc;
}
