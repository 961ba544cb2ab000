/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd's control socket (docs/control.md), driven with raw JSON lines
 * next to the client library: list, add and remove at run time, stats,
 * log level, local region access while a client is attached (and the
 * interrupt it raises reaching that client's eventfd), a second client
 * refused while the first keeps working, malformed requests, and 1000
 * connect/disconnect cycles with no fd growth in vusd (/proc/PID/fd).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <vus/client.h>

#include "clock.h"
#include "efd.h"
#include "fdcount.h"
#include "test_server.h"
#include "testdev.h"
#include "vus_test.h"
#include "vusd_proc.h"

static char vusd_path[4096];
static char tmpdir[] = "/tmp/vus-test-vusdctl-XXXXXX";
static char sock0[100];
static struct vusd_proc V = { .pid = -1 };

/* A connection of its own (5 s for vusd to start listening). */
static int ctl_connect(void)
{
	int fd = vusd_proc_ctl_connect(&V, 5000);

	if (fd < 0)
		fail_msg("cannot connect to %s: %s", V.ctl, strerror(-fd));
	return fd;
}

/* Read one reply line from fd (5 s at most). */
static struct json_object *recv_reply(int fd)
{
	static char buf[1 << 16];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1) {
		ASSERT_EQ(poll(&pfd, 1, 5000), 1);
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return NULL;
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len))
			return json_tokener_parse(buf);
	}
	fail_msg("reply too long");
	return NULL;
}

