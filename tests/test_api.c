/* SPDX-License-Identifier: MIT */
/*
 * test_api.c - every public function of libhwbp with bad arguments, as one
 * table: each row calls a function and gives the result it must return and
 * a piece of the message hwbp_last_error() must then hold.  The table is
 * checked against src/libhwbp.map: a function the library exports without
 * a row here fails api/every_export_has_a_row.  Around the whole table: no
 * fd, mapping or debug register left behind, and the handles the rows were
 * given still work as before (a failed move does not move).
 *
 * Adding a row is one line anywhere in this file:
 *   ROW(fn, "what is bad", -EINVAL, "piece of the message", (args...));
 * calls fn(args...) on a fresh fixture `f` (an open breakpoint f->bp, a
 * closed one f->closed, a scheduler f->sched with a live watch f->watch and
 * a removed one f->removed, a closed scheduler f->closed_sched and its
 * watch f->closed_watch, *out slots f->out_bp, f->out_sched, f->out_watch
 * that must come back NULL, f->dead_pid, scratch buffers).  The message
 * may be NULL where the function sets none (async-signal-safe decoders).
 * Functions that cannot fail (void, bool, a string) take
 *   ODD(fn, "what is odd", expression that must be true);
 * and older()/newer() make the sized structs of older and newer callers.
 */
#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <ucontext.h>

#include <criterion/logging.h>

#include "testutil.h"

struct fx {
	struct hwbp *bp, *closed;
	struct hwbp_sched *sched, *closed_sched;
	struct hwbp_watch *watch, *removed, *closed_watch;
	struct hwbp *out_bp;
	struct hwbp_sched *out_sched;
	struct hwbp_watch *out_watch;
	struct hwbp_sampler *sampler, *out_sampler, *closed_sampler;
	pid_t dead_pid;
	uint64_t n;
	char buf[512] __attribute__((aligned(16)));
	uint64_t regs[HWBP_NREGS];
	struct hwbp_insn_info info;
	struct hwbp_piece pieces[4];
	ucontext_t uc;
};

struct row {
	const char *fn;   /* the exported function the row is about */
	const char *what; /* what is wrong with the arguments */
	int want;         /* the result: a negative errno, 0, or true (ODD) */
	const char *msg;  /* a piece of hwbp_last_error(); NULL: none set */
	const char *args; /* the call as written (for failures) */
	int (*call)(struct fx *f);
	int line;
	bool odd;         /* ODD: args is an expression that must be true */
};

#define ROW_(n, FN, WHAT, WANT, MSG, ARGS)                                     \
	static int row_call_##n(struct fx *f)                                  \
	{                                                                      \
		(void)f;                                                       \
		return (int)FN ARGS;                                           \
	}                                                                      \
	static const struct row row_##n = { #FN, WHAT, WANT, MSG, #ARGS,      \
					    row_call_##n, n, false };          \
	static const struct row *const row_ptr_##n                             \
		__attribute__((used, section("hwbp_api_rows"))) = &row_##n
#define ODD_(n, FN, WHAT, EXPR)                                                \
	static int row_call_##n(struct fx *f)                                  \
	{                                                                      \
		(void)f;                                                       \
		return !!(EXPR);                                               \
	}                                                                      \
	static const struct row row_##n = { #FN, WHAT, 1, NULL, #EXPR,        \
					    row_call_##n, n, true };           \
	static const struct row *const row_ptr_##n                             \
		__attribute__((used, section("hwbp_api_rows"))) = &row_##n
#define ROW__(n, ...) ROW_(n, __VA_ARGS__)
#define ODD__(n, ...) ODD_(n, __VA_ARGS__)
#define ROW(...) ROW__(__LINE__, __VA_ARGS__)
#define ODD(...) ODD__(__LINE__, __VA_ARGS__)

extern const struct row *const __start_hwbp_api_rows[];
extern const struct row *const __stop_hwbp_api_rows[];

