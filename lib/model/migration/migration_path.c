/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration v2 state machine: the direct arcs and the path search
 * (migration_path.h).
 */
#include <errno.h>

#include "migration_path.h"

struct mig_arc {
	enum vus_mig_state from, to;
	bool pre_copy;       /* exists only if the device offers PRE_COPY */
};

/* The direct arcs a server implements (spec "Migration"; docs/protocol.md 5.1). */
/* The (unique) shortest paths come from the rules below, not from the
 * order of this table. */
static const struct mig_arc arcs[] = {
	{ VUS_MIG_STATE_RUNNING,   VUS_MIG_STATE_PRE_COPY,  true },
	{ VUS_MIG_STATE_PRE_COPY,  VUS_MIG_STATE_STOP_COPY, true },
	{ VUS_MIG_STATE_PRE_COPY,  VUS_MIG_STATE_RUNNING,   true },
	{ VUS_MIG_STATE_RUNNING,   VUS_MIG_STATE_STOP,      false },
	{ VUS_MIG_STATE_STOP,      VUS_MIG_STATE_RUNNING,   false },
	{ VUS_MIG_STATE_STOP,      VUS_MIG_STATE_STOP_COPY, false },
	{ VUS_MIG_STATE_STOP_COPY, VUS_MIG_STATE_STOP,      false },
	{ VUS_MIG_STATE_STOP,      VUS_MIG_STATE_RESUMING,  false },
	{ VUS_MIG_STATE_RESUMING,  VUS_MIG_STATE_STOP,      false },
};

/* States a path may end in but not cross: the saving group and RESUMING
 * (UAPI vfio_mig_get_next_state; spec "Migration"). */
static bool endpoint_only(enum vus_mig_state s)
{
	return s == VUS_MIG_STATE_PRE_COPY || s == VUS_MIG_STATE_STOP_COPY ||
	       s == VUS_MIG_STATE_RESUMING;
}

static bool requestable(unsigned s, bool pre_copy)
{
	switch (s) {
	case VUS_MIG_STATE_STOP:
	case VUS_MIG_STATE_RUNNING:
	case VUS_MIG_STATE_STOP_COPY:
	case VUS_MIG_STATE_RESUMING:
		return true;
	case VUS_MIG_STATE_PRE_COPY:
		return pre_copy;
	default:
		/* ERROR is entered, never requested; P2P states are not used
		 * in vfio-user (spec). */
		return false;
	}
}

int vus_mig_path(enum vus_mig_state from, unsigned to, bool pre_copy,
		 enum vus_mig_state path[VUS_MIG_STATE_NR])
{
	int prev[VUS_MIG_STATE_NR];
	enum vus_mig_state queue[VUS_MIG_STATE_NR];
	unsigned head = 0, tail = 0, i;
	int n, s;

	if (!requestable(to, pre_copy) || (unsigned)from >= VUS_MIG_STATE_NR)
		return -EINVAL;
	/* UAPI: "STOP_COPY -> PRE_COPY ... is not allowed"; a detour through
	 * STOP and RUNNING would otherwise reach it. */
	if (from == VUS_MIG_STATE_STOP_COPY && to == VUS_MIG_STATE_PRE_COPY)
		return -EINVAL;
	if ((unsigned)from == to)
		return 0;

	/* Breadth-first search: the first time 'to' is reached is shortest. */
	for (i = 0; i < VUS_MIG_STATE_NR; i++)
		prev[i] = -1;
	prev[from] = from;
	queue[tail++] = from;
	while (head < tail && prev[to] < 0) {
		enum vus_mig_state cur = queue[head++];

		if (cur != from && endpoint_only(cur))
			continue;
		for (i = 0; i < sizeof(arcs) / sizeof(arcs[0]); i++) {
			if (arcs[i].from != cur || prev[arcs[i].to] >= 0)
				continue;
			if (arcs[i].pre_copy && !pre_copy)
				continue;
			prev[arcs[i].to] = cur;
			queue[tail++] = arcs[i].to;
		}
	}
	if (prev[to] < 0)
		return -EINVAL;

	n = 0;
	for (s = (int)to; s != (int)from; s = prev[s])
		n++;
	i = (unsigned)n;
	for (s = (int)to; s != (int)from; s = prev[s])
		path[--i] = (enum vus_mig_state)s;
	return n;
}

int vus_mig_walk(enum vus_mig_state *state, unsigned to, bool pre_copy, vus_mig_arc_fn arc,
		 void *ctx)
{
	enum vus_mig_state path[VUS_MIG_STATE_NR];
	int n, i, rc;

	n = vus_mig_path(*state, to, pre_copy, path);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		rc = arc(ctx, *state, path[i]);
		if (rc < 0)
			return rc;
		*state = path[i];
	}
	return 0;
}
