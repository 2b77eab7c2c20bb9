/* SPDX-License-Identifier: MIT */
/*
 * hwbp.h - the public interface of libhwbp: hardware breakpoints and
 * watchpoints for Linux programs through perf_event_open(PERF_TYPE_BREAKPOINT).
 *
 * Conventions (as liburing and libbpf):
 *  - every function returns 0 (or a count) on success and a negative errno on
 *    failure; errno itself is not used.  hwbp_last_error() gives the message
 *    that names the cause (which rule, which limit, which privilege).
 *  - handles are opaque; options structs carry their own size in .sz so the
 *    ABI can grow: declare them with HWBP_OPTS(type, name, .field = value).
 *  - functions marked "async-signal-safe" may be called from a hit callback.
 *
 * Async-signal-safe (a hit callback may call them): hwbp_enable,
 * hwbp_disable, hwbp_move (on the modify path, and on the reopen path for
 * thread scopes), hwbp_read_count, hwbp_uc_pc, hwbp_uc_set_pc,
 * hwbp_insn_len, hwbp_uc_skip_insn, hwbp_uc_regs, hwbp_range_overlaps,
 * hwbp_insn_decode, hwbp_insn_touches, hwbp_insn_before,
 * hwbp_sampler_offer and hwbp_sampler_release_all (the overview page and
 * the create page list the same: tests/test_docs.c checks).
 *
 */
#ifndef HWBP_H
#define HWBP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HWBP_VERSION_MAJOR 0
#define HWBP_VERSION_MINOR 1

/* What access triggers the breakpoint (values match HW_BREAKPOINT_R/W/X). */
enum hwbp_access {
	HWBP_READ = 1,  /* read only: x86 hardware has no such watchpoint */
	HWBP_WRITE = 2, /* data writes */
	HWBP_RW = 3,    /* data reads and writes */
	HWBP_EXEC = 4,  /* instruction fetch: traps before the instruction */
};

/* Who is watched. */
enum hwbp_scope {
	HWBP_SCOPE_SELF = 0, /* the calling thread */
	HWBP_SCOPE_THREAD,   /* one thread: opts.pid is its tid */
	HWBP_SCOPE_PROCESS,  /* all threads of opts.pid (0: this process), and
			      * the threads and children they create later */
	HWBP_SCOPE_CPUS,     /* everything that runs on opts.cpus (privileged) */
};

/* How hits are delivered. */
enum hwbp_delivery {
	HWBP_DELIVER_COUNT = 0, /* exact count, read with hwbp_read_count() */
	HWBP_DELIVER_SIGNAL,    /* opts.on_hit runs in the thread that hit
				 * (targets in this process only) */
	HWBP_DELIVER_RING,      /* records into a ring buffer: hwbp_ring_poll() */
};

/* Which signal path HWBP_DELIVER_SIGNAL uses. */
enum hwbp_signal_mode {
	HWBP_SIGNAL_AUTO = 0, /* synchronous if the kernel has it, else async */
	HWBP_SIGNAL_SYNC,     /* attr.sigtrap (kernel >= 5.13) or fail */
	HWBP_SIGNAL_ASYNC,    /* O_ASYNC + F_SETOWN_EX(F_OWNER_TID); thread
			       * scopes only; may arrive a few instructions late */
};

/* How hwbp_move() re-arms. */
enum hwbp_rearm {
	HWBP_REARM_AUTO = 0, /* PERF_EVENT_IOC_MODIFY_ATTRIBUTES, else reopen */
	HWBP_REARM_MODIFY,   /* the ioctl only: fail where the kernel refuses */
	HWBP_REARM_REOPEN,   /* always close and reopen the event */
};

/* Extra ring-buffer record contents (opts.sample). */
#define HWBP_SAMPLE_CALLCHAIN (1u << 0) /* user callchain */
#define HWBP_SAMPLE_REGS (1u << 1)      /* user registers, opts.regs_mask */
#define HWBP_SAMPLE_STACK (1u << 2)     /* opts.stack_size bytes of stack */
#define HWBP_SAMPLE_BRANCHES (1u << 3)  /* the last opts.branch_bytes of the
					 * thread's Intel PT trace before the
					 * hit (record.aux); thread/process
					 * scopes; -EOPNOTSUPP without
					 * intel_pt (hwbp_probe_explain) */

/* What hwbp_record.aux holds. */
#define HWBP_AUX_NONE 0
#define HWBP_AUX_INTEL_PT 1 /* raw Intel PT packets (decode with libipt) */

struct hwbp;

/* One hit delivered to a HWBP_DELIVER_SIGNAL callback. */
struct hwbp_hit {
	struct hwbp *bp;           /* the handle that hit */
	void *cookie;              /* opts.cookie */
	uint64_t addr;             /* address the kernel reports for the hit */
	uint64_t bp_addr;          /* the placement when the hit fired ... */
	uint32_t bp_len;           /* ... its length (0: unknown, moved over
				    * 32 times between the hit and now) ... */
	enum hwbp_access access;   /* ... and its access type */
	uint32_t generation;       /* placement number: 0 at create, +1 a move
				    * (all 32 bits: it wraps after 2^32) */
	pid_t tid;                 /* the thread that hit (the one running) */
	uint64_t pc;               /* PC in the ucontext: after the access for
				    * data breakpoints, at the instruction for
				    * execute breakpoints */
	bool async;                /* delivered by the async fallback */
	/* Set for hits of a scheduler's watch (hwbp_sched_add), where bp is
	 * the scheduler's register and access the watch's (HWBP_READ): */
	struct hwbp_watch *watch;  /* the watch (cookie is the watch's) */
	int touch;                 /* HWBP_TOUCH_* the decoded instruction
				    * did to the watch's bytes; 0: unknown */
};