/* Everything until EOF (5 s at most); the length. */
static ssize_t recv_all(int fd, char *buf, size_t cap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	for (;;) {
		ASSERT_EQ(poll(&pfd, 1, 5000), 1);
		n = recv(fd, buf + len, cap - 1 - len, 0);
		ASSERT_NONNEG(n);
		if (n == 0)
			break;
		len += (size_t)n;
		assert_true(len < cap - 1);
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Send one request line (printf format) on a new connection. */
static struct json_object *request(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct json_object *request(const char *fmt, ...)
{
	static char reply[1 << 16];
	char line[8192], why[160];
	struct json_object *r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (vusd_proc_request(&V, line, 5000, reply, sizeof(reply), why, sizeof(why)) < 0)
		fail_msg("%s: %s", line, why);
	r = json_tokener_parse(reply);
	assert_non_null(r);
	return r;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no key %s in %s", key, json_object_to_json_string(o));
	return v;
}

static void assert_ok(struct json_object *r)
{
	if (!json_object_get_boolean(get(r, "ok")))
		fail_msg("request failed: %s", json_object_to_json_string(r));
}

/* An error reply with this errno whose message contains part. */
static void assert_error(struct json_object *r, int e, const char *part)
{
	if (json_object_get_boolean(get(r, "ok")) || json_object_get_int(get(r, "errno")) != e ||
	    !strstr(json_object_get_string(get(r, "message")), part))
		fail_msg("expected errno %d and '%s', got %s", e, part,
			 json_object_to_json_string(r));
}

/*
 * vusd closes a connection when its loop sees the EOF, a moment after the
 * peer's close(): count once the number holds still (and, with want >= 0,
 * has come back to want), within 2 s.
 */
static int settled_fds(pid_t pid, int want)
{
	int i, n = fdcount_pid(pid), m;

	for (i = 0; i < 100; i++) {
		test_sleep_ms(20);
		m = fdcount_pid(pid);
		if (m == n && (want < 0 || m == want))
			return m;
		n = m;
	}
	return n;
}

/* The device's session count: the library ends a session on the loop
 * thread after it sees EOF, so wait until vusd saw the last one go. */
static void wait_detached(const char *name)
{
	int i;

	for (i = 0; i < 500; i++) {
		struct json_object *r = request("{\"cmd\":\"list\"}");
		struct json_object *devs = get(r, "devices");
		bool attached = false;
		size_t k;

		for (k = 0; k < json_object_array_length(devs); k++) {
			struct json_object *d = json_object_array_get_idx(devs, k);

			if (!strcmp(json_object_get_string(get(d, "name")), name))
				attached = json_object_get_boolean(get(d, "attached"));
		}
		json_object_put(r);
		if (!attached)
			return;
		test_sleep_ms(10);
	}
	fail_msg("%s still has a client", name);
}

static int setup(void **state)
{
	char cfg[4200], ctl[100];
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s/c.json", tmpdir);
	assert_true(snprintf(ctl, sizeof(ctl), "%s/ctl.sock", tmpdir) < (int)sizeof(ctl));
	assert_true(snprintf(sock0, sizeof(sock0), "%s/td0.sock", tmpdir) < (int)sizeof(sock0));
	f = fopen(cfg, "w");
	assert_non_null(f);
	fprintf(f, "{\"control\":\"%s\",\"log_level\":\"warn\",\"devices\":[{\"name\":\"td0\","
		"\"type\":\"testdev\",\"socket\":\"%s\"}]}\n", ctl, sock0);
	fclose(f);
	ASSERT_OK(vusd_proc_start(&V, vusd_path, cfg, ctl, NULL));
	close(ctl_connect());
	return 0;
}

static int teardown(void **state)
{
	int status;

	ASSERT_OK(vusd_proc_stop(&V, SIGTERM, -1, &status));
	/* TSan builds: a data race report makes the exit status 66. */
	assert_true(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(access(V.ctl, F_OK), -1);
	ASSERT_EQ(access(sock0, F_OK), -1);
	return 0;
}

static void test_list_add_remove(void **state)
{
	char sock1[100];
	struct json_object *r, *devs;
	struct vus_client *c;
	uint32_t v = 0;

	r = request("{\"cmd\":\"list\",\"id\":7}");
	assert_ok(r);
	ASSERT_EQ(json_object_get_int(get(r, "id")), 7);
	devs = get(r, "devices");
	ASSERT_EQ(json_object_array_length(devs), 1);
	assert_string_equal(json_object_get_string(get(json_object_array_get_idx(devs, 0),
						       "name")), "td0");
	json_object_put(r);

	/* add with the key=value spec, then as a JSON object */
	snprintf(sock1, sizeof(sock1), "%s/td1.sock", tmpdir);
	r = request("{\"cmd\":\"add\",\"spec\":\"testdev,name=td1,socket=%s\"}", sock1);
	assert_ok(r);
	json_object_put(r);
	r = request("{\"cmd\":\"add\",\"device\":{\"type\":\"testdev\",\"name\":\"td1\","
		    "\"socket\":\"%s/other.sock\"}}", tmpdir);
	assert_error(r, EEXIST, "exists already");
	json_object_put(r);
	r = request("{\"cmd\":\"add\",\"device\":{\"type\":\"testdev\",\"name\":\"td2\","
		    "\"socket\":\"%s\"}}", sock1);
	assert_error(r, EEXIST, "socket of another device");
	json_object_put(r);
	r = request("{\"cmd\":\"add\",\"device\":{\"type\":\"testdev\",\"name\":\"td2\"}}");
	assert_error(r, EINVAL, "missing key \"socket\"");
	json_object_put(r);
	r = request("{\"cmd\":\"add\",\"device\":{\"type\":\"testdev\",\"name\":\"td2\","
		    "\"socket\":\"%s/x.sock\",\"dma_layout\":7}}", tmpdir);
	assert_error(r, EINVAL, "key \"dma_layout\": expected one of auto, spec, qemu, got 7");
	json_object_put(r);

	c = test_connect_path(sock1, 5000);
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_ID, &v, 4));
	ASSERT_EQ(v, TESTDEV_ID);

	/* removing a device with a client needs force; the client is dropped */
	r = request("{\"cmd\":\"remove\",\"name\":\"td1\"}");
	assert_error(r, EBUSY, "has a client attached");
	json_object_put(r);
	r = request("{\"cmd\":\"remove\",\"name\":\"td1\",\"force\":true}");
	assert_ok(r);
	json_object_put(r);
	ASSERT_EQ(access(sock1, F_OK), -1);
	assert_true(vus_client_region_read(c, 0, TESTDEV_REG_ID, &v, 4) < 0);
	vus_client_close(c);
	r = request("{\"cmd\":\"remove\",\"name\":\"td1\"}");
	assert_error(r, ENOENT, "no device named \"td1\"");
	json_object_put(r);
}

static uint64_t msgs(struct json_object *dev, const char *cmd)
{
	struct json_object *v;

	return json_object_object_get_ex(get(dev, "messages"), cmd, &v)
	       ? json_object_get_uint64(v) : 0;
}

static void test_stats_and_log_level(void **state)
{
	struct json_object *r, *dev;
	struct vus_client *c;
	uint32_t v;
	uint64_t reads0;

	r = request("{\"cmd\":\"stats\",\"name\":\"td0\"}");
	assert_ok(r);
	reads0 = msgs(json_object_array_get_idx(get(r, "devices"), 0), "REGION_READ");
	json_object_put(r);

	c = test_connect_path(sock0, 5000);
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_ID, &v, 4));
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_ID, &v, 4));
	/* BAR0 takes 4-byte accesses only: an EINVAL error reply */
	ASSERT_ERR(vus_client_region_read(c, 0, TESTDEV_REG_ID, &v, 2), -EINVAL);

	r = request("{\"cmd\":\"stats\"}");
	assert_ok(r);
	dev = json_object_array_get_idx(get(r, "devices"), 0);
	assert_true(json_object_get_boolean(get(dev, "attached")));
	ASSERT_EQ(msgs(dev, "REGION_READ"), reads0 + 3);
	assert_true(msgs(dev, "VERSION") >= 1);
	assert_true(json_object_get_uint64(get(dev, "errors")) >= 1);
	assert_true(json_object_get_uint64(get(get(dev, "errnos"), "EINVAL")) >= 1);
	assert_true(json_object_get_uint64(get(dev, "bytes_in")) > 0);
	assert_true(json_object_get_uint64(get(dev, "bytes_out")) > 0);
	json_object_put(r);
	vus_client_close(c);

	r = request("{\"cmd\":\"log-level\"}");
	assert_string_equal(json_object_get_string(get(r, "level")), "warn");
	json_object_put(r);
	r = request("{\"cmd\":\"log-level\",\"level\":\"trace\"}");
	assert_string_equal(json_object_get_string(get(r, "level")), "trace");
	json_object_put(r);
	r = request("{\"cmd\":\"log-level\",\"level\":\"loud\"}");
	assert_error(r, EINVAL, "expected one of err");
	json_object_put(r);
	r = request("{\"cmd\":\"log-level\",\"level\":\"warn\"}");
	assert_ok(r);
	json_object_put(r);
}

