//! Conveniences over the generated types: addresses and prefixes as `std::net` values, labels of
//! a route, routes grouped by label set, builders for the compact answers, and a logger that
//! works natively.

use crate::announce::{Announcement, Decisions};
use crate::communities::{Tag, TagSet, Tagging};
use crate::types::{Address, Batch, Choices, Family, Label, Peer};
use crate::Level;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Address {
                v6: false,
                hi: 0,
                lo: u32::from(v4) as u64,
            },
            IpAddr::V6(v6) => {
                let v = u128::from(v6);
                Address {
                    v6: true,
                    hi: (v >> 64) as u64,
                    lo: v as u64,
                }
            }
        }
    }
}

impl Address {
    pub fn ip(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(((self.hi as u128) << 64) | self.lo as u128))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.lo as u32))
        }
    }
}

/// A route's prefix, as [`Batch::prefix`] gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub addr: Address,
    pub len: u8,
}

impl Prefix {
    /// Parses `"198.51.100.10/32"` or `"2001:db8::/64"`.
    pub fn parse(s: &str) -> Option<Prefix> {
        let (addr, len) = s.split_once('/')?;
        let ip: IpAddr = addr.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        (len <= if ip.is_ipv4() { 32 } else { 128 }).then(|| Prefix {
            addr: ip.into(),
            len,
        })
    }

    pub fn family(&self) -> Family {
        if self.addr.v6 {
            Family::Ipv6Unicast
        } else {
            Family::Ipv4Unicast
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr.ip(), self.len)
    }
}

impl Batch {
    /// How many routes the batch holds.
    pub fn len(&self) -> usize {
        self.prefix_len.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefix_len.is_empty()
    }

    pub fn is_v6(&self, route: usize) -> bool {
        self.v6[route] != 0
    }

    /// The prefix of route `route`.
    pub fn prefix(&self, route: usize) -> Prefix {
        Prefix {
            addr: Address {
                v6: self.is_v6(route),
                hi: self.addr_hi[route],
                lo: self.addr_lo[route],
            },
            len: self.prefix_len[route],
        }
    }

    /// How many distinct label sets the batch holds.
    pub fn set_count(&self) -> usize {
        self.set_start.len().saturating_sub(1)
    }

    /// The label set of route `route`.
    pub fn label_set(&self, route: usize) -> usize {
        self.label_set[route] as usize
    }

    /// The label indices of set `set` (into `labels`).
    pub fn set_refs(&self, set: usize) -> &[u32] {
        let start = self.set_start.get(set).copied().unwrap_or(0) as usize;
        let end = self.set_start.get(set + 1).copied().unwrap_or(0) as usize;
        self.set_labels.get(start..end).unwrap_or(&[])
    }

    /// The labels of set `set`, as `(key, value)`.
    pub fn set_labels_of(&self, set: usize) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.set_refs(set)
            .iter()
            .filter_map(|i| self.labels.get(*i as usize))
            .map(|l| (l.key.as_str(), l.value.as_str()))
    }

    /// The value of label `key` in set `set`.
    pub fn set_label(&self, set: usize, key: &str) -> Option<&str> {
        self.set_labels_of(set)
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// The labels of route `route`, as `(key, value)`.
    pub fn labels_of(&self, route: usize) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.set_labels_of(self.label_set(route))
    }

    /// The value of label `key` on route `route`.
    pub fn label(&self, route: usize, key: &str) -> Option<&str> {
        self.set_label(self.label_set(route), key)
    }

    /// Whether set `set` is of an announcement whose health check is down (the host's
    /// [`HEALTH_LABEL`] says `down`; such routes reach a plugin only with `when_down =
    /// "plugins"`, for it to deprefer them).
    pub fn set_is_down(&self, set: usize) -> bool {
        self.set_label(set, HEALTH_LABEL) == Some("down")
    }
}

/// The label the host sets on every announcement that names health checks: `up` while they
/// all are, `down` otherwise (contract 0.6.0).
pub const HEALTH_LABEL: &str = "health";

