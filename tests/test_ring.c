/* SPDX-License-Identifier: MIT */
/*
 * test_ring.c - ring-buffer delivery: one record per write with the right
 * tid, pid, address, ip, time order and cookie; sampled registers and
 * callchains; a process ring that follows new threads and children (and
 * their COMM/FORK/EXIT records); the pollable fd; drops counted exactly when
 * the ring overflows; bad options and calls; no fd or mapping leaked; moves;
 * samples written by a BPF program at the trap (opts.bpf_samples) equal to
 * perf's, field for field, their drops exact at once, their inheritance.
 */
#include <asm/perf_regs.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "testutil.h"

static uint64_t var, other;

/*
 * ring_store(p, v): one 8-byte store of v from %rax to *p, in a frame of its
 * own so the kernel's frame-pointer walk reaches the caller.  Data
 * watchpoints trap after the store: every record's ip is ring_store_next,
 * and its sampled AX is v.
 */
void ring_store(volatile uint64_t *p, uint64_t v);
extern const char ring_store_next[];
__asm__(".pushsection .text\n"
	".globl ring_store\n"
	".type ring_store, @function\n"
	"ring_store:\n"
	"	pushq %rbp\n"
	"	movq %rsp, %rbp\n"
	"	movq %rsi, %rax\n"
	"	movq %rax, (%rdi)\n"
	".globl ring_store_next\n"
	"ring_store_next:\n"
	"	popq %rbp\n"
	"	ret\n"
	".size ring_store, .-ring_store\n"
	".popsection\n");

/*
 * ring_mark_store(p, v): the same store with every other general register
 * set to a value of its own first (BX = 0xb, CX = 0xc, DX = 0xd, BP = 0xbb,
 * R8..R15 = 0x8..0x15), so a record that names a register wrongly shows.
 */
void ring_mark_store(volatile uint64_t *p, uint64_t v);
extern const char ring_mark_next[];
__asm__(".pushsection .text\n"
	".globl ring_mark_store\n"
	".type ring_mark_store, @function\n"
	"ring_mark_store:\n"
	"	pushq %rbx\n	pushq %rbp\n	pushq %r12\n"
	"	pushq %r13\n	pushq %r14\n	pushq %r15\n"
	"	movq %rsi, %rax\n	movq $0xb, %rbx\n	movq $0xc, %rcx\n"
	"	movq $0xd, %rdx\n	movq $0xbb, %rbp\n	movq $0x8, %r8\n"
	"	movq $0x9, %r9\n	movq $0x10, %r10\n	movq $0x11, %r11\n"
	"	movq $0x12, %r12\n	movq $0x13, %r13\n	movq $0x14, %r14\n"
	"	movq $0x15, %r15\n"
	"	movq %rax, (%rdi)\n"
	".globl ring_mark_next\n"
	"ring_mark_next:\n"
	"	popq %r15\n	popq %r14\n	popq %r13\n"
	"	popq %r12\n	popq %rbp\n	popq %rbx\n"
	"	ret\n"
	".size ring_mark_store, .-ring_mark_store\n"
	".popsection\n");

/* Stores first, first+1, ... at p: the caller in every callchain. */
__attribute__((noipa)) static void write_n(uint64_t *p, uint64_t first, int n)
{
	for (int i = 0; i < n; i++)
		ring_store(p, first + (uint64_t)i);
}

static bool in_write_n(uint64_t ip)
{
	return ip > (uintptr_t)write_n && ip < (uintptr_t)write_n + 256;
}

/* ---- what the callback saw ---- */

struct seen_rec {
	enum hwbp_record_kind kind;
	struct hwbp *bp;
	void *cookie, *arg;
	uint64_t ip, addr, time_ns, regs_mask, regs[2], all_regs[HWBP_NREGS];
	uint32_t pid, tid, cpu, ppid, ptid, abi, nr_callchain;
	bool chain_has_ip, chain_has_caller, has_regs;
	char comm[17];
};

#define MAX_RECS 4096
static struct seen_rec recs[MAX_RECS];
static int nrecs, dropped;
static int cookie_mark;

static void keep(const struct hwbp_record *r, void *arg)
{
	struct seen_rec *s;

	if (nrecs == MAX_RECS) {
		dropped++;
		return;
	}
	s = &recs[nrecs++];
	*s = (struct seen_rec){
		.kind = r->kind, .bp = r->bp, .cookie = r->cookie, .arg = arg,
		.ip = r->ip, .addr = r->addr, .time_ns = r->time_ns,
		.pid = r->pid, .tid = r->tid, .cpu = r->cpu, .ppid = r->ppid,
		.ptid = r->ptid, .abi = r->abi, .regs_mask = r->regs_mask,
		.nr_callchain = r->nr_callchain, .has_regs = r->regs != NULL,
	};
	for (uint32_t i = 0; r->regs && i < 2 &&
			     i < (uint32_t)__builtin_popcountll(r->regs_mask); i++)
		s->regs[i] = r->regs[i];
	for (int bit = 0, k = 0; r->regs && bit < HWBP_NREGS; bit++)
		if (r->regs_mask & (1ull << bit))
			s->all_regs[bit] = r->regs[k++];
	for (uint32_t i = 0; r->callchain && i < r->nr_callchain; i++) {
		s->chain_has_ip |= r->callchain[i] == (uintptr_t)ring_store_next;
		s->chain_has_caller |= in_write_n(r->callchain[i]);
	}
	if (r->comm)
		snprintf(s->comm, sizeof(s->comm), "%s", r->comm);
}

