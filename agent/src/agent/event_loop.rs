//! The event loop: every event of the node goes to `stream` clients and the snapshot,
//! member events and coalescing user events through Serf's coalescing windows, and then
//! to the handler runner (which never blocks this loop).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use hearsay_tokio::Hearsay;
use hearsay_tokio::protocol::{
    Event, Instant as CoreInstant, Member, MemberCoalescer, QueryId, UserEventCoalescer,
};

use crate::agent::Agent;
use crate::config::Profile;
use crate::handlers::{EventKind, HandlerEvent, MemberLine, Responder, Runner};
use crate::snapshot::{Record, Snapshot};
use crate::tags;

/// How often the snapshot is flushed and the clocks recorded.
const SNAPSHOT_FLUSH: Duration = Duration::from_secs(1);

/// Answers queries with the node, from the handler runner.
pub struct NodeResponder(pub Hearsay);

impl Responder for NodeResponder {
    fn respond(&self, id: u64, payload: Vec<u8>) {
        let node = self.0.clone();
        tokio::spawn(async move {
            if let Err(e) = node.respond(QueryId::from_u64(id), &payload).await {
                tracing::warn!("query response not sent: {e}");
            }
        });
    }
}

/// Records the clocks and flushes the snapshot every second.
pub async fn snapshot_ticker(agent: Arc<Agent>) {
    let mut tick = tokio::time::interval(SNAPSHOT_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        agent.record_clocks().await;
        agent.with_snapshot(Snapshot::flush);
    }
}

/// Serf's coalescing windows: a burst of member events becomes one handler run.
fn coalesce_windows(profile: Profile) -> (Duration, Duration) {
    match profile {
        Profile::Local => (Duration::from_secs(1), Duration::from_millis(200)),
        Profile::Lan | Profile::Wan => (Duration::from_secs(3), Duration::from_secs(1)),
    }
}

fn member_line(m: &Member) -> MemberLine {
    MemberLine {
        name: m.name.to_string(),
        addr: m.addr.ip().to_string(),
        tags: tags::from_core(&m.tags),
    }
}

/// Runs until the node stops. User events at or below `floor` (the snapshot's last
/// handled event) are not handed to the handlers again.
pub async fn run(
    agent: Arc<Agent>,
    mut sub: hearsay_tokio::Subscription,
    runner: Runner,
    floor: u64,
) {
    let origin = std::time::Instant::now();
    let core_now = || {
        CoreInstant::from_micros(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    };
    let (period, quiet) = coalesce_windows(agent.settings.profile);
    let mut members = MemberCoalescer::new(period, quiet);
    let mut users = UserEventCoalescer::new(period, quiet);
    loop {
        let deadline = match (members.deadline(), users.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let sleep_for = deadline
            .map(|d| Duration::from_micros(d.as_micros().saturating_sub(core_now().as_micros())));
        let event = tokio::select! {
            e = sub.next() => match e {
                Some(e) => Some(e),
                None => break,
            },
            _ = tokio::time::sleep(sleep_for.unwrap_or(Duration::from_secs(3600))),
                if sleep_for.is_some() => None,
        };
        let now = core_now();
        if let Some(event) = event {
            observe(&agent, &event);
            match members.push(now, event) {
                Some(Event::User {
                    ltime,
                    name,
                    payload,
                    coalesce,
                }) => {
                    if ltime.0 <= floor && floor > 0 {
                        tracing::debug!(%name, ltime = ltime.0, "user event already handled before the restart; skipped");
                    } else if coalesce {
                        let _ = users.push(
                            now,
                            Event::User {
                                ltime,
                                name,
                                payload,
                                coalesce,
                            },
                        );
                    } else {
                        dispatch_user(&agent, &runner, ltime.0, name, payload);
                    }
                }
                Some(Event::Query {
                    id,
                    ltime,
                    name,
                    payload,
                    ..
                }) => {
                    runner.dispatch(HandlerEvent {
                        kind: EventKind::Query {
                            name,
                            ltime: ltime.0,
                            payload,
                            id: id.as_u64(),
                        },
                    });
                }
                _ => {}
            }
        }
        let batch = members.flush(now);
        if !batch.is_empty() {
            let mut by_kind: BTreeMap<&'static str, Vec<MemberLine>> = BTreeMap::new();
            for e in &batch {
                if let Some(m) = e.member() {
                    by_kind.entry(e.name()).or_default().push(member_line(m));
                }
            }
            for (name, members) in by_kind {
                runner.dispatch(HandlerEvent {
                    kind: EventKind::Member { name, members },
                });
            }
        }
        for e in users.flush(now) {
            if let Event::User {
                ltime,
                name,
                payload,
                ..
            } = e
            {
                dispatch_user(&agent, &runner, ltime.0, name, payload);
            }
        }
    }
}

/// What every event does before coalescing: `stream` clients see it, the snapshot
/// records who is alive, a lost name conflict is logged.
fn observe(agent: &Agent, event: &Event) {
    if agent.events.receiver_count() > 0 {
        let _ = agent.events.send(Arc::new(event.clone()));
    }
    let self_name = agent.settings.node_name.as_str();
    match event {
        Event::MemberJoin(m) | Event::MemberUpdate(m) if m.name.as_str() != self_name => {
            agent.snapshot_append(Record::Alive {
                name: m.name.to_string(),
                addr: m.addr.to_string(),
            });
        }
        Event::MemberLeave(m) | Event::MemberFailed(m) | Event::MemberReap(m)
            if m.name.as_str() != self_name =>
        {
            agent.snapshot_append(Record::NotAlive(m.name.to_string()));
        }
        Event::NameConflict { name, winner, .. } => {
            tracing::error!(%name, ?winner, "another node holds this node's name and won the vote; this node stopped taking part");
        }
        _ => {}
    }
}

fn dispatch_user(agent: &Agent, runner: &Runner, ltime: u64, name: String, payload: Vec<u8>) {
    agent.snapshot_append(Record::LastEvent(ltime));
    runner.dispatch(HandlerEvent {
        kind: EventKind::User {
            name,
            ltime,
            payload,
        },
    });
}
