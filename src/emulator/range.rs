//! The `Range` header of GetObject, as OSS reads it: one `bytes=` range; anything OSS cannot
//! serve as a single range (a syntax error, several ranges, a start past the end) is ignored and
//! the whole object is returned with `200`, OSS's default behaviour.

/// The inclusive byte range to send, or `None` for the whole object.
pub fn requested(header: Option<&str>, size: u64) -> Option<(u64, u64)> {
    let spec = header?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let (start, end) = if first.is_empty() {
        // `bytes=-N`: the last N bytes.
        let n: u64 = last.parse().ok().filter(|n| *n > 0)?;
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = first.parse().ok()?;
        let end = match last {
            "" => size - 1,
            l => l.parse::<u64>().ok()?.min(size - 1),
        };
        (start, end)
    };
    (start <= end && start < size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::requested;

    #[test]
    fn single_ranges_are_served() {
        assert_eq!(requested(Some("bytes=0-9"), 100), Some((0, 9)));
        assert_eq!(requested(Some("bytes=90-"), 100), Some((90, 99)));
        assert_eq!(requested(Some("bytes=-10"), 100), Some((90, 99)));
        assert_eq!(requested(Some("bytes=0-4095"), 100), Some((0, 99)));
        assert_eq!(requested(Some("bytes=-500"), 100), Some((0, 99)));
    }

    #[test]
    fn what_oss_ignores_means_the_whole_object() {
        for header in [
            None,
            Some("bytes=100-"),
            Some("bytes=5-2"),
            Some("bytes=0-1,4-5"),
            Some("items=0-1"),
            Some("bytes=a-b"),
            Some("bytes=-0"),
        ] {
            assert_eq!(requested(header, 100), None, "{header:?}");
        }
        assert_eq!(requested(Some("bytes=0-0"), 0), None);
    }
}