/*
 * While a client holds the device's socket: a second client is refused
 * (the first keeps working), and the control socket reaches the device
 * -- config reads always, callback reads and writes with force -- on
 * vusd's loop thread; the
 * interrupt that write raises arrives on the first client's eventfd.
 */
static void test_attached_device(void **state)
{
	struct vus_client *c, *second = NULL;
	struct pollfd pfd;
	struct json_object *r;
	uint64_t n;
	uint32_t v;
	int efd;

	c = test_connect_path(sock0, 5000);
	assert_true(vus_client_connect(sock0, NULL, &second) < 0);
	v = 0x5eed;
	ASSERT_OK(vus_client_region_write(c, 0, TESTDEV_REG_SCRATCH, &v, 4));

	/* BAR0 is served by testdev's read callback: with a client attached
	 * that needs force (a read may have side effects); config space not. */
	r = request("{\"cmd\":\"read\",\"name\":\"td0\",\"region\":0,\"offset\":4}");
	assert_error(r, EBUSY, "side effects");
	json_object_put(r);
	r = request("{\"cmd\":\"read\",\"name\":\"td0\",\"region\":7,\"offset\":0}");
	assert_ok(r);
	json_object_put(r);
	r = request("{\"cmd\":\"read\",\"name\":\"td0\",\"region\":0,\"offset\":4,"
		    "\"force\":true}");
	assert_ok(r);
	assert_string_equal(json_object_get_string(get(r, "data")), "ed5e0000");
	json_object_put(r);

	efd = efd_new();
	ASSERT_OK(vus_client_set_irqs(c, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_EVENTFD |
				      VUS_IRQ_SET_ACTION_TRIGGER, 0, 1, &efd, NULL));
	r = request("{\"cmd\":\"write\",\"name\":\"td0\",\"region\":0,\"offset\":20,"
		    "\"data\":\"01000000\"}");
	assert_error(r, EBUSY, "has a client attached");
	json_object_put(r);
	r = request("{\"cmd\":\"write\",\"name\":\"td0\",\"region\":0,\"offset\":20,"
		    "\"data\":\"01000000\",\"force\":true}");
	assert_ok(r);
	json_object_put(r);
	pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
	ASSERT_EQ(poll(&pfd, 1, 5000), 1);
	ASSERT_EQ(read(efd, &n, sizeof(n)), sizeof(n));
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_IRQ_STATUS, &v, 4));
	ASSERT_EQ(v, 1);

	r = request("{\"cmd\":\"info\",\"name\":\"td0\"}");
	assert_ok(r);
	assert_true(json_object_get_boolean(get(r, "attached")));
	ASSERT_EQ(json_object_get_int(get(get(r, "pci"), "vendor")), TESTDEV_VENDOR);
	ASSERT_EQ(json_object_get_int(get(json_object_array_get_idx(get(r, "irqs"), 0),
					  "assigned")), 1);
	json_object_put(r);
	r = request("{\"cmd\":\"reset\",\"name\":\"td0\",\"force\":true}");
	assert_ok(r);
	json_object_put(r);
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_RESETS, &v, 4));
	assert_true(v >= 1);
	r = request("{\"cmd\":\"config\",\"name\":\"td0\"}");
	assert_ok(r);
	ASSERT_EQ(json_object_get_int(get(r, "size")), 256);
	assert_memory_equal(json_object_get_string(get(r, "data")), "3412577e", 8);
	json_object_put(r);

	close(efd);
	vus_client_close(c);
	wait_detached("td0");
}

