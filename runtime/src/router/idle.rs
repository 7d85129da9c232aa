//! The rolling idle window of a client connection (Heroku: 55 s). Once a dyno's
//! response has started, every byte either way (sent to the client, or read
//! from the client's body by the dyno) restarts the window; when it runs out,
//! the router closes the connection. The router line then says whose silence
//! it was: the dyno's (H15, it had nothing to send) or the client's (H28, it
//! took nothing it was sent, or sent nothing the dyno was waiting for).

use super::codes::Code;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;

/// What moves on one client connection, watched by [`Activity::watch`].
pub struct Activity {
    base: Instant,
    /// Milliseconds from `base` to the last byte either way.
    last: AtomicU64,
    /// A dyno's response body is being sent.
    streaming: AtomicBool,
    /// The response body's last poll found nothing from the dyno.
    waiting_on_dyno: AtomicBool,
    /// The dyno's last read of the request body found nothing from the client.
    waiting_on_client: AtomicBool,
    /// Why the window closed the connection.
    cut: OnceLock<Code>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            base: Instant::now(),
            last: AtomicU64::new(0),
            streaming: AtomicBool::new(false),
            waiting_on_dyno: AtomicBool::new(false),
            waiting_on_client: AtomicBool::new(false),
            cut: OnceLock::new(),
        }
    }
}

impl Activity {
    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// A byte moved: the window starts again.
    pub fn touch(&self) {
        self.last.store(self.now_ms(), Relaxed);
    }

    /// A response starts (`true`) or is over (`false`).
    pub fn streaming(&self, on: bool) {
        self.touch();
        self.waiting_on_dyno.store(false, Relaxed);
        self.waiting_on_client.store(false, Relaxed);
        self.streaming.store(on, Relaxed);
    }

    /// The response body found nothing to send (`true`), or sent a frame.
    pub fn waiting_on_dyno(&self, waiting: bool) {
        self.waiting(&self.waiting_on_dyno, waiting);
    }

    /// The request body found nothing from the client (`true`), or gave the dyno a frame.
    pub fn waiting_on_client(&self, waiting: bool) {
        self.waiting(&self.waiting_on_client, waiting);
    }

    /// Records a side as waiting, or as having moved a byte (which restarts the window).
    fn waiting(&self, side: &AtomicBool, waiting: bool) {
        side.store(waiting, Relaxed);
        if !waiting {
            self.touch();
        }
    }

    /// The code the window closed the connection with, if it did.
    pub fn cut(&self) -> Option<Code> {
        self.cut.get().copied()
    }

    /// Returns once a response has moved no byte for `window`, with the code to log.
    pub async fn watch(&self, window: Duration) -> Code {
        let window_ms = window.as_millis() as u64;
        loop {
            let idle = self.now_ms().saturating_sub(self.last.load(Relaxed));
            if self.streaming.load(Relaxed) && idle >= window_ms {
                let dyno_silent =
                    self.waiting_on_dyno.load(Relaxed) && !self.waiting_on_client.load(Relaxed);
                let code = if dyno_silent { Code::H15 } else { Code::H28 };
                let _ = self.cut.set(code);
                return code;
            }
            let wait = if self.streaming.load(Relaxed) {
                window_ms - idle
            } else {
                window_ms
            };
            tokio::time::sleep(Duration::from_millis(wait.max(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_window_closes_on_the_silent_side() {
        let window = Duration::from_millis(200);
        let idle = Activity::default();
        // Nothing streams: the window never closes.
        let waited = tokio::time::timeout(window * 3, idle.watch(window)).await;
        assert!(waited.is_err());

        let client_silent = Activity::default();
        client_silent.streaming(true);
        client_silent.waiting_on_dyno(false);
        let started = Instant::now();
        assert_eq!(client_silent.watch(window).await, Code::H28);
        assert!(started.elapsed() >= window - Duration::from_millis(2));
        assert_eq!(client_silent.cut(), Some(Code::H28));

        let dyno_silent = Activity::default();
        dyno_silent.streaming(true);
        dyno_silent.waiting_on_dyno(true);
        let watch = dyno_silent.watch(window);
        tokio::pin!(watch);
        // A byte before the window ends restarts it.
        tokio::select! {
            _ = &mut watch => panic!("closed early"),
            () = tokio::time::sleep(window / 2) => dyno_silent.waiting_on_dyno(false),
        }
        dyno_silent.waiting_on_dyno(true);
        let restarted = Instant::now();
        assert_eq!(watch.await, Code::H15);
        assert!(restarted.elapsed() >= window - Duration::from_millis(2));

        let upload_stalled = Activity::default();
        upload_stalled.streaming(true);
        upload_stalled.waiting_on_dyno(true);
        upload_stalled.waiting_on_client(true);
        assert_eq!(upload_stalled.watch(window).await, Code::H28);
    }
}