static int hits(void)
{
	int n = 0;

	for (int i = 0; i < nrecs; i++)
		n += recs[i].kind == HWBP_REC_HIT;
	return n;
}

static struct hwbp *must_ring(uint64_t *p, const struct hwbp_opts *opts)
{
	struct hwbp *bp = NULL;

	cr_assert_eq(hwbp_create(&bp, (uintptr_t)p, 8, HWBP_WRITE, opts), 0,
		     "hwbp_create: %s", hwbp_last_error());
	return bp;
}

static struct hwbp_stats stats_of(struct hwbp *bp)
{
	HWBP_OPTS(hwbp_stats, st);

	cr_assert_eq(hwbp_get_stats(bp, &st), 0, "%s", hwbp_last_error());
	return st;
}

/* A hit record of the calling thread's write of `value` at p. */
static void assert_hit(const struct seen_rec *s, uint64_t *p, int i)
{
	cr_assert_eq(s->kind, HWBP_REC_HIT, "record %d", i);
	cr_assert_eq(s->addr, (uintptr_t)p, "record %d: addr 0x%llx", i,
		     (unsigned long long)s->addr);
	cr_assert_eq(s->ip, (uintptr_t)ring_store_next, "record %d: ip 0x%llx "
		     "is not just after the store (%p)", i,
		     (unsigned long long)s->ip, (void *)ring_store_next);
	cr_assert_eq(s->cookie, &cookie_mark, "record %d: rec->cookie", i);
	cr_assert_eq(s->arg, &cookie_mark, "record %d: callback cookie", i);
	cr_assert_lt(s->cpu, (uint32_t)get_nprocs_conf(), "record %d", i);
}

/* ---- 1. one record per write ---- */

Test(ring, thread_records_every_write)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .cookie = &cookie_mark);
	const int n = 1000;
	struct hwbp_stats st;
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_ring(&var, &opts);
	st = stats_of(bp);
	cr_assert_eq(st.rings, 1, "a thread scope has one ring");
	cr_assert_eq(st.events, 1);
	cr_assert_eq(hwbp_ring_consume(bp), 0, "nothing written yet");
	TU_REQUIRE_HITS();
	write_n(&var, 1, n);
	cr_assert_eq(hwbp_ring_consume(bp), n, "%s", hwbp_last_error());
	cr_assert_eq(nrecs, n, "%d records for %d writes", nrecs, n);
	for (int i = 0; i < n; i++) {
		assert_hit(&recs[i], &var, i);
		cr_assert_eq(recs[i].bp, bp);
		cr_assert_eq(recs[i].tid, (uint32_t)tu_gettid(), "record %d", i);
		cr_assert_eq(recs[i].pid, (uint32_t)getpid(), "record %d", i);
		cr_assert(i == 0 || recs[i].time_ns >= recs[i - 1].time_ns,
			  "record %d goes back in time", i);
	}
	st = stats_of(bp);
	cr_assert_eq(st.records, (uint64_t)n);
	cr_assert_eq(st.lost, 0);
	cr_assert_eq(hwbp_ring_consume(bp), 0, "each record once");
	cr_assert_eq(hwbp_close(bp), 0);
}

/* ---- 2. sampled registers: AX holds the value the store wrote ---- */

Test(ring, regs_hold_the_value_stored)
{
	const uint64_t mask = (1ull << PERF_REG_X86_AX) |
			      (1ull << PERF_REG_X86_IP);
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .cookie = &cookie_mark,
		  .sample = HWBP_SAMPLE_REGS, .regs_mask = mask);
	const int n = 300;
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_ring(&var, &opts);
	TU_REQUIRE_HITS();
	write_n(&var, 5000, n);
	cr_assert_eq(hwbp_ring_consume(bp), n, "%s", hwbp_last_error());
	for (int i = 0; i < n; i++) {
		assert_hit(&recs[i], &var, i);
		cr_assert_eq(recs[i].abi, PERF_SAMPLE_REGS_ABI_64, "record %d", i);
		cr_assert(recs[i].has_regs, "record %d: no regs", i);
		cr_assert_eq(recs[i].regs_mask, mask, "record %d", i);
		cr_assert_eq(recs[i].regs[0], 5000 + (uint64_t)i,
			     "record %d: AX %llu", i,
			     (unsigned long long)recs[i].regs[0]);
		cr_assert_eq(recs[i].regs[1], (uintptr_t)ring_store_next,
			     "record %d: IP register", i);
	}
	hwbp_close(bp);
}

/* ---- 3. callchains reach the caller of the writer ---- */

