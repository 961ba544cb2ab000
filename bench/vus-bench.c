/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-bench: what vus costs on top of the socket it runs over.
 *
 * Every figure is paired with a baseline measured in the same run: a raw
 * AF_UNIX ping-pong between two threads moving exactly the bytes of the
 * vfio-user exchange (e.g. a 4-byte REGION_READ is a 32-byte request and
 * a 36-byte reply). The ratio is what matters; absolute times depend on
 * the machine and are never asserted.
 *
 * Both threads share one CPU by default (--cpus=same), like a VMM vCPU
 * thread and a device thread on a busy host, and which keeps the numbers
 * stable; --cpus=split puts them on two CPUs. Rounds are interleaved: each
 * runs the raw floor and then the same operation through every server
 * (the library's own loop, an application's poll() loop, vusd), and a
 * ratio is taken within its round; each figure is the median of several
 * rounds after a warm-up round.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vus/client.h>
#include <vus/device.h>

#include "testdev.h"

#ifndef VUS_VERSION
#error "VUS_VERSION must come from the build (bench/CMakeLists.txt)"
#endif

#define HDR 16u
#define ACCESS_HDR (HDR + 16u) /* header + struct vus_region_access */
#define MAX_ROUNDS 9

struct bench_opts {
	unsigned long iters;  /* small-op iterations per round */
	unsigned rounds;
	bool split;
	int cpu_client, cpu_server;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "vus-bench: %s: %s\n", what, strerror(err));
	exit(1);
}

static void pin_self(int cpu)
{
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc)
		die("pinning a thread", rc);
}

/* The first (and, for split, second) CPU this process may run on: CPU 0
 * unless a cpuset says otherwise. */
static void pick_cpus(struct bench_opts *o)
{
	cpu_set_t set;
	int cpu, found = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		die("sched_getaffinity", errno);
	o->cpu_client = o->cpu_server = -1;
	for (cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (found++ == 0)
			o->cpu_client = cpu;
		else
			o->cpu_server = cpu;
	}
	if (!o->split || o->cpu_server < 0) {
		if (o->split)
			fprintf(stderr, "vus-bench: only one CPU available, using --cpus=same\n");
		o->split = false;
		o->cpu_server = o->cpu_client;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- raw ping-pong -------------------------------------------------- */

static void write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("raw write", n < 0 ? errno : EPIPE);
		p += n;
		len -= (size_t)n;
	}
}

/* false on EOF before the first byte */
static bool read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && got == 0)
			return false;
		if (n <= 0)
			die("raw read", n < 0 ? errno : ECONNRESET);
		got += (size_t)n;
	}
	return true;
}

struct raw_peer {
	int fd;
	int cpu;
	size_t req, rep;
	char *buf;
};

static void *raw_echo(void *arg)
{
	struct raw_peer *p = arg;

	pin_self(p->cpu);
	while (read_full(p->fd, p->buf, p->req))
		write_full(p->fd, p->buf, p->rep);
	return NULL;
}

/* A raw echo peer on its own thread, for rounds interleaved with vus's. */
struct raw_pair {
	struct raw_peer peer;
	pthread_t th;
	int fd;
	char *buf;
};

/*
 * The send buffer libvus asks for on its sockets (lib/transport/
 * transport.h vus_conn_grow_sndbuf: a whole largest message, 1 MiB of data
 * plus headroom; the kernel clamps it to net.core.wmem_max). The floor
 * gets the same, so it moves the same bytes through the same sockets.
 */
#define FLOOR_SNDBUF ((1 << 20) + (64 << 10) + 16)

static void raw_open(const struct bench_opts *o, struct raw_pair *p, size_t req, size_t rep)
{
	size_t big = req > rep ? req : rep;
	int sv[2], rc, sndbuf = FLOOR_SNDBUF;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair", errno);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	p->peer = (struct raw_peer){ .fd = sv[1], .cpu = o->cpu_server, .req = req, .rep = rep };
	p->fd = sv[0];
	p->buf = calloc(1, big);
	p->peer.buf = calloc(1, big);
	if (!p->buf || !p->peer.buf)
		die("allocating buffers", ENOMEM);
	rc = pthread_create(&p->th, NULL, raw_echo, &p->peer);
	if (rc)
		die("pthread_create", rc);
}

