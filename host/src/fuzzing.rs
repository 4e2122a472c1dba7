//! The bodies of the fuzz targets (`fuzz/`), here so that `cargo test` replays the committed
//! corpus on stable Rust (`host/tests/fuzz_corpus.rs`) and a regression fails CI. Each takes
//! arbitrary bytes and panics only when an invariant breaks.

use crate::config::Config;
use crate::fsm::{Action, Event, Fsm, LocalSettings, State, Timer};
use crate::plugins::answer;
use crate::plugins::bindings::types::{Batch, Choices};
use crate::wire::capability::GracefulRestartCap;
use crate::wire::{
    decode_message, frame_len, Capability, CodecContext, Decoded, Family, Message, Notification,
    Open, Update,
};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// The first byte picks the negotiated context (4-octet AS, extended message, eBGP).
fn context(byte: u8) -> CodecContext {
    CodecContext {
        four_octet_as: byte & 1 != 0,
        extended_message: byte & 2 != 0,
        external: byte & 4 != 0,
    }
}

/// A stream of messages as a session reads it: framing, then decoding, message after message.
/// A decoded UPDATE that re-encodes must decode to the same value.
pub fn message(data: &[u8]) {
    let Some((&ctx, mut buf)) = data.split_first() else {
        return;
    };
    let ctx = context(ctx);
    loop {
        let len = match frame_len(buf, ctx) {
            Ok(Some(len)) => len,
            Ok(None) | Err(_) => return,
        };
        assert!(len >= crate::wire::HEADER_LEN && len <= buf.len());
        let (frame, rest) = buf.split_at(len);
        if let Ok(Decoded::Message(m)) = decode_message(frame, ctx) {
            if let Message::Update(u) = &m {
                check_update(u, ctx);
            }
            let _ = m.encode(ctx);
        }
        buf = rest;
    }
}

fn check_update(u: &Update, ctx: CodecContext) {
    let _ = u.withdrawals();
    let _ = u.end_of_rib();
    let _ = u.announced_families();
    if u.treat_as_withdraw.is_some() || !u.discarded.is_empty() || !u.attributes.unknown.is_empty()
    {
        return; // not a value our encoder promises to reproduce
    }
    let again = Message::Update(u.clone()).encode(ctx);
    if again.len() > ctx.max_message_len() {
        return;
    }
    match decode_message(&again, ctx) {
        Ok(Decoded::Message(Message::Update(back))) => {
            assert_eq!(
                back.announced().collect::<Vec<_>>(),
                u.announced().collect::<Vec<_>>()
            );
            assert_eq!(back.withdrawals(), u.withdrawals());
        }
        other => panic!("our encoding of a decoded UPDATE does not decode: {other:?}"),
    }
}

/// An UPDATE body under each context, with the RFC 7606 outcomes as values.
pub fn update(data: &[u8]) {
    let Some((&ctx, body)) = data.split_first() else {
        return;
    };
    let ctx = context(ctx);
    if let Ok(u) = Update::decode(body, ctx.attrs()) {
        check_update(&u, ctx);
    }
}

fn settings() -> LocalSettings {
    LocalSettings {
        local_asn: 64512,
        remote_as: crate::fsm::RemoteAs::Is(65001),
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        hold_time: 90,
        families: Family::ALL.to_vec(),
        graceful_restart: Some(GracefulRestartCap {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: vec![],
        }),
        long_lived: None,
        extended_parameters: false,
        // A role, so that the fsm target reaches role negotiation too.
        role: Some(crate::wire::Role::Customer),
        strict_role: false,
        extended_next_hop: true,
    }
}

