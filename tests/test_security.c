/* SPDX-License-Identifier: MIT */
/*
 * test_security.c - libhwbp follows the kernel's rules and says which one
 * refused: as an unprivileged user (the test drops from root to nobody
 * before its first library call, since the probe is cached per process)
 * kernel addresses and CPU-wide scopes need CAP_PERFMON or a low
 * perf_event_paranoid, and watching a root process needs ptrace access.
 * The library reads nothing from the environment.
 */
#include <dlfcn.h>
#include <grp.h>
#include <link.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "testutil.h"

#define NOBODY 65534
#define KADDR 0xffffffff81000000ull

static uint64_t word;

/* Drop to nobody (no groups, no capabilities: setresuid from root clears
 * them) and return the probe as nobody sees it. */
static struct hwbp_probe become_nobody(void)
{
	struct hwbp_probe p;

	if (geteuid() == 0) {
		cr_assert_eq(setgroups(0, NULL), 0, "%s", strerror(errno));
		cr_assert_eq(setresgid(NOBODY, NOBODY, NOBODY), 0);
		cr_assert_eq(setresuid(NOBODY, NOBODY, NOBODY), 0);
		prctl(PR_SET_DUMPABLE, 1); /* our own /proc files stay ours */
	}
	p = tu_probe();
	TU_REQUIRE(!p.cap_perfmon && !p.cap_sys_admin,
		   "the tests run with CAP_PERFMON or CAP_SYS_ADMIN and are "
		   "not root: nothing to drop");
	return p;
}

/* A refusal for privilege: EACCES or EPERM, and a message naming the
 * rule. */
static void assert_refused(int rc, const char *want)
{
	cr_assert(rc == -EACCES || rc == -EPERM, "got %d (%s), want EACCES: %s",
		  rc, strerror(-rc), hwbp_last_error());
	cr_assert(strstr(hwbp_last_error(), want), "message \"%s\" lacks "
		  "\"%s\"", hwbp_last_error(), want);
}

Test(security, own_variable_unprivileged_by_paranoid)
{
	struct hwbp_probe p = become_nobody();
	struct hwbp_sched *s;
	struct hwbp *bp;
	int rc;

	rc = hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, NULL);
	if (p.paranoid < 3) {
		cr_assert_eq(rc, 0, "own variable as nobody (paranoid %d): %s",
			     p.paranoid, hwbp_last_error());
		hwbp_close(bp);
		return;
	}
	assert_refused(rc, "perf_event_paranoid is");
	cr_assert(strstr(hwbp_last_error(), "CAP_PERFMON"));
	/* the scheduler says the same, not "0 registers" */
	assert_refused(hwbp_sched_create(&s, NULL), "perf_event_paranoid is");
}

Test(security, kernel_addresses_need_privilege)
{
	struct hwbp_probe p = become_nobody();
	HWBP_OPTS(hwbp_opts, kernel, .kernel = true);
	struct hwbp *bp;

	TU_REQUIRE(p.paranoid >= 2, "perf_event_paranoid <= 1 lets every "
		   "user watch kernel accesses");
	/* Without opts.kernel: refused by the library, saying what it needs. */
	TU_ASSERT_ERR(hwbp_create(&bp, KADDR, 8, HWBP_WRITE, NULL), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "CAP_PERFMON") &&
		  strstr(hwbp_last_error(), "perf_event_paranoid"), "%s",
		  hwbp_last_error());
	/* With it: the kernel refuses, the message says why. */
	assert_refused(hwbp_create(&bp, KADDR, 8, HWBP_WRITE, &kernel),
		       "perf_event_paranoid");
	cr_assert(strstr(hwbp_last_error(), "CAP_PERFMON"));
	/* A user address, kernel accesses counted too: the same rule. */
	assert_refused(hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE,
				   &kernel), "CAP_PERFMON");
	cr_assert_null(bp);
}

Test(security, cpu_wide_needs_privilege)
{
	struct hwbp_probe p = become_nobody();
	cpu_set_t cpu0;
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_CPUS, .cpus = &cpu0,
		  .cpus_size = sizeof(cpu0));
	struct hwbp *bp;

	TU_REQUIRE(p.paranoid > 0, "perf_event_paranoid <= 0 lets every user "
		   "watch CPUs");
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	assert_refused(hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, &o),
		       "CAP_PERFMON");
	cr_assert(strstr(hwbp_last_error(), "perf_event_paranoid"));
}

