//! A hostile vendor endpoint on loopback, for the hardening tests: it answers every request the
//! same bad way ([`Behaviour`]) and records what it received, so a test can show that no
//! credential reached it (the second host of a redirect) and that the controller survived.

#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// How the server answers.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// 200 with a JSON array streamed without Content-Length, `megabytes` long (never ends
    /// early: a client that reads it whole holds all of it).
    HugeJsonArray { megabytes: usize },
    /// 200 with `depth` nested elements inside a SOAP envelope.
    DeepXml { depth: usize },
    /// `status` with `Location: <to><same path and query>`.
    Redirect { status: u16, to: String },
    /// 200 whose body arrives one byte a second.
    Drip,
    /// Accepts the request and never answers.
    Stall,
    /// A token response whose `expires_in` no clock can hold.
    AbsurdToken,
    /// 200 `{}`: records only (the second host of a redirect).
    Record,
}

/// One request as received: method, path and query, headers and body, all as text.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub uri: String,
    pub headers: String,
    pub body: String,
}

impl Received {
    /// Whether `value` appears anywhere in what was received.
    pub fn contains(&self, value: &str) -> bool {
        self.uri.contains(value) || self.headers.contains(value) || self.body.contains(value)
    }
}

struct Shared {
    behaviour: Behaviour,
    received: Mutex<Vec<Received>>,
}

pub struct HostileServer {
    shared: Arc<Shared>,
    port: u16,
    _task: tokio::task::JoinHandle<()>,
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self._task.abort();
    }
}

impl HostileServer {
    pub async fn start(behaviour: Behaviour) -> Self {
        let shared = Arc::new(Shared { behaviour, received: Mutex::new(Vec::new()) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HostileServer { shared, port, _task: task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers_text =
        headers.iter().map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes()))).collect::<Vec<_>>();
    shared.received.lock().unwrap().push(Received {
        method: method.to_string(),
        uri: uri.to_string(),
        headers: headers_text.join("\n"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    match &shared.behaviour {
        Behaviour::HugeJsonArray { megabytes } => {
            let row = Bytes::from_static(br#"{"Id":1,"FirstName":"x","LastName":"y","Email":"z@example.org"},"#);
            let rows = (*megabytes * 1024 * 1024) / row.len();
            let chunks_of = 1024;
            let stream = futures::stream::iter(0..rows / chunks_of).map(move |_| {
                let chunk: Vec<u8> = row.iter().copied().cycle().take(row.len() * chunks_of).collect();
                Ok::<Bytes, Infallible>(Bytes::from(chunk))
            });
            let open = futures::stream::once(async { Ok::<Bytes, Infallible>(Bytes::from_static(b"[")) });
            let close = futures::stream::once(async { Ok::<Bytes, Infallible>(Bytes::from_static(b"{}]")) });
            let body = Body::from_stream(open.chain(stream).chain(close));
            (StatusCode::OK, [("content-type", "application/json")], body).into_response()
        }
        Behaviour::DeepXml { depth } => {
            let mut xml = String::from(
                "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>",
            );
            xml.push_str(&"<a>".repeat(*depth));
            xml.push_str(&"</a>".repeat(*depth));
            xml.push_str("</soap:Body></soap:Envelope>");
            (StatusCode::OK, [("content-type", "text/xml")], xml).into_response()
        }
        Behaviour::Redirect { status, to } => {
            let location = format!("{}{}", to.trim_end_matches('/'), uri.path_and_query().map_or("/", |p| p.as_str()));
            (StatusCode::from_u16(*status).unwrap(), [("location", location)]).into_response()
        }
        Behaviour::Drip => {
            let stream = futures::stream::unfold(0u32, |n| async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                (n < 3600).then(|| (Ok::<Bytes, Infallible>(Bytes::from_static(b" ")), n + 1))
            });
            (StatusCode::OK, [("content-type", "application/json")], Body::from_stream(stream)).into_response()
        }
        Behaviour::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Behaviour::AbsurdToken => axum::Json(serde_json::json!({
            "access_token": "hostile-token",
            "token_type": "Bearer",
            "expires_in": 9_223_372_036_854_775_807_u64,
        }))
        .into_response(),
        Behaviour::Record => axum::Json(serde_json::json!({})).into_response(),
    }
}

use futures::StreamExt;
