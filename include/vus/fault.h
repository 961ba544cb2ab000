/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection: make a vus device misbehave on purpose, reproducibly,
 * so a VMM's error paths can be tested (docs/testdev.md "Fault
 * injection"; vusd exposes these for testdev through its control socket,
 * docs/control.md).
 *
 * All of these are for the loop thread (vusd's control handlers run
 * there) or before the device serves. Rules stay across client sessions
 * until cleared; a held reply and a pending disconnect belong to the
 * session and go with it.
 */
#ifndef VUS_FAULT_H
#define VUS_FAULT_H

#include <stdint.h>

#include <vus/api.h>
#include <vus/device.h>

/*
 * A rule for one command (VUS_CMD_*, e.g. VUS_CMD_REGION_READ):
 *  - error > 0: answer it with that errno without running it (a command
 *    marked NO_REPLY is dropped, as a failed one would be);
 *  - delay_ms > 0: run it, then hold its reply delay_ms. The loop is not
 *    blocked (other devices, the control socket, timers go on), but this
 *    client's next messages wait, as behind a slow device.
 * count: how many matching commands it acts on; 0: every one until
 * vus_dev_fault_clear(). The first rule for the command with count left
 * acts. At most VUS_FAULT_MAX_RULES rules (-ENOSPC); -EINVAL for an
 * unknown command, error outside 1..4095, or neither error nor delay.
 */
#define VUS_FAULT_MAX_RULES 16
struct vus_fault_rule {
	uint16_t cmd;
	int error;
	uint32_t delay_ms;
	uint32_t count;
};
VUS_API int vus_dev_fault_add(struct vus_dev *dev, const struct vus_fault_rule *rule);
/* Forget every rule (a reply already held is still sent when due). */
VUS_API void vus_dev_fault_clear(struct vus_dev *dev);

/*
 * Drop the client: after 0 commands means now (-ENOTCONN without a
 * client), after N once the Nth command from now was answered (by this
 * client, or the next one when none is attached; a session that ends
 * first takes the countdown with it). The device sees a lost connection
 * (VUS_RESET_LOST_CONN) and keeps its state; the client may connect
 * again.
 */
VUS_API int vus_dev_fault_disconnect(struct vus_dev *dev, uint32_t after);

#endif /* VUS_FAULT_H */
