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
 *    per process, shared by every listening device and opened with the
 *    first listener while fds were plentiful) is given up for a moment to
 *    accept that connection and close it, so the client learns at once
 *    and the loop moves on. One for the process, not one per device: a
 *    vusd with 256 devices must fit a hard limit of 1024
 *    (docs/performance.md "fds per device"); a lock serialises the
 *    devices of different threads around it.
 */
#ifndef VUS_FD_RESERVE_H
#define VUS_FD_RESERVE_H

/* 0, or -EMFILE if fd lies within the reserve at the top of the limit. */
int vus_fd_check_reserve(int fd);

/* A listener starts (get) or stops (put) needing the process's spare fd:
 * the first get opens it, the last put closes it. Any thread. */
void vus_fd_spare_get(void);
void vus_fd_spare_put(void);

/* Accept one pending connection on lfd and close it at once, using the
 * spare (given up and re-opened around the accept). 0, -EAGAIN (none
 * pending), or -errno. Any thread. */
int vus_accept_shed(int lfd);

#endif /* VUS_FD_RESERVE_H */