Test(ring, callchain_reaches_caller)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .cookie = &cookie_mark,
		  .sample = HWBP_SAMPLE_CALLCHAIN);
	const int n = 100;
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_ring(&var, &opts);
	TU_REQUIRE_HITS();
	write_n(&var, 0, n);
	cr_assert_eq(hwbp_ring_consume(bp), n, "%s", hwbp_last_error());
	for (int i = 0; i < n; i++) {
		assert_hit(&recs[i], &var, i);
		cr_assert_geq(recs[i].nr_callchain, 2, "record %d", i);
		cr_assert(recs[i].chain_has_ip, "record %d: the ip is not in "
			  "the callchain", i);
		cr_assert(recs[i].chain_has_caller, "record %d: no entry in "
			  "write_n (%p)", i, (void *)(uintptr_t)write_n);
	}
	hwbp_close(bp);
}

/* ---- 4. a process ring follows new threads and children ---- */

#define T_WRITES 300
#define C_WRITES 200
#define M_WRITES 100

static _Atomic pid_t thread_tid;

static void *thread_writer(void *arg)
{
	(void)arg;
	thread_tid = tu_gettid();
	prctl(PR_SET_NAME, "ringthread");
	write_n(&var, 0, T_WRITES);
	return NULL;
}

static pid_t fork_writer(void)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, "ringchild");
		write_n(&var, 0, C_WRITES);
		_exit(0);
	}
	return pid;
}

static int count_kind(enum hwbp_record_kind kind, pid_t pid, pid_t tid)
{
	int n = 0;

	for (int i = 0; i < nrecs; i++)
		n += recs[i].kind == kind && recs[i].pid == (uint32_t)pid &&
		     recs[i].tid == (uint32_t)tid;
	return n;
}

static const struct seen_rec *find_kind(enum hwbp_record_kind kind, pid_t tid)
{
	for (int i = 0; i < nrecs; i++)
		if (recs[i].kind == kind && recs[i].tid == (uint32_t)tid)
			return &recs[i];
	return NULL;
}

/* pthread_join returns before the kernel writes the thread's EXIT record
 * (the tid is cleared earlier in do_exit): wait for it. */
static void consume_until_exit(struct hwbp *bp, pid_t tid)
{
	for (int i = 0; i < 50 && !find_kind(HWBP_REC_EXIT, tid); i++)
		cr_assert_geq(hwbp_ring_poll(bp, 100), 0, "%s",
			      hwbp_last_error());
}

static void assert_task_records(pid_t child)
{
	pid_t me = getpid(), self = tu_gettid(), t = thread_tid;
	const struct seen_rec *r;

	cr_assert_eq(dropped, 0);
	cr_assert_eq(count_kind(HWBP_REC_FORK, me, t), 1, "FORK of thread %d", t);
	r = find_kind(HWBP_REC_FORK, t);
	cr_assert(r->ppid == (uint32_t)me && r->ptid == (uint32_t)self,
		  "thread FORK parent %u/%u", r->ppid, r->ptid);
	cr_assert_eq(count_kind(HWBP_REC_COMM, me, t), 1, "COMM of thread %d", t);
	cr_assert_str_eq(find_kind(HWBP_REC_COMM, t)->comm, "ringthread");
	cr_assert_eq(count_kind(HWBP_REC_EXIT, me, t), 1, "EXIT of thread %d", t);

	cr_assert_eq(count_kind(HWBP_REC_FORK, child, child), 1, "FORK of %d",
		     child);
	r = find_kind(HWBP_REC_FORK, child);
	cr_assert(r->ppid == (uint32_t)me && r->ptid == (uint32_t)self,
		  "child FORK parent %u/%u", r->ppid, r->ptid);
	cr_assert_eq(count_kind(HWBP_REC_COMM, child, child), 1);
	cr_assert_str_eq(find_kind(HWBP_REC_COMM, child)->comm, "ringchild");
	cr_assert_eq(count_kind(HWBP_REC_EXIT, child, child), 1, "EXIT of %d",
		     child);
	cr_assert_eq(find_kind(HWBP_REC_EXIT, child)->ppid, (uint32_t)me);
	for (int i = 0; i < nrecs; i++)
		cr_assert(recs[i].cookie == &cookie_mark &&
			  recs[i].arg == &cookie_mark && recs[i].bp,
			  "record %d (kind %d): cookie/bp", i, recs[i].kind);
}

/* Writes from this thread, a new thread and a forked child: bp (a process
 * ring with task_events) has every hit of each, and their task records. */
static void assert_follows_threads_and_children(struct hwbp *bp)
{
	pthread_t t;
	pid_t child;
	int status;

	write_n(&var, 0, M_WRITES);
	cr_assert_eq(pthread_create(&t, NULL, thread_writer, NULL), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	child = fork_writer();
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child "
		  "status 0x%x", status);
	consume_until_exit(bp, thread_tid);
	assert_task_records(child);

	TU_REQUIRE_HITS();
	cr_assert_eq(count_kind(HWBP_REC_HIT, getpid(), tu_gettid()), M_WRITES);
	cr_assert_eq(count_kind(HWBP_REC_HIT, getpid(), thread_tid), T_WRITES);
	cr_assert_eq(count_kind(HWBP_REC_HIT, child, child), C_WRITES);
	cr_assert_eq(hits(), M_WRITES + T_WRITES + C_WRITES);
	for (int i = 0; i < nrecs; i++)
		if (recs[i].kind == HWBP_REC_HIT)
			assert_hit(&recs[i], &var, i);
}

