//! Work handed to the worker threads while the calling thread goes on.
//!
//! The dedup and work passes keep every store read and write on the one
//! thread that holds the transaction, and give the CPU work (parsing
//! records, extracting features, merging union records) to rayon's pool.
//! Done in turns, the store thread would wait for the workers and the
//! workers for the store; a [`Later`] lets the store thread read the next
//! batch or write the last one while the workers parse or merge this one.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;

/// The result of a job running on the worker threads.
pub(crate) struct Later<T>(mpsc::Receiver<std::thread::Result<T>>);

impl<T: Send + 'static> Later<T> {
    /// Start `job` on the worker pool (it may use parallel iterators).
    pub(crate) fn spawn(job: impl FnOnce() -> T + Send + 'static) -> Later<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        rayon::spawn(move || {
            // The receiver may be gone (the pass failed meanwhile); then
            // nobody wants the result.
            let _ = tx.send(panic::catch_unwind(AssertUnwindSafe(job)));
        });
        Later(rx)
    }

    /// Wait for the result. A panic in the job is raised here, in the
    /// caller's thread, as if the job had run there.
    pub(crate) fn wait(self) -> T {
        match self.0.recv() {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => panic::resume_unwind(panic),
            // The job always sends before its sender is dropped, unless
            // the pool itself is gone.
            Err(_) => panic!("a background job ended without a result"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_and_panics_reach_the_caller() {
        let jobs: Vec<_> = (0..8u64).map(|i| Later::spawn(move || i * i)).collect();
        let squares: Vec<u64> = jobs.into_iter().map(Later::wait).collect();
        assert_eq!(squares, vec![0, 1, 4, 9, 16, 25, 36, 49]);
        let failing = Later::spawn(|| -> u8 { panic!("boom") });
        let caught = panic::catch_unwind(AssertUnwindSafe(|| failing.wait()));
        assert!(caught.is_err());
    }
}
