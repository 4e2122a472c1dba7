//! README quotes its performance figures from BENCHMARKS.md, which `tests/run-benchmarks.sh`
//! writes whole (issue 29): every figure with a unit (s, ms, µs, MiB, KiB, ×, %) in a README
//! bullet or paragraph that points at BENCHMARKS.md or docs/performance.md must be a number
//! BENCHMARKS.md prints, as printed or rounded to the digits README gives. A figure left from an
//! older run fails here once the benchmarks are run again.

use std::path::Path;

const UNITS: [&str; 8] = ["ms", "µs", "s", "MiB", "KiB", "GiB", "×", "%"];

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A number as written: digits, `,` between thousands, an optional fraction.
fn number_at(text: &[char], mut i: usize) -> Option<(f64, usize, usize)> {
    let start = i;
    let mut digits = String::new();
    let mut decimals = 0;
    while i < text.len() {
        let c = text[i];
        if c.is_ascii_digit() {
            digits.push(c);
            if digits.contains('.') {
                decimals += 1;
            }
        } else if c == ','
            && text
                .get(i + 1..i + 4)
                .is_some_and(|d| d.iter().all(char::is_ascii_digit))
        {
            // A thousands separator: skipped.
        } else if c == '.'
            && !digits.contains('.')
            && text.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            digits.push('.');
        } else {
            break;
        }
        i += 1;
    }
    (i > start).then(|| (digits.parse().unwrap(), decimals, i))
}

/// The figures with a unit in `text`: each value and how many decimals it was given with
/// (both ends of a range `a–b`).
fn figures(text: &str) -> Vec<(String, f64, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let after_word = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let Some((first, d1, mut j)) = (!after_word).then(|| number_at(&chars, i)).flatten() else {
            i += 1;
            continue;
        };
        let mut values = vec![(first, d1)];
        if matches!(chars.get(j), Some('–')) {
            if let Some((second, d2, k)) = number_at(&chars, j + 1) {
                values.push((second, d2));
                j = k;
            }
        }
        let mut u = j;
        if chars.get(u) == Some(&' ') {
            u += 1;
        }
        let rest: String = chars[u..chars.len().min(u + 4)].iter().collect();
        let unit = UNITS.iter().find(|unit| {
            rest.starts_with(*unit)
                && !chars
                    .get(u + unit.chars().count())
                    .is_some_and(|c| c.is_alphanumeric())
        });
        if let Some(unit) = unit {
            let shown: String = chars[i..u + unit.chars().count()].iter().collect();
            for (v, d) in values {
                out.push((shown.clone(), v, d));
            }
        }
        i = j.max(i + 1);
    }
    out
}

/// Every number BENCHMARKS.md prints.
fn printed_numbers(text: &str) -> Vec<f64> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match number_at(&chars, i) {
            Some((v, _, j)) => {
                out.push(v);
                i = j;
            }
            None => i += 1,
        }
    }
    out
}

fn rounds_to(printed: f64, shown: f64, decimals: usize) -> bool {
    let scale = 10f64.powi(decimals as i32);
    ((printed * scale).round() - shown * scale).abs() < 1e-6
}

/// README's bullets and paragraphs that point at the benchmark pages.
fn quoting_blocks(readme: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    let mut in_code = false;
    let mut current = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let starts_block =
            line.trim().is_empty() || line.starts_with("- ") || line.starts_with('|');
        if starts_block && !current.is_empty() {
            blocks.push(std::mem::take(&mut current));
        }
        current.push_str(line);
        current.push('\n');
    }
    blocks.push(current);
    blocks
        .into_iter()
        .filter(|b| b.contains("BENCHMARKS.md") || b.contains("docs/performance.md"))
        .collect()
}

#[test]
fn the_scanner_reads_figures_ranges_and_rounding() {
    let f = figures("in 0.37–0.44 s, 1,000 sessions in 112 ms, 10 sessions, 0.94× and 3.4 s");
    let values: Vec<(f64, usize)> = f.iter().map(|(_, v, d)| (*v, *d)).collect();
    assert_eq!(
        values,
        vec![(0.37, 2), (0.44, 2), (112.0, 0), (0.94, 2), (3.4, 1)]
    );
    assert!(rounds_to(3.381, 3.4, 1) && rounds_to(0.162, 0.16, 2));
    assert!(!rounds_to(3.46, 3.4, 1));
    assert_eq!(
        printed_numbers("gracewire 10 0.753s 1,000 x"),
        vec![10.0, 0.753, 1000.0]
    );
}

#[test]
fn readme_quotes_only_figures_benchmarks_md_prints() {
    let printed = printed_numbers(&repo_file("BENCHMARKS.md"));
    let readme = repo_file("README.md");
    let blocks = quoting_blocks(&readme);
    assert!(!blocks.is_empty(), "README points at no benchmark page");
    let mut missing = Vec::new();
    for block in &blocks {
        for (shown, v, d) in figures(block) {
            if !printed.iter().any(|p| rounds_to(*p, v, d)) {
                missing.push(shown);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README figures BENCHMARKS.md does not print (run the benchmarks and quote them): {missing:?}"
    );
}
