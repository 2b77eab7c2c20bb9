/* SPDX-License-Identifier: MIT */
/*
 * tool.h - what the files of the `hwbp` command share: locations resolved
 * from symbols and DWARF, code locations, decoded values, output.
 *   hwbp.c (options, subcommands) -> target.c (launch/attach) ->
 *   symbols.c (libdwfl) -> values.c (Zydis: what a write stored) ->
 *   watch.c (the event loop) -> output.c (human, JSON, summary)
 */
#ifndef HWBP_TOOL_H
#define HWBP_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <hwbp.h>

/* CLOCK_MONOTONIC in nanoseconds (the clock perf stamps records with). */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Exit statuses: usage errors 2, runtime errors 1. */
#define EXIT_USAGE 2
#define EXIT_RUNTIME 1

/* How a value is shown, from its DWARF type. */
enum vkind {
	V_HEX = 0, /* unknown: hex */
	V_SIGNED,
	V_UNSIGNED,
	V_BOOL,
	V_CHAR,
	V_POINTER,
	V_ENUM,
	V_FLOAT,
};

struct vtype {
	enum vkind kind;
	uint32_t size;
	char name[64];        /* C type name, "" if unknown */
	int nenums;
	struct { int64_t value; char name[48]; } *enums;
};

struct location {
	char spec[256];       /* as typed */
	char name[256];       /* shown: the spec without :LEN */
	char module[256];     /* module the symbol is in ("" for 0xADDR) */
	uint64_t addr;
	uint32_t len;
	enum hwbp_access access;
	struct vtype type;
	bool resolved;
};

struct code_loc {
	uint64_t ip;          /* the address described */
	char function[256];   /* "" if unknown */
	uint64_t offset;      /* from the function's start */
	char file[512];       /* "" if no line info */
	int line;
	char module[256];
};

/* syms_resolve's answer for `lib.so:name` while lib.so is not loaded. */
#define RESOLVE_PENDING 100

struct syms;
int syms_open(struct syms **out, pid_t pid, bool kernel);
void syms_close(struct syms *s);
void syms_refresh(struct syms *s);
/* 0, or an exit status (EXIT_USAGE for a bad name) with msg set. */
int syms_resolve(struct syms *s, const char *spec, enum hwbp_access access,
		 struct location *loc, char *msg, size_t msglen);
void syms_describe(struct syms *s, uint64_t ip, struct code_loc *out);
/* Bytes of code at addr from the module's ELF file (works after the
 * process exited); returns the count read. */
size_t syms_read_code(struct syms *s, uint64_t addr, void *buf, size_t len);
/* Every variable of the main executable (data objects in writable
 * sections, with their run-time address); returns how many. */
typedef void (*data_object_fn)(const char *name, uint64_t addr, uint64_t size,
			       void *ctx);
int syms_data_objects(struct syms *s, data_object_fn fn, void *ctx);
/* The start of the function containing addr, or 0. */
uint64_t syms_function_start(struct syms *s, uint64_t addr);

/* ---- arch.c: the CPU's trap instruction and PC under ptrace ---- */
long arch_with_trap(long word);      /* word with a trap in its first bytes */
uint64_t arch_trap_pc(uint64_t at);  /* the PC after trapping at `at` */
int arch_get_pc(pid_t tid, uint64_t *pc);
int arch_set_pc(pid_t tid, uint64_t pc);

/* ---- values.c: what a write stored (decoded on x86-64 only) ---- */

/* perf user registers sampled with each hit (x86-64 PERF_REG_X86_*):
 * AX..FLAGS (bits 0-9) and R8..R15 (bits 16-23). */
#define SAMPLED_REGS_MASK (0x3ffull | (0xffull << 16))

/* The access an instruction made, decoded. */
struct access {
	bool decoded;      /* found the instruction that ended at the IP */
	uint64_t insn_addr; /* its address */
	uint32_t insn_len;
	char mnemonic[24];
	bool mem_known;    /* mem_addr computed from registers */
	uint64_t mem_addr;
	uint32_t mem_size;
	bool reads, writes;
};

enum vquality { VQ_NONE = 0, VQ_APPROX, VQ_EXACT };

/* A location's bytes as the sequence of hits left them. */
struct value_chain {
	uint8_t bytes[8];
	enum vquality quality;
};

