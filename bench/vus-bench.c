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
 * ratio is taken within its round; each figure is the median of the
 * per-round ratios of --rounds rounds after a warm-up round.
 *
 * Two floors: two threads of this process (the library's loop and the
 * poll loop are threads too), and, when vusd rows are measured, two
 * processes (the echo peer forked): vusd is another process, so each of
 * its round trips also switches address spaces, which the thread floor
 * does not. vusd rows show both ratios.
 *
 * Besides wall time, each round takes the CPU time both ends used (this
 * process's, plus the server process's from /proc/PID/task/TID/schedstat,
 * its children's included): on a machine that other work loads, the
 * CPU-time ratio moves far less than the wall-time one, since time spent
 * running other programs is not counted.
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
#include <dirent.h>
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
#define MAX_ROUNDS 101

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

/* CPU time of this process (every thread), nanoseconds. */
static double self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * CPU time of process pid, its threads and (depth levels down) its
 * children's, in nanoseconds: the first field of each task's schedstat.
 * 0 when /proc does not say (the ratio is then left out).
 */
static double proc_cpu_ns(pid_t pid, int depth)
{
	char path[96], line[4096];
	struct dirent *e;
	double sum = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		unsigned long long ns;
		FILE *f;
		char *p, *end;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/schedstat", (int)pid, e->d_name);
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%llu", &ns) == 1)
				sum += (double)ns;
			fclose(f);
		}
		if (depth <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/children", (int)pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(line, sizeof(line), f)) {
			for (p = line;; p = end) {
				long child = strtol(p, &end, 10);

				if (end == p)
					break;
				sum += proc_cpu_ns((pid_t)child, depth - 1);
			}
		}
		fclose(f);
	}
	closedir(dir);
	return sum;
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

/* A raw echo peer on its own thread, or in a forked process (pid > 0),
 * for rounds interleaved with vus's. */
struct raw_pair {
	struct raw_peer peer;
	pthread_t th;
	pid_t pid;
	int fd;
	char *buf;
};

/* The forked echo peer: only async-signal-safe calls after fork(). */
static void raw_echo_child(struct raw_peer *p)
{
	cpu_set_t set;
	size_t got;
	ssize_t n;

	/* Only its own socket: a copy of another (the thread floor's, a
	 * client's) would keep that peer from ever seeing EOF. */
	if (p->fd > 3)
		close_range(3, (unsigned)p->fd - 1, 0);
	close_range((unsigned)p->fd + 1, ~0u, 0);
	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	for (;;) {
		for (got = 0; got < p->req; got += (size_t)n) {
			n = read(p->fd, p->buf + got, p->req - got);
			if (n < 0 && errno == EINTR)
				n = 0;
			else if (n <= 0)
				_exit(0);
		}
		for (got = 0; got < p->rep; got += (size_t)n) {
			n = write(p->fd, p->buf + got, p->rep - got);
			if (n < 0 && errno == EINTR)
				n = 0;
			else if (n <= 0)
				_exit(1);
		}
	}
}

/*
 * The send buffer libvus asks for on its sockets (lib/transport/
 * transport.h vus_conn_grow_sndbuf: a whole largest message, 1 MiB of data
 * plus headroom; the kernel clamps it to net.core.wmem_max). The floor
 * gets the same, so it moves the same bytes through the same sockets.
 */
#define FLOOR_SNDBUF ((1 << 20) + (64 << 10) + 16)

static void raw_open(const struct bench_opts *o, struct raw_pair *p, size_t req, size_t rep,
		     bool process)
{
	size_t big = req > rep ? req : rep;
	int sv[2], rc, sndbuf = FLOOR_SNDBUF;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair", errno);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	p->peer = (struct raw_peer){ .fd = sv[1], .cpu = o->cpu_server, .req = req, .rep = rep };
	p->fd = sv[0];
	p->pid = 0;
	p->buf = calloc(1, big);
	p->peer.buf = calloc(1, big);
	if (!p->buf || !p->peer.buf)
		die("allocating buffers", ENOMEM);
	if (process) {
		fflush(stdout);
		p->pid = fork();
		if (p->pid < 0)
			die("fork", errno);
		if (p->pid == 0) {
			close(sv[0]);
			raw_echo_child(&p->peer);
		}
		close(sv[1]);
		p->peer.fd = -1;
		return;
	}
	rc = pthread_create(&p->th, NULL, raw_echo, &p->peer);
	if (rc)
		die("pthread_create", rc);
}

/* What one round measured: wall time and CPU time (both ends) per op. */
struct sample {
	double us;
	double cpu_us; /* 0: not known */
};

