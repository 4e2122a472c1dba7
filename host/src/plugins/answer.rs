//! Reading and checking the `choices` of a plugin's answer against the batch it was made for.
//!
//! An answer names each route's outcome either per route or per label set and family; the
//! host fans the second out here, in native code, so a label-only policy does no per-route
//! work in the sandbox.

use super::bindings::communities_api;
use super::bindings::types::{Batch, Choices};

/// Where a label set and family's entry sits in a `per-label-set` answer.
pub fn label_set_slot(set: u32, v6: u8) -> usize {
    set as usize * 2 + (v6 != 0) as usize
}

/// Each route's choice (0: none), in batch order. The choices must have passed [`check`].
pub fn route_choices<'a>(
    choices: &'a Choices,
    batch: &'a Batch,
) -> impl ExactSizeIterator<Item = u32> + 'a {
    let (per_route, per_set): (&[u32], &[u32]) = match choices {
        Choices::PerRoute(c) => (c, &[]),
        Choices::PerLabelSet(c) => (&[], c),
    };
    (0..batch.prefix_len.len()).map(move |i| match per_route.get(i) {
        Some(c) => *c,
        None => per_set[label_set_slot(batch.label_set[i], batch.v6[i])],
    })
}

/// Checks that `choices` has one entry per route (or per label set and family) and that each
/// names one of `outcomes` outcomes. The message names the first bad entry.
pub fn check(choices: &Choices, batch: &Batch, outcomes: usize, what: &str) -> Result<(), String> {
    let (entries, expected, unit) = match choices {
        Choices::PerRoute(c) => (c, batch.prefix_len.len(), "routes"),
        Choices::PerLabelSet(c) => (
            c,
            batch.set_start.len().saturating_sub(1) * 2,
            "label-set slots",
        ),
    };
    if entries.len() != expected {
        return Err(format!("{} choices for {expected} {unit}", entries.len()));
    }
    // The maximum first, since that loop vectorises; the position only when there is one.
    let max = entries.iter().copied().max().unwrap_or(0);
    if max as usize <= outcomes {
        return Ok(());
    }
    let (i, c) = entries
        .iter()
        .enumerate()
        .find(|(_, c)| **c as usize > outcomes)
        .expect("the maximum is out of range");
    let entry = match choices {
        Choices::PerRoute(_) => format!("route {i}"),
        Choices::PerLabelSet(_) => format!(
            "label set {} ({})",
            i / 2,
            if i % 2 == 1 { "IPv6" } else { "IPv4" }
        ),
    };
    Err(format!("{entry}: {what} {c} of {outcomes}"))
}

/// The longest rule name an outcome may carry, in bytes: it becomes a metrics label value
/// and a column in `show advertised`.
pub const MAX_RULE_NAME: usize = 128;

/// Checks an outcome's rule name: unset, or 1-[`MAX_RULE_NAME`] bytes without control
/// characters (they would break log lines and the CLI's tables).
/// The octets the communities one tag set adds may take: with 1 KiB left for the other path
/// attributes and a prefix, every UPDATE still fits the 4,096 octets every session has (RFC
/// 4271 §4; Extended Messages, RFC 8654, are not negotiated with every peer). A set past it
/// (768 standard, 256 large or 384 extended communities) is an invalid answer.
pub const MAX_TAG_OCTETS: usize = 3072;

/// A tag set whose additions could not fit an UPDATE is refused (issue 24: ~1,100 communities
/// made every UPDATE too long, and every peer reset the session again and again).
pub fn check_tag_octets(tags: &[communities_api::Tag]) -> Result<(), String> {
    use communities_api::TagKind;
    let octets: usize = tags
        .iter()
        .map(|t| match t.kind {
            TagKind::AddStandard => 4,
            TagKind::AddLarge => 12,
            TagKind::AddExtended => 8,
            TagKind::RemoveStandard | TagKind::RemoveLarge | TagKind::RemoveExtended => 0,
        })
        .sum();
    if octets > MAX_TAG_OCTETS {
        crate::bounds::reached(crate::bounds::Limit::PluginTags, "a plugin's tag set");
        return Err(format!(
            "adds {octets} octets of communities, over the {MAX_TAG_OCTETS} an UPDATE leaves them"
        ));
    }
    Ok(())
}

