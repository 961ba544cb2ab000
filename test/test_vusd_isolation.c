/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Process-isolated devices (docs/security.md "Isolation") against the
 * real vusd with several tenants: td0 and td1 run with "isolation":
 * "process", sh (shared) in vusd's own loop.
 *
 *   holds_nothing_of_others  td0's child has no fd of td1 or sh, and no
 *                            mapping of their clients' guest memory; nor
 *                            has td3, added at run time while sh's client
 *                            has memory mapped (DMA windows are
 *                            MADV_DONTFORK).
 *   holds_no_shared_tenant_state  nv, an nvme device in vusd's loop, holds a
 *                            client's data in its RAM namespace; td0
 *                            (configured), td3 (added after the write) and
 *                            the spawner they are forked from map no such
 *                            memfd, hold no such fd, and the data is
 *                            nowhere in their memory (/proc/PID/mem; vusd's
 *                            own has it: the control). td3's death is
 *                            reported with its signal.
 *   spawner_gone             the spawner killed: logged; an isolated add
 *                            fails naming it; the rest goes on.
 *   stall_does_not_delay     td0's loop held 2 s (testdev "stall"): td1's
 *                            REGION_READ round trips stay under 500 ms;
 *                            the same stall on sh delays sh2, its loop
 *                            mate (printed, not asserted).
 *   stuck_child_costs_one_wait  a child stuck past vusd's 2 s wait: the
 *                            next requests to it fail at once with EBUSY
 *                            (not another wait), then it answers again.
 *   killed_child             SIGKILL td0's child: td1 still serves, info
 *                            says td0 is dead (signal 9), remove cleans up.
 *   sandboxed_child          Seccomp: 2 and NoNewPrivs in the child; a call
 *                            outside the filter fails with EPERM; with
 *                            "user" (root only) the child runs as it. The
 *                            child closes vusd's fds by walking
 *                            /proc/self/fd here (VUSD_TEST_FD_WALK), the
 *                            fallback for kernels without close_range().
 *   forwarded_requests       info, stats (the device's own budget), read,
 *                            write, reset, config, device, log-level,
 *                            remove, through vusd to the child.
 *
 * Sanitizer builds scale the time bounds (VUS_TEST_TIME_SCALE, default 5
 * there), never the assertions.
 */
#define _GNU_SOURCE
#include <dirent.h>
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
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>

#include "clock.h"
#include "nvme_drv.h"
#include "vus_test.h"
#include "test_server.h"
#include "testdev.h"
#include "vusd_proc.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VUS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VUS_SANITIZED 1
#endif
#endif

#define RTT_BOUND_MS 500
#define SETTLE_MS    5000
#define STALL_MS     2000

static struct {
	char vusd[4096];
	char dir[40], cfg[96], log[96], ctl[96];
	struct vusd_proc v;
	int scale;
} T = { .v.pid = -1 };

static int bound(int ms)
{
	return ms * T.scale;
}

static void sock_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s.sock", T.dir, name);
}

static void assert_vusd_alive(void)
{
	char why[96];
	int status;

	if (vusd_proc_alive(&T.v, &status))
		return;
	vusd_proc_dump_log(&T.v, 60);
	vusd_proc_describe(status, why, sizeof(why));
	fail_msg("vusd died: %s", why);
}

/* One request on a new connection; the reply line (a buffer per
 * thread), or NULL on timeout. */
static const char *ctl(const char *line, int timeout_ms)
{
	static __thread char buf[1 << 16];

	return vusd_proc_request(&T.v, line, timeout_ms, buf, sizeof(buf), NULL, 0) < 0 ? NULL
										       : buf;
}

/* The request must succeed; its reply. */
static const char *ctl_ok(const char *line)
{
	const char *r = ctl(line, bound(SETTLE_MS) * 2);

	if (!r)
		fail_msg("%s: no reply", line);
	if (!strstr(r, "\"ok\":true"))
		fail_msg("%s: %s", line, r);
	return r;
}

/* "key":NUMBER in a reply, or -1. */
static long long field_num(const char *r, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(r, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}

static pid_t child_pid(const char *name)
{
	char req[128];
	long long pid;

	snprintf(req, sizeof(req), "{\"cmd\":\"info\",\"name\":\"%s\"}", name);
	pid = field_num(ctl_ok(req), "pid");
	assert_true(pid > 1);
	assert_true(pid != T.v.pid);
	return (pid_t)pid;
}

/* The child is vusd's. */
static void assert_child_of_vusd(pid_t pid)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	assert_non_null(p);
	ASSERT_EQ(sscanf(p + 1, " %*c %d", &ppid), 1);
	ASSERT_EQ(ppid, T.v.pid);
}

