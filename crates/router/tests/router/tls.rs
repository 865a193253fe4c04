//! HTTPS: SNI picks the certificate (exact name, then a wildcard one label up), the set is
//! replaced at runtime, and requests are routed as plain ones with `X-Forwarded-Proto: https`.

use std::net::SocketAddr;
use std::sync::Arc;

use deis_router::{Certificate, CertificateError, Router, RouterSettings};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::common::{Upstream, full, routes};
use deis_domain::Routing;

/// A test CA and leaf certificates it signs.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        Self { issuer }
    }

    /// A certificate for `names`, and its DER.
    fn leaf(&self, names: &[&str]) -> (Certificate, CertificateDer<'static>) {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names.clone())
            .expect("params")
            .signed_by(&key, &self.issuer)
            .expect("signed");
        let certificate = Certificate {
            names,
            chain_pem: format!("{}{}", cert.pem(), self.issuer.pem()),
            key_pem: key.serialize_pem(),
        };
        (certificate, cert.der().clone())
    }

    fn connector(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).expect("root");
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }
}

async fn handshake(
    connector: &TlsConnector,
    addr: SocketAddr,
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let stream = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).expect("a DNS name");
    connector.connect(name, stream).await
}

fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("a server certificate")
        .clone()
        .into_owned()
}

/// `GET /headers` over HTTP/1.1 on an established TLS stream.
async fn headers_over_h1(stream: TlsStream<TcpStream>, host: &str) -> (StatusCode, String) {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    let request = Request::get("/headers")
        .header(header::HOST, host)
        .body(full(""))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_the_certificate_and_requests_route_as_https() {
    let ca = Authority::new();
    let (exact, exact_der) = ca.leaf(&["a.test"]);
    let (wildcard, wildcard_der) = ca.leaf(&["*.b.test", "b.test"]);

    let app = Upstream::start("app").await;
    let router = Router::new(RouterSettings::default());
    router
        .set_certificates(&[exact.clone(), wildcard.clone()])
        .expect("usable certificates");
    router
        .await_healthy(
            &[app.endpoint()],
            "/healthz",
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("healthy");
    router
        .set_routes(routes(
            "app",
            &["a.test", "x.b.test", "b.test"],
            &[app.endpoint()],
        ))
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn({
        let router = router.clone();
        async move { router.serve_tls(listener, std::future::pending()).await }
    });

    let h1 = ca.connector(&[]);
    for (name, expected) in [
        ("a.test", &exact_der),
        ("x.b.test", &wildcard_der),
        ("b.test", &wildcard_der),
    ] {
        let stream = handshake(&h1, addr, name).await.expect("handshake");
        assert_eq!(&presented(&stream), expected, "certificate for {name}");
        let (status, body) = headers_over_h1(stream, name).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(body.contains("x-forwarded-proto: https"), "{body}");
        assert!(body.contains(&format!("host: {name}")), "{body}");
    }
    for name in ["y.x.b.test", "c.test"] {
        assert!(
            handshake(&h1, addr, name).await.is_err(),
            "no certificate serves {name}: the handshake fails"
        );
    }

    let h2 = ca.connector(&[b"h2"]);
    let stream = handshake(&h2, addr, "x.b.test").await.expect("handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let response = sender
        .send_request(
            Request::get("https://x.b.test/headers")
                .body(full(""))
                .expect("request"),
        )
        .await
        .expect("response over HTTP/2");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("host: x.b.test"), "{body}");
    assert!(body.contains("x-forwarded-proto: https"), "{body}");

    router
        .set_certificates(std::slice::from_ref(&wildcard))
        .expect("usable");
    assert!(
        handshake(&h1, addr, "a.test").await.is_err(),
        "a.test lost its certificate"
    );
    let stream = handshake(&h1, addr, "x.b.test").await.expect("handshake");
    assert_eq!(presented(&stream), wildcard_der);
}

#[tokio::test]
async fn unusable_certificates_are_refused_and_the_previous_set_stays() {
    let ca = Authority::new();
    let (good, _) = ca.leaf(&["a.test"]);
    let (other, _) = ca.leaf(&["b.test"]);
    let router = Router::new(RouterSettings::default());
    router
        .set_certificates(std::slice::from_ref(&good))
        .expect("usable");

    let no_cert = Certificate {
        chain_pem: "not pem".into(),
        ..good.clone()
    };
    assert_eq!(
        router.set_certificates(&[other.clone(), no_cert]),
        Err(CertificateError::NoCertificate {
            name: "a.test".into()
        })
    );
    let swapped_key = Certificate {
        key_pem: other.key_pem.clone(),
        ..good.clone()
    };
    assert!(matches!(
        router.set_certificates(&[swapped_key]),
        Err(CertificateError::BadKey { name, .. }) if name == "a.test"
    ));
    let no_names = Certificate {
        names: Vec::new(),
        ..good.clone()
    };
    assert_eq!(
        router.set_certificates(&[no_names]),
        Err(CertificateError::NoNames)
    );

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn({
        let router = router.clone();
        async move { router.serve_tls(listener, std::future::pending()).await }
    });
    let h1 = ca.connector(&[]);
    assert!(
        handshake(&h1, addr, "a.test").await.is_ok(),
        "a.test still served"
    );
    assert!(
        handshake(&h1, addr, "b.test").await.is_err(),
        "b.test never stored"
    );
}
