//! `users:list`: every account of the controller (administrators only, API v1.7).

use serde_json::Value;

use super::Ctx;
use crate::error::Result;
use crate::output::{header, value_text};

/// `deis users:list`.
pub fn list(ctx: &mut Ctx) -> Result<()> {
    let users = ctx.client()?.v17().get_all(&["users", ""])?;
    ctx.say(&header("Users"));
    for user in &users {
        ctx.say(&value_text(&user["username"]));
    }
    ctx.emit(&Value::Array(users));
    Ok(())
}