/* Microseconds per round trip of req bytes out, rep bytes back. */
static double raw_round(struct raw_pair *p, unsigned long iters)
{
	double t0 = now_us();
	unsigned long i;

	for (i = 0; i < iters; i++) {
		write_full(p->fd, p->buf, p->peer.req);
		read_full(p->fd, p->buf, p->peer.rep);
	}
	return (now_us() - t0) / (double)iters;
}

static void raw_close(struct raw_pair *p)
{
	close(p->fd);
	pthread_join(p->th, NULL);
	close(p->peer.fd);
	free(p->buf);
	free(p->peer.buf);
}

/* ---- testdev served on a thread, or by vusd -------------------------- */

enum server_kind {
	SRV_RUN,  /* vus_dev_run(): the library's own loop */
	SRV_POLL, /* an application's poll() loop calling vus_dev_process() */
	SRV_VUSD, /* vusd --device testdev, a process of its own */
	SRV_VUSD256, /* vusd --config: that testdev and 255 idle devices beside */
	SRV_VUSD_PROC, /* vusd --device testdev,isolation=process: its own child */
	SRV_VUSD_NOSEC, /* vusd --no-seccomp --device testdev */
	SRV_KINDS
};

#define SCALE_DEVICES 256

struct served {
	enum server_kind kind;
	struct testdev *td;
	struct vus_client *c;
	pthread_t th;
	int cpu;
	int quit;
	pid_t vusd;
	char dir[64], path[96], conf[96];
	double started_us;
};

/* The application-owned loop of device.h: poll the poll fd (with the
 * application's own fds, here none) and call vus_dev_process(). */
static int own_poll_loop(struct served *s)
{
	struct vus_dev *dev = testdev_dev(s->td);
	struct pollfd p = { .fd = vus_dev_poll_fd(dev), .events = POLLIN };
	int rc = 0;

	while (!__atomic_load_n(&s->quit, __ATOMIC_ACQUIRE)) {
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		rc = vus_dev_process(dev);
		if (rc < 0)
			break;
	}
	return rc;
}

static void *serve_thread(void *arg)
{
	struct served *s = arg;
	int rc;

	pin_self(s->cpu);
	if (s->kind == SRV_POLL)
		rc = own_poll_loop(s);
	else
		rc = vus_dev_run(testdev_dev(s->td));
	if (rc < 0)
		fprintf(stderr, "vus-bench: serving: %s\n", strerror(-rc));
	return NULL;
}

/* vusd beside this program (the build's bin/), or none. */
static bool find_vusd(char *out, size_t len)
{
	char self[PATH_MAX - 8]; /* room for "/vusd" in out */
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return false;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = 0;
	snprintf(out, len, "%s/vusd", self);
	return access(out, X_OK) == 0;
}

/* The scale set-up: the measured testdev (socket "s") and 255
 * idle devices, testdev and gpio alternating, from one config file. */
static void vusd_dir_remove(struct served *s)
{
	if (s->conf[0])
		unlink(s->conf);
	rmdir(s->dir);
}

static bool scale_config(struct served *s)
{
	char dir[sizeof(s->dir)];
	FILE *f;
	int i;

	/* Through a copy: GCC cannot tell s->dir from s->conf (-Wrestrict). */
	memcpy(dir, s->dir, sizeof(dir));
	snprintf(s->conf, sizeof(s->conf), "%s/vusd.json", dir);
	f = fopen(s->conf, "w");
	if (!f)
		return false;
	fprintf(f, "{ \"log_level\": \"warn\", \"devices\": [\n"
		"  { \"name\": \"busy\", \"type\": \"testdev\", \"socket\": \"%s\" }",
		s->path);
	for (i = 1; i < SCALE_DEVICES; i++)
		fprintf(f, ",\n  { \"name\": \"idle%d\", \"type\": \"%s\", "
			"\"socket\": \"%s/i%d\" }", i, i % 2 ? "gpio" : "testdev", s->dir, i);
	fprintf(f, "\n] }\n");
	return fclose(f) == 0;
}

