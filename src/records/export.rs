//! Streaming export: pages of the filtered records written out as NDJSON or CSV, so memory stays
//! flat however many rows match.

use actix_web::web::Bytes;
use futures_util::stream::{self, Stream};

use crate::store::timestamp;
use crate::store::{DynStore, PageCursor, StoreError, UploadFilter, UploadRecord};

const PAGE: u32 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }
}

const CSV_COLUMNS: &[&str] = &[
    "upload_id",
    "user_id",
    "username",
    "profile",
    "bucket",
    "key",
    "size",
    "etag",
    "mime_type",
    "image_width",
    "image_height",
    "image_format",
    "status",
    "source",
    "client_ip",
    "oss_request_id",
    "issued_at",
    "completed_at",
    "vars",
];

fn csv_field(value: &str) -> String {
    // Formula injection: a spreadsheet would evaluate a leading =, +, - or @.
    let guarded = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn csv_row(r: &UploadRecord) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let fields = [
        r.upload_id.clone(),
        r.user_id.clone(),
        opt(&r.username),
        r.profile.clone(),
        r.bucket.clone(),
        r.key.clone(),
        num(r.size),
        opt(&r.etag),
        opt(&r.mime_type),
        num(r.image_width.map(i64::from)),
        num(r.image_height.map(i64::from)),
        opt(&r.image_format),
        r.status.as_str().to_string(),
        r.source.map(|s| s.as_str().to_string()).unwrap_or_default(),
        opt(&r.client_ip),
        opt(&r.oss_request_id),
        // The same `Z` form as the JSON records.
        timestamp::format(r.issued_at),
        r.completed_at.map(timestamp::format).unwrap_or_default(),
        serde_json::Value::Object(r.vars.clone()).to_string(),
    ];
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

fn render(format: Format, rows: &[UploadRecord]) -> Bytes {
    let mut out = String::new();
    for r in rows {
        match format {
            Format::Ndjson => {
                out.push_str(&serde_json::to_string(r).unwrap_or_default());
                out.push('\n');
            }
            Format::Csv => out.push_str(&csv_row(r)),
        }
    }
    Bytes::from(out)
}

enum State {
    Header,
    Page(Option<PageCursor>),
    Done,
}

pub fn stream(
    store: DynStore,
    filter: UploadFilter,
    format: Format,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    stream::unfold(State::Header, move |state| {
        let store = store.clone();
        let filter = filter.clone();
        async move {
            match state {
                State::Header if format == Format::Csv => {
                    let header = format!("{}\r\n", CSV_COLUMNS.join(","));
                    Some((Ok(Bytes::from(header)), State::Page(None)))
                }
                State::Header => Some((Ok(Bytes::new()), State::Page(None))),
                State::Page(cursor) => match store.query_uploads(&filter, cursor.as_ref(), PAGE).await {
                    Ok(rows) => {
                        let next = match rows.last() {
                            Some(last) if rows.len() == PAGE as usize => State::Page(Some(PageCursor {
                                completed_at: filter.time_of(last),
                                upload_id: last.upload_id.clone(),
                            })),
                            _ => State::Done,
                        };
                        Some((Ok(render(format, &rows)), next))
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "export interrupted");
                        Some((Err(export_error(err)), State::Done))
                    }
                },
                State::Done => None,
            }
        }
    })
}

fn export_error(err: StoreError) -> actix_web::Error {
    actix_web::error::ErrorServiceUnavailable(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_escapes_and_guards_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