/* /proc/PID/status field, as text after the colon. */
static void proc_status(pid_t pid, const char *field, char *out, size_t len)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			snprintf(out, len, "%s", line + flen + 1 + strspn(line + flen + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
		}
	}
	fclose(f);
}

static void write_config(const char *extra, const char *devices)
{
	FILE *f;

	snprintf(T.cfg, sizeof(T.cfg), "%s/vusd.json", T.dir);
	snprintf(T.log, sizeof(T.log), "%s/vusd.log", T.dir);
	snprintf(T.ctl, sizeof(T.ctl), "%s/ctl.sock", T.dir);
	f = fopen(T.cfg, "w");
	assert_non_null(f);
	fprintf(f, "{\"control\":\"%s\",\"log_level\":\"info\",%s\"devices\":[%s]}\n", T.ctl,
		extra, devices);
	fclose(f);
}

static struct vus_client *connect_to(const char *name)
{
	struct vus_client *c = NULL;
	char path[128];
	int rc;

	sock_path(path, sizeof(path), name);
	rc = vusd_proc_client(&T.v, path, NULL, bound(SETTLE_MS), &c);
	if (rc == -ECHILD)
		assert_vusd_alive();
	if (rc < 0)
		fail_msg("%s: no client accepted within %d ms: %s", name, bound(SETTLE_MS),
			 strerror(-rc));
	return c;
}

/* vusd with td0, td1 isolated, sh and sh2 shared; extra: top-level keys. */
static void vusd_start(const char *extra)
{
	char dev[2048];
	size_t used = 0;
	static const char *const names[] = { "td0", "td1", "sh", "sh2" };

	for (int i = 0; i < 4; i++) {
		char path[128];

		sock_path(path, sizeof(path), names[i]);
		used += (size_t)snprintf(dev + used, sizeof(dev) - used,
					 "%s{\"name\":\"%s\",\"type\":\"testdev\",\"socket\":\"%s\"%s}",
					 i ? "," : "", names[i], path,
					 i == 0 ? ",\"isolation\":\"process\",\"budget\":{\"dma_windows\":7}"
					 : i == 1 ? ",\"isolation\":\"process\"" : "");
	}
	write_config(extra, dev);
	ASSERT_OK(vusd_proc_start(&T.v, T.vusd, T.cfg, T.ctl,
				  &(struct vusd_proc_opts){ .log = T.log }));
	vus_client_close(connect_to("sh2")); /* the last one: all are serving */
	assert_vusd_alive();
}

static void vusd_stop(void)
{
	char why[96];
	int status;

	assert_vusd_alive();
	ASSERT_OK(vusd_proc_stop(&T.v, SIGTERM, -1, &status));
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		vusd_proc_dump_log(&T.v, 60);
		vusd_proc_describe(status, why, sizeof(why));
		fail_msg("vusd after SIGTERM: %s", why);
	}
}

static int test_teardown(void **state)
{
	/* SIGTERM: vusd ends and reaps its children, whose listeners would
	 * otherwise outlive a SIGKILLed vusd for a moment and make the next
	 * case's vusd find its sockets taken. */
	vusd_proc_stop(&T.v, SIGTERM, -1, NULL);
	return 0;
}

/* The files behind vusd's own fds 3 and up (anon inodes left out: they
 * all share one inode). */
static size_t vusd_files(ino_t *out, size_t max)
{
	char path[64], link[320], target[256];
	struct dirent *e;
	struct stat st;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)T.v.pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) && n < max) {
		ssize_t len;

		if (e->d_name[0] == '.' || atoi(e->d_name) < 3)
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		/* Anon inodes share one inode, as do opens of one device node
		 * (/dev/null): neither tells whose fd it is. */
		if (len < 0 || !strncmp(target, "anon_inode:", 11) || stat(link, &st) < 0 ||
		    S_ISCHR(st.st_mode))
			continue;
		out[n++] = st.st_ino;
	}
	closedir(d);
	return n;
}

/* Every fd of pid: none may be one of vusd's, nor a socket or memfd it
 * has no business with. */
