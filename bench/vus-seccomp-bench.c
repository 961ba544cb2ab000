/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-seccomp-bench: what vusd's seccomp filter (server/sandbox.c, the
 * real allow-list) costs per request, without a client and server
 * around it to add noise.
 *
 * A request costs vusd three system calls (docs/performance.md, "system
 * calls per request"): epoll_wait, recvmsg, sendmsg. A child process
 * makes exactly those, N times over (32 bytes through a socketpair to
 * itself, an epoll_wait that finds it), once without the filter and
 * once with it loaded; rounds alternate the two and the figure is the
 * median over rounds of the difference per iteration. Device types'
 * extra calls are left out (no type is linked): their few rules sit in
 * the same filter and cost the same per call. Times are the thread's
 * CPU time, so a loaded machine's scheduling does not count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vusd.h"

/* ---- what sandbox.c needs of vusd -------------------------------------- */

void vusd_log(enum vus_log_level level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

size_t vusd_type_count(void)
{
	return 0;
}

const struct vusd_type *vusd_type_at(size_t i)
{
	(void)i;
	return NULL;
}

/* ---- the measurement ------------------------------------------------- */

#define MAX_ROUNDS 15

/* CPU time of this thread, user and system: time the machine's other
 * work takes from it (descheduled) does not count. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* In a child: ns per iteration of the three calls, or -1. */
static double run_child(bool filter, unsigned long n)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct vusd_err err;
	char buf[32] = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int sv[2], ep, p[2];
	double t0, ns = -1;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || (ep = epoll_create1(0)) < 0)
			_exit(1);
		ev.data.fd = sv[1];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) < 0)
			_exit(1);
		if (filter && vusd_sandbox_enter(NULL, false, &err) < 0) {
			fprintf(stderr, "vus-seccomp-bench: %s\n", err.msg);
			_exit(1);
		}
		/* Sanitizer builds leave it off (sandbox.c): nothing to time. */
		if (filter && prctl(PR_GET_SECCOMP) != 2)
			_exit(1);
		t0 = now_ns();
		for (unsigned long i = 0; i < n; i++) {
			if (sendmsg(sv[0], &mh, 0) != (ssize_t)sizeof(buf) ||
			    epoll_wait(ep, &ev, 1, 0) != 1 ||
			    recvmsg(sv[1], &mh, 0) != (ssize_t)sizeof(buf))
				_exit(1);
		}
		ns = (now_ns() - t0) / (double)n;
		if (write(p[1], &ns, sizeof(ns)) != sizeof(ns))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &ns, sizeof(ns)) != sizeof(ns))
		ns = -1;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return ns;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 9;
	double off[MAX_ROUNDS], on[MAX_ROUNDS], diff[MAX_ROUNDS];
	unsigned r;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: vus-seccomp-bench [ITERATIONS [ROUNDS]]\n"
		       "vusd's seccomp filter: ns per request's system calls (epoll_wait,\n"
		       "recvmsg, sendmsg) with and without it, rounds interleaved\n"
		       "(default 200000 iterations, 9 rounds, at most %d).\n", MAX_ROUNDS);
		return 0;
	}
	if (!n || !rounds || rounds > MAX_ROUNDS) {
		fprintf(stderr, "vus-seccomp-bench: out of range (see --help)\n");
		return 2;
	}
	for (r = 0; r < rounds; r++) {
		off[r] = run_child(false, n);
		on[r] = run_child(true, n);
		if (off[r] < 0 || on[r] < 0) {
			fprintf(stderr, "vus-seccomp-bench: a child failed (sanitizer build? the "
				"filter stays off there)\n");
			return 1;
		}
		diff[r] = on[r] - off[r];
	}
	printf("vus-seccomp-bench: %lu iterations of epoll_wait + recvmsg + sendmsg (the "
	       "system calls of one vusd request), %u rounds interleaved, medians\n", n, rounds);
	printf("  without the filter  %8.1f ns per request\n", median(off, rounds));
	printf("  with vusd's filter  %8.1f ns per request\n", median(on, rounds));
	printf("  difference          %8.1f ns per request (%.1f ns per system call)\n",
	       median(diff, rounds), median(diff, rounds) / 3);
	return 0;
}
