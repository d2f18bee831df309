//! The results table every benchmark ends with: each figure beside its target, then a verdict.

use std::time::Duration;

/// A duration in milliseconds, two decimals.
pub(super) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A results row: figure, value, target, met or missed.
pub(super) struct Row {
    figure: String,
    value: String,
    target: String,
    met: Option<bool>,
}

/// A row; `met` is `None` where the figure has no target to meet.
pub(super) fn row(figure: &str, value: String, target: &str, met: Option<bool>) -> Row {
    Row {
        figure: figure.into(),
        value,
        target: target.into(),
        met,
    }
}

/// Prints the rows as a Markdown table, then the verdict: `ok` false means the bridge
/// misbehaved, which outranks any missed target.
pub(super) fn print(rows: &[Row], ok: bool) {
    println!("\n| figure | value | target | |\n|---|---|---|---|");
    for r in rows {
        let verdict = match r.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "",
        };
        println!("| {} | {} | {} | {verdict} |", r.figure, r.value, r.target);
    }
    let missed: Vec<&str> = rows
        .iter()
        .filter(|r| r.met == Some(false))
        .map(|r| r.figure.trim())
        .collect();
    println!();
    if !ok {
        println!("FAIL: the bridge answered something unexpected (see the answers above)");
    } else if missed.is_empty() {
        println!("every target met");
    } else {
        println!("targets missed: {}", missed.join("; "));
    }
}