/*
 * Hit callback.  Runs inside the library's SIGTRAP handler in the thread that
 * hit: it must be async-signal-safe (no malloc, no stdio, no locks the
 * interrupted code may hold).  ucontext is the handler's ucontext_t: it may be
 * read and changed (hwbp_uc_set_pc, hwbp_uc_skip_insn).
 */
typedef void (*hwbp_hit_fn)(const struct hwbp_hit *hit, void *ucontext);

/* What a ring record is (opts.task_events adds COMM, FORK and EXIT,
 * opts.switch_events adds SWITCH). */
enum hwbp_record_kind {
	HWBP_REC_HIT = 0, /* a breakpoint hit: the sample fields */
	HWBP_REC_COMM,    /* a task got a name: pid, tid, comm */
	HWBP_REC_FORK,    /* a task was created: pid, tid, ppid, ptid */
	HWBP_REC_EXIT,    /* a task ended: pid, tid, ppid, ptid */
	HWBP_REC_SWITCH,  /* pid/tid left (switch_out) or got (!switch_out)
			   * CPU cpu at time_ns; CPU-wide rings also name
			   * the task on the other side (next_prev_*) */
	HWBP_REC_MMAP,    /* opts.mmap_events: pid/tid mapped code: the file
			   * `filename` at map_addr, map_len bytes from file
			   * offset map_pgoff (an executable mapping) */
};

/* One record read from a HWBP_DELIVER_RING buffer. */
struct hwbp_record {
	struct hwbp *bp;
	void *cookie;
	uint64_t ip;        /* user PC at the sample (after the access) */
	uint64_t addr;      /* watched address when the hit fired */
	uint64_t time_ns;   /* perf clock (CLOCK_MONOTONIC) */
	uint32_t pid, tid, cpu;
	uint32_t nr_callchain;        /* HWBP_SAMPLE_CALLCHAIN */
	const uint64_t *callchain;
	uint64_t regs_mask;           /* HWBP_SAMPLE_REGS: regs[] holds one */
	const uint64_t *regs;         /* value per bit set, in bit order */
	uint32_t abi;                 /* PERF_SAMPLE_REGS_ABI_* (0: none) */
	uint64_t stack_size;          /* HWBP_SAMPLE_STACK */
	const void *stack;
	enum hwbp_record_kind kind;
	const char *comm;             /* HWBP_REC_COMM: the new name */
	uint32_t ppid, ptid;          /* HWBP_REC_FORK/EXIT: the parent */
	/* Set for hits of a scheduler's watch (cookie is the watch's): */
	struct hwbp_watch *watch;
	int touch;                    /* HWBP_TOUCH_*; 0: not decoded */
	/* HWBP_REC_SWITCH: */
	bool switch_out;              /* the task left the CPU (else: got it) */
	bool preempted;               /* it left still runnable (preempted),
				       * not to wait (kernel >= 4.17) */
	uint32_t next_prev_pid;       /* HWBP_SCOPE_CPUS only: the task that */
	uint32_t next_prev_tid;       /* ran next (out) or before (in); 0: ? */
	/* HWBP_SAMPLE_BRANCHES: the trace that led to the hit (it may start
	 * mid-packet: sync at a PSB), aux_size bytes, HWBP_AUX_*: */
	const void *aux;
	uint64_t aux_size;
	uint32_t aux_format;
	/* HWBP_REC_MMAP: */
	uint64_t map_addr, map_len, map_pgoff;
	uint32_t map_prot;            /* PROT_* of the mapping */
	const char *filename;         /* as the kernel names it */
	/* HWBP_REC_COMM: the name comes with an exec (the task runs a new
	 * program from time_ns on), not a prctl/pthread_setname_np. */
	bool exec;
};

/* Ring-buffer record callback; runs in the thread calling hwbp_ring_poll. */
typedef void (*hwbp_record_fn)(const struct hwbp_record *rec, void *cookie);

