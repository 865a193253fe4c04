//! `Creating build... done, v2`, with a spinner and the elapsed seconds while a call takes
//! more than a moment.
//!
//! The spinner only runs when standard output is a terminal and `DEIS_HIDE_PROGRESS` is not
//! set, so pipes and scripts see the plain line.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::output;

/// How long a call may take before the spinner shows up.
const QUIET_PERIOD: Duration = Duration::from_millis(800);
/// Time between two frames.
const FRAME_TIME: Duration = Duration::from_millis(100);
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A line in progress; finish it with [`Progress::done`].
pub struct Progress {
    quiet: bool,
    started: Instant,
    spinner: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Progress {
    /// Prints `message` (e.g. `Creating build... `) and starts the spinner. A quiet progress
    /// (for `--json`) prints nothing at all.
    pub fn start(message: &str, quiet: bool) -> Progress {
        let started = Instant::now();
        if quiet {
            return Progress {
                quiet,
                started,
                spinner: None,
            };
        }
        output::start_line(message);
        let animate = std::io::stdout().is_terminal()
            && std::env::var_os("DEIS_HIDE_PROGRESS").is_none_or(|v| v.is_empty())
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let spinner = animate.then(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let handle = thread::spawn({
                let stop = Arc::clone(&stop);
                let message = message.to_owned();
                move || spin(&message, started, &stop)
            });
            (stop, handle)
        });
        Progress {
            quiet,
            started,
            spinner,
        }
    }

    /// Whole seconds since the start.
    pub fn elapsed_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Stops the spinner and ends the line with `result` (e.g. `done, v2`).
    pub fn done(mut self, result: &str) {
        self.stop();
        if !self.quiet {
            output::say(result);
        }
    }

    fn stop(&mut self) {
        if let Some((stop, handle)) = self.spinner.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = handle.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spin(message: &str, started: Instant, stop: &AtomicBool) {
    while started.elapsed() < QUIET_PERIOD {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let mut out = std::io::stdout();
    for frame in FRAMES.iter().cycle() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let secs = started.elapsed().as_secs();
        let _ = write!(out, "\r{message}{frame} {secs}s");
        let _ = out.flush();
        thread::sleep(FRAME_TIME);
    }
    // Erase the frame and the seconds, leaving the message for the result to follow.
    let _ = write!(out, "\r\x1b[K{message}");
    let _ = out.flush();
}
