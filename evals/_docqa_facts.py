"""The facts of the retail policy and FAQ that ``docqa`` asks about: where each is stated and its answer.

A fact is ``(sources, answers, match)``: ``sources`` are the passages that state it (the first is the
primary one: its document decides the fact's split), ``answers`` short strings of which a correct answer
must contain one (``match="any"``), all (``"all"``), or the yes/no it must start with (``"yesno"``).
Wording lives elsewhere: ``_docqa_dev`` and ``_docqa_test`` each word every fact independently.
Facts of the FAQ state what only the FAQ says, or say it differently, so that FAQ and policy questions
do not ask the same thing.
"""
from __future__ import annotations

__all__ = ["FACTS", "Fact"]

Fact = tuple[tuple[str, ...], tuple[str, ...], str]

_P = "policy.md#"
_F = "faq.md#"
_INTRO = _P + "Retail agent policy"

FACTS: dict[str, Fact] = {
    # ---- policy.md ----
    "p_identity": ((_INTRO, _F + "What do you need to verify my identity?"), ("zip code", "zip"), "any"),
    "p_one_user": ((_INTRO, _F + "Can you help me with my friend's or my partner's order?"), ("one", "1", "single"), "any"),
    "p_confirmation": ((_INTRO,), ("confirmation", "confirm"), "any"),
    "p_transfer_message": ((_INTRO,), ("you are being transferred to a human agent",), "any"),
    "p_timezone": ((_P + "Domain basic", _F + "In which time zone are order times shown?"), ("est", "eastern"), "any"),
    "p_payment_types": ((_P + "User", _F + "Which payment methods can I use?"), ("paypal",), "any"),
    "p_product_count": ((_P + "Product", _F + "How many products do you sell?"), ("50", "fifty"), "any"),
    "p_ids_related": ((_P + "Product", _F + "Is the product ID the same as the item ID?"), ("no",), "yesno"),
    "p_statuses": ((_P + "Order", _F + "What do the order statuses mean?"), ("processed",), "any"),
    "p_actionable": ((_P + "Generic action rules",), ("pending", "delivered"), "all"),
    "p_tool_once": ((_P + "Generic action rules", _F + "How many times can I change the items in my order?"),
                    ("once", "one time", "1 time"), "any"),
    "p_cancel_status": ((_P + "Cancel pending order", _F + "Can I cancel an order that has already shipped?"),
                        ("pending",), "any"),
    "p_cancel_reasons": ((_P + "Cancel pending order", _F + "What reason do I need to give to cancel an order?"),
                         ("no longer needed", "ordered by mistake"), "any"),
    "p_cancel_giftcard_refund": ((_P + "Cancel pending order", _F + "How long does a refund take?"),
                                 ("immediately", "right away", "instantly"), "any"),
    "p_cancel_card_refund": ((_P + "Cancel pending order", _F + "How long does a refund take?"),
                             ("5 to 7 business days", "five to seven business days"), "any"),
    "p_modify_what": ((_P + "Modify pending order", _F + "Can I change the shipping address of my order?"),
                      ("address",), "any"),
    "p_payment_single": ((_P + "Modify payment", _F + "Can I pay for my order with a different payment method?"),
                         ("single", "one"), "any"),
    "p_payment_status": ((_P + "Modify payment",), ("pending",), "any"),
    "p_items_status": ((_P + "Modify items", _F + "How many times can I change the items in my order?"),
                       ("items modified", "items modifed"), "any"),
    "p_items_product_type": ((_P + "Modify items", _F + "Can I swap an item for a completely different product?"),
                             ("no",), "yesno"),
    "p_return_status": ((_P + "Return delivered order", _F + "How do I return an item I received?"), ("delivered",), "any"),
    "p_return_after": ((_P + "Return delivered order", _F + "How do I return an item I received?"),
                       ("return requested",), "any"),
    "p_return_refund": ((_P + "Return delivered order", _F + "Where will my return refund be sent?"),
                        ("original payment method", "gift card"), "any"),
    "p_return_email": ((_P + "Return delivered order", _F + "How do I return an item I received?"), ("email",), "any"),
    "p_exchange_after": ((_P + "Exchange delivered order", _F + "How do I exchange an item for a different size?"),
                         ("exchange requested",), "any"),
    "p_exchange_new_order": ((_P + "Exchange delivered order", _F + "How do I exchange an item for a different size?"),
                             ("no",), "yesno"),
    "p_exchange_giftcard": ((_P + "Exchange delivered order", _F + "What if my gift card balance is too low?"),
                            ("balance",), "any"),
    # ---- faq.md ----
    "f_address_change": ((_F + "Can I change the shipping address of my order?", _P + "Modify pending order"),
                         ("yes",), "yesno"),
    "f_partner_order": ((_F + "Can you help me with my friend's or my partner's order?", _INTRO), ("no",), "yesno"),
    "f_default_address": ((_F + "Can I change the default address on my account?", _INTRO), ("yes",), "yesno"),
    "f_human": ((_F + "Can I talk to a human agent?", _INTRO), ("human",), "any"),
    "f_size_color": ((_F + "Can I change the size or color of an item before it ships?", _P + "Modify items"),
                     ("yes",), "yesno"),
    "f_example_time": ((_F + "In which time zone are order times shown?", _P + "Domain basic"),
                       ("2:30 pm", "2 30 pm", "2:30pm"), "any"),
    "f_processed_change": ((_F + "Can I change an order that is already processed?", _P + "Modify pending order"),
                           ("no",), "yesno"),
    "f_return_new_card": ((_F + "Where will my return refund be sent?", _P + "Return delivered order"), ("no",), "yesno"),
    "f_giftcard_low": ((_F + "What if my gift card balance is too low?",),
                       ("another payment method", "different payment method", "other payment method"), "any"),
    "f_userid_known": ((_F + "What do you need to verify my identity?", _INTRO), ("yes",), "yesno"),
    "f_delivered_instead": ((_F + "Can I cancel an order that has already shipped?", _P + "Return delivered order"),
                            ("return", "returned"), "any"),
    "f_exchange_at_once": ((_F + "How do I exchange an item for a different size?", _P + "Exchange delivered order"),
                           ("yes",), "yesno"),
    "f_item_id_meaning": ((_F + "Is the product ID the same as the item ID?", _P + "Product"),
                          ("variant", "specific"), "any"),
    "f_pending_changeable": ((_F + "What do the order statuses mean?", _P + "Modify pending order"), ("yes",), "yesno"),
    "f_processed_meaning": ((_F + "What do the order statuses mean?",), ("shipping", "prepared"), "any"),
}
