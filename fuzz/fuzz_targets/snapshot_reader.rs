//! The agent's snapshot log reader on arbitrary bytes: never panics, the valid prefix is a
//! prefix made of whole lines, and reading that prefix again gives the same state with no
//! corrupt tail.
//!
//! The first byte picks the mode: raw bytes, or (so inputs get past the CRC) the rest split
//! on `\n` into JSON texts, each written as a record line with its correct checksum, with
//! the last line left unterminated when bit 2 is set.
#![no_main]

use hearsay_fuzz::snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let rejoin = mode & 1 == 1;
    let bytes = if mode & 2 == 0 {
        rest.to_vec()
    } else {
        let mut log = Vec::new();
        for json in rest.split(|b| *b == b'\n') {
            log.extend_from_slice(format!("{:08x} ", snapshot::crc32(json)).as_bytes());
            log.extend_from_slice(json);
            log.push(b'\n');
        }
        if mode & 4 != 0 {
            log.pop();
        }
        log
    };
    let (rec, valid) = snapshot::decode(&bytes, rejoin);
    let valid = usize::try_from(valid).expect("fits");
    assert!(valid <= bytes.len());
    assert!(
        valid == 0 || bytes[valid - 1] == b'\n',
        "valid prefix ends a line"
    );
    assert_eq!(rec.corrupt_tail.is_some(), valid < bytes.len());
    let (again, valid_again) = snapshot::decode(&bytes[..valid], rejoin);
    assert_eq!(valid_again as usize, valid);
    assert_eq!(again.corrupt_tail, None);
    assert_eq!(
        (&again.alive, again.clocks, again.last_event, again.left),
        (&rec.alive, rec.clocks, rec.last_event, rec.left)
    );
    // Whatever was recovered re-encodes into records that read back the same way.
    for (name, addr) in &rec.alive {
        let line = snapshot::encode(&snapshot::Record::Alive {
            name: name.clone(),
            addr: addr.clone(),
        });
        let (one, n) = snapshot::decode(line.as_bytes(), rejoin);
        assert_eq!(n as usize, line.len());
        assert_eq!(one.alive.get(name), Some(addr));
    }
});
