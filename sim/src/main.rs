//! `hearsay-sim`: run thousands of virtual Hearsay nodes in virtual time and report how
//! the cluster converges, detects crashes and copes with faults.
//!
//! `hearsay-sim` alone runs the demo: 1 000 nodes on the LAN profile, a join storm, one
//! crash at 30 s, a user event at 40 s and a query at 45 s, 70 virtual seconds; it prints a
//! timeline and a summary table.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant as WallInstant;

use clap::Parser;
use core::time::Duration;
use hearsay_sim::parse::{self, CountAt, CountDuring, FractionDuring, NamedAt};
use hearsay_sim::scenario::{self, PlannedFault, SCENARIOS};
use hearsay_sim::{Instant, Profile, Report, SimConfig, World, plot, report};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn scenario_help() -> String {
    let mut s = String::from("Scenarios:\n");
    for (name, what) in SCENARIOS {
        s.push_str(&format!("  {name:<11} {what}\n"));
    }
    s.push_str(
        "\nExamples:\n  hearsay-sim --nodes 10000 --duration 60s\n  \
         hearsay-sim --crash 1@30s --partition 0.5@60s..120s --duration 3m\n  \
         hearsay-sim --nodes 10000 --event @20s --query deploy@25s --duration 45s\n  \
         hearsay-sim --scenario stress --nodes 100 --swim --json -",
    );
    s
}

/// Deterministic simulator of a Hearsay cluster.
#[derive(Parser, Debug)]
#[command(name = "hearsay-sim", version, about, after_help = scenario_help())]
struct Cli {
    /// Number of virtual nodes.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    nodes: u32,
    /// Master seed: same seed and flags, same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Virtual time to simulate (default: the scenario's, 60s for the demo).
    #[arg(long, value_parser = parse::duration)]
    duration: Option<Duration>,
    /// Protocol profile: lan, wan or local.
    #[arg(long, default_value = "lan", value_parser = parse_profile)]
    profile: Profile,
    /// Datagram loss probability, 0 to 1.
    #[arg(long, value_parser = parse::fraction)]
    loss: Option<f64>,
    /// One-way latency, fixed (2ms) or a uniform range (1ms..5ms).
    #[arg(long, value_parser = parse::latency)]
    latency: Option<(Duration, Duration)>,
    /// Datagram duplication probability, 0 to 1.
    #[arg(long, value_parser = parse::fraction)]
    duplicate: Option<f64>,
    /// Drop datagrams larger than this many bytes.
    #[arg(long)]
    packet_budget: Option<usize>,
    /// Spread the node starts over this window (default: 1ms per node, at least 1s).
    #[arg(long, value_parser = parse::duration)]
    join_window: Option<Duration>,
    /// Crash K random nodes at time T (K@T, repeatable).
    #[arg(long, value_parser = parse::count_at)]
    crash: Vec<CountAt>,
    /// Restart every crashed node under its name at time T (repeatable).
    #[arg(long, value_parser = parse::duration)]
    restart: Vec<Duration>,
    /// K random nodes leave gracefully at time T (K@T, repeatable).
    #[arg(long, value_parser = parse::count_at)]
    leave: Vec<CountAt>,
    /// Split the first FRACTION of the nodes from the rest from T1 to T2 (F@T1..T2).
    #[arg(long, value_parser = parse::fraction_during)]
    partition: Vec<FractionDuring>,
    /// Isolate one random node from T1 to T2 (T1..T2, repeatable).
    #[arg(long, value_parser = parse::duration_range)]
    isolate: Vec<(Duration, Duration)>,
    /// One random node cannot send (but still receives) from T1 to T2 (repeatable).
    #[arg(long, value_parser = parse::duration_range)]
    one_way: Vec<(Duration, Duration)>,
    /// Stress K random nodes (input handled 1–3 s late) from T1 to T2 (K@T1..T2).
    #[arg(long, value_parser = parse::count_during)]
    stress: Vec<CountDuring>,
    /// A random live node sends a user event at T ([NAME]@T, e.g. @20s; repeatable).
    #[arg(long, value_name = "[NAME]@T", value_parser = parse::named_at)]
    event: Vec<NamedAt>,
    /// A random live node asks a query at T ([NAME]@T; repeatable); every node answers.
    #[arg(long, value_name = "[NAME]@T", value_parser = parse::named_at)]
    query: Vec<NamedAt>,
    /// How long each node takes to answer a query (default: at once).
    #[arg(long, value_parser = parse::duration)]
    response_delay: Option<Duration>,
    /// Plain SWIM: turn the Lifeguard extensions off.
    #[arg(long)]
    swim: bool,
    /// Seal every packet with one shared AES-256-GCM key (measures encryption's cost).
    #[arg(long)]
    encrypt: bool,
    /// Start from a named scenario (see below); other flags add to it.
    #[arg(long)]
    scenario: Option<String>,
    /// Write the JSON report to PATH (`-` for stdout, then nothing else goes to stdout).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write an SVG chart of how news spreads to PATH.
    #[arg(long, value_name = "PATH.svg")]
    plot: Option<PathBuf>,
    /// Run twice and compare digests; exit non-zero if they differ.
    #[arg(long)]
    check_determinism: bool,
    /// No progress bar (without a terminal, progress is a line every 10 virtual s).
    #[arg(long)]
    quiet: bool,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse()
}

