//! A short, bounded fuzzing run of every parser that reads vendor bytes, in every test run: the
//! seeds (built-in shapes and the captured samples of `../shared/vendor-samples`), then random and
//! mutated inputs from proptest. None may panic. The long coverage-guided runs are
//! `scripts/fuzz.sh` (libFuzzer); their results are in `FUZZING.md`.

use std::path::Path;

use pms_sync::fuzzing::{TARGETS, run, seeds};
use proptest::prelude::*;

fn shared() -> Option<&'static Path> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"));
    dir.exists().then_some(dir)
}

/// Byte-level mutations of a seed, as a fuzzer makes them.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    Repeat(usize, usize, u8),
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(at, x) => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b ^= x;
                }
            }
            Mutation::Insert(at, chunk) => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, chunk.iter().copied());
            }
            Mutation::Delete(at, n) => {
                let at = (at % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Repeat(at, n, times) => {
                let at = (at % len).min(bytes.len());
                let end = (at + n % 64).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                for _ in 0..*times % 16 {
                    bytes.splice(at..at, chunk.iter().copied());
                }
            }
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Tokens that steer parsers into their interesting corners.
    let tokens = prop::sample::select(vec![
        b"<a>".to_vec(),
        b"</a>".to_vec(),
        b"&amp;".to_vec(),
        b"&#x0;".to_vec(),
        b"<![CDATA[".to_vec(),
        b"{\"".to_vec(),
        b"null".to_vec(),
        b"[[[[".to_vec(),
        b"9223372036854775807".to_vec(),
        b"-1".to_vec(),
        b"\"\"".to_vec(),
        b"0001-01-01".to_vec(),
        b"\xff\xfe".to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(a, x)| Mutation::Flip(a, x)),
        (any::<usize>(), prop_oneof![tokens, prop::collection::vec(any::<u8>(), 1..16)])
            .prop_map(|(a, c)| Mutation::Insert(a, c)),
        (any::<usize>(), 1usize..32).prop_map(|(a, n)| Mutation::Delete(a, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(a, n, t)| Mutation::Repeat(a, n, t)),
    ]
}

#[test]
fn every_target_has_seeds_and_every_seed_parses_without_panicking() {
    for target in TARGETS {
        let seeds = seeds(target, shared());
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for seed in &seeds {
            run(target, seed);
        }
    }
    // The captured samples give residents where there are samples of a resident listing.
    if shared().is_some() {
        let entrata = seeds("entrata", shared());
        assert!(entrata.iter().any(|s| run("entrata", s) > 50), "the 93-lease Entrata capture maps to residents");
        let yardi = seeds("yardi", shared());
        assert!(yardi.iter().any(|s| run("yardi", s) == 71), "the 48-household Yardi capture maps to 71 residents");
        let realpage = seeds("realpage", shared());
        assert!(realpage.iter().any(|s| run("realpage", s) == 300), "the RealPage capture maps to 300 residents");
        let resman = seeds("resman", shared());
        assert!(resman.iter().any(|s| run("resman", s) == 197), "the ResMan capture maps to 197 residents");
        let mri = seeds("mri", shared());
        assert!(mri.iter().any(|s| run("mri", s) > 2), "the MRI lease details map to residents and a next link");
    }
}

#[test]
fn pathological_inputs_are_refused_within_bounds() {
    let deep = format!(
        "<Envelope><Body><GetResidentTransactions_LoginResult>{}{}</GetResidentTransactions_LoginResult></Body></Envelope>",
        "<a>".repeat(200_000),
        "</a>".repeat(200_000)
    );
    assert_eq!(run("yardi", deep.as_bytes()), 0);
    assert_eq!(run("realpage", deep.as_bytes()), 0);
    let deep_resman =
        format!("<ResMan><Status>Success</Status><Response>{}</Response></ResMan>", "&lt;a&gt;".repeat(200_000));
    assert_eq!(run("resman", deep_resman.as_bytes()), 0);
    let nested_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for target in TARGETS {
        run(target, nested_json.as_bytes());
    }
    assert_eq!(run("token", br#"{"access_token":"t","expires_in":18446744073709551615}"#), 1, "clamped, usable");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(target in prop::sample::select(TARGETS.to_vec()), bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        run(target, &bytes);
    }

    #[test]
    fn mutated_seeds_never_panic(
        target in prop::sample::select(TARGETS.to_vec()),
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let seeds = seeds(target, shared());
        let seed = seeds[pick.index(seeds.len())].clone();
        run(target, &mutate(seed, &mutations));
    }
}