/* Bad requests get an error reply; the connection keeps working after
 * a bad JSON line; non-JSON is answered and the connection closed. */
static void test_bad_requests(void **state)
{
	static const struct {
		const char *line;
		int e;
		const char *part;
	} cases[] = {
		{ "{\"cmd\":\"fly\"}\n", ENOSYS, "unknown request \"fly\"" },
		{ "{\"nocmd\":1}\n", EINVAL, "missing key \"cmd\"" },
		{ "{\"cmd\":\"list\"\n", EINVAL, "JSON syntax error" },
		{ "{\"cmd\":\"read\",\"name\":\"td0\",\"region\":0,\"offset\":0,\"lenght\":4}\n",
		  EINVAL, "unknown key \"lenght\"" },
		{ "{\"cmd\":\"read\",\"name\":\"td0\",\"region\":99,\"offset\":0}\n", EINVAL,
		  "key \"region\"" },
		{ "{\"cmd\":\"read\",\"name\":\"td0\",\"region\":0,\"offset\":4096}\n", EINVAL,
		  "failed" },
		{ "{\"cmd\":\"write\",\"name\":\"td0\",\"region\":0,\"offset\":4,\"data\":\"0g\"}\n",
		  EINVAL, "hex" },
		/* testdev's commands are its fault switches (docs/testdev.md). */
		{ "{\"cmd\":\"device\",\"name\":\"td0\",\"args\":[\"x\"]}\n", EINVAL,
		  "unknown testdev command" },
		{ "{\"cmd\":\"device\",\"name\":\"td0\",\"type\":\"gpio\",\"args\":[\"x\"]}\n",
		  EINVAL, "is a testdev, not a gpio" },
	};
	static const char two[] = "{\"cmd\":\"version\",\"id\":1}\n{\"cmd\":\"list\",\"id\":2}\n";
	struct json_object *r;
	char junk[32], all[8192], *nl;
	size_t i;
	int fd;

	fd = ctl_connect();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].line);

		ASSERT_EQ(send(fd, cases[i].line, len, MSG_NOSIGNAL), (ssize_t)len);
		r = recv_reply(fd);
		assert_non_null(r);
		assert_error(r, cases[i].e, cases[i].part);
		json_object_put(r);
	}
	/* two requests in one write, then the sending side shut down (as
	 * socat does): both replies, in order, then EOF */
	ASSERT_EQ(send(fd, two, strlen(two), MSG_NOSIGNAL), (ssize_t)strlen(two));
	ASSERT_OK(shutdown(fd, SHUT_WR));
	assert_true(recv_all(fd, all, sizeof(all)) > 0);
	nl = strchr(all, '\n');
	assert_non_null(nl);
	*nl = '\0';
	r = json_tokener_parse(all);
	ASSERT_EQ(json_object_get_int(get(r, "id")), 1);
	json_object_put(r);
	r = json_tokener_parse(nl + 1);
	ASSERT_EQ(json_object_get_int(get(r, "id")), 2);
	json_object_put(r);
	close(fd);

	/* the last request without its newline: the end of the stream ends
	 * it, and it is answered (issue 16) */
	fd = ctl_connect();
	ASSERT_EQ(send(fd, "{\"cmd\":\"list\",\"id\":3}", 21, MSG_NOSIGNAL), 21);
	ASSERT_OK(shutdown(fd, SHUT_WR));
	assert_true(recv_all(fd, all, sizeof(all)) > 0);
	r = json_tokener_parse(all);
	assert_non_null(r);
	assert_true(json_object_get_boolean(get(r, "ok")));
	ASSERT_EQ(json_object_get_int(get(r, "id")), 3);
	json_object_put(r);
	close(fd);

	/* a vfio-user client on the control socket: told, then closed */
	fd = ctl_connect();
	memset(junk, 1, sizeof(junk));
	ASSERT_EQ(send(fd, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
	r = recv_reply(fd);
	assert_error(r, EPROTO, "not a control request");
	json_object_put(r);
	ASSERT_OK(recv(fd, junk, sizeof(junk), 0));
	close(fd);
}

/* Sessions the device has served so far (stats "clients"). */
static uint64_t clients(const char *name)
{
	struct json_object *r = request("{\"cmd\":\"stats\",\"name\":\"%s\"}", name);
	uint64_t n;

	assert_ok(r);
	n = json_object_get_uint64(get(json_object_array_get_idx(get(r, "devices"), 0),
				       "clients"));
	json_object_put(r);
	return n;
}

/* 1000 vfio-user sessions and 200 control connections leave vusd with
 * the fds it had. */
static void test_no_fd_growth(void **state)
{
	struct vus_client *c;
	struct json_object *r;
	int before, after, i;
	uint64_t clients0;
	uint32_t v;

	wait_detached("td0");
	before = settled_fds(V.pid, -1);
	clients0 = clients("td0");
	for (i = 0; i < 1000; i++) {
		c = test_connect_path(sock0, 5000);
		if (i % 100 == 0)
			ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_ID, &v, 4));
		vus_client_close(c);
	}
	for (i = 0; i < 200; i++) {
		r = request("{\"cmd\":\"list\"}");
		json_object_put(r);
	}
	wait_detached("td0");
	after = settled_fds(V.pid, before);
	ASSERT_EQ(after, before);
	ASSERT_EQ(clients("td0"), clients0 + 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_add_remove),
		cmocka_unit_test(test_stats_and_log_level),
		cmocka_unit_test(test_attached_device),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_no_fd_growth),
	};
	const char *build = getenv("VUS_BUILD_DIR");
	char cfg[4200];
	int rc;

	if (!build) {
		printf("test_vusd_control: skipped: VUS_BUILD_DIR is not set (run it from ctest)\n");
		return 77; /* skipped, not passed */
	}
	snprintf(vusd_path, sizeof(vusd_path), "%s/bin/vusd", build);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = VUS_RUN_TESTS(tests, setup, teardown);
	snprintf(cfg, sizeof(cfg), "%s/c.json", tmpdir);
	unlink(cfg);
	rmdir(tmpdir);
	return rc;
}
