"""A stand-in for Plaid Link's web SDK, served by the sandbox (no external assets, no network).

    <script src="{sandbox}/_plaid/link-initialize.js"></script>
    const handler = Plaid.create({token, onSuccess, onExit, onEvent, onLoad,
                                  receivedRedirectUri});
    handler.open();   // and handler.exit(), handler.destroy()

Same API as https://cdn.plaid.com/link/v2/stable/link-initialize.js (`receivedRedirectUri` too).
`open()` lays a full-window iframe over the page, pointed at the sandbox's bank UI `GET
/_plaid/link?token=...`. That page, by itself after ~300 ms, finishes the exchange session whose
Plaid token it is (`POST /_plaid/link/finish`, the exchange's seeded providerOutcome) and
postMessages the result to its parent: {source: "dwolla-sandbox-plaid", outcome, publicToken?,
institution?}. The script accepts only messages from its own origin (learnt from its `src`) and
from its own iframe, removes the iframe and calls the integrator back the way Plaid does:

    success              onEvent("HANDOFF"), onSuccess("public-sandbox-<uuid>",
                         {status: "connected", link_session_id, institution, accounts: []})
    USER_CANCELLED       onEvent("EXIT"), onExit(null, {status: "requires_credentials", ...})
    AUTHENTICATION_ERROR onEvent("ERROR"), onEvent("EXIT"), onExit({error_type: "ITEM_ERROR",
                         error_code: "INVALID_CREDENTIALS", error_message, display_message}, ...)
    TEMPORARY_ERROR      same with API_ERROR / INTERNAL_SERVER_ERROR (also: the bank unreachable)
    unknown/used token   same with INVALID_INPUT / INVALID_LINK_TOKEN (metadata.status null)

An exchange seeded with "plaidBank": "oauth" is at an OAuth bank: the finish call answers
{outcome: "oauth", bankUrl} and the script takes the whole page there (onEvent("OPEN_OAUTH"));
the bank's page (`GET /_plaid/oauth-bank`, a link a human follows) sends the browser to the
session's redirect URL with `?oauth_state_id=`. Only a page there that calls Plaid.create with the
same token and `receivedRedirectUri` (that URL, that state id) and open() finishes the login;
anything else starts the OAuth trip again, and the exchange stays broken. A token made with no
redirect URL cannot use the OAuth bank: onExit({error_type: "INVALID_FIELD", error_code:
"INVALID_FIELD", error_message: "OAuth redirect URI must be configured ..."}).

`open()` calls onEvent("OPEN"); `exit()` closes Link and calls onEvent("EXIT") and
onExit(null, metadata); `destroy()` removes the iframe without callbacks; `onLoad` is called once,
asynchronously, after `create`. Wording of Plaid's errors: Plaid's error reference.
"""

from __future__ import annotations

import secrets
from html import escape

SCRIPT_CONTENT_TYPE = "application/javascript"
MESSAGE_SOURCE = "dwolla-sandbox-plaid"
INSTITUTION = {"name": "Sandbox bank", "institution_id": "ins_sandbox"}
# What POST /_plaid/link/finish reports when the token does not name an open Plaid session.
INVALID_LINK_TOKEN = "INVALID_LINK_TOKEN"
# ... when the Item's bank is an OAuth bank: Link leaves for it (`bankUrl`), or cannot, its
# token being made with no redirect URL.
OAUTH = "oauth"
OAUTH_NOT_CONFIGURED = "OAUTH_NOT_CONFIGURED"

