// SPDX-License-Identifier: MIT
//! keel-tokio-bench: keel-bench's workloads (perf/workloads.c) on tokio's
//! current_thread runtime, measured the way keel-bench measures them
//! (perf/harness.c), so that perf/tokio-compare.sh can set one against the
//! other.
//!
//! One iteration does what the keel body of the same name does:
//!   smoke                  spawn one empty task and join it
//!   notify_self            300 tasks, each waking itself (wake_by_ref)
//!                          until its 300th poll; joined in spawn order
//!   spawn_many             spawn 25,000 empty tasks, join them all
//!   poll_reactor_fd        300 tasks x 300 trips through an eventfd: on
//!                          pending write(2) it; on ready read(2) it (which
//!                          empties it, so the readiness is cleared)
//!   poll_reactor_fd_ready  the same without the read: readiness cleared in
//!                          user space (AsyncFd's clear_ready)
//!   yield_many             200 tasks x 1,000 tokio::task::yield_now
//!   ping_pong              1,000 detached pings; each spawns a pong, sends
//!                          it a message through a oneshot and awaits the
//!                          answer through another; the last ping tells
//!                          the root through a oneshot
//! keel's poll_reactor (a user-space readiness source, keel_ready) has no
//! counterpart: tokio 1.x has no user-space source in its reactor.
//!
//! A cell: a fresh runtime (Builder::new_current_thread().enable_all()),
//! one probe iteration, warm-up batches for --warmup-ms that estimate the
//! time of an iteration, then --samples samples of as many iterations as
//! fill --sample-ms (or --iters), each one block_on of a root future that
//! reads the monotonic clock before the first iteration and after the last.
//! Median, min, max, MAD and p10/p90 of ns per iteration, printed in
//! keel-bench's tables or, with --json, in its JSON objects.

use std::future::Future;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const NOTIFY_TASKS: usize = 300;
const NOTIFY_DEPTH: u32 = 300;
const SPAWN_MANY: usize = 25_000;
const REACTOR_TASKS: usize = 300;
const REACTOR_TRIPS: u32 = 300;
const YIELD_TASKS: usize = 200;
const YIELD_COUNT: u32 = 1_000;
const PING_PAIRS: usize = 1_000;

const MAX_SAMPLES: u64 = 1000;
const TOKIO_VERSION: &str = "1.24.2"; // Cargo.toml pins it

type Res = Result<(), String>;
/// The join handles of one iteration, kept across iterations (keel-bench
/// keeps its in a static array).
type Joins = Vec<JoinHandle<Res>>;

fn join_err(e: tokio::task::JoinError) -> String {
    format!("join: {}", e)
}

/// Await the handles in spawn order; the first error is the iteration's.
async fn join_all(joins: &mut Joins) -> Res {
    let mut first = Ok(());
    for j in joins.drain(..) {
        let r = j.await.map_err(join_err).and_then(|r| r);
        if first.is_ok() {
            first = r;
        }
    }
    first
}

// ------------------------------------------------------------------ smoke

async fn smoke(_: &mut Joins) -> Res {
    tokio::spawn(async { Ok(()) }).await.map_err(join_err)?
}

// ------------------------------------------------------------ notify_self

struct Notify {
    depth: u32,
}