fn plan(cli: &Cli) -> Result<scenario::Plan, String> {
    let mut sim = SimConfig::new(cli.nodes, cli.seed);
    sim.profile = cli.profile;
    sim.lifeguard = !cli.swim;
    sim.encrypt = cli.encrypt;
    let custom_faults = !(cli.crash.is_empty()
        && cli.restart.is_empty()
        && cli.leave.is_empty()
        && cli.partition.is_empty()
        && cli.isolate.is_empty()
        && cli.one_way.is_empty()
        && cli.stress.is_empty()
        && cli.event.is_empty()
        && cli.query.is_empty());
    let name = cli
        .scenario
        .as_deref()
        .unwrap_or(if custom_faults { "join" } else { "demo" });
    let mut plan = scenario::scenario(name, sim)?;
    if cli.scenario.is_none() && custom_faults {
        plan.duration = Duration::from_secs(60);
    }
    let net = &mut plan.sim.network;
    if let Some(loss) = cli.loss {
        net.loss = loss;
    }
    if let Some((lo, hi)) = cli.latency {
        (net.latency_min, net.latency_max) = (lo, hi);
    }
    if let Some(d) = cli.duplicate {
        net.duplicate = d;
    }
    if let Some(b) = cli.packet_budget {
        net.packet_budget = Some(b);
    }
    if let Some(d) = cli.response_delay {
        plan.sim.query_response_delay = d;
    }
    if let Some(w) = cli.join_window {
        plan.sim.join_window = w;
    }
    if let Some(d) = cli.duration {
        plan.duration = d;
    }
    let f = &mut plan.faults;
    f.extend(cli.crash.iter().map(|c| PlannedFault::Crash {
        count: c.count,
        at: c.at,
    }));
    f.extend(
        cli.restart
            .iter()
            .map(|&at| PlannedFault::RestartCrashed { at }),
    );
    f.extend(cli.leave.iter().map(|c| PlannedFault::Leave {
        count: c.count,
        at: c.at,
    }));
    f.extend(cli.partition.iter().map(|p| PlannedFault::Partition {
        fraction: p.fraction,
        from: p.from,
        until: p.until,
    }));
    f.extend(
        cli.isolate
            .iter()
            .map(|&(from, until)| PlannedFault::Isolate {
                one_way: false,
                from,
                until,
            }),
    );
    f.extend(
        cli.one_way
            .iter()
            .map(|&(from, until)| PlannedFault::Isolate {
                one_way: true,
                from,
                until,
            }),
    );
    f.extend(cli.stress.iter().map(|s| PlannedFault::Stress {
        count: s.count,
        from: s.from,
        until: s.until,
    }));
    f.extend(cli.event.iter().map(|e| PlannedFault::Event {
        name: e.name.clone(),
        at: e.at,
    }));
    f.extend(cli.query.iter().map(|q| PlannedFault::Query {
        name: q.name.clone(),
        at: q.at,
    }));
    if plan.duration.is_zero() {
        return Err("--duration must be greater than zero".into());
    }
    Ok(plan)
}