static uint64_t word, word2;
static uint8_t bytes[16] __attribute__((aligned(16)));
static cpu_set_t no_cpus, cpu_1000, cpu_0;
static const uint8_t nop[] = { 0x90 };
static const uint8_t movabs[] = { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t invalid[] = { 0x06 }; /* push es: not in 64-bit */

#define W ((uintptr_t)&word)
#define ODD_ADDR ((uintptr_t)&bytes[1])
#define KADDR 0xffffffff81000000ull
/* opts with sz set, as HWBP_OPTS makes them */
#define O(...) (&(struct hwbp_opts){ .sz = sizeof(struct hwbp_opts), __VA_ARGS__ })
#define SO(...)                                                                \
	(&(struct hwbp_sched_opts){ .sz = sizeof(struct hwbp_sched_opts),      \
				    __VA_ARGS__ })

static void noop_hit(const struct hwbp_hit *h, void *uc)
{
	(void)h, (void)uc;
}

static void noop_record(const struct hwbp_record *r, void *c)
{
	(void)r, (void)c;
}

static int noop_sample(const struct hwbp_sampler_hit *h, void *c)
{
	(void)h, (void)c;
	return HWBP_SAMPLER_RELEASE;
}

#define SMO(...)                                                               \
	(&(struct hwbp_sampler_opts){ .sz = sizeof(struct hwbp_sampler_opts),  \
				      __VA_ARGS__ })
#define SAMPLE(ADDR, LEN, ACCESS)                                              \
	(&(struct hwbp_sample){ .addr = (ADDR), .len = (LEN),                  \
				.access = (ACCESS) })

/* A struct of `known` bytes from a caller built against a header where it
 * is 16 bytes longer and sets a field the library does not know. */
static void *newer(struct fx *f, size_t known)
{
	memset(f->buf, 0, sizeof(f->buf));
	*(size_t *)f->buf = known + 16;
	f->buf[known + 8] = 1;
	return f->buf;
}

/* A struct whose sz is `sz`, the rest zero (sz < 8: not a struct at all). */
static void *older(struct fx *f, size_t sz)
{
	memset(f->buf, 0, sizeof(f->buf));
	*(size_t *)f->buf = sz;
	return f->buf;
}

/* ---- the rows ---- */

/* hwbp_create: the placement */
ROW(hwbp_create, "out NULL", -EINVAL, "out is NULL", (NULL, W, 8, HWBP_WRITE, NULL));
ROW(hwbp_create, "address 0", -EINVAL, "address 0", (&f->out_bp, 0, 8, HWBP_WRITE, NULL));
ROW(hwbp_create, "kernel address, opts.kernel unset", -EINVAL, "is a kernel address", (&f->out_bp, KADDR, 8, HWBP_WRITE, NULL));
ROW(hwbp_create, "range wraps", -EINVAL, "wraps", (&f->out_bp, 0xfffffffffffffff8ull, 8, HWBP_WRITE, O(.kernel = 1)));
ROW(hwbp_create, "len 3", -EINVAL, "1, 2, 4 or 8", (&f->out_bp, W, 3, HWBP_WRITE, NULL));
ROW(hwbp_create, "len 16", -EINVAL, "1, 2, 4 or 8", (&f->out_bp, W, 16, HWBP_WRITE, NULL));
ROW(hwbp_create, "len 0 write", -EINVAL, "1, 2, 4 or 8", (&f->out_bp, W, 0, HWBP_WRITE, NULL));
ROW(hwbp_create, "len 2 at an odd address", -EINVAL, "not 2-byte aligned", (&f->out_bp, ODD_ADDR, 2, HWBP_WRITE, NULL));
ROW(hwbp_create, "len 8 at +4", -EINVAL, "not 8-byte aligned", (&f->out_bp, W + 4, 8, HWBP_RW, NULL));
ROW(hwbp_create, "read-only on x86", -EOPNOTSUPP, "no read-only", (&f->out_bp, W, 8, HWBP_READ, NULL));
ROW(hwbp_create, "access 0", -EINVAL, "HWBP_WRITE", (&f->out_bp, W, 8, 0, NULL));
ROW(hwbp_create, "access 7", -EINVAL, "HWBP_WRITE", (&f->out_bp, W, 8, 7, NULL));
ROW(hwbp_create, "exec len 1", -EINVAL, "needs len 8", (&f->out_bp, W, 1, HWBP_EXEC, NULL));
/* hwbp_create: scope */
ROW(hwbp_create, "scope 9", -EINVAL, "hwbp_scope", (&f->out_bp, W, 8, HWBP_WRITE, O(.scope = 9)));
ROW(hwbp_create, "thread scope, tid 0", -EINVAL, "tid > 0", (&f->out_bp, W, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_THREAD)));
ROW(hwbp_create, "thread scope, dead tid", -ESRCH, "no thread", (&f->out_bp, W, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_THREAD, .pid = f->dead_pid)));
ROW(hwbp_create, "process scope, dead pid", -ESRCH, "no process", (&f->out_bp, W, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_PROCESS, .pid = f->dead_pid)));
ROW(hwbp_create, "process scope, pid -1", -EINVAL, "pid", (&f->out_bp, W, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_PROCESS, .pid = -1)));
ROW(hwbp_create, "cpus NULL", -EINVAL, "opts.cpus", (&f->out_bp, W, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_CPUS)));
ROW(hwbp_create, "cpus empty", -EINVAL, "empty", (&f->out_bp, W, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_CPUS, .cpus = &no_cpus, .cpus_size = sizeof(no_cpus))));
ROW(hwbp_create, "cpu 1000", -EINVAL, "does not exist", (&f->out_bp, W, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_CPUS, .cpus = &cpu_1000, .cpus_size = sizeof(cpu_1000))));
/* hwbp_create: delivery */
ROW(hwbp_create, "delivery 9", -EINVAL, "hwbp_delivery", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = 9)));
ROW(hwbp_create, "signal without on_hit", -EINVAL, "on_hit", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_SIGNAL)));
ROW(hwbp_create, "signal_mode 7", -EINVAL, "hwbp_signal_mode", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_SIGNAL, .on_hit = noop_hit, .signal_mode = 7)));
ROW(hwbp_create, "signal on cpus", -EINVAL, "not cpus", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_SIGNAL, .on_hit = noop_hit, .scope = HWBP_SCOPE_CPUS, .cpus = &cpu_0, .cpus_size = sizeof(cpu_0))));
ROW(hwbp_create, "signal to another process", -EINVAL, "is not this process", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_SIGNAL, .on_hit = noop_hit, .scope = HWBP_SCOPE_PROCESS, .pid = getppid())));
ROW(hwbp_create, "async signals process-wide", -EINVAL, "owner thread", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_SIGNAL, .on_hit = noop_hit, .scope = HWBP_SCOPE_PROCESS, .signal_mode = HWBP_SIGNAL_ASYNC)));
ROW(hwbp_create, "ring without on_record", -EINVAL, "on_record", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING)));
ROW(hwbp_create, "ring_pages 3", -EINVAL, "power of 2", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING, .on_record = noop_record, .ring_pages = 3)));
ROW(hwbp_create, "ring_pages 2^17", -EINVAL, "over 65536", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING, .on_record = noop_record, .ring_pages = 1u << 17)));
ROW(hwbp_create, "sample bit 8", -EINVAL, "unknown bits", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING, .on_record = noop_record, .sample = 1u << 8)));
ROW(hwbp_create, "stack_size 7", -EINVAL, "multiple of 8", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING, .on_record = noop_record, .sample = HWBP_SAMPLE_STACK, .stack_size = 7)));
ROW(hwbp_create, "regs without regs_mask", -EINVAL, "regs_mask", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING, .on_record = noop_record, .sample = HWBP_SAMPLE_REGS)));
ROW(hwbp_create, "task_events on cpus", -EINVAL, "not cpus", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING, .on_record = noop_record, .task_events = 1, .scope = HWBP_SCOPE_CPUS, .cpus = &cpu_0, .cpus_size = sizeof(cpu_0))));
ROW(hwbp_create, "rearm 5", -EINVAL, "hwbp_rearm", (&f->out_bp, W, 8, HWBP_WRITE, O(.rearm = 5)));
/* hwbp_create: the opts ABI */
ROW(hwbp_create, "opts.sz 0 (not set)", -EINVAL, "sz 0 is too small", (&f->out_bp, W, 8, HWBP_WRITE, older(f, 0)));
ROW(hwbp_create, "opts.sz 4", -EINVAL, "too small", (&f->out_bp, W, 8, HWBP_WRITE, older(f, 4)));
ROW(hwbp_create, "newer opts, unknown field set", -EINVAL, "newer hwbp.h", (&f->out_bp, W, 8, HWBP_WRITE, newer(f, sizeof(struct hwbp_opts))));

