/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration: the state-machine path for every (from, to) pair
 * (lib/migration_path.h), the arc-by-arc walk and its failure handling,
 * the dirty-page log math (lib/dma_dirty.h), then the DEVICE_FEATURE and
 * MIG_DATA handlers (lib/migration.c) over a socketpair, byte by byte.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "dma_dirty.h"
#include "dma_map.h"
#include "migration_path.h"
#include "rig.h"
#include "vus_test.h"

#define RW (VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE)
#define PG 4096ull

/* ---- state paths ---------------------------------------------------- */

#define NO_PRE   VUS_MIGRATION_STOP_COPY
#define WITH_PRE (VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY)

/* One letter per state, as in the expected-path strings below. */
static const char letters[VUS_MIG_STATE_NR + 1] = "ESRCMrPp";

static enum vus_mig_state st(char c)
{
	const char *p = strchr(letters, c);

	assert_non_null(p);
	return (enum vus_mig_state)(p - letters);
}

/*
 * Expected paths (the states entered, in order) for from x to, from the
 * spec's arcs and the "never through PRE_COPY/STOP_COPY/RESUMING" rule,
 * cross-checked against the kernel's vfio_mig_get_next_state table.
 * "!" = refused. Rows: from S, R, C, M, P; columns: to E S R C M r P p.
 */
static const char *const with_pre_copy[5][VUS_MIG_STATE_NR] = {
	/*        E    S     R     C     M      r    P      p */
	/* S */ { "!", "",   "R",  "C",  "M",   "!", "RP",  "!" },
	/* R */ { "!", "S",  "",   "SC", "SM",  "!", "P",   "!" },
	/* C */ { "!", "S",  "SR", "",   "SM",  "!", "!",   "!" },
	/* M */ { "!", "S",  "SR", "SC", "",    "!", "SRP", "!" },
	/* P */ { "!", "RS", "R",  "C",  "RSM", "!", "",    "!" },
};
static const char *const without_pre_copy[4][VUS_MIG_STATE_NR] = {
	/* S */ { "!", "",   "R",  "C",  "M",   "!", "!",   "!" },
	/* R */ { "!", "S",  "",   "SC", "SM",  "!", "!",   "!" },
	/* C */ { "!", "S",  "SR", "",   "SM",  "!", "!",   "!" },
	/* M */ { "!", "S",  "SR", "SC", "",    "!", "!",   "!" },
};
static const char rows[] = "SRCMP";

static void check_path(enum vus_mig_state from, unsigned to, bool pre_copy, const char *want)
{
	enum vus_mig_state path[VUS_MIG_STATE_NR];
	char got[VUS_MIG_STATE_NR + 1];
	int n, i;

	n = vus_mig_path(from, to, pre_copy ? WITH_PRE : NO_PRE, path);
	if (n < 0) {
		got[0] = '!';
		got[1] = '\0';
		ASSERT_ERR(n, -EINVAL);
	} else {
		for (i = 0; i < n; i++)
			got[i] = letters[path[i]];
		got[n] = '\0';
	}
	if (strcmp(got, want)) {
		fprintf(stderr, "path %c -> %c (pre_copy %d): got \"%s\", want \"%s\"\n",
			letters[from], letters[to], pre_copy, got, want);
		fail();
	}
}

static void test_paths_with_pre_copy(void **state)
{
	unsigned f, to;

	for (f = 0; f < 5; f++)
		for (to = 0; to < VUS_MIG_STATE_NR; to++)
			check_path(st(rows[f]), to, true, with_pre_copy[f][to]);
}

static void test_paths_without_pre_copy(void **state)
{
	unsigned f, to;

	for (f = 0; f < 4; f++)
		for (to = 0; to < VUS_MIG_STATE_NR; to++)
			check_path(st(rows[f]), to, false, without_pre_copy[f][to]);
}

static void test_paths_refused(void **state)
{
	unsigned to;

	/* ERROR is left only by DEVICE_RESET; nothing is reachable from it. */
	for (to = 0; to < VUS_MIG_STATE_NR; to++)
		check_path(VUS_MIG_STATE_ERROR, to, true, "!");
	/* Out-of-range targets. */
	check_path(VUS_MIG_STATE_RUNNING, VUS_MIG_STATE_NR, true, "!");
	check_path(VUS_MIG_STATE_RUNNING, 1000, true, "!");
}

/*
 * The kernel's vfio_mig_get_next_state() (drivers/vfio/vfio_main.c),
 * transcribed: vfio_from_fsm_table[from][to] is the next state for a
 * device with every feature, and a state the device lacks is skipped by
 * looking up the next hop from it. Letters as above; rows and columns in
 * state order E S R C M r P p. '!' = ERROR (refused).
 */
static const char kernel_next[VUS_MIG_STATE_NR][VUS_MIG_STATE_NR + 1] = {
	/*          ESRCMrPp */
	/* E */ "!!!!!!!!",
	/* S */ "!SrCMrrr",
	/* R */ "!rRrrrPr",
	/* C */ "!SSCSS!!",
	/* M */ "!SSSMSSS",
	/* r */ "!SRSSrRp",
	/* P */ "!RRpRRPp",
	/* p */ "!rrCrrPp",
};

static bool kernel_has(char c, uint64_t flags)
{
	if (c == 'r')
		return flags & VUS_MIGRATION_P2P;
	if (c == 'P')
		return flags & VUS_MIGRATION_PRE_COPY;
	if (c == 'p')
		return (flags & VUS_MIGRATION_P2P) && (flags & VUS_MIGRATION_PRE_COPY);
	return true;
}

/* The kernel's answer for from -> to, as a path string, or "!". */
static void kernel_path(char from, char to, uint64_t flags, char *out)
{
	char cur = from;
	size_t n = 0;

	out[0] = '\0';
	if (from == 'E' || to == 'E' || !kernel_has(to, flags) || !kernel_has(from, flags)) {
		strcpy(out, "!");
		return;
	}
	while (cur != to) {
		char next = kernel_next[st(cur)][st(to)];

		while (next != '!' && !kernel_has(next, flags))
			next = kernel_next[st(next)][st(to)];
		if (next == '!') {
			strcpy(out, "!");
			return;
		}
		out[n++] = next;
		out[n] = '\0';
		cur = next;
	}
}

/* Every (from, to) of every feature set against the kernel's table. */
static void test_paths_match_kernel_table(void **state)
{
	static const uint64_t sets[] = {
		VUS_MIGRATION_STOP_COPY,
		VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY,
		VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_P2P,
		VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY | VUS_MIGRATION_P2P,
	};
	enum vus_mig_state path[VUS_MIG_STATE_NR];
	char want[VUS_MIG_STATE_NR + 2], got[VUS_MIG_STATE_NR + 2];
	unsigned k, f, to;
	int n, i, bad = 0;

	for (k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
		for (f = 1; f < VUS_MIG_STATE_NR; f++) {
			if (!kernel_has(letters[f], sets[k]))
				continue;
			for (to = 0; to < VUS_MIG_STATE_NR; to++) {
				kernel_path(letters[f], letters[to], sets[k], want);
				n = vus_mig_path((enum vus_mig_state)f, to, sets[k], path);
				if (n < 0) {
					strcpy(got, "!");
				} else {
					for (i = 0; i < n; i++)
						got[i] = letters[path[i]];
					got[n] = '\0';
				}
				if (strcmp(got, want)) {
					fprintf(stderr, "flags %#llx %c -> %c: got \"%s\", kernel "
						"\"%s\"\n", (unsigned long long)sets[k], letters[f],
						letters[to], got, want);
					bad++;
				}
			}
		}
	}
	ASSERT_EQ(bad, 0);
}

