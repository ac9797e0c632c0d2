//! A structured request (built valid and signed, then mutated) through decode, throttle, decide/transition, encode_response, verify_response.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| radgate_fuzz::handler(data));
