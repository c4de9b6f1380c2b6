//! What each subcommand of the `fewclick` command line does, beside the arguments it reads
//! (`main.rs`): `train`, `eval`, `inspect`, `compare`, `export-items` and `simulate` (`sinusoid`
//! and `bench-train` are in `bench.rs`, `train --stream` in `stream.rs`).

use super::progress::{peak_resident_bytes, progress_bar, Bar};
use super::{parse_algorithms, stream, CompareArgs, EvalArgs, Input, TrainArgs};
use fewclick::train::data;
use fewclick::train::eval::{evaluate, Method};
use fewclick::train::export;
use fewclick::train::items::ItemFeatures;
use fewclick::train::meta::Algorithm;
use fewclick::train::pipeline::TrainOptions;
use fewclick::train::report::Report;
use fewclick::train::select::{setup, setup_observed, train_selected, EpochScore, Selected, Validation};
use fewclick::Model;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(super) fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    p.with_file_name(format!("{stem}{suffix}"))
}

pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Prints one epoch's validation score beside the baselines' (on its own line, also under a
/// redrawn progress bar).
fn epoch_line<'a>(algorithm: &'a str, validation: Option<&'a Validation>) -> impl FnMut(&EpochScore) + 'a {
    let tty = std::io::stderr().is_terminal();
    let (display, interacted) = validation.map_or((f64::NAN, f64::NAN), |v| (v.display, v.interacted_first));
    move |e: &EpochScore| {
        eprintln!(
            "{}{algorithm} epoch {:.2} (iteration {}): validation MRR {:.4}, without adaptation {:.4}; display \
             {display:.4}, interacted-first {interacted:.4}",
            if tty { "\n" } else { "" },
            e.epoch,
            e.iteration,
            e.mrr,
            e.mrr_no_adapt
        );
    }
}

/// Reports what selection chose; the line for the notes of a report.
fn describe_selection(algorithm: &str, selected: &Selected) -> String {
    let Some(sel) = &selected.selection else {
        return format!("{algorithm}: no selection (trained on every training session, training settings)");
    };
    let epoch = sel.epochs.get(sel.chosen_epoch).map_or(0.0, |e| e.epoch);
    let mut line = format!(
        "{algorithm}: selected on {} validation sessions ({} lists): epoch {epoch:.2}, {}; validation MRR {:.4} \
         (display {:.4}, interacted-first {:.4})",
        sel.validation_sessions,
        sel.validation_lists,
        sel.chosen.describe(),
        sel.chosen_mrr,
        sel.display,
        sel.interacted_first
    );
    if !sel.beats_interacted_first() {
        line.push_str(" — it does NOT beat interacted-first on validation");
    }
    line
}

pub(super) fn cmd_train(a: TrainArgs) -> Result<(), String> {
    let opts = a.settings.options()?;
    if a.stream {
        return stream::cmd_train_stream(&a, &opts);
    }
    if a.require_lift && opts.selection.validation == 0.0 {
        return Err("--require-lift needs validation sessions to compare on (--validation > 0)".into());
    }
    eprintln!("seed {}", opts.seed);
    let (train_part, _) = a.input.parts()?;
    let t = Instant::now();
    let table = a.item_table.as_deref().map(ItemFeatures::load_json).transpose().map_err(|e| e.to_string())?;
    let mut bar = Bar::new("tasks".into());
    let setup = setup_observed(&train_part, &opts, table, &mut |done, total| bar.update(done, total, "sessions"))
        .map_err(|e| e.to_string())?;
    eprintln!(
        "{} training tasks, {} item features, prepared in {:.1} s",
        setup.prep.tasks.len(),
        setup.prep.features.dim(),
        t.elapsed().as_secs_f64()
    );
    if let Some(v) = &setup.validation {
        eprintln!(
            "validation: the latest {} % of training sessions held back, {} sessions, {} lists: display MRR {:.4}, \
             interacted-first {:.4}",
            opts.selection.validation * 100.0,
            v.data.n_sessions(),
            v.lists,
            v.display,
            v.interacted_first
        );
    }
    let name = opts.algorithm.name();
    let selected =
        train_selected(&setup, &opts, progress_bar(name.to_string()), epoch_line(name, setup.validation.as_ref()))
            .map_err(|e| e.to_string())?;
    let summary = describe_selection(name, &selected);
    eprintln!("{summary}");
    let trained = &selected.trained;
    let log_path = a.log.clone().unwrap_or_else(|| with_suffix(&a.out, ".train-log.json"));
    let log = serde_json::json!({
        "algorithm": name,
        "seed": opts.seed,
        "sessions": a.input.sessions.display().to_string(),
        "split": a.input.split,
        "tasks": setup.prep.tasks.len(),
        "iterations": trained.iterations,
        "seconds": trained.seconds,
        "options": format!("{opts:?}"),
        "selection": selected.selection.as_ref().map(|s| s.to_json()),
        "query_loss": trained.log.iter().map(|(i, l)| serde_json::json!([i, l])).collect::<Vec<_>>(),
    });
    write_file(&log_path, serde_json::to_string_pretty(&log).map_err(|e| e.to_string())?.as_bytes())?;
    if a.require_lift {
        if let Some(sel) = selected.selection.as_ref().filter(|s| !s.beats_interacted_first()) {
            return Err(format!(
                "--require-lift: the model does not beat interacted-first on the validation sessions (MRR {:.4} vs \
                 {:.4}); no model written (training log: {})",
                sel.chosen_mrr,
                sel.interacted_first,
                log_path.display()
            ));
        }
    }
    let bytes = trained.model.to_bytes().map_err(|e| format!("the trained model: {e}"))?;
    write_file(&a.out, &bytes)?;
    eprintln!(
        "wrote {} ({} bytes, {} parameters, {} items in its table; integrity {}) and {}; trained in {:.1} s",
        a.out.display(),
        bytes.len(),
        trained.model.arch.n_params(),
        trained.model.items.as_ref().map_or(0, |t| t.len()),
        export::integrity(&bytes),
        log_path.display(),
        trained.seconds
    );
    Ok(())
}

fn read_model(path: &Path) -> Result<Model, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Model::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn emit(report: &Report, dir: &Path, json: bool) -> Result<(), String> {
    report.write_all(dir).map_err(|e| e.to_string())?;
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.to_markdown());
    }
    eprintln!("report written to {}/report.{{md,json,svg}}", dir.display());
    Ok(())
}

