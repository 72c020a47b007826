//! The live feed's side of the WebSocket wire (RFC 6455, server role), kept small on purpose:
//! every frame the feed sends is built once and written as it is to each client (no
//! per-client write buffer, no per-client serialisation), and what a client sends is read
//! frame by frame through a fixed 125-byte buffer (clients only send pongs, pings and close
//! frames; data is counted and discarded). Frame headers are parsed and formatted by
//! tungstenite's `FrameHeader`; the upgrade handshake is in `super`.

use std::io::Cursor;
use std::sync::{Arc, LazyLock};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};

/// The largest payload of a control frame (5.5).
const MAX_CONTROL: usize = 125;

/// A final, unmasked frame of `opcode` carrying `payload`, appended to `out` (a server never
/// masks, 5.1).
fn frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
    };
    let length = payload.len() as u64;
    out.reserve(header.len(length) + payload.len());
    // Writing into a Vec cannot fail.
    let _ = header.format(length, out);
    out.extend_from_slice(payload);
}

/// `payload` as one text frame, appended to `out`.
pub fn text_frame(out: &mut Vec<u8>, payload: &[u8]) {
    frame(out, OpCode::Data(Data::Text), payload);
}

/// `payload` as one text frame, ready to share among clients.
pub fn text(payload: &str) -> Arc<[u8]> {
    let mut out = Vec::new();
    text_frame(&mut out, payload.as_bytes());
    out.into()
}

/// A ping with no payload.
pub static PING: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut out = Vec::new();
    frame(&mut out, OpCode::Control(Control::Ping), &[]);
    out
});

/// The answer to a ping: a pong carrying the ping's payload (at most 125 bytes).
pub fn pong(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame(
        &mut out,
        OpCode::Control(Control::Pong),
        &payload[..payload.len().min(MAX_CONTROL)],
    );
    out
}

/// A close frame with `code` and `reason` (cut at a character boundary to fit 125 bytes).
pub fn close(code: CloseCode, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&u16::from(code).to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    let mut out = Vec::new();
    frame(&mut out, OpCode::Control(Control::Close), &payload);
    out
}

/// What a client sent, as far as the feed is concerned.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A ping, to be answered with a pong carrying this payload.
    Ping(Vec<u8>),
    /// A pong or a (discarded) data frame: the client is alive.
    Alive,
    /// A close frame, with its code if it had one: the client leaves.
    Close(Option<u16>),
}

/// Why a client's frames could not be read on; each ends the connection.
#[derive(Debug)]
pub enum WireError {
    /// The connection failed or ended.
    Io,
    /// The client broke the protocol (the reason goes into the close frame, 1002).
    Protocol(&'static str),
    /// A message larger than the limit (1009).
    TooBig,
}

impl From<std::io::Error> for WireError {
    fn from(_: std::io::Error) -> WireError {
        WireError::Io
    }
}

/// Reads a client's frames one at a time, with no buffer beyond a control frame's payload.
pub struct Reader<R> {
    io: R,
    /// Bytes of the current data message so far (over its continuation frames).
    message: u64,
    max_message: u64,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// A reader refusing data messages longer than `max_message` bytes.
    pub fn new(io: R, max_message: usize) -> Reader<R> {
        Reader {
            io,
            message: 0,
            max_message: max_message as u64,
        }
    }