static bool vusd_start(const struct bench_opts *o, struct served *s, const char *vusd)
{
	char dir[sizeof(s->dir)] = "/tmp/vus-bench.XXXXXX";
	struct stat st;
	int i, rc;

	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	/* Through a copy: GCC cannot tell s->dir from s->path (-Wrestrict). */
	memcpy(s->dir, dir, sizeof(dir));
	snprintf(s->path, sizeof(s->path), "%s/s", dir);
	if (s->kind == SRV_VUSD256 && !scale_config(s))
		return false;
	s->started_us = now_us();
	s->vusd = fork();
	if (s->vusd < 0)
		die("fork", errno);
	if (s->vusd == 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(o->cpu_server, &set);
		sched_setaffinity(0, sizeof(set), &set);
		if (s->kind == SRV_VUSD256)
			execl(vusd, "vusd", "--config", s->conf, (char *)NULL);
		else if (s->kind == SRV_VUSD_PROC)
			execl(vusd, "vusd", "--device", "testdev,isolation=process",
			      "--socket-path", s->path, "--log-level", "warn", (char *)NULL);
		else if (s->kind == SRV_VUSD_NOSEC)
			execl(vusd, "vusd", "--no-seccomp", "--device", "testdev", "--socket-path",
			      s->path, "--log-level", "warn", (char *)NULL);
		else
			execl(vusd, "vusd", "--device", "testdev", "--socket-path", s->path,
			      "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && stat(s->path, &st) < 0; i++)
		usleep(10000);
	rc = vus_client_connect(s->path, NULL, &s->c);
	if (rc < 0) {
		fprintf(stderr, "vus-bench: vusd did not serve %s: %s\n", s->path, strerror(-rc));
		kill(s->vusd, SIGTERM);
		waitpid(s->vusd, NULL, 0);
		vusd_dir_remove(s);
		return false;
	}
	return true;
}

/* The number after key in /proc/PID/status (VmRSS: in KiB); -1 if none. */
static long proc_status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	return v;
}

static long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -1;
	/* after ") ": state is field 3; utime and stime are 14 and 15 */
	ok = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
	return ok == 2 ? (long)(ut + st) : -1;
}

/* The scale figures of the 256-device vusd: how long until every socket
 * is there (from the start of vusd), its idle CPU over 1 s, its RSS. */
static void scale_report(struct served *s)
{
	char path[128];
	struct stat st;
	double t0 = s->started_us;
	long c0, c1;
	int i;

	for (i = 1; i < SCALE_DEVICES; i++) {
		snprintf(path, sizeof(path), "%s/i%d", s->dir, i);
		while (stat(path, &st) < 0 && now_us() - t0 < 30e6)
			usleep(1000);
	}
	printf("vusd with %d devices: all sockets ready %.0f ms after start; ", SCALE_DEVICES,
	       (now_us() - t0) / 1e3);
	c0 = proc_cpu_ticks(s->vusd);
	sleep(1);
	c1 = proc_cpu_ticks(s->vusd);
	printf("idle CPU %ld ticks in 1 s (of %ld); RSS %ld KiB\n", c1 - c0, sysconf(_SC_CLK_TCK),
	       proc_status_kib(s->vusd, "VmRSS:"));
}

