//! Do an object's first bytes contradict the type it was uploaded as? A form policy or a signed
//! `Content-Type` fixes the declared type, never the bytes: without this check an HTML page sent
//! as `image/png` would be stored, and served, from the bucket. Magic numbers come from `infer`.

/// How much of the object is read (a ranged GET): every signature `infer` knows lies within it.
pub const SNIFF_BYTES: u64 = 8192;

/// Why `head` (the object's first bytes) is not what `declared` says, if it is not.
///
/// Strict where magic numbers are reliable (an image must be the very format declared) and
/// lenient where containers vary (an `ftyp` brand `infer` maps to another video type is still a
/// video); bytes of a different kind altogether (markup, an archive, an executable) always fail.
pub fn contradiction(declared: &str, head: &[u8]) -> Option<String> {
    let declared = canonical(declared);
    if is_text_like(&declared) {
        // Text has no magic number; a profile that admits it admits markup knowingly.
        return None;
    }
    match infer::get(head) {
        Some(found) => {
            let found = canonical(found.mime_type());
            let same_family = matches!(kind(&declared), "video" | "audio") && kind(&found) == kind(&declared);
            (found != declared && !same_family).then(|| {
                format!("the content is {found}, not the declared {declared} (checked by its first bytes)")
            })
        }
        None if kind(&declared) == "image" && infer::is_mime_supported(&declared) => Some(format!(
            "the content is not {declared}: its first bytes match no known image format"
        )),
        None => None,
    }
}

/// Whether OSS has already vouched for the bytes: it reads an image's header itself and names its
/// format in the signed callback (`imageInfo.format`). When that is the declared type, reading the
/// object again would only repeat OSS's work; anything else (no format, another one, a path
/// without a callback) leaves the decision to [`contradiction`] on the bytes.
pub fn confirmed_by_oss(declared: &str, oss_format: Option<&str>) -> bool {
    let found = match oss_format.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("bmp") => "image/bmp",
        Some("tiff" | "tif") => "image/tiff",
        Some("heic") => "image/heic",
        Some("avif") => "image/avif",
        _ => return false,
    };
    canonical(declared) == found
}

fn canonical(mime: &str) -> String {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".into(),
        "image/x-png" => "image/png".into(),
        "image/x-icon" => "image/vnd.microsoft.icon".into(),
        _ => essence,
    }
}

fn kind(mime: &str) -> &str {
    mime.split('/').next().unwrap_or_default()
}

fn is_text_like(mime: &str) -> bool {
    kind(mime) == "text"
        || mime.ends_with("+xml")
        || mime.ends_with("+json")
        || matches!(
            mime,
            "application/json" | "application/xml" | "application/javascript"
        )
}

#[cfg(test)]
mod tests {
    use super::contradiction;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";
    const MP4: &[u8] = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom";
    const MOV: &[u8] = b"\0\0\0\x14ftypqt  \0\0\0\0qt  ";
    const HTML: &[u8] = b"  <!DOCTYPE html><html><script>alert(document.cookie)</script>";
    const ZIP: &[u8] = b"PK\x03\x04\x14\0\0\0\x08\0";

    #[test]
    fn osss_image_format_vouches_only_for_the_declared_type() {
        use super::confirmed_by_oss;
        assert!(confirmed_by_oss("image/jpeg", Some("jpg")));
        assert!(confirmed_by_oss("image/jpg", Some("JPG")), "aliases and case");
        assert!(confirmed_by_oss("image/png", Some("png")));
        assert!(
            !confirmed_by_oss("image/png", Some("jpg")),
            "another format: read the bytes"
        );
        assert!(!confirmed_by_oss("image/png", Some("")), "OSS found no image");
        assert!(!confirmed_by_oss("image/png", None), "no callback facts");
        assert!(!confirmed_by_oss("video/mp4", Some("png")));
    }

    #[test]
    fn matching_bytes_pass() {
        assert_eq!(contradiction("image/png", PNG), None);
        assert_eq!(contradiction("image/jpeg", JPEG), None);
        assert_eq!(contradiction("image/jpg", JPEG), None, "alias");
        assert_eq!(
            contradiction("IMAGE/PNG; charset=binary", PNG),
            None,
            "parameters and case"
        );
        assert_eq!(contradiction("video/mp4", MP4), None);
        assert_eq!(contradiction("video/quicktime", MOV), None);
    }

    #[test]
    fn markup_sent_as_an_image_or_video_is_refused() {
        let reason = contradiction("image/png", HTML).expect("HTML is not a PNG");
        assert!(
            reason.contains("text/html") && reason.contains("image/png"),
            "{reason}"
        );
        assert!(contradiction("video/mp4", HTML).is_some());
        assert!(contradiction("application/pdf", HTML).is_some());
    }

    #[test]
    fn another_format_or_no_format_is_refused_for_images() {
        assert!(contradiction("image/png", JPEG).unwrap().contains("image/jpeg"));
        assert!(contradiction("image/webp", ZIP)
            .unwrap()
            .contains("application/zip"));
        let reason = contradiction("image/png", b"just some text").unwrap();
        assert!(reason.contains("no known image format"), "{reason}");
        assert!(
            contradiction("image/png", b"").is_some(),
            "an empty object is not a PNG"
        );
    }

    #[test]
    fn containers_of_one_family_pass_and_unknown_types_are_not_guessed() {
        assert_eq!(
            contradiction("video/mp4", MOV),
            None,
            "an ftyp brand of another video type"
        );
        assert_eq!(
            contradiction("video/mp4", b"\0\0\0\x18ftypXXXX"),
            None,
            "an unknown brand"
        );
        assert_eq!(contradiction("application/octet-stream", b"anything"), None);
        assert_eq!(
            contradiction("text/plain", HTML),
            None,
            "text profiles admit text"
        );
        assert!(contradiction("application/octet-stream", HTML).is_some());
    }
}
