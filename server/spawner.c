/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The spawner (docs/security.md "Isolation"): the process every
 * process-isolated device's child is forked from.
 *
 * A child forked from vusd itself would inherit a copy of vusd's whole
 * memory: the shared devices' state (an nvme RAM namespace is another
 * tenant's disk), session buffers that held guest data, BAR memory.
 * So vusd forks this process first, once its options are parsed and
 * before any device, client or control connection exists, and forks
 * every isolated device from it, at start and at run time alike. Its
 * memory is vusd's at that moment: the parsed options and configuration,
 * no device.
 *
 * vusd and the spawner talk over a SOCK_SEQPACKET socketpair, one
 * request, then one reply, each a JSON object in one message:
 *   {"op":"spawn","spec":{...},"fd":N} with two fds (SCM_RIGHTS): the
 *       device's listening socket, bound by vusd, and the child's end of
 *       its control channel -> {"ok":true,"pid":P} or an error;
 *   {"op":"sandbox"} when vusd drops privileges and enters its seccomp
 *       filter: the spawner does the same -> {"ok":true} or an error.
 * "spec" is the device's spec as `add` takes it (spec_json.c) plus its
 * name and socket, parsed again here; "fd" is an inherited --fd's number
 * (info shows it), -1 for a socket path.
 *
 * The child must be vusd's, not the spawner's: vusd reaps it, reports
 * its death and kills it on remove exactly as before (isolate.c), and it
 * dies with vusd (PR_SET_PDEATHSIG). vusd is a child subreaper
 * (PR_SET_CHILD_SUBREAPER), and the spawner forks twice: the middle
 * process forks the child, reports its pid and exits, and the kernel
 * hands the orphan to vusd. The child waits until it is vusd's before
 * it sets its death signal (set earlier, the middle process's
 * exit would fire it): the spawner sends it a byte on a pipe once it has
 * reaped the middle process, by when the kernel has reparented it.
 *
 * The spawner dies with vusd (PR_SET_PDEATHSIG, and EOF on its socket).
 * If it dies first, vusd logs it when it reaps it and every isolated
 * device added afterwards fails to start with an error saying so; the
 * running children are vusd's and go on. It is not restarted: a new one
 * forked from vusd then would hold what the first exists to keep out.
 *
 * Its seccomp filter is vusd's serving list without the live-update
 * calls: filters are inherited and only narrow, so the spawner's bounds
 * what any child can be allowed; each child then adds its own type's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vusd.h"

/* A request or reply: a spec is a few hundred bytes. */
#define SPAWNER_MSG_MAX (64u * 1024u)
/* How long vusd waits for a reply; the child's own start is waited for
 * by isolate.c. */
#define SPAWNER_TIMEOUT_MS 5000

/* ---- both sides ----------------------------------------------------- */

static int send_msg(int fd, struct json_object *o, const int *fds, size_t nfds)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	struct iovec iov = { .iov_base = (void *)s, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EPROTO;
}

/*
 * One message into buf (NUL-terminated) and up to 2 fds (CLOEXEC), -1
 * where none came. 0, -EPIPE at EOF, -EPROTO for a truncated message or
 * one with other fds or control data (those fds closed).
 */
static int recv_msg(int fd, char *buf, size_t cap, int fds[2])
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = cap - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	size_t nfds = 0, i;
	bool bad = false;
	ssize_t n;

	fds[0] = fds[1] = -1;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k = cm->cmsg_len > CMSG_LEN(0) ? (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int)
						       : 0;
		int got[2];

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || k > 2 ||
		    nfds + k > 2) {
			bad = true;
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				int *p = (int *)CMSG_DATA(cm);

				for (i = 0; i < k; i++)
					close(p[i]);
			}
			continue;
		}
		memcpy(got, CMSG_DATA(cm), k * sizeof(int));
		for (i = 0; i < k; i++)
			fds[nfds++] = got[i];
	}
	if (n == 0 && nfds == 0 && !bad)
		return -EPIPE;
	if (bad || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		fds[0] = fds[1] = -1;
		return -EPROTO;
	}
	buf[n] = '\0';
	return 0;
}

static struct json_object *parse(const char *s)
{
	struct json_tokener *tok = json_tokener_new_ex(32);
	struct json_object *o = tok ? json_tokener_parse_ex(tok, s, (int)strlen(s)) : NULL;

