//! The emulator's callback signing key: made on first start, kept as PEM in the data directory,
//! so callbacks keep verifying across restarts (a verifier may have cached the public key).

use std::io;
use std::path::Path;

use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};

const KEY_FILE: &str = "callback_key.pem";
/// OSS's own key is 512-bit; 1024 keeps key generation quick while staying accepted everywhere.
const KEY_BITS: usize = 1024;

pub struct CallbackKey {
    pub private: RsaPrivateKey,
    /// `-----BEGIN PUBLIC KEY-----`, what OSS serves at its public-key URL.
    pub public_pem: String,
}

// The private key must never reach a log.
impl std::fmt::Debug for CallbackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackKey").finish_non_exhaustive()
    }
}

impl CallbackKey {
    pub fn load_or_create(data_dir: &Path) -> io::Result<CallbackKey> {
        let path = data_dir.join(KEY_FILE);
        let private = match std::fs::read_to_string(&path) {
            Ok(pem) => RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a PKCS#8 RSA key: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS).map_err(io::Error::other)?;
                let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(io::Error::other)?;
                write_private(&path, pem.as_bytes())?;
                key
            }
            Err(e) => return Err(e),
        };
        let public_pem = RsaPublicKey::from(&private)
            .to_public_key_pem(LineEnding::LF)
            .map_err(io::Error::other)?;
        Ok(CallbackKey { private, public_pem })
    }
}

/// Written owner-only where the platform has permissions.
pub(super) fn write_private(path: &Path, pem: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signing::callback;

    #[test]
    fn key_is_made_once_and_signs_verifiable_callbacks() {
        let dir = tempfile::tempdir().unwrap();
        let first = CallbackKey::load_or_create(dir.path()).unwrap();
        let again = CallbackKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_pem, again.public_pem);
        assert!(!format!("{first:?}").contains("PRIVATE"));
        let sig = callback::sign_for_tests(&again.private, "/cb", None, b"a=1").unwrap();
        let public = callback::parse_public_key_pem(&first.public_pem).unwrap();
        callback::verify(&public, &sig, "/cb", None, b"a=1").unwrap();
    }
}