Test(ring, process_follows_threads_and_children)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .cookie = &cookie_mark,
		  .scope = HWBP_SCOPE_PROCESS, .task_events = true);
	struct hwbp_stats st;
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_ring(&var, &opts);
	cr_assert_eq(stats_of(bp).rings, (uint32_t)get_nprocs(),
		     "one ring per online CPU");
	assert_follows_threads_and_children(bp);
	st = stats_of(bp);
	cr_assert_eq(st.records, M_WRITES + T_WRITES + C_WRITES);
	cr_assert_eq(st.lost, 0);
	hwbp_close(bp);
}

/* ---- 5. the pollable fd ---- */

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

Test(ring, fd_pollable)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .cookie = &cookie_mark);
	struct epoll_event ev = { .events = EPOLLIN }, got;
	struct pollfd pfd = { .events = POLLIN };
	struct timespec t0;
	struct hwbp *bp;
	int ep;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_ring(&var, &opts);
	pfd.fd = hwbp_ring_fd(bp);
	cr_assert_geq(pfd.fd, 0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_ring_fd(bp), pfd.fd, "the same fd each time");
	cr_assert_eq(poll(&pfd, 1, 50), 0, "readable with nothing written");
	ep = epoll_create1(EPOLL_CLOEXEC);
	cr_assert_geq(ep, 0);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, pfd.fd, &ev), 0);
	cr_assert_eq(epoll_wait(ep, &got, 1, 50), 0);
	cr_assert_eq(hwbp_ring_poll(bp, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(hwbp_ring_poll(bp, 60), 0);
	cr_assert_geq(ms_since(&t0), 50, "hwbp_ring_poll(60) waited %ld ms",
		      ms_since(&t0));

	TU_REQUIRE_HITS();
	write_n(&var, 0, 10);
	cr_assert_eq(poll(&pfd, 1, 2000), 1, "not readable after 10 hits");
	cr_assert(pfd.revents & POLLIN);
	cr_assert_eq(hwbp_ring_consume(bp), 10);
	write_n(&var, 0, 5);
	cr_assert_eq(epoll_wait(ep, &got, 1, 2000), 1, "epoll: not readable");
	cr_assert_eq(hwbp_ring_poll(bp, 0), 5);
	cr_assert_eq(nrecs, 15);
	close(ep);
	hwbp_close(bp);
}

/* ---- 6. a full ring: every write is a record or counted lost ---- */

Test(ring, overload_counts_every_drop)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .cookie = &cookie_mark, .ring_pages = 1,
		  .wakeup_events = 1000000);
	const int w = 20000;
	struct hwbp_stats st;
	struct hwbp *bp;
	uint64_t count = 0;
	int first;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_ring(&var, &opts);
	cr_assert_eq(stats_of(bp).rings, 1);
	TU_REQUIRE_HITS();
	write_n(&var, 0, w);
	first = hwbp_ring_consume(bp);
	cr_assert(first > 0 && first < w, "a 1-page ring held %d of %d",
		  first, w);
	/* With PERF_FORMAT_LOST the drops are known at once. */
	if (tu_probe().lost_count) {
		st = stats_of(bp);
		cr_assert_eq(st.records + st.lost, (uint64_t)w,
			     "before any LOST record: records %llu + lost %llu",
			     (unsigned long long)st.records,
			     (unsigned long long)st.lost);
	}
	/* The kernel reports the drops in a LOST record written with the
	 * next record that fits: one more write brings it. */
	write_n(&var, 0, 1);
	cr_assert_eq(hwbp_ring_consume(bp), 1);
	st = stats_of(bp);
	cr_assert_eq(st.records, (uint64_t)first + 1);
	cr_assert_gt(st.lost, 0);
	cr_assert_eq(st.records + st.lost, (uint64_t)w + 1,
		     "records %llu + lost %llu != writes %d",
		     (unsigned long long)st.records,
		     (unsigned long long)st.lost, w + 1);
	cr_assert_eq(hwbp_read_count(bp, &count), 0);
	cr_assert_eq(count, (uint64_t)w + 1, "the count has every hit");
	cr_assert_eq(nrecs, first + 1);
	hwbp_close(bp);
}

/* ---- 7. bad options and calls (test_errors.c has no cb, pages 3) ---- */

static void assert_create_fails(const struct hwbp_opts *opts, int err,
				const char *msg)
{
	struct hwbp *bp = (struct hwbp *)&var;

	TU_ASSERT_ERR(hwbp_create(&bp, (uintptr_t)&var, 8, HWBP_WRITE, opts),
		      err);
	cr_assert_null(bp);
	cr_assert(strstr(hwbp_last_error(), msg), "\"%s\" lacks \"%s\"",
		  hwbp_last_error(), msg);
}

