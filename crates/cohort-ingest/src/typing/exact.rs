//! Exact readings of text as numbers, truth values and dates: each function returns the value only when the
//! text is that value written plainly, so that storing the value and reading it back gives the
//! same number or date. They are the ground truth of [`super::ValueType::fits`] for integers,
//! decimals, truth values and dates, and run inside DuckDB as scalar functions (see [`super::udf`]).

/// The integer `text` writes: an optional sign and digits, surrounded by optional white space,
/// without leading zeros (`007` is a code), a point, an exponent or a separator, within BIGINT.
pub fn integer(text: &[u8]) -> Option<i64> {
    let t = text.trim_ascii();
    let (negative, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    // Accumulated negatively, so that i64::MIN, whose magnitude no i64 holds, reads too.
    let mut value: i64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative { Some(value) } else { value.checked_neg() }
}

/// The value of a run of ASCII digits (checked by the caller), if it fits `u32`.
fn digits_value(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, d| n.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

/// The truth value `text` writes: `true`/`false`, `t`/`f`, `yes`/`no`, `y`/`n`, `1`/`0`, in any
/// case, with optional white space around.
pub fn boolean(text: &[u8]) -> Option<bool> {
    let t = text.trim_ascii();
    const TRUE: [&[u8]; 5] = [b"true", b"t", b"yes", b"y", b"1"];
    const FALSE: [&[u8]; 5] = [b"false", b"f", b"no", b"n", b"0"];
    if TRUE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// Significant digits of a number's digits: those between the first and last that are not zero.
fn significant_digits(int: &[u8], frac: &[u8]) -> usize {
    let digits = || int.iter().chain(frac);
    let total = int.len() + frac.len();
    let leading = digits().take_while(|d| **d == b'0').count();
    if leading == total {
        return 0;
    }
    let trailing = digits().rev().take_while(|d| **d == b'0').count();
    total - leading - trailing
}

/// A number as (negative, significant digits, power of ten of its first digit), so that
/// spellings of one number compare equal: `-0.0120`, `-1.2e-2` and `-12e-3` are all
/// `(true, "12", -1)`. Zero is `(false, "0", 0)`.
fn canonical(mantissa_int: &[u8], mantissa_frac: &[u8], exponent: i64, negative: bool) -> (bool, Vec<u8>, i64) {
    let digits: Vec<u8> = mantissa_int.iter().chain(mantissa_frac).copied().collect();
    let leading = digits.iter().take_while(|d| **d == b'0').count();
    let trailing = digits.iter().rev().take_while(|d| **d == b'0').count();
    if leading == digits.len() {
        return (false, b"0".to_vec(), 0);
    }
    let significant = digits[leading..digits.len() - trailing].to_vec();
    (negative, significant, exponent + mantissa_int.len() as i64 - leading as i64)
}

/// The parts of a number written `[+-]digits[P digits][e[+-]digits]`, `P` being `point`:
/// (negative, integer digits, fraction digits, whether a point was written, exponent, whether
/// the exponent had a sign). `None` for anything else.
type NumberParts<'a> = (bool, &'a [u8], &'a [u8], bool, Option<(i64, bool)>);

fn number_parts(t: &[u8], point: u8) -> Option<NumberParts<'_>> {
    let (negative, rest) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let split = rest.iter().position(|b| *b == b'e' || *b == b'E');
    let (mantissa, exponent) = match split {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac, pointed) = match mantissa.iter().position(|b| *b == point) {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..], true),
        None => (mantissa, &mantissa[..0], false),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let exponent = match exponent {
        None => None,
        Some(e) => {
            let (signed, body) = match e.first() {
                Some(b'+') | Some(b'-') => (true, &e[1..]),
                _ => (false, e),
            };
            // Two digits of exponent at most: beyond, a value is no measurement (and the
            // rules about significant digits below assume a double's normal range).
            if body.is_empty() || body.len() > 2 || !digits(body) {
                return None;
            }
            let value = i64::from(digits_value(body)?);
            Some((if e[0] == b'-' { -value } else { value }, signed))
        }
    };
    Some((negative, int, frac, pointed, exponent))
}

/// The decimal number `text` writes, when its double reads back as the same number: up to 15
/// significant digits (which a double always keeps), or the shortest form of a double (as
/// pandas writes `0.1 + 0.2`: `0.30000000000000004`). The point is `,` with `comma`. No leading
/// zeros (`007.5`), separators or words; an exponent needs a point in the mantissa or a sign
/// (`1.5e-05`, `1e+05`), since a bare `1E5` is how sample and accession codes are written.
pub fn decimal(text: &[u8], comma: bool) -> Option<f64> {
    let t = text.trim_ascii();
    let (negative, int, frac, pointed, exponent) = number_parts(t, if comma { b',' } else { b'.' })?;
    if int.len() > 1 && int[0] == b'0' {
        return None;
    }
    if let Some((_, signed)) = exponent
        && !pointed
        && !signed
    {
        return None;
    }
    // Rust reads `-1.5e+05`, `.5` and `5.` alike; only a decimal comma needs rewriting.
    let value: f64 = if comma {
        let plain: Vec<u8> = t.iter().map(|b| if *b == b',' { b'.' } else { *b }).collect();
        ascii(&plain).parse().ok()?
    } else {
        ascii(t).parse().ok()?
    };
    if !value.is_finite() {
        return None;
    }
    let significant = significant_digits(int, frac);
    let in_range = value == 0.0 || value.abs() >= f64::MIN_POSITIVE;
    if significant <= 15 && in_range && (value != 0.0 || significant == 0) {
        return Some(value);
    }
    let written = canonical(int, frac, exponent.map_or(0, |(e, _)| e), negative);
    // More digits than a double always keeps: the shortest form of the double must be them.
    let shortest = format!("{value:e}");
    let (mantissa, e) = shortest.split_once('e')?;
    let (negative_back, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (i, f) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let back = canonical(i.as_bytes(), f.as_bytes(), e.parse().ok()?, negative_back);
    (back == written).then_some(value)
}

/// Text that [`number_parts`] accepted: signs, digits, a point or comma and an exponent mark,
/// all ASCII.
fn ascii(checked: &[u8]) -> &str {
    debug_assert!(checked.is_ascii());
    // SAFETY: every byte was checked to be one of the ASCII characters of a number.
    unsafe { std::str::from_utf8_unchecked(checked) }
}

/// Days from 1970-01-01 to the date `year-month-day`, if it is a date of the Gregorian calendar.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i32> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month {
        return None;
    }
    // Howard Hinnant's algorithm (http://howardhinnant.github.io/date_algorithms.html).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

/// One piece of a date format.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Year,
    Month,
    MonthName,
    Day,
    Literal(u8),
}

