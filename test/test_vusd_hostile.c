/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Issue 6's survival requirement against the real vusd binary: "The
 * server survives, and other devices in the same vusd keep working: a
 * client that sends half a header and stalls; one that disconnects
 * mid-body; one that never reads its replies; 10,000 connections of
 * random bytes; fds attached to messages that take none."
 *
 * vusd runs three testdevs (td0, td1, td2) and a control socket. The
 * attacks go at td0 (td1 too for the stall and the random flood). All
 * along, a prober thread drives a well-behaved client library connection
 * on td2 -- REGION_WRITE/READ round trips of BAR0 SCRATCH -- and
 * list/stats requests on the control socket, and the longest of each must
 * stay under a bound (one vusd loop thread serves everything: a stalled
 * peer must never hold it, docs/control.md section 1 "Threads"). After
 * each attack: vusd is alive, the attacked devices serve a fresh client
 * (VERSION, then SCRATCH), and vusd's fd count (/proc/PID/fd) is back to
 * its baseline. Last, SIGTERM: vusd exits 0 and removes its sockets.
 *
 * Sanitizer builds instrument vusd too: only the time bounds scale (by 5,
 * or by VUS_TEST_TIME_SCALE), never the assertions. vusd's log goes to a
 * file in the test's directory; its tail is printed when vusd fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <vus/client.h>
#include <vus/codec.h>

#include "clock.h"
#include "fdcount.h"
#include "raw.h"
#include "testdev.h"
#include "vusd_proc.h"
#include "vus_test.h"

#define NDEV        3
#define GOOD        2          /* td2: the well-behaved client's device */
#define CONNECTIONS 10000      /* the random flood, over td0 and td1 */

/* Time bounds in ms, each multiplied by time_scale(). */
#define RTT_BOUND_MS   1000    /* one td2 round trip, one control request */
#define SETTLE_MS      5000    /* a session's end, the fd count, a connect */
#define STALL_MS       1500    /* how long the half-header clients stall */
#define FLOOD_MS       20000   /* the whole random flood */
#define NEVER_READS_MS 10000   /* the never-reading client's pipelining */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VUS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VUS_SANITIZED 1
#endif
#endif

/* The test's directory: config, log and sockets. */
static char tmpdir[] = "/tmp/vus-test-vh-XXXXXX";

static struct {
	char vusd[4096];
	char cfg[100], log[100], ctl[100], sock[NDEV][100];
	struct vusd_proc v;        /* v.pid -1 once reaped */
	int scale;
	int base_fds;              /* vusd's fds: td2 attached, nothing else */
	struct vus_client *good;   /* td2's client, the whole run */
} T = { .v.pid = -1 };

/* A bound in ms, scaled for sanitizer builds. */
static int bound(int ms)
{
	return ms * T.scale;
}

static int time_scale(void)
{
	const char *s = getenv("VUS_TEST_TIME_SCALE");

	if (s && atoi(s) > 0)
		return atoi(s);
#ifdef VUS_SANITIZED
	return 5;
#else
	return 1;
#endif
}

/* ---- vusd: its log, its fds, whether it lives ---------------------------- */

/* vusd is our child: a dead one is a zombie that kill(pid, 0) still
 * finds, so ask waitpid (vusd_proc_alive()). */
static void assert_vusd_alive(void)
{
	char why[96];
	int status;

	if (vusd_proc_alive(&T.v, &status))
		return;
	vusd_proc_dump_log(&T.v, 40);
	vusd_proc_describe(status, why, sizeof(why));
	fail_msg("vusd died: %s", why);
}

static int count_fds(void)
{
	int n = fdcount_pid(T.v.pid);

	if (n < 0)
		fail_msg("/proc/%d/fd: %s", (int)T.v.pid, strerror(-n));
	return n;
}

/*
 * vusd closes a connection when its loop sees the EOF, a moment after our
 * close(): wait until the count is want (want >= 0) or, with want < 0,
 * has held still for 100 ms. Returns the last count.
 */
static int settle_fds(int want)
{
	int64_t deadline = test_now_us() + (int64_t)bound(SETTLE_MS) * 1000;
	int n = count_fds(), still = 0;

	while (test_now_us() < deadline) {
		int m;

		if (want >= 0 && n == want)
			return n;
		test_sleep_ms(20);
		m = count_fds();
		still = m == n ? still + 1 : 0;
		n = m;
		if (want < 0 && still >= 5)
			return n;
	}
	return n;
}

/* ---- the control socket: one JSON line, one reply line ------------------- */

/*
 * One request on a new connection, any thread: the parsed reply, or NULL
 * with the reason in err. The reply's "ok" is the caller's to check.
 */
static struct json_object *ctl_try(const char *line, int timeout_ms, char *err, size_t errlen)
{
	char buf[1 << 15];
	struct json_object *r;

	if (vusd_proc_request(&T.v, line, timeout_ms, buf, sizeof(buf), err, errlen) < 0)
		return NULL;
	r = json_tokener_parse(buf);
	if (!r)
		snprintf(err, errlen, "not JSON: %.200s", buf);
	return r;
}

