//! Reading the file: the TOML parser with errors at `file:line:column` naming the field, big
//! configs' `[[announce]]` entries in chunks over every core ([`super::chunks`]), then the
//! checks of [`super::validate`].

use super::validate::{self, Invalid};
use super::{chunks, Announce, AnnounceAttrs, Config};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// A config error with its place: `file:line:column: field: message`.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Deserializes `text`; an error carries the parser's span, the field path and the message.
fn deserialize<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
        // `Spanned` adds a private segment to the path; operators should not see it.
        let field = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let inner = e.into_inner();
        let field = if field == "." { String::new() } else { field };
        (inner.span(), field, inner.message().to_string())
    })
}

/// The `[[announce]]` entries of one chunk of a big config (see [`chunks`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnounceChunk {
    #[serde(default)]
    announce: Vec<Spanned<Announce>>,
}

/// Makes announcements that say the same share one [`AnnounceAttrs`]. Configs with many
/// announcements repeat a few label sets (pools, services) and next hops; a copy of their own
/// would cost each announcement several allocations, ~700 bytes with its label map.
#[derive(Default)]
struct AttrsSharer(HashSet<Arc<AnnounceAttrs>>);

impl AttrsSharer {
    fn share(&mut self, attrs: &mut Arc<AnnounceAttrs>) {
        match self.0.get(attrs) {
            Some(s) => *attrs = s.clone(),
            None => {
                self.0.insert(attrs.clone());
            }
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn error_at(
    text: &str,
    path: &Path,
    span: Option<Range<usize>>,
    field: String,
    message: String,
) -> ConfigError {
    let (line, column) = span.map_or((0, 0), |s| line_col(text, s.start));
    ConfigError {
        file: path.to_owned(),
        line,
        column,
        field,
        message,
    }
}

/// The `[[announce]]` entries at `entries`, read [`chunks::CHUNK`] at a time, the chunks spread
/// over the cores (TOML parsing is most of a restart's time with 100k announcements: ~1 s on
/// one core of the CI machine).
fn announce_chunks(
    text: &str,
    path: &Path,
    entries: &[Range<usize>],
    sharer: &mut AttrsSharer,
) -> Result<Vec<Spanned<Announce>>, ConfigError> {
    let parse = |k: usize,
                 group: &[Range<usize>],
                 sharer: &mut AttrsSharer|
     -> Result<Vec<Spanned<Announce>>, ConfigError> {
        let (chunk, offset) = chunks::chunk_text(text, group);
        let shift = |s: Range<usize>| s.start + offset..s.end + offset;
        let part: AnnounceChunk = deserialize(&chunk).map_err(|(span, field, msg)| {
            let field = chunks::shift_field(&field, k * chunks::CHUNK);
            error_at(text, path, span.map(shift), field, msg)
        })?;
        Ok(part
            .announce
            .into_iter()
            .map(|a| {
                let mut a = Spanned::new(shift(a.span()), a.into_inner());
                sharer.share(&mut a.get_mut().attrs);
                a
            })
            .collect())
    };
    let groups: Vec<&[Range<usize>]> = entries.chunks(chunks::CHUNK).collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(groups.len())
        .max(1);
    // Each entry is read into its own slot, so the result is built where it will stay (no
    // second copy of 100k entries while they are put in order).
    let mut slots: Vec<Option<Spanned<Announce>>> = (0..entries.len()).map(|_| None).collect();
    type Chunk<'a> = (
        usize,
        &'a [Range<usize>],
        &'a mut [Option<Spanned<Announce>>],
    );
    let mut work: Vec<Vec<Chunk>> = (0..workers).map(|_| Vec::new()).collect();
    for (k, (group, slot)) in groups
        .iter()
        .zip(slots.chunks_mut(chunks::CHUNK))
        .enumerate()
    {
        work[k % workers].push((k, group, slot));
    }
    let mut errors: Vec<(usize, ConfigError)> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .into_iter()
            .map(|mine| {
                let parse = &parse;
                scope.spawn(move || {
                    // Its own sharer: a chunk's entries hold few distinct settings between them.
                    let mut sharer = AttrsSharer::default();
                    let mut errors = Vec::new();
                    for (k, group, slot) in mine {
                        match parse(k, group, &mut sharer) {
                            Ok(read) if read.len() == slot.len() => {
                                for (s, a) in slot.iter_mut().zip(read) {
                                    *s = Some(a);
                                }
                            }
                            Ok(_) => errors.push((
                                k,
                                error_at(
                                    text,
                                    path,
                                    group.first().cloned(),
                                    "announce".into(),
                                    "an [[announce]] entry could not be told from the next".into(),
                                ),
                            )),
                            Err(e) => errors.push((k, e)),
                        }
                    }
                    errors
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a config chunk parser panicked"))
            .collect()
    });
    // The first error in the file, as a reading from the top would have met it.
    errors.sort_by_key(|(k, _)| *k);
    if let Some((_, e)) = errors.into_iter().next() {
        return Err(e);
    }
    Ok(slots
        .into_iter()
        .map(|a| {
            let mut a = a.expect("every entry read");
            sharer.share(&mut a.get_mut().attrs);
            a
        })
        .collect())
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let config = Config::parse_owned(text, path, chunks::CHUNKED_FROM);
        // The parser's document is gone; its pages would otherwise stay with the process.
        crate::heap::release_free_memory();
        config
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::parse_with(text, path, chunks::CHUNKED_FROM)
    }

    /// [`parse`](Self::parse), reading `[[announce]]` entries in chunks from `chunked_from`
    /// entries on (tests and fuzzing use small thresholds to reach the chunked path).
    pub fn parse_with(text: &str, path: &Path, chunked_from: usize) -> Result<Config, ConfigError> {
        Config::parse_owned(text.to_owned(), path, chunked_from)
    }

    fn parse_owned(
        mut text: String,
        path: &Path,
        chunked_from: usize,
    ) -> Result<Config, ConfigError> {
        let mut sharer = AttrsSharer::default();
        // Announcements in chunks first, then the rest of the file with them blanked in place:
        // a blanked copy held the text twice (11 MB more at 100k announcements).
        let entries = chunks::announce_entries(&text).filter(|e| e.len() >= chunked_from);
        let chunked = match &entries {
            Some(entries) => {
                let announce = announce_chunks(&text, path, entries, &mut sharer)?;
                chunks::blank_in_place(&mut text, entries);
                Some(announce)
            }
            None => None,
        };
        drop(entries);
        let text = text;
        let at = |(span, field, message): Invalid| error_at(&text, path, span, field, message);
        let mut config: Config = deserialize(&text).map_err(at)?;
        match chunked {
            None => {
                for a in &mut config.announce {
                    sharer.share(&mut a.get_mut().attrs);
                }
            }
            Some(announce) => {
                if let Some(a) = config.announce.first() {
                    return Err(at((
                        Some(a.span()),
                        "announce".into(),
                        "announcements are given both as [[announce]] tables and as an array"
                            .into(),
                    )));
                }
                config.announce = announce;
            }
        }
        validate::validate(&config).map_err(at)?;
        validate::resolve_files(&mut config, path, &text).map_err(at)?;
        Ok(config)
    }
}
