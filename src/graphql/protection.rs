//! Protection of the GraphQL API: depth and complexity limits (enforced by async-graphql at
//! validation), and machine-readable `extensions.code` on the errors validation produces:
//! `TOO_COMPLEX` for a query over the limits, `BAD_REQUEST` for any other invalid query.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ServerError, ValidationResult};

/// Deepest selection nesting accepted.
pub const MAX_DEPTH: usize = 12;
/// Highest complexity accepted (each field counts 1, list fields their children again).
pub const MAX_COMPLEXITY: usize = 5_000;

/// Adds `extensions.code` to validation errors.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .await
            .map_err(|errors| errors.into_iter().map(with_code).collect())
    }
}

fn with_code(mut error: ServerError) -> ServerError {
    let code = if error.message.contains("too complex") || error.message.contains("too deep") {
        "TOO_COMPLEX"
    } else {
        "BAD_REQUEST"
    };
    let mut extensions = error.extensions.take().unwrap_or_default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}
