// SPDX-License-Identifier: MIT OR Apache-2.0
//! Remote inference on an inference server speaking the KServe v2 gRPC protocol (NVIDIA
//! Triton Inference Server, KServe): the element keeps its own pre- and post-processing and
//! sends the model's input tensor to the server, whose dynamic batcher may batch it with
//! other streams' requests.

pub mod client;
pub mod proto;

pub use client::{RemoteModel, RemoteSettings};
