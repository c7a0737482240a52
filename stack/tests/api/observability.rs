//! Observability (DESIGN §16): the JSON access lines of one call in all three services share its
//! request id and trace id, no secret of a whole journey reaches a log line (the real binaries,
//! `logs`), and every metric family is exposed on a listener of its own, passes `promtool`, is
//! scraped by a real Prometheus and backs the dashboard (`metrics`). Tools that are missing
//! (the built binaries, Debian's `prometheus` package) skip a test with a printed reason, except
//! under `CI=true`, where they fail it.

mod logs;
mod metrics;

use std::path::PathBuf;
use std::time::Duration;

/// How long a test waits for a line to be written or a scrape to happen.
const DEADLINE: Duration = Duration::from_secs(60);

/// `path` if it exists; otherwise `None` with a printed reason, or a failure when `CI=true`.
fn required(path: PathBuf, why: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{} must exist when CI=true: {why}", path.display());
    }
    eprintln!(
        "skipping an observability test: {} is missing ({why})",
        path.display()
    );
    None
}

/// A program on `PATH`, as [`required`] treats files.
fn required_program(name: &str, why: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    required(found.unwrap_or_else(|| PathBuf::from(name)), why)
}

/// One sample of an exposition: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The samples of a Prometheus text exposition (enough of the format for this codebase's
/// label values, which hold no `",`).
fn samples(exposition: &str) -> Vec<Sample> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .expect("a sample line ends with its value");
            let value = value.parse().expect("a sample's value is a number");
            let Some((name, labels)) = series.split_once('{') else {
                return Sample {
                    name: series.to_owned(),
                    labels: Vec::new(),
                    value,
                };
            };
            let labels = labels
                .strip_suffix('}')
                .expect("labels end with }")
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").expect("label=\"value\"");
                    (key.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value,
            }
        })
        .collect()
}

/// The sum of the samples named `name` whose labels include `labels`.
fn total(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(exposition)
        .iter()
        .filter(|sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.label(key) == Some(value))
        })
        .map(|sample| sample.value)
        .sum()
}

#[test]
fn the_exposition_reader_reads_labels_with_braces() {
    let text = "# HELP x y\nhttp_requests_total{method=\"GET\",route=\"/api/{*path}\",status=\"200\"} 3\nup 1\n";
    assert_eq!(
        total(
            text,
            "http_requests_total",
            &[("route", "/api/{*path}"), ("status", "200")]
        ),
        3.0
    );
    assert_eq!(total(text, "up", &[]), 1.0);
    assert_eq!(
        total(text, "http_requests_total", &[("status", "500")]),
        0.0
    );
}
