//! The tokio adapter: a boxed TLS connection as `AsyncRead + AsyncWrite`
//! over any `AsyncRead + AsyncWrite` transport.
//!
//! The driver loop is here and only here: move ciphertext between the
//! transport and the box, and plaintext between the box and the caller.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::connection::{Connection, MAX_CHUNK};
use crate::{ClientConfig, Engine, Error, Phase, ServerConfig, SessionInfo};

/// Accept a TLS connection on `io` in a new box; resolves once the
/// handshake is complete.
pub async fn accept<IO>(engine: &Engine, config: &ServerConfig, io: IO) -> Result<TlsStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let conn = engine.new_server(config)?;
    TlsStream::handshake(conn, io).await
}

/// Open a TLS connection over `io` in a new box; resolves once the
/// handshake is complete and the server is verified.
pub async fn connect<IO>(engine: &Engine, config: &ClientConfig, io: IO) -> Result<TlsStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let conn = engine.new_client(config)?;
    TlsStream::handshake(conn, io).await
}

/// A TLS stream whose state and secrets live in a box.
pub struct TlsStream<IO> {
    io: IO,
    conn: Connection,
    /// Ciphertext taken from the box, not yet written to `io`.
    outgoing: Vec<u8>,
    written: usize,
    /// Where ciphertext is read from `io` into.
    read_buf: Box<[u8]>,
    /// Ciphertext read from `io`, not yet taken by the box.
    incoming: Vec<u8>,
    /// The transport reached end of file.
    transport_eof: bool,
    /// We sent close_notify.
    closed: bool,
}

impl<IO> std::fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    async fn handshake(conn: Connection, io: IO) -> Result<Self, Error> {
        let mut stream = Self {
            io,
            conn,
            outgoing: Vec::new(),
            written: 0,
            read_buf: vec![0u8; MAX_CHUNK].into_boxed_slice(),
            incoming: Vec::new(),
            transport_eof: false,
            closed: false,
        };
        let result = poll_fn(|cx| stream.poll_handshake(cx)).await;
        if let Err(e) = result {
            // Deliver the alert the box queued, if the transport allows.
            let _ = poll_fn(|cx| stream.poll_send(cx)).await;
            return Err(e);
        }
        Ok(stream)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            ready!(self.poll_send(cx))?;
            if self.conn.status()?.phase != Phase::Handshaking {
                return Poll::Ready(Ok(()));
            }
            match ready!(self.poll_receive(cx))? {
                Some(0) => {
                    // No plaintext can pile up before the handshake ends
                    // (0-RTT is off), so a box that takes nothing is stuck.
                    return Poll::Ready(Err(Error::Io(io::Error::other(
                        "the box stopped taking handshake data",
                    ))));
                }
                Some(_) => {}
                None => {
                    return Poll::Ready(Err(Error::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed the transport during the handshake",
                    ))))
                }
            }
        }
    }

    /// Write every byte of ciphertext the box has for the peer.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            while let Some(rest) = self.outgoing.get(self.written..).filter(|r| !r.is_empty()) {
                let n = ready!(Pin::new(&mut self.io).poll_write(cx, rest))?;
                if n == 0 {
                    return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())));
                }
                self.written += n;
            }
            self.outgoing = self.conn.take_ciphertext(MAX_CHUNK)?;
            self.written = 0;
            if self.outgoing.is_empty() {
                return Pin::new(&mut self.io).poll_flush(cx).map_err(Error::Io);
            }
        }
    }

    /// Read ciphertext from the transport into the box. `Ok(None)`: the
    /// transport is at end of file; `Ok(Some(n))`: the box took `n` bytes
    /// (0 when its received-plaintext buffer is full: read plaintext first).
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<usize>, Error>> {
        if !self.incoming.is_empty() {
            let taken = self.conn.feed_ciphertext(&self.incoming)?;
            self.incoming.drain(..taken.min(self.incoming.len()));
            return Poll::Ready(Ok(Some(taken)));
        }
        if self.transport_eof {
            return Poll::Ready(Ok(None));
        }
        let mut read = ReadBuf::new(&mut self.read_buf);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
        let received = read.filled();
        if received.is_empty() {
            self.transport_eof = true;
            return Poll::Ready(Ok(None));
        }
        let taken = self.conn.feed_ciphertext(received)?;
        // Keep what the box could not take yet.
        self.incoming
            .extend_from_slice(received.get(taken..).unwrap_or_default());
        Poll::Ready(Ok(Some(taken)))
    }

    /// What was negotiated.
    pub fn session_info(&mut self) -> Result<SessionInfo, Error> {
        self.conn.session_info()
    }

    /// The transport, for addresses and socket options.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let plaintext = this.conn.read_plaintext(buf.remaining())?;
            if !plaintext.is_empty() {
                buf.put_slice(&plaintext);
                return Poll::Ready(Ok(()));
            }
            // Answers the box owes the peer (KeyUpdate, alerts) go out
            // whenever the transport takes them; reading does not wait.
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e.into()));
            }
            if this.conn.status()?.peer_closed {
                return Poll::Ready(Ok(()));
            }
            match this.poll_receive(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    let _ = this.poll_send(cx);
                    return Poll::Ready(Err(e.into()));
                }
                Poll::Ready(Ok(Some(_))) => {}
                Poll::Ready(Ok(None)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed the transport without close_notify (truncation)",
                    )))
                }
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = this.conn.write_plaintext(buf)?;
        if n > 0 || buf.is_empty() {
            // Push what we can now; the rest goes with the next call or flush.
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e.into()));
            }
            return Poll::Ready(Ok(n));
        }
        // The box's outgoing buffer is full: drain it, then retry once.
        ready!(this.poll_send(cx))?;
        match this.conn.write_plaintext(buf)? {
            0 => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            n => Poll::Ready(Ok(n)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_send(cx).map_err(Into::into)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.closed {
            self.conn.close()?;
            self.closed = true;
        }
        ready!(self.poll_send(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
