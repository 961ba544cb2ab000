/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-iso-bench: how much one device's blocked loop delays another
 * device's requests, with the two devices
 *
 *   shared   on one loop thread (vusd's default, "isolation": "shared"),
 *   thread   each on a loop thread of its own, in one process,
 *   process  each in a process of its own (vusd's "isolation": "process"),
 *
 * the measurement behind vusd's isolation choice (docs/security.md
 * "Isolation"). Two testdevs, A and B, each on its own socket; a client
 * on B does 4-byte REGION_READs of SCRATCH: first idle (the per-request
 * cost of each arrangement, as a ratio to shared in the same round),
 * then while A's loop blocks for --block-ms (as a device callback that
 * blocks would: a slow backend, a page fault on stuck memory): B's
 * longest and median round trip during the block. Modes are interleaved
 * within each round; the figures are medians over rounds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vus/client.h>
#include <vus/device.h>

#include "testdev.h"

enum mode { SHARED, THREAD, PROCESS, MODES };
static const char *const mode_name[] = { "shared loop", "thread per device",
					 "process per device" };

#define MAX_ROUNDS 9
#define MAX_SAMPLES 200000

struct opts {
	unsigned rounds;
	unsigned idle_iters;
	unsigned block_ms;
};

/* One serving loop: its devices, and a request to block. */
struct loop {
	struct testdev *td[2];
	unsigned n;
	pthread_t th;
	pid_t pid;
	int quit;
	int block; /* set: the loop sleeps block_ms once */
	unsigned block_ms;
};

static struct loop *sig_loop; /* a process's loop, for SIGUSR1 */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "vus-iso-bench: %s: %s\n", what, strerror(err));
	exit(1);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void on_usr1(int sig)
{
	(void)sig;
	__atomic_store_n(&sig_loop->block, 1, __ATOMIC_RELEASE);
}

static void run_loop(struct loop *l)
{
	struct pollfd p[2];
	unsigned i;

	for (i = 0; i < l->n; i++)
		p[i] = (struct pollfd){ .fd = vus_dev_poll_fd(testdev_dev(l->td[i])),
					.events = POLLIN };
	while (!__atomic_load_n(&l->quit, __ATOMIC_ACQUIRE)) {
		int n = poll(p, l->n, 20);

		if (__atomic_exchange_n(&l->block, 0, __ATOMIC_ACQ_REL))
			sleep_ms(l->block_ms); /* a callback that blocks */
		if (n <= 0)
			continue;
		for (i = 0; i < l->n; i++)
			if (p[i].revents)
				vus_dev_process(testdev_dev(l->td[i]));
	}
}

static void *loop_thread(void *arg)
{
	run_loop(arg);
	return NULL;
}

static struct testdev *make_dev(const char *name, const char *path)
{
	struct testdev *td;
	int rc = testdev_create(name, &td);

	if (rc < 0)
		die("testdev_create", -rc);
	unlink(path);
	rc = vus_dev_listen(testdev_dev(td), path);
	if (rc < 0)
		die("vus_dev_listen", -rc);
	return td;
}

/* A's loop is loops[0]; B's is loops[0] (shared) or loops[1]. */
struct setup {
	enum mode mode;
	struct loop loops[2];
	unsigned nloops;
	char path[2][96];
};

static void start(struct setup *s, const char *dir, unsigned block_ms)
{
	unsigned i;
	int rc;

	memset(s->loops, 0, sizeof(s->loops));
	snprintf(s->path[0], sizeof(s->path[0]), "%s/a.sock", dir);
	snprintf(s->path[1], sizeof(s->path[1]), "%s/b.sock", dir);
	s->nloops = s->mode == SHARED ? 1 : 2;
	for (i = 0; i < 2; i++)
		s->loops[i].block_ms = block_ms;
	if (s->mode == PROCESS) {
		for (i = 0; i < 2; i++) {
			struct loop *l = &s->loops[i];

			l->pid = fork();
			if (l->pid < 0)
				die("fork", errno);
			if (l->pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				sig_loop = l;
				signal(SIGUSR1, on_usr1);
				signal(SIGTERM, SIG_DFL);
				l->td[0] = make_dev(i ? "B" : "A", s->path[i]);
				l->n = 1;
				run_loop(l);
				_exit(0);
			}
		}
		return;
	}
	s->loops[0].td[0] = make_dev("A", s->path[0]);
	if (s->mode == SHARED) {
		s->loops[0].td[1] = make_dev("B", s->path[1]);
		s->loops[0].n = 2;
	} else {
		s->loops[0].n = 1;
		s->loops[1].td[0] = make_dev("B", s->path[1]);
		s->loops[1].n = 1;
	}
	for (i = 0; i < s->nloops; i++) {
		rc = pthread_create(&s->loops[i].th, NULL, loop_thread, &s->loops[i]);
		if (rc)
			die("pthread_create", rc);
	}
}

static void block_a(struct setup *s)
{
	if (s->mode == PROCESS)
		kill(s->loops[0].pid, SIGUSR1);
	else
		__atomic_store_n(&s->loops[0].block, 1, __ATOMIC_RELEASE);
}

