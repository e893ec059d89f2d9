// SPDX-License-Identifier: MIT OR Apache-2.0
//! One model on a KServe v2 inference server (Triton), as the element core sees a session:
//! its description (input, outputs, and our metadata keys from the model config's
//! `parameters`), and a run on an input tensor that fills the outputs read.
//!
//! gRPC runs on a single-threaded tokio runtime owned by the model, driven by `block_on` from
//! the thread that runs the model (the streaming thread, or the element's inference thread):
//! the element's threading stays what it is with a local session.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};

use super::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use super::proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use super::proto::{
    ModelConfigRequest, ModelInferRequest, ModelMetadataRequest, RepositoryIndexRequest,
};
use crate::inference::error::{Error, checked_tensor_len};
use crate::inference::model::{InputSpec, ModelDescription, OutputSpec};

/// Where the model is served, and how long a request may take.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSettings {
    /// `grpc://host:port` (the KServe v2 gRPC protocol; Triton's default port is 8001).
    pub server: String,
    /// The model's name on the server.
    pub model: String,
    /// Its version ("" : the server's policy, usually the newest).
    pub version: String,
    /// The longest a request (or connecting at start) may take. A frame whose request fails
    /// because the server went away is retried (reconnecting) until this has passed.
    pub timeout: Duration,
}

/// A model served by an inference server.
pub struct RemoteModel {
    runtime: tokio::runtime::Runtime,
    client: GrpcInferenceServiceClient<Channel>,
    settings: RemoteSettings,
    input_name: String,
    /// The input's shape as the server declared it at start.
    declared_input: Vec<i64>,
    input_channels: usize,
    /// The input tensor, `[1,C,H,W]`, filled in place before each run.
    input: Vec<f32>,
    input_size: (usize, usize),
    /// The outputs read at each run (indices into the description's outputs), with the shape
    /// and values of the last run.
    read: Vec<(String, Vec<i64>, Vec<f32>)>,
    max_tensor_bytes: usize,
    /// Since when the server has been unavailable, once a frame waited the request timeout
    /// out for it: later frames try it once each, without waiting again, until it answers.
    down_since: Option<Instant>,
}

impl std::fmt::Debug for RemoteModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteModel")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The tonic endpoint of `grpc://host:port`.
fn endpoint(server: &str, timeout: Duration) -> Result<Endpoint, Error> {
    let address = server.strip_prefix("grpc://").ok_or_else(|| {
        Error::settings(format!(
            "inference-server '{server}' is not a grpc:// address (e.g. grpc://127.0.0.1:8001)"
        ))
    })?;
    Endpoint::from_shared(format!("http://{address}"))
        .map(|e| e.connect_timeout(timeout).timeout(timeout))
        .map_err(|e| Error::settings(format!("inference-server '{server}': {e}")))
}