struct hwbp_opts {
	size_t sz; /* sizeof(struct hwbp_opts): set by HWBP_OPTS */
	enum hwbp_scope scope;
	pid_t pid;               /* tid (THREAD) or pid (PROCESS, 0: self) */
	const void *cpus;        /* cpu_set_t * for HWBP_SCOPE_CPUS */
	size_t cpus_size;        /* its size in bytes (sizeof(cpu_set_t)) */
	enum hwbp_delivery delivery;
	hwbp_hit_fn on_hit;      /* HWBP_DELIVER_SIGNAL */
	hwbp_record_fn on_record; /* HWBP_DELIVER_RING */
	void *cookie;            /* passed back in hits and records */
	enum hwbp_signal_mode signal_mode;
	enum hwbp_rearm rearm;
	uint32_t ring_pages;     /* data pages per ring, a power of 2 (def 64) */
	uint32_t wakeup_events;  /* records per poll wakeup (default 1) */
	uint32_t sample;         /* HWBP_SAMPLE_* */
	uint64_t regs_mask;      /* PERF_REG_* bits for HWBP_SAMPLE_REGS */
	uint32_t stack_size;     /* bytes for HWBP_SAMPLE_STACK */
	bool kernel;             /* also kernel accesses / kernel addresses */
	bool disabled;           /* create disarmed: hwbp_enable() arms it */
	bool no_follow;          /* PROCESS: do not follow new threads/children */
	bool task_events;        /* RING: also COMM/FORK/EXIT records of the
				  * watched tasks (thread names, lifetimes) */
	bool switch_events;      /* RING: also SWITCH records: the watched
				  * tasks (CPUS scope: every task) getting
				  * and leaving a CPU (kernel >= 4.3) */
	uint32_t branch_bytes;   /* HWBP_SAMPLE_BRANCHES: trace bytes per hit,
				  * a multiple of 8 up to 65528 (0: 16384) */
	bool mmap_events;        /* RING: also MMAP records: the watched tasks
				  * mapping executable code (which file is at
				  * which address: symbols for hits read
				  * after a library is gone, or the task) */
	/* RING: write into the rings of this other ring handle (same scope,
	 * pid, cpus and sample options; it must stay open as long as this
	 * one) instead of rings of its own: several breakpoints, one stream
	 * per CPU in time order.  Their records are delivered by that
	 * handle (its on_record, cookie and hwbp_ring_* calls).  Since
	 * LIBHWBP_0.5 a HWBP_SCOPE_THREAD handle may write into the rings
	 * of a HWBP_SCOPE_PROCESS handle whose process has its thread
	 * (same sample options): its events are then opened per CPU. */
	struct hwbp *share_ring;
	/* Added after LIBHWBP_0.5 (a larger opts; an older library refuses
	 * it, as libbpf does).  RING with HWBP_SAMPLE_REGS alone, user hits,
	 * a ring per CPU (process or CPU scope), x86-64: a BPF program at
	 * the trap writes each sample, with the same fields (ip, pid, tid,
	 * time, addr, cpu, the registers of regs_mask), in place of perf.
	 * perf copies a register with two calls (~60 ns each where returns
	 * are costly: SRSO Safe RET); the program copies them with loads.
	 * Hits it cannot write are counted exactly (stats.lost, ring_stat).
	 * Needs CAP_BPF and CAP_PERFMON (or root); if refused, perf samples
	 * as without it: hwbp_stats.bpf and bpf_why say which and why.
	 * Handles sharing the ring (share_ring) follow its owner. */
	bool bpf_samples;
};

/* Declare and zero an options struct with its size set (libbpf's pattern). */
#define HWBP_OPTS(TYPE, NAME, ...)                                             \
	struct TYPE NAME = ({                                                  \
		memset(&NAME, 0, sizeof(struct TYPE));                         \
		(struct TYPE){ .sz = sizeof(struct TYPE), __VA_ARGS__ };       \
	})

/*
 * Arm a breakpoint on [addr, addr+len) for `access`.  len is 1, 2, 4 or 8 and
 * addr aligned to it (x86); execute breakpoints take len 0 or sizeof(long).
 * opts may be NULL: count the calling thread's hits.  On success *out is the
 * handle.  Errors: -EINVAL (a rule, named in hwbp_last_error), -EOPNOTSUPP
 * (read-only on x86), -ENOSPC (all debug registers taken), -EACCES/-EPERM
 * (privilege), -ESRCH (no such thread/process), -ENOSYS (no breakpoints).
 */
int hwbp_create(struct hwbp **out, uint64_t addr, uint32_t len,
		enum hwbp_access access, const struct hwbp_opts *opts);

/* Disarm and free; waits for callbacks of this handle still running in other
 * threads.  NULL is accepted.  Returns 0, or -EBADF for a closed handle. */
int hwbp_close(struct hwbp *bp);

/* Arm / disarm without losing the registers' reservation.
 * async-signal-safe. */
int hwbp_enable(struct hwbp *bp);
int hwbp_disable(struct hwbp *bp);
/*
 * HWBP_DELIVER_SIGNAL: wait up to timeout_ms (-1: no limit) until every
 * hit the kernel has counted so far has had its callback run and return,
 * in whatever thread it hit (after hwbp_disable: until every signal in
 * flight was handled; then the count equals stats.signals).  0, or
 * -ETIMEDOUT (those hits are in stats.lost, or wait in a thread that has
 * not run since), -EDEADLK in a hit callback.  Other deliveries: 0.
 */
int hwbp_drain(struct hwbp *bp, int timeout_ms);

/*
 * Move to a new placement (address, length, access) in place with
 * PERF_EVENT_IOC_MODIFY_ATTRIBUTES, or by close + reopen where the kernel
 * refuses (opts.rearm).  Hits that fired before the move are reported with
 * the old placement.  async-signal-safe on the modify path (and on the
 * reopen path for thread scopes).
 */
int hwbp_move(struct hwbp *bp, uint64_t addr, uint32_t len,
	      enum hwbp_access access);

/* Exact number of hits since create, summed over threads and CPUs.
 * async-signal-safe. */
int hwbp_read_count(struct hwbp *bp, uint64_t *count);

