/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every direct arc of the kernel's migration v2 state machine, one by one,
 * through the client library (docs/migration.md "States and arcs"), for a
 * device offering PRE_COPY and P2P and for one offering neither. For each
 * arc: the device hears exactly that arc, GET answers the new state, and
 * the library's promises hold in it (DMA refused and interrupts held in
 * STOP, STOP_COPY and RESUMING; allowed and delivered elsewhere); inside
 * the device's callback DMA works only on the way out of the stopped
 * states and on the arc from a running state into STOP (device first). Then a
 * failing arc puts the device in ERROR and a reset brings it back through
 * its transition callback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "efd.h"
#include "vus_test.h"

#define IOVA 0x20000000ull
#define MEM_SIZE 0x10000u

/* The device's view, written on the loop thread inside its callbacks. */
struct arcdev {
	struct vus_dev *dev;
	struct vus_client *c;
	pthread_t th;
	int efd;
	uint8_t *mem;
	/*
	 * Written by the device's thread, read by the test's: atomic, since
	 * the socket round trip that orders them is invisible to TSan.
	 */
	_Atomic enum vus_mig_state seen_from, seen_to;
	_Atomic unsigned arcs;             /* transition() calls */
	_Atomic int dma_in_callback;       /* vus_dma_write() result inside the last arc */
	_Atomic enum vus_mig_state fail_to; /* an arc into this state fails (ERROR: none) */
};

static struct arcdev A;

static int ad_transition(struct vus_dev *dev, void *opaque, enum vus_mig_state from,
			 enum vus_mig_state to)
{
	uint8_t b = (uint8_t)to;

	A.seen_from = from;
	A.seen_to = to;
	A.arcs++;
	A.dma_in_callback = vus_dma_write(dev, IOVA + 0x100, &b, 1);
	return to == A.fail_to ? -EIO : 0;
}

static ssize_t ad_save(struct vus_dev *dev, void *opaque, void *buf, size_t len)
{
	return 0;
}

static int ad_load(struct vus_dev *dev, void *opaque, const void *buf, size_t len)
{
	return 0;
}

static int ad_reset(struct vus_dev *dev, void *opaque, enum vus_reset_reason reason)
{
	return 0;
}

static void *serve(void *arg)
{
	vus_dev_run(arg);
	return NULL;
}

static void start(uint64_t flags)
{
	static struct vus_migration_ops ops = {
		.transition = ad_transition, .save = ad_save, .load = ad_load,
	};
	int sv[2];

	memset(&A, 0, sizeof(A));
	A.fail_to = VUS_MIG_STATE_ERROR;
	A.dev = vus_dev_new("arcs");
	assert_non_null(A.dev);
	vus_dev_set_log_level(A.dev, VUS_LOG_ERR);
	ops.flags = flags;
	ASSERT_OK(vus_dev_set_migration(A.dev, &ops, NULL));
	ASSERT_OK(vus_dev_set_reset(A.dev, ad_reset, NULL));
	ASSERT_OK(vus_dev_setup_irq(A.dev, VUS_PCI_INTX_IRQ, 1));
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(A.dev, sv[1]));
	ASSERT_OK(pthread_create(&A.th, NULL, serve, A.dev));
	ASSERT_OK(vus_client_connect_fd(sv[0], NULL, &A.c));
	ASSERT_OK(vus_client_dma_map(A.c, IOVA, MEM_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true,
				     (void **)&A.mem));
	A.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_NONNEG(A.efd);
	ASSERT_OK(vus_client_set_irqs(A.c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1,
				      &A.efd, NULL));
}

static void stop(void)
{
	vus_client_close(A.c);
	vus_dev_stop(A.dev);
	pthread_join(A.th, NULL);
	vus_dev_free(A.dev);
	close(A.efd);
}

static bool stopped(enum vus_mig_state s)
{
	return s == VUS_MIG_STATE_STOP || s == VUS_MIG_STATE_STOP_COPY ||
	       s == VUS_MIG_STATE_RESUMING;
}