impl RemoteModel {
    /// Connects to the server and reads the model's description: its one input, its outputs,
    /// and the metadata keys its config carries as `parameters`.
    pub fn connect(
        settings: &RemoteSettings,
        max_tensor_bytes: usize,
    ) -> Result<(Self, ModelDescription), Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::thread(format!("cannot start the gRPC runtime: {e}")))?;
        let endpoint = endpoint(&settings.server, settings.timeout)?;
        let server = &settings.server;
        let channel = runtime.block_on(endpoint.connect()).map_err(|e| {
            Error::server(format!(
                "cannot reach the inference server at {server}: {}; is it running, and is \
                 inference-server right?",
                source_chain(&e)
            ))
        })?;
        let mut client = GrpcInferenceServiceClient::new(channel)
            .max_decoding_message_size(max_tensor_bytes.saturating_add(1 << 20))
            .max_encoding_message_size(max_tensor_bytes.saturating_add(1 << 20));
        let (name, version) = (settings.model.clone(), settings.version.clone());
        let metadata = runtime
            .block_on(client.model_metadata(ModelMetadataRequest {
                name: name.clone(),
                version: version.clone(),
            }))
            .map_err(|status| {
                let known = runtime
                    .block_on(client.repository_index(RepositoryIndexRequest {
                        repository_name: String::new(),
                        ready: true,
                    }))
                    .map(|r| {
                        r.into_inner()
                            .models
                            .into_iter()
                            .map(|m| m.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                status_error(server, &name, &status).remedy(if known.is_empty() {
                    "check model-name and model-version".to_owned()
                } else {
                    format!("check model-name and model-version (the server has: {known})")
                })
            })?
            .into_inner();
        let config = runtime
            .block_on(client.model_config(ModelConfigRequest {
                name: name.clone(),
                version: version.clone(),
            }))
            .map_err(|status| status_error(server, &name, &status))?
            .into_inner();
        let description = describe(&metadata, config.config.as_ref())?;
        let model = Self {
            runtime,
            client,
            settings: settings.clone(),
            input_name: description.input.name.clone(),
            declared_input: metadata
                .inputs
                .first()
                .map(|i| i.shape.clone())
                .unwrap_or_default(),
            input_channels: description.input.channels,
            input: Vec::new(),
            input_size: (0, 0),
            read: vec![(description.outputs[0].name.clone(), Vec::new(), Vec::new())],
            max_tensor_bytes,
            down_since: None,
        };
        Ok((model, description))
    }

    /// Reads the outputs named (the main one first) at each run.
    pub fn read_outputs(&mut self, names: &[&str]) {
        self.read = names
            .iter()
            .map(|n| ((*n).to_owned(), Vec::new(), Vec::new()))
            .collect();
    }

    /// The input tensor for a `width` x `height` input, to be filled before [`Self::run`].
    pub fn input_mut(&mut self, width: usize, height: usize) -> Result<&mut [f32], Error> {
        let shape = [1, self.input_channels, height, width];
        let len = checked_tensor_len("the input tensor", &shape, self.max_tensor_bytes)?;
        self.input.resize(len, 0.0);
        self.input_size = (width, height);
        Ok(&mut self.input)
    }

    /// Sends the input and waits for the outputs read. A server that went away (connection
    /// refused or reset) or no longer has the model (restarting) is tried again until the
    /// request timeout has passed since the first attempt; once a frame has waited that out,
    /// the next frames try once each until the server answers (a stream that goes on through
    /// the failures, on-inference-error=pass, is not held up a timeout per frame). Every
    /// other failure is returned at once.
    pub fn run(&mut self) -> Result<(), Error> {
        let (width, height) = self.input_size;
        // Built for each attempt: the message owns a copy of the tensor, and tonic consumes it.
        let request = || ModelInferRequest {
            model_name: self.settings.model.clone(),
            model_version: self.settings.version.clone(),
            id: String::new(),
            parameters: HashMap::new(),
            inputs: vec![InferInputTensor {
                name: self.input_name.clone(),
                datatype: "FP32".to_owned(),
                shape: vec![1, self.input_channels as i64, height as i64, width as i64],
                parameters: HashMap::new(),
                contents: None,
            }],
            outputs: self
                .read
                .iter()
                .map(|(name, ..)| InferRequestedOutputTensor {
                    name: name.clone(),
                    parameters: HashMap::new(),
                })
                .collect(),
            raw_input_contents: vec![bytemuck::cast_slice(&self.input).to_vec()],
        };
        let started = Instant::now();
        let wait_until = match self.down_since {
            Some(_) => started,
            None => started + self.settings.timeout,
        };
        let response = loop {
            let mut call = tonic::Request::new(request());
            call.set_timeout(self.settings.timeout);
            match self.runtime.block_on(self.client.model_infer(call)) {
                Ok(response) => {
                    self.down_since = None;
                    break response.into_inner();
                }
                // The channel reconnects on the next call.
                Err(status) if retryable(&status) && Instant::now() < wait_until => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(status) if retryable(&status) => {
                    let since = *self.down_since.get_or_insert(started);
                    return Err(Error::server(format!(
                        "the inference server at {}, model '{}', has been unavailable for {} ms \
                         (request-timeout {} ms); last: {:?}: {}",
                        self.settings.server,
                        self.settings.model,
                        since.elapsed().as_millis(),
                        self.settings.timeout.as_millis(),
                        status.code(),
                        status.message()
                    ))
                    .remedy("restart the server, or raise request-timeout to wait longer"));
                }
                Err(status) if status.code() == tonic::Code::InvalidArgument => {
                    return Err(self.refused(&status));
                }
                Err(status) => {
                    return Err(status_error(
                        &self.settings.server,
                        &self.settings.model,
                        &status,
                    ));
                }
            }
        };
        for (name, shape, values) in &mut self.read {
            let index = response
                .outputs
                .iter()
                .position(|o| &o.name == name)
                .ok_or_else(|| {
                    Error::inference(format!("the server's answer has no output '{name}'"))
                })?;
            let output = &response.outputs[index];
            if output.datatype != "FP32" {
                return Err(Error::inference(format!(
                    "the server's output '{name}' is {}, not FP32",
                    output.datatype
                )));
            }
            let raw = response.raw_output_contents.get(index).ok_or_else(|| {
                Error::inference(format!("the server's answer has no data for '{name}'"))
            })?;
            let dims: Vec<usize> = output
                .shape
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(0))
                .collect();
            let len = checked_tensor_len("the output tensor", &dims, self.max_tensor_bytes)?;
            if raw.len() != len * 4 {
                return Err(Error::inference(format!(
                    "the server's output '{name}' has {} bytes for shape {:?}",
                    raw.len(),
                    output.shape
                )));
            }
            shape.clone_from(&output.shape);
            values.clear();
            values.extend(
                raw.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        Ok(())
    }

    /// A request the server refused (a shape, a type): the error says whether the served
    /// model changed since the start (its metadata read again) and what to do.
    fn refused(&mut self, status: &tonic::Status) -> Error {
        let error = status_error(&self.settings.server, &self.settings.model, status);
        let (width, height) = self.input_size;
        let sent = format!(
            "the element sent [1,{},{height},{width}]",
            self.input_channels
        );
        let mut call = tonic::Request::new(ModelMetadataRequest {
            name: self.settings.model.clone(),
            version: self.settings.version.clone(),
        });
        call.set_timeout(self.settings.timeout);
        let now = self
            .runtime
            .block_on(self.client.model_metadata(call))
            .ok()
            .and_then(|m| m.into_inner().inputs.first().map(|i| i.shape.clone()));
        match now {
            Some(now) if now != self.declared_input => error.remedy(format!(
                "{sent}; the served model changed since the element started (its input was \
                 {:?}, it is now {now:?}): restart the pipeline, which reads the model's \
                 description again",
                self.declared_input
            )),
            _ => error.remedy(format!(
                "{sent}, which the server's metadata allows ({:?}): check the model's config \
                 on the server against what its backend accepts",
                self.declared_input
            )),
        }
    }

    /// The input last sent.
    pub fn input(&self) -> &[f32] {
        &self.input
    }

    /// The shape and values of the `i`-th output read, from the last run.
    pub fn output(&self, i: usize) -> Option<(&[i64], &[f32])> {
        self.read
            .get(i)
            .map(|(_, shape, values)| (&shape[..], &values[..]))
    }
}

/// The model description from the server's metadata and config.
fn describe(
    metadata: &super::proto::ModelMetadataResponse,
    config: Option<&super::proto::ModelConfig>,
) -> Result<ModelDescription, Error> {
    let input = match &metadata.inputs[..] {
        [only] => only,
        [] => return Err(Error::settings("the served model has no input")),
        more => {
            let names: Vec<&str> = more.iter().map(|i| i.name.as_str()).collect();
            return Err(Error::settings(format!(
                "the served model has {} inputs ({}); expected one image input [1,3,H,W]",
                names.len(),
                names.join(", ")
            )));
        }
    };
    // A batching model's metadata leaves out nothing: Triton reports [-1,C,H,W].
    let input = InputSpec::validate(&input.name, input.datatype == "FP32", &input.shape)?;
    if metadata.outputs.is_empty() {
        return Err(Error::settings("the served model has no output"));
    }
    let outputs = metadata
        .outputs
        .iter()
        .map(|o| OutputSpec {
            name: o.name.clone(),
            is_float: o.datatype == "FP32",
            shape: o.shape.clone(),
        })
        .collect();
    let metadata = config
        .map(|c| {
            c.parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.string_value.clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(ModelDescription {
        input,
        outputs,
        metadata,
    })
}

/// Whether a failed frame request may succeed when tried again: the server went away
/// (unavailable; cancelled while it shuts down), or restarted and is still loading the model
/// (not found).
fn retryable(status: &tonic::Status) -> bool {
    !timed_out(status)
        && matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::NotFound
        )
}

/// Whether the request ran out of time: the server's deadline, or tonic's own timeout on the
/// client side (which it reports as cancelled, "Timeout expired").
fn timed_out(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::DeadlineExceeded
        || (status.code() == tonic::Code::Cancelled && status.message().contains("Timeout expired"))
}

/// A failed call, as an error that names the server, the model and the cause.
fn status_error(server: &str, model: &str, status: &tonic::Status) -> Error {
    let what = format!("the inference server at {server}, model '{model}'");
    let message = status.message();
    if timed_out(status) {
        return Error::server(format!(
            "{what}: no answer within the request timeout ({message})"
        ))
        .remedy("raise request-timeout, or give the server more capacity");
    }
    match status.code() {
        tonic::Code::NotFound => Error::settings(format!("{what}: no such model ({message})")),
        tonic::Code::InvalidArgument => {
            Error::inference(format!("{what} refused the request: {message}"))
        }
        tonic::Code::Unavailable => Error::server(format!(
            "{what} is unavailable ({message}), and did not come back within the request \
             timeout"
        ))
        .remedy("restart the server, or raise request-timeout to wait longer".to_owned()),
        code => Error::inference(format!("{what}: {code:?}: {message}")),
    }
}

/// An error and its sources, as one line (tonic's own message is only "transport error").
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
