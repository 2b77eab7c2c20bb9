/* SPDX-License-Identifier: MIT */
/*
 * skip_insn.c - an execute breakpoint whose handler skips the instruction:
 * the callback runs before the instruction (execute breakpoints trap before
 * it), and moving the PC past it (hwbp_uc_skip_insn, which measures the
 * instruction with a real x86 decoder; on arm64 every instruction is 4
 * bytes) means it never runs.
 *
 * Here the instruction is the `incq` (arm64: the `str`) that "launches a
 * missile": with the breakpoint armed, launch() is called 10 times and
 * nothing is launched.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <hwbp.h>

static volatile long missiles_launched;
static volatile sig_atomic_t skipped, bad_skips;

/* The instruction to skip gets a global label, so we can point at it. */
__attribute__((noinline, noclone)) static void launch(void)
{
#if defined(__aarch64__)
	long next = missiles_launched + 1;

	__asm__ volatile(".globl launch_insn\n"
			 "launch_insn:\n\t"
			 "str %1, %0" : "=m"(missiles_launched) : "r"(next));
#else
	__asm__ volatile(".globl launch_insn\n"
			 "launch_insn:\n\t"
			 "incq %0" : "+m"(missiles_launched));
#endif
}
extern const char launch_insn[];

/* async-signal-safe: only the ucontext and sig_atomic_t counters. */
static void skip_it(const struct hwbp_hit *hit, void *uc)
{
	(void)hit;
	if (hwbp_uc_skip_insn(uc) > 0)
		skipped++;
	else
		bad_skips++;
}

int main(void)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = skip_it);
	struct hwbp *bp;
	int err = hwbp_create(&bp, (uintptr_t)launch_insn, 0, HWBP_EXEC, &opts);

	if (err) {
		fprintf(stderr, "hwbp_create: %s: %s\n", strerror(-err),
			hwbp_last_error());
		return 1;
	}
	for (int i = 0; i < 10; i++)
		launch();
	hwbp_close(bp);
	printf("launch() called 10 times: %d skipped, %ld launched "
	       "(the instruction is %d bytes)\n", (int)skipped, missiles_launched,
	       hwbp_insn_len(launch_insn, 15));
	launch(); /* disarmed: runs */
	printf("after hwbp_close: %ld launched\n", missiles_launched);
	return skipped == 10 && !bad_skips && missiles_launched == 1 ? 0 : 1;
}
