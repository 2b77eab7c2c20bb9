/* SPDX-License-Identifier: MIT */
/*
 * test_stream.c - what a reader that keeps every hit needs from the rings:
 * the code mappings (HWBP_REC_MMAP: a dlopen'd library, with its file and
 * address) and execs (HWBP_REC_COMM.exec), side-band records stamped with
 * time and CPU, several breakpoints writing one stream (opts.share_ring,
 * and a scheduler's registers), each CPU's ring read on its own
 * (hwbp_ring_consume_cpu), and a scheduler handing records over undecoded
 * (raw_records: strays included, for a caller that decodes them itself).
 */
#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>

#include "testutil.h"

static volatile uint64_t var, other;
static volatile uint8_t bytes[16] __attribute__((aligned(16)));

struct seen {
	int hits, on_var, on_other, comm_exec, mmaps;
	uint64_t last_time;
	bool out_of_order, side_untimed;
	pid_t exec_pid;
	char lib[256];
	uint64_t lib_addr, lib_pgoff;
};

static struct seen seen;

static void on_record(const struct hwbp_record *r, void *cookie)
{
	(void)cookie;
	if (r->kind != HWBP_REC_HIT && r->kind != HWBP_REC_SWITCH &&
	    !r->time_ns)
		seen.side_untimed = true;
	switch (r->kind) {
	case HWBP_REC_HIT:
		seen.hits++;
		seen.on_var += r->addr == (uintptr_t)&var;
		seen.on_other += r->addr == (uintptr_t)&other;
		seen.out_of_order |= r->time_ns < seen.last_time;
		seen.last_time = r->time_ns;
		break;
	case HWBP_REC_COMM:
		if (r->exec) {
			seen.comm_exec++;
			seen.exec_pid = (pid_t)r->pid;
		}
		break;
	case HWBP_REC_MMAP:
		seen.mmaps++;
		if (strstr(r->filename, "liboracle_dl")) {
			snprintf(seen.lib, sizeof(seen.lib), "%s", r->filename);
			seen.lib_addr = r->map_addr;
			seen.lib_pgoff = r->map_pgoff;
		}
		break;
	default:
		break;
	}
}

static struct hwbp *ring_on(volatile uint64_t *p, const struct hwbp_opts *o)
{
	struct hwbp *bp = NULL;

	cr_assert_eq(hwbp_create(&bp, (uintptr_t)p, 8, HWBP_WRITE, o), 0,
		     "hwbp_create: %s", hwbp_last_error());
	return bp;
}

/* Where the dynamic linker put the executable segment of a library. */
struct exec_seg {
	const char *name;
	uint64_t start;
	bool found;
};

static int find_seg(struct dl_phdr_info *info, size_t size, void *data)
{
	struct exec_seg *e = data;

	(void)size;
	if (!strstr(info->dlpi_name, e->name))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			e->start = (info->dlpi_addr + ph->p_vaddr) & ~4095ull;
			e->found = true;
			return 1;
		}
	}
	return 0;
}

Test(stream, mmap_records_name_a_dlopened_library, .timeout = 30)
{
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING, .on_record = on_record,
		  .mmap_events = true);
	struct exec_seg seg = { "liboracle_dl", 0, false };
	const char *helpers = getenv("HWBP_TEST_HELPERS");
	char path[4096];
	struct hwbp *bp;
	void *lib;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE(helpers, "HWBP_TEST_HELPERS is not set (make check sets it)");
	/* A library of the build: no chance it is mapped already. */
	snprintf(path, sizeof(path), "%s/../oracle/liboracle_dl.so", helpers);
	bp = ring_on(&var, &o);
	lib = dlopen(path, RTLD_NOW);
	cr_assert(lib, "dlopen %s: %s", path, dlerror());
	cr_assert_geq(hwbp_ring_consume(bp), 0, "%s", hwbp_last_error());
	dl_iterate_phdr(find_seg, &seg);
	cr_assert(seg.found);
	cr_assert(seen.lib[0], "no MMAP record of liboracle_dl among %d",
		  seen.mmaps);
	cr_assert(strstr(seen.lib, "/liboracle_dl.so"), "filename %s", seen.lib);
	cr_assert_eq(seen.lib_addr, seg.start, "mapped at 0x%llx, the linker "
		     "says 0x%llx", (unsigned long long)seen.lib_addr,
		     (unsigned long long)seg.start);
	cr_assert_eq(seen.lib_pgoff % 4096, 0);
	cr_assert_not(seen.side_untimed, "a side-band record without time");
	dlclose(lib);
	hwbp_close(bp);
}