Test(ring, bad_options)
{
	cpu_set_t cpu0;
	int fds;

	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	TU_REQUIRE_BREAKPOINTS();
	fds = tu_open_fds();
#define R(...) &(struct hwbp_opts){ .sz = sizeof(struct hwbp_opts),        \
				    .delivery = HWBP_DELIVER_RING,         \
				    .on_record = keep, __VA_ARGS__ }
	assert_create_fails(R(.ring_pages = 6), -EINVAL, "power of 2");
	assert_create_fails(R(.ring_pages = 1u << 17), -EINVAL, "over 65536");
	assert_create_fails(R(.sample = 1u << 5), -EINVAL, "unknown bits");
	assert_create_fails(R(.sample = HWBP_SAMPLE_REGS), -EINVAL, "regs_mask");
	assert_create_fails(R(.sample = HWBP_SAMPLE_STACK), -EINVAL,
			    "stack_size");
	assert_create_fails(R(.sample = HWBP_SAMPLE_STACK, .stack_size = 12),
			    -EINVAL, "stack_size");
	assert_create_fails(R(.sample = HWBP_SAMPLE_STACK, .stack_size = 65536),
			    -EINVAL, "stack_size");
	assert_create_fails(R(.task_events = true, .scope = HWBP_SCOPE_CPUS,
			      .cpus = &cpu0, .cpus_size = sizeof(cpu0)),
			    -EINVAL, "task_events");
#undef R
	cr_assert_eq(tu_open_fds(), fds, "fds leaked by failed creates");
}

static void noop_hit(const struct hwbp_hit *h, void *uc)
{
	(void)h, (void)uc;
}

Test(ring, ring_calls_on_other_handles)
{
	HWBP_OPTS(hwbp_opts, sig, .delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = noop_hit);
	HWBP_OPTS(hwbp_opts, ring, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep);
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	/* COUNT delivery: poll is in test_errors.c; fd and consume here. */
	bp = must_ring(&var, NULL);
	TU_ASSERT_ERR(hwbp_ring_fd(bp), -EINVAL);
	TU_ASSERT_ERR(hwbp_ring_consume(bp), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "no ring"), "%s",
		  hwbp_last_error());
	hwbp_close(bp);
	TU_REQUIRE_SIGTRAP();
	bp = must_ring(&var, &sig);
	TU_ASSERT_ERR(hwbp_ring_poll(bp, 0), -EINVAL);
	TU_ASSERT_ERR(hwbp_ring_fd(bp), -EINVAL);
	hwbp_close(bp);
	/* A closed ring handle: -EBADF, as every other function says. */
	bp = must_ring(&var, &ring);
	cr_assert_eq(hwbp_close(bp), 0);
	TU_ASSERT_ERR(hwbp_ring_fd(bp), -EBADF);
	TU_ASSERT_ERR(hwbp_ring_poll(bp, 0), -EBADF);
	TU_ASSERT_ERR(hwbp_ring_consume(bp), -EBADF);
}

/* ---- 8. create/close cycles leave no fd, mapping or register ---- */

static void ring_cycles(const struct hwbp_opts *opts, int n)
{
	int fds = tu_open_fds(), maps = tu_mappings();

	for (int i = 0; i < n; i++) {
		struct hwbp *bp = must_ring(&var, opts);

		if (i % 3 == 0)
			cr_assert_eq(hwbp_move(bp, (uintptr_t)&other, 8,
					       HWBP_RW), 0, "%s",
				     hwbp_last_error());
		cr_assert_geq(hwbp_ring_consume(bp), 0);
		cr_assert_eq(hwbp_close(bp), 0);
	}
	tu_assert_nothing_left(fds, maps);
}

Test(ring, leak_500_thread_cycles)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .ring_pages = 4,
		  .sample = HWBP_SAMPLE_CALLCHAIN);

	TU_REQUIRE_BREAKPOINTS();
	ring_cycles(&opts, 500);
}

Test(ring, leak_500_process_cycles)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .scope = HWBP_SCOPE_PROCESS,
		  .task_events = true);

	TU_REQUIRE_BREAKPOINTS();
	ring_cycles(&opts, 500);
}

/* ---- 9. after a move, records carry the new address ---- */

static void move_ring(enum hwbp_rearm rearm)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .cookie = &cookie_mark, .rearm = rearm);
	struct hwbp_stats st;
	struct hwbp *bp = must_ring(&var, &opts);

	write_n(&var, 0, 20);
	cr_assert_eq(hwbp_move(bp, (uintptr_t)&other, 8, HWBP_WRITE), 0, "%s",
		     hwbp_last_error());
	st = stats_of(bp);
	cr_assert_eq(st.moves, 1);
	cr_assert_eq(st.reopens, rearm == HWBP_REARM_REOPEN ? 1 : 0);
	cr_assert_eq(st.rings, 1, "a move keeps the ring");
	TU_REQUIRE_HITS();
	write_n(&var, 0, 30); /* the old placement: no records */
	write_n(&other, 0, 25);
	cr_assert_eq(hwbp_ring_consume(bp), 45, "%s", hwbp_last_error());
	for (int i = 0; i < 45; i++)
		assert_hit(&recs[i], i < 20 ? &var : &other, i);
	hwbp_close(bp);
}

