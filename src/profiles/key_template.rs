//! Object key templates (`avatars/{user_id}/{yyyy}/{mm}/{upload_id}{ext}`) and the only part of
//! a client's filename that reaches a key: a sanitised extension.

use chrono::{DateTime, Datelike, Utc};

/// OSS's limit on object key length, in bytes.
pub const MAX_KEY_BYTES: usize = 1023;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    UserId,
    UploadId,
    Profile,
    Year,
    Month,
    Day,
    Ext,
}

#[derive(Debug, Clone)]
pub struct KeyTemplate {
    parts: Vec<Part>,
}

/// What a key is rendered from.
pub struct KeyContext<'a> {
    pub user_id: &'a str,
    pub upload_id: &'a str,
    pub profile: &'a str,
    pub now: DateTime<Utc>,
    pub ext: &'a str,
}

impl KeyTemplate {
    /// Parses a template; it must contain `{upload_id}` (so every key is unique) and must not
    /// start with `/` or contain empty or dot segments.
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let close = rest[open..].find('}').ok_or("unclosed `{`")? + open;
            let part = match &rest[open + 1..close] {
                "user_id" => Part::UserId,
                "upload_id" => Part::UploadId,
                "profile" => Part::Profile,
                "yyyy" => Part::Year,
                "mm" => Part::Month,
                "dd" => Part::Day,
                "ext" => Part::Ext,
                other => return Err(format!("unknown placeholder {{{other}}}")),
            };
            parts.push(part);
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        if !parts.contains(&Part::UploadId) {
            return Err("must contain {upload_id} so that every key is unique".into());
        }
        if template.starts_with('/') || template.contains("//") {
            return Err("must not start with `/` or contain empty segments".into());
        }
        if template.split('/').any(|seg| seg == "." || seg == "..") {
            return Err("must not contain `.` or `..` segments".into());
        }
        if template.contains('}')
            && parts
                .iter()
                .any(|p| matches!(p, Part::Literal(l) if l.contains('}')))
        {
            return Err("stray `}`".into());
        }
        Ok(KeyTemplate { parts })
    }

    pub fn render(&self, ctx: &KeyContext) -> String {
        let mut key = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => key.push_str(text),
                Part::UserId => key.push_str(&encode_user_id(ctx.user_id)),
                Part::UploadId => key.push_str(ctx.upload_id),
                Part::Profile => key.push_str(ctx.profile),
                Part::Year => key.push_str(&format!("{:04}", ctx.now.year())),
                Part::Month => key.push_str(&format!("{:02}", ctx.now.month())),
                Part::Day => key.push_str(&format!("{:02}", ctx.now.day())),
                Part::Ext => key.push_str(ctx.ext),
            }
        }
        key
    }

    /// The fixed prefix of every key this template gives `user_id` (up to the first part that
    /// varies per upload); what an STS policy may scope a user to.
    pub fn user_prefix(&self, profile: &str, user_id: &str) -> String {
        let mut prefix = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => prefix.push_str(text),
                Part::UserId => prefix.push_str(&encode_user_id(user_id)),
                Part::Profile => prefix.push_str(profile),
                _ => break,
            }
        }
        prefix
    }
}

/// User ids come from identity providers (`auth0|123`, emails): keep the safe characters and
/// escape the rest as `~XX`, so distinct ids never share a key prefix and no id makes a `..`
/// segment or a `/`.
pub fn encode_user_id(user_id: &str) -> String {
    let mut out = String::with_capacity(user_id.len());
    for (i, b) in user_id.bytes().enumerate() {
        let safe = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'@' || (b == b'.' && i > 0);
        if safe {
            out.push(b as char);
        } else {
            out.push_str(&format!("~{b:02X}"));
        }
    }
    out
}

/// Longest extension we keep, without the dot.
const MAX_EXT_LEN: usize = 10;

/// Extensions by content type, the usual one first. A key's extension decides how browsers and
/// CDNs treat the object, so it follows the (policy-enforced) content type, not the filename.
const EXTENSIONS: &[(&str, &[&str])] = &[
    ("image/jpeg", &["jpg", "jpeg"]),
    ("image/png", &["png"]),
    ("image/gif", &["gif"]),
    ("image/webp", &["webp"]),
    ("image/heic", &["heic"]),
    ("image/heif", &["heif"]),
    ("image/avif", &["avif"]),
    ("image/bmp", &["bmp"]),
    ("image/tiff", &["tif", "tiff"]),
    ("image/svg+xml", &["svg"]),
    ("video/mp4", &["mp4"]),
    ("video/quicktime", &["mov"]),
    ("video/webm", &["webm"]),
    ("video/3gpp", &["3gp"]),
    ("audio/mpeg", &["mp3"]),
    ("audio/mp4", &["m4a"]),
    ("audio/aac", &["aac"]),
    ("audio/ogg", &["ogg"]),
    ("audio/wav", &["wav"]),
    ("application/pdf", &["pdf"]),
    ("application/zip", &["zip"]),
    ("application/json", &["json"]),
    ("text/plain", &["txt"]),
];

