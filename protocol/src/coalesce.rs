//! Optional event coalescing for consumers, as Serf's agent does before running handler
//! scripts: a burst of member events becomes one batch holding each member's latest event,
//! and coalescable user events keep only the newest per name.
//!
//! A batch is released `coalesce_period` after its first event, or earlier once no event
//! came for `quiescent_period`. Both coalescers are plain values driven with `now` like the
//! node: call [`push`](MemberCoalescer::push) per event, arm a timer at
//! [`deadline`](MemberCoalescer::deadline), and [`flush`](MemberCoalescer::flush) when due.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::event::Event;
use crate::time::Instant;

/// Timing shared by both coalescers.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    period: Duration,
    quiescent: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Window {
    fn touch(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    fn deadline(&self) -> Option<Instant> {
        Some((self.first? + self.period).min(self.last? + self.quiescent))
    }

    fn due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    fn reset(&mut self) {
        self.first = None;
        self.last = None;
    }
}

/// Batches member events, keeping each member's latest.
#[derive(Clone, Debug)]
pub struct MemberCoalescer {
    window: Window,
    latest: BTreeMap<String, Event>,
}

impl MemberCoalescer {
    /// A coalescer releasing batches after `period`, or after `quiescent` without events.
    pub fn new(period: Duration, quiescent: Duration) -> Self {
        Self {
            window: Window {
                period,
                quiescent,
                ..Window::default()
            },
            latest: BTreeMap::new(),
        }
    }

    /// Takes a member event; anything else is handed back untouched.
    pub fn push(&mut self, now: Instant, event: Event) -> Option<Event> {
        let Some(m) = event.member() else {
            return Some(event);
        };
        let name = String::from(m.name.as_str());
        self.latest.insert(name, event);
        self.window.touch(now);
        None
    }

    /// When the pending batch is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.window.deadline()
    }

    /// The batch (in member-name order) when due, else nothing.
    pub fn flush(&mut self, now: Instant) -> Vec<Event> {
        if !self.window.due(now) {
            return Vec::new();
        }
        self.window.reset();
        core::mem::take(&mut self.latest).into_values().collect()
    }
}

/// Coalesces user events that allow it, keeping the newest per name; the others pass
/// straight through.
#[derive(Clone, Debug)]
pub struct UserEventCoalescer {
    window: Window,
    newest: BTreeMap<String, Event>,
}

impl UserEventCoalescer {
    /// As [`MemberCoalescer::new`].
    pub fn new(period: Duration, quiescent: Duration) -> Self {
        Self {
            window: Window {
                period,
                quiescent,
                ..Window::default()
            },
            newest: BTreeMap::new(),
        }
    }

    /// Takes a coalescable user event; anything else is handed back untouched.
    pub fn push(&mut self, now: Instant, event: Event) -> Option<Event> {
        let Event::User {
            ltime,
            name,
            coalesce: true,
            ..
        } = &event
        else {
            return Some(event);
        };
        let newer = match self.newest.get(name.as_str()) {
            Some(Event::User { ltime: old, .. }) => ltime > old,
            _ => true,
        };
        if newer {
            self.newest.insert(name.clone(), event);
        }
        self.window.touch(now);
        None
    }

    /// When the pending batch is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.window.deadline()
    }

    /// The newest event per name when due, else nothing.
    pub fn flush(&mut self, now: Instant) -> Vec<Event> {
        if !self.window.due(now) {
            return Vec::new();
        }
        self.window.reset();
        core::mem::take(&mut self.newest).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lamport::LamportTime;
    use crate::member::{Member, MemberState};
    use crate::types::{Incarnation, NodeName, Tags};

    fn member(name: &str) -> Member {
        Member {
            name: NodeName::new(name).unwrap_or_else(|_| unreachable!()),
            addr: core::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            tags: Tags::new(),
            incarnation: Incarnation(0),
            state: MemberState::Alive,
        }
    }

    fn user(name: &str, ltime: u64, coalesce: bool) -> Event {
        Event::User {
            ltime: LamportTime(ltime),
            name: name.into(),
            payload: Vec::new(),
            coalesce,
        }
    }

    #[test]
    fn member_events_keep_the_latest_per_member_and_flush_after_quiet() {
        let mut c = MemberCoalescer::new(Duration::from_secs(3), Duration::from_secs(1));
        let t = Instant::from_secs(10);
        assert!(c.push(t, Event::MemberJoin(member("a"))).is_none());
        assert!(c.push(t, Event::MemberFailed(member("a"))).is_none());
        assert!(c.push(t, Event::MemberJoin(member("b"))).is_none());
        assert!(
            c.push(t, user("x", 1, true)).is_some(),
            "not a member event"
        );
        assert_eq!(c.deadline(), Some(t + Duration::from_secs(1)));
        assert!(c.flush(t + Duration::from_millis(999)).is_empty());
        let batch = c.flush(t + Duration::from_secs(1));
        let names: Vec<&str> = batch.iter().map(Event::name).collect();
        assert_eq!(names, ["member-failed", "member-join"]);
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn a_steady_stream_is_still_flushed_after_the_coalesce_period() {
        let mut c = MemberCoalescer::new(Duration::from_secs(3), Duration::from_secs(1));
        for ms in (0..5000).step_by(500) {
            c.push(Instant::from_millis(ms), Event::MemberJoin(member("a")));
            if ms == 3000 {
                assert_eq!(c.flush(Instant::from_millis(ms)).len(), 1);
            }
        }
    }

    #[test]
    fn user_events_keep_the_newest_per_name_unless_not_coalescable() {
        let mut c = UserEventCoalescer::new(Duration::from_secs(3), Duration::from_secs(1));
        let t = Instant::from_secs(1);
        assert!(c.push(t, user("deploy", 5, true)).is_none());
        assert!(c.push(t, user("deploy", 3, true)).is_none());
        assert!(c.push(t, user("restart", 1, true)).is_none());
        assert!(c.push(t, user("once", 9, false)).is_some());
        let batch = c.flush(t + Duration::from_secs(1));
        assert_eq!(batch.len(), 2);
        assert!(matches!(
            &batch[0],
            Event::User {
                ltime: LamportTime(5),
                ..
            }
        ));
    }
}