/// An OPEN body, its capabilities and the negotiation against our settings; what decodes
/// re-encodes to what decodes the same.
pub fn open(data: &[u8]) {
    let Ok(open) = Open::decode(data) else { return };
    if let Ok(n) = crate::fsm::negotiate(&settings(), &open) {
        assert!(n.families.iter().all(|f| Family::ALL.contains(f)));
        assert!(n.hold_time.is_zero() || n.hold_time >= Duration::from_secs(3));
    }
    let mut body = bytes::BytesMut::new();
    open.encode_body(&mut body);
    let back = Open::decode(&body).expect("our encoding of a decoded OPEN decodes");
    assert_eq!(back.capabilities, open.capabilities);
}

/// The session FSM fed an arbitrary sequence of events (each byte one event, messages built or
/// decoded from what follows): it never panics, is Established only with a negotiated session,
/// and reports Established and Down exactly on entering and leaving that state (a session
/// refused before it, Refused at most once).
pub fn fsm(data: &[u8]) {
    let mut fsm = Fsm::new(
        settings(),
        data.first().is_some_and(|b| b & 1 != 0),
        Duration::from_secs(1),
    );
    let mut rest = data;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        let event = match b % 16 {
            0 => Event::ManualStart,
            1 => Event::ManualStop(None),
            2 => Event::TcpConnected,
            3 => Event::TcpFailed,
            4 => Event::TimerExpired(Timer::ConnectRetry),
            5 => Event::TimerExpired(Timer::Hold),
            6 => Event::TimerExpired(Timer::Keepalive),
            7 => Event::Message(Message::Keepalive),
            8 => Event::Message(Message::Open(Open::new(
                if b & 0x10 != 0 { 65001 } else { 65099 },
                (b as u16) >> 4,
                Ipv4Addr::new(192, 0, 2, 2),
                vec![Capability::FourOctetAs(65001)],
            ))),
            9 => Event::Message(Message::Update(Update::default())),
            10 => Event::Message(Message::Notification(Notification::new(6, b >> 4))),
            11 => Event::DecodeError(Notification::new(3, 1)),
            12 => Event::Reset {
                notification: Notification::new(6, 4),
                hold_down: (b & 0x10 != 0).then_some(Duration::from_secs(5)),
            },
            13 => Event::CollisionLost(Notification::new(6, 7)),
            14 => Event::ManualStop(Some(Notification::new(6, 2))),
            _ => {
                // A message decoded from the bytes that follow, as a session would hand it on.
                let Some(&len) = rest.first() else { break };
                let take = (len as usize).min(rest.len() - 1);
                let frame = &rest[1..1 + take];
                rest = &rest[1 + take..];
                match decode_message(frame, CodecContext::default()) {
                    Ok(Decoded::Message(m)) => Event::Message(m),
                    _ => continue,
                }
            }
        };
        let before = fsm.state();
        let actions = fsm.handle(event);
        let after = fsm.state();
        let up = actions
            .iter()
            .filter(|a| matches!(a, Action::Established(_)))
            .count();
        let down = actions
            .iter()
            .filter(|a| matches!(a, Action::Down(_)))
            .count();
        assert_eq!(
            up,
            (before != State::Established && after == State::Established) as usize
        );
        assert_eq!(
            down,
            (before == State::Established && after != State::Established) as usize
        );
        let refused = actions
            .iter()
            .filter(|a| matches!(a, Action::Refused(_)))
            .count();
        assert!(refused == 0 || (before != State::Established && refused == 1));
        assert!(after != State::Established || fsm.negotiated().is_some());
    }
}

/// A config file, read whole and in chunks (the big-config path): both agree.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    let whole = Config::parse(text, path);
    let chunked = Config::parse_with(text, path, 1);
    match (&whole, &chunked) {
        (Ok(a), Ok(b)) => {
            let prefixes = |c: &Config| c.announcements().map(|a| a.prefix.0).collect::<Vec<_>>();
            assert_eq!(prefixes(a), prefixes(b));
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "whole and chunked reads disagree: {:?} / {:?}",
            a.is_ok(),
            b.is_ok()
        ),
    }
}

