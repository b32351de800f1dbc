//! The real daemon (and the in-process Spotify mock it talks to): the ring
//! chain against the mock (`chain`), every Spotify fault and the start order (`faults`), the GPIO
//! devices on the simulator (`hardware`), parts that are missing (`missing_parts`), a
//! far-future date on disk at start (`far_future_start`), and the mock itself with its OpenAPI
//! validator (`mock_tests`). Each test starts its own daemon process with its own temp dir,
//! but for the fault matrix (`fault_matrix`), which runs the runner in process and in paused
//! time: every fault × the alarm, the ring after a snooze and the sleep timer.

mod chain;
mod far_future_start;
mod fault_matrix;
mod faults;
mod hardware;
mod missing_parts;
mod mock_tests;
