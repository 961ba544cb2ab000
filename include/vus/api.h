/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VUS_API marks what libvus exports. The library is built with hidden
 * visibility (docs/architecture.md "Library boundary"): a function is
 * part of the shared library's ABI only if its declaration in
 * include/vus/ carries this marker, and lib/vus.sym lists it.
 */
#ifndef VUS_API_H
#define VUS_API_H

#define VUS_API __attribute__((visibility("default")))

#endif /* VUS_API_H */
