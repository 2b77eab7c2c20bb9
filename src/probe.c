/* SPDX-License-Identifier: MIT */
/*
 * probe.c - what this machine supports, found by trying each feature once
 * (libbpf's probes) in a fresh thread, so breakpoints the caller already
 * holds do not hide free registers.  The answer is cached.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef PERF_EVENT_IOC_MODIFY_ATTRIBUTES
#define PERF_EVENT_IOC_MODIFY_ATTRIBUTES _IOW('$', 11, struct perf_event_attr *)
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif

static struct hwbp_probe cached;
static volatile uint64_t probe_target[2] __attribute__((aligned(16)));

static void probe_exec_target(void) {}

/* A disabled user-space breakpoint the probes try things on. */
static struct perf_event_attr probe_attr(uint64_t addr, uint32_t len,
					 uint32_t type)
{
	return (struct perf_event_attr){
		.type = PERF_TYPE_BREAKPOINT,
		.size = sizeof(struct perf_event_attr),
		.bp_addr = addr,
		.bp_len = len,
		.bp_type = type,
		.sample_period = 1,
		.exclude_kernel = 1,
		.exclude_hv = 1,
		.disabled = 1,
	};
}

static int open_attr(struct perf_event_attr *a, pid_t pid, int cpu)
{
	long fd = hwbp_perf_event_open(a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : (int)fd;
}

static int try_open(uint64_t addr, uint32_t len, uint32_t type, bool sigtrap,
		    bool kernel, pid_t pid, int cpu)
{
	struct perf_event_attr a = probe_attr(addr, len, type);

	a.exclude_kernel = !kernel;
	a.sigtrap = sigtrap;
	a.remove_on_exec = sigtrap;
	return open_attr(&a, pid, cpu);
}

static bool works(int fd)
{
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int count_slots(void)
{
	int fds[32], n = 0;

	while (n < 32) {
		fds[n] = try_open((uint64_t)(uintptr_t)&probe_target[0], 8,
				  HWBP_WRITE, false, false, 0, -1);
		if (fds[n] < 0)
			break;
		n++;
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return n;
}

static bool probe_modify(void)
{
	int fd = try_open((uint64_t)(uintptr_t)&probe_target[0], 8, HWBP_WRITE,
			  false, false, 0, -1);
	struct perf_event_attr a = probe_attr(
		(uint64_t)(uintptr_t)&probe_target[1], 4, HWBP_RW);
	bool ok;

	if (fd < 0)
		return false;
	ok = ioctl(fd, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &a) == 0;
	close(fd);
	return ok;
}

static bool probe_async(void)
{
	int fd = try_open((uint64_t)(uintptr_t)&probe_target[0], 8, HWBP_WRITE,
			  false, false, 0, -1);
	struct f_owner_ex owner = { .type = F_OWNER_TID, .pid = gettid() };
	bool ok;

	if (fd < 0)
		return false;
	ok = fcntl(fd, F_SETOWN_EX, &owner) == 0 &&
	     fcntl(fd, 10 /* F_SETSIG */, 0) == 0;
	close(fd);
	return ok;
}

/*
 * Arm a write watchpoint on this thread, write twice, read the count.  The
 * kernel accepting the event does not prove the CPU traps: some hypervisors
 * (seen: a PVM guest) take the debug registers and never deliver a hit.
 */
static bool probe_fires(void)
{
	int fd = try_open((uint64_t)(uintptr_t)&probe_target[0], 8, HWBP_WRITE,
			  false, false, 0, -1);
	uint64_t count = 0;

	if (fd < 0)
		return false;
	if (ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) == 0) {
		probe_target[0] = 1;
		probe_target[0] = 2;
		ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
		if (read(fd, &count, sizeof(count)) != sizeof(count))
			count = 0;
	}
	close(fd);
	return count == 2;
}

static bool probe_lost_count(void)
{
	struct perf_event_attr a = probe_attr(
		(uint64_t)(uintptr_t)&probe_target[0], 8, HWBP_WRITE);

	a.read_format = PERF_FORMAT_LOST;
	return works(open_attr(&a, 0, -1));
}

static bool pmu_has(const char *what)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s", what);
	return access(path, F_OK) == 0;
}

/*
 * Branch records at a hit.  The kernel refuses a branch stack on the
 * breakpoint event itself (hw_breakpoint_event_init: EOPNOTSUPP), so the
 * branches before a hit come from an Intel PT AUX sample: a breakpoint in
 * a group led by an intel_pt event (aux.c), tried here once.  (LBR read
 * at the hit by a BPF program, bpf_get_branch_snapshot, is not done.)
 */
static bool probe_pt_aux_sample(void)
{
	struct perf_event_attr a = probe_attr(
		(uint64_t)(uintptr_t)&probe_target[0], 8, HWBP_WRITE);
	struct hwbp_aux *leader;
	bool ok;

	if (hwbp_aux_get(gettid(), -1, false, 4096, &leader)) {
		hwbp_clear_error();
		return false;
	}
	a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_AUX;
	a.aux_sample_size = 4096;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	ok = works((int)hwbp_perf_event_open(&a, 0, -1, hwbp_aux_fd(leader),
					     PERF_FLAG_FD_CLOEXEC));
	hwbp_aux_put(leader);
	return ok;
}

static void probe_branches(struct hwbp_probe *p)
{
	struct perf_event_attr a = probe_attr(
		(uint64_t)(uintptr_t)&probe_target[0], 8, HWBP_WRITE);

	a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_BRANCH_STACK;
	a.branch_sample_type = PERF_SAMPLE_BRANCH_USER | PERF_SAMPLE_BRANCH_ANY;
	p->bp_branch_stack = works(open_attr(&a, 0, -1));
	p->lbr = pmu_has("cpu/caps/branches") || pmu_has("cpu_core/caps/branches");
	p->intel_pt = pmu_has("intel_pt");
	p->pt_aux_sample = p->intel_pt && probe_pt_aux_sample();
	p->branches = p->pt_aux_sample;
}

static void read_caps(struct hwbp_probe *p)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (syscall(SYS_capget, &h, d))
		return;
	p->cap_sys_admin = d[CAP_SYS_ADMIN / 32].effective &
			   (1u << (CAP_SYS_ADMIN % 32));
	p->cap_perfmon = d[CAP_PERFMON / 32].effective &
			 (1u << (CAP_PERFMON % 32));
}