static void check_fds(pid_t pid, const char *what)
{
	char path[64], link[320], target[256];
	struct dirent *e;
	int sockets = 0, n = 0;
	ino_t theirs[512];
	size_t nr_theirs = vusd_files(theirs, 512);
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		n++;
		fprintf(stderr, "%s: fd %s -> %s\n", what, e->d_name, target);
		if (atoi(e->d_name) >= 3 && strncmp(target, "anon_inode:", 11)) {
			struct stat st;

			assert_int_equal(stat(link, &st), 0);
			for (size_t i = 0; i < nr_theirs && !S_ISCHR(st.st_mode); i++)
				if (theirs[i] == st.st_ino)
					fail_msg("%s holds vusd's fd %s (%s)", what, e->d_name,
						 target);
		}
		sockets += !strncmp(target, "socket:", 7);
		if (strstr(target, "nvme-emu-"))
			fail_msg("%s holds an nvme namespace's fd (%s)", what, target);
		if (strstr(target, "vus-client-dma"))
			fail_msg("%s holds a client's guest memory fd (%s)", what, target);
		if (strstr(target, "ctl.sock") || strstr(target, "vusd.json"))
			fail_msg("%s holds vusd's %s", what, target);
	}
	closedir(d);
	/* Its listener, its channel to vusd, and at most its own client. */
	if (sockets > 3)
		fail_msg("%s holds %d sockets: another device's or vusd's", what, sockets);
	fprintf(stderr, "%s: %d fds, %d sockets\n", what, n, sockets);
}

static void check_maps(pid_t pid, const char *what)
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "vus-client-dma"))
			fail_msg("%s maps a client's guest memory: %s", what, line);
	fclose(f);
}

static void holds_nothing_of_others(void **state)
{
	struct vus_client *c1, *csh;
	void *mem1, *memsh;
	char req[512], path[128];
	pid_t p0, p3;

	vusd_start("");
	c1 = connect_to("td1");
	csh = connect_to("sh");
	ASSERT_OK(vus_client_dma_map(c1, 0x100000, 1 << 20,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true, &mem1));
	ASSERT_OK(vus_client_dma_map(csh, 0x100000, 1 << 20,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true, &memsh));
	/* vusd itself maps sh's client memory (sh is shared)... */
	{
		char mpath[64], line[512];
		bool seen = false;
		FILE *f;

		snprintf(mpath, sizeof(mpath), "/proc/%d/maps", (int)T.v.pid);
		f = fopen(mpath, "r");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f))
			seen |= strstr(line, "vus-client-dma") != NULL;
		fclose(f);
		assert_true(seen);
	}
	/* ...but td1's child alone maps td1's. */
	p0 = child_pid("td0");
	assert_child_of_vusd(p0);
	check_fds(p0, "td0's process");
	check_maps(p0, "td0's process");
	/* Forked now, from a vusd that maps sh's client memory. */
	sock_path(path, sizeof(path), "td3");
	snprintf(req, sizeof(req), "{\"cmd\":\"add\",\"spec\":\"testdev,name=td3,"
		 "isolation=process,socket=%s\"}", path);
	ctl_ok(req);
	p3 = child_pid("td3");
	assert_child_of_vusd(p3);
	check_fds(p3, "td3's process");
	check_maps(p3, "td3's process");
	/* Each still serves its own. */
	ASSERT_OK(test_dma_run(c1, 0x100000, 0, 4096, false));
	ASSERT_OK(test_dma_run(csh, 0x100000, 0, 4096, false));
	vus_client_close(c1);
	vus_client_close(csh);
	vusd_stop();
}

/* ---- a shared tenant's guest data ---------------------------------------------- */

/* The spawner (server/spawner.c): vusd's child named vusd-spawner. */
static pid_t spawner_pid(void)
{
	char path[300], buf[512], *p;
	struct dirent *e;
	pid_t found = -1;
	DIR *d = opendir("/proc");

	assert_non_null(d);
	while ((e = readdir(d))) {
		int ppid = -1;
		FILE *f;
		size_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == T.v.pid &&
		    strstr(buf, "(vusd-spawner)"))
			found = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	if (found < 0)
		fail_msg("vusd (%d) has no child named vusd-spawner", (int)T.v.pid);
	return found;
}

/*
 * Scan pid's readable mappings (up to 64 MiB each: a sanitizer's shadow
 * is terabytes of nothing) for needle through /proc/PID/mem: 1 found, 0
 * not, -errno if the kernel does not let this process read it.
 */
