//! The per-peer session state machine of RFC 4271 §8, sans-IO: [`Event`]s in, [`Action`]s out.
//! The driver (`crate::session`) owns the socket and the clocks and does what the actions say.
//!
//! ```text
//!            ManualStart                 TcpConnected / send OPEN
//!   Idle ───────────────► Connect ───────────────────────────────► OpenSent
//!    ▲   (passive: Active)   │  ▲ ConnectRetry expires                │ OPEN ok / send KEEPALIVE
//!    │                TcpFailed ▼ │                                   ▼
//!    │                     Active ─── TcpConnected / send OPEN ──► OpenConfirm
//!    │                                                                │ KEEPALIVE
//!    │ any error: NOTIFICATION, close, back off                       ▼
//!    └───────────────────────────────────────────────────────── Established
//! ```
//! After a failure the machine waits in Idle for an exponentially growing delay before it starts
//! again (RFC 4271 §8.1.1, DampPeerOscillations), so a broken peer is not hammered.

pub mod collision;
pub mod negotiate;
#[cfg(test)]
mod tests;

pub use collision::{Collision, Initiator, Resolution};
pub use negotiate::{negotiate, LocalSettings, Negotiated, RemoteAs};

use crate::wire::notification::{cease, code, header};
use crate::wire::{Message, Notification, RouteRefresh, Update};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Also serves as the idle-hold delay before an automatic restart.
    ConnectRetry,
    Hold,
    Keepalive,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    ManualStart,
    /// Administrative stop. `Some` sends that NOTIFICATION first; `None` closes the TCP
    /// connection without one (how a restarting speaker leaves its peers in GR).
    ManualStop(Option<Notification>),
    TimerExpired(Timer),
    /// A TCP connection to the peer is up (ours or accepted).
    TcpConnected,
    /// Connecting failed, or the connection closed.
    TcpFailed,
    Message(Message),
    /// The bytes did not decode: this NOTIFICATION is to be sent.
    DecodeError(Notification),
    /// Send this NOTIFICATION, close, and start again after the back-off (an operator reset),
    /// or after `hold_down`, refusing the peer's connections until then (a prefix limit).
    Reset {
        notification: Notification,
        hold_down: Option<Duration>,
    },
    /// This connection lost a collision (RFC 4271 §6.8, [`collision`]): send the Cease, close,
    /// and be ready for the connection that won. Not a failure: the back-off does not grow.
    CollisionLost(Notification),
}

/// Why an Established session ended; the GR helper decides from this whether routes are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    ConnectionLost,
    HoldTimerExpired,
    NotificationReceived(Notification),
    NotificationSent(Notification),
    /// Stopped without a NOTIFICATION (planned restart).
    SilentStop,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Connect,
    Send(Message),
    Close,
    StartTimer(Timer, Duration),
    StopTimer(Timer),
    Established(Box<Negotiated>),
    /// An Established session ended.
    Down(DownReason),
    /// A session that never reached Established ended with a NOTIFICATION, sent or
    /// received (an OPEN error either way): nothing to withdraw, only a reason to show.
    Refused(DownReason),
    Update(Box<Update>),
    RouteRefresh(RouteRefresh),
}

/// The hold timer while waiting for the peer's OPEN unless configured (RFC 4271 §8.2.2:
/// "large value", 4 minutes suggested).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);
const MAX_BACKOFF_DOUBLINGS: u32 = 5;

pub struct Fsm {
    settings: LocalSettings,
    passive: bool,
    connect_retry: Duration,
    /// The hold timer in OpenSent: how long a connection may go without an OPEN.
    open_hold_time: Duration,
    state: State,
    negotiated: Option<Negotiated>,
    /// Consecutive failed attempts; drives the back-off before the next automatic start.
    failures: u32,
    /// Sessions in a row that the peer ended with an UPDATE message error (code 3): it refuses
    /// what we send (a next hop it will not take, say), so reaching Established again is no
    /// success. The back-off grows with them as with failures (RFC 4271 §8.1.1's
    /// DampPeerOscillations), instead of re-sending every `connect_retry` for ever.
    refused: u32,
    stopped: bool,
    /// Held down after a reset with a hold-down: no connection until ConnectRetry fires.
    held: bool,
}

impl Fsm {
    pub fn new(settings: LocalSettings, passive: bool, connect_retry: Duration) -> Self {
        Fsm {
            settings,
            passive,
            connect_retry,
            open_hold_time: OPEN_HOLD_TIME,
            state: State::Idle,
            negotiated: None,
            failures: 0,
            refused: 0,
            stopped: true,
            held: false,
        }
    }

