//! The observatory's contracts as Rust: prost messages, tonic clients and servers, and the
//! proto3 JSON mapping (serde, via pbjson) for every package under `proto/`.
#![forbid(unsafe_code)]
#![allow(clippy::all, missing_docs)]

/// The encoded `FileDescriptorSet` of every contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sse_descriptor.bin"));

// Every package under `proto/`, nested as `sse::<service>::v1`, with its JSON mapping.
include!(concat!(env!("OUT_DIR"), "/_includes.rs"));

pub use sse::access::v1 as access;
pub use sse::indicators::v1 as indicators;
pub use sse::initiatives::v1 as initiatives;
pub use sse::lawguide::v1 as lawguide;
pub use sse::r#type::v1 as types;

pub mod contract;
