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
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <hwbp.h>

/* The file name of a path (after its last '/'). */
static inline const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

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

/* A pointer (or reference) a LOCATION's path went through: `p->x`
 * watches p's target; --follow-pointers would watch the slot too. */
struct loc_deref {
	uint64_t slot;        /* where the pointer is */
	uint64_t value;       /* what it held when resolved */
	char expr[64];        /* the pointer, as a LOCATION ("head->next") */
};
#define LOC_MAX_DEREFS 8

struct location {
	char spec[256];       /* as typed */
	char name[256];       /* shown: the spec without :LEN */
	char module[256];     /* module the symbol is in ("" for 0xADDR) */
	uint64_t addr;
	uint32_t len;
	enum hwbp_access access;
	struct vtype type;
	bool resolved;
	/* What syms_resolve found beyond addr/len (symbols.c, dwtype.c): */
	uint64_t size;        /* the object's size (0: unknown) */
	uint64_t type_mod;    /* start of the module whose DWARF has ... */
	uint64_t type_die;    /* ... the type's DIE (0: none): syms_member_at */
	uint64_t type_addr;   /* where that typed object starts (the name's,
			       * before +OFFSET; a thread-local's: its offset) */
	int nderefs;          /* pointers followed, in path order */
	struct loc_deref derefs[LOC_MAX_DEREFS];
	bool tls;             /* thread-local: addr is 0; per thread, */
	uint64_t tls_offset;  /* the offset in its module's TLS block, */
	uint64_t tls_mod;     /* that module's start: syms_tls_address */
};

/* A code address described (the strings are interned: never NULL, ""
 * when unknown, alive as long as the map or syms that made them). */
struct code_loc {
	uint64_t ip;          /* the address described */
	const char *function; /* demangled */
	uint64_t offset;      /* from the function's start */
	const char *file;     /* source file of the line */
	int line;
	const char *module;   /* the file the code is in ("": unknown,
			       * "[kernel]") */
	uint64_t module_base; /* where the file's address 0 is: ip minus it
			       * is ip in the file, as addr2line takes it */
	bool has_base;        /* module_base is known (the file was read) */
};

/* The code is in a file of the process (not "[kernel]", not unknown). */
static inline bool code_loc_in_file(const struct code_loc *w)
{
	return w->module[0] && w->module[0] != '[';
}

/* ---- strings interned: equal strings, one pointer ---- */
struct strpool;
struct strpool *strpool_new(void);
void strpool_free(struct strpool *p);
/* The pool's copy of s ("" for NULL or "", and when out of memory). */
const char *strpool_get(struct strpool *p, const char *s);

/* syms_resolve's answer for `lib.so:name` while lib.so is not loaded, and
 * for a path through a pointer that points nowhere yet (loc->nderefs). */
#define RESOLVE_PENDING 100

struct syms;
int syms_open(struct syms **out, pid_t pid, bool kernel);
void syms_close(struct syms *s);
void syms_refresh(struct syms *s);
/* 0, or an exit status (EXIT_USAGE for a bad name) with msg set. */
int syms_resolve(struct syms *s, const char *spec, enum hwbp_access access,
		 struct location *loc, char *msg, size_t msglen);
/* The last syms_resolve found no such name in the process. */
bool syms_missed(const struct syms *s);
/* The path of the program the process runs. */
const char *syms_exe(const struct syms *s);
void syms_describe(struct syms *s, uint64_t ip, struct code_loc *out);
typedef struct Dwfl_Module Dwfl_Module;
/* ip in mod: its function (demangled) and offset, file:line, the module's
 * file and base; strings interned in p (codemap.c's and syms_describe). */
void syms_describe_module(Dwfl_Module *mod, uint64_t ip, struct strpool *p,
			  struct code_loc *out);
/* A kernel address from /proc/kallsyms (ctx: the struct syms), as
 * codemap_kernel_fn. */
void syms_describe_kernel(void *ctx, uint64_t ip, struct code_loc *out);
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


/* ---- codemap.c: code addresses to names, per address space ---- */

struct code_source; /* (values.c's, below) */

struct codemap;
/* Kernel addresses are described by this callback (kallsyms), if any. */
typedef void (*codemap_kernel_fn)(void *ctx, uint64_t ip,
				  struct code_loc *out);
