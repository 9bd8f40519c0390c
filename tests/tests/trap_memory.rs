//! After a trap, the process's memory returns to its level: rounds of 100
//! live connections beside one that traps, each round ended by dropping
//! them all, and resident memory read between rounds. The only test in its
//! binary, so the figures are this test's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::time::Duration;

use tlsbox_host::{Engine, EngineConfig, Error, ServerConfig};
use tlsbox_tests::*;

/// Resident set of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn memory_returns_to_its_level_after_traps() {
    let engine = Engine::new(EngineConfig {
        max_instances: 128,
        call_deadline: Duration::from_secs(5),
        ..EngineConfig::default()
    })
    .unwrap();
    let keys = keystore();
    let config = ServerConfig::new(&engine, &server_options("ecdsa-p256"), keys.clone()).unwrap();
    let data = pattern(16 * 1024);
    let round = || {
        let mut pairs = established_pairs(&engine, &config, &keys, 101);
        let (mut client, mut victim) = pairs.pop().unwrap();
        victim.expire_deadline_for_tests();
        let err = transfer(&mut client, &mut victim, b"into a stuck box").unwrap_err();
        assert!(matches!(err, Error::Trap(_)), "{err:?}");
        for (client, server) in &mut pairs {
            assert_eq!(transfer(client, server, &data).unwrap(), data);
        }
        let peak = rss_kib();
        drop(victim);
        drop(pairs);
        assert_eq!(engine.live_boxes(), 0, "boxes leaked");
        peak
    };
    // The first rounds warm the allocator and the pool's slots.
    for _ in 0..2 {
        round();
    }
    let level = rss_kib();
    let mut after = Vec::new();
    let mut peaks = Vec::new();
    for _ in 0..10 {
        peaks.push(round());
        after.push(rss_kib());
    }
    eprintln!("resident KiB: level {level}, with 101 boxes {peaks:?}, after each round {after:?}");
    let last = after.last().copied().unwrap();
    // Ten more rounds of 101 boxes and a trap each: a leak of even one box
    // per round (~200 KiB) would show; allocator noise is well below.
    assert!(
        last <= level + 2 * 1024,
        "memory did not return to its level: {level} KiB before, {last} KiB after ten rounds ({after:?})"
    );
}