/// A selector as rule configs spell it: an empty list matches anything, otherwise `value` must
/// be in the list (a missing value, such as an absent label, matches only the empty list).
pub fn matches_any(allowed: &[String], value: Option<&str>) -> bool {
    allowed.is_empty() || value.is_some_and(|v| allowed.iter().any(|a| a == v))
}

/// A rule's label selectors resolved against one batch's label table: each constraint is a
/// list of label ids (indices into `labels`), one of which a label set must carry. Resolving
/// compares strings once per label; matching a set then compares integers, which matters in
/// Wasm, where string comparison is several times slower than natively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    constraints: Vec<Vec<u32>>,
}

impl LabelSelector {
    /// Selects every label set.
    pub fn new() -> Self {
        LabelSelector::default()
    }

    /// Adds: label `key` must be one of `values`. An empty `values` adds nothing (anything
    /// goes); values no route carries leave a constraint no set meets.
    pub fn one_of<S: AsRef<str>>(mut self, batch: &Batch, key: &str, values: &[S]) -> Self {
        if values.is_empty() {
            return self;
        }
        let ids = batch.labels.iter().enumerate();
        let ids = ids.filter(|(_, l)| l.key == key && values.iter().any(|v| v.as_ref() == l.value));
        self.constraints.push(ids.map(|(i, _)| i as u32).collect());
        self
    }

    /// Whether label set `set` of the batch meets every constraint.
    pub fn matches(&self, batch: &Batch, set: usize) -> bool {
        let refs = batch.set_refs(set);
        self.constraints
            .iter()
            .all(|ids| refs.iter().any(|r| ids.contains(r)))
    }
}

/// Builds batches for tests: routes with labels, the label table shared.
#[derive(Default)]
pub struct BatchBuilder {
    batch: Batch,
}

// The type is generated by wit-bindgen, so it cannot carry a derive of its own.
impl Default for Batch {
    fn default() -> Self {
        Batch {
            labels: Vec::new(),
            set_labels: Vec::new(),
            set_start: vec![0],
            label_set: Vec::new(),
            addr_hi: Vec::new(),
            addr_lo: Vec::new(),
            prefix_len: Vec::new(),
            v6: Vec::new(),
        }
    }
}

impl BatchBuilder {
    /// Adds a route for `prefix` with `labels`; panics on a bad prefix (test input).
    pub fn route(mut self, prefix: &str, labels: &[(&str, &str)]) -> Self {
        let b = &mut self.batch;
        let mut refs = Vec::with_capacity(labels.len());
        for (k, v) in labels {
            let i = match b.labels.iter().position(|l| l.key == *k && l.value == *v) {
                Some(i) => i,
                None => {
                    b.labels.push(Label {
                        key: k.to_string(),
                        value: v.to_string(),
                    });
                    b.labels.len() - 1
                }
            };
            refs.push(i as u32);
        }
        // Label sets are distinct, as the host makes them.
        let set = (0..b.set_count()).find(|s| b.set_refs(*s) == refs.as_slice());
        let set = set.unwrap_or_else(|| {
            b.set_labels.extend_from_slice(&refs);
            b.set_start.push(b.set_labels.len() as u32);
            b.set_count() - 1
        });
        b.label_set.push(set as u32);
        let p = Prefix::parse(prefix).unwrap_or_else(|| panic!("bad prefix {prefix}"));
        b.addr_hi.push(p.addr.hi);
        b.addr_lo.push(p.addr.lo);
        b.prefix_len.push(p.len);
        b.v6.push(p.addr.v6 as u8);
        self
    }

    pub fn build(self) -> Batch {
        self.batch
    }
}

/// A peer for tests.
pub fn test_peer(name: &str, local_asn: u32, remote_asn: u32, vendor: &str) -> Peer {
    Peer {
        name: name.to_string(),
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)).into(),
        local_asn,
        remote_asn,
        vendor: vendor.to_string(),
        hold_time: 90,
        families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
    }
}

/// Announces a route as the config describes it.
pub fn announce_as_configured() -> Announcement {
    Announcement {
        next_hop: None,
        med: None,
        local_pref: None,
        prepend: 0,
        aggregate_len: None,
        rule: None,
    }
}

/// The longest rule name the host takes, in bytes.
pub const MAX_RULE_NAME: usize = 128;

