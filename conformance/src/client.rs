//! A blocking HTTP client that hands back whatever the target answered: every status is an
//! answer (never an error), redirects are not followed, every request is bounded in time.

use std::time::Duration;

use ureq::Agent;
use ureq::http;

/// Every request, from connecting to reading the last byte of the body.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Largest body read (the OpenAPI document is the largest answer, a few tens of KB).
const MAX_BODY: u64 = 4 * 1024 * 1024;

/// A request, ready to send to any target: the path holds its query.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// What a target answered. Header names are lower case.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Every value of a header, joined as one would fold them (`a, b`); `None` when absent.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
        if values.is_empty() { None } else { Some(values.join(", ")) }
    }
}

pub struct Client {
    agent: Agent,
}

impl Client {
    pub fn new() -> Self {
        let config =
            Agent::config_builder().http_status_as_error(false).max_redirects(0).timeout_global(Some(TIMEOUT)).build();
        Self { agent: Agent::new_with_config(config) }
    }

    /// Sends `request` to the target at `base` (scheme, host, port, no trailing slash).
    pub fn send(&self, base: &str, request: &Request) -> Result<Response, String> {
        let mut builder = http::Request::builder().method(request.method).uri(format!("{base}{}", request.path));
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let sent = match &request.body {
            Some(body) => builder.body(body.as_slice()).map_err(|e| e.to_string()).and_then(|r| self.run(r)),
            None => builder.body(()).map_err(|e| e.to_string()).and_then(|r| self.run(r)),
        };
        let mut response = sent?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| format!("reading the body: {e}"))?;
        Ok(Response { status, headers, body })
    }

    fn run(&self, request: http::Request<impl ureq::AsSendBody>) -> Result<http::Response<ureq::Body>, String> {
        self.agent.run(request).map_err(|e| e.to_string())
    }
}
