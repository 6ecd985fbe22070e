//! A small HTTPS server on 127.0.0.1 for tests that need a real TLS peer (the updater
//! refuses plain HTTP in release builds). It generates a throw-away CA and a leaf
//! certificate for `127.0.0.1`/`localhost`, and serves whatever files the test puts in it;
//! the test can swap them while the server runs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

type Files = Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>;

/// A running HTTPS file server; stops when dropped.
pub struct HttpsServer {
    /// `https://127.0.0.1:PORT`.
    pub base: String,
    /// PEM of the CA that signed the server certificate (what a client must trust).
    pub ca_pem: String,
    files: Files,
    task: tokio::task::JoinHandle<()>,
}

impl HttpsServer {
    /// Starts the server on a free port.
    pub async fn start() -> Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ZiFlow test CA");
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate()?;
        let leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
                    .map_err(|e| anyhow::anyhow!("leaf key: {e}"))?,
            )
            .context("building the TLS server config")?;
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
        let files: Files = Arc::default();
        let served = files.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let files = served.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req: Request<_>| {
                        let files = files.clone();
                        async move { Ok::<_, Infallible>(respond(&files, req.uri().path())) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Self {
            base,
            ca_pem: ca_cert.pem(),
            files,
            task,
        })
    }

    /// Serves `body` at `path` (replacing what was there).
    pub fn put(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        self.files
            .lock()
            .expect("file table lock")
            .insert(path.to_string(), (content_type.to_string(), body.into()));
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(files: &Files, path: &str) -> Response<Full<Bytes>> {
    let found = files.lock().expect("file table lock").get(path).cloned();
    match found {
        Some((content_type, body)) => Response::builder()
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
        None => {
            let mut res = Response::new(Full::new(Bytes::from_static(b"not found")));
            *res.status_mut() = StatusCode::NOT_FOUND;
            res
        }
    }
}
