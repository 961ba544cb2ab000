/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live update of the real vusd (docs/live-update.md): a testdev and a
 * gpio served by `vusd --live-update`, a client on the testdev with a DMA
 * window (memfd) and an INTx eventfd, DMA both ways with data compared
 * and each interrupt counted exactly once; then the control socket's
 * "upgrade" (the same binary), twice, or SIGHUP, and the same client -- never
 * reconnected -- goes on with the same window and eventfd, registers and
 * BAR1 as they were, under the same pid. Refusals: a new image that
 * cannot load the state (VUSD_LIVE_REFUSE), a binary that is no vusd
 * (/bin/false), vusd without --live-update, a device in its own process;
 * each time the old image keeps serving the client as before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <vus/client.h>

#include "clock.h"
#include "efd.h"
#include "test_server.h"
#include "testdev.h"
#include "vus_test.h"
#include "vusd_proc.h"

#define IOVA 0x10000000ull
#define GUEST_SIZE 0x40000u
#define LEN 0x3000u

static char vusd_path[4096];
static char tmpdir[] = "/tmp/vus-test-live-XXXXXX";
static char ctl_path[100], sock0[100], sock1[100], sock2[100], cfg[200];
static struct vusd_proc V = { .pid = -1 };
static struct vus_client *c;
static uint8_t *guest;
static int efd;

/* One request line, its reply (the dry run may take a while: 60 s). */
static struct json_object *request(const char *line)
{
	static char buf[1 << 16];
	char why[160];

	if (vusd_proc_request(&V, line, 60000, buf, sizeof(buf), why, sizeof(why)) < 0) {
		fprintf(stderr, "%s: %s\n", line, why);
		return NULL;
	}
	return json_tokener_parse(buf);
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

/* iso: a third device in its own process (isolation=process). */
static void start_vusd_with(bool live, const char *refuse, bool iso)
{
	char extra[256] = "";
	FILE *f;
	int fd;

	if (iso)
		snprintf(extra, sizeof(extra), ",{\"name\":\"td1\",\"type\":\"testdev\","
			 "\"socket\":\"%s\",\"isolation\":\"process\"}", sock2);
	f = fopen(cfg, "w");
	assert_non_null(f);
	fprintf(f, "{\"control\":\"%s\",\"log_level\":\"warn\",\"live_update\":%s,"
		"\"devices\":[{\"name\":\"td0\",\"type\":\"testdev\",\"socket\":\"%s\"},"
		"{\"name\":\"g0\",\"type\":\"gpio\",\"socket\":\"%s\"}%s]}\n",
		ctl_path, live ? "true" : "false", sock0, sock1, extra);
	fclose(f);
	ASSERT_OK(vusd_proc_start(&V, vusd_path, cfg, ctl_path,
				  &(struct vusd_proc_opts){ .env_name = refuse ? "VUSD_LIVE_REFUSE" : NULL,
							    .env_value = refuse }));
	/* 5 s, stretched for slow runs (vusd under valgrind). */
	fd = vusd_proc_ctl_connect(&V, 5000 * test_time_scale());
	if (fd < 0)
		fail_msg("cannot connect to %s: %s", ctl_path, strerror(-fd));
	close(fd);
	c = test_connect_path(sock0, 5000);
	ASSERT_OK(vus_client_dma_map(c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true,
				     (void **)&guest));
	efd = efd_new();
	ASSERT_OK(vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1,
				      &efd, NULL));
}

static void start_vusd(bool live, const char *refuse)
{
	start_vusd_with(live, refuse, false);
}

static int teardown(void **state)
{
	int status;

	vus_client_close(c);
	close(efd);
	ASSERT_OK(vusd_proc_stop(&V, SIGTERM, -1, &status));
	assert_true(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(access(sock0, F_OK), -1);
	unlink(cfg);
	return 0;
}

static void eoi(void)
{
	test_reg_write(c, TESTDEV_REG_IRQ_ACK, ~0u);
	ASSERT_OK(vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, NULL,
				      NULL));
}

/* Guest -> BAR1 -> guest, interrupt on completion: data compared, the
 * eventfd signalled exactly once. */
static void dma_round(uint8_t seed)
{
	uint8_t want[LEN], bar[LEN];
	size_t i;

	for (i = 0; i < LEN; i++)
		want[i] = (uint8_t)(seed + i * 7 + (i >> 8));
	memcpy(guest, want, LEN);
	memset(guest + 0x10000, 0, LEN);
	eoi();
	efd_wait(efd, 0);
	ASSERT_OK(test_dma_run(c, IOVA, 0x100, LEN, false));
	ASSERT_OK(vus_client_region_read(c, 1, 0x100, bar, LEN));
	assert_memory_equal(bar, want, LEN);
	test_reg_write(c, TESTDEV_REG_DMA_SRC_LO, 0x100);
	test_reg_write(c, TESTDEV_REG_DMA_SRC_HI, 0);
	test_reg_write(c, TESTDEV_REG_DMA_DST_LO, (uint32_t)(IOVA + 0x10000));
	test_reg_write(c, TESTDEV_REG_DMA_DST_HI, (uint32_t)((IOVA + 0x10000) >> 32));
	test_reg_write(c, TESTDEV_REG_DMA_LEN, LEN);
	test_reg_write(c, TESTDEV_REG_DMA_CMD,
		       TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST | TESTDEV_DMA_IRQ);
	ASSERT_EQ(efd_wait(efd, 5000), 1);
	ASSERT_EQ(test_reg_read(c, TESTDEV_REG_DMA_STATUS) & TESTDEV_DMA_ERROR, 0);
	assert_memory_equal(guest + 0x10000, want, LEN);
	eoi();
	ASSERT_EQ(efd_wait(efd, 50), 0);
}

