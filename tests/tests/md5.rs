//! TCP-MD5 (RFC 2385) against FRR and BIRD: the same password comes up; a wrong one never does,
//! and gracewire's log says what to check, since the kernel drops the segments without a word.
//! The password is never printed.

use gracewire_e2e::bird::Bird;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::{wait_for, Gracewire, Lab, PeerSpec, Router};
use std::time::Duration;

const SUITE: u8 = 35;
const T: Duration = Duration::from_secs(30);
const PASSWORD: &str = "tor1-s3cret";

fn config(spec: &PeerSpec, lab: &Lab) -> String {
    // As a Kubernetes Secret would mount it, with a trailing newline.
    let file = lab.path("tor1.password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    format!(
        r#"[global]
asn = 64512
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "tor"
address = "{peer}"
asn = {asn}
local_address = "{gw}"
hold_time = 9
connect_retry = 1
password_file = "{file}"

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"
"#,
        gw = spec.gracewire_addr,
        peer = spec.addr,
        asn = spec.asn,
        file = file.display(),
    )
}

fn check(router: &mut dyn Router, lab: &Lab) {
    let kind = router.kind();
    router.spec_mut().password = Some(PASSWORD.into());
    router.start();
    let gw = Gracewire::start(lab, &config(router.spec(), lab));
    gw.wait_established("tor", T);
    wait_for(&format!("{kind} has our route"), T, || {
        (!router.routes().is_empty()).then_some(())
    });
    let n = gw.neighbor("tor");
    assert_eq!(n["tcp_md5"], true);
    assert!(!n.to_string().contains(PASSWORD));
    assert!(
        !gw.process.log_text().contains(PASSWORD),
        "{kind}: the password in the log"
    );
}

fn mismatch(router: &mut dyn Router, lab: &Lab) {
    let kind = router.kind();
    router.spec_mut().password = Some("another-password".into());
    router.start();
    let gw = Gracewire::start(lab, &config(router.spec(), lab));
    wait_for(
        &format!("{kind}: gracewire explains the silence"),
        T,
        || {
            gw.process
                .log_text()
                .contains("which has a TCP-MD5 password configured")
                .then_some(())
        },
    );
    assert_ne!(gw.state("tor"), "Established");
    assert!(
        !router.established(),
        "{kind}: never up with a wrong password"
    );
    assert!(!gw.process.log_text().contains(PASSWORD));
}

#[test]
fn frr_with_the_same_password_comes_up() {
    let lab = Lab::new(SUITE);
    check(&mut Frr::new(&lab, lab.spec(2, 65002, 64512)), &lab);
}

#[test]
fn bird_with_the_same_password_comes_up() {
    let lab = Lab::new(SUITE);
    check(&mut Bird::new(&lab, lab.spec(2, 65003, 64512)), &lab);
}

#[test]
fn frr_with_another_password_never_comes_up_and_the_log_says_why() {
    let lab = Lab::new(SUITE);
    mismatch(&mut Frr::new(&lab, lab.spec(2, 65002, 64512)), &lab);
}

#[test]
fn bird_with_another_password_never_comes_up_and_the_log_says_why() {
    let lab = Lab::new(SUITE);
    mismatch(&mut Bird::new(&lab, lab.spec(2, 65003, 64512)), &lab);
}
