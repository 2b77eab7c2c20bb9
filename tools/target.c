/* SPDX-License-Identifier: MIT */
/*
 * target.c - the watched program: launched (stopped at its exec, and at
 * its entry point when a library must be mapped first) or attached, and
 * the guard that keeps it alive.
 *
 * The guard: every thread of the target stays seized with ptrace
 * (PTRACE_SEIZE: nothing stops, and hwbp dying - even by SIGKILL - leaves
 * the threads running), and one signal is filtered: a SIGTRAP the kernel
 * sends when a debug exception arrives with DR6 naming no cause
 * (arch/x86/kernel/traps.c, exc_debug_user: icebp = !dr6, then
 * send_sigtrap(regs, 0, TRAP_BRKPT)).  Some KVM hosts lose a guest's DR6
 * between a watchpoint hit and the guest's read of it; without the guard
 * that hit kills the target.  Every other stop passes through unchanged:
 * signals re-injected, group-stops kept with PTRACE_LISTEN, new threads and
 * children followed, exits reported.  Without ptrace rights (or with
 * --no-guard) the old way: ptrace only from exec to the first instruction.
 *
 * ptrace requests must come from the thread that seized: every target_*
 * function runs on hwbp's main thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <signal.h>
#include <stddef.h>
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

/* The guard's ptrace options: follow every new thread, child and exec.
 * Never PTRACE_O_EXITKILL: the target must outlive hwbp. */
#define SEIZE_OPTS (PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | \
		    PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC)
/* target_pause waits this long for every thread to stop. */
#define PAUSE_BOUND_NS 500000000ull

static bool guard_wanted = true;

void target_set_guard(bool on)
{
	guard_wanted = on;
}

static struct guard *guard_new(void);
static void wait_report(uint64_t deadline);
static void guard_track(struct target *t, pid_t tid, bool stopped);
static int guard_seize_all(struct target *t, char *why, size_t wl);
static void explain_eperm(pid_t pid, char *why, size_t wl);
static bool ptraces_itself(pid_t pid, char *why, size_t wl);

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

/*
 * In the child: wait for the parent's word ('S': it seized us, exec as we
 * are; 'T': trace me, the old way), then exec.  The exec stop is then a
 * PTRACE_EVENT_EXEC stop or the legacy SIGTRAP.
 */
static void child_exec(char **argv, int errpipe, int gopipe)
{
	int err;
	char how = 0;
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
	if (read(gopipe, &how, 1) != 1)
		_exit(127); /* hwbp went away */
	close(gopipe);
	if (how == 'S' || ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
		exec_path(argv);
	err = errno;
	if (write(errpipe, &err, sizeof(err)) < 0)
		_exit(127);
	_exit(127);
}

/* Seize the new child before it execs (the guard), or say why not. */
static bool seize_child(pid_t pid)
{
	char why[256];

	if (!guard_wanted)
		return false;
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)SEIZE_OPTS) == 0)
		return true;
	if (errno == EPERM)
		explain_eperm(pid, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", strerror(errno));
	fprintf(stderr, "hwbp: warning: no guard for the command: %s; a host "
		"that loses the debug status can kill it with SIGTRAP (GUARD "
		"in hwbp(1))\n", why);
	return false;
}

/* The exec stop of a seized child (0); the signals before it pass on.
 * -1: it ended (or is gone); a fork, vfork or clone before it: that
 * PTRACE_EVENT_*, the child stopped at it. */
static int wait_exec_stop(pid_t pid, bool seized, int *status)
{
	for (;;) {
		int event;

		if (waitpid(pid, status, __WALL) != pid || !WIFSTOPPED(*status))
			return -1;
		if (!seized || *status >> 8 == (SIGTRAP | PTRACE_EVENT_EXEC << 8))
			return 0;
		event = *status >> 16;
		if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK ||
		    event == PTRACE_EVENT_CLONE)
			return event;
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)(event ? 0 :
					   WSTOPSIG(*status)));
	}
}

