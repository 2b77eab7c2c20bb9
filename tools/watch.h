/* SPDX-License-Identifier: MIT */
/*
 * watch.h - what `hwbp watch`'s two halves share: watch.c, the control
 * thread (target, arming, signals, the end), and hits.c, the processor
 * (every record in time order: address spaces, values, names, output).
 * Between them, stream.c's readers move the records out of the rings.
 *
 * Who touches what: the control thread owns target, syms, the handles and
 * the locations' arming; the processor owns everything under "the
 * processor's" once it runs, until the control thread joins it.
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

struct watch {
	const struct watch_cfg *cfg;
	struct location *locs;
	/* Each location's bytes when it was armed, and how well known (the
	 * control thread's before arming; the processor's after). */
	uint8_t **armed_bytes;
	enum vquality *armed_q;

	/* ---- the control thread's ---- */
	struct target target;
	struct syms *syms;
	struct hwbp **bps;            /* --count / --cpu: a breakpoint per */
	int *bp_loc;                  /* register: of this location */
	int nbps;
	/* --cpu: each register's address and location, for the readers */
#define MAX_PIECES 64
	uint64_t piece_addr[MAX_PIECES];
	int piece_loc[MAX_PIECES];
	_Atomic int npieces;
	struct hwbp *ring_bp;         /* --cpu: the handle owning the rings */
	struct hwbp_sched *sched;     /* otherwise: the scheduler ... */
	struct hwbp_watch **watches;  /* ... and a watch per location */
	struct loc_ctx *ctx;
	struct loc_ctx task_ctx;      /* the scheduler's task records */
	struct hwbp_sched_stats before; /* counted before the last read */
	uint64_t lost;                /* records the kernel counted, not read */
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
	bool max_reached;
};

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
