"""The customer pages' fixed assets: their icons, their one style sheet, and the small scripts
some pages carry (pages.py puts each in the page with the page's nonce; nothing here is built
from input). Kept apart so pages.py reads as the pages' logic."""

from __future__ import annotations

# The badge's icons (SVG paths on a 24 by 24 box, stroked).
ICONS = {
    "bank": '<path d="M12 3 3 8h18z"/><path d="M5 11v7M9.7 11v7M14.3 11v7M19 11v7M3 21h18"/>',
    "check": '<path d="m5 12.5 4.5 4.5L19 7.5"/>',
    "clock": '<circle cx="12" cy="12" r="8.5"/><path d="M12 7.5V12l3 2"/>',
    "alert": '<path d="M12 3.5 2.5 20h19z"/><path d="M12 10v4.5M12 17.5v.01"/>',
    "block": '<circle cx="12" cy="12" r="8.5"/><path d="m6 6 12 12"/>',
}

# Mobile-first; light and dark schemes, each with AA contrast (tests/e2e measure it).
STYLE = (
    ":root{color-scheme:light dark;--bg:#eef1f5;--card:#fff;--text:#16191d;--muted:#4a5361;"
    "--accent:#0b57d0;--on-accent:#fff;--focus:#0b57d0;--line:#d3d9e1;"
    "--info:#0b57d0;--info-bg:#e3ecfd;--success:#146c2e;--success-bg:#def2e3;"
    "--warn:#8a4b00;--warn-bg:#fcefd9;--error:#b3261e;--error-bg:#fbe4e2}"
    "@media (prefers-color-scheme:dark){:root{--bg:#101317;--card:#1b2027;--text:#eceff3;"
    "--muted:#b6bfcb;--accent:#9cc0fa;--on-accent:#0a1a33;--focus:#9cc0fa;--line:#3a434f;"
    "--info:#9cc0fa;--info-bg:#1f3350;--success:#8fd6a0;--success-bg:#1c3a25;"
    "--warn:#f2c27b;--warn-bg:#43311a;--error:#f2aba5;--error-bg:#4a2220}}"
    "*,*::before,*::after{box-sizing:border-box}"
    "html{-webkit-text-size-adjust:100%;text-size-adjust:100%}"
    "body{margin:0;min-height:100vh;min-height:100dvh;background:var(--card);color:var(--text);"
    'font:1.0625rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",'
    '"Noto Sans","Liberation Sans",Arial,sans-serif}'
    "main{max-width:30rem;margin:0 auto;padding:1rem 1.25rem 2rem}"
    ".card{background:var(--card)}"
    ".card>:last-child{margin-bottom:0}"
    ".platform{margin:0 0 1.5rem;padding-bottom:.875rem;border-bottom:1px solid var(--line);"
    "color:var(--muted);font-size:.9375rem;font-weight:600;overflow-wrap:anywhere}"
    ".badge{display:flex;align-items:center;justify-content:center;width:3.25rem;"
    "height:3.25rem;border-radius:50%;color:var(--info);background:var(--info-bg)}"
    ".badge.success{color:var(--success);background:var(--success-bg)}"
    ".badge.warn{color:var(--warn);background:var(--warn-bg)}"
    ".badge.error{color:var(--error);background:var(--error-bg)}"
    "h1{margin:1rem 0 .75rem;font-size:1.5rem;line-height:1.25;overflow-wrap:anywhere}"
    "p{margin:0 0 1rem;overflow-wrap:anywhere}"
    ".status{display:flex;align-items:center;gap:.625rem;color:var(--muted)}"
    ".status.problem{padding:.75rem 1rem;border-left:4px solid var(--warn);"
    "border-radius:.5rem;background:var(--warn-bg);color:var(--text)}"
    ".actions{display:flex;flex-direction:column;gap:.75rem;margin-top:1.5rem}"
    ".actions form{margin:0}"
    ".button{display:flex;align-items:center;justify-content:center;width:100%;"
    "min-height:3rem;margin:0;padding:.75rem 1.25rem;border:2px solid var(--accent);"
    "border-radius:.75rem;background:var(--accent);color:var(--on-accent);font:inherit;"
    "font-weight:600;line-height:1.25;text-align:center;text-decoration:none;cursor:pointer;"
    "overflow-wrap:anywhere;-webkit-tap-highlight-color:transparent}"
    ".button.secondary{background:transparent;color:var(--accent)}"
    ":focus-visible{outline:3px solid var(--focus);outline-offset:3px}"
    ".button:focus-visible{outline:3px solid var(--focus);outline-offset:3px}"
    "[hidden]{display:none!important}"
    ".spinner{flex:none;width:1.25rem;height:1.25rem;border:3px solid var(--line);"
    "border-top-color:var(--accent);border-radius:50%;animation:spin 1s linear infinite}"
    "@keyframes spin{to{transform:rotate(1turn)}}"
    "@media (prefers-reduced-motion:reduce){.spinner{animation:none}}"
    # Wider screens: the page becomes a card on a tinted background.
    "@media (min-width:40rem){body{background:var(--bg)}main{padding-top:4rem}"
    ".card{padding:2rem;border:1px solid var(--line);border-radius:1rem}}"
)