Test(ring, move_modify_new_address)
{
	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_MODIFY();
	move_ring(HWBP_REARM_MODIFY);
}

Test(ring, move_reopen_new_address)
{
	TU_REQUIRE_BREAKPOINTS();
	move_ring(HWBP_REARM_REOPEN);
}

/* ---- 10. samples written by a BPF program at the trap ---- */

/* perf's x86-64 user registers that hwbp watch samples (AX..FLAGS,
 * R8..R15). */
#define ALL_GPRS (0x3ffull | (0xffull << 16))

static uint64_t ns_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static enum hwbp_rearm bpf_rearm; /* how must_bpf_ring's handle moves */

/* A process-scope ring handle on var with BPF samples, or a skip that
 * says why the kernel refused them. */
static struct hwbp *must_bpf_ring(uint64_t *p, uint32_t pages)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .rearm = bpf_rearm,
		  .on_record = keep, .cookie = &cookie_mark,
		  .scope = HWBP_SCOPE_PROCESS, .task_events = true,
		  .sample = HWBP_SAMPLE_REGS, .regs_mask = ALL_GPRS,
		  .bpf_samples = true, .ring_pages = pages,
		  .wakeup_events = pages < 8 ? 1000000 : 1);
	struct hwbp *bp = must_ring(p, &opts);
	struct hwbp_stats st = stats_of(bp);

	if (st.bpf != 1) {
		cr_assert_lt(st.bpf, 0, "bpf %d: neither used nor refused",
			     st.bpf);
		cr_assert_not_null(st.bpf_why, "a refusal without a reason");
		cr_assert_not(tu_probe().bpf_samples, "the probe says BPF "
			      "samples work, the handle got %d: %s", st.bpf,
			      st.bpf_why);
		hwbp_close(bp);
		TU_REQUIRE(false, st.bpf_why);
	}
	cr_assert(tu_probe().bpf_samples, "BPF samples work, the probe says "
		  "no");
	cr_assert_null(st.bpf_why);
	return bp;
}

/* Pinned to cpu: the writes hit one ring, in order. */
static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0);
}

Test(ring, bpf_records_hold_the_trap_registers)
{
	const int n = 500;
	uint64_t t0, t1;
	struct hwbp_stats st;
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_bpf_ring(&var, 64);
	TU_REQUIRE_HITS();
	pin_to(0);
	t0 = ns_now();
	write_n(&var, 7000, n);
	t1 = ns_now();
	cr_assert_eq(hwbp_ring_consume(bp), n, "%s", hwbp_last_error());
	cr_assert_eq(hits(), n);
	for (int i = 0, h = 0; i < nrecs; i++) {
		const struct seen_rec *s = &recs[i];

		if (s->kind != HWBP_REC_HIT)
			continue;
		assert_hit(s, &var, i);
		cr_assert_eq(s->pid, (uint32_t)getpid());
		cr_assert_eq(s->tid, (uint32_t)tu_gettid());
		cr_assert_eq(s->cpu, 0, "record %d: cpu %u, pinned to 0", i,
			     s->cpu);
		cr_assert(s->time_ns >= t0 && s->time_ns <= t1, "record %d: "
			  "time %llu outside the writes' CLOCK_MONOTONIC "
			  "[%llu, %llu]", i, (unsigned long long)s->time_ns,
			  (unsigned long long)t0, (unsigned long long)t1);
		cr_assert_eq(s->abi, PERF_SAMPLE_REGS_ABI_64);
		cr_assert_eq(s->regs_mask, ALL_GPRS);
		cr_assert_eq(s->all_regs[PERF_REG_X86_AX], 7000 + (uint64_t)h,
			     "record %d: AX", i);
		cr_assert_eq(s->all_regs[PERF_REG_X86_SI], 7000 + (uint64_t)h);
		cr_assert_eq(s->all_regs[PERF_REG_X86_DI], (uintptr_t)&var);
		cr_assert_eq(s->all_regs[PERF_REG_X86_IP],
			     (uintptr_t)ring_store_next);
		cr_assert_eq(s->all_regs[PERF_REG_X86_BP],
			     s->all_regs[PERF_REG_X86_SP], "record %d: ring_store"
			     " set BP = SP", i);
		h++;
	}
	st = stats_of(bp);
	cr_assert_eq(st.records, (uint64_t)n);
	cr_assert_eq(st.lost, 0);
	hwbp_close(bp);
}

/* Two registers on var, one sampled by BPF and one by perf: the same hits,
 * field for field (time aside: each stamps its own). */
