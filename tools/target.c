/* SPDX-License-Identifier: MIT */
/*
 * target.c - the watched program.  Launching uses ptrace only to stop the
 * new program at its exec, before its first instruction (the dynamic
 * loader's), where the executable is mapped at its ASLR address: the watches
 * are armed there, then ptrace detaches and never comes back, so hwbp dying
 * later (even by SIGKILL) leaves nothing in the target: its breakpoints are
 * perf events that die with hwbp's file descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <elf.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"

/*
 * execvp without its fallback: execvp runs a file the kernel cannot execute
 * (ENOEXEC) with /bin/sh, and hwbp would then watch the shell.  Search PATH
 * and execv, so a file that is neither ELF nor #! says so.
 */
static void exec_path(char **argv)
{
	const char *path = getenv("PATH"), *p, *end;
	char file[4096];
	bool denied = false;

	if (strchr(argv[0], '/')) {
		execv(argv[0], argv);
		return;
	}
	for (p = path ? path : "/usr/local/bin:/usr/bin:/bin"; ; p = end + 1) {
		end = strchrnul(p, ':');
		snprintf(file, sizeof(file), "%.*s%s%s", (int)(end - p), p,
			 end > p ? "/" : "", argv[0]);
		execv(file, argv);
		if (errno == EACCES)
			denied = true;
		else if (errno != ENOENT && errno != ENOTDIR)
			return;
		if (!*end)
			break;
	}
	errno = denied ? EACCES : ENOENT;
}

static void child_exec(char **argv, int errpipe)
{
	int err;
	sigset_t ours;

	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	/* hwbp blocks these for its signalfd; the command must not inherit
	 * that, or the SIGTERM hwbp sends it on SIGINT would wait forever. */
	sigemptyset(&ours);
	sigaddset(&ours, SIGINT);
	sigaddset(&ours, SIGTERM);
	sigaddset(&ours, SIGCHLD);
	sigaddset(&ours, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &ours, NULL);
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
		exec_path(argv);
	err = errno;
	if (write(errpipe, &err, sizeof(err)) < 0)
		_exit(127);
	_exit(127);
}

