//! A one-off dyno. Prints a greeting, then acts on each argument in turn:
//! `stdin` copies stdin to stdout in upper case, `err=TEXT` writes TEXT to
//! stderr, `env=KEY` prints KEY's value, `exit=N` exits with status N,
//! `exit-env=KEY` exits with the status in KEY when it is set,
//! `sleep-env=KEY` sleeps for the seconds in KEY when it is set,
//! `fill-tmp=N` prints how many entries `/tmp` holds, writes N MiB to
//! `/tmp/fill` in 1 MiB steps, then waits forever (for a disk quota to end it),
//! and anything else is printed on its own line. Exits 0 at the end.

use std::io::{Read, Write};

fn main() {
    println!("hello from a one-off");
    for arg in std::env::args().skip(1) {
        if arg == "stdin" {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input).expect("stdin");
            print!("{}", input.to_uppercase());
        } else if let Some(text) = arg.strip_prefix("err=") {
            eprintln!("{text}");
        } else if let Some(key) = arg.strip_prefix("env=") {
            println!("{key}={}", std::env::var(key).unwrap_or_default());
        } else if let Some(key) = arg.strip_prefix("exit-env=") {
            if let Ok(code) = std::env::var(key) {
                std::io::stdout().flush().expect("flush");
                std::process::exit(code.parse().expect("exit-env=KEY needs a number in KEY"));
            }
        } else if let Some(key) = arg.strip_prefix("sleep-env=") {
            if let Ok(seconds) = std::env::var(key) {
                let seconds = seconds.parse().expect("sleep-env=KEY needs seconds in KEY");
                std::thread::sleep(std::time::Duration::from_secs(seconds));
            }
        } else if let Some(mb) = arg.strip_prefix("fill-tmp=") {
            fill_tmp(mb.parse().expect("fill-tmp=N"));
        } else if let Some(code) = arg.strip_prefix("exit=") {
            std::io::stdout().flush().expect("flush");
            std::process::exit(code.parse().expect("exit=N"));
        } else {
            println!("{arg}");
        }
    }
}

fn fill_tmp(mb: u64) -> ! {
    let entries = std::fs::read_dir("/tmp").expect("/tmp").count();
    println!("/tmp holds {entries} entries");
    std::io::stdout().flush().expect("flush");
    let chunk = vec![b'x'; 1 << 20];
    let mut file = std::fs::File::create("/tmp/fill").expect("create /tmp/fill");
    for _ in 0..mb {
        file.write_all(&chunk).expect("write /tmp/fill");
    }
    println!("wrote {mb} MiB to /tmp");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
