//! The agent's RPC request parser on arbitrary lines: never panics, and an accepted
//! request's `seq` is the line's.
#![no_main]

use hearsay_fuzz::rpc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match rpc::parse_request(line) {
        Ok((seq, _req)) => {
            let reply = rpc::WireResponse::ok(seq, serde_json::Value::Null).to_line();
            assert!(reply.ends_with('\n'));
        }
        Err((seq, msg)) => {
            let _ = rpc::WireResponse::err(seq, msg.to_string()).to_line();
        }
    }
});
