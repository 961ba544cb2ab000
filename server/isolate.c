/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Process-isolated devices, vusd's side (docs/security.md "Isolation").
 *
 * A device with "isolation": "process" is served by a child process of
 * its own: vusd binds its socket (it may be root then) and hands it
 * with one end of a socketpair to the spawner (spawner.c), a process
 * forked before any device existed, which forks the child; the child
 * (child.c), handed to vusd as its parent, keeps only that socket and
 * its end of the socketpair, creates the device, drops privileges,
 * enters the seccomp filter and runs its own loop. vusd never holds the
 * device, its client's connection or its client's memory, and the child
 * never held a copy of vusd's (the other tenants' devices).
 *
 * The socketpair carries control requests: vusd authorizes a request on
 * its control socket as for any device, then sends it to the child as
 * one JSON line with a sequence number and waits for the one-line reply
 * (the same JSON the control socket answers with). The wait is bounded
 * (VUSD_CHILD_TIMEOUT_MS) but blocks vusd's loop: a child stuck in a
 * callback costs one control request that long, and the shared devices
 * of vusd's own loop wait with it (never the other isolated devices,
 * whose clients talk to their own processes). Until the late reply
 * arrives (it carries the old sequence number and is dropped), further
 * requests to that child fail at once with EBUSY instead of waiting
 * again, so a stuck child costs vusd's loop one timeout, not one per
 * request.
 *
 * A child that ends (a crash, SIGKILL, its listener failing) is reaped
 * on SIGCHLD and logged; its device stays listed as dead, with how it
 * ended, until removed. It is not restarted: its client's connection
 * went with it and QEMU's vfio-user client does not reconnect, so a
 * fresh device behind the same socket would serve nobody.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vusd.h"

/* How long a control request waits for a child (and its start). */
#define VUSD_CHILD_TIMEOUT_MS 2000
/* The same for one device's entry in list and stats, which ask every
 * child: a stuck one shows "unresponsive" sooner. */
#define VUSD_CHILD_ENTRY_MS 250
/* Longest reply line: a 1 MiB read is 2 MiB of hex. */
#define VUSD_CHILD_LINE_MAX (4u << 20)
#define VUSD_CHILD_JSON_DEPTH 32

