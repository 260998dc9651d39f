//! Small helpers shared by every layer: Redis's strict number parsing and
//! double formatting, its glob matcher, the wall clock in milliseconds,
//! which filesystem a path is on, whether an address is on loopback, and a
//! cheap per-thread random number.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Parses a decimal integer exactly as Redis's `string2ll`: no sign but a
/// leading '-', no spaces, no leading zeros, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    if digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a float as Redis's `string2ld`/`strtold` does: decimal or exponent
/// form, `inf`/`-inf`; no spaces, no NaN.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?;
    if text.is_empty()
        || text.starts_with(|c: char| c.is_whitespace())
        || text.ends_with(char::is_whitespace)
    {
        return None;
    }
    let v: f64 = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// A float as C's `strtod` reads a whole argument: decimal or exponent
/// form, hexadecimal (`0x1.8p1`), `inf`/`infinity` in any case, each with an
/// optional sign; no spaces, no NaN. The flag says the text is finite but
/// its value overflowed to infinity or underflowed to zero (strtod's ERANGE).
/// Redis reads sorted-set ranges this way, out-of-range values included.
pub fn strtod(s: &[u8]) -> Option<(f64, bool)> {
    let digits = match s.first() {
        Some(b'+' | b'-') => &s[1..],
        _ => s,
    };
    if digits.len() > 2 && digits[..2].eq_ignore_ascii_case(b"0x") {
        let (v, out_of_range) = hex_float(&digits[2..])?;
        return Some((if s[0] == b'-' { -v } else { v }, out_of_range));
    }
    let v = parse_f64(s)?;
    let literal_inf = digits
        .first()
        .is_some_and(|c| c.eq_ignore_ascii_case(&b'i'));
    let mantissa = digits
        .split(|c| *c == b'e' || *c == b'E')
        .next()
        .unwrap_or(b"");
    let nonzero = mantissa.iter().any(|c| (b'1'..=b'9').contains(c));
    Some((
        v,
        (v.is_infinite() && !literal_inf) || (v == 0.0 && nonzero),
    ))
}

/// A float argument as Redis's `string2d` (`getDoubleFromObject`: ZADD
/// scores, WEIGHTS, GEO) reads it: `strtod`, refusing values out of range.
pub fn parse_double(s: &[u8]) -> Option<f64> {
    strtod(s).and_then(|(v, out_of_range)| (!out_of_range).then_some(v))
}

/// The hexadecimal float strtod reads after `0x`: hex digits with an
/// optional point, then an optional binary exponent `p[+-]n`; and whether
/// it overflowed or underflowed to zero. Values are exact up to 16
/// significant hex digits.
fn hex_float(text: &[u8]) -> Option<(f64, bool)> {
    let (mantissa, exp) = match text.iter().position(|c| *c == b'p' || *c == b'P') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let exp: i64 = match exp {
        Some(e) => {
            let digits = match e.first() {
                Some(b'+' | b'-') => &e[1..],
                _ => e,
            };
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n = std::str::from_utf8(digits)
                .ok()?
                .parse::<i64>()
                .unwrap_or(i64::MAX / 2);
            if e[0] == b'-' {
                -n
            } else {
                n
            }
        }
        None => 0,
    };
    let (mut value, mut scale, mut seen_point, mut any) = (0u64, 0i64, false, false);
    for &c in mantissa {
        if c == b'.' && !seen_point {
            seen_point = true;
            continue;
        }
        let d = (c as char).to_digit(16)? as u64;
        any = true;
        if value >> 60 == 0 {
            value = value * 16 + d;
            scale -= 4 * seen_point as i64;
        } else if !seen_point {
            scale += 4;
        }
    }
    if !any {
        return None;
    }
    let e = exp.saturating_add(scale).clamp(-5000, 5000) as i32;
    let v = value as f64 * 2f64.powi(e.clamp(-1000, 1000)) * 2f64.powi(e - e.clamp(-1000, 1000));
    Some((v, v.is_infinite() || (v == 0.0 && value != 0)))
}