pub(super) fn cmd_eval(a: EvalArgs) -> Result<(), String> {
    let model = read_model(&a.model)?;
    // The model is evaluated on its own item table: what a page looks its results up in.
    export::table_of(&model).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let bootstrap = a.bootstrap.get()?;
    let (_, eval_part) = a.input.parts()?;
    let name = model.algorithm.clone();
    let mut methods = vec![Method::display(), Method::interacted_first()];
    methods.extend(Method::model_with_and_without_adaptation(&name, &model));
    let t = Instant::now();
    let outcomes = evaluate(&eval_part, &methods).map_err(|e| e.to_string())?;
    let notes = vec![
        format!(
            "model {} ({}; k = {}, scope {}, prox {}, rank without events {})",
            a.model.display(),
            name,
            model.inner.steps,
            model.inner.scope.as_str(),
            model.inner.prox,
            if model.rank_without_events { "on" } else { "off" }
        ),
        format!("evaluated on {}", data::describe(&eval_part)),
        format!("evaluation took {:.1} s", t.elapsed().as_secs_f64()),
        format!("bootstrap: {} resamples of sessions, seed {}", bootstrap.resamples, bootstrap.seed),
    ];
    emit(&Report::new(&a.input.sessions.display().to_string(), outcomes, notes, bootstrap), &a.report_dir, a.json)
}

pub(super) fn cmd_inspect(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let m = Model::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let alpha_stats = |r: std::ops::Range<usize>| {
        let a = &m.alpha[r];
        let mean = a.iter().sum::<f32>() / a.len().max(1) as f32;
        let max = a.iter().cloned().fold(0.0, f32::max);
        format!("α mean {mean:.4}, max {max:.4}")
    };
    println!(
        "{}: fewclick model, format version {}",
        path.display(),
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]])
    );
    println!("  size            {} bytes (checksum ok)", bytes.len());
    println!("  algorithm       {}", m.algorithm);
    println!(
        "  architecture    item_dim {}, session features {}, hidden {}, {} parameters",
        m.arch.item_dim,
        m.arch.session_dim(),
        m.arch.hidden,
        m.arch.n_params()
    );
    println!(
        "  inner loop      k = {}, scope {}, loss {}, prox {}, clip {}",
        m.inner.steps,
        m.inner.scope.as_str(),
        m.inner.loss.as_str(),
        m.inner.prox,
        m.inner.clip
    );
    println!("  max move        {}", m.max_move.map_or("unbounded".to_string(), |v| v.to_string()));
    println!("  before events   {}", if m.rank_without_events { "ranked by the model" } else { "the host's order" });
    println!("  item features   {}", m.feature_names.join(", "));
    match &m.items {
        Some(t) => println!("  item table      {} items, one byte per value (cold items get the default)", t.len()),
        None => println!("  item table      none: the host passes every vector"),
    }
    println!("  integrity       {}", export::integrity(&bytes));
    for b in fewclick::params::Block::ALL {
        let r = m.arch.range(b);
        let norm = m.theta[r.clone()].iter().map(|v| v * v).sum::<f32>().sqrt();
        println!("  {:<24} {:>5} params, ‖θ0‖ {:>8.4}, {}", b.name(), r.len(), norm, alpha_stats(r));
    }
    let u = m.arch.range(fewclick::params::Block::U);
    println!("  session-feature weights (head, linear):");
    for (name, w) in fewclick::session::SESSION_FEATURE_NAMES.iter().zip(&m.theta[u]) {
        println!("    {name:<32} {w:+.4}");
    }
    Ok(())
}

