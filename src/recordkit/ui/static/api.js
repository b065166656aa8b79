// Talking to the server: JSON in, clear errors out.

export class ApiError extends Error {}

export async function getJSON(path, params) {
  const query = params ? `?${new URLSearchParams(params)}` : "";
  const response = await fetch(path + query, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) {
    throw new ApiError(body && body.error ? body.error : `${response.status} ${response.statusText}`);
  }
  return body;
}

export function fileURL(runId, name) {
  return `/api/runs/${encodeURIComponent(runId)}/files/${name.split("/").map(encodeURIComponent).join("/")}`;
}

let storeInfo = null;

// The store's URL and collections, asked once per page load.
export function getStore() {
  if (!storeInfo) storeInfo = getJSON("/api/store").catch((error) => { storeInfo = null; throw error; });
  return storeInfo;
}
