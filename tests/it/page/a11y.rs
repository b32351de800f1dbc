//! Accessibility checks the page tests run on each screen they reach: axe-core (vendored in
//! `tests/support/browser/vendor/`, injected by the test, never served by the daemon) with
//! violations of serious or critical impact as failures; every form control has a label;
//! touch targets of at least 44 × 44 CSS px at the phone preset.

use serde_json::Value;

use crate::browser::{Browser, BrowserError};

use super::site::TestResult;

const AXE: &str = include_str!("../../support/browser/vendor/axe.min.js");

/// Runs axe-core on the document as it is now and fails on serious or critical violations,
/// naming the rule, the impact, what it means and the elements.
pub async fn axe(browser: &Browser, screen: &str) -> TestResult {
    if browser.eval("return typeof window.axe").await? != "object" {
        // As a function body: `module`/`define` are absent, so it sets `window.axe`.
        browser.eval(&format!("{AXE}\nreturn true")).await?;
    }
    let violations = browser
        .eval(
            "return axe.run(document, { resultTypes: ['violations'] }).then((r) =>
                r.violations
                  .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                  .map((v) => `${v.id} (${v.impact}): ${v.help}: ` +
                     v.nodes.map((n) => n.target.join(' ')).join(', ')))",
        )
        .await?;
    let violations = list(&violations);
    assert!(
        violations.is_empty(),
        "axe on {screen}: {}",
        violations.join(" | ")
    );
    Ok(())
}

/// Every shown input, select and text area has an accessible name (a `<label>`, or
/// `aria-label`/`aria-labelledby` where a visible text labels a group).
pub async fn labels(browser: &Browser, screen: &str) -> TestResult {
    let unlabelled = browser
        .eval(
            "return [...document.querySelectorAll('input, select, textarea')]
                .filter((el) => el.type !== 'hidden' && el.getClientRects().length > 0)
                .filter((el) => !(el.labels && el.labels.length)
                    && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
                .map((el) => el.outerHTML.slice(0, 120))",
        )
        .await?;
    let unlabelled = list(&unlabelled);
    assert!(
        unlabelled.is_empty(),
        "controls without a label on {screen}: {unlabelled:?}"
    );
    Ok(())
}

/// Every shown control is at least 44 × 44 CSS px. Links inside running text are exempt
/// (WCAG 2.5.8's inline exception), as is the skip link, which is off screen until focused.
pub async fn touch_targets(browser: &Browser, screen: &str) -> TestResult {
    let small = browser
        .eval(
            "const controls = 'a[href], button, input, select, textarea, summary, [role=switch], [tabindex]:not([tabindex=\"-1\"])';
             return [...document.querySelectorAll(controls)]
                .filter((el) => el.type !== 'hidden' && el.getClientRects().length > 0)
                .filter((el) => !el.closest('[inert]') && !el.classList.contains('skip-link'))
                .filter((el) => !(el.tagName === 'A' && getComputedStyle(el).display === 'inline'))
                .map((el) => [el, el.getBoundingClientRect()])
                .filter(([, r]) => r.width < 44 || r.height < 44)
                .map(([el, r]) => `${el.outerHTML.slice(0, 100)} is ${Math.round(r.width)}×${Math.round(r.height)}`)",
        )
        .await?;
    let small = list(&small);
    assert!(
        small.is_empty(),
        "touch targets under 44 px on {screen}: {small:?}"
    );
    Ok(())
}

/// No value the scripts failed to put into words shows as text: `null`, `undefined`, `NaN`,
/// `[object Object]`, an unfilled `{placeholder}` (DOM methods such as `replaceChildren`
/// write a `null` argument as the text "null").
pub async fn no_stray_values(browser: &Browser, screen: &str) -> TestResult {
    let text = browser.eval("return document.body.innerText").await?;
    let text = text.as_str().unwrap_or_default();
    let stray = stray_words(text);
    assert!(
        stray.is_empty(),
        "stray values on {screen}: {stray:?} in {text:?}"
    );
    Ok(())
}

/// The words of `text` that are stray values (see `no_stray_values`).
fn stray_words(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .split(|c: char| c.is_whitespace() || ",.;:·()".contains(c))
        .filter(|word| ["null", "undefined", "NaN"].contains(word))
        .map(String::from)
        .collect();
    for marker in ["[object ", "{"] {
        if text.contains(marker) {
            found.push(marker.to_owned());
        }
    }
    found
}

/// All of them, for a screen at the phone preset.
pub async fn phone_screen(browser: &Browser, screen: &str) -> TestResult {
    no_stray_values(browser, screen).await?;
    axe(browser, screen).await?;
    labels(browser, screen).await?;
    touch_targets(browser, screen).await
}

fn list(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| vec![value.to_string()])
}

/// The focused element, described: its tag, its text or label, and its top and bottom edges
/// in the document (CSS px), or `None` on the body.
pub async fn focused(browser: &Browser) -> Result<Option<(String, f64, f64)>, BrowserError> {
    let value = browser
        .eval(
            "const el = document.activeElement;
             if (!el || el === document.body) return null;
             const name = (el.getAttribute('aria-label') || el.textContent || el.value || '').trim().slice(0, 40);
             const where = el.closest('#tabs') ? 'tabs ' : '';
             const r = el.getBoundingClientRect();
             return [`${where}${el.tagName.toLowerCase()} ${name}`, r.top + scrollY, r.bottom + scrollY]",
        )
        .await?;
    Ok(serde_json::from_value(value).ok())
}
