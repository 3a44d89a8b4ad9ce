"""The TEST wording family of ``docqa`` questions: written before any result was seen, never edited after.

Report on these; do not tune on them. Independent of ``_docqa_dev``: customer-voiced, other templates,
options written as ``value name`` ("blue color, M size").
"""
from __future__ import annotations

__all__ = ["PRICE", "AVAILABILITY", "options_text", "FACTS"]

PRICE = (
    "What would I pay for the {product} in {options}?",
    "I'm interested in a {product}: {options}. What's its price?",
    "Price check please, {product} with {options}?",
)
AVAILABILITY = (
    "Do you have the {product} in {options} in stock?",
    "Is a {product} with {options} something I can order right now?",
)


def options_text(options: dict[str, str]) -> str:
    return ", ".join(f"{value} {name}" for name, value in options.items())


FACTS = {
    "p_identity": "I don't remember which email I used. What else can you use to find my account?",
    "p_one_user": "I have several family members' accounts to sort out; how many people's accounts can you handle in one chat?",
    "p_confirmation": "What do you need from me before you change anything on my order?",
    "p_transfer_message": "When you pass me over to a person, what exactly do you tell me?",
    "p_timezone": "The timestamp on my order says 09:15:00. Which time zone is that?",
    "p_payment_types": "Apart from a gift card or a credit card, is there another way I can pay?",
    "p_product_count": "How many different kinds of products does your shop carry?",
    "p_ids_related": "Does the product number tell me anything about the item number?",
    "p_statuses": "My order isn't pending, delivered or cancelled. What other state could it be in?",
    "p_actionable": "For which order states are you able to do anything for me?",
    "p_tool_once": "If I change items on my order now, how often am I allowed to do that for the same order?",
    "p_cancel_status": "Which orders are you still able to cancel for me?",
    "p_cancel_reasons": "What do I have to say as the reason if I want to cancel?",
    "p_cancel_giftcard_refund": "I paid with a gift card and cancelled. When will the money be back on the card?",
    "p_cancel_card_refund": "I cancelled an order I paid for with my Visa. When will I see the refund?",
    "p_modify_what": "My order hasn't shipped yet. Apart from the items and how I paid, what else could I still change?",
    "p_payment_single": "If I change how I pay for my order, how many payment methods can I put it on?",
    "p_payment_status": "Once I switch how I pay for my order, what status will the order show?",
    "p_items_status": "I just swapped some items in my order. What status will it show now?",
    "p_items_product_type": "Could I turn the shirt in my unshipped order into a pair of shoes instead?",
    "p_return_status": "When is an order eligible to be sent back?",
    "p_return_after": "I confirmed I'm sending my items back. What will my order status say?",
    "p_return_refund": "If I send something back, where does my money go?",
    "p_return_email": "After I ask to send items back, how do I find out where to ship them?",
    "p_exchange_after": "I've confirmed swapping my delivered item for another size. What status does my order get?",
    "p_exchange_new_order": "To get the different size, do I have to buy it again in a new order?",
    "p_exchange_giftcard": "I want to cover the extra cost of an exchange with my gift card. What does the card need?",
    "f_address_change": "I typed the wrong street on an order that hasn't shipped. Can you fix where it's going?",
    "f_partner_order": "My husband asked me to sort out his order for him. Can you do that with me?",
    "f_default_address": "I moved. Is it possible to update the address saved on my account?",
    "f_human": "Can I speak to someone real if you can't sort this out?",
    "f_example_time": "The record says 14:30:00. What time of day is that?",
    "f_size_color": "My order hasn't left yet. Could I get the jacket in red instead of black?",
    "f_processed_change": "My order is already being processed. Can I still edit it?",
    "f_return_new_card": "For my return, could the refund go onto a card I just opened?",
    "f_giftcard_low": "My gift card doesn't have enough money left for this change. What now?",
    "f_userid_known": "I know my user ID already. Do I still have to tell you my email or name?",
    "f_delivered_instead": "My package arrived but I don't want it anymore. It's too late to cancel, so what can I do?",
    "f_exchange_at_once": "I might want to exchange a few things. Should I tell you all of them together?",
    "f_item_id_meaning": "What does an item ID refer to, exactly?",
    "f_pending_changeable": "My order still shows pending. Is it too late to make changes?",
    "f_processed_meaning": "What does it mean when my order says processed?",
}
