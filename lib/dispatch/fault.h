/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection's hooks in dispatch and the serve loop (fault.c;
 * the API is include/vus/fault.h). Loop thread.
 */
#ifndef VUS_FAULT_PRIV_H
#define VUS_FAULT_PRIV_H

#include <stdbool.h>

struct vus_dev;
struct vus_hdr;
struct vus_reply;

/* Rules are set: any command may be failed or delayed (bulk.c then lets
 * nothing land before the command runs). */
bool vus_fault_armed(const struct vus_dev *dev);
/* Before running a command: true (and *err) when a rule fails it. */
bool vus_fault_command(struct vus_dev *dev, const struct vus_hdr *h, int *err);
/* Before sending its reply: true when the reply is held (r's fds and
 * buffer taken over). */
bool vus_fault_hold(struct vus_dev *dev, const struct vus_hdr *h, struct vus_reply *r, int err);
/* A reply went out: a disconnect-after-N counts down. */
void vus_fault_replied(struct vus_dev *dev);
/* A reply is held: read nothing more from the client. */
bool vus_fault_holding(const struct vus_dev *dev);
/* The fault timerfd (-1 if none) and its handler. */
int vus_fault_timer_fd(const struct vus_dev *dev);
void vus_fault_on_timer(struct vus_dev *dev);
/* The session ended: its held reply and pending disconnect go. */
void vus_fault_session_end(struct vus_dev *dev);
void vus_fault_free(struct vus_dev *dev);

#endif /* VUS_FAULT_PRIV_H */
