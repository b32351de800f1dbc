//! Push buttons: raw edges debounced and classified into short and long presses. Pure: no IO,
//! no clock reads; the caller passes each edge's `Instant` and polls at
//! [`ButtonClassifier::next_deadline`].
//!
//! Debouncing is a lockout: an accepted edge counts at once and edges within `debounce` after
//! it are bounce. The level seen last inside the lockout is kept, and if it differs from the
//! accepted state when the lockout ends, it is applied then, so a bounce burst that ends in the
//! other state never leaves the button stuck "held" (which would fire a long press).

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Press {
    Short,
    Long,
}

#[derive(Clone, Debug)]
pub struct ButtonClassifier {
    debounce: Duration,
    long_press: Duration,
    /// The debounced state.
    pressed: bool,
    /// The level of the latest edge, accepted or not.
    raw: bool,
    /// When the debounced state last changed; edges before this plus `debounce` are bounce.
    changed_at: Option<Instant>,
    /// While pressed: the press began then.
    held_since: Option<Instant>,
    long_reported: bool,
}

impl ButtonClassifier {
    /// Starts released.
    pub fn new(debounce: Duration, long_press: Duration) -> Self {
        Self {
            debounce,
            long_press,
            pressed: false,
            raw: false,
            changed_at: None,
            held_since: None,
            long_reported: false,
        }
    }

    /// A new long-press threshold (a live config change); a press in progress is measured
    /// against it from now on.
    pub fn set_long_press(&mut self, long_press: Duration) {
        self.long_press = long_press;
    }

    /// A raw edge: `pressed` is the logical state (the caller already applied pull-up
    /// inversion). Returns a Short press on a release before `long_press` (a release at or
    /// after it returns Long unless [`poll`](Self::poll) already did); edges within `debounce`
    /// of the last accepted edge are ignored (bounce), as is an edge that repeats the state.
    pub fn edge(&mut self, pressed: bool, at: Instant) -> Option<Press> {
        self.settle(at);
        self.raw = pressed;
        if self.in_lockout(at) || pressed == self.pressed {
            return None;
        }
        self.accept(pressed, at)
    }

    /// Called periodically (or at the deadline below): returns Long once, as soon as the button
    /// has been held for `long_press`; the following release then returns nothing.
    pub fn poll(&mut self, now: Instant) -> Option<Press> {
        self.settle(now);
        let since = self.held_since?;
        if !self.long_reported && now.saturating_duration_since(since) >= self.long_press {
            self.long_reported = true;
            return Some(Press::Long);
        }
        None
    }

