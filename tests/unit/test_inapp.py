"""In-app browsers (reauth.inapp): real User-Agents of the apps customers open links in are
recognised; the browsers themselves (and the in-app tabs that are the real browser) are not;
docs/api.md lists what the table detects."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reauth.inapp import (
    IN_APP_BROWSERS,
    MAX_USER_AGENT,
    NAMES,
    android_intent_url,
    in_app_browser,
    on_android,
)

IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko)"
)
IPAD = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
ANDROID_WV = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Mobile Safari/537.36"
)

IN_APP = {
    # Facebook
    f"{IOS} Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;"
    "FBID/phone;FBLC/en_US;FBOP/5;FBRV/0]": "facebook",
    f"{ANDROID_WV} [FB_IAB/FB4A;FBAV/468.0.0.55.105;]": "facebook",
    # Messenger
    f"{IOS} Mobile/15E148 [FBAN/MessengerForiOS;FBAV/460.0.0.36.106;FBBV/590036480;"
    "FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5]": "messenger",
    f"{ANDROID_WV} [FB_IAB/Orca-Android;FBAV/455.0.0.36.108;]": "messenger",
    # Instagram (its Android builds may carry Facebook's marker too)
    f"{IOS} Mobile/15E148 Instagram 334.0.4.32.98 (iPhone15,2; iOS 17_5; en_US; en-US; "
    "scale=3.00; 1179x2556; 606998140)": "instagram",
    f"{ANDROID_WV} Instagram 334.0.0.42.95 Android (34/14; 480dpi; 1080x2340; samsung; SM-S918B; "
    "dm3q; qcom; es_US; 607248713)": "instagram",
    # LinkedIn
    f"{IOS} Mobile/15E148 [LinkedInApp]/9.29.8120": "linkedin",
    f"{ANDROID_WV} [LinkedInApp]/4.1.942": "linkedin",
    # TikTok
    f"{IOS} Mobile/15E148 musical_ly_34.9.0 JsSdk/2.0 NetType/WIFI Channel/App Store "
    "ByteLocale/en Region/US isDarkMode/0 WKWebView/1 BytedanceWebview/d8a21c6": "tiktok",
    f"{ANDROID_WV} trill_340203 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/trill "
    "app_version/34.2.3 ByteLocale/en Region/US BytedanceWebview/d8a21c6": "tiktok",
    # Snapchat (says "like Safari/", so it must be named before the iOS rule)
    f"{IOS} Mobile/15E148 Snapchat/13.0.0.45 (like Safari/8618.2.12.10.5, panda)": "snapchat",
    # X (Twitter)
    f"{ANDROID_WV} TwitterAndroid": "twitter",
    f"{IOS} Mobile/15E148 Twitter for iPhone/10.40": "twitter",
    # Pinterest
    f"{IOS} Mobile/15E148 [Pinterest/iOS]": "pinterest",
    f"{ANDROID_WV} [Pinterest/Android]": "pinterest",
    # LINE
    f"{IOS} Mobile/15E148 Safari Line/14.8.0": "line",
    f"{ANDROID_WV} Line/14.8.1/IAB": "line",
    # WeChat
    f"{IOS} Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN": "wechat",
    # The Google app
    f"{IOS} GSA/317.0.634488990 Mobile/15E148 Safari/604.1": "google_app",
    # Any other webview
    ANDROID_WV: "android_webview",
    f"{IOS} Mobile/15E148": "ios_webview",
    f"{IPAD} Mobile/15E148": "ios_webview",
}

BROWSERS = [
    f"{IOS} Version/17.5 Mobile/15E148 Safari/604.1",  # Safari (and SFSafariViewController)
    f"{IOS} CriOS/125.0.6422.80 Mobile/15E148 Safari/604.1",  # Chrome on iOS
    f"{IOS} FxiOS/127.0 Mobile/15E148 Safari/605.1.15",  # Firefox on iOS
    f"{IPAD} Version/16.6 Mobile/15E148 Safari/604.1",
    ANDROID_CHROME,  # Chrome (and its Custom Tabs)
    "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "",
    None,
]


@pytest.mark.parametrize(("user_agent", "name"), IN_APP.items())
def test_in_app_browsers_are_recognised_by_name(user_agent, name):
    assert in_app_browser(user_agent) == name


def test_every_name_in_the_table_has_a_real_user_agent_above():
    assert set(IN_APP.values()) == set(NAMES)


@pytest.mark.parametrize("user_agent", BROWSERS)
def test_browsers_are_not_in_app_browsers(user_agent):
    assert in_app_browser(user_agent) is None


def test_a_huge_user_agent_is_read_only_as_far_as_its_start_and_quickly():
    huge = "(iPhone; " * 200_000 + "AppleWebKit/ Instagram 1"
    started = time.perf_counter()
    assert in_app_browser(huge) is None  # the marker lies beyond what is read
    assert in_app_browser("x" * MAX_USER_AGENT + "; wv)") is None
    assert time.perf_counter() - started < 0.5


def test_android_is_told_apart_and_its_intent_opens_the_same_link_in_the_default_browser():
    assert on_android(ANDROID_WV) and not on_android(f"{IOS} Mobile/15E148")
    link = "https://pay.example.com/v1/reauth/link/0b7e?key=a-b_c"
    assert android_intent_url(link) == (
        "intent://pay.example.com/v1/reauth/link/0b7e?key=a-b_c"
        "#Intent;scheme=https;action=android.intent.action.VIEW;end"
    )
    for bad in ("javascript:alert(1)", "/v1/reauth/link/x", "https://a.example/#x"):
        with pytest.raises(ValueError):
            android_intent_url(bad)


def test_the_api_reference_lists_every_in_app_browser_the_table_detects():
    reference = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    section = reference.split("## In-app browsers", 1)[1].split("\n#", 1)[0]
    for app in IN_APP_BROWSERS:
        assert f"| {app.label} | `{app.name}` | {app.how} |" in section, app.name
