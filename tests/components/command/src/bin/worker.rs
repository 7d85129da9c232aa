//! A worker process that starts, says what it works on, then fails with
//! exit code 3 (so tests can check logs, restarts and exit codes).

fn main() {
    println!("worker starting");
    let queue = std::env::var("QUEUE").unwrap_or_else(|_| "default".to_string());
    println!("working on {queue}");
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("args: {}", args.join(" "));
    eprintln!("worker failing");
    std::process::exit(3);
}
