// SPDX-License-Identifier: MIT
/*
 * cxx.cc - a C++ target for test_names.c and the unit tests: the names a
 * C++ programmer watches (namespaces, a static member, a base class's
 * member, std::atomic, a reference, anonymous namespaces, a static local,
 * pointers, a thread_local), each written N times with known values.  It
 * prints where each is first ("LOCATION 0xADDR": the oracle), then
 *   cxx write N    writes them N times and exits at once;
 *   cxx wait N     says "ready", waits for a line on stdin, then writes;
 *   cxx threads    2 threads set their thread_local, each prints
 *                  "tls TID 0xADDR", then all wait for a line on stdin.
 * Built by g++ and clang++, -O0 and -O2, PIE and not (Makefile).
 */
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <unistd.h>

#define BARRIER() __asm__ volatile("" ::: "memory")

namespace app {
struct Limits {
	int soft, hard;
};
struct Cfg {
	long limit;
	Limits lim[2];
	int flags;
};
Cfg cfg;
std::atomic<long> total;
struct Base {
	int x;
	long y;
};
struct Derived : Base {
	int z;
};
Derived obj;
class Srv {
public:
	static int users;
	static int *add(int n);
};
int Srv::users;
long &ref = cfg.limit;
thread_local int tls_count;
namespace {
int hidden;
}

__attribute__((noinline)) int *Srv::add(int n)
{
	static int calls;

	calls = n;
	users = n;
	BARRIER();
	return &calls;
}
} // namespace app

namespace {
int anon_top;
}

struct Node {
	int v;
	Node *next;
};
Node n2 = { 0, nullptr }, n1 = { 0, &n2 };
Node *head = &n1;
int table[4];

static void oracle(int *calls)
{
	printf("app::cfg.limit %p\n", (void *)&app::cfg.limit);
	printf("app::cfg.lim[1].hard %p\n", (void *)&app::cfg.lim[1].hard);
	printf("app::total %p\n", (void *)&app::total);
	printf("app::obj.x %p\n", (void *)&app::obj.x);
	printf("app::obj.z %p\n", (void *)&app::obj.z);
	printf("app::Srv::users %p\n", (void *)&app::Srv::users);
	printf("app::ref %p\n", (void *)&app::ref);
	printf("app::(anonymous namespace)::hidden %p\n", (void *)&app::hidden);
	printf("app::hidden %p\n", (void *)&app::hidden);
	printf("app::(anon)::hidden %p\n", (void *)&app::hidden);
	printf("(anonymous)::anon_top %p\n", (void *)&anon_top);
	printf("app::Srv::add(int)::calls %p\n", (void *)calls);
	printf("cxx.cc::app::Srv::users %p\n", (void *)&app::Srv::users);
	printf("users %p\n", (void *)&app::Srv::users);
	printf("(anonymous namespace)::anon_top %p\n", (void *)&anon_top);
	printf("anon_top %p\n", (void *)&anon_top);
	printf("app::Srv::add::calls %p\n", (void *)calls);
	printf("add::calls %p\n", (void *)calls);
	printf("head->v %p\n", (void *)&head->v);
	printf("head->next->v %p\n", (void *)&head->next->v);
	printf("*head %p\n", (void *)head);
	printf("head[0].next->v %p\n", (void *)&head[0].next->v);
	printf("table[2] %p\n", (void *)&table[2]);
	printf("head %p\n", (void *)&head);
	printf("n1.next %p\n", (void *)&n1.next);
	printf("n2.next %p\n", (void *)&n2.next);
	printf("app::cfg %p\n", (void *)&app::cfg);
	fflush(stdout);
}

static void write_all(int n)
{
	for (int i = 1; i <= n; i++) {
		app::cfg.limit = i;
		BARRIER();
		app::cfg.lim[1].hard = 10 * i;
		BARRIER();
		/* a plain store (mov): its value is decoded exactly */
		app::total.store(i, std::memory_order_relaxed);
		app::obj.x = i;
		BARRIER();
		app::obj.z = 2 * i;
		BARRIER();
		app::Srv::add(i);
		app::hidden = i;
		BARRIER();
		anon_top = i;
		BARRIER();
		head->v = 100 + i;
		BARRIER();
		head->next->v = i;
		BARRIER();
		table[2] = i;
		BARRIER();
		app::tls_count = i;
		BARRIER();
	}
}

static void wait_line(void)
{
	char line[16];

	if (!fgets(line, sizeof(line), stdin))
		exit(101);
}

static pthread_barrier_t started;

static void *thread_main(void *arg)
{
	app::tls_count = (int)(long)arg;
	printf("tls %d %p\n", (int)gettid(), (void *)&app::tls_count);
	fflush(stdout);
	pthread_barrier_wait(&started);
	pause();
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int n = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t t[2];

	oracle(app::Srv::add(0));
	if (!strcmp(mode, "write")) {
		write_all(n);
	} else if (!strcmp(mode, "wait")) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		wait_line();
		write_all(n);
	} else if (!strcmp(mode, "threads")) {
		pthread_barrier_init(&started, NULL, 3);
		app::tls_count = 7;
		printf("tls %d %p\n", (int)gettid(), (void *)&app::tls_count);
		for (long k = 0; k < 2; k++)
			pthread_create(&t[k], NULL, thread_main, (void *)(k + 1));
		pthread_barrier_wait(&started);
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		wait_line();
		return 0; /* the threads end with the process */
	} else {
		fprintf(stderr, "cxx: unknown mode '%s'\n", mode);
		return 100;
	}
	return 0;
}