	json_tokener_free(tok);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* ---- the spawner ---------------------------------------------------- */

struct spawner {
	struct vusd *d; /* its copy of vusd's settings */
	pid_t vusd_pid;
	int fd;
};

static void reply_err(struct spawner *s, int rc, const char *msg)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		_exit(VUSD_EXIT_RUNTIME);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "errno", json_object_new_int(-rc));
	json_object_object_add(o, "message", json_object_new_string(msg && msg[0] ? msg
										  : strerror(-rc)));
	if (send_msg(s->fd, o, NULL, 0) < 0)
		_exit(VUSD_EXIT_RUNTIME); /* vusd is gone */
	json_object_put(o);
}

static void reply_ok(struct spawner *s, pid_t pid)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		_exit(VUSD_EXIT_RUNTIME);
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	if (pid > 0)
		json_object_object_add(o, "pid", json_object_new_int(pid));
	if (send_msg(s->fd, o, NULL, 0) < 0)
		_exit(VUSD_EXIT_RUNTIME);
	json_object_put(o);
}

/* In the new child: wait to be vusd's (go is readable once the middle
 * process has exited and the kernel has handed the child to vusd), then
 * become the device's process (child.c). */
static void __attribute__((noreturn))
child_start(struct spawner *s, struct vusd_dev *vd, int listen_fd, int ctl_fd, int go)
{
	char b;

	prctl(PR_SET_NAME, "vusd"); /* as before: the spawner's name is its own */
	while (read(go, &b, 1) < 0 && errno == EINTR)
		;
	close(go);
	if (getppid() != s->vusd_pid)
		_exit(VUSD_EXIT_SETUP); /* vusd is gone */
	s->d->child_main(s->d, vd, listen_fd, ctl_fd);
	_exit(VUSD_EXIT_SETUP); /* not reached */
}

/*
 * Fork the middle process, which forks the child, writes its pid (or
 * -errno) to a pipe and exits. Once the middle process is reaped its
 * orphan is vusd's (reparenting precedes the exit becoming waitable):
 * then a byte on a second pipe lets the child go on. The pid, or -errno.
 */
static pid_t fork_child(struct spawner *s, struct vusd_dev *vd, int listen_fd, int ctl_fd)
{
	pid_t mid, pid = -EIO;
	int p[2], go[2], st;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(go, O_CLOEXEC) < 0) {
		pid = -errno;
		close(p[0]);
		close(p[1]);
		return pid;
	}
	mid = fork();
	if (mid == 0) {
		close(p[0]);
		close(s->fd);
		pid = fork();
		if (pid == 0) {
			close(p[1]);
			close(go[1]);
			child_start(s, vd, listen_fd, ctl_fd, go[0]);
		}
		if (pid < 0)
			pid = -errno;
		_exit(write(p[1], &pid, sizeof(pid)) == sizeof(pid) ? 0 : VUSD_EXIT_RUNTIME);
	}
	close(go[0]);
	close(p[1]);
	if (mid < 0) {
		pid = -errno;
		close(p[0]);
		close(go[1]);
		return pid;
	}
	do
		n = read(p[0], &pid, sizeof(pid));
	while (n < 0 && errno == EINTR);
	if (n != sizeof(pid))
		pid = -EIO;
	close(p[0]);
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	/* Fails only if the child is dead already: vusd then sees its
	 * channel close. (If this process dies first, the child reads EOF
	 * and checks getppid() all the same.) */
	if (write(go[1], "g", 1) < 0)
		vusd_log(VUS_LOG_DEBUG, "spawner: child %d gone before it started", (int)pid);
	close(go[1]);
	return pid;
}

static void do_spawn(struct spawner *s, struct json_object *req, int fds[2])
{
	struct vusd_dev vd = { 0 };
	struct json_object *spec, *fdv;
	struct vusd_err err = { "" };
	int rc = -EPROTO;
	pid_t pid = 0;

	if (fds[0] < 0 || fds[1] < 0 || !json_object_object_get_ex(req, "spec", &spec) ||
	    !json_object_object_get_ex(req, "fd", &fdv) ||
	    !json_object_is_type(fdv, json_type_int)) {
		reply_err(s, -EPROTO, "spawner: a malformed spawn request");
		return;
	}
	rc = vusd_spec_parse_json(spec, s->d->socket_mode, "spawner", &vd.spec, &err);
	if (rc < 0) {
		reply_err(s, rc, err.msg);
		return;
	}
	vd.spec.fd = json_object_get_int(fdv);
	vd.d = s->d;
	rc = vusd_budget_effective(&s->d->budget, &vd.spec, &vd.budget, &err);
	if (rc == 0 && vd.spec.isolation != VUSD_ISOLATION_PROCESS) {
		vusd_errf(&err, "spawner: device %s is not process-isolated", vd.spec.name);
		rc = -EINVAL;
	}
	if (rc == 0) {
		pid = fork_child(s, &vd, fds[0], fds[1]);
		if (pid < 0) {
			rc = (int)pid;
			vusd_errf(&err, "device %s: cannot fork its process: %s", vd.spec.name,
				  strerror(-rc));
		}
	}
	vusd_spec_free(&vd.spec);
	if (rc < 0)
		reply_err(s, rc, err.msg);
	else
		reply_ok(s, pid);
}

