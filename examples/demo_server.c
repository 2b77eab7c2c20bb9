/* SPDX-License-Identifier: MIT */
/*
 * demo_server.c - the bug hwbp's demo finds: a tiny "server" whose limit on
 * clients, set once from the configuration, goes to 0 now and then, and
 * every connection is refused.  Who writes max_clients?
 *
 *   hwbp watch server.max_clients -- build/examples/demo_server
 *
 * (The culprit: the stats thread's reset_stats() clears the wrong field, a
 * copy-paste slip that compiles and looks fine in review.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

struct server {
	int clients;          /* connected now */
	int max_clients;      /* from the configuration */
	long accepted;
	long refused;
	int peak_clients;
};

struct server server;
static volatile int running = 1;

__attribute__((noinline)) static void load_config(void)
{
	server.max_clients = 4;
}

__attribute__((noinline)) static void handle_connection(void)
{
	if (__atomic_load_n(&server.clients, __ATOMIC_RELAXED) >=
	    __atomic_load_n(&server.max_clients, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&server.refused, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&server.clients, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&server.accepted, 1, __ATOMIC_RELAXED);
	usleep(200);
	__atomic_fetch_sub(&server.clients, 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200 && running; i++) {
		handle_connection();
		usleep(300);
	}
	return NULL;
}

__attribute__((noinline)) static void reset_stats(void)
{
	__atomic_store_n(&server.peak_clients, 0, __ATOMIC_RELAXED);
	/* BUG: meant server.refused = 0 */
	__atomic_store_n(&server.max_clients, 0, __ATOMIC_RELAXED);
}

static void *stats(void *arg)
{
	(void)arg;
	/* 50 ms apart: hits of two threads on two CPUs stamped within 20 ms
	 * of each other could be in either order (hwbp(1) OUTPUT), and hwbp
	 * would mark their old values approximate. */
	for (int i = 0; i < 2; i++) {
		usleep(50000);
		reset_stats();
	}
	return NULL;
}

int main(void)
{
	pthread_t workers[3], st;

	load_config();
	pthread_create(&st, NULL, stats, NULL);
	pthread_setname_np(st, "stats");
	for (int i = 0; i < 3; i++) {
		char name[16];

		pthread_create(&workers[i], NULL, worker, NULL);
		snprintf(name, sizeof(name), "worker-%d", i + 1);
		pthread_setname_np(workers[i], name);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(workers[i], NULL);
	running = 0;
	pthread_join(st, NULL);
	printf("demo_server: accepted %ld, refused %ld (max_clients is now "
	       "%d)\n", server.accepted, server.refused, server.max_clients);
	return 0;
}