static void stop(struct setup *s)
{
	unsigned i, j;

	for (i = 0; i < s->nloops; i++) {
		struct loop *l = &s->loops[i];

		if (s->mode == PROCESS) {
			kill(l->pid, SIGKILL);
			waitpid(l->pid, NULL, 0);
			continue;
		}
		__atomic_store_n(&l->quit, 1, __ATOMIC_RELEASE);
		pthread_join(l->th, NULL);
		for (j = 0; j < l->n; j++)
			testdev_free(l->td[j]);
	}
	unlink(s->path[0]);
	unlink(s->path[1]);
}

static struct vus_client *connect_b(struct setup *s)
{
	struct vus_client *c = NULL;
	int i, rc = -ENOENT;

	for (i = 0; i < 500 && (rc = vus_client_connect(s->path[1], NULL, &c)) < 0; i++)
		sleep_ms(10);
	if (rc < 0)
		die("connecting to B", -rc);
	return c;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

static double samples[MAX_SAMPLES];

static double read_once(struct vus_client *c)
{
	double t0 = now_us();
	uint32_t v;
	int rc = vus_client_region_read(c, 0, TESTDEV_REG_SCRATCH, &v, 4);

	if (rc < 0)
		die("REGION_READ", -rc);
	return now_us() - t0;
}

struct result {
	double idle_us, block_max_us, block_med_us;
	size_t block_trips;
};

static void measure(struct setup *s, const struct opts *o, struct result *r)
{
	struct vus_client *c = connect_b(s);
	double start;
	size_t i, n;

	for (i = 0; i < 1000; i++)
		read_once(c); /* warm-up */
	for (i = 0; i < o->idle_iters; i++)
		samples[i] = read_once(c);
	r->idle_us = median(samples, o->idle_iters);
	block_a(s);
	sleep_ms(50); /* A's loop has taken the request to block */
	start = now_us();
	n = 0;
	while (now_us() - start < (double)(o->block_ms - 250) * 1000 && n < MAX_SAMPLES)
		samples[n++] = read_once(c);
	r->block_trips = n;
	r->block_max_us = 0;
	for (i = 0; i < n; i++)
		if (samples[i] > r->block_max_us)
			r->block_max_us = samples[i];
	r->block_med_us = median(samples, n);
	vus_client_close(c);
	sleep_ms(300); /* A's block is over */
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "iters", required_argument, NULL, 'n' },
		{ "block-ms", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "r:n:b:h", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->rounds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o->idle_iters = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			o->block_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			printf("Usage: vus-iso-bench [--rounds N] [--iters N] [--block-ms MS]\n"
			       "Device B's REGION_READ round trips while device A's loop blocks,\n"
			       "with A and B on one loop, a thread each, or a process each.\n"
			       "  --rounds N     interleaved rounds (default 3, at most %d)\n"
			       "  --iters N      idle round trips per mode and round (default 20000)\n"
			       "  --block-ms MS  how long A blocks (default 2000, at least 500)\n",
			       MAX_ROUNDS);
			return 0;
		default:
			return 2;
		}
	}
	if (!o->rounds || o->rounds > MAX_ROUNDS || !o->idle_iters ||
	    o->idle_iters > MAX_SAMPLES || o->block_ms < 500) {
		fprintf(stderr, "vus-iso-bench: out of range (see --help)\n");
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct opts o = { .rounds = 3, .idle_iters = 20000, .block_ms = 2000 };
	static double idle[MODES][MAX_ROUNDS], ratio[MODES][MAX_ROUNDS];
	static double bmax[MODES][MAX_ROUNDS], bmed[MODES][MAX_ROUNDS];
	char dir[] = "/tmp/vus-iso-bench.XXXXXX";
	struct setup s;
	struct result r;
	unsigned round, m;
	int rc;

	rc = parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	printf("vus-iso-bench: B's 4-byte REGION_READ; A's loop blocks %u ms; %u rounds, "
	       "modes interleaved; medians over rounds\n", o.block_ms, o.rounds);
	for (round = 0; round < o.rounds; round++) {
		for (m = 0; m < MODES; m++) {
			s.mode = (enum mode)m;
			start(&s, dir, o.block_ms);
			measure(&s, &o, &r);
			stop(&s);
			idle[m][round] = r.idle_us;
			bmax[m][round] = r.block_max_us;
			bmed[m][round] = r.block_med_us;
			fprintf(stderr, "round %u %-18s idle %.2f us; during the block: %zu trips, "
				"longest %.1f ms\n", round, mode_name[m], r.idle_us, r.block_trips,
				r.block_max_us / 1000);
		}
		for (m = 0; m < MODES; m++)
			ratio[m][round] = idle[m][round] / idle[SHARED][round];
	}
	rmdir(dir);
	printf("%-20s %14s %12s %22s %22s\n", "mode", "idle us/op", "vs shared",
	       "B longest, A blocked", "B median, A blocked");
	for (m = 0; m < MODES; m++)
		printf("%-20s %14.2f %11.2fx %19.1f ms %19.3f ms\n", mode_name[m],
		       median(idle[m], o.rounds), median(ratio[m], o.rounds),
		       median(bmax[m], o.rounds) / 1000, median(bmed[m], o.rounds) / 1000);
	return 0;
}