/* The walk records every arc it asks for and fails the one named. */
struct walk_log {
	char arcs[32];
	size_t n;
	char fail_from, fail_to;
	int err;
};

static int log_arc(void *ctx, enum vus_mig_state from, enum vus_mig_state to)
{
	struct walk_log *l = ctx;

	l->arcs[l->n++] = letters[from];
	l->arcs[l->n++] = letters[to];
	l->arcs[l->n] = '\0';
	if (letters[from] == l->fail_from && letters[to] == l->fail_to)
		return l->err;
	return 0;
}

static void test_walk(void **state)
{
	struct walk_log l = { .fail_from = 0 };
	enum vus_mig_state s = VUS_MIG_STATE_PRE_COPY;

	/* PRE_COPY -> RESUMING: three arcs, each reported as from -> to. */
	ASSERT_OK(vus_mig_walk(&s, VUS_MIG_STATE_RESUMING, WITH_PRE, log_arc, &l));
	assert_string_equal(l.arcs, "PRRSSM");
	ASSERT_EQ(s, VUS_MIG_STATE_RESUMING);

	/* Same state: no arc at all. */
	l.n = 0;
	l.arcs[0] = '\0';
	ASSERT_OK(vus_mig_walk(&s, VUS_MIG_STATE_RESUMING, WITH_PRE, log_arc, &l));
	ASSERT_EQ(l.n, 0);

	/* Refused: nothing is called and the state stays. */
	s = VUS_MIG_STATE_STOP_COPY;
	ASSERT_ERR(vus_mig_walk(&s, VUS_MIG_STATE_PRE_COPY, WITH_PRE, log_arc, &l), -EINVAL);
	ASSERT_EQ(l.n, 0);
	ASSERT_EQ(s, VUS_MIG_STATE_STOP_COPY);
	s = VUS_MIG_STATE_RUNNING;
	ASSERT_ERR(vus_mig_walk(&s, VUS_MIG_STATE_ERROR, WITH_PRE, log_arc, &l), -EINVAL);
	ASSERT_ERR(vus_mig_walk(&s, VUS_MIG_STATE_PRE_COPY, NO_PRE, log_arc, &l), -EINVAL);
	ASSERT_EQ(l.n, 0);
}

static void test_walk_failure_mid_path(void **state)
{
	struct walk_log l = { .fail_from = 'S', .fail_to = 'M', .err = -EIO };
	enum vus_mig_state s = VUS_MIG_STATE_PRE_COPY;

	/* P -> R -> S succeed, S -> M fails: the device is left in STOP. */
	ASSERT_ERR(vus_mig_walk(&s, VUS_MIG_STATE_RESUMING, WITH_PRE, log_arc, &l), -EIO);
	assert_string_equal(l.arcs, "PRRSSM");
	ASSERT_EQ(s, VUS_MIG_STATE_STOP);

	/* Failing the first arc leaves the starting state. */
	l = (struct walk_log){ .fail_from = 'R', .fail_to = 'S', .err = -EBUSY };
	s = VUS_MIG_STATE_RUNNING;
	ASSERT_ERR(vus_mig_walk(&s, VUS_MIG_STATE_STOP_COPY, WITH_PRE, log_arc, &l), -EBUSY);
	assert_string_equal(l.arcs, "RS");
	ASSERT_EQ(s, VUS_MIG_STATE_RUNNING);
}

/* ---- dirty log math ------------------------------------------------- */

struct fixture {
	struct vus_dma_table t;
};

static int memfd(size_t size)
{
	int fd = memfd_create("mig-test", MFD_CLOEXEC);

	ASSERT_NONNEG(fd);
	ASSERT_OK(ftruncate(fd, (off_t)size));
	return fd;
}

static int setup_table(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	ASSERT_OK(vus_dma_table_init(&f->t, 64, 0));
	/* 16 pages fd-backed at 1 MiB; 16 pages fd-less at 2 MiB. */
	ASSERT_OK(vus_dma_table_add(&f->t, 0x100000, 16 * PG, RW, memfd(16 * PG), 0, NULL));
	ASSERT_OK(vus_dma_table_add(&f->t, 0x200000, 16 * PG, RW, -1, 0, NULL));
	*state = f;
	return 0;
}

static int teardown_table(void **state)
{
	struct fixture *f = *state;

	vus_dma_table_destroy(&f->t);
	free(f);
	return 0;
}

/* Report [iova, iova + len) at pgsize into out (zeroed first); rc. */
static int report(struct vus_dma_table *t, uint64_t iova, uint64_t len, uint64_t pgsize,
		  uint64_t *out, size_t words)
{
	assert_true(vus_dma_dirty_report_bytes(len, pgsize) <= words * 8);
	memset(out, 0, words * 8);
	return vus_dma_dirty_report(t, iova, len, pgsize, out);
}

static void test_report_bytes(void **state)
{
	ASSERT_EQ(vus_dma_dirty_report_bytes(1, PG), 8);
	ASSERT_EQ(vus_dma_dirty_report_bytes(64 * PG, PG), 8);
	ASSERT_EQ(vus_dma_dirty_report_bytes(64 * PG + 1, PG), 16);
	ASSERT_EQ(vus_dma_dirty_report_bytes(65 * PG, PG), 16);
	ASSERT_EQ(vus_dma_dirty_report_bytes(1ull << 40, PG), (1ull << 28) / 64 * 8);
	ASSERT_EQ(vus_dma_dirty_report_bytes(UINT64_MAX, 1ull << 63), 8);
}

