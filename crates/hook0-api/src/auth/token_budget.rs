//! What a Biscuit may cost us, decided before any Datalog runs.
//!
//! Anyone holding a token may append blocks to it offline, and the authorizer evaluates every
//! fact, rule and check of every block. biscuit-auth checks its time limit only between rules,
//! so one check joining many facts (`n($x), n($y), n($z), …`) runs to its end whatever the
//! budget: seconds or minutes of CPU for one request. So a token is refused (403
//! `AuthInvalidBiscuit`) unless it is small, has few blocks, and the worst case of its Datalog
//! is bounded: for every rule and check, the product of how many facts each body predicate could
//! match (facts of that name and arity from every block, the authorizer's own, and what rules
//! could derive) must stay under [`MAX_JOIN_WORK`]. The estimate is an upper bound, so a token
//! that passes cannot surprise us; the checks customers write (`check if application_id(…)`,
//! `check if time($t), $t < …`, `check if action(…)`) cost 1 each.

use std::collections::HashMap;

use biscuit_auth::Biscuit;
use biscuit_parser::builder::{Predicate, Rule};

/// Longest token accepted, in base64 characters (a session of a member of hundreds of
/// organizations fits; the `Authorization` header is capped a little above it).
pub const MAX_TOKEN_CHARS: usize = 24 * 1024;
/// Most blocks: the authority block and the attenuations appended to it.
pub const MAX_BLOCKS: usize = 8;
/// Most facts, rules and checks over all attenuation blocks together.
pub const MAX_ATTENUATION_STATEMENTS: usize = 64;
/// Most facts any rule or check may have to look at, all its joins multiplied out.
pub const MAX_JOIN_WORK: u64 = 5_000;

/// Facts the authorizer adds per request (`time`, `action`, `allowed_role` ×2, …): each name
/// is counted as if present twice.
const AUTHORIZER_FACTS: [(&str, usize); 11] = [
    ("time", 1),
    ("action", 1),
    ("requested_organization_id", 1),
    ("allowed_role", 1),
    ("application_id", 1),
    ("subscription_id", 1),
    ("service_token_id", 1),
    ("labels", 1),
    ("event_type_names", 1),
    ("expected_type", 1),
    ("organization_id", 1),
];

/// Why a token was refused before evaluation (for the logs; the client gets the usual 403).
#[derive(Debug, PartialEq, Eq)]
pub enum TooCostly {
    TooLong(usize),
    TooManyBlocks(usize),
    Unreadable,
    TooManyStatements(usize),
    JoinTooLarge(u64),
}

/// The text's length alone, before anything is decoded.
pub fn check_length(token: &str) -> Result<(), TooCostly> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(TooCostly::TooLong(token.len()));
    }
    Ok(())
}

/// The decoded token: blocks, statements and the worst case of every join.
pub fn check(token: &Biscuit) -> Result<(), TooCostly> {
    let blocks = token.block_count();
    if blocks > MAX_BLOCKS {
        return Err(TooCostly::TooManyBlocks(blocks));
    }
    let mut counts: HashMap<(String, usize), u64> = AUTHORIZER_FACTS
        .iter()
        .map(|(name, arity)| ((name.to_string(), *arity), 2))
        .collect();
    let mut rules: Vec<Rule> = Vec::new();
    let mut queries: Vec<Rule> = Vec::new();
    let mut attenuation_statements = 0;
    for index in 0..blocks {
        let source = token
            .print_block_source(index)
            .map_err(|_| TooCostly::Unreadable)?;
        let parsed = biscuit_parser::parser::parse_block_source(&source)
            .map_err(|_| TooCostly::Unreadable)?;
        if index > 0 {
            attenuation_statements += parsed.facts.len() + parsed.rules.len() + parsed.checks.len();
        }
        for (_, fact) in parsed.facts {
            *counts.entry(key(&fact.predicate)).or_default() += 1;
        }
        rules.extend(parsed.rules.into_iter().map(|(_, r)| r));
        queries.extend(parsed.checks.into_iter().flat_map(|(_, c)| c.queries));
    }
    if attenuation_statements > MAX_ATTENUATION_STATEMENTS {
        return Err(TooCostly::TooManyStatements(attenuation_statements));
    }
    // What rules may derive adds to the facts later joins see. Rules feeding rules are
    // followed for a few rounds; each round can only raise the counts, and the bound below
    // stops any that grow large.
    for _ in 0..MAX_BLOCKS {
        let mut grown = false;
        for rule in &rules {
            let derived = join_work(rule, &counts);
            let head = counts.entry(key(&rule.head)).or_default();
            let bound = derived.min(MAX_JOIN_WORK + 1);
            if *head < bound {
                *head = bound;
                grown = true;
            }
        }
        if !grown {
            break;
        }
    }
    let worst = rules
        .iter()
        .chain(&queries)
        .map(|r| join_work(r, &counts))
        .max()
        .unwrap_or(0);
    if worst > MAX_JOIN_WORK {
        return Err(TooCostly::JoinTooLarge(worst));
    }
    Ok(())
}

