//! One BFD session (RFC 5880 asynchronous mode), sans-IO: packets and timer expiries in,
//! packets to send, timers to arm and state changes out. The task around it owns the socket
//! and the clock; randomness for the transmit jitter comes from a seed it gives.
//!
//! ```text
//!            +--+ Down/AdminDown or timer
//!            |  v
//!   +------+  Down   +------+  Init/Up  +----+
//!   | Down |-------->| Init |---------->| Up |   (§6.2, the table of §6.8.6)
//!   +------+         +------+           +----+
//!      ^  `-----------Init------------>  |
//!      `--- Down (diag 3), AdminDown, detection time (diag 1)
//! ```

use super::packet::{Diag, Packet, State};
use std::time::Duration;

/// §6.8.3: while the session is not Up, at least one second between packets.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// What the operator configures (a profile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// bfd.DesiredMinTxInterval once Up.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: u8,
    /// §6.1 Passive role: send nothing until the remote has spoken.
    pub passive: bool,
}

/// Inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A packet that passed [`Packet::decode`] and was matched to this session.
    Received(Packet),
    /// The transmit timer fired.
    TransmitTimer,
    /// The detection timer fired: no packet for a Detection Time.
    DetectionTimer,
    /// §6.8.16: the operator (or a planned stop) takes the session administratively down.
    AdminDown,
    /// Leaves AdminDown: the session starts over from Down.
    AdminUp,
    /// New intervals; while Up they take effect through a Poll Sequence (§6.8.3).
    SetParams(Params),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Send(Packet),
    /// (Re)arm the transmit timer; `None` stops it.
    TransmitIn(Option<Duration>),
    /// (Re)arm the detection timer; `None` stops it.
    DetectIn(Option<Duration>),
    Changed(Change),
}

/// A state change, for the client (BGP) and the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub from: State,
    pub to: State,
    pub diag: Diag,
    /// The remote said AdminDown.
    pub remote_admin_down: bool,
    /// The remote said Down from a new session (new discriminator, ours unknown to it): it
    /// restarted its side (FRR does when BGP tells bfdd the session's source address), and its
    /// packets prove the path works. The client may wait for Up again before calling it a
    /// failure.
    pub remote_restarted: bool,
}

impl Change {
    /// Up lost for a reason that means the path or the remote is gone. RFC 5882 §3.2: the
    /// remote going AdminDown is not one (it is being shut down on purpose, and a client
    /// should not take its session down for it); neither is our own AdminDown.
    pub fn is_failure(&self) -> bool {
        self.from == State::Up && self.to == State::Down && !self.remote_admin_down
    }
}

/// What a process hands its successor so the session stays Up across a planned restart (no
/// RFC defines this; to the remote it is the same session, still Up, a little late).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Handover {
    pub local_discr: u32,
    pub remote_discr: u32,
    pub remote_min_rx_us: u64,
    pub remote_desired_min_tx_us: u64,
    pub remote_detect_mult: u8,
}

impl Handover {
    /// A handed-over session is checked before it is resumed (it comes from a file in
    /// `state_dir` or from another process): discriminators are never 0 (RFC 5880 §6.8.1), a
    /// detect multiplier is at least 1 (0 would make the detection time 0, §6.8.4), and the
    /// intervals fit the packet's 32-bit microsecond fields (§4.1).
    pub fn validate(&self) -> Result<(), String> {
        if self.local_discr == 0 || self.remote_discr == 0 {
            return Err("a discriminator of 0".into());
        }
        if self.remote_detect_mult == 0 {
            return Err("a detect multiplier of 0".into());
        }
        let max = u64::from(u32::MAX);
        if self.remote_min_rx_us > max || self.remote_desired_min_tx_us > max {
            return Err("an interval past 32 bits of microseconds".into());
        }
        Ok(())
    }
}

/// The multiplier we announce before a planned restart: the remote's detection time for us
/// becomes 255 intervals, long enough for the next process to take the session over.
pub const HANDOVER_DETECT_MULT: u8 = 255;

pub struct Session {
    params: Params,
    local_discr: u32,
    remote_discr: u32,
    state: State,
    remote_state: State,
    diag: Diag,
    remote_min_rx: Duration,
    remote_desired_min_tx: Duration,
    remote_detect_mult: u8,
    /// A Poll Sequence is outstanding: our packets carry P until a Final arrives.
    polling: bool,
    /// The transmit interval and our receive interval the remote already knows (what is in
    /// force until a Poll Sequence ends, §6.8.3).
    tx_in_force: Duration,
    rx_in_force: Duration,
    /// Set while handling a remote AdminDown, for the [`Change`] it causes.
    remote_admin_down: bool,
    remote_restarted: bool,
    /// The interval the transmit timer was last armed with (`None`: not armed).
    scheduled: Option<Duration>,
    rng: u64,
}

