"""Who one message is for, with the per-recipient values spliced into it."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.config import Settings, get_settings
from newsletter.tokens import preferences_url, unsubscribe_links

__all__ = ["Recipient", "greeting"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient of a send and their personal links.

    ``delivery_id`` names the Delivery row (``X-Newsletter-Delivery``); it is
    None only for previews and test copies that have no row.
    ``mailto_unsubscribe`` may be None, then List-Unsubscribe carries only
    the HTTPS URL (which RFC 8058 requires).
    """

    email: str
    name: str | None
    subscriber_id: int
    delivery_id: int | None
    unsubscribe_url: str
    preferences_url: str
    mailto_unsubscribe: str | None

    @classmethod
    def for_subscriber(
        cls,
        email: str,
        name: str | None,
        subscriber_id: int,
        delivery_id: int | None,
        *,
        send_id: int | None = None,
        settings: Settings | None = None,
    ) -> Recipient:
        """Build a recipient with freshly signed unsubscribe and preferences links."""
        s = settings or get_settings()
        unsubscribe, mailto = unsubscribe_links(subscriber_id, send_id, settings=s)
        return cls(
            email=email,
            name=name,
            subscriber_id=subscriber_id,
            delivery_id=delivery_id,
            unsubscribe_url=unsubscribe,
            preferences_url=preferences_url(subscriber_id, settings=s),
            mailto_unsubscribe=mailto,
        )


def greeting(name: str | None) -> str:
    """Return "Dear Jane Smith," or "Hello," when the name is unknown (see ``parts.GREETING``)."""
    if name is None:
        return "Hello,"
    cleaned = " ".join(name.split())
    return f"Dear {cleaned}," if cleaned else "Hello,"
