/* SPDX-License-Identifier: MIT */
/*
 * watch.h - what `hwbp watch`'s two halves share: watch.c, the control
 * thread (target, arming, signals, the end), and hits.c, the processor
 * (every record in time order: address spaces, values, names, output).
 * Between them, stream.c's readers move the records out of the rings.
 *
 * Who touches what: the control thread owns target, syms, the handles and
 * the locations' arming; the processor owns everything under "the
 * processor's" once it runs, until the control thread joins it.  Handed
 * from one to the other: member tables (built before a location is armed,
 * immutable), the lists of ids a shared watch serves (share.c: published
 * with release/acquire), --follow-pointers' requests and placements
 * (follow.c: a mutex-guarded queue each way, an eventfd to the control
 * thread).
 */
#ifndef HWBP_WATCH_H
#define HWBP_WATCH_H

#include <pthread.h>
#include <stdatomic.h>

#include "tool.h"

struct watch;
struct loc_ctx { /* the cookie of a location's watch */
	struct watch *w;
	int idx;
};

struct thread_name {
	pid_t tid;
	char name[32];
};

/* The bytes a process's writes leave at each location, and how well each
 * is known (enum vquality); a fork starts with a copy of its parent's. */
struct proc_values {
	pid_t pid;
	uint8_t **bytes;             /* per location, len bytes (or NULL) */
	uint8_t **q;
};

/* One thread's copy of a thread-local location (watch_tls.c): a watch
 * of that thread alone; its hits come with ctx.idx = nlocs + its index. */
struct tls_copy {
	struct loc_ctx ctx;           /* the watch's cookie */
	int loc;                      /* the location it is a copy of */
	pid_t tid;
	struct hwbp_watch *watch;     /* control thread's (NULL: removed) */
	struct location view;         /* the location at this copy */
	uint8_t *bytes, *q;           /* the processor's chain (read when
				       * armed, the thread stopped: exact) */
};
#define TLS_MAX_COPIES 65536
/* --bt: stack bytes per hit (docs/UNWIND.md: 8 KiB takes 97-100 % of the
 * measured walks to their end; perf's default too).  The kernel reserves
 * them in the ring for every record: the ring is 8 times larger. */
#define BT_STACK_BYTES 8192

struct watch {
	const struct watch_cfg *cfg;
	struct location *locs;
	/* Each location's bytes when it was armed, and how well known (the
	 * control thread's before arming; the processor's after). */
	uint8_t **armed_bytes;
	enum vquality *armed_q;
	/* Each location's members (NULL: not a whole object), built before
	 * it is armed, immutable after. */
	struct members **members;

	/* ---- the control thread's ---- */
	struct target target;
	struct syms *syms;
	struct hwbp **bps;            /* --count / --cpu: a breakpoint per */
	int *bp_loc;                  /* register: of this location */
	int nbps;
	struct hwbp *ring_bp;         /* --cpu: the handle owning the rings */
	struct hwbp_sched *sched;     /* otherwise: the scheduler ... */
	struct hwbp_watch **watches;  /* ... and a watch per location */
	struct loc_ctx *ctx;
	struct share *share;          /* share.c: watches shared by address */
	_Atomic bool share_any;       /* some watch serves several ids */
	_Atomic bool dispatch;        /* share_any, or --follow-pointers: a
				       * hit is not simply its watch's */
	struct follow *follow;        /* follow.c: --follow-pointers */
	char (*why)[256];             /* a path pointing nowhere: why */
	struct loc_ctx task_ctx;      /* the scheduler's task records */
	struct hwbp_sched_stats before; /* counted before the last read */
	uint64_t lost;                /* records the kernel counted, not read */
	uint64_t uncounted;           /* hits the kernel did not count (the
				       * guard's SIGTRAPs with no cause) */
	uint64_t recovered;           /* ... and recover.c recovered */
	uint64_t *recovered_at;       /* --count: those per location */
	uint64_t *counts;             /* --count: per location */
	struct coverage *cov;         /* locations armed part of the time */
	int ncov;
	uint32_t ring_pages;          /* each CPU's ring */
	int ring_cpus[1024];          /* the rings' CPUs (the readers') */
	int nrings;
	/* --no-lost: the readers ask (pause_fd), the control thread holds the
	 * program until every ring is nearly empty again */
	int pause_fd;
	bool paused, pause_failed;
	uint64_t paused_at, pauses, paused_ns;
	int ring_smaller;             /* times it was halved (mlock limit) */
	struct stream *stream;
	pthread_t processor;
	bool processing;
	int stop_fd;                  /* eventfd: the processor asks to stop */
	uint64_t start_ns;
	char msg[1024];

