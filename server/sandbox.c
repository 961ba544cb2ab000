/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The seccomp sandbox (docs/security.md "Seccomp filter"): once the
 * sockets are bound and privileges dropped, vusd may make only the system
 * calls serving needs. The list was found by running the whole test suite
 * (guest tests included) with every other call logged; it covers what
 * the control socket's "add" needs at run time too (sockets, memfds,
 * eventfds, timerfds, files of nvme backends, device worker threads).
 * A device type adds its own calls in vusd_type.syscalls (devtypes.h);
 * every registered type's are allowed, since any may be added later.
 *
 * Anything else fails with EPERM rather than killing vusd: a device
 * callback trying something unexpected gets an error it can report, and
 * the other tenants keep their devices. The kernel returns EPERM for us
 * only silently, so the filter traps instead (SIGSYS) and the handler
 * makes the call return -EPERM and logs the call's number once.
 *
 * Sanitizer runtimes (ASan, TSan) make calls of their own at any time
 * (reading /proc/self/maps, sigaltstack, ...); an ASan vusd under the
 * filter spun at 100% CPU. In such builds the filter is left off, with a
 * log line saying so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>

#include <seccomp.h>

#include "vusd.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VUSD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VUSD_SANITIZED 1
#endif
#endif
#ifndef VUSD_SANITIZED
#define VUSD_SANITIZED 0
#endif

/* What serving needs, by name (libseccomp resolves them per arch; a name
 * this arch lacks is skipped). socket() is further limited to AF_UNIX.
 * getpgid stays out: testdev's sandbox-probe uses it to show the filter. */
static const char *const base_syscalls[] = {
	/* I/O on sockets, files, eventfds */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
	"preadv2", "pwritev2", "lseek", "close", "close_range", "fcntl", "dup", "dup2", "dup3",
	"pipe", "pipe2", "openat", "open", "fstat", "newfstatat", "stat", "lstat", "statx",
	"ftruncate", "fallocate", "fsync", "fdatasync",
	/* memory: DMA regions, BARs, malloc, thread stacks */
	"mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "msync", "memfd_create",
	/* sockets (vfio-user, control) */
	"bind", "listen", "accept", "accept4", "connect", "getsockname",
	"getpeername", "getsockopt", "setsockopt", "sendmsg", "recvmsg", "sendto", "recvfrom",
	"shutdown", "socketpair",
	/* the event loop */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "select", "pselect6", "eventfd", "eventfd2",
	"timerfd_create", "timerfd_settime", "timerfd_gettime",
	/* signals */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "kill", "tgkill",
	"tkill",
	/* threads and time */
	"clone", "clone3", "futex", "set_robust_list", "get_robust_list", "rseq", "exit",
	"exit_group", "sched_yield", "sched_getaffinity", "nanosleep", "clock_nanosleep",
	"clock_gettime", "clock_getres", "gettimeofday", "time", "restart_syscall", "membarrier",
	/* socket files of devices added and removed at run time */
	"unlink", "unlinkat", "chmod", "fchmod", "fchmodat", "umask", "rename", "renameat",
	"readlink", "readlinkat", "access", "faccessat", "faccessat2", "getdents64", "getcwd",
	/* identity, limits, misc */
	/* process-isolated devices' children: reaped by vusd (isolate.c);
	 * the spawner (spawner.c), under this same list without the
	 * live-update calls, forks them (clone, pipe2) and reaps its middle
	 * processes; every child inherits its filter and adds its own */
	"wait4", "waitid",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getrandom",
	"prlimit64", "getrlimit", "uname", "sysinfo", "prctl",
	/* a process-isolated device added at run time adds its own, narrower
	 * filter (filters only stack: nothing is allowed that was not) */
	"seccomp",
	NULL,
};

/*
 * Live update (docs/live-update.md) runs the next image under this
 * filter: the dry-run child is forked and waited for, and the new image
 * starts (dynamic loader, libc, libevent, json-c) before it serves. The
 * calls below are what that start needs beyond serving; without
 * --live-update they stay denied. A call missing here kills the dry-run
 * child (SIGSYS: its image has no handler yet), and the upgrade is
 * refused with the old image serving.
 */
static const char *const live_update_syscalls[] = {
	"execve", "execveat", "wait4", "waitid", "arch_prctl", "set_tid_address",
	"pkey_mprotect", "ioctl", "vfork", "fork",
	NULL,
};

