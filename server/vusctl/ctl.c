/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Commands through vusd's control socket (docs/control.md): one JSON
 * request line, one JSON reply line. Device commands name the device;
 * vusd runs them on its loop thread, so they work while a VMM holds the
 * device's own socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vus/client.h>
#include <vus/proto.h>

#include "vusctl.h"

/* vusd caps a read at 1 MiB: 2 MiB of hex plus the JSON around it. */
#define CTL_REPLY_MAX (4u << 20)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ctl_connect(const struct vusctl *v, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = v->control;
	struct stat st;
	int fd, e;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "vusctl: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT ? " (is vusd running with --control?)" : "");
		return VUSCTL_NO_SERVER;
	}
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "vusctl: %s is not a socket\n", path);
		return VUSCTL_NOT_VUS;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vusctl: %s: path too long for a socket\n", path);
		return VUSCTL_USAGE;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "vusctl: %s: %s%s\n", path, strerror(e),
			e == ECONNREFUSED ? " (a stale socket file of a vusd that exited?)" : "");
		return VUSCTL_NO_SERVER;
	}
	*out = fd;
	return VUSCTL_OK;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to the first newline; *line malloc'ed, NUL-terminated. */
static int recv_line(int fd, int timeout_ms, char **line)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nl;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int rc;

	while (buf) {
		int64_t left = deadline - now_ms();

		rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			free(buf);
			return rc == 0 ? -ETIMEDOUT : -errno;
		}
		if (cap - len < 2048) {
			char *grown = cap < CTL_REPLY_MAX ? realloc(buf, cap * 2) : NULL;

			if (!grown) {
				free(buf);
				return -E2BIG;
			}
			buf = grown;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n == 0 ? -ECONNRESET : -errno;
		}
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			*line = buf;
			return 0;
		}
	}
	return -ENOMEM;
}

static int reply_error(const struct vusctl *v, struct json_object *reply)
{
	struct json_object *msg, *no;
	int e = 0;

	if (json_object_object_get_ex(reply, "errno", &no))
		e = json_object_get_int(no);
	if (v->json) {
		vusctl_print_json(reply);
	} else {
		json_object_object_get_ex(reply, "message", &msg);
		fprintf(stderr, "vusctl: %s\n", msg ? json_object_get_string(msg) : "failed");
	}
	/* EBUSY: a client is attached -- the same condition as a busy socket. */
	return e == EBUSY ? VUSCTL_BUSY : VUSCTL_FAILED;
}

/*
 * No reply line: say what the socket is if that can be told. A vfio-user
 * device socket answers VERSION (vusctl then is its client for a moment,
 * so only on this error path): the user meant `vusctl CMD SOCKET`.
 */
static int not_control(const struct vusctl *v, int rc)
{
	struct vus_client_opts opts = { .timeout_ms = 1000 };
	struct vus_client *c;

	if (rc != -ETIMEDOUT && vus_client_connect(v->control, &opts, &c) == 0) {
		vus_client_close(c);
		fprintf(stderr, "vusctl: %s is a device's vfio-user socket, not vusd's control "
			"socket: give it without --control (vusctl info %s), or give --control "
			"the path of vusd's --control option\n", v->control, v->control);
		return VUSCTL_NOT_VUS;
	}
	fprintf(stderr, "vusctl: %s: %s: is it vusd's control socket?\n", v->control,
		rc == -ECONNRESET ? "closed without a reply" : strerror(-rc));
	return VUSCTL_NOT_VUS;
}

/* Send req (consumed), wait for the reply; *reply without "ok". */
static int call(const struct vusctl *v, struct json_object *req, struct json_object **reply)
{
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	struct json_object *r, *ok;
	char *line = NULL;
	int fd, rc;

	rc = ctl_connect(v, &fd);
	if (rc != VUSCTL_OK) {
		json_object_put(req);
		return rc;
	}
	rc = send_all(fd, text, strlen(text));
	if (rc == 0)
		rc = send_all(fd, "\n", 1);
	json_object_put(req);
	/* One request per connection: say so. vusd answers and closes; any
	 * other server (a device's vfio-user socket, which would wait for the
	 * rest of a "header") sees the end at once instead of a time-out. */
	if (rc == 0 && shutdown(fd, SHUT_WR) < 0)
		rc = -errno;
	if (rc == 0)
		rc = recv_line(fd, v->timeout_ms, &line);
	close(fd);
	if (rc < 0)
		return not_control(v, rc);
	r = json_tokener_parse(line);
	free(line);
	if (!r || !json_object_object_get_ex(r, "ok", &ok)) {
		json_object_put(r);
		fprintf(stderr, "vusctl: %s: the reply is not vusd's JSON: is it vusd's control "
			"socket?\n", v->control);
		return VUSCTL_NOT_VUS;
	}
	if (!json_object_get_boolean(ok)) {
		rc = reply_error(v, r);
		json_object_put(r);
		return rc;
	}
	json_object_object_del(r, "ok");
	*reply = r;
	return VUSCTL_OK;
}

