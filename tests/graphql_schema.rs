//! The committed SDL (`graphql/schema.graphql`) must match the schema the code builds.
//! Regenerate with `cargo run -- graphql-schema > graphql/schema.graphql`.

#[test]
fn committed_sdl_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/graphql/schema.graphql"
    ))
    .expect("graphql/schema.graphql is committed");
    let generated = stackhouse::graphql::sdl();
    assert!(
        committed == generated,
        "graphql/schema.graphql is out of date: run `cargo run -- graphql-schema > graphql/schema.graphql`\n\
         --- generated ---\n{generated}"
    );
}
