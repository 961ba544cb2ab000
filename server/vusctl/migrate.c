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

/* Estimated stop-copy time for n bytes at rate bytes/s, plus the state
 * changes' round trips (measured as the first round's fixed cost). */
static double estimate_s(uint64_t n, double rate, double fixed_s)
{
	return (rate > 0 ? (double)n / rate : 0.0) + fixed_s;
}

int vusctl_mig_move(const struct vusctl *v, struct vus_client *src, const char *src_name,
		    struct vus_client *dst, const char *dst_name, const struct vusctl_mig_opts *o,
		    struct vusctl_mig_result *r)
{
	struct dst d = { .c = dst, .path = dst_name };
	uint64_t t0, t_stop, t_end, copied = 0, copy_ns = 0, prev = UINT64_MAX;
	uint64_t prev_start;
	double fixed_s = 0;
	bool pre_copy;
	int rc;

	memset(r, 0, sizeof(*r));
	t0 = prev_start = now_ns();
	rc = vus_client_mig_set_state(dst, VUS_MIG_STATE_RESUMING);
	if (rc < 0)
		return fail("RESUMING", dst_name, rc);
	fixed_s = (double)(now_ns() - t0) / 1e9;
	/* Pre-copy while the source runs, if it offers it: rounds until the
	 * rest converges (a round brings nothing, or its stop-copy estimate is
	 * within the target), stops converging (a round brings no less than
	 * the one before), or a round or time limit. */
	pre_copy = vus_client_mig_set_state(src, VUS_MIG_STATE_PRE_COPY) == 0;
	r->pre_copy = pre_copy;
	while (pre_copy && r->rounds < o->max_rounds) {
		uint64_t r0 = now_ns(), n = 0, dt;
		double dirty_rate, rate, est;
		const char *why = NULL;

		rc = drain(src, src_name, &n, sink_dev, &d);
		if (rc != VUSCTL_OK)
			return rc;
		dt = now_ns() - r0;
		r->rounds++;
		r->pre += n;
		r->last = n;
		copied += n;
		copy_ns += dt;
		rate = copy_ns ? (double)copied * 1e9 / (double)copy_ns : 0;
		/* What the device produced since the round before began: its
		 * dirty rate while running (the first round: its initial state). */
		dirty_rate = (double)n * 1e9 / (double)(now_ns() - prev_start);
		prev_start = r0;
		est = estimate_s(n, rate, fixed_s);
		if (n == 0)
			why = "converged: nothing new";
		else if (est * 1e3 <= (double)o->target_downtime_ms && r->rounds > 1)
			why = "converged: within the downtime target";
		else if (r->rounds > 1 && n >= prev)
			why = "not converging";
		else if (o->max_precopy_ms && (now_ns() - t0) / 1000000 >= o->max_precopy_ms)
			why = "time limit";
		else if (r->rounds == o->max_rounds)
			why = "round limit";
		if (v->json)
			fprintf(stderr, "{\"event\":\"round\",\"round\":%u,\"bytes\":%llu,"
				"\"dirty_bytes_per_s\":%.0f,\"estimated_downtime_us\":%.0f%s%s%s}\n",
				r->rounds, (unsigned long long)n, dirty_rate, est * 1e6,
				why ? ",\"stop\":\"" : "", why ? why : "", why ? "\"" : "");
		else
			fprintf(stderr, "round %u: %llu bytes, dirty rate %.1f MB/s, copy rate "
				"%.1f MB/s, estimated downtime %.3f ms%s%s\n", r->rounds,
				(unsigned long long)n, dirty_rate / 1e6, rate / 1e6, est * 1e3,
				why ? " -- " : "", why ? why : "");
		r->estimated_downtime_ns = (uint64_t)(est * 1e9);
		if (why)
			break;
		prev = n;
	}
	/* Stop-copy: the downtime runs from the source stopping to the
	 * destination running. */
	t_stop = now_ns();
	rc = vus_client_mig_set_state(src, VUS_MIG_STATE_STOP_COPY);
	if (rc < 0)
		return fail("STOP_COPY", src_name, rc);
	r->source_stopped = true;
	rc = drain(src, src_name, &r->fin, sink_dev, &d);
	if (rc != VUSCTL_OK)
		return rc;
	rc = vus_client_mig_set_state(dst, VUS_MIG_STATE_STOP);
	if (rc < 0)
		return fail("RESUMING -> STOP refused the state (see the device's log)", dst_name,
			    rc);
	rc = vus_client_mig_set_state(dst, VUS_MIG_STATE_RUNNING);
	if (rc < 0)
		return fail("RUNNING", dst_name, rc);
	t_end = now_ns();
	/* The source stays stopped while we are its client (docs/migration.md). */
	(void)vus_client_mig_set_state(src, VUS_MIG_STATE_STOP);
	r->downtime_ns = t_end - t_stop;
	r->total_ns = t_end - t0;
	return VUSCTL_OK;
}

void vusctl_mig_report(const struct vusctl *v, const char *src_name, const char *dst_name,
		       const struct vusctl_mig_result *r)
{
	if (v->json)
		printf("{\"rounds\":%u,\"precopy_bytes\":%llu,\"stopcopy_bytes\":%llu,"
		       "\"estimated_downtime_us\":%llu,\"downtime_us\":%llu,\"total_us\":%llu}\n",
		       r->rounds, (unsigned long long)r->pre, (unsigned long long)r->fin,
		       (unsigned long long)(r->estimated_downtime_ns / 1000),
		       (unsigned long long)(r->downtime_ns / 1000),
		       (unsigned long long)(r->total_ns / 1000));
	else
		printf("migrated %s -> %s: %u pre-copy rounds (%llu bytes, last %llu), "
		       "stop-copy %llu bytes, downtime %.3f ms (estimated %.3f), total %.3f ms\n",
		       src_name, dst_name, r->rounds, (unsigned long long)r->pre,
		       (unsigned long long)r->last, (unsigned long long)r->fin,
		       (double)r->downtime_ns / 1e6, (double)r->estimated_downtime_ns / 1e6,
		       (double)r->total_ns / 1e6);
}

int vusctl_migrate(const struct vusctl *v, int argc, char **argv)
{
	struct vusctl_mig_opts o = VUSCTL_MIG_OPTS_DEFAULT;
	struct vusctl_mig_result r;
	struct vusctl_args a;
	struct vus_client *src, *dst;
	int rc;

	if ((rc = vusctl_args(argc, argv, "migrate", "", 2, 2, &a)) >= 0)
		return rc;
	if ((rc = vusctl_open(v, a.pos[0], &src)) != VUSCTL_OK)
		return rc;
	if ((rc = vusctl_open(v, a.pos[1], &dst)) != VUSCTL_OK) {
		vus_client_close(src);
		return rc;
	}
	rc = vusctl_mig_move(v, src, a.pos[0], dst, a.pos[1], &o, &r);
	if (rc == VUSCTL_OK)
		vusctl_mig_report(v, a.pos[0], a.pos[1], &r);
	/* When we leave, the library returns the source to RUNNING with no
	 * client (docs/migration.md). */
	vus_client_close(src);
	vus_client_close(dst);
	return rc;
}
