/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * save, load and migrate: device state through migration v2, with vusctl
 * as the devices' client (docs/migration.md "vusctl save, load, migrate").
 *
 * The bytes are the device's migration stream as it produces them (for a
 * device with VUS_MIGRATION_FRAMED: the library's checked stream), so a
 * saved file loads only into a device of the same type, and a damaged one
 * is refused at RESUMING -> STOP without being loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vus/client.h>

#include "vusctl.h"

/* One MIG_DATA_READ/WRITE: within every server's default max_data_xfer_size. */
#define MIG_CHUNK (512u << 10)
/* Pre-copy rounds before stop-copy, at most. */
#define MAX_ROUNDS 16

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what, const char *path, int rc)
{
	fprintf(stderr, "vusctl: %s: %s: %s\n", path, what, strerror(-rc));
	return VUSCTL_FAILED;
}

/* Read what the device has now (until a short read); hand it to sink. */
static int drain(struct vus_client *c, const char *path, uint64_t *bytes,
		 int (*sink)(void *arg, const uint8_t *p, size_t n), void *arg)
{
	static uint8_t buf[MIG_CHUNK];
	uint32_t got;
	int rc;

	do {
		rc = vus_client_mig_data_read(c, buf, MIG_CHUNK, &got);
		if (rc < 0)
			return fail("MIG_DATA_READ", path, rc);
		if (got && (rc = sink(arg, buf, got)) != VUSCTL_OK)
			return rc;
		*bytes += got;
	} while (got == MIG_CHUNK);
	return VUSCTL_OK;
}

static int sink_file(void *arg, const uint8_t *p, size_t n)
{
	if (fwrite(p, 1, n, arg) != n) {
		fprintf(stderr, "vusctl: writing the state file: %s\n", strerror(errno));
		return VUSCTL_FAILED;
	}
	return VUSCTL_OK;
}

struct dst {
	struct vus_client *c;
	const char *path;
};

static int sink_dev(void *arg, const uint8_t *p, size_t n)
{
	struct dst *d = arg;
	int rc = vus_client_mig_data_write(d->c, p, (uint32_t)n);

	return rc < 0 ? fail("MIG_DATA_WRITE (the stream was refused: see its log)", d->path,
			     rc) : VUSCTL_OK;
}

int vusctl_save(const struct vusctl *v, int argc, char **argv)
{
	struct vusctl_args a;
	struct vus_client *c;
	uint64_t bytes = 0;
	FILE *f;
	int rc;

	if ((rc = vusctl_args(argc, argv, "save", "", 2, 2, &a)) >= 0)
		return rc;
	f = fopen(a.pos[1], "wb");
	if (!f) {
		fprintf(stderr, "vusctl: %s: %s\n", a.pos[1], strerror(errno));
		return VUSCTL_FAILED;
	}
	if ((rc = vusctl_open(v, a.pos[0], &c)) != VUSCTL_OK) {
		fclose(f);
		return rc;
	}
	rc = vus_client_mig_set_state(c, VUS_MIG_STATE_STOP_COPY);
	rc = rc < 0 ? fail("STOP_COPY", a.pos[0], rc) : drain(c, a.pos[0], &bytes, sink_file, f);
	/* The device runs on: a snapshot, not a move. */
	if (vus_client_mig_set_state(c, VUS_MIG_STATE_RUNNING) < 0 && rc == VUSCTL_OK)
		rc = fail("back to RUNNING", a.pos[0], -EIO);
	vus_client_close(c);
	if (fclose(f) != 0 && rc == VUSCTL_OK)
		rc = VUSCTL_FAILED;
	if (rc == VUSCTL_OK)
		printf(v->json ? "{\"bytes\":%llu}\n" : "saved %llu bytes\n",
		       (unsigned long long)bytes);
	return rc;
}

int vusctl_load(const struct vusctl *v, int argc, char **argv)
{
	static uint8_t buf[MIG_CHUNK];
	struct vusctl_args a;
	struct dst d;
	uint64_t bytes = 0;
	size_t n;
	FILE *f;
	int rc;

	if ((rc = vusctl_args(argc, argv, "load", "", 2, 2, &a)) >= 0)
		return rc;
	f = fopen(a.pos[1], "rb");
	if (!f) {
		fprintf(stderr, "vusctl: %s: %s\n", a.pos[1], strerror(errno));
		return VUSCTL_FAILED;
	}
	if ((rc = vusctl_open(v, a.pos[0], &d.c)) != VUSCTL_OK) {
		fclose(f);
		return rc;
	}
	d.path = a.pos[0];
	rc = vus_client_mig_set_state(d.c, VUS_MIG_STATE_RESUMING);
	if (rc < 0)
		rc = fail("RESUMING", d.path, rc);
	else
		rc = VUSCTL_OK;
	while (rc == VUSCTL_OK && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		rc = sink_dev(&d, buf, n);
		bytes += n;
	}
	if (rc == VUSCTL_OK && ferror(f))
		rc = fail("reading the state file", a.pos[1], -EIO);
	if (rc == VUSCTL_OK) {
		int err = vus_client_mig_set_state(d.c, VUS_MIG_STATE_STOP);

		if (err < 0)
			rc = fail("RESUMING -> STOP refused the state (see the device's log); the "
				  "device is in ERROR until reset", d.path, err);
		else if ((err = vus_client_mig_set_state(d.c, VUS_MIG_STATE_RUNNING)) < 0)
			rc = fail("RUNNING", d.path, err);
	}
	vus_client_close(d.c);
	fclose(f);
	if (rc == VUSCTL_OK)
		printf(v->json ? "{\"bytes\":%llu}\n" : "loaded %llu bytes\n",
		       (unsigned long long)bytes);
	return rc;
}

