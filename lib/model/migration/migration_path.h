/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The migration v2 state machine as a pure function (library-internal):
 * which direct arcs a MIG_DEVICE_STATE SET walks (docs/protocol.md 5.1,
 * spec "Migration", UAPI <linux/vfio.h> vfio_device_mig_state).
 */
#ifndef VUS_MIGRATION_PATH_H
#define VUS_MIGRATION_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include <vus/proto.h>

/*
 * Shortest path of direct arcs from 'from' to 'to' that never passes
 * *through* STOP_COPY or RESUMING, nor through PRE_COPY/PRE_COPY_P2P unless
 * both ends are saving states (the kernel's vfio_mig_get_next_state()).
 * flags: the device's VUS_MIGRATION_* (arcs and states of features it
 * lacks do not exist). path[0..n) receives the states entered, 'to' last.
 * Returns n (0 when from == to) or -EINVAL: 'to' unknown, ERROR or a state
 * of a feature the device lacks, STOP_COPY -> PRE_COPY(_P2P) (forbidden by
 * the UAPI), or no path (from ERROR: only a reset leaves it).
 */
int vus_mig_path(enum vus_mig_state from, unsigned to, uint64_t flags,
		 enum vus_mig_state path[VUS_MIG_STATE_NR]);

/* One arc; 0 or -errno (the device then stays in 'from'). */
typedef int (*vus_mig_arc_fn)(void *ctx, enum vus_mig_state from, enum vus_mig_state to);

/*
 * Walk *state to 'to' arc by arc. *state is updated after every arc, so
 * on a failing arc it is the last state reached; that arc's error is
 * returned. -EINVAL (nothing called) when vus_mig_path() has no path.
 */
int vus_mig_walk(enum vus_mig_state *state, unsigned to, uint64_t flags, vus_mig_arc_fn arc,
		 void *ctx);

#endif /* VUS_MIGRATION_PATH_H */