/// Node-seconds per wall second from 10 s after the join converged to the end (at least
/// 10 virtual seconds of it), when the run lasted that long.
fn steady_rate(world: &World, marks: &[(Instant, Duration)]) -> Option<(f64, f64)> {
    let from = world.join_converged()? + Duration::from_secs(10);
    let &(t0, w0) = marks.iter().find(|(t, _)| *t >= from)?;
    let &(t1, w1) = marks.last()?;
    let virtual_s = t1.saturating_duration_since(t0).as_secs_f64();
    let wall_s = w1.saturating_sub(w0).as_secs_f64();
    if virtual_s < 10.0 || wall_s <= 0.0 {
        return None;
    }
    Some((f64::from(world.len()) * virtual_s / wall_s, virtual_s))
}

type Outcome = (World, Report, Option<(f64, f64)>);

fn run(plan: &scenario::Plan, progress: bool) -> Result<Outcome, String> {
    let mut world = plan.world().map_err(|e| e.to_string())?;
    let wall = WallInstant::now();
    let end = Instant::ZERO + plan.duration;
    let total = plan.duration.as_secs().max(1);
    let tty = std::io::stderr().is_terminal();
    let bar = if progress && tty {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} virtual {pos}/{len}s [{bar:30}] {elapsed_precise} wall, {msg}",
        )
        .map_err(|e| e.to_string())?
        .progress_chars("=> ");
        bar.set_style(style);
        bar
    } else {
        ProgressBar::hidden()
    };
    let step = Duration::from_secs(1);
    let mut marks = Vec::new();
    while world.now() < end {
        world.run_until((world.now() + step).min(end));
        marks.push((world.now(), wall.elapsed()));
        let t = world.now().as_micros() / 1_000_000;
        if progress && !tty && t % 10 == 0 {
            eprintln!(
                "hearsay-sim: virtual {t}s, wall {:.1}s, {} live",
                wall.elapsed().as_secs_f64(),
                world.up_count()
            );
        }
        bar.set_position(t);
        bar.set_message(format!("{} live", world.up_count()));
    }
    bar.finish_and_clear();
    let report = Report::new(&world, wall.elapsed());
    let steady = steady_rate(&world, &marks);
    Ok((world, report, steady))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // One clear line: clap's first line names the flag and the reason.
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("hearsay-sim: {line}");
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match main_inner(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hearsay-sim: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn main_inner(cli: &Cli) -> Result<ExitCode, String> {
    let plan = plan(cli)?;
    let json_stdout = cli.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let progress = !cli.quiet;
    let (world, report, steady) = run(&plan, progress)?;
    let mut text = report::render(&world, &report);
    if let Some((rate, over)) = steady {
        text.push_str(&format!(
            "  {:<34} {rate:.0} node-seconds per wall second (last {over:.0} virtual s)\n",
            "steady state"
        ));
    }
    if json_stdout {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    let mut code = ExitCode::SUCCESS;
    if cli.check_determinism {
        let (_, again, _) = run(&plan, progress)?;
        let same = again.digest == report.digest;
        let line = format!(
            "determinism: first run {} second run {} ({})",
            report.digest,
            again.digest,
            if same { "identical" } else { "DIFFERENT" }
        );
        if json_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        if !same {
            code = ExitCode::FAILURE;
        }
    }
    if let Some(path) = &cli.plot {
        plot::write_svg(&world, path)?;
        if !json_stdout {
            println!("plot written to {}", path.display());
        }
    }
    if let Some(path) = &cli.json {
        let json = report.to_json();
        if json_stdout {
            println!("{json}");
        } else {
            std::fs::write(path, json + "\n")
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("JSON report written to {}", path.display());
        }
    }
    Ok(code)
}
