/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log rate limiting for warnings a peer can cause at will (a stray reply,
 * a refused connection): the first VUS_RATELIMIT_BURST events are logged
 * one by one, after that only the 2^k-th, with the count so far. 200,000
 * events make 10 + 15 lines instead of 200,000 (docs/security.md
 * section 4). Not thread-safe: one owner thread per counter (every user
 * here is a loop thread).
 */
#ifndef VUS_RATELIMIT_H
#define VUS_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define VUS_RATELIMIT_BURST 10u

struct vus_ratelimit {
	uint64_t events;   /* seen so far */
	uint64_t logged;   /* the number of the last one logged */
};

/*
 * Count one event. True if it should be logged; then *suppressed is the
 * number of events since the last logged one that were not (0 during the
 * burst).
 */
static inline bool vus_ratelimit_pass(struct vus_ratelimit *rl, uint64_t *suppressed)
{
	uint64_t n = ++rl->events;

	if (n > VUS_RATELIMIT_BURST && (n & (n - 1)))
		return false;
	*suppressed = n - 1 - rl->logged;
	rl->logged = n;
	return true;
}

static inline void vus_ratelimit_reset(struct vus_ratelimit *rl)
{
	rl->events = rl->logged = 0;
}

#endif /* VUS_RATELIMIT_H */