struct codemap *codemap_new(codemap_kernel_fn kernel, void *kernel_ctx);
void codemap_free(struct codemap *m);
/* Events of the record stream, in time order: a process watched from
 * now (its /proc/PID/maps read; again if known: code mapped while no
 * event recorded mappings), a fork, an exec, a code mapping. */
void codemap_process(struct codemap *m, pid_t pid);
void codemap_fork(struct codemap *m, pid_t child, pid_t parent);
void codemap_exec(struct codemap *m, pid_t pid);
void codemap_mmap(struct codemap *m, pid_t pid, uint64_t start, uint64_t len,
		  uint64_t pgoff, const char *path);
/* function+offset, file:line of ip in pid's address space now (cached). */
const struct code_loc *codemap_describe(struct codemap *m, pid_t pid,
					uint64_t ip);
/* The functions at pc (a return address: pass ra - 1), innermost first:
 * where pc is (an inlined function, file:line of pc), each function it was
 * inlined into (file:line of the inlined call), last the out-of-line one
 * (offset from its symbol).  Cached per address; u: the caller's
 * unwinder (unwind_inlines).  The count, 0 if nothing names pc. */
struct unwinder;
int codemap_frames(struct codemap *m, struct unwinder *u, pid_t pid,
		   uint64_t pc, const struct code_loc **frames);
/* A code source over pid's address space; ctx is its storage. */
struct code_ctx {
	struct codemap *m;
	pid_t pid;
};
void codemap_code(struct codemap *m, pid_t pid, struct code_source *cs,
		  struct code_ctx *ctx);
/* The libdwfl session of pid's modules (for unwinding) and its id. */
typedef struct Dwfl Dwfl;
Dwfl *codemap_dwfl(struct codemap *m, pid_t pid, uint64_t *layout_id);
/* ---- symbols.c, dwtype.c, tls.c: LOCATIONs beyond a static address ---- */

/* Reads len bytes of the target's memory at addr. */
typedef bool (*mem_read_fn)(uint64_t addr, void *buf, size_t len, void *ctx);
/* syms_resolve with the target's memory read through `read` to follow
 * pointers and references (`p->x`, `*p`, `p[2]`, `a.b->c[2].d`): each
 * pointer passed is in loc->derefs.  syms_resolve itself reads the pid's
 * memory (process_vm_readv).  A pointer on the path that is NULL, points
 * where nothing is mapped (a PIE's pointers before relocation) or cannot
 * be read is RESOLVE_PENDING, with msg saying which and loc->nderefs > 0
 * (loc->derefs: the pointers read so far, the last one the culprit). */
int syms_resolve_mem(struct syms *s, const char *spec, enum hwbp_access access,
		     mem_read_fn read, void *ctx, struct location *loc,
		     char *msg, size_t msglen);
/* Resolve thread-locals (loc->tls set, addr 0) instead of refusing them:
 * for a caller that computes each thread's copy (syms_tls_address). */
void syms_allow_tls(struct syms *s, bool allow);
/* Why thread-locals are refused (a static string, said in the refusal);
 * NULL: the general message. */
void syms_tls_why(struct syms *s, const char *why);
/* The member or element of `loc` that [addr, addr+len) falls in, named
 * from loc->name ("cfg.limit", "arr[3]", "obj.x", "cfg+12" in padding),
 * and its type (vt may be NULL; free vt->enums).  0, or -ENOENT (no type
 * known, or outside the object).  A thread-local's loc->addr is 0: give
 * addr as the offset into the thread's copy. */
int syms_member_at(struct syms *s, const struct location *loc, uint64_t addr,
		   uint32_t len, char *name, size_t namelen, struct vtype *vt);
/* The address of thread-local `loc` (loc->tls) in the thread whose thread
 * pointer is tp (x86-64: fs_base), through that thread's DTV, its
 * process's memory read through `read` (the thread's own: a forked
 * child's is its own copy of its parent's, which may have moved on
 * since): 0, or
 * -ENOENT (that thread has not allocated the module's TLS yet: a dlopen'd
 * module it never touched), -EOPNOTSUPP (not glibc, or not x86-64),
 * -EIO (memory unreadable); msg says why. */
int syms_tls_address(struct syms *s, const struct location *loc,
		     mem_read_fn read, void *ctx, uint64_t tp, uint64_t *addr,
		     char *msg, size_t msglen);
