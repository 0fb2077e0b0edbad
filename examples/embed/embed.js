// A page of another site (the "shop") that embeds inkwitness capture: capture.js is imported from
// the signature service's origin, and the signature goes straight from the browser to the service.
// The shop's backend created the signing session (POST /v1/signing-sessions with its API key) and
// hands the page only the session's token: no API key ever reaches the browser.
//
// Configuration from the URL: ?service=https://sign.example&token=<session token>&lang=zh|en
// The service must list this page's origin in INKWITNESS_CORS_ORIGINS: the browser refuses both
// the module import and the API calls otherwise.

const params = new URLSearchParams(location.search);
const service = (params.get("service") || "http://127.0.0.1:8000").replace(/\/+$/, "");
const token = params.get("token") || "";
const lang = params.get("lang") || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
const $ = (id) => document.getElementById(id);
const state = { state: "loading", result: null, error: null };
window.embed = state;   // for the browser test

function show(text, kind) {
  $("status").textContent = text;
  $("status").dataset.state = kind;
  state.state = kind;
}

async function main() {
  let lib;
  try {
    lib = await import(`${service}/static/capture.js`);
  } catch (err) {
    show(`The signing pad could not be loaded from ${service}. Is ${location.origin} among the service's ` +
         "allowed origins (INKWITNESS_CORS_ORIGINS)?", "refused");
    state.error = String(err);
    return;
  }
  const { SignaturePad, InkwitnessClient, ApiError } = lib;
  // lang: error messages come back in this language (Accept-Language), as `message`.
  const client = new InkwitnessClient(service, null, { timeoutMs: 30_000, lang });
  const pad = new SignaturePad($("pad"));
  window.embedPad = pad;
  const kept = [];   // signatures drawn and not yet accepted by the service
  let needed = 1;

  const failed = (err) => {
    state.error = err instanceof ApiError ? { status: err.status, code: err.code, message: err.localized } : String(err);
    // err.localized is the service's message in `lang`; err.message stays its English text.
    show(err instanceof ApiError && err.status > 0 ? err.localized : "No connection to the signature service.", "error");
  };

  try {
    needed = (await client.sessionInfo(token)).references_needed;
  } catch (err) { failed(err); return; }
  $("prompt").textContent = needed > 1 ? `Sign ${needed} times in the box below.` : "Sign in the box below.";
  $("send").disabled = false;
  show("", "ready");

  $("clear").addEventListener("click", () => pad.clear());
  $("send").addEventListener("click", async () => {
    if (kept.length < needed) {
      if (pad.isEmpty()) { show("Please sign first.", "ready"); return; }
      kept.push(pad.packet());
      pad.clear();
      if (kept.length < needed) { show(`Signature ${kept.length} of ${needed} kept.`, "ready"); return; }
    }
    $("send").disabled = true;
    try {
      state.result = await client.submitSession(token, kept.slice());
      kept.length = 0;
      show("Thank you: your signature was received.", "sent");
    } catch (err) {
      failed(err);   // the signatures stay kept: pressing Send again retries
      $("send").disabled = false;
    }
  });
}

main();
