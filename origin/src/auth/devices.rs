//! The current user's devices: the device tokens its logins gave out, listed, and forgotten one
//! by one (all of them go with a new password or a logout everywhere, see [`super::limits`]).

use shared::api::DeviceOut;

use super::{AuthError, Caller};
use crate::db::users::User;
use crate::db::{api_date, audit, devices};
use crate::state::AppState;

/// The user's known devices, the most recently used first.
pub async fn list(state: &AppState, user: &User) -> Result<Vec<DeviceOut>, AuthError> {
    let known = devices::list(&state.pool, user.id, state.clock.now()).await?;
    Ok(known
        .into_iter()
        .map(|device| DeviceOut {
            id: device.id,
            created_at: api_date(&device.created_at),
            last_used_at: api_date(&device.last_used_at),
            user_agent: device.user_agent,
            client_ip: device.client_ip,
        })
        .collect())
}

/// Forgets device `id` of `user`: its token no longer gets it through the account's locks.
pub async fn forget(state: &AppState, user: &User, id: i64, caller: &Caller) -> Result<(), AuthError> {
    if !devices::forget(&state.pool, user.id, id).await? {
        return Err(AuthError::NoSuchDevice);
    }
    let event = audit::Event {
        client_ip: caller.ip,
        detail: format!("device {id}: forgotten by its owner"),
        ..audit::Event::new(audit::Kind::DeviceForgotten, Some(user.id))
    };
    state.audit(event).await;
    Ok(())
}