static struct json_object *key(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* The entry of device name in a list or stats reply, or NULL. */
static struct json_object *dev_entry(struct json_object *reply, const char *name)
{
	struct json_object *devs = key(reply, "devices");
	size_t i;

	for (i = 0; devs && i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i);
		struct json_object *n = key(d, "name");

		if (n && !strcmp(json_object_get_string(n), name))
			return d;
	}
	return NULL;
}

/* Main thread: a list reply's entry for td<i>: attached, sessions so far. */
static bool dev_state(int i, uint64_t *clients)
{
	char err[256], name[16];
	struct json_object *r = ctl_try("{\"cmd\":\"list\"}\n", bound(SETTLE_MS), err,
					sizeof(err));
	struct json_object *d;
	bool attached;

	if (!r)
		fail_msg("control list: %s", err);
	snprintf(name, sizeof(name), "td%d", i);
	d = dev_entry(r, name);
	if (!d || !key(d, "attached") || !key(d, "clients"))
		fail_msg("no %s in %s", name, json_object_to_json_string(r));
	attached = json_object_get_boolean(key(d, "attached"));
	if (clients)
		*clients = json_object_get_uint64(key(d, "clients"));
	json_object_put(r);
	return attached;
}

/* Main thread: how many messages of command cmd (its name) td<i> has
 * handled, from the control socket's stats. The control request runs on
 * vusd's loop thread, between messages: a count it reports is done. */
static uint64_t dev_msgs(int i, const char *cmd)
{
	char err[256], line[64], name[16];
	struct json_object *r, *d, *m, *n;
	uint64_t count;

	snprintf(name, sizeof(name), "td%d", i);
	snprintf(line, sizeof(line), "{\"cmd\":\"stats\",\"name\":\"%s\"}\n", name);
	r = ctl_try(line, bound(SETTLE_MS), err, sizeof(err));
	if (!r)
		fail_msg("control stats: %s", err);
	d = dev_entry(r, name);
	m = d ? key(d, "messages") : NULL;
	if (!m)
		fail_msg("no messages of %s in %s", name, json_object_to_json_string(r));
	n = key(m, cmd);
	count = n ? json_object_get_uint64(n) : 0;
	json_object_put(r);
	return count;
}

/* vusd ends a session when its loop sees the EOF (or the violation). */
static void wait_detached(int i)
{
	int64_t deadline = test_now_us() + (int64_t)bound(SETTLE_MS) * 1000;

	while (dev_state(i, NULL)) {
		if (test_now_us() > deadline)
			fail_msg("td%d still has a client %d ms after the attacker left", i,
				 bound(SETTLE_MS));
		test_sleep_ms(10);
	}
}

/* ---- the well-behaved side: td2 and the control socket, all along -------- */

struct probe {
	pthread_t th;
	int stop;                  /* set by the main thread */
	int done;                  /* set by the prober when it returns */
	uint64_t ios, ctls;        /* atomics: the main thread waits on them */
	int64_t max_io_us, max_ctl_us;
	char err[512];             /* the first failure; read after the join */
};

/* A control request from the prober: ok, and td2 listed as attached. */
static int probe_ctl(struct probe *p, const char *line)
{
	char err[256];
	struct json_object *r = ctl_try(line, bound(SETTLE_MS), err, sizeof(err));
	struct json_object *d;
	int rc = 0;

	if (!r) {
		snprintf(p->err, sizeof(p->err), "control %.40s: %s", line, err);
		return -1;
	}
	d = dev_entry(r, "td2");
	if (!key(r, "ok") || !json_object_get_boolean(key(r, "ok")) || !d ||
	    !key(d, "attached") || !json_object_get_boolean(key(d, "attached"))) {
		snprintf(p->err, sizeof(p->err), "control %.40s: %.400s", line,
			 json_object_to_json_string(r));
		rc = -1;
	}
	json_object_put(r);
	return rc;
}

/* Until told to stop or something fails: a SCRATCH write read back on
 * td2, every fourth time a list or stats request, 5 ms apart; each timed. */
