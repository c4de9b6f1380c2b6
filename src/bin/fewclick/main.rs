//! The `fewclick` command line: train, evaluate, inspect and compare models on session logs, and the
//! sinusoid benchmark.
//!
//! ```text
//! cargo run --release --bin fewclick -- train   --format trivago --sessions FILE --split 0.8 --out model.fcm
//! cargo run --release --bin fewclick -- eval    --format trivago --sessions FILE --split 0.8 --model model.fcm
//! cargo run --release --bin fewclick -- inspect model.fcm
//! cargo run --release --bin fewclick -- compare --format trivago --sessions FILE --split 0.8
//! cargo run --release --bin fewclick -- sinusoid --seeds 3 --iterations 20000 --algorithms maml,fomaml
//! cargo run --release --bin fewclick -- bench-train --steps 30 --threads 2
//! ```

use clap::{Args, Parser, Subcommand};
use fewclick::train::data::{self, Dataset, Format};
use fewclick::train::meta::Algorithm;
use fewclick::train::pipeline::TrainOptions;
use fewclick::train::report::{Bootstrap, DEFAULT_BOOTSTRAP_SEED};
use fewclick::train::select::Selection;
use fewclick::{LossKind, Scope};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

mod bench;
mod commands;
mod progress;
mod stream;

use bench::{cmd_bench_train, cmd_sinusoid, BenchTrainArgs, SinusoidArgs};
use commands::{cmd_compare, cmd_eval, cmd_export_items, cmd_inspect, cmd_simulate, cmd_train};
use progress::{progress_bar, Bar};

#[derive(Parser)]
#[command(name = "fewclick", version, about = "Meta-train and evaluate on-device re-rankers on session logs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Meta-train a model on session logs and write the model file, item features and a training log.
    Train(TrainArgs),
    /// Evaluate a model and the baselines on session logs (MRR, nDCG@5, HitRate@1).
    Eval(EvalArgs),
    /// Show what a model file holds.
    Inspect {
        /// The model file (.fcm).
        model: PathBuf,
    },
    /// Train every algorithm and learned baseline on one part and evaluate them all on another.
    Compare(CompareArgs),
    /// Write a model's item table as JSONL and/or Parquet, for a search API that attaches the
    /// vectors to its results (`fewclick/server` reads the JSONL).
    ExportItems {
        /// The model file (.fcm).
        model: PathBuf,
        /// Where to write the JSONL export.
        #[arg(long)]
        jsonl: Option<PathBuf>,
        /// Where to write the Parquet export.
        #[arg(long)]
        parquet: Option<PathBuf>,
    },
    /// Generate the demo store's catalogue and simulated shopper sessions (catalogue.json,
    /// sessions.jsonl, item-table.json for `train --item-table`).
    Simulate {
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Products in the catalogue.
        #[arg(long, default_value_t = 192)]
        products: usize,
        /// Simulated shopper sessions.
        #[arg(long, default_value_t = 3000)]
        sessions: usize,
        #[arg(long, default_value = "out/demo")]
        out_dir: PathBuf,
    },
    /// The MAML paper's sinusoid regression under the protocol of its PyTorch re-implementations
    /// (1-40-40-1 ReLU, PyTorch init, 10 shots, one inner step of 0.01, meta-batch 25, Adam 1e-3,
    /// fresh tasks every iteration); prints the test MSE after 0 / 1 / 10 steps as Markdown.
    Sinusoid(SinusoidArgs),
    /// The training benchmark (issue 12): meta-steps per second of each algorithm on synthetic
    /// ranking tasks (48-64-32-1 scorer, 32 tasks × 5 inner SGD steps of 0.1, Adam 1e-3); one JSON
    /// row per algorithm on stdout, a table on stderr. `scripts/bench-train.sh` runs it beside the
    /// torch.func peer (bench/peers/torch/).
    BenchTrain(BenchTrainArgs),
}

#[derive(Args, Clone)]
struct Input {
    /// Session log format: trivago, jsonl, csv or parquet.
    #[arg(long, default_value = "jsonl")]
    format: String,
    /// Session log file.
    #[arg(long)]
    sessions: PathBuf,
    /// Time split: sessions starting in the first SPLIT fraction of start times are the training
    /// part, the rest the evaluation part. `train` uses the first part, `eval` the second.
    #[arg(long)]
    split: Option<f64>,
}

