//! The check of ordered delivery (`--ordered-keys`): an event acknowledged before another of its
//! key was sent must reach every subscription first. Events of a key sent while another was
//! still being ingested may be ordered either way (the server orders by ingest), so only pairs
//! the load generator itself ordered are checked.

use std::collections::HashMap;
use std::time::Instant;

use uuid::Uuid;

/// The key an event carries, of `keys` (the same for every run: derived from its id).
pub fn key_of(id: Uuid, keys: usize) -> u128 {
    id.as_u128() % keys.max(1) as u128
}

/// When an event's ingest request was sent and acknowledged.
#[derive(Clone, Copy, Debug)]
pub struct Ingested {
    pub sent: Instant,
    pub acked: Instant,
}

/// An event's (acknowledged, sent, first arrived) times, as one subscription saw it.
type Delivered = (Instant, Instant, Instant);

/// Deliveries that arrived before one of an event acknowledged before theirs was sent, of the
/// same key and subscription. `arrivals`: each (event, subscription)'s first successful arrival.
pub fn violations(
    ingested: &HashMap<Uuid, Ingested>,
    arrivals: &HashMap<(Uuid, usize), Instant>,
    keys: usize,
) -> usize {
    // Per (key, subscription): (acked, sent, arrived) of each delivered event.
    let mut lines: HashMap<(u128, usize), Vec<Delivered>> = HashMap::new();
    for ((event, subscription), arrived) in arrivals {
        if let Some(i) = ingested.get(event) {
            lines
                .entry((key_of(*event, keys), *subscription))
                .or_default()
                .push((i.acked, i.sent, *arrived));
        }
    }
    let mut late = 0;
    for line in lines.values_mut() {
        line.sort_by_key(|(acked, _, _)| *acked);
        // The latest arrival among the first n acknowledged.
        let latest: Vec<Instant> = line
            .iter()
            .scan(None::<Instant>, |latest, (_, _, arrived)| {
                let max = latest.map_or(*arrived, |l: Instant| l.max(*arrived));
                *latest = Some(max);
                Some(max)
            })
            .collect();
        for (_, sent, arrived) in line.iter() {
            let before = line.partition_point(|(acked, _, _)| acked < sent);
            if before > 0 && latest[before - 1] > *arrived {
                late += 1;
            }
        }
    }
    late
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An event of key 0 (of 1) sent at `sent` ms, acknowledged at `acked`, arrived at `arrived`.
    fn event(
        ingested: &mut HashMap<Uuid, Ingested>,
        arrivals: &mut HashMap<(Uuid, usize), Instant>,
        at: Instant,
        (sent, acked, arrived): (u64, u64, u64),
    ) {
        let id = Uuid::now_v7();
        let ms = |n| at + Duration::from_millis(n);
        ingested.insert(
            id,
            Ingested {
                sent: ms(sent),
                acked: ms(acked),
            },
        );
        arrivals.insert((id, 0), ms(arrived));
    }

    #[test]
    fn only_pairs_the_sender_ordered_count() {
        let at = Instant::now();
        let (mut ingested, mut arrivals) = (HashMap::new(), HashMap::new());
        // In order.
        event(&mut ingested, &mut arrivals, at, (0, 2, 3));
        event(&mut ingested, &mut arrivals, at, (4, 6, 7));
        assert_eq!(violations(&ingested, &arrivals, 1), 0);
        // Sent while the previous one was being ingested: either order is right.
        event(&mut ingested, &mut arrivals, at, (5, 8, 6));
        assert_eq!(violations(&ingested, &arrivals, 1), 0);
        // Sent after the first was acknowledged, yet delivered before it.
        event(&mut ingested, &mut arrivals, at, (3, 4, 1));
        assert_eq!(violations(&ingested, &arrivals, 1), 1);
    }
}