static void probe_run(struct probe *p)
{
	static const char *const lines[] = {
		"{\"cmd\":\"list\"}\n",
		"{\"cmd\":\"stats\",\"name\":\"td2\"}\n",
	};
	uint32_t v = 0x600d0000;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		uint64_t n = __atomic_load_n(&p->ios, __ATOMIC_RELAXED);
		uint32_t got = 0;
		int64_t t0 = test_now_us(), dt;
		int rc;

		v++;
		rc = vus_client_region_write(T.good, 0, TESTDEV_REG_SCRATCH, &v, 4);
		if (rc == 0)
			rc = vus_client_region_read(T.good, 0, TESTDEV_REG_SCRATCH, &got, 4);
		dt = test_now_us() - t0;
		if (rc < 0 || got != v) {
			snprintf(p->err, sizeof(p->err),
				 "td2 round trip %llu: %s (wrote 0x%x, read 0x%x) after %lld us",
				 (unsigned long long)n, rc < 0 ? strerror(-rc) : "wrong value",
				 v, got, (long long)dt);
			return;
		}
		if (dt > p->max_io_us)
			p->max_io_us = dt;
		__atomic_store_n(&p->ios, n + 1, __ATOMIC_RELEASE);
		if (n % 4 == 0) {
			uint64_t k = __atomic_load_n(&p->ctls, __ATOMIC_RELAXED);

			t0 = test_now_us();
			if (probe_ctl(p, lines[k % 2]) < 0)
				return;
			dt = test_now_us() - t0;
			if (dt > p->max_ctl_us)
				p->max_ctl_us = dt;
			__atomic_store_n(&p->ctls, k + 1, __ATOMIC_RELEASE);
		}
		test_sleep_ms(5);
	}
}

static void *probe_main(void *arg)
{
	struct probe *p = arg;

	probe_run(p);
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The prober of the running test; stopped by its teardown if the test
 * failed on the way (a failed assertion leaves the test at once). */
static struct probe P;
static bool probing;

static void probe_start(void)
{
	memset(&P, 0, sizeof(P));
	ASSERT_OK(pthread_create(&P.th, NULL, probe_main, &P));
	probing = true;
}

static void probe_stop(void)
{
	if (!probing)
		return;
	__atomic_store_n(&P.stop, 1, __ATOMIC_RELEASE);
	pthread_join(P.th, NULL);
	probing = false;
}

/* The attackers' sockets of the running test: a test that fails on the
 * way leaves them to its teardown, so the next test meets a free td0. */
static int held[4];
static unsigned nheld;

static int hold(int fd)
{
	ASSERT_NONNEG(fd);
	assert_true(nheld < sizeof(held) / sizeof(held[0]));
	held[nheld++] = fd;
	return fd;
}

static void release(int fd)
{
	unsigned i;

	for (i = 0; i < nheld; i++) {
		if (held[i] == fd) {
			held[i] = held[--nheld];
			break;
		}
	}
	close(fd);
}

static int test_teardown(void **state)
{
	probe_stop();
	while (nheld)
		release(held[0]);
	return 0;
}

/*
 * Stop the prober (after at least two round trips and one control
 * request, so even a short attack was probed) and check it: no failure,
 * and no round trip or control request over the bound.
 */
static void probe_finish(const char *what)
{
	int64_t deadline = test_now_us() + (int64_t)bound(SETTLE_MS) * 1000;

	while ((__atomic_load_n(&P.ios, __ATOMIC_ACQUIRE) < 2 ||
		__atomic_load_n(&P.ctls, __ATOMIC_ACQUIRE) < 1) && test_now_us() < deadline &&
	       !__atomic_load_n(&P.done, __ATOMIC_ACQUIRE))
		test_sleep_ms(5);
	probe_stop();
	fprintf(stderr, "%s: td2 %llu round trips (longest %.1f ms), %llu control requests "
		"(longest %.1f ms); bound %d ms\n", what, (unsigned long long)P.ios,
		(double)P.max_io_us / 1000, (unsigned long long)P.ctls,
		(double)P.max_ctl_us / 1000, bound(RTT_BOUND_MS));
	if (P.err[0])
		fail_msg("%s: %s", what, P.err);
	assert_true(P.ios >= 2);
	assert_true(P.ctls >= 1);
	if (P.max_io_us > (int64_t)bound(RTT_BOUND_MS) * 1000)
		fail_msg("%s: a td2 round trip took %lld us", what, (long long)P.max_io_us);
	if (P.max_ctl_us > (int64_t)bound(RTT_BOUND_MS) * 1000)
		fail_msg("%s: a control request took %lld us", what, (long long)P.max_ctl_us);
	assert_vusd_alive();
}

/* ---- after an attack ------------------------------------------------------ */

static struct vus_client *connect_retry(int i)
{
	struct vus_client *c = NULL;
	int rc = vusd_proc_client(&T.v, T.sock[i], NULL, bound(SETTLE_MS), &c);

	if (rc == -ECHILD)
		assert_vusd_alive();
	if (rc < 0)
		fail_msg("td%d: no client accepted within %d ms: %s", i, bound(SETTLE_MS),
			 strerror(-rc));
	return c;
}

/*
 * The attacked devices td0 .. td<n-1> serve a fresh client (VERSION, a
 * SCRATCH write read back), and once they are gone vusd holds the fds it
 * had before the attack.
 */
static void after_attack(int n)
{
	int i, fds;

	assert_vusd_alive();
	for (i = 0; i < n; i++) {
		struct vus_client *c;
		uint32_t v = 0xf2e50000u + (uint32_t)i, got = 0;

		wait_detached(i);
		c = connect_retry(i);
		ASSERT_OK(vus_client_region_write(c, 0, TESTDEV_REG_SCRATCH, &v, 4));
		ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_SCRATCH, &got, 4));
		ASSERT_EQ(got, v);
		vus_client_close(c);
		wait_detached(i);
	}
	fds = settle_fds(T.base_fds);
	if (fds != T.base_fds)
		fail_msg("vusd holds %d fds, %d before the attack", fds, T.base_fds);
	assert_vusd_alive();
}

