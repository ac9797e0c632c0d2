//! Arbitrary bytes as a datagram: peek_header, framed, decode_request for every code list, accessors on what decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| radgate_fuzz::decode(data));