/* Measure around a round: the other process's CPU (other > 0) is read
 * outside this process's CPU and wall interval, so reading /proc is not
 * counted. */
struct span {
	pid_t other;
	double other0, self0, t0;
};

static void span_start(struct span *sp, pid_t other)
{
	sp->other = other;
	sp->other0 = other > 0 ? proc_cpu_ns(other, 2) : 0;
	sp->self0 = self_cpu_ns();
	sp->t0 = now_us();
}

static struct sample span_end(const struct span *sp, unsigned long iters)
{
	double t1 = now_us(), self1 = self_cpu_ns();
	double other1 = sp->other > 0 ? proc_cpu_ns(sp->other, 2) : 0;
	struct sample x = { .us = (t1 - sp->t0) / (double)iters };

	if (sp->other <= 0 || (sp->other0 > 0 && other1 > 0))
		x.cpu_us = (self1 - sp->self0 + other1 - sp->other0) / 1e3 / (double)iters;
	return x;
}

/* One round of req bytes out, rep bytes back, iters times. */
static struct sample raw_round(struct raw_pair *p, unsigned long iters)
{
	struct span sp;
	unsigned long i;

	span_start(&sp, p->pid);
	for (i = 0; i < iters; i++) {
		write_full(p->fd, p->buf, p->peer.req);
		read_full(p->fd, p->buf, p->peer.rep);
	}
	return span_end(&sp, iters);
}