impl Input {
    fn load(&self) -> Result<Dataset, String> {
        let format = Format::parse(&self.format).map_err(|e| e.to_string())?;
        if let Some(s) = self.split {
            if !(s > 0.0 && s < 1.0) {
                return Err(format!("--split must be strictly between 0 and 1, got {s}"));
            }
        }
        let t = Instant::now();
        let unit = if format == Format::Parquet { "row groups" } else { "bytes" };
        let mut bar = Bar::new("load".into());
        let ds = data::load_observed(format, &self.sessions, &mut |done, total| {
            bar.update(done as usize, total as usize, unit)
        })
        .map_err(|e| e.to_string())?;
        eprintln!("loaded {}: {} ({:.1} s)", self.sessions.display(), data::describe(&ds), t.elapsed().as_secs_f64());
        Ok(ds)
    }
    /// (training part, evaluation part) of the file.
    fn parts(&self) -> Result<(Dataset, Dataset), String> {
        let ds = self.load()?;
        Ok(match self.split {
            Some(s) => ds.split_by_time(s),
            None => (ds.clone(), ds),
        })
    }
}

#[derive(Args, Clone)]
struct TrainSettings {
    /// Meta-learning algorithm: maml, fomaml, reptile, meta-sgd, anil or joint. FOMAML is the
    /// default: on trivago the second-order methods (exact Hessian-vector products) score within
    /// noise of it at twice the training time.
    #[arg(long, default_value = "fomaml")]
    algorithm: String,
    /// Random seed (a number, or "random" to draw one from the OS; it is printed either way).
    #[arg(long, default_value = "42")]
    seed: String,
    /// Hidden units of the scorer (a multiple of 4).
    #[arg(long, default_value_t = 32)]
    hidden: usize,
    /// Inner-loop steps, in training and when served. Given, it is fixed; otherwise training uses 5
    /// and the served number is selected on validation among 0, 1, 3, 5, 10.
    #[arg(long)]
    steps: Option<u32>,
    /// Adapt scope: head or all. Given, it is fixed; otherwise training uses head for anil and all
    /// for the others, and the served scope is selected on validation.
    #[arg(long)]
    scope: Option<String>,
    /// Inner-loop loss: pairwise or listwise.
    #[arg(long, default_value = "pairwise")]
    loss: String,
    /// Initial inner step size α.
    #[arg(long, default_value_t = 0.05)]
    alpha: f32,
    /// Proximal pull toward θ0 in the inner loop. Given, it is fixed; otherwise training uses 0.1
    /// and the served value is selected on validation among 0, 0.1, 1.
    #[arg(long)]
    prox: Option<f32>,
    /// Multiplier of the learned step sizes α when served. Given, it is fixed; otherwise selected
    /// on validation among 0.5, 1, 2.
    #[arg(long)]
    alpha_scale: Option<f32>,
    /// Meta learning rate (Adam).
    #[arg(long, default_value_t = 3e-3)]
    meta_lr: f32,
    /// Tasks per meta-batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Passes over the training tasks. Given, the model after exactly that many is kept; otherwise
    /// 10 are run and the epoch with the best validation MRR is kept.
    #[arg(long)]
    epochs: Option<f32>,
    /// Epochs of joint training (no inner loop) before meta-training starts from its parameters
    /// (0: from the random initialisation).
    #[arg(long, default_value_t = 10.0)]
    pretrain_epochs: f32,
    /// Fraction of the training sessions, the latest by start time, held back to select the epoch
    /// and the serve-time settings on (0: no selection; train on all, serve with the training
    /// settings).
    #[arg(long, default_value_t = 0.1)]
    validation: f64,
    /// Bound on how many places an item may move when served (default: unbounded).
    #[arg(long)]
    max_move: Option<u32>,
    /// Let the model rank lists seen before any event (`--rank-without-events` or
    /// `--rank-without-events true`; `false` keeps the host's order until the first event). Given,
    /// it is fixed (and lists before any event become training tasks when true); otherwise it is
    /// selected on validation.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    rank_without_events: Option<bool>,
}