/// Checks a rule name as the host will (1-128 bytes, no control characters), so a plugin can
/// refuse a bad one in `init`, naming where it came from, instead of failing every call.
pub fn check_rule_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a rule name may not be empty".into());
    }
    if name.len() > MAX_RULE_NAME {
        return Err(format!("rule name `{name}` is over {MAX_RULE_NAME} bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("rule name {name:?} has a control character"));
    }
    Ok(())
}

/// One name for an outcome several rules made together: `a+b+c`, cut to [`MAX_RULE_NAME`]
/// bytes (ending in `...` when cut); `None` without names.
pub fn joined_rule_name<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut joined = String::new();
    for name in names {
        if !joined.is_empty() {
            joined.push('+');
        }
        joined.push_str(name);
    }
    if joined.len() > MAX_RULE_NAME {
        let mut cut = MAX_RULE_NAME - 3;
        while !joined.is_char_boundary(cut) {
            cut -= 1;
        }
        joined.truncate(cut);
        joined.push_str("...");
    }
    (!joined.is_empty()).then_some(joined)
}

impl Announcement {
    /// The same announcement, named after the rule that chose it: the host shows the name per
    /// route (`show advertised`, `gracewire plan`) and counts routes per rule in its metrics.
    /// 1-128 bytes, no control characters.
    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }
}

/// A hash map without random keys, since a plugin has no randomness (`RandomState` would
/// import WASI random, which the host links as a trap). FxHash: the keys are the host's
/// batch, not attacker-chosen, and it is several times cheaper than SipHash in wasm.
pub type FixedHashMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// Where label set `set` and a family sit in a `per-label-set` answer: `2 * set + v6`.
pub fn label_set_slot(set: usize, v6: bool) -> usize {
    set * 2 + v6 as usize
}

impl Batch {
    /// How many entries a `per-label-set` answer has: two per label set (IPv4, IPv6).
    pub fn label_set_slots(&self) -> usize {
        self.set_count() * 2
    }

    /// The `per-label-set` entry that route `route` takes its outcome from.
    pub fn slot_of(&self, route: usize) -> usize {
        label_set_slot(self.label_set(route), self.is_v6(route))
    }
}

impl Choices {
    /// Route `route`'s choice (0: none) under these choices for `batch`.
    pub fn of(&self, batch: &Batch, route: usize) -> u32 {
        let entry = match self {
            Choices::PerRoute(c) => c.get(route),
            Choices::PerLabelSet(c) => c.get(batch.slot_of(route)),
        };
        entry.copied().unwrap_or(0)
    }

    /// Every route's choice, in batch order (as the host reads them: a `per-label-set` answer
    /// fanned out by each route's set and family).
    pub fn routes<'a>(&'a self, batch: &'a Batch) -> impl ExactSizeIterator<Item = u32> + 'a {
        let (per_route, per_set): (&[u32], &[u32]) = match self {
            Choices::PerRoute(c) => (c, &[]),
            Choices::PerLabelSet(c) => (&[], c),
        };
        (0..batch.len()).map(move |r| match per_route.get(r) {
            Some(c) => *c,
            None => per_set.get(batch.slot_of(r)).copied().unwrap_or(0),
        })
    }

    /// [`routes`](Self::routes), collected.
    pub fn for_routes(&self, batch: &Batch) -> Vec<u32> {
        self.routes(batch).collect()
    }
}

/// The shape both answers share: distinct outcomes, and per entry (a route, or a label set and
/// family) a 1-based index into them (0: none). Equal outcomes share one entry.
struct Outcomes<T> {
    outcomes: Vec<T>,
    index: FixedHashMap<T, u32>,
    per_label_set: bool,
    entries: usize,
    /// Made on first use, so a builder given all choices at once allocates them once.
    choice: Vec<u32>,
}

impl<T: Clone + Eq + std::hash::Hash> Outcomes<T> {
    fn new(entries: usize, per_label_set: bool) -> Self {
        Outcomes {
            outcomes: Vec::new(),
            index: FixedHashMap::default(),
            per_label_set,
            entries,
            choice: Vec::new(),
        }
    }