# Kept ASCII-only, so it can be served as plain application/javascript.
LINK_INITIALIZE_JS = r"""/* Dwolla sandbox: a stand-in for Plaid Link's web SDK (same API as
   https://cdn.plaid.com/link/v2/stable/link-initialize.js). */
(function () {
  "use strict";
  var MARKER = "__MARKER__";
  var script = document.currentScript;
  if (!script || !script.src) {
    var found = document.querySelectorAll('script[src*="/_plaid/link-initialize.js"]');
    script = found[found.length - 1];
  }
  var scriptUrl = new URL(script.src, document.baseURI);
  var ORIGIN = scriptUrl.origin;
  var LINK_URL = new URL("link", scriptUrl).href;
  var INSTITUTION = {name: "Sandbox bank", institution_id: "ins_sandbox"};
  var ERRORS = {
    AUTHENTICATION_ERROR: {
      error_type: "ITEM_ERROR",
      error_code: "INVALID_CREDENTIALS",
      error_message: "the provided credentials were not correct",
      display_message: "The provided credentials were not correct. Please try again."
    },
    TEMPORARY_ERROR: {
      error_type: "API_ERROR",
      error_code: "INTERNAL_SERVER_ERROR",
      error_message: "an unexpected error occurred",
      display_message: "Something went wrong. Please try again later."
    },
    INVALID_LINK_TOKEN: {
      error_type: "INVALID_INPUT",
      error_code: "INVALID_LINK_TOKEN",
      error_message: "invalid link_token provided",
      display_message: null
    },
    OAUTH_NOT_CONFIGURED: {
      error_type: "INVALID_FIELD",
      error_code: "INVALID_FIELD",
      error_message: "OAuth redirect URI must be configured in the developer dashboard. " +
        "See https://plaid.com/docs/#oauth-redirect-uris",
      display_message: null
    }
  };

  function uuid4() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 15) | 64;
    bytes[8] = (bytes[8] & 63) | 128;
    var hex = "";
    for (var i = 0; i < 16; i++) {
      hex += (bytes[i] + 256).toString(16).slice(1);
    }
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20),
      hex.slice(20)].join("-");
  }

  function copy(object) {
    var out = {};
    for (var key in object) {
      if (Object.prototype.hasOwnProperty.call(object, key)) {
        out[key] = object[key];
      }
    }
    return out;
  }

  function call(callback, args) {
    if (typeof callback !== "function") {
      return;
    }
    try {
      callback.apply(null, args);
    } catch (problem) {
      setTimeout(function () { throw problem; }, 0);  /* the integrator's bug stays visible */
    }
  }

  function create(config) {
    config = config || {};
    var frame = null;
    var linkSessionId = null;
    var returnFocus = null;
    var destroyed = false;

    function emit(name, extra) {
      var metadata = {
        error_type: null, error_code: null, error_message: null, exit_status: null,
        institution_id: null, institution_name: null, institution_search_query: null,
        link_session_id: linkSessionId, mfa_type: null, request_id: uuid4(),
        selection: null, timestamp: new Date().toISOString(), view_name: null
      };
      for (var key in extra || {}) {
        metadata[key] = extra[key];
      }
      call(config.onEvent, [name, metadata]);
    }

    function close() {
      window.removeEventListener("message", onMessage);
      if (frame && frame.parentNode) {
        frame.parentNode.removeChild(frame);
      }
      frame = null;
      if (returnFocus && typeof returnFocus.focus === "function") {
        try { returnFocus.focus(); } catch (ignored) { /* gone from the page */ }
      }
      returnFocus = null;
    }

    function exitWith(error, status, institution) {
      var extra = {exit_status: status};
      if (error) {
        extra.error_type = error.error_type;
        extra.error_code = error.error_code;
        extra.error_message = error.error_message;
        emit("ERROR", extra);
      }
      if (institution) {
        extra.institution_id = institution.institution_id;
        extra.institution_name = institution.name;
      }
      emit("EXIT", extra);
      var sessionId = linkSessionId;
      linkSessionId = null;
      call(config.onExit, [error, {
        status: status,
        link_session_id: sessionId,
        request_id: uuid4(),
        institution: institution ? copy(institution) : null
      }]);
    }

    function finish(data) {
      close();
      var outcome = data.outcome;
      if (outcome === "oauth") {
        var bank = new URL(String(data.bankUrl || ""), ORIGIN);
        if (bank.origin !== ORIGIN) {
          exitWith(copy(ERRORS.TEMPORARY_ERROR), null, null);
          return;
        }
        emit("OPEN_OAUTH", {});
        window.location.href = bank.href;  /* Link leaves the page for the bank's site */
      } else if (outcome === "success") {
        var institution = copy(data.institution || INSTITUTION);
        emit("HANDOFF", {
          institution_id: institution.institution_id, institution_name: institution.name
        });
        var sessionId = linkSessionId;
        linkSessionId = null;
        var publicToken = typeof data.publicToken === "string" && data.publicToken ?
          data.publicToken : "public-sandbox-" + uuid4();
        call(config.onSuccess, [publicToken, {
          status: "connected",
          link_session_id: sessionId,
          institution: institution,
          accounts: []
        }]);
      } else if (outcome === "USER_CANCELLED") {
        exitWith(null, "requires_credentials", data.institution || INSTITUTION);
      } else if (outcome === "INVALID_LINK_TOKEN" || outcome === "OAUTH_NOT_CONFIGURED") {
        exitWith(copy(ERRORS[outcome]), null, null);
      } else {
        var error = ERRORS[outcome] || ERRORS.TEMPORARY_ERROR;
        exitWith(copy(error), "requires_credentials", data.institution || INSTITUTION);
      }
    }

    function onMessage(event) {
      if (!frame || event.origin !== ORIGIN || event.source !== frame.contentWindow) {
        return;
      }
      var data = event.data;
      if (!data || typeof data !== "object" || data.source !== MARKER) {
        return;
      }
      finish(data);
    }

    setTimeout(function () {
      if (!destroyed) {
        call(config.onLoad, []);
      }
    }, 0);

    return {
      open: function () {
        if (destroyed || frame) {
          return;
        }
        linkSessionId = uuid4();
        returnFocus = document.activeElement;
        var url = new URL(LINK_URL);
        url.searchParams.set("token", config.token == null ? "" : String(config.token));
        if (typeof config.receivedRedirectUri === "string" && config.receivedRedirectUri) {
          url.searchParams.set("received_redirect_uri", config.receivedRedirectUri);
        }
        frame = document.createElement("iframe");
        frame.src = url.href;
        frame.title = "Plaid Link (Dwolla sandbox)";
        var style = frame.style;
        style.position = "fixed";
        style.top = "0";
        style.left = "0";
        style.width = "100%";
        style.height = "100%";
        style.margin = "0";
        style.border = "0";
        style.background = "#ffffff";
        style.zIndex = "2147483647";
        window.addEventListener("message", onMessage);
        (document.body || document.documentElement).appendChild(frame);
        try { frame.focus(); } catch (ignored) { /* not focusable yet */ }
        emit("OPEN", {});
      },
      exit: function () {
        if (!frame) {
          return;
        }
        close();
        exitWith(null, "requires_credentials", null);
      },
      destroy: function () {
        destroyed = true;
        linkSessionId = null;
        close();
      }
    };
  }

  window.Plaid = {create: create};
})();
""".replace("__MARKER__", MESSAGE_SOURCE)