#define SCAN_MAP_MAX (64u << 20)
static int mem_has(pid_t pid, const void *needle, size_t nlen)
{
	char path[64], line[512];
	static char buf[(1u << 20) + 256];
	int fd, found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, at;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
		    hi - lo > SCAN_MAP_MAX)
			continue;
		/* Chunks overlap by nlen - 1: a needle across two is seen. */
		for (at = lo; !found && at < hi; at += sizeof(buf) - 256) {
			size_t want = hi - at < sizeof(buf) ? hi - at : sizeof(buf);
			ssize_t n = pread(fd, buf, want, (off_t)at);

			if (n <= 0)
				break; /* [vvar] and the like */
			found = memmem(buf, (size_t)n, needle, nlen) != NULL;
		}
	}
	fclose(f);
	close(fd);
	return found;
}

/* Does pid map a memfd whose name has s? */
static bool maps_has(pid_t pid, const char *s)
{
	char path[64], line[512];
	bool seen = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		seen |= strstr(line, s) != NULL;
	fclose(f);
	return seen;
}

/* A client writes marker to LBA 0 of nvme device name's namespace 1. */
static struct nvme_drv *nvme_write_marker(struct vus_client *c, const uint8_t *marker,
					  size_t len)
{
	struct nvme_drv_client_opts co = { .mem_size = 1u << 20 };
	struct nvme_drv_opts dopts = { 0 };
	struct nvme_drv_transport tr;
	struct nvme_drv *d;
	uint16_t sq = 0, cq = 0;
	uint64_t iova;
	void *p;

	ASSERT_OK(nvme_drv_client_transport(c, &co, &tr));
	ASSERT_OK(nvme_drv_open(&tr, &dopts, &d));
	ASSERT_OK(nvme_drv_set_num_queues(d, 1, 1, &sq, &cq));
	ASSERT_OK(nvme_drv_create_qpair(d, 1, 16));
	p = nvme_drv_alloc(d, NVD_PAGE, &iova);
	assert_non_null(p);
	memset(p, 0, NVD_PAGE);
	memcpy(p, marker, len);
	ASSERT_OK(nvme_drv_rw(d, 1, NVD_CMD_WRITE, 1, 0, NVD_PAGE / 512, iova, NVD_PAGE,
			      NVME_DRV_PRP));
	/* The arena (the client's guest memory) forgets it: the namespace,
	 * vusd's, holds the one copy the server side has. */
	memset(p, 0, NVD_PAGE);
	nvme_drv_free(d, p, NVD_PAGE);
	return d;
}

/* A process that must hold nothing of nv's tenant. */
static void check_clean(pid_t pid, const char *what, const uint8_t *marker, size_t len,
			bool mem)
{
	check_fds(pid, what);
	check_maps(pid, what);
	if (maps_has(pid, "nvme-emu-nv"))
		fail_msg("%s maps nv's namespace (another tenant's disk)", what);
	if (mem && mem_has(pid, marker, len) == 1)
		fail_msg("%s holds nv's guest data in its memory", what);
	fprintf(stderr, "%s: no mapping of nv's namespace%s\n", what,
		mem ? ", its data nowhere in its memory" : "");
}

/*
 * nv, an nvme device in vusd's loop, holds guest data in its RAM
 * namespace (a memfd vusd maps). td0 (configured) and td3 (added after
 * the data was written) are forked from the spawner: neither they nor
 * the spawner map the namespace, hold its fd, or have the data anywhere
 * in their memory; vusd has both (the check's own control). Then td3's
 * death is still reported, with the signal.
 */