/// Formats a double as Redis 7.0's `addReplyDouble` does, in RESP2 (a bulk
/// string) and RESP3 (a `,` double) alike: C's `%.17g` (ZSCORE of 0.1 is
/// "0.10000000000000001"), `inf`/`-inf`. Seventeen significant digits always
/// read back as the same double, so the text also serves the log.
/// (INCRBYFLOAT's replies use a shorter, human-friendly form instead:
/// `protocol::format_double`.)
pub fn format_double(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // %g drops trailing zeros (and a trailing '.') from the digits it prints.
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    // %g picks the exponent form when the decimal exponent is below -4 or at
    // least the precision (17).
    let sci = format!("{x:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip(mantissa), exp.abs())
    } else {
        let decimals = (16 - exp) as usize;
        strip(&format!("{x:.decimals$}"))
    }
}

/// Redis's glob matcher (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`,
/// and `\` escapes. Used by KEYS, SCAN MATCH and CONFIG GET.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    glob(pattern, s, nocase, 0, &mut false)
}

/// Recursion depth guard: a pattern like `*a*a*a*…` against a long string
/// would otherwise explode (Redis guards the same way since 7.0).
const MAX_GLOB_NESTING: usize = 1000;

/// `give_up` is Redis's `skipLongerMatches`: once a `*` has tried every
/// remaining suffix and failed, no earlier `*` can succeed by consuming more,
/// which keeps patterns like `*a*a*a*b` linear instead of exponential.
fn glob(mut p: &[u8], mut s: &[u8], nocase: bool, nesting: usize, give_up: &mut bool) -> bool {
    if nesting > MAX_GLOB_NESTING {
        return false;
    }
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while let Some(&pc) = p.first() {
        match pc {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..=s.len() {
                    if glob(&p[1..], &s[i..], nocase, nesting + 1, give_up) {
                        return true;
                    }
                    if *give_up {
                        return false;
                    }
                }
                *give_up = true;
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                let Some(&c) = s.first() else { return false };
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    match p {
                        [] => break,
                        [b']', ..] => break,
                        [b'\\', x, ..] => {
                            matched |= eq(*x, c);
                            p = &p[2..];
                        }
                        [a, b'-', b, ..] if *b != b']' => {
                            let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                            let c2 = if nocase { c.to_ascii_lowercase() } else { c };
                            let (lo2, hi2) = if nocase {
                                (lo.to_ascii_lowercase(), hi.to_ascii_lowercase())
                            } else {
                                (lo, hi)
                            };
                            matched |= c2 >= lo2 && c2 <= hi2;
                            p = &p[3..];
                        }
                        [x, ..] => {
                            matched |= eq(*x, c);
                            p = &p[1..];
                        }
                    }
                }
                if matched == not {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    // Unterminated class: Redis treats the end as its close.
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if s.first().is_none_or(|&c| !eq(p[0], c)) {
                    return false;
                }
                s = &s[1..];
            }
            _ => {
                if s.first().is_none_or(|&c| !eq(pc, c)) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
    }
    s.is_empty()
}

/// Parses a size with Redis's units (`100mb`, `2gb`, `1k`); bytes without one.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// tmpfs or ramfs, from statfs's `f_type`.
const MEMORY_FS_MAGIC: [i64; 2] = [0x0102_1994, 0x8584_58f6];

/// Whether `path` (or, if it does not exist yet, its nearest existing
/// ancestor: where it would be made) is on a memory filesystem (tmpfs,
/// ramfs), where O_DIRECT is silently ignored and files vanish at reboot.
pub fn on_memory_fs(path: &std::path::Path) -> Result<bool, String> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let existing = abs
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(std::path::Path::new("/"));
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes())
        .map_err(|_| "the directory name contains a NUL byte".to_string())?;
    // SAFETY: statfs fills the struct we pass; `c` is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(format!(
            "cannot stat the filesystem of {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(MEMORY_FS_MAGIC.contains(&(st.f_type as i64)))
}

