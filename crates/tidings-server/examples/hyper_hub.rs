//! A hub served by plain hyper, without axum: the `Hub` handle and `SseBody` are all it takes.
//!
//! ```text
//! cargo run -p tidings-server --example hyper_hub
//! curl -N 'http://127.0.0.1:3000/?topic=news'                       # subscribe
//! curl -X POST --data 'hello' 'http://127.0.0.1:3000/?topic=news'   # publish (prints the id)
//! ```
//!
//! It has no authentication: anyone on the machine may publish. It only listens on loopback.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tidings_broker::{Message, Selector, SubscriptionConfig};
use tidings_codec::Event;
use tidings_server::{Hub, HubConfig, SseBody};

type Body = Either<SseBody, Full<Bytes>>;

fn plain(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(text.into())));
    *response.status_mut() = status;
    response
}

async fn handle(hub: Hub, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let Some(topic) = request.uri().query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "topic")
            .map(|(_, v)| v.into_owned())
    }) else {
        return Ok(plain(StatusCode::BAD_REQUEST, "give ?topic=..."));
    };
    match *request.method() {
        Method::GET => {
            let selector = match Selector::parse(&topic) {
                Ok(selector) => selector,
                Err(error) => return Ok(plain(StatusCode::BAD_REQUEST, error.to_string())),
            };
            match hub.subscribe(SubscriptionConfig::new().selector(selector)) {
                Ok(subscription) => {
                    let mut response = Response::new(Either::Left(subscription.into_body()));
                    response
                        .headers_mut()
                        .insert("content-type", "text/event-stream".parse().expect("static"));
                    response
                        .headers_mut()
                        .insert("cache-control", "no-cache".parse().expect("static"));
                    Ok(response)
                }
                Err(error) => Ok(plain(StatusCode::SERVICE_UNAVAILABLE, error.to_string())),
            }
        }
        Method::POST => {
            let body = match request.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(error) => return Ok(plain(StatusCode::BAD_REQUEST, error.to_string())),
            };
            let data = String::from_utf8_lossy(&body).into_owned();
            match hub.publish(Message::new(Event::new(data)).topic(topic)) {
                Ok(published) => Ok(plain(StatusCode::OK, published.id().as_str().to_owned())),
                Err(error) => Ok(plain(StatusCode::CONFLICT, error.to_string())),
            }
        }
        _ => Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST")),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let hub = Hub::new(HubConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(hub.clone(), request));
            let connection = auto::Builder::new(TokioExecutor::new());
            if let Err(error) = connection.serve_connection(TokioIo::new(socket), service).await {
                eprintln!("connection ended: {error}");
            }
        });
    }
}