    /// A machine already Established with `negotiated`: a session another gracewire process
    /// handed over (`crate::takeover`). The driver arms the hold and keepalive timers with
    /// what was left of them.
    pub fn resume(
        settings: LocalSettings,
        passive: bool,
        connect_retry: Duration,
        negotiated: Negotiated,
    ) -> Self {
        let mut fsm = Fsm::new(settings, passive, connect_retry);
        fsm.state = State::Established;
        fsm.negotiated = Some(negotiated);
        fsm.stopped = false;
        fsm
    }

    pub fn with_open_hold_time(mut self, open_hold_time: Duration) -> Self {
        self.open_hold_time = open_hold_time;
        self
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    pub fn settings(&self) -> &LocalSettings {
        &self.settings
    }

    /// New settings take effect at the next OPEN; a running session is never reset for them.
    pub fn set_settings(&mut self, settings: LocalSettings) {
        self.settings = settings;
    }

    /// The wait before the next attempt after `failures` consecutive failures: the first retry
    /// comes after `connect_retry` (a restarting peer is often back by then), later ones back off.
    pub fn backoff(&self) -> Duration {
        let doublings = self
            .failures
            .max(self.refused)
            .saturating_sub(1)
            .min(MAX_BACKOFF_DOUBLINGS);
        self.connect_retry * 2u32.pow(doublings)
    }

    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        self.step(event, &mut out);
        out
    }

