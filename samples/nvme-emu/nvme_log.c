/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Get Log Page (NVMe 1.4 5.14): 01h Error Information (the last
 * NVME_ERRLOG errors), 02h SMART / Health (counting real I/O), 03h
 * Firmware Slot. Other pages: Invalid Log Page. NUMD and the 64-bit
 * offset are honoured; an offset beyond the page is Invalid Field.
 */
#include <endian.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "nvme_priv.h"

/* Record a failed command (5.14.1.1); also counted in SMART. */
void nvme_errlog_add(struct nvme_emu *n, uint16_t sqid, const struct nvme_sqe *c,
		     uint16_t status)
{
	uint64_t cnt = atomic_fetch_add(&n->smart.err_count, 1) + 1;
	struct nvme_error_log *e = &n->errlog[n->errlog_n++ % NVME_ERRLOG];

	memset(e, 0, sizeof(*e));
	e->error_count = htole64(cnt);
	e->sqid = htole16(sqid);
	e->cid = htole16(c->cid);
	e->status = htole16((uint16_t)(status << 1));
	e->param_loc = htole16(0xffff);
	e->nsid = htole32(c->nsid);
}

/* A 128-bit little-endian counter whose high half stays 0. */
static void put128(uint8_t *d, uint64_t v)
{
	v = htole64(v);
	memcpy(d, &v, 8);
	memset(d + 8, 0, 8);
}

#define SMART_AT(l, field) ((uint8_t *)(l) + offsetof(struct nvme_smart_log, field))

static void smart(struct nvme_emu *n, struct nvme_smart_log *l)
{
	struct nvme_smart *s = &n->smart;
	struct timespec ts;
	uint64_t now, ur = atomic_load(&s->units_read), uw = atomic_load(&s->units_written);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	memset(l, 0, sizeof(*l));
	/* A constant 303 K (30 C): over the over-temperature threshold or
	 * under the under-temperature one sets the warning bit. */
	l->temperature = htole16(303);
	if (303 >= n->feat.temp_over || (n->feat.temp_under && 303 <= n->feat.temp_under))
		l->critical_warning |= 1u << 1;
	l->avail_spare = 100;
	l->avail_spare_thresh = 10;
	/* Data units: thousands of 512-byte units, rounded up (5.14.1.2). */
	put128(SMART_AT(l, data_units_read), (ur + 999) / 1000);
	put128(SMART_AT(l, data_units_written), (uw + 999) / 1000);
	put128(SMART_AT(l, host_reads), atomic_load(&s->host_reads));
	put128(SMART_AT(l, host_writes), atomic_load(&s->host_writes));
	put128(SMART_AT(l, ctrl_busy_time), atomic_load(&s->busy_ns) / 60000000000ull);
	put128(SMART_AT(l, power_cycles), s->power_cycles);
	put128(SMART_AT(l, power_on_hours), (now - s->created_ns) / 3600000000000ull);
	put128(SMART_AT(l, media_errors), atomic_load(&s->media_errors));
	put128(SMART_AT(l, num_err_log_entries), atomic_load(&s->err_count));
}

/* The error log, newest first; reading it unmasks Error events (5.2). */
static void errlog(struct nvme_emu *n, uint8_t *d)
{
	uint32_t i, k = n->errlog_n < NVME_ERRLOG ? n->errlog_n : NVME_ERRLOG;

	for (i = 0; i < k; i++)
		memcpy(d + i * 64, &n->errlog[(n->errlog_n - 1 - i) % NVME_ERRLOG], 64);
}

struct nvme_res nvme_get_log(struct nvme_emu *n, const struct nvme_sqe *c)
{
	uint8_t lid = c->cdw10 & 0xff;
	bool rae = c->cdw10 & (1u << 15);
	uint64_t numd = ((c->cdw10 >> 16) | ((uint64_t)(c->cdw11 & 0xffff) << 16)) + 1;
	uint64_t len = numd * 4, off = (uint64_t)c->cdw12 | ((uint64_t)c->cdw13 << 32);
	uint8_t *d = n->bounce;
	uint64_t size;
	uint16_t s;

	memset(d, 0, NVME_PAGE_SIZE);
	switch (lid) {
	case NVME_LOG_ERROR:
		size = NVME_ERRLOG * 64;
		errlog(n, d);
		break;
	case NVME_LOG_SMART:
		/* LPA bit 0: per namespace; the counters are the
		 * controller's, the same for every NSID. */
		if (c->nsid != 0 && c->nsid != 0xffffffff && !nvme_ns_get(n, c->nsid))
			return (struct nvme_res){ .status = nvme_sc(NVME_SC_INVALID_NSID, true) };
		size = 512;
		smart(n, (struct nvme_smart_log *)d);
		break;
	case NVME_LOG_FW:
		size = 512;
		d[0] = 1;                     /* AFI: slot 1 active */
		memcpy(d + 8, "1.0     ", 8); /* FRS1 */
		break;
	default:
		return (struct nvme_res){ .status = nvme_sc(NVME_SC_INVALID_LOG_PAGE, true) };
	}
	if (off & 3 || off >= size)
		return (struct nvme_res){ .status = nvme_sc(NVME_SC_INVALID_FIELD, true) };
	if (len > n->bounce_len - off)
		return (struct nvme_res){ .status = nvme_sc(NVME_SC_INVALID_FIELD, true) };
	/* Bytes past the page read as zeroes. */
	if (off + len > NVME_PAGE_SIZE)
		memset(d + NVME_PAGE_SIZE, 0, off + len - NVME_PAGE_SIZE);
	s = nvme_dptr_map(n, c, len, true);
	if (!s)
		s = nvme_dptr_copy(n, d + off, len, true);
	if (!s && lid == NVME_LOG_ERROR && !rae)
		n->aer.masked_error = false;
	return (struct nvme_res){ .status = s };
}