/* A raw connection to td<i> that negotiated VERSION (retried while the
 * previous session ends: a second client is closed at once). */
static int attacker(int i)
{
	int64_t deadline = test_now_us() + (int64_t)bound(SETTLE_MS) * 1000;

	for (;;) {
		int fd = raw_connect(T.sock[i]);

		ASSERT_NONNEG(fd);
		if (raw_version(fd, 0, NULL, NULL) == 0)
			return fd;
		close(fd);
		if (test_now_us() > deadline)
			fail_msg("td%d: no VERSION reply within %d ms", i, bound(SETTLE_MS));
		test_sleep_ms(10);
	}
}

/* vusd's CPU time so far (user + system), in ms: /proc/PID/stat fields
 * 14 and 15, after the parenthesised command name. */
static int64_t vusd_cpu_ms(void)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)T.v.pid);
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		fail_msg("%s: cannot parse: %s", path, buf);
	return (int64_t)(ut + st) * 1000 / sysconf(_SC_CLK_TCK);
}

/*
 * While a client stalls vusd has nothing to do: its CPU time over the
 * stall is the prober's requests, a small part of the stall. A loop that
 * spun on the stalled socket (a partial header, a queue waiting for
 * EPOLLOUT) would take a whole CPU, or at least what a loaded machine
 * leaves it.
 */
static void assert_stall_idle(const char *what, int64_t cpu_ms)
{
	fprintf(stderr, "%s: vusd used %lld ms of CPU in a %d ms stall\n", what,
		(long long)cpu_ms, STALL_MS);
	if (cpu_ms > STALL_MS / 3)
		fail_msg("%s: vusd busy during the stall: %lld ms of CPU in %d ms", what,
			 (long long)cpu_ms, STALL_MS);
}

/* ---- the attacks ---------------------------------------------------------- */

/*
 * Half a header, then nothing: td0's client after VERSION, td1's before
 * it. Each holds its device (one client at a time: a third connection is
 * closed at once), gets nothing back, and holds nobody else.
 */
static void half_header(void **state)
{
	const struct vus_hdr h = { .id = 1, .cmd = VUS_CMD_REGION_READ, .size = 32 };
	uint8_t hb[VUS_HDR_SIZE];
	int64_t cpu;
	int a, b, late;

	vus_hdr_encode(hb, &h);
	probe_start();
	a = hold(attacker(0));
	ASSERT_OK(raw_send_bytes(a, hb, 8, NULL, 0));
	b = hold(raw_connect(T.sock[1]));
	ASSERT_OK(raw_send_bytes(b, hb, 5, NULL, 0));
	late = hold(raw_connect(T.sock[0]));
	assert_true(raw_closed_within(late, bound(SETTLE_MS)));
	release(late);

	cpu = vusd_cpu_ms();
	assert_true(raw_nothing_within(a, STALL_MS));
	assert_true(raw_nothing_within(b, 0));
	assert_stall_idle("half header", vusd_cpu_ms() - cpu);
	assert_true(dev_state(0, NULL));
	assert_true(dev_state(1, NULL));
	probe_finish("half header");
	release(a);
	release(b);
	after_attack(2);
}

/*
 * Gone in the middle of a body: a REGION_WRITE within the size limit, one
 * far over it (its body being drained), a DMA_MAP with its fd on the
 * header, and a VERSION before negotiation.
 */
