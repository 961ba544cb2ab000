/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket (docs/control.md): AF_UNIX stream, one JSON object
 * per line each way. A connection may send any number of requests; each
 * gets exactly one reply line, in order.
 *
 * Every connection is a libevent bufferevent on the loop thread, so a
 * request runs between two device messages, never during one, and a slow
 * or silent peer never blocks the loop: input is bounded (a line longer
 * than VUSD_CTL_LINE_MAX is refused and the connection closed), and once
 * more than VUSD_CTL_OUT_HIGH bytes of replies wait unsent the connection
 * is not read until they drain.
 */
#define _GNU_SOURCE /* strerrorname_np */
#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vus/socket.h>

#include "vusd.h"

#define VUSD_CTL_LINE_MAX (64u * 1024u)
#define VUSD_CTL_OUT_HIGH (4u * 1024u * 1024u)
#define VUSD_CTL_MAX_CONNS 64
#define VUSD_CTL_JSON_DEPTH 16
#define VUSD_CTL_ACCEPTS_PER_CALL 16
/* Out of fds: stop accepting for a while instead of spinning on EMFILE. */
#define VUSD_CTL_BACKOFF_MS 100

struct ctl_conn {
	struct ctl_conn *next;
	struct vusd_control *ctl;
	struct bufferevent *bev;
	struct vusd_peer peer; /* who connected (control_auth.c) */
	bool closing;  /* last reply queued: close once it is sent */
	bool paused;   /* too many replies unsent: not reading */
};

struct vusd_control {
	struct vusd *d;
	char *path;
	struct event *ev;
	struct event *backoff; /* out of fds: the listener unwatched until it fires */
	int fd;
	struct ctl_conn *conns;
	unsigned nr_conns;
};

static void conn_free(struct ctl_conn *c)
{
	struct vusd_control *ctl = c->ctl;
	struct ctl_conn **p;

	for (p = &ctl->conns; *p && *p != c; p = &(*p)->next)
		;
	if (*p) {
		*p = c->next;
		ctl->nr_conns--;
	}
	bufferevent_free(c->bev); /* BEV_OPT_CLOSE_ON_FREE: closes the socket */
	free(c);
}

static void send_json(struct ctl_conn *c, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (evbuffer_add(out, s, len) < 0 || evbuffer_add(out, "\n", 1) < 0) {
		/* No memory for the reply: the peer would wait forever. */
		vusd_log(VUS_LOG_WARN, "control: cannot queue a reply, closing the connection");
		c->closing = true;
	}
}

static struct json_object *error_reply(int rc, const char *msg)
{
	struct json_object *o = json_object_new_object();
	const char *name = strerrorname_np(-rc);

	if (!o)
		return NULL;
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "errno", json_object_new_int(-rc));
	json_object_object_add(o, "error", json_object_new_string(name ? name : "?"));
	json_object_object_add(o, "message", json_object_new_string(msg[0] ? msg
									    : strerror(-rc)));
	return o;
}

/* Say why and close after the reply (the stream cannot go on). */
static void fail_conn(struct ctl_conn *c, int rc, const char *msg)
{
	struct json_object *o = error_reply(rc, msg);

	if (o) {
		send_json(c, o);
		json_object_put(o);
	}
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
}

static int parse_request(const char *line, size_t len, struct json_object **out,
			 struct vusd_err *err)
{
	struct json_tokener *tok = json_tokener_new_ex(VUSD_CTL_JSON_DEPTH);
	struct json_object *obj;
	size_t end;

