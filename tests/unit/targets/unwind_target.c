/* SPDX-License-Identifier: MIT */
/*
 * unwind_target.c - records real hits for the unwinder's tests: it watches
 * its own `sink` with libhwbp (ring delivery, HWBP_SAMPLE_REGS|STACK, the
 * whole process) and writes each hit's registers and stack, then its
 * /proc/self/maps, to the file named by argv[1] (tests/unit/unwind_rec.h).
 * Built twice by the Makefile: -O2 without frame pointers and -O0.
 *
 * Scenarios (each record is named after its scenario):
 *   chain   main -> run_chain -> chain_a -> chain_b -> chain_c (the store)
 *   qsort   main -> run_qsort -> qsort (libc) -> cmp_longs (the store)
 *   thread  (start_thread) -> worker -> thread_a -> thread_b (the store)
 *   deep    main -> run_deep -> recurse x 40 (the store at the bottom)
 *   libc    main -> run_libc -> snprintf... (libc stores into sink)
 *   align   main -> run_align -> realign (realigns its stack) -> use_buf
 *           -> chain_c
 *   signal  main -> run_signal -> raise (libc) -> [signal] on_signal
 *   fault   main -> run_fault -> fault_first (SIGSEGV at its first byte)
 *           -> [signal] on_segv
 *   rbx     main -> run_rbx -> via_rbx (CFA = RBX + 16) -> keep_rbx (saves
 *           RBX) -> chain_c
 * (main calls each through run).  The store in chain_c is in store_inl,
 * always inlined.
 * Exit 0, 77 when the machine cannot record hits (the reason on stderr),
 * 1 on errors.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <hwbp.h>

#include "../unwind_rec.h"

#define SAMPLED_REGS_MASK (0x3ffull | (0xffull << 16))
#define DEEP 40

/* What the unwinder needs from the compiler: real calls that stay calls. */
#define FRAME __attribute__((noipa))

volatile long sink __attribute__((aligned(8)));
static const char *scenario = "";
static FILE *out;
static int write_errors;

static void on_record(const struct hwbp_record *r, void *cookie)
{
	(void)cookie;
	if (r->kind != HWBP_REC_HIT)
		return;
	if (unw_write(out, scenario, r->tid, r->ip, r->regs_mask, r->regs,
		      r->stack, r->stack_size))
		write_errors++;
}

/* Inlined at every -O level: the hit's PC is in store_inl, inside
 * chain_c (the test finds these lines by their LINE: comments). */
static inline __attribute__((always_inline)) void store_inl(long v)
{
	sink = v; /* LINE:store */
}

FRAME void chain_c(long v)
{
	store_inl(v); /* LINE:call */
}

FRAME int chain_b(long v)
{
	chain_c(v + 1);
	return 1;
}

FRAME int chain_a(long v)
{
	return chain_b(v * 2) + 1;
}

FRAME int run_chain(void)
{
	return chain_a(3) + 1;
}

FRAME int cmp_longs(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	sink = x;
	return (x > y) - (x < y);
}

FRAME int run_qsort(void)
{
	long v[3] = { 3, 1, 2 };

	qsort(v, 3, sizeof(long), cmp_longs);
	return (int)v[0];
}

FRAME void thread_b(long v)
{
	sink = v;
}

FRAME int thread_a(long v)
{
	thread_b(v + 1);
	return 0;
}

FRAME void *worker(void *arg)
{
	thread_a((long)arg);
	return NULL;
}

FRAME int run_thread(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, worker, (void *)7l))
		return -1;
	return pthread_join(t, NULL);
}

FRAME int recurse(int depth);
/* Called through a volatile pointer: gcc -O2 turns a direct self call
 * with an accumulator into a loop. */
static int (*volatile again)(int) = recurse;

FRAME int recurse(int depth)
{
	if (depth == 0) {
		sink = depth;
		return 0;
	}
	return again(depth - 1) + 1;
}

FRAME int run_deep(void)
{
	return recurse(DEEP) + 1;
}

/* Not a constant: gcc would fold snprintf into a store. */
static const char *volatile text = "abcdefg";

FRAME int run_libc(void)
{
	/* 7 characters and the NUL: libc writes all of sink. */
	return snprintf((char *)&sink, sizeof(sink), "%s", text) + 1;
}

/* A 64-byte aligned local, a variable-length array and arguments on the
 * stack: gcc realigns the stack through a DRAP register, and the CFA rule
 * becomes an expression (DW_CFA_def_cfa_expression: the saved DRAP at
 * rbp - 8, dereferenced), RBP's and RBX's too (DW_CFA_expression). */
FRAME void use_buf(char *buf)
{
	buf[0] = 1;
	chain_c(5);
	buf[1] = 2;
}

static char *volatile escape;

FRAME long realign(int n, long b, long c, long d, long e, long f, long g,
		   long h)
{
	char buf[64] __attribute__((aligned(64)));
	char vla[n];

	vla[0] = 2;
	escape = vla;
	use_buf(buf);
	return buf[0] + vla[0] + b + c + d + e + f + g + h;
}

FRAME int run_align(void)
{
	return (int)realign(16, 2, 3, 4, 5, 6, 7, 8) + 1;
}

