//! Settings of the `Reconcile` timer function (CONTRACT §9, §10.2): its schedule, how long and
//! how much of Halo's budget one run may take, and what it copies from ContraForce to Halo.

use std::time::Duration;

use super::parse::{parse_note_outcome, parse_u64};
use super::source::Source;
use super::{NoteOutcome, SettingsError};

/// Whether and how notes the bridge writes in Halo are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteMode {
    /// `hiddenfromuser: true`.
    Private,
    /// `hiddenfromuser: false`.
    Public,
    /// No note.
    Off,
}

impl NoteMode {
    /// The choices as settings spell them, the default first.
    pub(super) const CHOICES: [(&'static str, NoteMode); 3] = [
        ("private", NoteMode::Private),
        ("public", NoteMode::Public),
        ("off", NoteMode::Off),
    ];
}

/// Settings of the Reconcile function.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// `RECONCILE_SCHEDULE` (read by the Functions host; checked here so a typo is found early).
    pub schedule: String,
    /// `RECONCILE_DEADLINE_SECONDS`: the longest one run may take.
    pub deadline: Duration,
    /// `RECONCILE_BUDGET_SHARE`: the share of `HALO_RATE_LIMIT` runs may use in any window.
    pub budget_share: f64,
    /// `RECONCILE_LOOKBACK_MINUTES`: how far back the first sweep looks.
    pub lookback: Duration,
    /// `RECONCILE_MAX_TICKETS`: most tickets one run checks in ContraForce (0: none).
    pub max_tickets: usize,
    /// `CF_COMMENTS_TO_HALO`.
    pub comments_to_halo: NoteMode,
    /// `HALO_CLOSE_ON_CF_CLOSE`.
    pub close_on_cf_close: bool,
    /// `HALO_PRIVATE_NOTE_OUTCOME`: the outcome of the notes copied to Halo.
    pub note_outcome: NoteOutcome,
    /// `RECONCILE_WATCH_DAYS`: a ticket closed on both sides and idle this long is not watched.
    pub watch_days: Duration,
    /// `RECONCILE_RETRY_SECONDS`: the base of every back-off (a failed item waits base ×
    /// 2^(attempts − 1), an idle watched ticket base × 2^(idle checks), each at most 360 × base).
    pub retry_base: Duration,
    /// `RECONCILE_SWEEP_OVERLAP_SECONDS`: how far before its mark the sweep looks, for clock skew
    /// between Halo and us.
    pub sweep_overlap: Duration,
}

/// An NCRONTAB expression with seconds (six fields), or a `hh:mm:ss` interval.
fn valid_schedule(value: &str) -> bool {
    let fields: Vec<&str> = value.split_whitespace().collect();
    let cron = fields.len() == 6
        && fields.iter().all(|f| {
            f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-'))
        });
    let parts: Vec<&str> = value.split(':').collect();
    let interval = parts.len() == 3
        && parts
            .iter()
            .all(|p| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()));
    cron || interval
}

/// A share of the budget: above 0, at most 1.
fn parse_share(name: &str, value: &str) -> Result<f64, SettingsError> {
    match value.parse::<f64>() {
        Ok(share) if share > 0.0 && share <= 1.0 => Ok(share),
        _ => Err(SettingsError::new(
            name,
            format!("expected a share above 0 and at most 1 such as 0.5, got {value:?}"),
        )),
    }
}

/// A whole number within `range`.
fn bounded(
    src: &mut Source,
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, SettingsError> {
    let value = match src.get(name) {
        Some(v) => parse_u64(name, v)?,
        None => default,
    };
    if !range.contains(&value) {
        return Err(SettingsError::new(
            name,
            format!("must be {}–{}", range.start(), range.end()),
        ));
    }
    Ok(value)
}

/// Reads the Reconcile settings (all have defaults).
pub(super) fn parse(src: &mut Source) -> Result<ReconcileSettings, SettingsError> {
    let schedule = src
        .get("RECONCILE_SCHEDULE")
        .unwrap_or("0 */5 * * * *")
        .to_string();
    if !valid_schedule(&schedule) {
        return Err(SettingsError::new(
            "RECONCILE_SCHEDULE",
            "expected an NCRONTAB expression with six fields such as 0 */5 * * * *, or hh:mm:ss",
        ));
    }
    let deadline = bounded(src, "RECONCILE_DEADLINE_SECONDS", 240, 10..=600)?;
    let budget_share = match src.get("RECONCILE_BUDGET_SHARE") {
        Some(v) => parse_share("RECONCILE_BUDGET_SHARE", v)?,
        None => 0.5,
    };
    let lookback = bounded(src, "RECONCILE_LOOKBACK_MINUTES", 60, 1..=10_080)?;
    let max_tickets = bounded(src, "RECONCILE_MAX_TICKETS", 200, 0..=10_000)?;
    let watch_days = bounded(src, "RECONCILE_WATCH_DAYS", 30, 1..=3650)?;
    let retry_base = bounded(src, "RECONCILE_RETRY_SECONDS", 60, 0..=3600)?;
    let sweep_overlap = bounded(src, "RECONCILE_SWEEP_OVERLAP_SECONDS", 120, 0..=3600)?;
    let comments_to_halo = src.choice("CF_COMMENTS_TO_HALO", &NoteMode::CHOICES)?;
    let close_on_cf_close = src.choice(
        "HALO_CLOSE_ON_CF_CLOSE",
        &[("false", false), ("true", true)],
    )?;
    let note_outcome = parse_note_outcome(
        src.get("HALO_PRIVATE_NOTE_OUTCOME")
            .unwrap_or("Private Note"),
    );
    Ok(ReconcileSettings {
        note_outcome,
        schedule,
        deadline: Duration::from_secs(deadline),
        budget_share,
        lookback: Duration::from_secs(lookback * 60),
        max_tickets: max_tickets as usize,
        comments_to_halo,
        close_on_cf_close,
        watch_days: Duration::from_secs(watch_days * 86_400),
        retry_base: Duration::from_secs(retry_base),
        sweep_overlap: Duration::from_secs(sweep_overlap),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_six_field_ncrontab_or_an_interval() {
        for ok in [
            "0 */5 * * * *",
            "*/10 * * * * *",
            "0 0 9-17 * * Mon-Fri",
            "00:05:00",
        ] {
            assert!(valid_schedule(ok), "{ok}");
        }
        for bad in [
            "*/5 * * * *",
            "every 5 minutes",
            "0 */5 * * * * *",
            "5:00",
            "",
        ] {
            assert!(!valid_schedule(bad), "{bad}");
        }
    }
}
