#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Address {
    street: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema, mcp::ElicitForm)]
struct Signup {
    name: String,
    address: Address,
}

fn main() {}