int vusctl_ctl_call(const struct vusctl *v, struct json_object *req,
		    struct json_object **reply)
{
	return call(v, req, reply);
}

static struct json_object *request(const char *cmd)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "cmd", json_object_new_string(cmd));
	return o;
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

/* Run req and print the reply with printer (or as JSON). */
static int simple(const struct vusctl *v, struct json_object *req,
		  void (*printer)(struct json_object *))
{
	struct json_object *reply;
	int rc;

	if (!req)
		return VUSCTL_FAILED;
	rc = call(v, req, &reply);
	if (rc != VUSCTL_OK)
		return rc;
	if (v->json)
		vusctl_print_json(reply);
	else if (printer)
		printer(reply);
	json_object_put(reply);
	return VUSCTL_OK;
}

/* ---- commands ------------------------------------------------------- */

static void print_level(struct json_object *reply)
{
	struct json_object *l;

	if (json_object_object_get_ex(reply, "level", &l))
		printf("%s\n", json_object_get_string(l));
}

static int cmd_named(const struct vusctl *v, int argc, char **argv, const char *allowed,
		     void (*printer)(struct json_object *))
{
	struct json_object *req;
	struct vusctl_args a;
	int rc;

	if ((rc = vusctl_args(argc, argv, argv[0], allowed, 1, 1, &a)) >= 0)
		return rc;
	req = request(argv[0]);
	if (!req)
		return VUSCTL_FAILED;
	add_str(req, "name", a.pos[0]);
	if (a.force)
		json_object_object_add(req, "force", json_object_new_boolean(1));
	return simple(v, req, printer);
}

/* COMMAND [ARG]: ARG becomes the request's key (no ARG at all if key is NULL). */
static int cmd_optional_arg(const struct vusctl *v, int argc, char **argv, const char *key,
			    void (*printer)(struct json_object *))
{
	struct json_object *req;
	struct vusctl_args a;
	int rc;

	if ((rc = vusctl_args(argc, argv, argv[0], "", 0, key ? 1 : 0, &a)) >= 0)
		return rc;
	req = request(argv[0]);
	if (req && a.npos)
		add_str(req, key, a.pos[0]);
	return simple(v, req, printer);
}

static int cmd_add(const struct vusctl *v, int argc, char **argv)
{
	struct json_object *req;
	struct vusctl_args a;
	int rc;

	if ((rc = vusctl_args(argc, argv, "add", "", 1, 1, &a)) >= 0)
		return rc;
	req = request("add");
	if (!req)
		return VUSCTL_FAILED;
	add_str(req, "spec", a.pos[0]);
	return simple(v, req, NULL);
}

static int cmd_config(const struct vusctl *v, int argc, char **argv)
{
	struct json_object *req, *reply, *data, *out;
	struct vusctl_args a;
	uint8_t *cfg;
	size_t len;
	int rc;

	if ((rc = vusctl_args(argc, argv, "config", "H", 1, 1, &a)) >= 0)
		return rc;
	req = request("config");
	if (!req)
		return VUSCTL_FAILED;
	add_str(req, "name", a.pos[0]);
	if ((rc = call(v, req, &reply)) != VUSCTL_OK)
		return rc;
	if (!json_object_object_get_ex(reply, "data", &data) ||
	    vusctl_hex_decode(json_object_get_string(data), &cfg, &len) < 0) {
		json_object_put(reply);
		fprintf(stderr, "vusctl: config: malformed reply from vusd\n");
		return VUSCTL_NOT_VUS;
	}
	json_object_put(reply);
	if (a.header && len > 64)
		len = 64;
	if (v->json) {
		out = vusctl_data_json(VUS_PCI_CONFIG_REGION, 0, cfg, len);
		vusctl_print_json(out);
		json_object_put(out);
	} else {
		vusctl_print_config(a.pos[0], cfg, len);
	}
	free(cfg);
	return VUSCTL_OK;
}

