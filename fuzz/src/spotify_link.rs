//! The Spotify link normalizer (`config::SpotifySource`): any text either is refused or
//! becomes a canonical `spotify:<kind>:<22 letters or digits>` URI; normalizing that URI gives
//! it back (idempotence); it survives the document's JSON; and the pattern the OpenAPI
//! description gives for the field accepts exactly what the parser accepts (the API fuzzer
//! and every client generate values from that pattern).

use std::sync::LazyLock;

use regex::Regex;
use reveille::config::SpotifySource;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

const KINDS: [&str; 6] = ["track", "album", "playlist", "artist", "show", "episode"];

/// The field's pattern as the OpenAPI description publishes it.
static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    let RefOr::T(Schema::Object(schema)) = <SpotifySource as utoipa::PartialSchema>::schema()
    else {
        panic!("SpotifySource is described as a string schema");
    };
    let pattern = schema.pattern.expect("SpotifySource has a pattern");
    Regex::new(&pattern).expect("the published pattern compiles")
});

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = text.parse::<SpotifySource>();
    assert_eq!(
        parsed.is_ok(),
        PATTERN.is_match(text),
        "the parser and the published pattern disagree on {text:?}: {parsed:?}"
    );
    let source = match parsed {
        Ok(source) => source,
        Err(message) => {
            assert!(
                message.contains("is not a Spotify link or URI"),
                "{message}"
            );
            return;
        }
    };
    let uri = source.uri();
    let mut parts = uri.split(':');
    let (scheme, kind, id) = (parts.next(), parts.next(), parts.next());
    assert_eq!(scheme, Some("spotify"), "{text:?} → {uri}");
    let kind = kind.unwrap_or_else(|| panic!("{text:?} → {uri}: no kind"));
    assert!(KINDS.contains(&kind), "{text:?} → {uri}: kind {kind}");
    let id = id.unwrap_or_else(|| panic!("{text:?} → {uri}: no id"));
    assert!(
        id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{text:?} → {uri}: id {id:?}"
    );
    assert_eq!(parts.next(), None, "{text:?} → {uri}");
    assert_eq!(
        source.is_context(),
        !matches!(kind, "track" | "episode"),
        "{uri}"
    );
    // The id is the text's own, not made up.
    assert!(text.contains(id), "{text:?} → {uri}");

    let again: SpotifySource = uri.parse().unwrap_or_else(|e| panic!("{uri}: {e}"));
    assert_eq!(again, source, "normalizing {uri} again changed it");
    let json = serde_json::to_string(&source).expect("a source serializes");
    let back: SpotifySource = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(back, source, "{json}");
}
