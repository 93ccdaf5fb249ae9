//! Upstream's password policy: long enough (`PASSWORD_MINIMUM_LENGTH`, 12 by default), at most
//! 100 characters, at least 4 distinct characters, not a common password (even lightly
//! disguised: case, letter-for-digit substitutions, digits and symbols around it), and not built
//! from the user's email address or name. Each rule has its own problem id.
//!
//! Hashing is not here (it is CPU work the API runs off its async threads); this is only the
//! decision whether a password may be set.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::problem::ProblemId;

/// Upstream's default `PASSWORD_MINIMUM_LENGTH`.
pub const DEFAULT_MINIMUM_LENGTH: usize = 12;
/// Longest password accepted, in characters.
pub const MAXIMUM_LENGTH: usize = 100;
/// Fewest distinct characters a password must use.
pub const MINIMUM_DISTINCT_CHARACTERS: usize = 4;
/// Parts of an email or name shorter than this are not looked for in passwords.
const SIMILARITY_MIN_LEN: usize = 3;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Who the password belongs to, for the similarity rules.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
}

/// Checks `password` against the policy; the error is the problem to answer with.
pub fn check(password: &str, minimum_length: usize, owner: Owner<'_>) -> Result<(), ProblemId> {
    let length = password.chars().count();
    if length < minimum_length {
        return Err(ProblemId::PasswordTooShort);
    }
    if length > MAXIMUM_LENGTH {
        return Err(ProblemId::PasswordTooLong);
    }
    let distinct: HashSet<char> = password.chars().collect();
    if distinct.len() < MINIMUM_DISTINCT_CHARACTERS {
        return Err(ProblemId::PasswordNotDiverseEnough);
    }
    if is_common(password) {
        return Err(ProblemId::PasswordTooCommon);
    }
    let lowered = password.to_lowercase();
    let undisguised = undisguise(password);
    let contains = |part: &str| {
        let part = part.trim().to_lowercase();
        part.chars().count() >= SIMILARITY_MIN_LEN
            && (lowered.contains(&part) || undisguised.contains(&undisguise(&part)))
    };
    let email = owner.email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if contains(&email) || contains(local) || (lowered.len() >= 4 && email.contains(&lowered)) {
        return Err(ProblemId::PasswordSimilarToEmail);
    }
    let name_parts = [owner.first_name, owner.last_name];
    let full_name = format!("{}{}", owner.first_name, owner.last_name);
    if name_parts.iter().any(|n| contains(n)) || contains(&full_name) {
        return Err(ProblemId::PasswordSimilarToName);
    }
    Ok(())
}

/// True for a common password, also when disguised: `P@ssw0rd2024!`, `monkeymonkey`.
pub fn is_common(password: &str) -> bool {
    let lowered = password.to_lowercase();
    let trimmed = |s: &str| s.trim_matches(|c: char| !c.is_alphabetic()).to_string();
    // The word with the digits and symbols around it removed, then its substitutions undone;
    // and the other way round, for a substituted first or last letter (`4dmin`).
    let core = undisguise(&trimmed(&lowered));
    let candidates = [
        lowered.clone(),
        core.clone(),
        trimmed(&undisguise(&lowered)),
    ];
    if candidates
        .iter()
        .any(|c| c.chars().count() >= 4 && COMMON.contains(c.as_str()))
    {
        return true;
    }
    // A common word repeated: `monkeymonkey`.
    let chars: Vec<char> = core.chars().collect();
    (1..=chars.len() / 2).any(|n| {
        chars.len().is_multiple_of(n)
            && chars.chunks(n).all(|c| c == &chars[..n])
            && COMMON.contains(chars[..n].iter().collect::<String>().as_str())
    })
}

/// Lowercases and undoes the usual letter substitutions (`@`→a, `0`→o, `3`→e…).
fn undisguise(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '8' => 'b',
            '3' => 'e',
            '1' | '!' | '|' => 'i',
            '0' => 'o',
            '$' | '5' => 's',
            '7' | '+' => 't',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADA: Owner<'static> = Owner {
        email: "ada.lovelace@example.com",
        first_name: "Ada",
        last_name: "Lovelace",
    };

    fn verdict(password: &str) -> Result<(), ProblemId> {
        check(password, DEFAULT_MINIMUM_LENGTH, ADA)
    }

    #[test]
    fn a_long_unusual_password_passes() {
        assert_eq!(verdict("correct-zebra-staple-42"), Ok(()));
        assert_eq!(verdict("Tr0mb0ne&Kiwi#Hail"), Ok(()));
    }

    #[test]
    fn length_bounds() {
        assert_eq!(verdict("Sh0rt!pass"), Err(ProblemId::PasswordTooShort));
        assert_eq!(check("Sh0rt!pass", 8, ADA), Ok(()));
        assert_eq!(verdict(&"abcd".repeat(26)), Err(ProblemId::PasswordTooLong));
        // Characters, not bytes.
        assert_eq!(
            verdict("ééééààààüüüü"),
            Err(ProblemId::PasswordNotDiverseEnough)
        );
        assert_eq!(verdict("éàüöéàüöéàüö"), Ok(()));
    }

    #[test]
    fn few_distinct_characters_are_refused() {
        assert_eq!(
            verdict("aaaaaaaaaaaaaaaa"),
            Err(ProblemId::PasswordNotDiverseEnough)
        );
        assert_eq!(
            verdict("abcabcabcabc"),
            Err(ProblemId::PasswordNotDiverseEnough)
        );
    }

    #[test]
    fn common_passwords_are_refused_even_disguised() {
        for password in [
            "password1234",
            "P@ssw0rd2024!!",
            "123456789012",
            "qwertyuiop123",
            "MonkeyMonkey",
            "!!Dr@g0n!!2024",
            "1qaz2wsx3edc",
            "correcthorsebatterystaple",
        ] {
            assert_eq!(
                verdict(password),
                Err(ProblemId::PasswordTooCommon),
                "{password}"
            );
        }
    }

    #[test]
    fn passwords_built_from_the_email_or_name_are_refused() {
        assert_eq!(
            verdict("ada.lovelace@example.com"),
            Err(ProblemId::PasswordSimilarToEmail)
        );
        assert_eq!(
            verdict("xx-ADA.LOVELACE-yy"),
            Err(ProblemId::PasswordSimilarToEmail)
        );
        assert_eq!(
            verdict("Lovelace-forever-1815"),
            Err(ProblemId::PasswordSimilarToName)
        );
        assert_eq!(
            verdict("AdaLovelace!2024"),
            Err(ProblemId::PasswordSimilarToName)
        );
        assert_eq!(
            verdict("L0v3l4c3-engine-1843"),
            Err(ProblemId::PasswordSimilarToName)
        );
    }
}
