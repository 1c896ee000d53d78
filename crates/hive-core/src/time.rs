//! Minimal RFC 3339 / ISO 8601 parsing without a date crate.

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parse `2024-01-31`, `2024-01-31T23:59:59`, `...Z`, `...+02:00`, with
/// optional fractional seconds, into epoch milliseconds (UTC when no
/// offset is given).
pub fn parse_datetime_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)? as u32, num(8, 2)? as u32);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) as f64 * 86_400_000.0;
    if b.len() == 10 {
        return Some(ms);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 {
        return None;
    }
    let (h, mi) = (num(11, 2)?, num(14, 2)?);
    let mut i = 16;
    let mut sec = 0.0;
    if b.get(i) == Some(&b':') {
        sec = num(17, 2)? as f64;
        i = 19;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            let frac: f64 = format!("0.{}", s.get(start..end)?).parse().ok()?;
            sec += frac;
            i = end;
        }
    }
    if h > 23 || mi > 59 || sec >= 61.0 {
        return None;
    }
    ms += (h * 3_600_000 + mi * 60_000) as f64 + sec * 1000.0;
    match b.get(i) {
        None => Some(ms),
        Some(b'Z' | b'z') if i + 1 == b.len() => Some(ms),
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let off = (num(i + 1, 2)? * 60 + num(i + 4, 2)?) as f64 * 60_000.0;
            Some(if *sign == b'+' { ms - off } else { ms + off })
        }
        _ => None,
    }
}

/// `30s`, `15m`, `24h`, `7d`, `4w` → milliseconds.
pub fn parse_relative_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    // The unit is the last character, which may not be ASCII in bad input.
    let (at, _) = s.char_indices().next_back()?;
    let (n, unit) = s.split_at(at);
    let n: f64 = n.trim().parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        "w" => 604_800_000.0,
        _ => return None,
    };
    // At most a century: more overflows a date (it was taken as "since
    // the dawn of time" for 99999999999999999999d).
    let ms = n * unit_ms;
    (n >= 0.0 && ms <= MAX_RELATIVE_MS).then_some(ms)
}

/// The longest relative range: 100 years.
pub const MAX_RELATIVE_MS: f64 = 100.0 * 365.25 * 86_400_000.0;

#[test]
fn a_relative_range_ending_in_a_multibyte_character_is_refused_not_a_panic() {
    // Regression: found by the dashboard URL property test (`¡` panicked).
    assert_eq!(parse_relative_ms("¡"), None);
    assert_eq!(parse_relative_ms("7¡"), None);
    assert_eq!(parse_relative_ms("7d"), Some(7.0 * 86_400_000.0));
}

#[test]
fn a_relative_range_past_a_century_is_refused() {
    // Regression: the reliability suite's corpus (`99999999999999999999d`
    // and `infd` were accepted as ranges reaching before any date).
    assert_eq!(parse_relative_ms("99999999999999999999d"), None);
    assert_eq!(parse_relative_ms("infd"), None);
    assert_eq!(parse_relative_ms("NaNd"), None);
    assert_eq!(parse_relative_ms("5200w"), Some(5200.0 * 604_800_000.0));
    assert_eq!(parse_relative_ms("5300w"), None);
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let cases = [
            ("1970-01-01", Some(0.0)),
            ("1970-01-01T00:00:01Z", Some(1000.0)),
            ("2024-01-31T23:59:59Z", Some(1_706_745_599_000.0)),
            ("2024-01-31T23:59:59.5Z", Some(1_706_745_599_500.0)),
            ("2024-02-01T01:59:59+02:00", Some(1_706_745_599_000.0)),
            ("2026-11-21T09:26:41.516473", Some(1_795_253_201_516.473)),
            ("2024-13-01", None),
            ("yesterday", None),
            ("2024-01-31T25:00:00Z", None),
        ];
        for (s, want) in cases {
            let got = parse_datetime_ms(s);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 0.01, "{s}: {g} != {w}"),
                _ => assert_eq!(got, want, "{s}"),
            }
        }
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 19_000, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(
            format_rfc3339_ms(1_706_745_599_500),
            "2024-01-31T23:59:59.500Z"
        );
    }

    #[test]
    fn relative() {
        assert_eq!(parse_relative_ms("7d"), Some(604_800_000.0));
        assert_eq!(parse_relative_ms("15m"), Some(900_000.0));
        assert_eq!(parse_relative_ms("x"), None);
        assert_eq!(parse_relative_ms(""), None);
    }
}