    fn intern(&mut self, outcome: T) -> u32 {
        let next = self.outcomes.len() as u32 + 1;
        *self.index.entry(outcome.clone()).or_insert_with(|| {
            self.outcomes.push(outcome);
            next
        })
    }

    fn choice_mut(&mut self) -> &mut [u32] {
        if self.choice.len() != self.entries {
            self.choice = vec![0; self.entries];
        }
        &mut self.choice
    }

    fn choices(&mut self, choice: Vec<u32>) {
        assert_eq!(choice.len(), self.entries, "one per entry");
        self.choice = choice;
    }

    fn build(mut self) -> (Vec<T>, Choices) {
        self.choice_mut();
        let choice = if self.per_label_set {
            Choices::PerLabelSet(self.choice)
        } else {
            Choices::PerRoute(self.choice)
        };
        (self.outcomes, choice)
    }
}

/// Builds [`Decisions`]: nothing is announced until chosen; equal announcements share one
/// entry. Entries are routes ([`new`](Self::new)) or, for a policy that looks only at labels,
/// family and peer, label sets and families ([`per_label_set`](Self::per_label_set)): then the
/// host fans the answer out, and the plugin does no per-route work at all.
pub struct DecisionsBuilder(Outcomes<Announcement>);

impl DecisionsBuilder {
    /// One entry per route, for a batch of `routes` routes.
    pub fn new(routes: usize) -> Self {
        DecisionsBuilder(Outcomes::new(routes, false))
    }

    /// One entry per label set and family, for a batch of `sets` label sets
    /// ([`Batch::set_count`]); see [`label_set_slot`].
    pub fn per_label_set(sets: usize) -> Self {
        DecisionsBuilder(Outcomes::new(sets * 2, true))
    }

    /// The choice value (1-based) that announces with `a`.
    pub fn announcement(&mut self, a: Announcement) -> u32 {
        self.0.intern(a)
    }

    /// Entry `entry` (a route, or a label-set slot) gets `choice` (0: not announced).
    pub fn set(&mut self, entry: usize, choice: u32) {
        self.0.choice_mut()[entry] = choice;
    }

    /// Every entry gets `choice`.
    pub fn fill(&mut self, choice: u32) {
        self.0.choice_mut().fill(choice);
    }

    /// Sets every entry's choice at once.
    pub fn choices(&mut self, choice: Vec<u32>) {
        self.0.choices(choice);
    }

    pub fn build(self) -> Decisions {
        let (announcements, choice) = self.0.build();
        Decisions {
            announcements,
            choice,
        }
    }
}

impl Decisions {
    /// How route `route` of `batch` is announced, or `None` if it is not.
    pub fn get(&self, batch: &Batch, route: usize) -> Option<&Announcement> {
        let k = self.choice.of(batch, route).checked_sub(1)?;
        self.announcements.get(k as usize)
    }
}

/// Builds [`Tagging`]: every entry starts unchanged; equal tag sets (with the same rule name)
/// share one entry. Entries are routes or label-set slots, as in [`DecisionsBuilder`].
pub struct TaggingBuilder(Outcomes<TagSet>);

impl TaggingBuilder {
    /// One entry per route, for a batch of `routes` routes.
    pub fn new(routes: usize) -> Self {
        TaggingBuilder(Outcomes::new(routes, false))
    }

    /// One entry per label set and family, for a batch of `sets` label sets
    /// ([`Batch::set_count`]); see [`label_set_slot`].
    pub fn per_label_set(sets: usize) -> Self {
        TaggingBuilder(Outcomes::new(sets * 2, true))
    }

    /// The choice value (1-based) for the set `tags`; an empty set is 0 (unchanged).
    pub fn set_of(&mut self, tags: Vec<Tag>) -> u32 {
        if tags.is_empty() {
            return 0;
        }
        self.0.intern(TagSet { tags, rule: None })
    }

    /// The choice value (1-based) for the set `tags`, named after the rule that chose it
    /// (see [`Announcement::with_rule`]). Even an empty set gets an entry, so the routes a rule
    /// left untagged are still counted under it.
    pub fn rule_set(&mut self, rule: impl Into<String>, tags: Vec<Tag>) -> u32 {
        let rule = Some(rule.into());
        self.0.intern(TagSet { tags, rule })
    }

