//! The benchmark commands: `sinusoid` (the MAML paper's regression under the protocol of its
//! PyTorch re-implementations) and `bench-train` (meta-steps per second, beside the torch.func peer).

use super::{parse_algorithms, progress_bar};
use clap::Args;
use std::time::Instant;

#[derive(Args)]
pub(crate) struct BenchTrainArgs {
    /// Algorithms (comma-separated): maml, fomaml, reptile, meta-sgd, anil or joint.
    #[arg(long, default_value = "maml,fomaml,reptile,meta-sgd,anil")]
    algorithms: String,
    /// Timed meta-steps per algorithm (with --products: repetitions of each product). 300 keeps a
    /// two-thread run long enough to settle (100 last a fraction of a second).
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Untimed meta-steps before them.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Threads of the rayon pool the tasks of a meta-batch run on.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Instead of meta-steps: whether stacking a meta-batch's tasks into one matrix product would
    /// pay. Times each product at the shared θ0 as 32 per-task products and as one, on one thread,
    /// and prints the most that batching could gain a first-order meta-step.
    #[arg(long)]
    products: bool,
}

#[derive(Args)]
pub(crate) struct SinusoidArgs {
    /// First seed; seeds SEED, SEED+1, … are run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of seeds.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Meta-iterations (each on a meta-batch of freshly sampled tasks).
    #[arg(long, default_value_t = 20_000)]
    iterations: usize,
    /// Algorithms (comma-separated): maml, fomaml, reptile, meta-sgd, anil or joint.
    #[arg(long, default_value = "maml,fomaml")]
    algorithms: String,
    /// Held-out test tasks per seed.
    #[arg(long, default_value_t = 600)]
    test_tasks: usize,
    /// Query points per test task (their MSE is averaged; more points only lower the variance).
    #[arg(long, default_value_t = 100)]
    test_query: usize,
    /// One JSON row per (algorithm, seed) on stdout, as the torch.func peer prints them
    /// (bench/peers/torch/sinusoid.py); the tables go to stderr instead.
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_sinusoid(a: SinusoidArgs) -> Result<(), String> {
    use fewclick::train::sinusoid::{run, Outcome, Protocol};
    let algorithms = parse_algorithms(&a.algorithms)?;
    if a.seeds == 0 {
        return Err("--seeds must be at least 1".into());
    }
    let p = Protocol {
        iterations: a.iterations,
        test_tasks: a.test_tasks,
        test_query: a.test_query,
        ..Protocol::default()
    };
    p.validate().map_err(|e| e.to_string())?;
    let seeds: Vec<u64> = (0..a.seeds).map(|i| a.seed.wrapping_add(i)).collect();
    let list = seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
    if !a.json {
        println!("seeds {list}");
    }
    eprintln!("seeds {list}");
    let started = Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for &alg in &algorithms {
        for &seed in &seeds {
            let o =
                run(&p, alg, seed, progress_bar(format!("{} seed {seed}", alg.name()))).map_err(|e| e.to_string())?;
            let mse = o.mse.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(" / ");
            let median = o.median.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(" / ");
            eprintln!(
                "{} seed {seed}: MSE after {:?} steps {mse} (medians {median}; {:.0} s)",
                alg.name(),
                p.eval_steps,
                o.seconds
            );
            if a.json {
                let row = serde_json::json!({
                    "side": "fewclick",
                    "algorithm": alg.name(),
                    "seed": seed,
                    "iterations": p.iterations,
                    "eval_steps": p.eval_steps,
                    "mse": o.mse,
                    "median": o.median,
                    "seconds": (o.seconds * 10.0).round() / 10.0,
                });
                println!("{row}");
            }
            outcomes.push(o);
        }
    }
    let table = SinusoidTable { p: &p, seeds: &seeds, algorithms: &algorithms, outcomes: &outcomes };
    let report = format!("{table}wall time {:.1} s", started.elapsed().as_secs_f64());
    // With --json, stdout holds the rows alone.
    if a.json {
        eprintln!("{report}");
    } else {
        println!("{report}");
    }
    Ok(())
}

/// The sinusoid report's Markdown: per seed, then the mean over seeds.
struct SinusoidTable<'a> {
    p: &'a fewclick::train::sinusoid::Protocol,
    seeds: &'a [u64],
    algorithms: &'a [fewclick::train::meta::Algorithm],
    outcomes: &'a [fewclick::train::sinusoid::Outcome],
}

