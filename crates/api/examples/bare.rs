//! The baseline of `cargo xtask bench`: a bare actix-web handler answering static JSON, served
//! with the same server settings as the API. Prints its address, then serves until killed.

use std::net::TcpListener;

use actix_web::{HttpResponse, web};

async fn apps() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"count":0,"next":null,"previous":null,"results":[]}"#)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(bind)?;
    println!("{}", listener.local_addr()?);
    actix_web::HttpServer::new(|| actix_web::App::new().route("/v1/apps", web::get().to(apps)))
        .listen(listener)?
        .run()
        .await
}