/// A test-only fault point: when the environment variable
/// `RINGCACHE_TEST_CRASH_AT` (read once, at the first call) names `point`,
/// the process aborts there, as a kill -9 at that exact moment would stop it.
/// Inert (one load and a compare) unless set. Points: docs/aof.md.
pub fn crash_point(point: &str) {
    if at_test_point(point) {
        eprintln!("RINGCACHE_TEST_CRASH_AT={point}: aborting here");
        std::process::abort();
    }
}

/// Whether `RINGCACHE_TEST_CRASH_AT` names `point` (read once; inert unless
/// set): where a test's crash is to land, for faults that are not an abort.
pub fn at_test_point(point: &str) -> bool {
    static CRASH_AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = CRASH_AT.get_or_init(|| std::env::var("RINGCACHE_TEST_CRASH_AT").ok());
    at.as_deref() == Some(point)
}

/// Whether an IP address is on loopback (an IPv4-mapped IPv6 one included).
pub fn loopback_ip(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a client address (`ip:port`, as CLIENT LIST shows it) is on loopback.
pub fn is_loopback(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>()
        .is_ok_and(|a| loopback_ip(a.ip()))
}

/// A cheap per-thread pseudo-random number (xorshift), for random picks.
pub fn fastrand_u64() -> u64 {
    use std::cell::Cell;
    thread_local!(static STATE: Cell<u64> = Cell::new(
        ahash::RandomState::new().hash_one(std::thread::current().id()) | 1
    ));
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// xorshift64 over a caller's state: cheap and reproducible from a seed, for
/// eviction samples and the simulated disk's faults (no stronger randomness
/// needed).
pub fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_strtod_and_string2d_do() {
        assert_eq!(parse_double(b"1e400"), None);
        assert_eq!(parse_double(b"-1e400"), None);
        assert_eq!(parse_double(b"1e-400"), None);
        assert_eq!(parse_double(b"0e-400"), Some(0.0));
        assert_eq!(parse_double(b"4.9e-324"), Some(4.9e-324));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b"Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_double(b"nan"), None);
        assert_eq!(parse_double(b" 1"), None);
        assert_eq!(parse_double(b"0x10"), Some(16.0));
        assert_eq!(parse_double(b"0X1p4"), Some(16.0));
        assert_eq!(parse_double(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(parse_double(b"0x"), None);
        assert_eq!(parse_double(b"0x1p99999"), None);
        // A range reads what is out of range as strtod returns it.
        assert_eq!(strtod(b"1e400"), Some((f64::INFINITY, true)));
        assert_eq!(strtod(b"0x1p99999"), Some((f64::INFINITY, true)));
        assert_eq!(strtod(b"1e-400"), Some((0.0, true)));
    }

    #[test]
    fn integers_are_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"+1",
            b" 1",
            b"01",
            b"-0",
            b"9223372036854775808",
            b"1a",
            b"-",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"abc"), None);
    }

    #[test]
    fn doubles_print_like_redis_7_0() {
        for (x, text) in [
            (1.1, "1.1000000000000001"),
            (0.1, "0.10000000000000001"),
            (5.0, "5"),
            (3.0, "3"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e20, "1e+20"),
            (1e300, "1.0000000000000001e+300"),
            (1.5e-7, "1.4999999999999999e-07"),
            (123456.5, "123456.5"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (0.30000000000000004, "0.30000000000000004"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
        ] {
            assert_eq!(format_double(x), text, "{x:e}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"key:*", b"key:1", false));
        assert!(!glob_match(b"key:*", b"ke", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(glob_match(b"SAVE", b"save", true));
        let evil = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!glob_match(evil, &[b'a'; 40], false));
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100mb"), Some(100 << 20));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("1xb"), None);
    }
}
