//! Wall-clock time behind a trait, so signature windows can be tested at fixed instants.

use std::sync::atomic::{AtomicI64, Ordering};

/// `YYYY-MM-DDTHH:MM:SS` of a UTC instant given in nanoseconds since the epoch, with `digits`
/// fractional digits (0–9; truncated), as Halo (7), ContraForce (3) and Halo's list filters (0)
/// write instants.
pub fn utc_date_time(unix_nanos: i128, digits: u32) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(unix_nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let digits = digits.min(9);
    if digits > 0 {
        let fraction = t.nanosecond() / 10u32.pow(9 - digits);
        text.push_str(&format!(".{fraction:0width$}", width = digits as usize));
    }
    text
}

/// Nanoseconds since the epoch now.
pub fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Unix time source.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that says what it is told (tests).
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock stopped at `unix`.
    pub fn at(unix: i64) -> Self {
        Self(AtomicI64::new(unix))
    }

    /// Moves it to `unix`.
    pub fn set(&self, unix: i64) {
        self.0.store(unix, Ordering::Relaxed);
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::utc_date_time;

    #[test]
    fn instants_are_written_to_the_requested_precision() {
        let t = 1_776_870_000_123_456_789i128;
        assert_eq!(utc_date_time(t, 0), "2026-04-22T15:00:00");
        assert_eq!(utc_date_time(t, 3), "2026-04-22T15:00:00.123");
        assert_eq!(utc_date_time(t, 7), "2026-04-22T15:00:00.1234567");
        assert_eq!(utc_date_time(0, 7), "1970-01-01T00:00:00.0000000");
        assert_eq!(
            utc_date_time(951_782_400 * 1_000_000_000, 0),
            "2000-02-29T00:00:00"
        );
    }
}
