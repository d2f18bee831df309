//! Halo's UTC timestamps: written with seven fractional digits, read as a client sends them in
//! list filters, and compared on the 100 ns grid the written form can express.

use std::time::{SystemTime, UNIX_EPOCH};

use time::PrimitiveDateTime;
use time::format_description;

/// What a date filter accepts: `YYYY-MM-DDTHH:MM:SS`, optional fraction, optional `Z`; always UTC.
const FILTER_DATE: &str =
    "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][optional [Z]]";

/// `t` as Halo writes it (`2026-04-22T15:20:00.1234567Z`), the format of `common::now_rfc3339`.
pub(super) fn rfc3339(t: SystemTime) -> String {
    format!("{}Z", crate::clock::utc_date_time(ticks(t) * 100, 7))
}

/// A filter date as 100 ns ticks since the epoch, or `None` when it does not parse.
pub(super) fn parse_filter_date(text: &str) -> Option<i128> {
    let description = format_description::parse_borrowed::<3>(FILTER_DATE).ok()?;
    let parsed = PrimitiveDateTime::parse(text.trim(), &description).ok()?;
    Some(parsed.assume_utc().unix_timestamp_nanos().div_euclid(100))
}

/// `t` as 100 ns ticks since the epoch: the precision Halo writes, so a date read back from a
/// ticket's JSON compares equal to the ticket's own last update.
pub(super) fn ticks(t: SystemTime) -> i128 {
    let nanos = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    nanos.div_euclid(100)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn writes_seven_fractional_digits_in_utc() {
        let t = UNIX_EPOCH + Duration::new(1_776_870_000, 123_456_789);
        assert_eq!(rfc3339(t), "2026-04-22T15:00:00.1234567Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.0000000Z");
        let now = crate::sandbox::common::now_rfc3339();
        assert_eq!(rfc3339(SystemTime::now()).len(), now.len());
    }

    #[test]
    fn reads_the_forms_a_client_sends() {
        let whole = ticks(UNIX_EPOCH + Duration::from_secs(1_776_870_000));
        assert_eq!(parse_filter_date("2026-04-22T15:00:00"), Some(whole));
        assert_eq!(parse_filter_date("2026-04-22T15:00:00Z"), Some(whole));
        assert_eq!(
            parse_filter_date("2026-04-22T15:00:00.1234567Z"),
            Some(whole + 1_234_567)
        );
        assert_eq!(
            parse_filter_date("2026-04-22T15:00:00.5"),
            Some(whole + 5_000_000)
        );
        for bad in [
            "",
            "yesterday",
            "2026-04-22",
            "2026-13-01T00:00:00",
            "2026-04-22T15:00:00+02:00",
        ] {
            assert_eq!(parse_filter_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn ticks_agree_with_the_written_form() {
        let t = UNIX_EPOCH + Duration::new(1_776_870_000, 123_456_789);
        assert_eq!(parse_filter_date(&rfc3339(t)), Some(ticks(t)));
        assert_eq!(ticks(UNIX_EPOCH - Duration::from_nanos(1)), -1);
    }
}