/// A `strptime` date format that cohort reads exactly: `%Y` (four digits), `%m`, `%d` (one or two
/// digits), `%b`/`%B` (English month names) and literal characters. Two-digit years (`%y`) and
/// anything else are not read as dates: the century, or the value, would be a guess.
#[derive(Debug, Clone, PartialEq)]
pub struct DateFormat(Vec<Piece>);

impl DateFormat {
    /// The format `format` (`%d.%m.%Y`); `None` if cohort does not read dates so written.
    pub fn parse(format: &str) -> Option<DateFormat> {
        let mut pieces = Vec::new();
        let mut bytes = format.bytes();
        while let Some(b) = bytes.next() {
            if b != b'%' {
                pieces.push(Piece::Literal(b));
                continue;
            }
            pieces.push(match bytes.next()? {
                b'Y' => Piece::Year,
                b'm' => Piece::Month,
                b'd' | b'e' => Piece::Day,
                b'b' | b'h' | b'B' => Piece::MonthName,
                b'%' => Piece::Literal(b'%'),
                _ => return None,
            });
        }
        let has = |p: &Piece| pieces.contains(p);
        (has(&Piece::Year) && (has(&Piece::Month) || has(&Piece::MonthName)) && has(&Piece::Day))
            .then_some(DateFormat(pieces))
    }