struct hwbp_stats {
	size_t sz;
	uint64_t signals;   /* callbacks run */
	uint64_t stale;     /* signals that fired before a move (reported
			     * with the old placement) */
	uint64_t records;   /* ring records delivered */
	uint64_t lost;      /* ring records the kernel dropped (buffer full);
			     * signal delivery: hits counted whose callback
			     * did not run (a SIGTRAP serves every handle
			     * an access fired when it decodes; until
			     * hwbp_drain returns 0, also those in flight) */
	uint64_t moves;     /* successful hwbp_move calls */
	uint64_t reopens;   /* moves done by close + reopen */
	uint32_t events;    /* perf events behind this handle now */
	uint32_t rings;     /* ring buffers behind this handle */
	/* Since LIBHWBP_0.4: */
	uint64_t recovered; /* hits the kernel did not count (a hypervisor
			     * lost the debug trap's cause: DR6 empty) that
			     * the library found by decoding, in this
			     * process; included in hwbp_read_count */
	/* Added after LIBHWBP_0.5 (opts.bpf_samples; a sharing handle
	 * reports its ring owner's): */
	int32_t bpf;        /* 1: a BPF program writes the samples; 0: perf
			     * (not asked); -errno: asked, refused */
	const char *bpf_why; /* bpf < 0: why, as hwbp_last_error would say
			      * (valid while the ring owner is open) */
};
int hwbp_get_stats(const struct hwbp *bp, struct hwbp_stats *stats);

/* HWBP_DELIVER_RING: an fd (epoll) readable when records wait. */
int hwbp_ring_fd(const struct hwbp *bp);
/* Wait up to timeout_ms (-1: forever) and deliver records to on_record.
 * Returns the number of hit records delivered (task records of
 * opts.task_events are delivered too, not counted), or -errno.  After an
 * fd from hwbp_ring_fd polled readable, call hwbp_ring_consume: the
 * readiness was used up. */
int hwbp_ring_poll(struct hwbp *bp, int timeout_ms);
/* Deliver what is waiting without blocking. */
int hwbp_ring_consume(struct hwbp *bp);
/*
 * One reader per CPU: the rings behind bp (those of opts.share_ring's
 * handle when it shares), up to max of them: each one's CPU (-1: a
 * thread's ring, any CPU) in cpus and its perf fd (pollable: readable
 * when wakeup_events records wait) in fds (either may be NULL).  Returns
 * how many rings there are, or -errno.  A ring is written only by the CPU
 * it collects: a reader running on that CPU that reads it at time T has
 * every record stamped before T (nothing can be half-written then).
 */
int hwbp_ring_cpus(const struct hwbp *bp, int *cpus, int *fds, int max);
/* Deliver what waits in the ring(s) of CPU cpu only, without blocking:
 * several threads may consume different CPUs at once (on_record is then
 * called from each of them).  The hit records delivered, or -errno. */
int hwbp_ring_consume_cpu(struct hwbp *bp, int cpu);
/* How full the ring of CPU cpu is, and how many samples bp's own events on
 * that CPU could not write into it so far. */
struct hwbp_ring_stat {
	size_t sz;
	uint64_t size;     /* data bytes of the ring */
	uint64_t waiting;  /* bytes written and not consumed yet */
	uint64_t lost;     /* samples dropped (PERF_FORMAT_LOST, kernel >=
			    * 6.0; 0 where unknown: see lost_known) */
	bool lost_known;
};
int hwbp_ring_stat_cpu(const struct hwbp *bp, int cpu,
		       struct hwbp_ring_stat *stat);

/* What this machine supports; fields are filled as far as info->sz allows. */
struct hwbp_probe {
	size_t sz;
	int slots;           /* debug registers per thread (probed) */
	bool breakpoints;    /* PERF_TYPE_BREAKPOINT works at all */
	bool sigtrap;        /* synchronous signal delivery (5.13+) */
	bool async_signal;   /* O_ASYNC owner-thread fallback */
	bool modify;         /* PERF_EVENT_IOC_MODIFY_ATTRIBUTES (4.17+) */
	bool read_only;      /* HWBP_READ accepted by hardware + kernel */
	bool exec;           /* execute breakpoints */
	bool cpu_wide;       /* HWBP_SCOPE_CPUS allowed for this caller */
	bool kernel;         /* kernel addresses allowed for this caller */
	bool cap_perfmon;    /* effective CAP_PERFMON */
	bool cap_sys_admin;  /* effective CAP_SYS_ADMIN */
	int paranoid;        /* /proc/sys/kernel/perf_event_paranoid (-99:?) */
	int max_len;         /* longest breakpoint (bytes) */
	bool fires;          /* an armed watchpoint really traps: false where
			      * the kernel accepts breakpoints but the CPU
			      * never delivers a hit (some hypervisors) */
	bool lost_count;     /* PERF_FORMAT_LOST (6.0+): ring drops are known
			      * at once, not with the kernel's next record */
	bool branches;       /* the last branches before each hit can be
			      * recorded: HWBP_SAMPLE_BRANCHES works
			      * (hwbp_probe_explain says why not) */
	bool bp_branch_stack; /* the kernel takes PERF_SAMPLE_BRANCH_STACK on
			       * breakpoint events (Linux refuses: EOPNOTSUPP) */
	bool lbr;            /* a cpu PMU with last-branch records (LBR) */
	bool intel_pt;       /* an intel_pt PMU (AUX trace) */
	bool pt_aux_sample;  /* a breakpoint in an intel_pt group takes
			      * PERF_SAMPLE_AUX (HWBP_SAMPLE_BRANCHES) */
	/* Added after LIBHWBP_0.5: */
	bool bpf_samples;    /* opts.bpf_samples can work for this caller: a
			      * BPF program loads and attaches to a
			      * breakpoint event (hwbp_probe_explain says
			      * why not) */
};
int hwbp_probe(struct hwbp_probe *info);
/* The probe as text, one line per feature with the reason when it is
 * missing.  Returns the length written (as snprintf), or -errno. */
