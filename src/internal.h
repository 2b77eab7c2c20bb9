/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the layers of libhwbp share: the handle, the request a
 * handle is made from, the signal slot table and each layer's entry points.
 * Layers: request.c (rules) -> event.c (perf events) -> signal.c / ring.c
 * (delivery) -> hwbp.c (public lifecycle); arch_*.c holds the CPU rules.
 * Above them, sched.c shares the registers among any number of watches,
 * with range.c (ranges onto registers) and decode_*.c (what an
 * instruction accessed) as its building blocks.
 */
#ifndef HWBP_INTERNAL_H
#define HWBP_INTERNAL_H

#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "hwbp.h"

#define HWBP_API __attribute__((visibility("default")))

/* Why hwbp_probe().fires is false: said by the probe and by hwbp_create. */
#define HWBP_NOFIRE_WHY                                                        \
	"the kernel arms breakpoints but the CPU never traps: this machine's " \
	"hypervisor does not deliver debug-register exceptions (perf test "    \
	"'Watchpoint' fails here too); no hit can be reported"
/* Thread-local storage safe to touch from a signal handler in a shared
 * library: initial-exec never calls __tls_get_addr (which may malloc). */
#define HWBP_TLS __thread __attribute__((tls_model("initial-exec")))

/* CLOCK_MONOTONIC in nanoseconds (the clock perf stamps records with). */
static inline uint64_t hwbp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- options (libbpf's OPTS_VALID / OPTS_GET) ---- */
#define HWBP_OPTS_HAS(opts, field)                                             \
	((opts) && (opts)->sz >= offsetof(typeof(*(opts)), field) +            \
				       sizeof((opts)->field))
#define HWBP_OPTS_GET(opts, field, def)                                        \
	(HWBP_OPTS_HAS(opts, field) ? (opts)->field : (def))
int hwbp_opts_valid(const void *opts, size_t user_sz, size_t known_sz,
		    const char *type_name);
/* Fill a caller's output struct (its .sz is user_sz) from the library's
 * full one: as many bytes as both know, .sz kept as the caller's. */
void hwbp_copy_out(void *dst, size_t user_sz, const void *src,
		   size_t known_sz);

/* ---- log.c ---- */
/* Record `fmt` as this thread's last error, print it at WARN level when
 * `loud`, and return -err (so callers can `return hwbp_fail(...)`). */
int hwbp_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hwbp_log(enum hwbp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hwbp_clear_error(void);
/* hwbp_fail with a fixed message and no formatting: async-signal-safe. */
int hwbp_fail_const(int err, const char *msg);

/* ---- request.c: a checked request ---- */
struct hwbp_place {
	uint64_t addr;
	uint32_t len;
	enum hwbp_access access;
};

struct hwbp_req {
	struct hwbp_place place;
	enum hwbp_scope scope;
	pid_t pid;
	int *cpus; /* malloc'd list of CPU numbers (SCOPE_CPUS) */
	int ncpus;
	enum hwbp_delivery delivery;
	hwbp_hit_fn on_hit;
	hwbp_record_fn on_record;
	void *cookie;
	enum hwbp_signal_mode signal_mode;
	enum hwbp_rearm rearm;
	uint32_t ring_pages, wakeup_events, sample, stack_size;
	uint32_t branch_bytes; /* HWBP_SAMPLE_BRANCHES: aux_sample_size */
	uint64_t regs_mask;
	bool kernel, disabled, follow, task_events, switch_events;
	bool mmap_events;
	bool bpf_samples;
	struct hwbp *share_ring;
};
int hwbp_req_from_opts(struct hwbp_req *req, uint64_t addr, uint32_t len,
		       enum hwbp_access access, const struct hwbp_opts *opts);
int hwbp_check_place(const struct hwbp_place *p, bool kernel);
void hwbp_req_release(struct hwbp_req *req);

/* ---- arch_*.c: the CPU's rules ---- */
struct hwbp_arch {
	const char *name;
	int max_len;         /* longest data breakpoint */
	uint32_t exec_len;   /* the length execute breakpoints need */
	uint64_t user_top;   /* first address that is not user space */
	bool has_read_only;
	/* Any 1..max_len bytes inside an aligned max_len window (arm64's
	 * byte-select), not only naturally aligned 1/2/4/8 (x86). */
	bool byte_select;
	/* perf user registers the ring path samples to decode an access. */
	uint64_t sample_regs;
	/* BPF samples (bpf.c): each perf register's offset in the trap's
	 * bpf_perf_event_data (its pt_regs), HWBP_BPF_REG_ZERO where perf
	 * gives 0, HWBP_BPF_REG_NONE where it has none; NULL: no BPF
	 * samples on this architecture. */
	const int16_t *bpf_reg_off;
	int16_t bpf_ip_off;
};
#define HWBP_BPF_NREGS 24
#define HWBP_BPF_REG_NONE ((int16_t)-1)
#define HWBP_BPF_REG_ZERO ((int16_t)-2)
extern const struct hwbp_arch hwbp_arch;
int hwbp_arch_check(const struct hwbp_place *p); /* -errno + message */

/* ---- the handle ---- */
/* BPF samples (bpf.c), on the ring owner. */
struct hwbp_bpf {
	int prog;          /* the program (-1: perf samples) */
	int out_map;       /* BPF_MAP_TYPE_PERF_EVENT_ARRAY: CPU -> event */
	int lost_map;      /* u64 per CPU: hits the program could not write */
	int *out_fds;      /* the output events, one per ring */
	int nout, ncpus;
	uint64_t *lost;    /* lost_map, mmapped */
	size_t lost_len;
	int status;        /* 1: in use; 0: not asked; -errno: refused */
	bool opened;       /* the fds above are valid (-1 or open) */
	char why[192];     /* status < 0: the refusal, as hwbp_last_error */
};

struct hwbp_ring {
	int fd;           /* the dummy event that owns the buffer */
	void *base;       /* mmap: 1 header page + data pages */
	size_t size;      /* mapping size */
	int cpu;          /* the CPU it collects (-1: its task's, any CPU) */
	bool hup;         /* its task is gone: removed from epoll */
	void *scratch;    /* a record split by the wrap is copied here (each
			   * ring its own: CPUs may be read at once) */
};

struct hwbp {
	struct hwbp_req req;
	int slot;          /* index in the signal slot table, -1: none */
	int *fds;          /* breakpoint events */
	int nfds, cap_fds;
	pid_t *fd_tids;    /* the thread each fd targets (-1 CPU-wide) */
	int *fd_cpus;      /* the CPU each fd targets (-1 any) */
	struct hwbp_aux **fd_aux; /* HWBP_SAMPLE_BRANCHES: each fd's group
				   * leader (an intel_pt event), else NULL */
	struct hwbp_ring *rings;
	int nrings;
	int epfd;
	struct hwbp *ring_owner; /* whose rings this handle writes into:
				  * itself, or opts.share_ring */
	int *side_fds;     /* switch_events of a process's other threads */
	int nside;
	bool enabled;
	bool modify_refused; /* the kernel refused the ioctl once: reopen */
	_Atomic uint32_t generation;
	_Atomic uint64_t moves, reopens, records, lost;
	_Atomic uint64_t count_carry; /* hits of events closed by a reopen */
	_Atomic uint64_t lost_carry;  /* their dropped samples */
	struct perf_event_attr attr; /* as opened (hwbp_fill_attr): a move
				      * sets only the placement's fields */
	bool lost_format;  /* events read PERF_FORMAT_LOST (kernel >= 6.0) */
	bool remove_on_exec; /* events end at exec (kernel >= 5.13) */
	struct hwbp_bpf bpf; /* the ring owner's BPF samples */
	_Atomic bool closed;
};

/* ---- bpf.c: ring samples written by a BPF program ---- */
void hwbp_bpf_open(struct hwbp *owner);
void hwbp_bpf_close(struct hwbp *owner);
int hwbp_bpf_attach(const struct hwbp *owner, int fd, pid_t tid);
int hwbp_bpf_decode(const struct hwbp *owner, const void *body, size_t size,
		    struct hwbp_record *r);
uint64_t hwbp_bpf_lost(const struct hwbp *owner, int cpu);
void hwbp_bpf_stats(const struct hwbp *bp, struct hwbp_stats *st);
bool hwbp_bpf_probe(void);
const char *hwbp_bpf_probe_why(void);
static inline bool hwbp_bpf_on(const struct hwbp *owner)
{
	return owner && owner->bpf.status == 1;
}

/* ---- event.c: perf events behind a handle ---- */
void hwbp_fill_attr(struct perf_event_attr *attr, const struct hwbp *bp,
		    const struct hwbp_place *p, uint32_t gen);
/* A move's attributes: bp->attr (as opened) at placement p. */
void hwbp_move_attr(struct perf_event_attr *attr, const struct hwbp *bp,
		    const struct hwbp_place *p, uint32_t gen);
int hwbp_events_open(struct hwbp *bp);
/* (hwbp.c) A handle with rings only, no breakpoint event (no register):
 * the rings a scheduler's registers and thread watches share before any
 * register exists.  opts as hwbp_create's, ring delivery. */
int hwbp_ring_create(struct hwbp **out, const struct hwbp_opts *opts);
void hwbp_events_close(struct hwbp *bp);
int hwbp_events_ioctl_all(struct hwbp *bp, unsigned long req);
int hwbp_events_move(struct hwbp *bp, const struct hwbp_place *p, uint32_t gen);
/* Hits, and (PERF_FORMAT_LOST) samples the rings dropped; lost may be NULL. */
int hwbp_events_count(struct hwbp *bp, uint64_t *count, uint64_t *lost);
/* The samples bp's events on CPU cpu could not write (PERF_FORMAT_LOST;
 * 0 without it). */
int hwbp_events_lost_cpu(const struct hwbp *bp, int cpu, uint64_t *lost);
long hwbp_perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu,
			  int group_fd, unsigned long flags);
/* hwbp.c: 0 if breakpoints work here, else -errno with the reason. */
int hwbp_check_breakpoints(const struct hwbp_probe *pr);
int hwbp_explain_open_error(int err, const struct hwbp *bp,
			    const struct hwbp_place *p, pid_t tid, int cpu);
int hwbp_list_threads(pid_t pid, pid_t **tids, int *n);
/* Task tid is a thread of process pid, or (children) of a process pid
 * forked, at any depth: what a process scope's inherited events follow. */
bool hwbp_task_in(pid_t tid, pid_t pid, bool children);

/* ---- signal.c: SIGTRAP delivery ---- */
#define HWBP_MAX_SLOTS 1024
int hwbp_slot_claim(struct hwbp *bp);
void hwbp_slot_place(int slot, uint32_t gen, const struct hwbp_place *p);
void hwbp_slot_set_fd(int slot, int fd);
void hwbp_slot_release(int slot);
uint64_t hwbp_slot_sig_data(int slot, uint32_t gen);
uint64_t hwbp_slot_signals(int slot);
uint64_t hwbp_slot_stale(int slot);
uint64_t hwbp_slot_handled(int slot); /* callbacks that returned */
/* Hits the kernel missed (a debug trap whose cause the hypervisor lost)
 * that the handler found by decoding.  async-signal-safe */
uint64_t hwbp_slot_recovered(int slot);
/* Such traps taken in this process so far. */
uint64_t hwbp_lost_cause_traps(void);
/* The SIGTRAP handler (tests/unit feeds it recorded traps). */
void hwbp_on_sigtrap(int sig, siginfo_t *si, void *uc);
/* For companion hits (one SIGTRAP, several handles): whether the slot's
 * events are armed, and on which threads (call after opening them). */
void hwbp_slot_enable(int slot, bool on);
void hwbp_slot_cover(int slot, const struct hwbp *bp);
/* This thread's SIGTRAPs of ours so far: callbacks that see the same
 * number serve one access (async-signal-safe). */
uint64_t hwbp_trap_seq(void);
int hwbp_signal_install(void);
/* 0, or -EOPNOTSUPP when a synchronous SIGTRAP repeats forever here
 * (valgrind): checked once with a write of our own. */
int hwbp_signal_check(void);
bool hwbp_in_handler(void); /* inside a hit callback of this thread */
int hwbp_async_arm_fd(int fd, pid_t tid);

/* ---- ring.c: ring buffers ---- */
int hwbp_rings_open(struct hwbp *bp);
void hwbp_rings_close(struct hwbp *bp);
int hwbp_ring_attach(struct hwbp *bp, int fd, int cpu, pid_t tid);
/* Decode one PERF_RECORD_SAMPLE body (after its header) laid out for
 * `sample_type`; bounds-checked, so corrupted input gives -EINVAL. */
int hwbp_decode_sample(const void *body, size_t size, uint64_t sample_type,
		       uint64_t regs_mask, struct hwbp_record *out);
/* Hand every record waiting in a perf mmap ring (base: its mapping of
 * map_size bytes, the header page first) to fn, contiguous (one split by
 * the wrap is copied to scratch, SCRATCH bytes), and consume them; the sum
 * of fn's returns. */
#define HWBP_RECORD_SCRATCH 65536 /* a record's size is a u16 */
typedef int (*hwbp_record_visit_fn)(const struct perf_event_header *h,
				    void *ctx);
int hwbp_mmap_read(void *base, size_t map_size, void *scratch,
		   hwbp_record_visit_fn fn, void *ctx);
/* hwbp_ring_poll(bp, 0) on each of n ring handles: the records read, or
 * the first -errno. */
int hwbp_rings_drain(struct hwbp *const *bps, int n);
/* Wait on an epoll set (EINTR is a wake-up); 0 or -errno for `fn`. */
int hwbp_epoll_wait(int epfd, int timeout_ms, const char *fn);
/* A record's sampled registers (in mask bit order) at their PERF_REG_*
 * index, the rest 0. */
void hwbp_record_regs(const struct hwbp_record *rec, uint64_t *regs);
/* The ring of CPU cpu of ring owner o (size, bytes waiting) and the drops
 * of bp's events on that CPU; -ENOENT without such a ring. */
int hwbp_ring_stat_of(const struct hwbp *bp, const struct hwbp *o, int cpu,
		      struct hwbp_ring_stat *all);
/* Decode a COMM, FORK, EXIT or MMAP2 record (trailer: the ring events'
 * sample_id, TID|TIME|CPU); names are copied to name.  -EINVAL when it
 * cannot be one. */
int hwbp_decode_side(const struct perf_event_header *h, const void *body,
		     size_t size, bool trailer, struct hwbp_record *r,
		     char *name, size_t namelen);
/* Decode a PERF_RECORD_SWITCH or SWITCH_CPU_WIDE record of a ring (its
 * sample_id trailer is TID, TIME, CPU); -EINVAL when it cannot be one. */
int hwbp_decode_switch(const struct perf_event_header *h, const void *body,
		       size_t size, struct hwbp_record *out);

/* ---- decode_*.c (arch_arm64.c: not decoded, -EOPNOTSUPP) ---- */
/* hwbp_insn_before on the code of process pid (0: this one). */
int hwbp_insn_before_in(pid_t pid, uint64_t pc, uint64_t addr, uint64_t len,
			const uint64_t *regs, struct hwbp_insn_info *out);

/* ---- handles.c: open and recently closed handles of one kind ---- */
#define HWBP_QUARANTINE_MAX 64
struct hwbp_handles {
	pthread_mutex_t lock;
	void **open;
	int n, cap;
	void *quarantine[HWBP_QUARANTINE_MAX];
	int depth;                /* closed handles kept, <= the max */
	int q_next;
	void (*free_fn)(void *);
};
#define HWBP_HANDLES_INIT(FREE, DEPTH)                                         \
	{ .lock = PTHREAD_MUTEX_INITIALIZER, .free_fn = (FREE),                \
	  .depth = (DEPTH) }
int hwbp_handles_add(struct hwbp_handles *h, void *p);
/* Take p off the open list and set *closed; false if it was not open. */
bool hwbp_handles_unlink(struct hwbp_handles *h, void *p,
			 _Atomic bool *closed);
/* Keep closed p a while; frees the oldest one kept. */
void hwbp_handles_retire(struct hwbp_handles *h, void *p);
/* fn(p, ctx) for each open handle, under the lock; the sum of its returns. */
int hwbp_handles_sum(struct hwbp_handles *h, int (*fn)(void *p, void *ctx),
		     void *ctx);
/* Free every handle kept (at unload). */
void hwbp_handles_drain(struct hwbp_handles *h);

/* ---- sampler.c / pmu.c: samples from a PMU event ---- */
struct hwbp_pmu_source;
int hwbp_sampler_epfd(const struct hwbp_sampler *s);
int hwbp_pmu_source_open(struct hwbp_sampler *s,
			 const struct hwbp_sampler_opts *opts,
			 struct hwbp_pmu_source **out);
void hwbp_pmu_source_close(struct hwbp_pmu_source *p);
/* Offer every sample waiting; the number read, or -errno. */
int hwbp_pmu_source_consume(struct hwbp_sampler *s, struct hwbp_pmu_source *p);
void hwbp_pmu_source_stats(const struct hwbp_pmu_source *p, uint64_t *samples,
			   uint64_t *lost);
/* Why precise memory sampling is missing here ("" when it is not). */
int hwbp_pmu_mem_event(enum hwbp_sample_source src, uint32_t *type,
		       uint64_t *config, uint64_t *config1, char *why,
		       size_t whylen);

/* ---- aux.c: the Intel PT group leader of HWBP_SAMPLE_BRANCHES ---- */
struct hwbp_aux;
/* The intel_pt PMU's type, or -errno (-ENOENT: no intel_pt here). */
int hwbp_pt_type(void);
/* The leader for (tid, cpu, inherit), shared and counted: opened with a
 * read-only (snapshot) AUX area of at least `bytes`.  -errno + message. */
int hwbp_aux_get(pid_t tid, int cpu, bool inherit, uint32_t bytes,
		 struct hwbp_aux **out);
void hwbp_aux_put(struct hwbp_aux *a);
int hwbp_aux_fd(const struct hwbp_aux *a);

/* ---- probe.c ---- */
/* Why HWBP_SAMPLE_BRANCHES cannot work here (the probe's text). */
void hwbp_branches_why(char *out, size_t size);
int hwbp_probe_cached(struct hwbp_probe *out);
int hwbp_count_self_bps_on(pid_t tid);

#endif