	if (!tok) {
		vusd_errf(err, "out of memory");
		return -ENOMEM;
	}
	obj = json_tokener_parse_ex(tok, line, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!obj) {
		vusd_errf(err, "request: JSON syntax error: %s",
			  json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	end += strspn(line + end, " \t\r");
	if (end < len || !json_object_is_type(obj, json_type_object)) {
		vusd_errf(err, "request: expected one JSON object per line");
		json_object_put(obj);
		return -EINVAL;
	}
	*out = obj;
	return 0;
}

static void handle_line(struct ctl_conn *c, const char *line, size_t len)
{
	struct json_object *req = NULL, *reply, *id = NULL;
	struct vusd_err err = { "" };
	int rc;

	reply = json_object_new_object();
	if (!reply) {
		fail_conn(c, -ENOMEM, "out of memory");
		return;
	}
	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	rc = parse_request(line, len, &req, &err);
	if (rc == 0) {
		/* Echoed so a script can match replies to requests. */
		if (json_object_object_get_ex(req, "id", &id))
			json_object_object_add(reply, "id", json_object_get(id));
		rc = vusd_ctl_authorize(&c->peer, req, &err);
		if (rc == 0) {
			c->ctl->d->peer = &c->peer;
			/* An upgrade answers from the next image, on this fd. */
			c->ctl->d->req_fd = bufferevent_getfd(c->bev);
			c->ctl->d->req_id = id;
			rc = vusd_control_dispatch(c->ctl->d, req, reply, &err);
			c->ctl->d->peer = NULL;
			c->ctl->d->req_fd = -1;
			c->ctl->d->req_id = NULL;
		}
	}
	if (rc < 0) {
		json_object_put(reply);
		reply = error_reply(rc, err.msg);
		if (reply && id)
			json_object_object_add(reply, "id", json_object_get(id));
	}
	if (reply)
		send_json(c, reply);
	else
		c->closing = true;
	json_object_put(reply);
	json_object_put(req);
}

/*
 * Requests start with '{'. Anything else -- most likely a vfio-user
 * client such as `vusctl info` pointed at this socket -- is answered once
 * and the connection closed, rather than waiting for a newline that may
 * never come.
 */
static bool skip_blank_expect_object(struct evbuffer *in)
{
	unsigned char *p;

	while (evbuffer_get_length(in)) {
		p = evbuffer_pullup(in, 1);
		if (!p)
			return false;
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return *p == '{';
		evbuffer_drain(in, 1);
	}
	return true;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	while (!c->closing && !c->paused) {
		if (!skip_blank_expect_object(in)) {
			fail_conn(c, -EPROTO, "not a control request: expected one JSON object "
				  "per line (is this a vfio-user client on vusd's control socket?)");
			break;
		}
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
		if (!line) {
			if (evbuffer_get_length(in) >= VUSD_CTL_LINE_MAX)
				fail_conn(c, -E2BIG, "request line too long");
			break;
		}
		handle_line(c, line, len);
		free(line);
		if (evbuffer_get_length(bufferevent_get_output(bev)) > VUSD_CTL_OUT_HIGH) {
			c->paused = true;
			bufferevent_disable(bev, EV_READ);
		}
	}
	/* Closing with nothing left to send: no write callback will come. */
	if (c->closing && !evbuffer_get_length(bufferevent_get_output(bev)))
		conn_free(c);
}

/* Runs when all queued output was written (write low watermark 0). */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;

	if (c->closing) {
		conn_free(c);
		return;
	}
	if (c->paused) {
		c->paused = false;
		bufferevent_enable(bev, EV_READ);
		on_read(bev, c);
	}
}

/*
 * At EOF a last request may lack its newline (`printf '{"cmd":"list"}' |
 * socat - UNIX:ctl.sock`, a script's echo -n): the end of the stream ends
 * the line, so it is answered like any other.
 */
static void last_line(struct ctl_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len;
	char *line;

	if (c->closing || c->paused || !skip_blank_expect_object(in) ||
	    !(len = evbuffer_get_length(in)))
		return; /* nothing left, or on_read already refused it */
	line = malloc(len + 1);
	if (!line) {
		fail_conn(c, -ENOMEM, "out of memory");
		return;
	}
	evbuffer_remove(in, line, len);
	line[len] = '\0';
	handle_line(c, line, len);
	free(line);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *c = arg;

	/* A peer that shut down its sending side after its requests (as
	 * `socat` and vusctl do) still reads the replies: send them, then
	 * close. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		/* Whole lines were handled as they came (on_read). */
		last_line(c);
		if (evbuffer_get_length(bufferevent_get_output(bev))) {
			c->closing = true;
			return;
		}
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(c);
}

static void conn_new(struct vusd_control *ctl, int fd)
{
	struct ctl_conn *c;

	if (ctl->nr_conns >= VUSD_CTL_MAX_CONNS) {
		vusd_log(VUS_LOG_WARN, "control: %d connections open, refusing another",
			 VUSD_CTL_MAX_CONNS);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	if (vusd_peer_identify(fd, &ctl->d->policy, &c->peer) < 0) {
		vusd_log(VUS_LOG_WARN, "control: peer credentials: %s", strerror(errno));
		close(fd);
		free(c);
		return;
	}
	c->ctl = ctl;
	c->bev = bufferevent_socket_new(ctl->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	/* Input beyond one maximal line is left in the kernel. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, VUSD_CTL_LINE_MAX);
	if (bufferevent_enable(c->bev, EV_READ) < 0) {
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->nr_conns++;
}

/* Backoff over: the listener is watched again. */
static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
	struct vusd_control *ctl = arg;

	event_add(ctl->ev, NULL);
	ctl->d->lev_timeout_ms = -1;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct vusd_control *ctl = arg;
	const struct timeval backoff = { 0, VUSD_CTL_BACKOFF_MS * 1000 };
	int i, fd, rc;

	for (i = 0; i < VUSD_CTL_ACCEPTS_PER_CALL; i++) {
		rc = vus_accept(ctl->fd, &fd);
		if (rc == -EAGAIN)
			return;
		if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
			vusd_log(VUS_LOG_WARN, "control: accept: %s", strerror(-rc));
			/* The pending connection keeps the listener readable:
			 * unwatched, or this would run again at once (a busy
			 * loop and a log line each time). */
			event_del(ctl->ev);
			evtimer_add(ctl->backoff, &backoff);
			/* vusd's loop waits outside libevent: it must wake
			 * for the timer (devloop.c). */
			ctl->d->lev_timeout_ms = VUSD_CTL_BACKOFF_MS;
			return;
		}
		if (rc < 0) {
			vusd_log(VUS_LOG_WARN, "control: accept: %s", strerror(-rc));
			return;
		}
		conn_new(ctl, fd);
	}
}

static int control_open(struct vusd *d, const char *path, unsigned mode, int fd,
			struct vusd_err *err)
{
	struct vusd_control *ctl;
	int rc;

	ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		vusd_errf(err, "out of memory");
		return -ENOMEM;
	}
	ctl->d = d;
	rc = fd >= 0 ? 0 : vus_listen_path(path, mode, &ctl->fd);
	if (fd >= 0)
		ctl->fd = fd;
	if (rc < 0) {
		if (rc == -EADDRINUSE)
			vusd_errf(err, "control socket %s: another server is listening there",
				  path);
		else if (rc == -EEXIST)
			vusd_errf(err, "control socket %s: it exists and is not a socket (a "
				  "symlink or another file); refusing to replace it", path);
		else
			vusd_errf(err, "control socket %s: %s", path, strerror(-rc));
		goto err_free;
	}
	ctl->ev = event_new(d->base, ctl->fd, EV_READ | EV_PERSIST, on_accept, ctl);
	ctl->backoff = evtimer_new(d->base, on_backoff, ctl);
	if (!ctl->ev || !ctl->backoff || event_add(ctl->ev, NULL) < 0) {
		vusd_errf(err, "control socket %s: cannot watch it", path);
		rc = -ENOMEM;
		goto err_fd;
	}
	d->ctl = ctl;
	d->ctl_fd = ctl->fd;
	d->ctl_path = ctl->path;
	vusd_log(VUS_LOG_INFO, "control socket on %s%s", path, fd >= 0 ? " (inherited)" : "");
	return 0;

err_fd:
	if (ctl->ev)
		event_free(ctl->ev);
	if (ctl->backoff)
		event_free(ctl->backoff);
	unlink(path);
	close(ctl->fd);
err_free:
	free(ctl->path);
	free(ctl);
	return rc;
}

void vusd_control_close(struct vusd *d)
{
	struct vusd_control *ctl = d->ctl;

	if (!ctl)
		return;
	while (ctl->conns)
		conn_free(ctl->conns);
	event_free(ctl->ev);
	event_free(ctl->backoff);
	d->lev_timeout_ms = -1;
	/* Unlink first: nobody reaches a closed listener through the path,
	 * and a server that binds it meanwhile is not ours to remove. */
	unlink(ctl->path);
	close(ctl->fd);
	free(ctl->path);
	free(ctl);
	d->ctl = NULL;
	d->ctl_fd = -1;
	d->ctl_path = NULL;
}

int vusd_control_open(struct vusd *d, const char *path, unsigned mode, struct vusd_err *err)
{
	return control_open(d, path, mode, -1, err);
}

int vusd_control_adopt(struct vusd *d, const char *path, int fd, struct vusd_err *err)
{
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		vusd_errf(err, "control socket %s: inherited fd %d: %s", path, fd,
			  strerror(errno));
		return -errno;
	}
	return control_open(d, path, 0, fd, err);
}

