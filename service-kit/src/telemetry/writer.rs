//! Where log lines go: appended to a buffer in memory by the thread that logs, and written to
//! stderr by a thread of its own, in batches.
//!
//! A line never waits on a `write(2)`, and — unlike a channel with a writer that sleeps between
//! lines (tracing-appender's `NonBlocking`) — a busy service does not wake the writer thread and
//! issue a `write(2)` for every line: the first line into an empty buffer wakes it, and it then
//! gathers for [`GATHER`] (or until [`BATCH_BYTES`] are waiting) before it writes them all at once.
//! At a few thousand requests a second that is tens of writes a second instead of thousands of
//! wake-ups and writes, which on two shared cores was most of what access lines cost.
//!
//! Nothing is dropped: when [`MAX_QUEUED_BYTES`] are waiting (stderr stalled), the logging
//! thread waits for room. Dropping the [`BatchGuard`] writes out every queued line.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer gathers lines after the first one arrives: the most a line waits.
const GATHER: Duration = Duration::from_millis(20);
/// Queued bytes that end the gathering early.
const BATCH_BYTES: usize = 64 * 1024;
/// Queued bytes past which a logging thread waits for the writer (non-lossy backpressure).
const MAX_QUEUED_BYTES: usize = 1024 * 1024;

struct Queue {
    lines: Vec<u8>,
    stopping: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// The writer waits here for lines, and for the gathering to end.
    arrived: Condvar,
    /// Logging threads wait here for room.
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The [`MakeWriter`] of the log layers: each `write` call appends one whole line.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it has written every queued line.
pub struct BatchGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer into `out` (stderr for the services) and the guard that keeps its thread.
pub fn batch_writer<W: Write + Send + 'static>(out: W) -> io::Result<(BatchWriter, BatchGuard)> {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            lines: Vec::new(),
            stopping: false,
        }),
        arrived: Condvar::new(),
        drained: Condvar::new(),
    });
    let thread = std::thread::Builder::new()
        .name("log-writer".to_owned())
        .spawn({
            let shared = Arc::clone(&shared);
            move || write_batches(&shared, out)
        })?;
    Ok((
        BatchWriter {
            shared: Arc::clone(&shared),
        },
        BatchGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

/// The writer thread: waits for a first line, gathers, writes the batch, until stopped.
fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    loop {
        let mut queue = shared.lock();
        while queue.lines.is_empty() && !queue.stopping {
            queue = shared
                .arrived
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if queue.lines.is_empty() {
            return; // stopping, and everything is written
        }
        queue = shared
            .arrived
            .wait_timeout_while(queue, GATHER, |queue| {
                !queue.stopping && queue.lines.len() < BATCH_BYTES
            })
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        std::mem::swap(&mut batch, &mut queue.lines);
        drop(queue);
        shared.drained.notify_all();
        // A line that cannot be written has nowhere else to go.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if batch.capacity() > 4 * BATCH_BYTES {
            batch.shrink_to(BATCH_BYTES);
        }
    }
}

impl Write for BatchWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut queue = self.shared.lock();
        while queue.lines.len() >= MAX_QUEUED_BYTES && !queue.stopping {
            queue = self
                .shared
                .drained
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let before = queue.lines.len();
        queue.lines.extend_from_slice(line);
        let after = queue.lines.len();
        drop(queue);
        // Wake the writer for a first line, and to end its gathering when a batch is full.
        if before == 0 || (before < BATCH_BYTES && after >= BATCH_BYTES) {
            self.shared.arrived.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> BatchWriter {
        self.clone()
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.arrived.notify_one();
        self.shared.drained.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_whole_in_order_by_the_time_the_guard_is_dropped() {
        let sink = Sink::default();
        let (writer, guard) = batch_writer(sink.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..5_000 {
                        writer
                            .write_all(
                                format!("{thread} {n:05} {}\n", "x".repeat(n % 300)).as_bytes(),
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        threads
            .into_iter()
            .for_each(|thread| thread.join().unwrap());
        drop(guard);

        let writes = sink.0.lock().unwrap().clone();
        let text = String::from_utf8(writes.concat()).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let mut parts = line.split(' ');
            let thread: usize = parts.next().unwrap().parse().unwrap();
            let n: usize = parts.next().unwrap().parse().unwrap();
            assert_eq!(
                n, next[thread],
                "thread {thread}'s lines in order, none lost"
            );
            assert_eq!(parts.next().unwrap_or("").len(), n % 300, "a whole line");
            next[thread] += 1;
        }
        assert_eq!(next, [5_000; 4]);
        assert!(
            writes.len() < 20_000 / 10,
            "lines are written in batches, not one write each: {} writes",
            writes.len()
        );
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let sink = Sink::default();
        let (mut writer, _guard) = batch_writer(sink.clone()).unwrap();
        writer.write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().concat() != b"alone\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "the line was not written"
            );
            std::thread::yield_now();
        }
    }
}