    pub fn set(&mut self, entry: usize, choice: u32) {
        self.0.choice_mut()[entry] = choice;
    }

    pub fn choices(&mut self, choice: Vec<u32>) {
        self.0.choices(choice);
    }

    pub fn build(self) -> Tagging {
        let (sets, choice) = self.0.build();
        Tagging { sets, choice }
    }
}

impl Tagging {
    /// The tags of route `route` of `batch` (empty if unchanged).
    pub fn tags_of(&self, batch: &Batch, route: usize) -> &[Tag] {
        self.set_of(batch, route).map_or(&[], |s| s.tags.as_slice())
    }

    /// The rule that tagged route `route` of `batch`, if it was named.
    pub fn rule_of(&self, batch: &Batch, route: usize) -> Option<&str> {
        self.set_of(batch, route)?.rule.as_deref()
    }

    fn set_of(&self, batch: &Batch, route: usize) -> Option<&TagSet> {
        let k = self.choice.of(batch, route).checked_sub(1)?;
        self.sets.get(k as usize)
    }
}

/// Logs through the host. Natively (unit tests) the line goes to stderr and to
/// [`take_logs`], since calling the real import outside the host would abort the test.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::announce::gracewire::policy::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    native_log::push(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
mod native_log {
    use crate::Level;
    use std::cell::RefCell;

    thread_local! {
        pub static LINES: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub fn push(level: Level, message: &str) {
        eprintln!("[plugin {level:?}] {message}");
        LINES.with(|l| l.borrow_mut().push((level, message.to_string())));
    }
}

/// Lines logged on this thread so far (native builds only), for asserting in unit tests.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_logs() -> Vec<(Level, String)> {
    native_log::LINES.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_down_only_when_the_hosts_health_label_says_so() {
        let b = BatchBuilder::default()
            .route("198.51.100.1/32", &[(HEALTH_LABEL, "down"), ("pool", "a")])
            .route("198.51.100.2/32", &[(HEALTH_LABEL, "up"), ("pool", "a")])
            .route("198.51.100.3/32", &[("pool", "a")])
            .build();
        let down: Vec<bool> = (0..3).map(|r| b.set_is_down(b.label_set(r))).collect();
        assert_eq!(down, [true, false, false]);
    }

    fn batch() -> Batch {
        BatchBuilder::default()
            .route("198.51.100.1/32", &[("pool", "a"), ("service", "web")])
            .route("198.51.100.2/32", &[("pool", "b")])
            .route("2001:db8::1/128", &[("pool", "a"), ("service", "web")])
            .route("198.51.100.3/32", &[("pool", "a"), ("service", "web")])
            .route("198.51.100.4/32", &[])
            .build()
    }

    #[test]
    fn equal_labels_share_one_set() {
        let b = batch();
        assert_eq!(b.set_count(), 3);
        assert_eq!(b.label_set, vec![0, 1, 0, 0, 2]);
        assert_eq!(b.label(3, "service"), Some("web"));
        assert_eq!(b.label(1, "service"), None);
        assert_eq!(b.labels_of(4).count(), 0);
        assert_eq!(b.prefix(2).to_string(), "2001:db8::1/128");
    }

    #[test]
    fn selectors_match_label_sets_by_id() {
        let b = batch();
        let any = LabelSelector::new();
        assert!((0..3).all(|s| any.matches(&b, s)));
        let pool_a = LabelSelector::new().one_of(&b, "pool", &["a", "c"]);
        assert_eq!(
            (0..3).map(|s| pool_a.matches(&b, s)).collect::<Vec<_>>(),
            [true, false, false]
        );
        let web_b = LabelSelector::new()
            .one_of(&b, "pool", &["b"])
            .one_of(&b, "service", &["web"]);
        assert!((0..3).all(|s| !web_b.matches(&b, s)), "no set has both");
        let unknown = LabelSelector::new().one_of(&b, "pool", &["zzz"]);
        assert!((0..3).all(|s| !unknown.matches(&b, s)));
        let no_values: &[&str] = &[];
        let empty = LabelSelector::new().one_of(&b, "pool", no_values);
        assert!(empty.matches(&b, 2), "an empty list selects anything");
    }

