"""Referrals on Messenger / Instagram webhooks (messaging_referrals, IG Shop products, ads) become typed
:class:`connector.model.Referral` values on the message they came with, or on a standalone ``InboundOther``."""

from __future__ import annotations

import pytest
from connector_messenger.adapter import InstagramAdapter, MessengerAdapter

from connector import model
from connector.errors import WebhookRejected
from tests.plugins.messenger.test_messenger_webhooks import APP_SECRET, IG_ID, PAGE_ID, event, ig, page, parse


@pytest.fixture
def messenger() -> MessengerAdapter:
    return MessengerAdapter(
        {"page_id": PAGE_ID, "page_access_token": "t", "app_secret": APP_SECRET, "verify_token": "verify-me"}
    )


@pytest.fixture
def instagram() -> InstagramAdapter:
    return InstagramAdapter(
        {"instagram_account_id": IG_ID, "page_access_token": "t", "app_secret": APP_SECRET, "verify_token": "verify-me"}
    )


AD = {
    "ref": "spring",
    "ad_id": "6045246247433",
    "source": "ADS",
    "type": "OPEN_THREAD",
    "ads_context_data": {
        "ad_title": "Spring sale",
        "photo_url": "https://scontent.example/ad.jpg",
        "post_id": "1093_3333",
        "product_id": "shop42-v9001",
    },
}


def test_a_text_from_an_instagram_shop_product_carries_the_product(instagram: InstagramAdapter) -> None:
    message = {"mid": "aWdf_q", "text": "Size M?", "referral": {"product": {"id": "shop42-v9001"}}}
    [text] = parse(instagram, ig(event({"message": message}, sender="IGSID1", recipient=IG_ID)))
    assert isinstance(text, model.InboundText) and text.text == "Size M?"
    assert text.referral == model.Referral(
        source_type="product", product_retailer_id="shop42-v9001", raw={"product": {"id": "shop42-v9001"}}
    )


def test_a_standalone_ad_referral_names_the_ad_and_its_product(messenger: MessengerAdapter) -> None:
    [other] = parse(messenger, page(event({"referral": AD})))
    assert isinstance(other, model.InboundOther) and other.type == "referral"
    assert other.message_id == "referral:USER_ID:111111:1502905976963"
    assert other.referral == model.Referral(
        source_type="ADS",
        source_id="6045246247433",
        headline="Spring sale",
        ref="spring",
        product_retailer_id="shop42-v9001",
        raw=AD,
    )


def test_get_started_from_a_link_keeps_the_referral_on_the_postback(messenger: MessengerAdapter) -> None:
    referral = {"ref": "newsletter", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    postback = {"title": "Get Started", "payload": "GET_STARTED", "mid": "m_pb", "referral": referral}
    [reply] = parse(messenger, page(event({"postback": postback})))
    assert isinstance(reply, model.InboundReply) and reply.reply_id == "GET_STARTED"
    assert reply.referral == model.Referral(source_type="SHORTLINK", ref="newsletter", raw=referral)


def test_a_plain_text_has_no_referral(messenger: MessengerAdapter) -> None:
    [text] = parse(messenger, page(event({"message": {"mid": "m_1", "text": "hi"}})))
    assert text.referral is None


@pytest.mark.parametrize("body", [{"referral": "spring"}, {"message": {"mid": "m_2", "text": "x", "referral": []}}])
def test_a_referral_that_is_not_an_object_is_refused(messenger: MessengerAdapter, body: dict) -> None:
    with pytest.raises(WebhookRejected) as refused:
        parse(messenger, page(event(body)))
    assert refused.value.status == 400 and "referral must be an object" in refused.value.reason


def test_an_old_stored_link_referral_keeps_its_url() -> None:
    """Rows stored before referrals were typed hold Messenger's object verbatim; its ``referer_uri`` is the URL."""
    old = {"ref": "newsletter", "source": "SHORTLINK", "type": "OPEN_THREAD", "referer_uri": "https://m.me/shop?ref=n"}
    referral = model.Referral.from_untagged(old)
    assert (referral.ref, referral.source_url, referral.source_type) == (
        "newsletter",
        "https://m.me/shop?ref=n",
        "SHORTLINK",
    )
