//! Arbitrary bytes as the attribute area: raw_attributes, check_attributes, then inside signed requests: every accessor.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| radgate_fuzz::attributes(data));