static void do_sandbox(struct spawner *s)
{
	struct vusd_err err = { "" };
	int rc = vusd_drop_privileges(s->d->user, s->d->group, &err);

	if (rc == 0 && s->d->seccomp)
		rc = vusd_sandbox_enter(NULL, false, &err);
	if (rc < 0)
		reply_err(s, rc, err.msg);
	else
		reply_ok(s, 0);
}

static void __attribute__((noreturn)) spawner_main(struct vusd *d, int fd)
{
	static char buf[SPAWNER_MSG_MAX];
	struct spawner s = { .d = d, .vusd_pid = d->pid, .fd = fd };
	struct json_object *req, *op;
	int keep[1] = { fd }, fds[2], rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != s.vusd_pid)
		_exit(VUSD_EXIT_RUNTIME); /* vusd died before the line above */
	prctl(PR_SET_NAME, "vusd-spawner");
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGINT, SIG_IGN); /* a terminal's ^C: vusd ends it */
	vusd_log_reopen();
	if (vusd_close_fds_except(keep, 1) < 0)
		_exit(VUSD_EXIT_SETUP);
	for (;;) {
		rc = recv_msg(fd, buf, sizeof(buf), fds);
		if (rc == -EPIPE || rc == -ECONNRESET)
			_exit(VUSD_EXIT_OK); /* vusd closed it: ending */
		if (rc < 0) {
			if (rc != -EPROTO)
				_exit(VUSD_EXIT_RUNTIME);
			reply_err(&s, rc, "spawner: a malformed request");
			continue;
		}
		req = parse(buf);
		if (req && json_object_object_get_ex(req, "op", &op) &&
		    strcmp(json_object_get_string(op), "spawn") == 0)
			do_spawn(&s, req, fds);
		else if (req && json_object_object_get_ex(req, "op", &op) &&
			 strcmp(json_object_get_string(op), "sandbox") == 0 && fds[0] < 0)
			do_sandbox(&s);
		else
			reply_err(&s, -EPROTO, "spawner: an unknown request");
		json_object_put(req);
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
	}
}

/* ---- vusd's side ---------------------------------------------------- */

int vusd_spawner_start(struct vusd *d, struct vusd_err *err)
{
	int sv[2];
	pid_t pid;

	d->spawner_fd = -1;
	d->spawner_pid = 0;
	d->pid = getpid();
	/* Orphans of vusd's descendants (the children the spawner forks)
	 * become vusd's. Kept across execve (live update). */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		vusd_errf(err, "cannot become a child subreaper: %s", strerror(errno));
		return -errno;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		vusd_errf(err, "spawner: socketpair: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		spawner_main(d, sv[1]);
	}
	close(sv[1]);
	if (pid < 0) {
		vusd_errf(err, "cannot fork the spawner: %s", strerror(errno));
		close(sv[0]);
		return -errno;
	}
	d->spawner_fd = sv[0];
	d->spawner_pid = pid;
	vusd_log(VUS_LOG_DEBUG, "spawner for isolated devices: process %d", (int)pid);
	return 0;
}

static void spawner_lost(struct vusd *d, const char *why)
{
	if (d->spawner_fd < 0)
		return;
	close(d->spawner_fd);
	d->spawner_fd = -1;
	vusd_log(VUS_LOG_ERR, "the spawner (process %d) %s: process-isolated devices can no "
		 "longer be added; those running go on (docs/security.md \"Isolation\")",
		 (int)d->spawner_pid, why);
}

/* Send req with fds, wait for the reply. 0 and *out, or -errno with err. */
static int call(struct vusd *d, struct json_object *req, const int *fds, size_t nfds,
		struct json_object **out, struct vusd_err *err)
{
	static char buf[SPAWNER_MSG_MAX];
	struct pollfd p = { .fd = d->spawner_fd, .events = POLLIN };
	struct json_object *v;
	int got[2], rc, n;

