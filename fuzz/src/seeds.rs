//! Writes each target's seeds (`pms_sync::fuzzing::seeds`) into `<out>/<target>/`, the starting
//! corpus of the fuzz runs: `seeds <shared dir> <out dir>`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (shared, out) = match args.as_slice() {
        [_, shared, out] => (std::path::Path::new(shared), std::path::Path::new(out)),
        _ => {
            eprintln!("usage: seeds SHARED_DIR OUT_DIR");
            std::process::exit(2);
        }
    };
    for target in pms_sync::fuzzing::TARGETS {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        for (i, seed) in pms_sync::fuzzing::seeds(target, Some(shared)).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).expect("write a seed");
        }
    }
}