static void holds_no_shared_tenant_state(void **state)
{
	char dev[1024], p0s[128], pnv[128], p3s[128], req[512];
	uint8_t marker[48] = "vus-isolation-marker:";
	struct vus_client *cnv;
	struct nvme_drv *d;
	pid_t p0, p3, ps;
	bool mem;
	int rc;

	assert_int_equal(getrandom(marker + 21, sizeof(marker) - 21, 0),
			 (ssize_t)(sizeof(marker) - 21));
	sock_path(p0s, sizeof(p0s), "td0");
	sock_path(pnv, sizeof(pnv), "nv");
	snprintf(dev, sizeof(dev),
		 "{\"name\":\"td0\",\"type\":\"testdev\",\"socket\":\"%s\",\"isolation\":\"process\"},"
		 "{\"name\":\"nv\",\"type\":\"nvme\",\"socket\":\"%s\",\"size\":\"1M\"}", p0s, pnv);
	write_config("", dev);
	ASSERT_OK(vusd_proc_start(&T.v, T.vusd, T.cfg, T.ctl,
				  &(struct vusd_proc_opts){ .log = T.log }));
	cnv = connect_to("nv");
	d = nvme_write_marker(cnv, marker, sizeof(marker));
	/* The control: vusd maps the namespace, the data is in its memory. */
	assert_true(maps_has(T.v.pid, "nvme-emu-nv"));
	rc = mem_has(T.v.pid, marker, sizeof(marker));
	mem = rc >= 0;
	if (mem)
		ASSERT_EQ(rc, 1);
	else
		fprintf(stderr, "/proc/%d/mem unreadable here (%s): the maps and fds checks "
			"only\n", (int)T.v.pid, strerror(-rc));
	/* Added now, with the data in vusd's memory. */
	sock_path(p3s, sizeof(p3s), "td3");
	snprintf(req, sizeof(req), "{\"cmd\":\"add\",\"spec\":\"testdev,name=td3,"
		 "isolation=process,socket=%s\"}", p3s);
	ctl_ok(req);
	p0 = child_pid("td0");
	p3 = child_pid("td3");
	assert_child_of_vusd(p0);
	assert_child_of_vusd(p3);
	check_clean(p3, "td3's process (added at run time)", marker, sizeof(marker), mem);
	check_clean(p0, "td0's process (configured)", marker, sizeof(marker), mem);
	ps = spawner_pid();
	check_clean(ps, "the spawner", marker, sizeof(marker), mem);
	/* td3's death is vusd's to report, as any child's. */
	ASSERT_OK(kill(p3, SIGKILL));
	{
		int64_t deadline = test_now_us() + (int64_t)bound(SETTLE_MS) * 1000;
		const char *r;

		while (!strstr((r = ctl_ok("{\"cmd\":\"info\",\"name\":\"td3\"}")),
			       "\"state\":\"dead\"")) {
			if (test_now_us() > deadline)
				fail_msg("td3 not reported dead: %s", r);
			test_sleep_ms(20);
		}
		ASSERT_EQ(field_num(r, "signal"), SIGKILL);
	}
	ctl_ok("{\"cmd\":\"remove\",\"name\":\"td3\"}");
	nvme_drv_close(d);
	vus_client_close(cnv);
	vusd_stop();
}

/*
 * The spawner killed: vusd logs it, an isolated add fails with an error
 * naming the spawner, vusd and its devices go on (td0 isolated, sh
 * shared), a shared add still works.
 */
static void spawner_gone(void **state)
{
	struct vus_client *c0;
	char req[512], path[128];
	const char *r;
	int64_t deadline;

	vusd_start("");
	c0 = connect_to("td0");
	test_reg_write(c0, TESTDEV_REG_SCRATCH, 0x5a5a);
	ASSERT_OK(kill(spawner_pid(), SIGKILL));
	deadline = test_now_us() + (int64_t)bound(SETTLE_MS) * 1000;
	while (!vusd_proc_log_has(&T.v, "the spawner")) {
		if (test_now_us() > deadline)
			fail_msg("the spawner's death not logged");
		test_sleep_ms(20);
	}
	sock_path(path, sizeof(path), "td4");
	snprintf(req, sizeof(req), "{\"cmd\":\"add\",\"spec\":\"testdev,name=td4,"
		 "isolation=process,socket=%s\"}", path);
	r = ctl(req, bound(SETTLE_MS));
	assert_non_null(r);
	fprintf(stderr, "isolated add without a spawner: %s", r);
	assert_non_null(strstr(r, "\"ok\":false"));
	assert_non_null(strstr(r, "spawner"));
	ASSERT_ERR(access(path, F_OK) == 0 ? 0 : -errno, -ENOENT);
	sock_path(path, sizeof(path), "sh4");
	snprintf(req, sizeof(req), "{\"cmd\":\"add\",\"spec\":\"testdev,name=sh4,socket=%s\"}",
		 path);
	ctl_ok(req);
	vus_client_close(connect_to("sh4"));
	ASSERT_EQ(test_reg_read(c0, TESTDEV_REG_SCRATCH), 0x5a5a);
	vus_client_close(c0);
	vusd_stop();
}

/* ---- time ---------------------------------------------------------------------- */

struct stall {
	pthread_t th;
	char req[128];
	bool ok;
};

static void *stall_main(void *arg)
{
	struct stall *s = arg;
	const char *r = ctl(s->req, bound(SETTLE_MS) * 3);

	/* A process-isolated device's stall outlasts vusd's 2 s wait for
	 * its answer: ETIMEDOUT then, the stall itself goes on. */
	s->ok = r && (strstr(r, "\"ok\":true") || strstr(r, "\"error\":\"ETIMEDOUT\""));
	return NULL;
}

