//! `mcp_client::Error` answers `kind()` and the `is_*` questions right for real failures, and keeps the
//! cause reachable through `std::error::Error::source`.

use crate::common;

use std::error::Error as _;

use common::duplex_server;
use mcp_client::transport::HttpTransport;
use mcp_client::{Client, ErrorKind};
use mcp_server::Server;

/// Every error in `e`'s source chain, `e` excluded.
fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = e.source();
    while let Some(s) = next {
        out.push(s);
        next = s.source();
    }
    out
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_that_chains_down_to_the_io_error() {
    // Bind then drop: nothing listens on the port, so connecting is refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let transport = HttpTransport::new(format!("http://127.0.0.1:{port}/mcp")).unwrap();
    let e = Client::builder().connect(transport).await.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Connect, "{e:?}");
    assert!(
        !e.is_timeout() && !e.is_rpc() && e.code().is_none(),
        "{e:?}"
    );
    let io = chain(&e)
        .into_iter()
        .find_map(|s| s.downcast_ref::<std::io::Error>())
        .unwrap_or_else(|| panic!("no io::Error in the source chain of {e:?}"));
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn a_json_rpc_error_from_a_real_server_is_readable_by_its_code() {
    let server = Server::builder("empty", "1.0.0").build();
    let client = Client::builder()
        .connect(duplex_server(server))
        .await
        .unwrap();
    let e = client.read_resource("file:///nowhere").await.unwrap_err();
    assert!(e.is_rpc(), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Rpc);
    let rpc = e.rpc_error().expect("a JSON-RPC error object");
    assert_eq!(e.code(), Some(rpc.code));
    assert!(rpc.code < 0, "{rpc:?}");
    assert!(rpc.message.contains("file:///nowhere"), "{rpc:?}");
    // The error object is the source, so generic error reporters print it too.
    let source = e
        .source()
        .and_then(|s| s.downcast_ref::<mcp_protocol::ErrorObject>());
    assert_eq!(source.map(|o| o.code), Some(rpc.code));
}