static void disconnect_mid_body(void **state)
{
	static uint8_t body[256 * 1024];
	static const struct {
		uint16_t cmd;
		uint32_t size;         /* what the header claims */
		size_t sent;           /* payload bytes sent before the close */
		bool negotiate, fd;
		uint32_t err;          /* the reply before the body is in, if any */
	} rounds[] = {
		{ VUS_CMD_REGION_WRITE, VUS_HDR_SIZE + 16 + (512u << 10), 16 + (64u << 10), true,
		  false, 0 },
		/* Over the message size limit: answered E2BIG at once, the
		 * body drained as it comes (docs/protocol.md 1.2). */
		{ VUS_CMD_REGION_WRITE, 64u << 20, sizeof(body), true, false, E2BIG },
		{ VUS_CMD_DMA_MAP, VUS_HDR_SIZE + 32, 10, true, true, 0 },
		{ VUS_CMD_VERSION, VUS_HDR_SIZE + 200, 20, false, false, 0 },
	};
	const struct vus_region_access ra = { .offset = 0, .region = 1, .count = 512u << 10 };
	size_t i;
	int mfd = memfd_create("guest", MFD_CLOEXEC);

	ASSERT_NONNEG(mfd);
	ASSERT_OK(ftruncate(mfd, 4096));
	memcpy(body, &ra, sizeof(ra));
	probe_start();
	for (i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++) {
		const struct vus_hdr h = { .id = (uint16_t)i, .cmd = rounds[i].cmd,
					   .size = rounds[i].size };
		uint8_t hb[VUS_HDR_SIZE];
		int fd = hold(rounds[i].negotiate ? attacker(0) : raw_connect(T.sock[0]));

		vus_hdr_encode(hb, &h);
		ASSERT_OK(raw_send_bytes(fd, hb, sizeof(hb), rounds[i].fd ? &mfd : NULL,
					 rounds[i].fd));
		ASSERT_OK(raw_send_bytes(fd, body, rounds[i].sent, NULL, 0));
		if (rounds[i].err) {
			struct raw_msg m;

			ASSERT_OK(raw_recv(fd, &m, bound(SETTLE_MS)));
			ASSERT_EQ(m.hdr.id, i);
			ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
			ASSERT_EQ(m.hdr.error, rounds[i].err);
			raw_msg_free(&m);
		}
		/* Still waiting for the rest. */
		assert_true(raw_nothing_within(fd, 50));
		release(fd);
		wait_detached(0);
	}
	probe_finish("disconnect mid-body");
	close(mfd);
	after_attack(1);
}

/*
 * Pipeline REGION_READs of all of BAR1 (1 MiB) on fd, never reading a
 * reply, until *sent reaches upto or vusd closes its end (returns true).
 */
static bool pipeline_reads(int fd, int *sent, int upto, int64_t deadline)
{
	const struct vus_region_access ra = { .offset = 0, .region = 1,
					      .count = TESTDEV_BAR1_SIZE };
	struct pollfd pfd = { .fd = fd, .events = 0 };
	uint8_t msg[VUS_HDR_SIZE + sizeof(ra)];

	while (*sent < upto) {
		const struct vus_hdr h = { .id = (uint16_t)*sent, .cmd = VUS_CMD_REGION_READ,
					   .size = sizeof(msg) };
		ssize_t n;

		if (test_now_us() > deadline)
			fail_msg("%d requests sent in %d ms", *sent, bound(NEVER_READS_MS));
		vus_hdr_encode(msg, &h);
		memcpy(msg + VUS_HDR_SIZE, &ra, sizeof(ra));
		n = send(fd, msg, sizeof(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(msg))
			(*sent)++;
		else if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return true;
		else if (n < 0 && errno == EAGAIN)
			test_sleep_ms(2);
		else
			fail_msg("send: %zd, %s", n, strerror(errno));
		/* POLLHUP: vusd closed its end (we read nothing). */
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP))
			return true;
	}
	return false;
}

/*
 * REGION_READs of 1 MiB of BAR1, pipelined and never read. Half the
 * output limit (16 MiB by default, docs/protocol.md section 6) queued:
 * vusd holds it without spinning while the client stalls, the session
 * stays. Then past the limit: vusd ends that session, and only that one.
 */
static void never_reads(void **state)
{
	int64_t deadline = test_now_us() + (int64_t)bound(NEVER_READS_MS) * 1000;
	struct pollfd pfd;
	uint64_t reads;
	int64_t cpu;
	int fd, sent = 0;
	bool hup;

	probe_start();
	fd = hold(attacker(0));
	reads = dev_msgs(0, "REGION_READ");
	assert_false(pipeline_reads(fd, &sent, 8, deadline));
	/*
	 * The stall starts once vusd has handled the 8 reads (8 MiB of
	 * replies queued), however long that takes: under a sanitizer it
	 * takes seconds, which used to be counted as "busy during the stall"
	 * (issue 16). From here vusd has nothing to do but the prober's
	 * requests, at any speed.
	 */
	while (dev_msgs(0, "REGION_READ") < reads + 8) {
		if (test_now_us() > deadline)
			fail_msg("vusd did not handle 8 reads in %d ms", bound(NEVER_READS_MS));
		test_sleep_ms(10);
	}
	cpu = vusd_cpu_ms();
	pfd = (struct pollfd){ .fd = fd, .events = 0 };
	ASSERT_OK(poll(&pfd, 1, STALL_MS));
	assert_stall_idle("never reads, 8 MiB unread", vusd_cpu_ms() - cpu);
	assert_true(dev_state(0, NULL));

	/* 64 MiB asked for in all: four times the limit. */
	hup = pipeline_reads(fd, &sent, 64, deadline);
	while (!hup && test_now_us() < deadline) {
		int64_t left = (deadline - test_now_us()) / 1000;

		hup = poll(&pfd, 1, (int)left) == 1 && (pfd.revents & POLLHUP);
	}
	if (!hup)
		fail_msg("vusd still holds the session after %d requests of 1 MiB unread", sent);
	/* The limit, not a fluke: more than 16 MiB was asked for. */
	assert_true(sent > 16);
	assert_true(vusd_proc_log_has(&T.v, "output queue over its limit"));
	probe_finish("never reads");
	release(fd);
	after_attack(1);
}

