//! Link arguments for the multiboot2 image: our linker script (multiboot2 header first, load
//! address 1 MiB), no C start files, a static non-PIE executable, no build-id note.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=link.ld");
    for arg in ["-nostartfiles", "-static", "-Wl,--build-id=none", "-Wl,-z,max-page-size=0x1000", "-Wl,--gc-sections"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{dir}/link.ld");
}
