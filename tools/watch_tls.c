/* SPDX-License-Identifier: MIT */
/*
 * watch_tls.c - `hwbp watch` on thread-locals (__thread, thread_local):
 * each thread's own copy, watched in that thread alone.
 *
 * A copy is found from the thread's thread pointer (x86-64: fs_base, read
 * with ptrace while the thread is stopped) through its DTV (tls.c), so
 * this needs the guard: every thread seized.  Threads there at the start
 * are held stopped while their copies are armed; a new thread is armed at
 * its first stop, before it runs an instruction of its own (its TLS is
 * set up by then: clone's CLONE_SETTLS), and its copy's bytes are read
 * then, exactly.  So is a forked child's (the guard follows children
 * unless --no-follow): its copy is where its parent's was, read from the
 * child's own memory.  Each copy is a watch of the scheduler on that thread
 * only (hwbp_sched_add_thread: one register of that thread per 8 aligned
 * bytes, written into the same per-CPU rings), removed when the thread
 * ends.  Its hits carry the copy (ctx.idx = NIDS + its index, past the
 * locations and the pointer slots): the processor keeps a value chain per
 * copy, i.e. per thread.
 *
 * Everything here but tls_copy_of and tls_all_approx runs on the control
 * thread (ptrace requests must come from the thread that seized).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "watch.h"

#define MAX_THREADS 65536

static bool thread_of_target(const struct watch *w, pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)w->target.pid,
		 (int)tid);
	return access(path, F_OK) == 0;
}

static bool task_gone(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d", (int)tid);
	return access(path, F_OK) != 0;
}

static bool any_tls(const struct watch *w)
{
	for (int i = 0; i < w->cfg->nlocs; i++)
		if (w->locs[i].resolved && w->locs[i].tls)
			return true;
	return false;
}

/* A live copy of location i in thread tid already? */
static bool armed_in(const struct watch *w, int i, pid_t tid)
{
	int n = atomic_load(&w->ncopies);

	for (int k = 0; k < n; k++)
		if (w->copies[k]->loc == i && w->copies[k]->tid == tid &&
		    w->copies[k]->watch)
			return true;
	return false;
}

/* A thread without a copy (a dlopen'd module's thread-locals are made on
 * a thread's first use): said once per location, not watched there. */
static void note_no_copy(struct watch *w, int i, pid_t tid, const char *why)
{
	size_t n = strlen(w->locs[i].name);

	if (w->tls_noted[i])
		return;
	w->tls_noted[i] = true;
	if (!strncmp(why, w->locs[i].name, n) && !strncmp(why + n, ": ", 2))
		why += n + 2; /* (tls.c's message names it too) */
	fprintf(stderr, "hwbp: warning: %s: not watched in thread %d (nor in "
		"any later thread without a copy): %s\n", w->locs[i].name,
		(int)tid, why);
}

/* A new copy, published before it is armed. */
static struct tls_copy *new_copy(struct watch *w, int i,
				 struct target *task, uint64_t addr)
{
	const struct location *loc = &w->locs[i];
	int k = atomic_load(&w->ncopies);
	struct tls_copy *c;

	if (k >= TLS_MAX_COPIES)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ctx = (struct loc_ctx){ w, NIDS(w) + k };
	c->loc = i;
	c->tid = task->pid;
	c->view = *loc;
	c->view.addr = addr;
	c->view.type.enums = NULL; /* (the location's, not copied) */
	c->bytes = calloc(loc->len, 1);
	c->q = calloc(loc->len, 1);
	if (!c->bytes || !c->q) {
		free(c->bytes);
		free(c->q);
		free(c);
		return NULL;
	}
	/* The thread is stopped: nothing of its own writes it now. */
	if (target_read(addr, c->bytes, loc->len, task))
		memset(c->q, VQ_EXACT, loc->len);
	c->view.type.enums = loc->type.enums;
	w->copies[k] = c;
	atomic_store(&w->ncopies, k + 1);
	return c;
}