/* A hit in a signal handler: the walk goes through glibc's __restore_rt
 * (a signal frame, its rules DWARF expressions) into the interrupted
 * code, whose PC is exact (no call before it). */
FRAME void on_signal(int sig)
{
	sink = sig;
}

FRAME int run_signal(void)
{
	signal(SIGUSR1, on_signal);
	return raise(SIGUSR1) + 1;
}

/* fault_first faults at its first byte; pre_fault, right before it,
 * has other rules there (CFA = RSP + 16): the interrupted PC must be
 * looked up as it is, not as a return address (PC - 1). */
void fault_first(long *p);
asm(".pushsection .text\n"
    ".type pre_fault, @function\n"
    "pre_fault:\n"
    ".cfi_startproc\n"
    "push %rbx\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %rbx, -16\n"
    "ud2\n"
    ".cfi_endproc\n"
    ".size pre_fault, .-pre_fault\n"
    ".globl fault_first\n"
    ".type fault_first, @function\n"
    "fault_first:\n"
    ".cfi_startproc\n"
    "movq (%rdi), %rax\n"
    "ret\n"
    ".cfi_endproc\n"
    ".size fault_first, .-fault_first\n"
    ".popsection\n");

/* via_rbx defines its CFA by RBX (as hand-written assembly may), and
 * keep_rbx, below it, saves and reuses RBX: the walk must restore RBX
 * from keep_rbx's frame to find via_rbx's caller (the unwinder restores
 * such registers only once a rule reads them: its walk starts over). */
long via_rbx(long v);
asm(".pushsection .text\n"
    ".globl via_rbx\n"
    ".type via_rbx, @function\n"
    "via_rbx:\n"
    ".cfi_startproc\n"
    "push %rbx\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %rbx, -16\n"
    "mov %rsp, %rbx\n"
    ".cfi_def_cfa_register %rbx\n"
    "and $-16, %rsp\n"
    "call keep_rbx\n"
    "mov %rbx, %rsp\n"
    ".cfi_def_cfa_register %rsp\n"
    "pop %rbx\n"
    ".cfi_adjust_cfa_offset -8\n"
    ".cfi_restore %rbx\n"
    "ret\n"
    ".cfi_endproc\n"
    ".size via_rbx, .-via_rbx\n"
    ".popsection\n");

static volatile long bias = 3;

FRAME long keep_rbx(long v)
{
	long kept = v * bias;

	chain_c(v);
	return kept + v;
}

FRAME int run_rbx(void)
{
	return (int)via_rbx(4) + 1;
}

static sigjmp_buf fault_jb;

FRAME void on_segv(int sig)
{
	sink = sig;
	siglongjmp(fault_jb, 1);
}

FRAME int run_fault(void)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;

	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(fault_jb, 1) == 0)
		fault_first(NULL);
	sigaction(SIGSEGV, &old, NULL);
	return 1;
}

FRAME int run(struct hwbp *bp, const char *name, int (*fn)(void))
{
	scenario = name;
	fn();
	return hwbp_ring_consume(bp) < 0 ? -1 : 1;
}

int main(int argc, char **argv)
{
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING, .on_record = on_record,
		  .sample = HWBP_SAMPLE_REGS | HWBP_SAMPLE_STACK,
		  .regs_mask = SAMPLED_REGS_MASK, .ring_pages = 512);
	HWBP_OPTS(hwbp_probe, p);
	struct hwbp *bp;
	int err;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE [STACK_BYTES]\n", argv[0]);
		return 1;
	}
	o.stack_size = argc > 2 ? (uint32_t)atoi(argv[2]) : 16384;
	if (hwbp_probe(&p) < 0 || !p.breakpoints || !p.fires) {
		fprintf(stderr, "no hits can be recorded here: %s\n",
			!p.breakpoints ? "perf_event_open(PERF_TYPE_BREAKPOINT)"
			" does not work" : "debug registers do not fire "
			"(hwbp probe: 'hits fire no')");
		return 77;
	}
	out = fopen(argv[1], "wb");
	if (!out) {
		perror(argv[1]);
		return 1;
	}
	err = hwbp_create(&bp, (uint64_t)(uintptr_t)&sink, 8, HWBP_WRITE, &o);
	if (err) {
		fprintf(stderr, "hwbp_create: %s\n", hwbp_last_error());
		return err == -EACCES || err == -EPERM || err == -ENOSYS ? 77 : 1;
	}
	if (run(bp, "chain", run_chain) < 0 ||
	    run(bp, "qsort", run_qsort) < 0 ||
	    run(bp, "thread", run_thread) < 0 ||
	    run(bp, "deep", run_deep) < 0 ||
	    run(bp, "libc", run_libc) < 0 ||
	    run(bp, "align", run_align) < 0 ||
	    run(bp, "signal", run_signal) < 0 ||
	    run(bp, "fault", run_fault) < 0 ||
	    run(bp, "rbx", run_rbx) < 0) {
		fprintf(stderr, "hwbp_ring_consume: %s\n", hwbp_last_error());
		return 1;
	}
	hwbp_close(bp);
	if (unw_write_maps(out, 0) || write_errors || fclose(out)) {
		fprintf(stderr, "%s: write failed\n", argv[1]);
		return 1;
	}
	return 0;
}
