//! What a connection gets when its request head does not arrive within the header-read timeout
//! (DESIGN §14): `408` and a close if the client had begun a request, a silent close if it was
//! idle. hyper only reports the timeout; it writes nothing, so the answer is written here, on the
//! socket hyper hands back. It must never write after a response hyper could not finish sending.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The whole answer: no body, and the connection ends with it.
const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// How long writing the answer may take; it is a few dozen bytes into an idle socket, so only a
/// client that stopped reading makes it wait, and it is not waited for long.
const ANSWER_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection's stream as hyper sees it, noting whether its last write had to wait: then hyper
/// still held bytes of a response the client had not taken, and a `408` written after them
/// would read as part of that response.
#[derive(Debug)]
pub(super) struct WriteTracked<S> {
    inner: S,
    write_waiting: bool,
}

impl<S> WriteTracked<S> {
    pub(super) fn new(inner: S) -> Self {
        WriteTracked {
            inner,
            write_waiting: false,
        }
    }

    fn note_write<T>(&mut self, written: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.write_waiting = written.is_pending();
        written
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.note_write(written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.note_write(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Ends a connection hyper gave up on because a request head did not arrive in time. `unparsed`
/// is what hyper had read of the next head. A client that had begun a request is answered `408`;
/// an idle one (a keep-alive connection between requests, or a new one that never spoke) is
/// closed without a word, as Apache and nginx do, since a client reusing a connection would
/// take a `408` there for the answer to its next request.
pub(super) async fn end_stalled_connection<S>(stream: WriteTracked<S>, unparsed: &[u8])
where
    S: AsyncWrite + Unpin,
{
    if stream.write_waiting || !began_request(unparsed) {
        return;
    }
    let mut stream = stream.inner;
    let answered = tokio::time::timeout(ANSWER_WRITE_TIMEOUT, async {
        stream.write_all(REQUEST_TIMEOUT).await?;
        stream.shutdown().await
    })
    .await;
    match answered {
        Ok(Ok(())) => tracing::debug!("request head not received in time; answered 408"),
        Ok(Err(err)) => tracing::debug!(error = %err, "could not answer a stalled request 408"),
        Err(_) => tracing::debug!("the client did not take a 408 in time; closing"),
    }
}

/// True once the client has sent anything of a request line: the empty lines a client may send
/// between requests (RFC 9112 §2.2) begin nothing.
fn began_request(unparsed: &[u8]) -> bool {
    unparsed.iter().any(|byte| !matches!(byte, b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::{duplex, AsyncReadExt};

    use super::*;

    #[test]
    fn only_bytes_of_a_request_line_begin_a_request() {
        assert!(!began_request(b""));
        assert!(!began_request(b"\r\n"));
        assert!(began_request(b"G"));
        assert!(began_request(b"\r\nGET / HTTP/1.1\r\nho"));
    }

    /// Polls one write of `bytes` and gives back what the poll returned, done or not.
    async fn poll_write_once(
        stream: &mut WriteTracked<tokio::io::DuplexStream>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_fn(|cx| Poll::Ready(Pin::new(&mut *stream).poll_write(cx, bytes))).await
    }

    #[tokio::test]
    async fn a_write_that_has_to_wait_is_remembered_until_a_write_goes_through() {
        let (server, mut client) = duplex(8);
        let mut server = WriteTracked::new(server);
        assert!(matches!(
            poll_write_once(&mut server, b"0123456789").await,
            Poll::Ready(Ok(8))
        ));
        assert!(!server.write_waiting);

        assert!(poll_write_once(&mut server, b"89").await.is_pending());
        assert!(server.write_waiting, "the client has not taken the bytes");

        let mut taken = [0u8; 8];
        client.read_exact(&mut taken).await.unwrap();
        assert!(matches!(
            poll_write_once(&mut server, b"89").await,
            Poll::Ready(Ok(2))
        ));
        assert!(!server.write_waiting);
    }

    #[tokio::test]
    async fn a_stalled_connection_with_a_response_still_unsent_gets_no_408() {
        let (server, mut client) = duplex(64);
        let mut server = WriteTracked::new(server);
        server.write_waiting = true;
        end_stalled_connection(server, b"GET / HTTP/1.1\r\nho").await;
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert!(answer.is_empty(), "{answer:?}");
    }
}
