//! Linking Spotify through the page's wizard against the mock's accounts service (which
//! checks the PKCE exchange for real): the client ID typed and saved, the login link, the
//! mock's authorise page standing in for Spotify's, a wrong paste refused at the paste field,
//! the right address linking the account; then the account and the speakers on the page.

use crate::browser::Preset;
use crate::ring::CLIENT_ID;

use super::site::{Setup, Site, TestResult, click_text, finish, tap};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_links_the_account_from_a_pasted_address() -> TestResult {
    let site = Site::start_with(Setup {
        unlinked: true,
        ..Setup::default()
    })
    .await;
    let browser = site.open(Preset::Phone).await?;
    tap(&browser, "#tabs a[data-tab=spotify]").await?;
    browser
        .wait_for_text("main .card", "No Spotify account is linked")
        .await?;
    assert_eq!(
        browser
            .eval("return document.querySelector('.wizard input[readonly]').value")
            .await?,
        "http://127.0.0.1:8888/callback",
        "the exact redirect URI to register"
    );
    super::a11y::phone_screen(&browser, "the Spotify wizard").await?;

    // Step 2: the client ID, saved to the config.
    browser
        .type_text("input[name=client_id]", CLIENT_ID)
        .await?;
    click_text(&browser, "button", "Save the client ID").await?;
    browser.wait_for_text("#toast", "Client ID saved.").await?;
    let config = site.get("/api/config").await;
    assert_eq!(config["spotify"]["client_id"], CLIENT_ID);

    // Step 3: the login link, which opens Spotify's page (here the mock's).
    click_text(&browser, "button", "Get the login link").await?;
    let link = browser.wait_for(".wizard a.button.primary").await?;
    let authorize_url = link.attr("href").await?.expect("the link has an address");
    assert!(
        authorize_url.starts_with(&site.mock.accounts_url()),
        "{authorize_url}"
    );
    let landed = site.mock.authorize(&authorize_url)?;

    // Step 4: a wrong paste is refused at the paste field; the right one links.
    browser
        .type_text(
            "input[name=redirect_url]",
            "http://127.0.0.1:8888/callback?code=x",
        )
        .await?;
    click_text(&browser, "button", "Link").await?;
    let error = "[data-field=redirect_url] > .error";
    browser.wait_for(error).await?;
    let refusal = browser.text(error).await?;
    eprintln!("spotify: a wrong paste is refused with {refusal:?}");
    assert!(!refusal.is_empty());
    assert_eq!(site.get("/api/spotify/link").await["linked"], false);
    browser.fill("input[name=redirect_url]", &landed).await?;
    click_text(&browser, "button", "Link").await?;
    browser
        .wait_for_text("#toast", "Spotify is linked.")
        .await?;
    browser
        .wait_for_text("main .card dl", "Mock Listener")
        .await?;
    assert!(
        browser.text("main .card dl").await?.contains("yes"),
        "Premium"
    );
    let status = site.get("/api/spotify/link").await;
    assert_eq!(status["linked"], true, "{status}");

    // The speakers online, asked for on demand.
    click_text(&browser, "button", "Show speakers").await?;
    browser.wait_for_text("ul.devices", "Bedroom").await?;

    site.mock.assert_all_valid();
    finish(browser, &site.origin(), &["status of 4"]).await
}
