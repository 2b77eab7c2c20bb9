/* SPDX-License-Identifier: MIT */
/*
 * cmd_guard.c - a target for test_guard.c: it receives the SIGTRAP a
 * watchpoint hit sends when the host lost its debug status, made here
 * without the host bug, and shows what the guard must let through.
 *
 * The kernel's signal (arch/x86/kernel/traps.c, exc_debug_user with DR6
 * naming no cause) is SIGTRAP, si_code TRAP_BRKPT, si_addr = the PC at
 * which it is delivered.  A thread may queue exactly that siginfo to
 * itself with rt_tgsigqueueinfo (the kernel refuses si_code > 0 to any
 * other thread), so `fake_trap` does, from a syscall whose return address
 * it knows: the signal is delivered right there, on its return.
 *
 *   cmd_guard spurious N     N such SIGTRAPs, no handler; "survived N"
 *   cmd_guard own            its own SIGTRAP handler sees int3, raise,
 *                            icebp and (unguarded) the fake one; counts
 *   cmd_guard icebp          an icebp (0xf1) with no handler: must die
 *   cmd_guard threads R N    R rounds of N new threads, each storing
 *                            `counter` 1000 times, then a fake SIGTRAP;
 *                            "counter C"
 *   cmd_guard chain N        counter = 1..N, a fake SIGTRAP,
 *                            counter = N+1..2N
 *   cmd_guard lost N         counter = 1..2N, the store of N+1 one
 *                            the kernel does not count (lost_store_of);
 *                            "counter 2N"
 *   cmd_guard fork           a child gets a fake SIGTRAP and exits 3;
 *                            the parent's SIGCHLD and waitpid see it
 *   cmd_guard exit N         exit N (after storing `counter` once)
 *   cmd_guard kill SIG       killed by signal SIG
 *   cmd_guard loop MS [T]    "ready PID", stores `counter` every ms for MS
 *                            ms, a fake SIGTRAP every 10 ms while it has
 *                            a tracer (the guard; not if T is 0), counts
 *                            SIGUSR1s; "traps T usr1 U", exits 0
 *   cmd_guard spin N MS      "ready PID", N threads spinning in user mode
 *                            (no syscall) for MS ms; "spun N"
 *   cmd_guard churn MS       "ready PID", new threads (one at a time)
 *                            until a SIGUSR1 or for MS ms; "threads N"
 *
 * Every store to `counter` is one store (-O0): the tests count them.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

volatile long counter;

#if defined(__x86_64__)
/*
 * Queue SIGTRAP/TRAP_BRKPT to the calling thread (tid); si_addr is
 * trap_ret, right after this syscall, where the signal is delivered.
 * Returns the syscall's result.  One copy of the asm (never inlined): its
 * label is global.
 */
extern char trap_ret[];
static long __attribute__((noinline)) queue_trap(pid_t tid)
{
	siginfo_t si;
	long ret, pid = getpid();

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGTRAP;
	si.si_code = TRAP_BRKPT;
	si.si_addr = trap_ret;
	/* set last: a call in between would clobber it */
	register long r10 asm("r10") = (long)&si;
	asm volatile("syscall\n.globl trap_ret\ntrap_ret:"
		     : "=a"(ret)
		     : "0"((long)SYS_rt_tgsigqueueinfo), "D"(pid),
		       "S"((long)tid), "d"((long)SIGTRAP), "r"(r10), "m"(si)
		     : "rcx", "r11", "memory");
	return ret;
}

static void fake_trap(void)
{
	long r = queue_trap((pid_t)syscall(SYS_gettid));

	if (r) {
		fprintf(stderr, "rt_tgsigqueueinfo: %s\n", strerror((int)-r));
		exit(90);
	}
}

static void icebp(void)
{
	asm volatile(".byte 0xf1");
}

