//! `Range` requests (RFC 9110 §14) for the bodies the `app://` scheme serves: WebKit's
//! media player asks for byte ranges, and without a `206` it can neither seek nor, for
//! WebM, start (it reads the cues at the end of the file).

use wry::http::{header, response::Builder, Response, StatusCode};

/// What to send of a body of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// No usable `Range`: the whole body with `200`.
    Whole,
    /// Bytes `start..=end` with `206`.
    Part { start: u64, end: u64 },
    /// A range that starts past the end: `416`.
    Unsatisfiable,
}

impl Span {
    /// Reads `Range` for a body of `total` bytes. A header that does not parse, or asks
    /// for several ranges, is ignored (the whole body answers), as the RFC allows.
    pub fn parse(range: Option<&str>, total: u64) -> Span {
        let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else { return Span::Whole };
        if spec.contains(',') {
            return Span::Whole;
        }
        let Some((first, last)) = spec.split_once('-') else { return Span::Whole };
        let (first, last) = (first.trim(), last.trim());
        if first.is_empty() {
            // A suffix: the last N bytes.
            return match last.parse::<u64>() {
                Ok(0) => Span::Unsatisfiable,
                Ok(_) if total == 0 => Span::Unsatisfiable,
                Ok(n) => Span::Part { start: total.saturating_sub(n), end: total - 1 },
                Err(_) => Span::Whole,
            };
        }
        let Ok(start) = first.parse::<u64>() else { return Span::Whole };
        let end = if last.is_empty() {
            u64::MAX
        } else {
            match last.parse::<u64>() {
                Ok(end) if end >= start => end,
                _ => return Span::Whole,
            }
        };
        if start >= total {
            return Span::Unsatisfiable;
        }
        Span::Part { start, end: end.min(total - 1) }
    }

    /// At most `limit` bytes of this span, from its start; `Whole` becomes a part when
    /// the body is longer than `limit` (a client that asked for everything gets the
    /// first piece with `206` and its `Content-Range`, and asks on from there).
    pub fn capped(self, total: u64, limit: u64) -> Span {
        match self {
            Span::Whole if total > limit => Span::Part { start: 0, end: limit - 1 },
            Span::Part { start, end } if end - start + 1 > limit => Span::Part { start, end: start + limit - 1 },
            other => other,
        }
    }

    /// The offset and length of the bytes to send of a body of `total` bytes.
    pub fn window(self, total: u64) -> (u64, u64) {
        match self {
            Span::Whole => (0, total),
            Span::Part { start, end } => (start, end - start + 1),
            Span::Unsatisfiable => (0, 0),
        }
    }

    /// The status and range headers of the answer; the caller adds the type and body.
    pub fn head(self, total: u64) -> Builder {
        let builder = Response::builder().header(header::ACCEPT_RANGES, "bytes");
        match self {
            Span::Whole => builder.status(StatusCode::OK).header(header::CONTENT_LENGTH, total),
            Span::Part { start, end } => builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{total}"))
                .header(header::CONTENT_LENGTH, end - start + 1),
            Span::Unsatisfiable => builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{total}"))
                .header(header::CONTENT_LENGTH, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_parse() {
        let p = |r: &str| Span::parse(Some(r), 100);
        assert_eq!(Span::parse(None, 100), Span::Whole);
        assert_eq!(p("bytes=0-"), Span::Part { start: 0, end: 99 });
        assert_eq!(p("bytes=10-19"), Span::Part { start: 10, end: 19 });
        assert_eq!(p("bytes=90-500"), Span::Part { start: 90, end: 99 });
        assert_eq!(p("bytes=-10"), Span::Part { start: 90, end: 99 });
        assert_eq!(p("bytes=-500"), Span::Part { start: 0, end: 99 });
        assert_eq!(p("bytes=100-"), Span::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Span::Unsatisfiable);
        assert_eq!(Span::parse(Some("bytes=0-"), 0), Span::Unsatisfiable);
        for ignored in ["items=0-1", "bytes=5-1", "bytes=a-", "bytes=0-1,5-6", "bytes"] {
            assert_eq!(p(ignored), Span::Whole, "{ignored}");
        }
    }

    #[test]
    fn heads_name_the_range() {
        let r = Span::Part { start: 10, end: 19 }.head(100).body(()).unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 10-19/100");
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "10");
        let r = Span::Unsatisfiable.head(100).body(()).unwrap();
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes */100");
        assert_eq!(Span::Whole.capped(100, 10), Span::Part { start: 0, end: 9 });
    }

    proptest! {
        /// Whatever the header, the bytes sent lie inside the body and match the headers.
        #[test]
        fn windows_stay_inside_the_body(total in 0u64..1000, a in 0u64..1200, b in 0u64..1200, form in 0u8..4, limit in 1u64..300) {
            let header = match form { 0 => format!("bytes={a}-{b}"), 1 => format!("bytes={a}-"), 2 => format!("bytes=-{b}"), _ => String::new() };
            let span = Span::parse(Some(&header), total).capped(total, limit);
            let (start, len) = span.window(total);
            prop_assert!(start + len <= total);
            if let Span::Part { start: s, end } = span {
                prop_assert!(s <= end && end < total && end - s < limit);
            }
        }
    }
}
