/* SPDX-License-Identifier: MIT */
/*
 * bpf.c - ring samples written at the trap by a BPF program
 * (opts.bpf_samples).  perf copies each sampled register with two calls
 * (perf_reg_value, then the ring copy); where every return is costly (the
 * SRSO "Safe RET" mitigation) the 18 registers hwbp decodes cost ~1.3 us
 * a hit, 11-13 % of the trap.  A BPF program attached to every breakpoint
 * event (PERF_EVENT_IOC_SET_BPF; inherited with it) copies them out of
 * the trap's pt_regs with plain loads, writes one record through a
 * per-CPU BPF output event into that CPU's ring (the same ring, so the
 * same order as every other record there) and tells perf to write no
 * sample of its own.  Its raw data (below) decodes into the same
 * hwbp_record.  A hit the program cannot write is counted in a map the
 * reader maps, per CPU: the loss is exact and known at once.
 *
 * The program is a few dozen instructions, assembled here: no compiler,
 * no object file, no libbpf at run time.
 */

#include <errno.h>
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <linux/hw_breakpoint.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * The raw data of a record: u32 pad (so the u64s after perf's u32 size
 * are aligned), then u64 time (CLOCK_MONOTONIC: bpf_ktime_get_ns reads the
 * clock perf stamps the ring's other records with), pid << 32 | tid, cpu,
 * ip, the breakpoint's address, and the registers in regs_mask bit order
 * (PERF_SAMPLE_REGS_USER's layout).
 */
enum { F_TIME, F_PIDTID, F_CPU, F_IP, F_ADDR, F_REGS };
#define RAW_SIZE(nregs) (4u + 8u * (F_REGS + (unsigned)(nregs)))
#define MAX_INSNS 192

static long sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(SYS_bpf, cmd, a, sizeof(*a));
}

struct prog {
	struct bpf_insn v[MAX_INSNS];
	int n;
};

static void emit(struct prog *p, uint8_t code, uint8_t dst, uint8_t src,
		 int16_t off, int32_t imm)
{
	if (p->n < MAX_INSNS)
		p->v[p->n++] = (struct bpf_insn){ .code = code, .dst_reg = dst,
						  .src_reg = src, .off = off,
						  .imm = imm };
}

/* A 64-bit immediate (two instructions); src BPF_PSEUDO_MAP_FD: a map. */
static void emit_ld64(struct prog *p, uint8_t dst, uint8_t src, uint32_t lo)
{
	emit(p, BPF_LD | BPF_DW | BPF_IMM, dst, src, 0, (int32_t)lo);
	emit(p, 0, 0, 0, 0, 0);
}

static void emit_call(struct prog *p, int32_t helper)
{
	emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, helper);
}

/* *(u64 *)(r10 + off) = src */
static void emit_store(struct prog *p, int16_t off, uint8_t src)
{
	emit(p, BPF_STX | BPF_MEM | BPF_DW, BPF_REG_10, src, off, 0);
}

/* The program for regs_mask (its bits have slots: hwbp_bpf_usable). */
static void assemble(struct prog *p, uint64_t mask, int out_fd, int lost_fd)
{
	int nregs = __builtin_popcountll(mask), k = 0, skip_at;
	/* the frame: u32 key (the lost counter's), u32 pad, the u64s */
	int16_t base = (int16_t)-(8 * (1 + F_REGS + nregs));
#define FIELD(i) ((int16_t)(base + 8 + 8 * (i)))

	p->n = 0;
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
	emit_call(p, BPF_FUNC_ktime_get_ns);
	emit_store(p, FIELD(F_TIME), BPF_REG_0);
	emit_call(p, BPF_FUNC_get_current_pid_tgid);
	emit_store(p, FIELD(F_PIDTID), BPF_REG_0);
	emit_call(p, BPF_FUNC_get_smp_processor_id);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_7, BPF_REG_0, 0, 0);
	emit_store(p, FIELD(F_CPU), BPF_REG_0);
	emit(p, BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_6,
	     hwbp_arch.bpf_ip_off, 0);
	emit_store(p, FIELD(F_IP), BPF_REG_1);
	emit(p, BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_6,
	     offsetof(struct bpf_perf_event_data, addr), 0);
	emit_store(p, FIELD(F_ADDR), BPF_REG_1);
	for (int bit = 0; bit < 64; bit++) {
		int16_t off;

		if (!(mask & (1ull << bit)))
			continue;
		off = hwbp_arch.bpf_reg_off[bit];
		if (off == HWBP_BPF_REG_ZERO) /* perf gives 0 there too */
			emit(p, BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0,
			     FIELD(F_REGS + k), 0);
		else {
			emit(p, BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1,
			     BPF_REG_6, off, 0);
			emit_store(p, FIELD(F_REGS + k), BPF_REG_1);
		}
		k++;
	}
	emit(p, BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, base + 4, 0);
	/* bpf_perf_event_output(ctx, out, BPF_F_CURRENT_CPU, raw, size) */
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0);
	emit_ld64(p, BPF_REG_2, BPF_PSEUDO_MAP_FD, (uint32_t)out_fd);
	emit_ld64(p, BPF_REG_3, 0, (uint32_t)BPF_F_CURRENT_CPU);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_4, BPF_REG_10, 0, 0);
	emit(p, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_4, 0, 0, base + 4);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_5, 0, 0,
	     (int32_t)RAW_SIZE(nregs));
	emit_call(p, BPF_FUNC_perf_event_output);
	/* not written (ring full, no output event on this CPU): count it */
	skip_at = p->n;
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	emit(p, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_7, base, 0);
	emit_ld64(p, BPF_REG_1, BPF_PSEUDO_MAP_FD, (uint32_t)lost_fd);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	emit(p, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, base);
	emit_call(p, BPF_FUNC_map_lookup_elem);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1);
	emit(p, BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD);
	p->v[skip_at].off = (int16_t)(p->n - skip_at - 1);
	/* 0: perf writes no sample of its own */
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
#undef FIELD
}

