//! Accepted connections enter as [`Input::Connection`]: one from a configured peer's address
//! goes to that peer's session, any other is closed unread and counted.

use super::harness::*;
use super::metrics::sample;
use crate::daemon::Input;

fn connect(h: &mut Harness, from: &str, id: u64) -> Option<String> {
    h.input(Input::Connection {
        from: from.parse().unwrap(),
        id,
    });
    let (got, to) = h.fx.delivered.pop().expect("every connection is answered");
    assert_eq!(got, id, "the answer names the connection it is for");
    to
}

#[test]
fn a_connection_goes_to_its_peers_session_and_a_strangers_is_closed_and_counted() {
    let mut h = Harness::new(&(global("") + &peer("a", 2, 65001, "") + &peer("b", 3, 65002, "")));
    assert_eq!(connect(&mut h, "10.0.0.3", 1).as_deref(), Some("b"));
    // From a dual-stack listener, an IPv4 peer arrives IPv4-mapped.
    assert_eq!(connect(&mut h, "::ffff:10.0.0.2", 2).as_deref(), Some("a"));
    let strangers = |h: &mut Harness| sample(h, "gracewire_bgp_connections_refused_total", &[]);
    assert_eq!(strangers(&mut h), Some(0.0));
    assert_eq!(connect(&mut h, "10.0.0.9", 3), None);
    assert_eq!(connect(&mut h, "2001:db8::2", 4), None);
    assert_eq!(strangers(&mut h), Some(2.0));
}
