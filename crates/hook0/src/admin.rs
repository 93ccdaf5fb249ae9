//! Administration commands that work on the database directly: `hook0 user verify <email>`
//! marks a user verified, for instances without a mail server.

use hook0_core::identity::normalize_email;
use hook0_core::model::now;

use crate::cli::{UserArgs, UserCommand};

pub async fn user(args: UserArgs) -> anyhow::Result<()> {
    let store = crate::open_store(&args.store, !args.store.no_auto_db_migration).await?;
    match args.command {
        UserCommand::Verify { email } => {
            let email = normalize_email(&email);
            let Some(user) = store.user_by_email(&email).await? else {
                anyhow::bail!("no user has the email address {email}");
            };
            if store.verify_user_email(user.id, now()).await? {
                println!("{email} is verified: the user can log in.");
            } else {
                println!("{email} was already verified.");
            }
        }
    }
    Ok(())
}
