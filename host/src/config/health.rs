//! `[health_checks.NAME]`: what tells whether the service behind an announcement is alive, for
//! `[[announce]] health = "NAME"`.
//!
//! Defaults: a probe every second with 800 ms to answer, 3 passes to come up and 3 failures to
//! go down. ExaBGP's healthcheck and kube-vip use 3/3 at 5 s, so a dead service stays announced
//! for 15 s; at 1 s the same hysteresis withdraws it in 3 s, and one lost probe still withdraws
//! nothing.

use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    pub kind: ProbeKind,
    /// `tcp`: where to connect.
    pub address: Option<SocketAddr>,
    /// `http`: the URL to GET (`http://` only).
    pub url: Option<String>,
    /// `http`: the lowest and highest status that pass (default 200..=399).
    #[serde(default = "default_status")]
    pub expect_status: [u16; 2],
    /// `http`: a text the body must contain (the first 64 KiB of it are read).
    pub body_contains: Option<String>,
    /// `exec`: the program and its arguments, run without a shell; exit status 0 passes.
    #[serde(default)]
    pub command: Vec<String>,
    /// Time from the start of one probe to the start of the next (default 1000).
    #[serde(default = "default_interval")]
    pub interval_ms: u32,
    /// A probe not done by then fails (an `exec` probe is killed); at most `interval_ms`
    /// (default 800).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Passes in a row that make the check up (default 3).
    #[serde(default = "default_streak")]
    pub rise: u8,
    /// Failures in a row that make it down (default 3).
    #[serde(default = "default_streak")]
    pub fall: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Tcp,
    Http,
    Exec,
}

fn default_status() -> [u16; 2] {
    [200, 399]
}
fn default_interval() -> u32 {
    1000
}
fn default_timeout() -> u32 {
    800
}
fn default_streak() -> u8 {
    3
}

impl HealthCheck {
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms as u64)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms as u64)
    }

    /// What is wrong with it, as (field, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(50..=3_600_000).contains(&self.interval_ms) {
            return Err((
                "interval_ms",
                format!("{} ms: 50..=3600000", self.interval_ms),
            ));
        }
        if self.timeout_ms < 10 || self.timeout_ms > self.interval_ms {
            return Err((
                "timeout_ms",
                format!(
                    "{} ms: at least 10 and at most interval_ms ({}), so one probe ends before the next starts",
                    self.timeout_ms, self.interval_ms
                ),
            ));
        }
        for (field, v) in [("rise", self.rise), ("fall", self.fall)] {
            if !(1..=100).contains(&v) {
                return Err((field, format!("{v}: 1..=100")));
            }
        }
        let (tcp, http, exec) = (
            self.address.is_some(),
            self.url.is_some() || self.body_contains.is_some(),
            !self.command.is_empty(),
        );
        match self.kind {
            ProbeKind::Tcp if !tcp => Err(("address", "kind = \"tcp\" needs an address".into())),
            ProbeKind::Http if self.url.is_none() => {
                Err(("url", "kind = \"http\" needs a url".into()))
            }
            ProbeKind::Http => self.http_url().map(|_| ()),
            ProbeKind::Exec if !exec => Err((
                "command",
                "kind = \"exec\" needs a command: [program, args...]".into(),
            )),
            kind => {
                let stray = [
                    ("address", tcp && kind != ProbeKind::Tcp),
                    ("url", http && kind != ProbeKind::Http),
                    ("command", exec && kind != ProbeKind::Exec),
                ];
                match stray.iter().find(|(_, set)| *set) {
                    Some((field, _)) => Err((field, format!("not used by kind = \"{kind:?}\""))),
                    None => Ok(()),
                }
            }
        }
    }

    /// The HTTP check's URL, checked: `http://host[:port]/path`.
    pub fn http_url(&self) -> Result<HttpTarget, (&'static str, String)> {
        let url = self.url.as_deref().unwrap_or_default();
        let [low, high] = self.expect_status;
        if !(100..=599).contains(&low) || !(low..=599).contains(&high) {
            return Err((
                "expect_status",
                format!("[{low}, {high}]: a range of HTTP statuses, 100..=599, low first"),
            ));
        }
        let uri: ::http::Uri = url.parse().map_err(|e| ("url", format!("{url:?}: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(("url", format!("{url:?}: only http:// URLs are supported")));
        }
        let authority = uri
            .authority()
            .ok_or(("url", format!("{url:?}: no host")))?;
        let port = authority.port_u16().unwrap_or(80);
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let ip: std::net::IpAddr = host.parse().map_err(|_| {
            (
                "url",
                format!("{url:?}: the host must be an IP address (no name is looked up)"),
            )
        })?;
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        Ok(HttpTarget {
            connect: SocketAddr::new(ip, port),
            host: authority.as_str().to_string(),
            path,
        })
    }
}

/// Where an HTTP check connects and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub connect: SocketAddr,
    /// The `Host` header.
    pub host: String,
    pub path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> HealthCheck {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_are_one_second_three_to_rise_three_to_fall() {
        let c = parse("kind = \"tcp\"\naddress = \"127.0.0.1:80\"");
        assert_eq!(
            (c.interval_ms, c.timeout_ms, c.rise, c.fall),
            (1000, 800, 3, 3)
        );
        assert_eq!(c.expect_status, [200, 399]);
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn each_kind_needs_its_target_and_no_other() {
        let field = |t: &str| parse(t).check().unwrap_err().0;
        assert_eq!(field("kind = \"tcp\""), "address");
        assert_eq!(field("kind = \"http\""), "url");
        assert_eq!(field("kind = \"exec\""), "command");
        assert_eq!(
            field("kind = \"tcp\"\naddress = \"127.0.0.1:80\"\ncommand = [\"true\"]"),
            "command"
        );
        assert_eq!(
            field("kind = \"exec\"\ncommand = [\"true\"]\nurl = \"http://127.0.0.1/\""),
            "url"
        );
    }

    #[test]
    fn a_timeout_longer_than_the_interval_is_refused() {
        let c = parse("kind = \"exec\"\ncommand = [\"true\"]\ninterval_ms = 100\ntimeout_ms = 200");
        assert_eq!(c.check().unwrap_err().0, "timeout_ms");
        let c = parse("kind = \"exec\"\ncommand = [\"true\"]\nrise = 0");
        assert_eq!(c.check().unwrap_err().0, "rise");
    }

    #[test]
    fn http_urls_name_an_address_and_default_to_port_80() {
        let c = parse("kind = \"http\"\nurl = \"http://[::1]:8080/ready?x=1\"");
        let t = c.http_url().unwrap();
        assert_eq!(t.connect, "[::1]:8080".parse().unwrap());
        assert_eq!(
            (t.host.as_str(), t.path.as_str()),
            ("[::1]:8080", "/ready?x=1")
        );
        let c = parse("kind = \"http\"\nurl = \"http://127.0.0.1\"");
        assert_eq!(c.http_url().unwrap().connect.port(), 80);
        assert_eq!(c.http_url().unwrap().path, "/");
        for bad in ["https://127.0.0.1/", "http://example.com/", "nonsense"] {
            let c = parse(&format!("kind = \"http\"\nurl = \"{bad}\""));
            assert_eq!(c.check().unwrap_err().0, "url", "{bad}");
        }
        let c = parse("kind = \"http\"\nurl = \"http://127.0.0.1/\"\nexpect_status = [300, 200]");
        assert_eq!(c.check().unwrap_err().0, "expect_status");
    }
}