    fn step(&mut self, event: Event, out: &mut Vec<Action>) {
        use State::*;
        match (self.state, event) {
            (_, Event::ManualStop(notification)) => self.stop(notification, out),
            (Idle, Event::ManualStart) => {
                self.stopped = false;
                self.start(out);
            }
            (_, Event::ManualStart) => {}
            (Idle, Event::TimerExpired(Timer::ConnectRetry)) if !self.stopped => {
                self.held = false;
                self.start(out)
            }
            (Idle, Event::TcpConnected) if self.stopped || self.held => out.push(Action::Close),
            (Idle, Event::TcpConnected) => {
                // An incoming connection while backing off: take it.
                out.push(Action::StopTimer(Timer::ConnectRetry));
                self.send_open(out);
            }
            (Idle, _) => {}
            (Connect | Active, Event::TcpConnected) => {
                out.push(Action::StopTimer(Timer::ConnectRetry));
                self.send_open(out);
            }
            (Connect, Event::TcpFailed) => {
                self.failures += 1;
                out.push(Action::StartTimer(Timer::ConnectRetry, self.backoff()));
                self.state = Active;
            }
            (Connect | Active, Event::TimerExpired(Timer::ConnectRetry)) => self.start(out),
            (Connect | Active, _) => {}
            (OpenSent, Event::Message(Message::Open(open))) => {
                match negotiate(&self.settings, &open) {
                    Ok(n) => {
                        out.push(Action::Send(Message::Keepalive));
                        self.arm_session_timers(&n, out);
                        self.negotiated = Some(n);
                        self.state = OpenConfirm;
                    }
                    Err(notification) => self.fail(Some(notification), out),
                }
            }
            (OpenConfirm, Event::Message(Message::Keepalive)) => {
                // OpenConfirm is only entered with a negotiated session.
                let Some(n) = self.negotiated.clone() else {
                    return self.fail(Some(Notification::new(code::FSM, 2)), out);
                };
                self.failures = 0;
                self.restart_hold(out);
                self.state = Established;
                out.push(Action::Established(Box::new(n)));
            }
            (OpenConfirm | Established, Event::TimerExpired(Timer::Keepalive)) => {
                out.push(Action::Send(Message::Keepalive));
                if let Some(n) = &self.negotiated {
                    out.push(Action::StartTimer(Timer::Keepalive, n.keepalive));
                }
            }
            (Established, Event::Message(Message::Keepalive)) => self.restart_hold(out),
            (Established, Event::Message(Message::Update(update))) => {
                self.restart_hold(out);
                out.push(Action::Update(Box::new(update)));
            }
            (Established, Event::Message(Message::RouteRefresh(rr))) => {
                // RFC 2918 §4: without the capability negotiated, type 5 is a message type this
                // session does not have (as FRR answers it: Bad Message Type).
                if !self.negotiated.as_ref().is_some_and(|n| n.route_refresh) {
                    let n = Notification::with_data(
                        code::MESSAGE_HEADER,
                        header::BAD_MESSAGE_TYPE,
                        [crate::wire::iana::msg_type::ROUTE_REFRESH],
                    );
                    return self.fail(Some(n), out);
                }
                self.restart_hold(out);
                out.push(Action::RouteRefresh(rr));
            }
            (_, Event::Message(Message::Notification(n))) => {
                let reason = DownReason::NotificationReceived(n);
                self.close(reason, out);
            }
            (_, Event::TimerExpired(Timer::Hold)) => {
                let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0);
                self.send(&n, out);
                self.close(DownReason::HoldTimerExpired, out);
            }
            (_, Event::TcpFailed) => self.close(DownReason::ConnectionLost, out),
            (OpenSent | OpenConfirm, Event::CollisionLost(n)) => {
                self.send(&n, out);
                out.push(Action::Close);
                for t in [Timer::Hold, Timer::Keepalive, Timer::ConnectRetry] {
                    out.push(Action::StopTimer(t));
                }
                self.negotiated = None;
                self.state = State::Idle;
            }
            // An Established session never loses a collision (see `collision::resolve`).
            (_, Event::CollisionLost(_)) => {}
            (_, Event::DecodeError(n)) => self.fail(Some(n), out),
            (
                _,
                Event::Reset {
                    notification,
                    hold_down,
                },
            ) => {
                self.fail(Some(notification), out);
                if let (Some(d), false) = (hold_down, self.stopped) {
                    self.held = true;
                    out.push(Action::StartTimer(Timer::ConnectRetry, d));
                }
            }
            (state, Event::Message(_)) => {
                // RFC 6608: unexpected message type per state.
                let subcode = match state {
                    OpenSent => 1,
                    OpenConfirm => 2,
                    _ => 3,
                };
                self.fail(Some(Notification::new(code::FSM, subcode)), out);
            }
            (_, Event::TcpConnected) => {
                // A second connection is resolved by the driver (§6.8) before it gets here.
                out.push(Action::Close);
            }
            (_, Event::TimerExpired(Timer::ConnectRetry | Timer::Keepalive)) => {}
        }
    }

    fn start(&mut self, out: &mut Vec<Action>) {
        if self.passive {
            self.state = State::Active;
        } else {
            out.push(Action::Connect);
            out.push(Action::StartTimer(Timer::ConnectRetry, self.backoff()));
            self.state = State::Connect;
        }
    }

    fn send_open(&mut self, out: &mut Vec<Action>) {
        out.push(Action::Send(Message::Open(self.settings.open())));
        out.push(Action::StartTimer(Timer::Hold, self.open_hold_time));
        self.state = State::OpenSent;
    }

    fn arm_session_timers(&self, n: &Negotiated, out: &mut Vec<Action>) {
        if n.hold_time.is_zero() {
            out.push(Action::StopTimer(Timer::Hold));
            out.push(Action::StopTimer(Timer::Keepalive));
        } else {
            out.push(Action::StartTimer(Timer::Hold, n.hold_time));
            out.push(Action::StartTimer(Timer::Keepalive, n.keepalive));
        }
    }

    fn restart_hold(&self, out: &mut Vec<Action>) {
        if let Some(n) = self.negotiated.as_ref().filter(|n| !n.hold_time.is_zero()) {
            out.push(Action::StartTimer(Timer::Hold, n.hold_time));
        }
    }

    fn send(&self, n: &Notification, out: &mut Vec<Action>) {
        if matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        ) {
            out.push(Action::Send(Message::Notification(n.clone())));
        }
    }

    /// An error: NOTIFICATION (if any), close, and back off before the next start.
    fn fail(&mut self, notification: Option<Notification>, out: &mut Vec<Action>) {
        let reason = match notification {
            Some(n) => {
                self.send(&n, out);
                DownReason::NotificationSent(n)
            }
            None => DownReason::ConnectionLost,
        };
        self.close(reason, out);
    }

    fn close(&mut self, reason: DownReason, out: &mut Vec<Action>) {
        out.push(Action::Close);
        for t in [Timer::Hold, Timer::Keepalive, Timer::ConnectRetry] {
            out.push(Action::StopTimer(t));
        }
        if self.state == State::Established {
            let refused = matches!(&reason, DownReason::NotificationReceived(n) if n.code == code::UPDATE_MESSAGE);
            self.refused = if refused { self.refused + 1 } else { 0 };
            out.push(Action::Down(reason));
        } else if matches!(
            reason,
            DownReason::NotificationSent(_) | DownReason::NotificationReceived(_)
        ) {
            out.push(Action::Refused(reason));
        }
        self.negotiated = None;
        self.state = State::Idle;
        if !self.stopped {
            self.failures += 1;
            out.push(Action::StartTimer(Timer::ConnectRetry, self.backoff()));
        }
    }

    fn stop(&mut self, notification: Option<Notification>, out: &mut Vec<Action>) {
        self.stopped = true;
        let reason = match notification {
            Some(n) => {
                self.send(&n, out);
                DownReason::NotificationSent(n)
            }
            None => DownReason::SilentStop,
        };
        if self.state != State::Idle {
            self.close(reason, out);
        }
        self.failures = 0;
        self.refused = 0;
    }
}

/// The Cease sent when an operator stops a peer (RFC 4486 §4, RFC 9003 message).
pub fn admin_shutdown(message: &str) -> Notification {
    Notification::cease_with_message(cease::ADMIN_SHUTDOWN, message)
}
