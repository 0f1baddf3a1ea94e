//! The migrations of each backend, embedded at build time (`build.rs`), as sqlx's `migrate!`
//! would embed them: same versions, descriptions and checksums, so databases migrated by either
//! agree. Without the proc macro, sqlx is built once, not a second time for the host.

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

mod files {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// One backend's migration files, as `(file name, SQL)`.
#[derive(Debug, Clone, Copy)]
pub struct Embedded(&'static [(&'static str, &'static str)]);

pub const POSTGRES: Embedded = Embedded(files::POSTGRES);
pub const SQLITE: Embedded = Embedded(files::SQLITE);

impl Embedded {
    /// `<version>_<description>.sql`, parsed as sqlx parses it.
    fn migrations(self) -> Result<Vec<Migration>, BoxDynError> {
        self.0
            .iter()
            .map(|(name, sql)| {
                let stem = name.strip_suffix(".sql").unwrap_or(name);
                let (version, description) = stem
                    .split_once('_')
                    .ok_or_else(|| format!("migration {name:?} is not <version>_<description>.sql"))?;
                let version: i64 = version
                    .parse()
                    .map_err(|_| format!("migration {name:?}: the version is not a number"))?;
                Ok(Migration::new(
                    version,
                    Cow::Owned(description.replace('_', " ")),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    sql.starts_with("-- no-transaction"),
                ))
            })
            .collect()
    }

    pub async fn migrator(self) -> Result<Migrator, sqlx::migrate::MigrateError> {
        Migrator::new(self).await
    }
}

#[cfg(test)]
impl Embedded {
    /// The migrations whose file names sort before `name`: a database as an older release left it.
    pub fn before(self, name: &str) -> Embedded {
        Embedded(&self.0[..self.0.iter().take_while(|(n, _)| *n < name).count()])
    }
}

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move { self.migrations() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same checksums `sqlx::migrate!` computes: databases migrated before keep working.
    #[test]
    fn both_backends_embed_every_file_in_version_order_with_paired_names() {
        for (embedded, dir) in [(POSTGRES, "postgres"), (SQLITE, "sqlite")] {
            let on_disk = std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .count();
            let migrations = embedded.migrations().unwrap();
            assert_eq!(migrations.len(), on_disk, "{dir}");
            assert!(
                migrations.windows(2).all(|w| w[0].version < w[1].version),
                "{dir}"
            );
            assert_eq!(migrations[0].description, "init");
        }
        let names = |e: Embedded| e.0.iter().map(|(n, _)| *n).collect::<Vec<_>>();
        assert_eq!(names(POSTGRES), names(SQLITE));
    }
}