impl Session {
    /// `local_discr`: non-zero and unique on this system (§6.8.1); `seed`: for the jitter.
    pub fn new(params: Params, local_discr: u32, seed: u64) -> Session {
        assert_ne!(
            local_discr, 0,
            "RFC 5880 §6.8.1: the local discriminator is non-zero"
        );
        Session {
            params,
            local_discr,
            remote_discr: 0,
            state: State::Down,
            remote_state: State::Down,
            diag: Diag::None,
            // §6.8.1: initialised to 1 µs, so the first packets go at our own rate.
            remote_min_rx: Duration::from_micros(1),
            remote_desired_min_tx: Duration::ZERO,
            remote_detect_mult: 0,
            polling: false,
            tx_in_force: SLOW_TX.max(params.desired_min_tx),
            rx_in_force: params.required_min_rx,
            remote_admin_down: false,
            remote_restarted: false,
            scheduled: None,
            rng: seed | 1,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn diag(&self) -> Diag {
        self.diag
    }

    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }

    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }

    /// §6.8.4: the remote's multiplier times the slower of what we may receive and what it
    /// wants to send. `None` before the remote has been heard.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult > 0).then(|| {
            self.rx_in_force.max(self.remote_desired_min_tx) * self.remote_detect_mult as u32
        })
    }

    /// The interval between our packets before jitter (§6.8.7): the slower of ours and what the
    /// remote can receive.
    pub fn transmit_interval(&self) -> Duration {
        self.tx_in_force.max(self.remote_min_rx)
    }

    /// What we advertise as bfd.DesiredMinTxInterval: the slow rate while not Up.
    fn advertised_tx(&self) -> Duration {
        if self.state == State::Up {
            self.params.desired_min_tx
        } else {
            SLOW_TX.max(self.params.desired_min_tx)
        }
    }

    /// A session taken over from the previous process, Up from the start.
    pub fn resume(params: Params, h: &Handover, seed: u64) -> Session {
        let mut s = Session::new(params, h.local_discr, seed);
        s.state = State::Up;
        s.remote_discr = h.remote_discr;
        s.remote_state = State::Up;
        s.remote_min_rx = Duration::from_micros(h.remote_min_rx_us);
        s.remote_desired_min_tx = Duration::from_micros(h.remote_desired_min_tx_us);
        s.remote_detect_mult = h.remote_detect_mult;
        s.tx_in_force = s.advertised_tx();
        s
    }

    /// What to hand the next process; `None` unless Up.
    pub fn handover(&self) -> Option<Handover> {
        (self.state == State::Up).then_some(Handover {
            local_discr: self.local_discr,
            remote_discr: self.remote_discr,
            remote_min_rx_us: self.remote_min_rx.as_micros() as u64,
            remote_desired_min_tx_us: self.remote_desired_min_tx.as_micros() as u64,
            remote_detect_mult: self.remote_detect_mult,
        })
    }

    /// The first packet (unless passive), the transmit schedule and, for a resumed session,
    /// the detection timer.
    pub fn start(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.transmit(false, &mut out);
        self.schedule(&mut out);
        if self.state == State::Up {
            out.push(Output::DetectIn(self.detection_time()));
        }
        out
    }

    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Received(p) => self.receive(p, &mut out),
            Input::TransmitTimer => {
                self.transmit(false, &mut out);
                self.schedule(&mut out);
            }
            Input::DetectionTimer => self.detection_expired(&mut out),
            Input::AdminDown => {
                if self.state != State::AdminDown {
                    self.polling = false;
                    self.set_state(State::AdminDown, Diag::AdminDown, &mut out);
                    self.transmit(false, &mut out);
                    self.schedule(&mut out);
                }
                out.push(Output::DetectIn(None));
            }
            Input::AdminUp => {
                if self.state == State::AdminDown {
                    self.set_state(State::Down, Diag::None, &mut out);
                    self.transmit(false, &mut out);
                    self.schedule(&mut out);
                }
            }
            Input::SetParams(params) => self.set_params(params, &mut out),
        }
        out
    }

    /// §6.8.6, after the checks [`Packet::decode`] makes.
    fn receive(&mut self, p: Packet, out: &mut Vec<Output>) {
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            return; // not ours
        }
        // A new session at the remote: it does not know us yet and calls itself by a new name.
        self.remote_restarted = self.state == State::Up
            && p.state == State::Down
            && p.your_discriminator == 0
            && self.remote_discr != 0
            && p.my_discriminator != self.remote_discr;
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_min_rx = p.required_min_rx;
        self.remote_desired_min_tx = p.desired_min_tx;
        self.remote_detect_mult = p.detect_mult;
        if p.final_ && self.polling {
            // The remote has seen our new intervals: they take effect now (§6.8.3).
            self.polling = false;
            self.tx_in_force = self.advertised_tx();
            self.rx_in_force = self.params.required_min_rx;
        }
        if self.state == State::AdminDown {
            return;
        }
        out.push(Output::DetectIn(self.detection_time()));
        match (self.state, p.state) {
            (State::Init | State::Up, State::AdminDown) => {
                self.remote_admin_down = true;
                self.set_state(State::Down, Diag::NeighborSignaledDown, out);
            }
            (State::Down, State::Down) => self.set_state(State::Init, Diag::None, out),
            (State::Down, State::Init) => self.set_state(State::Up, Diag::None, out),
            (State::Init, State::Init | State::Up) => self.set_state(State::Up, Diag::None, out),
            (State::Up, State::Down) => {
                self.set_state(State::Down, Diag::NeighborSignaledDown, out)
            }
            _ => {}
        }
        if p.poll {
            // §6.8.6: answer a Poll with a Final at once, outside the periodic schedule.
            self.transmit(true, out);
        }
        // A packet received must not postpone our own (the remote would starve of them when
        // both sides send at the same rate): re-arm only if the interval changed.
        if self.periodic_interval() != self.scheduled {
            self.schedule(out);
        }
    }

    fn detection_expired(&mut self, out: &mut Vec<Output>) {
        // §6.8.1: a Detection Time without a packet forgets the remote.
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_min_rx = Duration::from_micros(1);
        self.remote_detect_mult = 0;
        if matches!(self.state, State::Init | State::Up) {
            self.set_state(State::Down, Diag::DetectionTimeExpired, out);
        }
        out.push(Output::DetectIn(None));
        self.schedule(out);
    }

    fn set_params(&mut self, params: Params, out: &mut Vec<Output>) {
        if params == self.params {
            return;
        }
        let old = self.params;
        self.params = params;
        if self.state == State::Up {
            // §6.8.3: a faster transmit rate and a slower receive rate may apply at once; the
            // other way round only once the remote has answered the Poll.
            self.tx_in_force = self.tx_in_force.min(params.desired_min_tx);
            self.rx_in_force = self.rx_in_force.max(params.required_min_rx);
            self.polling = true;
            self.transmit(false, out);
        } else {
            self.tx_in_force = self.advertised_tx();
            self.rx_in_force = params.required_min_rx;
            if old.required_min_rx != params.required_min_rx {
                self.polling = self.remote_discr != 0;
            }
        }
        self.schedule(out);
    }

    fn set_state(&mut self, to: State, diag: Diag, out: &mut Vec<Output>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.diag = diag;
        if to == State::Up || from == State::Up {
            // Leaving the slow rate (or returning to it) changes what we advertise: a Poll
            // Sequence tells the remote (§6.8.3). Going slower while Up is impossible here, so
            // the new transmit interval applies at once.
            self.tx_in_force = self.advertised_tx();
            self.polling = to == State::Up && self.params.desired_min_tx < SLOW_TX;
        }
        let remote_admin_down = std::mem::take(&mut self.remote_admin_down);
        let remote_restarted = std::mem::take(&mut self.remote_restarted) && to == State::Down;
        out.push(Output::Changed(Change {
            from,
            to,
            diag,
            remote_admin_down,
            remote_restarted,
        }));
        // A change is told to the remote at once rather than at the next tick.
        self.transmit(false, out);
    }

    fn packet(&self, final_: bool) -> Packet {
        Packet {
            diag: self.diag,
            state: self.state,
            poll: self.polling && !final_,
            final_,
            // Our BFD runs in the BGP process: it shares fate with the control plane.
            control_plane_independent: false,
            demand: false,
            detect_mult: self.params.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx: self.advertised_tx(),
            required_min_rx: self.params.required_min_rx,
            required_min_echo_rx: Duration::ZERO,
        }
    }

    /// §6.8.7: nothing in the Passive role before the remote is known; `final_` answers a Poll.
    fn transmit(&mut self, final_: bool, out: &mut Vec<Output>) {
        if self.params.passive && self.remote_discr == 0 {
            return;
        }
        out.push(Output::Send(self.packet(final_)));
    }

    /// The next periodic packet, jittered by §6.8.7: 75–100% of the interval, 75–90% with a
    /// multiplier of 1. None while the remote asks for no packets, or while passive and alone.
    fn schedule(&mut self, out: &mut Vec<Output>) {
        self.scheduled = self.periodic_interval();
        let Some(interval) = self.scheduled else {
            out.push(Output::TransmitIn(None));
            return;
        };
        let top = if self.params.detect_mult == 1 {
            90
        } else {
            100
        };
        let percent = 75 + self.next_random() % (top - 75 + 1);
        out.push(Output::TransmitIn(Some(interval * percent as u32 / 100)));
    }

    /// The interval of periodic transmission, `None` when there is none.
    fn periodic_interval(&self) -> Option<Duration> {
        let silent = self.params.passive && self.remote_discr == 0;
        (!silent && !self.remote_min_rx.is_zero()).then(|| self.transmit_interval())
    }

    /// xorshift64: jitter needs spread, not secrecy.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