	*out = NULL;
	if (d->spawner_fd < 0) {
		vusd_errf(err, "the spawner of process-isolated devices is gone (see the log; "
			  "docs/security.md \"Isolation\")");
		return -ESRCH;
	}
	rc = send_msg(d->spawner_fd, req, fds, nfds);
	if (rc == 0) {
		do
			n = poll(&p, 1, SPAWNER_TIMEOUT_MS);
		while (n < 0 && errno == EINTR);
		rc = n > 0 ? recv_msg(d->spawner_fd, buf, sizeof(buf), got)
			   : n == 0 ? -ETIMEDOUT : -errno;
	}
	if (rc == 0 && got[0] >= 0) {
		close(got[0]); /* the spawner sends none */
		if (got[1] >= 0)
			close(got[1]);
		rc = -EPROTO;
	}
	if (rc == 0 && !(*out = parse(buf)))
		rc = -EPROTO;
	if (rc < 0) {
		/* Out of step with it from here on: give it up. */
		spawner_lost(d, rc == -EPIPE || rc == -ECONNRESET ? "is gone"
				: rc == -ETIMEDOUT ? "did not answer"
				: "broke its protocol");
		vusd_errf(err, "the spawner of process-isolated devices failed: %s",
			  strerror(-rc));
		return rc;
	}
	if (json_object_object_get_ex(*out, "ok", &v) && json_object_get_boolean(v))
		return 0;
	vusd_errf(err, "%s", json_object_object_get_ex(*out, "message", &v)
				     ? json_object_get_string(v) : "the spawner failed");
	rc = json_object_object_get_ex(*out, "errno", &v) ? json_object_get_int(v) : EIO;
	json_object_put(*out);
	*out = NULL;
	return rc > 0 && rc < 4096 ? -rc : -EIO;
}

pid_t vusd_spawner_spawn(struct vusd *d, const struct vusd_spec *spec, int listen_fd,
			 int ctl_fd, struct vusd_err *err)
{
	struct json_object *req = json_object_new_object(), *js = vusd_spec_json(spec), *r;
	int fds[2] = { listen_fd, ctl_fd };
	pid_t pid = -ENOMEM;
	struct json_object *v;
	int rc;

	if (!req || !js) {
		vusd_errf(err, "out of memory");
		goto out;
	}
	json_object_object_add(js, "name", json_object_new_string(spec->name));
	if (spec->socket)
		json_object_object_add(js, "socket", json_object_new_string(spec->socket));
	json_object_object_add(req, "op", json_object_new_string("spawn"));
	json_object_object_add(req, "spec", js);
	js = NULL;
	json_object_object_add(req, "fd", json_object_new_int(spec->fd));
	rc = call(d, req, fds, 2, &r, err);
	if (rc < 0) {
		char msg[sizeof(err->msg)];

		/* Its own errors name the device already; vusd's say whose. */
		if (strncmp(err->msg, "device ", 7)) {
			snprintf(msg, sizeof(msg), "%s", err->msg);
			vusd_errf(err, "device %s: %s", spec->name, msg);
		}
		pid = rc;
		goto out;
	}
	pid = json_object_object_get_ex(r, "pid", &v) ? json_object_get_int(v) : 0;
	json_object_put(r);
	if (pid <= 0) {
		vusd_errf(err, "the spawner sent no pid");
		pid = -EPROTO;
	}
out:
	json_object_put(js);
	json_object_put(req);
	return pid;
}

int vusd_spawner_sandbox(struct vusd *d, struct vusd_err *err)
{
	struct json_object *req = json_object_new_object(), *r = NULL;
	int rc = -ENOMEM;

	if (req) {
		json_object_object_add(req, "op", json_object_new_string("sandbox"));
		rc = call(d, req, NULL, 0, &r, err);
	}
	json_object_put(r);
	json_object_put(req);
	return rc;
}

bool vusd_spawner_reaped(struct vusd *d, pid_t pid, int status)
{
	char how[64];

	if (!d->spawner_pid || pid != d->spawner_pid)
		return false;
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
	spawner_lost(d, how);
	d->spawner_pid = 0;
	return true;
}

void vusd_spawner_stop(struct vusd *d)
{
	int st;

	if (d->spawner_fd >= 0)
		close(d->spawner_fd);
	d->spawner_fd = -1;
	if (d->spawner_pid > 0) {
		kill(d->spawner_pid, SIGKILL);
		while (waitpid(d->spawner_pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	d->spawner_pid = 0;
}