impl TrainSettings {
    fn options(&self) -> Result<TrainOptions, String> {
        let seed = match self.seed.as_str() {
            "random" => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(|e| format!("cannot draw a seed: {e}"))?;
                u64::from_le_bytes(b) % 1_000_000_000
            }
            s => s.parse().map_err(|_| format!("--seed must be a number or \"random\", got {s:?}"))?,
        };
        let defaults = TrainOptions::default();
        let scope = self.scope.as_deref().map(Scope::parse).transpose().map_err(|e| e.to_string())?;
        let grid = Selection::default();
        let selection = Selection {
            validation: self.validation,
            steps: self.steps.map_or(grid.steps, |v| vec![v]),
            scopes: scope.map_or(grid.scopes, |v| vec![v]),
            alpha_scales: self.alpha_scale.map_or(grid.alpha_scales, |v| vec![v]),
            prox: self.prox.map_or(grid.prox, |v| vec![v]),
            rank_without_events: self.rank_without_events.map_or(grid.rank_without_events, |v| vec![v]),
            choose_epoch: self.epochs.is_none(),
        };
        let opts = TrainOptions {
            algorithm: Algorithm::parse(&self.algorithm).map_err(|e| e.to_string())?,
            hidden: self.hidden,
            steps: self.steps.unwrap_or(defaults.steps),
            scope,
            inner_loss: match self.loss.as_str() {
                "pairwise" => LossKind::Pairwise,
                "listwise" => LossKind::Listwise,
                other => return Err(format!("--loss must be pairwise or listwise, got {other:?}")),
            },
            alpha: self.alpha,
            prox: self.prox.unwrap_or(defaults.prox),
            meta_lr: self.meta_lr,
            batch: self.batch,
            epochs: self.epochs.unwrap_or(defaults.epochs),
            pretrain_epochs: self.pretrain_epochs,
            seed,
            max_move: self.max_move,
            rank_without_events: self.rank_without_events.unwrap_or(defaults.rank_without_events),
            selection,
            ..defaults
        };
        opts.validate().map_err(|e| e.to_string())?;
        Ok(opts)
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    settings: TrainSettings,
    /// Where to write the model file.
    #[arg(long, default_value = "model.fcm")]
    out: PathBuf,
    /// Use this item-feature table (the JSON format of `fewclick::train::items`, e.g. catalogue
    /// attributes) instead of learning item statistics from the sessions. Either way the model
    /// file carries the table.
    #[arg(long)]
    item_table: Option<PathBuf>,
    /// Where to write the training log (default: the model path with .train-log.json).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Fail (non-zero exit, no model written) when the selected model does not beat
    /// interacted-first on the validation sessions.
    #[arg(long)]
    require_lift: bool,
    /// Train on a JSONL log of any length in bounded memory: read it a window of sessions at a
    /// time on every pass (each session's rows together in the file). Needs --item-table; no
    /// validation selection (the training settings are served); epochs are whole passes.
    #[arg(long)]
    stream: bool,
    /// Sessions per window with --stream.
    #[arg(long, default_value_t = fewclick::train::stream::DEFAULT_WINDOW)]
    window: usize,
}

#[derive(Args, Clone, Copy)]
struct BootstrapArgs {
    /// Bootstrap resamples of sessions for the intervals of MRR differences.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Seed of the bootstrap (printed in the report).
    #[arg(long, default_value_t = DEFAULT_BOOTSTRAP_SEED)]
    bootstrap_seed: u64,
}

impl BootstrapArgs {
    fn get(self) -> Result<Bootstrap, String> {
        if self.bootstrap == 0 {
            return Err("--bootstrap must be at least 1".into());
        }
        eprintln!("bootstrap: {} resamples of sessions, seed {}", self.bootstrap, self.bootstrap_seed);
        Ok(Bootstrap { resamples: self.bootstrap, seed: self.bootstrap_seed })
    }
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    input: Input,
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// Print the report as JSON on stdout (progress and logs stay on stderr).
    #[arg(long)]
    json: bool,
    /// Directory for report.md, report.json and report.svg.
    #[arg(long, default_value = "out/eval")]
    report_dir: PathBuf,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
}

#[derive(Args)]
struct CompareArgs {
    #[command(flatten)]
    input: Input,
    /// Evaluate on this file instead of the second part of --sessions (same --format).
    #[arg(long)]
    test: Option<PathBuf>,
    #[command(flatten)]
    settings: TrainSettings,
    /// Algorithms to train (comma-separated).
    #[arg(long, default_value = "maml,fomaml,reptile,meta-sgd,anil")]
    algorithms: String,
    #[arg(long)]
    json: bool,
    #[arg(long, default_value = "out/compare")]
    report_dir: PathBuf,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
}

/// A comma-separated list of algorithm names.
fn parse_algorithms(list: &str) -> Result<Vec<Algorithm>, String> {
    list.split(',').map(|s| Algorithm::parse(s.trim())).collect::<Result<_, _>>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => cmd_train(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Inspect { model } => cmd_inspect(&model),
        Command::Compare(a) => cmd_compare(a),
        Command::ExportItems { model, jsonl, parquet } => cmd_export_items(&model, jsonl, parquet),
        Command::Simulate { seed, products, sessions, out_dir } => cmd_simulate(seed, products, sessions, &out_dir),
        Command::Sinusoid(a) => cmd_sinusoid(a),
        Command::BenchTrain(a) => cmd_bench_train(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