int vusctl_migrate(const struct vusctl *v, int argc, char **argv)
{
	struct vusctl_args a;
	struct vus_client *src;
	struct dst d;
	uint64_t t0, t_stop, t_end, pre = 0, last = 0, fin = 0;
	unsigned round = 0;
	bool pre_copy;
	int rc;

	if ((rc = vusctl_args(argc, argv, "migrate", "", 2, 2, &a)) >= 0)
		return rc;
	if ((rc = vusctl_open(v, a.pos[0], &src)) != VUSCTL_OK)
		return rc;
	if ((rc = vusctl_open(v, a.pos[1], &d.c)) != VUSCTL_OK) {
		vus_client_close(src);
		return rc;
	}
	d.path = a.pos[1];
	t0 = now_ns();
	rc = vus_client_mig_set_state(d.c, VUS_MIG_STATE_RESUMING);
	if (rc < 0) {
		rc = fail("RESUMING", d.path, rc);
		goto out;
	}
	rc = VUSCTL_OK;
	/* Pre-copy while the source runs, if it offers it: rounds until a
	 * round brings nothing new (converged) or MAX_ROUNDS. */
	pre_copy = vus_client_mig_set_state(src, VUS_MIG_STATE_PRE_COPY) == 0;
	while (pre_copy && round < MAX_ROUNDS) {
		uint64_t r0 = now_ns(), n = 0;
		double s;

		rc = drain(src, a.pos[0], &n, sink_dev, &d);
		if (rc != VUSCTL_OK)
			goto out;
		round++;
		pre += n;
		last = n;
		s = (double)(now_ns() - r0) / 1e9;
		if (!v->json)
			fprintf(stderr, "round %u: %llu bytes (%.1f MB/s), estimated downtime "
				"%.3f ms\n", round, (unsigned long long)n,
				s > 0 ? (double)n / s / 1e6 : 0.0, s * 1e3);
		if (n == 0)
			break;
	}
	/* Stop-copy: the downtime runs from the source stopping to the
	 * destination running. */
	t_stop = now_ns();
	rc = vus_client_mig_set_state(src, VUS_MIG_STATE_STOP_COPY);
	if (rc < 0) {
		rc = fail("STOP_COPY", a.pos[0], rc);
		goto out;
	}
	rc = drain(src, a.pos[0], &fin, sink_dev, &d);
	if (rc != VUSCTL_OK)
		goto out;
	rc = vus_client_mig_set_state(d.c, VUS_MIG_STATE_STOP);
	if (rc < 0) {
		rc = fail("RESUMING -> STOP refused the state (see the device's log)", d.path, rc);
		goto out;
	}
	rc = vus_client_mig_set_state(d.c, VUS_MIG_STATE_RUNNING);
	if (rc < 0) {
		rc = fail("RUNNING", d.path, rc);
		goto out;
	}
	t_end = now_ns();
	/* The source stays stopped while we are its client; when we leave,
	 * the library returns it to RUNNING with no client (docs/migration.md). */
	(void)vus_client_mig_set_state(src, VUS_MIG_STATE_STOP);
	if (v->json)
		printf("{\"rounds\":%u,\"precopy_bytes\":%llu,\"stopcopy_bytes\":%llu,"
		       "\"downtime_us\":%llu,\"total_us\":%llu}\n", round,
		       (unsigned long long)pre, (unsigned long long)fin,
		       (unsigned long long)((t_end - t_stop) / 1000),
		       (unsigned long long)((t_end - t0) / 1000));
	else
		printf("migrated %s -> %s: %u pre-copy rounds (%llu bytes, last %llu), "
		       "stop-copy %llu bytes, downtime %.3f ms, total %.3f ms\n", a.pos[0],
		       a.pos[1], round, (unsigned long long)pre, (unsigned long long)last,
		       (unsigned long long)fin, (double)(t_end - t_stop) / 1e6,
		       (double)(t_end - t0) / 1e6);
	rc = VUSCTL_OK;
out:
	vus_client_close(src);
	vus_client_close(d.c);
	return rc;
}
