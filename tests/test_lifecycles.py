"""Send and delivery statuses: one table of legal moves each, and illegal moves raise."""

from __future__ import annotations

import pytest

from newsletter import deliveries, sends
from newsletter.deliveries import DeliveryStatus, IllegalDeliveryTransition
from newsletter.errors import NewsletterError, UserError
from newsletter.models import DELIVERY_STATUSES, SEND_STATUSES, SendStatus
from newsletter.sends import IllegalSendTransition


def test_statuses_are_str_enums_matching_the_schema() -> None:
    assert tuple(s.value for s in SendStatus) == SEND_STATUSES
    assert tuple(s.value for s in DeliveryStatus) == DELIVERY_STATUSES
    assert str(SendStatus.SENDING) == "sending"
    assert "sending" in set(SendStatus)
    assert set(sends.TRANSITIONS) == set(SendStatus)
    assert set(deliveries.TRANSITIONS) == set(DeliveryStatus)


@pytest.mark.parametrize(
    ("from_", "to"),
    [
        (SendStatus.FINISHED, SendStatus.SENDING),
        (SendStatus.CANCELLED, SendStatus.SCHEDULED),
        (SendStatus.DRAFT, SendStatus.SENDING),
        (SendStatus.SENDING, SendStatus.SCHEDULED),
    ],
)
def test_an_illegal_send_move_raises_as_a_bug(from_: SendStatus, to: SendStatus) -> None:
    with pytest.raises(IllegalSendTransition, match=f"from {from_} to {to}") as caught:
        sends.move([from_], to)
    assert isinstance(caught.value, NewsletterError)
    assert not isinstance(caught.value, UserError)


def test_legal_send_moves_pass() -> None:
    assert sends.move([SendStatus.SCHEDULED], SendStatus.SENDING) is SendStatus.SENDING
    assert sends.move([SendStatus.SENDING], SendStatus.FINISHED) is SendStatus.FINISHED
    assert {SendStatus.FINISHED, SendStatus.CANCELLED} == sends.FINAL


@pytest.mark.parametrize(
    ("from_", "to"),
    [
        (DeliveryStatus.SENT, DeliveryStatus.PENDING),
        (DeliveryStatus.PENDING, DeliveryStatus.SENT),
        (DeliveryStatus.FAILED, DeliveryStatus.CLAIMED),
        (DeliveryStatus.SKIPPED, DeliveryStatus.SENT),
    ],
)
def test_an_illegal_delivery_move_raises(from_: DeliveryStatus, to: DeliveryStatus) -> None:
    with pytest.raises(IllegalDeliveryTransition, match=f"from {from_} to {to}"):
        deliveries.move([from_], to)


def test_release_refuses_an_illegal_target_before_touching_the_store() -> None:
    with pytest.raises(IllegalDeliveryTransition):
        deliveries.release(1, [1], DeliveryStatus.CLAIMED)