static void served_start(const struct bench_opts *o, struct served *s, enum server_kind kind)
{
	int sv[2], rc;

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->cpu = o->cpu_server;
	rc = testdev_create("bench", &s->td);
	if (rc < 0)
		die("testdev_create", -rc);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair", errno);
	rc = vus_dev_attach_fd(testdev_dev(s->td), sv[1]);
	if (rc < 0)
		die("vus_dev_attach_fd", -rc);
	rc = pthread_create(&s->th, NULL, serve_thread, s);
	if (rc)
		die("pthread_create", rc);
	rc = vus_client_connect_fd(sv[0], NULL, &s->c);
	if (rc < 0)
		die("vus_client_connect_fd", -rc);
}

static void served_stop(struct served *s)
{
	vus_client_close(s->c);
	if (s->kind >= SRV_VUSD) {
		kill(s->vusd, SIGTERM);
		waitpid(s->vusd, NULL, 0);
		vusd_dir_remove(s);
		return;
	}
	__atomic_store_n(&s->quit, 1, __ATOMIC_RELEASE);
	vus_dev_stop(testdev_dev(s->td)); /* wakes the poll fd too */
	pthread_join(s->th, NULL);
	testdev_free(s->td);
}

enum op {
	OP_READ4,
	OP_WRITE4,
	OP_POSTED4,
	OP_WRITE_BIG,
	OP_READ_BIG,
};

static void check(int rc, const char *what)
{
	if (rc < 0)
		die(what, -rc);
}

/* One round of iters operations; returns microseconds per operation. */
static double lib_round(struct served *s, enum op op, size_t size, void *big,
			unsigned long iters)
{
	uint32_t v = 0x5a5a0000u, got;
	unsigned long i;
	double t0 = now_us();

	for (i = 0; i < iters; i++) {
		switch (op) {
		case OP_READ4:
			check(vus_client_region_read(s->c, 0, TESTDEV_REG_SCRATCH, &got, 4),
			      "REGION_READ");
			break;
		case OP_WRITE4:
			v++;
			check(vus_client_region_write(s->c, 0, TESTDEV_REG_SCRATCH, &v, 4),
			      "REGION_WRITE");
			break;
		case OP_POSTED4:
			v++;
			check(vus_client_region_write_posted(s->c, 0, TESTDEV_REG_SCRATCH, &v, 4),
			      "posted REGION_WRITE");
			break;
		case OP_WRITE_BIG:
			check(vus_client_region_write(s->c, 1, 0, big, size), "REGION_WRITE BAR1");
			break;
		case OP_READ_BIG:
			check(vus_client_region_read(s->c, 1, 0, big, size), "REGION_READ BAR1");
			break;
		}
	}
	/* Posted writes are done once a later read is answered (the server
	 * works in order, spec "Command Concurrency"); that read also proves
	 * they all landed. */
	if (op == OP_POSTED4 || op == OP_WRITE4) {
		check(vus_client_region_read(s->c, 0, TESTDEV_REG_SCRATCH, &got, 4), "REGION_READ");
		if (got != v) {
			fprintf(stderr, "vus-bench: SCRATCH reads %#x after writing %#x\n", got, v);
			exit(1);
		}
	}
	return (now_us() - t0) / (double)iters;
}

/*
 * Interleaved: each round runs the raw floor, then every server, back to
 * back, and each ratio is taken within its round; the row shows the
 * median ratio (and the median times). A loaded machine shifts whole
 * rounds, which the per-round ratio cancels.
 */
static void interleaved(const struct bench_opts *o, struct served *s, unsigned nsrv,
			enum op op, size_t size, void *big, unsigned long iters,
			size_t req, size_t rep, double *us, double *raw, double *ratio)
{
	double t[SRV_KINDS + 1][MAX_ROUNDS], q[SRV_KINDS][MAX_ROUNDS];
	struct raw_pair p;
	unsigned r, k;

	raw_open(o, &p, req, rep);
	raw_round(&p, iters); /* warm-up */
	for (k = 0; k < nsrv; k++)
		lib_round(&s[k], op, size, big, iters);
	for (r = 0; r < o->rounds; r++) {
		t[SRV_KINDS][r] = raw_round(&p, iters);
		for (k = 0; k < nsrv; k++) {
			t[k][r] = lib_round(&s[k], op, size, big, iters);
			q[k][r] = t[k][r] / t[SRV_KINDS][r];
		}
	}
	raw_close(&p);
	*raw = median(t[SRV_KINDS], o->rounds);
	for (k = 0; k < nsrv; k++) {
		us[k] = median(t[k], o->rounds);
		ratio[k] = median(q[k], o->rounds);
	}
}

