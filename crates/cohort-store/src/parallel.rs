//! Work spread over a few threads, each with state of its own (a DuckDB instance: one statement
//! runs per connection at a time, and many small statements gain little from sharing one).

use std::sync::Mutex;

use crate::error::Result;

/// Runs `work` on every item on up to `workers` threads, each with the state `init` makes for it
/// (made on the calling thread, before any work starts), and returns the results in the items'
/// order. Threads take the next item as they finish one, so uneven items balance out.
pub fn map_in_order<S: Send, T: Send, R: Send>(
    workers: usize,
    items: Vec<T>,
    init: impl Fn() -> Result<S>,
    work: impl Fn(&S, T) -> R + Sync,
) -> Result<Vec<R>> {
    let total = items.len();
    let states = (0..workers.clamp(1, total.max(1))).map(|_| init()).collect::<Result<Vec<_>>>()?;
    let queue = Mutex::new(items.into_iter().enumerate());
    let results = Mutex::new(Vec::with_capacity(total));
    std::thread::scope(|scope| {
        for state in states {
            let (queue, results, work) = (&queue, &results, &work);
            scope.spawn(move || {
                loop {
                    let next = queue.lock().expect("not poisoned").next();
                    let Some((i, item)) = next else { break };
                    let result = work(&state, item);
                    results.lock().expect("not poisoned").push((i, result));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("not poisoned");
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u64> = (0..200).collect();
        let out = super::map_in_order(
            3,
            items,
            || Ok(10u64),
            |ten, i| {
                // Uneven work, so that threads finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((i % 7) * 50));
                i * ten
            },
        )
        .unwrap();
        assert_eq!(out, (0..200).map(|i| i * 10).collect::<Vec<_>>());
        assert!(super::map_in_order(2, Vec::<u8>::new(), || Ok(()), |_, i| i).unwrap().is_empty());
    }
}
