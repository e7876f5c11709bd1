"""The message adapters: email through SES (API v2), SMS through SNS. Each is the only code that
knows its service's wire format; both raise DeliveryError with a reason code (AWS's error code,
e.g. "MessageRejected", or "Unavailable" for a network fault), never the address.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .feedback import REQUEST_TAG, SLOT_TAG
from .messages import DeliveryError, EmailMessage


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "Rejected")[:64]
    return "Unavailable"


class SesEmail:
    """SES v2 SendEmail: Simple content (text + HTML), the configuration set when there is one,
    and the request id and slot as message tags (bounces and complaints name them: feedback.py)."""

    def __init__(
        self, client: Any, sender: str, display_name: str, configuration_set: str = ""
    ) -> None:
        self._ses = client
        safe_name = display_name.isascii() and not any(c in display_name for c in '"\\<>')
        self._from = f'"{display_name}" <{sender}>' if safe_name else sender
        self._configuration_set = configuration_set

    def send(self, to: str, message: EmailMessage, request_id: str, slot: int) -> None:
        charset = "UTF-8"
        arguments: dict[str, Any] = {
            "FromEmailAddress": self._from,
            "Destination": {"ToAddresses": [to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": message.subject, "Charset": charset},
                    "Body": {
                        "Text": {"Data": message.text, "Charset": charset},
                        "Html": {"Data": message.html, "Charset": charset},
                    },
                }
            },
            "EmailTags": [
                {"Name": REQUEST_TAG, "Value": request_id},
                {"Name": SLOT_TAG, "Value": str(slot)},
            ],
        }
        if self._configuration_set:
            arguments["ConfigurationSetName"] = self._configuration_set
        try:
            self._ses.send_email(**arguments)
        except (ClientError, BotoCoreError) as error:
            raise DeliveryError(_reason(error)) from None


class SnsSms:
    """SNS Publish to a phone number, transactional (delivered before promotional traffic)."""

    def __init__(self, client: Any, origination_number: str = "") -> None:
        self._sns = client
        self._origination = origination_number

    def send(self, to: str, text: str, request_id: str) -> None:
        attributes: dict[str, Any] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
        }
        if self._origination:
            attributes["AWS.MM.SMS.OriginationNumber"] = {
                "DataType": "String",
                "StringValue": self._origination,
            }
        try:
            self._sns.publish(PhoneNumber=to, Message=text, MessageAttributes=attributes)
        except (ClientError, BotoCoreError) as error:
            raise DeliveryError(_reason(error)) from None