struct vusd_child {
	pid_t pid;
	int fd;          /* the socketpair, -1 once the child closed it */
	bool dead;       /* reaped */
	int status;      /* its wait status, once dead */
	uint64_t seq;    /* number of the last request sent */
	uint64_t late;   /* a request that timed out, its reply not yet in; 0: none */
	char *buf;       /* bytes received, not yet a whole line */
	size_t len, cap;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void channel_close(struct vusd_child *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Wait until fd is ready for events or the deadline: 0, -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_line(struct vusd_child *c, const char *s, size_t len, int64_t deadline)
{
	size_t off = 0;
	ssize_t n;
	int rc;

	while (off < len) {
		n = send(c->fd, s + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		rc = wait_fd(c->fd, POLLOUT, deadline);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One reply line, parsed; -EPIPE once the child closed its end. */
static int recv_line(struct vusd_child *c, int64_t deadline, struct json_object **out)
{
	struct json_tokener *tok;
	char *nl;
	ssize_t n;
	int rc;

	while (!(nl = c->len ? memchr(c->buf, '\n', c->len) : NULL)) {
		if (c->len == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 4096;
			char *b;

			if (cap > VUSD_CHILD_LINE_MAX)
				return -EPROTO;
			b = realloc(c->buf, cap);
			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		rc = wait_fd(c->fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
	tok = json_tokener_new_ex(VUSD_CHILD_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	*out = json_tokener_parse_ex(tok, c->buf, (int)(nl - c->buf));
	json_tokener_free(tok);
	c->len -= (size_t)(nl + 1 - c->buf);
	memmove(c->buf, nl + 1, c->len);
	return *out && json_object_is_type(*out, json_type_object) ? 0 : -EPROTO;
}

/* How the child ended, in words. */
static void ended_how(const struct vusd_child *c, char *buf, size_t len)
{
	if (!c->dead)
		snprintf(buf, len, "closed its control channel");
	else if (WIFSIGNALED(c->status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(c->status),
			 sigabbrev_np(WTERMSIG(c->status)) ? sigabbrev_np(WTERMSIG(c->status))
							    : "?");
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(c->status));
}

/* Copy the reply's members but "ok" and "seq"; or its error. */
static int take_reply(struct json_object *r, struct json_object *reply, struct vusd_err *err)
{
	struct json_object *v;

	if (json_object_object_get_ex(r, "ok", &v) && json_object_get_boolean(v)) {
		json_object_object_foreach(r, key, val) {
			if (strcmp(key, "ok") && strcmp(key, "seq"))
				json_object_object_add(reply, key, json_object_get(val));
		}
		return 0;
	}
	vusd_errf(err, "%s", json_object_object_get_ex(r, "message", &v)
				     ? json_object_get_string(v) : "the device's process failed");
	if (json_object_object_get_ex(r, "errno", &v)) {
		int e = json_object_get_int(v);

		if (e > 0 && e < 4096)
			return -e;
	}
	return -EIO;
}

static void mark_dead(struct vusd_dev *vd, int status)
{
	char how[96];

	vd->child->dead = true;
	vd->child->status = status;
	channel_close(vd->child);
	ended_how(vd->child, how, sizeof(how));
	vusd_log(VUS_LOG_ERR, "device %s: its process %d %s; its client is disconnected "
		 "and the other devices go on (remove it, docs/security.md \"Isolation\")",
		 vd->spec.name, (int)vd->child->pid, how);
}

/* The channel broke: the child is ending; reap it if it does within
 * VUSD_CHILD_REAP_MS, so the reply can say how it ended. */
#define VUSD_CHILD_REAP_MS 1000
static void reap_soon(struct vusd_dev *vd)
{
	int64_t deadline = now_ms() + VUSD_CHILD_REAP_MS;
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	int st;

	while (!vd->child->dead && now_ms() < deadline) {
		if (waitpid(vd->child->pid, &st, WNOHANG) == vd->child->pid)
			mark_dead(vd, st);
		else
			nanosleep(&ts, NULL);
	}
}

/* Read what the child has sent without waiting: a late reply clears
 * c->late. 0, or the channel's error. */
static int drain_late(struct vusd_child *c)
{
	struct json_object *r, *v;
	int rc;

	while (c->late) {
		rc = recv_line(c, now_ms(), &r);
		if (rc == -ETIMEDOUT)
			return 0;
		if (rc < 0)
			return rc;
		if (json_object_object_get_ex(r, "seq", &v) && json_object_get_uint64(v) >= c->late)
			c->late = 0;
		json_object_put(r);
	}
	return 0;
}

/* EOF, a reset, a broken line, an oversized one: the channel is done,
 * and most likely the child with it (before SIGCHLD says so). */
static int channel_broken(struct vusd_dev *vd, struct vusd_err *err)
{
	struct vusd_child *c = vd->child;
	char how[96];

	channel_close(c);
	reap_soon(vd);
	ended_how(c, how, sizeof(how));
	vusd_errf(err, "device \"%s\": its process %d %s; remove it (docs/security.md "
		  "\"Isolation\")", vd->spec.name, (int)c->pid, how);
	return -ESRCH;
}

static int child_call(struct vusd_dev *vd, struct json_object *req, struct json_object *reply,
		      int timeout_ms, struct vusd_err *err)
{
	struct vusd_child *c = vd->child;
	int64_t deadline = now_ms() + timeout_ms;
	struct json_object *fwd, *r = NULL, *v;
	char how[96];
	const char *s;
	size_t len;
	int rc;

	if (c->fd < 0) {
		ended_how(c, how, sizeof(how));
		vusd_errf(err, "device \"%s\": its process %d %s; remove it (docs/security.md "
			  "\"Isolation\")", vd->spec.name, (int)c->pid, how);
		return -ESRCH;
	}
	if (drain_late(c) < 0)
		return channel_broken(vd, err);
	if (c->late) {
		vusd_errf(err, "device \"%s\": its process %d is still busy with an earlier "
			  "request it did not answer in time (a callback still running?)",
			  vd->spec.name, (int)c->pid);
		return -EBUSY;
	}
	fwd = json_object_new_object();
	if (!fwd)
		return -ENOMEM;
	json_object_object_foreach(req, key, val) {
		if (strcmp(key, "id"))
			json_object_object_add(fwd, key, json_object_get(val));
	}
	json_object_object_add(fwd, "seq", json_object_new_uint64(++c->seq));
	s = json_object_to_json_string_length(fwd, JSON_C_TO_STRING_PLAIN, &len);
	rc = send_line(c, s, len, deadline);
	if (rc == 0)
		rc = send_line(c, "\n", 1, deadline);
	json_object_put(fwd);
	while (rc == 0) {
		rc = recv_line(c, deadline, &r);
		if (rc < 0)
			break;
		/* A reply to a request that timed out earlier: drop it. */
		if (json_object_object_get_ex(r, "seq", &v) &&
		    json_object_get_uint64(v) == c->seq)
			break;
		json_object_put(r);
		r = NULL;
	}
	if (rc == 0) {
		rc = take_reply(r, reply, err);
		json_object_put(r);
		return rc;
	}
	json_object_put(r);
	if (rc == -ETIMEDOUT) {
		c->late = c->seq;
		vusd_errf(err, "device \"%s\": its process %d did not answer within %d ms (a "
			  "callback still running?)", vd->spec.name, (int)c->pid, timeout_ms);
		return rc;
	}
	return channel_broken(vd, err);
}

static void add_state(struct vusd_dev *vd, struct json_object *o, const char *state);

int vusd_child_forward(struct vusd_dev *vd, struct json_object *req, struct json_object *reply,
		       struct vusd_err *err)
{
	struct json_object *cmd;
	bool info = json_object_object_get_ex(req, "cmd", &cmd) &&
		    strcmp(json_object_get_string(cmd), "info") == 0;
	int rc;

	if (vd->child->fd < 0 && info) {
		vusd_child_dead_info(vd, reply);
		return 0;
	}
	rc = child_call(vd, req, reply, VUSD_CHILD_TIMEOUT_MS, err);
	if (rc == 0 && info)
		add_state(vd, reply, "running");
	if (rc < 0 && info && vd->child->fd < 0) {
		/* It died just now: say how, as for one known dead. */
		vusd_child_dead_info(vd, reply);
		return 0;
	}
	return rc;
}

static void add_state(struct vusd_dev *vd, struct json_object *o, const char *state)
{
	struct vusd_child *c = vd->child;

	json_object_object_add(o, "isolation", json_object_new_string("process"));
	json_object_object_add(o, "pid", json_object_new_int(c->pid));
	json_object_object_add(o, "state", json_object_new_string(state));
	if (c->dead && WIFSIGNALED(c->status)) {
		json_object_object_add(o, "signal", json_object_new_int(WTERMSIG(c->status)));
		json_object_object_add(o, "signal_name",
				       json_object_new_string(sigabbrev_np(WTERMSIG(c->status))
							      ?: "?"));
	} else if (c->dead) {
		json_object_object_add(o, "exit_status",
				       json_object_new_int(WEXITSTATUS(c->status)));
	}
}

static struct json_object *base_entry(struct vusd_dev *vd)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(vd->spec.name));
	json_object_object_add(o, "type", json_object_new_string(vd->spec.type->name));
	if (vd->spec.socket)
		json_object_object_add(o, "socket", json_object_new_string(vd->spec.socket));
	else
		json_object_object_add(o, "fd", json_object_new_int(vd->spec.fd));
	json_object_object_add(o, "attached", json_object_new_boolean(0));
	return o;
}

/* The child's answer to req, one device's object from its "devices". */
struct json_object *vusd_child_device_obj(struct vusd_dev *vd, struct json_object *req)
{
	struct json_object *reply = json_object_new_object(), *arr, *o = NULL;
	struct vusd_err err;
	const char *state = "dead";

	if (!reply)
		return NULL;
	if (vd->child->fd >= 0) {
		state = "unresponsive";
		if (child_call(vd, req, reply, VUSD_CHILD_ENTRY_MS, &err) == 0 &&
		    json_object_object_get_ex(reply, "devices", &arr) &&
		    json_object_array_length(arr) == 1) {
			o = json_object_get(json_object_array_get_idx(arr, 0));
			state = "running";
		}
	}
	json_object_put(reply);
	if (!o)
		o = base_entry(vd);
	if (o)
		add_state(vd, o, state);
	return o;
}

struct json_object *vusd_child_entry(struct vusd_dev *vd)
{
	struct json_object *req = json_object_new_object(), *o;

	if (!req)
		return NULL;
	json_object_object_add(req, "cmd", json_object_new_string("list"));
	o = vusd_child_device_obj(vd, req);
	json_object_put(req);
	return o;
}

bool vusd_child_attached(struct vusd_dev *vd)
{
	struct json_object *o = vusd_child_entry(vd), *v;
	bool attached = !o;

	/* A process that cannot say may have a client: only force removes it. */
	if (o && json_object_object_get_ex(o, "state", &v))
		attached = strcmp(json_object_get_string(v), "unresponsive") == 0;
	if (o && json_object_object_get_ex(o, "attached", &v) && json_object_get_boolean(v))
		attached = true;
	json_object_put(o);
	return attached;
}

void vusd_child_dead_info(struct vusd_dev *vd, struct json_object *reply)
{
	struct json_object *o = base_entry(vd);

	if (!o)
		return;
	add_state(vd, o, vd->child->dead ? "dead" : "unresponsive");
	json_object_object_foreach(o, key, val)
		json_object_object_add(reply, key, json_object_get(val));
	json_object_put(o);
}

bool vusd_child_dead(const struct vusd_dev *vd)
{
	return vd->child && vd->child->fd < 0;
}

int vusd_child_spawn(struct vusd *d, struct vusd_dev *vd, int listen_fd, struct vusd_err *err)
{
	struct vusd_child *c = calloc(1, sizeof(*c));
	struct json_object *r = NULL, *reply;
	int sv[2], rc;
	pid_t pid;

	if (!c || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = c ? -errno : -ENOMEM;
		vusd_errf(err, "device %s: cannot make its control channel: %s", vd->spec.name,
			  strerror(-rc));
		free(c);
		close(listen_fd);
		return rc;
	}
	/* Forked by the spawner (spawner.c), which holds nothing of any
	 * tenant; the child is vusd's all the same. */
	pid = vusd_spawner_spawn(d, &vd->spec, listen_fd, sv[1], err);
	close(sv[1]);
	close(listen_fd); /* the child's now */
	if (pid < 0) {
		close(sv[0]);
		free(c);
		return (int)pid;
	}
	c->pid = pid;
	c->fd = sv[0];
	vd->child = c;
	/* The child's first line says it serves, or why it cannot. */
	rc = recv_line(c, now_ms() + VUSD_CHILD_TIMEOUT_MS, &r);
	if (rc == 0) {
		reply = json_object_new_object();
		rc = reply ? take_reply(r, reply, err) : -ENOMEM;
		json_object_put(reply);
	} else {
		vusd_errf(err, "device %s: its process %d did not start: %s", vd->spec.name,
			  (int)pid, rc == -EPIPE ? "it ended" : strerror(-rc));
	}
	json_object_put(r);
	if (rc < 0) {
		vusd_child_free(vd);
		return rc;
	}
	vusd_log(VUS_LOG_INFO, "device %s: isolated in process %d", vd->spec.name, (int)pid);
	return 0;
}

void vusd_children_reap(struct vusd *d)
{
	struct vusd_dev *vd;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (vusd_spawner_reaped(d, pid, st))
			continue;
		for (vd = d->devs; vd && !(vd->child && vd->child->pid == pid); vd = vd->next)
			;
		if (vd)
			mark_dead(vd, st);
	}
}

void vusd_child_free(struct vusd_dev *vd)
{
	struct vusd_child *c = vd->child;
	int st;

	if (!c)
		return;
	channel_close(c);
	/* Nothing in it to save: its client goes as with a shared device. */
	if (!c->dead) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	free(c->buf);
	free(c);
	vd->child = NULL;
}
