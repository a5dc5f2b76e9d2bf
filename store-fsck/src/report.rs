//! The report: one line per finding and a summary line for people; one JSON document for
//! scripts (`--json`), whose field names are part of the command's contract.

use std::path::Path;

use layer_store::check::{Counters, Finding, Outcome, Plan, Report, Session};
use serde::Serialize;

/// Prints reports in the chosen form.
pub struct Printer {
    json: bool,
    root: String,
    driver: String,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: &'a str,
    object: &'a str,
    message: &'a str,
    repairable: bool,
    needs_force: bool,
}

impl<'a> From<&'a Finding> for JsonFinding<'a> {
    fn from(f: &'a Finding) -> Self {
        JsonFinding {
            code: f.code,
            object: &f.object,
            message: &f.message,
            repairable: f.repairable,
            needs_force: f.needs_force,
        }
    }
}

#[derive(Serialize)]
struct JsonCounters {
    layers: usize,
    read_write_layers: usize,
    driver_dirs: usize,
    pending: usize,
    mounts_seen: usize,
    deep_layers: usize,
    deep_bytes: u64,
    database_repaired: bool,
    findings: usize,
}

impl JsonCounters {
    fn new(c: &Counters, findings: usize) -> Self {
        JsonCounters {
            layers: c.layers,
            read_write_layers: c.mounts,
            driver_dirs: c.driver_dirs,
            pending: c.pending,
            mounts_seen: c.mounts_seen,
            deep_layers: c.deep_layers,
            deep_bytes: c.deep_bytes,
            database_repaired: c.database_repaired,
            findings,
        }
    }
}

#[derive(Serialize)]
struct JsonStep<'a> {
    phase: String,
    object: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonLeft<'a> {
    code: &'a str,
    object: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct JsonPass<'a> {
    plan: Vec<JsonStep<'a>>,
    left: Vec<JsonLeft<'a>>,
    outcomes: Vec<JsonStep<'a>>,
}

#[derive(Serialize)]
struct JsonRepair<'a> {
    passes: Vec<JsonPass<'a>>,
    corrected: usize,
    remaining: Vec<JsonFinding<'a>>,
    remaining_counters: JsonCounters,
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    root: &'a str,
    driver: &'a str,
    mode: &'a str,
    findings: Vec<JsonFinding<'a>>,
    counters: JsonCounters,
    notes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    repair: Option<JsonRepair<'a>>,
    exit_status: i32,
}

fn findings(r: &Report) -> Vec<JsonFinding<'_>> {
    r.findings.iter().map(JsonFinding::from).collect()
}

/// `n thing` or `n things` (`things` given when it is not `thing` + "s").
fn count(n: u64, thing: &str) -> String {
    match (n, thing) {
        (1, _) => format!("1 {thing}"),
        (_, "driver directory") => format!("{n} driver directories"),
        _ => format!("{n} {thing}s"),
    }
}

fn summary(c: &Counters, found: usize) -> String {
    let mut s = format!(
        "{}, {}, {} checked",
        count(c.layers as u64, "layer"),
        count(c.mounts as u64, "read-write layer"),
        count(c.driver_dirs as u64, "driver directory"),
    );
    if c.deep_layers > 0 {
        s.push_str(&format!(
            "; {} reassembled ({} bytes)",
            count(c.deep_layers as u64, "layer"),
            c.deep_bytes
        ));
    }
    s.push_str(&format!("; {}", count(found as u64, "finding")));
    s
}

impl Printer {
    /// A printer for the store at `root` with driver `driver`.
    pub fn new(json: bool, root: &Path, driver: &str) -> Self {
        Printer {
            json,
            root: root.display().to_string(),
            driver: driver.to_owned(),
        }
    }

    fn finding_lines(report: &Report) {
        for f in &report.findings {
            println!("{} {}: {}", f.code, f.object, f.message);
        }
        for n in &report.notes {
            println!("note: {n}");
        }
    }

