//! Reading a config with many `[[announce]]` entries a chunk at a time.
//!
//! The `toml` crate deserializes through a full document (every value with its spans and
//! formatting), about 25 times the size of the text: a 10 MB config with 100k announcements
//! peaked at ~270 MiB while it was read. No maintained TOML crate streams an array of tables,
//! so a big config is split here instead: the `[[announce]]` entries are cut out (the rest of
//! the file is parsed with them blanked), and read in chunks of [`CHUNK`] entries, each its own
//! small document. Byte offsets and line numbers stay those of the file.
//!
//! The split is by header lines, so it is only used where that is unambiguous: no multi-line
//! strings (whose lines could look like headers) and no quoted table names. Anything else, and
//! every config with fewer than [`CHUNKED_FROM`] announcements, is parsed whole.

use std::ops::Range;

/// Configs with at least this many `[[announce]]` entries are read in chunks.
pub const CHUNKED_FROM: usize = 4096;
/// Entries per chunk.
pub const CHUNK: usize = 512;

/// The byte range of every `[[announce]]` entry (its header line up to the next header that
/// starts another entry or another table; `[announce.x]` sub-tables stay with their entry),
/// or `None` when the text cannot be split by header lines safely.
pub fn announce_entries(text: &str) -> Option<Vec<Range<usize>>> {
    if text.contains("\"\"\"") || text.contains("'''") {
        return None;
    }
    let mut entries: Vec<Range<usize>> = Vec::new();
    let mut open: Option<usize> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let Some(header) = header(line) else {
            continue;
        };
        if header.name.contains(['"', '\'']) {
            return None;
        }
        let announce = header.name == "announce" || header.name.starts_with("announce.");
        if announce && !header.array_of_tables && header.name == "announce" {
            // `[announce]`: not an array of tables; let the parser say what is wrong.
            return None;
        }
        if announce && !(header.array_of_tables && header.name == "announce") {
            continue; // a sub-table of the open entry
        }
        if let Some(s) = open.take() {
            entries.push(s..start);
        }
        if announce {
            open = Some(start);
        }
    }
    if let Some(s) = open {
        entries.push(s..text.len());
    }
    Some(entries)
}

struct Header {
    name: String,
    array_of_tables: bool,
}

/// `line` as a table header (`[a.b]` or `[[a.b]]`, spaces allowed around names, a comment
/// after), or `None`.
fn header(line: &str) -> Option<Header> {
    let line = line.trim_start();
    if !line.starts_with('[') {
        return None;
    }
    let line = line.split('#').next().unwrap_or("").trim_end();
    let (inner, array_of_tables) =
        if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            (inner, true)
        } else {
            (line.strip_prefix('[')?.strip_suffix(']')?, false)
        };
    // A line of a multi-line array (`[1, 2],`) is no header: names hold no commas or brackets.
    if inner.contains([',', '[', ']', '=']) {
        return None;
    }
    let name: Vec<&str> = inner.split('.').map(str::trim).collect();
    Some(Header {
        name: name.join("."),
        array_of_tables,
    })
}

/// `text` with the bytes of `ranges` turned into spaces (line breaks kept), so offsets and line
/// numbers of what is left are unchanged. Ranges start and end at line starts.
pub fn blank(text: &str, ranges: &[Range<usize>]) -> String {
    let mut text = text.to_string();
    blank_in_place(&mut text, ranges);
    text
}

/// [`blank`] without a copy.
pub fn blank_in_place(text: &mut String, ranges: &[Range<usize>]) {
    let mut bytes = std::mem::take(text).into_bytes();
    for r in ranges {
        for b in &mut bytes[r.clone()] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    *text = String::from_utf8(bytes).expect("only whole lines are blanked");
}

/// The text of `entries` (consecutive in the file, maybe with other tables between them) as
/// one document, and where it starts in the file: the slice from the first entry to the end
/// of the last, with anything between entries blanked.
pub fn chunk_text(text: &str, entries: &[Range<usize>]) -> (String, usize) {
    let (start, end) = (entries[0].start, entries[entries.len() - 1].end);
    let gaps: Vec<Range<usize>> = entries
        .windows(2)
        .filter(|w| w[0].end < w[1].start)
        .map(|w| w[0].end - start..w[1].start - start)
        .collect();
    let slice = &text[start..end];
    let chunk = if gaps.is_empty() {
        slice.to_string()
    } else {
        blank(slice, &gaps)
    };
    (chunk, start)
}

/// A field path of a chunk (`announce[3].prefix`) as a path of the whole file, where the
/// chunk's first entry is entry `base`.
pub fn shift_field(field: &str, base: usize) -> String {
    let Some(rest) = field.strip_prefix("announce[") else {
        return field.to_string();
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return field.to_string();
    };
    match index.parse::<usize>() {
        Ok(i) => format!("announce[{}]{tail}", i + base),
        Err(_) => field.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[global]\nasn = 1\n\n[[announce]]\nprefix = \"a\"\n[announce.labels]\npool = \"x\"\n\n[[ announce ]] # second\nprefix = \"b\"\n[[peers]]\naddress = \"c\"\n[[announce]]\nprefix = \"d\"\n";

    #[test]
    fn entries_run_from_their_header_to_the_next_table() {
        let e = announce_entries(TEXT).unwrap();
        let texts: Vec<&str> = e.iter().map(|r| &TEXT[r.clone()]).collect();
        assert_eq!(
            texts,
            [
                "[[announce]]\nprefix = \"a\"\n[announce.labels]\npool = \"x\"\n\n",
                "[[ announce ]] # second\nprefix = \"b\"\n",
                "[[announce]]\nprefix = \"d\"\n",
            ]
        );
        let rest = blank(TEXT, &e);
        assert_eq!(rest.len(), TEXT.len());
        assert_eq!(rest.lines().count(), TEXT.lines().count());
        assert!(rest.contains("[[peers]]") && !rest.contains("announce"));
        let (chunk, start) = chunk_text(TEXT, &e[1..]);
        assert_eq!(start, e[1].start);
        assert!(chunk.contains("\"b\"") && chunk.contains("\"d\"") && !chunk.contains("peers"));
        assert_eq!(chunk.len(), e[2].end - e[1].start);
    }

    #[test]
    fn what_could_fool_a_line_split_is_left_to_the_parser() {
        assert!(announce_entries("a = \"\"\"\n[[announce]]\n\"\"\"\n").is_none());
        assert!(announce_entries("[[\"announce\"]]\nprefix = \"a\"\n").is_none());
        assert!(announce_entries("[announce]\nprefix = \"a\"\n").is_none());
        // A line of a multi-line array is not a header.
        let text = "[[announce]]\nx = [\n [1, 2],\n]\n[[announce]]\n";
        let e = announce_entries(text).unwrap();
        assert_eq!(e, [0..30, 30..43]);
    }

    #[test]
    fn field_paths_of_a_chunk_are_shifted_to_the_file() {
        assert_eq!(
            shift_field("announce[3].prefix", 2048),
            "announce[2051].prefix"
        );
        assert_eq!(shift_field("announce", 2048), "announce");
        assert_eq!(shift_field("global.asn", 2048), "global.asn");
    }
}