fn key(p: &Predicate) -> (String, usize) {
    (p.name.clone(), p.terms.len())
}

/// How many combinations of facts the body of `rule` may have to try.
fn join_work(rule: &Rule, counts: &HashMap<(String, usize), u64>) -> u64 {
    rule.body.iter().fold(1u64, |work, p| {
        work.saturating_mul(counts.get(&key(p)).copied().unwrap_or(0).max(1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::builder::BlockBuilder;
    use biscuit_auth::KeyPair;

    fn token_with(blocks: &[String]) -> Biscuit {
        let root = KeyPair::new();
        let mut token = Biscuit::builder()
            .code(r#"type("service_access"); organization_id(hex:00);"#)
            .unwrap()
            .build(&root)
            .unwrap();
        for code in blocks {
            token = token
                .append(BlockBuilder::new().code(code.as_str()).unwrap())
                .unwrap();
        }
        token
    }

    fn facts(n: usize) -> String {
        (0..n).map(|i| format!("n({i});")).collect()
    }

    #[test]
    fn ordinary_attenuations_pass() {
        let token = token_with(&[
            "check if application_id(hex:0011); check if action(\"event:ingest\");".into(),
            "check if time($t), $t < 2030-01-01T00:00:00Z;".into(),
        ]);
        assert_eq!(check(&token), Ok(()));
    }

    #[test]
    fn a_large_join_is_refused_before_it_runs() {
        let three_way = format!(
            "{} check if n($x), n($y), n($z), $x + $y + $z == -1;",
            facts(60)
        );
        assert!(matches!(
            check(&token_with(&[three_way])),
            Err(TooCostly::JoinTooLarge(216_000))
        ));
        // The same join over few facts is fine.
        let small = format!("{} check if n($x), n($y), $x + $y == -1;", facts(10));
        assert_eq!(check(&token_with(&[small])), Ok(()));
    }

    #[test]
    fn rules_that_multiply_facts_are_counted() {
        let code = format!(
            "{} m($x, $y) <- n($x), n($y); check if m($a, $b), m($c, $d), $a == -1;",
            facts(20)
        );
        assert!(matches!(
            check(&token_with(&[code])),
            Err(TooCostly::JoinTooLarge(_))
        ));
    }

    #[test]
    fn too_many_blocks_or_statements_or_characters() {
        let blocks: Vec<String> = (0..MAX_BLOCKS).map(|_| "check if true;".into()).collect();
        assert!(matches!(
            check(&token_with(&blocks)),
            Err(TooCostly::TooManyBlocks(9))
        ));
        assert!(matches!(
            check(&token_with(&[facts(MAX_ATTENUATION_STATEMENTS + 1)])),
            Err(TooCostly::TooManyStatements(_))
        ));
        assert!(check_length(&"a".repeat(MAX_TOKEN_CHARS + 1)).is_err());
    }
}