/*
 * fds on messages that take none (before VERSION too), more fds than a
 * message takes, fds on an unknown command: every one EINVAL (ENOSYS for
 * the unknown command), the connection kept, and vusd keeps none of them
 * (its fd count with the session attached is what it was before).
 */
static void stray_fds(void **state)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":16}}";
	const struct vus_region_access rd = { .offset = TESTDEV_REG_SCRATCH, .region = 0,
					      .count = 4 };
	const struct vus_device_info di = { .argsz = sizeof(di) };
	const struct vus_region_info ri = { .argsz = sizeof(ri), .index = 0 };
	const struct vus_irq_info ii = { .argsz = sizeof(ii), .index = 0 };
	const struct vus_dma_unmap du = { .argsz = sizeof(du), .addr = 0x10000, .size = 4096 };
	const struct vus_dma_map dm = { .argsz = sizeof(dm), .addr = 0x10000, .size = 4096,
		.flags = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE };
	const struct vus_irq_set is = { .argsz = sizeof(is), .index = VUS_PCI_INTX_IRQ,
		.flags = VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, .count = 1 };
	uint8_t wr[sizeof(rd) + 4], ver[4 + sizeof(json)] = { 0 };
	const struct {
		uint16_t cmd;
		const void *p;
		size_t len;
		unsigned nfds;         /* 0: 1 .. 4 by turn */
		uint32_t err;
	} msgs[] = {
		{ VUS_CMD_REGION_READ, &rd, sizeof(rd), 0, EINVAL },
		{ VUS_CMD_REGION_WRITE, wr, sizeof(wr), 0, EINVAL },
		{ VUS_CMD_DEVICE_GET_INFO, &di, sizeof(di), 0, EINVAL },
		{ VUS_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), 0, EINVAL },
		{ VUS_CMD_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), 0, EINVAL },
		{ VUS_CMD_DEVICE_RESET, NULL, 0, 0, EINVAL },
		{ VUS_CMD_DMA_UNMAP, &du, sizeof(du), 0, EINVAL },
		{ VUS_CMD_DMA_MAP, &dm, sizeof(dm), 2, EINVAL },
		{ VUS_CMD_DEVICE_SET_IRQS, &is, sizeof(is), 3, EINVAL },
		{ 40, &di, sizeof(di), 0, ENOSYS },
	};
	struct raw_msg m;
	int fd, i, efd[4], with_session, fds;
	uint32_t v = 0x5ca1ab1e;

	memcpy(wr, &rd, sizeof(rd));
	memcpy(wr + sizeof(rd), &v, 4);
	memcpy(ver + 4, json, sizeof(json));
	for (i = 0; i < 4; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC);
		ASSERT_NONNEG(efd[i]);
	}

	/* Before VERSION: a VERSION carrying an fd is refused, not taken. */
	fd = hold(raw_connect(T.sock[0]));
	ASSERT_OK(raw_call(fd, 1, VUS_CMD_VERSION, ver, sizeof(ver), efd, 1, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
	ASSERT_ERR(m.hdr.error, EINVAL);
	raw_msg_free(&m);
	ASSERT_OK(raw_version(fd, 0, NULL, NULL));
	with_session = settle_fds(-1);

	probe_start();
	for (i = 0; i < 100; i++) {
		size_t k = (size_t)i % (sizeof(msgs) / sizeof(msgs[0]));
		unsigned nfds = msgs[k].nfds ? msgs[k].nfds : 1 + (unsigned)i % 4;

		ASSERT_OK(raw_call(fd, (uint16_t)(100 + i), msgs[k].cmd, msgs[k].p,
				   msgs[k].len, efd, nfds, &m));
		ASSERT_EQ(m.hdr.id, 100 + i);
		ASSERT_EQ(m.hdr.cmd, msgs[k].cmd);
		ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
		ASSERT_EQ(m.hdr.error, msgs[k].err);
		ASSERT_EQ(m.nfds, 0);
		raw_msg_free(&m);
	}
	/* The connection still serves: GET_INFO, and SCRATCH untouched by
	 * the refused write. */
	ASSERT_OK(raw_call(fd, 300, VUS_CMD_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	assert_true(raw_u32(&m, 8) >= 9);
	raw_msg_free(&m);
	ASSERT_OK(raw_call(fd, 301, VUS_CMD_REGION_READ, &rd, sizeof(rd), NULL, 0, &m));
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	assert_int_not_equal(raw_u32(&m, 16), v);
	raw_msg_free(&m);
	probe_finish("stray fds");

	fds = settle_fds(with_session);
	if (fds != with_session)
		fail_msg("vusd holds %d fds after the stray ones, %d before", fds, with_session);
	for (i = 0; i < 4; i++)
		close(efd[i]);
	release(fd);
	after_attack(1);
}

/* xorshift64*: reproducible "random" bytes. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

struct flood {
	pthread_t th;
	int dev;
	uint64_t seed;
	unsigned n;                /* connections to make */
	int64_t deadline_us;
	unsigned done, refused, waited, with_fds;
	char err[256];             /* read after the join */
};

/*
 * One connection's bytes in buf: 1..64 random bytes, or a plausible
 * header (a command number near the real ones, a small size, sometimes
 * odd flags) and random bytes after it, possibly behind a real VERSION
 * so that the commands get dispatched. Returns the length.
 */
static size_t flood_bytes(uint64_t *s, uint8_t *buf, uint64_t kind)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":16}}";
	size_t at = 0, len = 1 + (size_t)(rnd(s) % 64), k;

	if (kind % 4 == 2) {
		const struct vus_hdr h = { .id = 1, .cmd = VUS_CMD_VERSION,
					   .size = (uint32_t)(VUS_HDR_SIZE + 4 + sizeof(json)) };

		vus_hdr_encode(buf, &h);
		memset(buf + VUS_HDR_SIZE, 0, 4);
		memcpy(buf + VUS_HDR_SIZE + 4, json, sizeof(json));
		at = h.size;
	}
	for (k = 0; k < len; k++)
		buf[at + k] = (uint8_t)rnd(s);
	if (kind % 4 >= 1 && len >= VUS_HDR_SIZE) {
		uint64_t r = rnd(s);
		const struct vus_hdr h = {
			.id = (uint16_t)r, .cmd = (uint16_t)((r >> 16) % 20),
			.size = (uint32_t)(VUS_HDR_SIZE + (r >> 24) % 96),
			.flags = (r >> 40) % 8 ? 0 : (uint32_t)(r >> 48) & 0x3f,
		};

		vus_hdr_encode(buf + at, &h);
	}
	return at + len;
}

/*
 * n connections to one device: each sends its bytes (an fd or three on
 * one in four), then either closes at once or shuts its side down and
 * reads until vusd closes (so those bytes were met by a session, or
 * refused as a second client).
 */
static void *flood_main(void *arg)
{
	struct flood *f = arg;
	uint64_t s = f->seed;
	uint8_t buf[160];
	int fds[3], i;
	unsigned c;

	fds[0] = eventfd(0, EFD_CLOEXEC);
	fds[1] = memfd_create("flood", MFD_CLOEXEC);
	fds[2] = eventfd(0, EFD_CLOEXEC);
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0 || ftruncate(fds[1], 4096) < 0) {
		snprintf(f->err, sizeof(f->err), "fds: %s", strerror(errno));
		goto out;
	}
	for (c = 0; c < f->n; c++) {
		uint64_t kind = rnd(&s);
		size_t len = flood_bytes(&s, buf, kind);
		unsigned nfds = (kind >> 8) % 4 == 0 ? 1 + (unsigned)((kind >> 16) % 3) : 0;
		int fd, rc;

		if (test_now_us() > f->deadline_us) {
			snprintf(f->err, sizeof(f->err), "td%d: %u of %u connections in the time",
				 f->dev, c, f->n);
			break;
		}
		fd = raw_connect(T.sock[f->dev]);
		if (fd < 0) {
			snprintf(f->err, sizeof(f->err), "td%d: connection %u: %s", f->dev, c,
				 strerror(-fd));
			break;
		}
		rc = raw_send_bytes(fd, buf, len, nfds ? fds : NULL, nfds);
		if (rc == -EPIPE || rc == -ECONNRESET) {
			f->refused++;
		} else if (rc < 0) {
			snprintf(f->err, sizeof(f->err), "td%d: connection %u: send: %s", f->dev,
				 c, strerror(-rc));
			close(fd);
			break;
		}
		f->with_fds += nfds > 0;
		if ((kind >> 32) % 2) {
			shutdown(fd, SHUT_WR);
			if (!raw_closed_within(fd, bound(SETTLE_MS))) {
				snprintf(f->err, sizeof(f->err),
					 "td%d: connection %u: not closed %d ms after our EOF",
					 f->dev, c, bound(SETTLE_MS));
				close(fd);
				break;
			}
			f->waited++;
		}
		close(fd);
		f->done++;
	}
out:
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return NULL;
}