int hwbp_probe_explain(char *buf, size_t size);

/* The message of the last failure in this thread ("" if none). */
const char *hwbp_last_error(void);

enum hwbp_log_level { HWBP_LOG_WARN = 0, HWBP_LOG_INFO, HWBP_LOG_DEBUG };
typedef void (*hwbp_print_fn)(enum hwbp_log_level level, const char *msg);
/* Install a message callback (NULL: silence).  The default prints warnings
 * to stderr.  Returns the previous one. */
hwbp_print_fn hwbp_set_print(hwbp_print_fn fn);

/* ucontext helpers for hit callbacks; async-signal-safe. */
uint64_t hwbp_uc_pc(const void *ucontext);
void hwbp_uc_set_pc(void *ucontext, uint64_t pc);
/* Length of the instruction at code (up to avail bytes), or -EINVAL. */
int hwbp_insn_len(const void *code, size_t avail);
/* Move the PC past the instruction at the PC; returns its length. */
int hwbp_uc_skip_insn(void *ucontext);

/* ---- Ranges: the scheduler's building blocks, usable alone ---- */

/* One debug register's worth of a range. */
struct hwbp_piece {
	uint64_t addr;
	uint32_t len; /* 1, 2, 4 or 8; addr aligned to it (arm64: 1..8
		       * inside one aligned 8-byte block) */
};
#define HWBP_SPLIT_EXACT (1u << 0) /* no byte outside the range (gdb's
				    * split); default: fewest registers */
/*
 * Split [addr, addr+len) into aligned pieces the hardware takes.  By default
 * the fewest registers: one per aligned 8-byte block the range touches,
 * each the narrowest aligned block covering the range's bytes there (it may
 * watch a few bytes outside the range: filter those hits with
 * hwbp_range_overlaps on the decoded access).  HWBP_SPLIT_EXACT never
 * watches a byte outside the range and may need more registers.  Writes up
 * to max pieces to out and returns how many the range needs (more than
 * max: call again with a bigger array), or -EINVAL.
 */
int hwbp_range_split(uint64_t addr, uint64_t len, unsigned flags,
		     struct hwbp_piece *out, int max);
/* Whether [a, a+alen) and [b, b+blen) share a byte.  async-signal-safe. */
bool hwbp_range_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen);

/* ---- Decoding what an instruction did to memory (x86-64: Zydis) ---- */

#define HWBP_NREGS 24 /* registers indexed as PERF_REG_X86_AX..R15 */

struct hwbp_mem_access {
	uint64_t addr;   /* first byte (when addr_known) */
	uint32_t len;    /* bytes */
	bool addr_known; /* false: built from a register the instruction
			  * changed, from fs/gs, or no registers given */
	bool reads, writes; /* both for a read-modify-write */
};
struct hwbp_insn_info {
	uint64_t insn_addr;
	uint32_t insn_len;
	int nmem;                      /* memory operands, 0..2 (movs) */
	struct hwbp_mem_access mem[2];
};
/*
 * Decode the instruction at code (avail bytes; it runs at insn_addr) and
 * say which memory it accesses.  regs (may be NULL) are the registers
 * *after* it ran, as a data watchpoint sees them.  0 or -EINVAL.
 * async-signal-safe.
 */
int hwbp_insn_decode(const void *code, size_t avail, uint64_t insn_addr,
		     const uint64_t *regs, struct hwbp_insn_info *info);
#define HWBP_TOUCH_READ (1 << 0)
#define HWBP_TOUCH_WRITE (1 << 1)
#define HWBP_TOUCH_UNSURE (1 << 2) /* an address was unknown: may touch */
/* How a decoded instruction touched [addr, addr+len): HWBP_TOUCH_* bits,
 * 0 when it did not (a stray hit).  async-signal-safe. */
int hwbp_insn_touches(const struct hwbp_insn_info *info, uint64_t addr,
		      uint64_t len);
/*
 * In this process: the instruction that ended at pc (a data watchpoint's
 * PC) and touched [addr, addr+len).  Where several byte sequences ending
 * at pc decode and touch it, the longest is taken if they agree on read /
 * write.  0, -ENOENT (the instructions that decode there touch none of
 * those bytes), -ENODATA (nothing decodes, the code is unreadable, or a
 * rep string instruction at pc was interrupted midway), -ENOTUNIQ
 * (readings disagree: no guess), -EINVAL (pc < 15, len 0, info NULL).
 * async-signal-safe.
 */
int hwbp_insn_before(uint64_t pc, uint64_t addr, uint64_t len,
		     const uint64_t *regs, struct hwbp_insn_info *info);
/* The same in process pid (0: this one), its code read with
 * process_vm_readv: a tracer's view of a stopped thread (regs from
 * ptrace, in PERF_REG_X86_* order).  Also -ESRCH / -EPERM when pid cannot
 * be read at all. */
int hwbp_insn_before_pid(pid_t pid, uint64_t pc, uint64_t addr, uint64_t len,
			 const uint64_t *regs, struct hwbp_insn_info *info);
