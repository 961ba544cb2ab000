/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * migration.c internals used by dma.c (library-internal).
 */
#ifndef VUS_MIGRATION_PRIV_H
#define VUS_MIGRATION_PRIV_H

struct vus_dev;

/*
 * The client went away: stop dirty logging. Its DMA windows are gone, and
 * a new client starts its own log (possibly at another page size). The
 * migration state itself is kept (decisions.md "Sessions").
 */
void vus_mig_session_end(struct vus_dev *dev);

#endif /* VUS_MIGRATION_PRIV_H */
