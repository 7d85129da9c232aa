//! A one-off dyno: prints a greeting and every argument on its own line,
//! then exits 0.

fn main() {
    println!("hello from a one-off");
    for arg in std::env::args().skip(1) {
        println!("{arg}");
    }
}
