//! A small pooled HTTP client for set-up calls (discovery, probes, logins): not on the hot
//! path, so convenience wins over cost.

use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Set-up client bound to one base URL.
#[derive(Clone)]
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

/// An answer: status and body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// Raw body.
    pub body: Bytes,
}

impl Answer {
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The first 200 characters of the body, for messages.
    pub fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(200)
            .collect()
    }
}

impl Api {
    /// A client for `base` (`http://host:port`).
    pub fn new(base: &str) -> Api {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        Api {
            client,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Sends one request; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        auth: Option<&HeaderValue>,
    ) -> Result<Answer> {
        let url = format!("{}{}", self.base, path);
        let mut builder = Request::builder().method(method.clone()).uri(&url);
        if let Some(auth) = auth {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(serde_json::to_vec(v)?))
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder.body(body)?;
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .with_context(|| format!("{method} {url}: no answer within 30 s"))?
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, auth: Option<&HeaderValue>) -> Result<Answer> {
        self.call(Method::GET, path, None, auth).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Answer> {
        self.call(Method::POST, path, Some(body), None).await
    }
}