impl std::fmt::Display for SinusoidTable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (p, seeds, outcomes) = (self.p, self.seeds, self.outcomes);
        let steps = p.eval_steps.iter().map(|k| format!("MSE after {k}")).collect::<Vec<_>>();
        let rule = |cols: usize| format!("|{}", "---|".repeat(cols));
        writeln!(f)?;
        writeln!(
            f,
            "Sinusoid, {} iterations × {} tasks, {} shots, inner step {}, {} test tasks × {} query points",
            p.iterations, p.meta_batch, p.shots, p.inner_lr, p.test_tasks, p.test_query
        )?;
        writeln!(f)?;
        writeln!(f, "Per seed: mean MSE over the test tasks (median in brackets).")?;
        writeln!(f)?;
        writeln!(f, "| algorithm | seed | {} | seconds |", steps.join(" | "))?;
        writeln!(f, "{}", rule(steps.len() + 3))?;
        for o in outcomes {
            let mse =
                o.mse.iter().zip(&o.median).map(|(v, m)| format!("{v:.3} ({m:.3})")).collect::<Vec<_>>().join(" | ");
            writeln!(f, "| {} | {} | {mse} | {:.0} |", o.algorithm.name(), o.seed, o.seconds)?;
        }
        writeln!(f)?;
        writeln!(f, "Mean over seeds of the mean MSE:")?;
        writeln!(f)?;
        writeln!(f, "| algorithm (mean of {} seeds) | {} |", seeds.len(), steps.join(" | "))?;
        writeln!(f, "{}", rule(steps.len() + 1))?;
        for &alg in self.algorithms {
            let rows: Vec<_> = outcomes.iter().filter(|o| o.algorithm == alg).collect();
            let mean = (0..p.eval_steps.len())
                .map(|k| format!("{:.3}", rows.iter().map(|o| o.mse[k] as f64).sum::<f64>() / rows.len().max(1) as f64))
                .collect::<Vec<_>>()
                .join(" | ");
            writeln!(f, "| {} | {mean} |", alg.name())?;
        }
        writeln!(f)
    }
}

pub(crate) fn cmd_bench_train(a: BenchTrainArgs) -> Result<(), String> {
    use fewclick::train::bench::{self, time_meta_steps};
    let algorithms = parse_algorithms(&a.algorithms)?;
    if a.steps == 0 || a.threads == 0 {
        return Err("--steps and --threads must be at least 1".into());
    }
    if a.products {
        return bench_products(a.steps, a.seed);
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(a.threads).build().map_err(|e| e.to_string())?;
    eprintln!(
        "bench-train: seed {}, {} threads, {} warm-up + {} timed meta-steps of {} tasks × {} inner steps ({} parameters); \
         task generation is done first and not timed",
        a.seed,
        a.threads,
        a.warmup,
        a.steps,
        bench::META_BATCH,
        bench::INNER_STEPS,
        bench::PARAMS
    );
    let mut rows = Vec::new();
    for alg in algorithms {
        let t = pool.install(|| time_meta_steps(alg, a.warmup, a.steps, a.seed));
        let row = serde_json::json!({
            "side": "fewclick",
            "algorithm": alg.name(),
            "meta_steps_per_s": t.steps_per_s(),
            "steps": t.steps,
            "warmup": t.warmup,
            "threads": a.threads,
            "params": bench::PARAMS,
            "meta_batch": bench::META_BATCH,
            "inner_steps": bench::INNER_STEPS,
            "seed": a.seed,
            "query_loss": t.query_loss,
        });
        println!("{row}");
        eprintln!(
            "{}: {:.2} meta-steps/s ({:.1} s; tasks generated in {:.2} s)",
            alg.name(),
            t.steps_per_s(),
            t.seconds,
            t.generation_seconds
        );
        rows.push(t);
    }
    eprintln!();
    eprintln!("| algorithm | meta-steps/s | ms per meta-step | query loss (last step) |");
    eprintln!("|---|---|---|---|");
    for t in &rows {
        eprintln!(
            "| {} | {:.2} | {:.1} | {:.4} |",
            t.algorithm.name(),
            t.steps_per_s(),
            1e3 / t.steps_per_s(),
            t.query_loss
        );
    }
    Ok(())
}

/// `bench-train --products`: each stackable product per task and stacked, a JSON row each on
/// stdout, the table and the bound on stderr.
fn bench_products(reps: usize, seed: u64) -> Result<(), String> {
    use fewclick::train::bench::{products, META_BATCH, SUPPORT_ROWS};
    eprintln!(
        "bench-train --products: seed {seed}, 1 thread, best of 5 rounds of {reps} repetitions; \
         {META_BATCH} products of {SUPPORT_ROWS} rows against one of {} rows",
        META_BATCH * SUPPORT_ROWS
    );
    let timings = products::time_products(reps, seed);
    let share = products::stackable_share();
    eprintln!("| product | per task GFLOP/s | stacked GFLOP/s | stacked / per task |");
    eprintln!("|---|---|---|---|");
    let mut saved = 0.0;
    for t in &timings {
        let row = serde_json::json!({
            "side": "fewclick",
            "kind": "products",
            "pass": t.pass,
            "dim": t.dim,
            "h": t.h,
            "per_task_gflops": t.per_task_gflops,
            "batched_gflops": t.batched_gflops,
            "seed": seed,
        });
        println!("{row}");
        eprintln!(
            "| {} {} → {} | {:.1} | {:.1} | {:.2}× |",
            t.pass,
            t.dim,
            t.h,
            t.per_task_gflops,
            t.batched_gflops,
            t.speedup()
        );
        saved = f64::max(saved, 1.0 - 1.0 / t.speedup());
    }
    eprintln!(
        "stackable share of a first-order meta-step's matrix work: {:.1} %; batching them could save at most \
         {:.1} % of it (the share × the largest saving of one product)",
        share * 100.0,
        share * saved * 100.0
    );
    Ok(())
}