static enum vus_mig_state get(void)
{
	enum vus_mig_state s;

	ASSERT_OK(vus_client_mig_get_state(A.c, &s));
	return s;
}

/* In state s, the library's promises: DMA and interrupts. */
static void check_promises(enum vus_mig_state s)
{
	uint8_t b = 0xa5;

	if (stopped(s)) {
		ASSERT_ERR(vus_dma_write(A.dev, IOVA, &b, 1), -EBUSY);
		ASSERT_OK(vus_irq_trigger(A.dev, VUS_PCI_INTX_IRQ, 0));
		ASSERT_EQ(efd_wait(A.efd, 20), 0);
	} else {
		ASSERT_OK(vus_dma_write(A.dev, IOVA, &b, 1));
		ASSERT_EQ(A.mem[0], 0xa5);
		A.mem[0] = 0;
		ASSERT_OK(vus_irq_trigger(A.dev, VUS_PCI_INTX_IRQ, 0));
		assert_true(efd_wait(A.efd, 2000) > 0);
		ASSERT_OK(vus_client_set_irqs(A.c, VUS_PCI_INTX_IRQ,
					      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK,
					      0, 1, NULL, NULL));
	}
}

/* Back to RUNNING by DEVICE_RESET, then to 'from' by SETs. */
static void reach(enum vus_mig_state from)
{
	ASSERT_OK(vus_client_reset(A.c));
	efd_wait(A.efd, 0);
	ASSERT_OK(vus_client_set_irqs(A.c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, NULL,
				      NULL));
	ASSERT_EQ(get(), VUS_MIG_STATE_RUNNING);
	ASSERT_OK(vus_client_mig_set_state(A.c, from));
	ASSERT_EQ(get(), from);
}

struct arc {
	enum vus_mig_state from, to;
};

static void walk_arcs(const struct arc *arcs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		enum vus_mig_state from = arcs[i].from, to = arcs[i].to;

		reach(from);
		A.arcs = 0;
		A.mem[0x100] = 0xff;
		ASSERT_OK(vus_client_mig_set_state(A.c, to));
		/* Exactly this arc, as the device saw it. */
		ASSERT_EQ(A.arcs, 1);
		ASSERT_EQ(A.seen_from, from);
		ASSERT_EQ(A.seen_to, to);
		ASSERT_EQ(get(), to);
		/* Inside the callback DMA was refused iff 'to' is stopped,
		 * except on the arc into STOP from a running state: there the
		 * device parks its workers first, DMA still allowed, and the
		 * library quiesces after it (docs/migration.md "Stopped means
		 * stopped"). Out of a stopped state the library releases first. */
		if (stopped(to) && !(to == VUS_MIG_STATE_STOP && !stopped(from))) {
			ASSERT_ERR(A.dma_in_callback, -EBUSY);
			ASSERT_EQ(A.mem[0x100], 0xff);
		} else {
			ASSERT_OK(A.dma_in_callback);
			ASSERT_EQ(A.mem[0x100], (uint8_t)to);
		}
		check_promises(to);
	}
}

#define S  VUS_MIG_STATE_STOP
#define R  VUS_MIG_STATE_RUNNING
#define C  VUS_MIG_STATE_STOP_COPY
#define M  VUS_MIG_STATE_RESUMING
#define RP VUS_MIG_STATE_RUNNING_P2P
#define P  VUS_MIG_STATE_PRE_COPY
#define PP VUS_MIG_STATE_PRE_COPY_P2P

/* The UAPI's list of direct arcs for a device with P2P and PRE_COPY. */
static void test_every_arc_p2p_pre_copy(void **state)
{
	static const struct arc arcs[] = {
		{ R, RP }, { RP, R }, { RP, S }, { S, RP }, { S, C }, { C, S }, { S, M },
		{ M, S }, { R, P }, { P, R }, { P, PP }, { PP, P }, { PP, C }, { RP, PP },
		{ PP, RP },
	};

	start(VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY | VUS_MIGRATION_P2P);
	walk_arcs(arcs, sizeof(arcs) / sizeof(arcs[0]));
	stop();
}

