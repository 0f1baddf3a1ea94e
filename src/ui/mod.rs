//! `/ui`: a read-only look at the records for operators and backend teams, rendered here (no
//! scripts, no external assets): recent uploads with the records API's filters, a per-day chart
//! of count and bytes, pending and rejected uploads with their reasons, and the spool depth.
//! It reads through the same store queries as the records API.

mod chart;
mod html;
mod session;

use std::fmt::Write;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, SecondsFormat, Utc};

use self::chart::Metric;
use self::html::{answer, bytes, document, esc};
use crate::error::ApiError;
use crate::http::{Endpoint, Has, Routes};
use crate::ops::Readiness;
use crate::records::{fetch_page, store_error, RecordsQuery, RecordsRoute};
use crate::store::{DynStore, StatsGroup, UploadFilter, UploadRecord, UploadStatus};

pub use session::COOKIE;

crate::http::needs!(DynStore, Readiness);

pub fn configure<S: Needs>(routes: &mut Routes) {
    routes
        .add(Endpoint::new("/ui").get(dashboard::<S>))
        .add(Endpoint::new("/ui/login").post(session::login))
        .add(Endpoint::new("/ui/logout").post(session::logout));
}

/// Rows in the main table, and in each of the pending and rejected lists.
const PAGE: u32 = 50;
const LIST: u32 = 20;
/// The chart's days when the filters give no start; and the most it draws.
const CHART_DAYS: i64 = 30;
const MAX_CHART_DAYS: i64 = 92;

/// The filters a form sends: an empty field means "any", not "must be empty".
fn filled_in(raw: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

async fn dashboard<S: Has<DynStore> + Has<Readiness> + 'static>(
    req: HttpRequest,
    state: web::Data<S>,
) -> HttpResponse {
    let store: &DynStore = state.get();
    let readiness: &Readiness = state.get();
    let key = match session::signed_in(&req).await {
        Ok(key) => key,
        Err(sign_in) => return sign_in,
    };
    let pairs = filled_in(req.query_string());
    let view = View {
        key_name: &key.name,
        pairs: &pairs,
    };
    let page = async {
        let raw = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let q = RecordsQuery::parse(RecordsRoute::List, &raw)?;
        let filter = q.filter()?;
        let limit = q.limit.map_or(Ok(PAGE), |_| q.limit())?;
        let cursor = q.cursor()?;
        let facts = facts(store, readiness).await?;
        let chart = chart(store, &filter).await?;
        let (rows, next) = fetch_page(store, &filter, cursor.as_ref(), limit).await?;
        let pending = latest(store, UploadStatus::Pending).await?;
        let rejected = latest(store, UploadStatus::Rejected).await?;
        Ok::<String, ApiError>(format!(
            "{facts}{chart}{}{}{}",
            view.uploads(&rows, next.as_deref()),
            list(
                "Pending",
                "issued, not yet uploaded or not yet reported",
                &pending
            ),
            list("Rejected", "uploaded against the profile", &rejected),
        ))
    }
    .await;
    match page {
        Ok(sections) => answer(StatusCode::OK, None, view.document(&sections, None)),
        Err(e) => answer(e.status, Some(e.code), view.document("", Some(&e.message))),
    }
}

/// The latest uploads of one status, whatever the filters say.
async fn latest(store: &DynStore, status: UploadStatus) -> Result<Vec<UploadRecord>, ApiError> {
    let filter = UploadFilter {
        status: Some(status),
        ..UploadFilter::default()
    };
    Ok(fetch_page(store, &filter, None, LIST).await?.0)
}

async fn facts(store: &DynStore, readiness: &Readiness) -> Result<String, ApiError> {
    let (pending, oldest) = store.pending_summary().await.map_err(store_error)?;
    let oldest = oldest.map_or("none".to_string(), |t| age(Utc::now() - t));
    Ok(format!(
        "<section><div class=\"facts\">\
         <div id=\"spool-depth\"><b>{}</b>callbacks in the spool, waiting for the database</div>\
         <div id=\"pending-count\"><b>{pending}</b>uploads pending</div>\
         <div><b>{}</b>oldest pending</div><div><b>{}</b>database</div></div></section>",
        readiness.spool_depth(),
        esc(&oldest),
        store.backend().as_str(),
    ))
}

fn age(d: Duration) -> String {
    match d.num_seconds().max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// Count and bytes per UTC day under the same filters: the last 30 days unless they give a
/// start, and at most 92 bars.
async fn chart(store: &DynStore, filter: &UploadFilter) -> Result<String, ApiError> {
    let now = Utc::now();
    let end = filter.completed_to.unwrap_or(now);
    let start = filter
        .completed_from
        .unwrap_or(end - Duration::days(CHART_DAYS - 1))
        .max(end - Duration::days(MAX_CHART_DAYS - 1));
    let mut ranged = filter.clone();
    ranged.completed_from = Some(midnight(start));
    let rows = store
        .upload_stats(&ranged, StatsGroup::Day)
        .await
        .map_err(store_error)?;
    // `completed_to` is exclusive: the last day drawn is the one before it.
    let last = (end - Duration::nanoseconds(1))
        .date_naive()
        .max(start.date_naive());
    let days = chart::days(&rows, start.date_naive(), last);
    let (count, total): (i64, i64) = days.iter().fold((0, 0), |(c, b), d| (c + d.count, b + d.bytes));
    Ok(format!(
        "<section id=\"per-day\"><h2>Per day (UTC), {} to {}: {count} uploaded, {}</h2>\
         <div class=\"charts\"><figure>{}<figcaption>uploads</figcaption></figure>\
         <figure>{}<figcaption>bytes</figcaption></figure></div></section>",
        start.date_naive(),
        last,
        bytes(total),
        chart::svg(&days, Metric::Count, "uploads per day"),
        chart::svg(&days, Metric::Bytes, "bytes per day"),
    ))
}

fn midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive().and_hms_opt(0, 0, 0).map_or(t, |m| m.and_utc())
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What every page shows around its sections.
struct View<'a> {
    key_name: &'a str,
    pairs: &'a [(String, String)],
}