/* handles: NULL, closed (double close), a pointer that is no handle */
ROW(hwbp_close, "NULL: nothing to do", 0, NULL, (NULL));
ROW(hwbp_close, "double close", -EBADF, "closed already?", (f->closed));
ROW(hwbp_close, "not a handle", -EBADF, "not an open hwbp handle", ((struct hwbp *)&word));
ROW(hwbp_enable, "NULL", -EINVAL, "bp is NULL", (NULL));
ROW(hwbp_enable, "closed", -EBADF, "is closed", (f->closed));
ROW(hwbp_disable, "NULL", -EINVAL, "bp is NULL", (NULL));
ROW(hwbp_disable, "closed", -EBADF, "is closed", (f->closed));
ROW(hwbp_drain, "NULL", -EINVAL, "bp is NULL", (NULL, 0));
ROW(hwbp_drain, "closed", -EBADF, "is closed", (f->closed, 0));
ROW(hwbp_drain, "timeout -2", -EINVAL, "timeout_ms -2", (f->bp, -2));
ROW(hwbp_move, "NULL", -EINVAL, "bp is NULL", (NULL, W, 8, HWBP_WRITE));
ROW(hwbp_move, "closed", -EBADF, "is closed", (f->closed, W, 8, HWBP_WRITE));
ROW(hwbp_move, "to address 0", -EINVAL, "address 0", (f->bp, 0, 8, HWBP_WRITE));
ROW(hwbp_move, "to len 3", -EINVAL, "1, 2, 4 or 8", (f->bp, W, 3, HWBP_WRITE));
ROW(hwbp_move, "to a misaligned address", -EINVAL, "not 8-byte aligned", (f->bp, W + 4, 8, HWBP_WRITE));
ROW(hwbp_move, "to access 9", -EINVAL, "HWBP_WRITE", (f->bp, W, 8, 9));
ROW(hwbp_move, "to read-only", -EOPNOTSUPP, "no read-only", (f->bp, W, 8, HWBP_READ));
ROW(hwbp_move, "to a kernel address", -EINVAL, "is a kernel address", (f->bp, KADDR, 8, HWBP_WRITE));
ROW(hwbp_move, "to exec len 2", -EINVAL, "needs len 8", (f->bp, W, 2, HWBP_EXEC));
ROW(hwbp_read_count, "NULL", -EINVAL, "bp is NULL", (NULL, &f->n));
ROW(hwbp_read_count, "closed", -EBADF, "is closed", (f->closed, &f->n));
ROW(hwbp_read_count, "count NULL", -EINVAL, "count is NULL", (f->bp, NULL));
ROW(hwbp_get_stats, "NULL", -EINVAL, "bp is NULL", (NULL, older(f, sizeof(struct hwbp_stats))));
ROW(hwbp_get_stats, "closed", -EBADF, "is closed", (f->closed, older(f, sizeof(struct hwbp_stats))));
ROW(hwbp_get_stats, "stats NULL", -EINVAL, "stats is NULL", (f->bp, NULL));
ROW(hwbp_get_stats, "stats.sz 2", -EINVAL, "too small", (f->bp, older(f, 2)));
ROW(hwbp_get_stats, "newer stats, unknown field set", -EINVAL, "newer hwbp.h", (f->bp, newer(f, sizeof(struct hwbp_stats))));
ROW(hwbp_ring_fd, "NULL", -EINVAL, "bp is NULL", (NULL));
ROW(hwbp_ring_fd, "closed", -EBADF, "is closed", (f->closed));
ROW(hwbp_ring_fd, "no ring (counting)", -EINVAL, "has no ring", (f->bp));
ROW(hwbp_ring_poll, "NULL", -EINVAL, "bp is NULL", (NULL, 0));
ROW(hwbp_ring_poll, "closed", -EBADF, "is closed", (f->closed, 0));
ROW(hwbp_ring_poll, "no ring (counting)", -EINVAL, "has no ring", (f->bp, -1));
ROW(hwbp_ring_consume, "NULL", -EINVAL, "bp is NULL", (NULL));
ROW(hwbp_ring_consume, "closed", -EBADF, "is closed", (f->closed));
ROW(hwbp_ring_consume, "no ring (counting)", -EINVAL, "has no ring", (f->bp));
ROW(hwbp_ring_cpus, "NULL", -EINVAL, "bp is NULL", (NULL, NULL, NULL, 0));
ROW(hwbp_ring_cpus, "closed", -EBADF, "is closed", (f->closed, NULL, NULL, 0));
ROW(hwbp_ring_cpus, "no ring (counting)", -EINVAL, "has no ring", (f->bp, NULL, NULL, 0));
ROW(hwbp_ring_consume_cpu, "NULL", -EINVAL, "bp is NULL", (NULL, 0));
ROW(hwbp_ring_consume_cpu, "closed", -EBADF, "is closed", (f->closed, 0));
ROW(hwbp_ring_consume_cpu, "no ring (counting)", -EINVAL, "has no ring", (f->bp, 0));
ROW(hwbp_ring_stat_cpu, "NULL", -EINVAL, "bp is NULL", (NULL, 0, older(f, sizeof(struct hwbp_ring_stat))));
ROW(hwbp_ring_stat_cpu, "closed", -EBADF, "is closed", (f->closed, 0, older(f, sizeof(struct hwbp_ring_stat))));
ROW(hwbp_ring_stat_cpu, "no ring (counting)", -EINVAL, "has no ring", (f->bp, 0, older(f, sizeof(struct hwbp_ring_stat))));
ROW(hwbp_create, "mmap_events without a ring", -EINVAL, "need delivery HWBP_DELIVER_RING", (&f->out_bp, W, 8, HWBP_WRITE, O(.mmap_events = 1)));
ROW(hwbp_create, "share_ring without a ring", -EINVAL, "needs delivery HWBP_DELIVER_RING", (&f->out_bp, W, 8, HWBP_WRITE, O(.share_ring = f->bp)));
ROW(hwbp_create, "share_ring: a closed handle", -EBADF, "not an open hwbp handle", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING, .on_record = noop_record, .share_ring = f->closed)));
ROW(hwbp_create, "share_ring: a counting handle", -EINVAL, "has no rings", (&f->out_bp, W, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING, .on_record = noop_record, .share_ring = f->bp)));