int target_launch(char **argv, bool unused, struct target *t, char *msg,
		  size_t ml)
{
	int pipefd[2], gofd[2], err = 0, status;
	bool seized;
	sigset_t all, old;

	(void)unused;
	memset(t, 0, sizeof(*t));
	t->pidfd = -1;
	if (pipe2(pipefd, O_CLOEXEC)) {
		snprintf(msg, ml, "pipe: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	if (pipe2(gofd, O_CLOEXEC)) {
		snprintf(msg, ml, "pipe: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return EXIT_RUNTIME;
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	t->pid = fork();
	if (t->pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(pipefd[0]);
		close(gofd[1]);
		child_exec(argv, pipefd[1], gofd[0]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pipefd[1]);
	close(gofd[0]);
	if (t->pid < 0) {
		close(pipefd[0]);
		close(gofd[1]);
		snprintf(msg, ml, "fork: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	t->launched = true;
	seized = seize_child(t->pid);
	if (write(gofd[1], seized ? "S" : "T", 1) != 1)
		err = errno;
	close(gofd[1]);
	/* Exec failed (or the child had no word from us): it exits 127. */
	if (err || read(pipefd[0], &err, sizeof(err)) == sizeof(err)) {
		close(pipefd[0]);
		waitpid(t->pid, &status, 0);
		t->exited = true;
		snprintf(msg, ml, "cannot run '%s': %s%s", argv[0], strerror(err),
			 err == ENOEXEC ? " (not an executable: ELF or #! "
					  "script expected)" : "");
		return EXIT_RUNTIME;
	}
	close(pipefd[0]);
	/* The exec stop, with the new image mapped. */
	if (wait_exec_stop(t->pid, seized, &status)) {
		t->exited = true;
		t->status = status;
		snprintf(msg, ml, "'%s' ended before its first instruction",
			 argv[0]);
		return EXIT_RUNTIME;
	}
	if (seized && ptraces_itself(t->pid, msg, ml)) {
		fprintf(stderr, "hwbp: note: no guard for the command: %s\n",
			msg);
		return 0; /* seized until target_resume detaches */
	}
	if (seized && !(t->guard = guard_new())) {
		snprintf(msg, ml, "one guarded target per process");
		return EXIT_RUNTIME;
	}
	if (seized)
		guard_track(t, t->pid, true);
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

/* A fork, vfork or clone of pid's seen at its event stop: the new task
 * (auto-attached, stopped) and pid are killed and reaped. */
static void kill_with_child(pid_t pid)
{
	unsigned long child = 0;
	int status;

	if (!ptrace(PTRACE_GETEVENTMSG, pid, NULL, &child) && child) {
		kill((pid_t)child, SIGKILL);
		waitpid((pid_t)child, &status, __WALL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, __WALL) == pid && !WIFEXITED(status) &&
	       !WIFSIGNALED(status))
		;
}

int target_next_exec(struct target *t, char *msg, size_t ml)
{
	int status = 0, event;

	if (!t->launched || !t->guard || t->exited)
		return snprintf(msg, ml, "not a seized program at its exec"),
		       EXIT_RUNTIME;
	if (ptrace(PTRACE_CONT, t->pid, NULL, NULL)) {
		snprintf(msg, ml, "lost the command: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	event = wait_exec_stop(t->pid, true, &status);
	if (!event)
		return 0;
	t->exited = true;
	if (event < 0) {
		t->status = status;
		snprintf(msg, ml, "ended");
		return EXIT_RUNTIME;
	}
	kill_with_child(t->pid);
	t->status = SIGKILL;
	snprintf(msg, ml, "started a %s, and was stopped",
		 event == PTRACE_EVENT_CLONE ? "thread" : "process");
	return EXIT_RUNTIME;
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
		sig = status >> 16 ? 0 : WSTOPSIG(status); /* a guard event */
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
	if (t->guard)
		return target_continue(t);
	return ptrace(PTRACE_DETACH, t->pid, NULL, NULL) ? -errno : 0;
}

/* Seize every thread of an attached process, or say why not. */
static void guard_attach(struct target *t)
{
	char why[256];

	if (!guard_wanted)
		return;
	if (ptraces_itself(t->pid, why, sizeof(why))) {
		fprintf(stderr, "hwbp: note: no guard for process %d: %s\n",
			(int)t->pid, why);
		return;
	}
	if ((t->guard = guard_new()) && guard_seize_all(t, why, sizeof(why)) == 0)
		return;
	if (!t->guard)
		snprintf(why, sizeof(why), "one guarded target per process");
	target_release(t); /* the threads seized before the failure */
	fprintf(stderr, "hwbp: warning: no guard for process %d: %s; a host "
		"that loses the debug status can kill it with SIGTRAP (GUARD in "
		"hwbp(1))\n", (int)t->pid, why);
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
	guard_attach(t);
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

	if (t->guard) {
		/* Guarded to the end: hwbp waits anyway, and what is armed
		 * (--count) stays armed until it exits. */
		target_handle_events(t);
		while (block && !t->exited) {
			wait_report(UINT64_MAX);
			target_handle_events(t);
		}
		if (t->exited)
			target_release(t); /* a child it left, if any */
		return t->exited;
	}
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

/* ---- the guard ---- */

/* A dynamic symbol or needed library that says "this program ptraces". */
static const char *ptrace_user(const char *name)
{
	static const char *const marks[] = {
		"ptrace",                     /* gdb, strace, crash reporters */
		"__asan_init", "__lsan_",     /* LeakSanitizer's leak check */
		"libasan.so", "liblsan.so", "libhwasan.so",
	};

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (!strncmp(name, marks[i], strlen(marks[i])) &&
		    (i || !name[6])) /* "ptrace" exactly */
			return marks[i];
	return NULL;
}

/* The first mark in a SHT_DYNSYM/SYMTAB (names) or SHT_DYNAMIC (needed
 * libraries) section. */
static const char *section_mark(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	const char *name, *mark;
	size_t n;

	if (!d || !sh->sh_entsize)
		return NULL;
	n = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		GElf_Dyn dyn;

		if (sh->sh_type == SHT_DYNAMIC) {
			if (!gelf_getdyn(d, (int)i, &dyn) || dyn.d_tag != DT_NEEDED)
				continue;
			name = elf_strptr(elf, sh->sh_link, dyn.d_un.d_val);
		} else {
			if (!gelf_getsym(d, (int)i, &sym))
				continue;
			name = elf_strptr(elf, sh->sh_link, sym.st_name);
		}
		if (name && (mark = ptrace_user(name)))
			return mark;
	}
	return NULL;
}

/*
 * Does the program use ptrace itself?  Only one tracer per thread: under
 * the guard gdb or strace could not trace their children, and the leak
 * check of LeakSanitizer (it ptraces its own threads at exit) would fail.
 * Judged from the executable: it calls ptrace(), or is built with ASan or
 * LSan.
 */
static bool ptraces_itself(pid_t pid, char *why, size_t wl)
{
	const char *mark = NULL;
	char path[64];
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (elf_version(EV_CURRENT) == EV_NONE ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	if ((elf = elf_begin(fd, ELF_C_READ, NULL))) {
		while (!mark && (scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) &&
			    (sh.sh_type == SHT_DYNSYM || sh.sh_type == SHT_SYMTAB ||
			     sh.sh_type == SHT_DYNAMIC))
				mark = section_mark(elf, scn, &sh);
		}
		elf_end(elf);
	}
	close(fd);
	if (mark)
		snprintf(why, wl, "it uses ptrace itself (%s), and a thread has "
			 "one tracer: watched without the guard", mark);
	return mark != NULL;
}

/*
 * A seized thread or process.  RUNNING: hwbp holds nothing (it runs, or
 * sleeps, or will report a first stop soon).  STOPPED: in a ptrace-stop
 * hwbp has not resumed yet (paused, or being handled).  LISTENING: in a
 * group-stop, released with PTRACE_LISTEN (it stays stopped until SIGCONT).
 */
enum task_state { TS_RUNNING, TS_STOPPED, TS_LISTENING };

struct task {
	pid_t tid;
	enum task_state state;
	int sig;          /* STOPPED: the signal to resume it with */
	bool group_stop;  /* STOPPED: resume with PTRACE_LISTEN */
	bool interrupted; /* PTRACE_INTERRUPT sent, its stop not seen yet */
	bool announced;   /* its first stop was seen (or it was there at
			   * the start): target_on_threads told */
};

struct guard {
	struct task *tasks;
	int ntasks, cap;
	bool paused;
	uint64_t spurious;      /* SIGTRAPs with no cause, suppressed */
	uint64_t jc_passed;     /* job-control stop signals passed on */
	struct sigaction old_tstp;
	bool tstp_set;
	/* target_on_threads: */
	void (*started)(void *ctx, pid_t tid);
	void (*ended)(void *ctx, pid_t tid);
	void *threads_ctx;
	/* target_on_uncaused: */
	void (*uncaused)(void *ctx, const struct uncaused_trap *trap);
	void *uncaused_ctx;
};

/* One guarded target per hwbp process, in static memory: an error path
 * that ends hwbp without target_release leaks nothing. */
static struct guard the_guard;
static bool guard_in_use;

static struct guard *guard_new(void)
{
	if (guard_in_use)
		return NULL;
	guard_in_use = true;
	the_guard = (struct guard){ 0 };
	return &the_guard;
}

static struct task *task_find(struct guard *g, pid_t tid)
{
	for (int i = 0; i < g->ntasks; i++)
		if (g->tasks[i].tid == tid)
			return &g->tasks[i];
	return NULL;
}

static struct task *task_add(struct guard *g, pid_t tid)
{
	struct task *k = task_find(g, tid);

	if (k)
		return k;
	if (g->ntasks == g->cap) {
		int cap = g->cap ? 2 * g->cap : 16;
		struct task *n = realloc(g->tasks, (size_t)cap * sizeof(*n));

		if (!n)
			return NULL; /* untracked: its stops are still handled */
		g->tasks = n;
		g->cap = cap;
	}
	k = &g->tasks[g->ntasks++];
	*k = (struct task){ .tid = tid, .state = TS_RUNNING };
	return k;
}

static void task_del(struct guard *g, pid_t tid)
{
	struct task *k = task_find(g, tid);

	if (k)
		*k = g->tasks[--g->ntasks];
}

static void guard_track(struct target *t, pid_t tid, bool stopped)
{
	struct task *k = task_add(t->guard, tid);

	if (k && stopped)
		k->state = TS_STOPPED;
	if (k)
		k->announced = true; /* there at the start */
}

/* A number after `key` in /proc/PID/status (-1: none). */
static long status_field(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	return v;
}

/* Why PTRACE_SEIZE said EPERM: another tracer, Yama, or credentials. */
static void explain_eperm(pid_t pid, char *why, size_t wl)
{
	long tracer = status_field(pid, "TracerPid:"), scope = 0;
	char comm[64] = "?", path[64];
	FILE *f;

	if (tracer > 0 && tracer != getpid()) {
		snprintf(path, sizeof(path), "/proc/%ld/comm", tracer);
		if ((f = fopen(path, "r"))) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		snprintf(why, wl, "process %d is already traced by %ld (%s)",
			 (int)pid, tracer, comm);
		return;
	}
	if ((f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r"))) {
		if (fscanf(f, "%ld", &scope) != 1)
			scope = 0;
		fclose(f);
	}
	if (scope > 0)
		snprintf(why, wl, "ptrace is restricted by kernel.yama."
			 "ptrace_scope = %ld (1: only descendants, 2: only with "
			 "CAP_SYS_PTRACE, 3: never)", scope);
	else
		snprintf(why, wl, "ptrace not permitted (%s: another user, a "
			 "setuid program, or no CAP_SYS_PTRACE)", strerror(EPERM));
}

/* Seize each thread of the attached process until no new one shows up. */
static int guard_seize_all(struct target *t, char *why, size_t wl)
{
	char path[64];
	bool found = true;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	while (found) {
		DIR *d = opendir(path);
		struct dirent *de;

		if (!d) {
			snprintf(why, wl, "%s: %s", path, strerror(errno));
			return -errno;
		}
		found = false;
		while ((de = readdir(d))) {
			pid_t tid = (pid_t)atoi(de->d_name);

			if (tid <= 0 || task_find(t->guard, tid))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, NULL,
				   (void *)(long)SEIZE_OPTS)) {
				int err = errno;

				if (err == ESRCH)
					continue; /* it ended meanwhile */
				if (err != EPERM || /* or cloned by a seized one */
				    status_field(tid, "TracerPid:") != getpid()) {
					if (err == EPERM)
						explain_eperm(t->pid, why, wl);
					else
						snprintf(why, wl, "%s",
							 strerror(err));
					closedir(d);
					return -err;
				}
			}
			if (!task_add(t->guard, tid)) {
				snprintf(why, wl, "out of memory");
				closedir(d);
				return -ENOMEM;
			}
			task_find(t->guard, tid)->announced = true;
			found = true;
		}
		closedir(d);
	}
	return 0;
}

#if defined(__x86_64__)
/* DR6 B0-B3 and BS: a cause the CPU gave (ptrace's virtual DR6). */
#define DR6_CAUSE_BITS 0x400full

/*
 * An icebp (0xf1) of the program's own at the PC (hypervisors that report
 * it as a fault: this KVM does) or just before it (the CPU's trap), unless
 * the 0xf1 before the PC is the last byte of a longer instruction that
 * accesses memory: the watched store.  code[15] is the byte at pc.
 */
static bool icebp_at(const unsigned char code[16], size_t have, uint64_t pc)
{
	struct hwbp_insn_info info;

	if (code[15] == 0xf1)
		return true;
	if (code[14] != 0xf1)
		return false;
	for (size_t len = 2; len <= have - 1; len++)
		if (hwbp_insn_decode(code + 15 - len, len, pc - len, NULL,
				     &info) == 0 && info.insn_len == len &&
		    info.nmem > 0)
			return false;
	return true;
}

#endif

/* The 16 bytes ending with the one at pc (fewer near a mapping's start:
 * then only the last 2); how many were read. */
static size_t code_around(pid_t tid, uint64_t pc, unsigned char code[16])
{
	struct iovec local = { code, 16 }, remote = { (void *)(pc - 15), 16 };

	if (process_vm_readv(tid, &local, 1, &remote, 1, 0) == 16)
		return 16;
	local = (struct iovec){ code + 14, 2 };
	remote = (struct iovec){ (void *)(pc - 1), 2 };
	return process_vm_readv(tid, &local, 1, &remote, 1, 0) == 2 ? 2 : 0;
}

/*
 * The SIGTRAP a debug exception with no cause produces (send_sigtrap with
 * get_si_code(0) = TRAP_BRKPT, si_addr = the PC), told from everything
 * else: the program's int3 (SI_KERNEL), a single step (TRAP_TRACE), a perf
 * sigtrap (TRAP_PERF), a hardware breakpoint (TRAP_HWBKPT, or a cause in
 * ptrace's virtual DR6), a signal a process sent (SI_USER, SI_TKILL...),
 * an icebp instruction.  Pure, for tests on recorded stops: code is the 16
 * bytes ending with the one at pc (have of them read, from the end).
 */
static bool trap_without_cause(int code_, uint64_t addr, uint64_t pc,
			       unsigned long dr6, const unsigned char code[16],
			       size_t have)
{
#if defined(__x86_64__)
	return code_ == TRAP_BRKPT && addr == pc && !(dr6 & DR6_CAUSE_BITS) &&
	       have >= 2 && !icebp_at(code, have, pc);
#else
	(void)code_, (void)addr, (void)pc, (void)dr6, (void)code;
	(void)have;
	return false; /* arm64 reports its watchpoints differently */
#endif
}

/* Is the SIGTRAP tid is stopped for one with no cause?  (Its registers,
 * virtual DR6 and code, read through ptrace.) */
static bool spurious_trap(pid_t tid, const siginfo_t *si)
{
	unsigned char code[16] = { 0 };
	uint64_t pc;
	long dr6 = 0;

	if (si->si_signo != SIGTRAP || si->si_code != TRAP_BRKPT ||
	    arch_get_pc(tid, &pc))
		return false;
#if defined(__x86_64__)
	errno = 0;
	dr6 = ptrace(PTRACE_PEEKUSER, tid, (void *)offsetof(struct user,
							    u_debugreg[6]), NULL);
	if (errno)
		return false;
#endif
	return trap_without_cause(si->si_code, (uint64_t)(uintptr_t)si->si_addr,
				  pc, (unsigned long)dr6, code,
				  code_around(tid, pc, code));
}

static bool job_control_sig(int sig)
{
	return sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* Field `field` (1: pid) of /proc/tid/stat, after the name; UINT64_MAX
 * if it cannot be read. */
static uint64_t stat_field(pid_t tid, int field)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UINT64_MAX;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return UINT64_MAX;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	for (int f = 2; f < field && p; f++) /* (the name is field 2) */
		p = strchr(p + 1, ' ');
	return p && sscanf(p + 1, "%llu", &v) == 1 ? v : UINT64_MAX;
}

/* Tell the watch of a SIGTRAP with no cause at pc, with what a stopped
 * thread shows of it: its registers (the access before the PC is
 * decoded from them), its process and the CPU it stopped on. */
static void report_uncaused(struct guard *g, pid_t tid, uint64_t pc)
{
	struct uncaused_trap u = { .tid = tid, .pc = pc, .cpu = UINT32_MAX };
	uint64_t cpu = stat_field(tid, 39); /* "processor" */
	long tgid = status_field(tid, "Tgid:");

	u.pid = tgid > 0 ? (pid_t)tgid : 0;
	u.have_regs = !arch_get_regs(tid, u.regs);
	if (cpu < UINT32_MAX)
		u.cpu = (uint32_t)cpu;
	g->uncaused(g->uncaused_ctx, &u);
}

/* The signal a signal-delivery-stop resumes with: 0 for a spurious
 * SIGTRAP (counted; the first one said), else the signal itself. */
static int signal_to_pass(struct target *t, pid_t tid, int sig)
{
	struct guard *g = t->guard;
	siginfo_t si;

	if (sig == SIGTRAP && !ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) &&
	    spurious_trap(tid, &si)) {
		if (!g->spurious++)
			fprintf(stderr, "hwbp: guard: thread %d got a SIGTRAP "
				"with no cause at %p (the host lost the debug "
				"status of a hit): suppressed\n", (int)tid,
				si.si_addr);
		/* (tid is still stopped: its next store comes after this;
		 * its PC is si_addr: spurious_trap) */
		if (g->uncaused)
			report_uncaused(g, tid, (uint64_t)(uintptr_t)si.si_addr);
		return 0;
	}
	if (job_control_sig(sig))
		g->jc_passed++;
	return sig;
}

/* Resume a stopped task as its stop asks, unless the target is paused. */
static void resume_task(struct guard *g, struct task *k)
{
	if (g->paused || k->state != TS_STOPPED)
		return;
	if (k->group_stop && !ptrace(PTRACE_LISTEN, k->tid, NULL, NULL)) {
		k->state = TS_LISTENING;
		return;
	}
	/* ESRCH: killed meanwhile; its exit is reported next. */
	ptrace(PTRACE_CONT, k->tid, NULL, (void *)(long)k->sig);
	k->state = TS_RUNNING;
	k->sig = 0;
}

/* A new thread or child (PTRACE_EVENT_CLONE/FORK/VFORK) or an exec by a
 * thread other than the leader (it takes the leader's id). */
static void on_event(struct target *t, pid_t tid, int event)
{
	unsigned long msg = 0;

	if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &msg))
		return;
	if (event == PTRACE_EVENT_EXEC) {
		if ((pid_t)msg != tid)
			task_del(t->guard, (pid_t)msg);
		return;
	}
	task_add(t->guard, (pid_t)msg); /* it reports a first stop */
}

/* One waitpid report of a traced task. */
static void on_report(struct target *t, pid_t tid, int status)
{
	struct guard *g = t->guard;
	int event = status >> 16, sig = WSTOPSIG(status);
	struct task *k;

	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		task_del(g, tid);
		if (g->ended)
			g->ended(g->threads_ctx, tid);
		if (tid == t->pid) {
			t->exited = true;
			t->status = status;
		}
		return;
	}
	if (!WIFSTOPPED(status) || !(k = task_add(g, tid))) {
		if (WIFSTOPPED(status)) /* untracked (no memory): let it go */
			ptrace(PTRACE_CONT, tid, NULL,
			       (void *)(long)(event ? 0 : sig));
		return;
	}
	*k = (struct task){ .tid = tid, .state = TS_STOPPED,
			    .announced = k->announced };
	if (!event)
		k->sig = signal_to_pass(t, tid, sig);
	else if (event == PTRACE_EVENT_STOP)
		k->group_stop = sig == SIGSTOP || job_control_sig(sig);
	else
		on_event(t, tid, event);
	/* on_event may have moved the table */
	if ((k = task_find(g, tid)) && !k->announced) {
		/* a new task's first stop: before it runs a single
		 * instruction of its own */
		k->announced = true;
		if (g->started)
			g->started(g->threads_ctx, tid);
		k = task_find(g, tid);
	}
	if (k)
		resume_task(g, k);
}

/* Every report waiting; how many. */
static int drain_reports(struct target *t)
{
	int status, n = 0;
	pid_t r;

	while ((r = waitpid(-1, &status, __WALL | WNOHANG)) > 0) {
		on_report(t, r, status);
		n++;
	}
	return n;
}

/* Sleep until a child reports (SIGCHLD) or until `deadline`.  hwbp blocks
 * SIGCHLD for its signalfd; its main loop still drains on every pass. */
static void wait_report(uint64_t deadline)
{
	uint64_t now = now_ns();
	sigset_t chld, cur;
	struct timespec ts;

	if (now >= deadline)
		return;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	if (!sigismember(&cur, SIGCHLD)) { /* not hwbp's loop: poll */
		ts = (struct timespec){ 0, 50000 };
		nanosleep(&ts, NULL);
		return;
	}
	ts.tv_sec = (time_t)((deadline - now) / 1000000000ull);
	ts.tv_nsec = (long)((deadline - now) % 1000000000ull);
	sigtimedwait(&chld, NULL, &ts);
}

static volatile sig_atomic_t tstp_pending;

/* async-signal-safe: sets a flag for target_handle_events. */
static void on_tstp(int sig)
{
	(void)sig;
	tstp_pending = 1;
}

/*
 * Ctrl-Z reaches hwbp and a launched target alike.  Stopping at once, hwbp
 * would pass the target its SIGTSTP only after the shell's SIGCONT, and the
 * target would stay stopped: so hwbp catches its SIGTSTP, passes the
 * target's on first (it enters its group-stop), then stops itself.
 */
static void guard_catch_tstp(struct guard *g)
{
	struct sigaction sa = { .sa_handler = on_tstp };

	sigemptyset(&sa.sa_mask);
	if (!g->tstp_set && !sigaction(SIGTSTP, &sa, &g->old_tstp))
		g->tstp_set = true;
}

static void stop_with_target(struct target *t)
{
	struct guard *g = t->guard;
	uint64_t passed = g->jc_passed, deadline = now_ns() + 100000000ull;
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t tstp;

	tstp_pending = 0;
	if (t->launched && getpgid(t->pid) == getpgrp())
		while (g->jc_passed == passed && !t->exited &&
		       now_ns() < deadline) {
			wait_report(deadline);
			drain_reports(t);
		}
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGTSTP, &dfl, NULL);
	sigemptyset(&tstp);
	sigaddset(&tstp, SIGTSTP);
	sigprocmask(SIG_UNBLOCK, &tstp, NULL);
	raise(SIGTSTP); /* stopped here until SIGCONT */
	g->tstp_set = false;
	guard_catch_tstp(g);
}

int target_handle_events(struct target *t)
{
	if (!t->guard)
		return t->exited ? 1 : 0;
	drain_reports(t);
	if (tstp_pending)
		stop_with_target(t);
	return t->exited ? 1 : 0;
}

/* Interrupt every running task (and listening ones when `all`), and wait
 * for each to stop; 0, or -ETIMEDOUT after the bound. */
static int stop_all(struct target *t, bool all)
{
	struct guard *g = t->guard;
	uint64_t deadline = now_ns() + PAUSE_BOUND_NS;

	g->paused = true;
	drain_reports(t);
	for (;;) {
		int running = 0;

		for (int i = 0; i < g->ntasks; i++) {
			struct task *k = &g->tasks[i];

			if (k->state == TS_STOPPED ||
			    (k->state == TS_LISTENING && !all))
				continue;
			running++;
			if (!k->interrupted &&
			    !ptrace(PTRACE_INTERRUPT, k->tid, NULL, NULL))
				k->interrupted = true;
		}
		if (!running)
			return 0;
		if (now_ns() >= deadline)
			return -ETIMEDOUT;
		wait_report(deadline);
		drain_reports(t);
	}
}

int target_pause(struct target *t)
{
	if (t->exited)
		return -ESRCH;
	if (!t->guard)
		return -EOPNOTSUPP;
	return stop_all(t, false);
}

int target_continue(struct target *t)
{
	struct guard *g = t->guard;

	if (!g)
		return -EOPNOTSUPP;
	if (t->launched) /* in hwbp's process group: stop along */
		guard_catch_tstp(g);
	g->paused = false;
	for (int i = 0; i < g->ntasks; i++) {
		g->tasks[i].interrupted = false;
		resume_task(g, &g->tasks[i]);
	}
	return 0;
}

void target_release(struct target *t)
{
	struct guard *g = t->guard;

	if (!g)
		return;
	if (g->ntasks)
		stop_all(t, true);
	/* Each in a ptrace-stop leaves with its pending signal; one in a
	 * group-stop stays stopped.  One that did not stop in time is
	 * detached by the kernel when hwbp exits. */
	for (int i = 0; i < g->ntasks; i++) {
		struct task *k = &g->tasks[i];

		if (k->state == TS_STOPPED)
			ptrace(PTRACE_DETACH, k->tid, NULL,
			       (void *)(long)(k->group_stop ? 0 : k->sig));
	}
	if (g->tstp_set)
		sigaction(SIGTSTP, &g->old_tstp, NULL);
	if (g->spurious)
		fprintf(stderr, "hwbp: guard: %llu SIGTRAP%s with no cause "
			"suppressed (each a hit the kernel did not count)\n",
			(unsigned long long)g->spurious,
			g->spurious == 1 ? "" : "s");
	free(g->tasks);
	g->tasks = NULL;
	guard_in_use = false;
	t->guard = NULL;
}

void target_on_threads(struct target *t, void (*started)(void *, pid_t),
		       void (*ended)(void *, pid_t), void *ctx)
{
	if (!t->guard)
		return;
	t->guard->started = started;
	t->guard->ended = ended;
	t->guard->threads_ctx = ctx;
}

int target_threads(const struct target *t, pid_t *tids, int max)
{
	int n = 0;

	for (int i = 0; t->guard && i < t->guard->ntasks; i++)
		if (t->guard->tasks[i].announced && n < max)
			tids[n++] = t->guard->tasks[i].tid;
	return n;
}

bool target_stopped(const struct target *t, pid_t tid)
{
	const struct task *k = t->guard ? task_find(t->guard, tid) : NULL;

	return k && k->state == TS_STOPPED;
}

void target_on_uncaused(struct target *t,
			void (*fn)(void *, const struct uncaused_trap *),
			void *ctx)
{
	if (!t->guard)
		return;
	t->guard->uncaused = fn;
	t->guard->uncaused_ctx = ctx;
}
