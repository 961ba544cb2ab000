/* SPDX-License-Identifier: BSD-3-Clause */
/* The monotonic clock for tests' deadlines and waits. */
#ifndef VUS_TEST_CLOCK_H
#define VUS_TEST_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds / milliseconds. */
int64_t test_now_us(void);
int64_t test_now_ms(void);
/* Sleep ms milliseconds (resumed after a signal). */
void test_sleep_ms(int ms);
/* How much to stretch a test's time bounds (never its assertions):
 * VUS_TEST_TIME_SCALE when set to a positive number (valgrind runs set
 * 20, docs/testing.md "valgrind"), else 1. */
int test_time_scale(void);

#endif /* VUS_TEST_CLOCK_H */
