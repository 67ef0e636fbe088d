//! The `idealstack` binary: one program, every role (see ARCHITECTURE.md).
fn main() -> anyhow::Result<()> {
    Ok(())
}