Test(stream, comm_record_says_exec, .timeout = 30)
{
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING, .on_record = on_record,
		  .task_events = true);
	struct hwbp *bp;
	pid_t child;
	int status;

	TU_REQUIRE_BREAKPOINTS();
	bp = ring_on(&var, &o);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert_geq(hwbp_ring_consume(bp), 0, "%s", hwbp_last_error());
	cr_assert_eq(seen.comm_exec, 1, "%d COMM records with exec",
		     seen.comm_exec);
	cr_assert_eq(seen.exec_pid, child);
	cr_assert_not(seen.side_untimed, "a side-band record without time");
	hwbp_close(bp);
}

Test(stream, share_ring_one_stream_for_two_breakpoints, .timeout = 30)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_RING,
		  .on_record = on_record);
	HWBP_OPTS(hwbp_opts, shared, .delivery = HWBP_DELIVER_RING,
		  .on_record = on_record);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *a, *b;
	uint64_t n = 0;
	int cpus[4], fds[4];

	TU_REQUIRE_HITS();
	TU_REQUIRE_EXACT_DEBUG_STATUS();
	a = ring_on(&var, &o);
	shared.share_ring = a;
	b = ring_on(&other, &shared);
	for (int i = 0; i < 30; i++) {
		if (i % 3 == 0)
			var = (uint64_t)i;
		else
			other = (uint64_t)i;
	}
	n = (uint64_t)hwbp_ring_consume(b);
	cr_assert_eq(n, 30, "%d records (%d on var, %d on other): %s", (int)n,
		     seen.on_var, seen.on_other, hwbp_last_error());
	cr_assert_eq(seen.on_var, 10);
	cr_assert_eq(seen.on_other, 20);
	n = 0;
	cr_assert_not(seen.out_of_order, "one ring, out of time order");
	cr_assert_eq(hwbp_ring_consume(a), 0);
	cr_assert_eq(hwbp_read_count(b, &n), 0);
	cr_assert_eq(n, 20, "b counted %llu", (unsigned long long)n);
	cr_assert_eq(hwbp_get_stats(b, &st), 0);
	cr_assert_eq(st.rings, 0, "b has rings of its own");
	cr_assert_eq(hwbp_ring_cpus(b, cpus, fds, 4), 1);
	cr_assert_eq(cpus[0], -1, "a thread's ring collects any CPU");
	cr_assert_eq(hwbp_ring_cpus(a, NULL, fds + 1, 3), 1);
	cr_assert_eq(fds[0], fds[1], "b's ring is a's");
	hwbp_close(b);
	hwbp_close(a);
}

Test(stream, share_ring_refuses_other_tasks_and_layouts, .timeout = 30)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_RING,
		  .on_record = on_record);
	struct hwbp *a, *b = NULL;

	TU_REQUIRE_BREAKPOINTS();
	a = ring_on(&var, &o);
	{
		HWBP_OPTS(hwbp_opts, proc, .delivery = HWBP_DELIVER_RING,
			  .on_record = on_record, .share_ring = a,
			  .scope = HWBP_SCOPE_PROCESS);
		cr_assert_eq(hwbp_create(&b, (uintptr_t)&other, 8, HWBP_WRITE,
					 &proc), -EINVAL);
		cr_assert(strstr(hwbp_last_error(), "same scope, pid and cpus"),
			  "%s", hwbp_last_error());
	}
	{
		HWBP_OPTS(hwbp_opts, regs, .delivery = HWBP_DELIVER_RING,
			  .on_record = on_record, .share_ring = a,
			  .sample = HWBP_SAMPLE_REGS, .regs_mask = 1);
		cr_assert_eq(hwbp_create(&b, (uintptr_t)&other, 8, HWBP_WRITE,
					 &regs), -EINVAL);
		cr_assert(strstr(hwbp_last_error(), "one layout"), "%s",
			  hwbp_last_error());
	}
	cr_assert_null(b);
	hwbp_close(a);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0,
		     "sched_setaffinity %d: %s", cpu, strerror(errno));
}

Test(stream, each_cpu_ring_read_on_its_own, .timeout = 30)
{
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING, .on_record = on_record);
	int cpus[64], fds[64], n;
	struct hwbp *bp;

	TU_REQUIRE_HITS();
	TU_REQUIRE(get_nprocs() >= 2, "one CPU online: nothing to tell apart");
	bp = ring_on(&var, &o);
	n = hwbp_ring_cpus(bp, cpus, fds, 64);
	cr_assert_eq(n, get_nprocs_conf(), "%d rings: %s", n, hwbp_last_error());
	for (int i = 0; i < n; i++)
		cr_assert_eq(cpus[i], i);
	pin(1);
	for (int i = 0; i < 100; i++)
		var = (uint64_t)i;
	pin(0);
	cr_assert_eq(hwbp_ring_consume_cpu(bp, 0), 0, "hits in CPU 0's ring");
	cr_assert_eq(hwbp_ring_consume_cpu(bp, 1), 100, "%s", hwbp_last_error());
	cr_assert_eq(seen.on_var, 100);
	cr_assert_eq(hwbp_ring_consume_cpu(bp, 4096), -ENOENT);
	cr_assert(strstr(hwbp_last_error(), "no ring collects CPU 4096"), "%s",
		  hwbp_last_error());
	hwbp_close(bp);
}