static void test_upgrade_keeps_the_client(void **state)
{
	struct json_object *r;
	int round;

	start_vusd(true, NULL);
	dma_round(1);
	test_reg_write(c, TESTDEV_REG_SCRATCH, 0x11223344);
	for (round = 0; round < 2; round++) {
		r = request("{\"cmd\":\"upgrade\",\"id\":7}\n");
		assert_non_null(r);
		if (!json_object_get_boolean(get(r, "ok")))
			fail_msg("upgrade failed: %s", json_object_to_json_string(r));
		ASSERT_EQ(json_object_get_int(get(r, "id")), 7);
		ASSERT_EQ(json_object_get_int(get(r, "pid")), V.pid);
		ASSERT_EQ(json_object_array_length(get(r, "devices")), 2);
		printf("upgrade %d: pause %.3f ms\n", round,
		       (double)json_object_get_int64(get(r, "pause_us")) / 1000.0);
		json_object_put(r);
		/* The same client, never reconnected. */
		ASSERT_EQ(test_reg_read(c, TESTDEV_REG_SCRATCH), 0x11223344);
		dma_round((uint8_t)(2 + round));
	}
	r = request("{\"cmd\":\"info\",\"name\":\"g0\"}\n");
	assert_true(json_object_get_boolean(get(r, "ok")));
	json_object_put(r);
}

/* Has vusd exec'ed its next image? Only that one has the state's
 * variable in its environment. */
static bool next_image(void)
{
	char path[64], buf[1 << 14];
	size_t i, n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)V.pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (i = 0; i < n; i += strlen(buf + i) + 1) {
		if (strncmp(buf + i, "VUSD_LIVE_STATE=", 16) == 0)
			return true;
	}
	return false;
}

/* SIGHUP: the same upgrade as the control request, same pid, same client. */
static void test_sighup_upgrades(void **state)
{
	int i;

	start_vusd(true, NULL);
	test_reg_write(c, TESTDEV_REG_SCRATCH, 0x4848);
	dma_round(11);
	assert_false(next_image());
	ASSERT_OK(kill(V.pid, SIGHUP));
	for (i = 0; i < 1000 && !next_image(); i++)
		test_sleep_ms(10);
	assert_true(next_image());
	ASSERT_EQ(test_reg_read(c, TESTDEV_REG_SCRATCH), 0x4848);
	dma_round(12);
}

static void refused(const char *line, const char *part)
{
	struct json_object *r = request(line);

	assert_non_null(r);
	assert_false(json_object_get_boolean(get(r, "ok")));
	if (!strstr(json_object_get_string(get(r, "message")), part))
		fail_msg("expected \"%s\" in %s", part, json_object_to_json_string(r));
	json_object_put(r);
	ASSERT_EQ(test_reg_read(c, TESTDEV_REG_SCRATCH), 0x5555);
	dma_round(9);
}

static void test_refused_old_serves_on(void **state)
{
	start_vusd(true, "1");
	test_reg_write(c, TESTDEV_REG_SCRATCH, 0x5555);
	refused("{\"cmd\":\"upgrade\"}\n", "VUSD_LIVE_REFUSE");
	refused("{\"cmd\":\"upgrade\",\"binary\":\"/bin/false\"}\n", "/bin/false");
	refused("{\"cmd\":\"upgrade\",\"binary\":\"/nonexistent/vusd\"}\n", "cannot execute");
}

static void test_off_without_live_update(void **state)
{
	start_vusd(false, NULL);
	test_reg_write(c, TESTDEV_REG_SCRATCH, 0x5555);
	refused("{\"cmd\":\"upgrade\"}\n", "--live-update");
}

static void test_refused_with_isolated_device(void **state)
{
	start_vusd_with(true, NULL, true);
	test_reg_write(c, TESTDEV_REG_SCRATCH, 0x5555);
	refused("{\"cmd\":\"upgrade\"}\n", "isolation=process");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_upgrade_keeps_the_client, teardown),
		cmocka_unit_test_teardown(test_sighup_upgrades, teardown),
		cmocka_unit_test_teardown(test_refused_old_serves_on, teardown),
		cmocka_unit_test_teardown(test_off_without_live_update, teardown),
		cmocka_unit_test_teardown(test_refused_with_isolated_device, teardown),
	};
	const char *build = getenv("VUS_BUILD_DIR");
	int rc;

	if (!build) {
		VUS_SKIP("VUS_BUILD_DIR is not set (run it from ctest)");
		return 77;
	}
	snprintf(vusd_path, sizeof(vusd_path), "%s/bin/vusd", build);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(ctl_path, sizeof(ctl_path), "%s/ctl.sock", tmpdir);
	snprintf(sock0, sizeof(sock0), "%s/td0.sock", tmpdir);
	snprintf(sock1, sizeof(sock1), "%s/g0.sock", tmpdir);
	snprintf(sock2, sizeof(sock2), "%s/td1.sock", tmpdir);
	snprintf(cfg, sizeof(cfg), "%s/c.json", tmpdir);
	rc = VUS_RUN_TESTS(tests, NULL, NULL);
	rmdir(tmpdir);
	return rc;
}
