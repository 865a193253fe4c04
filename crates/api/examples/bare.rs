//! The baseline of `cargo xtask bench`: a bare actix-web handler answering static JSON on
//! `GET /v1/apps`, served with actix-web's defaults like the API. Its body is the file named by
//! the second argument (the bench passes the API's own answer, so both send the same bytes), or
//! an empty list. Prints its address, then serves until killed.

use std::net::TcpListener;

use actix_web::{HttpResponse, web};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let body: web::Bytes = match args.next() {
        Some(path) => std::fs::read(path)?.into(),
        None => web::Bytes::from_static(br#"{"count":0,"next":null,"previous":null,"results":[]}"#),
    };
    let listener = TcpListener::bind(bind)?;
    println!("{}", listener.local_addr()?);
    actix_web::HttpServer::new(move || {
        let body = body.clone();
        actix_web::App::new().route(
            "/v1/apps",
            web::get().to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .listen(listener)?
    .run()
    .await
}