/* the machine, messages */
ROW(hwbp_probe, "NULL", -EINVAL, "info is NULL", (NULL));
ROW(hwbp_probe, "sz 1", -EINVAL, "too small", (older(f, 1)));
ROW(hwbp_probe, "newer probe, unknown field set", -EINVAL, "newer hwbp.h", (newer(f, sizeof(struct hwbp_probe))));
ROW(hwbp_probe_explain, "buf NULL, size 10", -EINVAL, "buf is NULL", (NULL, 10));
ODD(hwbp_probe_explain, "buf NULL, size 0: the length", hwbp_probe_explain(NULL, 0) > 100);
ODD(hwbp_probe_explain, "8 bytes: cut and terminated", hwbp_probe_explain(f->buf, 8) > 100 && strlen(f->buf) == 7);
ODD(hwbp_last_error, "after a failure: its message", (hwbp_enable(NULL), strstr(hwbp_last_error(), "hwbp_enable: bp is NULL")));
ODD(hwbp_set_print, "NULL: silence (and the previous is returned)", (hwbp_set_print(NULL), hwbp_set_print(NULL) == NULL));
ODD(hwbp_access_name, "access 99", !strcmp(hwbp_access_name(99), "?"));
ODD(hwbp_access_name, "access 0", !strcmp(hwbp_access_name(0), "?"));

/* ucontext helpers and instruction lengths (async-signal-safe: no message) */
ODD(hwbp_uc_pc, "NULL: 0", hwbp_uc_pc(NULL) == 0);
ODD(hwbp_uc_set_pc, "NULL: nothing", (hwbp_uc_set_pc(NULL, 1), 1));
ODD(hwbp_uc_regs, "ucontext NULL: zeros", (memset(f->regs, 1, sizeof(f->regs)), hwbp_uc_regs(NULL, f->regs), f->regs[0] == 0 && f->regs[HWBP_NREGS - 1] == 0));
ODD(hwbp_uc_regs, "regs NULL: nothing", (hwbp_uc_regs(&f->uc, NULL), 1));
ROW(hwbp_uc_skip_insn, "NULL", -EINVAL, NULL, (NULL));
ROW(hwbp_uc_skip_insn, "pc 0", -EINVAL, NULL, (&f->uc));
ROW(hwbp_insn_len, "NULL", -EINVAL, NULL, (NULL, 15));
ROW(hwbp_insn_len, "0 bytes", -EINVAL, NULL, (nop, 0));
ROW(hwbp_insn_len, "cut short", -EINVAL, NULL, (movabs, 5));
ROW(hwbp_insn_len, "invalid in 64-bit mode", -EINVAL, NULL, (invalid, 1));

/* ranges and decoding */
ROW(hwbp_range_split, "len 0", -EINVAL, "len 0", (W, 0, 0, f->pieces, 4));
ROW(hwbp_range_split, "wraps", -EINVAL, "wraps around", (UINT64_MAX - 3, 8, 0, f->pieces, 4));
ROW(hwbp_range_split, "unknown flags", -EINVAL, "unknown flags", (W, 8, 1u << 5, f->pieces, 4));
ROW(hwbp_range_split, "max < 0", -EINVAL, "max < 0", (W, 8, 0, f->pieces, -1));
ROW(hwbp_range_split, "out NULL, max 4", -EINVAL, "out is NULL", (W, 8, 0, NULL, 4));
ODD(hwbp_range_overlaps, "zero lengths never overlap", !hwbp_range_overlaps(W, 0, W, 8) && !hwbp_range_overlaps(W, 8, W, 0));
ROW(hwbp_insn_decode, "code NULL", -EINVAL, NULL, (NULL, 15, 0, NULL, &f->info));
ROW(hwbp_insn_decode, "info NULL", -EINVAL, NULL, (nop, 1, 0, NULL, NULL));
ROW(hwbp_insn_decode, "0 bytes", -EINVAL, NULL, (nop, 0, 0, NULL, &f->info));
ROW(hwbp_insn_decode, "invalid in 64-bit mode", -EINVAL, NULL, (invalid, 1, 0, NULL, &f->info));
ROW(hwbp_insn_touches, "info NULL", -EINVAL, NULL, (NULL, W, 8));
ROW(hwbp_insn_before, "pc < 15", -EINVAL, NULL, (14, W, 8, NULL, &f->info));
ROW(hwbp_insn_before, "len 0", -EINVAL, NULL, ((uintptr_t)&movabs[10], W, 0, NULL, &f->info));
ROW(hwbp_insn_before, "info NULL", -EINVAL, NULL, ((uintptr_t)&movabs[10], W, 8, NULL, NULL));
ROW(hwbp_insn_before, "unmapped code", -ENODATA, NULL, (0x1000, W, 8, NULL, &f->info));
ROW(hwbp_insn_before_pid, "pid -1", -EINVAL, NULL, (-1, (uintptr_t)&movabs[10], W, 8, NULL, &f->info));
ROW(hwbp_insn_before_pid, "pc < 15", -EINVAL, NULL, (0, 14, W, 8, NULL, &f->info));
ROW(hwbp_insn_before_pid, "len 0", -EINVAL, NULL, (0, (uintptr_t)&movabs[10], W, 0, NULL, &f->info));
ROW(hwbp_insn_before_pid, "info NULL", -EINVAL, NULL, (0, (uintptr_t)&movabs[10], W, 8, NULL, NULL));
ROW(hwbp_insn_before_pid, "no such process", -ESRCH, NULL, (0x3ffffffe, (uintptr_t)&movabs[10], W, 8, NULL, &f->info));
ROW(hwbp_insn_before_pid, "unmapped code", -ENODATA, NULL, (getpid(), 0x1000, W, 8, NULL, &f->info));

