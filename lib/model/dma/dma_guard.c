/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SIGBUS recovery for copies through client memory (dma_guard.h).
 *
 * Each thread has one recovery point, set only for the duration of a
 * guarded memcpy(). The handler jumps back to it when one is set;
 * otherwise it hands the signal to the handler installed before ours.
 *
 * Why this is safe: the jump leaves memcpy(), which holds no lock and no
 * allocation, and the recovery point's frame is still live. SA_NODEFER
 * keeps SIGBUS unblocked in the handler, so siglongjmp() need not restore
 * the signal mask (sigsetjmp(..., 0): no system call per copy).
 * initial-exec TLS: reading the recovery point in the handler never
 * allocates.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "dma_guard.h"

static __thread sigjmp_buf *recovery __attribute__((tls_model("initial-exec")));
static struct sigaction previous;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int install_err;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *to = recovery;

	if (to) {
		recovery = NULL;
		siglongjmp(*to, 1);
	}
	/* Not a guarded copy: what the process would have done without us. */
	if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
		previous.sa_sigaction(sig, si, uc);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	/* Default action: returning re-runs the faulting access, which now
	 * kills the process with SIGBUS as it would have. */
	signal(SIGBUS, SIG_DFL);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous) < 0)
		install_err = -errno;
}

int vus_dma_guard_install(void)
{
	pthread_once(&once, install);
	return install_err;
}

int vus_dma_guarded_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf here;

	if (sigsetjmp(here, 0))
		return -EFAULT;
	recovery = &here;
	/* The store must be visible to the handler before the copy faults. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memcpy(dst, src, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	recovery = NULL;
	return 0;
}

int vus_dma_guarded_copy_release(void *dst, const void *src, size_t n)
{
	sigjmp_buf here;
	uint32_t last;

	if (sigsetjmp(here, 0))
		return -EFAULT;
	recovery = &here;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memcpy(dst, src, n - 4);
	memcpy(&last, (const char *)src + n - 4, 4);
	__atomic_store_n((uint32_t *)(void *)((char *)dst + n - 4), last, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	recovery = NULL;
	return 0;
}