/* REGION OFFSET after NAME, into req. */
static int add_where(struct json_object *req, const char *cmd, char **pos, uint32_t *region,
		     uint64_t *offset)
{
	if (!vusctl_parse_region(pos[0], region))
		return vusctl_usage_error(cmd, "'%s' is not a region (0-99, bar0-bar5, rom, "
					  "config, vga)", pos[0]);
	if (!vusctl_parse_u64(pos[1], offset))
		return vusctl_usage_error(cmd, "'%s' is not an offset", pos[1]);
	json_object_object_add(req, "region", json_object_new_int((int)*region));
	json_object_object_add(req, "offset", json_object_new_uint64(*offset));
	return -1;
}

static int cmd_read(const struct vusctl *v, int argc, char **argv)
{
	struct json_object *req, *reply, *data, *out;
	struct vusctl_args a;
	uint64_t offset;
	uint32_t region;
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = vusctl_args(argc, argv, "read", "lf", 3, 3, &a)) >= 0)
		return rc;
	req = request("read");
	if (!req)
		return VUSCTL_FAILED;
	add_str(req, "name", a.pos[0]);
	if (a.force)
		json_object_object_add(req, "force", json_object_new_boolean(1));
	if ((rc = add_where(req, "read", a.pos + 1, &region, &offset)) >= 0) {
		json_object_put(req);
		return rc;
	}
	json_object_object_add(req, "len", json_object_new_uint64(a.len_set ? a.len : 4));
	if ((rc = call(v, req, &reply)) != VUSCTL_OK)
		return rc;
	if (!json_object_object_get_ex(reply, "data", &data) ||
	    vusctl_hex_decode(json_object_get_string(data), &buf, &len) < 0) {
		json_object_put(reply);
		fprintf(stderr, "vusctl: read: malformed reply from vusd\n");
		return VUSCTL_NOT_VUS;
	}
	json_object_put(reply);
	if (v->json) {
		out = vusctl_data_json(region, offset, buf, len);
		vusctl_print_json(out);
		json_object_put(out);
	} else {
		vusctl_print_data(offset, buf, len);
	}
	free(buf);
	return VUSCTL_OK;
}