/* The ucontext's general registers in PERF_REG_X86_* order (segment
 * registers 0).  async-signal-safe. */
void hwbp_uc_regs(const void *ucontext, uint64_t regs[HWBP_NREGS]);

/* ---- The scheduler: any number of watches, any byte range ---- */

/*
 * Debug-register constraint handling in user space: a scheduler accepts
 * any number of watches on one scope, splits each byte range onto
 * registers (hwbp_range_split), and keeps as many armed as the registers
 * allow by its policy, re-arming in place (PERF_EVENT_IOC_MODIFY_ATTRIBUTES).
 * Hits are decoded (hwbp_insn_before) so a hit on bytes outside the watch
 * (a register widened for alignment) is dropped and counted, and HWBP_READ
 * works on x86: armed as read-write, the hits whose instruction only
 * writes are dropped.
 */
enum hwbp_policy {
	HWBP_POLICY_PINNED = 0, /* always armed; a watch that does not fit
				 * fails with -ENOSPC */
	HWBP_POLICY_RR,         /* round-robin time slices (quantum_us) */
	HWBP_POLICY_RESERVOIR,  /* Witch: a new watch replaces an armed one
				 * with probability k/n, so each of the n
				 * watches seen is armed with equal chance;
				 * every quantum_us a new uniform draw */
};
/* RR and RESERVOIR take a watch that needs more registers than the
 * scheduler has: its pieces (one register each) take turns. */

struct hwbp_sched_opts {
	size_t sz;
	enum hwbp_policy policy;
	uint32_t registers;  /* registers to use (0: all the probe finds) */
	uint32_t quantum_us; /* RR time slice, RESERVOIR re-draw (0: 10000) */
	uint64_t seed;       /* RESERVOIR random seed (0: 1) */
	unsigned split;      /* HWBP_SPLIT_EXACT: no widened registers */
	bool manual;         /* RR, RESERVOIR: no timer thread; call
			      * hwbp_sched_rotate */
	/* For every register: scope (SELF: the thread calling
	 * hwbp_sched_create; CPUS is refused), pid, kernel, signal_mode,
	 * rearm; for HWBP_DELIVER_RING also ring_pages, wakeup_events,
	 * sample, regs_mask, stack_size, task_events, switch_events.
	 * Hits go to on_hit (SIGTRAP, this process only; NULL: count only, read with
	 * hwbp_watch_get_stats) or, with bp_opts->delivery ==
	 * HWBP_DELIVER_RING (any process), to on_record from
	 * hwbp_sched_poll. */
	const struct hwbp_opts *bp_opts;
	hwbp_hit_fn on_hit;
	hwbp_record_fn on_record;
	/* Ring delivery: records are handed over as read, with their watch
	 * and cookie, not decoded (touch 0) and strays not dropped: for
	 * callers that decode hits themselves, later or elsewhere (from the
	 * program's files).  The watch's hits count every record. */
	bool raw_records;
};

struct hwbp_sched;
struct hwbp_watch;

struct hwbp_watch_stats {
	size_t sz;
	uint64_t hits;      /* delivered */
	uint64_t strays;    /* dropped: the access missed the watch's bytes */
	uint64_t filtered;  /* dropped: a write on a HWBP_READ watch */
	uint64_t unsure;    /* delivered without a decoded instruction */
	uint64_t armed_ns;  /* time armed whole since hwbp_sched_add ... */
	uint64_t total_ns;  /* ... out of this long: the coverage */
	uint32_t registers; /* registers it needs (its pieces) */
	bool armed;         /* armed whole now (never, for a watch wider
			     * than the scheduler's registers) */
	/* Since LIBHWBP_0.4: */
	uint64_t any_ns;    /* time some of its pieces were armed */
	uint32_t pieces_armed; /* pieces armed now */
};

/* One register piece of a watch: hwbp_watch_get_piece_stats. */
struct hwbp_piece_stats {
	size_t sz;
	uint64_t addr;      /* the piece's register placement */
	uint32_t len;
	bool armed;         /* armed now */
	uint64_t armed_ns;  /* time armed since hwbp_sched_add ... */
	uint64_t total_ns;  /* ... out of this long */
};

int hwbp_sched_create(struct hwbp_sched **out,
		      const struct hwbp_sched_opts *opts);
/* Close every register and free every watch.  NULL is accepted. */
int hwbp_sched_close(struct hwbp_sched *s);
/* Watch [addr, addr+len) for access (HWBP_READ too); the hits carry
 * cookie.  *out (may be NULL) is the watch.  -ENOSPC: a pinned watch that
 * does not fit, or needs more registers than there are. */
int hwbp_sched_add(struct hwbp_sched *s, uint64_t addr, uint64_t len,
		   enum hwbp_access access, void *cookie,
		   struct hwbp_watch **out);
int hwbp_sched_remove(struct hwbp_sched *s, struct hwbp_watch *w);
/*
 * Since LIBHWBP_0.5.  Watch [addr, addr+len) in thread tid only (its
 * thread-local copy of a variable, say): the scheduler must deliver into
 * rings on a process (bp_opts: HWBP_DELIVER_RING, HWBP_SCOPE_PROCESS) and tid
 * be one of its threads, or, where children are followed (no
 * bp_opts.no_follow), a thread of a process it forked (at any depth; a forked
 * child's copy is where its parent's was).  Each register piece is a
 * register of that thread alone, armed at once and always (pinned, outside
 * the policy and its opts.registers), writing into the scheduler's rings: its
 * records come in the same per-CPU streams, with the watch and cookie, for
 * hits by tid only.  Not followed into the threads tid creates.  Remove it
 * with hwbp_sched_remove (when the thread ends).  -ENOSPC: the thread's
 * registers are taken (by the process's watches too); -ESRCH: tid is not a
 * thread of the process (or of its children); -EINVAL: not a ring scheduler
 * on a process.
 */
