/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration v2 state machine: the direct arcs and the path search
 * (migration_path.h).
 */
#include <errno.h>

#include "migration_path.h"

/* Which devices have an arc: those offering all of 'need' and none of
 * 'not' (VUS_MIGRATION_* bits). */
struct mig_arc {
	enum vus_mig_state from, to;
	uint64_t need, not;
};

#define P2P VUS_MIGRATION_P2P
#define PRE VUS_MIGRATION_PRE_COPY

/*
 * The direct arcs (UAPI <linux/vfio.h> "enum vfio_device_mig_state";
 * docs/protocol.md 5.1). With P2P, RUNNING and STOP (and PRE_COPY and
 * STOP_COPY) are linked through the P2P states only; without it the
 * kernel's table skips them, which is the direct arc. The (unique)
 * shortest paths come from the rules below, not from this order.
 */
static const struct mig_arc arcs[] = {
	{ VUS_MIG_STATE_RUNNING,      VUS_MIG_STATE_STOP,         0,         P2P },
	{ VUS_MIG_STATE_STOP,         VUS_MIG_STATE_RUNNING,      0,         P2P },
	{ VUS_MIG_STATE_RUNNING,      VUS_MIG_STATE_RUNNING_P2P,  P2P,       0 },
	{ VUS_MIG_STATE_RUNNING_P2P,  VUS_MIG_STATE_RUNNING,      P2P,       0 },
	{ VUS_MIG_STATE_RUNNING_P2P,  VUS_MIG_STATE_STOP,         P2P,       0 },
	{ VUS_MIG_STATE_STOP,         VUS_MIG_STATE_RUNNING_P2P,  P2P,       0 },
	{ VUS_MIG_STATE_STOP,         VUS_MIG_STATE_STOP_COPY,    0,         0 },
	{ VUS_MIG_STATE_STOP_COPY,    VUS_MIG_STATE_STOP,         0,         0 },
	{ VUS_MIG_STATE_STOP,         VUS_MIG_STATE_RESUMING,     0,         0 },
	{ VUS_MIG_STATE_RESUMING,     VUS_MIG_STATE_STOP,         0,         0 },
	{ VUS_MIG_STATE_RUNNING,      VUS_MIG_STATE_PRE_COPY,     PRE,       0 },
	{ VUS_MIG_STATE_PRE_COPY,     VUS_MIG_STATE_RUNNING,      PRE,       0 },
	{ VUS_MIG_STATE_PRE_COPY,     VUS_MIG_STATE_STOP_COPY,    PRE,       P2P },
	{ VUS_MIG_STATE_PRE_COPY,     VUS_MIG_STATE_PRE_COPY_P2P, PRE | P2P, 0 },
	{ VUS_MIG_STATE_PRE_COPY_P2P, VUS_MIG_STATE_PRE_COPY,     PRE | P2P, 0 },
	{ VUS_MIG_STATE_PRE_COPY_P2P, VUS_MIG_STATE_STOP_COPY,    PRE | P2P, 0 },
	{ VUS_MIG_STATE_RUNNING_P2P,  VUS_MIG_STATE_PRE_COPY_P2P, PRE | P2P, 0 },
	{ VUS_MIG_STATE_PRE_COPY_P2P, VUS_MIG_STATE_RUNNING_P2P,  PRE | P2P, 0 },
};

static bool saving(unsigned s)
{
	return s == VUS_MIG_STATE_PRE_COPY || s == VUS_MIG_STATE_PRE_COPY_P2P ||
	       s == VUS_MIG_STATE_STOP_COPY;
}

/* UAPI: "The path cannot have saving group states as interior arcs, only
 * starting/end states" -- except inside the group (PRE_COPY -> PRE_COPY_P2P
 * -> STOP_COPY is the kernel's path); STOP_COPY and RESUMING only end one. */
static bool may_cross(enum vus_mig_state s, enum vus_mig_state from, unsigned to)
{
	if (s == VUS_MIG_STATE_STOP_COPY || s == VUS_MIG_STATE_RESUMING)
		return false;
	if (s == VUS_MIG_STATE_PRE_COPY || s == VUS_MIG_STATE_PRE_COPY_P2P)
		return saving(from) && saving(to);
	return true;
}

static bool requestable(unsigned s, uint64_t flags)
{
	switch (s) {
	case VUS_MIG_STATE_STOP:
	case VUS_MIG_STATE_RUNNING:
	case VUS_MIG_STATE_STOP_COPY:
	case VUS_MIG_STATE_RESUMING:
		return true;
	case VUS_MIG_STATE_PRE_COPY:
		return flags & PRE;
	case VUS_MIG_STATE_RUNNING_P2P:
		return flags & P2P;
	case VUS_MIG_STATE_PRE_COPY_P2P:
		return (flags & (PRE | P2P)) == (PRE | P2P);
	default:
		return false; /* ERROR is entered, never requested */
	}
}

int vus_mig_path(enum vus_mig_state from, unsigned to, uint64_t flags,
		 enum vus_mig_state path[VUS_MIG_STATE_NR])
{
	int prev[VUS_MIG_STATE_NR];
	enum vus_mig_state queue[VUS_MIG_STATE_NR];
	unsigned head = 0, tail = 0, i;
	int n, s;

	if (!requestable(to, flags) || (unsigned)from >= VUS_MIG_STATE_NR)
		return -EINVAL;
	/* UAPI: "STOP_COPY -> PRE_COPY ... is not allowed"; a detour through
	 * STOP and RUNNING would otherwise reach it. */
	if (from == VUS_MIG_STATE_STOP_COPY &&
	    (to == VUS_MIG_STATE_PRE_COPY || to == VUS_MIG_STATE_PRE_COPY_P2P))
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

		if (cur != from && !may_cross(cur, from, to))
			continue;
		for (i = 0; i < sizeof(arcs) / sizeof(arcs[0]); i++) {
			if (arcs[i].from != cur || prev[arcs[i].to] >= 0)
				continue;
			if ((flags & arcs[i].need) != arcs[i].need || (flags & arcs[i].not))
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

int vus_mig_walk(enum vus_mig_state *state, unsigned to, uint64_t flags, vus_mig_arc_fn arc,
		 void *ctx)
{
	enum vus_mig_state path[VUS_MIG_STATE_NR];
	int n, i, rc;

	n = vus_mig_path(*state, to, flags, path);
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
