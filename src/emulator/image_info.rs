//! Image width, height and format read from a file's first bytes, as OSS reports them in the
//! `imageInfo.*` callback variables. Only headers are parsed; anything unrecognised is "not an image".

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
    /// OSS's names: `png`, `jpg`, `gif`, `webp`.
    pub format: String,
}

/// How many leading bytes the sniffer needs at most: a JPEG's frame header may follow a 64 KiB
/// EXIF segment.
pub const SNIFF_BYTES: usize = 128 * 1024;

pub fn sniff(head: &[u8]) -> Option<ImageInfo> {
    png(head)
        .or_else(|| gif(head))
        .or_else(|| webp(head))
        .or_else(|| jpeg(head))
        .filter(|i| i.width > 0 && i.height > 0)
}

fn info(width: u32, height: u32, format: &str) -> ImageInfo {
    ImageInfo {
        width,
        height,
        format: format.to_owned(),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

fn png(b: &[u8]) -> Option<ImageInfo> {
    (b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16)? == b"IHDR")
        .then(|| Some(info(be32(b, 16)?, be32(b, 20)?, "png")))?
}

fn gif(b: &[u8]) -> Option<ImageInfo> {
    (b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a"))
        .then(|| Some(info(le16(b, 6)?, le16(b, 8)?, "gif")))?
}

fn webp(b: &[u8]) -> Option<ImageInfo> {
    if !(b.starts_with(b"RIFF") && b.get(8..12)? == b"WEBP") {
        return None;
    }
    match b.get(12..16)? {
        // Lossy: the key frame header carries 14-bit dimensions after its start code.
        b"VP8 " => {
            if b.get(23..26)? != [0x9d, 0x01, 0x2a] {
                return None;
            }
            Some(info(le16(b, 26)? & 0x3fff, le16(b, 28)? & 0x3fff, "webp"))
        }
        // Lossless: 14-bit width-1 and height-1 packed after the 0x2f signature byte.
        b"VP8L" => {
            if *b.get(20)? != 0x2f {
                return None;
            }
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(info((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1, "webp"))
        }
        // Extended: 24-bit canvas width-1 and height-1.
        b"VP8X" => Some(info(le24(b, 24)? + 1, le24(b, 27)? + 1, "webp")),
        _ => None,
    }
}

fn jpeg(b: &[u8]) -> Option<ImageInfo> {
    if !b.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut at = 2;
    loop {
        // Markers may be padded with extra 0xFF bytes.
        while *b.get(at)? == 0xff && *b.get(at + 1)? == 0xff {
            at += 1;
        }
        if *b.get(at)? != 0xff {
            return None;
        }
        let marker = *b.get(at + 1)?;
        match marker {
            // Standalone markers carry no length.
            0x01 | 0xd0..=0xd7 => at += 2,
            // Start of frame (not DHT/JPG/DAC): precision, height, width.
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                return Some(info(be16(b, at + 7)?, be16(b, at + 5)?, "jpg"));
            }
            0xd9 | 0xda => return None,
            _ => at += 2 + usize::try_from(be16(b, at + 2)?).ok()?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 PNG's first bytes (signature and IHDR).
    pub fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0]);
        b
    }

    #[test]
    fn reads_png_gif_jpeg_webp() {
        assert_eq!(sniff(&png_header(3, 2)), Some(info(3, 2, "png")));
        assert_eq!(sniff(b"GIF89a\x0a\x00\x05\x00rest"), Some(info(10, 5, "gif")));
        // SOI, an APP0 segment, then SOF0 with height 0x01E0 and width 0x0280.
        let mut jpg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00];
        jpg.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 0x03]);
        assert_eq!(sniff(&jpg), Some(info(640, 480, "jpg")));
        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        vp8x.extend_from_slice(&[0x3f, 0x01, 0x00, 0xef, 0x00, 0x00]);
        assert_eq!(sniff(&vp8x), Some(info(320, 240, "webp")));
        let mut vp8l = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let bits: u32 = 99 | (49 << 14);
        vp8l.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(sniff(&vp8l), Some(info(100, 50, "webp")));
        let mut vp8 = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a".to_vec();
        vp8.extend_from_slice(&[0x10, 0x00, 0x08, 0x00]);
        assert_eq!(sniff(&vp8), Some(info(16, 8, "webp")));
    }

    #[test]
    fn truncated_or_foreign_input_is_not_an_image() {
        for b in [
            &b""[..],
            b"hello world",
            &png_header(3, 2)[..20],
            &[0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff],
            &[0xff, 0xd8, 0xff],
            b"RIFF\0\0\0\0WEBPVP8X",
            b"GIF89a\x00\x00\x00\x00",
        ] {
            assert_eq!(sniff(b), None, "{b:?}");
        }
    }
}