impl Future for Notify {
    type Output = Res;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Res> {
        self.depth += 1;
        if self.depth == NOTIFY_DEPTH {
            return Poll::Ready(Ok(()));
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

async fn notify_self(joins: &mut Joins) -> Res {
    for _ in 0..NOTIFY_TASKS {
        joins.push(tokio::spawn(Notify { depth: 0 }));
    }
    join_all(joins).await
}

// ------------------------------------------------------------- spawn_many

async fn spawn_many(joins: &mut Joins) -> Res {
    for _ in 0..SPAWN_MANY {
        joins.push(tokio::spawn(async { Ok(()) }));
    }
    join_all(joins).await
}

// ------------------------------------------------ poll_reactor_fd(_ready)

/// An eventfd of the task's own, closed when the task's future is dropped
/// (after AsyncFd took it out of the epoll set).
struct EventFd(RawFd);

impl EventFd {
    fn open() -> io::Result<EventFd> {
        // SAFETY: eventfd(2) takes no pointer.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EventFd(fd))
    }

    fn set(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64.
        let n = unsafe { libc::write(self.0, &one as *const u64 as *const libc::c_void, 8) };
        if n == 8 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Ok(true): read a count (the eventfd is empty now); Ok(false): EAGAIN.
    fn read(&self) -> io::Result<bool> {
        let mut v: u64 = 0;
        loop {
            // SAFETY: reads 8 bytes into a live u64.
            let n = unsafe { libc::read(self.0, &mut v as *mut u64 as *mut libc::c_void, 8) };
            if n == 8 {
                return Ok(true);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(false),
                _ => return Err(e),
            }
        }
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

fn io_err(e: io::Error) -> String {
    format!("eventfd: {}", e)
}

/// A poll_reactor_fd task: each opens its eventfd on its first poll (as
/// keel's open theirs), then loops: ready -> read and count a trip (done
/// at 300); pending -> write the eventfd and wait for the reactor.
/// `read` false is poll_reactor_fd_ready: no read, clear_ready instead.
struct Reactor {
    fd: Option<AsyncFd<EventFd>>,
    depth: u32,
    read: bool,
}

impl Future for Reactor {
    type Output = Res;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Res> {
        let Reactor { fd, depth, read } = &mut *self;

        if fd.is_none() {
            let r = EventFd::open().and_then(|e| AsyncFd::with_interest(e, Interest::READABLE));
            match r {
                Ok(a) => *fd = Some(a),
                Err(e) => return Poll::Ready(Err(io_err(e))),
            }
        }
        let afd = fd.as_ref().unwrap();
        loop {
            match afd.poll_read_ready(cx) {
                Poll::Pending => {
                    return match afd.get_ref().set() {
                        Ok(()) => Poll::Pending,
                        Err(e) => Poll::Ready(Err(io_err(e))),
                    };
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(io_err(e))),
                Poll::Ready(Ok(mut guard)) => {
                    if *read {
                        // keel_event_poll: a successful read empties the
                        // eventfd, so the readiness is cleared with it;
                        // EAGAIN clears it too and waits again.
                        match afd.get_ref().read() {
                            Ok(true) => guard.clear_ready(),
                            Ok(false) => {
                                guard.clear_ready();
                                continue;
                            }
                            Err(e) => return Poll::Ready(Err(io_err(e))),
                        }
                    } else {
                        guard.clear_ready();
                    }
                    *depth += 1;
                    if *depth == REACTOR_TRIPS {
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }
}

async fn reactor_fds(joins: &mut Joins, read: bool) -> Res {
    for _ in 0..REACTOR_TASKS {
        joins.push(tokio::spawn(Reactor { fd: None, depth: 0, read }));
    }
    join_all(joins).await
}

async fn poll_reactor_fd(joins: &mut Joins) -> Res {
    reactor_fds(joins, true).await
}

async fn poll_reactor_fd_ready(joins: &mut Joins) -> Res {
    reactor_fds(joins, false).await
}

// ------------------------------------------------------------- yield_many

async fn yield_many(joins: &mut Joins) -> Res {
    for _ in 0..YIELD_TASKS {
        joins.push(tokio::spawn(async {
            for _ in 0..YIELD_COUNT {
                tokio::task::yield_now().await;
            }
            Ok(())
        }));
    }
    join_all(joins).await
}

// -------------------------------------------------------------- ping_pong

struct PingRoot {
    left: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
}

fn ping_finished(root: &PingRoot) {
    if root.left.fetch_sub(1, Ordering::AcqRel) == 1 {
        if let Some(tx) = root.done.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }
}

async fn ping_pong(_: &mut Joins) -> Res {
    let (done_tx, done_rx) = oneshot::channel();
    let root = Arc::new(PingRoot {
        left: AtomicUsize::new(PING_PAIRS),
        done: Mutex::new(Some(done_tx)),
    });
    for _ in 0..PING_PAIRS {
        let root = root.clone();
        // Detached, as keel's: the handles are dropped.
        tokio::spawn(async move {
            let (to_pong, pong_rx) = oneshot::channel::<u64>();
            let (to_ping, ping_rx) = oneshot::channel::<u64>();
            tokio::spawn(async move {
                if let Ok(v) = pong_rx.await {
                    let _ = to_ping.send(v + 1);
                }
            });
            let _ = to_pong.send(1);
            let _ = ping_rx.await;
            ping_finished(&root);
        });
    }
    done_rx.await.map_err(|e| format!("ping_pong: {}", e))
}

// ------------------------------------------------------------- the runner

/// Runs `iters` iterations in one block_on; the ns they took. With `in_task`
/// the iterations run in a task that block_on awaits (keel's root is a task
/// too: keel_runtime_block_on spawns it), else in block_on's own future,
/// whose wakes (a join handle it awaits completing) unpark the driver.
type RunFn = fn(&Runtime, u64, bool) -> Result<u64, String>;

macro_rules! runner {
    ($body:ident) => {
        |rt: &Runtime, iters: u64, in_task: bool| -> Result<u64, String> {
            let root = async move {
                let mut joins: Joins = Vec::with_capacity(SPAWN_MANY);
                let t0 = Instant::now();
                for _ in 0..iters {
                    $body(&mut joins).await?;
                }
                Ok(t0.elapsed().as_nanos() as u64)
            };
            if in_task {
                rt.block_on(async { tokio::spawn(root).await.map_err(join_err)? })
            } else {
                rt.block_on(root)
            }
        }
    };
}

struct Bench {
    name: &'static str,
    op: &'static str,
    ops: u64,
    what: &'static str,
    run: RunFn,
}

fn benches() -> Vec<Bench> {
    vec![
        Bench { name: "smoke", op: "spawn+join", ops: 1,
                what: "spawn one empty task and join it", run: runner!(smoke) },
        Bench { name: "notify_self", op: "self-wake", ops: (NOTIFY_TASKS as u64) * (NOTIFY_DEPTH as u64),
                what: "300 tasks, each waking itself until its 300th poll", run: runner!(notify_self) },
        Bench { name: "spawn_many", op: "spawn+join", ops: SPAWN_MANY as u64,
                what: "spawn 25,000 empty tasks and join them all", run: runner!(spawn_many) },
        Bench { name: "poll_reactor_fd", op: "trip", ops: (REACTOR_TASKS as u64) * (REACTOR_TRIPS as u64),
                what: "300 tasks x 300 trips through an eventfd (AsyncFd; write, read)",
                run: runner!(poll_reactor_fd) },
        Bench { name: "poll_reactor_fd_ready", op: "trip", ops: (REACTOR_TASKS as u64) * (REACTOR_TRIPS as u64),
                what: "the same, no read: AsyncFd's clear_ready", run: runner!(poll_reactor_fd_ready) },
        Bench { name: "yield_many", op: "yield", ops: (YIELD_TASKS as u64) * (YIELD_COUNT as u64),
                what: "200 tasks x 1,000 yield_now", run: runner!(yield_many) },
        Bench { name: "ping_pong", op: "pair", ops: PING_PAIRS as u64,
                what: "1,000 task pairs, one message each way through oneshots", run: runner!(ping_pong) },
    ]
}

struct Opts {
    samples: u64,
    sample_ns: u64,
    warmup_ns: u64,
    iters: u64, // 0: calibrate
    json: bool,
    list: bool,
    block_on_root: bool,
    names: Vec<String>,
}

struct Stats {
    iters: u64,
    n: usize,
    median: f64,
    min: f64,
    max: f64,
    mad: f64,
    p10: f64,
    p90: f64,
}

/// Quantile `q` of sorted `v`, linear between order statistics (as
/// keel-bench's).
fn quantile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let i = pos as usize;
    let frac = pos - i as f64;
    if i + 1 >= v.len() {
        return v[v.len() - 1];
    }
    v[i] + (v[i + 1] - v[i]) * frac
}

fn summarise(mut v: Vec<f64>, iters: u64) -> Stats {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = quantile(&v, 0.5);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Stats {
        iters,
        n: v.len(),
        median,
        min: v[0],
        max: v[v.len() - 1],
        mad: quantile(&dev, 0.5),
        p10: quantile(&v, 0.1),
        p90: quantile(&v, 0.9),
    }
}

/// Probe, warm up, calibrate, sample: keel-bench's measure().
fn measure(b: &Bench, o: &Opts) -> Result<Stats, String> {
    let rt = Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {}", e))?;
    let run = |n| (b.run)(&rt, n, !o.block_on_root);
    let el = run(1)?;
    let mut spent = el;
    let mut est = if el > 0 { el as f64 } else { 1.0 };
    while spent < o.warmup_ns {
        let k = ((o.sample_ns as f64 / 4.0 / est) as u64).max(1);
        let el = run(k)?;
        spent += el;
        est = if el > 0 { el as f64 / k as f64 } else { 1.0 };
    }
    let iters = if o.iters > 0 {
        o.iters
    } else {
        ((o.sample_ns as f64 / est).round() as u64).max(1)
    };
    let mut per = Vec::with_capacity(o.samples as usize);
    for _ in 0..o.samples {
        let el = run(iters)?;
        per.push(el as f64 / iters as f64);
    }
    Ok(summarise(per, iters))
}

// ------------------------------------------------------------- output

/// `v` rounded, with thousands separators.
fn group(v: f64) -> String {
    let x = v.round() as i64;
    let digits = x.unsigned_abs().to_string();
    let mut out = String::new();
    if x < 0 {
        out.push('-');
    }
    let lead = if digits.len() % 3 != 0 { digits.len() % 3 } else { 3 };
    for (i, c) in digits.chars().enumerate() {
        if i != 0 && i >= lead && (i - lead) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn short_ns(v: f64) -> String {
    if v < 10.0 {
        format!("{:.2}", v)
    } else if v < 100.0 {
        format!("{:.1}", v)
    } else {
        group(v)
    }
}

const LABEL: &str = "tokio";

fn print_json(b: &Bench, r: &Result<Stats, String>) {
    print!(
        "{{\"bench\":\"{}\",\"runtime\":\"{}\",\"sched\":\"tokio_current_thread\",\"workers\":1,\
         \"tokio\":\"{}\",\"op\":\"{}\",\"ops_per_iter\":{},",
        b.name, LABEL, TOKIO_VERSION, b.op, b.ops
    );
    match r {
        Err(_) => println!("\"failed\":true}}"),
        Ok(s) => println!(
            "\"iters\":{},\"samples\":{},\"median_ns\":{:.1},\"min_ns\":{:.1},\"max_ns\":{:.1},\
             \"mad_ns\":{:.1},\"p10_ns\":{:.1},\"p90_ns\":{:.1},\"ns_per_op\":{:.3}}}",
            s.iters, s.n, s.median, s.min, s.max, s.mad, s.p10, s.p90,
            s.median / b.ops as f64
        ),
    }
}

fn print_tables(o: &Opts, res: &[(&Bench, Result<Stats, String>)]) {
    let w = res.iter().map(|(b, _)| b.name.len()).max().unwrap_or(4).max(4);
    println!(
        "keel-tokio-bench: tokio {} current_thread, {} samples per cell, ns per iteration \
         (median of the samples)",
        TOKIO_VERSION, o.samples
    );
    println!("\nspread: ns per iteration over the samples");
    println!(
        " {:<w$}  {:<9} {:>9} {:>13} {:>13} {:>13} {:>9} {:>13} {:>13}",
        "name", "runtime", "iters", "median", "min", "max", "MAD", "p10", "p90", w = w
    );
    for (b, r) in res {
        if let Ok(s) = r {
            println!(
                " {:<w$}  {:<9} {:>9} {:>13} {:>13} {:>13} {:>9} {:>13} {:>13}",
                b.name, LABEL, s.iters, group(s.median), group(s.min), group(s.max),
                short_ns(s.mad), group(s.p10), group(s.p90), w = w
            );
        }
    }
    println!("\nns per operation (median; an iteration is ops operations)");
    println!(" {:<w$}  {:<10} {:>6} {:>9}", "name", "op", "ops", LABEL, w = w);
    for (b, r) in res {
        let v = match r {
            Ok(s) => short_ns(s.median / b.ops as f64),
            Err(_) => "failed".to_string(),
        };
        println!(" {:<w$}  {:<10} {:>6} {:>9}", b.name, b.op, b.ops, v, w = w);
    }
}

// ------------------------------------------------------------- options

const USAGE: &str = "usage: keel-tokio-bench [options] [NAME...]

Runs keel-bench's workloads (all, or those NAMEd) on a fresh tokio
current_thread runtime each, and prints the median ns/iter with its spread.

  --samples=N       samples per cell (default 11, max 1000)
  --sample-ms=MS    target length of a sample (default 25)
  --warmup-ms=MS    warm-up per cell, also used to calibrate (default 100)
  --iters=N         iterations per sample, instead of calibrating
  --block-on-root   run the iterations in block_on's future itself, not
                    in a spawned task that block_on awaits (the default,
                    as keel's root is a task)
  --json            one JSON object per workload, one per line
  --list            list the workloads, and exit
  --help            this text
";

fn num(name: &str, v: &str, lo: u64, hi: u64) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n >= lo && n <= hi => Ok(n),
        _ => Err(format!("{} wants {}..{}, not '{}'", name, lo, hi, v)),
    }
}

fn parse(args: &[String]) -> Result<Option<Opts>, String> {
    let mut o = Opts {
        samples: 11,
        sample_ns: 25_000_000,
        warmup_ns: 100_000_000,
        iters: 0,
        json: false,
        list: false,
        block_on_root: false,
        names: Vec::new(),
    };
    for a in args {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k, v),
            None => (a.as_str(), ""),
        };
        match k {
            "--samples" => o.samples = num(k, v, 1, MAX_SAMPLES)?,
            "--sample-ms" => o.sample_ns = num(k, v, 1, 60_000)? * 1_000_000,
            "--warmup-ms" => o.warmup_ns = num(k, v, 0, 600_000)? * 1_000_000,
            "--iters" => o.iters = num(k, v, 1, u32::MAX as u64)?,
            "--json" => o.json = true,
            "--block-on-root" => o.block_on_root = true,
            "--list" => o.list = true,
            "--help" => {
                print!("{}", USAGE);
                return Ok(None);
            }
            _ if a.starts_with("--") => {
                return Err(format!("unknown option '{}' (try --help)", a))
            }
            _ => o.names.push(a.clone()),
        }
    }
    Ok(Some(o))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(Some(o)) => o,
        Ok(None) => return,
        Err(e) => {
            eprintln!("keel-tokio-bench: {}", e);
            std::process::exit(2);
        }
    };
    let all = benches();
    if o.list {
        println!("workloads:");
        for b in &all {
            println!("  {:<16} {:<10} x{:<6} {}", b.name, b.op, b.ops, b.what);
        }
        println!("runtimes:\n  {} (tokio {} current_thread)", LABEL, TOKIO_VERSION);
        return;
    }
    for n in &o.names {
        if !all.iter().any(|b| b.name == n) {
            eprintln!("keel-tokio-bench: no workload '{}' (try --list)", n);
            std::process::exit(2);
        }
    }
    let mut res = Vec::new();
    let mut failed = false;
    for b in all.iter().filter(|b| o.names.is_empty() || o.names.iter().any(|n| n == b.name)) {
        let r = measure(b, &o);
        if let Err(e) = &r {
            eprintln!("keel-tokio-bench: {} on {}: {}", b.name, LABEL, e);
            failed = true;
        }
        if o.json {
            print_json(b, &r);
        }
        res.push((b, r));
    }
    if !o.json {
        print_tables(&o, &res);
    }
    if failed {
        std::process::exit(1);
    }
}
