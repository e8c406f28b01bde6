//! The few runtime services the engine and the client need (spawning a task, sleeping, timing out), with
//! one API on every target.
//!
//! - Natively they are tokio's own ([`tokio::spawn`], [`tokio::time`]), re-exported unchanged, so tokio's
//!   paused clock drives them in tests.
//! - On `wasm32-unknown-unknown` there is no tokio runtime, no I/O driver and no timer wheel: tasks run on the
//!   JavaScript event loop (`wasm_bindgen_futures::spawn_local`) and timers are JavaScript timers
//!   (`setTimeout`, through `gloo-timers`). Futures there may hold JavaScript values, which are not `Send`,
//!   so [`spawn`] does not ask for `Send` on that target, and [`Sleep`] is made `Send` with
//!   [`send_wrapper`](https://docs.rs/send_wrapper) (`wasm32-unknown-unknown` has a single thread, so the
//!   wrapper's check that it never leaves its thread cannot fail) so that code which awaits timers keeps the
//!   same bounds on every target.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use mcp_rpc::rt;
//!
//! let task = rt::spawn(async { 6 * 7 });
//! assert_eq!(task.await.unwrap(), 42);
//! // A future that never finishes, cut short.
//! let r = rt::timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
//! assert!(r.is_err());
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;

    pub use tokio::task::{JoinError, JoinHandle};
    pub use tokio::time::error::Elapsed;
    pub use tokio::time::{sleep, timeout, Sleep};

    /// Run `fut` as a task of its own on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime (as [`tokio::spawn`]).
    pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(fut)
    }

    /// Run `fut` as a task of its own if a runtime is there to run it (a drop handler may run after the
    /// runtime is gone). Returns whether it was spawned.
    pub fn try_spawn<F>(fut: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(fut);
                true
            }
            Err(_) => false,
        }
    }

    /// Move `sleep`'s deadline to `after` from now.
    pub fn reset(sleep: Pin<&mut Sleep>, after: Duration) {
        sleep.reset(tokio::time::Instant::now() + after);
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use std::task::{Context, Poll};

    use futures::future::{AbortHandle, Abortable};
    use gloo_timers::future::TimeoutFuture;
    use send_wrapper::SendWrapper;
    use tokio::sync::oneshot;

    /// The task of a [`JoinHandle`] was aborted before it finished.
    #[derive(Debug)]
    pub struct JoinError(());

    impl std::fmt::Display for JoinError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("task was cancelled")
        }
    }

    impl std::error::Error for JoinError {}

    /// Owns a spawned task's result. Dropping it detaches the task (it runs on); [`abort`](Self::abort)
    /// stops it at its next await.
    #[derive(Debug)]
    pub struct JoinHandle<T> {
        result: oneshot::Receiver<T>,
        abort: AbortHandle,
    }

    impl<T> JoinHandle<T> {
        /// Stop the task at its next await; awaiting the handle then yields a [`JoinError`].
        pub fn abort(&self) {
            self.abort.abort();
        }
    }

    impl<T> Future for JoinHandle<T> {
        type Output = Result<T, JoinError>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            // The sender is dropped without a value only when the task was aborted.
            Pin::new(&mut self.result)
                .poll(cx)
                .map(|r| r.map_err(|_| JoinError(())))
        }
    }

    /// Run `fut` as a task of its own on the JavaScript event loop.
    pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (tx, result) = oneshot::channel();
        let (abort, registration) = AbortHandle::new_pair();
        let task = Abortable::new(
            async move {
                let _ = tx.send(fut.await);
            },
            registration,
        );
        wasm_bindgen_futures::spawn_local(async move {
            let _ = task.await;
        });
        JoinHandle { result, abort }
    }

    /// Run `fut` as a task of its own. The JavaScript event loop is always there, so this always spawns.
    pub fn try_spawn<F>(fut: F) -> bool
    where
        F: Future<Output = ()> + 'static,
    {
        wasm_bindgen_futures::spawn_local(fut);
        true
    }

    /// A [`timeout`] ran out.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Elapsed(());

    impl std::fmt::Display for Elapsed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("deadline has elapsed")
        }
    }

    impl std::error::Error for Elapsed {}

    /// Completes once its deadline has passed (a JavaScript timer).
    #[derive(Debug)]
    pub struct Sleep(SendWrapper<TimeoutFuture>);

    impl Future for Sleep {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            Pin::new(&mut self.0).poll(cx)
        }
    }

    fn timer(after: Duration) -> SendWrapper<TimeoutFuture> {
        // JavaScript timers take whole milliseconds in an i32; a longer wait is as good as forever.
        let ms = u32::try_from(after.as_millis()).unwrap_or(u32::MAX);
        SendWrapper::new(TimeoutFuture::new(ms.min(i32::MAX as u32)))
    }

    /// Waits until `after` has passed.
    pub fn sleep(after: Duration) -> Sleep {
        Sleep(timer(after))
    }

    /// Move `sleep`'s deadline to `after` from now.
    pub fn reset(mut sleep: Pin<&mut Sleep>, after: Duration) {
        sleep.0 = timer(after);
    }

    /// `fut`'s output, or [`Elapsed`] if it takes longer than `after`.
    pub async fn timeout<F: Future>(after: Duration, fut: F) -> Result<F::Output, Elapsed> {
        use futures::future::{select, Either};
        let fut = std::pin::pin!(fut);
        match select(fut, sleep(after)).await {
            Either::Left((v, _)) => Ok(v),
            Either::Right(((), _)) => Err(Elapsed(())),
        }
    }
}

pub use imp::*;