static bool raw_mode;

static void on_raw(const struct hwbp_record *r, void *cookie)
{
	(void)cookie;
	if (r->kind != HWBP_REC_HIT)
		return;
	seen.hits++;
	cr_assert_not_null(r->watch);
	if (raw_mode)
		cr_assert_eq(r->touch, 0, "raw records are not decoded");
	else
		cr_assert_eq(r->touch, HWBP_TOUCH_WRITE);
}

/* bytes[1..3) needs a register on [0, 4): a store to bytes[0] is a stray
 * the scheduler drops, unless it hands records over raw. */
static int strays_delivered(bool raw)
{
	HWBP_OPTS(hwbp_opts, bo, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING);
	HWBP_OPTS(hwbp_sched_opts, so, .bp_opts = &bo, .on_record = on_raw,
		  .raw_records = raw);
	HWBP_OPTS(hwbp_watch_stats, ws);
	struct hwbp_sched *s;
	struct hwbp_watch *w;
	int cpus[64], n, got = 0;

	memset(&seen, 0, sizeof(seen));
	raw_mode = raw;
	cr_assert_eq(hwbp_sched_create(&s, &so), 0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_sched_ring_cpus(s, cpus, NULL, 64), 0,
		     "rings before any watch");
	cr_assert_eq(hwbp_sched_add(s, (uintptr_t)&bytes[1], 2, HWBP_WRITE,
				    NULL, &w), 0, "%s", hwbp_last_error());
	n = hwbp_sched_ring_cpus(s, cpus, NULL, 64);
	cr_assert_eq(n, get_nprocs_conf());
	for (int i = 0; i < 5; i++)
		bytes[0] = 0x5a;
	bytes[1] = 1;
	for (int i = 0; i < n; i++)
		got += hwbp_sched_consume_cpu(s, cpus[i]);
	cr_assert_eq(got, 6, "records read: %d", got);
	cr_assert_eq(hwbp_watch_get_stats(w, &ws), 0);
	cr_assert_eq(ws.strays, raw ? 0 : 5);
	hwbp_sched_close(s);
	return seen.hits;
}

Test(stream, sched_raw_records_keep_strays, .timeout = 30)
{
	TU_REQUIRE_HITS();
	cr_assert_eq(strays_delivered(false), 1);
	cr_assert_eq(strays_delivered(true), 6);
}

static void count_only(const struct hwbp_record *r, void *cookie)
{
	(void)cookie;
	seen.hits += r->kind == HWBP_REC_HIT;
}

/* A 1-page ring overflows: waiting bytes grow, then drops are counted by
 * the events themselves, and records + drops = writes, exactly. */
Test(stream, ring_stat_fill_and_drops, .timeout = 30)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_RING,
		  .on_record = count_only, .ring_pages = 1);
	HWBP_OPTS(hwbp_ring_stat, st);
	struct hwbp *bp;
	int cpu;

	TU_REQUIRE_HITS();
	memset(&seen, 0, sizeof(seen));
	bp = ring_on(&var, &o);
	cr_assert_eq(hwbp_ring_cpus(bp, &cpu, NULL, 1), 1);
	cr_assert_eq(hwbp_ring_stat_cpu(bp, cpu, &st), 0, "%s",
		     hwbp_last_error());
	cr_assert_eq(st.size, 4096);
	cr_assert_eq(st.waiting, 0);
	var = 1;
	cr_assert_eq(hwbp_ring_stat_cpu(bp, cpu, &st), 0);
	cr_assert_gt(st.waiting, 0, "a record waits");
	cr_assert_eq(st.lost, 0);
	for (int i = 0; i < 999; i++)
		var = (uint64_t)i;
	cr_assert_eq(hwbp_ring_stat_cpu(bp, cpu, &st), 0);
	TU_REQUIRE(st.lost_known, "PERF_FORMAT_LOST needs Linux 6.0");
	cr_assert_gt(st.lost, 0, "1000 records in a 1-page ring: none lost?");
	cr_assert_leq(st.waiting, st.size);
	hwbp_ring_consume_cpu(bp, cpu);
	cr_assert_eq((uint64_t)seen.hits + st.lost, 1000, "%d records + %llu "
		     "lost", seen.hits, (unsigned long long)st.lost);
	hwbp_close(bp);
}