    /// The next frame that matters. Not cancellation-safe: poll it to completion (the feed
    /// keeps it in a stream, which does).
    pub async fn next(&mut self) -> Result<Incoming, WireError> {
        let mut head = [0u8; 14];
        self.io.read_exact(&mut head[..2]).await?;
        let length_bytes = match head[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask_bytes = if head[1] & 0x80 != 0 { 4 } else { 0 };
        let size = 2 + length_bytes + mask_bytes;
        self.io.read_exact(&mut head[2..size]).await?;
        let (header, length) = FrameHeader::parse(&mut Cursor::new(&head[..size]))
            .map_err(|_| WireError::Protocol("unknown opcode"))?
            .ok_or(WireError::Protocol("incomplete frame header"))?;
        let Some(mask) = header.mask else {
            return Err(WireError::Protocol("a client's frames must be masked"));
        };
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(WireError::Protocol("no extension was negotiated"));
        }
        match header.opcode {
            OpCode::Control(control) => {
                if !header.is_final || length > MAX_CONTROL as u64 {
                    return Err(WireError::Protocol(
                        "control frames are final and at most 125 bytes",
                    ));
                }
                let mut payload = vec![0u8; length as usize];
                self.io.read_exact(&mut payload).await?;
                for (i, byte) in payload.iter_mut().enumerate() {
                    *byte ^= mask[i % 4];
                }
                match control {
                    Control::Ping => Ok(Incoming::Ping(payload)),
                    Control::Pong => Ok(Incoming::Alive),
                    Control::Close => Ok(Incoming::Close(
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
                    )),
                    Control::Reserved(_) => Err(WireError::Protocol("unknown opcode")),
                }
            }
            OpCode::Data(data) => {
                if !matches!(data, Data::Continue) {
                    self.message = 0;
                }
                self.message = self.message.saturating_add(length);
                if self.message > self.max_message {
                    return Err(WireError::TooBig);
                }
                // Nothing a client sends is read: count it and let it go.
                let mut left = length;
                let mut scratch = [0u8; 256];
                while left > 0 {
                    let chunk = left.min(scratch.len() as u64) as usize;
                    self.io.read_exact(&mut scratch[..chunk]).await?;
                    left -= chunk as u64;
                }
                Ok(Incoming::Alive)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's frame: masked with a fixed key, as RFC 6455 5.3 requires of clients.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let key = [1, 2, 3, 4];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    async fn read_all(bytes: Vec<u8>, max: usize) -> Vec<Result<Incoming, String>> {
        let mut reader = Reader::new(&bytes[..], max);
        let mut out = Vec::new();
        loop {
            match reader.next().await {
                Ok(incoming) => out.push(Ok(incoming)),
                Err(WireError::Io) => return out,
                Err(WireError::Protocol(why)) => {
                    out.push(Err(why.to_string()));
                    return out;
                }
                Err(WireError::TooBig) => {
                    out.push(Err("too big".into()));
                    return out;
                }
            }
        }
    }

    #[tokio::test]
    async fn a_clients_pings_pongs_data_and_close_are_read_and_unmasked() {
        let mut bytes = client_frame(0x89, b"are you there");
        bytes.extend(client_frame(0x8a, b""));
        bytes.extend(client_frame(0x81, &[b'x'; 300]));
        // A fragmented message: text, then continuation (and a ping between).
        bytes.extend(client_frame(0x01, b"hel"));
        bytes.extend(client_frame(0x89, b""));
        bytes.extend(client_frame(0x80, b"lo"));
        bytes.extend(client_frame(0x88, &[0x03, 0xe8, b'b', b'y', b'e']));
        assert_eq!(
            read_all(bytes, 1024).await,
            vec![
                Ok(Incoming::Ping(b"are you there".to_vec())),
                Ok(Incoming::Alive),
                Ok(Incoming::Alive),
                Ok(Incoming::Alive),
                Ok(Incoming::Ping(Vec::new())),
                Ok(Incoming::Alive),
                Ok(Incoming::Close(Some(1000))),
            ]
        );
    }

    #[tokio::test]
    async fn what_breaks_the_protocol_or_the_size_limit_ends_the_reading() {
        // Unmasked (a client must mask).
        assert_eq!(
            read_all(vec![0x81, 0x01, b'x'], 1024).await,
            vec![Err("a client's frames must be masked".into())]
        );
        // A reserved opcode, a compressed frame (no extension negotiated).
        assert_eq!(
            read_all(client_frame(0x83, b""), 1024).await,
            vec![Err("unknown opcode".into())]
        );
        assert_eq!(
            read_all(client_frame(0xc1, b"x"), 1024).await,
            vec![Err("no extension was negotiated".into())]
        );
        // A control frame of more than 125 bytes, or fragmented.
        assert_eq!(
            read_all(client_frame(0x89, &[0; 126]), 1024).await,
            vec![Err("control frames are final and at most 125 bytes".into())]
        );
        assert_eq!(
            read_all(client_frame(0x09, b""), 1024).await,
            vec![Err("control frames are final and at most 125 bytes".into())]
        );
        // Over the limit in one frame, or over several: refused before its payload is read.
        assert_eq!(
            read_all(client_frame(0x81, &[0; 1025]), 1024).await,
            vec![Err("too big".into())]
        );
        let mut parts = client_frame(0x01, &[0; 1000]);
        parts.extend(client_frame(0x80, &[0; 100]));
        assert_eq!(
            read_all(parts, 1024).await,
            vec![Ok(Incoming::Alive), Err("too big".into())]
        );
        // A header that claims 2^63 bytes costs nothing.
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(read_all(huge, 1024).await, vec![Err("too big".into())]);
    }

    #[test]
    fn frames_are_written_unmasked_with_the_shortest_length() {
        assert_eq!(&text("hi")[..], &[0x81, 2, b'h', b'i']);
        assert_eq!(&text(&"x".repeat(126))[..4], &[0x81, 126, 0, 126]);
        assert_eq!(
            &text(&"x".repeat(70_000))[..10],
            &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]
        );
        assert_eq!(PING.as_slice(), &[0x89, 0]);
        assert_eq!(pong(b"ab"), vec![0x8a, 2, b'a', b'b']);
        let closing = close(CloseCode::Policy, &"é".repeat(100));
        assert_eq!(closing[1] as usize, closing.len() - 2);
        assert!(closing.len() - 2 <= 125);
        assert_eq!(&closing[2..4], &1008u16.to_be_bytes());
        assert!(std::str::from_utf8(&closing[4..]).is_ok());
    }
}