int hwbp_sched_add_thread(struct hwbp_sched *s, pid_t tid, uint64_t addr,
			  uint64_t len, enum hwbp_access access, void *cookie,
			  struct hwbp_watch **out);
/* RR: the next time slice now; RESERVOIR: a new draw (the timer thread
 * calls it every quantum). */
int hwbp_sched_rotate(struct hwbp_sched *s);
int hwbp_watch_get_stats(const struct hwbp_watch *w,
			 struct hwbp_watch_stats *stats);
/* Piece 0 .. stats.registers - 1 of w (in address order). */
int hwbp_watch_get_piece_stats(const struct hwbp_watch *w, uint32_t piece,
			       struct hwbp_piece_stats *stats);
/* Ring delivery: an epoll fd readable when records wait in any register's
 * ring; deliver them (waiting up to timeout_ms, -1: forever) or without
 * waiting.  Records come with the watch's cookie, filtered like hits:
 * the instruction is decoded from the target's memory with the sampled
 * registers (the scheduler samples the general registers itself).
 * Return the number of hit records read (before the filter drops
 * strays and writes on read watches), or -errno. */
/* The scheduler as a whole (ring delivery: every hit is accounted for:
 * counted = records + lost + those still in the rings). */
struct hwbp_sched_stats {
	size_t sz;
	uint64_t counted;    /* hits the kernel counted, all registers */
	uint64_t records;    /* hit records read (before filtering) */
	uint64_t lost;       /* hit records the rings dropped */
	uint64_t unmatched;  /* records of no known placement (0) */
	uint32_t registers;  /* registers opened */
	uint32_t watches;    /* live watches */
	/* Added after LIBHWBP_0.5: the rings' hwbp_stats.bpf and bpf_why
	 * (0 and NULL before the first ring watch is armed). */
	int32_t bpf;
	const char *bpf_why;
};
int hwbp_sched_get_stats(struct hwbp_sched *s, struct hwbp_sched_stats *stats);
int hwbp_sched_fd(const struct hwbp_sched *s);
int hwbp_sched_poll(struct hwbp_sched *s, int timeout_ms);
int hwbp_sched_consume(struct hwbp_sched *s);
/* Ring delivery: all registers write into one ring per CPU (the first
 * register's, opened with the first watch armed).  hwbp_ring_cpus and
 * hwbp_ring_consume_cpu for the scheduler: 0 rings before any watch was
 * armed. */
int hwbp_sched_ring_cpus(const struct hwbp_sched *s, int *cpus, int *fds,
			 int max);
int hwbp_sched_consume_cpu(struct hwbp_sched *s, int cpu);
/* hwbp_ring_stat_cpu for the scheduler's ring of CPU cpu; lost sums every
 * register's events on that CPU. */
int hwbp_sched_ring_stat_cpu(struct hwbp_sched *s, int cpu,
			     struct hwbp_ring_stat *stat);

/* ---- The sampler: watchpoints driven by a stream of sampled accesses ---- */

/*
 * For sampling tools (Witch and its clients: silent stores, dead stores,
 * false sharing): a stream of candidate accesses, supplied by the caller
 * (hwbp_sampler_offer, from its own sampling) or by a PMU event with
 * PERF_SAMPLE_ADDR (opts.source), competes for the debug registers by
 * reservoir sampling; when a watched address is touched again, on_hit gets
 * the hit and the sample that armed the register, and says whether to keep
 * watching or to free the register for the next sample.  Registers are
 * opened once (hwbp_sampler_create) and re-armed in place with
 * PERF_EVENT_IOC_MODIFY_ATTRIBUTES, so offering is cheap and
 * async-signal-safe: it may be called from the caller's own sampling
 * signal handler.
 */
struct hwbp_sampler;

/* One candidate access: what the caller (or the PMU) saw. */
struct hwbp_sample {
	uint64_t addr;           /* the accessed address */
	uint32_t len;            /* 1..8 bytes, within one aligned 8-byte
				  * block (wider registers' stray hits are
				  * dropped by decoding) */
	enum hwbp_access access; /* what to watch for (HWBP_READ too) */
	uint64_t ip;             /* the instruction that made the sampled
				  * access (0: unknown) */
	pid_t tid;               /* the thread that made it (0: unknown) */
	uint64_t time_ns;        /* CLOCK_MONOTONIC when sampled (0) */
	void *cookie;            /* the caller's */
	/* Filled by the sampler when it arms the register: */
	uint64_t seq;            /* 1 + the samples offered before it */
	uint64_t value;          /* the bytes at addr once armed (len bytes,
				  * little-endian) ... */
	bool value_known;        /* ... if they could be read */
	uint64_t armed_ns;       /* CLOCK_MONOTONIC after the value read */
};

