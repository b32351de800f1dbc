// The one way the page talks to the daemon: same-origin JSON requests.
export async function get(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  return response.json();
}