/* the scheduler: create */
ROW(hwbp_sched_create, "out NULL", -EINVAL, "out is NULL", (NULL, NULL));
ROW(hwbp_sched_create, "policy 9", -EINVAL, "unknown policy", (&f->out_sched, SO(.policy = 9)));
ROW(hwbp_sched_create, "registers 5", -EINVAL, "registers asked", (&f->out_sched, SO(.registers = 5)));
ROW(hwbp_sched_create, "split flag 2", -EINVAL, "unknown split", (&f->out_sched, SO(.split = 2)));
ROW(hwbp_sched_create, "opts.sz 4", -EINVAL, "too small", (&f->out_sched, older(f, 4)));
ROW(hwbp_sched_create, "newer opts, unknown field set", -EINVAL, "newer hwbp.h", (&f->out_sched, newer(f, sizeof(struct hwbp_sched_opts))));
ROW(hwbp_sched_create, "bp_opts.sz 4", -EINVAL, "struct hwbp_opts: sz 4", (&f->out_sched, SO(.bp_opts = &(struct hwbp_opts){ .sz = 4 })));
ROW(hwbp_sched_create, "newer bp_opts, unknown field set", -EINVAL, "newer hwbp.h", (&f->out_sched, SO(.bp_opts = newer(f, sizeof(struct hwbp_opts)))));
ROW(hwbp_sched_create, "ring without on_record", -EINVAL, "needs on_record", (&f->out_sched, SO(.bp_opts = O(.delivery = HWBP_DELIVER_RING))));
ROW(hwbp_sched_create, "cpu scope", -EOPNOTSUPP, "CPU-wide", (&f->out_sched, SO(.bp_opts = O(.scope = HWBP_SCOPE_CPUS, .cpus = &cpu_0, .cpus_size = sizeof(cpu_0)))));
ROW(hwbp_sched_create, "signals from another process", -EOPNOTSUPP, "not one of its threads", (&f->out_sched, SO(.bp_opts = O(.scope = HWBP_SCOPE_PROCESS, .pid = getppid()))));
/* the scheduler: its handle and its watches */
ROW(hwbp_sched_close, "NULL: nothing to do", 0, NULL, (NULL));
ROW(hwbp_sched_close, "double close", -EBADF, "closed already?", (f->closed_sched));
ROW(hwbp_sched_close, "not a scheduler", -EBADF, "not an open scheduler", ((struct hwbp_sched *)&word));
ROW(hwbp_sched_add, "NULL", -EINVAL, "scheduler is NULL", (NULL, W, 8, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add, "closed", -EBADF, "is closed", (f->closed_sched, W, 8, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add, "access 9", -EINVAL, "is not HWBP_READ", (f->sched, W, 8, 9, NULL, &f->out_watch));
ROW(hwbp_sched_add, "len 0", -EINVAL, "len 0", (f->sched, W, 0, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add, "address 0", -EINVAL, "address 0", (f->sched, 0, 8, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add, "kernel address", -EINVAL, "is a kernel address", (f->sched, KADDR, 8, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add, "more registers than it has", -ENOSPC, "needs 2 debug registers", (f->sched, (uintptr_t)bytes, 16, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add, "pinned, none free", -ENOSPC, "0 of 1 free", (f->sched, (uintptr_t)&word2, 8, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add_thread, "NULL", -EINVAL, "scheduler is NULL", (NULL, gettid(), W, 8, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add_thread, "closed", -EBADF, "is closed", (f->closed_sched, gettid(), W, 8, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add_thread, "len 0", -EINVAL, "len 0", (f->sched, gettid(), W, 0, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_add_thread, "not a ring scheduler on a process", -EINVAL, "must deliver into rings", (f->sched, gettid(), W, 8, HWBP_WRITE, NULL, &f->out_watch));
ROW(hwbp_sched_remove, "NULL", -EINVAL, "scheduler is NULL", (NULL, f->watch));
ROW(hwbp_sched_remove, "closed", -EBADF, "is closed", (f->closed_sched, f->closed_watch));
ROW(hwbp_sched_remove, "watch NULL", -EINVAL, "watch is NULL", (f->sched, NULL));
ROW(hwbp_sched_remove, "removed twice", -ENOENT, "removed already?", (f->sched, f->removed));
ROW(hwbp_sched_remove, "another scheduler's watch", -ENOENT, "not a live watch", (f->sched, f->closed_watch));
ROW(hwbp_sched_rotate, "NULL", -EINVAL, "scheduler is NULL", (NULL));
ROW(hwbp_sched_rotate, "closed", -EBADF, "is closed", (f->closed_sched));
ROW(hwbp_watch_get_stats, "NULL", -EINVAL, "watch is NULL", (NULL, older(f, sizeof(struct hwbp_watch_stats))));
ROW(hwbp_watch_get_stats, "stats NULL", -EINVAL, "stats is NULL", (f->watch, NULL));
ROW(hwbp_watch_get_stats, "stats.sz 3", -EINVAL, "too small", (f->watch, older(f, 3)));
ROW(hwbp_watch_get_stats, "newer stats, unknown field set", -EINVAL, "newer hwbp.h", (f->watch, newer(f, sizeof(struct hwbp_watch_stats))));
ROW(hwbp_watch_get_stats, "its scheduler closed", -EBADF, "scheduler is closed", (f->closed_watch, older(f, sizeof(struct hwbp_watch_stats))));
ROW(hwbp_watch_get_piece_stats, "NULL", -EINVAL, "watch is NULL", (NULL, 0, older(f, sizeof(struct hwbp_piece_stats))));
ROW(hwbp_watch_get_piece_stats, "stats NULL", -EINVAL, "stats is NULL", (f->watch, 0, NULL));
ROW(hwbp_watch_get_piece_stats, "stats.sz 3", -EINVAL, "too small", (f->watch, 0, older(f, 3)));
ROW(hwbp_watch_get_piece_stats, "newer stats, unknown field set", -EINVAL, "newer hwbp.h", (f->watch, 0, newer(f, sizeof(struct hwbp_piece_stats))));
ROW(hwbp_watch_get_piece_stats, "piece 1 of 1", -EINVAL, "the watch has 1", (f->watch, 1, older(f, sizeof(struct hwbp_piece_stats))));
ROW(hwbp_watch_get_piece_stats, "its scheduler closed", -EBADF, "scheduler is closed", (f->closed_watch, 0, older(f, sizeof(struct hwbp_piece_stats))));
ROW(hwbp_sched_get_stats, "NULL", -EINVAL, "scheduler is NULL", (NULL, older(f, sizeof(struct hwbp_sched_stats))));
ROW(hwbp_sched_get_stats, "closed", -EBADF, "is closed", (f->closed_sched, older(f, sizeof(struct hwbp_sched_stats))));
ROW(hwbp_sched_get_stats, "stats NULL", -EINVAL, "stats is NULL", (f->sched, NULL));
ROW(hwbp_sched_get_stats, "stats.sz 0", -EINVAL, "too small", (f->sched, older(f, 0)));
ROW(hwbp_sched_get_stats, "newer stats, unknown field set", -EINVAL, "newer hwbp.h", (f->sched, newer(f, sizeof(struct hwbp_sched_stats))));
ROW(hwbp_sched_fd, "NULL", -EINVAL, "scheduler is NULL", (NULL));
ROW(hwbp_sched_fd, "closed", -EBADF, "is closed", (f->closed_sched));
ROW(hwbp_sched_fd, "signal delivery: no ring", -EINVAL, "delivers by signal", (f->sched));
ROW(hwbp_sched_poll, "NULL", -EINVAL, "scheduler is NULL", (NULL, 0));
ROW(hwbp_sched_poll, "closed", -EBADF, "is closed", (f->closed_sched, 0));
ROW(hwbp_sched_poll, "signal delivery: no ring", -EINVAL, "delivers by signal", (f->sched, -1));
ROW(hwbp_sched_consume, "NULL", -EINVAL, "scheduler is NULL", (NULL));
ROW(hwbp_sched_consume, "closed", -EBADF, "is closed", (f->closed_sched));
ROW(hwbp_sched_consume, "signal delivery: no ring", -EINVAL, "delivers by signal", (f->sched));
ROW(hwbp_sched_ring_cpus, "NULL", -EINVAL, "scheduler is NULL", (NULL, NULL, NULL, 0));
ROW(hwbp_sched_ring_cpus, "closed", -EBADF, "is closed", (f->closed_sched, NULL, NULL, 0));
ROW(hwbp_sched_ring_cpus, "signal delivery: no ring", -EINVAL, "delivers by signal", (f->sched, NULL, NULL, 0));
ROW(hwbp_sched_ring_stat_cpu, "NULL", -EINVAL, "scheduler is NULL", (NULL, 0, older(f, sizeof(struct hwbp_ring_stat))));
ROW(hwbp_sched_ring_stat_cpu, "closed", -EBADF, "is closed", (f->closed_sched, 0, older(f, sizeof(struct hwbp_ring_stat))));
ROW(hwbp_sched_ring_stat_cpu, "signal delivery: no ring", -EINVAL, "delivers by signal", (f->sched, 0, older(f, sizeof(struct hwbp_ring_stat))));
ROW(hwbp_sched_consume_cpu, "NULL", -EINVAL, "scheduler is NULL", (NULL, 0));
ROW(hwbp_sched_consume_cpu, "closed", -EBADF, "is closed", (f->closed_sched, 0));
ROW(hwbp_sched_consume_cpu, "signal delivery: no ring", -EINVAL, "delivers by signal", (f->sched, 0));

/* ---- the fixture each row gets ---- */

static pid_t dead_pid(void)
{
	static pid_t dead;

	if (!dead) {
		dead = fork();
		cr_assert_geq(dead, 0);
		if (dead == 0)
			_exit(0);
		cr_assert_eq(waitpid(dead, NULL, 0), dead);
	}
	return dead;
}

/* the sampler */
ROW(hwbp_sampler_create, "out NULL", -EINVAL, "out is NULL", (NULL, SMO(.on_hit = noop_sample)));
ROW(hwbp_sampler_create, "opts NULL", -EINVAL, "on_hit is required", (&f->out_sampler, NULL));
ROW(hwbp_sampler_create, "no on_hit", -EINVAL, "on_hit is NULL", (&f->out_sampler, SMO(.registers = 1)));
ROW(hwbp_sampler_create, "9 registers", -EINVAL, "per thread", (&f->out_sampler, SMO(.on_hit = noop_sample, .registers = 9)));
ROW(hwbp_sampler_create, "CPU scope", -EOPNOTSUPP, "CPU-wide", (&f->out_sampler, SMO(.on_hit = noop_sample, .bp_opts = O(.scope = HWBP_SCOPE_CPUS))));
ROW(hwbp_sampler_create, "unknown source", -EINVAL, "unknown source", (&f->out_sampler, SMO(.on_hit = noop_sample, .source = 99)));
ROW(hwbp_sampler_create, "older caller, sz 4", -EINVAL, "too small", (&f->out_sampler, older(f, 4)));
ROW(hwbp_sampler_create, "newer caller, unknown field set", -EINVAL, "unknown", (&f->out_sampler, newer(f, sizeof(struct hwbp_sampler_opts))));
ROW(hwbp_sampler_create, "bp_opts of a newer caller", -EINVAL, "unknown", (&f->out_sampler, SMO(.on_hit = noop_sample, .bp_opts = newer(f, sizeof(struct hwbp_opts)))));
ODD(hwbp_sampler_close, "NULL is accepted", hwbp_sampler_close(NULL) == 0);
ROW(hwbp_sampler_offer, "sampler NULL", -EINVAL, "NULL", (NULL, SAMPLE(W, 8, HWBP_WRITE)));
ROW(hwbp_sampler_offer, "sample NULL", -EINVAL, "NULL", (f->sampler, NULL));
ROW(hwbp_sampler_offer, "len 0", -EINVAL, "1..8 bytes", (f->sampler, SAMPLE(W, 0, HWBP_WRITE)));
ROW(hwbp_sampler_offer, "len 9", -EINVAL, "1..8 bytes", (f->sampler, SAMPLE(W, 9, HWBP_WRITE)));
ROW(hwbp_sampler_offer, "access 0", -EINVAL, "HWBP_READ/WRITE/RW/EXEC", (f->sampler, SAMPLE(W, 8, 0)));
ODD(hwbp_sampler_offer, "bytes across two 8-byte blocks: not armed, counted unfit", hwbp_sampler_offer(f->sampler, SAMPLE((uintptr_t)&bytes[6], 4, HWBP_WRITE)) == 0);
ROW(hwbp_sampler_offer, "kernel address", -EINVAL, "kernel address", (f->sampler, SAMPLE(KADDR, 8, HWBP_WRITE)));
ROW(hwbp_sampler_offer, "address 0", -EINVAL, "address 0", (f->sampler, SAMPLE(0, 8, HWBP_WRITE)));
ROW(hwbp_sampler_release_all, "NULL", -EINVAL, "NULL", (NULL));
ROW(hwbp_sampler_close, "closed twice", -EBADF, "closed already", (f->closed_sampler));
ROW(hwbp_sampler_offer, "closed sampler", -EBADF, "closed", (f->closed_sampler, SAMPLE(W, 8, HWBP_WRITE)));
ROW(hwbp_sampler_release_all, "closed sampler", -EBADF, "closed", (f->closed_sampler));
ROW(hwbp_sampler_armed, "closed sampler", -EBADF, "closed", (f->closed_sampler, NULL, 0));
ROW(hwbp_sampler_get_stats, "closed sampler", -EBADF, "closed", (f->closed_sampler, older(f, sizeof(struct hwbp_sampler_stats))));
ROW(hwbp_sampler_fd, "closed sampler", -EBADF, "closed", (f->closed_sampler));
ROW(hwbp_sampler_poll, "closed sampler", -EBADF, "closed", (f->closed_sampler, 0));
ROW(hwbp_sampler_consume, "closed sampler", -EBADF, "closed", (f->closed_sampler));
ROW(hwbp_sampler_armed, "NULL", -EINVAL, "sampler is NULL", (NULL, NULL, 0));
ROW(hwbp_sampler_armed, "max < 0", -EINVAL, "max < 0", (f->sampler, NULL, -1));
ROW(hwbp_sampler_armed, "out NULL with max 3", -EINVAL, "out NULL", (f->sampler, NULL, 3));
ROW(hwbp_sampler_get_stats, "sampler NULL", -EINVAL, "sampler is NULL", (NULL, older(f, sizeof(struct hwbp_sampler_stats))));
ROW(hwbp_sampler_get_stats, "stats NULL", -EINVAL, "stats is NULL", (f->sampler, NULL));
ROW(hwbp_sampler_get_stats, "older caller, sz 4", -EINVAL, "too small", (f->sampler, older(f, 4)));
ROW(hwbp_sampler_get_stats, "newer caller, unknown field", -EINVAL, "unknown", (f->sampler, newer(f, sizeof(struct hwbp_sampler_stats))));
ROW(hwbp_sampler_fd, "NULL", -EINVAL, "NULL", (NULL));
ROW(hwbp_sampler_fd, "signal delivery, no PMU", -EINVAL, "nothing to poll", (f->sampler));
ROW(hwbp_sampler_poll, "NULL", -EINVAL, "NULL", (NULL, 0));
ROW(hwbp_sampler_poll, "signal delivery, no PMU", -EINVAL, "nothing to poll", (f->sampler, 0));
ROW(hwbp_sampler_consume, "NULL", -EINVAL, "NULL", (NULL));
ROW(hwbp_sampler_consume, "signal delivery, no PMU", -EINVAL, "nothing to poll", (f->sampler));

static void fx_open(struct fx *f)
{
	HWBP_OPTS(hwbp_sched_opts, so, .registers = 1);

	memset(f, 0, sizeof(*f));
	f->dead_pid = dead_pid();
	f->out_bp = (struct hwbp *)&word;
	f->out_sched = (struct hwbp_sched *)&word;
	f->out_watch = (struct hwbp_watch *)&word;
	f->out_sampler = (struct hwbp_sampler *)&word;
	cr_assert_eq(hwbp_sampler_create(&f->closed_sampler,
					 SMO(.registers = 1,
					     .on_hit = noop_sample)), 0);
	cr_assert_eq(hwbp_sampler_close(f->closed_sampler), 0);
	cr_assert_eq(hwbp_sampler_create(&f->sampler, SMO(.registers = 1,
							  .on_hit = noop_sample)),
		     0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_create(&f->bp, W, 8, HWBP_WRITE, NULL), 0, "%s",
		     hwbp_last_error());
	cr_assert_eq(hwbp_create(&f->closed, W, 8, HWBP_RW, NULL), 0);
	cr_assert_eq(hwbp_close(f->closed), 0);
	cr_assert_eq(hwbp_sched_create(&f->closed_sched, &so), 0, "%s",
		     hwbp_last_error());
	cr_assert_eq(hwbp_sched_add(f->closed_sched, W, 8, HWBP_WRITE, NULL,
				    &f->closed_watch), 0, "%s",
		     hwbp_last_error());
	cr_assert_eq(hwbp_sched_close(f->closed_sched), 0);
	cr_assert_eq(hwbp_sched_create(&f->sched, &so), 0);
	cr_assert_eq(hwbp_sched_add(f->sched, W, 8, HWBP_RW, NULL, &f->removed),
		     0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_sched_remove(f->sched, f->removed), 0);
	cr_assert_eq(hwbp_sched_add(f->sched, W, 8, HWBP_WRITE, NULL, &f->watch),
		     0, "%s", hwbp_last_error());
}

/* The handles the row was given work as before (a failed move left the
 * placement alone), and a failed create left *out NULL. */
static void fx_close(struct fx *f, const struct row *r)
{
	HWBP_OPTS(hwbp_stats, st);
	HWBP_OPTS(hwbp_watch_stats, ws);
	HWBP_OPTS(hwbp_sched_stats, ss);

	cr_assert_eq(hwbp_get_stats(f->bp, &st), 0, "line %d", r->line);
	cr_assert_eq(st.moves, 0, "line %d: %s moved the breakpoint", r->line,
		     r->fn);
	cr_assert_eq(hwbp_read_count(f->bp, &f->n), 0);
	cr_assert_eq(hwbp_watch_get_stats(f->watch, &ws), 0);
	cr_assert(ws.armed, "line %d: the watch is no longer armed", r->line);
	cr_assert_eq(hwbp_sched_get_stats(f->sched, &ss), 0);
	cr_assert_eq(ss.watches, 1, "line %d", r->line);
	if (strstr(r->args, "&f->out_bp"))
		cr_assert_null(f->out_bp, "line %d: *out not cleared", r->line);
	if (strstr(r->args, "&f->out_sched"))
		cr_assert_null(f->out_sched, "line %d: *out not cleared",
			       r->line);
	if (strstr(r->args, "&f->out_watch"))
		cr_assert_null(f->out_watch, "line %d: *out not cleared",
			       r->line);
	if (strstr(r->args, "&f->out_sampler"))
		cr_assert_null(f->out_sampler, "line %d: *out not cleared",
			       r->line);
	cr_assert_eq(hwbp_sampler_armed(f->sampler, NULL, 0), 0,
		     "line %d: a bad sample was armed", r->line);
	cr_assert_eq(hwbp_sampler_close(f->sampler), 0);
	cr_assert_eq(hwbp_close(f->bp), 0);
	cr_assert_eq(hwbp_sched_close(f->sched), 0);
}

static void run_row(const struct row *r)
{
	struct fx f;
	const char *err;
	int got;

	fx_open(&f);
	hwbp_probe(NULL); /* a message the row's failure must replace */
	got = r->call(&f);
	err = hwbp_last_error();
	cr_assert_eq(got, r->want, "line %d: %s%s (%s): got %d, want %d (%s)",
		     r->line, r->fn, r->args, r->what, got, r->want, err);
	if (r->msg)
		cr_assert(strstr(err, r->msg) && err[0], "line %d: %s (%s): "
			  "message \"%s\" lacks \"%s\"", r->line, r->fn,
			  r->what, err, r->msg);
	fx_close(&f, r);
}

static int run_table(void)
{
	int n = 0;

	for (const struct row *const *r = __start_hwbp_api_rows;
	     r < __stop_hwbp_api_rows; r++, n++)
		run_row(*r);
	return n;
}

static void init_sets(void)
{
	CPU_ZERO(&no_cpus);
	CPU_ZERO(&cpu_1000);
	CPU_SET(1000, &cpu_1000);
	CPU_ZERO(&cpu_0);
	CPU_SET(0, &cpu_0);
}

/* Every row, three times after a first pass (which makes what the library
 * sets up once: the probe, the SIGTRAP handler, thread stacks), with the
 * fds, mappings and debug registers counted around the three. */
Test(api, bad_input_table)
{
	hwbp_print_fn prev;
	int fds, maps, rows;

	TU_REQUIRE_BREAKPOINTS();
	init_sets();
	prev = hwbp_set_print(NULL);
	rows = run_table();
	fds = tu_open_fds();
	maps = tu_mappings();
	for (int pass = 0; pass < 3; pass++)
		run_table();
	tu_assert_nothing_left(fds, maps);
	hwbp_set_print(prev);
	cr_log_info("%d rows, each run 4 times", rows);
}

/* The table covers the library: every exported symbol has a row, and every
 * row names an exported symbol (and calls it). */
Test(api, every_export_has_a_row)
{
	char syms[256][64];
	int n = tu_map_symbols(syms), missing = 0;

	for (int i = 0; i < n; i++) {
		bool found = false;

		for (const struct row *const *r = __start_hwbp_api_rows;
		     r < __stop_hwbp_api_rows && !found; r++)
			found = !strcmp((*r)->fn, syms[i]);
		if (!found) {
			cr_log_error("%s has no row in tests/test_api.c: add "
				     "ROW(%s, \"what\", -EINVAL, \"message\", "
				     "(args)) for each bad argument", syms[i],
				     syms[i]);
			missing++;
		}
	}
	for (const struct row *const *r = __start_hwbp_api_rows;
	     r < __stop_hwbp_api_rows; r++) {
		bool exported = false;

		for (int i = 0; i < n && !exported; i++)
			exported = !strcmp((*r)->fn, syms[i]);
		cr_expect(exported, "line %d: %s is not in src/libhwbp.map",
			  (*r)->line, (*r)->fn);
		cr_expect(!(*r)->odd || strstr((*r)->args, (*r)->fn),
			  "line %d: the expression does not call %s",
			  (*r)->line, (*r)->fn);
	}
	cr_assert_eq(missing, 0, "%d exported functions without a bad-input "
		     "row", missing);
}

/* ---- sized structs: callers built against older and newer headers ---- */

static int get_stats(struct fx *f, void *out)
{
	return hwbp_get_stats(f->bp, out);
}

static int get_probe(struct fx *f, void *out)
{
	(void)f;
	return hwbp_probe(out);
}

static int get_watch_stats(struct fx *f, void *out)
{
	return hwbp_watch_get_stats(f->watch, out);
}

static int get_piece_stats(struct fx *f, void *out)
{
	return hwbp_watch_get_piece_stats(f->watch, 0, out);
}

static int get_sched_stats(struct fx *f, void *out)
{
	return hwbp_sched_get_stats(f->sched, out);
}

/* An older caller's struct (sz and one field): filled up to its sz, not a
 * byte past it.  A newer caller's (16 more bytes, zero): accepted, its
 * tail left zero.  Both keep their sz. */
static void check_sizes(struct fx *f, const char *name, size_t known,
			size_t first_end, int (*get)(struct fx *, void *))
{
	unsigned char buf[512];
	size_t sz;

	memset(buf, 0xaa, sizeof(buf));
	sz = first_end;
	memcpy(buf, &sz, sizeof(sz));
	cr_assert_eq(get(f, buf), 0, "%s, older sz %zu: %s", name, sz,
		     hwbp_last_error());
	for (size_t i = first_end; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0xaa, "%s, older sz %zu: byte %zu written",
			     name, sz, i);
	cr_assert_eq(memcmp(buf, &sz, sizeof(sz)), 0, "%s: sz changed", name);
	memset(buf, 0, sizeof(buf));
	sz = known + 16;
	memcpy(buf, &sz, sizeof(sz));
	cr_assert_eq(get(f, buf), 0, "%s, newer sz %zu: %s", name, sz,
		     hwbp_last_error());
	for (size_t i = known; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0, "%s, newer: byte %zu written", name, i);
	cr_assert_eq(memcmp(buf, &sz, sizeof(sz)), 0, "%s: sz changed", name);
}

#define END_OF(T, field) (offsetof(T, field) + sizeof(((T *)0)->field))

Test(api, sized_structs_older_and_newer)
{
	struct fx f;
	struct {
		struct hwbp_sched_opts o;
		uint64_t future[2];
	} big;
	struct hwbp_sched_opts old;
	struct hwbp_sched *s;

	TU_REQUIRE_BREAKPOINTS();
	fx_open(&f);
	check_sizes(&f, "hwbp_stats", sizeof(struct hwbp_stats),
		    END_OF(struct hwbp_stats, signals), get_stats);
	check_sizes(&f, "hwbp_probe", sizeof(struct hwbp_probe),
		    END_OF(struct hwbp_probe, slots), get_probe);
	check_sizes(&f, "hwbp_watch_stats", sizeof(struct hwbp_watch_stats),
		    END_OF(struct hwbp_watch_stats, hits), get_watch_stats);
	/* hwbp_watch_stats as LIBHWBP_0.3 had it (before any_ns) */
	check_sizes(&f, "hwbp_watch_stats 0.3", sizeof(struct hwbp_watch_stats),
		    END_OF(struct hwbp_watch_stats, armed), get_watch_stats);
	check_sizes(&f, "hwbp_piece_stats", sizeof(struct hwbp_piece_stats),
		    END_OF(struct hwbp_piece_stats, addr), get_piece_stats);
	check_sizes(&f, "hwbp_sched_stats", sizeof(struct hwbp_sched_stats),
		    END_OF(struct hwbp_sched_stats, counted), get_sched_stats);
	/* Input: the scheduler's options (hwbp_opts: errors/opts_sizes). */
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.o.registers = 1;
	cr_assert_eq(hwbp_sched_create(&s, &big.o), 0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_sched_close(s), 0);
	memset(&old, 0, sizeof(old));
	old.sz = END_OF(struct hwbp_sched_opts, policy);
	old.registers = 9; /* past its sz: never read */
	cr_assert_eq(hwbp_sched_create(&s, &old), 0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_sched_close(s), 0);
	fx_close(&f, &(struct row){ .fn = "sizes", .args = "" });
}