_LINK_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox bank</title>
<style nonce="__NONCE__">
  body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: #1a1a1a; background: #ffffff; }
  main { max-width: 28rem; margin: 0 auto; padding: 3rem 1.5rem; text-align: center; }
  h1 { font-size: 1.5rem; margin: 0 0 1rem; }
</style>
</head>
<body>
<main>
  <h1>Sandbox bank</h1>
  <p id="status" role="status" aria-live="polite">Reconnecting your account&hellip;</p>
</main>
<script nonce="__NONCE__">
(function () {
  "use strict";
  var KNOWN = ["success", "USER_CANCELLED", "AUTHENTICATION_ERROR", "TEMPORARY_ERROR",
    "INVALID_LINK_TOKEN", "oauth", "OAUTH_NOT_CONFIGURED"];
  var TEXT = {
    success: "Your account is reconnected.",
    USER_CANCELLED: "You left the bank without reconnecting.",
    AUTHENTICATION_ERROR: "The bank did not accept the sign-in.",
    TEMPORARY_ERROR: "The bank is not available right now.",
    INVALID_LINK_TOKEN: "This link is not valid any more.",
    oauth: "Taking you to your bank\u2026",
    OAUTH_NOT_CONFIGURED: "This bank cannot be reached from here."
  };
  var query = new URLSearchParams(window.location.search);
  var token = query.get("token") || "";
  var received = query.get("received_redirect_uri");
  var reported = false;

  function report(result) {
    if (reported) {
      return;
    }
    reported = true;
    var outcome = result && KNOWN.indexOf(result.outcome) >= 0 ?
      result.outcome : "TEMPORARY_ERROR";
    document.getElementById("status").textContent = TEXT[outcome];
    var message = {source: "__MARKER__", outcome: outcome};
    if (result && result.publicToken) {
      message.publicToken = result.publicToken;
    }
    if (result && result.institution) {
      message.institution = result.institution;
    }
    if (result && typeof result.bankUrl === "string") {
      message.bankUrl = result.bankUrl;
    }
    if (window.parent !== window) {
      window.parent.postMessage(message, "*");
    }
  }

  setTimeout(function () {
    window.fetch("link/finish", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(received ? {token: token, receivedRedirectUri: received} :
        {token: token}),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (answer) {
      return answer.json().catch(function () { return {}; });
    }).then(report, function () { report({}); });
  }, 300);
})();
</script>
</body>
</html>
""".replace("__MARKER__", MESSAGE_SOURCE)


def link_page() -> tuple[str, str]:
    """(html, csp) of the bank UI: one nonce for its inline style and script; it may fetch only
    its own origin and be framed by any web page (the integrator's page opens it)."""
    nonce = secrets.token_urlsafe(18)
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors http: https:"
    )
    return _LINK_PAGE.replace("__NONCE__", nonce), csp


_OAUTH_BANK_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox OAuth bank</title>
</head>
<body>
<main>
  <h1>Sandbox OAuth bank</h1>
  <p>Your app asks to keep its connection to your account at this bank.</p>
  <p><a id="approve" href="__BACK__">Allow and go back</a></p>
</main>
</body>
</html>
"""


def oauth_bank_page(back_url: str) -> tuple[str, str]:
    """(html, csp) of the OAuth bank's own site: one plain link back to the redirect URL."""
    csp = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    return _OAUTH_BANK_PAGE.replace("__BACK__", escape(back_url, quote=True)), csp
