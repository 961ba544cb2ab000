/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the two images of a live update agree on (upgrade.c writes,
 * upgrade_in.c reads; docs/live-update.md "vusd").
 */
#ifndef VUSD_UPGRADE_H
#define VUSD_UPGRADE_H

#include <stdint.h>

/* The state's JSON in a memfd, by fd number. */
#define VUSD_LIVE_ENV_STATE "VUSD_LIVE_STATE"
/* Set for the dry run: the pipe to write "ok" or the reason to. */
#define VUSD_LIVE_ENV_CHECK "VUSD_LIVE_CHECK"
#define VUSD_LIVE_VERSION 1

uint64_t vusd_live_now_ns(void);

#endif /* VUSD_UPGRADE_H */