/* Hold victim_of's loop STALL_MS and measure name's REGION_READ round
 * trips meanwhile: the longest, in us. */
static int64_t rtt_during_stall(const char *stalled, const char *name, uint64_t *trips)
{
	struct vus_client *c = connect_to(name);
	struct stall s = { 0 };
	int64_t start, max = 0;
	uint32_t v;

	snprintf(s.req, sizeof(s.req), "{\"cmd\":\"device\",\"name\":\"%s\",\"args\":"
		 "[\"stall\",\"%d\"]}", stalled, STALL_MS);
	ASSERT_OK(pthread_create(&s.th, NULL, stall_main, &s));
	test_sleep_ms(100); /* the stall under way */
	*trips = 0;
	start = test_now_us();
	while (test_now_us() - start < (STALL_MS - 300) * 1000ll) {
		int64_t t0 = test_now_us(), dt;

		ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_SCRATCH, &v, 4));
		dt = test_now_us() - t0;
		if (dt > max)
			max = dt;
		(*trips)++;
		test_sleep_ms(1);
	}
	pthread_join(s.th, NULL);
	assert_true(s.ok);
	vus_client_close(c);
	return max;
}

static void stall_does_not_delay(void **state)
{
	int64_t iso, shared;
	uint64_t n_iso, n_shared;

	vusd_start("");
	iso = rtt_during_stall("td0", "td1", &n_iso);
	shared = rtt_during_stall("sh", "sh2", &n_shared);
	fprintf(stderr, "td0 (process) stalled %d ms: td1's longest REGION_READ %.2f ms over %llu "
		"round trips (bound %d ms)\n", STALL_MS, iso / 1000.0,
		(unsigned long long)n_iso, bound(RTT_BOUND_MS));
	fprintf(stderr, "sh (shared loop) stalled %d ms: sh2's longest REGION_READ %.2f ms over "
		"%llu round trips (for comparison, not asserted)\n", STALL_MS, shared / 1000.0,
		(unsigned long long)n_shared);
	assert_true(n_iso >= 3);
	if (iso > bound(RTT_BOUND_MS) * 1000ll)
		fail_msg("td1's round trip took %.1f ms while td0 stalled", iso / 1000.0);
	vusd_stop();
}

/* A child stuck past vusd's 2 s wait costs vusd's loop that one wait:
 * later requests to it fail at once (EBUSY), the others are answered at
 * once, and it answers again once unstuck. */
static void stuck_child_costs_one_wait(void **state)
{
	struct stall s = { 0 };
	const char *r;
	int64_t t0, dt;

	vusd_start("");
	snprintf(s.req, sizeof(s.req), "{\"cmd\":\"device\",\"name\":\"td0\",\"args\":"
		 "[\"stall\",\"4500\"]}");
	ASSERT_OK(pthread_create(&s.th, NULL, stall_main, &s));
	pthread_join(s.th, NULL); /* vusd gave up after 2 s */
	assert_true(s.ok);
	t0 = test_now_us();
	r = ctl("{\"cmd\":\"info\",\"name\":\"td0\"}", bound(SETTLE_MS));
	dt = test_now_us() - t0;
	fprintf(stderr, "info of a stuck child: %.1f ms: %s", dt / 1000.0, r ? r : "(none)\n");
	assert_non_null(r);
	assert_non_null(strstr(r, "\"error\":\"EBUSY\""));
	assert_true(dt < bound(RTT_BOUND_MS) * 1000ll);
	t0 = test_now_us();
	r = ctl_ok("{\"cmd\":\"list\"}");
	dt = test_now_us() - t0;
	fprintf(stderr, "list with a stuck child: %.1f ms\n", dt / 1000.0);
	assert_non_null(strstr(r, "\"state\":\"unresponsive\""));
	assert_true(dt < bound(RTT_BOUND_MS) * 1000ll);
	ctl_ok("{\"cmd\":\"info\",\"name\":\"td1\"}");
	test_sleep_ms(3000); /* the stall is over */
	r = ctl_ok("{\"cmd\":\"info\",\"name\":\"td0\"}");
	assert_non_null(strstr(r, "\"state\":\"running\""));
	vusd_stop();
}

/* ---- death --------------------------------------------------------------------- */