# The Plaid page's script. Its config comes from the JSON block (never from the markup).
PLAID_SCRIPT = """
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("reauth-config").textContent);
  var statusLine = document.getElementById("status");
  var reopen = document.getElementById("reopen");
  var retry = document.getElementById("retry");
  var handler = null;
  var pending = null;
  var sending = false;

  function say(message, kind) {
    statusLine.textContent = "";
    statusLine.className = kind === "problem" ? "status problem" : "status";
    if (kind === "busy") {
      var spinner = document.createElement("span");
      spinner.className = "spinner";
      spinner.setAttribute("aria-hidden", "true");
      statusLine.appendChild(spinner);
    }
    var text = document.createElement("span");
    text.textContent = message;
    statusLine.appendChild(text);
  }

  function go(answer) {
    var target = answer && typeof answer.location === "string" ? answer.location : "";
    if (!target) { throw new Error("no location"); }
    var url = new URL(target, window.location.href);
    if (url.protocol !== "https:" && url.protocol !== "http:") { throw new Error("bad location"); }
    window.location.replace(url.href);
  }

  function send() {
    if (sending || pending === null) { return; }
    sending = true;
    reopen.hidden = true;
    retry.hidden = true;
    say(config.words.finishing, "busy");
    fetch(config.completeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Reauth-CSRF": config.csrf},
      body: JSON.stringify(pending)
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok && !(answer && answer.location)) { throw new Error("refused"); }
        return answer;
      });
    }).then(go).catch(function () {
      sending = false;
      retry.hidden = false;
      say(config.words.unreachable, "problem");
    });
  }

  function report(outcome) {
    if (pending !== null) { return; }
    pending = outcome;
    send();
  }

  retry.addEventListener("click", send);

  if (!window.Plaid || typeof window.Plaid.create !== "function") {
    say(config.words.notLoaded, "problem");
    return;
  }
  try {
    var options = {
      token: config.token,
      onSuccess: function () { report({outcome: "success"}); },
      onExit: function (err) {
        var error = "USER_CANCELLED";
        if (err) {
          error = err.error_type === "ITEM_ERROR" ? "AUTHENTICATION_ERROR" : "TEMPORARY_ERROR";
        }
        report({outcome: "error", error: error});
      },
      onEvent: function () {}
    };
    if (config.receivedRedirectUri) { options.receivedRedirectUri = config.receivedRedirectUri; }
    handler = window.Plaid.create(options);
    reopen.addEventListener("click", function () { handler.open(); });
    handler.open();
    if (pending === null) {
      say(config.words.open, "");
      reopen.hidden = false;
    }
  } catch (e) {
    say(config.words.notOpened, "problem");
  }
})();
"""

# The in-app start page's own styles: the link's field and the copy button's confirmation.
IN_APP_STYLE = (
    ".copy{display:flex;flex-direction:column;gap:.5rem}"
    ".copy label{font-weight:600}"
    ".link{width:100%;min-height:3rem;margin:0;padding:.625rem .75rem;"
    "border:2px solid var(--muted);border-radius:.75rem;background:var(--card);"
    "color:var(--text);font:inherit;font-size:1rem}"
    ".copy .status{min-height:1.5rem;margin:0}"
)

# The in-app start page's script: "Copy link" puts the page's link on the clipboard, else
# selects it in its field for the customer to copy; either way it says so (a live region).
COPY_SCRIPT = """
(function () {
  "use strict";
  var button = document.getElementById("copy-link");
  var field = document.getElementById("page-link");
  var status = document.getElementById("copy-status");

  function say(message) { status.textContent = message; }

  function selectIt() {
    var copied = false;
    field.focus();
    field.select();
    field.setSelectionRange(0, field.value.length);
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    say(button.getAttribute(copied ? "data-copied" : "data-selected"));
  }

  button.addEventListener("click", function () {
    say("");
    if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
      navigator.clipboard.writeText(field.value).then(function () {
        say(button.getAttribute("data-copied"));
      }, selectIt);
    } else {
      selectIt();
    }
  });
  button.hidden = false;
})();
"""

# The verifying page's script: polls the status route with backoff; an ended request's
# `location` is where it goes (http(s) only); past the limit, or refused (400 NotBound: another
# browser), it stops and shows "Check again" (a reload of the page). Other failures (429, 5xx, a
# dropped connection) are checked again later. Its config comes from the JSON block.
FOLLOW_SCRIPT = """
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("reauth-follow").textContent);
  var statusLine = document.getElementById("status");
  var check = document.getElementById("check");
  var started = Date.now();
  var wait = config.first;

  function stop(message) {
    check.hidden = false;
    if (!message) { statusLine.hidden = true; return; }
    statusLine.textContent = "";
    statusLine.className = "status problem";
    var text = document.createElement("span");
    text.textContent = message;
    statusLine.appendChild(text);
  }

  function go(target) {
    var url = new URL(target, window.location.href);
    if (url.protocol !== "https:" && url.protocol !== "http:") { throw new Error("bad location"); }
    window.location.replace(url.href);
  }

  function later() {
    if (Date.now() - started >= config.limit) { stop(config.words.longer); return; }
    window.setTimeout(poll, wait);
    wait = Math.min(Math.round(wait * 1.5), config.most);
  }

  function poll() {
    if (Date.now() - started >= config.limit) { stop(config.words.longer); return; }
    fetch(config.statusUrl, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.status === 400) { stop(""); return; }  // NotBound: not this browser's
        if (!response.ok) { later(); return; }
        return response.json().then(function (answer) {
          if (answer && answer.status !== "verifying" && typeof answer.location === "string") {
            go(answer.location);
          } else {
            later();
          }
        });
      })
      .catch(later);
  }

  check.hidden = true;
  statusLine.hidden = false;
  later();
})();
"""
