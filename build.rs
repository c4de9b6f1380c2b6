//! The WGSL kernels as the wasm build embeds them: every file of src/gpu/shaders minified by
//! src/gpu/wgsl_min.rs (comments, layout and long names out) into OUT_DIR, where src/gpu/mod.rs's
//! `kernel!` includes them. The commented sources stay out of the wasm.

#[path = "src/gpu/wgsl_min.rs"]
#[allow(dead_code)]
mod wgsl_min;

fn main() {
    let var =
        |name: &str| std::path::PathBuf::from(std::env::var_os(name).unwrap_or_else(|| panic!("cargo sets {name}")));
    let (out, shaders) = (var("OUT_DIR"), var("CARGO_MANIFEST_DIR").join("src/gpu/shaders"));
    println!("cargo:rerun-if-changed=src/gpu/wgsl_min.rs");
    println!("cargo:rerun-if-changed=src/gpu/shaders");
    let shaders = std::fs::read_dir(&shaders).unwrap_or_else(|e| panic!("{}: {e}", shaders.display()));
    for entry in shaders {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            println!("cargo:rerun-if-changed={}", path.display());
            let source = std::fs::read_to_string(&path).expect("a WGSL file");
            let name = path.file_name().expect("a file name");
            std::fs::write(out.join(name), wgsl_min::minify(&source)).expect("writing to OUT_DIR");
        }
    }
}