struct values;
struct values *values_new(struct syms *s);
void values_free(struct values *v);
/* Decode the instruction that ended at `ip` (cached by ip). */
void values_decode(struct values *v, uint64_t ip, struct access *out);
/* Apply a write hit at `ip` to `chain` (the watched [addr, addr+len)):
 * old is the value before, new after, each with its quality.  `regs` are the
 * sampled registers (NULL if none); `mem` reads the target's memory now. */
struct hit_values {
	uint64_t old_value, new_value;
	enum vquality old_q, new_q;
};
void values_apply(struct values *v, uint64_t ip, const uint64_t *regs,
		  uint64_t addr, uint32_t len, struct value_chain *chain,
		  bool (*mem)(uint64_t addr, void *buf, size_t len, void *ctx),
		  void *mem_ctx, struct hit_values *out);

/* ---- target.c: the watched program ---- */
struct target {
	pid_t pid;
	bool launched;   /* we started it (and report its exit status) */
	bool exited;
	int status;      /* wait status once exited */
	int pidfd;       /* readable when an attached process exits (-1) */
};
/* Start argv stopped at its first instruction (exec); 0 or exit status. */
int target_launch(char **argv, bool no_aslr_change, struct target *t,
		  char *msg, size_t ml);
/* Run a launched program (still stopped at exec) to its entry point, so
 * the libraries it needs are mapped; it stays stopped there. */
int target_run_to_entry(struct target *t, char *msg, size_t ml);
/* Let the launched program run (ptrace detach). */
int target_resume(struct target *t);
int target_attach(pid_t pid, struct target *t, char *msg, size_t ml);
/* Read the target's memory now (process_vm_readv). */
bool target_read(uint64_t addr, void *buf, size_t len, void *ctx);
/* Reap a launched target if it has exited; true once it has. */
bool target_poll_exit(struct target *t, bool block);
/* The exit code hwbp should return for the target's wait status. */
int target_exit_code(const struct target *t);

/* ---- output.c ---- */
struct frame {
	uint64_t ip;
	struct code_loc where;
};

/* One hit, ready to print. */
struct hit_event {
	uint64_t time_ns;       /* since the watch started */
	pid_t pid, tid;
	const char *thread;
	const char *access;     /* "write", "read", "exec", "rw" */
	const struct location *loc;
	uint64_t addr;
	bool has_values;        /* a write: old -> new */
	bool has_read;          /* a read: the value read (val.new_*) */
	struct hit_values val;
	struct code_loc where;
	const struct frame *bt; /* NULL without --bt */
	int nbt;
	const struct ran_before *ran; /* NULL without --switches */
	int nran;
	const struct branch_where *br; /* NULL without --branches; */
	int nbr;                /* latest first */
};

/* A taken branch before the hit (--branches), described. */
struct branch_where {
	uint64_t from, to;
	struct code_loc from_w, to_w;
};
#define MAX_BRANCHES 8

/* A run on the hit's CPU that ended before the hit (--switches). */
struct ran_before {
	pid_t pid, tid;
	char thread[32];
	uint64_t before_ns;     /* from the end of the run to the hit */
	bool preempted;         /* it left runnable (else: to wait) */
};
#define MAX_RAN_BEFORE 4

struct out {
	FILE *f;
	bool json;
	bool broken;            /* the reader went away (EPIPE) */
};

void out_hit(struct out *o, const struct hit_event *e);
void out_value(FILE *f, const struct vtype *t, uint64_t v, uint32_t len,
	       bool json);
void out_json_string(FILE *f, const char *s);

/* The summary's rows. */
struct loc_count {
	char key[1024];         /* function+offset (file:line) */
	struct code_loc where;
	const char *location;   /* the watched name */
	uint64_t hits;
};
struct thread_count {
	pid_t tid;
	char name[32];
	uint64_t hits;
};
/* A location's time armed, when registers were shared (scheduler). */
struct coverage {
	const char *location;
	uint64_t armed_ns, total_ns;
};