Test(ring, bpf_records_equal_perfs)
{
	static struct seen_rec mine[600];
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .cookie = &cookie_mark,
		  .scope = HWBP_SCOPE_PROCESS, .sample = HWBP_SAMPLE_REGS,
		  .regs_mask = ALL_GPRS);
	struct hwbp *bpf, *perf;
	int nb, np, hb = 0, hp = 0;
	uint64_t cb = 0, cp = 0;

	TU_REQUIRE_BREAKPOINTS();
	bpf = must_bpf_ring(&var, 64);
	perf = must_ring(&var, &opts);
	cr_assert_eq(stats_of(perf).bpf, 0, "not asked: perf samples");
	TU_REQUIRE_HITS();
	write_n(&var, 100, 300);
	hb = hwbp_ring_consume(bpf);
	nb = nrecs;
	memcpy(mine, recs, sizeof(*recs) * (size_t)nrecs);
	nrecs = 0;
	hp = hwbp_ring_consume(perf);
	np = nrecs;
	cr_assert(hwbp_read_count(bpf, &cb) == 0 &&
		  hwbp_read_count(perf, &cp) == 0);
	/* (QEMU's TCG reports one register of two on the same address) */
	if (cb != 300 || cp != 300)
		cr_skip_test("skipped: two registers on one address: the CPU "
			     "reported %llu and %llu of 300 traps",
			     (unsigned long long)cb, (unsigned long long)cp);
	cr_assert(hb == 300 && hp == 300, "hit records: bpf %d, perf %d of "
		  "300", hb, hp);
	hb = hp = 0;
	while (hb < nb || hp < np) {
		const struct seen_rec *a, *b;

		while (hb < nb && mine[hb].kind != HWBP_REC_HIT)
			hb++;
		while (hp < np && recs[hp].kind != HWBP_REC_HIT)
			hp++;
		if (hb == nb || hp == np)
			break;
		a = &mine[hb++];
		b = &recs[hp++];
		cr_assert(a->ip == b->ip && a->addr == b->addr &&
			  a->pid == b->pid && a->tid == b->tid &&
			  a->cpu == b->cpu && a->abi == b->abi &&
			  a->regs_mask == b->regs_mask,
			  "hit %d: bpf and perf differ", hb);
		for (int r = 0; r < HWBP_NREGS; r++)
			cr_assert_eq(a->all_regs[r], b->all_regs[r],
				     "hit %d: register %d: bpf 0x%llx, perf "
				     "0x%llx", hb, r,
				     (unsigned long long)a->all_regs[r],
				     (unsigned long long)b->all_regs[r]);
	}
	cr_assert(hb == nb && hp == np, "hits left: bpf %d of %d, perf %d of "
		  "%d", hb, nb, hp, np);
	hwbp_close(perf);
	hwbp_close(bpf);
}

/* A one-page ring: every hit is a record or counted lost by the program,
 * exactly and at once (no later record needed), per CPU too. */
Test(ring, bpf_full_ring_counts_every_drop_at_once)
{
	HWBP_OPTS(hwbp_ring_stat, rs);
	const int w = 20000;
	struct hwbp_stats st;
	struct hwbp *bp;
	int first;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_bpf_ring(&var, 1);
	TU_REQUIRE_HITS();
	pin_to(0);
	write_n(&var, 0, w);
	first = hwbp_ring_consume(bp);
	cr_assert(first > 0 && first < w, "a 1-page ring held %d of %d",
		  first, w);
	st = stats_of(bp);
	cr_assert_eq(st.records, (uint64_t)first);
	cr_assert_eq(st.records + st.lost, (uint64_t)w, "records %llu + lost "
		     "%llu != writes %d", (unsigned long long)st.records,
		     (unsigned long long)st.lost, w);
	cr_assert_eq(hwbp_ring_stat_cpu(bp, 0, &rs), 0, "%s",
		     hwbp_last_error());
	cr_assert(rs.lost_known);
	cr_assert_eq(rs.lost, st.lost, "CPU 0 has every drop");
	write_n(&var, 0, 1);
	cr_assert_eq(hwbp_ring_consume(bp), 1);
	st = stats_of(bp);
	cr_assert_eq(st.records + st.lost, (uint64_t)w + 1, "a LOST record "
		     "counted twice?");
	hwbp_close(bp);
}

/* The program goes with the event into new threads and forked children. */
Test(ring, bpf_follows_threads_and_children)
{
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_bpf_ring(&var, 64);
	assert_follows_threads_and_children(bp);
	for (int i = 0; i < nrecs; i++)
		if (recs[i].kind == HWBP_REC_HIT)
			cr_assert_eq(recs[i].all_regs[PERF_REG_X86_IP],
				     (uintptr_t)ring_store_next);
	cr_assert_eq(stats_of(bp).lost, 0);
	hwbp_close(bp);
}

/* Options it cannot serve: perf samples, and the reason is given. */
Test(ring, bpf_refuses_what_it_cannot_serve)
{
	HWBP_OPTS(hwbp_opts, thread, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .sample = HWBP_SAMPLE_REGS,
		  .regs_mask = ALL_GPRS, .bpf_samples = true);
	HWBP_OPTS(hwbp_opts, stack, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .scope = HWBP_SCOPE_PROCESS,
		  .sample = HWBP_SAMPLE_REGS | HWBP_SAMPLE_STACK,
		  .regs_mask = ALL_GPRS, .stack_size = 1024,
		  .bpf_samples = true);
	HWBP_OPTS(hwbp_opts, count, .bpf_samples = true);
	struct hwbp_stats st;
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_ring(&var, &thread);
	st = stats_of(bp);
	cr_assert_eq(st.bpf, -EOPNOTSUPP);
	cr_assert(st.bpf_why && strstr(st.bpf_why, "ring per CPU"), "%s",
		  st.bpf_why);
	TU_REQUIRE_HITS();
	write_n(&var, 40, 3);
	cr_assert_eq(hwbp_ring_consume(bp), 3, "perf samples instead");
	cr_assert_eq(recs[2].regs[0], 42, "AX of the third write");
	hwbp_close(bp);
	bp = must_ring(&var, &stack);
	st = stats_of(bp);
	cr_assert_eq(st.bpf, -EOPNOTSUPP);
	cr_assert(st.bpf_why && strstr(st.bpf_why, "no stack"), "%s",
		  st.bpf_why);
	hwbp_close(bp);
	assert_create_fails(&count, -EINVAL, "bpf_samples");
}

