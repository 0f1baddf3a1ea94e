//! The outbox: an upload event, made from the record a statement just wrote and inserted in that
//! statement's transaction, so a record never changes without its event.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use crate::store::sql::SqlTime;
use crate::store::{UploadRecord, UploadStatus};

/// The event types, as `type` in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Completed,
    Rejected,
    Abandoned,
    /// An overwrite changed a settled record.
    Updated,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::Completed,
        EventType::Rejected,
        EventType::Abandoned,
        EventType::Updated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Completed => "upload.completed",
            EventType::Rejected => "upload.rejected",
            EventType::Abandoned => "upload.abandoned",
            EventType::Updated => "upload.updated",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The event of a record that was just settled.
    pub fn of_settled(record: &UploadRecord) -> EventType {
        match record.status {
            UploadStatus::Rejected => EventType::Rejected,
            _ => EventType::Completed,
        }
    }
}

/// An event to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// `evt_` and a time-ordered UUID: the `webhook-id` of every delivery, retry and replay.
    pub id: String,
    pub event_type: EventType,
    pub upload_id: String,
    pub profile: String,
    /// The exact body every delivery sends.
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

/// The Standard Webhooks body: `type`, `timestamp`, and the record as the records API shows it.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    event_type: &'static str,
    #[serde(serialize_with = "crate::store::timestamp::serialize")]
    timestamp: DateTime<Utc>,
    data: &'a UploadRecord,
}

impl NewEvent {
    pub fn new(event_type: EventType, record: &UploadRecord, at: DateTime<Utc>) -> NewEvent {
        let payload = serde_json::to_string(&Payload {
            event_type: event_type.as_str(),
            timestamp: at,
            data: record,
        })
        // A record of strings, numbers and a JSON map always serialises.
        .unwrap_or_default();
        NewEvent {
            id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            event_type,
            upload_id: record.upload_id.clone(),
            profile: record.profile.clone(),
            payload,
            created_at: at,
        }
    }
}

pub const INSERT_EVENT: &str =
    "INSERT INTO webhook_events (id, event_type, upload_id, profile, payload, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)";

pub fn bind_event<'q, DB>(
    query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    event: &'q NewEvent,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    &'q String: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    SqlTime: Encode<'q, DB> + Type<DB>,
{
    query
        .bind(&event.id)
        .bind(event.event_type.as_str())
        .bind(&event.upload_id)
        .bind(&event.profile)
        .bind(&event.payload)
        .bind(SqlTime(event.created_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UploadSource;

    fn record(status: UploadStatus) -> UploadRecord {
        let at = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .to_utc();
        UploadRecord {
            upload_id: "up1".into(),
            user_id: "u1".into(),
            username: Some("alice".into()),
            profile: "avatar".into(),
            bucket: "b".into(),
            key: "k".into(),
            status,
            source: Some(UploadSource::Callback),
            size: Some(3),
            etag: None,
            mime_type: Some("image/png".into()),
            image_width: None,
            image_height: None,
            image_format: None,
            vars: serde_json::Map::new(),
            client_ip: None,
            oss_request_id: None,
            reason: None,
            issued_at: at,
            expires_at: at,
            completed_at: Some(at),
        }
    }

    #[test]
    fn payload_carries_type_time_and_the_record() {
        let at = Utc::now();
        let event = NewEvent::new(
            EventType::of_settled(&record(UploadStatus::Completed)),
            &record(UploadStatus::Completed),
            at,
        );
        let body: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(body["type"], "upload.completed");
        assert_eq!(body["data"]["upload_id"], "up1");
        assert_eq!(body["data"]["username"], "alice");
        assert_eq!(body["data"]["completed_at"], "2026-12-03T10:00:00Z");
        assert!(event.id.starts_with("evt_") && !event.id.contains('.'));
        assert_eq!(
            EventType::of_settled(&record(UploadStatus::Rejected)),
            EventType::Rejected
        );
    }

    #[test]
    fn event_types_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("upload.deleted"), None);
    }
}