static int cmd_write(const struct vusctl *v, int argc, char **argv)
{
	struct json_object *req;
	struct vusctl_args a;
	uint64_t offset;
	uint32_t region;
	uint8_t *buf;
	char *hex;
	size_t len, i;
	int rc;

	if ((rc = vusctl_args(argc, argv, "write", "wxf", 4, 4, &a)) >= 0)
		return rc;
	req = request("write");
	if (!req)
		return VUSCTL_FAILED;
	add_str(req, "name", a.pos[0]);
	if ((rc = add_where(req, "write", a.pos + 1, &region, &offset)) >= 0 ||
	    (rc = vusctl_write_bytes(&a, a.pos[3], &buf, &len)) >= 0) {
		json_object_put(req);
		return rc;
	}
	hex = malloc(2 * len + 1);
	if (!hex) {
		free(buf);
		json_object_put(req);
		return VUSCTL_FAILED;
	}
	for (i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", buf[i]);
	free(buf);
	add_str(req, "data", hex);
	free(hex);
	if (a.force)
		json_object_object_add(req, "force", json_object_new_boolean(1));
	return simple(v, req, NULL);
}

static int cmd_irqs(const struct vusctl *v, int argc, char **argv)
{
	struct vusctl_args a;
	int rc;

	if ((rc = vusctl_args(argc, argv, "irqs", "Wn", 1, 1, &a)) >= 0)
		return rc;
	if (a.watch)
		return vusctl_usage_error("irqs", "--watch needs the device's own socket (the "
					  "eventfds come from its vfio-user client): run it "
					  "without --control, on SOCKET");
	argv[0] = "info";
	return cmd_named(v, argc, argv, "", vusctl_print_irqs);
}

/* TYPE NAME ARG...: the device type's own command. */
static int cmd_device(const struct vusctl *v, int argc, char **argv)
{
	struct json_object *req, *args;
	int i;

	if (argc < 3)
		return vusctl_usage_error(argv[0], "expected %s NAME ARG... (or an unknown "
					  "command)", argv[0]);
	req = request("device");
	args = json_object_new_array();
	if (!req || !args) {
		json_object_put(req);
		json_object_put(args);
		return VUSCTL_FAILED;
	}
	add_str(req, "type", argv[0]);
	add_str(req, "name", argv[1]);
	for (i = 2; i < argc; i++)
		json_object_array_add(args, json_object_new_string(argv[i]));
	json_object_object_add(req, "args", args);
	if (!v->json) {
		struct json_object *reply, *result;
		int rc = call(v, req, &reply);

		if (rc != VUSCTL_OK)
			return rc;
		if (json_object_object_get_ex(reply, "result", &result))
			vusctl_print_members(result);
		json_object_put(reply);
		return VUSCTL_OK;
	}
	return simple(v, req, NULL);
}

#define VUSCTL_UPGRADE_TIMEOUT_MS 60000

/* upgrade's report: the pause, whole and per device (docs/live-update.md). */
static void print_upgrade(struct json_object *reply)
{
	struct json_object *devs, *o;
	size_t i;

	if (json_object_object_get_ex(reply, "pid", &o))
		printf("upgraded: pid %d\n", json_object_get_int(o));
	if (json_object_object_get_ex(reply, "pause_us", &o))
		printf("pause: %.3f ms\n", (double)json_object_get_int64(o) / 1000.0);
	if (json_object_object_get_ex(reply, "save_us", &o)) {
		struct json_object *dr = NULL, *ex = NULL;

		json_object_object_get_ex(reply, "dry_run_us", &dr);
		json_object_object_get_ex(reply, "exec_us", &ex);
		printf("  (save %.3f ms, dry run %.3f ms, exec and take-over %.3f ms)\n",
		       (double)json_object_get_int64(o) / 1000.0,
		       (double)json_object_get_int64(dr) / 1000.0,
		       (double)json_object_get_int64(ex) / 1000.0);
	}
	if (!json_object_object_get_ex(reply, "devices", &devs))
		return;
	for (i = 0; i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i), *n, *p;

		if (json_object_object_get_ex(d, "name", &n) &&
		    json_object_object_get_ex(d, "pause_us", &p))
			printf("  %s: %.3f ms\n", json_object_get_string(n),
			       (double)json_object_get_int64(p) / 1000.0);
	}
}

int vusctl_ctl(const struct vusctl *v, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (strcmp(cmd, "list") == 0)
		return cmd_optional_arg(v, argc, argv, NULL, vusctl_print_list);
	if (strcmp(cmd, "types") == 0)
		return cmd_optional_arg(v, argc, argv, NULL, vusctl_print_types);
	if (strcmp(cmd, "stats") == 0)
		return cmd_optional_arg(v, argc, argv, "name", vusctl_print_stats);
	if (strcmp(cmd, "log-level") == 0)
		return cmd_optional_arg(v, argc, argv, "level", print_level);
	if (strcmp(cmd, "add") == 0)
		return cmd_add(v, argc, argv);
	if (strcmp(cmd, "remove") == 0)
		return cmd_named(v, argc, argv, "f", NULL);
	if (strcmp(cmd, "info") == 0)
		return cmd_named(v, argc, argv, "", vusctl_print_info);
	if (strcmp(cmd, "reset") == 0)
		return cmd_named(v, argc, argv, "f", NULL);
	if (strcmp(cmd, "config") == 0)
		return cmd_config(v, argc, argv);
	if (strcmp(cmd, "read") == 0)
		return cmd_read(v, argc, argv);
	if (strcmp(cmd, "write") == 0)
		return cmd_write(v, argc, argv);
	if (strcmp(cmd, "irqs") == 0)
		return cmd_irqs(v, argc, argv);
	if (strcmp(cmd, "upgrade") == 0) {
		/* The reply comes once the new image serves: the dry run and
		 * the saves grow with the devices' state (vusd gives the dry
		 * run 30 s; docs/live-update.md). */
		struct vusctl up = *v;

		if (!up.timeout_set)
			up.timeout_ms = VUSCTL_UPGRADE_TIMEOUT_MS;
		return cmd_optional_arg(&up, argc, argv, "binary", print_upgrade);
	}
	return cmd_device(v, argc, argv);
}