	/* thread-locals: each thread's copy (written by the control thread,
	 * each published before it is armed; read by the processor) */
	struct tls_copy **copies;     /* TLS_MAX_COPIES slots */
	_Atomic int ncopies;
	bool *tls_noted;              /* per location: "no copy" said */

	/* ---- shared ---- */
	bool shared;                  /* locations take turns on registers */
	_Atomic bool final;           /* readers are done: process all, end */

	/* ---- the processor's ---- */
	struct codemap *map;
	struct values *values;
	struct proc_values *pv;
	int npv;
	struct summary sum;
	struct loc_count *last_row;   /* of sum.by_loc, hit last */
	int last_thread;              /* of sum.by_thread, hit last */
	struct thread_name *names;
	int nnames, last_name;
	struct switch_hist *switches; /* --switches */
	struct unwinder *unwinder;    /* --bt */
	uint64_t bt_short;            /* backtraces that stopped early */
	struct out out;
	uint64_t losses;              /* REC_LOSS windows seen */
	uint64_t unsure_until;        /* a loss window: writes before this
				       * time leave the chains unsure */
	struct cpu_last {             /* per CPU and chain: its latest hit */
		uint64_t time_ns;
		uint32_t tid, pid;
	} *cpu_last;                  /* [cpu * nchain_last + location];
				       * the last chain: unknown location */
	int ncpu_last, nchain_last;
	bool racy;                    /* the hit at hand's (order_unsure) */
	bool max_reached;
};

/* members.c: a whole object's members (the control thread builds each
 * table before the location is armed; the processor reads it, no lock) */
struct member {
	uint32_t off, len;     /* in the location */
	const char *name;      /* "cfg.limit", "arr[3]", "obj.x" (stable) */
	uint16_t type;         /* members_type */
	bool typed;            /* a scalar type: values typed, else bytes */
};
struct members;
/* The table of loc if it is a whole object (typed, no :LEN, more than one
 * member), else *out = NULL; 0 or -ENOMEM. */
int members_build(struct syms *s, const struct location *loc,
		  struct members **out);
void members_free(struct members *t);
const struct member *members_at(const struct members *t, uint32_t off,
				uint32_t len);
const struct vtype *members_type(const struct members *t,
				 const struct member *m);
int members_count(const struct members *t);

/* share.c: one register per address (locations and pointer slots whose
 * registers would start at one address share one watch, its host's) */
/* Ids: a location's index, a pointer slot's (--follow-pointers: slot k
 * of location i's path), or from NIDS on a thread-local copy's
 * (watch_tls.c; never shared). */
#define SLOT_ID(w, i, k) ((w)->cfg->nlocs + (i) * LOC_MAX_DEREFS + (k))
#define NIDS(w) ((w)->cfg->nlocs * (1 + LOC_MAX_DEREFS))
int share_init(struct watch *w, int nids, int plain_cap);
void share_free(struct watch *w);
struct loc_ctx *share_ctx(struct watch *w, int id);
/* Arm [addr, addr+len) for id (sharing a host's watch where registers
 * would meet), or stop: 0 or -errno (hwbp_last_error says why). */
int share_add(struct watch *w, int id, uint64_t addr, uint64_t len,
	      enum hwbp_access access);
int share_remove(struct watch *w, int id);
/* The processor: the other ids a record of id's watch serves (NULL, *n
 * 0: none). */
const int *share_riders(const struct watch *w, int id, int *n);
/* --cpu: a register already at addr (another id's; grown to len) serves
 * id too: true.  Else the caller opens one and notes it. */
