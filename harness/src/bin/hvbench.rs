//! The `hvbench` command.

use clap::Parser;

fn main() {
    let cli = hvbench::cli::Cli::parse();
    std::process::exit(hvbench::cli::main_with(cli));
}