    /// When the caller should call `poll` next: the end of a lockout whose bounce ended in the
    /// other state, else the long-press threshold while held and Long not yet reported.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.raw != self.pressed
            && let Some(changed_at) = self.changed_at
        {
            return Some(changed_at + self.debounce);
        }
        match self.held_since {
            Some(since) if !self.long_reported => Some(since + self.long_press),
            _ => None,
        }
    }

    fn in_lockout(&self, at: Instant) -> bool {
        self.changed_at
            .is_some_and(|changed| at.saturating_duration_since(changed) < self.debounce)
    }

    /// Applies a level left pending by bounce once its lockout is over, as of the lockout's end.
    fn settle(&mut self, now: Instant) {
        let Some(changed_at) = self.changed_at else {
            return;
        };
        if self.raw == self.pressed || self.in_lockout(now) {
            return;
        }
        let end = changed_at + self.debounce;
        if self.raw {
            self.accept(true, end);
        } else {
            // Released again before the lockout ended: shorter than any real press, so noise.
            self.pressed = false;
            self.changed_at = Some(end);
            self.held_since = None;
        }
    }

    fn accept(&mut self, pressed: bool, at: Instant) -> Option<Press> {
        self.pressed = pressed;
        self.changed_at = Some(at);
        if pressed {
            self.held_since = Some(at);
            self.long_reported = false;
            return None;
        }
        let since = self.held_since.take()?;
        if self.long_reported {
            None
        } else if at.saturating_duration_since(since) >= self.long_press {
            Some(Press::Long)
        } else {
            Some(Press::Short)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(20);
    const LONG: Duration = Duration::from_millis(1000);

    /// Feeds `(ms, pressed)` edges to a fresh classifier, polling at every deadline that falls
    /// before each edge and up to `end_ms`; returns each press with the time it was reported.
    fn run(edges: &[(u64, bool)], end_ms: u64) -> Vec<(u64, Press)> {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut button = ButtonClassifier::new(DEBOUNCE, LONG);
        let mut presses = Vec::new();
        for &(ms, pressed) in edges {
            poll_until(&mut button, at(ms), t0, &mut presses);
            if let Some(press) = button.edge(pressed, at(ms)) {
                presses.push((ms, press));
            }
        }
        poll_until(&mut button, at(end_ms), t0, &mut presses);
        presses
    }

    fn poll_until(
        button: &mut ButtonClassifier,
        until: Instant,
        t0: Instant,
        presses: &mut Vec<(u64, Press)>,
    ) {
        while let Some(deadline) = button.next_deadline()
            && deadline <= until
        {
            if let Some(press) = button.poll(deadline) {
                presses.push((deadline.duration_since(t0).as_millis() as u64, press));
            }
        }
    }

    #[test]
    fn a_clean_short_press() {
        assert_eq!(
            run(&[(0, true), (150, false)], 5_000),
            [(150, Press::Short)]
        );
    }

    #[test]
    fn a_long_press_is_reported_while_held_and_not_again_on_release() {
        assert_eq!(
            run(&[(0, true), (3_000, false)], 5_000),
            [(1_000, Press::Long)]
        );
        // Held and never released: still exactly one Long.
        assert_eq!(run(&[(0, true)], 10_000), [(1_000, Press::Long)]);
    }

    #[test]
    fn the_threshold_is_long() {
        assert_eq!(
            run(&[(0, true), (999, false)], 5_000),
            [(999, Press::Short)]
        );
        // Poll reaches the deadline before the release edge: Long by poll, nothing on release.
        assert_eq!(
            run(&[(0, true), (1_000, false)], 5_000),
            [(1_000, Press::Long)]
        );
        // Without a poll, the release itself reports Long.
        let t0 = Instant::now();
        let mut button = ButtonClassifier::new(DEBOUNCE, LONG);
        assert_eq!(button.edge(true, t0), None);
        assert_eq!(button.edge(false, t0 + LONG), Some(Press::Long));
        assert_eq!(button.poll(t0 + 2 * LONG), None);
        assert_eq!(button.next_deadline(), None);
    }

    #[test]
    fn bounce_on_press_and_release_is_one_press() {
        let edges = [
            (0, true),
            (2, false),
            (5, true),
            (9, false),
            (12, true),
            (300, false),
            (303, true),
            (306, false),
            (318, true),
            (319, false),
        ];
        assert_eq!(run(&edges, 5_000), [(300, Press::Short)]);
        // Bouncing on the release of a long press adds nothing either.
        let edges = [
            (0, true),
            (4, false),
            (6, true),
            (1_500, false),
            (1_510, true),
            (1_515, false),
        ];
        assert_eq!(run(&edges, 5_000), [(1_000, Press::Long)]);
    }

    #[test]
    fn bounce_ending_released_is_not_a_stuck_press() {
        // A glitch shorter than the debounce: pressed at 0, back to released at 3 ms.
        assert!(run(&[(0, true), (3, false)], 5_000).is_empty());
        // The same, with the next real press arriving before anyone polled.
        let t0 = Instant::now();
        let mut button = ButtonClassifier::new(DEBOUNCE, LONG);
        button.edge(true, t0);
        button.edge(false, t0 + Duration::from_millis(3));
        assert_eq!(button.next_deadline(), Some(t0 + DEBOUNCE));
        assert_eq!(button.edge(true, t0 + Duration::from_millis(500)), None);
        assert_eq!(
            button.edge(false, t0 + Duration::from_millis(600)),
            Some(Press::Short)
        );
    }

    #[test]
    fn bounce_ending_pressed_after_a_release_starts_a_press() {
        // Released at 200 ms, and the line is back down by the end of the lockout: a new press
        // counted from 220 ms, so its Long comes at 1220 ms.
        let edges = [(0, true), (200, false), (210, true)];
        assert_eq!(
            run(&edges, 5_000),
            [(200, Press::Short), (1_220, Press::Long)]
        );
    }

    #[test]
    fn a_repeated_pressed_edge_is_ignored() {
        let edges = [(0, true), (100, true), (900, true), (950, false)];
        assert_eq!(run(&edges, 5_000), [(950, Press::Short)]);
        // Likewise a release without a press.
        assert!(run(&[(0, false), (100, false)], 5_000).is_empty());
    }

    #[test]
    fn two_quick_presses_are_two_shorts() {
        let edges = [(0, true), (80, false), (160, true), (240, false)];
        assert_eq!(
            run(&edges, 5_000),
            [(80, Press::Short), (240, Press::Short)]
        );
    }

    #[test]
    fn deadlines() {
        let t0 = Instant::now();
        let mut button = ButtonClassifier::new(DEBOUNCE, LONG);
        assert_eq!(button.next_deadline(), None, "released");
        button.edge(true, t0);
        assert_eq!(button.next_deadline(), Some(t0 + LONG), "held");
        assert_eq!(button.poll(t0 + LONG / 2), None, "early poll");
        assert_eq!(button.poll(t0 + LONG), Some(Press::Long));
        assert_eq!(button.next_deadline(), None, "long reported");
        assert_eq!(button.edge(false, t0 + 2 * LONG), None);
        assert_eq!(button.next_deadline(), None, "released again");
    }
}
