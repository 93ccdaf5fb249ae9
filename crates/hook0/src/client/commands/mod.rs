//! One module per family of client commands; each returns what to print, or a failure.

pub mod account;
pub mod applications;
pub mod event_types;
pub mod events;
pub mod listen;
pub mod settings;
pub mod subscriptions;
pub mod verify;

use std::io::IsTerminal;

use super::Failure;

/// `k=v` of `-l` and `-H` flags.
pub fn pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("`{text}` is not key=value")),
    }
}

/// Asks `question` on a terminal; without one, `--yes` is needed.
pub fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            1,
            format!("{question} Nothing done."),
            Some("add -y (--yes) to confirm without a terminal"),
        ));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(1, e.to_string(), None))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::new(1, "cancelled: nothing done", None))
    }
}

/// `k=v, k=v` for a table cell.
pub fn labels_text<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    labels
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{"deleted": true, "entity": …, "id": …}`, upstream's answer to a delete.
pub fn deleted(entity: &'static str, id: String) -> super::Rendered {
    super::Rendered::record(
        vec![("deleted", entity.to_owned()), ("id", id.clone())],
        serde_json::json!({ "deleted": true, "entity": entity, "id": id }),
    )
}