static atomic_uchar denied_logged[1024];


/* The trapped call returns -EPERM, as SCMP_ACT_ERRNO(EPERM) would; the
 * first denial of each call is logged (async-signal-safe: write only). */
static void on_sigsys(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	int nr = si->si_syscall;

	(void)sig;
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#else
#error "vusd's seccomp handler knows x86_64 and aarch64 only"
#endif
	if (nr >= 0 && nr < (int)sizeof(denied_logged) && !atomic_exchange(&denied_logged[nr], 1)) {
		char buf[96], num[12], *p = num + sizeof(num);
		unsigned v = (unsigned)nr;

		*--p = '\0';
		do
			*--p = (char)('0' + v % 10);
		while (v /= 10);
		strcpy(buf, "vusd: seccomp: denied system call ");
		strcat(buf, p);
		strcat(buf, " with EPERM (docs/security.md)\n");
		if (write(STDERR_FILENO, buf, strlen(buf)) < 0)
			return;
	}
}

/* seen[] marks the calls already allowed, so *count is of distinct calls
 * when two lists name the same one (base and live update: wait4). */
static int allow_names(scmp_filter_ctx ctx, const char *const *names, unsigned *count,
		       bool seen[], size_t nseen, struct vusd_err *err)
{
	for (; names && *names; names++) {
		int nr = seccomp_syscall_resolve_name(*names);
		int rc;

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this arch */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0 && rc != -EEXIST) {
			vusd_errf(err, "seccomp: cannot allow %s: %s", *names, strerror(-rc));
			return rc;
		}
		if (nr >= 0 && (size_t)nr < nseen) {
			if (seen[nr])
				continue;
			seen[nr] = true;
		}
		(*count)++;
	}
	return 0;
}

int vusd_sandbox_enter(const struct vusd_type *type, bool live_update, struct vusd_err *err)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx;
	unsigned count = 1; /* socket */
	bool seen[1024] = { false };
	size_t i;
	int rc;

	if (VUSD_SANITIZED) {
		vusd_log(VUS_LOG_WARN, "seccomp filter off: sanitizer build (its runtime's "
			 "calls are not in the list)");
		return 0;
	}
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		vusd_errf(err, "seccomp: cannot create the filter");
		return -ENOMEM;
	}
	rc = allow_names(ctx, base_syscalls, &count, seen, sizeof(seen) / sizeof(seen[0]), err);
	if (rc == 0 && live_update)
		rc = allow_names(ctx, live_update_syscalls, &count, seen, sizeof(seen) / sizeof(seen[0]), err);
	if (type && rc == 0)
		rc = allow_names(ctx, type->syscalls, &count, seen, sizeof(seen) / sizeof(seen[0]), err);
	for (i = 0; !type && rc == 0 && i < vusd_type_count(); i++)
		rc = allow_names(ctx, vusd_type_at(i)->syscalls, &count, seen, sizeof(seen) / sizeof(seen[0]), err);
	if (rc == 0) {
		/* socket(AF_UNIX, ...) only. Spelled out rather than with
		 * libseccomp's SCMP_A0(), whose positional initializer leaves
		 * datum_b out and fails clang's -Wmissing-field-initializers. */
		const struct scmp_arg_cmp unix_only = { .arg = 0, .op = SCMP_CMP_EQ,
							.datum_a = AF_UNIX, .datum_b = 0 };

		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, unix_only);
		if (rc < 0)
			vusd_errf(err, "seccomp: cannot allow socket: %s", strerror(-rc));
	}
	/* Every thread, those devices started already included. */
	if (rc == 0 && (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		vusd_errf(err, "seccomp: thread sync: %s", strerror(-rc));
	sigemptyset(&sa.sa_mask);
	if (rc == 0 && sigaction(SIGSYS, &sa, NULL) < 0) {
		rc = -errno;
		vusd_errf(err, "seccomp: SIGSYS handler: %s", strerror(errno));
	}
	if (rc == 0 && (rc = seccomp_load(ctx)) < 0)
		vusd_errf(err, "seccomp: cannot load the filter: %s", strerror(-rc));
	seccomp_release(ctx);
	if (rc == 0)
		vusd_log(VUS_LOG_INFO, "seccomp filter on: %u system calls allowed, others "
			 "fail with EPERM", count);
	return rc;
}