pub fn check_rule(rule: Option<&str>) -> Result<(), String> {
    let Some(rule) = rule else { return Ok(()) };
    if rule.is_empty() {
        return Err("an empty rule name (leave it unset instead)".into());
    }
    if rule.len() > MAX_RULE_NAME {
        let start: String = rule.chars().take(20).collect();
        return Err(format!(
            "rule name `{start}...` is {} bytes, over {MAX_RULE_NAME}",
            rule.len()
        ));
    }
    if rule.chars().any(char::is_control) {
        return Err(format!("rule name {rule:?} has a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_short_printable_and_not_empty() {
        check_rule(None).unwrap();
        check_rule(Some("pool public → tor1")).unwrap();
        check_rule(Some(&"x".repeat(MAX_RULE_NAME))).unwrap();
        assert!(check_rule(Some("")).unwrap_err().contains("empty"));
        let long = check_rule(Some(&"y".repeat(MAX_RULE_NAME + 1))).unwrap_err();
        assert!(long.contains("129 bytes, over 128"), "{long}");
        let ctl = check_rule(Some("a\nb")).unwrap_err();
        assert!(ctl.contains("control character"), "{ctl}");
    }

    /// Routes: set 0 v4, set 1 v4, set 0 v6.
    fn batch() -> Batch {
        Batch {
            labels: Vec::new(),
            set_labels: Vec::new(),
            set_start: vec![0, 0, 0],
            label_set: vec![0, 1, 0],
            addr_hi: vec![0, 0, 1],
            addr_lo: vec![1, 2, 3],
            prefix_len: vec![32, 32, 128],
            v6: vec![0, 0, 1],
        }
    }

    #[test]
    fn per_route_choices_are_read_as_they_are() {
        let c = Choices::PerRoute(vec![1, 0, 2]);
        check(&c, &batch(), 2, "announcement").unwrap();
        assert_eq!(route_choices(&c, &batch()).collect::<Vec<_>>(), [1, 0, 2]);
    }

    #[test]
    fn per_label_set_choices_fan_out_by_set_and_family() {
        // slots: set0 v4, set0 v6, set1 v4, set1 v6
        let c = Choices::PerLabelSet(vec![1, 2, 0, 3]);
        check(&c, &batch(), 3, "announcement").unwrap();
        assert_eq!(route_choices(&c, &batch()).collect::<Vec<_>>(), [1, 0, 2]);
    }

    #[test]
    fn wrong_lengths_and_indices_are_named() {
        let b = batch();
        let e = check(&Choices::PerRoute(vec![0, 0]), &b, 1, "tag set").unwrap_err();
        assert_eq!(e, "2 choices for 3 routes");
        let e = check(&Choices::PerLabelSet(vec![0; 3]), &b, 1, "tag set").unwrap_err();
        assert_eq!(e, "3 choices for 4 label-set slots");
        let e = check(&Choices::PerRoute(vec![0, 2, 5]), &b, 1, "tag set").unwrap_err();
        assert_eq!(e, "route 1: tag set 2 of 1");
        let e = check(&Choices::PerLabelSet(vec![0, 0, 0, 9]), &b, 2, "x").unwrap_err();
        assert_eq!(e, "label set 1 (IPv6): x 9 of 2");
    }

    #[test]
    fn tag_sets_that_cannot_fit_an_update_are_refused() {
        use communities_api::{Tag, TagKind};
        let tag = |kind| Tag {
            kind,
            a: 65000,
            b: 1,
            c: 2,
            ext: 0,
        };
        let fits = vec![tag(TagKind::AddStandard); MAX_TAG_OCTETS / 4];
        assert!(check_tag_octets(&fits).is_ok());
        let over = vec![tag(TagKind::AddStandard); 1100];
        let err = check_tag_octets(&over).unwrap_err();
        assert!(err.contains("adds 4400 octets"), "{err}");
        // Removals add nothing.
        assert!(check_tag_octets(&vec![tag(TagKind::RemoveLarge); 5000]).is_ok());
    }
}