/* The thread pointer (fs_base on x86-64) of thread tid: a brief ptrace
 * stop (PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_ARCH_PRCTL ARCH_GET_FS,
 * detach), or the call alone if we already trace it stopped.  0 or -errno
 * (-EPERM: no ptrace right; -EOPNOTSUPP on other CPUs). */
int thread_pointer(pid_t tid, uint64_t *tp);

/* The rule for :LEN, said the same way by --help and every message. */
#define LEN_RULE "1 to 4096 bytes at any address"

/* ---- demangle.c: C++ names ---- */
/* `mangled` demangled into out ("_ZN3app5totalE" -> "app::total"); other
 * names copied as they are.  Returns strlen(out). */
size_t demangle(const char *mangled, char *out, size_t outlen);
/* A long (demangled) name cut for one human line: nested template
 * arguments, then all, then parameter lists become <...> and (...). */
void cut_name(const char *full, char *out, size_t outlen);

/* ---- arch.c: the CPU's trap instruction and PC under ptrace ---- */
long arch_with_trap(long word);      /* word with a trap in its first bytes */
uint64_t arch_trap_pc(uint64_t at);  /* the PC after trapping at `at` */
int arch_get_pc(pid_t tid, uint64_t *pc);
int arch_set_pc(pid_t tid, uint64_t pc);
/* A stopped thread's general registers in perf's order (PERF_REG_X86_*
 * on x86-64); -1 where unknown (arm64: not needed). */
int arch_get_regs(pid_t tid, uint64_t regs[HWBP_NREGS]);

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
	bool mem_known;    /* mem_addr known without registers (rip-relative) */
	uint64_t mem_addr;
	uint32_t mem_size; /* the memory it writes (else the one it reads) */
	bool reads, writes;
	bool reads_other;  /* it also reads other memory (movs, push mem) */
};

enum vquality { VQ_NONE = 0, VQ_APPROX, VQ_EXACT };

/* A location's bytes as the sequence of hits left them.  VQ_NONE: unknown
 * (the next write that is not computed from them re-reads the memory; set
 * it after lost records to start again from memory). */
struct value_chain {
	uint8_t bytes[8];
	enum vquality quality;
};

/* Where values.c gets code from: the caller picks the address space (a
 * hit in a forked or exec'd child, or read after the process exited,
 * decodes from the ELF files mapped where it hit). */