/* The pids the program reads are the initial namespace's. */
static bool in_initial_pid_ns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 &&
	       st.st_ino == 0xEFFFFFFCu; /* PROC_PID_INIT_INO */
}

/* -EOPNOTSUPP with the reason when these options cannot use BPF. */
static int usable(const struct hwbp *o)
{
	const struct hwbp_req *r = &o->req;

	if (!hwbp_arch.bpf_reg_off)
		return hwbp_fail(EOPNOTSUPP, "BPF samples: not on %s",
				 hwbp_arch.name);
	if (r->sample != HWBP_SAMPLE_REGS || r->kernel)
		return hwbp_fail(EOPNOTSUPP, "BPF samples: only user registers "
				 "(no stack, call chain, branches or kernel "
				 "hits)");
	for (int bit = 0; bit < 64; bit++)
		if ((r->regs_mask & (1ull << bit)) &&
		    (bit >= HWBP_BPF_NREGS ||
		     hwbp_arch.bpf_reg_off[bit] == HWBP_BPF_REG_NONE))
			return hwbp_fail(EOPNOTSUPP, "BPF samples: register %d "
					 "is not in the trap's pt_regs", bit);
	for (int i = 0; i < o->nrings; i++)
		if (o->rings[i].cpu < 0)
			return hwbp_fail(EOPNOTSUPP, "BPF samples: a thread's "
					 "ring (any CPU): they need a ring per "
					 "CPU (process or CPU scope)");
	if (!o->nrings)
		return hwbp_fail(EOPNOTSUPP, "BPF samples: no ring");
	if (!in_initial_pid_ns())
		return hwbp_fail(EOPNOTSUPP, "BPF samples: hwbp runs in a PID "
				 "namespace (the program reads the initial "
				 "one's ids)");
	return 0;
}

static int why(int err, const char *what)
{
	if (err == EPERM || err == EACCES)
		return hwbp_fail(err, "BPF samples: %s: %s (needs CAP_BPF and "
				 "CAP_PERFMON, or root)", what, strerror(err));
	return hwbp_fail(err, "BPF samples: %s: %s", what, strerror(err));
}

static int create_maps(struct hwbp_bpf *b, int ncpus)
{
	union bpf_attr out = { .map_type = BPF_MAP_TYPE_PERF_EVENT_ARRAY,
			       .key_size = 4, .value_size = 4,
			       .max_entries = (uint32_t)ncpus };
	union bpf_attr lost = { .map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4,
				.value_size = 8, .max_entries = (uint32_t)ncpus,
				.map_flags = BPF_F_MMAPABLE };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	b->out_map = (int)sys_bpf(BPF_MAP_CREATE, &out);
	if (b->out_map < 0)
		return why(errno, "the output map");
	b->lost_map = (int)sys_bpf(BPF_MAP_CREATE, &lost);
	if (b->lost_map < 0)
		return why(errno, "the lost-hits map");
	b->lost_len = (8u * (size_t)ncpus + page - 1) / page * page;
	b->lost = mmap(NULL, b->lost_len, PROT_READ, MAP_SHARED, b->lost_map, 0);
	if (b->lost == MAP_FAILED) {
		b->lost = NULL;
		return why(errno, "mmap of the lost-hits map");
	}
	b->ncpus = ncpus;
	return 0;
}

