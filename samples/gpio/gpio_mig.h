/* SPDX-License-Identifier: BSD-3-Clause */
/* gpio migration callbacks (gpio_mig.c). */
#ifndef VUS_GPIO_MIG_H
#define VUS_GPIO_MIG_H

struct gpio;
struct gpio_mig;

/* Register the migration callbacks on g's device (before listening). */
int gpio_mig_setup(struct gpio *g, struct gpio_mig **out);
/* After vus_dev_free(). */
void gpio_mig_free(struct gpio_mig *m);

#endif /* VUS_GPIO_MIG_H */