/* BAR1 must hold what was written: a wrong answer would make speed moot. */
static void check_bar1(struct served *s, uint8_t *big, size_t size)
{
	uint8_t *back = malloc(size);
	size_t i;

	if (!back)
		die("allocating buffers", ENOMEM);
	for (i = 0; i < size; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	check(vus_client_region_write(s->c, 1, 0, big, size), "REGION_WRITE BAR1");
	check(vus_client_region_read(s->c, 1, 0, back, size), "REGION_READ BAR1");
	if (memcmp(big, back, size)) {
		fprintf(stderr, "vus-bench: BAR1 read back differs from what was written\n");
		exit(1);
	}
	free(back);
}

/* ---- main ----------------------------------------------------------- */

static void row(const char *name, unsigned long iters, double us, double floor_us, double ratio)
{
	printf("%-46s %8lu %10.2f %12.2f %7.2fx\n", name, iters, us, floor_us, ratio);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vus-bench [--iters N] [--quick] [--cpus=same|split]\n"
		"Measure vus against a raw AF_UNIX ping-pong of the same bytes.\n"
		"  --iters N         small operations per round (default 20000; large\n"
		"                    transfers use N/20 for 64 KiB and N/200 for 1 MiB)\n"
		"  --quick           few iterations and 3 rounds (a smoke run)\n"
		"  --cpus=same|split both threads on one CPU (default) or on two\n"
		"  -h, --help        this text\n");
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "iters", required_argument, NULL, 'i' },
		{ "quick", no_argument, NULL, 'q' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			errno = 0;
			o->iters = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || o->iters == 0 || o->iters > 100000000) {
				fprintf(stderr, "vus-bench: --iters: '%s' is not a count "
					"between 1 and 100000000\n", optarg);
				return 2;
			}
			break;
		case 'q':
			o->iters = 400;
			o->rounds = 3;
			break;
		case 'c':
			if (strcmp(optarg, "same") == 0) {
				o->split = false;
			} else if (strcmp(optarg, "split") == 0) {
				o->split = true;
			} else {
				fprintf(stderr, "vus-bench: --cpus: '%s' is not same or split\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vus-bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return -1;
}

static unsigned long scaled(unsigned long iters, unsigned long div)
{
	return iters / div > 3 ? iters / div : 3;
}

static const char *const kind_name[] = {
	[SRV_RUN] = "library loop",
	[SRV_POLL] = "app poll loop",
	[SRV_VUSD] = "vusd",
	[SRV_VUSD256] = "vusd, 255 idle beside",
	[SRV_VUSD_PROC] = "vusd, process-isolated",
	[SRV_VUSD_NOSEC] = "vusd --no-seccomp",
};

int main(int argc, char **argv)
{
	static const size_t big_sizes[] = { 64u << 10, 1u << 20 };
	static const unsigned long big_div[] = { 20, 200 };
	static const struct { enum op op; const char *name; } small[] = {
		{ OP_READ4, "REGION_READ 4 B" },
		{ OP_WRITE4, "REGION_WRITE 4 B" },
		{ OP_POSTED4, "posted REGION_WRITE 4 B" },
	};
	struct bench_opts o = { .iters = 20000, .rounds = 5 };
	struct served s[SRV_KINDS];
	char vusd[PATH_MAX];
	double us[SRV_KINDS], ratio[SRV_KINDS], raw;
	unsigned long n;
	unsigned nsrv = 2, k;
	uint8_t *big;
	char name[80];
	size_t i, j, size;
	int rc;

	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	pick_cpus(&o);
	pin_self(o.cpu_client);
	big = calloc(1, 1u << 20);
	if (!big)
		die("allocating buffers", ENOMEM);

	printf("vus-bench %s: client on CPU %d, server on CPU %d (--cpus=%s); "
	       "median of %u rounds after a warm-up\n",
	       VUS_VERSION, o.cpu_client, o.cpu_server, o.split ? "split" : "same", o.rounds);

	served_start(&o, &s[SRV_RUN], SRV_RUN);
	served_start(&o, &s[SRV_POLL], SRV_POLL);
	if (find_vusd(vusd, sizeof(vusd))) {
		memset(&s[SRV_VUSD], 0, (SRV_KINDS - SRV_VUSD) * sizeof(s[0]));
		/* In order; the first that does not start ends the list. */
		for (k = SRV_VUSD; k < SRV_KINDS; k++) {
			s[k].kind = (enum server_kind)k;
			if (!vusd_start(&o, &s[k], vusd))
				break;
			nsrv = k + 1;
			if (k == SRV_VUSD256)
				scale_report(&s[SRV_VUSD256]);
		}
	} else {
		printf("(no vusd beside vus-bench: its rows are left out)\n");
	}
	printf("%-46s %8s %10s %12s %8s\n", "operation", "iters", "us/op", "raw us/op", "ratio");

	/* (a) the floor: a 4-byte REGION_READ's bytes, 32 out and 36 back */
	for (j = 0; j < sizeof(small) / sizeof(small[0]); j++) {
		interleaved(&o, s, nsrv, small[j].op, 4, big, o.iters, ACCESS_HDR,
			    ACCESS_HDR + 4, us, &raw, ratio);
		row("raw ping-pong 32/36 B (floor)", o.iters, raw, raw, 1.0);
		for (k = 0; k < nsrv; k++) {
			snprintf(name, sizeof(name), "%s, %s", small[j].name, kind_name[k]);
			row(name, o.iters, us[k], raw, ratio[k]);
		}
	}

	/* (e) bulk transfers against a raw ping-pong of the same sizes */
	for (i = 0; i < sizeof(big_sizes) / sizeof(big_sizes[0]); i++) {
		size = big_sizes[i];
		n = scaled(o.iters, big_div[i]);
		for (k = 0; k < nsrv; k++)
			check_bar1(&s[k], big, size);

		interleaved(&o, s, nsrv, OP_WRITE_BIG, size, big, n, ACCESS_HDR + size,
			    ACCESS_HDR, us, &raw, ratio);
		snprintf(name, sizeof(name), "raw ping-pong %zu KiB/32 B", size >> 10);
		row(name, n, raw, raw, 1.0);
		for (k = 0; k < nsrv; k++) {
			snprintf(name, sizeof(name), "REGION_WRITE %zu KiB, %s", size >> 10,
				 kind_name[k]);
			row(name, n, us[k], raw, ratio[k]);
		}
		interleaved(&o, s, nsrv, OP_READ_BIG, size, big, n, ACCESS_HDR,
			    ACCESS_HDR + size, us, &raw, ratio);
		snprintf(name, sizeof(name), "raw ping-pong 32 B/%zu KiB", size >> 10);
		row(name, n, raw, raw, 1.0);
		for (k = 0; k < nsrv; k++) {
			snprintf(name, sizeof(name), "REGION_READ %zu KiB, %s", size >> 10,
				 kind_name[k]);
			row(name, n, us[k], raw, ratio[k]);
		}
	}
	for (k = 0; k < nsrv; k++)
		served_stop(&s[k]);
	free(big);
	printf("ratio = median over rounds of us/op divided by the raw ping-pong of the same\n"
	       "bytes in the same round (posted writes: of the 32/36 B floor; below 1 = more\n"
	       "requests per second than the floor's round trips); us/op are medians too\n");
	return 0;
}