/// The key extension for an upload of `content_type` (normalised): the filename's own when it is
/// one the type goes by (`.jpeg` stays), else the type's usual one (`evil.html` sent as
/// `image/png` gets `.png`), and none for a type not listed here.
pub fn extension_for(content_type: &str, filename: &str) -> Result<String, &'static str> {
    let given = extension_of(filename)?;
    let Some((_, known)) = EXTENSIONS.iter().find(|(ct, _)| *ct == content_type) else {
        return Ok(String::new());
    };
    let given = given.trim_start_matches('.');
    let ext = known.iter().find(|e| **e == given).unwrap_or(&known[0]);
    Ok(format!(".{ext}"))
}

/// Checks a client filename and returns its sanitised extension (`.jpg`, lowercase ASCII
/// alphanumerics only) or `""`. The rest of the name never reaches the key.
fn extension_of(filename: &str) -> Result<String, &'static str> {
    let trimmed = filename.trim();
    if trimmed.is_empty() {
        return Err("filename is empty");
    }
    if trimmed.len() > 1024 {
        return Err("filename is longer than 1024 bytes");
    }
    if trimmed.chars().any(char::is_control) {
        return Err("filename contains control characters");
    }
    // Only the last path component counts, whichever separator the client's OS uses.
    let base = trimmed.rsplit(['/', '\\']).next().unwrap_or("");
    let Some((stem, ext)) = base.rsplit_once('.') else {
        return Ok(String::new());
    };
    let ext = ext.to_ascii_lowercase();
    let usable = !stem.is_empty()
        && !ext.is_empty()
        && ext.len() <= MAX_EXT_LEN
        && ext.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    Ok(if usable { format!(".{ext}") } else { String::new() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ctx<'a>(user_id: &'a str, ext: &'a str) -> KeyContext<'a> {
        KeyContext {
            user_id,
            upload_id: "0190abcd",
            profile: "avatar",
            now: Utc.with_ymd_and_hms(2026, 3, 7, 1, 2, 3).unwrap(),
            ext,
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let t = KeyTemplate::parse("{profile}/{user_id}/{yyyy}/{mm}/{dd}/{upload_id}{ext}").unwrap();
        assert_eq!(
            t.render(&ctx("u42", ".jpg")),
            "avatar/u42/2026/03/07/0190abcd.jpg"
        );
        assert_eq!(t.user_prefix("avatar", "u42"), "avatar/u42/");
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in [
            "a/{user_id}",
            "/a/{upload_id}",
            "a//{upload_id}",
            "a/../{upload_id}",
            "{nope}/{upload_id}",
            "a/{upload_id",
        ] {
            assert!(KeyTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids_cannot_escape_their_prefix() {
        assert_eq!(encode_user_id("auth0|123"), "auth0~7C123");
        assert_eq!(encode_user_id("../x"), "~2E.~2Fx");
        assert_eq!(encode_user_id("a/b"), "a~2Fb");
        assert_ne!(encode_user_id("a_b"), encode_user_id("a|b"));
        assert_eq!(encode_user_id("bob@example.com"), "bob@example.com");
    }

    #[test]
    fn the_content_type_decides_the_extension() {
        assert_eq!(extension_for("image/png", "evil.html").unwrap(), ".png");
        assert_eq!(extension_for("image/png", "noext").unwrap(), ".png");
        assert_eq!(extension_for("image/jpeg", "beach.JPEG").unwrap(), ".jpeg");
        assert_eq!(extension_for("image/jpeg", "beach.png").unwrap(), ".jpg");
        assert_eq!(extension_for("video/quicktime", "clip.MOV").unwrap(), ".mov");
        assert_eq!(extension_for("application/x-unknown", "a.html").unwrap(), "");
        assert!(extension_for("image/png", "a\u{0}.png").is_err());
    }

    #[test]
    fn only_a_clean_extension_survives() {
        assert_eq!(extension_of("photo.JPG").unwrap(), ".jpg");
        assert_eq!(extension_of("照片.jpeg").unwrap(), ".jpeg");
        assert_eq!(extension_of("../../etc/passwd").unwrap(), "");
        assert_eq!(extension_of("C:\\Users\\me\\pic.png").unwrap(), ".png");
        assert_eq!(extension_of(".bashrc").unwrap(), "");
        assert_eq!(extension_of("a.tar.gz").unwrap(), ".gz");
        assert_eq!(extension_of("x.p%2Fng").unwrap(), "");
        assert_eq!(extension_of("noext").unwrap(), "");
        assert!(extension_of("   ").is_err());
        assert!(extension_of("a\u{0}.jpg").is_err());
        assert!(extension_of(&"a".repeat(2000)).is_err());
    }
}