pub(super) fn cmd_compare(a: CompareArgs) -> Result<(), String> {
    let base = a.settings.options()?;
    let bootstrap = a.bootstrap.get()?;
    eprintln!("seed {}", base.seed);
    let (train_part, mut eval_part) = a.input.parts()?;
    if let Some(test) = &a.test {
        eval_part = Input { format: a.input.format.clone(), sessions: test.clone(), split: None }.load()?;
    } else if a.input.split.is_none() {
        return Err("compare needs --split F (a time split of --sessions) or --test FILE".into());
    }
    let algorithms = parse_algorithms(&a.algorithms)?;
    let t = Instant::now();
    let setup = setup(&train_part, &base, None).map_err(|e| e.to_string())?;
    eprintln!("{} training tasks, prepared in {:.1} s", setup.prep.tasks.len(), t.elapsed().as_secs_f64());
    let mut methods = vec![Method::display(), Method::interacted_first()];
    let mut notes = vec![
        format!("seed {}", base.seed),
        format!("trained on {}", data::describe(&train_part)),
        format!("bootstrap: {} resamples of sessions, seed {}", bootstrap.resamples, bootstrap.seed),
    ];
    if let Some(v) = &setup.validation {
        notes.push(format!(
            "every algorithm as `train` trains it: the latest {} % of training sessions ({} sessions, {} lists) held \
             back to select the epoch and serve-time settings on",
            base.selection.validation * 100.0,
            v.data.n_sessions(),
            v.lists
        ));
    }
    for alg in algorithms.iter().copied().filter(|&x| x != Algorithm::Joint).chain([Algorithm::Joint]) {
        let opts = TrainOptions { algorithm: alg, ..base.clone() };
        let selected = train_selected(
            &setup,
            &opts,
            progress_bar(alg.name().to_string()),
            epoch_line(alg.name(), setup.validation.as_ref()),
        )
        .map_err(|e| e.to_string())?;
        let summary = describe_selection(alg.name(), &selected);
        eprintln!("{summary}");
        notes.push(summary);
        let trained = &selected.trained;
        notes.push(format!("{}: {} iterations in {:.1} s", alg.name(), trained.iterations, trained.seconds));
        methods.extend(Method::model_with_and_without_adaptation(alg.name(), &trained.model));
    }
    let t = Instant::now();
    let outcomes = evaluate(&eval_part, &methods).map_err(|e| e.to_string())?;
    notes.push(format!("evaluated on {} in {:.1} s", data::describe(&eval_part), t.elapsed().as_secs_f64()));
    let report = Report::new(&a.input.sessions.display().to_string(), outcomes, notes, bootstrap);
    emit(&report, &a.report_dir, a.json)
}

pub(super) fn cmd_export_items(path: &Path, jsonl: Option<PathBuf>, parquet: Option<PathBuf>) -> Result<(), String> {
    if jsonl.is_none() && parquet.is_none() {
        return Err("give --jsonl FILE, --parquet FILE or both".into());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let model = Model::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let integrity = export::integrity(&bytes);
    let n = export::table_of(&model).map_err(|e| format!("{}: {e}", path.display()))?.len();
    if let Some(out) = &jsonl {
        export::write_jsonl(&model, &integrity, out).map_err(|e| e.to_string())?;
        eprintln!("wrote {} ({n} items)", out.display());
    }
    if let Some(out) = &parquet {
        export::write_parquet(&model, &integrity, out).map_err(|e| e.to_string())?;
        eprintln!("wrote {} ({n} items)", out.display());
    }
    Ok(())
}

pub(super) fn cmd_simulate(seed: u64, products: usize, sessions: usize, dir: &Path) -> Result<(), String> {
    use fewclick::demo as simulate;
    if products == 0 || sessions == 0 {
        return Err("--products and --sessions must be at least 1".into());
    }
    eprintln!("seed {seed}");
    let started = Instant::now();
    let cat = simulate::generate_catalogue(seed, products);
    // Session by session from the generator to the file: memory does not grow with --sessions.
    let mut bar = Bar::new("simulate".into());
    let rate = |n: usize| n as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let generated = simulate::Simulator::new(&cat, sessions, seed).map(|(session, _)| session);
    let written = simulate::write_demo_files(&cat, generated, dir, |n| {
        if n % 1000 == 0 || n == sessions {
            bar.update(n, sessions, &format!("sessions, {:.0}/s", rate(n)));
        }
    })
    .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {}/{{catalogue.json,sessions.jsonl,item-table.json}}: {written} sessions in {seconds:.1} s ({:.0} sessions/s), peak resident memory {}",
        dir.display(),
        rate(written),
        peak_resident_bytes().map_or("unknown (no /proc/self/status)".into(), |b| format!("{:.0} MB", b as f64 / 1e6))
    );
    Ok(())
}