impl View<'_> {
    fn value(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn document(&self, sections: &str, problem: Option<&str>) -> String {
        let problem = problem
            .map(|p| format!("<section class=\"error\" role=\"alert\">{}</section>", esc(p)))
            .unwrap_or_default();
        let body = format!(
            "<header><h1>upload-signer records</h1><span>key <b>{}</b></span>\
             <form method=\"post\" action=\"/ui/logout\"><button type=\"submit\">Sign out</button></form>\
             </header><main>{problem}{}{sections}</main>",
            esc(self.key_name),
            self.filters(),
        );
        document("Records", &body)
    }

    fn filters(&self) -> String {
        let mut s = String::from(
            "<section><form class=\"filters\" method=\"get\" action=\"/ui\">\
             <label>status<select name=\"status\">",
        );
        let status = self.value("status");
        for option in ["completed", "pending", "rejected", "abandoned"] {
            let selected = if status == option { " selected" } else { "" };
            let _ = write!(s, "<option{selected}>{option}</option>");
        }
        s.push_str("</select></label>");
        let fields = [
            ("profile", "avatar"),
            ("username", "alice"),
            ("user_id", ""),
            ("key_prefix", "chat/"),
            ("content_type", "image/*"),
            ("min_size", "bytes"),
            ("max_size", "bytes"),
            ("completed_from", "2026-12-01T00:00:00Z"),
            ("completed_to", "2026-12-04T00:00:00Z"),
        ];
        for (name, hint) in fields {
            let _ = write!(
                s,
                "<label>{name}<input name=\"{name}\" value=\"{}\" placeholder=\"{hint}\"></label>",
                esc(self.value(name))
            );
        }
        s.push_str("<button type=\"submit\">Filter</button><a href=\"/ui\">clear</a></form></section>");
        s
    }

    fn uploads(&self, rows: &[UploadRecord], next: Option<&str>) -> String {
        let mut s = format!(
            "<section id=\"uploads\"><h2>Uploads ({}, newest first)</h2>",
            esc(match self.value("status") {
                "" => "completed",
                other => other,
            })
        );
        s.push_str(&table(rows));
        if let Some(next) = next {
            let mut pairs: Vec<(&str, &str)> = self
                .pairs
                .iter()
                .filter(|(n, _)| n != "cursor")
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            pairs.push(("cursor", next));
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            let _ = write!(
                s,
                "<p><a rel=\"next\" href=\"/ui?{}\">Older →</a></p>",
                esc(&query)
            );
        }
        s.push_str("</section>");
        s
    }
}

fn list(title: &str, meaning: &str, rows: &[UploadRecord]) -> String {
    format!(
        "<section id=\"{}\"><h2>{title} <span class=\"muted\">(latest {LIST}; {meaning})</span></h2>{}</section>",
        title.to_lowercase(),
        table(rows)
    )
}

fn table(rows: &[UploadRecord]) -> String {
    if rows.is_empty() {
        return "<p class=\"muted\">None.</p>".into();
    }
    let mut s = String::from(
        "<table><thead><tr><th>time</th><th>status</th><th>upload</th><th>user</th><th>profile</th>\
         <th>object key</th><th>size</th><th>type</th><th>source</th><th>reason</th></tr></thead><tbody>",
    );
    for r in rows {
        let time = r.completed_at.unwrap_or(r.issued_at);
        let _ = write!(
            s,
            "<tr data-upload-id=\"{id}\"><td>{}</td><td class=\"st-{status}\">{status}</td><td><code>{id}</code></td>\
             <td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            stamp(time),
            esc(r.username.as_deref().unwrap_or(&r.user_id)),
            esc(&r.profile),
            esc(&r.key),
            r.size.map(bytes).unwrap_or_default(),
            esc(r.mime_type.as_deref().unwrap_or("")),
            r.source.map_or("", |s| s.as_str()),
            esc(r.reason.as_deref().unwrap_or("")),
            id = esc(&r.upload_id),
            status = r.status.as_str(),
        );
    }
    s.push_str("</tbody></table>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_form_fields_are_no_filter() {
        let pairs = filled_in("status=rejected&profile=&username=&min_size=10");
        assert_eq!(
            pairs,
            vec![
                ("status".to_string(), "rejected".to_string()),
                ("min_size".to_string(), "10".to_string())
            ]
        );
    }

    #[test]
    fn ages_read_in_the_right_unit() {
        assert_eq!(age(Duration::seconds(5)), "5 s");
        assert_eq!(age(Duration::minutes(30)), "30 min");
        assert_eq!(age(Duration::hours(5)), "5 h");
        assert_eq!(age(Duration::days(3)), "3 days");
        assert_eq!(age(Duration::seconds(-3)), "0 s");
    }
}