int target_launch(char **argv, bool unused, struct target *t, char *msg,
		  size_t ml)
{
	int pipefd[2], err = 0, status;
	sigset_t all, old;

	(void)unused;
	memset(t, 0, sizeof(*t));
	t->pidfd = -1;
	if (pipe2(pipefd, O_CLOEXEC)) {
		snprintf(msg, ml, "pipe: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	t->pid = fork();
	if (t->pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(pipefd[0]);
		child_exec(argv, pipefd[1]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pipefd[1]);
	if (t->pid < 0) {
		close(pipefd[0]);
		snprintf(msg, ml, "fork: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	t->launched = true;
	if (read(pipefd[0], &err, sizeof(err)) == sizeof(err)) {
		close(pipefd[0]);
		waitpid(t->pid, &status, 0);
		t->exited = true;
		snprintf(msg, ml, "cannot run '%s': %s%s", argv[0], strerror(err),
			 err == ENOEXEC ? " (not an executable: ELF or #! "
					  "script expected)" : "");
		return EXIT_RUNTIME;
	}
	close(pipefd[0]);
	/* The exec stop: SIGTRAP, with the new image mapped. */
	if (waitpid(t->pid, &status, 0) != t->pid || !WIFSTOPPED(status)) {
		t->exited = true;
		t->status = status;
		snprintf(msg, ml, "'%s' ended before its first instruction",
			 argv[0]);
		return EXIT_RUNTIME;
	}
	return 0;
}

static uint64_t auxv_entry(pid_t pid)
{
	char path[64];
	uint64_t pair[2], entry = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fread(pair, sizeof(pair), 1, f) == 1 && pair[0] != AT_NULL)
		if (pair[0] == AT_ENTRY)
			entry = pair[1];
	fclose(f);
	return entry;
}

/*
 * A temporary trap (int3, brk: tools/arch.c) at the entry point: the loader has mapped every library
 * the program needs when it gets there.  Signals that arrive meanwhile are
 * passed on.  Killed at this moment, hwbp would leave the int3 behind: the
 * window is the loader's start-up, and only with `lib.so:` locations.
 */
int target_run_to_entry(struct target *t, char *msg, size_t ml)
{
	uint64_t entry = auxv_entry(t->pid), pc;
	long word, trapped;
	int status, sig = 0;

	errno = 0;
	word = entry ? ptrace(PTRACE_PEEKTEXT, t->pid, (void *)entry, NULL) : 0;
	if (!entry || errno) {
		snprintf(msg, ml, "cannot find the entry point of %d", (int)t->pid);
		return EXIT_RUNTIME;
	}
	trapped = arch_with_trap(word);
	if (ptrace(PTRACE_POKETEXT, t->pid, (void *)entry, (void *)trapped)) {
		snprintf(msg, ml, "cannot set a breakpoint at the entry point: "
			 "%s", strerror(errno));
		return EXIT_RUNTIME;
	}
	for (;;) {
		if (ptrace(PTRACE_CONT, t->pid, NULL, (void *)(long)sig) ||
		    waitpid(t->pid, &status, 0) != t->pid || !WIFSTOPPED(status)) {
			t->exited = !WIFSTOPPED(status);
			t->status = status;
			snprintf(msg, ml, "the program ended before its entry point");
			return EXIT_RUNTIME;
		}
		sig = WSTOPSIG(status);
		if (sig != SIGTRAP)
			continue;
		if (!arch_get_pc(t->pid, &pc) && pc == arch_trap_pc(entry))
			break;
		sig = 0;
	}
	arch_set_pc(t->pid, entry);
	ptrace(PTRACE_POKETEXT, t->pid, (void *)entry, (void *)word);
	return 0;
}

int target_resume(struct target *t)
{
	return ptrace(PTRACE_DETACH, t->pid, NULL, NULL) ? -errno : 0;
}

int target_attach(pid_t pid, struct target *t, char *msg, size_t ml)
{
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->pidfd = -1;
	if (pid <= 0) {
		snprintf(msg, ml, "-p %d: a process id is a number > 0",
			 (int)pid);
		return EXIT_USAGE;
	}
	char maps[64];
	int fd;

	if (kill(pid, 0) && errno == ESRCH) {
		snprintf(msg, ml, "no process %d", (int)pid);
		return EXIT_RUNTIME;
	}
	/* Its symbols come from its maps: readable with ptrace read access,
	 * the same right perf_event_open checks. */
	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	fd = open(maps, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, maps, 1) < 0) {
		snprintf(msg, ml, "no permission to watch process %d: it needs "
			 "ptrace read access (the same user, or CAP_SYS_PTRACE; "
			 "%s)", (int)pid, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_RUNTIME;
	}
	close(fd);
	t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return 0;
}

bool target_read(uint64_t addr, void *buf, size_t len, void *ctx)
{
	const struct target *t = ctx;
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };

	return t && !(t->exited && t->launched) &&
	       process_vm_readv(t->pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

bool target_poll_exit(struct target *t, bool block)
{
	int status;

	if (t->exited)
		return true;
	if (t->launched) {
		pid_t r = waitpid(t->pid, &status, block ? 0 : WNOHANG);

		if (r == t->pid && (WIFEXITED(status) || WIFSIGNALED(status))) {
			t->exited = true;
			t->status = status;
		}
		return t->exited;
	}
	if (kill(t->pid, 0) && errno == ESRCH)
		t->exited = true;
	return t->exited;
}

int target_exit_code(const struct target *t)
{
	if (!t->launched || !t->exited)
		return 0;
	if (WIFEXITED(t->status))
		return WEXITSTATUS(t->status);
	if (WIFSIGNALED(t->status))
		return 128 + WTERMSIG(t->status);
	return EXIT_RUNTIME;
}