/* CPU cpu's output event, writing into ring r. */
static int open_output(struct hwbp *o, struct hwbp_ring *r)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(a),
		.config = PERF_COUNT_SW_BPF_OUTPUT,
		.sample_period = 1,
		.sample_type = PERF_SAMPLE_RAW,
		.wakeup_events = o->req.wakeup_events,
		.use_clockid = 1, /* the ring's clock (SET_OUTPUT wants it) */
		.clockid = CLOCK_MONOTONIC,
	};
	struct hwbp_bpf *b = &o->bpf;
	uint32_t key = (uint32_t)r->cpu, val;
	union bpf_attr up = { .map_fd = (uint32_t)b->out_map,
			      .key = (uintptr_t)&key, .value = (uintptr_t)&val };
	long fd;

	if (r->cpu >= b->ncpus)
		return hwbp_fail(EINVAL, "BPF samples: CPU %d beyond %d",
				 r->cpu, b->ncpus);
	fd = hwbp_perf_event_open(&a, -1, r->cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return why(errno, "the output event");
	b->out_fds[b->nout++] = (int)fd;
	val = (uint32_t)fd;
	if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, r->fd))
		return why(errno, "PERF_EVENT_IOC_SET_OUTPUT of the output "
			   "event");
	if (sys_bpf(BPF_MAP_UPDATE_ELEM, &up))
		return why(errno, "the output map's update");
	return 0;
}

static int load(struct hwbp *o)
{
	struct prog mine;
	union bpf_attr a = { .prog_type = BPF_PROG_TYPE_PERF_EVENT,
			     .license = (uintptr_t)"GPL" };

	assemble(&mine, o->req.regs_mask, o->bpf.out_map, o->bpf.lost_map);
	a.insns = (uintptr_t)mine.v;
	a.insn_cnt = (uint32_t)mine.n;
	o->bpf.prog = (int)sys_bpf(BPF_PROG_LOAD, &a);
	return o->bpf.prog < 0 ? why(errno, "the program's load") : 0;
}

/*
 * Whether this kernel runs a BPF program on a breakpoint event: tried on
 * one of this thread's, disarmed, before any event of the handle is made
 * (each is then opened for the program's layout).  Where no register is
 * free to try it, the events' own attach says.
 */
static int try_attach(int prog)
{
	static uint64_t probe_word;
	struct perf_event_attr a = {
		.type = PERF_TYPE_BREAKPOINT,
		.size = sizeof(a),
		.bp_type = HW_BREAKPOINT_W,
		.bp_addr = (uintptr_t)&probe_word,
		.bp_len = HW_BREAKPOINT_LEN_8,
		.sample_period = 1,
		.disabled = 1,
		.exclude_kernel = 1,
		.exclude_hv = 1,
	};
	long fd = hwbp_perf_event_open(&a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return 0;
	if (ioctl((int)fd, PERF_EVENT_IOC_SET_BPF, prog))
		err = why(errno, "PERF_EVENT_IOC_SET_BPF on a breakpoint");
	close((int)fd);
	return err;
}

void hwbp_bpf_close(struct hwbp *o)
{
	struct hwbp_bpf *b = &o->bpf;

	if (!b->opened)
		return;
	if (b->prog >= 0)
		close(b->prog);
	for (int i = 0; i < b->nout; i++)
		close(b->out_fds[i]);
	free(b->out_fds);
	if (b->lost)
		munmap(b->lost, b->lost_len);
	if (b->lost_map >= 0)
		close(b->lost_map);
	if (b->out_map >= 0)
		close(b->out_map);
	b->prog = b->out_map = b->lost_map = -1;
	b->out_fds = NULL;
	b->nout = 0;
	b->lost = NULL;
	b->opened = false;
	if (b->status == 1)
		b->status = 0;
}

/*
 * After the rings: the maps, an output event per ring and the program.
 * Any refusal leaves perf's sampling in place, and the reason in
 * bpf.status (a negative errno) and hwbp_last_error; never an error of
 * the handle's.
 */
void hwbp_bpf_open(struct hwbp *o)
{
	struct hwbp_bpf *b = &o->bpf;
	int ncpus = get_nprocs_conf(), err;

	*b = (struct hwbp_bpf){ .prog = -1, .out_map = -1, .lost_map = -1,
				.opened = true };
	if (!o->req.bpf_samples)
		return;
	for (int i = 0; i < o->nrings; i++)
		if (o->rings[i].cpu >= ncpus)
			ncpus = o->rings[i].cpu + 1;
	err = usable(o);
	if (!err && !(b->out_fds = calloc((size_t)o->nrings, sizeof(int))))
		err = hwbp_fail(ENOMEM, "out of memory for BPF samples");
	if (!err)
		err = create_maps(b, ncpus);
	for (int i = 0; !err && i < o->nrings; i++)
		err = open_output(o, &o->rings[i]);
	if (!err)
		err = load(o);
	if (!err)
		err = try_attach(b->prog);
	b->status = err ? err : 1;
	if (err) {
		snprintf(b->why, sizeof(b->why), "%s", hwbp_last_error());
		hwbp_bpf_close(o);
		hwbp_clear_error(); /* not the handle's error: in b->why */
	}
}

int hwbp_bpf_attach(const struct hwbp *o, int fd, pid_t tid)
{
	if (!hwbp_bpf_on(o))
		return 0;
	if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, o->bpf.prog))
		return hwbp_fail(errno, "PERF_EVENT_IOC_SET_BPF on a breakpoint "
				 "event failed (tid %d): %s", (int)tid,
				 strerror(errno));
	return 0;
}

