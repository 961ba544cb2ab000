/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * idio16-guest: the guest half of test/guest_gpio.sh, built static and
 * run from the initramfs's /init under Debian's kernel.
 *
 *   idio16-guest /dev/gpiochipN   drive OUT0 and OUT9 high, then wait up
 *                                 to 60 s for a rising edge on IIN3
 *   idio16-guest exit CODE        make QEMU exit through isa-debug-exit
 *                                 (port 0xf4: status (CODE << 1) | 1)
 *
 * Uses the GPIO character device, uAPI v2 (CONFIG_GPIO_CDEV in Debian's
 * kernel; samples/gpio/README.md). Lines of the PCI-IDIO-16 chip: 0-15
 * OUT0..15, 16-31 IIN0..15. Requesting the input with edge detection is what
 * unmasks its interrupt in gpio-pci-idio-16 (the read of offset 2), and
 * events arriving after the request are queued, so the host may toggle
 * the input as soon as it sees the device's interrupt enabled.
 * Every step prints one "GUEST: ..." line; exit status 0 = all passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define LINE_OUT0  0
#define LINE_OUT9  9
#define LINE_IIN3  (16 + 3)
#define EDGE_WAIT_MS 60000

static int request(int chip, const char *consumer, const unsigned int *lines, unsigned int n,
		   uint64_t flags, uint64_t values)
{
	struct gpio_v2_line_request req;
	unsigned int i;

	memset(&req, 0, sizeof(req));
	for (i = 0; i < n; i++)
		req.offsets[i] = lines[i];
	req.num_lines = n;
	snprintf(req.consumer, sizeof(req.consumer), "%s", consumer);
	req.config.flags = flags;
	if (flags & GPIO_V2_LINE_FLAG_OUTPUT) {
		req.config.num_attrs = 1;
		req.config.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
		req.config.attrs[0].attr.values = values;
		req.config.attrs[0].mask = (1ull << n) - 1;
	}
	if (ioctl(chip, GPIO_V2_GET_LINE_IOCTL, &req) < 0) {
		printf("GUEST: FAIL requesting %s: %s\n", consumer, strerror(errno));
		return -1;
	}
	return req.fd;
}

static int wait_edge(int fd)
{
	struct gpio_v2_line_values vals = { .mask = 1 };
	struct gpio_v2_line_event ev;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;

	printf("GUEST: waiting for an edge on IIN3\n");
	fflush(stdout);
	r = poll(&pfd, 1, EDGE_WAIT_MS);
	if (r != 1) {
		printf("GUEST: FAIL no edge on IIN3 within %d ms\n", EDGE_WAIT_MS);
		return -1;
	}
	if (read(fd, &ev, sizeof(ev)) != (ssize_t)sizeof(ev)) {
		printf("GUEST: FAIL reading the edge event: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(fd, GPIO_V2_LINE_GET_VALUES_IOCTL, &vals) < 0) {
		printf("GUEST: FAIL reading IIN3: %s\n", strerror(errno));
		return -1;
	}
	printf("GUEST: edge on IIN3: %s, level now %d\n",
	       ev.id == GPIO_V2_LINE_EVENT_RISING_EDGE ? "rising" : "falling",
	       (int)(vals.bits & 1));
	/* The driver dispatches every unmasked line per interrupt, and
	 * gpiolib tells the edge from the level it reads: the input is high. */
	return (vals.bits & 1) ? 0 : -1;
}

static int run(const char *chip_path)
{
	static const unsigned int outs[] = { LINE_OUT0, LINE_OUT9 };
	static const unsigned int in = LINE_IIN3;
	int chip, out_fd, in_fd, rc = -1;

	chip = open(chip_path, O_RDWR | O_CLOEXEC);
	if (chip < 0) {
		printf("GUEST: FAIL opening %s: %s\n", chip_path, strerror(errno));
		return -1;
	}
	out_fd = request(chip, "vus-out", outs, 2, GPIO_V2_LINE_FLAG_OUTPUT, 0x3);
	if (out_fd < 0)
		goto close_chip;
	printf("GUEST: OUT0 and OUT9 driven high\n");
	fflush(stdout);
	in_fd = request(chip, "vus-in", &in, 1,
			GPIO_V2_LINE_FLAG_INPUT | GPIO_V2_LINE_FLAG_EDGE_RISING |
				GPIO_V2_LINE_FLAG_EDGE_FALLING, 0);
	if (in_fd < 0)
		goto close_out;
	rc = wait_edge(in_fd);
	close(in_fd);
close_out:
	close(out_fd);
close_chip:
	close(chip);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "exit") == 0) {
		if (ioperm(0xf4, 4, 1) < 0) {
			printf("GUEST: ioperm: %s\n", strerror(errno));
			return 1;
		}
		outb((unsigned char)atoi(argv[2]), 0xf4);
		return 1; /* QEMU is gone before this */
	}
	if (argc != 2) {
		fprintf(stderr, "usage: idio16-guest /dev/gpiochipN | exit CODE\n");
		return 2;
	}
	return run(argv[1]) == 0 ? 0 : 1;
}