/* CONNECTIONS connections of random bytes, half at td0 and half at td1
 * at once, within FLOOD_MS. */
static void random_bytes(void **state)
{
	struct flood f[2];
	uint64_t before[2], after[2];
	int64_t t0 = test_now_us();
	int i;

	for (i = 0; i < 2; i++) {
		dev_state(i, &before[i]);
		memset(&f[i], 0, sizeof(f[i]));
		f[i].dev = i;
		f[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		f[i].n = CONNECTIONS / 2;
		f[i].deadline_us = t0 + (int64_t)bound(FLOOD_MS) * 1000;
	}
	probe_start();
	for (i = 0; i < 2; i++)
		ASSERT_OK(pthread_create(&f[i].th, NULL, flood_main, &f[i]));
	for (i = 0; i < 2; i++)
		ASSERT_OK(pthread_join(f[i].th, NULL));
	probe_finish("random bytes");
	for (i = 0; i < 2; i++) {
		dev_state(i, &after[i]);
		fprintf(stderr, "td%d: %u connections (%u with fds, %u refused at send, %u waited "
			"for vusd's close), %llu sessions, in %lld ms\n", i, f[i].done,
			f[i].with_fds, f[i].refused, f[i].waited,
			(unsigned long long)(after[i] - before[i]),
			(long long)(test_now_us() - t0) / 1000);
		if (f[i].err[0])
			fail_msg("%s", f[i].err);
		ASSERT_EQ(f[i].done, CONNECTIONS / 2);
		/* A good share met a session, not only "one client at a time"
		 * (how many depends on how the closes and accepts interleave). */
		assert_true(after[i] - before[i] >= CONNECTIONS / 20);
	}
	after_attack(2);
}

/* ---- vusd up and down ----------------------------------------------------- */

static int setup(void **state)
{
	static const char *const names[NDEV] = { "td0", "td1", "td2" };
	const struct vus_client_opts opts = { .timeout_ms = bound(2 * SETTLE_MS) };
	FILE *f;
	int i, rc;

	snprintf(T.cfg, sizeof(T.cfg), "%s/vusd.json", tmpdir);
	snprintf(T.log, sizeof(T.log), "%s/vusd.log", tmpdir);
	snprintf(T.ctl, sizeof(T.ctl), "%s/ctl.sock", tmpdir);
	f = fopen(T.cfg, "w");
	assert_non_null(f);
	fprintf(f, "{\"control\":\"%s\",\"log_level\":\"warn\",\"devices\":[", T.ctl);
	for (i = 0; i < NDEV; i++) {
		snprintf(T.sock[i], sizeof(T.sock[i]), "%s/%s.sock", tmpdir, names[i]);
		fprintf(f, "%s{\"name\":\"%s\",\"type\":\"testdev\",\"socket\":\"%s\"}",
			i ? "," : "", names[i], T.sock[i]);
	}
	fprintf(f, "]}\n");
	fclose(f);

	ASSERT_OK(vusd_proc_start(&T.v, T.vusd, T.cfg, T.ctl,
				  &(struct vusd_proc_opts){ .log = T.log }));
	/* td2's client, once vusd is up: the well-behaved side of every attack. */
	rc = vusd_proc_client(&T.v, T.sock[GOOD], &opts, bound(SETTLE_MS), &T.good);
	if (rc == -ECHILD)
		assert_vusd_alive();
	if (rc < 0)
		fail_msg("vusd: td2 not served within %d ms: %s", bound(SETTLE_MS), strerror(-rc));
	assert_false(dev_state(0, NULL));
	assert_false(dev_state(1, NULL));
	T.base_fds = settle_fds(-1);
	fprintf(stderr, "vusd pid %d: %d fds with td2's client attached; time scale %d\n",
		(int)T.v.pid, T.base_fds, T.scale);
	return 0;
}

/* SIGTERM: vusd drops td2's client, exits 0, removes every socket file. */
static int teardown(void **state)
{
	char why[96];
	uint32_t v;
	int status = 0, i, rc;

	rc = vusd_proc_stop(&T.v, SIGTERM, bound(SETTLE_MS), &status);
	if (T.good) {
		if (rc == 0)
			assert_true(vus_client_region_read(T.good, 0, TESTDEV_REG_ID, &v, 4) < 0);
		vus_client_close(T.good);
		T.good = NULL;
	}
	/* TSan builds: a data race report makes the exit status 66. */
	if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		vusd_proc_dump_log(&T.v, 40);
		vusd_proc_describe(status, why, sizeof(why));
		fail_msg("vusd after SIGTERM: %s", rc == -ETIMEDOUT ? "still running after the bound" :
			 rc < 0 ? "died before" : why);
	}
	ASSERT_EQ(access(T.ctl, F_OK), -1);
	for (i = 0; i < NDEV; i++)
		ASSERT_EQ(access(T.sock[i], F_OK), -1);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(half_header, test_teardown),
		cmocka_unit_test_teardown(disconnect_mid_body, test_teardown),
		cmocka_unit_test_teardown(never_reads, test_teardown),
		cmocka_unit_test_teardown(stray_fds, test_teardown),
		cmocka_unit_test_teardown(random_bytes, test_teardown),
	};
	const char *build = getenv("VUS_BUILD_DIR");
	int rc;

	if (!build) {
		printf("test_vusd_hostile: skipped: VUS_BUILD_DIR is not set (run it from ctest)\n");
		return 77; /* skipped, not passed */
	}
	T.scale = time_scale();
	snprintf(T.vusd, sizeof(T.vusd), "%s/bin/vusd", build);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = VUS_RUN_TESTS(tests, setup, teardown);
	unlink(T.cfg);
	unlink(T.log);
	rmdir(tmpdir);
	return rc;
}