/*
 * A store the kernel does not count, as the guard sees a hit whose debug
 * status the host lost: `movq %r8, counter(%rip)` at lost_store is never
 * run; on_lost_store (SIGUSR1, sent by the syscall just before it, with
 * SIGTRAP blocked) writes the value through /proc/self/mem (the kernel's
 * own mapping of the page: no watchpoint fires), moves the PC past the
 * store and queues the SIGTRAP a lost hit brings (TRAP_BRKPT, si_addr the
 * PC).  On its return the thread resumes at lost_after, r8 the value:
 * exactly the state after the store, with a SIGTRAP no DR6 bit explains.
 */
extern char lost_store[], lost_after[];

static void on_lost_store(int sig, siginfo_t *info, void *ucv)
{
	ucontext_t *uc = ucv;
	long v = uc->uc_mcontext.gregs[REG_R8];
	siginfo_t si;
	int fd;

	(void)sig, (void)info;
	if ((char *)uc->uc_mcontext.gregs[REG_RIP] != lost_store)
		return;
	fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, &v, sizeof(v),
			     (off_t)(uintptr_t)&counter) != sizeof(v))
		_exit(91);
	close(fd);
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)lost_after;
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGTRAP;
	si.si_code = TRAP_BRKPT;
	si.si_addr = lost_after;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid),
		    SIGTRAP, &si))
		_exit(90);
}

static void __attribute__((noinline)) lost_store_of(long v)
{
	static bool ready;
	long ret, pid = getpid(), tid = syscall(SYS_gettid);

	if (!ready) {
		struct sigaction sa = { .sa_sigaction = on_lost_store,
					.sa_flags = SA_SIGINFO };

		sigemptyset(&sa.sa_mask);
		sigaddset(&sa.sa_mask, SIGTRAP);
		sigaction(SIGUSR1, &sa, NULL);
		ready = true;
	}
	{
		/* (set after every call: a call clobbers it) */
		register long r8 asm("r8") = v;

		asm volatile("syscall\n"
			     ".globl lost_store\nlost_store:\n"
			     "movq %%r8, counter(%%rip)\n"
			     ".globl lost_after\nlost_after:"
			     : "=a"(ret)
			     : "0"((long)SYS_tgkill), "D"(pid), "S"(tid),
			       "d"((long)SIGUSR1), "r"(r8)
			     : "rcx", "r11", "memory");
	}
	if (ret)
		_exit(92);
}
#else
#error "cmd_guard: the fake trap is x86-64 (test_guard.c skips elsewhere)"
#endif

static volatile sig_atomic_t seen_code[256];

/* async-signal-safe: counts the si_code, steps over an icebp reported at
 * its own address (a fault on this KVM; a trap on bare metal). */
static void on_trap(int sig, siginfo_t *si, void *uc)
{
	ucontext_t *u = uc;
	unsigned char *pc = (unsigned char *)u->uc_mcontext.gregs[REG_RIP];

	(void)sig;
	seen_code[si->si_code & 0xff]++;
	if (si->si_code == TRAP_BRKPT && *pc == 0xf1)
		u->uc_mcontext.gregs[REG_RIP]++;
}

static int own(void)
{
	struct sigaction sa = { .sa_sigaction = on_trap,
				.sa_flags = SA_SIGINFO };

	sigaction(SIGTRAP, &sa, NULL);
	asm volatile("int3");
	raise(SIGTRAP);
	icebp();
	fake_trap();
	printf("int3 %d raise %d brkpt %d\n", (int)seen_code[SI_KERNEL & 0xff],
	       (int)seen_code[SI_TKILL & 0xff], (int)seen_code[TRAP_BRKPT]);
	return 0;
}

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) /* lock add: one store, none lost */
		__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	fake_trap();
	return NULL;
}

static int threads(int rounds, int n)
{
	pthread_t th[256];

	if (n > 256)
		return 2;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < n; i++)
			pthread_create(&th[i], NULL, worker, NULL);
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
	}
	printf("counter %ld\n", counter);
	return 0;
}

static volatile sig_atomic_t chld;

static void on_chld(int sig)
{
	(void)sig;
	chld = 1;
}

