/* SPDX-License-Identifier: MIT */
/*
 * recover.c - hits the kernel did not count, recovered from the thread
 * that made them.
 *
 * A host that loses a hit's debug status (KVM on Intel, CVE-2025-21839)
 * delivers the trap with DR6 naming no cause: the kernel records no hit
 * and sends a SIGTRAP, which the guard (target.c) holds with its thread
 * stopped right after the access, its registers as the access left them.
 * That is all a hit record carries: the instruction that ended at the PC
 * is decoded in the stopped process (hwbp_insn_before_pid, as libhwbp's
 * own handler does for a signal delivery: signal.c recover_lost_cause),
 * and where it touched a watched location the hit goes into the stream
 * (stream_recover_outside: in time order, after the thread's hit before,
 * its order unsure where another thread's hit of the same location is in
 * its window) or, with --count, into the location's count.  What cannot
 * be told (no registers, a thread-local, a pointer path, nothing
 * watched decodes there, the stream's queue full) stays a hit counted
 * lost, as before.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "watch.h"

#define PERF_REG_SP 7 /* PERF_REG_X86_SP */

/* Does the access before trap->pc touch location l the way it watches?
 * (Which of its bytes, the processor decodes again, as for any hit.) */
static bool touches_location(const struct uncaused_trap *trap,
			     const struct location *l)
{
	struct hwbp_insn_info info;
	int how;

	if (l->access == HWBP_EXEC)
		return trap->pc == l->addr;
	if (hwbp_insn_before_pid(trap->pid, trap->pc, l->addr, l->len,
				 trap->regs, &info))
		return false; /* (ENOENT: not this one; others: not sure) */
	how = hwbp_insn_touches(&info, l->addr, l->len);
	if (how & HWBP_TOUCH_UNSURE)
		return false; /* (an address the registers no longer tell) */
	return l->access == HWBP_WRITE ? (how & HWBP_TOUCH_WRITE) != 0
				       : how != 0;
}

/* The locations the access touched, at most max (a shared register's
 * riders are the stream's: then the first only); their count. */
static int touched_locations(struct watch *w, const struct uncaused_trap *t,
			     int *ids, int max)
{
	int n = 0;

	if (atomic_load(&w->share_any))
		max = 1;
	for (int i = 0; i < w->cfg->nlocs && n < max; i++) {
		const struct location *l = &w->locs[i];

		if (l->resolved && !l->tls && !l->nderefs && l->len &&
		    touches_location(t, l))
			ids[n++] = i;
	}
	return n;
}

/* The stopped thread's stack from its stack pointer, for --bt: as much
 * of stack_size bytes as is mapped (page by page: a read stops at the
 * first page that is not).  Its length. */
static size_t read_stack(pid_t pid, uint64_t sp, uint8_t *buf, size_t size)
{
	struct iovec local = { buf, size }, remote[8];
	uint64_t at = sp;
	int n = 0;
	ssize_t got;

	while (at < sp + size && n < 8) {
		uint64_t end = (at | 4095) + 1;

		if (end > sp + size)
			end = sp + size;
		remote[n++] = (struct iovec){ (void *)(uintptr_t)at,
					      (size_t)(end - at) };
		at = end;
	}
	got = process_vm_readv(pid, &local, 1, remote, n, 0);
	return got > 0 ? (size_t)got : 0;
}

/* The hit as the rings would have carried it: registers in
 * SAMPLED_REGS_MASK's order, the stack where --bt copies it. */
static int put_recovered(struct watch *w, const struct uncaused_trap *t,
			 int loc)
{
	uint64_t regs[HWBP_NREGS];
	uint8_t *stack = NULL;
	struct hwbp_record r = {
		.kind = HWBP_REC_HIT, .ip = t->pc, .addr = w->locs[loc].addr,
		.pid = (uint32_t)t->pid, .tid = (uint32_t)t->tid,
		.cpu = t->cpu, .regs_mask = SAMPLED_REGS_MASK, .regs = regs,
	};
	int n = 0, err;

	for (int bit = 0; bit < HWBP_NREGS; bit++)
		if (SAMPLED_REGS_MASK & (1ull << bit))
			regs[n++] = t->regs[bit];
	if (w->cfg->bt && !w->cfg->ncpus && (stack = malloc(BT_STACK_BYTES))) {
		r.stack = stack;
		r.stack_size = read_stack(t->pid, t->regs[PERF_REG_SP], stack,
					  BT_STACK_BYTES);
	}
	err = stream_recover_outside(w->stream, &r, loc, ORDER_WINDOW_NS);
	free(stack);
	return err;
}

/* --count: the location's count takes it (read_counts adds them). */
static int count_recovered(struct watch *w, int loc)
{
	if (!w->recovered_at &&
	    !(w->recovered_at = calloc((size_t)w->cfg->nlocs,
				       sizeof(*w->recovered_at))))
		return -ENOMEM;
	w->recovered_at[loc]++;
	return 0;
}

int recover_hits(struct watch *w, const struct uncaused_trap *t)
{
	int ids[4], n = 0, taken = 0;

	if (t->have_regs && t->pid && t->pc)
		n = touched_locations(w, t, ids, 4);
	for (int i = 0; i < n; i++)
		if (!(w->stream ? put_recovered(w, t, ids[i])
				: count_recovered(w, ids[i])))
			taken++;
	w->recovered += (uint64_t)taken;
	return n ? n - taken : 1; /* (nothing told: the trap's one hit) */
}