/* The test runner that started this test runs as root. */
Test(security, root_process_needs_ptrace_access)
{
	struct hwbp_probe p = become_nobody();
	pid_t root_pid = getppid();
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS, .pid = root_pid);
	HWBP_OPTS(hwbp_opts, t, .scope = HWBP_SCOPE_THREAD, .pid = root_pid);
	struct hwbp *bp;

	TU_REQUIRE(root_pid > 1 && getuid() == NOBODY,
		   "the tests do not run as root: no other user's process");
	assert_refused(hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, &o),
		       p.paranoid >= 3 ? "perf_event_paranoid" : "ptrace");
	assert_refused(hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, &t),
		       p.paranoid >= 3 ? "perf_event_paranoid" : "ptrace");
}

/* Nothing in the environment changes what libhwbp does in a program that
 * links it: the library imports neither getenv nor secure_getenv (its
 * dynamic string table, as loaded, names every function it imports). */
Test(security, library_reads_no_environment)
{
	Dl_info info;
	struct link_map *lm = NULL;
	const char *strtab = NULL;
	size_t strsz = 0;
	bool has_create = false;

	cr_assert(dladdr1((void *)hwbp_create, &info, (void **)&lm,
			  RTLD_DL_LINKMAP) && lm);
	for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_STRTAB)
			strtab = (const char *)d->d_un.d_ptr;
		else if (d->d_tag == DT_STRSZ)
			strsz = d->d_un.d_val;
	}
	cr_assert(strtab && strsz, "%s: no dynamic string table",
		  info.dli_fname);
	for (size_t at = 0; at < strsz; at += strlen(strtab + at) + 1) {
		const char *name = strtab + at;

		has_create |= !strcmp(name, "hwbp_create");
		cr_assert(strcmp(name, "getenv") && strcmp(name, "secure_getenv"),
			  "%s imports %s", info.dli_fname, name);
	}
	cr_assert(has_create, "%s: not libhwbp's string table", info.dli_fname);
}

static int ip_sampled; /* hits whose sampled IP register is their ip */

static void count_record(const struct hwbp_record *r, void *cookie)
{
	(void)cookie;
	if (r->kind == HWBP_REC_HIT && r->regs && r->regs[0] == r->ip)
		ip_sampled++;
}

/* BPF samples need CAP_BPF and CAP_PERFMON: refused, perf samples the same
 * hits, and the stats say why. */
Test(security, bpf_samples_refused_fall_back_to_perf)
{
	struct hwbp_probe p = become_nobody();
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_RING,
		  .on_record = count_record, .scope = HWBP_SCOPE_PROCESS,
		  .sample = HWBP_SAMPLE_REGS, .regs_mask = 1ull << 8, /* IP */
		  .bpf_samples = true);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *bp;
	int rc;

	TU_REQUIRE(p.breakpoints, "no breakpoints here");
	TU_REQUIRE(p.paranoid < 3, "perf_event_paranoid 3 refuses nobody any "
		   "event");
	cr_assert_not(p.bpf_samples, "the probe offers nobody BPF samples");
	rc = hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, &opts);
	cr_assert_eq(rc, 0, "as nobody (paranoid %d): %s", p.paranoid,
		     hwbp_last_error());
	cr_assert_eq(hwbp_get_stats(bp, &st), 0);
	cr_assert(st.bpf == -EPERM || st.bpf == -EACCES, "bpf %d", st.bpf);
	cr_assert(st.bpf_why && strstr(st.bpf_why, "CAP_BPF"), "why: %s",
		  st.bpf_why ? st.bpf_why : "(null)");
	cr_assert_str_empty(hwbp_last_error(), "a refusal is not an error of "
			    "the handle's");
	TU_REQUIRE_HITS();
	for (uint64_t i = 1; i <= 5; i++)
		*(volatile uint64_t *)&word = i;
	cr_assert_eq(hwbp_ring_consume(bp), 5, "%s", hwbp_last_error());
	cr_assert_eq(ip_sampled, 5, "perf sampled the IP register");
	hwbp_close(bp);
}