/* body: PERF_SAMPLE_RAW alone: u32 size, then the data above. */
int hwbp_bpf_decode(const struct hwbp *o, const void *body, size_t size,
		    struct hwbp_record *r)
{
	const uint8_t *b = body;
	int nregs = __builtin_popcountll(o->req.regs_mask);
	uint64_t f[F_REGS];
	uint32_t raw;

	memset(r, 0, sizeof(*r));
	if (size < 8 + 8 * F_REGS)
		return -EINVAL;
	memcpy(&raw, b, 4);
	if (raw != RAW_SIZE(nregs) || size < 4 + (size_t)raw)
		return -EINVAL;
	memcpy(f, b + 8, sizeof(f));
	r->time_ns = f[F_TIME];
	r->pid = (uint32_t)(f[F_PIDTID] >> 32);
	r->tid = (uint32_t)f[F_PIDTID];
	r->cpu = (uint32_t)f[F_CPU];
	r->ip = f[F_IP];
	r->addr = f[F_ADDR];
	r->abi = PERF_SAMPLE_REGS_ABI_64;
	r->regs_mask = o->req.regs_mask;
	r->regs = (const void *)(b + 8 + 8 * F_REGS); /* 8-aligned in ring */
	return 0;
}

/* The hits the program could not write, on CPU cpu (INT_MIN: all). */
uint64_t hwbp_bpf_lost(const struct hwbp *o, int cpu)
{
	const struct hwbp_bpf *b = &o->bpf;
	uint64_t n = 0;

	for (int c = 0; b->lost && c < b->ncpus; c++)
		if (cpu == INT_MIN || cpu == c)
			n += __atomic_load_n(&b->lost[c], __ATOMIC_RELAXED);
	return n;
}

/* stats of bp: its ring owner's BPF state; the owner also reports the
 * hits its program could not write. */
void hwbp_bpf_stats(const struct hwbp *bp, struct hwbp_stats *st)
{
	const struct hwbp *o = bp->ring_owner;

	if (!o || bp->req.delivery != HWBP_DELIVER_RING)
		return;
	st->bpf = o->bpf.status;
	st->bpf_why = o->bpf.status < 0 ? o->bpf.why : NULL;
	if (bp == o)
		st->lost += hwbp_bpf_lost(o, INT_MIN);
}

static char probe_why[192]; /* hwbp_bpf_probe's refusal */

/* For hwbp_probe: whether this caller and kernel can have BPF samples (a
 * program of the type loads and attaches to a breakpoint event); the
 * reason, if not, in hwbp_bpf_probe_why. */
bool hwbp_bpf_probe(void)
{
	struct bpf_insn ret0[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a = { .prog_type = BPF_PROG_TYPE_PERF_EVENT,
			     .insns = (uintptr_t)ret0, .insn_cnt = 2,
			     .license = (uintptr_t)"GPL" };
	int prog = -1, err = 0;

	if (!hwbp_arch.bpf_reg_off)
		err = hwbp_fail(EOPNOTSUPP, "not on %s", hwbp_arch.name);
	else if (!in_initial_pid_ns())
		err = hwbp_fail(EOPNOTSUPP, "hwbp runs in a PID namespace");
	else if ((prog = (int)sys_bpf(BPF_PROG_LOAD, &a)) < 0)
		err = why(errno, "loading a program");
	else
		err = try_attach(prog);
	if (prog >= 0)
		close(prog);
	if (err)
		snprintf(probe_why, sizeof(probe_why), "%s", hwbp_last_error());
	hwbp_clear_error();
	return !err;
}

const char *hwbp_bpf_probe_why(void)
{
	return probe_why;
}