/*
 * Location i in thread tid (stopped by the guard): its copy's address
 * from the thread pointer, then a watch of that thread.  0, -1 (not
 * watched there: it ended, or has no copy, said once), or an exit status
 * with w->msg.
 */
static int arm_copy(struct watch *w, int i, pid_t tid)
{
	const struct location *loc = &w->locs[i];
	enum hwbp_access access = loc->access == HWBP_READ ? HWBP_RW
							   : loc->access;
	/* the thread's own memory (a forked child's copy is its own) */
	struct target task = { .pid = tid };
	char why[512];
	uint64_t tp = 0, addr;
	struct tls_copy *c;
	int err;

	if (armed_in(w, i, tid))
		return 0;
	if ((err = thread_pointer(tid, &tp))) {
		if (err == -ESRCH)
			return -1; /* it ended meanwhile */
		snprintf(w->msg, sizeof(w->msg), "%s: cannot read the thread "
			 "pointer of thread %d: %s", loc->name, (int)tid,
			 strerror(-err));
		return EXIT_RUNTIME;
	}
	err = syms_tls_address(w->syms, loc, target_read, &task, tp, &addr,
			       why, sizeof(why));
	if (err == -ENOENT) {
		note_no_copy(w, i, tid, why);
		return -1;
	}
	if (err) {
		snprintf(w->msg, sizeof(w->msg), "%s", why);
		return EXIT_RUNTIME;
	}
	if (!w->sched && (err = start_sched(w)))
		return err;
	if (!(c = new_copy(w, i, &task, addr))) {
		snprintf(w->msg, sizeof(w->msg), "%s: no room for the copy of "
			 "thread %d (%d copies at most, or out of memory)",
			 loc->name, (int)tid, TLS_MAX_COPIES);
		return EXIT_RUNTIME;
	}
	err = hwbp_sched_add_thread(w->sched, tid, addr, loc->len, access,
				    &c->ctx, &c->watch);
	if (err == -ESRCH && task_gone(tid))
		return -1; /* it ended meanwhile */
	if (err == -ESRCH) { /* a child whose parent left (reparented) */
		note_no_copy(w, i, tid, hwbp_last_error());
		return -1;
	}
	if (err) {
		snprintf(w->msg, sizeof(w->msg), "cannot watch %s in thread %d "
			 "(0x%" PRIx64 ", %u bytes, %s): %s%s", loc->name,
			 (int)tid, addr, loc->len, hwbp_access_name(loc->access),
			 hwbp_last_error(), err != -ENOSPC ? "" :
			 " (each thread's copy of a thread-local takes a "
			 "register of that thread per 8 aligned bytes: with "
			 "the other locations, 4 at most)");
		return EXIT_RUNTIME;
	}
	return 0;
}

/* A new thread's first stop (target.c, from target_handle_events). */
static void on_thread_start(void *ctx, pid_t tid)
{
	struct watch *w = ctx;

	if (!thread_of_target(w, tid) && !w->cfg->follow)
		return; /* a child process, not followed (--no-follow) */
	for (int i = 0; i < w->cfg->nlocs; i++) {
		if (!w->locs[i].resolved || !w->locs[i].tls)
			continue;
		if (arm_copy(w, i, tid) > 0)
			fprintf(stderr, "hwbp: %s\n", w->msg);
	}
	if (w->sched && !w->stream && start_stream(w))
		fprintf(stderr, "hwbp: %s\n", w->msg);
}

/* A thread ended: its copies' registers go (their records in flight
 * still name them: copies are freed at the end). */
static void on_thread_end(void *ctx, pid_t tid)
{
	struct watch *w = ctx;
	int n = atomic_load(&w->ncopies);

	for (int k = 0; k < n; k++) {
		struct tls_copy *c = w->copies[k];

		if (c->tid != tid || !c->watch)
			continue;
		hwbp_sched_remove(w->sched, c->watch);
		c->watch = NULL;
	}
}

