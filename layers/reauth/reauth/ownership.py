"""Whose funding source is it? The proof of a repair is one funding source's balance check, so
the one a platform names (API body, either EventBridge input) counts only once Dwolla links it to
the exchange: a typo, the customer's other bank or a field copied from the wrong event would
otherwise "prove" a repair while the exchange's own funding source still answers
UpdateCredentials.

    GET /funding-sources/{id} ──▶ `_links.exchange` names the exchange, `_links.customer` (when
                                  both are known) its customer, not removed ──▶ the exchange's
                              ──▶ anything else, or 404                     ──▶ not the exchange's
                              ──▶ no answer (timeout, 5xx, 429)             ──▶ not known yet

At create (creating.py) "not the exchange's" is 400 FundingSourceNotOfExchange and "not known
yet" is accepted, unverified; before an unverified one's first balance check (verifying.py),
"not the exchange's" ends the request `rejected`.
"""

from __future__ import annotations

import logging

from .dwolla import DwollaApiError, DwollaClient, DwollaError
from .dwolla_errors import from_dwolla
from .errors import ErrorCode, ServiceError

logger = logging.getLogger(__name__)

_NO_ANSWER = frozenset({ErrorCode.DWOLLA_UNAVAILABLE, ErrorCode.DWOLLA_TIMEOUT})


def is_exchanges_funding_source(
    dwolla: DwollaClient, funding_source_id: str, exchange_id: str, customer_id: str | None
) -> bool:
    """Dwolla links the funding source to the exchange (and to `customer_id`, when both name a
    customer), and it is not removed. Dwolla's 404 is False; any other failure raises as the
    client raised it (DwollaError)."""
    try:
        source = dwolla.get_funding_source(funding_source_id)
    except DwollaApiError as exc:
        if exc.status == 404:
            return False
        raise
    same_customer = (
        customer_id is None
        or source.customer_id is None
        or source.customer_id.lower() == customer_id.lower()
    )
    linked = source.exchange_id is not None and source.exchange_id.lower() == exchange_id.lower()
    return linked and same_customer and not source.removed


def check_at_create(
    dwolla: DwollaClient, funding_source_id: str, exchange_id: str, customer_id: str | None
) -> bool:
    """Before anything is made: True when Dwolla links the funding source to the exchange, False
    when Dwolla could not answer (accepted, checked before it proves anything). Raises
    ServiceError: FundingSourceNotOfExchange, or the mapped Dwolla failure (403, a bad answer)."""
    try:
        if is_exchanges_funding_source(dwolla, funding_source_id, exchange_id, customer_id):
            return True
    except DwollaError as exc:
        error = from_dwolla(exc, not_found=ErrorCode.FUNDING_SOURCE_NOT_OF_EXCHANGE)
        if error.error not in _NO_ANSWER:
            raise error from None
        logger.warning(
            "Dwolla could not say whose the funding source is: checked before it proves anything",
            extra={"exchangeId": exchange_id, "errorCode": error.code},
        )
        return False
    logger.info("funding source refused: not the exchange's", extra={"exchangeId": exchange_id})
    raise ServiceError(ErrorCode.FUNDING_SOURCE_NOT_OF_EXCHANGE)