/// The host's check of a plugin answer against a batch it made: whatever passes the check is
/// read without a panic, and every choice names one of the outcomes.
pub fn plugin_answer(data: &[u8]) {
    let [routes, sets, outcomes, kind, rest @ ..] = data else {
        return;
    };
    let (routes, sets, outcomes) = (
        *routes as usize % 64,
        1 + *sets as usize % 8,
        *outcomes as usize % 8,
    );
    let mut batch = Batch {
        labels: vec![],
        set_labels: vec![],
        set_start: (0..=sets as u32).map(|_| 0).collect(),
        label_set: vec![],
        addr_hi: vec![0; routes],
        addr_lo: vec![0; routes],
        prefix_len: vec![32; routes],
        v6: vec![],
    };
    let mut bytes = rest.iter().copied();
    for _ in 0..routes {
        let b = bytes.next().unwrap_or(0);
        batch.label_set.push(b as u32 % sets as u32);
        batch.v6.push(b >> 7);
    }
    let entries: Vec<u32> = bytes.map(|b| b as u32 % 10).collect();
    let choices = if kind & 1 == 0 {
        Choices::PerRoute(entries)
    } else {
        Choices::PerLabelSet(entries)
    };
    if answer::check(&choices, &batch, outcomes, "outcome").is_ok() {
        let all: Vec<u32> = answer::route_choices(&choices, &batch).collect();
        assert_eq!(all.len(), routes);
        assert!(all.iter().all(|c| *c as usize <= outcomes));
    }
}

/// A BFD Control packet: what decodes re-encodes to a packet that decodes the same.
pub fn bfd_packet(data: &[u8]) {
    if let Ok(p) = crate::bfd::Packet::decode(data) {
        assert_eq!(crate::bfd::Packet::decode(&p.encode()), Ok(p));
    }
}

/// A BFD session fed arbitrary inputs (each 1 octet, a received packet 25): it never panics,
/// never sends faster than one second while not Up (RFC 5880 §6.8.3), and reports every
/// state change exactly once.
pub fn bfd_session(data: &[u8]) {
    use crate::bfd::{Input, Output, Packet, Params, Session, State};
    let params = Params {
        desired_min_tx: Duration::from_millis(300),
        required_min_rx: Duration::from_millis(300),
        detect_mult: 3,
        passive: data.first().is_some_and(|b| b & 1 != 0),
    };
    let mut s = Session::new(params, 7, 1);
    let mut rest = data;
    let mut state = s.state();
    let mut outputs = s.start();
    loop {
        // Taken, so an input skipped below does not check these twice.
        for o in &std::mem::take(&mut outputs) {
            match o {
                Output::Changed(c) => {
                    assert_eq!(c.from, state);
                    assert_ne!(c.from, c.to);
                    state = c.to;
                }
                Output::Send(p) if p.state != State::Up => {
                    assert!(p.desired_min_tx >= crate::bfd::session::SLOW_TX);
                }
                _ => {}
            }
        }
        assert_eq!(state, s.state());
        let Some((&b, tail)) = rest.split_first() else {
            break;
        };
        rest = tail;
        let input = match b % 6 {
            0 => Input::TransmitTimer,
            1 => Input::DetectionTimer,
            2 => Input::AdminDown,
            3 => Input::AdminUp,
            4 => Input::SetParams(Params {
                desired_min_tx: Duration::from_millis(50 * (b as u64 >> 3)),
                required_min_rx: Duration::from_millis(50 * (b as u64 >> 4)),
                detect_mult: 1 + (b >> 6),
                passive: params.passive,
            }),
            _ => {
                let Some(packet) = rest.get(..24) else { break };
                rest = &rest[24..];
                match Packet::decode(packet) {
                    Ok(p) => Input::Received(p),
                    Err(_) => continue,
                }
            }
        };
        outputs = s.handle(input);
    }
}

