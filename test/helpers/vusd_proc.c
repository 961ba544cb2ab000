/* SPDX-License-Identifier: BSD-3-Clause */
/* vusd as a test's child process (vusd_proc.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vus/client.h>

#include "clock.h"
#include "vusd_proc.h"

int vusd_proc_spawn(struct vusd_proc *v, const char *vusd, char *const argv[], const char *ctl,
		    const struct vusd_proc_opts *opts)
{
	const struct vusd_proc_opts none = { 0 };
	pid_t pid;

	if (!opts)
		opts = &none;
	v->pid = -1;
	v->status = 0;
	if (snprintf(v->ctl, sizeof(v->ctl), "%s", ctl ? ctl : "") >= (int)sizeof(v->ctl) ||
	    snprintf(v->log, sizeof(v->log), "%s", opts->log ? opts->log : "") >=
		    (int)sizeof(v->log))
		return -ENAMETOOLONG;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct rlimit rl = { opts->nofile, opts->nofile };

		/* A failed assertion ends the test process: vusd goes with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (opts->fd3 && *opts->fd3 != 3) {
			if (dup2(*opts->fd3, 3) < 0)
				_exit(126);
			close(*opts->fd3);
		}
		if (opts->log) {
			int log = open(opts->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
				       0600);

			if (log < 0 || dup2(log, STDERR_FILENO) < 0)
				_exit(126);
		}
		if (opts->nofile && setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(126);
		if (opts->env_name && setenv(opts->env_name, opts->env_value, 1) < 0)
			_exit(126);
		execv(vusd, argv);
		_exit(127);
	}
	v->pid = pid;
	return 0;
}

int vusd_proc_start(struct vusd_proc *v, const char *vusd, const char *cfg, const char *ctl,
		    const struct vusd_proc_opts *opts)
{
	char *argv[] = { (char *)vusd, "--config", (char *)cfg, NULL };

	return vusd_proc_spawn(v, vusd, argv, ctl, opts);
}

bool vusd_proc_alive(struct vusd_proc *v, int *status)
{
	int st = 0;
	pid_t r;

	if (v->pid > 0) {
		r = waitpid(v->pid, &st, WNOHANG);
		if (r == 0)
			return true;
		v->status = r > 0 ? st : 0;
		v->pid = -1;
	}
	if (status)
		*status = v->status;
	return false;
}

int vusd_proc_stop(struct vusd_proc *v, int sig, int timeout_ms, int *status)
{
	int64_t deadline = test_now_ms() + timeout_ms;
	int st = 0, rc = 0;
	pid_t r;

	if (status)
		*status = v->status;
	if (v->pid <= 0)
		return -ECHILD;
	if (sig)
		kill(v->pid, sig);
	if (timeout_ms < 0) {
		r = waitpid(v->pid, &st, 0);
	} else {
		while ((r = waitpid(v->pid, &st, WNOHANG)) == 0 && test_now_ms() < deadline)
			test_sleep_ms(10);
		if (r == 0) {
			kill(v->pid, SIGKILL);
			r = waitpid(v->pid, &st, 0);
			rc = -ETIMEDOUT;
		}
	}
	v->pid = -1;
	if (r < 0)
		return -ECHILD;
	v->status = st;
	if (status)
		*status = st;
	return rc;
}

void vusd_proc_describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status 0x%x", status);
}

static int ctl_connect_once(const struct vusd_proc *v)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", v->ctl);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int vusd_proc_ctl_connect(struct vusd_proc *v, int timeout_ms)
{
	int64_t deadline = test_now_ms() + timeout_ms;
	int fd;

	for (;;) {
		fd = ctl_connect_once(v);
		if (fd >= 0)
			return fd;
		if (!vusd_proc_alive(v, NULL))
			return -ECHILD;
		if (test_now_ms() >= deadline)
			return fd;
		test_sleep_ms(10);
	}
}

static ssize_t send_line(int fd, const char *line)
{
	size_t n = strlen(line);

	if (send(fd, line, n, MSG_NOSIGNAL) != (ssize_t)n)
		return -errno;
	if ((n == 0 || line[n - 1] != '\n') && send(fd, "\n", 1, MSG_NOSIGNAL) != 1)
		return -errno;
	return 0;
}

ssize_t vusd_proc_request(const struct vusd_proc *v, const char *line, int timeout_ms, char *buf,
			  size_t cap, char *why, size_t whylen)
{
	int64_t deadline = test_now_ms() + timeout_ms;
	char dummy[1];
	size_t len = 0;
	ssize_t rc;
	int fd;

	if (!why) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	buf[0] = '\0';
	fd = ctl_connect_once(v);
	if (fd < 0) {
		snprintf(why, whylen, "connect %s: %s", v->ctl, strerror(-fd));
		return fd;
	}
	rc = send_line(fd, line);
	if (rc < 0) {
		snprintf(why, whylen, "send: %s", strerror((int)-rc));
		goto out;
	}
	while (!memchr(buf, '\n', len)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - test_now_ms();
		ssize_t got;

		if (len >= cap - 1) {
			snprintf(why, whylen, "reply longer than %zu bytes", cap - 1);
			rc = -EMSGSIZE;
			goto out;
		}
		if (left <= 0 || poll(&pfd, 1, (int)left) != 1) {
			snprintf(why, whylen, "no reply within %d ms", timeout_ms);
			rc = -ETIMEDOUT;
			goto out;
		}
		got = recv(fd, buf + len, cap - 1 - len, 0);
		if (got <= 0) {
			snprintf(why, whylen, "connection ended before the reply: %s",
				 got ? strerror(errno) : "EOF");
			rc = -ECONNRESET;
			goto out;
		}
		len += (size_t)got;
		buf[len] = '\0';
	}
	rc = (ssize_t)len;
out:
	close(fd);
	return rc;
}

int vusd_proc_client(struct vusd_proc *v, const char *path, const struct vus_client_opts *opts,
		     int timeout_ms, struct vus_client **out)
{
	const struct vus_client_opts dflt = { .timeout_ms = timeout_ms };
	int64_t deadline = test_now_ms() + timeout_ms;
	int rc;

	*out = NULL;
	while ((rc = vus_client_connect(path, opts ? opts : &dflt, out)) < 0) {
		if (!vusd_proc_alive(v, NULL))
			return -ECHILD;
		if (test_now_ms() > deadline)
			return rc;
		test_sleep_ms(10);
	}
	return 0;
}

bool vusd_proc_log_has(const struct vusd_proc *v, const char *s)
{
	char line[1024];
	bool found = false;
	FILE *f;

	if (!v->log[0] || !(f = fopen(v->log, "r")))
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	fclose(f);
	return found;
}

void vusd_proc_dump_log(const struct vusd_proc *v, unsigned max_lines)
{
	static char ring[64][512];
	char line[512];
	unsigned n = 0, i;
	FILE *f;

	if (!v->log[0] || !(f = fopen(v->log, "r")))
		return;
	if (max_lines > 64)
		max_lines = 64;
	while (fgets(line, sizeof(line), f))
		snprintf(ring[n++ % 64], sizeof(ring[0]), "%s", line);
	fclose(f);
	fprintf(stderr, "---- the last lines of vusd's log (%u lines) ----\n", n);
	for (i = n > max_lines ? n - max_lines : 0; i < n; i++)
		fputs(ring[i % 64], stderr);
	fprintf(stderr, "----\n");
}
