//! Waiting on the page and acting on it: every wait polls with a bound (`Browser::set_wait`,
//! 5 s by default) and fails with one line naming what it awaited and what it saw instead.

use std::time::Instant;

use fantoccini::Locator;
use fantoccini::elements::Element;

use super::{Browser, BrowserError, COMMAND_TIMEOUT, POLL, bounded, first_line};

impl Browser {
    /// Tries `attempt` every 50 ms until it succeeds or the wait is over; `awaited` and the
    /// last failure (what was seen instead) make the error.
    async fn poll<T>(
        &self,
        awaited: &str,
        mut attempt: impl AsyncFnMut() -> Result<T, String>,
    ) -> Result<T, BrowserError> {
        let deadline = Instant::now() + self.wait;
        loop {
            let seen = match tokio::time::timeout(COMMAND_TIMEOUT, attempt()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(seen)) => seen,
                Err(_) => format!("no answer from chromedriver within {COMMAND_TIMEOUT:?}"),
            };
            if Instant::now() >= deadline {
                return Err(BrowserError(format!(
                    "waited {:?} for {awaited}: {seen}",
                    self.wait
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until an element matching the CSS `selector` exists and is displayed.
    pub async fn wait_for(&self, selector: &str) -> Result<Element, BrowserError> {
        self.poll(&format!("`{selector}` to be shown"), async || {
            let element = self
                .client
                .find(Locator::Css(selector))
                .await
                .map_err(|e| {
                    if e.is_no_such_element() {
                        "nothing matches it".to_string()
                    } else {
                        first_line(&e)
                    }
                })?;
            match element.is_displayed().await {
                Ok(true) => Ok(element),
                Ok(false) => Err("it is there but hidden".into()),
                Err(e) => Err(first_line(&e)),
            }
        })
        .await
    }

    /// Waits until the element matching `selector` shows `text` (as part of its text).
    pub async fn wait_for_text(&self, selector: &str, text: &str) -> Result<(), BrowserError> {
        self.poll(&format!("`{selector}` to show {text:?}"), async || {
            let element = self
                .client
                .find(Locator::Css(selector))
                .await
                .map_err(|e| first_line(&e))?;
            let shown = element.text().await.map_err(|e| first_line(&e))?;
            if shown.contains(text) {
                Ok(())
            } else {
                Err(format!("it shows {shown:?}"))
            }
        })
        .await
    }

    /// Waits until `script` (a function body, as for `eval`) returns `true`; `awaited` names
    /// the condition, and the error shows what the script returned last.
    pub async fn wait_until(&self, awaited: &str, script: &str) -> Result<(), BrowserError> {
        self.poll(awaited, async || {
            match self.client.execute(script, Vec::new()).await {
                Ok(serde_json::Value::Bool(true)) => Ok(()),
                Ok(other) => Err(format!("the script returned {other}")),
                Err(e) => Err(first_line(&e)),
            }
        })
        .await
    }

    /// Clicks the element matching `selector`, retrying while it is missing, hidden or covered.
    pub async fn click(&self, selector: &str) -> Result<(), BrowserError> {
        self.poll(&format!("a click on `{selector}`"), async || {
            let element = self
                .client
                .find(Locator::Css(selector))
                .await
                .map_err(|e| first_line(&e))?;
            element.click().await.map_err(|e| first_line(&e))
        })
        .await
    }

    /// Types `text` into the element matching `selector`, after what it holds already.
    pub async fn type_text(&self, selector: &str, text: &str) -> Result<(), BrowserError> {
        let element = self.wait_for(selector).await?;
        bounded(format!("typing into `{selector}`"), element.send_keys(text)).await
    }

    /// Replaces what the field matching `selector` holds with `text`.
    pub async fn fill(&self, selector: &str, text: &str) -> Result<(), BrowserError> {
        let element = self.wait_for(selector).await?;
        bounded(format!("clearing `{selector}`"), element.clear()).await?;
        bounded(format!("typing into `{selector}`"), element.send_keys(text)).await
    }

    /// The rendered text of the element matching `selector`, once it is shown.
    pub async fn text(&self, selector: &str) -> Result<String, BrowserError> {
        let element = self.wait_for(selector).await?;
        bounded(format!("reading `{selector}`"), element.text()).await
    }
}