/// A takeover frame as the new process reads it (`takeover::unix::recv` after the socket):
/// lengths, header, a Session frame's body parts and the UPDATEs in them. Whatever arrives is
/// refused with a message or taken; a frame that is taken joins back to the same body.
pub fn takeover_frame(data: &[u8]) {
    use crate::takeover::format::{self, Frame, SessionBody};
    let Some((prefix, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Ok((header_len, body_len)) = format::lengths(*prefix) else {
        return;
    };
    // The fuzzer's lengths stand for what would have been read: cut to what is there.
    let header = &rest[..header_len.min(rest.len())];
    let body = &rest[header.len()..][..body_len.min(rest.len() - header.len())];
    if let Ok(Frame::Session(state)) = format::header(header) {
        if let Ok(parts) = SessionBody::split(&state, body) {
            let mut again = state.clone();
            assert_eq!(
                parts.join(&mut again),
                body,
                "the parts join back to the body"
            );
            assert_eq!(again.parts, state.parts);
            for ctx in [0u8, 7] {
                let _ = crate::takeover::updates(&parts.adj_rib_in, context(ctx));
                let _ = crate::takeover::updates(&parts.adj_rib_out, context(ctx));
            }
        }
    }
}

/// A control API request (first byte: which message): its entries counted as the server's
/// codec counts them, decoded, encoded back to the same message, and converted as the server
/// converts it (route filters, plan kinds, health modes, announcement entries) without panicking.
pub fn control_request(data: &[u8]) {
    use crate::api::{codec, convert, proto};
    use prost::Message;
    fn again<M: Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
        assert_eq!(
            &M::decode(m.encode_to_vec().as_slice()).expect("decodes"),
            m
        );
    }
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let _ = codec::most_repeated(bytes);
    match which % 5 {
        0 => {
            let Ok(c) = proto::AnnouncementsChange::decode(bytes) else {
                return;
            };
            again(&c);
            for a in &c.announcements {
                let entry = convert::announcement_entry(a);
                assert!(entry.is_object(), "{entry}");
            }
        }
        1 => {
            let Ok(d) = proto::DeleteAnnouncementsRequest::decode(bytes) else {
                return;
            };
            again(&d);
        }
        2 => {
            let Ok(f) = proto::RouteFilter::decode(bytes) else {
                return;
            };
            again(&f);
            let _ = convert::filter(f).matcher();
        }
        3 => {
            let Ok(p) = proto::PlanRequest::decode(bytes) else {
                return;
            };
            again(&p);
            let _ = convert::plan(p);
        }
        _ => {
            let Ok(h) = proto::SetHealthRequest::decode(bytes) else {
                return;
            };
            again(&h);
            let _ = convert::forced(h.forced.as_deref(), "forced");
        }
    }
}

/// The restart record as a start reads it from `state_dir`: parsed or ignored, and classified
/// at any time without panicking (first 8 bytes: the time of the start).
pub fn restart_record(data: &[u8]) {
    use crate::gr::RestartRecord;
    let Some((now, text)) = data.split_first_chunk::<8>() else {
        return;
    };
    if let Ok(r) = serde_json::from_slice::<RestartRecord>(text) {
        let _ = RestartRecord::classify(Some(&r), u64::from_le_bytes(*now));
        let again: RestartRecord =
            serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(again, r);
    }
}

/// The BFD handover file (first 8 bytes: the time it is read): every session it yields has
/// validated, resumes and runs its timers without panicking.
pub fn bfd_handover(data: &[u8]) {
    use crate::bfd::{Input, Params, Session};
    let Some((now, text)) = data.split_first_chunk::<8>() else {
        return;
    };
    let params = Params {
        desired_min_tx: Duration::from_millis(300),
        required_min_rx: Duration::from_millis(300),
        detect_mult: 3,
        passive: false,
    };
    for saved in crate::bfd::handover::parse_handover(text, u64::from_le_bytes(*now)).values() {
        assert!(saved.session.validate().is_ok());
        let mut s = Session::resume(params, &saved.session, 1);
        let _ = s.start();
        for input in [Input::TransmitTimer, Input::DetectionTimer] {
            let _ = s.handle(input);
        }
    }
}
