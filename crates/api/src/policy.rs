//! What a user may write, as MySQL (the source of truth for accounts and plans) decides: the
//! account must be active, and plan entitlements bound drafts, learning paths and
//! assessments. A refusal is a 403 with the reason.

use std::time::Duration;

use techhub_accounts::{billing, users};
use techhub_cache::entries::keys;
use techhub_content::posts;
use techhub_core::plans::{Entitlements, Plan};

use crate::cached::Loaded;
use crate::error::ApiError;
use crate::AppState;

fn inactive(status: &str) -> ApiError {
    ApiError::Forbidden(format!("your account is {status}"))
}

/// The plan of the user, whose account must be active, and its entitlements.
pub(crate) async fn active_plan(
    state: &AppState,
    user_id: u64,
) -> Result<(Plan, Entitlements), ApiError> {
    let mysql = &state.stores.mysql;
    let (user, sub) = tokio::try_join!(
        users::find(mysql, user_id),
        billing::current(mysql, user_id)
    )?;
    if user.status != "active" {
        return Err(inactive(&user.status));
    }
    Ok((sub.plan, sub.plan.entitlements()))
}

/// How long an account's status stays cached ([`keys::account`]): at most this long after a
/// change whose drop failed is the old status still decisive.
const ACCOUNT_TTL: Duration = Duration::from_secs(60);

/// The status of `user_id`'s account, from the cache (cache-aside, [`keys::account`]) or
/// MySQL. Every post written checks it: one MySQL read per post was a fifth of the machine's
/// CPU in the create-post benchmark (MariaDB's share alone).
async fn account_status(state: &AppState, user_id: u64) -> Result<String, ApiError> {
    let key = keys::account(user_id);
    let (json, _) = crate::cached::load(state, &key, ACCOUNT_TTL, || async {
        let user = users::find(&state.stores.mysql, user_id).await?;
        let json = serde_json::to_string(&user.status).map_err(|e| ApiError::Internal(e.into()))?;
        Ok(Loaded {
            json,
            cacheable: true,
        })
    })
    .await?;
    serde_json::from_str(&json).map_err(|e| ApiError::Internal(e.into()))
}

/// Whether the author may write a post: the account must be active, and a new draft
/// (`adds_draft`) must fit the plan's draft allowance.
pub(crate) async fn may_write_post(
    state: &AppState,
    user_id: u64,
    adds_draft: bool,
) -> Result<(), ApiError> {
    let status = account_status(state, user_id).await?;
    if status != "active" {
        return Err(inactive(&status));
    }
    if !adds_draft {
        return Ok(());
    }
    let plan = billing::current(&state.stores.mysql, user_id).await?.plan;
    if let Some(max) = plan.entitlements().max_drafts {
        let (_, drafts) = posts::drafts(&state.stores.mongo, user_id, 1, 0).await?;
        if drafts >= max as u64 {
            return Err(ApiError::Forbidden(format!(
                "the {} plan allows {max} drafts; publish or delete one, or upgrade",
                plan.as_str()
            )));
        }
    }
    Ok(())
}

/// The 403 for a plan's limit on `what`.
pub(crate) fn limit_reached(plan: Plan, what: &str, limit: u32) -> ApiError {
    ApiError::Forbidden(format!(
        "the {} plan allows {limit} {what}; upgrade for more",
        plan.as_str()
    ))
}