static void test_log_start_stop(void **state)
{
	struct fixture *f = *state;
	uint64_t bm[4];

	/* Not logging: REPORT is refused, marks are ignored. */
	vus_dma_dirty_mark_locked(&f->t, 0x100000, PG);
	ASSERT_ERR(report(&f->t, 0x100000, PG, PG, bm, 4), -EINVAL);
	ASSERT_ERR(vus_dma_dirty_start(&f->t, 3 * PG), -EINVAL);
	ASSERT_OK(vus_dma_dirty_start(&f->t, PG));
	assert_true(vus_dma_dirty_logging(&f->t));
	/* The fd-less window has no log (the client sees those writes). */
	assert_non_null(f->t.dirty[0]);
	assert_null(f->t.dirty[1]);
	/* Again at the same size keeps the log; another size is refused. */
	vus_dma_dirty_mark_locked(&f->t, 0x100000, 1);
	ASSERT_OK(vus_dma_dirty_start(&f->t, PG));
	ASSERT_ERR(vus_dma_dirty_start(&f->t, 2 * PG), -EINVAL);
	ASSERT_OK(report(&f->t, 0x100000, 16 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 1);
	vus_dma_dirty_stop(&f->t);
	vus_dma_dirty_stop(&f->t);
	assert_false(vus_dma_dirty_logging(&f->t));
	assert_null(f->t.dirty);
	ASSERT_OK(vus_dma_dirty_start(&f->t, 2 * PG));
}

static void test_mark_and_report_clears(void **state)
{
	struct fixture *f = *state;
	uint64_t bm[4];

	ASSERT_OK(vus_dma_dirty_start(&f->t, PG));
	/* 0x1800..0x27ff touches pages 1 and 2. */
	vus_dma_dirty_mark_locked(&f->t, 0x101800, 0x1000);
	/* Spilling past the window and into a gap: only the window counts. */
	vus_dma_dirty_mark_locked(&f->t, 0x10f000, 0x10000);
	ASSERT_OK(report(&f->t, 0x100000, 16 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], (1u << 1) | (1u << 2) | (1u << 15));
	/* Reading the report cleared it. */
	ASSERT_OK(report(&f->t, 0x100000, 16 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 0);
	/* Sub-range reports count from their own iova. */
	vus_dma_dirty_mark_locked(&f->t, 0x105000, 1);
	ASSERT_OK(report(&f->t, 0x104000, 4 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 1u << 1);
}

static void test_report_page_size_conversion(void **state)
{
	struct fixture *f = *state;
	uint64_t bm[4];

	ASSERT_OK(vus_dma_dirty_start(&f->t, PG));
	/* Larger report pages: pages 5 and 9 -> 8 KiB units 2 and 4. */
	vus_dma_dirty_mark_locked(&f->t, 0x105000, 1);
	vus_dma_dirty_mark_locked(&f->t, 0x109fff, 1);
	ASSERT_OK(report(&f->t, 0x100000, 16 * PG, 2 * PG, bm, 4));
	ASSERT_EQ(bm[0], (1u << 2) | (1u << 4));
	ASSERT_OK(report(&f->t, 0x100000, 16 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 0);

	/* Smaller report pages: one logged page sets every 1 KiB unit in it
	 * (the log cannot tell which part was written). */
	vus_dma_dirty_mark_locked(&f->t, 0x103010, 4);
	ASSERT_OK(report(&f->t, 0x100000, 16 * PG, 1024, bm, 4));
	ASSERT_EQ(bm[0], 0xfull << 12);

	/* A report page larger than the window. */
	vus_dma_dirty_mark_locked(&f->t, 0x10f000, 1);
	ASSERT_OK(report(&f->t, 0x100000, 16 * PG, 1ull << 20, bm, 4));
	ASSERT_EQ(bm[0], 1);
}

static void test_report_straddling_pages_stay(void **state)
{
	struct fixture *f = *state;
	uint64_t bm[4];

	ASSERT_OK(vus_dma_dirty_start(&f->t, PG));
	vus_dma_dirty_mark_locked(&f->t, 0x100000, 1); /* page 0 */
	vus_dma_dirty_mark_locked(&f->t, 0x101000, 1); /* page 1 */
	/* [0x100800, 0x101800) holds half of page 0 and half of page 1. */
	ASSERT_OK(report(&f->t, 0x100800, PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 1);
	/* Neither page lies wholly inside: both are still dirty. */
	ASSERT_OK(report(&f->t, 0x100000, 2 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 3);
	ASSERT_OK(report(&f->t, 0x100000, 2 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 0);
}

static void test_report_bad_ranges(void **state)
{
	struct fixture *f = *state;
	uint64_t bm[8];

	ASSERT_OK(vus_dma_dirty_start(&f->t, PG));
	/* Running off the window, spanning two, in a gap. */
	ASSERT_ERR(report(&f->t, 0x100000, 17 * PG, PG, bm, 8), -EINVAL);
	ASSERT_ERR(report(&f->t, 0x100000, 0x110000, PG, bm, 8), -EINVAL);
	ASSERT_ERR(report(&f->t, 0x180000, PG, PG, bm, 8), -EINVAL);
	ASSERT_ERR(vus_dma_dirty_report(&f->t, 0x100000, 0, PG, bm), -EINVAL);
	ASSERT_ERR(vus_dma_dirty_report(&f->t, 0x100000, PG, 3000, bm), -EINVAL);
	/* An fd-less window: logged as never written. */
	vus_dma_dirty_mark_locked(&f->t, 0x200000, 16 * PG);
	ASSERT_OK(report(&f->t, 0x200000, 16 * PG, PG, bm, 8));
	ASSERT_EQ(bm[0], 0);
}

static void test_windows_added_while_logging(void **state)
{
	struct fixture *f = *state;
	uint64_t bm[4];

	ASSERT_OK(vus_dma_dirty_start(&f->t, PG));
	/* A window below the others (shifts the arrays) and one not on a page
	 * boundary: [0x50800, 0x52800) covers pages 0x50, 0x51, 0x52. */
	ASSERT_OK(vus_dma_table_add(&f->t, 0x10000, 4 * PG, RW, memfd(4 * PG), 0, NULL));
	ASSERT_OK(vus_dma_table_add(&f->t, 0x50800, 2 * PG, RW, memfd(4 * PG), 0, NULL));
	assert_non_null(f->t.dirty[0]);
	assert_non_null(f->t.dirty[1]);
	assert_non_null(f->t.dirty[2]);
	assert_null(f->t.dirty[3]);

	vus_dma_dirty_mark_locked(&f->t, 0x13000, 1);
	vus_dma_dirty_mark_locked(&f->t, 0x52000, 1);
	vus_dma_dirty_mark_locked(&f->t, 0x10e000, 1);
	ASSERT_OK(report(&f->t, 0x10000, 4 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 8);
	/* Bit j covers [0x50800 + j * 4K, ...): 0x52000 is in unit 1. */
	ASSERT_OK(report(&f->t, 0x50800, 2 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 2);
	ASSERT_OK(report(&f->t, 0x100000, 16 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 1u << 14);

	/* Removing windows keeps the others' logs aligned with them. */
	vus_dma_dirty_mark_locked(&f->t, 0x100000, 1);
	ASSERT_OK(vus_dma_table_remove(&f->t, 0x10000, 4 * PG, NULL, NULL));
	ASSERT_OK(report(&f->t, 0x100000, 16 * PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 1);

	/* After remove_all, logging goes on for new windows. */
	vus_dma_table_remove_all(&f->t, NULL, NULL);
	assert_true(vus_dma_dirty_logging(&f->t));
	ASSERT_OK(vus_dma_table_add(&f->t, 0x100000, PG, RW, memfd(PG), 0, NULL));
	vus_dma_dirty_mark_locked(&f->t, 0x100000, PG);
	ASSERT_OK(report(&f->t, 0x100000, PG, PG, bm, 4));
	ASSERT_EQ(bm[0], 1);
}

static void test_large_window_words(void **state)
{
	/* Marks and reports crossing 64-bit word boundaries of the bitmap. */
	struct vus_dma_table t;
	uint64_t bm[8];
	unsigned i;

	ASSERT_OK(vus_dma_table_init(&t, 8, 0));
	ASSERT_OK(vus_dma_table_add(&t, 0, 256 * PG, RW, memfd(256 * PG), 0, NULL));
	ASSERT_OK(vus_dma_dirty_start(&t, PG));
	vus_dma_dirty_mark_locked(&t, 60 * PG, 10 * PG);     /* pages 60..69 */
	vus_dma_dirty_mark_locked(&t, 255 * PG + 5, 1);      /* page 255 */
	ASSERT_OK(report(&t, 0, 256 * PG, PG, bm, 8));
	ASSERT_EQ(bm[0], 0xfull << 60);
	ASSERT_EQ(bm[1], 0x3f);
	ASSERT_EQ(bm[2], 0);
	ASSERT_EQ(bm[3], 1ull << 63);
	for (i = 0; i < 4; i++) {
		ASSERT_OK(report(&t, 0, 256 * PG, PG, bm, 8));
		ASSERT_EQ(bm[i], 0);
	}
	/* Report from an offset that is not a word multiple. */
	vus_dma_dirty_mark_locked(&t, 100 * PG, 1);
	ASSERT_OK(report(&t, 90 * PG, 20 * PG, PG, bm, 8));
	ASSERT_EQ(bm[0], 1u << 10);
	vus_dma_table_destroy(&t);
}


/* ---- the handlers, over the wire ------------------------------------ */

#define F_GET   VUS_DEVICE_FEATURE_GET
#define F_SET   VUS_DEVICE_FEATURE_SET
#define F_PROBE VUS_DEVICE_FEATURE_PROBE

/* What the device saw, and what it does next. */
struct mig_dev {
	char arcs[64];
	size_t n;
	char fail_from, fail_to;
	uint8_t state_data[100];
	size_t saved;              /* bytes handed out by save so far */
	uint8_t loaded[100];
	size_t nloaded;
	int load_err;
};

static struct mig_dev md;

static int md_transition(struct vus_dev *dev, void *opaque, enum vus_mig_state from,
			 enum vus_mig_state to)
{
	size_t n = __atomic_load_n(&md.n, __ATOMIC_ACQUIRE);

	md.arcs[n] = letters[from];
	md.arcs[n + 1] = letters[to];
	md.arcs[n + 2] = '\0';
	/* Published last: test_disconnect_returns_to_running() polls it. */
	__atomic_store_n(&md.n, n + 2, __ATOMIC_RELEASE);
	return letters[from] == md.fail_from && letters[to] == md.fail_to ? -EAGAIN : 0;
}

static ssize_t md_save(struct vus_dev *dev, void *opaque, void *buf, size_t len)
{
	size_t left = sizeof(md.state_data) - md.saved, n = len < left ? len : left;

	memcpy(buf, md.state_data + md.saved, n);
	md.saved += n;
	return (ssize_t)n;
}

static int md_load(struct vus_dev *dev, void *opaque, const void *buf, size_t len)
{
	if (md.load_err)
		return md.load_err;
	assert_true(md.nloaded + len <= sizeof(md.loaded));
	memcpy(md.loaded + md.nloaded, buf, len);
	md.nloaded += len;
	return 0;
}

static int md_reset(struct vus_dev *dev, void *opaque, enum vus_reset_reason reason)
{
	return 0;
}

static void start_mig(struct rig *r, uint64_t flags)
{
	static struct vus_migration_ops ops = {
		.transition = md_transition, .save = md_save, .load = md_load,
	};
	struct vus_dev *dev = rig_dev_new();
	size_t i;

	memset(&md, 0, sizeof(md));
	for (i = 0; i < sizeof(md.state_data); i++)
		md.state_data[i] = (uint8_t)(i ^ 0x5a);
	ops.flags = flags;
	ASSERT_OK(vus_dev_set_migration(dev, &ops, NULL));
	ASSERT_OK(vus_dev_set_reset(dev, md_reset, NULL));
	rig_start(r, dev, NULL);
}

/* DEVICE_FEATURE with data; the reply in *m (caller frees). */
static void feature(struct rig *r, uint32_t argsz, uint32_t flags, const void *data, size_t len,
		    struct raw_msg *m)
{
	uint8_t p[256];

	assert_true(len + 8 <= sizeof(p));
	rig_put_u32(p, argsz);
	rig_put_u32(p + 4, flags);
	if (len)
		memcpy(p + 8, data, len);
	rig_call(r, VUS_CMD_DEVICE_FEATURE, p, 8 + len, NULL, 0, m);
}

static int feature_err(struct rig *r, uint32_t argsz, uint32_t flags, const void *data,
		       size_t len)
{
	struct raw_msg m;
	int err;

	feature(r, argsz, flags, data, len, &m);
	err = (m.hdr.flags & VUS_F_ERROR) ? (int)m.hdr.error : 0;
	raw_msg_free(&m);
	return err;
}

static int set_state(struct rig *r, enum vus_mig_state s)
{
	uint8_t d[8] = { 0 };

	rig_put_u32(d, s);
	return feature_err(r, 16, VUS_FEATURE_MIG_DEVICE_STATE | F_SET, d, sizeof(d));
}

static enum vus_mig_state get_state(struct rig *r)
{
	struct raw_msg m;
	enum vus_mig_state s;

	feature(r, 16, VUS_FEATURE_MIG_DEVICE_STATE | F_GET, NULL, 0, &m);
	ASSERT_EQ(m.hdr.flags & VUS_F_ERROR, 0);
	ASSERT_EQ(m.len, 16);
	ASSERT_EQ(raw_u32(&m, 0), 16);
	s = (enum vus_mig_state)raw_u32(&m, 8);
	ASSERT_EQ(raw_u32(&m, 12), UINT32_MAX); /* data_fd -1, like the kernel */
	raw_msg_free(&m);
	return s;
}

static void test_feature_without_migration(void **state)
{
	struct rig r;
	uint8_t d[8] = { 0 };

	rig_start(&r, rig_dev_new(), NULL);
	/* Kernel ioctl convention: ENOTTY for a feature the device lacks. */
	ASSERT_ERR(feature_err(&r, 16, VUS_FEATURE_MIGRATION | F_GET, NULL, 0), ENOTTY);
	ASSERT_ERR(feature_err(&r, 16, VUS_FEATURE_MIG_DEVICE_STATE | F_SET, d, 8), ENOTTY);
	ASSERT_ERR(feature_err(&r, 8, VUS_FEATURE_MIGRATION | F_PROBE, NULL, 0), ENOTTY);
	rig_expect(&r, VUS_CMD_MIG_DATA_READ, (uint8_t[8]){ 16, 0, 0, 0, 8 }, 8, NULL, 0, EINVAL);
	ASSERT_EQ(vus_dev_mig_state(r.dev), VUS_MIG_STATE_RUNNING);
	rig_stop(&r);
}

static void test_set_migration_checks(void **state)
{
	struct vus_migration_ops ops = {
		.flags = VUS_MIGRATION_PRE_COPY, .transition = md_transition, .save = md_save,
		.load = md_load,
	};
	struct vus_dev *dev = rig_dev_new();

	ASSERT_ERR(vus_dev_set_migration(dev, &ops, NULL), -EINVAL);
	ops.flags = VUS_MIGRATION_STOP_COPY | (1ull << 3);
	ASSERT_ERR(vus_dev_set_migration(dev, &ops, NULL), -EINVAL);
	ops.flags = VUS_MIGRATION_STOP_COPY;
	ops.load = NULL;
	ASSERT_ERR(vus_dev_set_migration(dev, &ops, NULL), -EINVAL);
	ASSERT_ERR(vus_dev_set_migration(dev, NULL, NULL), -EINVAL);
	ops.load = md_load;
	ASSERT_OK(vus_dev_set_migration(dev, &ops, NULL));
	vus_dev_free(dev);
}

static void test_feature_ops(void **state)
{
	struct raw_msg m;
	struct rig r;

	start_mig(&r, VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY);
	/* MIGRATION GET: the device's flags; reply argsz = 8 + 8. */
	feature(&r, 16, VUS_FEATURE_MIGRATION | F_GET, NULL, 0, &m);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, 16);
	ASSERT_EQ(raw_u32(&m, 0), 16);
	ASSERT_EQ(raw_u32(&m, 4), VUS_FEATURE_MIGRATION | F_GET);
	ASSERT_EQ(raw_u64(&m, 8), VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY);
	raw_msg_free(&m);
	/* argsz without room for the data. */
	ASSERT_ERR(feature_err(&r, 15, VUS_FEATURE_MIGRATION | F_GET, NULL, 0), EINVAL);
	/* Operations a feature lacks, unknown features. */
	ASSERT_ERR(feature_err(&r, 16, VUS_FEATURE_MIGRATION | F_SET, "12345678", 8), EINVAL);
	ASSERT_ERR(feature_err(&r, 16, VUS_FEATURE_DMA_LOGGING_STOP | F_GET, NULL, 0),
		   EINVAL);
	ASSERT_ERR(feature_err(&r, 16, VUS_FEATURE_DMA_LOGGING_REPORT | F_SET, "", 0),
		   EINVAL);
	ASSERT_ERR(feature_err(&r, 16, 3 | F_GET, NULL, 0), ENOTTY);
	ASSERT_ERR(feature_err(&r, 16, 9 | F_GET, NULL, 0), ENOTTY);
	/* PROBE: the request echoed; an unsupported op fails the probe. */
	feature(&r, 64, VUS_FEATURE_MIG_DEVICE_STATE | F_PROBE | F_GET | F_SET, NULL, 0, &m);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, 8);
	ASSERT_EQ(raw_u32(&m, 0), 8);
	ASSERT_EQ(raw_u32(&m, 4), VUS_FEATURE_MIG_DEVICE_STATE | F_PROBE | F_GET | F_SET);
	raw_msg_free(&m);
	ASSERT_OK(feature_err(&r, 8, VUS_FEATURE_DMA_LOGGING_START | F_PROBE | F_SET,
			      NULL, 0));
	ASSERT_ERR(feature_err(&r, 8, VUS_FEATURE_DMA_LOGGING_START | F_PROBE | F_GET,
			       NULL, 0), EINVAL);
	ASSERT_OK(feature_err(&r, 8, VUS_FEATURE_DMA_LOGGING_REPORT | F_PROBE, NULL, 0));
	ASSERT_EQ(md.n, 0);
	rig_stop(&r);
}

static void test_state_walk_over_the_wire(void **state)
{
	struct raw_msg m;
	uint8_t d[8] = { 0 };
	struct rig r;

	start_mig(&r, VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY);
	ASSERT_EQ(get_state(&r), VUS_MIG_STATE_RUNNING);
	/* SET echoes its request, argsz 16, after the whole walk. */
	rig_put_u32(d, VUS_MIG_STATE_STOP_COPY);
	feature(&r, 16, VUS_FEATURE_MIG_DEVICE_STATE | F_SET, d, sizeof(d), &m);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, 16);
	ASSERT_EQ(raw_u32(&m, 0), 16);
	ASSERT_EQ(raw_u32(&m, 8), VUS_MIG_STATE_STOP_COPY);
	raw_msg_free(&m);
	assert_string_equal(md.arcs, "RSSC");
	ASSERT_EQ(get_state(&r), VUS_MIG_STATE_STOP_COPY);
	ASSERT_EQ(vus_dev_mig_state(r.dev), VUS_MIG_STATE_STOP_COPY);

	/* Refused requests leave everything as it was. */
	md.n = 0;
	ASSERT_ERR(set_state(&r, VUS_MIG_STATE_PRE_COPY), EINVAL);
	ASSERT_ERR(set_state(&r, VUS_MIG_STATE_ERROR), EINVAL);
	ASSERT_ERR(set_state(&r, VUS_MIG_STATE_RUNNING_P2P), EINVAL);
	ASSERT_ERR(set_state(&r, 8), EINVAL);
	ASSERT_EQ(md.n, 0);

	/* A failing arc: the device is in ERROR, the arc's errno returned. */
	ASSERT_OK(set_state(&r, VUS_MIG_STATE_RUNNING));
	md.n = 0;
	md.fail_from = 'S';
	md.fail_to = 'M';
	ASSERT_ERR(set_state(&r, VUS_MIG_STATE_RESUMING), EAGAIN);
	assert_string_equal(md.arcs, "RSSM");
	ASSERT_EQ(get_state(&r), VUS_MIG_STATE_ERROR);
	ASSERT_ERR(set_state(&r, VUS_MIG_STATE_RUNNING), EINVAL);

	/* DEVICE_RESET brings the device back to RUNNING, through its
	 * transition callback. */
	md.n = 0;
	rig_expect(&r, VUS_CMD_DEVICE_RESET, NULL, 0, NULL, 0, 0);
	ASSERT_EQ(get_state(&r), VUS_MIG_STATE_RUNNING);
	assert_string_equal(md.arcs, "ER");
	rig_stop(&r);
}

static void test_pre_copy_needs_the_flag(void **state)
{
	struct rig r;

	start_mig(&r, VUS_MIGRATION_STOP_COPY);
	ASSERT_ERR(set_state(&r, VUS_MIG_STATE_PRE_COPY), EINVAL);
	ASSERT_OK(set_state(&r, VUS_MIG_STATE_STOP_COPY));
	assert_string_equal(md.arcs, "RSSC");
	rig_stop(&r);
}

static void mig_read(struct rig *r, uint32_t argsz, uint32_t size, struct raw_msg *m)
{
	uint8_t p[8];

	rig_put_u32(p, argsz);
	rig_put_u32(p + 4, size);
	rig_call(r, VUS_CMD_MIG_DATA_READ, p, sizeof(p), NULL, 0, m);
}

static void test_mig_data(void **state)
{
	uint8_t p[8 + 40];
	struct raw_msg m;
	struct rig r;

	start_mig(&r, VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY);
	/* Nothing to read while RUNNING, nothing to write outside RESUMING. */
	mig_read(&r, 72, 64, &m);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY | VUS_F_ERROR);
	ASSERT_ERR(m.hdr.error, EINVAL);
	raw_msg_free(&m);

	ASSERT_OK(set_state(&r, VUS_MIG_STATE_PRE_COPY));
	mig_read(&r, 72, 64, &m);
	ASSERT_EQ(m.hdr.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(m.len, 8 + 64);
	ASSERT_EQ(raw_u32(&m, 0), 8 + 64);
	ASSERT_EQ(raw_u32(&m, 4), 64);
	assert_memory_equal(m.payload + 8, md.state_data, 64);
	raw_msg_free(&m);
	ASSERT_OK(set_state(&r, VUS_MIG_STATE_STOP_COPY));
	/* The rest is shorter than asked: the end of the stream. */
	mig_read(&r, 72, 64, &m);
	ASSERT_EQ(m.len, 8 + 36);
	ASSERT_EQ(raw_u32(&m, 0), 8 + 36);
	ASSERT_EQ(raw_u32(&m, 4), 36);
	assert_memory_equal(m.payload + 8, md.state_data + 64, 36);
	raw_msg_free(&m);
	mig_read(&r, 72, 64, &m);
	ASSERT_EQ(m.len, 8);
	ASSERT_EQ(raw_u32(&m, 4), 0);
	raw_msg_free(&m);
	/* More than max_data_xfer_size. */
	mig_read(&r, UINT32_MAX, (1u << 20) + 1, &m);
	ASSERT_ERR(m.hdr.error, E2BIG);
	raw_msg_free(&m);

	rig_put_u32(p, sizeof(p));
	rig_put_u32(p + 4, 40);
	memset(p + 8, 0xab, 40);
	rig_expect(&r, VUS_CMD_MIG_DATA_WRITE, p, sizeof(p), NULL, 0, EINVAL);
	ASSERT_OK(set_state(&r, VUS_MIG_STATE_RESUMING));
	rig_expect(&r, VUS_CMD_MIG_DATA_WRITE, p, sizeof(p), NULL, 0, 0);
	rig_expect(&r, VUS_CMD_MIG_DATA_WRITE, p, sizeof(p), NULL, 0, 0);
	ASSERT_EQ(md.nloaded, 80);
	ASSERT_EQ(md.loaded[79], 0xab);
	md.load_err = -EBADMSG;
	rig_expect(&r, VUS_CMD_MIG_DATA_WRITE, p, sizeof(p), NULL, 0, EBADMSG);
	mig_read(&r, 72, 64, &m);
	ASSERT_ERR(m.hdr.error, EINVAL);
	raw_msg_free(&m);
	rig_stop(&r);
}

static void logging_start(struct rig *r, uint64_t pgsize, int err)
{
	uint8_t d[16 + 16] = { 0 };

	rig_put_u64(d, pgsize);
	rig_put_u32(d + 8, 1);
	rig_put_u64(d + 16, 0);
	rig_put_u64(d + 24, 1ull << 40);
	ASSERT_EQ(feature_err(r, 64, VUS_FEATURE_DMA_LOGGING_START | F_SET, d, sizeof(d)),
		  err);
}

/* REPORT into *m; returns the reply errno (0: m holds the bitmap). */
static int logging_report(struct rig *r, uint32_t argsz, uint64_t iova, uint64_t len,
			  uint64_t pgsize, struct raw_msg *m)
{
	uint8_t d[24];

	rig_put_u64(d, iova);
	rig_put_u64(d + 8, len);
	rig_put_u64(d + 16, pgsize);
	feature(r, argsz, VUS_FEATURE_DMA_LOGGING_REPORT | F_GET, d, sizeof(d), m);
	if (m->hdr.flags & VUS_F_ERROR)
		return (int)m->hdr.error;
	ASSERT_EQ(raw_u32(m, 0), m->len);
	assert_memory_equal(m->payload + 8, d, sizeof(d));
	return 0;
}

static void test_dirty_logging_over_the_wire(void **state)
{
	uint8_t buf[16] = { 1 };
	struct raw_msg m;
	struct rig r;
	uint8_t *p;
	int fd;

	start_mig(&r, VUS_MIGRATION_STOP_COPY);
	fd = memfd(0x100000);
	ASSERT_OK(rig_dma_map(&r, 0x100000, 0x100000, RW, fd, 0));
	close(fd);
	ASSERT_OK(rig_dma_map(&r, 0x400000, 0x10000, RW, -1, 0));
	/* REPORT before START. */
	ASSERT_ERR(logging_report(&r, 64, 0x100000, 0x1000, PG, &m), EINVAL);
	raw_msg_free(&m);
	logging_start(&r, 1000, EINVAL); /* not a power of two */
	logging_start(&r, PG, 0);
	logging_start(&r, 2 * PG, EINVAL);

	/* Device writes: a copy, a pointer asked for WRITE, an explicit mark. */
	ASSERT_OK(vus_dma_write(r.dev, 0x100000 + 5 * PG + 10, buf, sizeof(buf)));
	p = vus_dma_translate(r.dev, 0x100000 + 64 * PG, 1, VUS_DMA_MAP_FLAG_WRITE);
	assert_non_null(p);
	assert_non_null(vus_dma_translate(r.dev, 0x100000 + 65 * PG, 1, VUS_DMA_MAP_FLAG_READ));
	vus_dma_mark_dirty(r.dev, 0x100000 + 255 * PG, 2 * PG);

	/* 256 pages: reply = 8 + 24 + 32 bytes; argsz one short fails. */
	ASSERT_ERR(logging_report(&r, 8 + 24 + 31, 0x100000, 256 * PG, PG, &m), EINVAL);
	raw_msg_free(&m);
	ASSERT_OK(logging_report(&r, 8 + 24 + 32, 0x100000, 256 * PG, PG, &m));
	ASSERT_EQ(m.len, 8 + 24 + 32);
	ASSERT_EQ(raw_u64(&m, 32), 1u << 5);
	ASSERT_EQ(raw_u64(&m, 40), 1);
	ASSERT_EQ(raw_u64(&m, 48), 0);
	ASSERT_EQ(raw_u64(&m, 56), 1ull << 63);
	raw_msg_free(&m);
	/* The mark's second page lay outside the window: nothing left. Page
	 * 33 reported at 64 KiB pages is unit 2. */
	vus_dma_mark_dirty(r.dev, 0x100000 + 33 * PG, 1);
	ASSERT_OK(logging_report(&r, 4096, 0x100000, 0x100000, 16 * PG, &m));
	ASSERT_EQ(m.len, 8 + 24 + 8);
	/* Unit 4 (page 64): the WRITE pointer is still held, so every report
	 * marks it again (dma_pin.c). */
	ASSERT_EQ(raw_u64(&m, 32), 1u << 2 | 1u << 4);
	raw_msg_free(&m);
	/* Cleared by reading, but for the held pointer's page 64. */
	ASSERT_OK(logging_report(&r, 4096, 0x100000, 0x100000, PG, &m));
	ASSERT_EQ(raw_u64(&m, 32) | raw_u64(&m, 48) | raw_u64(&m, 64), 0);
	ASSERT_EQ(raw_u64(&m, 40), 1);
	raw_msg_free(&m);
	/* fd-less: all zero; ranges outside one window: EINVAL. */
	ASSERT_OK(logging_report(&r, 64, 0x400000, 0x10000, PG, &m));
	ASSERT_EQ(m.len, 8 + 24 + 8);
	ASSERT_EQ(raw_u64(&m, 32), 0);
	raw_msg_free(&m);
	ASSERT_ERR(logging_report(&r, 4096, 0x1ff000, 0x2000, PG, &m), EINVAL);
	raw_msg_free(&m);
	/* Too big for the 256 MiB cap: a huge fd-less window asked at 1 byte. */
	ASSERT_OK(rig_dma_map(&r, 1ull << 40, 1ull << 32, RW, -1, 0));
	ASSERT_ERR(logging_report(&r, UINT32_MAX, 1ull << 40, 1ull << 32, 1, &m), E2BIG);
	raw_msg_free(&m);

	/* STOP (no data), then REPORT is refused again; STOP with data is not. */
	ASSERT_ERR(feature_err(&r, 8, VUS_FEATURE_DMA_LOGGING_STOP | F_SET, "x", 1), EINVAL);
	ASSERT_OK(feature_err(&r, 8, VUS_FEATURE_DMA_LOGGING_STOP | F_SET, NULL, 0));
	ASSERT_ERR(logging_report(&r, 64, 0x100000, 0x1000, PG, &m), EINVAL);
	raw_msg_free(&m);
	/* A new START may pick another page size; DEVICE_RESET stops logging. */
	logging_start(&r, 2 * PG, 0);
	rig_expect(&r, VUS_CMD_DEVICE_RESET, NULL, 0, NULL, 0, 0);
	ASSERT_ERR(logging_report(&r, 64, 0x100000, 0x1000, PG, &m), EINVAL);
	raw_msg_free(&m);
	rig_stop(&r);
}

/* UAPI: the page size is a hint; the device answers with the one it uses. */
static void test_logging_small_page_is_a_hint(void **state)
{
	uint8_t d[16 + 16] = { 0 };
	struct raw_msg m;
	struct rig r;
	int fd;

	start_mig(&r, VUS_MIGRATION_STOP_COPY);
	fd = memfd(0x100000);
	ASSERT_OK(rig_dma_map(&r, 0x100000, 0x100000, RW, fd, 0));
	close(fd);
	rig_put_u64(d, 512);
	rig_put_u32(d + 8, 1);
	rig_put_u64(d + 16, 0x100000);
	rig_put_u64(d + 24, 0x100000);
	feature(&r, 64, VUS_FEATURE_DMA_LOGGING_START | F_SET, d, sizeof(d), &m);
	ASSERT_EQ(m.hdr.flags & VUS_F_ERROR, 0);
	ASSERT_EQ(m.len, 8 + sizeof(d));
	ASSERT_EQ(raw_u64(&m, 8), PG);          /* the size chosen */
	ASSERT_EQ(raw_u32(&m, 16), 1);          /* the rest echoed */
	ASSERT_EQ(raw_u64(&m, 24), 0x100000);
	raw_msg_free(&m);
	/* Logging runs at 4 KiB: a byte marks its whole page. */
	vus_dma_mark_dirty(r.dev, 0x100000 + 3 * PG + 7, 1);
	ASSERT_OK(logging_report(&r, 64, 0x100000, 64 * PG, PG, &m));
	ASSERT_EQ(raw_u64(&m, 32), 1u << 3);
	raw_msg_free(&m);
	/* The same hint again is the same size: kept. */
	logging_start(&r, 512, 0);
	rig_stop(&r);
}

/* A WRITE pointer kept across reports: writes after a report are in the
 * next one (dma_pin.c), until the window goes. */
static void test_kept_pointer_written_after_a_report(void **state)
{
	struct raw_msg m;
	struct rig r;
	uint8_t *p;
	int fd;

	start_mig(&r, VUS_MIGRATION_STOP_COPY);
	fd = memfd(0x100000);
	ASSERT_OK(rig_dma_map(&r, 0x100000, 0x100000, RW, fd, 0));
	close(fd);
	logging_start(&r, PG, 0);
	p = vus_dma_translate(r.dev, 0x100000 + 8 * PG, 2 * PG, VUS_DMA_MAP_FLAG_WRITE);
	assert_non_null(p);
	ASSERT_OK(logging_report(&r, 64, 0x100000, 64 * PG, PG, &m));
	ASSERT_EQ(raw_u64(&m, 32), 3u << 8);
	raw_msg_free(&m);
	p[PG] = 1; /* after the report: the library cannot see this store */
	ASSERT_OK(logging_report(&r, 64, 0x100000, 64 * PG, PG, &m));
	ASSERT_EQ(raw_u64(&m, 32) & (1u << 9), 1u << 9);
	raw_msg_free(&m);
	/* Unmapped: the pointer is dead, nothing is marked for it any more. */
	{
		uint8_t u[24] = { 0 };

		rig_put_u32(u, 24);
		rig_put_u64(u + 8, 0x100000);
		rig_put_u64(u + 16, 0x100000);
		rig_expect(&r, VUS_CMD_DMA_UNMAP, u, sizeof(u), NULL, 0, 0);
	}
	fd = memfd(0x100000);
	ASSERT_OK(rig_dma_map(&r, 0x100000, 0x100000, RW, fd, 0));
	close(fd);
	ASSERT_OK(logging_report(&r, 64, 0x100000, 64 * PG, PG, &m));
	ASSERT_EQ(raw_u64(&m, 32), 0);
	raw_msg_free(&m);
	rig_stop(&r);
}

/* ---- property: no device write is ever missing from the reports ------ */

#define PROP_BASE  0x100000ull
#define PROP_PAGES 256u
#define PROP_PINS  4u

static unsigned prop_async_done;

static void prop_done(struct vus_dev *dev, void *arg, int result)
{
	ASSERT_OK(result);
	__atomic_fetch_add(&prop_async_done, 1, __ATOMIC_RELAXED);
}

static void prop_written(bool *w, uint64_t iova, uint64_t len)
{
	uint64_t p;

	for (p = (iova - PROP_BASE) / PG; p <= (iova + len - 1 - PROP_BASE) / PG; p++)
		w[p] = true;
}

static void prop_report(struct rig *r, bool *reported)
{
	struct raw_msg m;
	unsigned p;

	ASSERT_OK(logging_report(r, 64, PROP_BASE, PROP_PAGES * PG, PG, &m));
	for (p = 0; p < PROP_PAGES; p++)
		if (raw_u64(&m, 32 + 8 * (p / 64)) & (1ull << (p % 64)))
			reported[p] = true;
	raw_msg_free(&m);
}

/*
 * Random device writes through every path -- vus_dma_write(),
 * vus_dma_write_async(), stores through pointers kept from
 * vus_dma_translate(WRITE), and stores through the client's own mapping
 * followed by vus_dma_mark_dirty() -- interleaved with reports, as in
 * pre-copy rounds; then a final report, as in stop-copy. Every page
 * written must show up in a report made after the write (reports may
 * over-report, never miss). Seeded, so a failure replays.
 */
static void test_dirty_log_loses_no_write(void **state)
{
	bool reported[PROP_PAGES], written[PROP_PAGES];
	uint8_t buf[3 * 4096], *pin[PROP_PINS], *mem;
	uint64_t pin_iova[PROP_PINS], pin_len[PROP_PINS], iova, len;
	unsigned seed = 12345, i, p, async = 0, op;
	struct rig r;
	int fd;

	start_mig(&r, VUS_MIGRATION_STOP_COPY);
	fd = memfd(PROP_PAGES * PG);
	mem = mmap(NULL, PROP_PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mem != MAP_FAILED);
	ASSERT_OK(rig_dma_map(&r, PROP_BASE, PROP_PAGES * PG, RW, fd, 0));
	close(fd);
	memset(buf, 0x3c, sizeof(buf));
	/* Some pointers are taken before logging starts, some after. */
	for (i = 0; i < PROP_PINS; i++) {
		if (i == PROP_PINS / 2)
			logging_start(&r, PG, 0);
		pin_len[i] = 1 + rand_r(&seed) % (2 * PG);
		pin_iova[i] = PROP_BASE + rand_r(&seed) % (PROP_PAGES * PG - pin_len[i]);
		pin[i] = vus_dma_translate(r.dev, pin_iova[i], pin_len[i], VUS_DMA_MAP_FLAG_WRITE);
		assert_non_null(pin[i]);
	}
	memset(reported, 0, sizeof(reported));
	memset(written, 0, sizeof(written));
	prop_report(&r, reported); /* round 0: clears what translate marked */
	memset(reported, 0, sizeof(reported));

	for (i = 0; i < 3000; i++) {
		op = rand_r(&seed) % 5;
		len = 1 + rand_r(&seed) % sizeof(buf);
		iova = PROP_BASE + rand_r(&seed) % (PROP_PAGES * PG - len);
		switch (op) {
		case 0:
			ASSERT_OK(vus_dma_write(r.dev, iova, buf, len));
			break;
		case 1:
			ASSERT_OK(vus_dma_write_async(r.dev, iova, buf, len, prop_done, NULL));
			async++;
			break;
		case 2:
			p = rand_r(&seed) % PROP_PINS;
			len = 1 + rand_r(&seed) % pin_len[p];
			iova = pin_iova[p] + rand_r(&seed) % (pin_len[p] - len + 1);
			memset(pin[p] + (iova - pin_iova[p]), (int)i, len);
			break;
		case 3:
			memset(mem + (iova - PROP_BASE), (int)i, len);
			vus_dma_mark_dirty(r.dev, iova, len);
			break;
		default:
			/* A report: what was written so far must be in it or an
			 * earlier one; start a new round. */
			prop_report(&r, reported);
			for (p = 0; p < PROP_PAGES; p++)
				if (written[p] && !reported[p])
					fail_msg("page %u written, missing from the report", p);
			memset(written, 0, sizeof(written));
			memset(reported, 0, sizeof(reported));
			continue;
		}
		prop_written(written, iova, len);
	}
	prop_report(&r, reported); /* the final round */
	for (p = 0; p < PROP_PAGES; p++)
		if (written[p] && !reported[p])
			fail_msg("page %u written in the last round, missing", p);
	for (i = 0; i < 5000 && __atomic_load_n(&prop_async_done, __ATOMIC_RELAXED) < async; i++)
		usleep(1000);
	ASSERT_EQ(__atomic_load_n(&prop_async_done, __ATOMIC_RELAXED), async);
	rig_stop(&r);
	munmap(mem, PROP_PAGES * PG);
}

/* A client leaving a stopped device: the device hears (state -> RUNNING),
 * as a closed kernel VFIO device is back in RUNNING. */
static void test_disconnect_returns_to_running(void **state)
{
	struct rig r;
	int i;

	start_mig(&r, VUS_MIGRATION_STOP_COPY);
	ASSERT_OK(set_state(&r, VUS_MIG_STATE_STOP_COPY));
	__atomic_store_n(&md.n, 0, __ATOMIC_RELEASE);
	close(r.peer);
	r.peer = -1;
	for (i = 0; i < 5000 && __atomic_load_n(&md.n, __ATOMIC_ACQUIRE) < 2; i++)
		usleep(1000);
	assert_string_equal(md.arcs, "CR");
	vus_dev_stop(r.dev);
	pthread_join(r.thread, NULL);
	ASSERT_EQ(vus_dev_mig_state(r.dev), VUS_MIG_STATE_RUNNING);
	vus_dev_free(r.dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logging_small_page_is_a_hint),
		cmocka_unit_test(test_kept_pointer_written_after_a_report),
		cmocka_unit_test(test_disconnect_returns_to_running),
		cmocka_unit_test(test_dirty_log_loses_no_write),
		cmocka_unit_test(test_paths_with_pre_copy),
		cmocka_unit_test(test_paths_without_pre_copy),
		cmocka_unit_test(test_paths_refused),
		cmocka_unit_test(test_paths_match_kernel_table),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_walk_failure_mid_path),
		cmocka_unit_test(test_report_bytes),
		cmocka_unit_test_setup_teardown(test_log_start_stop, setup_table, teardown_table),
		cmocka_unit_test_setup_teardown(test_mark_and_report_clears, setup_table,
						teardown_table),
		cmocka_unit_test_setup_teardown(test_report_page_size_conversion, setup_table,
						teardown_table),
		cmocka_unit_test_setup_teardown(test_report_straddling_pages_stay, setup_table,
						teardown_table),
		cmocka_unit_test_setup_teardown(test_report_bad_ranges, setup_table, teardown_table),
		cmocka_unit_test_setup_teardown(test_windows_added_while_logging, setup_table,
						teardown_table),
		cmocka_unit_test(test_large_window_words),
		cmocka_unit_test(test_feature_without_migration),
		cmocka_unit_test(test_set_migration_checks),
		cmocka_unit_test(test_feature_ops),
		cmocka_unit_test(test_state_walk_over_the_wire),
		cmocka_unit_test(test_pre_copy_needs_the_flag),
		cmocka_unit_test(test_mig_data),
		cmocka_unit_test(test_dirty_logging_over_the_wire),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
