//! Timestamps as Halo writes them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now as Halo writes it: RFC 3339, UTC, seven fractional digits (`2026-04-22T15:20:00.0000000Z`).
pub(crate) fn now_rfc3339() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_rfc3339(since_epoch)
}

fn format_rfc3339(since_epoch: Duration) -> String {
    format!(
        "{}Z",
        crate::clock::utc_date_time(since_epoch.as_nanos() as i128, 7)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_halo_style_timestamps() {
        assert_eq!(
            format_rfc3339(Duration::from_secs(0)),
            "1970-01-01T00:00:00.0000000Z"
        );
        let t = Duration::new(1_776_870_000, 123_456_700);
        assert_eq!(format_rfc3339(t), "2026-04-22T15:00:00.1234567Z");
        assert_eq!(
            format_rfc3339(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.0000000Z"
        );
    }
}