static void killed_child(void **state)
{
	struct vus_client *c1;
	const char *r;
	char path[128];
	int64_t deadline;
	pid_t p0;

	vusd_start("");
	c1 = connect_to("td1");
	test_reg_write(c1, TESTDEV_REG_SCRATCH, 0x1234);
	p0 = child_pid("td0");
	ASSERT_OK(kill(p0, SIGKILL));
	deadline = test_now_us() + (int64_t)bound(SETTLE_MS) * 1000;
	while (!strstr(ctl_ok("{\"cmd\":\"info\",\"name\":\"td0\"}"), "\"state\":\"dead\"")) {
		if (test_now_us() > deadline)
			fail_msg("td0 not reported dead");
		test_sleep_ms(20);
	}
	r = ctl_ok("{\"cmd\":\"info\",\"name\":\"td0\"}");
	fprintf(stderr, "info td0: %s", r);
	ASSERT_EQ(field_num(r, "signal"), SIGKILL);
	assert_true(vusd_proc_log_has(&T.v, "killed by signal 9"));
	r = ctl_ok("{\"cmd\":\"list\"}");
	assert_non_null(strstr(r, "\"state\":\"dead\""));
	/* Requests that need the device say so. */
	r = ctl("{\"cmd\":\"read\",\"name\":\"td0\",\"region\":0,\"offset\":8,\"len\":4}", 5000);
	assert_non_null(r);
	assert_non_null(strstr(r, "\"error\":\"ESRCH\""));
	/* The others go on. */
	ASSERT_EQ(test_reg_read(c1, TESTDEV_REG_SCRATCH), 0x1234);
	vus_client_close(connect_to("sh"));
	assert_vusd_alive();
	ctl_ok("{\"cmd\":\"remove\",\"name\":\"td0\"}");
	sock_path(path, sizeof(path), "td0");
	ASSERT_ERR(access(path, F_OK) == 0 ? 0 : -errno, -ENOENT);
	r = ctl_ok("{\"cmd\":\"list\"}");
	assert_null(strstr(r, "\"td0\""));
	ASSERT_EQ(test_reg_read(c1, TESTDEV_REG_SCRATCH), 0x1234);
	vus_client_close(c1);
	vusd_stop();
}

/* ---- sandbox ------------------------------------------------------------------- */

static void sandboxed_child(void **state)
{
	char v[128], extra[64] = "";
	bool as_user = geteuid() == 0;
	pid_t p0;

	if (as_user)
		snprintf(extra, sizeof(extra), "\"user\":\"65534\",\"group\":\"65534\",");
	else
		fprintf(stderr, "not root: the child's privilege drop (user 65534) is not checked "
			"here; seccomp and no_new_privs are\n");
	/* The sockets' directory must be the user's to reach. */
	ASSERT_OK(chmod(T.dir, 0755));
	ASSERT_OK(setenv("VUSD_TEST_FD_WALK", "1", 1));
	vusd_start(extra);
	ASSERT_OK(unsetenv("VUSD_TEST_FD_WALK"));
	p0 = child_pid("td0");
	check_fds(p0, "td0's process (fds closed by the /proc walk)");
	proc_status(p0, "Seccomp", v, sizeof(v));
#ifdef VUS_SANITIZED
	ASSERT_EQ(strcmp(v, "0"), 0); /* off in sanitizer builds (docs/security.md) */
#else
	fprintf(stderr, "td0's process: Seccomp %s\n", v);
	ASSERT_EQ(strcmp(v, "2"), 0);
	const char *r = ctl_ok("{\"cmd\":\"device\",\"name\":\"td0\",\"args\":[\"sandbox-probe\"]}");
	fprintf(stderr, "sandbox-probe in td0's process: %s", r);
	ASSERT_EQ(field_num(r, "errno"), EPERM);
#endif
	proc_status(p0, "NoNewPrivs", v, sizeof(v));
	ASSERT_EQ(strcmp(v, "1"), 0);
	if (as_user) {
		proc_status(p0, "Uid", v, sizeof(v));
		fprintf(stderr, "td0's process: Uid %s\n", v);
		ASSERT_EQ(strncmp(v, "65534\t65534\t65534", 17), 0);
		proc_status(p0, "Gid", v, sizeof(v));
		ASSERT_EQ(strncmp(v, "65534\t65534\t65534", 17), 0);
		proc_status(p0, "CapEff", v, sizeof(v));
		ASSERT_EQ(strtoull(v, NULL, 16), 0);
	}
	vus_client_close(connect_to("td0"));
	vusd_stop();
	ASSERT_OK(chmod(T.dir, 0700));
	if (!as_user)
		VUS_SKIP("not root: cannot check the drop to --user in the child");
}

/* ---- control ------------------------------------------------------------------- */