static int read_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
	int v = -99;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -99;
		fclose(f);
	}
	return v;
}

static void *probe_thread(void *arg)
{
	struct hwbp_probe *p = arg;
	uint64_t data = (uint64_t)(uintptr_t)&probe_target[0];

	p->breakpoints = works(try_open(data, 8, HWBP_WRITE, false, false, 0, -1));
	if (!p->breakpoints)
		return NULL;
	p->slots = count_slots();
	p->fires = probe_fires();
	p->lost_count = probe_lost_count();
	p->sigtrap = works(try_open(data, 8, HWBP_WRITE, true, false, 0, -1));
	p->modify = probe_modify();
	p->async_signal = probe_async();
	p->read_only = works(try_open(data, 8, HWBP_READ, false, false, 0, -1));
	p->exec = works(try_open((uint64_t)(uintptr_t)probe_exec_target,
				 hwbp_arch.exec_len, HWBP_EXEC, false, false,
				 0, -1));
	/* Not by opening one: a CPU-wide breakpoint, even for a moment,
	 * takes a register from every thread on the machine (the kernel
	 * counts it against each task's 4).  The kernel's own rule
	 * (perf_allow_cpu) says it instead. */
	p->cpu_wide = p->cap_perfmon || p->cap_sys_admin || p->paranoid <= 0;
	p->kernel = works(try_open(data, 8, HWBP_WRITE, false, true, 0, -1));
	probe_branches(p);
	p->bpf_samples = hwbp_bpf_probe();
	return NULL;
}

static void probe_once(void)
{
	pthread_t t;

	cached.sz = sizeof(cached);
	cached.max_len = hwbp_arch.max_len;
	cached.paranoid = read_paranoid();
	read_caps(&cached);
	if (pthread_create(&t, NULL, probe_thread, &cached) == 0)
		pthread_join(t, NULL);
	else
		probe_thread(&cached);
}

/* The cached probe; returns the number of debug registers per thread. */
int hwbp_probe_cached(struct hwbp_probe *out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, probe_once);
	if (out)
		*out = cached;
	return cached.slots;
}

HWBP_API int hwbp_probe(struct hwbp_probe *info)
{
	struct hwbp_probe all;
	int err;

	if (!info)
		return hwbp_fail(EINVAL, "hwbp_probe: info is NULL");
	err = hwbp_opts_valid(info, info->sz, sizeof(*info), "hwbp_probe");
	if (err)
		return err;
	hwbp_probe_cached(&all);
	hwbp_copy_out(info, info->sz, &all, sizeof(all));
	return 0;
}

static const char *yes_no(bool v)
{
	return v ? "yes" : "no";
}

/* The PMUs of this machine, "a b c". */
static void list_pmus(char *out, size_t size)
{
	DIR *d = opendir("/sys/bus/event_source/devices");
	struct dirent *e;
	size_t n = 0;

	out[0] = '\0';
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && n < size)
			n += (size_t)snprintf(out + n, size - n, "%s%s",
					      n ? " " : "", e->d_name);
	if (d)
		closedir(d);
}

