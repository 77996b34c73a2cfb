//! Thin entry point: all the work is in the library so tests and roles share it.

fn main() -> std::process::ExitCode {
    childproc::main_entry().into()
}
