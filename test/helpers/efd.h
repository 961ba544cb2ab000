/* SPDX-License-Identifier: BSD-3-Clause */
/* Eventfds (interrupts, resample) and memfds (guest memory) for tests. */
#ifndef VUS_TEST_EFD_H
#define VUS_TEST_EFD_H

#include <stddef.h>
#include <stdint.h>

/* A non-blocking, close-on-exec eventfd; fails the test if there is none. */
int efd_new(void);
/* The eventfd's count if it was signalled within ms (read, which resets
 * it); 0 if it stayed quiet. ms 0 only looks. */
uint64_t efd_wait(int fd, int ms);
/* Add one to the counter, as KVM does on a resample. */
void efd_signal(int fd);
/* A close-on-exec memfd of size bytes (zeros); fails the test if none. */
int memfd_new(size_t size);

#endif /* VUS_TEST_EFD_H */
