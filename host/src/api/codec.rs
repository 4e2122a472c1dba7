//! prost's codec with one bound more: a request whose top-level field repeats more than
//! [`MAX_REPEATED`] times is refused with RESOURCE_EXHAUSTED before it is decoded; and a request
//! that does not decode is INVALID_ARGUMENT (the client's fault), not prost's INTERNAL.
//!
//! Why: the 4 MiB message bound alone does not bound memory. An empty `Announcement` is 2 bytes
//! on the wire and over 150 once decoded, so 4 MiB of them would decode to 2 million entries and
//! hundreds of MiB before any count could refuse them. Counting costs one pass over the bytes.

use bytes::Buf;
use std::marker::PhantomData;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::ProstEncoder;

/// The most entries a request's repeated field may have (announcements or prefixes in one call).
pub const MAX_REPEATED: usize = crate::sources::MAX_PER_REQUEST;

#[derive(Debug, Clone)]
pub struct BoundedCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for BoundedCodec<T, U> {
    fn default() -> Self {
        BoundedCodec(PhantomData)
    }
}

impl<T, U> Codec for BoundedCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = BoundedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        BoundedDecoder(PhantomData)
    }
}

#[derive(Debug)]
pub struct BoundedDecoder<U>(PhantomData<U>);

impl<U: prost::Message + Default> Decoder for BoundedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // The whole message is one contiguous chunk (tonic buffers it before decoding).
        if let Some((field, n)) = most_repeated(src.chunk()).filter(|&(_, n)| n > MAX_REPEATED) {
            crate::bounds::reached(
                crate::bounds::Limit::ControlRequest,
                format!("a request with {n}+ entries in field {field}"),
            );
            return Err(Status::resource_exhausted(format!(
                "field {field} has more than {MAX_REPEATED} entries; at most {MAX_REPEATED} in \
                 one request (split it, or use SetAnnouncements once)"
            )));
        }
        U::decode(src)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("malformed request: {e}")))
    }
}

/// The top-level field number seen most often and how often, stopping the count once one
/// passes [`MAX_REPEATED`]; `None` for an empty message. A malformed message is left to prost,
/// which names the fault.
pub(crate) fn most_repeated(mut bytes: &[u8]) -> Option<(u32, usize)> {
    // Field numbers are few in our messages; a short list beats a map.
    let mut counts: Vec<(u32, usize)> = Vec::new();
    while !bytes.is_empty() {
        let Ok(key) = prost::encoding::decode_varint(&mut bytes) else {
            break;
        };
        let (field, wire_type) = ((key >> 3) as u32, key & 7);
        let skip = match wire_type {
            0 => prost::encoding::decode_varint(&mut bytes).map(|_| 0),
            1 => Ok(8),
            2 => prost::encoding::decode_varint(&mut bytes).map(|n| n as usize),
            5 => Ok(4),
            _ => break,
        };
        let Ok(skip) = skip else { break };
        if skip > bytes.len() {
            break;
        }
        bytes.advance(skip);
        let n = match counts.iter_mut().find(|(f, _)| *f == field) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                counts.push((field, 1));
                1
            }
        };
        if n > MAX_REPEATED {
            return Some((field, n));
        }
    }
    counts.into_iter().max_by_key(|&(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::proto::{Announcement, AnnouncementsChange};
    use prost::Message;

    fn change(n: usize) -> Vec<u8> {
        AnnouncementsChange {
            source: "lb".into(),
            announcements: vec![Announcement::default(); n],
        }
        .encode_to_vec()
    }

    #[test]
    fn repeated_fields_are_counted_on_the_wire() {
        assert_eq!(most_repeated(&change(3)), Some((2, 3)));
        assert_eq!(most_repeated(&[]), None);
        // One past the bound is found, and the count stops there.
        let over = change(MAX_REPEATED + 10);
        assert_eq!(most_repeated(&over), Some((2, MAX_REPEATED + 1)));
        // An empty announcement is two bytes: this is why the message bound is not enough.
        assert_eq!(over.len(), 4 + 2 * (MAX_REPEATED + 10));
    }

    #[test]
    fn a_malformed_message_is_left_to_prost() {
        // A length past the end, a wire type that does not exist: the count stops, no panic.
        assert_eq!(most_repeated(&[0x12, 0x7f, 1]), None);
        assert_eq!(most_repeated(&[0x0f]), None);
        assert!(AnnouncementsChange::decode(&[0x12, 0x7f, 1][..]).is_err());
    }
}