struct summary {
	uint64_t hits, lost, filtered, wall_ns;
	uint64_t strays;         /* hits on bytes next to a location, dropped */
	uint64_t writes_dropped; /* --read: writes seen and dropped */
	const struct coverage *cov; /* per location, NULL if never shared */
	int ncov;
	struct loc_count *by_loc;
	int nloc;
	struct thread_count *by_thread;
	int nthread;
	const struct location *locs;
	const uint64_t *counts; /* --count: per location, else NULL */
	int nlocs;
};
void out_summary(struct out *o, FILE *human, const struct summary *s);

/* ---- switches.c: per-CPU history of SWITCH records ---- */
struct switch_hist;
struct switch_hist *swh_new(void);
void swh_free(struct switch_hist *h);
void swh_add(struct switch_hist *h, const struct hwbp_record *r);
int swh_before(const struct switch_hist *h, uint32_t cpu, uint64_t t,
	       struct ran_before *out, int max);
void swh_prune(struct switch_hist *h, uint64_t cutoff);

/* ---- branches.c: the Intel PT trace of a hit (--branches) ---- */
struct branch {
	uint64_t from, to;
};
/* Reads len bytes of the target's code at addr; returns the count. */
typedef size_t (*code_read_fn)(uint64_t addr, void *buf, size_t len,
			       void *ctx);
/* The last `max` (up to 256) taken branches in an Intel PT trace, oldest
 * first, the code read through `read`: the count, or -ENODATA (no PSB to
 * start at), -EINVAL, -ENOMEM. */
int pt_branches(const void *trace, size_t size, code_read_fn read, void *ctx,
		struct branch *out, int max);

/* ---- cond.c: --if ---- */
enum cond_op { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE, C_AND };
struct cond {
	enum cond_op op;
	uint64_t value;  /* as typed, two's complement for negatives */
};
/* "== 0", "!=5", "> -1", "& 0x4": 0, or -EINVAL with msg set. */
int cond_parse(const char *text, struct cond *c, char *msg, size_t ml);
/* The new value `v` of `len` bytes, signed or not, against c. */
bool cond_eval(const struct cond *c, uint64_t v, uint32_t len, bool is_signed);

/* ---- watch.c: the event loop ---- */
struct watch_cfg {
	enum hwbp_access access;
	bool json, bt, count, follow, kernel;
	bool switches;       /* --switches */
	bool branches;       /* --branches */
	pid_t pid;           /* -p, 0 when launching */
	pid_t tid;           /* --tid, 0: all threads */
	bool has_cond;
	struct cond cond;
	uint64_t max;        /* --max, 0: no limit */
	int *cpus;           /* --cpu */
	int ncpus;
	uint32_t ring_pages;
	enum hwbp_policy policy; /* --policy (with policy_set) */
	bool policy_set;
	uint32_t quantum_us;     /* --quantum, 0: the library's */
	FILE *out;
	char **locs;
	int nlocs;
	char **cmd;          /* after --, NULL with -p or --cpu alone */
};
int watch_run(const struct watch_cfg *cfg);
/* Block SIGINT, SIGTERM, SIGCHLD, SIGHUP (old: the mask before), ignore
 * SIGPIPE; a signalfd that reads them. */
int block_stop_signals(sigset_t *old);
/* Warn on stderr when the debug registers cannot fire here. */
void warn_if_no_traps(void);

/* ---- silent.c: the silent-store detector ---- */
struct silent_cfg {
	bool json, pmu;
	pid_t pid;             /* -p, 0 when launching */
	uint32_t period_us;    /* offer a candidate this often */
	uint32_t window_ms;    /* free all registers this often */
	uint64_t seed;
	int top;               /* code locations shown */
	FILE *out;
	char **locs;           /* candidates (none: every variable) */
	int nlocs;
	char **cmd;
};
int silent_run(const struct silent_cfg *cfg);

/* ---- unwind.c: backtraces from a sampled stack (DWARF CFI) ---- */
/*
 * Input per hit: the sampled user registers (x86-64 perf order, one value
 * per bit of regs_mask in bit order; SP and IP required, SAMPLED_REGS_MASK
 * gives all the unwinder uses), `stack_size` bytes of the user stack copied
 * from the sampled SP (hwbp_record.stack / .stack_size: the kernel's
 * dyn_size), and the address space as a libdwfl `Dwfl` with its modules
 * reported (the caller owns it).  `layout_id` names that Dwfl's module set:
 * change it whenever modules are reported again (a dlopen, an exec) and
 * never reuse one for another set, since rules and names are cached per
 * (layout_id, PC).  An unwinder is not thread-safe: one per thread.
 */
