"""English: every word a customer reads, on the pages and in the messages.

Keys are stable (code and tests name them); placeholders are named. Placeholders:
{platform} (the platform's display name), {Platform} (the same at the start of a sentence:
"your app" -> "Your app"), {name}, {deadline}, {link}, {where}; the date formats' fields are
{weekday}, {month}, {month_short}, {day}, {year}, {clock}, {zone}, the clock's {hour}, {minute},
{half}. Lists ("months", ...) are comma-separated.
"""

from __future__ import annotations

WORDS: dict[str, str] = {
    # ---- shared ----------------------------------------------------------------------------
    "platform.default": "your app",
    # ---- the start page --------------------------------------------------------------------
    "start.title": "Reconnect your bank",
    "start.text": (
        "{Platform} needs you to log in to your bank again to keep your account connected. "
        "{where} It takes about a minute."
    ),
    "start.where.redirect": "You'll sign in on your bank's page.",
    "start.where.token": "You'll sign in to your bank in a secure Plaid window.",
    "start.button": "Continue to your bank",
    # ---- the start page inside another app (inapp.py) --------------------------------------
    "inapp.title": "Open this page in your browser",
    "inapp.text": (
        "It looks like you opened this link inside another app. Many banks don't let you log "
        "in from an app's built-in browser, so it's best to continue in your phone's browser."
    ),
    "inapp.how": (
        "Tap this app's menu (⋯ or ⋮) and choose “Open in browser”. Or copy the link "
        "and paste it into your browser."
    ),
    "inapp.link_label": "Your link",
    "inapp.copy": "Copy link",
    "inapp.copied": "Link copied. Now open your browser and paste it into the address bar.",
    "inapp.selected": "The link is selected. Copy it, then paste it into your browser.",
    "inapp.open_browser": "Open in my browser",
    "inapp.continue": "Continue here anyway",
    # ---- the hand-offs ---------------------------------------------------------------------
    "to_bank.title": "Taking you to your bank…",
    "to_bank.text": "Your bank's login page is opening. If nothing happens, tap Continue.",
    "to_bank.button": "Continue",
    "plaid.title": "Log in to your bank",
    "plaid.text": (
        "A secure Plaid window opens over this page so you can log in to your bank for "
        "{platform}. Keep this page open until you're done."
    ),
    "plaid.opening": "Opening the secure window…",
    "plaid.noscript": "This step needs JavaScript. Please turn it on, then reload this page.",
    "plaid.reopen": "Open the secure window again",
    "plaid.retry": "Try again",
    "plaid.finishing": "Finishing up…",
    "plaid.unreachable": (
        "We couldn't reach our service to finish. Check your connection, then tap Try again, "
        "or reload this page."
    ),
    "plaid.not_loaded": (
        "The secure window couldn't be loaded. Check your connection, then reload this page."
    ),
    "plaid.open": "The secure window is open. If you don't see it, tap the button below.",
    "plaid.not_opened": "The secure window couldn't be opened. Please reload this page.",
    # ---- results ---------------------------------------------------------------------------
    "result.reauthorized.title": "Your bank is connected again",
    "result.reauthorized.text": (
        "Your bank connection for {platform} is working again. You can close this window."
    ),
    "result.reauthorized_elsewhere.title": "Your bank is already connected",
    "result.reauthorized_elsewhere.text": (
        "Your bank connection for {platform} is already working again, so there's nothing more "
        "to do. You can close this window and go back to {platform}."
    ),
    "result.already_done.title": "Already done",
    "result.already_done.text": (
        "Your bank connection for {platform} was already renewed. There's nothing more to do: "
        "you can close this window."
    ),
    "result.verifying.title": "Almost done",
    "result.verifying.text": (
        "We're confirming your login with your bank. You can close this window: we'll let "
        "{platform} know when it's done."
    ),
    # The verifying page, while it checks on its own (result_page's status_url).
    "verifying.checking": "Checking with your bank…",
    "verifying.longer": (
        "This is taking longer than usual. You don't need to do anything else: we'll let "
        "{platform} know as soon as your bank confirms. You can close this window, or check "
        "again in a few minutes."
    ),
    "verifying.check_again": "Check again",
    "result.unverified.title": "Your bank didn't confirm the login",
    "result.unverified.text": "Your bank didn't confirm that you logged in. Please try again.",
    "result.failed.title": "Your bank wasn't reconnected",
    "result.failed.retry": "Please try again.",
    "result.closed.title": "This link has expired",
    "result.closed.text": (
        "Your bank login couldn't be confirmed before this link expired. If {platform} still "
        "asks you to reconnect your bank, please ask them for a new link."
    ),
    "result.cancelled.title": "This request was cancelled",
    "result.cancelled.text": (
        "{Platform} cancelled this request to reconnect your bank, so this link no longer "
        "works. If {platform} still asks you to reconnect your bank, please ask them for a new "
        "link."
    ),
    "result.start_over": "To try again, start over from {platform}.",
    "result.try_again": "Try again",
    "result.back": "Back to {platform}",
    # What the customer reads for each provider error reason.
    "reason.USER_CANCELLED": "You closed your bank's login before finishing.",
    "reason.TEMPORARY_ERROR": "Your bank couldn't be reached just now.",
    "reason.AUTHENTICATION_ERROR": "Your bank couldn't verify your login.",
    "reason.other": "Something went wrong while connecting to your bank.",
    # ---- a closed link, and "Send me a new link" -------------------------------------------
    "closed.expired.title": "This link has expired",
    "closed.expired.text": "This link to reconnect your bank has expired.",
    "closed.cancelled.title": "This request was cancelled",
    "closed.cancelled.text": (
        "{Platform} cancelled this request to reconnect your bank, so this link no longer works."
    ),
    "closed.ask": (
        "If you still need to reconnect your bank, ask for a new link: we'll tell {platform}."
    ),
    "closed.button": "Send me a new link",
    "requested.title": "We've asked for a new link",
    "requested.told": "We've told {platform} you'd like a new link to reconnect your bank.",
    "requested.already": "You already asked for a new link today, and we told {platform}.",
    "requested.on_its_way": "A new link is on its way to you.",
    "requested.close": "You can close this window.",
    # ---- errors ----------------------------------------------------------------------------
    "error.refused.title": "This link can't be used",
    "error.refused.text": "Please start again from {platform}.",
    "error.closed.title": "This link has expired",
    "error.closed.text": "Please ask {platform} for a new link.",
    "error.too_many_attempts.title": "Too many attempts",
    "error.too_many_attempts.text": (
        "This link has been tried too many times, so it can't be used again. To reconnect your "
        "bank, please ask {platform} for a new link."
    ),
    "error.unavailable.title": "Temporarily unavailable",
    "error.unavailable.text": (
        "We couldn't finish this step just now. Please reload this page in a moment."
    ),
    # ---- the email -------------------------------------------------------------------------
    "email.subject": "{Platform}: reconnect your bank account",
    "email.subject.reminder": "Reminder from {platform}: reconnect your bank account",
    "email.greeting": "Hi {name},",
    "email.greeting.anonymous": "Hello,",
    "email.what": (
        "{Platform} can no longer reach your bank account: your bank needs you to sign in"
        " again to renew the connection. Until you do, payments with this account may stop."
    ),
    "email.action": "Reconnect your bank",
    "email.deadline": "This secure link works until {deadline}.",
    "email.ignore": (
        "It takes a minute at your bank's own sign-in page; {platform} never sees your bank"
        " password. If you did not expect this message, you can ignore it."
    ),
    # ---- the SMS: the longest form that fits one segment is sent ---------------------------
    "sms.full": "{Platform}: your bank needs you to sign in again. Reconnect by {deadline}: {link}",
    "sms.short": "{Platform}: reconnect your bank by {deadline}: {link}",
    "sms.shortest": "{Platform}: reconnect your bank: {link}",
    # ---- dates (the deadline, in the contact's time zone) ----------------------------------
    "date.long": "{weekday}, {month} {day}, {year} at {clock} ({zone})",
    "date.short": "{month_short} {day}",
    "date.clock": "{hour}:{minute} {half}",
    "date.am": "AM",
    "date.pm": "PM",
    "months": (
        "January,February,March,April,May,June,July,August,September,October,November,December"
    ),
    "months.short": "Jan,Feb,Mar,Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec",
    "weekdays": "Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday",
}