    #[test]
    fn per_label_set_answers_name_each_route_by_set_and_family() {
        let b = batch();
        assert_eq!(b.label_set_slots(), 6);
        let mut d = DecisionsBuilder::per_label_set(b.set_count());
        let a = d.announcement(announce_as_configured());
        d.set(label_set_slot(0, false), a);
        let d = d.build();
        assert_eq!(d.choice.for_routes(&b), vec![1, 0, 0, 1, 0]);
        assert!(d.get(&b, 3).is_some() && d.get(&b, 2).is_none());
    }

    #[test]
    fn a_set_index_the_batch_does_not_define_reads_as_none() {
        let mut b = batch();
        b.label_set[1] = 99;
        let d = Choices::PerLabelSet(vec![1; 6]);
        assert_eq!(d.for_routes(&b), vec![1, 0, 1, 1, 1]);
        assert_eq!(b.labels_of(1).count(), 0, "no labels, no panic");
    }

    #[test]
    fn builders_start_with_nothing_chosen_and_share_outcomes() {
        let mut d = DecisionsBuilder::new(3);
        let a = d.announcement(announce_as_configured());
        assert_eq!(d.announcement(announce_as_configured()), a);
        d.set(2, a);
        let d = d.build();
        assert_eq!(d.choice, Choices::PerRoute(vec![0, 0, 1]));
        assert_eq!(d.announcements.len(), 1);
        let t = TaggingBuilder::new(2).build();
        assert_eq!(t.choice, Choices::PerRoute(vec![0, 0]));
        assert!(t.tags_of(&batch(), 1).is_empty());
    }

    #[test]
    fn rule_names_are_checked_and_joined_within_the_hosts_limit() {
        check_rule_name("public web").unwrap();
        assert!(check_rule_name("").is_err());
        assert!(check_rule_name("a\tb").unwrap_err().contains("control"));
        assert!(check_rule_name(&"x".repeat(129)).is_err());
        assert_eq!(joined_rule_name(["a", "b"]).as_deref(), Some("a+b"));
        assert_eq!(joined_rule_name([]), None);
        let long = joined_rule_name(["é".repeat(50).as_str(), &"z".repeat(50)]).unwrap();
        assert!(
            long.len() <= MAX_RULE_NAME && long.ends_with("..."),
            "{long}"
        );
        check_rule_name(&long).unwrap();
    }

    #[test]
    fn a_rule_name_keeps_outcomes_apart_and_reads_back_per_route() {
        let mut d = DecisionsBuilder::new(3);
        let gold = d.announcement(announce_as_configured().with_rule("gold"));
        let plain = d.announcement(announce_as_configured());
        assert_ne!(
            gold, plain,
            "same attributes, another rule: another outcome"
        );
        d.choices(vec![gold, plain, 0]);
        let d = d.build();
        let b = batch();
        assert_eq!(d.get(&b, 0).and_then(|a| a.rule.as_deref()), Some("gold"));
        assert_eq!(d.get(&b, 1).and_then(|a| a.rule.as_deref()), None);

        let tag = Tag {
            kind: crate::communities::TagKind::AddStandard,
            a: 1,
            b: 0,
            c: 0,
            ext: 0,
        };
        let mut t = TaggingBuilder::new(3);
        let web = t.rule_set("web", vec![tag]);
        let none = t.rule_set("none", vec![]);
        assert_ne!(none, 0, "a named empty set still counts under its rule");
        assert_eq!(t.set_of(vec![tag]), web + 2, "unnamed: its own entry");
        t.choices(vec![web, none, 0]);
        let t = t.build();
        assert_eq!(t.rule_of(&b, 0), Some("web"));
        assert_eq!(t.tags_of(&b, 0), &[tag]);
        assert_eq!(t.rule_of(&b, 1), Some("none"));
        assert!(t.tags_of(&b, 1).is_empty());
        assert_eq!(t.rule_of(&b, 2), None);
    }
}