/* Each register lands in its own slot: values no two registers share. */
Test(ring, bpf_names_every_register)
{
	static const struct { int reg; uint64_t v; } want[] = {
		{ PERF_REG_X86_BX, 0xb }, { PERF_REG_X86_CX, 0xc },
		{ PERF_REG_X86_DX, 0xd }, { PERF_REG_X86_BP, 0xbb },
		{ PERF_REG_X86_R8, 0x8 }, { PERF_REG_X86_R9, 0x9 },
		{ PERF_REG_X86_R10, 0x10 }, { PERF_REG_X86_R11, 0x11 },
		{ PERF_REG_X86_R12, 0x12 }, { PERF_REG_X86_R13, 0x13 },
		{ PERF_REG_X86_R14, 0x14 }, { PERF_REG_X86_R15, 0x15 },
	};
	uint64_t sp;
	struct hwbp *bp;
	const struct seen_rec *s;

	TU_REQUIRE_BREAKPOINTS();
	bp = must_bpf_ring(&var, 64);
	TU_REQUIRE_HITS();
	__asm__ volatile("movq %%rsp, %0" : "=r"(sp));
	ring_mark_store(&var, 0xa5a5);
	cr_assert_eq(hwbp_ring_consume(bp), 1, "%s", hwbp_last_error());
	s = &recs[nrecs - 1];
	cr_assert_eq(s->kind, HWBP_REC_HIT);
	cr_assert_eq(s->ip, (uintptr_t)ring_mark_next);
	cr_assert_eq(s->all_regs[PERF_REG_X86_IP], (uintptr_t)ring_mark_next);
	cr_assert_eq(s->all_regs[PERF_REG_X86_AX], 0xa5a5);
	cr_assert_eq(s->all_regs[PERF_REG_X86_SI], 0xa5a5);
	cr_assert_eq(s->all_regs[PERF_REG_X86_DI], (uintptr_t)&var);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_eq(s->all_regs[want[i].reg], want[i].v, "register "
			     "%d: 0x%llx, want 0x%llx", want[i].reg,
			     (unsigned long long)s->all_regs[want[i].reg],
			     (unsigned long long)want[i].v);
	/* six pushes and the return address below the caller's SP */
	cr_assert(s->all_regs[PERF_REG_X86_SP] < sp &&
		  s->all_regs[PERF_REG_X86_SP] >= sp - 4096, "SP 0x%llx, "
		  "caller's 0x%llx", (unsigned long long)s->all_regs[PERF_REG_X86_SP],
		  (unsigned long long)sp);
	cr_assert(s->all_regs[PERF_REG_X86_FLAGS] & 0x2, "FLAGS bit 1 is "
		  "always set");
	hwbp_close(bp);
}

/* A move keeps the program: modified in place, or on the reopened events. */
static void bpf_move(enum hwbp_rearm rearm)
{
	struct hwbp_stats st;
	struct hwbp *bp;
	int n;

	TU_REQUIRE_BREAKPOINTS();
	bpf_rearm = rearm;
	bp = must_bpf_ring(&var, 64);
	TU_REQUIRE_HITS();
	write_n(&var, 0, 20);
	cr_assert_eq(hwbp_move(bp, (uintptr_t)&other, 8, HWBP_WRITE), 0, "%s",
		     hwbp_last_error());
	write_n(&var, 0, 30); /* the old placement: no records */
	write_n(&other, 500, 25);
	n = hwbp_ring_consume(bp);
	cr_assert_eq(n, 45, "%d hits: %s", n, hwbp_last_error());
	for (int i = 0, h = 0; i < nrecs; i++) {
		if (recs[i].kind != HWBP_REC_HIT)
			continue;
		assert_hit(&recs[i], h < 20 ? &var : &other, i);
		cr_assert_eq(recs[i].all_regs[PERF_REG_X86_AX],
			     h < 20 ? (uint64_t)h : 500 + (uint64_t)h - 20);
		h++;
	}
	st = stats_of(bp);
	cr_assert_eq(st.bpf, 1, "still the program's samples");
	cr_assert_eq(st.reopens, rearm == HWBP_REARM_REOPEN ? 1 : 0);
	hwbp_close(bp);
}

Test(ring, bpf_move_modify)
{
	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_MODIFY();
	bpf_move(HWBP_REARM_MODIFY);
}

Test(ring, bpf_move_reopen)
{
	bpf_move(HWBP_REARM_REOPEN);
}