struct Dwfl;
struct unwinder;

/* How a walk ended. */
enum unwind_end {
	UNWIND_END_OUTERMOST = 0, /* the CFI says the return address is
				   * undefined (_start, a thread's clone3:
				   * the walk is complete), or it is 0 */
	UNWIND_END_MAX,           /* `max` frames written */
	UNWIND_END_STACK,         /* the next frame's data lies past the
				   * stack copy: sample more stack bytes */
	UNWIND_END_NO_CFI,        /* a PC in no module or without CFI, and
				   * RBP is not a frame chain */
	UNWIND_END_BAD_FRAME,     /* the rules need a register the sample
				   * lacks, give no progress (a loop), or use
				   * an operation not evaluated here */
};

struct unwind_stats {
	uint64_t samples, frames;   /* walks, return addresses written */
	uint64_t rule_hits, rule_misses; /* the per-PC cache */
	uint64_t exprs;             /* DWARF expressions evaluated */
	uint64_t fp_frames;         /* frames walked by frame pointer */
	uint64_t slow_symbols;      /* names the index did not have: asked
				     * dwfl_module_addrinfo */
	uint64_t resets;            /* rule cache full: started over */
	uint64_t restarts;          /* walks begun again: a new rule reads a
				     * register not restored until then */
};

struct unwinder *unwind_new(void);      /* NULL: no memory */
void unwind_free(struct unwinder *u);   /* NULL accepted */
/*
 * Walk the sample's stack: write to pcs the callers' PCs, innermost first,
 * not the hit's own PC (regs' IP), at most max.  Each is a return address
 * (just after its call: name it by pc - 1), except where exact[i] is set
 * (exact may be NULL): the PC a signal interrupted, below a signal frame
 * (glibc's __restore_rt), is the instruction itself: name it by pc.
 * Returns how many, with *end saying why it stopped; -EINVAL when regs
 * lack SP or IP; -EOPNOTSUPP on CPUs other than x86-64.  Reads nothing
 * but the stack copy and the modules' CFI.
 */
int unwind_sample(struct unwinder *u, struct Dwfl *dwfl, uint64_t layout_id,
		  const uint64_t *regs, uint64_t regs_mask, const void *stack,
		  uint64_t stack_size, uint64_t *pcs, uint8_t *exact, int max,
		  enum unwind_end *end);
const char *unwind_end_name(enum unwind_end e);
void unwind_get_stats(const struct unwinder *u, struct unwind_stats *s);

/* One frame of the chain of inlined calls at a PC. */
struct unwind_inline {
	const char *function;  /* DW_AT_name, else the ELF symbol ("": ?) */
	const char *linkage;   /* mangled name (C++: DW_AT_linkage_name or
				* an _Z symbol) to demangle, NULL if none */
	const char *file;      /* "" unknown */
	int line, column;      /* 0 unknown */
	uint64_t offset;       /* last frame: pc - its ELF symbol's start */
};
/*
 * The functions at `pc` (for a return address pass ra - 1), innermost
 * first: [0] is where pc is (file:line of pc), [i] the function [i-1] was
 * inlined into (file:line of that inlined call), the last the out-of-line
 * function (offset from its symbol).  Without DWARF there, one frame from
 * the ELF symbol table (searched by address in a sorted index built once
 * per module); 0 if pc is in no module or no symbol.  Returns
 * the count; *frames stays valid until the next unwind_sample (which
 * empties this cache once it holds 262,144 PCs) or unwind_free.  Cached
 * per (layout_id, pc).
 */
int unwind_inlines(struct unwinder *u, struct Dwfl *dwfl, uint64_t layout_id,
		   uint64_t pc, const struct unwind_inline **frames);
/*
 * The ELF symbol containing pc and pc's offset in it: what
 * dwfl_module_addrinfo answers, by binary search in an index of the
 * module's symbols built on first use (per layout_id).  NULL if none.  The
 * name is libdwfl's: valid while the module stays reported.
 */
const char *unwind_symbol(struct unwinder *u, struct Dwfl *dwfl,
			  uint64_t layout_id, uint64_t pc, uint64_t *offset);

#endif