/* Without P2P the kernel's table skips the P2P states. */
static void test_every_arc_plain(void **state)
{
	static const struct arc arcs[] = {
		{ R, S }, { S, R }, { S, C }, { C, S }, { S, M }, { M, S },
	};

	start(VUS_MIGRATION_STOP_COPY);
	walk_arcs(arcs, sizeof(arcs) / sizeof(arcs[0]));
	/* States of features the device lacks are refused, nothing called. */
	A.arcs = 0;
	ASSERT_ERR(vus_client_mig_set_state(A.c, RP), -EINVAL);
	ASSERT_ERR(vus_client_mig_set_state(A.c, P), -EINVAL);
	ASSERT_EQ(A.arcs, 0);
	stop();
}

static void test_pre_copy_without_p2p(void **state)
{
	static const struct arc arcs[] = {
		{ R, S }, { S, R }, { R, P }, { P, R }, { P, C }, { S, C }, { C, S },
	};

	start(VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY);
	walk_arcs(arcs, sizeof(arcs) / sizeof(arcs[0]));
	stop();
}

/* A multi-arc request walks the kernel's path; each arc is heard. */
static void test_long_walk_through_p2p(void **state)
{
	start(VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY | VUS_MIGRATION_P2P);
	A.arcs = 0;
	ASSERT_OK(vus_client_mig_set_state(A.c, C)); /* R -> RP -> S -> C */
	ASSERT_EQ(A.arcs, 3);
	ASSERT_EQ(A.seen_from, S);
	ASSERT_EQ(get(), C);
	A.arcs = 0;
	/* STOP_COPY -> PRE_COPY(_P2P) is refused (UAPI). */
	ASSERT_ERR(vus_client_mig_set_state(A.c, P), -EINVAL);
	ASSERT_ERR(vus_client_mig_set_state(A.c, PP), -EINVAL);
	ASSERT_EQ(A.arcs, 0);
	stop();
}

/* A failing arc: ERROR, nothing but a reset leads out, and the reset is
 * heard by the device as (ERROR, RUNNING); DMA and interrupts resume. */
static void test_failed_arc_error_and_reset(void **state)
{
	start(VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY | VUS_MIGRATION_P2P);
	A.fail_to = S;
	ASSERT_ERR(vus_client_mig_set_state(A.c, C), -EIO);
	ASSERT_EQ(get(), VUS_MIG_STATE_ERROR);
	ASSERT_EQ(A.seen_from, RP);
	A.arcs = 0;
	ASSERT_ERR(vus_client_mig_set_state(A.c, R), -EINVAL);
	ASSERT_ERR(vus_client_mig_set_state(A.c, S), -EINVAL);
	ASSERT_EQ(A.arcs, 0);
	/* ERROR keeps the device quiet (it was stopping). */
	check_promises(S);
	A.fail_to = VUS_MIG_STATE_ERROR;
	ASSERT_OK(vus_client_reset(A.c));
	ASSERT_EQ(A.arcs, 1);
	ASSERT_EQ(A.seen_from, VUS_MIG_STATE_ERROR);
	ASSERT_EQ(A.seen_to, R);
	ASSERT_EQ(get(), R);
	efd_wait(A.efd, 0);
	ASSERT_OK(vus_client_set_irqs(A.c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, NULL,
				      NULL));
	check_promises(R);
	/* A failing arc out of a stopped state: ERROR keeps DMA refused. */
	ASSERT_OK(vus_client_mig_set_state(A.c, S));
	A.fail_to = RP;
	ASSERT_ERR(vus_client_mig_set_state(A.c, R), -EIO);
	ASSERT_EQ(get(), VUS_MIG_STATE_ERROR);
	check_promises(S);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_arc_p2p_pre_copy),
		cmocka_unit_test(test_every_arc_plain),
		cmocka_unit_test(test_pre_copy_without_p2p),
		cmocka_unit_test(test_long_walk_through_p2p),
		cmocka_unit_test(test_failed_arc_error_and_reset),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
