//! The built-in HTTP/1.1 responder: one short page naming what was
//! negotiated, then close_notify. The zero-configuration demo, and the
//! endpoint conformance suites talk to.

use std::time::Duration;

use anyhow::Result;
use tlsbox_host::stream::TlsStream;
use tlsbox_host::SessionInfo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::names;

/// Most request bytes read before answering.
const MAX_REQUEST: usize = 16 * 1024;
/// How long to wait for the request before answering anyway.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Read the request head (or whatever comes first), answer, close.
pub(crate) async fn respond<IO>(tls: &mut TlsStream<IO>, info: &SessionInfo) -> Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = Vec::new();
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, read_head(tls, &mut request)).await;
    let body = page(info);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut response = head.into_bytes();
    response.extend_from_slice(body.as_bytes());
    // One write: the response leaves as a single TLS record flight.
    tls.write_all(&response).await?;
    tls.shutdown().await?;
    Ok(())
}

async fn read_head<IO>(tls: &mut TlsStream<IO>, request: &mut Vec<u8>) -> Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = [0u8; 4096];
    // The head ends at an empty line; like most servers, take a bare LF
    // as a line ending too (tlsfuzzer and hand-typed requests send them).
    let head_ends = |r: &[u8]| r.windows(4).any(|w| w == b"\r\n\r\n") || r.windows(2).any(|w| w == b"\n\n");
    while request.len() < MAX_REQUEST && !head_ends(request) {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(buf.get(..n).unwrap_or_default());
        // Not HTTP (a bare s_client line): answer after the first line.
        if !request.starts_with(b"GET ") && !request.starts_with(b"HEAD ") && request.contains(&b'\n') {
            break;
        }
    }
    Ok(())
}

fn page(info: &SessionInfo) -> String {
    format!(
        "tlsbox: this TLS session was terminated inside a WebAssembly box.\n\
         version: {}\n\
         cipher suite: {}\n\
         key exchange group: {}\n\
         alpn: {}\n\
         server name: {}\n\
         resumed: {}\n",
        names::version(info),
        names::suite(info),
        names::group(info),
        names::alpn(info),
        info.server_name.as_deref().unwrap_or("-"),
        info.resumed,
    )
}
