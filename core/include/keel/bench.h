/* SPDX-License-Identifier: MIT */
/** \file
 * KEEL_BENCH: a benchmark whose body is async and runs on a runtime.
 *
 *     struct spawn_one { struct keel_co co; struct keel_join *j; intptr_t r; };
 *     KEEL_BENCH(smoke, struct spawn_one, .ops = 1, .op = "spawn+join",
 *                .what = "spawn one empty task and join it")
 *     {
 *         KEEL_BEGIN(f);
 *         if (keel_spawn(cx, empty, NULL, NULL, 0, &f->j) < 0)
 *             KEEL_RETURN(f, -ENOMEM);
 *         KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
 *         KEEL_END(f);
 *     }
 *
 * The body is one iteration of the workload: a future over the zeroed frame
 * `f` (of the given type) polled through `cx`, like a KEEL_TEST body. The
 * trailing arguments are designated initialisers of struct keel_bench:
 * `.ops` (operations per iteration, for the per-operation figures), `.op`
 * (what one operation is), `.what` (one line for --list) and `.baseline`
 * (the same workload outside keel, see below).
 *
 * Registration is constructor-free: each KEEL_BENCH puts a pointer to its
 * descriptor in the linker section `keel_benches` (as KEEL_SCHED_EXPORT
 * does for schedulers), and keel_benches_linked() walks it. Define the
 * benchmarks in the bench program's own objects, not in a static archive:
 * an archive member nobody references is not linked, and its benchmarks
 * would silently be missing.
 *
 * The runner, keel_bench_main (perf/harness.c, the `keel_bench` meson
 * dependency of perf/), runs every benchmark on the baseline and on a
 * fresh runtime per linked scheduler: it calibrates an iteration count,
 * warms up, takes samples, and prints the median ns/iter with min, max,
 * MAD and p10/p90, as a table or as JSON. It never asserts a time.
 */
#ifndef KEEL_BENCH_H
#define KEEL_BENCH_H

#include <keel/future.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A benchmark. KEEL_BENCH fills name, poll and size; the rest comes from
 * its trailing initialisers.
 */
struct keel_bench {
	const char *name;
	const char *what;    /* one line for --list; may be NULL */
	const char *op;	     /* what one operation is ("self-wake"); NULL: "op" */
	uint64_t ops;	     /* operations per iteration; 0 counts as 1 */
	keel_poll_fn *poll;  /* one iteration, polled on the runtime */
	size_t size;	     /* its frame, zeroed before every iteration */
	/**
	 * The same workload outside keel, or NULL when it has no meaning
	 * there (it needs a driver): run \p iters iterations and return the
	 * nanoseconds they took (the runner times nothing else). \return < 0
	 * on failure.
	 */
	int64_t (*baseline)(uint64_t iters);
	/* Where KEEL_BENCH stands: the runner lists benchmarks in source
	 * order (a compiler may emit one file's section entries in any). */
	const char *file;
	unsigned line;
};

/* The section entry: a pointer, so that the section is an array. */
#define KEEL__BENCH_ENTRY(bname)                                               \
	__attribute__((used, section("keel_benches"))) const struct            \
		keel_bench *const keel__bench_entry_##bname = &keel__bench_##bname

/**
 * Define benchmark \p bname (an identifier: what the command line names)
 * over frame type \p type; the body follows, seeing `f` and `cx`.
 */
#define KEEL_BENCH(bname, type, ...)                                           \
	static intptr_t keel__bbody_##bname(type *f, struct keel_cx *cx);      \
	static intptr_t keel__bpoll_##bname(void *frame, struct keel_cx *cx)   \
	{                                                                      \
		return keel__bbody_##bname((type *)frame, cx);                 \
	}                                                                      \
	static const struct keel_bench keel__bench_##bname = {                 \
		.name = #bname,                                                \
		.poll = keel__bpoll_##bname,                                   \
		.size = sizeof(type),                                          \
		.file = __FILE__,                                              \
		.line = __LINE__,                                              \
		__VA_ARGS__                                                    \
	};                                                                     \
	KEEL__BENCH_ENTRY(bname);                                              \
	static intptr_t keel__bbody_##bname(type *f, struct keel_cx *cx)

/* Defined by the linker when at least one KEEL_BENCH is linked. */
extern const struct keel_bench *const __start_keel_benches[]
	__attribute__((weak));
extern const struct keel_bench *const __stop_keel_benches[]
	__attribute__((weak));

/** The benchmarks linked into this program: files in link order, the
 *  entries of one file in whatever order the compiler emitted them. */
static inline size_t keel_benches_linked(const struct keel_bench *const **list)
{
	if (list)
		*list = __start_keel_benches;
	if (!__start_keel_benches)
		return 0;
	return (size_t)(__stop_keel_benches - __start_keel_benches);
}

/**
 * The runner: parse the options, run the chosen benchmarks on the baseline
 * and every linked scheduler, print the tables (or JSON) to stdout.
 * `--help` lists the options. \return the exit status: 0, 1 when a
 * benchmark failed, 2 for a bad option.
 */
int keel_bench_main(int argc, char **argv);

/** A bench program's main. */
#define KEEL_BENCH_MAIN()                                                      \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		return keel_bench_main(argc, argv);                            \
	}

#ifdef __cplusplus
}
#endif
#endif /* KEEL_BENCH_H */
