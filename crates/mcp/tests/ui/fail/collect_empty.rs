// A module that registers nothing is a mistake (a tool without `#[tool]`, say).
#[mcp::collect]
mod empty {
    /// A helper, not a tool.
    pub fn helper() {}
}

fn main() {}
