//! Named scenarios: a [`Plan`] is a [`SimConfig`], a duration and a list of faults.

use core::time::Duration;

use crate::world::{Fault, SimConfig, SimError, World};

/// A fault in a plan, with its times from the start of the run.
#[derive(Clone, Debug, PartialEq)]
pub enum PlannedFault {
    /// `count` random nodes crash at `at`.
    Crash {
        /// How many.
        count: u32,
        /// When.
        at: Duration,
    },
    /// Every crashed node restarts under its name at `at`.
    RestartCrashed {
        /// When.
        at: Duration,
    },
    /// `count` random nodes leave gracefully at `at`.
    Leave {
        /// How many.
        count: u32,
        /// When.
        at: Duration,
    },
    /// The first `fraction` of the nodes are cut off from the rest.
    Partition {
        /// Fraction on one side, in `(0, 1)`.
        fraction: f64,
        /// Start.
        from: Duration,
        /// Heal.
        until: Duration,
    },
    /// One random node is isolated (or, `one_way`, can receive but not send).
    Isolate {
        /// Asymmetric: only its sends are dropped.
        one_way: bool,
        /// Start.
        from: Duration,
        /// Heal.
        until: Duration,
    },
    /// `count` random nodes handle their input late.
    Stress {
        /// How many.
        count: u32,
        /// Start.
        from: Duration,
        /// End.
        until: Duration,
    },
    /// Datagram loss changes to `loss` at `at`.
    Loss {
        /// New probability.
        loss: f64,
        /// When.
        at: Duration,
    },
    /// A random live node sends a user event at `at`.
    Event {
        /// Its name (`event-K` when `None`).
        name: Option<String>,
        /// When.
        at: Duration,
    },
    /// A random live node asks a query (no filters) at `at`.
    Query {
        /// Its name (`query-K` when `None`).
        name: Option<String>,
        /// When.
        at: Duration,
    },
}

/// A complete run description.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The world's configuration.
    pub sim: SimConfig,
    /// Virtual time to simulate.
    pub duration: Duration,
    /// Faults to schedule.
    pub faults: Vec<PlannedFault>,
}

impl Plan {
    /// A plan with no faults.
    pub fn new(sim: SimConfig, duration: Duration) -> Self {
        Self {
            sim,
            duration,
            faults: Vec::new(),
        }
    }

    /// Builds the world with every fault scheduled.
    ///
    /// # Errors
    /// As [`World::new`].
    pub fn world(&self) -> Result<World, SimError> {
        let mut w = World::new(self.sim.clone())?;
        for f in &self.faults {
            match f.clone() {
                PlannedFault::Crash { count, at } => w.schedule(at, Fault::Crash { count }),
                PlannedFault::RestartCrashed { at } => w.schedule(at, Fault::RestartCrashed),
                PlannedFault::Leave { count, at } => w.schedule(at, Fault::Leave { count }),
                PlannedFault::Partition {
                    fraction,
                    from,
                    until,
                } => {
                    w.schedule_partition(fraction, from, until);
                }
                PlannedFault::Isolate {
                    one_way,
                    from,
                    until,
                } => {
                    w.schedule_isolate(one_way, from, until);
                }
                PlannedFault::Stress { count, from, until } => {
                    w.schedule_stress(count, from, until);
                }
                PlannedFault::Loss { loss, at } => w.schedule(at, Fault::SetLoss { loss }),
                PlannedFault::Event { name, at } => {
                    w.schedule(at, Fault::UserEvent { node: None, name });
                }
                PlannedFault::Query { name, at } => {
                    w.schedule(at, Fault::Query { node: None, name });
                }
            }
        }
        Ok(w)
    }
}

/// Scenario names and what they do.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "demo",
        "join storm, one crash at 30 s, a user event at 40 s, a query at 45 s; 70 s (the default)",
    ),
    ("join", "join storm only, 30 s"),
    ("crash", "join storm, 3 crashes at 30 s, 60 s"),
    ("loss", "10% datagram loss for 10 minutes, no faults"),
    (
        "partition",
        "50/50 partition from 30 s to 90 s, then heal; 150 s",
    ),
    ("isolate", "one node isolated from 30 s to 60 s; 90 s"),
    ("asymmetric", "one node cannot send from 30 s to 60 s; 90 s"),
    (
        "restart",
        "one crash at 30 s, restart under the same name at 60 s; 90 s",
    ),
    ("leave", "one graceful leave at 30 s; 60 s"),
    (
        "stress",
        "2 stressed nodes (input handled 1–3 s late) from 30 s to 150 s; 180 s",
    ),
];

/// The plan for scenario `name` on `sim`.
///
/// # Errors
/// A message listing the known scenarios when `name` is unknown.
pub fn scenario(name: &str, sim: SimConfig) -> Result<Plan, String> {
    let s = Duration::from_secs;
    let mut plan = Plan::new(sim, s(60));
    match name {
        "demo" => {
            plan.faults.push(PlannedFault::Crash {
                count: 1,
                at: s(30),
            });
            plan.faults.push(PlannedFault::Event {
                name: None,
                at: s(40),
            });
            plan.faults.push(PlannedFault::Query {
                name: None,
                at: s(45),
            });
            plan.duration = s(70);
        }
        "join" => plan.duration = s(30),
        "crash" => plan.faults.push(PlannedFault::Crash {
            count: 3,
            at: s(30),
        }),
        "loss" => {
            plan.sim.network.loss = 0.1;
            plan.duration = s(600);
        }
        "partition" => {
            plan.faults.push(PlannedFault::Partition {
                fraction: 0.5,
                from: s(30),
                until: s(90),
            });
            plan.duration = s(150);
        }
        "isolate" | "asymmetric" => {
            let one_way = name == "asymmetric";
            plan.faults.push(PlannedFault::Isolate {
                one_way,
                from: s(30),
                until: s(60),
            });
            plan.duration = s(90);
        }
        "restart" => {
            plan.faults.push(PlannedFault::Crash {
                count: 1,
                at: s(30),
            });
            plan.faults.push(PlannedFault::RestartCrashed { at: s(60) });
            plan.duration = s(90);
        }
        "leave" => plan.faults.push(PlannedFault::Leave {
            count: 1,
            at: s(30),
        }),
        "stress" => {
            plan.faults.push(PlannedFault::Stress {
                count: 2,
                from: s(30),
                until: s(150),
            });
            plan.duration = s(180);
        }
        _ => {
            let names: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown scenario `{name}`; expected one of {}",
                names.join(", ")
            ));
        }
    }
    Ok(plan)
}