    /// A check without repair.
    pub fn check(&self, report: &Report, status: i32) {
        if self.json {
            let doc = JsonDoc {
                root: &self.root,
                driver: &self.driver,
                mode: "check",
                findings: findings(report),
                counters: JsonCounters::new(&report.counters, report.findings.len()),
                notes: &report.notes,
                repair: None,
                exit_status: status,
            };
            print_json(&doc);
            return;
        }
        Self::finding_lines(report);
        println!(
            "store-fsck: {}: {}",
            self.root,
            summary(&report.counters, report.findings.len())
        );
    }

    /// A plan and the findings it answers, before it runs (text only: JSON carries the plans in
    /// the final document).
    pub fn plan(&self, report: &Report, plan: &Plan) {
        if self.json {
            return;
        }
        Self::finding_lines(report);
        println!("repair plan:");
        for a in &plan.actions {
            println!("  [{}] {}: {}", a.phase, a.object, a.description);
        }
        for (f, why) in &plan.left {
            println!("  [left] {} {}: {why}", f.code, f.object);
        }
    }

    /// A repair: what it found first, what it did, what is left.
    pub fn session(&self, s: &Session, status: i32) {
        if self.json {
            let passes = s
                .passes
                .iter()
                .map(|(plan, outcomes)| JsonPass {
                    plan: plan
                        .actions
                        .iter()
                        .map(|a| JsonStep {
                            phase: a.phase.to_string(),
                            object: &a.object,
                            description: &a.description,
                            ok: None,
                            error: None,
                        })
                        .collect(),
                    left: plan
                        .left
                        .iter()
                        .map(|(f, why)| JsonLeft {
                            code: f.code,
                            object: &f.object,
                            reason: why,
                        })
                        .collect(),
                    outcomes: outcomes.iter().map(step).collect(),
                })
                .collect();
            let doc = JsonDoc {
                root: &self.root,
                driver: &self.driver,
                mode: "repair",
                findings: findings(&s.first),
                counters: JsonCounters::new(&s.first.counters, s.first.findings.len()),
                notes: &s.first.notes,
                repair: Some(JsonRepair {
                    passes,
                    corrected: s.corrected(),
                    remaining: findings(&s.last),
                    remaining_counters: JsonCounters::new(&s.last.counters, s.last.findings.len()),
                }),
                exit_status: status,
            };
            print_json(&doc);
            return;
        }
        // Findings and plans were printed as each pass began.
        if s.passes.is_empty() {
            Self::finding_lines(&s.first);
        }
        for (_, outcomes) in &s.passes {
            for o in outcomes {
                match &o.result {
                    Ok(()) => println!(
                        "done: [{}] {}: {}",
                        o.action.phase, o.action.object, o.action.description
                    ),
                    Err(e) => println!(
                        "FAILED: [{}] {}: {}: {e}",
                        o.action.phase, o.action.object, o.action.description
                    ),
                }
            }
        }
        if !s.last.is_clean() {
            println!("left after repair:");
            for f in &s.last.findings {
                println!("  {} {}: {}", f.code, f.object, f.message);
            }
        }
        println!(
            "store-fsck: {}: {}; {} done, {} left",
            self.root,
            summary(&s.first.counters, s.first.findings.len()),
            count(s.corrected() as u64, "step"),
            count(s.last.findings.len() as u64, "finding"),
        );
    }
}

fn step(o: &Outcome) -> JsonStep<'_> {
    JsonStep {
        phase: o.action.phase.to_string(),
        object: &o.action.object,
        description: &o.action.description,
        ok: Some(o.result.is_ok()),
        error: o.result.as_ref().err().map(String::as_str),
    }
}

fn print_json(doc: &impl Serialize) {
    match serde_json::to_string_pretty(doc) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("store-fsck: writing the JSON report: {e}"),
    }
}