static int forked(void)
{
	int status;
	pid_t c;

	signal(SIGCHLD, on_chld);
	c = fork();
	if (c == 0) {
		counter++;
		fake_trap();
		_exit(3);
	}
	if (waitpid(c, &status, 0) != c)
		return 94;
	while (!chld)
		usleep(1000);
	printf("child %s %d sigchld %d\n", WIFEXITED(status) ? "exit" : "signal",
	       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
	       (int)chld);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall */
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A tracer is attached (TracerPid in /proc/self/status). */
static bool traced(void)
{
	char line[256];
	bool yes = false;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "TracerPid:", 10))
			yes = atoi(line + 10) != 0;
	if (f)
		fclose(f);
	return yes;
}

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

/* A fake trap queued just as the tracer left (traced() said yes a moment
 * before: a test's SIGINT to hwbp): no guard holds it any more. */
static void on_late_trap(int sig)
{
	(void)sig;
}

static int loop(int ms, bool fake)
{
	long long end = now_ms() + ms;
	int traps = 0;

	signal(SIGUSR1, on_usr1);
	if (fake) /* (the guard holds the others before any handler) */
		signal(SIGTRAP, on_late_trap);
	printf("ready %d\n", (int)getpid());
	for (int i = 0; now_ms() < end; i++) {
		counter++;
		if (fake && i % 10 == 0 && traced()) {
			fake_trap();
			traps++;
		}
		usleep(1000);
	}
	printf("traps %d usr1 %d\n", traps, (int)usr1);
	return 0;
}

static long long spin_end;

static void *spinner(void *arg)
{
	(void)arg;
	while (now_ms() < spin_end)
		;
	return NULL;
}

static void *nothing(void *arg)
{
	return arg;
}

static int spin(int n, int ms)
{
	pthread_t th[256];

	if (n > 256)
		return 2;
	spin_end = now_ms() + ms;
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, spinner, NULL);
	printf("ready %d\n", (int)getpid());
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("spun %d\n", n);
	return 0;
}

static int churn(int ms)
{
	long long end = now_ms() + ms;
	int n = 0;

	signal(SIGUSR1, on_usr1);
	printf("ready %d\n", (int)getpid());
	for (; !usr1 && now_ms() < end; n++) {
		pthread_t t;

		pthread_create(&t, NULL, nothing, NULL);
		pthread_join(t, NULL);
	}
	printf("threads %d\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int a = argc > 2 ? atoi(argv[2]) : 1, b = argc > 3 ? atoi(argv[3]) : 1;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(mode, "spurious")) {
		for (int i = 0; i < a; i++) {
			counter++;
			fake_trap();
		}
		printf("survived %d\n", a);
		return 0;
	}
	if (!strcmp(mode, "lost")) {
		for (int i = 1; i <= 2 * a; i++) {
			if (i == a + 1)
				lost_store_of(i);
			else
				counter = i;
		}
		printf("counter %ld\n", counter);
		return 0;
	}
	if (!strcmp(mode, "chain")) {
		for (int i = 1; i <= 2 * a; i++) {
			if (i == a + 1)
				fake_trap();
			counter = i;
		}
		return 0;
	}
	if (!strcmp(mode, "own"))
		return own();
	if (!strcmp(mode, "icebp")) {
		icebp();
		printf("survived an icebp\n");
		return 0;
	}
	if (!strcmp(mode, "threads"))
		return threads(a, b);
	if (!strcmp(mode, "fork"))
		return forked();
	if (!strcmp(mode, "exit")) {
		counter++;
		return a;
	}
	if (!strcmp(mode, "kill")) {
		counter++;
		kill(getpid(), a);
		pause();
	}
	if (!strcmp(mode, "loop"))
		return loop(a, argc < 4 || b != 0);
	if (!strcmp(mode, "spin"))
		return spin(a, b);
	if (!strcmp(mode, "churn"))
		return churn(a);
	fprintf(stderr, "cmd_guard: unknown mode '%s'\n", mode);
	return 2;
}