void tls_allow(struct watch *w)
{
	const struct watch_cfg *c = w->cfg;
	const char *why = NULL;

	if (c->count || c->ncpus)
		why = "--count and --cpu watch one address in every thread, "
		      "and a thread-local has one per thread";
	else if (c->tid)
		why = "with --tid, hwbp watches a thread-local only as 0xADDR "
		      "(without --tid each thread's copy is watched, each hit "
		      "naming its thread)";
	else if (!w->target.guard)
		why = "hwbp finds each thread's copy from the thread's "
		      "registers with ptrace (the guard), which it does not "
		      "have here (--no-guard, or the warning above says why)";
#if !defined(__x86_64__)
	why = "thread-locals are found on x86-64 only";
#endif
	if (!why && !w->copies) {
		w->copies = calloc(TLS_MAX_COPIES, sizeof(*w->copies));
		w->tls_noted = calloc((size_t)c->nlocs, sizeof(bool));
		if (!w->copies || !w->tls_noted)
			why = "out of memory";
	}
	syms_tls_why(w->syms, why);
	syms_allow_tls(w->syms, !why);
	if (!why)
		target_on_threads(&w->target, on_thread_start, on_thread_end,
				  w);
}

int tls_prepare(struct watch *w)
{
	uint64_t tp = 0;

	if (!w->target.launched || !any_tls(w) ||
	    (thread_pointer(w->target.pid, &tp) == 0 && tp))
		return 0;
	/* At the exec nothing has a TLS yet: the dynamic linker makes the
	 * main thread's before the entry point. */
	if (target_run_to_entry(&w->target, w->msg, sizeof(w->msg)))
		return EXIT_RUNTIME;
	syms_refresh(w->syms);
	return 0;
}

int tls_registers(const struct watch *w)
{
	int n = 0;

	for (int i = 0; i < w->cfg->nlocs; i++) {
		const struct location *l = &w->locs[i];
		/* (a copy's alignment is its offset's, in a block aligned
		 * at least as strictly as any variable in it) */
		int k = l->resolved && l->tls ?
			hwbp_range_split(0x100000 + l->tls_offset, l->len, 0,
					 NULL, 0) : 0;

		n += k > 0 ? k : 0;
	}
	return n;
}

int tls_arm(struct watch *w, int i)
{
	static pid_t tids[MAX_THREADS];
	bool hold = false;
	int n = target_threads(&w->target, tids, MAX_THREADS), rc = 0;

	for (int k = 0; k < n; k++)
		hold |= !target_stopped(&w->target, tids[k]);
	/* Held while its copies are found and armed (not when the program
	 * is held already: at its start, or by --no-lost). */
	if (hold && !w->paused && target_pause(&w->target) == -ESRCH)
		return 0;
	n = target_threads(&w->target, tids, MAX_THREADS);
	for (int k = 0; k < n && rc <= 0; k++)
		if (thread_of_target(w, tids[k]))
			rc = arm_copy(w, i, tids[k]);
	if (hold && !w->paused)
		target_continue(&w->target);
	return rc > 0 ? rc : 0;
}

struct tls_copy *tls_copy_of(struct watch *w, int idx)
{
	int k = idx - NIDS(w);

	if (!w->copies || k < 0 || k >= atomic_load(&w->ncopies))
		return NULL;
	return w->copies[k];
}

void tls_all_approx(struct watch *w)
{
	int n = w->copies ? atomic_load(&w->ncopies) : 0;

	for (int k = 0; k < n; k++)
		for (uint32_t b = 0; b < w->locs[w->copies[k]->loc].len; b++)
			if (w->copies[k]->q[b] == VQ_EXACT)
				w->copies[k]->q[b] = VQ_APPROX;
}

void tls_free(struct watch *w)
{
	int n = w->copies ? atomic_load(&w->ncopies) : 0;

	for (int k = 0; k < n; k++) {
		free(w->copies[k]->bytes);
		free(w->copies[k]->q);
		free(w->copies[k]);
	}
	free(w->copies);
	free(w->tls_noted);
	w->copies = NULL;
	w->tls_noted = NULL;
	atomic_store(&w->ncopies, 0);
}
