// SPDX-License-Identifier: MIT OR Apache-2.0
//! The KServe v2 gRPC protocol (package `inference`, Triton's `grpc_service.proto` and
//! `model_config.proto`), generated at build time from `triton/proto/`.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("inference");
