//! Outbound HTTP to Alibaba Cloud.

pub mod oss;

pub use oss::{ObjectInfo, OssClient, OssError};