/* A hit on a sampled address, for on_hit. */
struct hwbp_sampler_hit {
	const struct hwbp_sample *sample; /* the sample that armed it */
	const struct hwbp_hit *hit;       /* signal delivery (else NULL) */
	const struct hwbp_record *record; /* ring delivery (else NULL) */
	void *ucontext;                   /* signal delivery: the handler's */
	int touch;            /* HWBP_TOUCH_* of the decoded instruction,
			       * 0: not decoded */
	uint64_t value;       /* the bytes at addr now: in the SIGTRAP
			       * handler, right after the access; for a
			       * ring record, when it is read (approximate) */
	bool value_known;
	bool early;           /* ring: the hit's time is before the value
			       * was read at arming: sample->value may
			       * already include this access */
};

#define HWBP_SAMPLER_RELEASE 0 /* on_hit's answer: free the register */
#define HWBP_SAMPLER_KEEP 1    /* keep watching (the value is re-read) */
/* Signal delivery: runs in the SIGTRAP handler (async-signal-safe only);
 * ring delivery: in the thread calling hwbp_sampler_poll. */
typedef int (*hwbp_sampler_fn)(const struct hwbp_sampler_hit *h,
			       void *cookie);

enum hwbp_sample_source {
	HWBP_SOURCE_CALLER = 0, /* samples come from hwbp_sampler_offer */
	HWBP_SOURCE_PMU_STORES, /* the CPU's precise store sampling event
				 * (Intel mem-stores) with PERF_SAMPLE_ADDR */
	HWBP_SOURCE_PMU_LOADS,  /* ... precise loads (Intel mem-loads) */
};

struct hwbp_sampler_opts {
	size_t sz;
	uint32_t registers;       /* 0: all the probe finds */
	uint64_t seed;            /* reservoir random seed (0: 1) */
	/* scope, pid, kernel, delivery (HWBP_DELIVER_RING for any process;
	 * anything else: signals, in this process), ring_pages,
	 * signal_mode, rearm, sample, regs_mask (the general registers are
	 * always sampled on rings, for decoding). */
	const struct hwbp_opts *bp_opts;
	hwbp_sampler_fn on_hit;   /* required */
	void *cookie;             /* passed to on_hit */
	enum hwbp_sample_source source;
	uint64_t period;          /* PMU: one sample every period events
				   * (0: 10007) */
	enum hwbp_access access;  /* PMU: what to watch on a sampled
				   * address (0: the sampled kind) */
};

struct hwbp_sampler_stats {
	size_t sz;
	uint64_t offered;    /* samples offered (caller or PMU) */
	uint64_t armed;      /* samples that got a register */
	uint64_t replaced;   /* ... in place of an armed sample */
	uint64_t passed;     /* not chosen by the reservoir */
	uint64_t busy;       /* dropped: the register chosen was being
			      * changed by another thread or a hit */
	uint64_t unfit;      /* dropped: spans two 8-byte blocks, or the
			      * kernel refused the placement */
	uint64_t duplicates; /* dropped: those bytes are armed already */
	uint64_t hits;       /* delivered to on_hit */
	uint64_t strays;     /* dropped: the access missed the sample's
			      * bytes (a widened register) */
	uint64_t filtered;   /* dropped: a write on a HWBP_READ sample */
	uint64_t unmatched;  /* hits of no sample (re-armed over 64 times
			      * since) */
	uint64_t released, kept; /* on_hit's answers */
	uint64_t lost;       /* ring records the kernel dropped */
	uint64_t pmu_samples, pmu_lost; /* PMU source */
	uint32_t registers;  /* registers held */
};

int hwbp_sampler_create(struct hwbp_sampler **out,
			const struct hwbp_sampler_opts *opts);
/* Close the registers (waiting for callbacks still running) and free.
 * NULL is accepted. */
int hwbp_sampler_close(struct hwbp_sampler *s);
/*
 * Offer one sample: it takes a free register, or replaces a random armed
 * one with probability k/n (k registers, n samples offered since a
 * register was last freed), so every sample of that window is equally
 * likely to be watched.  1: armed, 0: not chosen or dropped (counted in
 * the stats), -EINVAL: bad sample.  async-signal-safe (signal delivery or
 * a thread scope; ring delivery with HWBP_SCOPE_PROCESS re-arms each
 * thread's event: safe too, but slower).
 */
int hwbp_sampler_offer(struct hwbp_sampler *s,
		       const struct hwbp_sample *sample);
/* Free every register (samples armed are dropped); the stream goes on.
 * async-signal-safe. */
int hwbp_sampler_release_all(struct hwbp_sampler *s);
int hwbp_sampler_get_stats(const struct hwbp_sampler *s,
			   struct hwbp_sampler_stats *stats);
/* The samples armed now (up to max copied to out, may be NULL): how many
 * registers hold one. */
int hwbp_sampler_armed(const struct hwbp_sampler *s, struct hwbp_sample *out,
		       int max);
/* Ring delivery and PMU sources: an epoll fd readable when records wait;
 * deliver them (waiting up to timeout_ms, -1: forever) or without
 * waiting.  Return the number of records read, or -errno. */
int hwbp_sampler_fd(const struct hwbp_sampler *s);
int hwbp_sampler_poll(struct hwbp_sampler *s, int timeout_ms);
int hwbp_sampler_consume(struct hwbp_sampler *s);

/* Short name of an access type ("write", "rw", ...). */
const char *hwbp_access_name(enum hwbp_access access);

#ifdef __cplusplus
}
#endif
#endif /* HWBP_H */