bool share_plain_join(struct watch *w, int id, uint64_t addr, uint32_t len,
		      enum hwbp_access access);
/* Notes a register about to open at addr for id, before it can hit: the
 * slot for its handle (NULL: too many). */
struct hwbp **share_plain_note(struct watch *w, int id, uint64_t addr,
			       uint32_t len);
/* --cpu, in a reader: the id of the register at addr (else fallback). */
int share_plain_id(const struct watch *w, uint64_t addr, int fallback);

/* watch.c, for share.c: a scheduler watch carrying id's cookie (the first
 * opens the rings): 0 or -errno. */
int watch_sched_add(struct watch *w, int id, uint64_t addr, uint64_t len,
		    enum hwbp_access access, struct hwbp_watch **out);

/* follow.c: pointer paths (what they resolved to; --follow-pointers: the
 * watch moves when a pointer on the path changes) */
struct follow_stats {
	uint64_t moves;          /* changes followed */
	uint64_t window_ns;      /* their windows (change -> re-armed) ... */
	uint64_t window_max_ns;  /* ... and the longest */
	uint64_t left_out;       /* hits on an old target after a change */
	uint64_t left_reported;  /* (of which said by a move already) */
};
int follow_init(struct watch *w);
void follow_free(struct watch *w);
/* The control thread: location i armed (or a path pointing nowhere yet,
 * `why`), followed from now on; its requests (follow_fd readable) and
 * polls; stderr lines; the reason a path is not watched (NULL: it is). */
void follow_start(struct watch *w, int i, bool armed, const char *why);
void follow_service(struct watch *w);
int follow_fd(const struct watch *w);
bool follow_owns(const struct watch *w, int i);
void follow_say(const struct location *l, const char *why, bool moved);
const char *follow_why(const struct watch *w, int i);
const struct follow_stats *follow_stats_of(const struct watch *w, int i);
/* The processor: location i as placed at the stream's time (NULL: not
 * yet); drop its hits while a change waits; slot id's state; a pointer
 * changed; placements re-armed up to time t. */
const struct location *follow_view(struct watch *w, int i);
bool follow_drop(struct watch *w, int i);
bool follow_slot(struct watch *w, int id, int *loc, int *slot,
		 uint64_t *addr, uint64_t **val, uint8_t **q);
void follow_changed(struct watch *w, int i, int slot, uint64_t value,
		    uint64_t t);
void follow_adopt(struct watch *w, uint64_t t);

/* hits.c */
int hits_init(struct watch *w);
void hits_free(struct watch *w);
/* The processor thread: records in time order until w->final and none
 * is left. */
void *hits_main(void *arg);
/* The names and values of a process we start watching (control thread,
 * before the processor runs). */
void hits_prime(struct watch *w, pid_t pid);
const char *hits_thread_name(struct watch *w, pid_t pid, pid_t tid);

/* recover.c: a SIGTRAP with no cause (the guard's, its thread stopped):
 * the hits its access made, into the stream or the counts; how many of
 * them could not be told (1 when nothing could: a hit lost). */
int recover_hits(struct watch *w, const struct uncaused_trap *t);

/* watch.c, for watch_tls.c */
int start_sched(struct watch *w);
int start_stream(struct watch *w);

/* watch_tls.c: thread-locals, each thread's copy (control thread) */
/* After syms_open: resolve thread-locals where each copy can be found
 * (guarded: ptrace), else refuse them with the reason. */
void tls_allow(struct watch *w);
/* A launched program still at its exec: run it to its entry point when a
 * thread-local is watched (the main thread's TLS is set up by then). */
int tls_prepare(struct watch *w);
/* Registers each thread needs for the thread-locals. */
int tls_registers(const struct watch *w);
/* Arm location i (a thread-local) in every thread of the target, held
 * stopped meanwhile; 0 or an exit status with w->msg. */
int tls_arm(struct watch *w, int i);
void tls_free(struct watch *w);
/* The processor's: copy `idx` (a record's loc >= nlocs), or NULL. */
struct tls_copy *tls_copy_of(struct watch *w, int idx);
/* After a loss: every copy's chain is unsure. */
void tls_all_approx(struct watch *w);

#endif
