"""The delivery's pure rules: contacts, the reminder schedule and quiet hours, the messages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reauth.config import ConfigError, DeliveryConfig
from reauth.contacts import parse_contact
from reauth.errors import ServiceError
from reauth.messages import render_email, render_sms, sms_segments, sms_units
from reauth.schedule import (
    DEFAULT_QUIET_HOURS,
    DEFAULT_SCHEDULE,
    QuietHours,
    parse_quiet_hours,
    parse_schedule,
    slot_times,
)

FIRST = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # 10:00 New York, 23:00 Tokyo
DEADLINE = FIRST + timedelta(days=7)
NY, TOKYO = ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
LINK = "https://reauth.example.test/v1/reauth/link/0b5e8d0a-7f4e-4b43-9a3b-5c1d2e3f4a5b?key=" + (
    "A" * 43
)


def test_the_default_schedule_is_a_day_after_then_a_day_before_the_deadline():
    assert parse_schedule("") == DEFAULT_SCHEDULE
    assert slot_times(FIRST, DEADLINE, DEFAULT_SCHEDULE, None, NY) == [
        FIRST,
        FIRST + timedelta(days=1),
        DEADLINE - timedelta(days=1),
    ]


def test_a_schedule_in_minutes_for_the_demo_and_off():
    reminders = parse_schedule("2m,4m")
    assert slot_times(FIRST, DEADLINE, reminders, None, NY)[1:] == [
        FIRST + timedelta(minutes=2),
        FIRST + timedelta(minutes=4),
    ]
    assert parse_schedule("off") == ()


@pytest.mark.parametrize("raw", ["1w", "0d", "1d;2d", "P1D", "-", "1d," * 11 + "1d"])
def test_a_bad_schedule_is_refused(raw):
    with pytest.raises(ValueError, match="REMINDER_SCHEDULE"):
        parse_schedule(raw)


def test_quiet_hours_move_a_reminder_to_their_end_in_the_contacts_zone():
    one_day = parse_schedule("1d")
    assert slot_times(FIRST, DEADLINE, one_day, DEFAULT_QUIET_HOURS, NY)[1] == FIRST + timedelta(
        days=1
    )  # 10:00 in New York: not quiet
    tokyo = slot_times(FIRST, DEADLINE, one_day, DEFAULT_QUIET_HOURS, TOKYO)[1]
    assert tokyo.astimezone(TOKYO).time() == time(8, 0)  # 23:00 -> 08:00 the next morning
    assert tokyo == datetime(2026, 3, 11, 23, 0, tzinfo=UTC)


def test_quiet_hours_early_in_the_morning_end_the_same_day():
    quiet = QuietHours(time(21, 0), time(8, 0))
    at_3am = datetime(2026, 3, 11, 3, 0, tzinfo=NY)
    assert quiet.end_after(at_3am, NY) == datetime(2026, 3, 11, 8, 0, tzinfo=NY)
    daytime = QuietHours(time(12, 0), time(13, 0))
    assert daytime.end_after(datetime(2026, 3, 11, 12, 30, tzinfo=NY), NY).hour == 13


def test_a_reminder_pushed_past_the_deadline_is_dropped():
    reminders = parse_schedule("-1m")  # one minute before the deadline: 22:59 in Tokyo
    assert slot_times(FIRST, DEADLINE, reminders, DEFAULT_QUIET_HOURS, TOKYO) == [FIRST]


@pytest.mark.parametrize("raw", ["8-21", "21:00", "25:00-08:00", "08:00-08:00"])
def test_bad_quiet_hours_are_refused(raw):
    with pytest.raises(ValueError, match="QUIET_HOURS"):
        parse_quiet_hours(raw)


def test_the_delivery_configuration_names_what_is_wrong():
    config = DeliveryConfig.from_environment({})
    assert (config.email_sender, config.sms_enabled, config.time_zone) == ("", False, "UTC")
    for env, name in [
        ({"EMAIL_SENDER": "nobody"}, "EMAIL_SENDER"),
        ({"SMS_ENABLED": "yes"}, "SMS_ENABLED"),
        ({"SMS_ORIGINATION_NUMBER": "555"}, "SMS_ORIGINATION_NUMBER"),
        ({"DEPLOYMENT_TIME_ZONE": "Europe/Atlantis"}, "DEPLOYMENT_TIME_ZONE"),
        ({"REMINDER_SCHEDULE": "soon"}, "REMINDER_SCHEDULE"),
        ({"QUIET_HOURS": "night"}, "QUIET_HOURS"),
        ({"SES_CONFIGURATION_SET": "a set"}, "SES_CONFIGURATION_SET"),
    ]:
        with pytest.raises(ConfigError, match=name):
            DeliveryConfig.from_environment(env)


def test_a_contact_is_normalized_and_an_invalid_one_says_nothing_of_its_value():
    contact = parse_contact({"email": " ada@example.com ", "locale": "en_US"})
    assert contact is not None
    assert (contact.email, contact.locale) == ("ada@example.com", "en-US")
    with pytest.raises(ServiceError) as refused:
        parse_contact({"email": "ada@example.com", "timeZone": "Nowhere/Ada"})
    assert refused.value.code == "InvalidContact" and "Ada" not in refused.value.message


def test_the_email_says_who_what_why_the_link_and_the_deadline_in_text_and_html():
    message = render_email(
        platform="Acme <Pay>",
        first_name="Ada",
        link=LINK + "&x=1",
        deadline=DEADLINE,
        zone=NY,
        locale="en-US",
        reminder=False,
    )
    assert message.subject == "Acme <Pay>: reconnect your bank account"
    for part in ("Hi Ada,", "Acme <Pay> can no longer reach", "sign in", LINK + "&x=1"):
        assert part in message.text
    assert "Tuesday, March 17, 2026 at 10:00 AM (EDT)" in message.text
    assert "Acme &lt;Pay&gt;" in message.html and "<Pay>" not in message.html
    assert 'href="' + LINK + '&amp;x=1"' in message.html


def test_the_sms_takes_the_longest_form_that_fits_one_segment():
    short_link = "https://r.example/l/1?key=abc"
    roomy = render_sms(
        platform="Acme Pay", link=short_link, deadline=DEADLINE, zone=NY, locale=None
    )
    assert roomy.startswith("Acme Pay: your bank needs you to sign in again. Reconnect by Mar 17")
    tight = render_sms(platform="Acme Pay", link=LINK, deadline=DEADLINE, zone=NY, locale=None)
    assert sms_units(tight) == (True, len(tight)) and len(tight) <= 160
    assert sms_segments(tight) == 1 and tight.endswith(LINK)


def test_gsm7_and_ucs2_segments_are_counted_as_carriers_do():
    assert sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2
    assert sms_units("€") == (True, 2)  # an extension character takes two septets
    assert sms_segments("é" * 160) == 1  # é is in GSM-7's basic set
    assert sms_segments("ł" * 70) == 1 and sms_segments("ł" * 71) == 2  # UCS-2


def test_the_email_in_spanish_with_the_deadline_in_spanish():
    message = render_email(
        platform="Acme",
        first_name="Ana",
        link=LINK,
        deadline=DEADLINE,
        zone=NY,
        locale="es-MX",
        reminder=True,
    )
    assert message.subject == "Recordatorio de Acme: vuelve a conectar tu cuenta bancaria"
    assert message.text.startswith("Hola, Ana:\n\nAcme ya no puede acceder a tu cuenta bancaria")
    assert "Volver a conectar mi banco: " + LINK in message.text
    assert "hasta el martes 17 de marzo de 2026, 10:00 a. m. (EDT)." in message.text
    assert ">Volver a conectar mi banco</a>" in message.html
    anonymous = render_email(
        platform="",
        first_name=None,
        link=LINK,
        deadline=DEADLINE,
        zone=TOKYO,
        locale="es",
        reminder=False,
    )
    assert anonymous.subject == "Tu app: vuelve a conectar tu cuenta bancaria"
    assert anonymous.text.startswith("Hola:\n\nTu app ya no puede")
    assert "hasta el martes 17 de marzo de 2026, 11:00 p. m. (JST)." in anonymous.text


def test_the_sms_in_spanish_stays_gsm7_and_in_one_segment():
    short_link = "https://r.example/l/1?key=abc"
    roomy = render_sms(
        platform="Acme Pay", link=short_link, deadline=DEADLINE, zone=NY, locale="es"
    )
    assert roomy == (
        "Acme Pay: tu banco te pide que vuelvas a conectar tu cuenta. Hazlo antes del 17 mar: "
        + short_link
    )
    tight = render_sms(platform="Acme Pay", link=LINK, deadline=DEADLINE, zone=NY, locale="es-US")
    assert sms_units(tight)[0] is True and sms_segments(tight) == 1 and tight.endswith(LINK)


def test_an_unknown_locale_gets_the_english_message():
    message = render_email(
        platform="Acme",
        first_name=None,
        link=LINK,
        deadline=DEADLINE,
        zone=NY,
        locale="fr-FR",
        reminder=False,
    )
    assert message.subject == "Acme: reconnect your bank account"
