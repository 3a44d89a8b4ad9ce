"""The DEV wording family of ``docqa`` questions: look at results on these, tune on these.

Independent of ``_docqa_test`` (written separately, sharing no template). Options are written as
``name value`` pairs ("color blue, size M").
"""
from __future__ import annotations

__all__ = ["PRICE", "AVAILABILITY", "options_text", "FACTS"]

PRICE = (
    "How much does the {product} ({options}) cost?",
    "What is the price of the {product} with {options}?",
)
AVAILABILITY = (
    "Is the {product} with {options} available?",
    "Can I currently buy the {product} ({options})?",
)


def options_text(options: dict[str, str]) -> str:
    return ", ".join(f"{name} {value}" for name, value in options.items())


FACTS = {
    "p_identity": "How does the agent authenticate a user if they don't give their email?",
    "p_one_user": "How many users can the agent help in a single conversation?",
    "p_confirmation": "What must the agent obtain from the user before updating the database?",
    "p_transfer_message": "What message does the agent send after transferring to a human agent?",
    "p_timezone": "Which time zone are the times in the database in?",
    "p_payment_types": "Besides gift cards and credit cards, what payment method type exists?",
    "p_product_count": "How many types of products does the store have?",
    "p_ids_related": "Is there a relation between product IDs and item IDs?",
    "p_statuses": "Besides pending, delivered and cancelled, what status can an order have?",
    "p_actionable": "On orders of which statuses can the agent take actions?",
    "p_tool_once": "How many times can the exchange or modify tools be called per order?",
    "p_cancel_status": "What status must an order have to be cancelled?",
    "p_cancel_reasons": "Which reasons are accepted for cancelling an order?",
    "p_cancel_giftcard_refund": "When is a gift card refunded after an order is cancelled?",
    "p_cancel_card_refund": "After a cancellation, how long does a refund to a credit card take?",
    "p_modify_what": "Besides payment and item options, what can be modified on a pending order?",
    "p_payment_single": "How many payment methods can the user choose when modifying the payment of an order?",
    "p_payment_status": "What is the order status after its payment method is modified?",
    "p_items_status": "What status does an order get after its items are modified?",
    "p_items_product_type": "Can an item of a pending order be modified to a different product type?",
    "p_return_status": "What status must an order have to be returned?",
    "p_return_after": "What does the order status become after a return is confirmed?",
    "p_return_refund": "Where can the refund of a returned order go?",
    "p_return_email": "How does the user receive instructions for returning items?",
    "p_exchange_after": "What does the order status become after an exchange is confirmed?",
    "p_exchange_new_order": "Does the user need to place a new order for an exchange?",
    "p_exchange_giftcard": "What must a gift card have to pay the price difference of an exchange?",
    "f_address_change": "Can the shipping address of a pending order be changed?",
    "f_partner_order": "Can the agent help with an order of the user's partner?",
    "f_default_address": "Can a user update the default address in their profile?",
    "f_human": "Who is the user transferred to if the request cannot be handled?",
    "f_example_time": "What does the time 14:30:00 in the records mean?",
    "f_size_color": "Can an item be switched to another size or color before the order ships?",
    "f_processed_change": "Can a processed order still be changed?",
    "f_return_new_card": "Can a return refund go to a new credit card?",
    "f_giftcard_low": "What should a user do when their gift card balance is too low?",
    "f_userid_known": "Is identity verification needed even if the user knows their user id?",
    "f_delivered_instead": "What can be done with a delivered order, which can no longer be cancelled?",
    "f_exchange_at_once": "Should all items to exchange be given at once?",
    "f_item_id_meaning": "Does an item ID name a product type or one specific variant?",
    "f_pending_changeable": "Can a pending order still be changed?",
    "f_processed_meaning": "What does the processed status of an order mean?",
}