struct code_source {
	/* code bytes at addr (from the ELF file); the count read */
	size_t (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	/* the start of the function containing addr; 0: unknown (then the
	 * instruction is decoded backward from the IP) */
	uint64_t (*function_start)(void *ctx, uint64_t addr);
	/* optional (NULL): bytes that cannot change while the program runs
	 * (read-only data of its ELF files), 0 for writable memory; makes
	 * `movs` from constants exact */
	size_t (*read_const)(void *ctx, uint64_t addr, void *buf, size_t len);
	void *ctx;
	uint64_t id;  /* distinct per address-space layout: part of the key of
		       * the decode cache */
};

/* Whether a write changed the watched bytes, when the instruction alone
 * tells (add $1: changed; bts: its CF says) or both values are exact. */
enum vchange { VC_UNKNOWN = 0, VC_SAME, VC_CHANGED };

/* A write hit's values: old before, new after, each with its quality. */
struct hit_values {
	uint64_t old_value, new_value;
	enum vquality old_q, new_q;
	enum vchange change;
	bool new_from_old; /* computed from the old value (inc, add, shl ...) */
};

struct values;
struct values *values_new(void);
void values_free(struct values *v);
/* Decode the instruction that ended at `ip` (cached by (cs->id, ip)). */
void values_decode(struct values *v, const struct code_source *cs,
		   uint64_t ip, struct access *out);
/* Apply a write hit at `ip` to `chain` (the watched [addr, addr+len)).
 * `regs` are the sampled registers (SAMPLED_REGS_MASK, NULL if none);
 * `mem` reads the target's memory now (for values the instruction does
 * not give: approximate).  An approximate old value gives an approximate
 * new one by the same operation (+1 stays +1). */
void values_apply(struct values *v, const struct code_source *cs, uint64_t ip,
		  const uint64_t *regs, uint64_t addr, uint32_t len,
		  struct value_chain *chain,
		  bool (*mem)(uint64_t addr, void *buf, size_t len, void *ctx),
		  void *mem_ctx, struct hit_values *out);

/* ---- target.c: the watched program ---- */
struct guard;
struct target {
	pid_t pid;
	bool launched;   /* we started it (and report its exit status) */
	bool exited;
	int status;      /* wait status once exited */
	int pidfd;       /* readable when an attached process exits (-1) */
	struct guard *guard; /* its threads seized (NULL: not guarded) */
};
/* Start argv stopped at its first instruction (exec); 0 or exit status. */
int target_launch(char **argv, bool no_aslr_change, struct target *t,
		  char *msg, size_t ml);
/* Run a launched, seized program at its exec stop to its next exec (a
 * wrapper's, as env or taskset): 0 at that exec stop, else an exit
 * status with msg saying what it did first (ended; forked or cloned:
 * then it and the new task are killed). */
int target_next_exec(struct target *t, char *msg, size_t ml);
/* Run a launched program (still stopped at exec) to its entry point, so
 * the libraries it needs are mapped; it stays stopped there. */
int target_run_to_entry(struct target *t, char *msg, size_t ml);
/* Let the launched program run (guarded: resumed; else ptrace detach). */
int target_resume(struct target *t);
int target_attach(pid_t pid, struct target *t, char *msg, size_t ml);
/* Read the target's memory now (process_vm_readv). */
bool target_read(uint64_t addr, void *buf, size_t len, void *ctx);
/* Handle the guard's events, then reap a launched target if it has
 * exited; true once it has.  block: wait for it (releasing it first). */
bool target_poll_exit(struct target *t, bool block);
/* The exit code hwbp should return for the target's wait status. */
int target_exit_code(const struct target *t);
/*
 * The guard (GUARD in hwbp(1)): launch and attach seize every thread with
 * ptrace unless target_set_guard(false) was called first (--no-guard) or
 * ptrace is not permitted (said on stderr), and suppress the SIGTRAPs a
 * hit whose debug status the host lost produces.  ptrace requests must
 * come from the thread that seized: call these on hwbp's main thread.
 */
void target_set_guard(bool on);
/* On SIGCHLD: every stop and exit waiting (waitpid __WALL|WNOHANG):
 * resume what stopped (unless paused), suppress spurious SIGTRAPs, track
 * new threads and children.  1 once the main process exited, else 0. */
int target_handle_events(struct target *t);
/* Stop every thread (PTRACE_INTERRUPT) and return when all are stopped:
 * 0, -ETIMEDOUT after 0.5 s (the rest stop when they can), -ESRCH (it
 * exited), -EOPNOTSUPP (not guarded).  Signals and new threads that come
 * meanwhile wait for target_continue. */
int target_pause(struct target *t);
int target_continue(struct target *t);
/* Detach every thread (each with its pending signal) and free the guard;
 * says on stderr how many SIGTRAPs were suppressed.  No-op unguarded. */
void target_release(struct target *t);
/* A SIGTRAP with no cause, as the guard saw it: its thread stopped at
 * the PC after the access the kernel did not count. */
struct uncaused_trap {
	pid_t pid, tid;
	uint32_t cpu;              /* where it trapped (UINT32_MAX: ?) */
	uint64_t pc;
	bool have_regs;            /* regs[] read (ptrace) */
	uint64_t regs[HWBP_NREGS]; /* PERF_REG_X86_* order */
};
/* Guarded: fn(ctx, trap) for each SIGTRAP with no cause the guard drops
 * (each a hit the kernel did not count: no record, no count), while its
 * thread is still stopped in it; from target_handle_events, on hwbp's
 * main thread.  No-op unguarded. */
void target_on_uncaused(struct target *t,
			void (*fn)(void *, const struct uncaused_trap *),
			void *ctx);
/* Guarded: started(ctx, tid) when a new task (thread or child) stops for
 * the first time, before it runs an instruction of its own (it is in a
 * ptrace-stop then: registers readable, its thread pointer set), and
 * ended(ctx, tid) when a task exits; both from target_handle_events, on
 * hwbp's main thread.  No-op unguarded. */
void target_on_threads(struct target *t, void (*started)(void *, pid_t),
		       void (*ended)(void *, pid_t), void *ctx);
/* The tasks the guard holds (threads, and children it followed), up to
 * max: how many. */
int target_threads(const struct target *t, pid_t *tids, int max);
/* Is tid in a ptrace-stop hwbp holds (paused, or being handled)? */
bool target_stopped(const struct target *t, pid_t tid);

/* ---- output.c ---- */
struct frame {
	uint64_t ip;
	struct code_loc where;
	bool inlined;           /* a call inlined into the next frame */
};

/* One hit, ready to print. */
struct hit_event {
	uint64_t time_ns;       /* since the watch started */
	pid_t pid, tid;
	uint32_t cpu;           /* the CPU it ran on */
	const char *thread;
	const char *access;     /* "write", "read", "exec", "rw" */
	const struct location *loc;
	uint64_t addr;          /* the accessed address (else the register's) */
	uint32_t part_off;      /* a location over 8 bytes: the bytes touched */
	uint32_t part_len;      /* (0: the whole location) */
	const char *member;     /* a whole object: the member touched ... */
	const struct vtype *mtype; /* ... and its type, when its value is */
	uint32_t moff, mlen;    /* typed (mlen bytes at moff; else part_*) */
	bool has_values;        /* a write: old -> new */
	bool has_read;          /* a read: the value read (val.new_*) */
	bool recovered;         /* the kernel did not count it: the guard
				 * recovered it (REC_F_RECOVERED; its time is
				 * the earliest it can have been) */
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
	bool lines;             /* f is shared with the program (stdout):
				 * written in whole lines (output.c), */
	size_t chunk;           /* at most this much a write (0: not known
				 * yet; PIPE_BUF to a pipe) */
	char *buf;              /* hit lines not written yet */
	size_t len;
	uint64_t flushes;       /* times buf went out */
	struct frame_text *frames; /* backtrace frames formatted (output.c) */
};

/* --follow-pointers: a pointer on a LOCATION's path changed (at t0) and
 * its watch moved (at t1, times since the watch started). */
struct move_event {
	const char *location;
	const char *pointer;    /* the pointer that changed ("head->next") */
	uint64_t value;         /* its new value (has_value) */
	bool has_value;
	bool answer;            /* a change followed (t0 known) */
	uint64_t t0, t1;
	uint64_t from, to;      /* the target before (had_from), after */
	bool had_from, has_to;  /* (!has_to: it points nowhere: why) */
	uint32_t len;
	const char *why;
	uint64_t left_out;      /* hits on the old target after t0 */
};

/* A hit into the buffer; out_flush writes it (when the processor has
 * caught up); out_close frees the buffer. */
void out_hit(struct out *o, const struct hit_event *e);
void out_moved(struct out *o, const struct move_event *m);
void out_flush(struct out *o);
void out_close(struct out *o);
void out_json_string(FILE *f, const char *s);
/* Code no symbol names, as text: "0x<ip> [<file>+0x<ip in it>]", or
 * "0x<ip>" where the file is not known. */
void out_unnamed_code(char *buf, size_t size, const struct code_loc *w,
		      uint64_t ip);

/* The summary's rows. */
struct loc_count {
	char key[1024];         /* function+offset (file:line) */
	struct code_loc where;
	const char *location;   /* the watched name */
	const char *member;     /* the member every hit touched ("": mixed) */
	uint64_t hits;
};
struct thread_count {
	pid_t tid;
	char name[32];
	uint64_t hits;
};
/* A location's time armed, when registers were shared (scheduler). */
struct cov_part {               /* one register's part of it */
	uint32_t off, len;      /* in the location */
	uint64_t armed_ns, total_ns;
	char member[128];       /* what a whole object holds there ("") */
};
struct coverage {
	const char *location;
	uint64_t armed_ns, total_ns; /* armed whole */
	uint64_t any_ns;        /* some part armed */
	struct cov_part *parts; /* registers > 1: each part's time */
	int nparts;
};

/* A LOCATION through pointers: what it resolved to (at the end). */
struct ptr_summary {
	const struct location *loc;
	const char *why;         /* not watched at the end: why (else NULL) */
	bool followed;           /* --follow-pointers: ... */
	uint64_t moves, window_max_ns, left_out;
};

struct summary {
	uint64_t hits, lost, filtered, wall_ns;
	const struct ptr_summary *ptrs;
	int nptrs;
	uint64_t strays;         /* hits on bytes next to a location, dropped */
	uint64_t late;           /* records that came after later ones */
	uint64_t order_unsure;   /* hits racing another thread's: see REC_F_ORDER_UNSURE */
	bool no_lost;            /* --no-lost: ... */
	uint64_t pauses, paused_ns; /* ... the program paused so long */
	uint64_t writes_dropped; /* --read: writes seen and dropped */
	bool sampled;            /* hits were sampled (not --count) */
	uint64_t lost_memory;    /* of lost: no memory to copy them into */
	uint64_t lost_spill;     /* of lost: in a spill file not read back */
	uint64_t lost_uncounted; /* of lost: the kernel did not count them
				  * (SIGTRAPs with no cause, the guard's) */
	uint64_t recovered;      /* of hits: the kernel did not count them,
				  * the guard recovered them (GUARD) */
	uint64_t spilled;        /* bytes that waited in the spill file */
	uint64_t spill_failed;   /* chunks kept in memory: no spill file */
	int spill_errno;         /* why spilling failed, the last time */
	int bpf;                 /* hwbp_stats.bpf of the rings */
	char bpf_why[192];       /* and bpf_why ("" if none) */
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

/* ---- stream.c: every record out of the rings, then in time order ---- */

/* A record as a reader copied it: this head, then its parts, each padded
 * to 8 bytes: u64 regs[nregs] (regs_mask's bits in order), u64
 * chain[nchain], stack bytes, aux bytes, name (nname bytes with its NUL). */
#define REC_LOSS 100            /* kind: x drops on cpu, between time_ns
				 * and y */
#define REC_F_EXEC 1            /* COMM: at an exec */
#define REC_F_SWITCH_OUT 2
#define REC_F_PREEMPTED 4
/* HIT: a hit of another thread, on another CPU, in the same chain
 * (rec_same_chain), is stamped within ORDER_WINDOW_NS after it (stream.c):
 * which came first is not known.
 * The window bounds how much later than its store a CPU may stamp a hit
 * (the trap, a VM exit, a host that preempts the vCPU): on a KVM guest,
 * 1.3 us typical, 4.7 ms the worst seen. */
#define REC_F_ORDER_UNSURE 8
/* HIT: one the kernel did not count, recovered by the guard from its
 * thread's registers (stream_recover_outside): it came somewhere between
 * time_ns (just after that thread's hit before) and y (the guard saw it);
 * with REC_F_ORDER_UNSURE, another thread's hit in its chain was stamped
 * in that window or ORDER_WINDOW_NS after it, until y. */
#define REC_F_RECOVERED 16
#define ORDER_WINDOW_NS 20000000ull /* 20 ms */
struct rec {
	uint32_t size;          /* the whole record, a multiple of 8 */
	uint16_t kind;          /* enum hwbp_record_kind, or REC_LOSS */
	uint16_t flags;         /* REC_F_* */
	int32_t loc;            /* hit: the location's index (-1: none) */
	uint32_t pid, tid, cpu;
	uint64_t time_ns;
	uint64_t ip, addr;      /* hit: sampled PC, the register's address;
				 * MMAP: addr is the mapping's start */
	uint64_t x, y;          /* FORK/EXIT: ppid, ptid; MMAP: len, pgoff;
				 * SWITCH: next_prev pid, tid; LOSS: count,
				 * end of its window */
	uint64_t regs_mask;
	uint16_t nregs, nchain;
	uint32_t nstack, naux, nname;
};

/* May hits a and b be links of one value chain: the same process and
 * location (a hit whose location is not known yet: any)?  Only those can
 * race: another variable's write, or another process's, changes nothing
 * that either shows. */
static inline bool rec_same_chain(const struct rec *a, const struct rec *b)
{
	return a->pid == b->pid &&
	       (a->loc < 0 || b->loc < 0 || a->loc == b->loc);
}

static inline const uint64_t *rec_regs(const struct rec *r)
{
	return (const uint64_t *)(r + 1);
}
static inline const uint64_t *rec_chain(const struct rec *r)
{
	return rec_regs(r) + r->nregs;
}
static inline const uint8_t *rec_stack(const struct rec *r)
{
	return (const uint8_t *)(rec_chain(r) + r->nchain);
}
static inline const uint8_t *rec_aux(const struct rec *r)
{
	return rec_stack(r) + ((r->nstack + 7u) & ~7u);
}
static inline const char *rec_name(const struct rec *r)
{
	return r->nname ? (const char *)(rec_aux(r) + ((r->naux + 7u) & ~7u))
			: "";
}

struct stream_ops {
	/* Deliver what waits in CPU cpu's ring: its on_record calls
	 * stream_put (in the reader thread). */
	int (*consume)(void *ctx, int cpu);
	/* Samples the ring of cpu dropped so far, and how full it is (0..1);
	 * NULL or nonzero: unknown. */
	int (*ring_stat)(void *ctx, int cpu, uint64_t *lost, double *fill);
	/* A ring is past half full (lossless mode pauses the program). */
	void (*on_high_water)(void *ctx);
	void *ctx;
};

struct stream_stats {
	uint64_t records, bytes;   /* copied out of the rings */
	uint64_t spilled;          /* bytes written to the spill file */
	uint64_t late;             /* handed out after a later one */
	uint64_t losses;           /* drops handed out as REC_LOSS */
	uint64_t dropped_oom;      /* not copied: out of memory */
	uint64_t spill_errors;     /* chunks that did not come back */
	uint64_t spill_lost;       /* the hits in them: lost */
	uint64_t spill_write_errors; /* chunks kept in memory instead */
	int spill_errno;           /* why, the last time */
	int lanes, unpinned;       /* readers, and those never on their CPU */
};

struct stream;
/* A lane (reader) per ring: cpus[i] (-1: a thread's ring), fds[i] its
 * pollable fd.  Chunks past mem_bound bytes go to a temporary file (in
 * $TMPDIR, else /tmp); one that cannot be read back is a REC_LOSS. */
int stream_new(struct stream **out, const struct stream_ops *ops,
	       const int *cpus, const int *fds, int n, size_t mem_bound);
int stream_start(struct stream *st);
/* A stream of records the caller puts, one lane, handed out in the order
 * put (benchmarks and tests of what runs behind the readers). */
int stream_new_replay(struct stream **out);
/* The same, spilling past mem_bound bytes (tests of the spill file). */
int stream_new_replay_bound(struct stream **out, size_t mem_bound);
void stream_replay_put(struct stream *st, const struct hwbp_record *r,
		       int loc);
/* Any thread: count hits lost outside the rings (the kernel recorded
 * none), within the last window_ns (<= ORDER_WINDOW_NS): a REC_LOSS
 * handed out in time order, its window ending now.  tid (0: unknown):
 * the thread whose last store it was, stopped since - the loss then
 * starts after that thread's newest hit. */
void stream_lose_outside(struct stream *st, uint64_t count,
			 uint64_t window_ns, uint32_t tid);
/* Any thread: a hit the kernel did not record, recovered outside the
 * rings (the guard's, from the stopped thread's registers: r has its
 * pid, tid, cpu, ip, regs, stack; time_ns is set here), for location
 * loc, in the same window as stream_lose_outside: handed out in time
 * order as a hit with REC_F_RECOVERED, just after r->tid's newest hit.
 * -ENOSPC (too many waiting) or -ENOMEM: not taken (count it lost). */
int stream_recover_outside(struct stream *st, const struct hwbp_record *r,
			   int loc, uint64_t window_ns);
/* In a reader (from the rings' on_record): copy r, for location loc. */
void stream_put(const struct hwbp_record *r, int loc);
/* The next record in time order, valid until the next call; NULL when
 * none can be handed out yet (or, after stream_finish, none is left).  A
 * record is handed out once every record stamped up to ORDER_WINDOW_NS
 * after it is in, so that REC_F_ORDER_UNSURE can be told. */
const struct rec *stream_next(struct stream *st);
/* Wait up to timeout_ms for readers to bring more. */
int stream_wait(struct stream *st, int timeout_ms);
/* Readers: a last pass each, and end; then stream_next hands out all. */
void stream_finish(struct stream *st);
int stream_wake_fd(const struct stream *st);
/* Every reader: a pass now. */
void stream_poke_all(struct stream *st);
/* The calling thread before the watched program's, where allowed (the
 * readers, and --no-lost's control thread). */
void stream_prioritize(void);
void stream_get_stats(const struct stream *st, struct stream_stats *out);
void stream_free(struct stream *st);

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
	bool no_lost;        /* --no-lost: pause the program, lose nothing */
	bool no_guard;       /* --no-guard */
	bool no_bpf;         /* --no-bpf: perf samples the registers */
	bool spill_after_set; /* --spill-after: records in memory up to */
	uint64_t spill_after; /* this many bytes, then in a file */
	bool follow_ptrs;    /* --follow-pointers */
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