    /// The date `text` writes in this format, as days from 1970-01-01: all of it (no time of
    /// day after it), a real date.
    pub fn days(&self, text: &[u8]) -> Option<i32> {
        let mut t = text.trim_ascii();
        let (mut year, mut month, mut day) = (None, None, None);
        let number = |t: &mut &[u8], min: usize, max: usize| -> Option<u32> {
            let n = t.iter().take(max).take_while(|b| b.is_ascii_digit()).count();
            if n < min {
                return None;
            }
            let value = digits_value(&t[..n])?;
            *t = &t[n..];
            Some(value)
        };
        for piece in &self.0 {
            match piece {
                Piece::Literal(b) => {
                    if t.first() != Some(b) {
                        return None;
                    }
                    t = &t[1..];
                }
                Piece::Year => year = Some(number(&mut t, 4, 4)?),
                Piece::Month => month = Some(number(&mut t, 1, 2)?),
                Piece::Day => day = Some(number(&mut t, 1, 2)?),
                Piece::MonthName => {
                    let n = t.iter().take_while(|b| b.is_ascii_alphabetic()).count();
                    let name = std::str::from_utf8(&t[..n]).ok()?.to_ascii_lowercase();
                    month = Some(MONTHS.iter().position(|m| name == m[..3] || name == *m)? as u32 + 1);
                    t = &t[n..];
                }
            }
        }
        if !t.is_empty() {
            return None;
        }
        days_from_civil(year? as i64, month?, day?)
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_only_when_written_plainly() {
        for (text, expected) in [
            ("0", Some(0)),
            ("42", Some(42)),
            ("-7", Some(-7)),
            ("+7", Some(7)),
            (" 12 ", Some(12)),
            ("-0", Some(0)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("007", None),
            ("6.6", None),
            ("6.0", None),
            ("1e5", None),
            ("1_000", None),
            ("0x10", None),
            ("", None),
            ("-", None),
            ("١٢", None),
        ] {
            assert_eq!(integer(text.as_bytes()), expected, "{text:?}");
        }
    }

    #[test]
    fn truth_values_in_the_usual_spellings() {
        for (text, expected) in
            [("true", Some(true)), ("FALSE", Some(false)), (" Yes ", Some(true)), ("n", Some(false)), ("1", Some(true))]
        {
            assert_eq!(boolean(text.as_bytes()), expected, "{text:?}");
        }
        for text in ["2", "maybe", "on", "", "yess"] {
            assert_eq!(boolean(text.as_bytes()), None, "{text:?}");
        }
    }

    #[test]
    fn decimals_are_read_only_when_the_double_reads_back_the_same() {
        for (text, expected) in [
            ("0.25", Some(0.25)),
            ("6.6", Some(6.6)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("-0.5", Some(-0.5)),
            ("42", Some(42.0)),
            ("1.5e+05", Some(150_000.0)),
            ("1.2E-7", Some(1.2e-7)),
            ("2e-05", Some(2e-5)),
            ("1e+05", Some(1e5)),
            ("0.123456789012345", Some(0.123456789012345)),
            ("0.30000000000000004", Some(0.1 + 0.2)),
            ("-123.45678901234567", Some(-123.45678901234567)),
            ("123456789012345000000", Some(1.23456789012345e20)),
            ("0.00000000000000000000123", Some(1.23e-21)),
            ("1E5", None),
            ("05.5", None),
            ("1,5", None),
            ("1_000.5", None),
            ("inf", None),
            ("nan", None),
            ("0.1234567890123456789", None),
            ("12345678901234567890123", None),
            ("1e400", None),
            ("1.5e-320", None),
            ("-", None),
            (".", None),
            ("1.2.3", None),
            ("50%", None),
            ("<0.5", None),
        ] {
            assert_eq!(decimal(text.as_bytes(), false), expected, "{text:?}");
        }
        assert_eq!(decimal(b"60,5", true), Some(60.5));
        assert_eq!(decimal(b"-0,25", true), Some(-0.25));
        assert_eq!(decimal(b"60.5", true), None, "a point is not read when the comma is the decimal mark");
        assert_eq!(decimal(b"1.234,5", true), None);
    }

    #[test]
    fn dates_are_read_whole_in_their_format() {
        let day = |y, m, d| days_from_civil(y, m, d);
        assert_eq!(day(1970, 1, 1), Some(0));
        assert_eq!(day(2000, 3, 1), Some(11_017));
        assert_eq!(day(1969, 12, 31), Some(-1));
        assert_eq!(day(2024, 2, 29), Some(19_782));
        assert_eq!(day(2023, 2, 29), None);
        let iso = DateFormat::parse("%Y-%m-%d").unwrap();
        assert_eq!(iso.days(b"2023-01-05"), day(2023, 1, 5));
        assert_eq!(iso.days(b" 2023-1-5 "), day(2023, 1, 5));
        for bad in ["2023-01-05 10:00", "23-01-05", "2023-02-30", "20230105", "2023-01-05T00:00", "2023/01/05"] {
            assert_eq!(iso.days(bad.as_bytes()), None, "{bad}");
        }
        let dotted = DateFormat::parse("%d.%m.%Y").unwrap();
        assert_eq!(dotted.days(b"05.03.2023"), day(2023, 3, 5));
        assert_eq!(dotted.days(b"5.3.2023"), day(2023, 3, 5));
        assert_eq!(dotted.days(b"01.02.23"), None, "a two-digit year is not a four-digit one");
        let named = DateFormat::parse("%d %b %Y").unwrap();
        assert_eq!(named.days(b"05 Mar 2023"), day(2023, 3, 5));
        assert_eq!(named.days(b"05 March 2023"), day(2023, 3, 5));
        assert_eq!(DateFormat::parse("%d/%m/%y"), None, "two-digit years are not read");
        assert_eq!(DateFormat::parse("%Y-%j"), None);
    }
}