/* Why branch records are not available (p.branches false). */
static void branches_why(const struct hwbp_probe *p, char *out, size_t size)
{
	char pmus[256];

	list_pmus(pmus, sizeof(pmus));
	snprintf(out, size, " (hwbp takes them from an Intel PT AUX sample: "
		 "%s; the kernel refuses a branch stack on breakpoint events: "
		 "perf_event_open said %s; LBR read at the hit by a BPF "
		 "program is not implemented; PMUs here: %s)",
		 !p->intel_pt ? "no intel_pt PMU here" :
		 "the kernel refused a breakpoint with PERF_SAMPLE_AUX in an "
		 "intel_pt group (kernel >= 5.5, a free PT)",
		 p->bp_branch_stack ? "yes" : "EOPNOTSUPP",
		 pmus[0] ? pmus : "none");
}

void hwbp_branches_why(char *out, size_t size)
{
	struct hwbp_probe p;

	hwbp_probe_cached(&p);
	if (p.branches)
		snprintf(out, size, " (Intel PT AUX sample at each hit)");
	else
		branches_why(&p, out, size);
}

/* A hit whose DR6 the host loses reaches the program as SIGTRAP (x86
 * exc_debug_user: no cause, so icebp).  Rare (3 in the Redis runs of
 * ../shared/realhw, 0 in 14 M hits of a test here): no short test shows
 * it, so the line says what is known.  hwbp watch guards (tools/target.c). */
#if defined(__x86_64__)
#define SPURIOUS_TRAPS "not testable (a host that loses a hit's DR6 sends " \
	"SIGTRAP now and then; hwbp watch holds those and recovers the " \
	"hit from the thread's registers, or counts it lost: GUARD in hwbp(1))"
#else
#define SPURIOUS_TRAPS "none known (an x86 hypervisor fault)"
#endif

HWBP_API int hwbp_probe_explain(char *buf, size_t size)
{
	struct hwbp_probe p;
	char par[24], why[768];

	if (!buf && size)
		return hwbp_fail(EINVAL, "hwbp_probe_explain: buf is NULL");
	hwbp_probe_cached(&p);
	snprintf(par, sizeof(par), "%d", p.paranoid);
	hwbp_branches_why(why, sizeof(why));
	return snprintf(buf, size,
		"arch              %s\n"
		"breakpoints       %s%s\n"
		"hits fire         %s%s\n"
		"spurious traps    %s\n"
		"debug registers   %d per thread\n"
		"max length        %d bytes\n"
		"sync signals      %s%s\n"
		"async signals     %s%s\n"
		"modify in place   %s%s\n"
		"read-only         %s%s\n"
		"execute           %s\n"
		"cpu-wide          %s%s%s)\n"
		"kernel accesses   %s%s%s)\n"
		"perf_event_paranoid %s\n"
		"CAP_PERFMON       %s\n"
		"CAP_SYS_ADMIN     %s\n"
		"branch records    %s%s\n"
		"bpf samples       %s (%s)\n",
		hwbp_arch.name, yes_no(p.breakpoints),
		p.breakpoints ? "" : " (perf_event_open(PERF_TYPE_BREAKPOINT) "
				     "failed: no CONFIG_HAVE_HW_BREAKPOINT, or "
				     "perf_event_paranoid 3)",
		p.breakpoints ? yes_no(p.fires) : "no",
		p.fires || !p.breakpoints ? "" : " (" HWBP_NOFIRE_WHY ")",
		SPURIOUS_TRAPS, p.slots, p.max_len,
		yes_no(p.sigtrap), p.sigtrap ? " (attr.sigtrap)" :
			" (attr.sigtrap needs kernel >= 5.13)",
		yes_no(p.async_signal), p.async_signal ? " (O_ASYNC + F_SETOWN_EX)" : "",
		yes_no(p.modify), p.modify ? " (PERF_EVENT_IOC_MODIFY_ATTRIBUTES)" :
			" (PERF_EVENT_IOC_MODIFY_ATTRIBUTES needs kernel >= 4.17: "
			"moves close and reopen)",
		yes_no(p.read_only), p.read_only ? "" :
			!hwbp_arch.has_read_only ?
			" (the hardware has no read-only watchpoint)" :
			" (the kernel refused one)",
		yes_no(p.exec),
		yes_no(p.cpu_wide), p.cpu_wide ? " (" :
			" (needs CAP_PERFMON or perf_event_paranoid <= 0; now ",
		p.cpu_wide ? "privileged" : par,
		yes_no(p.kernel), p.kernel ? " (" :
			" (needs CAP_PERFMON or perf_event_paranoid <= 1; now ",
		p.kernel ? "privileged" : par,
		par, yes_no(p.cap_perfmon), yes_no(p.cap_sys_admin),
		yes_no(p.branches), why, yes_no(p.bpf_samples),
		p.bpf_samples ? "a BPF program writes each hit's record: "
				"opts.bpf_samples" : hwbp_bpf_probe_why());
}