static void raw_close(struct raw_pair *p)
{
	close(p->fd);
	if (p->pid > 0) {
		waitpid(p->pid, NULL, 0);
	} else {
		pthread_join(p->th, NULL);
		close(p->peer.fd);
	}
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

/* One round of iters operations: time per operation. */
static struct sample lib_round(struct served *s, enum op op, size_t size, void *big,
			       unsigned long iters)
{
	uint32_t v = 0x5a5a0000u, got;
	unsigned long i;
	struct sample x;
	struct span sp;

	span_start(&sp, s->kind >= SRV_VUSD ? s->vusd : 0);

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
	x = span_end(&sp, iters);
	return x;
}

/* The medians of a row: times, and ratios to the floors (0: none). */
struct row_fig {
	double us, ratio, cpu_ratio;     /* against the thread floor */
	double pratio, pcpu_ratio;       /* against the process floor */
};

static double median_or_0(double *v, unsigned n)
{
	unsigned i, k = 0;

	for (i = 0; i < n; i++)
		if (v[i] > 0)
			v[k++] = v[i];
	return k ? median(v, k) : 0;
}

/* Ratio of x to floor f, 0 when either is unknown. */
static double rat(double x, double f)
{
	return x > 0 && f > 0 ? x / f : 0;
}

/*
 * Interleaved: each round runs the raw floors, then every server, back to
 * back, and each ratio is taken within its round; a row shows the median
 * of its per-round ratios (and the median times). A loaded machine shifts
 * whole rounds, which the per-round ratio cancels. The process floor runs
 * only when vusd rows are measured (nsrv > SRV_VUSD). With two operations
 * (nops 2: the 4-byte read and write) both run in every round against the
 * same floors, so their ratios compare with each other: apart, each had
 * floors of its own, which differ by a few percent between blocks of
 * rounds (docs/performance.md "Reads against writes").
 */
static void interleaved(const struct bench_opts *o, struct served *s, unsigned nsrv,
			const enum op *ops, unsigned nops, size_t size, void *big,
			unsigned long iters, size_t req, size_t rep,
			struct row_fig fig[][SRV_KINDS], struct row_fig *tfloor,
			struct row_fig *pfloor)
{
	static double q[2][SRV_KINDS + 2][5][MAX_ROUNDS];
	struct sample x[2][SRV_KINDS], ft, fp = { 0 };
	bool procs = nsrv > SRV_VUSD;
	struct raw_pair p, pp;
	unsigned r, k, j, i;

	if (nops < 1 || nops > 2)
		die("interleaved: one or two operations", EINVAL);
	raw_open(o, &p, req, rep, false);
	if (procs)
		raw_open(o, &pp, req, rep, true);
	raw_round(&p, iters); /* warm-up */
	if (procs)
		raw_round(&pp, iters);
	for (j = 0; j < nops; j++)
		for (k = 0; k < nsrv; k++)
			lib_round(&s[k], ops[j], size, big, iters);
	for (r = 0; r < o->rounds; r++) {
		ft = raw_round(&p, iters);
		if (procs)
			fp = raw_round(&pp, iters);
		/* Odd rounds take the operations in the other order: neither
		 * always runs right after the floor. */
		for (i = 0; i < nops; i++) {
			j = r % 2 ? nops - 1 - i : i;
			for (k = 0; k < nsrv; k++)
				x[j][k] = lib_round(&s[k], ops[j], size, big, iters);
		}
		/* [j][k][0] us, [1] ratio, [2] CPU ratio, [3] to the process
		 * floor, [4] CPU to the process floor; k = SRV_KINDS: the
		 * thread floor, SRV_KINDS + 1: the process floor (in [0]). */
		q[0][SRV_KINDS][0][r] = ft.us;
		q[0][SRV_KINDS + 1][0][r] = fp.us;
		q[0][SRV_KINDS + 1][1][r] = rat(fp.us, ft.us);
		q[0][SRV_KINDS + 1][2][r] = rat(fp.cpu_us, ft.cpu_us);
		for (j = 0; j < nops; j++)
			for (k = 0; k < nsrv; k++) {
				q[j][k][0][r] = x[j][k].us;
				q[j][k][1][r] = rat(x[j][k].us, ft.us);
				q[j][k][2][r] = rat(x[j][k].cpu_us, ft.cpu_us);
				q[j][k][3][r] = k >= SRV_VUSD ? rat(x[j][k].us, fp.us) : 0;
				q[j][k][4][r] = k >= SRV_VUSD ? rat(x[j][k].cpu_us, fp.cpu_us) : 0;
			}
	}
	raw_close(&p);
	if (procs)
		raw_close(&pp);
	*tfloor = (struct row_fig){ .us = median_or_0(q[0][SRV_KINDS][0], o->rounds), .ratio = 1,
				    .cpu_ratio = 1 };
	*pfloor = (struct row_fig){ 0 };
	if (procs)
		*pfloor = (struct row_fig){
			.us = median_or_0(q[0][SRV_KINDS + 1][0], o->rounds),
			.ratio = median_or_0(q[0][SRV_KINDS + 1][1], o->rounds),
			.cpu_ratio = median_or_0(q[0][SRV_KINDS + 1][2], o->rounds),
			.pratio = 1, .pcpu_ratio = 1,
		};
	for (j = 0; j < nops; j++)
		for (k = 0; k < nsrv; k++)
			fig[j][k] = (struct row_fig){
				.us = median_or_0(q[j][k][0], o->rounds),
				.ratio = median_or_0(q[j][k][1], o->rounds),
				.cpu_ratio = median_or_0(q[j][k][2], o->rounds),
				.pratio = median_or_0(q[j][k][3], o->rounds),
				.pcpu_ratio = median_or_0(q[j][k][4], o->rounds),
			};
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

static const char *const kind_name[] = {
	[SRV_RUN] = "library loop",
	[SRV_POLL] = "app poll loop",
	[SRV_VUSD] = "vusd",
	[SRV_VUSD256] = "vusd, 255 idle beside",
	[SRV_VUSD_PROC] = "vusd, process-isolated",
	[SRV_VUSD_NOSEC] = "vusd --no-seccomp",
};

static void ratio_col(double v)
{
	if (v > 0)
		printf(" %7.2fx", v);
	else
		printf(" %8s", "-");
}

static void row(const char *name, unsigned long iters, const struct row_fig *f, double floor_us)
{
	printf("%-46s %8lu %9.2f %9.2f", name, iters, f->us, floor_us);
	ratio_col(f->ratio);
	ratio_col(f->cpu_ratio);
	ratio_col(f->pratio);
	ratio_col(f->pcpu_ratio);
	printf("\n");
}

/* The floor rows (floor_name NULL: none, printed for the operation
 * before) and the rows of every server for one operation. */
static void rows(const char *floor_name, const char *op_name, unsigned long iters, unsigned nsrv,
		 const struct row_fig *fig, const struct row_fig *tf, const struct row_fig *pf)
{
	char name[96];
	unsigned k;

	if (!floor_name)
		goto ops;
	snprintf(name, sizeof(name), "%s (floor)", floor_name);
	row(name, iters, tf, tf->us);
	if (pf->us > 0) {
		snprintf(name, sizeof(name), "%s, processes", floor_name);
		row(name, iters, pf, tf->us);
	}
ops:
	for (k = 0; k < nsrv; k++) {
		snprintf(name, sizeof(name), "%s, %s", op_name, kind_name[k]);
		row(name, iters, &fig[k], tf->us);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vus-bench [--iters N] [--rounds R] [--quick] [--cpus=same|split]\n"
		"Measure vus against a raw AF_UNIX ping-pong of the same bytes.\n"
		"  --iters N         small operations per round (default 20000; large\n"
		"                    transfers use N/20 for 64 KiB and N/200 for 1 MiB)\n"
		"  --rounds R        interleaved rounds after the warm-up (default 5,\n"
		"                    at most %d); each row is the median of R per-round\n"
		"                    ratios\n"
		"  --quick           few iterations and 3 rounds (a smoke run)\n"
		"  --cpus=same|split both threads on one CPU (default) or on two\n"
		"  -h, --help        this text\n", MAX_ROUNDS);
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "iters", required_argument, NULL, 'i' },
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
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
		case 'r':
			errno = 0;
			o->rounds = (unsigned)strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || o->rounds == 0 ||
			    o->rounds > MAX_ROUNDS) {
				fprintf(stderr, "vus-bench: --rounds: '%s' is not a count between 1 "
					"and %d\n", optarg, MAX_ROUNDS);
				return 2;
			}
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


int main(int argc, char **argv)
{
	static const size_t big_sizes[] = { 64u << 10, 1u << 20 };
	static const unsigned long big_div[] = { 20, 200 };
	/* Reads and writes in the same rounds (interleaved()), posted
	 * writes apart. */
	static const enum op rw[] = { OP_READ4, OP_WRITE4 };
	static const enum op posted[] = { OP_POSTED4 };
	static const struct { const enum op *ops; unsigned nops; const char *name[2]; } small[] = {
		{ rw, 2, { "REGION_READ 4 B", "REGION_WRITE 4 B" } },
		{ posted, 1, { "posted REGION_WRITE 4 B" } },
	};
	static const enum op write_big[] = { OP_WRITE_BIG }, read_big[] = { OP_READ_BIG };
	struct bench_opts o = { .iters = 20000, .rounds = 5 };
	struct served s[SRV_KINDS];
	char vusd[PATH_MAX];
	struct row_fig fig[2][SRV_KINDS], tf, pf;
	unsigned long n;
	unsigned nsrv = 2, k;
	uint8_t *big;
	char name[80], name2[80];
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
	printf("%-46s %8s %9s %9s %8s %8s %8s %8s\n", "operation", "iters", "us/op", "floor us",
	       "ratio", "cpu", "p-ratio", "p-cpu");

	/* (a) the floor: a 4-byte REGION_READ's bytes, 32 out and 36 back */
	for (j = 0; j < sizeof(small) / sizeof(small[0]); j++) {
		interleaved(&o, s, nsrv, small[j].ops, small[j].nops, 4, big, o.iters, ACCESS_HDR,
			    ACCESS_HDR + 4, fig, &tf, &pf);
		for (k = 0; k < small[j].nops; k++)
			rows(k ? NULL : "raw ping-pong 32/36 B", small[j].name[k], o.iters, nsrv,
			     fig[k], &tf, &pf);
	}

	/* (e) bulk transfers against a raw ping-pong of the same sizes */
	for (i = 0; i < sizeof(big_sizes) / sizeof(big_sizes[0]); i++) {
		size = big_sizes[i];
		n = scaled(o.iters, big_div[i]);
		for (k = 0; k < nsrv; k++)
			check_bar1(&s[k], big, size);

		interleaved(&o, s, nsrv, write_big, 1, size, big, n, ACCESS_HDR + size,
			    ACCESS_HDR, fig, &tf, &pf);
		snprintf(name, sizeof(name), "raw ping-pong %zu KiB/32 B", size >> 10);
		snprintf(name2, sizeof(name2), "REGION_WRITE %zu KiB", size >> 10);
		rows(name, name2, n, nsrv, fig[0], &tf, &pf);
		interleaved(&o, s, nsrv, read_big, 1, size, big, n, ACCESS_HDR,
			    ACCESS_HDR + size, fig, &tf, &pf);
		snprintf(name, sizeof(name), "raw ping-pong 32 B/%zu KiB", size >> 10);
		snprintf(name2, sizeof(name2), "REGION_READ %zu KiB", size >> 10);
		rows(name, name2, n, nsrv, fig[0], &tf, &pf);
	}
	for (k = 0; k < nsrv; k++)
		served_stop(&s[k]);
	free(big);
	printf("ratio = median over rounds of us/op divided by the raw ping-pong of the same\n"
	       "bytes (two threads) in the same round (posted writes: of the 32/36 B floor;\n"
	       "below 1 = more requests per second than the floor's round trips); cpu = the\n"
	       "same for the CPU time both ends used; p-ratio, p-cpu = against the floor of\n"
	       "two processes (vusd rows; its own row: against the thread floor); us/op are\n"
	       "medians too\n");
	return 0;
}
