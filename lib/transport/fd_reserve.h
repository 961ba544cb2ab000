/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * File descriptors as a shared resource of the process (docs/security.md
 * section 2): every device in a process draws on one RLIMIT_NOFILE.
 *
 *  - vus_fd_check_reserve(): an fd a client hands us (DMA_MAP) is kept
 *    only while the process keeps a reserve of free fds below its limit,
 *    so one client's windows cannot take the fds other devices need to
 *    accept their clients.
 *  - vus_accept_shed(): when accept() fails with EMFILE/ENFILE the
 *    pending connection stays queued and a level-triggered poll reports
 *    the listener again at once: the loop would spin. A spare fd (one
 *    per listening device, opened with its listener while fds were
 *    plentiful) is given up for a moment to accept that connection and
 *    close it, so the client learns at once and the loop moves on.
 */
#ifndef VUS_FD_RESERVE_H
#define VUS_FD_RESERVE_H

/* 0, or -EMFILE if fd lies within the reserve at the top of the limit. */
int vus_fd_check_reserve(int fd);

/* *spare: an fd kept for vus_accept_shed() (-1 if none could be opened). */
void vus_fd_spare_open(int *spare);
void vus_fd_spare_close(int *spare);

/* Accept one pending connection on lfd and close it at once, using
 * *spare (given up and re-opened around the accept). 0, -EAGAIN (none
 * pending), or -errno. */
int vus_accept_shed(int lfd, int *spare);

#endif /* VUS_FD_RESERVE_H */
