//! Proleptic Gregorian calendar arithmetic for the RTC: Unix seconds to and from a broken-down
//! date and time (the "days from civil" algorithm: 400-year eras of 146097 days, years
//! starting in March so that the leap day is the era's last).

/// Seconds in a day.
const DAY: i64 = 86_400;

/// A date and time of day, UTC. Fields may be out of range after a guest writes them; the
/// conversion to seconds carries the excess over (day 31 of February is the 3rd of March).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DateTime {
    /// The year, e.g. 2026.
    pub year: i64,
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
    /// 0-23.
    pub hour: u8,
    /// 0-59.
    pub minute: u8,
    /// 0-59.
    pub second: u8,
}

impl DateTime {
    /// The date and time `unix` seconds after 1970-01-01T00:00:00Z.
    pub fn from_unix(unix: i64) -> Self {
        let (days, secs) = (unix.div_euclid(DAY), unix.rem_euclid(DAY));
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
        }
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn to_unix(self) -> i64 {
        let days =
            days_from_civil(self.year, self.month.clamp(1, 12), 1).saturating_add(i64::from(self.day) - 1);
        let time = i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second);
        days.saturating_mul(DAY).saturating_add(time)
    }

    /// Day of the week, 0 = Sunday.
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (4).
        (self.to_unix().div_euclid(DAY) + 4).rem_euclid(7) as u8
    }
}

/// Days from 1970-01-01 to `year-month-day` (month 1-12).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    // Years beyond ±10^12 are clamped (a guest can only reach them through a huge start time).
    let year = year.clamp(-1_000_000_000_000, 1_000_000_000_000);
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // 2026-01-01T00:00:00Z = 20454 days after the epoch (56 years, 14 leap days).
        let t = DateTime { year: 2026, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
        assert_eq!(t.to_unix(), 20_454 * 86_400);
        assert_eq!(DateTime::from_unix(1_767_225_600), t);
        assert_eq!(t.weekday(), 4, "a Thursday");
        // 2000-02-29 exists (divisible by 400), 2100-02-29 does not.
        let leap = DateTime { year: 2000, month: 2, day: 29, hour: 12, minute: 0, second: 0 };
        assert_eq!(DateTime::from_unix(leap.to_unix()), leap);
        let d = DateTime::from_unix(DateTime { year: 2100, month: 2, day: 29, ..leap }.to_unix());
        assert_eq!((d.month, d.day), (3, 1));
        assert_eq!(DateTime::from_unix(0).weekday(), 4);
        assert_eq!(
            DateTime::from_unix(-1),
            DateTime { year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59 }
        );
    }
}
