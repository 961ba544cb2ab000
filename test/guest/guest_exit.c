/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * guest-exit STATUS: power the guest off with STATUS as the test result,
 * through QEMU's isa-debug-exit device (-device
 * isa-debug-exit,iobase=0xf4,iosize=0x04). A write of v makes QEMU exit
 * with status (v << 1) | 1; we write STATUS + 1 so that every guest result
 * (0 included) gives a QEMU status of 3 or more, never QEMU's own error
 * status 1. test/helpers/guest_lib.bash (guest_wait) undoes both steps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>

int main(int argc, char **argv)
{
	long status;
	char *end;

	if (argc != 2) {
		fprintf(stderr, "usage: guest-exit STATUS (0..126)\n");
		return 2;
	}
	errno = 0;
	status = strtol(argv[1], &end, 10);
	if (errno || *end || status < 0 || status > 126) {
		fprintf(stderr, "guest-exit: bad status '%s'\n", argv[1]);
		return 2;
	}
	if (ioperm(0xf4, 4, 1) < 0) {
		printf("GUEST: ioperm: %s\n", strerror(errno));
		return 1;
	}
	outb((unsigned char)(status + 1), 0xf4);
	return 1; /* QEMU is gone before this */
}