static void forwarded_requests(void **state)
{
	struct vus_client *c0;
	const char *r;
	pid_t p0;

	vusd_start("");
	p0 = child_pid("td0");
	r = ctl_ok("{\"cmd\":\"info\",\"name\":\"td0\"}");
	assert_non_null(strstr(r, "\"isolation\":\"process\""));
	assert_non_null(strstr(r, "\"regions\""));
	ctl_ok("{\"cmd\":\"write\",\"name\":\"td0\",\"region\":0,\"offset\":4,"
	       "\"data\":\"78563412\"}");
	r = ctl_ok("{\"cmd\":\"read\",\"name\":\"td0\",\"region\":0,\"offset\":4,\"len\":4}");
	assert_non_null(strstr(r, "\"data\":\"78563412\""));
	/* The child's device, not vusd's: a client sees the same. */
	c0 = connect_to("td0");
	ASSERT_EQ(test_reg_read(c0, TESTDEV_REG_SCRATCH), 0x12345678);
	/* Attached now: changing needs force, as for a shared device. */
	r = ctl("{\"cmd\":\"reset\",\"name\":\"td0\"}", 5000);
	assert_non_null(r);
	assert_non_null(strstr(r, "EBUSY"));
	r = ctl("{\"cmd\":\"remove\",\"name\":\"td0\"}", 5000);
	assert_non_null(strstr(r, "EBUSY"));
	ctl_ok("{\"cmd\":\"reset\",\"name\":\"td0\",\"force\":true}");
	ASSERT_EQ(test_reg_read(c0, TESTDEV_REG_SCRATCH), 0);
	r = ctl_ok("{\"cmd\":\"config\",\"name\":\"td0\"}");
	r = ctl_ok("{\"cmd\":\"list\"}");
	assert_non_null(strstr(r, "\"attached\":true"));
	/* Its own budget (7 windows), td1 the global default. */
	r = ctl_ok("{\"cmd\":\"stats\",\"name\":\"td0\"}");
	assert_non_null(strstr(r, "\"dma_windows\":{\"used\":0,\"limit\":7}"));
	assert_non_null(strstr(r, "\"REGION_READ\":"));
	r = ctl_ok("{\"cmd\":\"stats\"}");
	assert_non_null(strstr(r, "\"dma_windows\":{\"used\":0,\"limit\":1024}"));
	ctl_ok("{\"cmd\":\"log-level\",\"level\":\"debug\"}");
	ctl_ok("{\"cmd\":\"log-level\",\"level\":\"info\"}");
	/* The budget holds in the child: the 8th window is refused. */
	for (int i = 0; i < 8; i++) {
		void *m;
		int rc = vus_client_dma_map(c0, 0x100000ull * (i + 1), 4096,
					    VUS_DMA_MAP_FLAG_READ, true, &m);

		if (i < 7)
			ASSERT_OK(rc);
		else
			ASSERT_ERR(rc, -ENOSPC);
	}
	ctl_ok("{\"cmd\":\"remove\",\"name\":\"td0\",\"force\":true}");
	/* Gone and reaped: no zombie left. */
	ASSERT_ERR(kill(p0, 0) == 0 ? 0 : -errno, -ESRCH);
	vus_client_close(c0);
	vusd_stop();
}

static int group_setup(void **state)
{
	const char *b = getenv("VUS_BUILD_DIR");
	const char *s = getenv("VUS_TEST_TIME_SCALE");

	snprintf(T.vusd, sizeof(T.vusd), "%s/bin/vusd", b ? b : "build");
	snprintf(T.dir, sizeof(T.dir), "/tmp/vus-test-iso-XXXXXX");
	assert_non_null(mkdtemp(T.dir));
#ifdef VUS_SANITIZED
	T.scale = 5;
#else
	T.scale = 1;
#endif
	if (s && atoi(s) > 0)
		T.scale = atoi(s);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", T.dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(holds_nothing_of_others, test_teardown),
		cmocka_unit_test_teardown(holds_no_shared_tenant_state, test_teardown),
		cmocka_unit_test_teardown(spawner_gone, test_teardown),
		cmocka_unit_test_teardown(stall_does_not_delay, test_teardown),
		cmocka_unit_test_teardown(stuck_child_costs_one_wait, test_teardown),
		cmocka_unit_test_teardown(killed_child, test_teardown),
		cmocka_unit_test_teardown(sandboxed_child, test_teardown),
		cmocka_unit_test_teardown(forwarded_requests, test_teardown),
	};

	return VUS_RUN_TESTS(tests, group_setup, group_teardown);
}
