// Every string the page shows, in English. A translation is a copy of this file with the
// values translated (keys stay); `{name}` placeholders are filled in by `t()` in ui.js.
export default {
  "nav.skip": "Skip to the content",
  "nav.home": "Alarms",
  "nav.history": "History",
  "nav.spotify": "Spotify",
  "nav.settings": "Settings",
  "app.loading": "Loading…",
};
